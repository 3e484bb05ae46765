"""Background models behind one interface (see ``base.BackgroundModel``).

``METHODS`` maps the CLI's ``--method`` names to their classes, imported on first use so that
the command line starts without compiling kernels it will not run.
"""

from __future__ import annotations

import importlib

METHODS = {
    "gmm": ("gmmbg.background.pixel_gmm", "PixelGMM"),
    "online": ("gmmbg.background.online", "OnlineGMM"),
    "mean": ("gmmbg.background.baselines", "FrameAverage"),
    "median": ("gmmbg.background.baselines", "TemporalMedian"),
    "kmeans": ("gmmbg.background.baselines", "PixelKMeans"),
}

_CLASSES = {cls: module for module, cls in METHODS.values()}

__all__ = ["METHODS", "model_class", *_CLASSES]


def model_class(method: str):
    """The background model class for a ``--method`` name."""
    module, cls = METHODS[method]
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'gmmbg.background' has no attribute {name!r}")

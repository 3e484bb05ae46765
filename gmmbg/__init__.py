"""gmmbg: Gaussian mixtures over pixels, for segmentation and background modelling.

The public names are imported lazily so that `gmmbg --help` never pays for Numba.
"""

__version__ = "0.1.0"

_LAZY = {
    "GaussianMixture": "gmmbg.mixture",
    "segment_image": "gmmbg.segmentation",
    "PixelGMM": "gmmbg.background",
    "OnlineGMM": "gmmbg.background",
    "FrameAverage": "gmmbg.background",
    "TemporalMedian": "gmmbg.background",
    "PixelKMeans": "gmmbg.background",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gmmbg' has no attribute {name!r}")

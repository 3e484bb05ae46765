"""The interface every background model shares (OpenCV's BackgroundSubtractor, in Python).

Frames are ``(H, W)`` gray or ``(H, W, C)`` colour arrays, uint8 or float (0-255 scale).
Masks are uint8 ``(H, W)``: 0 background, 255 foreground, 127 shadow (OpenCV's convention).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

FOREGROUND = 255
BACKGROUND = 0


class BackgroundModel:
    """Base class: subclasses set ``needs_training`` and implement the three methods.

    Batch models (``needs_training = True``) learn from ``fit(frames)`` once and then score
    frames with ``apply`` without changing; online models learn from every ``apply`` call.
    ``__init__`` only stores parameters; learned state ends in ``_``.
    """

    needs_training: bool = True

    def fit(self, frames: Iterable[np.ndarray]) -> BackgroundModel:
        """Learn the background from an iterable of frames, each ``(H, W[, C])``."""
        raise NotImplementedError

    def apply(
        self, frame: np.ndarray, learning_rate: float = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Foreground mask of ``frame``: uint8 ``(H, W)``, written into ``out`` when given.

        ``learning_rate``: -1 automatic, 0 frozen; batch models ignore it (they do not learn
        while scoring).
        """
        raise NotImplementedError

    def background_image(self) -> np.ndarray:
        """The background: uint8 ``(H, W)`` or ``(H, W, C)``, the layout of the frames."""
        raise NotImplementedError

    def get_params(self) -> dict:
        """The constructor's parameters by name (for reports and --json)."""
        return {k: v for k, v in vars(self).items() if not (k.endswith("_") or k.startswith("_"))}


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate one frame and return it as ``(H, W, C)`` (a view; gray gets C = 1)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"a frame must be (H, W) or (H, W, C) with C in 1, 3, 4; got {frame.shape}"
        )
    if frame.dtype != np.uint8 and not np.issubdtype(frame.dtype, np.floating):
        raise ValueError(f"frames must be uint8 or float, got {frame.dtype}")
    return frame

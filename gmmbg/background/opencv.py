"""OpenCV's MOG2 and KNN background subtractors behind gmmbg's ``BackgroundModel`` interface.

They are the peers `gmmbg compare` measures the gmmbg methods against. OpenCV is optional:
``cv2`` is imported only when a model is built, and a missing install is a one-line
``GmmbgError`` that says how to install it.

Frames are fed as OpenCV users feed them, in BGR order (``cv2.VideoCapture``'s layout), so the
results are what a user of ``cv2`` gets on the same video; the background image is returned in
RGB like every gmmbg model's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

import numpy as np

from gmmbg.background.base import BackgroundModel, check_frame
from gmmbg.errors import GmmbgError

INSTALL_HINT = "OpenCV is not installed: pip install opencv-python-headless (or gmmbg[dev])"


def opencv_available() -> bool:
    """True when ``cv2`` can be imported."""
    try:
        return importlib.util.find_spec("cv2") is not None
    except (ImportError, ValueError):  # a None entry in sys.modules, or a broken install
        return False


def _cv2():
    """The ``cv2`` module, or a GmmbgError that says how to install it."""
    try:
        import cv2
    except ImportError:
        raise GmmbgError(INSTALL_HINT) from None
    return cv2


class _OpenCVSubtractor(BackgroundModel):
    """Shared adapter: one ``cv2.BackgroundSubtractor`` created with its default parameters.

    Learned state: ``subtractor_`` (the OpenCV object), ``n_frames_``.
    """

    needs_training = False
    _factory = ""  # the cv2 function that creates the subtractor

    def __init__(self) -> None:
        _cv2()  # fail when the model is built, not at the first frame

    def fit(self, frames: Iterable[np.ndarray]) -> _OpenCVSubtractor:
        """Apply every frame in turn (the subtractor learns online; kept for API symmetry)."""
        for frame in frames:
            self.apply(frame)
        return self

    def apply(
        self, frame: np.ndarray, learning_rate: float = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Update the subtractor with ``frame`` (RGB or gray) and return its mask, uint8 ``(H, W)``.

        Float frames are rounded to uint8 first. ``out``, when given, is a C-contiguous uint8
        ``(H, W)`` array that receives the mask. OpenCV re-initialises itself when the frame
        size changes.
        """
        x = check_frame(frame)
        if x.dtype != np.uint8:
            x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        cv2 = _cv2()
        if x.shape[2] == 1:
            image = np.ascontiguousarray(x[:, :, 0])
        else:
            code = cv2.COLOR_RGB2BGR if x.shape[2] == 3 else cv2.COLOR_RGBA2BGR
            image = cv2.cvtColor(np.ascontiguousarray(x), code)
        if getattr(self, "n_frames_", 0) == 0:
            self.subtractor_ = getattr(cv2, self._factory)()
            self.n_frames_ = 0
        shape = image.shape[:2]
        if out is None:
            out = np.empty(shape, np.uint8)
        elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
        mask = self.subtractor_.apply(image, out, float(learning_rate))
        self.n_frames_ += 1
        if mask is not out:  # OpenCV reallocated (it should not for a matching buffer)
            out[...] = mask
        return out

    def background_image(self) -> np.ndarray:
        """OpenCV's ``getBackgroundImage()``, as uint8 RGB ``(H, W, 3)`` or gray ``(H, W)``."""
        # OpenCV's KNN crashes the process when asked before its first frame.
        if getattr(self, "n_frames_", 0) == 0:
            raise RuntimeError("the model has seen no frame yet: call apply(frame) first")
        image = self.subtractor_.getBackgroundImage()
        return np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else image


class OpenCVMOG2(_OpenCVSubtractor):
    """``cv2.createBackgroundSubtractorMOG2()`` with its defaults (history 500, varThreshold
    16, shadows detected and marked 127)."""

    _factory = "createBackgroundSubtractorMOG2"


class OpenCVKNN(_OpenCVSubtractor):
    """``cv2.createBackgroundSubtractorKNN()`` with its defaults (history 500, dist2Threshold
    400, shadows detected and marked 127)."""

    _factory = "createBackgroundSubtractorKNN"

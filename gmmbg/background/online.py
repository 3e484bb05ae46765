"""Online adaptive per-pixel mixtures: Zivkovic's recursive update with OpenCV MOG2's semantics.

``OnlineGMM`` learns from every frame it is given (no training phase): each pixel keeps up
to ``n_components`` Gaussians, sorted by weight, updated with learning rate
``1 / min(2 n, history)`` for the n-th frame. Parameters, defaults, the learning-rate ramp,
shadow detection and the background image follow ``cv2.createBackgroundSubtractorMOG2``,
so that users can switch; the masks agree with OpenCV's bit for bit, except after the rare
pruning that MOG2 gets wrong (see ``gmmbg.kernels.online``).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable

import numba
import numpy as np

from gmmbg import hugepages
from gmmbg.background.base import BackgroundModel, check_frame
from gmmbg.kernels.online import BLOCK, mog2_apply, mog2_background

_PARAMS = (
    "history",
    "n_components",
    "var_threshold",
    "var_threshold_gen",
    "background_ratio",
    "var_init",
    "var_min",
    "var_max",
    "complexity_reduction",
    "detect_shadows",
    "shadow_value",
    "shadow_threshold",
)
_STATE = ("weights_", "head_", "tail_", "n_modes_")
_SAVE_FORMAT = 2  # 2: tail_ is (H*W, K - 1, 1 + C)


def _work_buffers() -> tuple[np.ndarray, ...]:
    """The kernel's scratch space, one row per thread Numba may run: allocated with the
    model, so that ``apply`` allocates nothing."""
    threads = numba.config.NUMBA_NUM_THREADS
    return np.empty((threads, 2, BLOCK), np.int64), np.zeros(1, np.int64)


class OnlineGMM(BackgroundModel):
    """Adaptive Gaussian mixture per pixel, updated online (OpenCV's MOG2).

    Parameters
    ----------
    history : int
        Frames the model remembers: the learning rate settles at ``1 / history``.
    n_components : int
        Maximum Gaussians per pixel (1-255).
    var_threshold : float
        Squared Mahalanobis distance under which a value is background (MOG2's Tb).
    var_threshold_gen : float
        Squared distance under which a value updates an existing mode instead of creating a
        new one (MOG2's Tg).
    background_ratio : float
        Running weight of the heaviest modes that make up the background (MOG2's TB).
    var_init, var_min, var_max : float
        Variance of a new mode and the limits of every mode's variance.
    complexity_reduction : float
        Prior that prunes modes whose weight falls below ``learning_rate * ct``.
    detect_shadows : bool
        Mark darker copies of the background as shadows (Prati et al. 2003).
    shadow_value : int
        Mask value of shadow pixels.
    shadow_threshold : float
        How much darker a shadow may be: 0.5 means at most twice as dark (MOG2's tau).

    Learned state (float32, laid out for the kernel, see ``gmmbg.kernels.online``):
    ``weights_`` ``(K, H*W)``, ``head_`` ``(1 + C, H*W)`` (the heaviest mode's variance and
    mean), ``tail_`` ``(H*W, K - 1, 1 + C)`` (the other modes'; both views of one buffer),
    ``n_modes_`` ``(H*W,)`` uint8 (modes in use, sorted by weight; ``variances_`` and
    ``means_`` gather them), ``n_frames_`` (frames since initialisation), ``frame_shape_``
    ``(H, W, C)`` and ``frame_dtype_``. Only the first ``n_modes_[p]`` modes of pixel ``p``
    mean anything: the slots after them hold stale values (even negative weights), never
    read.
    """

    needs_training = False

    def __init__(
        self,
        history: int = 500,
        n_components: int = 5,
        var_threshold: float = 16.0,
        var_threshold_gen: float = 9.0,
        background_ratio: float = 0.9,
        var_init: float = 15.0,
        var_min: float = 4.0,
        var_max: float = 75.0,
        complexity_reduction: float = 0.05,
        detect_shadows: bool = True,
        shadow_value: int = 127,
        shadow_threshold: float = 0.5,
    ) -> None:
        self.history = history
        self.n_components = n_components
        self.var_threshold = var_threshold
        self.var_threshold_gen = var_threshold_gen
        self.background_ratio = background_ratio
        self.var_init = var_init
        self.var_min = var_min
        self.var_max = var_max
        self.complexity_reduction = complexity_reduction
        self.detect_shadows = detect_shadows
        self.shadow_value = shadow_value
        self.shadow_threshold = shadow_threshold

    def fit(self, frames: Iterable[np.ndarray]) -> OnlineGMM:
        """Apply every frame in turn (the model learns online; kept for API symmetry)."""
        for frame in frames:
            self.apply(frame)
        return self

    def apply(
        self, frame: np.ndarray, learning_rate: float = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Update the model with ``frame`` and return its mask, uint8 ``(H, W)``.

        ``learning_rate``: negative for automatic (``1 / min(2 n, history)`` for the n-th
        frame since the model was initialised), 0 freezes the model, 1 or more re-initialises
        it from this frame. As in OpenCV, the first frame after (re-)initialisation always
        uses 1/2. The model is also re-initialised when the frame's shape, channel count or
        dtype changes. ``out``, when given, is a C-contiguous uint8 ``(H, W)`` array that
        receives the mask (no allocation per frame).
        """
        x = check_frame(frame)
        dtype = x.dtype
        if dtype != np.uint8:
            # MOG2 works in float32 and converts other frames row by row; one cast here
            # (no copy for float32 frames) keeps one kernel per channel count.
            x = x.astype(np.float32, copy=False)
        if (
            getattr(self, "n_frames_", 0) == 0
            or learning_rate >= 1
            or x.shape != self.frame_shape_
            or dtype != self.frame_dtype_
        ):
            self._initialize(x.shape, dtype)
        self.n_frames_ += 1
        if not (learning_rate >= 0 and self.n_frames_ > 1):
            learning_rate = 1.0 / min(2 * self.n_frames_, self.history)
        height, width, n_ch = x.shape
        mask = self._mask_buffer(out, (height, width))
        mog2_apply(
            np.ascontiguousarray(x).reshape(height * width, n_ch),
            self.weights_,
            self._modes,
            self.n_modes_,
            mask.reshape(-1),
            (0,) * n_ch,
            (0,) * self.weights_.shape[0],
            np.float32(learning_rate),
            # MOG2 computes the pruning threshold in double from the float32 ct.
            np.float32(-learning_rate * float(np.float32(self.complexity_reduction))),
            np.float32(self.var_threshold),
            np.float32(self.background_ratio),
            np.float32(self.var_threshold_gen),
            np.float32(self.var_init),
            np.float32(min(self.var_min, self.var_max)),
            np.float32(max(self.var_min, self.var_max)),
            np.float32(self.shadow_threshold),
            bool(self.detect_shadows),
            np.uint8(self.shadow_value),
            *self._work,
            numba.get_num_threads(),
        )
        return mask

    @property
    def variances_(self) -> np.ndarray:
        """Mode variances (one per mode, shared by the channels), float32 ``(K, H*W)``."""
        return np.concatenate([self.head_[None, 0], self.tail_[:, :, 0].T])

    @property
    def means_(self) -> np.ndarray:
        """Mode means, float32 ``(K, H*W, C)``."""
        return np.concatenate(
            [self.head_[None, 1:].transpose(0, 2, 1), self.tail_[:, :, 1:].transpose(1, 0, 2)]
        )

    def background_image(self) -> np.ndarray:
        """Weight-averaged mean of each pixel's background modes: uint8 ``(H, W[, C])``.

        Per pixel, the heaviest modes up to and including the one whose running weight
        passes ``background_ratio``, rounded half to even as OpenCV does.
        """
        self._check_initialized()
        height, width, n_ch = self.frame_shape_
        mean = np.empty((height * width, n_ch), np.float32)
        mog2_background(
            self.weights_,
            self.head_,
            self.tail_,
            self.n_modes_,
            np.float32(self.background_ratio),
            mean,
        )
        image = np.clip(np.rint(mean), 0, 255).astype(np.uint8).reshape(height, width, n_ch)
        return image[:, :, 0] if n_ch == 1 else image

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and the whole learned state to ``path`` (.npz), so that a
        stream can be resumed exactly with ``OnlineGMM.load``."""
        self._check_initialized()
        arrays = {name: np.asarray(getattr(self, name)) for name in _PARAMS + _STATE}
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                format=np.int64(_SAVE_FORMAT),
                n_frames_=np.int64(self.n_frames_),
                frame_shape_=np.asarray(self.frame_shape_, np.int64),
                frame_dtype_=np.str_(self.frame_dtype_.str),
                **arrays,
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> OnlineGMM:
        """Read a model written by ``save``: its parameters and state, ready to continue.

        Raises ValueError for a file that is not such a model, comes from another format
        version, or is damaged (the kernel trusts the state's shapes, so they are checked).
        """
        name = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in ("format", "n_frames_", *_PARAMS, *_STATE) if k not in data]
                if missing:
                    raise ValueError(f"{name!r} is not an OnlineGMM model saved by OnlineGMM.save")
                if int(data["format"]) != _SAVE_FORMAT:
                    raise ValueError(
                        f"{name!r} was saved by another version of gmmbg (model format "
                        f"{int(data['format'])}, this one reads {_SAVE_FORMAT}): learn it again"
                    )
                model = cls(**{key: data[key].item() for key in _PARAMS})
                model._check_params()
                model.frame_shape_ = tuple(int(v) for v in data["frame_shape_"])
                model.frame_dtype_ = np.dtype(str(data["frame_dtype_"]))
                model.n_frames_ = int(data["n_frames_"])
                layout = model._state_layout(model.frame_shape_)
                for key, (shape, dtype) in layout.items():
                    if data[key].shape != shape or data[key].dtype != dtype:
                        raise ValueError(f"{name!r} is damaged: its {key} does not fit the model")
                model._allocate_state(model.frame_shape_)
                for key in layout:
                    getattr(model, key)[...] = data[key]
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, TypeError) as error:
            raise ValueError(f"{name!r} is not a readable OnlineGMM model ({error})") from error
        if model.n_modes_.max(initial=0) > model.n_components or model.n_frames_ < 1:
            raise ValueError(f"{name!r} is damaged: its mode counts do not fit the model")
        return model

    def _initialize(self, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        """Validate the parameters and allocate an empty model for frames of ``shape``."""
        self._check_params()
        self.frame_shape_ = shape
        self._allocate_state(shape)
        self.n_frames_ = 0
        self.frame_dtype_ = np.dtype(dtype)

    @property
    def head_(self) -> np.ndarray:
        """The heaviest mode of each pixel, ``(1 + C, H*W)``: variance, then the mean (a view
        of the state)."""
        size, n_pix = 1 + self.frame_shape_[2], self.n_modes_.size
        return self._modes[: size * n_pix].reshape(size, n_pix)

    @property
    def tail_(self) -> np.ndarray:
        """The other modes, ``(H*W, K - 1, 1 + C)``: ``[variance, mean...]`` records (a view
        of the state)."""
        size, n_pix, k = 1 + self.frame_shape_[2], self.n_modes_.size, self.weights_.shape[0]
        return self._modes[size * n_pix :].reshape(n_pix, k - 1, size)

    def _allocate_state(self, shape: tuple[int, int, int]) -> None:
        """Zeroed state for frames of ``shape`` ``(H, W, C)`` and the kernel's scratch
        space. ``head_`` and ``tail_`` are views of one buffer, ``_modes``, which the kernel
        indexes as a whole (layout in ``_state_layout``)."""
        layout = self._state_layout(shape)
        self.weights_ = hugepages.zeros(*layout["weights_"])
        self.n_modes_ = np.zeros(*layout["n_modes_"])
        n_floats = sum(int(np.prod(layout[key][0])) for key in ("head_", "tail_"))
        self._modes = hugepages.zeros((n_floats,), np.float32)
        self._work = _work_buffers()

    def _state_layout(self, shape: tuple[int, int, int]) -> dict[str, tuple[tuple, np.dtype]]:
        """Shape and dtype of each state array for frames of ``shape`` ``(H, W, C)``."""
        height, width, n_ch = shape
        n_pix, k = height * width, int(self.n_components)
        return {
            "weights_": ((k, n_pix), np.dtype(np.float32)),
            "head_": ((1 + n_ch, n_pix), np.dtype(np.float32)),
            "tail_": ((n_pix, k - 1, 1 + n_ch), np.dtype(np.float32)),
            "n_modes_": ((n_pix,), np.dtype(np.uint8)),
        }

    def _check_params(self) -> None:
        """Raise ValueError for a parameter the update cannot work with."""
        if int(self.history) < 1:
            raise ValueError(f"history must be at least 1, got {self.history}")
        if not 1 <= int(self.n_components) <= 255:
            raise ValueError(f"n_components must be in 1-255, got {self.n_components}")
        if not 0 <= int(self.shadow_value) <= 255:
            raise ValueError(f"shadow_value must be in 0-255, got {self.shadow_value}")
        # A matched mode's weight can be as low as alpha * (1 - ct) while modes below
        # alpha * ct are pruned: above 0.5, a new mode would be pruned as soon as it matches.
        if not 0 <= self.complexity_reduction <= 0.5:
            raise ValueError(
                f"complexity_reduction must be in [0, 0.5], got {self.complexity_reduction}"
            )
        for name in ("var_init", "var_min", "var_max"):
            if not 0 < getattr(self, name) < np.inf:
                raise ValueError(f"{name} must be a positive variance, got {getattr(self, name)}")
        for name in ("var_threshold", "var_threshold_gen", "background_ratio", "shadow_threshold"):
            if not 0 <= getattr(self, name) < np.inf:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")

    def _check_initialized(self) -> None:
        if getattr(self, "n_frames_", 0) == 0:
            raise RuntimeError("the model has seen no frame yet: call apply(frame) first")

    @staticmethod
    def _mask_buffer(out: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        if out is None:
            return np.empty(shape, np.uint8)
        if out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
        return out

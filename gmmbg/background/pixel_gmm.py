"""Batch per-pixel Gaussian mixtures (the seeds' method), and what every batch model shares.

Every batch model here learns, per pixel, a few *components* (a centre and a scale per
channel) from a stack of training frames, then marks a new value as foreground when it is
farther than ``threshold`` from each of the pixel's background components. ``PerPixelModel``
holds that common part (stacking, validation, the mask kernel, the background image);
``PixelGMM`` here and the baselines in ``baselines.py`` only say how the components are fitted.

Memory: the training stack is ``T * H * W * C`` bytes of uint8, allocated once when the frames
say how many they are (``stack_frames``) and filled as they arrive, plus the model: a few
float64 arrays of ``H * W * K * C``. Scoring a frame allocates nothing when the mask buffer is
given.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np

from gmmbg.background.base import BackgroundModel, check_frame
from gmmbg.kernels.pixel_em import component_mask, pixel_em

KMEANS_ITER = 10
"""Most Lloyd iterations of the EM initialisation. On cdnet-highway (150 frames, variance
floor 1e-6) they cut EM from 10.1 iterations per pixel without Lloyd to 6.4, for less than
the E-steps they save; 30 would save another 0.03."""

MIN_CAPACITY = 16
"""Frames the training stack starts with when the frames do not say how many they are."""

COVARIANCE_TYPES = {"diag": False, "spherical": True}
"""covariance_type -> the kernel's ``spherical`` flag."""


def as_pixels(frame: np.ndarray) -> np.ndarray:
    """A frame as ``(H, W, C)`` with C 1 or 3 (a view): an alpha channel is dropped."""
    frame = check_frame(frame)
    return frame[:, :, :3] if frame.shape[2] == 4 else frame


def stack_frames(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Training frames as one uint8 ``(T, H, W, C)`` stack (float frames are rounded).

    The stack is allocated once, for ``operator.length_hint(frames)`` frames (a list, an
    array, a tqdm bar and ``pipeline.train``'s frames say how many they hold), and each frame
    is written into it as it arrives (iterators may reuse their buffer): memory is one stack,
    whose pages are committed as they are written. An iterable that does not say (a generator)
    or yields more gets a stack that doubles when full, so memory peaks near two stacks then;
    one that yields fewer gets the filled part (a view: the rest was never committed). A
    stack this function made (uint8 ``(T, H, W, C)``) is returned as it is, so that several
    models can be fitted on one stack; the models only read it.
    """
    if isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4:
        if len(frames) < 2:
            raise ValueError(f"need at least 2 training frames, got {len(frames)}")
        return frames
    capacity = operator.length_hint(frames, 0) or MIN_CAPACITY
    stack = None
    count = 0
    for count, frame in enumerate(frames, start=1):
        pixels = as_pixels(frame)
        if stack is None:
            stack = np.empty((capacity, *pixels.shape), np.uint8)
        elif pixels.shape != stack.shape[1:]:
            (h, w, c), (h0, w0, c0) = pixels.shape, stack.shape[1:]
            raise ValueError(
                f"training frame {count - 1} is {w}x{h} with {c} channel(s) but frame 0 is "
                f"{w0}x{h0} with {c0}: train on frames of one size and colour layout"
            )
        if count > len(stack):
            grown = np.empty((2 * len(stack), *stack.shape[1:]), np.uint8)
            grown[: len(stack)] = stack
            stack = grown
        if pixels.dtype != np.uint8:
            if not np.isfinite(pixels).all():
                raise ValueError(f"training frame {count - 1} has NaN or infinite values")
            pixels = np.clip(np.rint(pixels), 0, 255)
        stack[count - 1] = pixels
    if count < 2:
        raise ValueError(
            f"need at least 2 training frames, got {count}: "
            "give a longer video or a wider training range"
        )
    return stack[:count]


def count_background(weights: np.ndarray, ratio: float) -> np.ndarray:
    """How many leading components of each pixel are background: ``(H, W)`` int64.

    ``weights`` ``(H, W, K)`` sorted decreasing. A component is background when the weights
    before it add up to less than ``ratio`` (so the heaviest always is, and the set is the
    smallest whose weights reach ``ratio``), and its weight is not 0. Sums within 1e-9 of the
    ratio count as reaching it (0.6 + 0.3 is 0.8999999999999999 in floating point).
    """
    before = np.cumsum(weights, axis=-1) - weights
    return ((before < ratio - 1e-9) & (weights > 0)).sum(axis=-1).astype(np.int64)


def check_positive_int(name: str, value: object, minimum: int = 1) -> None:
    """Raise a one-line ValueError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive(name: str, value: object, upper: float = np.inf) -> None:
    """Raise a one-line ValueError unless ``0 < value <= upper``."""
    if not isinstance(value, (int, float, np.number)) or not 0 < value <= upper:
        bound = "" if upper == np.inf else f" and at most {upper}"
        raise ValueError(f"{name} must be a number above 0{bound}, got {value!r}")


class PerPixelModel(BackgroundModel):
    """A batch model of per-pixel components, scored by thresholded distance.

    Subclasses implement ``_check_params()``; ``_fit_stack(stack)``, which must set
    ``means_`` ``(H, W, K, C)`` float64 (heaviest component first); and ``_set_scoring()``,
    which must set ``inv_scale_`` (the squared inverse scale per channel, same shape: 1 /
    variance for Mahalanobis distances, 1 for L2) and ``n_background_`` ``(H, W)`` int64.
    ``fit`` releases the training stack between the two, so that the scoring arrays are not
    allocated on top of it (at 1280x720, 200 frames: a 553 MB stack, 66 MB per float64
    ``(H, W, 3, 3)`` array).
    """

    needs_training = True
    threshold: float

    def _check_params(self) -> None:
        check_positive("threshold", self.threshold)

    def _fit_stack(self, stack: np.ndarray) -> None:
        raise NotImplementedError

    def _set_scoring(self) -> None:
        raise NotImplementedError

    def fit(self, frames: Iterable[np.ndarray]) -> PerPixelModel:
        """Learn the background from an iterable of ``(H, W)`` or ``(H, W, C)`` frames."""
        self._check_params()
        stack = stack_frames(frames)
        self.n_frames_ = stack.shape[0]
        self._fit_stack(stack)
        del stack  # the last reference: free the stack before the scoring arrays exist
        self._set_scoring()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise ValueError(f"this {type(self).__name__} is not trained yet: call fit(frames)")

    def apply(
        self, frame: np.ndarray, learning_rate: float = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Foreground mask of ``frame``: uint8 ``(H, W)``, 255 foreground, 0 background.

        The model does not learn while scoring: ``learning_rate`` is ignored. With ``out``
        (uint8 ``(H, W)``) nothing is allocated.
        """
        self._check_fitted()
        pixels = as_pixels(frame)
        h, w, k, c = self.means_.shape
        if pixels.shape != (h, w, c):
            got = f"{pixels.shape[1]}x{pixels.shape[0]} with {pixels.shape[2]} channel(s)"
            raise ValueError(
                f"frame is {got} but the model was trained on {w}x{h} with {c}: "
                "score frames of the training size and colour layout"
            )
        if out is None:
            out = np.empty((h, w), np.uint8)
        elif out.shape != (h, w) or out.dtype != np.uint8:
            raise ValueError(
                f"out must be a uint8 array of shape {(h, w)}, got {out.dtype} {out.shape}"
            )
        component_mask(
            pixels, self.means_, self.inv_scale_, self.n_background_, float(self.threshold), out
        )
        return out

    def _background(self) -> np.ndarray:
        """The background colour of each pixel, ``(H, W, C)`` float64: the heaviest
        component's centre unless the model says otherwise."""
        return self.means_[:, :, 0, :]

    def background_image(self) -> np.ndarray:
        """The background colour of each pixel (``_background``), uint8 ``(H, W)`` or
        ``(H, W, 3)`` like the frames."""
        self._check_fitted()
        image = np.clip(np.rint(self._background()), 0, 255).astype(np.uint8)
        return image[:, :, 0] if image.shape[2] == 1 else image


class PixelGMM(PerPixelModel):
    """One Gaussian mixture per pixel, fitted by EM to its values over the training frames.

    The background components of a pixel are its heaviest components whose weights add up to
    ``background_ratio``: a component is one when the weights of the heavier ones add up to
    less than the ratio (OpenCV MOG2's rule). A value is background when its Mahalanobis
    distance to one of them is at most ``threshold`` standard deviations (Stauffer & Grimson
    1999 use 2.5).

    Parameters
    ----------
    n_components : int
        Components per pixel (K).
    covariance_type : {"diag", "spherical"}
        A variance per channel, or one per component (the mean of the channel variances).
    threshold : float
        Mahalanobis distance, in standard deviations, under which a value is background.
    background_ratio : float
        Share of the weight the background components cover (MOG2's 0.9).
    max_iter, tol :
        EM stops per pixel after ``max_iter`` iterations or when the mean log-likelihood per
        value gains less than ``tol`` (scikit-learn's defaults).
    var_min, var_max : float
        Every variance is kept within ``[var_min, var_max]`` grey levels squared (MOG2 has the
        same pair). The defaults, sigma 16 to 20, put the 2.5-sigma band at 40 to 50 grey
        levels of colour distance, near the baselines' L2 thresholds (50 and 60):

        - the floor: the spread of a pixel over the training frames understates how far its
          background strays in later frames (codec noise, exposure and illumination drift,
          swaying leaves). On cdnet-highway the static pixels of frames 470-1700 lie a
          median 8.7 grey levels (L2; 95th percentile 27) from their median over frames
          1-469, twice the median spread of the training frames themselves (4.2); with a
          floor of sigma 4, 22% of them fall beyond 2.5 sigma. F-measure rises with the floor
          up to sigma 16-20 on highway (0.19 at sigma 4, 0.69 at 16), Wallflower
          WavingTrees (0.76, 0.90) and the seed traffic clip (0.32, 0.55).
        - the ceiling: EM gathers the passing cars of every colour into one broad component.
          Where cars cover more than ``1 - background_ratio`` of the frames (28% of
          highway's pixels over frames 470-1700) that component counts as background and,
          being broad, swallows every car: recall falls to 0.62. Kept within sigma 20, it
          only swallows values near its mean (highway F 0.69 -> 0.73, the other clips
          unchanged).

    The background image is each pixel's *mode* near its heaviest component: mean-shift
    (Comaniciu & Meer 2002) over the pixel's training values from that component's mean, with
    that component's Gaussian as the kernel; the component's most probable value, which is
    what Stauffer & Grimson call the background. Not the mean itself: EM weighs a value by
    its responsibility, which stays near 1 for any value no other component explains, however
    far out in the tail, so a broad component's mean is pulled by whatever it covers (on
    cdnet-highway: dark cars and shadows, and the first 469 frames, lit about 3 grey levels
    darker, which are 27% of the 200 training frames spread over the clip). The kernel
    weighs values by their distance (the mode is a redescending M-estimate of location).
    AGE against the true background, 200 training frames, mean -> mode: cdnet-highway over
    the whole clip 1.56 -> 1.28 (OpenCV MOG2 after the whole clip: 1.36), over frames
    470-1700 0.73 -> 0.30; the sample street clip 0.54 -> 0.07; MAE to the seed traffic
    clip's 2-component reference 2.24 -> 2.19 (K=2). Masks do not use it.

    Fitted attributes (``H, W`` the frame size, ``K`` components, ``C`` channels): ``weights_``
    ``(H, W, K)`` sorted decreasing (0 for components with no values), ``means_`` and
    ``variances_`` ``(H, W, K, C)`` (spherical: ``variances_`` is ``(H, W, K)``),
    ``modes_`` ``(H, W, C)`` the background colours, ``n_background_`` ``(H, W)``,
    ``n_iter_`` ``(H, W)``, ``log_likelihood_`` ``(H, W)`` mean log-likelihood per training
    value, ``n_frames_``.
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        covariance_type: str = "diag",
        threshold: float = 2.5,
        background_ratio: float = 0.9,
        max_iter: int = 100,
        tol: float = 1e-3,
        var_min: float = 256.0,
        var_max: float = 400.0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.threshold = threshold
        self.background_ratio = background_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.var_min = var_min
        self.var_max = var_max

    def _check_params(self) -> None:
        super()._check_params()
        check_positive_int("n_components (k)", self.n_components)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}, "
                f"got {self.covariance_type!r}"
            )
        check_positive("background_ratio", self.background_ratio, upper=1.0)
        check_positive_int("max_iter", self.max_iter, minimum=0)
        if not isinstance(self.tol, (int, float)) or self.tol < 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        check_positive("var_min", self.var_min)
        if not isinstance(self.var_max, (int, float)) or not self.var_max >= self.var_min:
            raise ValueError(
                f"var_max must be a number >= var_min ({self.var_min}), got {self.var_max!r}"
            )

    def _fit_stack(self, stack: np.ndarray) -> None:
        t, h, w, c = stack.shape
        k = self.n_components
        self.weights_ = np.empty((h, w, k))
        self.means_ = np.empty((h, w, k, c))
        variances = np.empty((h, w, k, c))
        self.n_iter_ = np.empty((h, w), np.int64)
        self.log_likelihood_ = np.empty((h, w))
        self.modes_ = np.empty((h, w, c))
        pixel_em(
            stack.reshape(t, h * w, c),
            COVARIANCE_TYPES[self.covariance_type],
            float(self.var_min),
            float(self.var_max),
            float(self.tol),
            int(self.max_iter),
            KMEANS_ITER,
            self.weights_.reshape(h * w, k),
            self.means_.reshape(h * w, k, c),
            variances.reshape(h * w, k, c),
            self.n_iter_.reshape(h * w),
            self.log_likelihood_.reshape(h * w),
            self.modes_.reshape(h * w, c),
        )
        spherical = COVARIANCE_TYPES[self.covariance_type]
        self.variances_ = variances[..., 0].copy() if spherical else variances

    def _background(self) -> np.ndarray:
        return self.modes_

    def _set_scoring(self) -> None:
        variances = self.variances_ if self.variances_.ndim == 4 else self.variances_[..., None]
        self.inv_scale_ = 1.0 / np.broadcast_to(variances, self.means_.shape)
        self.n_background_ = count_background(self.weights_, self.background_ratio)

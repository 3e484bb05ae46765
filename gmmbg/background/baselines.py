"""Baseline batch models: per-pixel mean, median and k-means over the training frames.

All three share ``PerPixelModel`` with ``PixelGMM`` (training stack, mask kernel, background
image) and score by the L2 colour distance, in grey levels, to the pixel's background
centre(s): a value farther than ``threshold`` from every one is foreground. On gray frames
that is the absolute difference, so the same number is a looser test there (an L2 distance
of d per channel in three channels is d * sqrt(3): 60 is 35 per channel).

Default thresholds are the ones that hold across the project's clips rather than the best on
one. F-measure at thresholds 40 / 50 / 60 / 70 (cdnet-highway, every 5th scored frame;
Wallflower WavingTrees, frame 247; seed traffic frames 48-79 against the first seed's
expected masks; all trained as in ``benchmarks/bench_pixel_em.py``):

- median: highway .796 / .814 / .812 / .799, trees .806 / .845 / .865 / .873,
  traffic .497 / .663 / .818 / .920;
- mean (50 / 60 / 70 / 80): highway .788 / .798 / .786 / .764, trees .835 / .862 / .873 /
  .865, traffic .691 / .840 / .922 / .952;
- k-means (40 / 50 / 60): highway .772 / .737 / .692, trees .918 / .937 / .931, traffic
  .660 / .760 / .817.

Highway is flat around 50-60 for the median and peaks at 60 for the mean, where the other
clips are already near their best: 60 for both. The second seed used 100 with the mean on the
traffic clip; the issue's figure for the median is 0.81 at 50 (0.814 here). k-means is best
at 40 on highway and at 50 on the trees, and improves beyond on traffic: 50.
TimeOfDay (lights brightening after training) defeats every batch model at any threshold.
"""

from __future__ import annotations

import numpy as np

from gmmbg.background.pixel_gmm import (
    PerPixelModel,
    check_positive,
    check_positive_int,
    count_background,
)
from gmmbg.kernels.pixel_kmeans import pixel_kmeans, pixel_median

KMEANS_MAX_ITER = 100
"""Lloyd iterations per pixel: they stop much earlier, when no label changes."""


class _SingleCentre(PerPixelModel):
    """A model with one background centre per pixel, compared by L2 distance."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def _centre(self, stack: np.ndarray) -> np.ndarray:
        """The per-pixel centre ``(H, W, C)`` float64 of ``stack`` ``(T, H, W, C)`` uint8."""
        raise NotImplementedError

    def _fit_stack(self, stack: np.ndarray) -> None:
        h, w, c = stack.shape[1:]
        self.means_ = self._centre(stack).reshape(h, w, 1, c)

    def _set_scoring(self) -> None:
        self.inv_scale_ = np.ones_like(self.means_)
        self.n_background_ = np.ones(self.means_.shape[:2], np.int64)


class FrameAverage(_SingleCentre):
    """Background = per-pixel mean of the training frames; foreground = L2 distance above
    ``threshold`` grey levels (default 60; see the module docstring).

    The second seed's "per-pixel GMM" is this model with threshold 100 over all 80 frames of
    its traffic clip (it truncated the mean to uint8; the model keeps it exact).
    """

    def __init__(self, threshold: float = 60.0) -> None:
        super().__init__(threshold)

    def _centre(self, stack: np.ndarray) -> np.ndarray:
        return stack.mean(axis=0)


class TemporalMedian(_SingleCentre):
    """Background = per-pixel median of the training frames (channel by channel);
    foreground = L2 distance above ``threshold`` grey levels (default 60; see the module
    docstring).
    """

    def __init__(self, threshold: float = 60.0) -> None:
        super().__init__(threshold)

    def _centre(self, stack: np.ndarray) -> np.ndarray:
        t, h, w, c = stack.shape
        centre = np.empty((h * w, c))
        pixel_median(stack.reshape(t, h * w, c), centre)
        return centre.reshape(h, w, c)


class PixelKMeans(PerPixelModel):
    """K-means over time per pixel (Lloyd, deterministic farthest-point seeds).

    Background image: the centre of the largest cluster. Mask: the background clusters are
    the largest ones whose sizes add up to ``background_ratio`` of the training frames (the
    rule ``PixelGMM`` applies to weights); a value is foreground when its L2 distance to every
    background centre exceeds ``threshold`` grey levels (default 50; see the module
    docstring).

    Fitted attributes: ``means_`` ``(H, W, K, C)`` the centres, largest cluster first;
    ``weights_`` ``(H, W, K)`` the cluster sizes as fractions; ``n_background_``; ``n_iter_``.
    """

    def __init__(
        self, n_components: int = 3, *, threshold: float = 50.0, background_ratio: float = 0.9
    ) -> None:
        self.n_components = n_components
        self.threshold = threshold
        self.background_ratio = background_ratio

    def _check_params(self) -> None:
        super()._check_params()
        check_positive_int("n_components (k)", self.n_components)
        check_positive("background_ratio", self.background_ratio, upper=1.0)

    def _fit_stack(self, stack: np.ndarray) -> None:
        t, h, w, c = stack.shape
        k = self.n_components
        self.means_ = np.empty((h, w, k, c))
        self.weights_ = np.empty((h, w, k))
        self.n_iter_ = np.empty((h, w), np.int64)
        pixel_kmeans(
            stack.reshape(t, h * w, c),
            KMEANS_MAX_ITER,
            self.means_.reshape(h * w, k, c),
            self.weights_.reshape(h * w, k),
            self.n_iter_.reshape(h * w),
        )

    def _set_scoring(self) -> None:
        self.inv_scale_ = np.ones_like(self.means_)
        self.n_background_ = count_background(self.weights_, self.background_ratio)

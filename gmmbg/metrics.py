"""Scores for foreground masks (CDnet 2014) and for background images (SBI).

Foreground masks follow CDnet 2014's Comparator:

- ground-truth codes: 0 static, 50 hard shadow, 85 outside the region of interest,
  170 unknown motion, 255 motion;
- a pixel is skipped where the ROI mask is black (0) or the ground truth is 85 or 170;
  255 is positive, 0 and 50 are negative (a shadow reported as foreground is a false
  positive); any other ground-truth value is an error (binarise such masks first with
  :func:`truth_from_binary`);
- only a mask value of 255 is foreground: a shadow label (127) counts as background;
- per video, the counts of every scored frame are summed first and the ratios are taken
  from the sums (:func:`cdnet_scores`), not averaged over frames.

Frames outside the temporal ROI (``temporalROI.txt``, :func:`read_temporal_roi`) are not
scored at all; the caller leaves them out.

Background images are scored against a true background on luminance, as the SBI benchmark
(Maddalena and Petrosino, 2015) does: AGE, pEPs, pCEPs and PSNR.
"""

from __future__ import annotations

import math
from os import PathLike

import numpy as np

STATIC, HARD_SHADOW, OUTSIDE_ROI, UNKNOWN, MOTION = 0, 50, 85, 170, 255
FOREGROUND = 255

# Each ground-truth value maps to a class; adding 1 where the mask is foreground gives the
# index of one bincount slot: 0 tn, 1 fp, 2 fn, 3 tp, 4-5 skipped, 6-7 invalid code.
_NEGATIVE, _POSITIVE, _SKIP, _INVALID = 0, 2, 4, 6
_TRUTH_CLASS = np.full(256, _INVALID, dtype=np.uint8)
_TRUTH_CLASS[[STATIC, HARD_SHADOW]] = _NEGATIVE
_TRUTH_CLASS[MOTION] = _POSITIVE
_TRUTH_CLASS[[OUTSIDE_ROI, UNKNOWN]] = _SKIP
_SLOTS_TO_COUNTS = [3, 1, 2, 0]  # [tp, fp, fn, tn]


def _plane(array: np.ndarray, name: str) -> np.ndarray:
    """One ``(H, W)`` plane of ``array``: itself, or channel 0 of an ``(H, W, C)`` array.

    Masks saved as RGB images (CDnet's ground truth PNGs, ROI.bmp) repeat the value in
    every channel.
    """
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (H, W) or (H, W, C); got shape {array.shape}")
    return array


def confusion_counts(
    mask: np.ndarray, truth: np.ndarray, roi: np.ndarray | None = None
) -> np.ndarray:
    """CDnet confusion counts of one frame's mask against its ground truth.

    Parameters
    ----------
    mask : uint8 array, shape (H, W)
        The method's output: 255 foreground, anything else (0, 127 shadow) background.
    truth : uint8 array, shape (H, W) or (H, W, C)
        CDnet ground truth (codes 0, 50, 85, 170, 255); of a colour image, channel 0.
    roi : bool or uint8 array, shape (H, W) or (H, W, C), optional
        Region of interest: non-zero pixels are scored, zero pixels skipped.

    Returns
    -------
    counts : int64 array, shape (4,)
        ``[tp, fp, fn, tn]``. Sum them over frames and pass the sum to :func:`cdnet_scores`.

    Raises
    ------
    ValueError
        When the shapes differ, or the ground truth holds a value that is not a CDnet code.
    """
    mask = _plane(mask, "mask")
    truth = _plane(truth, "truth")
    if truth.shape != mask.shape:
        raise ValueError(
            f"ground truth is {truth.shape[1]}x{truth.shape[0]} but the mask is "
            f"{mask.shape[1]}x{mask.shape[0]}: they must be frames of the same size"
        )
    if truth.dtype != np.uint8:
        raise ValueError(f"ground truth must be uint8 CDnet codes, got {truth.dtype}")
    slot = _TRUTH_CLASS[truth] + (mask == FOREGROUND)
    if roi is not None:
        roi = _plane(roi, "roi")
        if roi.shape != mask.shape:
            raise ValueError(
                f"the ROI is {roi.shape[1]}x{roi.shape[0]} but the frames are "
                f"{mask.shape[1]}x{mask.shape[0]}: give a ROI mask of the frame size"
            )
        slot[roi == 0] = _SKIP
    slots = np.bincount(slot.ravel(), minlength=8)
    if slots[_INVALID:].any():
        bad = np.unique(truth[_TRUTH_CLASS[truth] == _INVALID])
        raise ValueError(
            f"ground truth holds values {bad[:8].tolist()} that are not CDnet codes "
            "(0, 50, 85, 170, 255); binarise masks first (gmmbg.metrics.truth_from_binary)"
        )
    return slots[_SLOTS_TO_COUNTS].astype(np.int64)


def truth_from_binary(truth: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Turn a plain mask (e.g. Wallflower's BMPs, a lossy mask video) into CDnet codes.

    Parameters
    ----------
    truth : array, shape (H, W) or (H, W, C)
        A mask where values ``>= threshold`` are motion; of a colour image, channel 0.
    threshold : int
        Wallflower's ground truth is thresholded at 128.

    Returns
    -------
    uint8 array, shape (H, W): 255 motion, 0 static.
    """
    return np.where(_plane(truth, "truth") >= threshold, MOTION, STATIC).astype(np.uint8)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def cdnet_scores(counts: np.ndarray) -> dict[str, float]:
    """CDnet 2014's seven measures from summed confusion counts.

    Parameters
    ----------
    counts : int array, shape (4,) or (n_frames, 4)
        ``[tp, fp, fn, tn]``; per-frame rows are summed first.

    Returns
    -------
    dict with ``recall`` TP/(TP+FN), ``specificity`` TN/(TN+FP), ``fpr`` FP/(FP+TN),
    ``fnr`` FN/(TP+FN), ``pwc`` 100(FN+FP)/(TP+FP+FN+TN), ``precision`` TP/(TP+FP) and
    ``f_measure`` 2 Pr Re/(Pr+Re), computed as 2TP/(2TP+FP+FN) (the same value wherever
    both are defined).

    A ratio whose denominator is 0 is nan (e.g. precision when nothing was reported as
    foreground). The F-measure is nan only when TP, FP and FN are all 0; a method that
    finds none of the motion (TP = 0) scores 0, not nan, as scikit-learn's ``f1_score``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape[-1:] != (4,) or counts.ndim > 2:
        raise ValueError(
            f"counts must be [tp, fp, fn, tn] of shape (4,) or (n, 4); got {counts.shape}"
        )
    if counts.ndim == 2:
        counts = counts.sum(axis=0)
    tp, fp, fn, tn = (int(c) for c in counts)
    return {
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, tp + fn),
        "pwc": _ratio(100.0 * (fn + fp), tp + fp + fn + tn),
        "precision": _ratio(tp, tp + fp),
        "f_measure": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def read_temporal_roi(path: str | PathLike) -> tuple[int, int]:
    """The scored frames of a CDnet video: ``(first, last)``, 1-based and inclusive.

    ``temporalROI.txt`` holds two integers, e.g. ``470 1700``: frames 1-469 are warm-up.
    Frame numbers match the file names ``in000470.jpg``/``gt000470.png``; as 0-based frame
    indices the scored range is ``first - 1 : last``.
    """
    with open(path, encoding="ascii") as f:
        text = f.read()
    fields = text.split()
    try:
        first, last = (int(v) for v in fields)
    except ValueError:
        raise ValueError(
            f"{path}: a temporal ROI file holds two frame numbers like '470 1700', "
            f"got {text[:40]!r}"
        ) from None
    if not 1 <= first <= last:
        raise ValueError(f"{path}: need 1 <= first <= last, got {first} {last}")
    return first, last


# ITU-R BT.601 luma of 0-255 RGB, offset to 16-235 (MATLAB's rgb2ycbcr, which SBI uses).
_LUMA_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def luminance(image: np.ndarray) -> np.ndarray:
    """Luminance of an image, float64 ``(H, W)``.

    ``(H, W)`` and ``(H, W, 1)`` gray images are used as they are; ``(H, W, 3)`` RGB (and
    RGBA, alpha dropped) gives Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return 16.0 + image[:, :, :3] @ _LUMA_WEIGHTS
    raise ValueError(f"an image must be (H, W) or (H, W, C) with C in 1, 3, 4; got {image.shape}")


def _is_colour(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] > 1


def _luminance_difference(
    background: np.ndarray, truth: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``|Y(background) - Y(truth)|`` (H, W) and the bool (H, W) map of pixels that count."""
    background, truth = np.asarray(background), np.asarray(truth)
    if background.shape[:2] != truth.shape[:2] or _is_colour(background) != _is_colour(truth):
        raise ValueError(
            f"the background is {background.shape} but the true background is {truth.shape}: "
            "they must have the same size and both be gray or both colour"
        )
    diff = np.abs(luminance(background) - luminance(truth))
    if mask is None:
        return diff, np.ones(diff.shape, dtype=bool)
    mask = _plane(mask, "mask")
    if mask.shape != diff.shape:
        raise ValueError(f"mask is {mask.shape} but the images are {diff.shape}")
    return diff, mask != 0


def age(background: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Average Gray-level Error: mean ``|dY|`` over the pixels that count.

    Parameters
    ----------
    background, truth : arrays, shape (H, W) or (H, W, C), same shape, 0-255 scale
        The estimated and the true background.
    mask : bool or uint8 array, shape (H, W), optional
        Only non-zero pixels count (e.g. where the ground truth is static); nan when empty.
    """
    diff, counted = _luminance_difference(background, truth, mask)
    return float(diff[counted].mean()) if counted.any() else math.nan


def _error_pixels(
    background: np.ndarray, truth: np.ndarray, threshold: float, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    diff, counted = _luminance_difference(background, truth, mask)
    return diff > threshold, counted


def peps(
    background: np.ndarray,
    truth: np.ndarray,
    threshold: float = 20,
    mask: np.ndarray | None = None,
) -> float:
    """Percentage of Error Pixels, as a share in [0, 1]: pixels with ``|dY| > threshold``.

    Arguments as :func:`age`; the share is of the pixels that count.
    """
    errors, counted = _error_pixels(background, truth, threshold, mask)
    return _ratio(np.count_nonzero(errors & counted), np.count_nonzero(counted))


def pceps(
    background: np.ndarray,
    truth: np.ndarray,
    threshold: float = 20,
    mask: np.ndarray | None = None,
) -> float:
    """Percentage of Clustered Error Pixels, as a share in [0, 1].

    A clustered error pixel is an error pixel (``|dY| > threshold``) whose 4-neighbours are
    all error pixels: the error map eroded by a 3x3 cross. Neighbours outside the image do
    not count against a pixel (MATLAB's ``imerode``, which SBI uses, pads with true), and
    neighbours outside ``mask`` still do (the mask chooses which pixels are scored, not the
    shape of the error regions).
    """
    errors, counted = _error_pixels(background, truth, threshold, mask)
    clustered = errors.copy()
    clustered[1:, :] &= errors[:-1, :]
    clustered[:-1, :] &= errors[1:, :]
    clustered[:, 1:] &= errors[:, :-1]
    clustered[:, :-1] &= errors[:, 1:]
    return _ratio(np.count_nonzero(clustered & counted), np.count_nonzero(counted))


def psnr(background: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio of the luminance in dB: ``10 log10(255^2 / MSE)``.

    inf when the luminances are equal; nan when no pixel counts. Arguments as :func:`age`.
    """
    diff, counted = _luminance_difference(background, truth, mask)
    if not counted.any():
        return math.nan
    mse = float(np.mean(diff[counted] ** 2))
    return 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf

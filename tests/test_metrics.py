"""CDnet and SBI measures on small hand-counted cases."""

import math
import time

import numpy as np
import pytest

from gmmbg import metrics
from gmmbg.metrics import (
    age,
    cdnet_scores,
    confusion_counts,
    pceps,
    peps,
    psnr,
    read_temporal_roi,
    truth_from_binary,
)

# Every ground-truth code against every mask value the models write (0, 127, 255).
# Rows: ground truth 0, 50, 85, 170, 255; columns: mask 0, 127, 255.
TRUTH = np.array(
    [
        [0, 0, 0],
        [50, 50, 50],
        [85, 85, 85],
        [170, 170, 170],
        [255, 255, 255],
    ],
    dtype=np.uint8,
)
MASK = np.tile(np.array([0, 127, 255], dtype=np.uint8), (5, 1))


def test_every_code_against_every_mask_value():
    # static: 0, 127 -> tn; 255 -> fp.  shadow: the same.  85, 170: skipped.
    # motion: 0, 127 -> fn (a shadow label is background); 255 -> tp.
    tp, fp, fn, tn = confusion_counts(MASK, TRUTH)
    assert (tp, fp, fn, tn) == (1, 2, 2, 4)


def test_counts_are_int64_tp_fp_fn_tn():
    counts = confusion_counts(MASK, TRUTH)
    assert counts.dtype == np.int64 and counts.shape == (4,)


def test_roi_skips_black_pixels():
    roi = np.ones(TRUTH.shape, dtype=bool)
    roi[:, 2] = False  # drops every mask-255 column: the tp and both fp
    assert confusion_counts(MASK, TRUTH, roi).tolist() == [0, 0, 2, 4]
    roi_u8 = roi.astype(np.uint8) * 255
    assert confusion_counts(MASK, TRUTH, roi_u8).tolist() == [0, 0, 2, 4]
    # An RGB ROI.bmp as CDnet ships it: channel 0 is used.
    roi_rgb = np.repeat(roi_u8[:, :, None], 3, axis=2)
    assert confusion_counts(MASK, TRUTH, roi_rgb).tolist() == [0, 0, 2, 4]


def test_roi_also_skips_motion_pixels():
    roi = np.zeros(TRUTH.shape, dtype=bool)
    roi[4, :] = True  # only the motion row
    assert confusion_counts(MASK, TRUTH, roi).tolist() == [1, 0, 2, 0]


def test_rgb_ground_truth_uses_one_channel():
    truth_rgb = np.repeat(TRUTH[:, :, None], 3, axis=2)
    assert confusion_counts(MASK, truth_rgb).tolist() == [1, 2, 2, 4]


def test_hard_shadow_reported_as_foreground_is_false_positive():
    truth = np.array([[50, 50, 50]], dtype=np.uint8)
    mask = np.array([[255, 127, 0]], dtype=np.uint8)
    assert confusion_counts(mask, truth).tolist() == [0, 1, 0, 2]


def test_only_255_is_foreground():
    truth = np.full((1, 6), 255, dtype=np.uint8)
    mask = np.array([[0, 1, 127, 128, 254, 255]], dtype=np.uint8)
    assert confusion_counts(mask, truth).tolist() == [1, 0, 5, 0]


def test_counts_summed_over_frames_before_ratios():
    # Frame 1: tp 1, fp 0, fn 0, tn 3 (F = 1).  Frame 2: tp 1, fp 3, fn 2, tn 2 (F = 2/7).
    truth1 = np.array([[255, 0], [0, 0]], dtype=np.uint8)
    mask1 = np.array([[255, 0], [0, 0]], dtype=np.uint8)
    truth2 = np.array([[255, 255, 255, 0], [0, 0, 0, 0]], dtype=np.uint8)
    mask2 = np.array([[255, 0, 0, 255], [255, 255, 0, 0]], dtype=np.uint8)
    c1 = confusion_counts(mask1, truth1)
    c2 = confusion_counts(mask2, truth2)
    assert c1.tolist() == [1, 0, 0, 3]
    assert c2.tolist() == [1, 3, 2, 2]
    total = c1 + c2  # tp 2, fp 3, fn 2, tn 5
    scores = cdnet_scores(total)
    assert scores == pytest.approx(
        {
            "recall": 2 / 4,
            "specificity": 5 / 8,
            "fpr": 3 / 8,
            "fnr": 2 / 4,
            "pwc": 100 * 5 / 12,
            "precision": 2 / 5,
            "f_measure": 2 * (2 / 5) * (2 / 4) / (2 / 5 + 2 / 4),
        },
        rel=1e-12,
    )
    # Per-frame rows are summed too; the mean of per-frame F would be (1 + 2/7) / 2.
    assert cdnet_scores(np.stack([c1, c2])) == scores
    assert scores["f_measure"] != pytest.approx((1 + 2 / 7) / 2)


def test_scores_zero_denominators():
    nothing_found = cdnet_scores([0, 0, 5, 10])  # motion present, nothing reported
    assert math.isnan(nothing_found["precision"])
    assert nothing_found["recall"] == 0 and nothing_found["f_measure"] == 0
    assert nothing_found["fpr"] == 0 and nothing_found["specificity"] == 1
    no_motion = cdnet_scores([0, 0, 0, 10])  # no motion and none reported
    for key in ("recall", "fnr", "precision", "f_measure"):
        assert math.isnan(no_motion[key])
    assert no_motion["pwc"] == 0
    empty = cdnet_scores([0, 0, 0, 0])
    assert all(math.isnan(v) for v in empty.values())


def test_scores_are_python_floats():
    assert all(type(v) is float for v in cdnet_scores([3, 1, 2, 4]).values())


def test_scores_reject_bad_shape():
    with pytest.raises(ValueError, match="tp, fp, fn, tn"):
        cdnet_scores([1, 2, 3])


def test_shape_mismatch_is_a_clear_error():
    mask = np.zeros((4, 6), dtype=np.uint8)
    with pytest.raises(ValueError, match="ground truth is 5x4 but the mask is 6x4"):
        confusion_counts(mask, np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="ROI is 6x3"):
        confusion_counts(mask, np.zeros((4, 6), dtype=np.uint8), np.ones((3, 6), bool))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\)"):
        confusion_counts(np.zeros(6, np.uint8), np.zeros(6, np.uint8))


def test_unknown_ground_truth_code_is_an_error():
    truth = np.array([[0, 128, 255, 3]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\[3, 128\].*truth_from_binary"):
        confusion_counts(np.zeros_like(truth), truth)


def test_truth_from_binary():
    truth = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    assert truth_from_binary(truth).tolist() == [[0, 0, 255, 255]]
    rgb = np.repeat(truth[:, :, None], 3, axis=2)
    assert truth_from_binary(rgb, threshold=100).tolist() == [[0, 255, 255, 255]]


def test_confusion_counts_is_fast_enough_for_a_cdnet_video():
    rng = np.random.default_rng(0)
    codes = np.array([0, 50, 85, 170, 255], dtype=np.uint8)
    truth = codes[rng.integers(0, 5, (240, 320))]
    mask = np.array([0, 127, 255], dtype=np.uint8)[rng.integers(0, 3, (240, 320))]
    roi = rng.random((240, 320)) < 0.9
    confusion_counts(mask, truth, roi)
    start = time.perf_counter()
    for _ in range(50):
        counts = confusion_counts(mask, truth, roi)
    per_frame = (time.perf_counter() - start) / 50
    # Against a plain boolean-logic count (an independent formulation).
    scored = roi & (truth != 85) & (truth != 170)
    fg, pos = mask == 255, truth == 255
    expected = [
        np.sum(scored & fg & pos),
        np.sum(scored & fg & ~pos),
        np.sum(scored & ~fg & pos),
        np.sum(scored & ~fg & ~pos),
    ]
    assert counts.tolist() == expected
    assert per_frame < 0.02  # 1231 frames well under 25 s even on a slow machine


def test_read_temporal_roi(tmp_path):
    path = tmp_path / "temporalROI.txt"
    path.write_text("470 1700\n")
    assert read_temporal_roi(path) == (470, 1700)
    path.write_text("470\n")
    with pytest.raises(ValueError, match="two frame numbers"):
        read_temporal_roi(path)
    path.write_text("20 10")
    with pytest.raises(ValueError, match="first <= last"):
        read_temporal_roi(path)


def test_read_temporal_roi_of_cdnet_highway(shared_media):
    assert read_temporal_roi(shared_media / "cdnet-highway" / "temporalROI.txt") == (470, 1700)


# --- SBI measures -------------------------------------------------------------------------

TRUE_BG = np.array(
    [
        [100, 100, 100, 100],
        [100, 100, 100, 100],
        [100, 100, 100, 100],
    ],
    dtype=np.uint8,
)
# |difference| > 20 (error pixels) fill the 2x3 block at the top left plus (2, 1); see
# test_pceps for which of them are clustered.
ESTIMATE = np.array(
    [
        [130, 125, 125, 110],
        [150, 125, 125, 100],
        [100, 70, 100, 100],
    ],
    dtype=np.uint8,
)
ABS_DIFF = np.array([[30, 25, 25, 10], [50, 25, 25, 0], [0, 30, 0, 0]], dtype=float)


def test_age_is_mean_absolute_difference_of_gray():
    assert age(ESTIMATE, TRUE_BG) == pytest.approx(ABS_DIFF.mean())
    assert age(TRUE_BG, TRUE_BG) == 0


def test_peps_counts_pixels_over_threshold():
    assert peps(ESTIMATE, TRUE_BG) == pytest.approx(7 / 12)  # strictly greater than 20
    assert peps(ESTIMATE, TRUE_BG, threshold=25) == pytest.approx(3 / 12)


def test_pceps_counts_errors_whose_neighbours_are_all_errors():
    # Error map:   1 1 1 0     clustered:  (0,1): (0,0) (0,2) (1,1) errors -> yes
    #              1 1 1 0                 (1,1): (0,1) (2,1) (1,0) (1,2) -> yes
    #              0 1 0 0                 (0,0): (0,1) (1,0) -> yes (corner)
    # (0,2): (0,3) no.  (1,0): (2,0) no.  (1,2): (1,3) no.  (2,1): (2,0) no.
    assert pceps(ESTIMATE, TRUE_BG) == pytest.approx(3 / 12)


def test_psnr():
    mse = np.mean(ABS_DIFF**2)
    assert psnr(ESTIMATE, TRUE_BG) == pytest.approx(10 * math.log10(255**2 / mse))
    assert psnr(TRUE_BG, TRUE_BG) == math.inf


def test_measures_restricted_to_a_mask():
    mask = np.zeros(TRUE_BG.shape, dtype=bool)
    mask[0, :] = True  # row 0: differences 30 25 25 10; clustered (0,0), (0,1)
    assert age(ESTIMATE, TRUE_BG, mask=mask) == pytest.approx(22.5)
    assert peps(ESTIMATE, TRUE_BG, mask=mask) == pytest.approx(3 / 4)
    assert pceps(ESTIMATE, TRUE_BG, mask=mask) == pytest.approx(2 / 4)
    assert psnr(ESTIMATE, TRUE_BG, mask=mask) == pytest.approx(
        10 * math.log10(255**2 / np.mean([900, 625, 625, 100]))
    )
    empty = np.zeros(TRUE_BG.shape, dtype=bool)
    assert math.isnan(age(ESTIMATE, TRUE_BG, mask=empty))
    assert math.isnan(peps(ESTIMATE, TRUE_BG, mask=empty))
    assert math.isnan(psnr(ESTIMATE, TRUE_BG, mask=empty))


def test_rgb_uses_bt601_luminance():
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (255, 255, 255)
    y = metrics.luminance(rgb)
    assert y == pytest.approx(np.array([[16 + 65.481, 16 + 128.553, 235.0]]))
    black = np.zeros_like(rgb)
    assert age(rgb, black) == pytest.approx(np.mean([65.481, 128.553, 219.0]))
    # A pure colour change with the same luminance is not an error.
    a = np.array([[[0, 0, 255]]], dtype=np.uint8)  # Y = 16 + 24.966
    b = np.array([[[0, 49, 0]]], dtype=np.uint8)  # Y = 16 + 128.553 * 49 / 255 = 16 + 24.70
    assert age(a, b) < 0.3 and peps(a, b) == 0
    # RGBA: alpha is ignored; (H, W, 1) is gray.
    rgba = np.concatenate([rgb, np.full((1, 3, 1), 7, np.uint8)], axis=2)
    assert age(rgba, rgb) == 0
    assert age(TRUE_BG[:, :, None], ESTIMATE[:, :, None]) == pytest.approx(ABS_DIFF.mean())


def test_sbi_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same size and both be gray or both colour"):
        age(TRUE_BG, TRUE_BG[:, :3])
    with pytest.raises(ValueError, match="same size and both be gray or both colour"):
        psnr(np.zeros((3, 4, 3), np.uint8), TRUE_BG)
    with pytest.raises(ValueError, match="mask is"):
        peps(ESTIMATE, TRUE_BG, mask=np.ones((2, 4), bool))

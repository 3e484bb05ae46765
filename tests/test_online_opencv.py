"""OnlineGMM against OpenCV's createBackgroundSubtractorMOG2 on real clips (../shared/media).

Both get the same arrays and the same parameters. The update is meant to be MOG2's to the
float32 operation, so the masks are expected to agree on (nearly) every pixel; the issue
asks for 99% of pixels and background images within a mean absolute error of 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from gmmbg.background.online import OnlineGMM
from gmmbg.media import iter_frames, read_image
from gmmbg.metrics import cdnet_scores, confusion_counts, read_temporal_roi

cv2 = pytest.importorskip(
    "cv2", reason="opencv-python-headless is not installed (pip install -e '.[dev]')"
)

pytestmark = pytest.mark.media


def opencv_mog2(model: OnlineGMM):
    """An OpenCV MOG2 with every parameter of ``model``."""
    mog2 = cv2.createBackgroundSubtractorMOG2(
        model.history, model.var_threshold, model.detect_shadows
    )
    mog2.setNMixtures(model.n_components)
    mog2.setVarThresholdGen(model.var_threshold_gen)
    mog2.setBackgroundRatio(model.background_ratio)
    mog2.setVarInit(model.var_init)
    mog2.setVarMin(model.var_min)
    mog2.setVarMax(model.var_max)
    mog2.setComplexityReductionThreshold(model.complexity_reduction)
    mog2.setShadowValue(model.shadow_value)
    mog2.setShadowThreshold(model.shadow_threshold)
    return mog2


def agreement(frames, model: OnlineGMM) -> tuple[np.ndarray, float]:
    """Per-frame fraction of equal mask pixels, and the final backgrounds' MAE."""
    mog2 = opencv_mog2(model)
    agree = np.array([np.mean(model.apply(f) == mog2.apply(f)) for f in frames])
    ours = model.background_image().astype(float)
    theirs = mog2.getBackgroundImage().astype(float)
    return agree, float(np.abs(ours - theirs).mean())


@pytest.fixture(scope="module")
def highway(shared_media) -> list[np.ndarray]:
    return list(iter_frames(shared_media / "cdnet-highway" / "input", frames=range(300)))


@pytest.fixture(scope="module")
def traffic(shared_media) -> list[np.ndarray]:
    return list(iter_frames(shared_media / "seed-traffic" / "traffic.mp4"))


@pytest.mark.parametrize("shadows", [True, False], ids=["shadows", "no-shadows"])
def test_highway_agrees_with_opencv(highway, shadows):
    agree, mae = agreement(highway, OnlineGMM(detect_shadows=shadows))
    assert agree.mean() >= 0.99 and agree.min() >= 0.98, (agree.mean(), agree.min())
    assert mae <= 2


@pytest.mark.parametrize(
    "params",
    [{}, {"detect_shadows": False}, {"history": 50, "var_threshold": 25.0, "n_components": 3}],
    ids=["defaults", "no-shadows", "short-history"],
)
def test_traffic_agrees_with_opencv(traffic, params):
    agree, mae = agreement(traffic, OnlineGMM(**params))
    assert agree.mean() >= 0.99 and agree.min() >= 0.98, (agree.mean(), agree.min())
    assert mae <= 2


def test_gray_and_float_frames_agree_with_opencv(traffic):
    gray = [np.ascontiguousarray(f[:, :, 1]) for f in traffic]
    agree, mae = agreement(gray, OnlineGMM())
    assert agree.mean() >= 0.99 and mae <= 2
    floats = [f.astype(np.float32) for f in traffic[:40]]
    agree, _ = agreement(floats, OnlineGMM())
    assert agree.mean() >= 0.99


def test_reproduces_the_published_opencv_masks(shared_media, traffic):
    """The masks a seed published from OpenCV MOG2 (varThreshold 200, no shadows, frames in
    BGR order), without OpenCV in the loop."""
    import imageio.v3 as iio

    reference = iio.imread(shared_media / "seed-traffic/reference/opencv_mog2_masks.gif")
    model = OnlineGMM(var_threshold=200, detect_shadows=False)
    masks = np.stack([model.apply(np.ascontiguousarray(f[:, :, ::-1])) for f in traffic])
    assert np.mean(masks == np.where(reference[..., 0] > 127, 255, 0)) >= 0.99


@pytest.mark.slow
def test_cdnet_highway_f_measure_at_least_opencv(shared_media):
    """CDnet rules: frames 470-1700 scored inside ROI.bmp; same parameters (MOG2's
    defaults). Measured: F = 0.7084 for both with shadows (0.7777 without)."""
    root = shared_media / "cdnet-highway"
    first, last = read_temporal_roi(root / "temporalROI.txt")
    roi = read_image(root / "ROI.bmp")
    model = OnlineGMM()
    mog2 = opencv_mog2(model)
    ours, theirs = np.zeros(4, np.int64), np.zeros(4, np.int64)
    for number, frame in enumerate(iter_frames(root / "input", frames=range(last)), start=1):
        mask, cv_mask = model.apply(frame), mog2.apply(frame)
        if number >= first:
            truth = read_image(root / "groundtruth" / f"gt{number:06d}.png")
            ours += confusion_counts(mask, truth, roi)
            theirs += confusion_counts(cv_mask, truth, roi)
    f_ours, f_theirs = cdnet_scores(ours)["f_measure"], cdnet_scores(theirs)["f_measure"]
    assert f_ours >= f_theirs - 1e-9, (f_ours, f_theirs)
    assert f_ours > 0.65

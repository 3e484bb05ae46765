"""The batch models on the project's real clips (../shared/media; skipped when absent).

What runs here and what the benchmark measures:

- the seed checks (traffic clip) run in full: they are small;
- cdnet-highway is 1700 JPEGs: decoding the whole clip would take most of this suite's time
  budget, so these tests score every 5th frame of the temporal ROI (frames 470, 475, ...,
  1700: 247 frames) and build the true background from those frames too. The headline
  figures on every scored frame (and OpenCV MOG2/KNN on the same frames, fed the whole clip)
  come from ``benchmarks/bench_pixel_em.py --quality``; on highway, every-5th and full scoring
  agree to 0.002 in F-measure. The thresholds below are the issue's OpenCV figures
  (reproduced by that benchmark) or, for the baselines, regression floors a little under
  the measured values.
"""

import numpy as np
import pytest

from gmmbg import media, metrics, pipeline
from gmmbg.background import model_class
from gmmbg.background.baselines import FrameAverage
from gmmbg.background.pixel_gmm import PixelGMM

pytestmark = pytest.mark.media

MOG2_F_MEASURE = 0.708  # OpenCV MOG2, default parameters, every scored frame (issue: 0.71)
MOG2_AGE = 1.36  # MOG2's getBackgroundImage() after the whole clip, against the true background


def test_mean_l2_reproduces_the_second_seed(shared_media):
    """The second seed's "per-pixel GMM" is the mean of all 80 frames and an L2 threshold of
    100; it truncated the mean to uint8, the model keeps it exact: >99.9% of pixels agree."""
    clip = shared_media / "seed-traffic"
    frames = list(media.iter_frames(clip / "traffic.mp4"))
    reference = list(media.iter_frames(clip / "reference" / "mean_l2_masks.gif"))
    assert len(frames) == len(reference) == 80
    model = FrameAverage(threshold=100).fit(frames)
    agree = np.mean(
        [
            (model.apply(f) == 255) == (r[..., 0] > 127)
            for f, r in zip(frames, reference, strict=True)
        ]
    )
    assert agree >= 0.99, f"{agree:.5f} of pixels agree"


def test_gmm2_background_matches_the_reference(shared_media):
    """The reference fitted a 2-component GMM per pixel and per channel (the mean of the
    heaviest component); the joint diagonal model's background lands within 2.2 grey levels
    of it (per-channel fits with a variance floor of 1: 2.0)."""
    clip = shared_media / "seed-traffic"
    frames = list(media.iter_frames(clip / "traffic.avi"))
    assert len(frames) == 120
    reference = media.read_image(clip / "reference" / "gmm2_background.png")
    background = PixelGMM(n_components=2).fit(frames).background_image()
    mae = np.abs(background.astype(float) - reference).mean()
    assert mae <= 4, f"mean absolute error {mae:.2f} grey levels"


@pytest.fixture(scope="module")
def highway(shared_media):
    """Training frames (200 spread over frames 1-469, as `subtract --train 0:469`), every 5th
    scored frame with its ground truth, and the background's training frames: 200 spread
    over the whole clip (`extract-background` by default) and over the scored range."""
    clip = shared_media / "cdnet-highway"
    first, last = metrics.read_temporal_roi(clip / "temporalROI.txt")
    scored = list(range(first - 1, last, 5))
    train = pipeline.training_indices(last, slice(0, first - 1))
    whole = pipeline.training_indices(last)
    late = pipeline.training_indices(last, slice(first - 1, last))
    wanted = sorted(set(train) | set(scored) | set(whole) | set(late))
    frames = dict(zip(wanted, media.iter_frames(clip / "input", wanted), strict=True))
    truth = [media.read_image(clip / "groundtruth" / f"gt{i + 1:06d}.png") for i in scored]
    return {
        "train": [frames[i] for i in train],
        "whole": [frames[i] for i in whole],
        "late": [frames[i] for i in late],
        "scored": [frames[i] for i in scored],
        "truth": [t if t.ndim == 2 else t[..., 0] for t in truth],
        "roi": media.read_image(clip / "ROI.bmp"),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, minimum",
    [("gmm", MOG2_F_MEASURE), ("median", 0.80), ("mean", 0.78), ("kmeans", 0.72)],
)
def test_highway_f_measure(highway, method, minimum):
    """Default parameters, trained on the warm-up frames, scored by the CDnet rules."""
    model = model_class(method)().fit(highway["train"])
    counts = np.zeros(4, np.int64)
    mask = None
    for frame, truth in zip(highway["scored"], highway["truth"], strict=True):
        mask = model.apply(frame, out=mask)
        counts += metrics.confusion_counts(mask, truth, highway["roi"])
    f_measure = metrics.cdnet_scores(counts)["f_measure"]
    assert f_measure >= minimum, f"{method}: F-measure {f_measure:.3f}"


def static_median(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median over time of the non-NaN values of ``frames`` ``(T, H, W, C)``, and
    where there is any (np.nanmedian, but one sort instead of a Python-speed loop)."""
    ordered = np.sort(frames, axis=0)  # NaN last
    count = (~np.isnan(frames[..., :1])).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, count[None] // 2, axis=0)[0]
    return np.nan_to_num((low + high) / 2), count[..., 0] > 0


@pytest.mark.slow
@pytest.mark.parametrize("window, maximum", [("whole", MOG2_AGE), ("late", 0.4)])
def test_highway_background_is_at_least_as_good_as_mog2(highway, window, maximum):
    """AGE of the GMM background against the per-pixel median of the static values of the
    scored frames; MOG2 sees the whole clip. Default parameters, 200 training frames spread
    over the whole clip (the default `extract-background` command; frames 1-469 are lit
    about 3 grey levels darker: 1.28, 1.56 with the heaviest component's mean) or over the
    scored range (the frames the true background is defined on: 0.30, was 0.73)."""
    frames = np.stack(highway["scored"]).astype(np.float32)
    frames[np.stack(highway["truth"]) != metrics.STATIC] = np.nan
    truth, static = static_median(frames)
    background = PixelGMM().fit(highway[window]).background_image()
    error = metrics.age(background, truth, static)
    assert error <= maximum, f"AGE {error:.3f}"


@pytest.mark.slow
def test_gmm_beats_the_single_mode_baselines_on_waving_trees(shared_media):
    """A swaying tree is a multi-modal background: the mixture errs less than the mean and
    the median (Wallflower's script: train on frames 0-199, evaluate frame 247)."""
    clip = shared_media / "wallflower" / "WavingTrees"
    frames = list(media.iter_frames(clip / "WavingTrees.mp4", slice(0, 248)))
    truth = metrics.truth_from_binary(media.read_image(clip / "hand_segmented_00247.BMP"))
    errors = {}
    for method in ("gmm", "mean", "median"):
        mask = model_class(method)().fit(frames[:200]).apply(frames[247])
        tp, fp, fn, tn = metrics.confusion_counts(mask, truth)
        errors[method] = fp + fn
    assert errors["gmm"] < min(errors["mean"], errors["median"]), errors

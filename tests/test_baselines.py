"""The batch background models (PixelGMM, FrameAverage, TemporalMedian, PixelKMeans): one
interface, bad input, and each model's own rule, on small synthetic clips."""

import tracemalloc

import numpy as np
import pytest
from naive import pixel as naive

from gmmbg.background import METHODS, model_class
from gmmbg.background.baselines import FrameAverage, PixelKMeans, TemporalMedian
from gmmbg.background.pixel_gmm import PixelGMM, count_background, stack_frames
from gmmbg.pipeline import Counted

BATCH = ["gmm", "mean", "median", "kmeans"]
H, W = 24, 32


def street(t: int = 30, channels: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, C) uint8 frames of a noisy static scene crossed by a bright square, and the
    true background (H, W, C)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 150, (H, W, channels)).astype(float)
    frames = background + rng.normal(0, 3, (t, H, W, channels))
    for i in range(t):
        x = (3 * i) % (W - 6)
        frames[i, 8:14, x : x + 6] = 250
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8), background


def test_methods_registry_resolves_every_batch_model():
    for method in BATCH:
        cls = model_class(method)
        assert cls.needs_training
        assert METHODS[method][1] == cls.__name__


@pytest.mark.parametrize("method", BATCH)
@pytest.mark.parametrize("channels", [1, 3])
def test_models_find_the_square_and_the_background(method, channels):
    frames, background = street(channels=channels)
    model = model_class(method)().fit(frames if channels == 3 else frames[..., 0])
    bg = model.background_image()
    assert bg.dtype == np.uint8
    assert bg.shape == ((H, W, 3) if channels == 3 else (H, W))
    error = np.abs(bg.reshape(H, W, channels) - background)
    assert error[16:].mean() < 3
    if method != "mean":  # the mean is pulled up where the square passes
        assert error[8:14].mean() < 3
    test = np.clip(background + 0.5, 0, 255).astype(np.uint8)
    test[2:8, 20:26] = 255
    mask = model.apply(test if channels == 3 else test[..., 0])
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    assert set(np.unique(mask)) <= {0, 255}
    assert (mask[2:8, 20:26] == 255).all()
    assert (mask[16:, :] == 0).mean() > 0.98


@pytest.mark.parametrize("method", BATCH)
def test_apply_writes_into_out_without_allocating(method):
    frames, _ = street()
    model = model_class(method)().fit(frames)
    out = np.full((H, W), 7, np.uint8)
    model.apply(frames[3], out=out)  # compile outside the measurement
    tracemalloc.start()
    result = model.apply(frames[4], out=out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is out
    assert peak < 2048, f"apply allocated {peak} bytes"
    np.testing.assert_array_equal(out, model.apply(frames[4]))


@pytest.mark.parametrize("method", BATCH)
def test_float_rgba_and_learning_rate(method):
    """Float frames (0-255) and RGBA frames give the same model and masks as uint8 RGB; batch
    models ignore learning_rate."""
    frames, _ = street()
    rgba = np.concatenate([frames, np.full(frames.shape[:3] + (1,), 255, np.uint8)], axis=3)
    reference = model_class(method)().fit(frames)
    for variant in (frames.astype(np.float32), rgba):
        model = model_class(method)().fit(list(variant))
        np.testing.assert_array_equal(model.background_image(), reference.background_image())
        np.testing.assert_array_equal(model.apply(variant[5]), reference.apply(frames[5]))
    np.testing.assert_array_equal(
        reference.apply(frames[5], learning_rate=0.5), reference.apply(frames[5])
    )


@pytest.mark.parametrize("method", BATCH)
def test_bad_input_is_a_one_line_value_error(method):
    cls = model_class(method)
    frames, _ = street(t=4)
    with pytest.raises(ValueError, match=r"frame 2 is 16x24 with 3 channel\(s\) but frame 0 is"):
        cls().fit([frames[0], frames[1], frames[2][:, :16]])
    with pytest.raises(ValueError, match="need at least 2 training frames, got 1"):
        cls().fit(frames[:1])
    with pytest.raises(ValueError, match="need at least 2 training frames, got 0"):
        cls().fit(iter([]))
    with pytest.raises(ValueError, match="not trained yet"):
        cls().apply(frames[0])
    with pytest.raises(ValueError, match="threshold must be a number above 0"):
        cls(threshold=0).fit(frames)
    model = cls().fit(frames)
    with pytest.raises(ValueError, match="trained on 32x24 with 3"):
        model.apply(frames[0][..., 0])
    with pytest.raises(ValueError, match="out must be a uint8 array of shape"):
        model.apply(frames[0], out=np.empty((H, W), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        cls().fit([frames[0].astype(float), np.full((H, W, 3), np.nan)])
    with pytest.raises(ValueError, match="C in 1, 3, 4"):
        cls().fit([np.zeros((H, W, 2), np.uint8)] * 2)


@pytest.mark.parametrize("cls", [PixelGMM, PixelKMeans])
@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_below_one_is_refused(cls, k):
    frames, _ = street(t=4)
    with pytest.raises(ValueError, match=r"n_components \(k\) must be an integer >= 1"):
        cls(k).fit(frames)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(covariance_type="full"), "covariance_type must be one of diag, spherical"),
        (dict(background_ratio=0), "background_ratio must be a number above 0 and at most 1"),
        (dict(background_ratio=1.5), "background_ratio"),
        (dict(max_iter=-1), "max_iter must be an integer >= 0"),
        (dict(tol=-1), "tol must be a number >= 0"),
        (dict(var_min=0), "var_min must be a number above 0"),
        (dict(var_min=10, var_max=5), r"var_max must be a number >= var_min \(10\)"),
    ],
)
def test_pixel_gmm_parameters_are_checked_at_fit(params, message):
    model = PixelGMM(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=message):
        model.fit(street(t=3)[0])


def test_get_params_lists_constructor_parameters_only():
    model = PixelGMM(2, threshold=3.0).fit(street(t=5)[0])
    params = model.get_params()
    assert params["n_components"] == 2 and params["threshold"] == 3.0
    assert not any(name.endswith("_") for name in params)
    assert FrameAverage(threshold=9).get_params() == {"threshold": 9}


def test_stack_frames_layout_and_rounding():
    frames = [np.full((2, 3), 1.4), np.full((2, 3), 254.6), np.full((2, 3), 300.0)]
    stack = stack_frames(iter(frames))
    assert stack.shape == (3, 2, 3, 1) and stack.dtype == np.uint8
    np.testing.assert_array_equal(stack[:, 0, 0, 0], [1, 255, 255])


@pytest.mark.parametrize("hint", [None, 5, 40, 100])
def test_stack_frames_holds_every_frame_whatever_the_length_hint(hint):
    """No hint (a generator: the stack doubles), a hint below the count (it doubles), exact,
    and above (the filled part is returned)."""
    frames, _ = street(t=40)
    items = (f for f in frames) if hint is None else Counted((f for f in frames), hint)
    stack = stack_frames(items)
    np.testing.assert_array_equal(stack, frames)
    assert stack.flags.c_contiguous


def test_stack_frames_allocates_one_stack_when_the_count_is_known():
    """Frames from a decoder (fresh arrays, none kept): with the count known, peak memory is
    the stack and a frame or two, not two stacks."""
    frames, _ = street(t=100)
    nbytes = frames.nbytes

    def decoded():
        for frame in frames:
            yield frame.copy()

    peaks = {}
    for name, items in (("known", Counted(decoded(), len(frames))), ("unknown", decoded())):
        tracemalloc.start()
        stack = stack_frames(items)
        _, peaks[name] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        np.testing.assert_array_equal(stack, frames)
        del stack
    assert peaks["known"] < 1.05 * nbytes, peaks
    assert peaks["unknown"] > 1.2 * nbytes, peaks  # doubling: the measurement sees copies


@pytest.mark.parametrize(
    "weights, ratio, expected",
    [
        ([0.95, 0.05, 0.0], 0.9, 1),  # the heaviest alone reaches the ratio
        ([0.6, 0.3, 0.1], 0.9, 2),  # 0.6 < 0.9, so the second counts; 0.9 is not < 0.9
        ([0.5, 0.3, 0.2], 0.9, 3),
        ([1.0, 0.0, 0.0], 1.0, 1),  # a weightless component never counts
        ([0.4, 0.3, 0.3], 0.3, 1),
    ],
)
def test_count_background(weights, ratio, expected):
    assert count_background(np.array([[weights]]), ratio)[0, 0] == expected


def test_pixel_gmm_fits_the_kernel_and_scores_by_mahalanobis():
    frames, _ = street(t=20, seed=2)
    model = PixelGMM(3, var_min=4.0, var_max=np.inf).fit(frames)
    stack = frames.reshape(20, H * W, 3)
    weights, means, variances, n_iter, ll, modes = naive.pixel_em(stack[:, :40], 3, var_min=4.0)
    np.testing.assert_allclose(model.weights_.reshape(-1, 3)[:40], weights, atol=1e-5)
    np.testing.assert_allclose(model.means_.reshape(-1, 3, 3)[:40], means, atol=1e-5)
    np.testing.assert_array_equal(model.n_iter_.reshape(-1)[:40], n_iter)
    np.testing.assert_allclose(model.log_likelihood_.reshape(-1)[:40], ll, atol=1e-5)
    np.testing.assert_allclose(model.modes_.reshape(-1, 3)[:40], modes, atol=1e-3)
    np.testing.assert_array_equal(
        model.background_image(), np.clip(np.rint(model.modes_), 0, 255).astype(np.uint8)
    )
    np.testing.assert_array_equal(
        model.n_background_, count_background(model.weights_, model.background_ratio)
    )
    want = naive.component_mask(
        frames[7], model.means_, model.variances_, model.n_background_, model.threshold
    )
    np.testing.assert_array_equal(model.apply(frames[7]), want)


def test_pixel_gmm_spherical_variances_shape():
    model = PixelGMM(2, covariance_type="spherical").fit(street(t=6)[0])
    assert model.variances_.shape == (H, W, 2)


def test_baselines_centres_and_l2_masks():
    frames, _ = street(t=15, seed=3)
    average = FrameAverage(threshold=20).fit(frames)
    median = TemporalMedian(threshold=20).fit(frames)
    np.testing.assert_allclose(average.means_[:, :, 0], frames.mean(axis=0))
    np.testing.assert_array_equal(median.means_[:, :, 0], np.median(frames, axis=0))
    for model in (average, median):
        ones = np.ones_like(model.means_)
        want = naive.component_mask(frames[4], model.means_, ones, model.n_background_, 20)
        np.testing.assert_array_equal(model.apply(frames[4]), want)


def test_pixel_kmeans_matches_the_reference_and_the_ratio_rule():
    frames, _ = street(t=15, seed=4)
    model = PixelKMeans(3, threshold=25, background_ratio=0.8).fit(frames)
    centres, weights, n_iter = naive.pixel_kmeans(frames.reshape(15, H * W, 3), 3)
    np.testing.assert_allclose(model.means_.reshape(-1, 3, 3), centres, atol=1e-9)
    np.testing.assert_allclose(model.weights_.reshape(-1, 3), weights)
    np.testing.assert_array_equal(model.n_background_, count_background(model.weights_, 0.8))
    ones = np.ones_like(model.means_)
    want = naive.component_mask(frames[9], model.means_, ones, model.n_background_, 25)
    np.testing.assert_array_equal(model.apply(frames[9]), want)


def test_one_stack_serves_several_models_unchanged():
    """compare fits every batch model on one stack: it is used as is, and only read."""
    stack = np.random.default_rng(3).integers(0, 256, (6, 5, 4, 3), dtype=np.uint8)
    before = stack.copy()
    assert stack_frames(stack) is stack
    for model in (PixelGMM(), TemporalMedian(), FrameAverage(), PixelKMeans()):
        model.fit(stack)
    np.testing.assert_array_equal(stack, before)

"""OnlineGMM and its kernel against the plain reference in tests/naive/online.py, plus invariants.

Inputs are tiny synthetic clips built to reach every branch of the update: a noisy static
background, a block that moves over it (new modes, replacement of the lightest mode when all
are in use, pruning), a periodic darkening (shadows) and a short history (fast learning).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from naive.online import NaiveMOG2

from gmmbg.background.online import OnlineGMM
from gmmbg.kernels.online import CHUNK

DTYPES = (np.uint8, np.float32, np.float64)


def synthetic_clip(
    n_frames: int = 40,
    height: int = 7,
    width: int = 9,
    channels: int = 3,
    dtype=np.uint8,
    seed: int = 0,
) -> list[np.ndarray]:
    """Frames ``(H, W[, C])`` of ``dtype`` with noise, a moving block and shadows."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(40, 220, (height, width, channels))
    frames = []
    for t in range(n_frames):
        frame = background + rng.normal(0, 3, background.shape)
        if t % 6 < 3:  # a block of a random colour walks down the frame
            row = t % height
            frame[row : row + 3, 2:5] = rng.uniform(0, 255, channels)
        if t % 5 == 2:  # a flash: brighter than the background, never a shadow
            frame[-2:, :3] = 255
        if t % 9 == 4:  # a shadow: the same colours, darker
            frame[:, width // 2 :] *= 0.6
        frame = np.clip(frame, 0, 255)
        if dtype == np.uint8:
            frame = np.rint(frame)
        frame = frame.astype(dtype)
        frames.append(frame[:, :, 0] if channels == 1 else frame)
    return frames


def state(model: OnlineGMM) -> list[np.ndarray]:
    """Copies of the model's whole learned state."""
    return [getattr(model, name).copy() for name in ("weights_", "head_", "tail_", "n_modes_")]


def assert_same_state(model: OnlineGMM, naive: NaiveMOG2) -> None:
    """The kernel's modes in use equal the reference's (the slots beyond a pixel's
    ``n_modes_`` are stale in both and never read)."""
    np.testing.assert_array_equal(model.n_modes_, naive.n_modes)
    used = np.arange(model.weights_.shape[0])[None, :] < naive.n_modes[:, None]  # (P, K)

    def in_use(values: np.ndarray) -> np.ndarray:
        return np.where(used.reshape(used.shape + (1,) * (values.ndim - 2)), values, 0)

    np.testing.assert_allclose(in_use(model.weights_.T), in_use(naive.weights), rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        in_use(model.variances_.T), in_use(naive.variances), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        in_use(model.means_.transpose(1, 0, 2)), in_use(naive.means), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shadows", [True, False], ids=["shadows", "no-shadows"])
@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_matches_reference(channels, shadows, dtype):
    """Masks identical and state equal to the reference, frame after frame."""
    # history 20: with a shorter one (1 - 1/history < background_ratio) MOG2 calls every
    # new value a shadow of its own new mode, and no 255 would be tested.
    params = dict(history=20, n_components=3, detect_shadows=shadows)
    model, naive = OnlineGMM(**params), NaiveMOG2(**params)
    seen = set()
    for frame in synthetic_clip(channels=channels, dtype=dtype):
        mask = model.apply(frame)
        assert mask.shape == frame.shape[:2] and mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, naive.apply(frame))
        assert_same_state(model, naive)
        seen.update(np.unique(mask).tolist())
    assert seen == ({0, 127, 255} if shadows else {0, 255})
    assert model.n_modes_.max() == 3  # every mode was used, so replacement was exercised
    expected = np.clip(np.rint(naive.background()), 0, 255).astype(np.uint8)
    if channels == 1:
        expected = expected[:, :, 0]
    np.testing.assert_array_equal(model.background_image(), expected)


def test_learning_rates_match_reference():
    """Explicit rates, a frozen frame, and a re-initialisation (rate >= 1) as OpenCV does."""
    params = dict(history=50, n_components=3)
    model, naive = OnlineGMM(**params), NaiveMOG2(**params)
    rates = [-1, -1, 0.2, 0.05, 0, -1, 1, -1, 0.5, 0, 0.01] * 3
    for frame, rate in zip(synthetic_clip(n_frames=len(rates), seed=1), rates, strict=True):
        np.testing.assert_array_equal(model.apply(frame, rate), naive.apply(frame, rate))
        assert_same_state(model, naive)
        assert model.n_frames_ == naive.n_frames


def test_serial_equals_parallel():
    """Bit-identical state and masks with 1 and 2 threads, over several chunks."""
    frames = synthetic_clip(n_frames=12, height=40, width=3 * CHUNK // 40 + 7, seed=2)
    results = []
    saved = numba.get_num_threads()
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            model = OnlineGMM(history=10, n_components=3)
            masks = np.stack([model.apply(frame) for frame in frames])
            results.append([masks, *state(model)])
    finally:
        numba.set_num_threads(saved)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def trained(frames, **params) -> OnlineGMM:
    model = OnlineGMM(**params)
    for frame in frames:
        model.apply(frame)
    return model


def test_invariants():
    """Weights positive, sorted and summing to 1; variances within [var_min, var_max]."""
    k = 3
    model = trained(synthetic_clip(n_frames=60, seed=3), history=20, n_components=k)
    used = np.arange(k)[:, None] < model.n_modes_[None, :]
    weights = np.where(used, model.weights_, np.nan)
    assert (model.n_modes_ >= 1).all()
    assert (weights[used] > 0).all()
    assert (np.diff(weights, axis=0)[used[1:]] <= 0).all()
    sums = np.nansum(weights, axis=0)
    # Replacing the lightest of K modes (the only case that does not renormalise) leaves
    # the sum at least 1 - 1/K; every other update renormalises it to 1.
    assert (sums <= 1 + 1e-5).all() and (sums >= 1 - 1 / k).all()
    full = model.n_modes_ < k
    np.testing.assert_allclose(sums[full], 1, atol=1e-5)
    variances = model.variances_[used]
    assert (variances >= model.var_min).all() and (variances <= model.var_max).all()


def test_learning_rate_zero_freezes_the_model():
    frames = synthetic_clip(n_frames=30, seed=4)
    model = trained(frames[:20])
    # The first frozen frame still renormalises the weights of pixels where the last frame
    # replaced a mode (their sum was below 1); from then on nothing changes.
    model.apply(frames[20], learning_rate=0)
    weights, means, variances = model.weights_.copy(), model.means_, model.variances_
    n_modes = model.n_modes_.copy()
    for frame in frames[21:]:
        model.apply(frame, learning_rate=0)
    np.testing.assert_array_equal(model.n_modes_, n_modes)
    np.testing.assert_array_equal(model.means_, means)
    np.testing.assert_array_equal(model.variances_, variances)
    # Renormalising by a float32 sum that is 1 to within an ulp may move a weight by one.
    np.testing.assert_allclose(model.weights_, weights, rtol=0, atol=1e-6)


def test_static_scene_has_an_empty_mask_after_warm_up():
    rng = np.random.default_rng(5)
    scene = rng.integers(30, 220, (12, 16, 3))
    model = OnlineGMM()
    for _ in range(30):
        mask = model.apply(np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8))
    assert not mask.any()
    np.testing.assert_allclose(model.background_image(), scene, atol=2)


def test_first_frame_is_all_new_modes():
    """With no modes yet nothing is background; the new mode makes every pixel a 'shadow'
    of itself (as in OpenCV), except black pixels, which the shadow test rejects."""
    frame = np.full((3, 4, 3), 100, np.uint8)
    frame[0, 0] = 0
    model = OnlineGMM()
    mask = model.apply(frame)
    assert mask[0, 0] == 255 and (mask.ravel()[1:] == 127).all()
    assert (model.n_modes_ == 1).all() and (model.weights_[0] == 1).all()
    np.testing.assert_array_equal(model.background_image(), frame)
    assert (OnlineGMM(detect_shadows=False).apply(frame) == 255).all()


def test_save_load_resumes_identically(tmp_path):
    frames = synthetic_clip(n_frames=30, seed=6)
    model = trained(frames[:20], history=30, var_threshold=20.0, detect_shadows=False)
    path = tmp_path / "model.state"  # any name: the file is written as given
    model.save(path)
    loaded = OnlineGMM.load(path)
    assert loaded.get_params() == model.get_params()
    assert loaded.n_frames_ == model.n_frames_ and loaded.frame_shape_ == model.frame_shape_
    for frame in frames[20:]:
        np.testing.assert_array_equal(loaded.apply(frame), model.apply(frame))
    for ours, theirs in zip(state(loaded), state(model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.background_image(), model.background_image())


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not an OnlineGMM model"):
        OnlineGMM.load(path)


def _saved(tmp_path, **changes):
    """A saved model's arrays, with ``changes``, written back to a new file."""
    model = trained(synthetic_clip(n_frames=3, seed=8))
    model.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        arrays = {**dict(data), **changes}
    np.savez(tmp_path / "changed.npz", **arrays)
    return tmp_path / "changed.npz"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": np.int64(1)}, "another version of gmmbg"),
        ({"tail_": np.zeros((2, 2, 2), np.float32)}, "damaged"),
        ({"weights_": np.zeros((5, 7 * 9), np.float64)}, "damaged"),
        ({"n_modes_": np.full(7 * 9, 9, np.uint8)}, "damaged"),
    ],
    ids=["old-format", "tail-shape", "weights-dtype", "mode-counts"],
)
def test_load_refuses_files_the_kernel_cannot_trust(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        OnlineGMM.load(_saved(tmp_path, **changes))


def test_load_of_a_truncated_file_is_a_value_error(tmp_path):
    good = _saved(tmp_path)
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable OnlineGMM model"):
        OnlineGMM.load(tmp_path / "cut.npz")


@pytest.mark.parametrize(
    "second",
    [np.zeros((6, 5, 3), np.uint8), np.zeros((5, 4), np.uint8), np.zeros((5, 4, 3), np.float32)],
    ids=["size", "channels", "dtype"],
)
def test_new_frame_layout_reinitialises(second):
    # n_components=3 and these dtypes share the kernels compiled for the reference grid
    model = trained(synthetic_clip(n_frames=5, height=5, width=4, seed=7), n_components=3)
    assert model.n_frames_ == 5
    mask = model.apply(second)
    assert model.n_frames_ == 1 and mask.shape == second.shape[:2]
    assert model.frame_shape_ == (second.shape + (1,))[:3]
    fresh = OnlineGMM(n_components=3)
    fresh.apply(second)
    for ours, theirs in zip(state(model), state(fresh), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_fit_applies_every_frame_and_out_is_filled():
    frames = synthetic_clip(n_frames=10, seed=8)
    fitted = OnlineGMM().fit(frames[:-1])
    applied = trained(frames[:-1])
    for ours, theirs in zip(state(fitted), state(applied), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    out = np.empty(frames[-1].shape[:2], np.uint8)
    assert fitted.apply(frames[-1], out=out) is out
    np.testing.assert_array_equal(out, applied.apply(frames[-1]))
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        fitted.apply(frames[-1], out=np.empty((2, 2), np.uint8))


def test_invalid_use():
    with pytest.raises(ValueError, match="history"):
        OnlineGMM(history=0).apply(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="n_components"):
        OnlineGMM(n_components=0).apply(np.zeros((2, 2), np.uint8))
    with pytest.raises(RuntimeError, match="no frame yet"):
        OnlineGMM().background_image()
    assert OnlineGMM.needs_training is False

"""Per-pixel EM and k-means kernels against the plain NumPy references in tests/naive/pixel.py."""

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from naive import pixel as naive

from gmmbg.kernels.pixel_em import MODE_TOL, component_mask, pixel_em
from gmmbg.kernels.pixel_kmeans import (
    CHUNK,
    _load_distinct,
    pixel_kmeans,
    pixel_median,
    table_size,
)


def scene(t: int, p: int, c: int, seed: int = 0) -> np.ndarray:
    """A small (T, P, C) uint8 stack like a video: each pixel a noisy background value, some
    frames covered by foreground, a few pixels constant or two-valued (K above their number
    of distinct values)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(30, 220, (1, p, c))
    stack = background + rng.normal(0, rng.uniform(1, 8, (1, p, 1)), (t, p, c))
    covered = rng.random((t, p)) < rng.uniform(0, 0.4, p)
    stack[covered] = rng.integers(0, 256, (int(covered.sum()), c))
    stack[:, 0] = 77  # constant pixel
    stack[:, 1] = np.where(np.arange(t)[:, None] % 3 == 0, 10, 200)  # two distinct values
    return np.clip(np.rint(stack), 0, 255).astype(np.uint8)


def run_em(
    stack, k, *, spherical=False, var_min=4.0, var_max=np.inf, tol=1e-3, max_iter=100,
    kmeans_iter=10,
):  # fmt: skip
    _, p, c = stack.shape
    out = (np.empty((p, k)), np.empty((p, k, c)), np.empty((p, k, c)), np.empty(p, np.int64))
    ll, modes = np.empty(p), np.empty((p, c))
    pixel_em(stack, spherical, var_min, var_max, tol, max_iter, kmeans_iter, *out, ll, modes)
    return (*out, ll, modes)


def run_kmeans(stack, k, max_iter=100):
    _, p, c = stack.shape
    out = np.empty((p, k, c)), np.empty((p, k)), np.empty(p, np.int64)
    pixel_kmeans(stack, max_iter, *out)
    return out


def canonical(fit):
    """The fit with components of (numerically) equal weight ordered by mean: which of two
    tied components comes first depends on rounding."""
    weights, means, variances, *rest = (a.copy() for a in fit)
    for p in range(len(weights)):
        key = [(-round(w, 8), *np.round(m, 6)) for w, m in zip(weights[p], means[p], strict=True)]
        order = sorted(range(len(key)), key=key.__getitem__)
        weights[p], means[p], variances[p] = weights[p, order], means[p, order], variances[p, order]
    return weights, means, variances, *rest


def assert_same_fit(got, want):
    """Same fit to 1e-5; same mode to MODE_TOL (where mean-shift stops can differ by a step),
    except where the two heaviest components tie (then either may be the start)."""
    *fit, modes = canonical(got)
    *want_fit, want_modes = canonical(want)
    names = ("weights", "means", "variances", "n_iter", "ll")
    for name, g, w in zip(names, fit, want_fit, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5, err_msg=name)
    weights = np.concatenate([want_fit[0], np.zeros((len(modes), 1))], axis=1)
    untied = weights[:, 0] - weights[:, 1] > 1e-8
    np.testing.assert_allclose(modes[untied], want_modes[untied], rtol=0, atol=MODE_TOL)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("var_range", [(4.0, np.inf), (30.0, 120.0)])
def test_em_matches_naive(c, k, spherical, var_range):
    stack = scene(40, 30, c, seed=k)
    kw = dict(spherical=spherical, var_min=var_range[0], var_max=var_range[1])
    assert_same_fit(run_em(stack, k, **kw), naive.pixel_em(stack, k, **kw))


@pytest.mark.parametrize("max_iter, kmeans_iter", [(0, 0), (0, 10), (3, 1)])
def test_em_matches_naive_when_stopped_early(max_iter, kmeans_iter):
    """max_iter=0 returns the initialisation (k-means, then one M-step), like scikit-learn."""
    stack = scene(25, 20, 3, seed=7)
    kw = dict(max_iter=max_iter, kmeans_iter=kmeans_iter, var_min=1.0)
    assert_same_fit(run_em(stack, 3, **kw), naive.pixel_em(stack, 3, **kw))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    t=st.integers(2, 12),
    p=st.integers(1, 5),
    c=st.sampled_from([1, 3]),
    k=st.integers(1, 4),
    levels=st.integers(1, 256),
    seed=st.integers(0, 2**16),
)
def test_em_matches_naive_on_any_small_stack(t, p, c, k, levels, seed):
    """Few frames, few grey levels (many duplicates), any K. Stacks where k-means meets an
    exact tie are left out: rounding decides those, and both answers are right."""
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, levels, (t, p, c)).astype(np.uint8)
    for q in range(p):
        x = stack[:, q].astype(float)
        assume(naive.lloyd(x, *naive.seeds(x, k), 10)[3] > 1e-6)
    assert_same_fit(run_em(stack, k), naive.pixel_em(stack, k))


def test_em_invariants():
    stack = scene(50, 3 * CHUNK + 5, 3)
    weights, means, variances, n_iter, ll, _ = run_em(stack, 4, var_min=2.0, var_max=900.0)
    for a in (weights, means, variances, ll):
        assert np.isfinite(a).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert (np.diff(weights, axis=1) <= 0).all(), "components sorted by weight, heaviest first"
    assert ((2.0 <= variances) & (variances <= 900.0)).all()
    assert ((0 <= means) & (means <= 255)).all()
    assert (n_iter >= 1).all()


def test_em_constant_pixel_and_k_above_distinct_values():
    weights, means, variances, n_iter, ll, _ = run_em(scene(30, 2, 3), 5)
    assert np.isfinite(ll).all()
    np.testing.assert_array_equal(weights[0], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(means[0, 0], [77, 77, 77])
    np.testing.assert_array_equal(variances[0, 0], [4, 4, 4])
    assert np.count_nonzero(weights[1]) == 2
    np.testing.assert_allclose(weights[1, :2], [2 / 3, 1 / 3])
    np.testing.assert_array_equal(means[1, :2], [[200] * 3, [10] * 3])


def test_em_constant_video():
    stack = np.full((10, 7, 3), 5, np.uint8)
    weights, means, variances, n_iter, ll, _ = run_em(stack, 3)
    np.testing.assert_array_equal(weights, np.tile([1.0, 0, 0], (7, 1)))
    assert np.isfinite(means).all() and np.isfinite(variances).all()
    np.testing.assert_allclose(ll, -1.5 * np.log(2 * np.pi * 4.0) - 0.0)


def test_em_spherical_variances_are_equal_across_channels():
    _, _, variances, *_ = run_em(scene(40, 20, 3), 3, spherical=True)
    np.testing.assert_array_equal(variances, variances[..., :1].repeat(3, axis=2))


def test_em_log_likelihood_of_returned_parameters():
    """The reported log-likelihood is that of the returned parameters."""
    stack = scene(40, 10, 3, seed=3)
    weights, means, variances, _, ll, _ = run_em(stack, 3)
    for p in range(10):
        want, *_ = naive.e_step(stack[:, p].astype(float), weights[p], means[p], variances[p])
        assert ll[p] == pytest.approx(want, abs=1e-9)


def test_mode_is_the_majority_value_not_the_mean():
    """One broad component (variance 400) covers a 70% state at 100 and a 30% state at 160:
    its mean sits between (118), the mode at the majority; nearer states (130) pull the mode
    less than the mean."""
    rng = np.random.default_rng(5)
    minority = rng.random((200, 3)) < 0.3
    noise = rng.normal(0, 2, (200, 3, 3))
    for far, mean_at, mode_within in ((160, 118, 1), (130, 109, 6)):
        values = np.where(minority, far, 100)[:, :, None] + noise
        stack = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        _, means, _, _, _, modes = run_em(stack, 1, var_min=400.0, var_max=400.0)
        assert (np.abs(means[:, 0] - mean_at) < 3).all()
        assert (np.abs(modes - 100) < mode_within).all()


def test_mode_far_from_every_value_is_finite():
    """The heaviest mean far (over 8 sigma) from every value: the kernel weights all underflow
    unless taken relative to the nearest value."""
    stack = np.zeros((10, 1, 3), np.uint8)
    stack[6:] = 255
    *_, modes = run_em(stack, 1, var_min=100.0, var_max=100.0)
    np.testing.assert_array_equal(modes, [[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("kernel", ["em", "kmeans"])
def test_serial_equals_parallel(kernel):
    stack = scene(30, 4 * CHUNK + 3, 3, seed=1)
    run = (lambda: run_em(stack, 3)) if kernel == "em" else (lambda: run_kmeans(stack, 3))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        parallel = run()
    finally:
        numba.set_num_threads(threads)
    for s, p in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(s, p)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("k", [1, 3, 4])
def test_kmeans_matches_naive(c, k):
    stack = scene(40, 30, c, seed=k)
    for g, w in zip(run_kmeans(stack, k), naive.pixel_kmeans(stack, k), strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-9)


def test_kmeans_invariants():
    centres, weights, n_iter = run_kmeans(scene(30, 2, 3), 4, max_iter=0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (n_iter == 0).all()
    np.testing.assert_array_equal(weights[0], [1, 0, 0, 0])
    np.testing.assert_array_equal(centres[0], np.full((4, 3), 77.0))


@pytest.mark.parametrize("t, c, levels", [(1, 1, 256), (300, 3, 256), (300, 3, 4), (257, 1, 256)])
def test_load_distinct_lists_values_in_order_of_first_appearance(t, c, levels):
    """Every value once, in the order it first appears, with its count (hash collisions
    included: 300 values of 24 bits in a table of 1024 slots)."""
    stack = np.random.default_rng(t).integers(0, levels, (t, 3, c)).astype(np.uint8)
    table = np.empty((2, table_size(t)), np.int64)
    codes, values, counts = np.empty(t, np.int64), np.empty(c * t), np.empty(t)
    for p in range(3):
        n = _load_distinct(stack, p, table, codes, values, counts)
        unique, first, count = np.unique(stack[:, p], axis=0, return_index=True, return_counts=True)
        order = np.argsort(first)
        np.testing.assert_array_equal(values[: c * n].reshape(c, n).T, unique[order])
        np.testing.assert_array_equal(counts[:n], count[order])


def test_pixel_median_matches_numpy():
    for t in (1, 2, 7, 40):
        stack = np.random.default_rng(t).integers(0, 256, (t, 90, 3)).astype(np.uint8)
        out = np.empty((90, 3))
        pixel_median(stack, out)
        np.testing.assert_array_equal(out, np.median(stack, axis=0))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_component_mask_matches_naive(dtype):
    rng = np.random.default_rng(5)
    h, w, k, c = 6, 9, 3, 3
    means = rng.uniform(0, 255, (h, w, k, c))
    variances = rng.uniform(1, 400, (h, w, k, c))
    n_background = rng.integers(0, k + 1, (h, w))
    frame = rng.integers(0, 256, (h, w, c)).astype(dtype)
    frame[0, 0] = means[0, 0, 0].round()  # on a background mean
    out = np.full((h, w), 7, np.uint8)
    component_mask(frame, means, 1 / variances, n_background, 2.5, out)
    want = naive.component_mask(frame, means, variances, n_background, 2.5)
    np.testing.assert_array_equal(out, want)


def test_component_mask_ignores_extra_channels():
    """An alpha channel past the model's C channels is not read."""
    means = np.full((2, 2, 1, 3), 100.0)
    frame = np.full((2, 2, 4), 100, np.uint8)
    frame[..., 3] = 0
    frame[1, 1, 0] = 200
    out = np.empty((2, 2), np.uint8)
    component_mask(frame, means, np.ones_like(means), np.ones((2, 2), np.int64), 50.0, out)
    np.testing.assert_array_equal(out, [[0, 0], [0, 255]])

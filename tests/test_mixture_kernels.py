"""The EM and k-means kernels against the NumPy references in tests/naive/mixture.py, and
serial against parallel (bit-identical whatever the thread count)."""

import numba
import numpy as np
import pytest
from naive import mixture as naive

from gmmbg.kernels import kmeans as kk
from gmmbg.kernels import mixture as km
from gmmbg.mixture import COVARIANCE_TYPES

COVARIANCE = list(COVARIANCE_TYPES)
K, D = 3, 3


def samples(n, seed=0):
    """Three overlapping clusters in 3-D, and integer weights 1..4: (X, weights)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 4.0, 2.0]])
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, D)) @ rng.normal(size=(D, D)) * 0.7
    return X, rng.integers(1, 5, n).astype(np.float64)


def parameters(covariance_type, seed=1):
    """Random weights, means and compact precision Cholesky factors of one type."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(size=(K, D)) * 2
    diagonal = np.eye(D) * rng.uniform(0.5, 1.5, (K, D, 1))  # positive, as a Cholesky's
    factors = np.triu(rng.normal(size=(K, D, D)) * 0.3, 1) + diagonal
    compact = {
        "full": factors,
        "tied": factors[0],
        "diag": np.abs(np.einsum("kii->ki", factors)),
        "spherical": np.abs(factors[:, 0, 0]),
    }[covariance_type]
    return weights, means, compact


def kernel_form(prec_chol, covariance_type):
    """(prec_chol (K, D, D), diagonal flag, log_det (K,)) as the kernels take them."""
    kind = COVARIANCE_TYPES[covariance_type]
    full = np.ascontiguousarray(kind.to_full(np.asarray(prec_chol), K, D))
    log_det = np.log(np.einsum("kii->ki", full)).sum(axis=1)
    return full, not kind.off_diagonal, log_det


def run_em_step(X, weight, weights, means, prec_chol, covariance_type):
    full, diagonal, log_det = kernel_form(prec_chol, covariance_type)
    nk, s1, s2 = np.empty(K), np.empty((K, D)), np.empty((K, D, D))
    total = km.em_step(
        np.ascontiguousarray(X.T), weight, means, full, diagonal, np.log(weights), log_det,
        nk, s1, s2,
    )  # fmt: skip
    return total, nk, s1, s2


@pytest.fixture
def thread_counts():
    """Runs a function under 1 and then 2 Numba threads; restores the thread count."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    before = numba.get_num_threads()

    def run(function):
        results = []
        for n in (1, 2):
            numba.set_num_threads(n)
            results.append(function())
        return results

    yield run
    numba.set_num_threads(before)


def assert_identical(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_e_step_matches_naive(covariance_type):
    X, _ = samples(300)
    weights, means, compact = parameters(covariance_type)
    full, diagonal, log_det = kernel_form(compact, covariance_type)
    log_norm, log_resp = np.empty(len(X)), np.empty((len(X), K))
    km.e_step(
        np.ascontiguousarray(X.T),
        means,
        full,
        diagonal,
        np.log(weights),
        log_det,
        log_norm,
        log_resp,
    )
    precisions = naive.precision_matrices(compact, covariance_type, K, D)
    expected_norm, expected_resp = naive.e_step(X, weights, means, precisions)
    np.testing.assert_allclose(log_norm, expected_norm, rtol=1e-12)
    np.testing.assert_allclose(log_resp, expected_resp, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_em_step_statistics_match_naive(covariance_type):
    X, weight = samples(2500)  # three chunks
    weights, means, compact = parameters(covariance_type)
    total, nk, s1, s2 = run_em_step(X, weight, weights, means, compact, covariance_type)
    precisions = naive.precision_matrices(compact, covariance_type, K, D)
    log_norm, log_resp = naive.e_step(X, weights, means, precisions)
    expected = naive.scatter_statistics(X, weight, np.exp(log_resp), means)
    np.testing.assert_allclose(total, weight @ log_norm, rtol=1e-12)
    np.testing.assert_allclose(nk, expected[0], rtol=1e-11)
    np.testing.assert_allclose(s1, expected[1], rtol=1e-9, atol=1e-9)
    if COVARIANCE_TYPES[covariance_type].off_diagonal:
        np.testing.assert_allclose(s2, expected[2], rtol=1e-10, atol=1e-9)
    else:  # only the diagonal is computed
        np.testing.assert_allclose(
            np.einsum("kii->ki", s2), np.einsum("kii->ki", expected[2]), rtol=1e-10
        )


def test_resp_statistics_match_naive():
    X, weight = samples(2500)
    resp = np.random.default_rng(3).dirichlet(np.ones(K), size=len(X))
    centres = np.random.default_rng(4).normal(size=(K, D))
    nk, s1, s2 = np.empty(K), np.empty((K, D)), np.empty((K, D, D))
    km.resp_statistics(np.ascontiguousarray(X.T), weight, resp, centres, False, nk, s1, s2)
    for got, expected in zip(
        (nk, s1, s2), naive.scatter_statistics(X, weight, resp, centres), strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)


def test_precision_cholesky_matches_numpy():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, D, D))
    covariances = a @ a.transpose(0, 2, 1) + np.eye(D)
    out = np.empty_like(covariances)
    assert km.precision_cholesky(covariances, out)
    np.testing.assert_allclose(out, naive.precision_cholesky(covariances, "full"), rtol=1e-12)
    np.testing.assert_array_equal(np.tril(out, -1), 0.0)  # upper-triangular
    inverse = np.linalg.inv(covariances)
    np.testing.assert_allclose(out @ out.transpose(0, 2, 1), inverse, rtol=1e-10)


def test_precision_cholesky_refuses_non_positive_definite():
    covariances = np.array([np.eye(D), np.diag([1.0, -1.0, 1.0])])
    assert not km.precision_cholesky(covariances, np.empty_like(covariances))
    nan = np.full((1, D, D), np.nan)
    assert not km.precision_cholesky(nan, np.empty_like(nan))


def test_exp_chunk_matches_numpy():
    x = np.concatenate([-np.random.default_rng(6).random(2000) * 700, [0.0, -1e-300, -707.9]])
    out, scratch = np.empty_like(x), np.empty_like(x)
    km._exp_chunk(x, out, scratch)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-13)
    far = np.array([-708.5, -1000.0, -np.inf])  # below EXP_MIN: 0, as exp underflows
    km._exp_chunk(far, out[:3], scratch[:3])
    np.testing.assert_array_equal(out[:3], 0.0)


def test_impossible_sample_gets_minus_infinity_and_even_responsibilities():
    X, _ = samples(10)
    weights, means, compact = parameters("full")
    full, diagonal, log_det = kernel_form(compact, "full")
    log_norm, log_resp = np.empty(len(X)), np.empty((len(X), K))
    km.e_step(
        np.ascontiguousarray(X.T),
        means,
        full,
        diagonal,
        np.full(K, -np.inf),
        log_det,
        log_norm,
        log_resp,
    )
    assert (log_norm == -np.inf).all()
    np.testing.assert_allclose(np.exp(log_resp), 1.0 / K)


@pytest.mark.parametrize("channels", [1, 3])
def test_unique_colours_matches_numpy(channels):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 6, (5000, channels)).astype(np.uint8) * 51  # few colours
    pixels[0] = 255
    inverse = np.empty(len(pixels), dtype=np.int32)
    colours, counts = km.unique_colours(pixels, inverse)
    expected_colours, expected_counts, expected_inverse = naive.unique_colours(pixels)
    np.testing.assert_array_equal(colours, expected_colours)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(inverse, expected_inverse)


def test_lloyd_step_matches_naive():
    X, weight = samples(2500)
    centres = X[[0, 1, 2, 3]].copy()
    labels, sums, weights = np.empty(len(X), dtype=np.int64), np.empty((4, D)), np.empty(4)
    inertia = kk.lloyd_step(np.ascontiguousarray(X.T), weight, centres, labels, sums, weights)
    expected = naive.lloyd_step(X, weight, centres)
    np.testing.assert_array_equal(labels, expected[0])
    np.testing.assert_allclose(sums, expected[1], rtol=1e-12)
    np.testing.assert_allclose(weights, expected[2], rtol=1e-12)
    np.testing.assert_allclose(inertia, expected[3], rtol=1e-12)


def test_kmeans_plusplus_matches_naive():
    X, weight = samples(2500)
    n_clusters, n_trials = 5, 3
    uniforms = np.random.default_rng(8).random(1 + (n_clusters - 1) * n_trials)
    indices = np.empty(n_clusters, dtype=np.int64)
    kk.kmeans_plusplus(np.ascontiguousarray(X.T), weight, uniforms, n_trials, indices)
    expected = naive.kmeans_plusplus(X, weight, uniforms, n_clusters, n_trials)
    np.testing.assert_array_equal(indices, expected)
    assert len(set(indices)) == n_clusters


def test_kmeans_plusplus_skips_zero_weight_and_chosen_samples():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    weight = np.array([0.0, 1.0, 0.0, 1.0])
    indices = np.empty(2, dtype=np.int64)
    kk.kmeans_plusplus(np.ascontiguousarray(X.T), weight, np.array([0.0, 0.0, 0.99]), 2, indices)
    assert sorted(indices) == [1, 3]


def test_kernels_serial_equals_parallel(thread_counts):
    X, weight = samples(5000)  # five chunks
    Xt = np.ascontiguousarray(X.T)
    weights, means, compact = parameters("full")
    full, diagonal, log_det = kernel_form(compact, "full")
    resp = np.random.default_rng(9).dirichlet(np.ones(K), size=len(X))
    uniforms = np.random.default_rng(10).random(13)

    def run_all():
        em = run_em_step(X, weight, weights, means, compact, "full")
        log_norm, log_resp = np.empty(len(X)), np.empty((len(X), K))
        km.e_step(Xt, means, full, diagonal, np.log(weights), log_det, log_norm, log_resp)
        stats = np.empty(K), np.empty((K, D)), np.empty((K, D, D))
        km.resp_statistics(Xt, weight, resp, means, False, *stats)
        labels, sums, cluster_weights = np.empty(len(X), np.int64), np.empty((K, D)), np.empty(K)
        inertia = kk.lloyd_step(Xt, weight, means, labels, sums, cluster_weights)
        indices = np.empty(5, dtype=np.int64)
        kk.kmeans_plusplus(Xt, weight, uniforms, 3, indices)
        return (*em, log_norm, log_resp, *stats, labels, sums, cluster_weights, inertia, indices)

    serial, parallel = thread_counts(run_all)
    assert_identical(serial, parallel)

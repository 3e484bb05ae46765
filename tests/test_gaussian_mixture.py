"""GaussianMixture and KMeans: scikit-learn parity, the naive EM, invariants, validation."""

import warnings

import numba
import numpy as np
import pytest
from naive import mixture as naive

from gmmbg.kmeans import KMeans, _relocate_empty
from gmmbg.mixture import COVARIANCE_TYPES, ConvergenceWarning, GaussianMixture

COVARIANCE = list(COVARIANCE_TYPES)
K = 3


def blobs(n=400, seed=0):
    """Three overlapping, correlated 3-D clusters."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-2.0, 5.0, 2.0]])
    mixing = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 1.2]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 3)) @ mixing


def initial(X, covariance_type):
    """weights_init, means_init, precisions_init (compact) from a one-shot k-means-ish guess."""
    means = X[[0, 1, 2]] + 0.5
    precisions = {
        "full": np.array([np.eye(3) * 0.5, np.eye(3), np.eye(3) * 2.0]),
        "tied": np.eye(3) * 0.7,
        "diag": np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0], [2.0, 0.5, 0.5]]),
        "spherical": np.array([0.5, 1.0, 2.0]),
    }[covariance_type]
    return dict(
        weights_init=np.array([0.2, 0.3, 0.5]), means_init=means, precisions_init=precisions
    )


def fixed_run(covariance_type, n_iter, **kwargs):
    """A GaussianMixture that runs exactly ``n_iter`` iterations from fixed parameters."""
    return GaussianMixture(K, covariance_type=covariance_type, tol=0, max_iter=n_iter, **kwargs)


def quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(*args, **kwargs)


FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_matches_scikit_learn_from_the_same_start(covariance_type):
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    X = blobs()
    inits = initial(X, covariance_type)
    ours = quiet_fit(fixed_run(covariance_type, 12, **inits), X)
    theirs = quiet_fit(
        sklearn_mixture.GaussianMixture(
            K, covariance_type=covariance_type, tol=0, max_iter=12, **inits
        ),
        X,
    )
    for name in FITTED:
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-6, err_msg=name
        )
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-6)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-6)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-6)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_ == 12 and not ours.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_matches_naive_em_with_weights(covariance_type):
    X = blobs(300)
    weight = np.random.default_rng(1).integers(1, 4, len(X)).astype(np.float64)
    inits = initial(X, covariance_type)
    ours = quiet_fit(fixed_run(covariance_type, 4, **inits), X, weight)
    kind = COVARIANCE_TYPES[covariance_type]
    full = kind.to_full(inits["precisions_init"], K, 3)
    prec_chol = kind.to_compact(np.linalg.cholesky(full[:, ::-1, ::-1])[:, ::-1, ::-1])
    weights, means, covariances, prec_chol, lower_bound = naive.em(
        X,
        weight,
        inits["weights_init"],
        inits["means_init"],
        prec_chol,
        covariance_type,
        1e-6,
        4,
    )
    np.testing.assert_allclose(ours.weights_, weights, rtol=1e-10)
    np.testing.assert_allclose(ours.means_, means, rtol=1e-10)
    np.testing.assert_allclose(ours.covariances_, covariances, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.precisions_cholesky_, prec_chol, rtol=1e-9, atol=1e-12)
    assert ours.lower_bound_ == pytest.approx(lower_bound, rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_weighted_distinct_values_equal_repeated_samples(covariance_type):
    distinct = blobs(200)
    counts = np.random.default_rng(2).integers(1, 5, len(distinct))
    inits = initial(distinct, covariance_type)
    weighted = quiet_fit(fixed_run(covariance_type, 8, **inits), distinct, counts)
    repeated = quiet_fit(
        fixed_run(covariance_type, 8, **inits), np.repeat(distinct, counts, axis=0)
    )
    for name in FITTED:
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-12)
    X = np.repeat(distinct, counts, axis=0)
    assert weighted.score(distinct, counts) == pytest.approx(repeated.score(X), rel=1e-12)
    assert weighted.bic(distinct, counts) == pytest.approx(repeated.bic(X), rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE)
@pytest.mark.parametrize("init_params", ["k-means++", "kmeans", "random", "random_from_data"])
def test_invariants(covariance_type, init_params):
    X = blobs()
    model = GaussianMixture(
        K, covariance_type=covariance_type, init_params=init_params, random_state=0
    )
    labels = quiet_fit(model, X).predict(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    assert model.score(X) == pytest.approx(model.score_samples(X).mean(), rel=1e-12)
    assert model.weights_.sum() == pytest.approx(1.0, rel=1e-12)
    again = GaussianMixture(
        K, covariance_type=covariance_type, init_params=init_params, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(again.fit_predict(X), labels)  # fit_predict == fit().predict
    np.testing.assert_array_equal(again.means_, model.means_)  # same seed, same fit


def test_fit_separates_clear_clusters():
    X = blobs()
    truth = np.random.default_rng(0).integers(0, 3, len(X))  # blobs() draws the same labels
    labels = GaussianMixture(K, random_state=0, init_params="kmeans").fit_predict(X)
    agreement = max((labels == p[truth]).mean() for p in _permutations(K))
    assert agreement > 0.95


def _permutations(k):
    from itertools import permutations

    return [np.array(p) for p in permutations(range(k))]


@pytest.mark.parametrize("covariance_type", COVARIANCE)
def test_max_iter_zero_returns_the_initialisation(covariance_type):
    X = blobs()
    inits = initial(X, covariance_type)
    model = GaussianMixture(K, covariance_type=covariance_type, max_iter=0, **inits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # max_iter=0 does not warn
        model.fit(X)
    np.testing.assert_array_equal(model.weights_, inits["weights_init"])
    np.testing.assert_array_equal(model.means_, inits["means_init"])
    np.testing.assert_allclose(model.precisions_, inits["precisions_init"], rtol=1e-12)
    assert model.n_iter_ == 0 and model.lower_bound_ == -np.inf and not model.converged_


def test_max_iter_zero_with_kmeans_plus_plus_starts_on_samples():
    X = blobs()
    model = GaussianMixture(K, max_iter=0, random_state=0, reg_covar=1e-3).fit(X)
    assert all((X == m).all(axis=1).any() for m in model.means_)
    np.testing.assert_allclose(model.covariances_, np.broadcast_to(np.eye(3) * 1e-3, (K, 3, 3)))
    np.testing.assert_allclose(model.weights_, 1 / K)


def test_serial_equals_parallel():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    X = blobs(4000)  # four chunks
    before = numba.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            fits.append(quiet_fit(GaussianMixture(K, init_params="kmeans", random_state=3), X))
    finally:
        numba.set_num_threads(before)
    for name in (*FITTED, "lower_bound_", "n_iter_"):
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))


def test_n_init_keeps_the_best_run():
    X = blobs()
    single = GaussianMixture(K, init_params="random", random_state=4).fit(X)
    several = GaussianMixture(K, init_params="random", random_state=4, n_init=4).fit(X)
    assert several.lower_bound_ >= single.lower_bound_  # the first run is the same


def test_non_convergence_warns_and_keeps_the_fit():
    X = blobs()
    with pytest.warns(ConvergenceWarning, match="increase max_iter or tol"):
        model = GaussianMixture(K, max_iter=2, tol=1e-12, random_state=0).fit(X)
    assert not model.converged_ and model.n_iter_ == 2 and len(model.lower_bounds_) == 2


def test_converges_and_lower_bound_increases():
    model = GaussianMixture(K, random_state=0).fit(blobs())
    assert model.converged_ and model.n_iter_ < 100
    assert (np.diff(model.lower_bounds_) > -1e-9).all()  # EM never decreases it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"covariance_type": "round"}, "covariance_type must be one of full, tied"),
        ({"tol": -1}, "tol must be a number >= 0"),
        ({"reg_covar": -1e-6}, "reg_covar must be"),
        ({"max_iter": -1}, "max_iter must be an integer >= 0"),
        ({"n_init": 0}, "n_init must be"),
        ({"init_params": "kmeans+"}, "init_params must be one of"),
        ({"weights_init": [0.5, 0.6, 0.1]}, "sum to 1; normalise it"),
        ({"weights_init": [0.5, 0.5]}, r"weights_init must have shape \(3,\)"),
        ({"means_init": np.zeros((3, 2))}, r"means_init must have shape \(3, 3\)"),
        ({"precisions_init": -np.ones((3, 3, 3))}, "positive definite"),
        ({"n_components": 500}, "needs at least 500 samples with positive weight"),
    ],
)
def test_bad_parameters_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**{"n_components": K, **kwargs}).fit(blobs())


@pytest.mark.parametrize(
    ("X", "sample_weight", "message"),
    [
        (np.zeros(10), None, "X must be 2-D"),
        (np.array([[np.nan, 1.0]] * 5), None, "NaN or infinite"),
        (np.zeros((0, 2)), None, "at least one sample"),
        (blobs(), np.ones(3), r"sample_weight must have shape \(400,\)"),
        (blobs(), -np.ones(400), "finite and >= 0"),
        (blobs(), np.zeros(400), "positive sum"),
    ],
)
def test_bad_samples_are_refused(X, sample_weight, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(K).fit(X, sample_weight)


def test_ill_defined_covariance_says_increase_reg_covar():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 10, axis=0)
    with pytest.raises(ValueError, match="increase reg_covar"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)


def test_unfitted_and_mismatched_use():
    with pytest.raises(ValueError, match="not fitted yet: call fit"):
        GaussianMixture(K).predict(blobs())
    model = GaussianMixture(K, random_state=0).fit(blobs())
    with pytest.raises(ValueError, match="has 2 features, but the model was fitted on 3"):
        model.predict(np.zeros((4, 2)))


def test_kmeans_finds_clear_clusters_and_reports_inertia():
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = centres[np.arange(300) % 3] + rng.normal(size=(300, 2)) * 0.5
    model = KMeans(3, random_state=0).fit(X)
    order = np.argsort(model.cluster_centers_[:, 0] + 2 * model.cluster_centers_[:, 1])
    np.testing.assert_allclose(model.cluster_centers_[order], centres, atol=0.2)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    _, _, _, inertia = naive.lloyd_step(X, np.ones(len(X)), model.cluster_centers_)
    assert model.inertia_ == pytest.approx(inertia, rel=1e-12)
    assert model.converged_ and model.n_iter_ < 300


def test_kmeans_weighted_equals_repeated_on_clear_clusters():
    rng = np.random.default_rng(6)
    X = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])[np.arange(90) % 3] + rng.normal(
        size=(90, 2)
    )
    counts = rng.integers(1, 5, len(X))
    weighted = KMeans(3, random_state=0).fit(X, counts)
    repeated = KMeans(3, random_state=0).fit(np.repeat(X, counts, axis=0))

    def ordered(centres):
        return centres[np.argsort(centres[:, 0] + 2 * centres[:, 1])]

    np.testing.assert_allclose(
        ordered(weighted.cluster_centers_), ordered(repeated.cluster_centers_), rtol=1e-12
    )
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)


def test_kmeans_moves_an_empty_cluster_to_the_farthest_sample():
    X = np.array([[0.0], [1.0], [10.0]])
    centres = np.array([[0.5], [100.0]])  # nobody is near the second centre
    labels = np.array([0, 0, 0])
    sums, weights = np.array([[11.0], [0.0]]), np.array([3.0, 0.0])
    new = _relocate_empty(X, np.ones(3), centres, labels, sums, weights)
    np.testing.assert_allclose(new, [[11.0 / 3], [10.0]])


def test_kmeans_validation():
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 1"):
        KMeans(0).fit(blobs())
    with pytest.raises(ValueError, match="needs at least 5 samples"):
        KMeans(5).fit(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="not fitted yet"):
        KMeans(2).predict(blobs())

"""Property tests: every kernel family, through its public wrapper, on random small inputs.

Hypothesis draws the *kind* of data (constant, two-valued, uint8 extremes 0/255, uniform,
tiny or huge spread, K above the number of distinct values, a mix per pixel), a seed and the
model's parameters; NumPy builds the arrays from them. Each fit or stream runs twice, under
1 and 2 Numba threads, and must give bit-identical results; its state must be finite, its
weights must sum to 1, its variances stay within their bounds, and its labels in range.

Shapes are fixed per test (a new dtype or number of dimensions compiles a new kernel; a new
size does not), and are just large enough for the kernels to split the work: 1024 samples per
chunk in the mixture kernels, 64 pixels in the per-pixel batch kernels, 4096 in the online
one. ``derandomize=True`` with no example database makes every run draw the same examples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gmmbg.background.baselines import FrameAverage, PixelKMeans, TemporalMedian
from gmmbg.background.online import OnlineGMM
from gmmbg.background.pixel_gmm import PixelGMM
from gmmbg.kmeans import KMeans
from gmmbg.mixture import COVARIANCE_TYPES, GaussianMixture
from gmmbg.segmentation import segment_image

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SEEDS = st.integers(0, 2**32 - 1)
WEIGHT_SUM_TOL = 1e-6

# How one pixel's values over time (or one feature's values over samples) are drawn.
KINDS = ("constant", "two", "extremes", "uniform", "tiny", "huge", "few")
PIXEL_KINDS = (*KINDS, "mixed")


def values(rng: np.random.Generator, kind: str, shape: tuple, floating: bool) -> np.ndarray:
    """float64 values of ``kind`` on the 0-255 scale, ``shape`` (T, P, C): T draws of P series.

    ``floating`` lets "tiny" and "huge" leave the uint8 grid (spreads of 1e-3 and 1e3).
    """
    t, p, c = shape
    level = rng.uniform(0, 255, (1, p, c))
    if kind == "constant":
        return np.broadcast_to(level, shape).copy()
    if kind in ("two", "few"):
        levels = rng.uniform(0, 255, (2 if kind == "two" else 3, p, c))
        return np.take_along_axis(levels, rng.integers(0, len(levels), (t, p, 1)), axis=0)
    if kind == "extremes":
        return 255.0 * rng.integers(0, 2, shape)
    if kind == "uniform":
        return rng.uniform(0, 255, shape)
    if kind == "tiny":
        noise = rng.normal(0, 1e-3, shape) if floating else rng.choice([-1, 0, 0, 0, 1], shape)
        return np.clip(level + noise, 0, 255)
    if kind == "huge":
        return rng.normal(128, 1e3, shape) if floating else rng.choice([0.0, 255.0], shape)
    assert kind == "mixed", kind
    per_pixel = rng.integers(0, len(KINDS), p)
    out = np.empty(shape)
    for index, sub in enumerate(KINDS):
        chosen = per_pixel == index
        out[:, chosen] = values(rng, sub, (t, int(chosen.sum()), c), floating)
    return out


def to_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """``x`` as ``dtype``: uint8 rounded and clipped, float as is."""
    if np.dtype(dtype) == np.uint8:
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x.astype(dtype)


def under_threads(run: Callable[[], dict]) -> dict:
    """``run()`` under 1 and then 2 Numba threads; asserts both give bit-identical arrays and
    returns the results of the first. The thread count is restored afterwards."""
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            results.append(run())
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        assert results[0].keys() == other.keys()
        for name, value in results[0].items():
            np.testing.assert_array_equal(
                value, other[name], err_msg=f"{name} depends on the thread count"
            )
    return results[0]


def assert_finite(arrays: dict) -> None:
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind == "f":
            assert np.isfinite(value).all(), f"{name} holds NaN or inf"


def assert_weights(weights: np.ndarray, axis: int = -1) -> None:
    """Weights are >= 0 and sum to 1 along ``axis``."""
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=axis), 1.0, rtol=0, atol=WEIGHT_SUM_TOL)


def quietly(fit: Callable):
    """``fit()`` without its convergence and k-reduction warnings (expected on such data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit()


# -- one mixture over weighted samples -------------------------------------------------------

N_SAMPLES = 1500  # two chunks of the mixture kernels
N_FEATURES = 3


@st.composite
def weighted_samples(draw) -> tuple[np.ndarray, np.ndarray | None]:
    """(X (N, 3) float64, sample_weight (N,) or None) of a drawn kind."""
    rng = np.random.default_rng(draw(SEEDS))
    kind = draw(st.sampled_from(PIXEL_KINDS))
    X = values(rng, kind, (N_SAMPLES, 1, N_FEATURES), floating=True)[:, 0]
    X = X + draw(st.sampled_from([0.0, -1e4, 1e6]))  # far from the origin too
    weighting = draw(st.sampled_from(["none", "counts", "real", "sparse"]))
    if weighting == "none":
        return X, None
    if weighting == "counts":
        return X, rng.integers(1, 1000, N_SAMPLES).astype(float)
    if weighting == "real":
        return X, rng.uniform(1e-3, 10, N_SAMPLES)
    weight = np.zeros(N_SAMPLES)  # few positive weights: K may exceed them
    weight[rng.choice(N_SAMPLES, 8, replace=False)] = rng.uniform(0.5, 2, 8)
    return X, weight


def covariance_bound(X: np.ndarray, weight: np.ndarray | None) -> float:
    """No weighted variance of the samples exceeds (range / 2)^2 in any feature."""
    used = X if weight is None else X[weight > 0]
    return float(((used.max(axis=0) - used.min(axis=0)) ** 2).max() / 4)


@pytest.mark.parametrize("covariance_type", list(COVARIANCE_TYPES))
@FUZZ
@given(
    data=weighted_samples(),
    k=st.integers(1, 5),
    init_params=st.sampled_from(["k-means++", "kmeans", "random"]),
    reg_covar=st.sampled_from([1e-6, 1e-3, 1.0]),
    seed=st.integers(0, 1000),
)
def test_gaussian_mixture(covariance_type, data, k, init_params, reg_covar, seed):
    X, weight = data
    k = min(k, N_SAMPLES if weight is None else int(np.count_nonzero(weight)))

    def run() -> dict:
        model = GaussianMixture(
            k,
            covariance_type=covariance_type,
            init_params=init_params,
            reg_covar=reg_covar,
            max_iter=30,
            random_state=seed,
        )
        quietly(lambda: model.fit(X, weight))
        log_likelihood, log_resp = model._estimate(X)
        return {
            "weights_": model.weights_,
            "means_": model.means_,
            "covariances_": model.covariances_,
            "precisions_cholesky_": model.precisions_cholesky_,
            "lower_bound_": model.lower_bound_,
            "n_iter_": model.n_iter_,
            "log_likelihood": log_likelihood,
            "log_resp": log_resp,
            "labels": model.predict(X),
        }

    fit = under_threads(run)
    assert_finite(fit)
    assert_weights(fit["weights_"])
    assert_weights(np.exp(fit["log_resp"]), axis=1)
    assert ((fit["labels"] >= 0) & (fit["labels"] < k)).all()
    # Each covariance is a weighted scatter (positive semi-definite, at most the samples'
    # spread) plus reg_covar on its diagonal.
    full = COVARIANCE_TYPES[covariance_type].to_full(fit["covariances_"], k, N_FEATURES)
    eigenvalues = np.linalg.eigvalsh(full)
    scale = covariance_bound(X, weight) + reg_covar
    assert (eigenvalues >= reg_covar * (1 - 1e-6) - 1e-9 * scale).all()
    assert (eigenvalues <= scale * (1 + 1e-6) * N_FEATURES).all()
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo + 1e-9 * np.abs(X).max()
    assert ((fit["means_"] >= lo - span) & (fit["means_"] <= hi + span)).all()


@FUZZ
@given(data=weighted_samples(), k=st.integers(1, 6), seed=st.integers(0, 1000))
def test_kmeans(data, k, seed):
    X, weight = data
    k = min(k, N_SAMPLES if weight is None else int(np.count_nonzero(weight)))

    def run() -> dict:
        model = KMeans(k, max_iter=50, random_state=seed).fit(X, weight)
        return {
            "cluster_centers_": model.cluster_centers_,
            "labels_": model.labels_,
            "inertia_": model.inertia_,
            "predicted": model.predict(X),
        }

    fit = under_threads(run)
    assert_finite(fit)
    for labels in (fit["labels_"], fit["predicted"]):
        assert ((labels >= 0) & (labels < k)).all()
    assert fit["inertia_"] >= 0
    # Centres are weighted means of samples, or samples: inside the samples' bounding box.
    lo, hi = X.min(axis=0), X.max(axis=0)
    slack = 1e-9 * np.abs(X).max()
    assert ((fit["cluster_centers_"] >= lo - slack) & (fit["cluster_centers_"] <= hi + slack)).all()


# -- segmentation of tiny images -------------------------------------------------------------

IMAGE_SHAPE = (9, 7)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
@FUZZ
@given(
    seed=SEEDS,
    kind=st.sampled_from(PIXEL_KINDS),
    k=st.sampled_from([1, 2, 3, 5, 8, "auto"]),
    method=st.sampled_from(["gmm", "kmeans"]),
    covariance_type=st.sampled_from(list(COVARIANCE_TYPES)),
)
def test_segment_image(channels, seed, kind, k, method, covariance_type):
    if k == "auto":
        method = "gmm"
    h, w = IMAGE_SHAPE
    rng = np.random.default_rng(seed)
    image = to_dtype(values(rng, kind, (h * w, 1, channels), floating=False), np.uint8)
    image = image.reshape(h, w, channels)
    image = image[:, :, 0] if channels == 1 else image
    n_distinct = len(np.unique(image.reshape(h * w, -1), axis=0))

    def run() -> dict:
        result = quietly(
            lambda: segment_image(
                image,
                k,
                method=method,
                covariance_type=covariance_type,
                max_iter=30,
                random_state=seed % 1000,
                max_auto_k=3,
            )
        )
        return {
            "labels": result.labels,
            "palette": result.palette,
            "weights": result.weights,
            "means": result.means,
            "n_components": np.int64(result.n_components),
            "scores": np.array(
                [result.mean_log_likelihood, result.bic] if method == "gmm" else [0.0, 0.0]
            ),
        }

    result = under_threads(run)
    assert_finite(result)
    n = int(result["n_components"])
    assert 1 <= n <= min(n_distinct, 3 if k == "auto" else k)
    assert result["labels"].shape == IMAGE_SHAPE and result["labels"].dtype == np.int32
    assert ((result["labels"] >= 0) & (result["labels"] < n)).all()
    assert result["palette"].shape == (n, channels)
    assert_weights(result["weights"])
    assert ((result["means"] >= -1e-9) & (result["means"] <= 255 + 1e-9)).all()


# -- per-pixel batch models ------------------------------------------------------------------

STACK_SHAPE = (12, 10, 13)  # T, H, W: 130 pixels, three chunks of the per-pixel kernels


def frame_stack(seed: int, kind: str, channels: int, dtype) -> np.ndarray:
    """Frames ``(T, H, W[, C])`` of ``kind`` as ``dtype``."""
    t, h, w = STACK_SHAPE
    rng = np.random.default_rng(seed)
    floating = np.dtype(dtype) != np.uint8
    stack = to_dtype(values(rng, kind, (t, h * w, channels), floating), dtype)
    stack = stack.reshape(t, h, w, channels)
    return stack[..., 0] if channels == 1 else stack


BATCH_MODELS = {
    "gmm-diag": lambda k, var: PixelGMM(
        k, covariance_type="diag", var_min=var[0], var_max=var[1], max_iter=20
    ),
    "gmm-spherical": lambda k, var: PixelGMM(
        k, covariance_type="spherical", var_min=var[0], var_max=var[1], max_iter=20
    ),
    "kmeans": lambda k, var: PixelKMeans(k),
    "mean": lambda k, var: FrameAverage(),
    "median": lambda k, var: TemporalMedian(),
}
FITTED = ("means_", "inv_scale_", "n_background_", "weights_", "variances_", "n_iter_", "modes_")


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
@pytest.mark.parametrize("name", list(BATCH_MODELS))
@FUZZ
@given(
    seed=SEEDS,
    kind=st.sampled_from(PIXEL_KINDS),
    dtype=st.sampled_from([np.uint8, np.float32]),
    k=st.integers(1, 5),
    var=st.sampled_from([(1e-6, 1e-6), (1e-3, 400.0), (256.0, 400.0), (4.0, 1e12)]),
)
def test_batch_model(name, channels, seed, kind, dtype, k, var):
    frames = frame_stack(seed, kind, channels, dtype)
    probe = frame_stack(seed + 1, kind, channels, dtype)

    def run() -> dict:
        model = BATCH_MODELS[name](k, var).fit(list(frames))
        fitted = {a: getattr(model, a) for a in FITTED if hasattr(model, a)}
        fitted["masks"] = np.stack([model.apply(frame) for frame in probe])
        fitted["background"] = model.background_image()
        if hasattr(model, "log_likelihood_"):
            fitted["log_likelihood_"] = model.log_likelihood_
        return fitted

    fit = under_threads(run)
    assert_finite(fit)
    h, w = STACK_SHAPE[1:]
    n_centres = fit["means_"].shape[2]
    assert fit["means_"].shape == (h, w, n_centres, channels)
    # Centres are weighted means of uint8 values (the stack rounds float frames), to rounding.
    assert ((fit["means_"] >= -1e-9) & (fit["means_"] <= 255 + 1e-9)).all()
    assert ((fit["n_background_"] >= 1) & (fit["n_background_"] <= n_centres)).all()
    assert set(np.unique(fit["masks"])) <= {0, 255}
    assert fit["masks"].shape == (len(probe), h, w)
    assert fit["background"].dtype == np.uint8
    assert fit["background"].shape == ((h, w) if channels == 1 else (h, w, channels))
    if "weights_" in fit:
        assert_weights(fit["weights_"])
        assert (np.diff(fit["weights_"], axis=-1) <= 0).all(), "weights are sorted decreasing"
    if "variances_" in fit:
        assert ((fit["variances_"] >= var[0]) & (fit["variances_"] <= var[1])).all()
    if name in ("mean", "median"):
        # One centre per pixel, between the pixel's extremes over time.
        stack = frame_stack(seed, kind, channels, dtype).astype(float)
        stack = np.clip(np.rint(stack), 0, 255).reshape(STACK_SHAPE[0], h, w, channels)
        centre = fit["means_"][:, :, 0]
        assert ((centre >= stack.min(axis=0)) & (centre <= stack.max(axis=0))).all()


# -- online per-pixel mixtures ---------------------------------------------------------------

ONLINE_SHAPE = (8, 72, 72)  # T, H, W: 5184 pixels, two chunks of the online kernel


@pytest.mark.parametrize("shadows", [True, False], ids=["shadows", "no-shadows"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
@FUZZ
@given(
    seed=SEEDS,
    kind=st.sampled_from(PIXEL_KINDS),
    # One kernel is compiled per K, C and frame dtype (about 10 s each): K = 4 adds nothing
    # that 3 and 5 do not cover (1: no tail, 2: a one-record tail, 5: the default).
    k=st.sampled_from([1, 2, 3, 5]),
    history=st.sampled_from([1, 2, 5, 500]),
    learning_rate=st.sampled_from([-1.0, 1e-4, 0.3, 1.0]),
    var=st.sampled_from([(1e-3, 15.0, 75.0), (4.0, 15.0, 75.0), (4.0, 1e3, 1e6)]),
    complexity_reduction=st.sampled_from([0.0, 0.05, 0.5]),  # >= 1: see the last test
)
def test_online_gmm(
    channels, dtype, shadows, seed, kind, k, history, learning_rate, var, complexity_reduction
):
    t, h, w = ONLINE_SHAPE
    rng = np.random.default_rng(seed)
    floating = np.dtype(dtype) != np.uint8
    stream = to_dtype(values(rng, kind, (t, h * w, channels), floating), dtype)
    stream = stream.reshape(t, h, w, channels)
    var_min, var_init, var_max = var

    def run() -> dict:
        model = OnlineGMM(
            history=history,
            n_components=k,
            var_init=var_init,
            var_min=var_min,
            var_max=var_max,
            complexity_reduction=complexity_reduction,
            detect_shadows=shadows,
        )
        masks = [model.apply(frame, learning_rate=learning_rate) for frame in stream]
        last = {"weights_": model.weights_.copy(), "n_modes_": model.n_modes_.copy()}
        model.apply(stream[-1], learning_rate=0)  # frozen: renormalises, adds no mode
        return {
            "last_weights_": last["weights_"],
            "last_n_modes_": last["n_modes_"],
            "weights_": model.weights_,
            "variances_": model.variances_,
            "means_": model.means_,
            "n_modes_": model.n_modes_,
            "masks": np.stack(masks),
            "background": model.background_image(),
        }

    out = under_threads(run)
    assert_finite(out)
    n_modes = out["n_modes_"]
    assert ((n_modes >= 1) & (n_modes <= k)).all()
    active = np.arange(k)[:, None] < n_modes[None, :]  # (K, P): modes in use
    weights, variances = out["weights_"], out["variances_"]
    assert (weights[active] > 0).all(), "every mode in use has a positive weight"
    assert (variances[active] >= np.float32(var_min)).all()
    assert (variances[active] <= np.float32(var_max)).all()
    assert (np.diff(np.where(active, weights, -1.0), axis=0) <= 0).all(), "sorted by weight"
    assert_weights(np.where(active, weights, 0.0).T.astype(np.float64))
    # Before that frozen update, where a new value replaced the lightest of K modes, MOG2's
    # rule leaves the weights short of 1 (see kernels/online.py); elsewhere they sum to 1.
    last_n = out["last_n_modes_"]
    last_total = np.where(np.arange(k)[:, None] < last_n, out["last_weights_"], 0.0).sum(axis=0)
    assert (last_total <= 1 + WEIGHT_SUM_TOL).all()
    np.testing.assert_allclose(last_total[last_n < k], 1.0, rtol=0, atol=WEIGHT_SUM_TOL)
    assert set(np.unique(out["masks"])) <= ({0, 127, 255} if shadows else {0, 255})
    assert out["background"].shape == ((h, w) if channels == 1 else (h, w, channels))


# -- minimal reproducers of what the properties found ----------------------------------------


def _gray_pixel(value: int) -> np.ndarray:
    return np.full((1, 1), value, np.uint8)


def test_online_weights_after_replacement_follow_mog2():
    """A new value replacing the lightest of K modes leaves the weights summing to
    1 - (1 - alpha) w_lightest, as in MOG2; the next update renormalises them."""
    model = OnlineGMM(n_components=2, history=10, complexity_reduction=0)  # plain decay
    for value in (0, 100):
        model.apply(_gray_pixel(value))
    lightest = model.weights_[1, 0]
    model.apply(_gray_pixel(200))  # fits neither mode: replaces the lighter, alpha = 1/6
    alpha = np.float32(1 / 6)
    assert model.n_modes_[0] == 2
    np.testing.assert_allclose(model.weights_[:, 0].sum(), 1 - (1 - alpha) * lightest, rtol=1e-6)
    model.apply(_gray_pixel(200), learning_rate=0)
    np.testing.assert_allclose(model.weights_[:, 0].sum(), 1.0, rtol=0, atol=WEIGHT_SUM_TOL)


def test_online_weights_after_pruning_sum_to_one():
    """MOG2 keeps a pruned mode, weight 0, among the pixel's modes and drops the last one;
    OnlineGMM removes the pruned mode."""
    model = OnlineGMM(n_components=3, history=2, complexity_reduction=0.5)
    # alpha = 1/2 on the third frame: the 0 mode matches, the 100 mode falls below alpha * ct
    # and is pruned (MOG2 would keep it with weight 0 ahead of the 0 mode and stop there).
    for value in (0, 100, 0):
        model.apply(_gray_pixel(value))
    assert model.n_modes_[0] == 1 and model.weights_[0, 0] == 1 and model.means_[0, 0, 0] == 0


def test_online_frozen_update_of_a_pruned_mode_stays_finite():
    """Where MOG2 keeps a pruned mode of weight 0, a frozen update matching it would divide
    alpha / weight = 0 / 0."""
    model = OnlineGMM(n_components=3, history=2)
    # 0, 100, 200 fill the three modes; 200 twice more starves 100 and 0; the final 0 prunes
    # the 100 mode and matches the 0 mode (MOG2 would keep 100 with weight 0, in use).
    for value in (0, 100, 200, 200, 200, 0):
        model.apply(_gray_pixel(value))
    assert model.n_modes_[0] == 2 and (model.weights_[:2, 0] > 0).all()
    model.apply(_gray_pixel(100), learning_rate=0)
    assert np.isfinite(model.means_).all() and np.isfinite(model.variances_).all()


@pytest.mark.parametrize("complexity_reduction", [0.75, 1.0])
def test_online_complexity_reduction_above_half_is_refused(complexity_reduction):
    """Above 0.5 a mode that has just matched, of weight down to alpha (1 - ct), can fall
    below the pruning threshold alpha * ct: the pixel would lose the mode that explains it
    (at 1 or more, divide by 0)."""
    model = OnlineGMM(history=1, complexity_reduction=complexity_reduction)
    with pytest.raises(ValueError, match="complexity_reduction must be in"):
        model.apply(_gray_pixel(100))

"""Gaussian mixture fitted by EM over weighted samples: the segmentation engine.

Names, parameters and fitted attributes mean what they mean in scikit-learn's
``GaussianMixture``, so that users can switch and compare; ``sample_weight`` is new and means
repeated samples (a sample of weight 3 counts as three copies).

Internally every covariance type is held in "full form", ``(K, D, D)`` arrays: tied repeats its
matrix K times, diag and spherical are diagonal matrices. One kernel then serves all four
types; the public attributes are the compact forms scikit-learn uses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gmmbg.kernels import mixture as kernels
from gmmbg.kmeans import (
    KMeans,
    RandomState,
    check_enough_samples,
    check_int,
    check_real,
    check_sample_weight,
    check_samples,
    kmeans_plusplus,
)

EPS = np.finfo(np.float64).eps
INIT_PARAMS = ("k-means++", "kmeans", "random", "random_from_data")
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood gain fell below ``tol``."""


def _diagonal_matrices(values: np.ndarray) -> np.ndarray:
    """(K, D) -> (K, D, D) with ``values`` on the diagonals."""
    out = np.zeros(values.shape + values.shape[-1:])
    np.einsum("kii->ki", out)[...] = values
    return out


def _diagonals(full: np.ndarray) -> np.ndarray:
    """(K, D, D) -> (K, D), the diagonals."""
    return np.einsum("kii->ki", full).copy()


def _pooled(scatter: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """The tied covariance: the components' scatters pooled by their weights, repeated."""
    pooled = np.tensordot(nk, scatter, axes=1) / nk.sum()
    return np.repeat(pooled[None], len(nk), axis=0)


def _mean_diagonal(scatter: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """The spherical covariances: each component's mean variance, on a diagonal."""
    variance = _diagonals(scatter).mean(axis=1, keepdims=True)
    return _diagonal_matrices(np.repeat(variance, scatter.shape[1], axis=1))


@dataclass(frozen=True)
class _CovarianceType:
    """One covariance type: its compact (scikit-learn) form and its M-step.

    off_diagonal : whether covariances have off-diagonal terms; the kernels compute and use
        diagonals only when they do not.
    shape(K, D) : the compact shape of covariances and precisions.
    to_full(compact, K, D) / to_compact(full) : between the compact and the full form.
    estimate(scatter, nk) : full-form covariances (before ``reg_covar``) from each
        component's weighted scatter about its mean (K, D, D) and weight nk (K,).
    n_parameters(K, D) : free covariance parameters, for BIC and AIC.
    """

    off_diagonal: bool
    shape: Callable[[int, int], tuple]
    to_full: Callable[[np.ndarray, int, int], np.ndarray]
    to_compact: Callable[[np.ndarray], np.ndarray]
    estimate: Callable[[np.ndarray, np.ndarray], np.ndarray]
    n_parameters: Callable[[int, int], int]


COVARIANCE_TYPES = {
    "full": _CovarianceType(
        off_diagonal=True,
        shape=lambda k, d: (k, d, d),
        to_full=lambda a, k, d: a.copy(),
        to_compact=lambda f: f.copy(),
        estimate=lambda scatter, nk: scatter,
        n_parameters=lambda k, d: k * d * (d + 1) // 2,
    ),
    "tied": _CovarianceType(
        off_diagonal=True,
        shape=lambda k, d: (d, d),
        to_full=lambda a, k, d: np.repeat(a[None], k, axis=0),
        to_compact=lambda f: f[0].copy(),
        estimate=_pooled,
        n_parameters=lambda k, d: d * (d + 1) // 2,
    ),
    "diag": _CovarianceType(
        off_diagonal=False,
        shape=lambda k, d: (k, d),
        to_full=lambda a, k, d: _diagonal_matrices(a),
        to_compact=_diagonals,
        estimate=lambda scatter, nk: _diagonal_matrices(_diagonals(scatter)),
        n_parameters=lambda k, d: k * d,
    ),
    "spherical": _CovarianceType(
        off_diagonal=False,
        shape=lambda k, d: (k,),
        to_full=lambda a, k, d: _diagonal_matrices(np.repeat(a[:, None], d, axis=1)),
        to_compact=lambda f: f[:, 0, 0].copy(),
        estimate=_mean_diagonal,
        n_parameters=lambda k, d: k,
    ),
}


class _Params(NamedTuple):
    """One mixture in full form: weights (K,), means (K, D), covariances and precision
    Cholesky factors (K, D, D)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    prec_chol: np.ndarray


def _precision_cholesky(covariances: np.ndarray) -> np.ndarray:
    """Full-form precision Cholesky factors of full-form covariances, or a ValueError."""
    out = np.empty_like(covariances)
    if not kernels.precision_cholesky(covariances, out):
        raise ValueError(ILL_DEFINED)
    return out


def _cholesky_of_precisions(precisions: np.ndarray) -> np.ndarray:
    """Upper-triangular U with U U^T = P for full-form precisions P (scikit-learn's way:
    flip rows and columns, lower Cholesky, flip back)."""
    flipped = np.linalg.cholesky(precisions[:, ::-1, ::-1])
    return np.ascontiguousarray(flipped[:, ::-1, ::-1])


class GaussianMixture:
    """Gaussian mixture model fitted by expectation-maximisation over weighted samples.

    Parameters (scikit-learn's meanings)
    ----------
    n_components : number of mixture components K.
    covariance_type : "full", "tied", "diag" or "spherical".
    tol : EM stops when the mean log-likelihood per sample gains less than this.
    reg_covar : added to the diagonal of every covariance, to keep it positive definite.
    max_iter : EM iterations per initialisation (0 returns the initialisation).
    n_init : initialisations; the one with the best final log-likelihood is kept.
    init_params : "k-means++" (centres by greedy k-means++, tight initial covariances),
        "kmeans" (responsibilities from a k-means run), "random" (random responsibilities)
        or "random_from_data" (centres drawn from the samples).
    random_state : None, an int or a ``numpy.random.Generator``.
    weights_init (K,), means_init (K, D), precisions_init (compact form, see
    ``precisions_``) : replace those of the initialisation.

    Fitted attributes
    -----------------
    weights_ (K,), means_ (K, D), covariances_ and precisions_ and precisions_cholesky_
    ((K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical), converged_, n_iter_,
    lower_bound_ (mean log-likelihood at the last E-step of the best initialisation),
    lower_bounds_ (its values at every iteration), n_features_in_.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "k-means++",
        random_state: RandomState = None,
        weights_init=None,
        means_init=None,
        precisions_init=None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, X, sample_weight=None) -> GaussianMixture:
        """Fit the mixture to X (N, D), each sample counted ``sample_weight`` (N,) times.

        Runs ``n_init`` initialisations of up to ``max_iter`` EM iterations each and keeps
        the one with the highest final mean log-likelihood. Warns ``ConvergenceWarning``
        when that one did not converge.
        """
        self._check_parameters()
        X = check_samples(X)
        weight = check_sample_weight(sample_weight, X.shape[0])
        check_enough_samples(weight, self.n_components, "n_components")
        inits = self._check_inits(X.shape[1])
        rng = np.random.default_rng(self.random_state)
        Xt = np.ascontiguousarray(X.T)  # the kernels' layout: one row per feature
        best = None
        for _ in range(self.n_init):
            params = self._initial_params(X, Xt, weight, rng, inits)
            run = self._em(Xt, weight, params)
            if best is None or run[2] > best[2]:
                best = run
        params, self.n_iter_, self.lower_bound_, self.converged_, self.lower_bounds_ = best
        if not self.converged_ and self.max_iter > 0:
            gain = (
                self.lower_bounds_[-1] - self.lower_bounds_[-2] if self.max_iter > 1 else math.inf
            )
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (the last gain "
                f"in mean log-likelihood was {gain:.3g}, tol={self.tol:g}): increase "
                "max_iter or tol, try other initialisations, or check for degenerate data",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_params(params)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, sample_weight=None) -> np.ndarray:
        """Fit, then label each sample of X with its most responsible component: (N,)."""
        return self.fit(X, sample_weight).predict(X)

    def _check_parameters(self) -> None:
        check_int("n_components", self.n_components, 1)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}; "
                f"got {self.covariance_type!r}"
            )
        check_real("tol", self.tol, 0.0)
        check_real("reg_covar", self.reg_covar, 0.0)
        check_int("max_iter", self.max_iter, 0)
        check_int("n_init", self.n_init, 1)
        if self.init_params not in INIT_PARAMS:
            raise ValueError(
                f"init_params must be one of {', '.join(INIT_PARAMS)}; got {self.init_params!r}"
            )

    def _check_inits(self, n_features: int) -> dict:
        """The user's initial weights, means and precisions (full form), checked."""
        k, d, kind = self.n_components, n_features, self._kind
        inits = {}
        if self.weights_init is not None:
            weights = self._checked_shape("weights_init", self.weights_init, (k,))
            if (
                (weights < 0).any()
                or (weights > 1).any()
                or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8)
            ):
                raise ValueError("weights_init must lie in [0, 1] and sum to 1; normalise it")
            inits["weights"] = weights
        if self.means_init is not None:
            inits["means"] = self._checked_shape("means_init", self.means_init, (k, d))
        if self.precisions_init is not None:
            compact = self._checked_shape("precisions_init", self.precisions_init, kind.shape(k, d))
            precisions = kind.to_full(compact, k, d)
            symmetric = np.allclose(precisions, precisions.transpose(0, 2, 1))
            if not symmetric or (np.linalg.eigvalsh(precisions) <= 0).any():
                raise ValueError(
                    "precisions_init must be symmetric and positive definite (positive for "
                    "diag and spherical): each is the inverse of a covariance"
                )
            inits["prec_chol"] = _cholesky_of_precisions(precisions)
            inits["covariances"] = np.linalg.inv(precisions)
        return inits

    @staticmethod
    def _checked_shape(name: str, value, shape: tuple) -> np.ndarray:
        array = np.array(value, dtype=np.float64)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values")
        return array

    def _initial_params(self, X, Xt, weight, rng, inits) -> _Params:
        """Initial parameters by ``init_params``, then replaced by the user's where given."""
        if {"weights", "means", "prec_chol"} <= inits.keys():
            return _Params(**inits)
        return self._INITS[self.init_params](self, X, Xt, weight, rng)._replace(**inits)

    def _init_from_indices(self, X, indices) -> _Params:
        """Components centred on the chosen samples with covariance reg_covar * I and equal
        weights (scikit-learn's k-means++ initialisation)."""
        k, d = self.n_components, X.shape[1]
        return self._m_step(np.ones(k), np.zeros((k, d)), np.zeros((k, d, d)), X[indices])

    def _init_from_resp(self, Xt, weight, resp) -> _Params:
        """The M-step of given responsibilities (N, K)."""
        k, d = self.n_components, Xt.shape[0]
        centre = np.repeat((Xt @ weight / weight.sum())[None], k, axis=0)
        nk, s1, s2 = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        diagonal = not self._kind.off_diagonal
        kernels.resp_statistics(Xt, weight, resp, centre, diagonal, nk, s1, s2)
        return self._m_step(nk, s1, s2, centre)

    def _init_kmeanspp(self, X, Xt, weight, rng) -> _Params:
        return self._init_from_indices(X, kmeans_plusplus(Xt, weight, self.n_components, rng))

    def _init_random_from_data(self, X, Xt, weight, rng) -> _Params:
        p = weight / weight.sum()
        return self._init_from_indices(
            X, rng.choice(X.shape[0], self.n_components, replace=False, p=p)
        )

    def _init_random(self, X, Xt, weight, rng) -> _Params:
        resp = rng.random((X.shape[0], self.n_components))
        return self._init_from_resp(Xt, weight, resp / resp.sum(axis=1, keepdims=True))

    def _init_kmeans(self, X, Xt, weight, rng) -> _Params:
        labels = KMeans(self.n_components, random_state=rng).fit(X, weight).labels_
        resp = np.zeros((X.shape[0], self.n_components))
        resp[np.arange(X.shape[0]), labels] = 1.0
        return self._init_from_resp(Xt, weight, resp)

    _INITS = {
        "k-means++": _init_kmeanspp,
        "kmeans": _init_kmeans,
        "random": _init_random,
        "random_from_data": _init_random_from_data,
    }

    @property
    def _kind(self) -> _CovarianceType:
        return COVARIANCE_TYPES[self.covariance_type]

    def _m_step(self, nk, s1, s2, centres) -> _Params:
        """Parameters from the weighted statistics about ``centres`` (see ``kernels.em_step``).

        nk : (K,); s1, centres : (K, D); s2 : (K, D, D).
        """
        nk = nk + 10 * EPS  # as scikit-learn: an empty component keeps finite parameters
        shift = s1 / nk[:, None]
        # scatter about the new means = scatter about the centres - shift shift^T
        scatter = s2 / nk[:, None, None] - shift[:, :, None] * shift[:, None, :]
        covariances = self._kind.estimate(scatter, nk)
        np.einsum("kii->ki", covariances)[...] += self.reg_covar
        return _Params(
            nk / nk.sum(), centres + shift, covariances, _precision_cholesky(covariances)
        )

    def _em(self, Xt, weight, params):
        """EM from ``params``: (params, n_iter, lower_bound, converged, lower_bounds)."""
        k, d = params.means.shape
        nk, s1, s2 = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        diagonal = not self._kind.off_diagonal
        total_weight = weight.sum()
        lower_bound, lower_bounds, converged, n_iter = -np.inf, [], False, 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter is returned)
            previous = lower_bound
            log_likelihood = kernels.em_step(
                Xt,
                weight,
                params.means,
                params.prec_chol,
                diagonal,
                np.log(params.weights),
                _log_det(params.prec_chol),
                nk,
                s1,
                s2,
            )
            lower_bound = log_likelihood / total_weight
            lower_bounds.append(lower_bound)
            params = self._m_step(nk, s1, s2, params.means)
            if abs(lower_bound - previous) < self.tol:
                converged = True
                break
        return params, n_iter, lower_bound, converged, lower_bounds

    def _set_params(self, params: _Params) -> None:
        compact = self._kind.to_compact
        self._params = params
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = compact(params.covariances)
        self.precisions_cholesky_ = compact(params.prec_chol)
        self.precisions_ = compact(params.prec_chol @ params.prec_chol.transpose(0, 2, 1))

    # -- using a fitted mixture ---------------------------------------------------------------

    def _estimate(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(log p(x_i) (N,), log responsibilities (N, K)) under the fitted parameters."""
        if not hasattr(self, "_params"):
            raise ValueError("this GaussianMixture is not fitted yet: call fit(X) first")
        X = check_samples(X, self.n_features_in_)
        p = self._params
        log_norm = np.empty(X.shape[0])
        log_resp = np.empty((X.shape[0], p.means.shape[0]))
        kernels.e_step(
            np.ascontiguousarray(X.T),
            p.means,
            p.prec_chol,
            not self._kind.off_diagonal,
            np.log(p.weights),
            _log_det(p.prec_chol),
            log_norm,
            log_resp,
        )
        return log_norm, log_resp

    def predict(self, X) -> np.ndarray:
        """The most responsible component of each sample of X (N, D): (N,) int64."""
        return self._estimate(X)[1].argmax(axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities (N, K): each component's posterior probability per sample."""
        return np.exp(self._estimate(X)[1])

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood ``log p(x_i)`` of each sample: (N,)."""
        return self._estimate(X)[0]

    def score(self, X, sample_weight=None) -> float:
        """Mean log-likelihood per sample (weighted: per repeated sample)."""
        return self._total_log_likelihood(X, sample_weight)[0]

    def _total_log_likelihood(self, X, sample_weight) -> tuple[float, float]:
        """(mean log-likelihood per sample, number of samples N = the total weight)."""
        log_norm = self.score_samples(X)
        weight = check_sample_weight(sample_weight, log_norm.shape[0])
        n = float(weight.sum())
        return float(weight @ log_norm) / n, n

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return self._kind.n_parameters(k, d) + k * d + k - 1

    def bic(self, X, sample_weight=None) -> float:
        """Bayesian information criterion on X (lower is better); N = the total weight."""
        return self._bic(*self._total_log_likelihood(X, sample_weight))

    def _bic(self, mean_log_likelihood: float, n: float) -> float:
        """BIC from the mean log-likelihood of N samples."""
        return -2 * mean_log_likelihood * n + self._n_parameters() * math.log(n)

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion on X (lower is better); N = the total weight."""
        mean, n = self._total_log_likelihood(X, sample_weight)
        return -2 * mean * n + 2 * self._n_parameters()


def _log_det(prec_chol: np.ndarray) -> np.ndarray:
    """log det of each precision Cholesky factor (K, D, D): (K,), half the precision's."""
    return np.log(np.einsum("kii->ki", prec_chol)).sum(axis=1)

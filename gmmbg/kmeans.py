"""k-means over weighted samples (the segmentation baseline), and the input checks it shares
with ``GaussianMixture``.

``sample_weight`` means repeated samples: a sample of weight 3 counts as three copies, so
fitting the distinct colours of an image weighted by their counts fits the image.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from gmmbg.kernels import kmeans as kernels

RandomState = int | np.random.Generator | np.random.SeedSequence | None


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value, minimum: float) -> float:
    """``value`` as a float >= ``minimum``, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= minimum:
        raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}")
    return float(value)


def check_samples(X, n_features: int | None = None) -> np.ndarray:
    """X as a C-contiguous float64 ``(N, D)`` array of finite values, N >= 1.

    ``n_features``: the D a fitted model expects, or None while fitting.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), got shape {X.shape}; "
            "use X.reshape(-1, 1) for a single feature"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must hold at least one sample and one feature, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values: remove or impute them first")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model was fitted on {n_features}")
    return X


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """``sample_weight`` as a float64 ``(N,)`` array of finite values >= 0 with a positive sum
    (all ones when None)."""
    if sample_weight is None:
        return np.ones(n_samples)
    weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample; "
            f"got {weight.shape}"
        )
    if not np.isfinite(weight).all() or (weight < 0).any() or not weight.sum() > 0:
        raise ValueError("sample_weight must be finite and >= 0, with a positive sum")
    return weight


def check_enough_samples(sample_weight: np.ndarray, n_components: int, what: str) -> None:
    """Refuse to fit more components than there are samples of positive weight."""
    n_positive = int(np.count_nonzero(sample_weight))
    if n_positive < n_components:
        raise ValueError(
            f"{what}={n_components} needs at least {n_components} samples with positive "
            f"weight, got {n_positive}: lower {what}"
        )


def weighted_variance(X: np.ndarray, sample_weight: np.ndarray) -> np.ndarray:
    """Per-feature variance of weighted samples: (D,)."""
    mean = sample_weight @ X / sample_weight.sum()
    return sample_weight @ (X - mean) ** 2 / sample_weight.sum()


def kmeans_plusplus(
    Xt: np.ndarray, sample_weight: np.ndarray, n_clusters: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices (K,) of the samples that greedy k-means++ picks as initial centres.

    Xt : (D, N) the checked samples in columns (the kernels' layout); sample_weight : (N,);
    the random numbers come from ``rng``.
    """
    n_local_trials = 2 + int(math.log(n_clusters))
    uniforms = rng.random(1 + (n_clusters - 1) * n_local_trials)
    indices = np.empty(n_clusters, dtype=np.int64)
    kernels.kmeans_plusplus(Xt, sample_weight, uniforms, n_local_trials, indices)
    return indices


class KMeans:
    """k-means (Lloyd's algorithm) with k-means++ seeding, over weighted samples.

    Parameters mean what they mean in scikit-learn's ``KMeans``: ``tol`` is relative to the
    mean per-feature variance of X, and a run stops when the centres move less than that (in
    summed squared distance) or the labels stop changing; ``n_init`` runs keep the one of
    lowest inertia; ``random_state`` is None, an int or a ``numpy.random.Generator``.

    Fitted attributes: ``cluster_centers_`` (K, D), ``labels_`` (N,), ``inertia_`` (sum of
    weighted squared distances to the nearest centre), ``n_iter_``, ``converged_``.
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        max_iter: int = 300,
        tol: float = 1e-4,
        n_init: int = 1,
        random_state: RandomState = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, sample_weight=None) -> KMeans:
        """Cluster X (N, D), each sample counted ``sample_weight`` (N,) times."""
        n_clusters = check_int("n_clusters", self.n_clusters, 1)
        max_iter = check_int("max_iter", self.max_iter, 1)
        tol = check_real("tol", self.tol, 0.0)
        n_init = check_int("n_init", self.n_init, 1)
        X = check_samples(X)
        weight = check_sample_weight(sample_weight, X.shape[0])
        check_enough_samples(weight, n_clusters, "n_clusters")
        rng = np.random.default_rng(self.random_state)
        tol_scaled = tol * float(np.mean(weighted_variance(X, weight)))
        Xt = np.ascontiguousarray(X.T)
        best = None
        for _ in range(n_init):
            centres = X[kmeans_plusplus(Xt, weight, n_clusters, rng)]
            run = self._lloyd(X, Xt, weight, centres, max_iter, tol_scaled)
            if best is None or run[2] < best[2]:
                best = run
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_, self.converged_ = best
        self.n_features_in_ = X.shape[1]
        return self

    @staticmethod
    def _lloyd(X, Xt, weight, centres, max_iter, tol_scaled):
        """One run from ``centres``: (centres, labels, inertia, n_iter, converged).

        X : (N, D) and Xt, the same samples in columns."""
        n_clusters, n_features = centres.shape
        labels = np.empty(X.shape[0], dtype=np.int64)
        previous = np.full(X.shape[0], -1, dtype=np.int64)
        sums = np.empty((n_clusters, n_features))
        cluster_weight = np.empty(n_clusters)
        for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
            inertia = kernels.lloyd_step(Xt, weight, centres, labels, sums, cluster_weight)
            if np.array_equal(labels, previous):
                # same labels, so these centres are the last ones again: labels and inertia
                # are those of the final centres
                return centres, labels, inertia, n_iter, True
            new = _relocate_empty(X, weight, centres, labels, sums, cluster_weight)
            shift = float(((new - centres) ** 2).sum())
            centres, previous = new, labels.copy()
            if shift <= tol_scaled:
                break
        # labels and inertia of the final centres
        inertia = kernels.lloyd_step(Xt, weight, centres, labels, sums, cluster_weight)
        return centres, labels, inertia, n_iter, shift <= tol_scaled

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre for each sample of X (N, D): (N,) int64."""
        centres = self._fitted_centres()
        X = check_samples(X, centres.shape[1])
        labels = np.empty(X.shape[0], dtype=np.int64)
        kernels.lloyd_step(
            np.ascontiguousarray(X.T),
            np.ones(X.shape[0]),
            centres,
            labels,
            np.empty_like(centres),
            np.empty(centres.shape[0]),
        )
        return labels

    def fit_predict(self, X, sample_weight=None) -> np.ndarray:
        """``fit(X, sample_weight).labels_``."""
        return self.fit(X, sample_weight).labels_

    def _fitted_centres(self) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise ValueError("this KMeans is not fitted yet: call fit(X) first")
        return self.cluster_centers_


def _relocate_empty(X, weight, centres, labels, sums, cluster_weight) -> np.ndarray:
    """New centres from the per-cluster sums; an empty cluster moves to the sample farthest
    from its centre (scikit-learn's rule), so that K clusters stay K."""
    empty = np.flatnonzero(cluster_weight == 0)
    new = sums / np.where(cluster_weight > 0, cluster_weight, 1.0)[:, None]
    if empty.size:
        distance = ((X - centres[labels]) ** 2).sum(axis=1)
        distance[weight == 0] = -1.0
        farthest = np.argsort(-distance, kind="stable")[: empty.size]
        new[empty] = X[farthest]
    return new

"""Slow, obviously-correct NumPy references for EM over weighted samples and for k-means.

Everything is written from the definitions, one sample or one component at a time, with
scikit-learn's conventions: precisions given by their upper-triangular Cholesky factors in
compact form ((K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical), ``nk`` padded by
``10 * eps``, and ``sample_weight`` meaning repeated samples.
"""

import numpy as np

EPS = np.finfo(np.float64).eps


def precision_matrices(prec_chol, covariance_type, n_components, n_features):
    """Full (K, D, D) precision matrices ``U U^T`` from compact Cholesky factors."""
    k, d = n_components, n_features
    if covariance_type == "full":
        factors = np.asarray(prec_chol)
    elif covariance_type == "tied":
        factors = np.array([prec_chol] * k)
    elif covariance_type == "diag":
        factors = np.array([np.diag(p) for p in prec_chol])
    else:
        factors = np.array([np.eye(d) * p for p in prec_chol])
    return np.array([u @ u.T for u in factors])


def log_gaussian_prob(X, means, precisions):
    """``log N(x_i | mean_k, inv(precision_k))``: (N, K)."""
    n, d = X.shape
    out = np.empty((n, len(means)))
    for k, (mean, precision) in enumerate(zip(means, precisions, strict=True)):
        _, log_det = np.linalg.slogdet(precision)
        for i in range(n):
            diff = X[i] - mean
            out[i, k] = -0.5 * (d * np.log(2 * np.pi) - log_det + diff @ precision @ diff)
    return out


def e_step(X, weights, means, precisions):
    """(log p(x_i) (N,), log responsibilities (N, K)) by log-sum-exp."""
    weighted = log_gaussian_prob(X, means, precisions) + np.log(weights)
    top = weighted.max(axis=1, keepdims=True)
    log_norm = (top + np.log(np.exp(weighted - top).sum(axis=1, keepdims=True)))[:, 0]
    return log_norm, weighted - log_norm[:, None]


def scatter_statistics(X, sample_weight, resp, centres):
    """nk (K,), s1 (K, D), s2 (K, D, D): sums of w r, w r d, w r d d^T, d = x - centre_k."""
    n, d = X.shape
    k = resp.shape[1]
    nk, s1, s2 = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    for j in range(k):
        for i in range(n):
            wr = sample_weight[i] * resp[i, j]
            diff = X[i] - centres[j]
            nk[j] += wr
            s1[j] += wr * diff
            s2[j] += wr * np.outer(diff, diff)
    return nk, s1, s2


def m_step(X, sample_weight, resp, reg_covar, covariance_type):
    """(weights (K,), means (K, D), covariances in compact form) from responsibilities."""
    wr = sample_weight[:, None] * resp
    nk = wr.sum(axis=0) + 10 * EPS
    means = (wr.T @ X) / nk[:, None]
    d = X.shape[1]
    scatters = []
    for k in range(resp.shape[1]):
        diff = X - means[k]
        scatters.append((wr[:, k, None] * diff).T @ diff / nk[k])
    scatters = np.array(scatters)
    if covariance_type == "full":
        covariances = scatters + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * scatters).sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        covariances = np.array([np.diag(s) for s in scatters]) + reg_covar
    else:
        covariances = np.array([np.diag(s).mean() for s in scatters]) + reg_covar
    return nk / nk.sum(), means, covariances


def precision_cholesky(covariances, covariance_type):
    """Compact precision Cholesky factors from compact covariances (``inv(L).T``)."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    stack = covariances if covariance_type == "full" else covariances[None]
    factors = np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in stack])
    return factors if covariance_type == "full" else factors[0]


def em(X, sample_weight, weights, means, prec_chol, covariance_type, reg_covar, n_iter):
    """``n_iter`` EM iterations: (weights, means, covariances, prec_chol, last lower bound)."""
    k, d = means.shape
    lower_bound = -np.inf
    for _ in range(n_iter):
        precisions = precision_matrices(prec_chol, covariance_type, k, d)
        log_norm, log_resp = e_step(X, weights, means, precisions)
        lower_bound = sample_weight @ log_norm / sample_weight.sum()
        weights, means, covariances = m_step(
            X, sample_weight, np.exp(log_resp), reg_covar, covariance_type
        )
        prec_chol = precision_cholesky(covariances, covariance_type)
    return weights, means, covariances, prec_chol, lower_bound


def lloyd_step(X, sample_weight, centres):
    """(labels (N,), per-cluster sums of w x (K, D) and of w (K,), inertia) for centres."""
    d2 = np.array([[((x - c) ** 2).sum() for c in centres] for x in X])
    labels = d2.argmin(axis=1)
    sums = np.zeros_like(centres)
    weights = np.zeros(len(centres))
    for i, label in enumerate(labels):
        sums[label] += sample_weight[i] * X[i]
        weights[label] += sample_weight[i]
    inertia = (sample_weight * d2[np.arange(len(X)), labels]).sum()
    return labels, sums, weights, inertia


def kmeans_plusplus(X, sample_weight, uniforms, n_clusters, n_local_trials):
    """Greedy k-means++ with the given uniforms (scikit-learn's algorithm): indices (K,).

    A draw takes the first index whose cumulative weighted squared distance exceeds
    ``u * total``, among indices of positive mass.
    """

    def draw(mass, u):
        cumulative = np.cumsum(mass)
        hits = np.flatnonzero((cumulative > u * cumulative[-1]) & (mass > 0))
        return hits[0] if hits.size else np.flatnonzero(mass > 0)[-1]

    def sq_distances(centre):
        return ((X - centre) ** 2).sum(axis=1)

    indices = [draw(sample_weight, uniforms[0])]
    closest = sq_distances(X[indices[0]])
    for c in range(1, n_clusters):
        candidates = [
            draw(sample_weight * closest, uniforms[1 + (c - 1) * n_local_trials + t])
            for t in range(n_local_trials)
        ]
        updated = [np.minimum(closest, sq_distances(X[i])) for i in candidates]
        potentials = [sample_weight @ u for u in updated]
        best = int(np.argmin(potentials))
        indices.append(candidates[best])
        closest = updated[best]
    return np.array(indices)


def unique_colours(pixels):
    """(distinct colours (M, C) sorted lexicographically, counts (M,), inverse (N,))."""
    colours, inverse, counts = np.unique(pixels, axis=0, return_inverse=True, return_counts=True)
    return colours, counts, inverse.ravel()

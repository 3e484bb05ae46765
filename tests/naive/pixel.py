"""Plain NumPy per-pixel EM and k-means over time: one pixel at a time, no Numba.

Same deterministic initialisation and stopping rules as ``gmmbg.kernels.pixel_em`` and
``gmmbg.kernels.pixel_kmeans`` (read their docstrings), written for clarity: the kernels must
agree with these to 1e-5. Stacks are ``(T, P, C)`` uint8 as in the kernels.
"""

import numpy as np

MIN_COUNT = 1e-6


def seeds(x: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Farthest-point seeds of one pixel's values ``x`` ``(T, C)``: ``(K, C)`` and how many
    are distinct (the rest repeat the median). Ties go to the earliest value."""
    centres = np.repeat(np.median(x, axis=0)[None], k, axis=0)
    mind = ((x - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        best = int(np.argmax(mind))
        if mind[best] == 0:
            return centres, j
        centres[j] = x[best]
        mind = np.minimum(mind, ((x - centres[j]) ** 2).sum(axis=1))
    return centres, k


def lloyd(
    x: np.ndarray, centres: np.ndarray, n_seeds: int, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Lloyd iterations from the first ``n_seeds`` centres: (centres, labels, updates, margin).

    ``margin`` is the smallest gap between a value's nearest and second-nearest centre over
    all assignments: under ~1e-9 the assignment is a tie that rounding decides (the kernel
    may fuse multiply-adds), so kernel and reference may legitimately part ways.
    """
    centres = centres.copy()
    labels = np.full(len(x), -1)
    n_iter = 0
    margin = np.inf
    while True:
        dist = ((x[:, None, :] - centres[None, :n_seeds, :]) ** 2).sum(axis=2)
        nearest = np.argmin(dist, axis=1)
        if n_seeds > 1:
            margin = min(margin, np.diff(np.sort(dist, axis=1)[:, :2], axis=1).min())
        changed = np.any(nearest != labels)
        labels = nearest
        if not changed or n_iter == max_iter:
            return centres, labels, n_iter, margin
        for j in range(n_seeds):
            if np.any(labels == j):
                centres[j] = x[labels == j].mean(axis=0)
        n_iter += 1


def kmeans_pixel(x: np.ndarray, k: int, max_iter: int):
    """K-means over one pixel's values ``x`` ``(T, C)``: (centres, weights, updates), sorted."""
    centres, n_seeds = seeds(x, k)
    centres, labels, n_iter, _ = lloyd(x, centres, n_seeds, max_iter)
    weights = np.bincount(labels, minlength=k) / len(x)
    order = np.argsort(-weights, kind="stable")
    return centres[order], weights[order], n_iter


def m_step(nk, s1, s2, spherical, var_min, var_max, means, variances):
    """Weights, means, variances from the statistics; dead components keep mean and variance."""
    alive = nk >= MIN_COUNT
    weights = np.where(alive, nk, 0.0) / nk[alive].sum()
    means, variances = means.copy(), variances.copy()
    n = nk[alive][:, None]
    means[alive] = s1[alive] / n
    var = s2[alive] / n - means[alive] ** 2
    if spherical:
        var = np.repeat(var.mean(axis=1, keepdims=True), var.shape[1], axis=1)
    variances[alive] = np.clip(var, var_min, var_max)
    return weights, means, variances


def e_step(x, weights, means, variances):
    """Mean log-likelihood and the statistics (nk, s1, s2) of the responsibilities."""
    alive = weights > 0
    w, mu, var = weights[alive], means[alive], variances[alive]
    log_dens = (
        np.log(w)
        - 0.5 * np.log(2 * np.pi * var).sum(axis=1)
        - 0.5 * (((x[:, None, :] - mu[None]) ** 2) / var[None]).sum(axis=2)
    )
    top = log_dens.max(axis=1, keepdims=True)
    log_sum = top[:, 0] + np.log(np.exp(log_dens - top).sum(axis=1))
    resp = np.zeros((len(x), len(weights)))
    resp[:, alive] = np.exp(log_dens - log_sum[:, None])
    return log_sum.mean(), resp.sum(axis=0), resp.T @ x, resp.T @ (x * x)


def mode_near(x, start, variances, tol=1e-3, max_iter=200):
    """Mean-shift over ``x`` ``(T, C)`` from ``start`` ``(C,)``, Gaussian kernel of diagonal
    ``variances`` ``(C,)``: step to the kernel-weighted mean until the step is under ``tol``."""
    mode = np.array(start, dtype=float)
    for _ in range(max_iter):
        log_kernel = -0.5 * (((x - mode) ** 2) / variances).sum(axis=1)
        kernel = np.exp(log_kernel - log_kernel.max())
        shifted = kernel @ x / kernel.sum()
        moved = ((shifted - mode) ** 2).sum()
        mode = shifted
        if moved < tol**2:
            break
    return mode


def em_pixel(x, k, spherical, var_min, var_max, tol, max_iter, kmeans_iter):
    """EM for one pixel's values ``x`` ``(T, C)`` float: (weights, means, variances, n_iter,
    mean log-likelihood, mode), components sorted by weight; the mode is ``mode_near`` from
    the heaviest component."""
    centres, n_seeds = seeds(x, k)
    centres, labels, _, _ = lloyd(x, centres, n_seeds, kmeans_iter)
    onehot = np.eye(k)[labels]
    stats = onehot.sum(axis=0), onehot.T @ x, onehot.T @ (x * x)
    variances = np.full(centres.shape, float(var_min))
    weights, means, variances = m_step(*stats, spherical, var_min, var_max, centres, variances)
    ll, *stats = e_step(x, weights, means, variances)
    n_iter = 0
    while n_iter < max_iter:
        weights, means, variances = m_step(*stats, spherical, var_min, var_max, means, variances)
        n_iter += 1
        previous = ll
        ll, *stats = e_step(x, weights, means, variances)
        if abs(ll - previous) < tol:
            break
    order = np.argsort(-weights, kind="stable")
    weights, means, variances = weights[order], means[order], variances[order]
    return weights, means, variances, n_iter, ll, mode_near(x, means[0], variances[0])


def pixel_em(
    stack, k, *, spherical=False, var_min=4.0, var_max=np.inf, tol=1e-3, max_iter=100,
    kmeans_iter=10,
):  # fmt: skip
    """``em_pixel`` for every pixel of ``stack`` ``(T, P, C)``: the kernel's outputs."""
    results = [
        em_pixel(
            stack[:, p, :].astype(float),
            k,
            spherical,
            var_min,
            var_max,
            tol,
            max_iter,
            kmeans_iter,
        )  # fmt: skip
        for p in range(stack.shape[1])
    ]
    return tuple(np.array(column) for column in zip(*results, strict=True))


def pixel_kmeans(stack, k, max_iter=100):
    """``kmeans_pixel`` for every pixel of ``stack``: (centres, weights, n_iter)."""
    results = [
        kmeans_pixel(stack[:, p, :].astype(float), k, max_iter) for p in range(stack.shape[1])
    ]
    return tuple(np.array(column) for column in zip(*results, strict=True))


def component_mask(frame, means, variances, n_background, threshold):
    """Mask of ``frame`` ``(H, W, C)``: 255 where the Mahalanobis distance to every one of the
    first ``n_background`` components of ``means``/``variances`` ``(H, W, K, C)`` exceeds
    ``threshold``."""
    d2 = (((frame[:, :, None, :].astype(float) - means) ** 2) / variances).sum(axis=3)
    background = np.arange(means.shape[2]) < n_background[:, :, None]
    near = (d2 <= threshold**2) & background
    return np.where(near.any(axis=2), 0, 255).astype(np.uint8)

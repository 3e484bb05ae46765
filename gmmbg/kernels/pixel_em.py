"""Per-pixel batch EM over time, and the mask of a frame against per-pixel components.

Every pixel gets its own K-component Gaussian mixture with diagonal (or spherical) covariance,
fitted by EM to its T training values. Layout, chunking and the deterministic initialisation
are those of ``pixel_kmeans`` (read its module docstring): farthest-point seeds from the
pixel's own values, a few Lloyd iterations, then one M-step from the hard labels, as
scikit-learn's ``init_params="kmeans"`` does.

An EM iteration is an M-step from the sufficient statistics (N_k, sum r x, sum r x^2) and an
E-step that computes the responsibilities (log-sum-exp), the mean log-likelihood and the next
statistics. Every loop in the E-step runs over time for one component, on the pixel's
channel-major copy, so LLVM vectorises it; the exp is inlined arithmetic for the same
reason (``_exp_gap``). The loop stops when the mean log-likelihood changes by less than
``tol``, so the returned parameters are always the ones whose log-likelihood is returned.

After EM, each pixel's *mode* (``_mode_near``): mean-shift from the heaviest component's mean
over the pixel's values, with that component's Gaussian as the kernel. It is the background
image of ``PixelGMM`` (see its docstring for why not the mean).

Components whose responsibility mass falls under ``MIN_COUNT`` values die: weight 0, mean and
variance frozen; they never come back (their weight stays 0) and sort last. This, with the
variance floor, is what keeps a constant pixel or K above its number of distinct values free
of NaN.
"""

import math

import numpy as np
from numba import njit, prange

from gmmbg.kernels.config import JIT, PARALLEL_JIT
from gmmbg.kernels.pixel_kmeans import (
    CHUNK,
    _farthest_point_seeds,
    _hard_squares,
    _lloyd,
    _load_distinct,
    _sort_by_weight,
    chunk_stride,
    table_size,
)

MIN_COUNT = 1e-6
"""Responsibility mass (in values) under which a component is dead."""

LOG_2PI = np.log(2.0 * np.pi)
EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(10, -1, -1))
"""1/10!, 1/9!, ..., 1/0!: the Taylor coefficients of exp, Horner order."""

MODE_TOL = 1e-3
"""Mean-shift stops when its step is under this many grey levels (the image is rounded to
whole levels)."""

MODE_MAX_ITER = 200
"""Most mean-shift steps. On cdnet-highway (200 frames) the median pixel took 6 steps to
``MODE_TOL`` and 99% at most 26 (counted once, when the limit was chosen); the slow ones
creep along a flat ridge."""

NEGLIGIBLE = -37.0
"""Log-density gap to a value's most likely component under which its term counts as 0:
exp(-37) < 2**-53, so the term cannot change the sum (which holds the top term's 1) and
moves a responsibility by less than 1e-16."""


@njit(**JIT)
def _m_step(nk, s1, s2, spherical, var_min, var_max, weights, means, variances):
    """Weights ``(K,)``, means and variances ``(K, C)`` from the sufficient statistics.

    ``nk`` ``(K,)`` responsibility mass, ``s1`` / ``s2`` ``(K, C)`` sums of r x and r x^2.
    Spherical covariance averages the diagonal over channels (scikit-learn's definition);
    the variances are clipped to ``[var_min, var_max]`` last (the log-likelihood is unimodal in
    each variance, so the clipped value is the constrained maximum: EM stays monotone). Dead
    components keep their mean and variance.
    """
    K, C = s1.shape
    total = 0.0
    for k in range(K):
        if nk[k] >= MIN_COUNT:
            total += nk[k]
    for k in range(K):
        if nk[k] < MIN_COUNT:
            weights[k] = 0.0
            continue
        weights[k] = nk[k] / total
        inv = 1.0 / nk[k]
        v_sum = 0.0
        for c in range(C):
            mu = s1[k, c] * inv
            means[k, c] = mu
            variances[k, c] = s2[k, c] * inv - mu * mu
            v_sum += variances[k, c]
        for c in range(C):
            v = v_sum / C if spherical else variances[k, c]
            variances[k, c] = min(max(v, var_min), var_max)


@njit(**JIT)
def _exp_gap(gap):
    """exp(gap) for a log-density gap <= 0 to the top component, in plain arithmetic.

    libm's exp is a call that LLVM cannot vectorise; this is straight-line code it can:
    exp(gap) = exp(gap / 256) ** 256, with exp(y) for y in [-0.15, 0] by its degree-10 Taylor
    polynomial (Horner, one fused multiply-add per term) and 8 squarings. Relative error
    under 4e-14 on (NEGLIGIBLE, 0]; gaps down to NEGLIGIBLE give 0, and 0 gives exactly 1.
    """
    y = max(gap, NEGLIGIBLE) * (1.0 / 256.0)
    e = EXP_TAYLOR[0]
    for coefficient in EXP_TAYLOR[1:]:
        e = e * y + coefficient
    for _ in range(8):
        e *= e
    return e if gap > NEGLIGIBLE else 0.0


@njit(**JIT)
def _e_step(x, w, weights, means, variances, resp, top, norm, nk, s1, s2):
    """Mean log-likelihood per value of the distinct values ``x`` ``(C, n)`` with
    multiplicities ``w`` ``(n,)``; the statistics of the responsibilities go to ``nk``
    ``(K,)``, ``s1`` and ``s2`` ``(K, C)`` for the M-step.

    Scratch: ``resp`` ``(K, n)`` holds log-densities, then responsibilities; ``top`` and
    ``norm`` ``(n,)`` the per-value log-sum-exp shift and normaliser. Every loop runs over the
    values for one component, so it vectorises. Dead components (weight 0) are skipped.
    """
    C, n = x.shape
    K = weights.shape[0]
    top[:] = -np.inf
    for k in range(K):
        if weights[k] == 0.0:
            continue
        det = 1.0
        for c in range(C):
            det *= variances[k, c]
        log_norm = np.log(weights[k]) - 0.5 * (C * LOG_2PI + np.log(det))
        resp[k, :] = log_norm
        for c in range(C):
            mu = means[k, c]
            half_inv_var = 0.5 / variances[k, c]
            for t in range(n):
                diff = x[c, t] - mu
                resp[k, t] -= diff * diff * half_inv_var
        for t in range(n):
            top[t] = max(top[t], resp[k, t])
    norm[:] = 0.0
    for k in range(K):
        if weights[k] > 0.0:
            for t in range(n):
                resp[k, t] = _exp_gap(resp[k, t] - top[t])
                norm[t] += resp[k, t]
    total = 0.0
    count = 0.0
    for t in range(n):
        # log(1) is 0: skip the call for the (many) values only their top component explains.
        total += w[t] * (top[t] + (np.log(norm[t]) if norm[t] > 1.0 else 0.0))
        count += w[t]
        # From here on norm holds the factor that turns exps into responsibilities, times
        # the multiplicity: one division per value, then multiplications.
        norm[t] = w[t] / norm[t]
    for k in range(K):
        nk[k] = 0.0
        s1[k, :] = 0.0
        s2[k, :] = 0.0
        if weights[k] == 0.0:
            continue
        mass = 0.0
        for t in range(n):
            resp[k, t] *= norm[t]
            mass += resp[k, t]
        nk[k] = mass
        for c in range(C):
            m1 = 0.0
            m2 = 0.0
            for t in range(n):
                rx = resp[k, t] * x[c, t]
                m1 += rx
                m2 += rx * x[c, t]
            s1[k, c] = m1
            s2[k, c] = m2
    return total / count


@njit(**JIT)
def _fit_pixel(x, w, spherical, var_range, tol, max_iter, kmeans_iter, params, scratch):
    """EM for one pixel's distinct values ``x`` ``(C, n)`` with multiplicities ``w`` ``(n,)``;
    returns (iterations, mean log-likelihood per value).

    ``var_range`` is (var_min, var_max); ``params`` is (weights ``(K,)``, means ``(K, C)``,
    variances ``(K, C)``) to write, ``scratch`` the chunk's scratch arrays (each ``(n, ...)``
    or ``(K, n)``).
    """
    var_min, var_max = var_range
    weights, means, variances = params
    hist, labels, nearest, mind, d, resp, nk, s1, s2 = scratch
    n_seeds = _farthest_point_seeds(x, w, means, hist, mind, d)
    # Lloyd leaves the counts and sums of its final labels in nk and s1.
    _lloyd(x, w, means, n_seeds, kmeans_iter, labels, nk, s1, (nearest, mind, d))
    _hard_squares(x, w, labels, s2)
    variances[:] = var_min
    _m_step(nk, s1, s2, spherical, var_min, var_max, weights, means, variances)
    ll = _e_step(x, w, weights, means, variances, resp, mind, d, nk, s1, s2)
    n_iter = 0
    while n_iter < max_iter:
        _m_step(nk, s1, s2, spherical, var_min, var_max, weights, means, variances)
        n_iter += 1
        previous = ll
        ll = _e_step(x, w, weights, means, variances, resp, mind, d, nk, s1, s2)
        if abs(ll - previous) < tol:
            break
    return n_iter, ll


@njit(**JIT)
def _mode_near(x, w, start, variances, gap, mode):
    """The mode of the values ``x`` ``(C, n)`` (multiplicities ``w`` ``(n,)``) that mean-shift
    reaches from ``start`` ``(C,)`` with a Gaussian kernel of diagonal ``variances`` ``(C,)``,
    written to ``mode`` ``(C,)``.

    Each step moves to the kernel-weighted mean of the values (Comaniciu & Meer 2002), which
    climbs the kernel density estimate to its nearest mode. The log-weights are taken
    relative to the nearest value's (``gap`` ``(n,)`` scratch), so that value weighs 1 and the
    sum cannot vanish however far ``start`` lies.
    """
    C, n = x.shape
    mode[:] = start
    for _ in range(MODE_MAX_ITER):
        gap[:] = 0.0
        for c in range(C):
            centre = mode[c]
            half_inv_var = 0.5 / variances[c]
            for t in range(n):
                diff = x[c, t] - centre
                gap[t] -= diff * diff * half_inv_var
        top = gap.max()
        total = 0.0
        for t in range(n):
            gap[t] = w[t] * _exp_gap(gap[t] - top)
            total += gap[t]
        moved = 0.0
        for c in range(C):
            shifted = 0.0
            for t in range(n):
                shifted += gap[t] * x[c, t]
            shifted /= total
            moved += (shifted - mode[c]) ** 2
            mode[c] = shifted
        if moved < MODE_TOL * MODE_TOL:
            return


@njit(**JIT)
def _fit_chunk(stack, start, stop, spherical, var_range, tol, max_iter, kmeans_iter, out):
    """``pixel_em`` for pixels ``start:stop``, with scratch allocated once for all."""
    weights, means, variances, n_iter, log_likelihood, modes = out
    T, _, C = stack.shape
    K = weights.shape[1]
    table = np.empty((2, table_size(T)), np.int64)
    codes = np.empty(T, np.int64)
    values = np.empty(C * T)
    counts = np.empty(T)
    hist = np.empty(256)
    labels = np.empty(T, np.int64)
    nearest = np.empty(T, np.int64)
    mind = np.empty(T)
    d = np.empty(T)
    resp = np.empty(K * T)
    nk = np.empty(K)
    s1 = np.empty((K, C))
    s2 = np.empty((K, C))
    order = np.empty(K, np.int64)
    for p in range(start, stop):
        n = _load_distinct(stack, p, table, codes, values, counts)
        scratch = (
            hist, labels[:n], nearest[:n], mind[:n], d[:n], resp[: K * n].reshape(K, n),
            nk, s1, s2,
        )  # fmt: skip
        n_iter[p], log_likelihood[p] = _fit_pixel(
            values[: C * n].reshape(C, n), counts[:n], spherical, var_range, tol, max_iter,
            kmeans_iter, (weights[p], means[p], variances[p]), scratch,
        )  # fmt: skip
        # nk and s1 are free again: scratch for the sort.
        _sort_by_weight(weights[p], (means[p], variances[p]), order, nk, s1)
        _mode_near(values[: C * n].reshape(C, n), counts[:n], means[p, 0], variances[p, 0],
                   d[:n], modes[p])  # fmt: skip


@njit(**PARALLEL_JIT)
def pixel_em(
    stack,
    spherical,
    var_min,
    var_max,
    tol,
    max_iter,
    kmeans_iter,
    weights,
    means,
    variances,
    n_iter,
    log_likelihood,
    modes,
):
    """Fit a Gaussian mixture to every pixel's values over time, and find its mode.

    Parameters
    ----------
    stack : (T, P, C) uint8
        Training values, frame-major (see ``pixel_kmeans``).
    spherical : bool
        One variance per component (the mean of the channel variances) instead of one per
        channel.
    var_min, var_max : float
        Every variance is clipped to ``[var_min, var_max]`` (grey levels squared); ``var_min``
        must be above 0, ``var_max`` may be ``inf``.
    tol : float
        Stop when the mean log-likelihood changes by less than this between iterations.
    max_iter : int
        Most EM iterations per pixel; 0 returns the initialisation.
    kmeans_iter : int
        Most Lloyd iterations of the initialisation.
    weights : (P, K) float64, out
        Mixture weights, sorted decreasing; dead components have weight 0.
    means : (P, K, C) float64, out
    variances : (P, K, C) float64, out
        Per channel; all C equal when ``spherical``.
    n_iter : (P,) int64, out
        EM iterations done.
    log_likelihood : (P,) float64, out
        Mean log-likelihood per value of the returned parameters.
    modes : (P, C) float64, out
        The mode of the pixel's values nearest the heaviest component (``_mode_near``, with
        that component's variances).
    """
    P = stack.shape[1]
    out = (weights, means, variances, n_iter, log_likelihood, modes)
    n_chunks = (P + CHUNK - 1) // CHUNK
    stride = chunk_stride(n_chunks)
    for i in prange(n_chunks):
        chunk = (i * stride) % n_chunks
        stop = min(P, (chunk + 1) * CHUNK)
        _fit_chunk(
            stack, chunk * CHUNK, stop, spherical, (var_min, var_max), tol, max_iter,
            kmeans_iter, out,
        )  # fmt: skip


@njit(**PARALLEL_JIT)
def component_mask(frame, means, inv_var, n_background, threshold, out):
    """Foreground mask of ``frame`` against per-pixel background components.

    A value is background (0, ``base.BACKGROUND``) when its Mahalanobis distance
    ``sqrt(sum_c (x_c - mean_kc)^2 * inv_var_kc)`` to one of the pixel's first
    ``n_background`` components is at most ``threshold``, else foreground (255). With
    ``inv_var`` all ones this is the L2 colour distance.

    Parameters
    ----------
    frame : (H, W, Cf) uint8 or float
        Only the first C channels are read (so an alpha channel is ignored without a copy).
    means, inv_var : (H, W, K, C) float64
    n_background : (H, W) int64
        How many of the leading components are background at each pixel.
    threshold : float
    out : (H, W) uint8, out
    """
    H, W, K, C = means.shape
    limit = threshold * threshold
    for i in prange(H):
        for j in range(W):
            value = 255
            for k in range(n_background[i, j]):
                d = 0.0
                for c in range(C):
                    diff = frame[i, j, c] - means[i, j, k, c]
                    d += diff * diff * inv_var[i, j, k, c]
                if d <= limit:
                    value = 0
                    break
            out[i, j] = value

"""Kernels for one Gaussian mixture over N weighted samples (EM), and the colour counter.

Samples come in columns, ``Xt`` (D, N), so that the loops over the samples of a chunk are
innermost, contiguous and vectorised (the E-step's exp included: ``_exp_chunk``).

Precisions are handed to the kernels in one form for every covariance type: ``prec_chol``
``(K, D, D)``, component k's upper-triangular Cholesky factor U of its precision matrix
(``U @ U.T = inv(covariance)``, scikit-learn's ``precisions_cholesky_``), with ``diagonal``
telling the kernel that only the diagonal is set (diag and spherical types; tied repeats its
one matrix K times), so that it reads, and accumulates statistics for, diagonals only.
``log_det[k]`` is ``sum(log(diag(U_k)))``, half the log-determinant of the precision.

Sufficient statistics are accumulated about a centre per component (the current means
during EM) rather than about zero: ``sum w r (x - c)(x - c)^T`` keeps its precision when the
data sit far from the origin, where ``sum w r x x^T - N mu mu^T`` would cancel.

Parallel reductions split the samples into chunks of ``CHUNK``; each chunk is summed by one
thread in sample order, then the chunk sums are added in chunk order, so results are
bit-identical whatever the number of threads.
"""

import math

import numpy as np
from numba import njit, prange

from gmmbg.kernels.config import JIT, PARALLEL_JIT

CHUNK = 1024
LOG_2PI = math.log(2.0 * math.pi)
# for _exp_chunk: exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (Cody and Waite), so that n ln 2
LN2_LO = 1.90821492927058770002e-10  # is subtracted with little rounding
EXP_MIN = -708.0  # below, exp(x) is subnormal or 0: returned as 0
# n + MAGIC is a double whose low bits hold n + 1023 (the biased exponent of 2^n) above
# those of MAGIC_BITS: adding 1.5 * 2^52 places an integer in the low mantissa bits
MAGIC = 6755399441055744.0 + 1023.0
MAGIC_BITS = np.int64(0x4338000000000000)


@njit(**JIT)
def n_chunks(n_samples):
    """How many chunks of ``CHUNK`` samples cover ``n_samples``."""
    return (n_samples + CHUNK - 1) // CHUNK


@njit(**JIT)
def sum_chunks(partial, out):
    """``out = partial.sum(axis=0)``, adding the chunks in order.

    partial : (n_chunks, M) per-chunk sums; out : (M,).
    Written as loops: in a parallel kernel NumPy's ``sum`` may be split across threads.
    (For the same reason parallel kernels allocate with ``np.empty``: ``np.zeros`` there
    becomes a parallel loop of its own, one more synchronisation of the threads.)
    """
    out[:] = 0.0
    for c in range(partial.shape[0]):
        for m in range(partial.shape[1]):
            out[m] += partial[c, m]


@njit(**JIT)
def sum_in_order(partial):
    """``partial.sum()`` for per-chunk sums (n_chunks,), added in chunk order."""
    total = 0.0
    for c in range(partial.shape[0]):
        total += partial[c]
    return total


@njit(**JIT)
def _chunk_differences(Xt, start, centre, diff):
    """``diff[i, s] = Xt[i, start + s] - centre[i]`` for the M samples of a chunk.

    Xt : (D, N); centre : (D,); diff : (D, M).
    """
    m = diff.shape[1]
    for i in range(Xt.shape[0]):
        c, row, out = centre[i], Xt[i, start : start + m], diff[i]
        for s in range(m):
            out[s] = row[s] - c


@njit(**JIT)
def _chunk_log_probs(Xt, start, means, prec_chol, diagonal, log_weights, log_det, diff, log_probs):
    """``log_probs[k, s] = log w_k + log N(x | mean_k, precision_k)``, x = ``Xt[:, start + s]``.

    Xt : (D, N) samples in columns; means : (K, D); prec_chol : (K, D, D); log_weights,
    log_det : (K,); scratch diff : (D, M) and output log_probs : (K, M), for the M samples
    of the chunk. Loops over samples are innermost and read 1-D rows and hoisted scalars,
    so that they vectorise.
    """
    n_features = Xt.shape[0]
    n_components, m = log_probs.shape
    y = np.empty(m)
    for k in range(n_components):
        _chunk_differences(Xt, start, means[k], diff)
        maha = log_probs[k]
        maha[:] = 0.0
        for j in range(n_features):
            # y_j = sum_i diff_i U_ij over i <= j (U is upper-triangular), or i = j (diagonal)
            u, dj = prec_chol[k, j, j], diff[j]
            for s in range(m):
                y[s] = dj[s] * u
            for i in range(0 if diagonal else j):
                u, di = prec_chol[k, i, j], diff[i]
                for s in range(m):
                    y[s] += di[s] * u
            for s in range(m):
                maha[s] += y[s] * y[s]
        const = log_weights[k] + log_det[k] - 0.5 * n_features * LOG_2PI
        for s in range(m):
            maha[s] = const - 0.5 * maha[s]


@njit(**JIT)
def _exp_chunk(x, out, scratch):
    """``out = exp(x)`` for x (M,) <= 0, within 3e-14 relative, 0 below ``EXP_MIN``.

    scratch : (M,). ``math.exp`` is a library call that keeps the loop scalar; this one is
    arithmetic only, so that the loops vectorise (twice as fast). x and out must not overlap.
    """
    bits = scratch.view(np.int64)
    for s in range(x.shape[0]):
        xs = max(x[s], EXP_MIN)
        n = math.floor(xs * LOG2E + 0.5)
        r = (xs - n * LN2_HI) - n * LN2_LO
        # exp(r) by its Taylor series to r^13 / 13! (error < 5e-18 for |r| <= ln2/2), Horner
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[s] = p * r + 1.0
        scratch[s] = n + MAGIC
    for s in range(x.shape[0]):
        bits[s] = (bits[s] - MAGIC_BITS) << 52  # the bits of the double 2^n
    for s in range(x.shape[0]):
        out[s] = out[s] * scratch[s] if x[s] >= EXP_MIN else 0.0


@njit(**JIT)
def _chunk_normalise(log_probs, log_norm, resp):
    """Log-sum-exp over components, per sample of a chunk.

    log_probs : (K, M); outputs log_norm : (M,) ``log sum_k exp(log_probs[k])`` and
    resp : (K, M) ``exp(log_probs - log_norm)``. A sample that no component can produce
    (all log_probs -inf) gets log_norm -inf and is shared evenly rather than divided by 0.
    """
    n_components, m = log_probs.shape
    top = log_norm  # holds the per-sample maximum until the end
    top[:] = log_probs[0]
    for k in range(1, n_components):
        lp = log_probs[k]
        for s in range(m):
            top[s] = max(top[s], lp[s])
    for s in range(m):
        if top[s] == -np.inf:
            top[s] = 0.0  # exp(-inf - 0) = 0 below, rather than exp(NaN)
    total = np.zeros(m)
    shifted = np.empty(m)
    scratch = np.empty(m)
    for k in range(n_components):
        lp, r = log_probs[k], resp[k]
        for s in range(m):
            shifted[s] = lp[s] - top[s]
        _exp_chunk(shifted, r, scratch)
        for s in range(m):
            total[s] += r[s]
    for s in range(m):
        log_norm[s] = top[s] + math.log(total[s])
        total[s] = 1.0 / total[s] if total[s] > 0.0 else 0.0
    for k in range(n_components):
        r = resp[k]
        for s in range(m):
            r[s] *= total[s]
    for s in range(m):
        if total[s] == 0.0:
            for k in range(n_components):
                resp[k, s] = 1.0 / n_components


@njit(**JIT)
def _chunk_statistics(Xt, start, centres, weighted_resp, diagonal, diff, nk, s1, s2):
    """Add a chunk's samples to each component's statistics about its centre.

    Xt : (D, N); centres : (K, D); weighted_resp : (K, M) weight x responsibility of the
    chunk's M samples; scratch diff : (D, M); outputs, added to: nk : (K,) ``sum w r``,
    s1 : (K, D) ``sum w r d``, s2 : (K, D, D) ``sum w r d d^T`` with d = x - centre, upper
    triangle only (``_reduce_statistics`` mirrors it), and only its diagonal if ``diagonal``.
    """
    n_features = Xt.shape[0]
    n_components, m = weighted_resp.shape
    for k in range(n_components):
        wr = weighted_resp[k]
        _chunk_differences(Xt, start, centres[k], diff)
        acc = 0.0
        for s in range(m):
            acc += wr[s]
        nk[k] += acc
        for i in range(n_features):
            di = diff[i]
            acc = 0.0
            for s in range(m):
                acc += wr[s] * di[s]
            s1[k, i] += acc
            for j in range(i, i + 1 if diagonal else n_features):
                dj = diff[j]
                acc = 0.0
                for s in range(m):
                    acc += wr[s] * di[s] * dj[s]
                s2[k, i, j] += acc


@njit(**JIT)
def _reduce_statistics(p_nk, p_s1, p_s2, diagonal, nk, s1, s2):
    """Sum per-chunk statistics in chunk order into nk (K,), s1 (K, D), s2 (K, D, D)."""
    n = p_nk.shape[0]
    sum_chunks(p_nk, nk)
    sum_chunks(p_s1.reshape(n, -1), s1.reshape(-1))
    sum_chunks(p_s2.reshape(n, -1), s2.reshape(-1))
    if not diagonal:
        for k in range(s2.shape[0]):
            for i in range(s2.shape[1]):
                for j in range(i):
                    s2[k, i, j] = s2[k, j, i]


@njit(**PARALLEL_JIT)
def em_step(Xt, sample_weight, means, prec_chol, diagonal, log_weights, log_det, nk, s1, s2):
    """One E-step and the weighted statistics the following M-step needs.

    Xt : (D, N) the samples in columns; sample_weight : (N,); means : (K, D);
    prec_chol : (K, D, D); log_weights, log_det : (K,); outputs, about the current means:
    nk : (K,) ``sum_i w_i r_ik``; s1 : (K, D) ``sum_i w_i r_ik (x_i - mean_k)``;
    s2 : (K, D, D) ``sum_i w_i r_ik (x_i - mean_k)(x_i - mean_k)^T`` (only its diagonal if
    ``diagonal``). Returns ``sum_i w_i log p(x_i)`` under the current parameters.
    """
    n_features, n_samples = Xt.shape
    n_components = means.shape[0]
    n_c = n_chunks(n_samples)
    p_nk = np.empty((n_c, n_components))
    p_s1 = np.empty((n_c, n_components, n_features))
    p_s2 = np.empty((n_c, n_components, n_features, n_features))
    p_ll = np.empty(n_c)
    for c in prange(n_c):
        p_nk[c], p_s1[c], p_s2[c] = 0.0, 0.0, 0.0
        start = c * CHUNK
        m = min(n_samples, start + CHUNK) - start
        diff = np.empty((n_features, m))
        log_probs = np.empty((n_components, m))
        resp = np.empty((n_components, m))
        log_norm = np.empty(m)
        _chunk_log_probs(
            Xt, start, means, prec_chol, diagonal, log_weights, log_det, diff, log_probs
        )
        _chunk_normalise(log_probs, log_norm, resp)
        w = sample_weight[start : start + m]
        ll = 0.0
        for s in range(m):
            ll += w[s] * log_norm[s]
        p_ll[c] = ll
        for k in range(n_components):
            r = resp[k]
            for s in range(m):
                r[s] *= w[s]
        _chunk_statistics(Xt, start, means, resp, diagonal, diff, p_nk[c], p_s1[c], p_s2[c])
    _reduce_statistics(p_nk, p_s1, p_s2, diagonal, nk, s1, s2)
    return sum_in_order(p_ll)


@njit(**PARALLEL_JIT)
def resp_statistics(Xt, sample_weight, resp, centres, diagonal, nk, s1, s2):
    """The M-step statistics for given responsibilities (used to initialise EM).

    Xt : (D, N); sample_weight : (N,); resp : (N, K); centres : (K, D) the points the
    statistics are taken about; nk, s1, s2 as in ``em_step``.
    """
    n_features, n_samples = Xt.shape
    n_components = resp.shape[1]
    n_c = n_chunks(n_samples)
    p_nk = np.empty((n_c, n_components))
    p_s1 = np.empty((n_c, n_components, n_features))
    p_s2 = np.empty((n_c, n_components, n_features, n_features))
    for c in prange(n_c):
        p_nk[c], p_s1[c], p_s2[c] = 0.0, 0.0, 0.0
        start = c * CHUNK
        m = min(n_samples, start + CHUNK) - start
        diff = np.empty((n_features, m))
        weighted_resp = np.empty((n_components, m))
        for k in range(n_components):
            for s in range(m):
                weighted_resp[k, s] = sample_weight[start + s] * resp[start + s, k]
        _chunk_statistics(
            Xt, start, centres, weighted_resp, diagonal, diff, p_nk[c], p_s1[c], p_s2[c]
        )
    _reduce_statistics(p_nk, p_s1, p_s2, diagonal, nk, s1, s2)


@njit(**PARALLEL_JIT)
def e_step(Xt, means, prec_chol, diagonal, log_weights, log_det, log_norm, log_resp):
    """Per-sample log-likelihood and log-responsibilities.

    Xt : (D, N) the samples in columns; means : (K, D); prec_chol : (K, D, D);
    log_weights, log_det : (K,); outputs log_norm : (N,) ``log p(x_i)``;
    log_resp : (N, K) ``log r_ik``.
    """
    n_features, n_samples = Xt.shape
    n_components = means.shape[0]
    for c in prange(n_chunks(n_samples)):
        start = c * CHUNK
        m = min(n_samples, start + CHUNK) - start
        diff = np.empty((n_features, m))
        log_probs = np.empty((n_components, m))
        resp = np.empty((n_components, m))
        _chunk_log_probs(
            Xt, start, means, prec_chol, diagonal, log_weights, log_det, diff, log_probs
        )
        _chunk_normalise(log_probs, log_norm[start : start + m], resp)
        for s in range(m):
            norm = log_norm[start + s]
            for k in range(n_components):
                # -inf - -inf is NaN: an impossible sample keeps its even responsibilities
                log_resp[start + s, k] = (
                    log_probs[k, s] - norm if norm > -np.inf else math.log(resp[k, s])
                )


@njit(**JIT)
def precision_cholesky(covariances, out):
    """Upper-triangular Cholesky factors of the precisions, as scikit-learn computes them.

    covariances : (K, D, D) symmetric (only the lower triangle is read);
    out : (K, D, D) gets ``inv(L_k).T`` where ``L_k L_k^T = covariances[k]``.
    Returns False, with ``out`` partly written, when a covariance is not positive definite.
    """
    n_components, n_features, _ = covariances.shape
    chol = np.zeros((n_features, n_features))
    inv = np.zeros((n_features, n_features))
    for k in range(n_components):
        for i in range(n_features):
            for j in range(i + 1):
                s = covariances[k, i, j]
                for m in range(j):
                    s -= chol[i, m] * chol[j, m]
                if i == j:
                    if not s > 0.0:  # also catches NaN
                        return False
                    chol[i, i] = math.sqrt(s)
                else:
                    chol[i, j] = s / chol[j, j]
        # forward substitution, one column of the identity at a time: inv = L^-1 (lower)
        for col in range(n_features):
            for i in range(col, n_features):
                s = 1.0 if i == col else 0.0
                for m in range(col, i):
                    s -= chol[i, m] * inv[m, col]
                inv[i, col] = s / chol[i, i]
        for i in range(n_features):
            for j in range(n_features):
                out[k, i, j] = inv[j, i] if i <= j else 0.0
    return True


@njit(**JIT)
def _popcount(word):
    """Number of set bits of a uint64 (the SWAR method)."""
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + (
        (word >> np.uint64(2)) & np.uint64(0x3333333333333333)
    )
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(**JIT)
def _colour_key(pixels, i):
    """Pixel i of pixels (N, C) uint8 packed into one integer, first channel highest."""
    key = 0
    for channel in range(pixels.shape[1]):
        key = (key << 8) | pixels[i, channel]
    return key


@njit(**JIT)
def unique_colours(pixels, inverse):
    """The distinct colours of pixels (N, C) uint8, their counts, and each pixel's colour.

    inverse : (N,) int32 out, each pixel's index among the distinct colours. Returns
    (colours (M, C) uint8 in increasing order of ``_colour_key``, counts (M,) int64).
    Linear time, no sort: a bitmap of the keys present (2 MB for 2^24 RGB colours, so it
    stays in cache), the number of set bits before each 64-bit word, and a pixel's index =
    that number + the set bits below its key in its word.
    """
    n_words = ((1 << (8 * pixels.shape[1])) + 63) // 64
    bits = np.zeros(n_words, dtype=np.uint64)
    for i in range(pixels.shape[0]):
        key = _colour_key(pixels, i)
        bits[key >> 6] |= np.uint64(1) << np.uint64(key & 63)
    before = np.empty(n_words, dtype=np.int32)  # 1 MB for RGB, next to the 2 MB bitmap
    n_distinct = 0
    for w in range(n_words):
        before[w] = n_distinct
        n_distinct += _popcount(bits[w])
    colours = np.empty((n_distinct, pixels.shape[1]), dtype=np.uint8)
    counts = np.zeros(n_distinct, dtype=np.int64)
    for i in range(pixels.shape[0]):
        key = _colour_key(pixels, i)
        word, bit = key >> 6, np.uint64(key & 63)
        index = before[word] + _popcount(bits[word] & ((np.uint64(1) << bit) - np.uint64(1)))
        inverse[i] = index
        counts[index] += 1
        colours[index] = pixels[i]
    return colours, counts

"""Per-pixel k-means and median over time, and the pieces the per-pixel EM shares with them.

Layout: the training stack is ``(T, P, C)`` uint8, frame-major: frame ``t`` is ``stack[t]``,
exactly as frames arrive, so stacking never transposes. Each kernel reads a pixel's ``T``
values once (strided reads; a chunk's pixels are consecutive, so neighbouring pixels share
cache lines) and reduces them to its *distinct* values with their multiplicities
(``_load_distinct``): a pixel of a compressed video repeats values (63 distinct RGB values
out of 150 on cdnet-highway), and k-means and EM over distinct values weighted by their
counts are the same fits at a fraction of the work. The distinct values go, in the order
they first appear, into per-chunk float64 scratch ``x`` of shape ``(C, n)`` (channel-major,
so every inner loop runs over the values on contiguous memory and vectorises).

Parallelism: ``prange`` runs over chunks of ``CHUNK`` consecutive pixels, visited in a
well-spread order (``chunk_stride``); a chunk allocates its scratch once, so nothing is
allocated per pixel. Pixels are independent (no reduction across workers), so results do not
depend on the thread count.

Initialisation (deterministic, from the pixel's own values, no RNG): the first centre is the
channel-wise median of the pixel's values (the background when it is the majority); each
next centre is the value farthest from the centres chosen so far (maximin), the earliest such
value on ties. When the pixel has fewer than K distinct values, seeding
stops early and the remaining components start empty (weight 0, centre = the median).

Loop invariants are read into local scalars before the loops over time: locals are
registers, whereas array reads could alias the scratch being written and be reloaded.
"""

import numpy as np
from numba import njit, prange

from gmmbg.kernels.config import JIT, PARALLEL_JIT

CHUNK = 64
"""Pixels per parallel work item: scratch is allocated once per chunk, never per pixel."""

GOLDEN = 0.6180339887498949


@njit(**JIT)
def chunk_stride(n_chunks):
    """A stride coprime with ``n_chunks``, near ``n_chunks`` times the golden ratio's inverse.

    Work item ``i`` handles chunk ``(i * stride) % n_chunks``: every chunk once, and any run of
    consecutive items is spread over the whole frame. ``prange`` gives each thread a run of
    consecutive items, so each thread gets a share of every region of the image: a still
    sky converges in fewer iterations than a busy road, and contiguous runs of chunks would
    leave one thread waiting for the other (6-10% on cdnet-highway).
    """
    stride = max(1, int(n_chunks * GOLDEN))
    while np.gcd(stride, n_chunks) != 1:
        stride += 1
    return stride


@njit(**JIT)
def table_size(n_frames):
    """Slots of the hash table ``_load_distinct`` uses: a power of two, at least 2 per frame
    (a load factor of at most 1/2 keeps the probe sequences short)."""
    size = 16
    while size < 2 * n_frames:
        size *= 2
    return size


@njit(**JIT)
def _load_distinct(stack, p, table, codes, values, counts):
    """The distinct values of pixel ``p`` of ``stack`` ``(T, P, C)`` and how often each occurs.

    Writes the ``n`` distinct values in the order they first appear, channel-major into
    ``values`` (flat, >= C * T: read them as ``values[:C * n].reshape(C, n)``), and their
    counts into ``counts[:n]`` (float64); returns ``n``. Scratch: ``codes`` ``(T,)`` int64
    (each value packed into one integer) and ``table`` ``(2, table_size(T))`` int64, an
    open-addressing hash table of packed value -> index (linear cost, where sorting the
    values to find duplicates cost 4x the whole E-step).
    """
    T, _, C = stack.shape
    mask = table.shape[1] - 1
    table[0, :] = -1
    n = 0
    for t in range(T):
        code = 0
        for c in range(C):
            code = (code << 8) | stack[t, p, c]
        # Multiplicative hashing; code < 2**24, so the product fits in 56 bits.
        slot = ((code * 2654435761) >> 16) & mask
        while table[0, slot] != -1 and table[0, slot] != code:
            slot = (slot + 1) & mask
        if table[0, slot] == -1:
            table[0, slot] = code
            table[1, slot] = n
            codes[n] = code
            counts[n] = 0.0
            n += 1
        counts[table[1, slot]] += 1.0
    for j in range(n):
        for c in range(C):
            values[c * n + j] = (codes[j] >> (8 * (C - 1 - c))) & 255
    return n


@njit(**JIT)
def _median_into(x, w, hist, out):
    """Channel-wise median of the uint8 levels ``x`` ``(C, n)`` (held as float64) with
    multiplicities ``w`` ``(n,)``, into ``out`` ``(C,)``.

    A counting sort over the 256 levels (``hist`` ``(256,)`` float64 scratch): O(n + 256), no
    comparison sort. Same definition as ``np.median`` of the repeated values: the mean of the
    two middle ones when their number is even.
    """
    C, n = x.shape
    total = 0.0
    for j in range(n):
        total += w[j]
    for c in range(C):
        hist[:] = 0.0
        for j in range(n):
            hist[int(x[c, j])] += w[j]
        # Order statistics (total - 1) // 2 and total // 2 (0-based); one when total is odd.
        lo = -1
        seen = 0.0
        for level in range(256):
            seen += hist[level]
            if lo < 0 and seen > (total - 1) // 2:
                lo = level
            if seen > total // 2:
                out[c] = 0.5 * (lo + level)
                break


@njit(**JIT)
def _sq_dists(x, centres, k, d):
    """``d`` ``(T,)`` = squared L2 distance of every value of ``x`` ``(C, T)`` to ``centres[k]``."""
    C, T = x.shape
    d[:] = 0.0
    for c in range(C):
        mu = centres[k, c]
        for t in range(T):
            diff = x[c, t] - mu
            d[t] += diff * diff


@njit(**JIT)
def _farthest_point_seeds(x, w, centres, hist, mind, d):
    """Seed ``centres`` ``(K, C)`` from a pixel's distinct values ``x`` ``(C, n)`` (counts
    ``w``); return how many seeds there are.

    Median first, then repeatedly the value farthest from every chosen centre (the first in
    ``x``'s order, the order of first appearance, on ties). ``hist`` ``(256,)``, ``mind`` and
    ``d`` ``(n,)`` are scratch. Rows past the returned count (fewer distinct values than K)
    hold the median.
    """
    C, T = x.shape
    K = centres.shape[0]
    _median_into(x, w, hist, centres[0])
    for k in range(1, K):
        for c in range(C):
            centres[k, c] = centres[0, c]
    _sq_dists(x, centres, 0, mind)
    for k in range(1, K):
        best = 0
        for t in range(1, T):
            if mind[t] > mind[best]:
                best = t
        if mind[best] == 0.0:
            # Every value coincides with a centre: any further seed would be a duplicate.
            return k
        for c in range(C):
            centres[k, c] = x[c, best]
        _sq_dists(x, centres, k, d)
        for t in range(T):
            mind[t] = min(mind[t], d[t])
    return K


@njit(**JIT)
def _assign(x, centres, n_seeds, labels, nearest, mind, d):
    """Label every value of ``x`` ``(C, T)`` with its nearest centre among the first
    ``n_seeds`` (the lower index on ties); return whether any label changed.

    ``nearest`` ``(T,)`` int64, ``mind`` and ``d`` ``(T,)`` float64 are scratch.
    """
    T = x.shape[1]
    _sq_dists(x, centres, 0, mind)
    nearest[:] = 0
    # Selects on values read once into locals, not branches: this form vectorises (3x).
    for k in range(1, n_seeds):
        _sq_dists(x, centres, k, d)
        for t in range(T):
            current, candidate = mind[t], d[t]
            nearest[t] = k if candidate < current else nearest[t]
            mind[t] = min(candidate, current)
    n_changed = 0
    for t in range(T):
        n_changed += labels[t] != nearest[t]
        labels[t] = nearest[t]
    return n_changed > 0


@njit(**JIT)
def _hard_stats(x, w, labels, counts, sums):
    """Per-cluster ``counts`` ``(K,)`` and value ``sums`` ``(K, C)`` of the ``labels`` of the
    values ``x`` ``(C, n)`` with multiplicities ``w``.

    One masked reduction per (cluster, channel) rather than a scatter ``sums[labels[t]] +=``:
    the scatter's chained read-modify-writes cost more than K times the vectorised sums.
    """
    C, T = x.shape
    K = counts.shape[0]
    for k in range(K):
        n = 0.0
        for t in range(T):
            n += w[t] if labels[t] == k else 0.0
        counts[k] = n
        for c in range(C):
            total = 0.0
            for t in range(T):
                total += w[t] * x[c, t] if labels[t] == k else 0.0
            sums[k, c] = total


@njit(**JIT)
def _hard_squares(x, w, labels, squares):
    """Per-cluster sums of squared values ``squares`` ``(K, C)`` of the ``labels``, as
    ``_hard_stats`` sums the values."""
    C, T = x.shape
    for k in range(squares.shape[0]):
        for c in range(C):
            total = 0.0
            for t in range(T):
                value = x[c, t]
                total += w[t] * value * value if labels[t] == k else 0.0
            squares[k, c] = total


@njit(**JIT)
def _lloyd(x, w, centres, n_seeds, max_iter, labels, counts, sums, scratch):
    """Lloyd iterations over the values ``x`` ``(C, n)`` with multiplicities ``w``, from the
    first ``n_seeds`` rows of ``centres``.

    Updates ``centres`` ``(K, C)`` in place and leaves the final ``labels`` ``(n,)`` with their
    ``counts`` ``(K,)`` and ``sums`` ``(K, C)``; ``scratch`` is ``_assign``'s (nearest, mind,
    d). Stops when no label changes or after ``max_iter`` centre updates, and returns how many
    were done. An empty cluster keeps its centre.
    """
    C = x.shape[0]
    labels[:] = -1
    n_iter = 0
    while True:
        changed = _assign(x, centres, n_seeds, labels, *scratch)
        _hard_stats(x, w, labels, counts, sums)
        if not changed or n_iter == max_iter:
            return n_iter
        for k in range(n_seeds):
            if counts[k] > 0.0:
                for c in range(C):
                    centres[k, c] = sums[k, c] / counts[k]
        n_iter += 1


@njit(**JIT)
def _sort_by_weight(weights, rows, order, tmp_k, tmp_kc):
    """Sort ``weights`` ``(K,)`` decreasing (stable) and every ``(K, C)`` array in the tuple
    ``rows`` the same way; ``order`` ``(K,)`` int64, ``tmp_k`` and ``tmp_kc`` are scratch."""
    K = weights.shape[0]
    for k in range(K):
        order[k] = k
    # Insertion sort: K is small, and it is stable.
    for i in range(1, K):
        j = i
        while j > 0 and weights[order[j - 1]] < weights[order[j]]:
            order[j - 1], order[j] = order[j], order[j - 1]
            j -= 1
    for k in range(K):
        tmp_k[k] = weights[order[k]]
    weights[:] = tmp_k
    for a in rows:
        for k in range(K):
            tmp_kc[k, :] = a[order[k], :]
        a[:, :] = tmp_kc


@njit(**JIT)
def _kmeans_chunk(stack, start, stop, max_iter, centres, weights, n_iter):
    """``pixel_kmeans`` for pixels ``start:stop``, with scratch allocated once for all."""
    T, _, C = stack.shape
    K = centres.shape[1]
    table = np.empty((2, table_size(T)), np.int64)
    codes = np.empty(T, np.int64)
    values = np.empty(C * T)
    counts = np.empty(T)
    hist = np.empty(256)
    mind = np.empty(T)
    d = np.empty(T)
    labels = np.empty(T, np.int64)
    nearest = np.empty(T, np.int64)
    order = np.empty(K, np.int64)
    sums = np.empty((K, C))
    tmp_k = np.empty(K)
    for p in range(start, stop):
        n = _load_distinct(stack, p, table, codes, values, counts)
        x, w = values[: C * n].reshape(C, n), counts[:n]
        n_seeds = _farthest_point_seeds(x, w, centres[p], hist, mind[:n], d[:n])
        n_iter[p] = _lloyd(
            x, w, centres[p], n_seeds, max_iter, labels[:n], weights[p], sums,
            (nearest[:n], mind[:n], d[:n]),
        )  # fmt: skip
        weights[p] /= T
        _sort_by_weight(weights[p], (centres[p],), order, tmp_k, sums)


@njit(**PARALLEL_JIT)
def pixel_kmeans(stack, max_iter, centres, weights, n_iter):
    """K-means over time for every pixel, clusters sorted by size (largest first).

    Parameters
    ----------
    stack : (T, P, C) uint8
        Training values, frame-major.
    max_iter : int
        Most Lloyd updates per pixel (0 keeps the seeds).
    centres : (P, K, C) float64, out
        Cluster centres; an empty cluster keeps its seed.
    weights : (P, K) float64, out
        Fraction of the T values in each cluster (sums to 1).
    n_iter : (P,) int64, out
        Lloyd updates done per pixel.
    """
    P = stack.shape[1]
    n_chunks = (P + CHUNK - 1) // CHUNK
    stride = chunk_stride(n_chunks)
    for i in prange(n_chunks):
        chunk = (i * stride) % n_chunks
        stop = min(P, (chunk + 1) * CHUNK)
        _kmeans_chunk(stack, chunk * CHUNK, stop, max_iter, centres, weights, n_iter)


@njit(**PARALLEL_JIT)
def pixel_median(stack, out):
    """Channel-wise median over time of every pixel, without copying the stack.

    Parameters
    ----------
    stack : (T, P, C) uint8
    out : (P, C) float64, out
        As ``np.median(stack, axis=0)``: a half level when T is even and the middle two differ.
    """
    T, P, C = stack.shape
    n_chunks = (P + CHUNK - 1) // CHUNK
    for chunk in prange(n_chunks):  # the same work for every pixel: no need to spread
        table = np.empty((2, table_size(T)), np.int64)
        codes = np.empty(T, np.int64)
        values = np.empty(C * T)
        counts = np.empty(T)
        hist = np.empty(256)
        for p in range(chunk * CHUNK, min(P, (chunk + 1) * CHUNK)):
            n = _load_distinct(stack, p, table, codes, values, counts)
            _median_into(values[: C * n].reshape(C, n), counts[:n], hist, out[p])

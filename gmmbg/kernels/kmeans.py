"""Kernels for k-means over N weighted samples: k-means++ seeding and Lloyd steps.

Samples come in columns, ``Xt`` (D, N), as for the mixture kernels, so that the loops over
samples vectorise. Random numbers are drawn by the caller and passed in, so a seed gives the
same centres whatever the thread count; reductions use the fixed chunks of
``kernels.mixture``.
"""

import numpy as np
from numba import njit, prange

from gmmbg.kernels.config import JIT, PARALLEL_JIT
from gmmbg.kernels.mixture import CHUNK, n_chunks, sum_chunks, sum_in_order


@njit(**JIT)
def _chunk_squared_distances(Xt, start, centre, out):
    """``out[s] = ||Xt[:, start + s] - centre||^2`` for the M samples of a chunk.

    Xt : (D, N); centre : (D,); out : (M,).
    """
    m = out.shape[0]
    out[:] = 0.0
    for j in range(Xt.shape[0]):
        c, row = centre[j], Xt[j, start : start + m]  # hoisted, so that the loop vectorises
        for s in range(m):
            diff = row[s] - c
            out[s] += diff * diff


@njit(**JIT)
def _draw(cumulative, u):
    """Index drawn with probability proportional to its mass, from ``u`` in [0, 1).

    cumulative : (N,) running sum of the masses (>= 0). The first index whose running sum
    exceeds ``u`` x total: one of positive mass, so never a chosen centre (it has none
    left), unless every mass is zero (then index 0).
    """
    total = cumulative[-1]
    index = np.searchsorted(cumulative, u * total, side="right")
    if index < cumulative.shape[0]:
        return index
    # rounding left u * total at the total: the last index of positive mass
    return np.searchsorted(cumulative, total, side="left")


@njit(**PARALLEL_JIT)
def _closer(Xt, sample_weight, centre, closest, out):
    """``out = minimum(closest, ||x - centre||^2)`` per sample, and ``sum(w * out)``.

    Xt : (D, N); sample_weight, closest, out : (N,); centre : (D,).
    """
    n_samples = Xt.shape[1]
    partial = np.empty(n_chunks(n_samples))
    for c in prange(partial.shape[0]):
        start = c * CHUNK
        m = min(n_samples, start + CHUNK) - start
        d2 = np.empty(m)
        _chunk_squared_distances(Xt, start, centre, d2)
        before, after, w = (
            closest[start : start + m],
            out[start : start + m],
            sample_weight[start : start + m],
        )
        acc = 0.0
        for s in range(m):
            after[s] = min(before[s], d2[s])
            acc += w[s] * after[s]
        partial[c] = acc
    return sum_in_order(partial)


@njit(**JIT)
def kmeans_plusplus(Xt, sample_weight, uniforms, n_local_trials, indices):
    """Greedy k-means++ seeding over weighted samples (scikit-learn's variant).

    The first centre is drawn with probability proportional to the weight; each next one is
    the best of ``n_local_trials`` candidates drawn proportionally to weight x squared
    distance to the nearest centre so far, "best" meaning the lowest total weighted squared
    distance once it is added (Arthur & Vassilvitskii 2007).

    Xt : (D, N); sample_weight : (N,); uniforms : (1 + (K - 1) * n_local_trials,) in [0, 1);
    indices : (K,) out, the samples chosen as centres.
    """
    n_samples = Xt.shape[1]
    closest = np.full(n_samples, np.inf)
    cumulative = np.cumsum(sample_weight)
    candidate = np.empty((n_local_trials, n_samples))
    indices[0] = _draw(cumulative, uniforms[0])
    _closer(Xt, sample_weight, Xt[:, indices[0]].copy(), closest, closest)
    for c in range(1, indices.shape[0]):
        total = 0.0
        for i in range(n_samples):
            total += sample_weight[i] * closest[i]
            cumulative[i] = total
        best, best_potential = -1, np.inf
        for t in range(n_local_trials):
            index = _draw(cumulative, uniforms[1 + (c - 1) * n_local_trials + t])
            potential = _closer(Xt, sample_weight, Xt[:, index].copy(), closest, candidate[t])
            if potential < best_potential:
                best, best_potential = t, potential
                indices[c] = index
        closest[:] = candidate[best]


@njit(**PARALLEL_JIT)
def lloyd_step(Xt, sample_weight, centres, labels, sums, weights):
    """Assign every sample to its nearest centre and sum the samples per cluster.

    Xt : (D, N); sample_weight : (N,); centres : (K, D); outputs labels : (N,) int64,
    sums : (K, D) ``sum w x`` per cluster, weights : (K,) ``sum w`` per cluster.
    Returns the inertia ``sum w ||x - nearest centre||^2`` (for the input centres).
    Ties go to the lowest cluster index.
    """
    n_features, n_samples = Xt.shape
    n_clusters = centres.shape[0]
    n_c = n_chunks(n_samples)
    p_sums = np.empty((n_c, n_clusters * n_features))
    p_weights = np.empty((n_c, n_clusters))
    p_inertia = np.empty(n_c)
    for c in prange(n_c):
        start = c * CHUNK
        m = min(n_samples, start + CHUNK) - start
        d2 = np.empty(m)
        best_d2 = np.full(m, np.inf)
        best = np.zeros(m, dtype=np.int64)
        for k in range(n_clusters):
            _chunk_squared_distances(Xt, start, centres[k], d2)
            for s in range(m):
                closer = d2[s] < best_d2[s]
                best_d2[s] = d2[s] if closer else best_d2[s]
                best[s] = k if closer else best[s]
        w = sample_weight[start : start + m]
        labels[start : start + m] = best
        acc = 0.0
        for s in range(m):
            acc += w[s] * best_d2[s]
        p_inertia[c] = acc
        # per cluster, masked sums over all samples: vectorises, unlike a scatter by label
        member_weight = d2
        for k in range(n_clusters):
            acc = 0.0
            for s in range(m):
                member_weight[s] = w[s] if best[s] == k else 0.0
                acc += member_weight[s]
            p_weights[c, k] = acc
            for j in range(n_features):
                row = Xt[j, start : start + m]
                acc = 0.0
                for s in range(m):
                    acc += member_weight[s] * row[s]
                p_sums[c, k * n_features + j] = acc
    sum_chunks(p_sums, sums.reshape(-1))
    sum_chunks(p_weights, weights)
    return sum_in_order(p_inertia)

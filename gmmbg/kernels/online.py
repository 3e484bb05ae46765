"""Recursive per-pixel Gaussian mixtures (Zivkovic 2004/2006, OpenCV's MOG2), with shadows.

Each pixel keeps up to K modes sorted by weight, each with one variance and a C-channel
mean. State layout, for P pixels:

- ``weights (K, P)``: one plane per mode;
- ``modes``, one float32 buffer of the modes' variances and means: first the *head*,
  ``(1 + C, P)``, the heaviest mode's variance, then its mean channel by channel; then the
  *tail*, ``(P, K - 1, 1 + C)``, the other modes, one ``[variance, mean...]`` record each,
  a pixel's records side by side (``OnlineGMM`` keeps ``head_`` and ``tail_`` as views);
- ``n_modes (P,)`` uint8: modes in use (the weights of unused slots are stale).

Every frame, a pixel whose heaviest mode matches its value, is background, and prunes
nothing (about 85% of the pixels of the highway clip) takes the same arithmetic path:
``_fast_block`` updates these pixels branch-free, one plane per quantity, so that LLVM
vectorises it across pixels; it flags the others, and ``_exact_block`` runs MOG2's
general update (search, new modes, reordering, pruning, shadows) on each of them, in
place. The weights and the heaviest mode are read by every pixel, hence planar; the other
modes are read by few, hence one compact record each.

Arithmetic is float32 in OpenCV's order of operations and the kernels are compiled without
fastmath (fused multiply-adds or reassociation would move thresholds by an ulp), so that the
masks and the state match OpenCV's ``BackgroundSubtractorMOG2`` bit for bit. One departure:
a mode is pruned when its weight falls below ``alpha * complexity_reduction`` (or to 0,
which ``complexity_reduction`` 0 allows: by underflow, or at once when alpha is 1), and a pruned
mode is removed from the pixel's list. MOG2 leaves it in place with weight 0 and drops the
last mode instead, unvisited, which breaks the invariants (modes in use have positive
weights, sorted) and lets a frozen update divide 0 by 0. When the pruned mode is the
lightest, as it nearly always is, both give the same bits. The weights sum to 1 after
every update, except where a new mode replaced the lightest of K (MOG2's rule, kept): they
then sum to ``1 - (1 - alpha) w_lightest`` until the next update renormalises them.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from gmmbg.kernels.config import JIT

# IEEE float32 semantics (see the module docstring); no exception branch on float division
# (every divisor is checked or positive). The other JIT options are shared.
_EXACT = {**JIT, "fastmath": False, "error_model": "numpy"}
_EXACT_PARALLEL = {**_EXACT, "parallel": True}

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FLT_EPSILON = np.float32(np.finfo(np.float32).eps)
# The smallest normal float32: weights below it count as 0 (even where the CPU flushes
# subnormals to zero).
_F_TINY = np.float32(np.finfo(np.float32).tiny)

# Flat offsets are cast to unsigned where they subscript (``w[_u(k * n_pix + p)]``): Numba
# then omits the negative-index wraparound it adds to every signed subscript.
_u = np.uint64

# Pixels per work item handed to a thread, and per fast/exact pass within it (the fast
# pass's data for a block stays in cache for the exact pass).
CHUNK = 4096
BLOCK = 256


@intrinsic
def _fetch_add(typingctx, counter):
    """Atomically add 1 to ``counter[0]`` (int64 array) and return its previous value."""
    sig = types.int64(counter)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, signature.args[0], ary, [context.get_constant(types.intp, 0)]
        )
        return builder.atomic_rmw("add", ptr, ir.Constant(ir.IntType(64), 1), "monotonic")

    return sig, codegen


@intrinsic
def _prefetch(typingctx, array, index):
    """Start loading the cache line of ``array[index]`` (1-D), for writing, and go on
    without waiting for it (``llvm.prefetch``; a load would hold up the core until the data
    arrived)."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # rw 1 (the exact pass writes the tail back), locality 3 (keep it close), data cache.
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", **_EXACT)
def _pick(v0, v1, v2, v3, c):
    """Element ``c`` of ``(v0, v1, v2, v3)``; folds away when ``c`` is a constant."""
    return v0 if c == 0 else (v1 if c == 1 else (v2 if c == 2 else v3))


@njit(inline="always", **_EXACT)
def _clamp(value, low, high):
    """``value`` limited to ``[low, high]``, compared as MOG2 does."""
    value = low if value < low else value
    return high if value > high else value


@njit(inline="always", **_EXACT)
def _record(p, k, n_pix, n_mix, size):
    """Where pixel ``p``'s mode ``k`` is in ``modes``: ``(offset, step)``, its field ``j``
    (0 the variance, 1 + c mean channel c) at ``offset + j * step``; ``size`` is 1 + C.
    The heaviest mode is in the head (one plane per field), the others in the tail."""
    if k == 0:
        return p, n_pix
    return size * n_pix + (p * (n_mix - 1) + k - 1) * size, 1


@njit(**_EXACT)
def _fast_block(
    x, w, head, n_modes, mask, start, stop, channels, modes,
    alpha, prune, keep, tb, big_tb, tg, var_min, var_max,
):  # fmt: skip
    """Update pixels ``start:stop`` whose heaviest mode matches; flag the others.

    Branch-free, so that it vectorises: every pixel is computed, and the new values are
    stored only where the pixel qualifies (its mask set to 0, background); the state of
    the others is stored back unchanged and their mask set to 1 for ``_exact_block``.
    A pixel qualifies when mode 0 matches (squared distance below ``tg`` variances), is
    background, and no weight falls below the pruning threshold: then MOG2's update
    reduces to the arithmetic below, in the same float32 order.
    """
    n_ch = len(channels)
    n_mix = len(modes)
    n_pix = n_modes.size
    alpha1 = _F1 - alpha
    # Mode 0 must both match (tg) and be background (tb, and background_ratio above 0):
    # one comparison, as min(tg, tb) * var == min(tg * var, tb * var) in floating point.
    t_fast = min(tg, tb) if _F0 < big_tb else -_F1
    for p in range(start, stop):
        n = np.int64(n_modes[_u(p)])
        dist2 = _F0
        for c in range(n_ch):
            d = head[_u((1 + c) * n_pix + p)] - np.float32(x[_u(p * n_ch + c)])
            dist2 += d * d
        var = head[_u(p)]
        w0 = alpha1 * w[_u(p)] + prune + alpha
        fast = (n > 0) & (dist2 < t_fast * var) & (w0 >= keep)
        total = w0
        for k in range(1, n_mix):
            wk = alpha1 * w[_u(k * n_pix + p)] + prune
            fast = fast & ((wk >= keep) | (k >= n))
            total += wk if k < n else _F0
        inv = _F1 / total
        rate = alpha / w0
        # "old + 0.0" is old (the state never holds -0.0), but it keeps LLVM from turning
        # these stores into masked stores, which are microcoded and slow on AMD CPUs. The
        # slots beyond n are stale (never read) and may decay with the others.
        for k in range(n_mix):
            old = w[_u(k * n_pix + p)]
            new = (w0 if k == 0 else alpha1 * old + prune) * inv
            w[_u(k * n_pix + p)] = new if fast else old + _F0
        for c in range(n_ch):
            mu = head[_u((1 + c) * n_pix + p)]
            new = mu - rate * (mu - np.float32(x[_u(p * n_ch + c)]))
            head[_u((1 + c) * n_pix + p)] = new if fast else mu + _F0
        var_new = _clamp(var + rate * (dist2 - var), var_min, var_max)
        head[_u(p)] = var_new if fast else var + _F0
        mask[_u(p)] = 0 if fast else 1


@njit(**_EXACT)
def _flagged(todo, modes, mask, start, stop, tail_start, tail_size):
    """Write to ``todo`` the pixels of ``start:stop`` that ``_fast_block`` flagged, prefetch
    their tails, and return how many there are.

    The fast pass never reads the tail, so the exact pass would miss the cache on each
    flagged pixel's tail, one after the other; ``mog2_apply`` calls this one block ahead of
    the block it updates, so that the tails arrive in the meantime. A pixel's tail
    (``tail_size`` floats from ``modes[tail_start + p * tail_size]``) may straddle two cache
    lines: both are fetched.
    """
    n_todo = 0
    for p in range(start, stop):  # branch-free compaction
        todo[_u(n_todo)] = p
        n_todo += np.int64(mask[_u(p)] != 0)
    if tail_size > 0:
        for i in range(n_todo):
            first = tail_start + todo[_u(i)] * tail_size
            _prefetch(modes, first)
            _prefetch(modes, first + tail_size - 1)
    return n_todo


@njit(**_EXACT)
def _exact_block(
    todo, n_todo, x, w, st, n_modes, mask, channels, modes,
    alpha, prune, keep, tb, big_tb, tg, var_init, var_min, var_max, tau, detect_shadows,
    shadow_value,
):  # fmt: skip
    """MOG2's general update for the ``n_todo`` pixels listed in ``todo`` (``_flagged``),
    as OpenCV's ``MOG2Invoker`` does it, in place: a pixel's modes are read where they are
    (``st``, the ``modes`` buffer) and only what changes is written back.

    The walk visits the modes in order, as MOG2 does. Where MOG2 bubbles the matched mode up
    as soon as it learns, this moves it after the walk (and after removing pruned modes),
    with the same comparisons: only the modes before it are compared, and they are final by
    then; pruned modes, which it would pass (weight -1), are gone instead.
    """
    n_ch = len(channels)
    n_mix = len(modes)
    n_pix = n_modes.size
    size = 1 + n_ch
    alpha1 = _F1 - alpha
    for i in range(n_todo):
        p = todo[_u(i)]
        # The pixel's value, read once (C <= 4; the unused ones fold away).
        xo = p * n_ch
        x0 = np.float32(x[_u(xo)])
        x1 = np.float32(x[_u(xo + 1)]) if n_ch > 1 else _F0
        x2 = np.float32(x[_u(xo + 2)]) if n_ch > 2 else _F0
        x3 = np.float32(x[_u(xo + 3)]) if n_ch > 3 else _F0
        nmodes = np.int64(n_modes[_u(p)])

        # Walk the modes until one matches: every weight decays, the matched mode learns.
        # A pruned mode gets weight -1 and is removed after the walk.
        background = False
        matched = -1
        total = _F0
        pruned = 0
        for k in range(nmodes):
            weight = alpha1 * w[_u(k * n_pix + p)] + prune
            if matched < 0:  # the modes after the match only decay (and may be pruned)
                o, step = _record(p, k, n_pix, n_mix, size)
                var = st[_u(o)]
                dist2 = _F0
                for c in range(n_ch):
                    d = st[_u(o + (1 + c) * step)] - _pick(x0, x1, x2, x3, c)
                    dist2 += d * d
                if total < big_tb and dist2 < tb * var:
                    background = True
                if dist2 < tg * var:
                    matched = k
                    weight += alpha
                    # Defensive: 0 / 0 if a frozen model (alpha 0) met a weight of 0, which
                    # the update never leaves in use but a hand-made state could hold.
                    rate = alpha / weight if weight > _F0 else _F0
                    for c in range(n_ch):
                        mu = st[_u(o + (1 + c) * step)]
                        st[_u(o + (1 + c) * step)] = mu - rate * (mu - _pick(x0, x1, x2, x3, c))
                    st[_u(o)] = _clamp(var + rate * (dist2 - var), var_min, var_max)
            if weight < keep:
                weight = -_F1
                pruned += 1
            else:
                total += weight
            w[_u(k * n_pix + p)] = weight
        if pruned:
            kept = 0
            for k in range(nmodes):
                if w[_u(k * n_pix + p)] >= _F0:
                    if kept != k:
                        w[_u(kept * n_pix + p)] = w[_u(k * n_pix + p)]
                        o, step = _record(p, k, n_pix, n_mix, size)
                        to, to_step = _record(p, kept, n_pix, n_mix, size)
                        for j in range(size):
                            st[_u(to + j * to_step)] = st[_u(o + j * step)]
                    matched = kept if k == matched else matched
                    kept += 1
                elif k == matched:
                    matched = -2  # pruned itself: only a frozen model (alpha 0) can do that
            nmodes = kept

        # Which mode moves up, from slot ``src`` to ``dst``: the matched one, compared
        # before normalising (MOG2 bubbles it during the walk), or a new one.
        src = dst = 0
        if matched > 0:
            weight = w[_u(matched * n_pix + p)]
            src = dst = matched
            while dst > 0 and not weight < w[_u((dst - 1) * n_pix + p)]:
                dst -= 1

        # No mode explains the value: add one, or replace the lightest when all are used;
        # the others' weights are scaled by 1 - alpha after normalising. MOG2's rule, kept
        # as is: when the lightest mode is replaced, the weights sum to
        # 1 - (1 - alpha) w_lightest until the next update renormalises them.
        new_mode = matched == -1 and alpha > _F0
        scale = alpha1 if new_mode else _F1
        inv = _F1 / total if total > _F0 else _F0
        for k in range(nmodes):
            w[_u(k * n_pix + p)] = w[_u(k * n_pix + p)] * inv * scale
        if new_mode:
            slot = n_mix - 1 if nmodes == n_mix else nmodes
            nmodes = max(nmodes, slot + 1)
            weight = _F1 if nmodes == 1 else alpha
            w[_u(slot * n_pix + p)] = weight
            o, step = _record(p, slot, n_pix, n_mix, size)
            st[_u(o)] = var_init
            for c in range(n_ch):
                st[_u(o + (1 + c) * step)] = _pick(x0, x1, x2, x3, c)
            src = dst = slot
            while dst > 0 and not weight < w[_u((dst - 1) * n_pix + p)]:
                dst -= 1

        if dst < src:  # the modes dst:src move down one slot
            weight = w[_u(src * n_pix + p)]
            o, step = _record(p, src, n_pix, n_mix, size)
            f0 = st[_u(o)]
            f1 = st[_u(o + step)] if size > 1 else _F0
            f2 = st[_u(o + 2 * step)] if size > 2 else _F0
            f3 = st[_u(o + 3 * step)] if size > 3 else _F0
            f4 = st[_u(o + 4 * step)] if size > 4 else _F0
            for k in range(src, dst, -1):
                w[_u(k * n_pix + p)] = w[_u((k - 1) * n_pix + p)]
                o, step = _record(p, k - 1, n_pix, n_mix, size)
                to, to_step = _record(p, k, n_pix, n_mix, size)
                for j in range(size):
                    st[_u(to + j * to_step)] = st[_u(o + j * step)]
            w[_u(dst * n_pix + p)] = weight
            to, to_step = _record(p, dst, n_pix, n_mix, size)
            for j in range(size):
                st[_u(to + j * to_step)] = f0 if j == 0 else _pick(f1, f2, f3, f4, j - 1)

        value = 255
        if background:
            value = 0
        elif detect_shadows:
            # Prati's test: is the value a darker copy of one of the background modes?
            t_weight = _F0
            for k in range(nmodes):
                o, step = _record(p, k, n_pix, n_mix, size)
                num = _F0
                den = _F0
                for c in range(n_ch):
                    mu = st[_u(o + (1 + c) * step)]
                    num += _pick(x0, x1, x2, x3, c) * mu
                    den += mu * mu
                if den == _F0:
                    break
                if num <= den and num >= tau * den:
                    a = num / den
                    dist2a = _F0
                    for c in range(n_ch):
                        d = a * st[_u(o + (1 + c) * step)] - _pick(x0, x1, x2, x3, c)
                        dist2a += d * d
                    if dist2a < tb * st[_u(o)] * a * a:
                        value = shadow_value
                        break
                t_weight += w[_u(k * n_pix + p)]
                if t_weight > big_tb:
                    break
        n_modes[_u(p)] = nmodes
        mask[_u(p)] = value


@njit(**_EXACT_PARALLEL)
def mog2_apply(
    frame, weights, modes_buffer, n_modes, mask, channels, modes,
    alpha, prune, var_threshold, background_ratio, var_threshold_gen,
    var_init, var_min, var_max, shadow_threshold, detect_shadows, shadow_value,
    todo_lists, next_chunk, n_threads,
):  # fmt: skip
    """Update every pixel's mixture with one frame and write its foreground mask.

    Parameters
    ----------
    frame : (P, C) C-contiguous uint8 or float32 array, on the 0-255 scale.
    weights : (K, P) float32; modes_buffer : ((1 + C) * P * K,) float32, the head then the
        tail; n_modes : (P,) uint8. The state (module docstring), updated in place.
    mask : (P,) uint8 array, output: 0 background, ``shadow_value`` shadow, 255 foreground.
    channels, modes : tuples of C and K zeros, ``(0,) * C`` and ``(0,) * K``: their
        lengths are known when Numba compiles, so that the loops over channels and modes
        unroll (one kernel per C and K).
    alpha, prune : float32 learning rate and ``-alpha * complexity_reduction``.
    var_threshold, background_ratio, var_threshold_gen, var_init, var_min, var_max,
    shadow_threshold : float32, MOG2's Tb, TB, Tg, initial and limit variances, tau.
    detect_shadows : bool. shadow_value : uint8.
    todo_lists : (T, 2, BLOCK) int64, next_chunk : (1,) int64: scratch space, allocated
        once by the caller (T >= n_threads).
    n_threads : int, ``numba.get_num_threads()`` (one worker per thread).
    """
    n_pix = frame.shape[0]
    x = frame.reshape(-1)
    w = weights.reshape(-1)
    st = modes_buffer
    n_chunks = (n_pix + CHUNK - 1) // CHUNK
    # Chunks are handed out dynamically: each thread takes the next one from a shared
    # counter, so a thread slowed down by costlier pixels (moving regions need the exact
    # pass) or by the OS never leaves the other waiting. Pixels are independent, so the
    # result does not depend on which thread updates which chunk.
    next_chunk[0] = 0
    # Weights below this are pruned: alpha * ct, or anything not positive when that is 0.
    keep = -prune if prune < _F0 else _F_TINY
    tail_start = (1 + len(channels)) * n_pix
    tail_size = (len(modes) - 1) * (1 + len(channels))
    for thread in prange(n_threads):
        chunk = _fetch_add(next_chunk)
        while chunk < n_chunks:
            end = min(n_pix, (chunk + 1) * CHUNK)
            # Software pipeline: block j's fast pass and flagging (which starts loading the
            # flagged pixels' tails), then block j - 1's exact pass, whose tails have arrived.
            n_blocks = (end - chunk * CHUNK + BLOCK - 1) // BLOCK
            n_todo = 0
            for j in range(n_blocks + 1):
                waiting, n_waiting = todo_lists[thread, (j + 1) % 2], n_todo
                if j < n_blocks:
                    start = chunk * CHUNK + j * BLOCK
                    stop = min(end, start + BLOCK)
                    _fast_block(
                        x, w, st, n_modes, mask, start, stop, channels, modes,
                        alpha, prune, keep, var_threshold, background_ratio, var_threshold_gen,
                        var_min, var_max,
                    )  # fmt: skip
                    n_todo = _flagged(
                        todo_lists[thread, j % 2], st, mask, start, stop, tail_start, tail_size
                    )
                if j > 0:
                    _exact_block(
                        waiting, n_waiting, x, w, st, n_modes, mask, channels, modes,
                        alpha, prune, keep, var_threshold, background_ratio, var_threshold_gen,
                        var_init, var_min, var_max, shadow_threshold, detect_shadows, shadow_value,
                    )  # fmt: skip
            chunk = _fetch_add(next_chunk)


@njit(**_EXACT_PARALLEL)
def mog2_background(weights, head, tail, n_modes, background_ratio, out):
    """Per pixel, the weight-averaged mean of the first modes up to the one whose running
    weight passes ``background_ratio`` (OpenCV's getBackgroundImage, before rounding).

    weights : (K, P) float32; head : (1 + C, P) float32; tail : (P, K - 1, 1 + C) float32;
    n_modes : (P,) uint8; background_ratio : float32; out : (P, C) float32, written.
    """
    n_pix, n_ch = out.shape
    for p in prange(n_pix):
        for c in range(n_ch):
            out[p, c] = _F0
        total = _F0
        for k in range(np.int64(n_modes[p])):
            wk = weights[k, p]
            for c in range(n_ch):
                out[p, c] += wk * (head[1 + c, p] if k == 0 else tail[p, k - 1, 1 + c])
            total += wk
            if total > background_ratio:
                break
        inv = _F1 / total if abs(total) > _FLT_EPSILON else _F0
        for c in range(n_ch):
            out[p, c] *= inv

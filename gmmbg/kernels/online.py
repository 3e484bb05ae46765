"""Recursive per-pixel Gaussian mixtures (Zivkovic 2004/2006, OpenCV's MOG2), with shadows.

State layout, "mode-major": one float32 array ``state (K, P, 2 + C)`` for P pixels and at
most K modes per pixel, where ``state[k, p] = [weight, variance, mean_0 .. mean_{C-1}]``,
and ``n_modes (P,)`` uint8, the modes in use per pixel (sorted by decreasing weight).
Each mode is a plane over the pixels and each (mode, pixel) record is contiguous, so a
pixel whose first mode matches (the common case) reads and writes one 4(2 + C)-byte record
plus the weights of its other modes: the variances and means of those are never touched,
and the memory traffic per frame is a fraction of the whole state's. The kernels index the
state flat, with offsets stepped by hand, which keeps the hot loop free of stride
arithmetic.

Arithmetic is float32 in OpenCV's order of operations, and the kernels are compiled
without fastmath: fused multiply-adds or reassociation would move thresholds by an ulp,
and the masks are meant to match MOG2's pixel for pixel.
"""

import numpy as np
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

# Flat offsets are cast to unsigned where they subscript (``st[_u(o + MEAN)]``): Numba then
# omits the negative-index wraparound it adds to every signed subscript (~15% of the time).
_u = np.uint64

# Offsets of a record's fields.
WEIGHT, VARIANCE, MEAN = 0, 1, 2

# Pixels per parallel work item: large enough to amortise scheduling, small enough that
# two threads share a 320x240 frame evenly.
CHUNK = 2048


@intrinsic
def _fetch_add(typingctx, counter):
    """Atomically add 1 to ``counter[0]`` (int64 array) and return its previous value."""
    sig = types.int64(counter)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, signature.args[0], ary, [context.get_constant(types.intp, 0)]
        )
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", ptr, one, "monotonic")

    return sig, codegen


@njit(inline="always", **_EXACT)
def _swap_records(st, a, b, size):
    """Exchange the ``size``-float records at flat offsets ``a`` and ``b``."""
    for j in range(size):
        st[_u(a + j)], st[_u(b + j)] = st[_u(b + j)], st[_u(a + j)]


@njit(inline="always", **_EXACT)
def _is_shadow(x, xo, st, base, plane, nmodes, n_ch, tb, big_tb, tau):
    """Prati's test: is the pixel a darker copy of one of its background modes?

    ``x[xo:xo + n_ch]`` is its value, ``st[base + k * plane]`` its k-th record.
    """
    t_weight = _F0
    o = base
    for _ in range(nmodes):
        num = _F0
        den = _F0
        for c in range(n_ch):
            mu = st[_u(o + MEAN + c)]
            num += np.float32(x[_u(xo + c)]) * mu
            den += mu * mu
        if den == _F0:
            return False
        if num <= den and num >= tau * den:
            a = num / den
            dist2a = _F0
            for c in range(n_ch):
                d = a * st[_u(o + MEAN + c)] - np.float32(x[_u(xo + c)])
                dist2a += d * d
            if dist2a < tb * st[_u(o + VARIANCE)] * a * a:
                return True
        t_weight += st[_u(o + WEIGHT)]
        if t_weight > big_tb:
            return False
        o += plane
    return False


@njit(inline="always", **_EXACT)
def _update_pixel(
    x, xo, st, base, plane, nmodes, n_mix, n_ch,
    alpha, prune, tb, big_tb, tg, var_init, var_min, var_max,
):  # fmt: skip
    """Update one pixel's mixture with its value ``x[xo:xo + n_ch]``.

    ``st[base + k * plane]`` is the pixel's k-th record and ``nmodes`` the modes in use.
    ``n_ch`` is passed as a constant where it is known, so that the channel loops unroll.
    Returns ``(background, new nmodes)``.
    """
    size = MEAN + n_ch
    alpha1 = _F1 - alpha
    background = False
    fits = False
    total = _F0
    mode = 0
    o = base
    # Walk the modes until one matches. OpenCV decrements nmodes inside this loop when it
    # prunes a mode, which also shortens the loop (the last mode is then neither updated nor
    # renormalised); reproduced as is.
    while mode < nmodes:
        weight = alpha1 * st[_u(o + WEIGHT)] + prune
        var = st[_u(o + VARIANCE)]
        dist2 = _F0
        for c in range(n_ch):
            d = st[_u(o + MEAN + c)] - np.float32(x[_u(xo + c)])
            dist2 += d * d
        if total < big_tb and dist2 < tb * var:
            background = True
        q = o
        if dist2 < tg * var:
            fits = True
            weight += alpha
            k = alpha / weight
            for c in range(n_ch):
                mu = st[_u(o + MEAN + c)]
                st[_u(o + MEAN + c)] = mu - k * (mu - np.float32(x[_u(xo + c)]))
            var_new = var + k * (dist2 - var)
            var_new = var_min if var_new < var_min else var_new
            var_new = var_max if var_new > var_max else var_new
            st[_u(o + VARIANCE)] = var_new
            # Only the matched mode got heavier: bubble it up past lighter ones.
            while q > base and not weight < st[_u(q - plane + WEIGHT)]:
                _swap_records(st, q, q - plane, size)
                q -= plane
        if weight < -prune:
            weight = _F0
            nmodes -= 1
        st[_u(q + WEIGHT)] = weight
        total += weight
        mode += 1
        o += plane
        if fits:
            break
    # The modes after the match only decay (and may be pruned).
    while mode < nmodes:
        weight = alpha1 * st[_u(o + WEIGHT)] + prune
        if weight < -prune:
            weight = _F0
            nmodes -= 1
        st[_u(o + WEIGHT)] = weight
        total += weight
        mode += 1
        o += plane

    inv = _F1 / total if abs(total) > _FLT_EPSILON else _F0
    o = base
    for _ in range(nmodes):
        st[_u(o + WEIGHT)] *= inv
        o += plane

    if not fits and alpha > _F0:
        # No mode explains the value: add one, or replace the lightest when all are used.
        if nmodes == n_mix:
            o = base + (n_mix - 1) * plane
        else:
            o = base + nmodes * plane
            nmodes += 1
        if nmodes == 1:
            st[_u(o + WEIGHT)] = _F1
        else:
            st[_u(o + WEIGHT)] = alpha
            q = base
            for _ in range(nmodes - 1):
                st[_u(q + WEIGHT)] *= alpha1
                q += plane
        for c in range(n_ch):
            st[_u(o + MEAN + c)] = np.float32(x[_u(xo + c)])
        st[_u(o + VARIANCE)] = var_init
        while o > base and not alpha < st[_u(o - plane + WEIGHT)]:
            _swap_records(st, o, o - plane, size)
            o -= plane

    return background, nmodes


@njit(**_EXACT)
def _update_range(
    x, st, n_modes, mask, start, stop, channels, n_mix,
    alpha, prune, tb, big_tb, tg, var_init, var_min, var_max, tau, detect_shadows, shadow_value,
):  # fmt: skip
    """Update pixels ``start:stop`` and write their mask values.

    ``channels`` is a tuple of C zeros: its length is known when Numba compiles, so each
    channel count gets its own body, where the channel loops unroll and the record offsets
    fold (about 1.6x faster than a count known only at run time).
    """
    n_ch = len(channels)
    size = MEAN + n_ch
    plane = n_modes.size * size
    for p in range(start, stop):
        base = p * size
        xo = p * n_ch
        background, nmodes = _update_pixel(
            x, xo, st, base, plane, np.int64(n_modes[p]), n_mix, n_ch,
            alpha, prune, tb, big_tb, tg, var_init, var_min, var_max,
        )  # fmt: skip
        n_modes[p] = nmodes
        if background:
            mask[p] = 0
        elif detect_shadows and _is_shadow(
            x, xo, st, base, plane, nmodes, n_ch, tb, big_tb, tau
        ):  # fmt: skip
            mask[p] = shadow_value
        else:
            mask[p] = 255


@njit(**_EXACT_PARALLEL)
def mog2_apply(
    frame, state, n_modes, mask, channels,
    alpha, prune, var_threshold, background_ratio, var_threshold_gen,
    var_init, var_min, var_max, shadow_threshold, detect_shadows, shadow_value, n_threads,
):  # fmt: skip
    """Update every pixel's mixture with one frame and write its foreground mask.

    Parameters
    ----------
    frame : (P, C) C-contiguous uint8, float32 or float64 array, on the 0-255 scale.
    state : (K, P, 2 + C) C-contiguous float32 array, updated in place (module docstring).
    n_modes : (P,) uint8 array, modes in use per pixel, updated in place.
    mask : (P,) uint8 array, output: 0 background, ``shadow_value`` shadow, 255 foreground.
    channels : tuple of C zeros, ``(0,) * C``: one kernel is compiled per channel count.
    alpha, prune : float32 learning rate and ``-alpha * complexity_reduction``.
    var_threshold, background_ratio, var_threshold_gen, var_init, var_min, var_max,
    shadow_threshold : float32, MOG2's Tb, TB, Tg, initial and limit variances, tau.
    detect_shadows : bool. shadow_value : uint8.
    n_threads : int, ``numba.get_num_threads()`` (one worker per thread).
    """
    n_pix = frame.shape[0]
    n_mix = state.shape[0]
    x = frame.reshape(-1)
    st = state.reshape(-1)
    n_chunks = (n_pix + CHUNK - 1) // CHUNK
    # Chunks are handed out dynamically: each thread takes the next one from a shared
    # counter, so a thread slowed down by costlier pixels (moving regions need more modes)
    # or by the OS never leaves the other waiting. Pixels are independent, so the result
    # does not depend on which thread updates which chunk.
    next_chunk = np.zeros(1, np.int64)
    for _ in prange(n_threads):
        chunk = _fetch_add(next_chunk)
        while chunk < n_chunks:
            start = chunk * CHUNK
            stop = min(n_pix, start + CHUNK)
            _update_range(
                x, st, n_modes, mask, start, stop, channels, n_mix,
                alpha, prune, var_threshold, background_ratio, var_threshold_gen,
                var_init, var_min, var_max, shadow_threshold, detect_shadows, shadow_value,
            )  # fmt: skip
            chunk = _fetch_add(next_chunk)


@njit(**_EXACT_PARALLEL)
def mog2_background(state, n_modes, background_ratio, out):
    """Per pixel, the weight-averaged mean of the first modes up to the one whose running
    weight passes ``background_ratio`` (OpenCV's getBackgroundImage, before rounding).

    state : (K, P, 2 + C) float32; n_modes : (P,) uint8; background_ratio : float32;
    out : (P, C) float32, written.
    """
    n_pix = n_modes.shape[0]
    n_ch = out.shape[1]
    n_chunks = (n_pix + CHUNK - 1) // CHUNK
    for chunk in prange(n_chunks):
        for p in range(chunk * CHUNK, min(n_pix, (chunk + 1) * CHUNK)):
            for c in range(n_ch):
                out[p, c] = _F0
            total = _F0
            for m in range(np.int64(n_modes[p])):
                w = state[m, p, WEIGHT]
                for c in range(n_ch):
                    out[p, c] += w * state[m, p, MEAN + c]
                total += w
                if total > background_ratio:
                    break
            inv = _F1 / total if abs(total) > _FLT_EPSILON else _F0
            for c in range(n_ch):
                out[p, c] *= inv

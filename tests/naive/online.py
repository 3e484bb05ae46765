"""Plain NumPy reference of the recursive per-pixel mixture update (OpenCV's MOG2).

A literal, pixel-by-pixel transcription of Zivkovic's update as OpenCV's
``bgfg_gaussmix2.cpp`` performs it, in float32 scalars: each pixel's modes are a list of
``[weight, variance]`` pairs plus a ``(K, C)`` block of means, swapped together exactly as
the C++ swaps its ``GMM`` structs, with the one departure ``gmmbg.kernels.online``
documents: a pruned mode is removed from the list. Slow on purpose; the kernels are tested
against it.

State arrays are indexed per pixel: ``weights[p, k]``, ``variances[p, k]``,
``means[p, k, c]``, ``n_modes[p]`` (any strides, so transposed views work).
"""

from __future__ import annotations

import numpy as np

f32 = np.float32
FLT_EPSILON = f32(np.finfo(np.float32).eps)


def _shadow(x, w, var, mean, nmodes, tb, big_tb, tau) -> bool:
    """Prati's test: is ``x`` a darker copy of one of the background modes?"""
    t_weight = f32(0)
    for m in range(nmodes):
        num = f32(0)
        den = f32(0)
        for c in range(x.size):
            num += x[c] * mean[m, c]
            den += mean[m, c] * mean[m, c]
        if den == 0:
            return False
        if num <= den and num >= tau * den:
            a = num / den
            dist2a = f32(0)
            for c in range(x.size):
                d = a * mean[m, c] - x[c]
                dist2a += d * d
            if dist2a < tb * var[m] * a * a:
                return True
        t_weight += w[m]
        if t_weight > big_tb:
            return False
    return False


def _swap(w, var, mean, i, j):
    w[i], w[j] = w[j], w[i]
    var[i], var[j] = var[j], var[i]
    mean[[i, j]] = mean[[j, i]]


def update_pixel(x, w, var, mean, nmodes, p):
    """One pixel's update, in place on its ``w (K,)``, ``var (K,)``, ``mean (K, C)``.

    ``x`` is the pixel's float32 value ``(C,)``, ``p`` the parameters (see ``update``).
    Returns ``(new number of modes, mask value)``.
    """
    alpha, alpha1, prune = p["alpha"], f32(1) - p["alpha"], p["prune"]
    n_mix = w.size
    # Weights below this are pruned; a weight of 0 always is.
    keep = -prune if prune < 0 else f32(np.finfo(np.float32).tiny)
    background = False
    fits = False
    total = f32(0)
    mode = 0
    while mode < nmodes:
        weight = alpha1 * w[mode] + prune
        swaps = 0
        if not fits:
            v = var[mode]
            d = mean[mode] - x
            dist2 = f32(0)
            for c in range(x.size):
                dist2 += d[c] * d[c]
            if total < p["TB"] and dist2 < p["Tb"] * v:
                background = True
            if dist2 < p["Tg"] * v:
                fits = True
                weight += alpha
                k = alpha / weight if weight > 0 else f32(0)
                for c in range(x.size):
                    mean[mode, c] -= k * d[c]
                v_new = v + k * (dist2 - v)
                v_new = p["var_min"] if v_new < p["var_min"] else v_new
                v_new = p["var_max"] if v_new > p["var_max"] else v_new
                var[mode] = v_new
                for i in range(mode, 0, -1):
                    if weight < w[i - 1]:
                        break
                    swaps += 1
                    _swap(w, var, mean, i, i - 1)
        if weight < keep:
            weight = f32(-1)  # pruned: marked, removed after the walk
        else:
            total += weight
        w[mode - swaps] = weight
        mode += 1
    kept = [m for m in range(nmodes) if w[m] >= 0]
    for new, old in enumerate(kept):
        w[new], var[new], mean[new] = w[old], var[old], mean[old]
    nmodes = len(kept)

    inv = f32(1) / total if total > 0 else f32(0)
    for m in range(nmodes):
        w[m] *= inv

    if not fits and alpha > 0:
        if nmodes == n_mix:
            mode = n_mix - 1
        else:
            mode = nmodes
            nmodes += 1
        if nmodes == 1:
            w[mode] = f32(1)
        else:
            w[mode] = alpha
            for i in range(nmodes - 1):
                w[i] *= alpha1
        mean[mode] = x
        var[mode] = p["var_init"]
        for i in range(nmodes - 1, 0, -1):
            if alpha < w[i - 1]:
                break
            _swap(w, var, mean, i, i - 1)

    if background:
        value = 0
    elif p["detect_shadows"] and _shadow(x, w, var, mean, nmodes, p["Tb"], p["TB"], p["tau"]):
        value = p["shadow_value"]
    else:
        value = 255
    return nmodes, value


def update(frame, weights, variances, means, n_modes, params):
    """Update every pixel with one frame and return its mask.

    ``frame (P, C)`` any dtype (converted to float32 like OpenCV's ``convertTo``);
    ``weights (P, K)``, ``variances (P, K)``, ``means (P, K, C)`` float32 and
    ``n_modes (P,)`` uint8 are updated in place. ``params``: float32 ``alpha``, ``prune``,
    ``Tb``, ``TB``, ``Tg``, ``var_init``, ``var_min``, ``var_max``, ``tau``; bool
    ``detect_shadows``; int ``shadow_value``. Returns the uint8 mask ``(P,)``.
    """
    mask = np.empty(frame.shape[0], np.uint8)
    for p in range(frame.shape[0]):
        x = frame[p].astype(np.float32)
        w, var, mean = weights[p].copy(), variances[p].copy(), means[p].copy()
        n, mask[p] = update_pixel(x, w, var, mean, int(n_modes[p]), params)
        weights[p], variances[p], means[p], n_modes[p] = w, var, mean, n
    return mask


def background(weights, means, n_modes, background_ratio):
    """Weight-averaged mean of each pixel's first modes up to the one passing the ratio.

    Returns float32 ``(P, C)`` (before OpenCV's rounding to the frame type).
    """
    n_pix, _, n_ch = means.shape
    out = np.zeros((n_pix, n_ch), np.float32)
    for p in range(n_pix):
        acc = np.zeros(n_ch, np.float32)
        total = f32(0)
        for m in range(int(n_modes[p])):
            acc += weights[p, m] * means[p, m]
            total += weights[p, m]
            if total > background_ratio:
                break
        inv = f32(1) / total if abs(total) > FLT_EPSILON else f32(0)
        out[p] = acc * inv
    return out


class NaiveMOG2:
    """OpenCV's ``apply`` housekeeping around ``update``: re-init and the rate ramp."""

    def __init__(
        self,
        history=500,
        n_components=5,
        var_threshold=16.0,
        var_threshold_gen=9.0,
        background_ratio=0.9,
        var_init=15.0,
        var_min=4.0,
        var_max=75.0,
        complexity_reduction=0.05,
        detect_shadows=True,
        shadow_value=127,
        shadow_threshold=0.5,
    ):
        self.history = history
        self.k = n_components
        self.ct = float(f32(complexity_reduction))
        self.params = {
            "Tb": f32(var_threshold),
            "TB": f32(background_ratio),
            "Tg": f32(var_threshold_gen),
            "var_init": f32(var_init),
            "var_min": f32(min(var_min, var_max)),
            "var_max": f32(max(var_min, var_max)),
            "tau": f32(shadow_threshold),
            "detect_shadows": detect_shadows,
            "shadow_value": shadow_value,
        }
        self.key = None
        self.n_frames = 0

    def apply(self, frame, learning_rate=-1.0):
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = frame[:, :, None]
        h, w, c = frame.shape
        key = (frame.shape, frame.dtype)
        if self.n_frames == 0 or learning_rate >= 1 or key != self.key:
            self.key = key
            self.n_frames = 0
            self.weights = np.zeros((h * w, self.k), np.float32)
            self.variances = np.zeros((h * w, self.k), np.float32)
            self.means = np.zeros((h * w, self.k, c), np.float32)
            self.n_modes = np.zeros(h * w, np.uint8)
        self.n_frames += 1
        if not (learning_rate >= 0 and self.n_frames > 1):
            learning_rate = 1.0 / min(2 * self.n_frames, self.history)
        params = dict(self.params, alpha=f32(learning_rate), prune=f32(-learning_rate * self.ct))
        mask = update(
            frame.reshape(h * w, c), self.weights, self.variances, self.means, self.n_modes, params
        )
        return mask.reshape(h, w)

    def background(self):
        h, w, c = self.key[0]
        return background(self.weights, self.means, self.n_modes, self.params["TB"]).reshape(
            h, w, c
        )

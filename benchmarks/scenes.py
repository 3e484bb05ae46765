"""Generated clips for the benchmarks when ../shared/media is absent (a user's clone)."""

from __future__ import annotations

import numpy as np


def moving_blocks(n_frames: int) -> list[np.ndarray]:
    """``n_frames`` uint8 RGB frames ``(240, 320, 3)``: a noisy gradient crossed by four
    blocks at different speeds (deterministic)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:240, :320]
    scene = np.stack([xx * 0.6 + 40, yy * 0.7 + 30, (xx + yy) * 0.3 + 50], axis=2)
    frames = []
    for t in range(n_frames):
        frame = scene + rng.normal(0, 3, scene.shape)
        for k in range(4):  # blocks crossing the scene at different speeds
            x = (t * (3 + k) + 70 * k) % 300
            frame[40 + 45 * k : 75 + 45 * k, x : x + 30] = (200 - 40 * k, 60 + 30 * k, 90)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames

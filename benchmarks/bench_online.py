"""Frames per second of OnlineGMM.apply against OpenCV MOG2's apply, same parameters.

Frames are decoded and resized before timing (cdnet-highway from ../shared/media, or a
generated scene of moving blocks when it is absent), and both models get the same arrays.
For each size and shadow setting, every round builds both models afresh, warms them up on
the first frames (untimed; this also compiles the kernel) and times the next ones; the
rounds alternate between the two so that both see the same machine load. Both use all the
cores they are given: Numba's default thread count and OpenCV's (``cv2.setNumThreads``
default). The best round of each is reported, with the median in brackets.

    python benchmarks/bench_online.py [--rounds 3] [--frames 200] [--warmup 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numba
import numpy as np
from scenes import moving_blocks  # benchmarks/ is on the path when run as a script

from gmmbg.background.online import OnlineGMM

SIZES = ((320, 240), (640, 480), (1280, 720))
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "cdnet-highway"


def source_frames(n: int) -> tuple[list[np.ndarray], str]:
    """``n`` RGB frames: the highway clip, or a generated scene when the media are absent."""
    files = sorted((MEDIA / "input").glob("in*.jpg"))[:n]
    if len(files) == n:
        return [cv2.imread(str(f))[:, :, ::-1] for f in files], "cdnet-highway"
    return moving_blocks(n), "generated moving blocks"


def run(model, frames, apply) -> float:
    start = time.perf_counter()
    for frame in frames:
        apply(model, frame)
    return len(frames) / (time.perf_counter() - start)


def bench(frames: list[np.ndarray], warmup: int, rounds: int, shadows: bool) -> dict:
    """Best and median fps of each implementation over ``rounds`` alternating rounds."""
    height, width = frames[0].shape[:2]
    out = np.empty((height, width), np.uint8)
    fps = {"gmmbg": [], "opencv": []}
    for _ in range(rounds):
        ours = OnlineGMM(detect_shadows=shadows)
        theirs = cv2.createBackgroundSubtractorMOG2(500, 16, shadows)
        for frame in frames[:warmup]:
            ours.apply(frame, out=out)
            theirs.apply(frame, out)
        fps["gmmbg"].append(run(ours, frames[warmup:], lambda m, f: m.apply(f, out=out)))
        fps["opencv"].append(run(theirs, frames[warmup:], lambda m, f: m.apply(f, out)))
    return {name: (max(v), statistics.median(v)) for name, v in fps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=200, help="timed frames per round")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    base, name = source_frames(args.warmup + args.frames)
    print(f"frames: {name}, {args.warmup} warm-up + {args.frames} timed, best of {args.rounds}")
    print(
        f"threads: numba {numba.get_num_threads()}, opencv {cv2.getNumThreads()}, "
        f"cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'size':>10} {'shadows':>8} {'gmmbg fps':>16} {'opencv fps':>16} {'ratio':>6}")
    for width, height in SIZES:
        frames = [
            np.ascontiguousarray(cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR))
            for f in base
        ]
        for shadows in (True, False):
            result = bench(frames, args.warmup, args.rounds, shadows)
            (ours, ours_med), (theirs, theirs_med) = result["gmmbg"], result["opencv"]
            print(
                f"{width:>4}x{height:<5} {'on' if shadows else 'off':>8} "
                f"{ours:>7.0f} ({ours_med:>5.0f}) {theirs:>7.0f} ({theirs_med:>5.0f}) "
                f"{ours / theirs:>6.2f}",
                flush=True,
            )
    print(
        f"numba threading layer {numba.threading_layer()}; "
        f"load average after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()

"""Frames per second of OnlineGMM.apply against OpenCV MOG2's apply, same parameters.

Frames are decoded and resized before timing (cdnet-highway from ../shared/media, or a
generated scene of moving blocks when it is absent), and both models get the same arrays.
For each size and shadow setting, every round builds both models afresh, warms them up on
the first frames (untimed; this also compiles the kernel) and times the next ones. Within
a round the two take turns every ``--segment`` frames (who goes first alternates), so that
both see the same machine load: on a shared machine the load changes within seconds, and
whole rounds one after the other gave either side a quiet or a busy second by chance. Both
use all the cores they are given: Numba's default thread count and OpenCV's
(``cv2.setNumThreads`` default). Each round gives each side's fps over all its timed
frames; the best round of each is reported, with the median in brackets, and the ratio of
the bests with the median of the rounds' ratios in brackets.

    python benchmarks/bench_online.py [--rounds 5] [--frames 200] [--warmup 50] [--segment 20]
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


def bench(frames: list[np.ndarray], warmup: int, rounds: int, segment: int, shadows: bool):
    """Per round, the fps of each implementation, taking turns every ``segment`` frames."""
    height, width = frames[0].shape[:2]
    out = np.empty((height, width), np.uint8)
    fps = {"gmmbg": [], "opencv": []}
    for _ in range(rounds):
        models = {
            "gmmbg": (OnlineGMM(detect_shadows=shadows), lambda m, f: m.apply(f, out=out)),
            "opencv": (
                cv2.createBackgroundSubtractorMOG2(500, 16, shadows),
                lambda m, f: m.apply(f, out),
            ),
        }
        for model, apply in models.values():
            for frame in frames[:warmup]:
                apply(model, frame)
        seconds = dict.fromkeys(models, 0.0)
        timed = frames[warmup:]
        for turn, start in enumerate(range(0, len(timed), segment)):
            order = list(models) if turn % 2 == 0 else list(models)[::-1]
            for name in order:
                model, apply = models[name]
                begin = time.perf_counter()
                for frame in timed[start : start + segment]:
                    apply(model, frame)
                seconds[name] += time.perf_counter() - begin
        for name in models:
            fps[name].append(len(timed) / seconds[name])
    return fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=200, help="timed frames per round")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--segment", type=int, default=20, help="frames per turn")
    args = parser.parse_args()

    base, name = source_frames(args.warmup + args.frames)
    print(
        f"frames: {name}, {args.warmup} warm-up + {args.frames} timed in turns of "
        f"{args.segment}, best of {args.rounds} rounds"
    )
    print(
        f"threads: numba {numba.get_num_threads()}, opencv {cv2.getNumThreads()}, "
        f"cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'size':>10} {'shadows':>8} {'gmmbg fps':>16} {'opencv fps':>16} {'ratio':>14}")
    for width, height in SIZES:
        frames = [
            np.ascontiguousarray(cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR))
            for f in base
        ]
        for shadows in (True, False):
            fps = bench(frames, args.warmup, args.rounds, args.segment, shadows)
            ours, theirs = fps["gmmbg"], fps["opencv"]
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            print(
                f"{width:>4}x{height:<5} {'on' if shadows else 'off':>8} "
                f"{max(ours):>7.0f} ({statistics.median(ours):>5.0f}) "
                f"{max(theirs):>7.0f} ({statistics.median(theirs):>5.0f}) "
                f"{max(ours) / max(theirs):>6.2f} ({statistics.median(ratios):>4.2f})",
                flush=True,
            )
    print(
        f"numba threading layer {numba.threading_layer()}; "
        f"load average after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()

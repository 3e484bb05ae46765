"""Many videos at once: wall time of one `gmmbg` command over a folder of videos, in this
process (the default), on a LocalCluster of 1 worker process and of 2, and the speed-up.

The videos are generated: ``--videos`` MP4 clips (H.264) of 320x240 with ``--frames`` frames
each, a noisy textured scene with blocks crossing it, a different one per clip. Each run is
the real command line in a fresh process (``python -m gmmbg subtract FOLDER -o OUT --json``),
so the times include what a user waits for: starting the cluster, the workers importing gmmbg
and loading Numba's cached kernels, and shutting down. With N workers each has 1 task thread
and cores/N Numba threads (``gmmbg.distributed``), so 1 worker has the machine's cores for
Numba and 2 workers have half each. The masks of every run are checked to be byte-identical.

    python benchmarks/bench_many.py [--videos 8] [--frames 100] [--method gmm] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

RUNS = {"in this process": [], "1 worker": ["--workers", "1"], "2 workers": ["--workers", "2"]}


def make_videos(folder: Path, count: int, frames: int) -> list[Path]:
    """``count`` 320x240 MP4 clips of ``frames`` frames each."""
    yy, xx = np.mgrid[:240, :320]
    paths = []
    for number in range(count):
        rng = np.random.default_rng(number)
        tilt = rng.uniform(0.2, 0.8, 3)
        scene = np.stack([xx * tilt[0] + 40, yy * tilt[1] + 30, (xx + yy) * tilt[2] / 2 + 50], 2)
        clip = np.empty((frames, 240, 320, 3), np.uint8)
        for t in range(frames):
            frame = scene + rng.normal(0, 3, scene.shape)
            for k in range(3):  # blocks crossing the scene at different speeds and heights
                x = (t * (3 + k + number) + 90 * k) % 290
                frame[40 + 60 * k : 80 + 60 * k, x : x + 30] = (220 - 50 * k, 60 + 40 * k, 90)
            clip[t] = np.clip(frame, 0, 255)
        path = folder / f"cam{number:02d}.mp4"
        iio.imwrite(path, clip, fps=25, codec="libx264")
        paths.append(path)
    return paths


def run(videos: Path, out: Path, method: str, extra: list[str]) -> tuple[float, dict]:
    """Wall seconds of one command over the folder, and its --json summary."""
    command = [sys.executable, "-m", "gmmbg", "-q", "subtract", str(videos), "-o", str(out),
               "--method", method, "--json", "--force", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--method", default="gmm")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each; the best counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gmmbg-bench-many-") as temporary:
        folder = Path(temporary)
        (folder / "videos").mkdir()
        make_videos(folder / "videos", args.videos, args.frames)
        print(f"{args.videos} videos of 320x240, {args.frames} frames each (H.264 MP4); "
              f"gmmbg subtract --method {args.method}; {os.cpu_count()} cores; load average "
              f"{os.getloadavg()[0]:.2f} at the start")  # fmt: skip
        run(folder / "videos", folder / "warm-up", args.method, [])  # Numba's cache, page cache
        best, masks = {}, {}
        for _ in range(args.rounds):
            for name, extra in RUNS.items():
                out = folder / name.replace(" ", "-")
                seconds, summary = run(folder / "videos", out, args.method, extra)
                if seconds < best.get(name, (float("inf"),))[0]:
                    best[name] = (seconds, summary)
                masks[name] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        print(f"{'run':<16} {'wall s':>8} {'videos/min':>11} {'sum of video s':>15} "
              f"{'numba threads':>14}")  # fmt: skip
        for name, (seconds, summary) in best.items():
            results = summary["results"]
            busy = sum(entry["wall_seconds"] for entry in results)
            threads = sorted({entry["numba_threads"] for entry in results})
            print(f"{name:<16} {seconds:8.2f} {60 * len(results) / seconds:11.1f} {busy:15.2f} "
                  f"{','.join(map(str, threads)):>14}")  # fmt: skip
        one, two = best["1 worker"][0], best["2 workers"][0]
        print(
            f"speed-up, 2 workers vs 1 worker: {one / two:.2f}x; "
            f"2 workers vs in this process: {best['in this process'][0] / two:.2f}x"
        )
        same = all(files == masks["in this process"] for files in masks.values())
        print(f"masks byte-identical across runs: {same}; load average at the end "
              f"{os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Peak memory (RSS) of `gmmbg subtract` on a generated 1280x720 video, 250 against 1000 frames.

The online method and the scoring pass of the batch methods stream frames: decoding, the
model update or scoring, and the mask encoder each hold a frame or so at a time. A batch
method also holds its training stack, ``--max-train-frames`` frames at most, chosen evenly
over the clip: the same size for both lengths. So peak RSS must not grow with the length
of the video. By default the batch methods train as `gmmbg subtract` does by default
(``pipeline.MAX_TRAINING_FRAMES``, 200 frames: a 553 MB stack at 1280x720). The documented
bound:

    peak RSS < 1 GiB, and < 10% more for 1000 frames than for 250 (1280x720 RGB)

Each run is a fresh `python -m gmmbg subtract VIDEO -o MASKS.mp4` in a subprocess; the kernel
reports its peak RSS when it exits (``ru_maxrss``, the high-water mark of the resident set;
see ``LAUNCHER``). The clips (moving shapes over a textured, noisy scene, H.264) are
generated first, outside the measurement, and every method runs once unmeasured first so
that no figure includes Numba compilation. For scale: the same run of a bare OpenCV MOG2
pipeline (VideoCapture -> apply -> VideoWriter), the peer, and `python -m gmmbg --version`
(the interpreter and the CLI, without NumPy or Numba).

    python benchmarks/bench_memory.py [--frames 250,1000] [--size 1280x720]
                                      [--methods online,gmm,median,kmeans,mean]
                                      [--max-train-frames N]  (default: the CLI's, 200)

Exits 1 when a gmmbg run is outside the bound.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BOUND_BYTES = 1 << 30
MAX_GROWTH = 0.10
MIB = 1 << 20
PEER = "opencv mog2 (peer)"

OPENCV_PEER = """
import sys, cv2
capture = cv2.VideoCapture(sys.argv[1])
model = cv2.createBackgroundSubtractorMOG2()
writer = None
while True:
    ok, frame = capture.read()
    if not ok:
        break
    mask = model.apply(frame)
    if writer is None:
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        writer = cv2.VideoWriter(sys.argv[2], fourcc, 25, mask.shape[::-1], False)
    writer.write(mask)
writer.release()
"""


def scene(width: int, height: int) -> np.ndarray:
    """A static textured scene: float32 ``(H, W, 3)``, smooth gradients and a grid of tiles."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    tiles = ((xx // 40 + yy // 40) % 2) * 25
    return np.stack(
        [0.1 * xx + 40 + tiles, 0.2 * yy + 30 + tiles, 0.05 * (xx + yy) + 60], axis=2
    ).astype(np.float32)


def frames(n_frames: int, width: int, height: int, seed: int = 0):
    """Yield ``n_frames`` uint8 RGB frames ``(H, W, 3)``: a noisy scene crossed by shapes.

    Six rectangles cross at different speeds and heights (entering and leaving the frame),
    and every pixel carries noise, drawn once as a few fields and cycled (drawing fresh
    noise for every 1280x720 frame would dominate the generation time).
    """
    rng = np.random.default_rng(seed)
    background = scene(width, height)
    noise = rng.normal(0, 4, (5, height, width, 3)).astype(np.float32)
    shapes = [
        (
            int(rng.integers(0, height - height // 6)),  # top row
            int(rng.integers(width // 16, width // 6)),  # length
            int(rng.integers(height // 12, height // 6)),  # height
            float(rng.uniform(2, 12)) * rng.choice([-1, 1]) * width / 640,  # speed, px/frame
            rng.uniform(0, 255, 3).astype(np.float32),  # colour
        )
        for _ in range(6)
    ]
    for t in range(n_frames):
        frame = background + noise[t % len(noise)]
        for top, length, tall, speed, colour in shapes:
            left = int(t * speed) % (width + length) - length
            frame[top : top + tall, max(left, 0) : max(left + length, 0)] = colour
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_videos(lengths: dict[Path, int], width: int, height: int, fps: int = 25) -> None:
    """Write one H.264 MP4 per ``{path: n_frames}``; they share their first frames (one
    generation pass feeds every file that still needs the frame)."""
    import av

    containers = {}
    try:
        for path in lengths:
            container = av.open(str(path), "w")
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "20"}
            containers[path] = (container, stream)
        for t, frame in enumerate(frames(max(lengths.values()), width, height)):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for path, (container, stream) in containers.items():
                if t < lengths[path]:
                    container.mux(stream.encode(picture))
    finally:
        for container, stream in containers.values():
            container.mux(stream.encode())
            container.close()


# Runs the command given in its arguments and prints its peak RSS (KiB) and exit code.
# Linux starts a child's ru_maxrss at its parent's resident size when it forks (exec keeps
# the old high-water mark), so the command is forked from this small launcher, not from the
# benchmark, whose own size (the generated clips passed through it) would mask small peaks.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the launcher's report
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(command: list[str]) -> tuple[int, float]:
    """Peak RSS in bytes and wall time in seconds of ``command`` (its first item a path).

    The kernel's ``ru_maxrss`` (KiB on Linux) is the high-water mark of the process's
    resident set over its whole life. Raises RuntimeError with the command's stderr when it
    fails.
    """
    start = time.perf_counter()
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *map(str, command)], capture_output=True, check=False
    )
    seconds = time.perf_counter() - start
    fields = launched.stdout.split()
    code = int(fields[1]) if len(fields) == 2 else launched.returncode
    if code != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))} exited {code}: "
            f"{launched.stderr.decode(errors='replace').strip()}"
        )
    return int(fields[0]) * 1024, seconds


def subtract_command(
    video: Path, masks: Path, method: str, max_train_frames: int | None
) -> list[str]:
    """`gmmbg subtract` of ``video`` with ``method``, writing ``masks``, quiet; the CLI's
    default training frames when ``max_train_frames`` is None."""
    command = [sys.executable, "-m", "gmmbg", "subtract", str(video), "-o", str(masks)]
    command += ["--method", method, "--force"]
    if method != "online" and max_train_frames is not None:
        command += ["--max-train-frames", str(max_train_frames)]
    return command


def opencv_command(video: Path, masks: Path) -> list[str]:
    """The OpenCV MOG2 pipeline on ``video``, writing ``masks``."""
    return [sys.executable, "-c", OPENCV_PEER, str(video), str(masks)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", default="250,1000", help="clip lengths, comma-separated")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument(
        "--methods", default="online,gmm,median,kmeans,mean", help="gmmbg methods to measure"
    )
    parser.add_argument(
        "--max-train-frames", type=int, default=None, help="default: the CLI's (200)"
    )
    args = parser.parse_args()
    lengths = sorted(int(n) for n in args.frames.split(","))
    width, height = (int(v) for v in args.size.lower().split("x"))
    methods = args.methods.split(",")
    opencv = importlib.util.find_spec("cv2")

    with tempfile.TemporaryDirectory(prefix="gmmbg-bench-memory-") as folder:
        folder = Path(folder)
        videos = {folder / f"clip-{n}.mp4": n for n in lengths}
        start = time.perf_counter()
        write_videos(videos, width, height)
        print(
            f"generated {', '.join(f'{n}' for n in lengths)}-frame {width}x{height} H.264 clips "
            f"in {time.perf_counter() - start:.1f} s (not measured)"
        )
        baseline, _ = measure([sys.executable, "-m", "gmmbg", "--version"])
        print(f"baseline: `python -m gmmbg --version` peaks at {baseline / MIB:.0f} MiB\n")
        # The first run compiles (or loads from Numba's cache) every kernel it needs: run each
        # method once on a few frames, unmeasured, so that no figure includes compilation.
        warm_up = folder / "warm-up.mp4"
        write_videos({warm_up: 4}, width, height)
        for method in methods:
            measure(subtract_command(warm_up, folder / "warm.mp4", method, args.max_train_frames))

        print(f"{'run':<20} {'frames':>6} {'peak RSS':>10} {'wall s':>8} {'frames/s':>8}")
        peaks: dict[str, dict[int, int]] = {}
        for name in [f"gmmbg {m}" for m in methods] + [PEER] * (opencv is not None):
            for video, n in videos.items():
                masks = folder / "masks.mp4"
                if name == PEER:
                    command = opencv_command(video, masks)
                else:
                    method = name.split()[1]
                    command = subtract_command(video, masks, method, args.max_train_frames)
                peak, seconds = measure(command)
                peaks.setdefault(name, {})[n] = peak
                print(
                    f"{name:<20} {n:>6} {peak / MIB:>6.0f} MiB {seconds:>8.1f} {n / seconds:>8.1f}"
                )

    print(f"\nbound: peak < {BOUND_BYTES / MIB:.0f} MiB and growth "
          f"{lengths[0]} -> {lengths[-1]} frames < {MAX_GROWTH:.0%}")  # fmt: skip
    failed = False
    for name, by_length in peaks.items():
        first, last = by_length[lengths[0]], by_length[lengths[-1]]
        growth = (last - first) / first
        ok = max(by_length.values()) < BOUND_BYTES and growth < MAX_GROWTH
        failed |= name.startswith("gmmbg") and not ok
        peer = peaks.get(PEER, {}).get(lengths[-1])
        ratio = f", {last / peer:.2f}x the peer's" if peer and name.startswith("gmmbg") else ""
        print(
            f"{name:<20} {first / MIB:.0f} -> {last / MIB:.0f} MiB "
            f"({growth:+.1%}{ratio}): {'within' if ok else 'OUTSIDE'} the bound"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`gmmbg subtract --method online` streams: its peak RSS does not grow with the clip's length.

The CLI runs in a subprocess on two generated 320x240 clips, 60 and 240 frames, writing GIF
masks (the default format); the kernel reports each run's peak resident set when it exits.
Holding on to one mask per frame would add 180 x 75 KiB = 13 MiB, one RGB frame per frame
40 MiB; the encoder and allocator settle within a few frames. The clip generator and the
measurement are those of ``benchmarks/bench_memory.py``, which does the same at 1280x720 for
250 and 1000 frames and for a batch method's scoring pass.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_memory.py"
MIB = 1 << 20
MAX_GROWTH = 5 * MIB


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_memory", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="peak RSS is read the Linux way (ru_maxrss KiB)"
)
def test_online_subtract_peak_rss_does_not_grow_with_the_clip(tmp_path):
    bench = load_bench()
    videos = {tmp_path / "warm-up.mp4": 4, tmp_path / "short.mp4": 60, tmp_path / "long.mp4": 240}
    bench.write_videos(videos, 320, 240)
    peaks = {}
    for video, n_frames in videos.items():  # the warm-up run compiles any kernel not cached
        masks = tmp_path / f"masks-{n_frames}.gif"
        peaks[n_frames], _ = bench.measure(bench.subtract_command(video, masks, "online", 2))
        assert masks.stat().st_size > 0
    growth = peaks[240] - peaks[60]
    assert growth < MAX_GROWTH, (
        f"peak RSS grew by {growth / MIB:.1f} MiB from 60 to 240 frames "
        f"({peaks[60] / MIB:.0f} -> {peaks[240] / MIB:.0f} MiB): something keeps every frame"
    )

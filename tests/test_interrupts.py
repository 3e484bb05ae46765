"""Ctrl-C and SIGTERM in the middle of a run: stop quickly, exit 130/143, leave no output."""

import os
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """A folder of 400 small frames: long enough to be interrupted mid-way."""
    folder = tmp_path_factory.mktemp("long") / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(400):
        iio.imwrite(folder / f"{i:04d}.png", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return folder


def start(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "gmmbg", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_partial(cwd, process, timeout=60.0):
    """Wait until the run has opened its temporary output (it is working on frames)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("partial" in name for name in os.listdir(cwd)):
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {process.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("the run never started writing")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_run_and_removes_the_partial_output(tmp_path, long_video, sig, code):
    (tmp_path / "keep.gif").write_bytes(b"the user's file")
    process = start(["subtract", str(long_video), "--method", "online", "-o", "keep.gif",
                     "--force"], tmp_path)  # fmt: skip
    wait_for_partial(tmp_path, process)
    sent = time.monotonic()
    process.send_signal(sig)
    process.wait(timeout=30)
    stopped_after = time.monotonic() - sent
    stderr = process.stderr.read()
    assert process.returncode == code, stderr
    assert stopped_after < 1.0
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["keep.gif"]
    assert (tmp_path / "keep.gif").read_bytes() == b"the user's file"


def test_a_corrupt_frame_mid_way_names_the_frame(tmp_path, long_video):
    corrupt = tmp_path / "frames"
    corrupt.mkdir()
    for i, source in enumerate(sorted(long_video.iterdir())[:30]):
        data = source.read_bytes()
        (corrupt / source.name).write_bytes(data if i != 20 else data[:40])
    process = start(["subtract", str(corrupt), "--method", "online", "-o", "m.gif"], tmp_path)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "0020.png" in stderr and "Traceback" not in stderr
    assert sorted(os.listdir(tmp_path)) == ["frames"]


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)]
)
def test_a_swallowed_signal_stops_the_next_frame_read(tmp_path, signum, raised):
    """Python ignores exceptions raised inside some callbacks (an import-lock or weakref
    callback): an interrupt landing there must still stop the run at the next frame."""
    from gmmbg import interrupts
    from gmmbg.media import iter_frames

    iio.imwrite(tmp_path / "clip.gif", np.zeros((3, 4, 4, 3), np.uint8))
    try:
        try:
            interrupts._handle(signum, None)
        except raised:
            pass  # swallowed, as Python does in those callbacks
        with pytest.raises(raised):
            next(iter_frames(tmp_path / "clip.gif"))
    finally:
        interrupts._received.clear()

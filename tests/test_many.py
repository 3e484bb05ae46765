"""Many videos in one command: in this process, on a LocalCluster of 2 worker processes
(--workers 2) and on a Dask scheduler reached by its address (--scheduler), with the same
per-video jobs, byte-identical outputs, and one corrupt video that fails alone."""

import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from gmmbg import distributed
from gmmbg.cli.main import cli

GOOD = ["c0", "c1", "c2"]
METHODS = "online,median"  # one online and one batch method keep compare quick
TIMING = {"seconds", "train_seconds", "apply_seconds", "frames_per_second"}


@pytest.fixture(autouse=True)
def bounded_in_time():
    """A test that hangs (a cluster that never answers) ends the run with a traceback
    instead of blocking it."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder of three 10-frame 32x24 GIFs (a square crossing a noisy background), each
    with its ground truth folder ``<stem>-gt/``, and ``bad.gif``, a GIF cut short (with a
    ground truth folder too)."""
    folder = tmp_path_factory.mktemp("many") / "clips"
    folder.mkdir()
    for number, stem in enumerate(GOOD):
        rng = np.random.default_rng(number)
        background = rng.integers(40, 120, (24, 32, 3)).astype(np.uint8)
        frames = []
        (folder / f"{stem}-gt").mkdir()
        for t in range(10):
            frame = background.copy()
            frame[8:14, 3 * t : 3 * t + 4] = 250
            frames.append(frame)
            truth = np.zeros((24, 32), np.uint8)
            truth[8:14, 3 * t : 3 * t + 4] = 255
            iio.imwrite(folder / f"{stem}-gt" / f"gt{t + 1:06d}.png", truth)
        iio.imwrite(folder / f"{stem}.gif", np.array(frames), duration=100, loop=0)
    data = (folder / "c0.gif").read_bytes()
    (folder / "bad.gif").write_bytes(data[: len(data) // 3])  # cut off in its 4th frame
    (folder / "bad-gt").mkdir()  # its ground truth is fine: the video fails
    for t in range(10):
        iio.imwrite(folder / "bad-gt" / f"gt{t + 1:06d}.png", np.zeros((24, 32), np.uint8))
    return folder


def gmmbg(*args, cwd: Path):
    """Run `gmmbg ARGS...` in ``cwd`` through click's runner."""
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(previous)


COMMANDS = {
    "subtract": (["subtract", "--method", "online"], "-masks.gif"),
    "extract-background": (["extract-background", "--method", "median"], "-background.png"),
    "compare": (
        ["compare", "--methods", METHODS, "--ground-truth", "{dir}/{stem}-gt"],
        "-compare",
    ),  # fmt: skip
}


def run_many(command: str, clips: Path, out: Path, *extra):
    """``gmmbg <command> CLIPS -o OUT --json ...``; returns (exit code, summary, stderr)."""
    args, _ = COMMANDS[command]
    result = gmmbg(*args, clips.name, "-o", out, "--json", *extra, cwd=clips.parent)
    summary = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, summary, result.stderr


def assert_corrupt_fails_alone(code: int, summary: dict, stderr: str, out: Path, suffix: str):
    assert code == 1, stderr
    assert (summary["inputs"], summary["done"], summary["failed"]) == (4, 3, 1), stderr
    by_input = {Path(entry["input"]).stem: entry for entry in summary["results"]}
    bad = by_input["bad"]
    assert bad["status"] == "failed" and bad["outputs"] == []
    assert bad["error"].startswith("clips/bad.gif: ") and "\n" not in bad["error"]
    for stem in GOOD:
        assert by_input[stem]["status"] == "done"
        assert by_input[stem]["outputs"][0].startswith(str(out))
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}{suffix}" for stem in GOOD]
    assert "failed clips/bad.gif" in stderr and "1 of 4 videos failed" in stderr
    assert "Traceback" not in stderr


def files(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (one file, or a folder) by relative name, with its bytes;
    the timings in a compare report are left out (they differ from run to run)."""
    found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    contents = {}
    for file in found:
        name = "" if file == path else str(file.relative_to(path))
        data = file.read_bytes()
        if file.name == "metrics.json":
            methods = json.loads(data)["methods"]
            data = json.dumps([{k: v for k, v in m.items() if k not in TIMING} for m in methods])
        elif file.name == "metrics.csv":
            lines = data.decode().splitlines()
            keep = [i for i, key in enumerate(lines[0].split(",")) if key not in TIMING]
            data = "\n".join(",".join(line.split(",")[i] for i in keep) for line in lines)
        contents[name] = data
    return contents


def assert_same_outputs(out: Path, reference: Path, suffix: str) -> None:
    for stem in GOOD:
        assert files(out / f"{stem}{suffix}") == files(reference / f"{stem}{suffix}"), stem


@pytest.fixture(scope="module")
def in_process(clips, tmp_path_factory) -> dict[str, Path]:
    """Each command run over the folder in this process (the default): its output folders."""
    folders = {}
    for command, (_, suffix) in COMMANDS.items():
        out = tmp_path_factory.mktemp("in-process") / command
        code, summary, stderr = run_many(command, clips, out)
        assert_corrupt_fails_alone(code, summary, stderr, out, suffix)
        assert {e["worker"] for e in summary["results"]} == {None}
        folders[command] = out
    return folders


@pytest.fixture(scope="module")
def scheduler():
    """A Dask scheduler on 127.0.0.1 with two worker processes, one Numba thread each;
    commands reach it by its address, as they would reach a remote cluster."""
    dask = pytest.importorskip("distributed")
    with dask.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, env={"NUMBA_NUM_THREADS": "1"},
    ) as cluster:  # fmt: skip
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        yield cluster.scheduler_address


# ----------------------------------------------------------------------- in this process


@pytest.mark.parametrize("command", list(COMMANDS))
def test_in_process_outputs_equal_the_single_video_command(command, clips, in_process, tmp_path):
    args, suffix = COMMANDS[command]
    args = [a.replace("{dir}/{stem}", str(clips / "c1")) for a in args]
    result = gmmbg(*args, clips / "c1.gif", "-o", tmp_path / f"single{suffix}", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert files(tmp_path / f"single{suffix}") == files(in_process[command] / f"c1{suffix}")


def test_in_process_summary_fields(clips, in_process, tmp_path):
    code, summary, _ = run_many("compare", clips, tmp_path / "again")
    entry = next(e for e in summary["results"] if e["input"] == "clips/c0.gif")
    assert code == 1 and entry["frames"] == 10 and entry["wall_seconds"] > 0
    assert [m["method"] for m in entry["methods"]] == METHODS.split(",")
    assert all(0 <= m["f_measure"] <= 1 for m in entry["methods"])
    assert summary["workers"] is None and summary["scheduler"] is None
    assert entry["outputs"][0] == str(tmp_path / "again" / "c0-compare" / "metrics.json")


def test_skip_existing_does_only_what_is_missing_and_force_redoes_all(clips, in_process, tmp_path):
    out = tmp_path / "out"
    code, _, _ = run_many("subtract", clips, out)
    assert code == 1
    first = (out / "c0-masks.gif").stat().st_mtime_ns
    (out / "c1-masks.gif").unlink()
    code, summary, stderr = run_many("subtract", clips, out)  # refused: outputs exist
    assert code == 1 and summary is None and "--skip-existing" in stderr
    assert not (out / "c1-masks.gif").exists()
    code, summary, _ = run_many("subtract", clips, out, "--skip-existing")
    statuses = {Path(e["input"]).stem: e["status"] for e in summary["results"]}
    assert statuses == {"bad": "failed", "c0": "skipped", "c1": "done", "c2": "skipped"}
    assert (out / "c0-masks.gif").stat().st_mtime_ns == first
    assert_same_outputs(out, in_process["subtract"], "-masks.gif")
    code, summary, _ = run_many("subtract", clips, out, "--force")
    assert (code, summary["done"]) == (1, 3)
    assert (out / "c0-masks.gif").stat().st_mtime_ns != first
    assert_same_outputs(out, in_process["subtract"], "-masks.gif")


def test_all_good_exits_zero_and_prints_progress(clips, tmp_path):
    result = gmmbg("extract-background", "--method", "mean", "clips/c*.gif", "-o", tmp_path / "o",
                   cwd=clips.parent)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert [line.split()[0] for line in result.stderr.splitlines()[:3]] == ["[1/3]", "[2/3]",
                                                                            "[3/3]"]  # fmt: skip
    assert "3 done, 0 failed" in result.stderr


# ------------------------------------------------------------------------ on Dask


def test_two_local_worker_processes(clips, in_process, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    code, summary, stderr = run_many("subtract", clips, out, "--workers", 2)
    assert_corrupt_fails_alone(code, summary, stderr, out, "-masks.gif")
    assert_same_outputs(out, in_process["subtract"], "-masks.gif")
    done = [e for e in summary["results"] if e["status"] == "done"]
    assert all(e["worker"].startswith("tcp://127.0.0.1:") for e in done)
    assert {e["numba_threads"] for e in done} == {max(1, distributed.usable_cores() // 2)}
    assert summary["workers"] == 2


@pytest.mark.parametrize("command", list(COMMANDS))
def test_scheduler_by_address(command, clips, in_process, scheduler, tmp_path):
    _, suffix = COMMANDS[command]
    out = tmp_path / "out"
    code, summary, stderr = run_many(command, clips, out, "--scheduler", scheduler)
    assert_corrupt_fails_alone(code, summary, stderr, out, suffix)
    assert_same_outputs(out, in_process[command], suffix)
    assert summary["scheduler"] == scheduler
    done = [e for e in summary["results"] if e["status"] == "done"]
    assert {e["numba_threads"] for e in done} == {1}  # 2 cores, or fewer, over 2 workers


def test_unreachable_scheduler_is_one_line(clips, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 2.0)
    code, summary, stderr = run_many("subtract", clips, tmp_path / "o", "--scheduler",
                                     "tcp://127.0.0.1:9")  # fmt: skip
    assert code == 1 and summary is None
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in stderr
    assert "Traceback" not in stderr


def test_missing_dask_says_how_to_install(clips, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    code, summary, stderr = run_many("subtract", clips, tmp_path / "o", "--workers", 2)
    assert code == 1 and summary is None
    assert stderr.strip().splitlines() == [f"Error: {distributed.INSTALL_HINT}"]
    assert "install gmmbg[dask]" in stderr
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------- inputs and names


def test_expand_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ["b10.gif", "b2.mp4", "a.gif", ".a.gif.x.partial.gif", "notes.txt"]:
        Path(name).write_bytes(b"x")
    Path("frames").mkdir()
    Path("frames/001.png").write_bytes(b"x")
    assert distributed.expand_inputs(["a.gif"]) == (["a.gif"], False)
    assert distributed.expand_inputs(["frames"]) == (["frames"], False)  # images: one video
    assert distributed.expand_inputs(["."]) == ([os.path.join(".", n) for n in
                                                 ["a.gif", "b2.mp4", "b10.gif"]], True)  # fmt: skip
    assert distributed.expand_inputs(["b*"]) == (["b2.mp4", "b10.gif"], True)
    assert distributed.expand_inputs(["a.gif", "./a.gif", "frames"]) == (["a.gif", "frames"], True)
    assert distributed.expand_inputs(["-"]) == (["-"], False)
    with pytest.raises(distributed.GmmbgError, match="matches no file"):
        distributed.expand_inputs(["*.avi"])


def test_output_names_tell_apart_same_stems():
    names = distributed.output_names(["cdnet/highway/input", "cdnet/office/input", "x/a.gif"],
                                     "-compare")  # fmt: skip
    assert names == ["highway-input-compare", "office-input-compare", "a-compare"]
    with pytest.raises(distributed.GmmbgError, match="rename one"):
        distributed.output_names(["x/a.gif", "x/a.mp4"], "-masks.gif")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["subtract", "clips", "-"], 2, "standard input"),
        (["subtract", "clips", "-o", "-"], 2, "names a folder"),
        (["subtract", "clips", "-o", "masks.gif"], 2, "looks like a file"),
        (["subtract", "clips", "--save-model", "m.npz"], 2, "one input"),
        (["subtract", "clips", "--skip-existing", "--force"], 2, "choose one"),
        (["subtract", "clips", "--workers", 2, "--scheduler", "tcp://127.0.0.1:9"], 2, "choose"),
        (["compare", "clips", "--ground-truth", "gt"], 2, "{dir}"),
    ],
)
def test_bad_usage_with_many_inputs(clips, args, code, message):
    before = sorted(os.listdir(clips.parent))
    result = gmmbg(*args, cwd=clips.parent)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert sorted(os.listdir(clips.parent)) == before


# --------------------------------------------------------------------------- interrupts


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory) -> Path:
    """Two 800-frame 32x24 MP4s (seconds each): long enough to be interrupted while the
    workers run them."""
    folder = tmp_path_factory.mktemp("long") / "long"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for stem in ["l0", "l1"]:
        frames = np.repeat(rng.integers(0, 255, (1, 24, 32, 3), dtype=np.uint8), 800, axis=0)
        for t in range(800):
            frames[t, 8:14, t % 28 : t % 28 + 4] = 250
        iio.imwrite(folder / f"{stem}.mp4", frames, fps=25, codec="libx264")
    return folder


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]], ids=["in-process", "workers"])
def test_ctrl_c_stops_at_once_and_leaves_no_partial_output(long_clips, tmp_path, extra):
    if extra:
        pytest.importorskip("distributed")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "gmmbg", "subtract", str(long_clips), "--method", "online",
         "-o", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any("partial" in p.name for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.02)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    process.wait(timeout=60)
    stderr = process.stderr.read()
    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 5.0, stderr
    assert "Traceback" not in stderr and "gmmbg: interrupted after" in stderr
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ light by default


def test_in_process_runs_never_import_dask_and_help_imports_nothing_heavy(clips, tmp_path):
    script = f"""
import sys
from gmmbg.cli.main import cli
cli.main(["subtract", "--help"], standalone_mode=False)
assert "numpy" not in sys.modules and "distributed" not in sys.modules, "--help imports"
from gmmbg.distributed import Job, run_jobs
jobs = [Job("extract-background", r"{clips / "c0.gif"}", r"{tmp_path / "bg.png"}",
            {{"method": "mean"}})]
assert [entry["status"] for entry in run_jobs(jobs)] == ["done"]
assert "distributed" not in sys.modules and "dask" not in sys.modules, "dask imported"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bg.png").is_file()


def test_skip_existing_with_one_input(clips, tmp_path):
    args = ("subtract", clips / "c0.gif", "-o", tmp_path / "m.gif", "--json", "--skip-existing")
    first = json.loads(gmmbg(*args, cwd=tmp_path).stdout)
    assert first["frames"] == 10 and "status" not in first  # the one-video report, as before
    again = gmmbg(*args, cwd=tmp_path)
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "command": "subtract",
        "input": str(clips / "c0.gif"),
        "status": "skipped",
        "outputs": [str(tmp_path / "m.gif")],
    }

"""The command line through click's CliRunner: outputs, --json fields, exit codes, bad input."""

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from gmmbg.cli.main import cli


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """Run `gmmbg ARGS...` in tmp_path; returns click's Result (stdout and stderr separate)."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args, input=None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture()
def image(tmp_path) -> Path:
    """A 24x32 RGB image of three flat colour regions with a little noise."""
    rng = np.random.default_rng(1)
    pixels = np.zeros((24, 32, 3), np.uint8)
    pixels[:, :10] = (200, 30, 30)
    pixels[:, 10:20] = (30, 200, 30)
    pixels[:, 20:] = (30, 30, 200)
    noisy = np.clip(pixels + rng.integers(-6, 7, pixels.shape), 0, 255).astype(np.uint8)
    iio.imwrite(tmp_path / "img.png", noisy)
    return tmp_path / "img.png"


@pytest.fixture()
def video(tmp_path) -> Path:
    """A 20-frame 24x80 GIF: a noisy static background and a bright square moving right, 4
    pixels a frame, so each background pixel is covered in at most one frame of 20."""
    rng = np.random.default_rng(2)
    background = rng.integers(40, 120, (24, 80, 3)).astype(np.uint8)
    frames = []
    for t in range(20):
        frame = background.copy()
        frame[8:14, 4 * t : 4 * t + 4] = (250, 250, 250)
        frames.append(frame)
    iio.imwrite(tmp_path / "clip.gif", np.array(frames), duration=100, loop=0)
    return tmp_path / "clip.gif"


def only_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_help_and_version(run):
    assert run("--help").exit_code == 0
    result = run("--version")
    assert result.exit_code == 0 and "0." in result.output


def test_segment_writes_painted_image_and_labels(run, image, tmp_path):
    result = run("segment", image, "-k", "3", "--labels", "labels.png", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["k"] == 3
    for field in ("mean_log_likelihood", "bic", "iterations", "converged", "weights", "means",
                  "seconds", "outputs"):  # fmt: skip
        assert field in report
    assert report["outputs"] == ["img-segmented.png", "labels.png"]
    painted = iio.imread(tmp_path / "img-segmented.png")
    labels = iio.imread(tmp_path / "labels.png")
    assert painted.shape == (24, 32, 3)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert len(np.unique(painted.reshape(-1, 3), axis=0)) == 3


def test_segment_auto_k_and_kmeans(run, image):
    result = run("segment", image, "-k", "auto", "-o", "auto.png", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 1 <= report["k"] <= 10 and len(report["bic_by_k"]) == 10
    result = run("segment", image, "-k", "3", "--method", "kmeans", "-o", "km.png", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["k"] == 3


def test_segment_same_seed_same_output(run, image, tmp_path):
    run("segment", image, "-k", "3", "-o", "a.png")
    run("segment", image, "-k", "3", "-o", "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_segment_stdin_to_stdout(run, image):
    result = run("segment", "-", "-k", "2", "-o", "-", input=image.read_bytes())
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"\x89PNG")


def test_segment_k_above_distinct_colours_warns_and_reduces(run, tmp_path):
    two = np.zeros((4, 4, 3), np.uint8)
    two[:2] = 255
    iio.imwrite(tmp_path / "two.png", two)
    result = run("segment", tmp_path / "two.png", "-k", "5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["k"] == 2
    assert "warning" in result.stderr


@pytest.mark.parametrize(
    ("setup", "args", "code", "message"),
    [
        (None, ["segment", "missing.png"], 1, "no such file"),
        ("empty", ["segment", "empty.png"], 1, "empty"),
        ("text", ["segment", "text.png"], 1, "cannot be read"),
        ("truncated", ["segment", "cut.png"], 1, "cannot be read"),
        ("image", ["segment", "img.png", "-k", "0"], 2, "out of range"),
        ("image", ["segment", "img.png", "-k", "-1"], 2, "out of range"),
        ("image", ["segment", "img.png", "-o", "nowhere/out.png"], 1, "does not exist"),
        ("image", ["segment", "img.png", "-o", "/sys/out.png"], 1, "cannot write"),
        ("exists", ["segment", "img.png", "-o", "taken.png"], 1, "--force"),
        ("image", ["segment", "img.png", "--json", "-o", "-"], 2, "stdout"),
    ],
)
def test_segment_bad_input(run, image, tmp_path, setup, args, code, message):
    if setup == "empty":
        (tmp_path / "empty.png").write_bytes(b"")
    elif setup == "text":
        (tmp_path / "text.png").write_text("not an image")
    elif setup == "truncated":
        (tmp_path / "cut.png").write_bytes(image.read_bytes()[:100])
    elif setup == "exists":
        (tmp_path / "taken.png").write_bytes(b"mine")
    before = only_files(tmp_path)
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert only_files(tmp_path) == before
    if setup == "exists":
        assert (tmp_path / "taken.png").read_bytes() == b"mine"


@pytest.mark.parametrize("method", ["gmm", "online", "mean", "median", "kmeans"])
def test_subtract_every_method_writes_one_mask_per_frame(run, video, tmp_path, method):
    result = run("subtract", video, "--method", method, "-o", f"{method}.gif", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["frames"] == 20 and report["method"] == method
    masks = iio.imread(tmp_path / f"{method}.gif", index=None)
    assert masks.shape[:3] == (20, 24, 80)
    last = masks[-1][..., 0] if masks.ndim == 4 else masks[-1]
    assert set(np.unique(last)) <= {0, 127, 255}
    assert (last[8:14, 76:80] == 255).mean() > 0.5  # the square is found
    assert (last[18:, :] == 255).mean() < 0.1  # the background is not


def test_subtract_to_folder_and_frame_range(run, video, tmp_path):
    result = run("subtract", video, "--frames", "5:8", "-o", "masks/")
    assert result.exit_code == 0, result.output
    assert only_files(tmp_path / "masks") == ["000001.png", "000002.png", "000003.png"]


def test_subtract_folder_input_names_masks_after_frames(run, tmp_path, video):
    (tmp_path / "frames").mkdir()
    for i, frame in enumerate(iio.imiter(video)):
        iio.imwrite(tmp_path / "frames" / f"in{i + 1:04d}.png", frame[..., :3])
    result = run("subtract", "frames", "--method", "median", "--frames", "18:", "-o", "out/")
    assert result.exit_code == 0, result.output
    assert only_files(tmp_path / "out") == ["in0019.png", "in0020.png"]


def test_subtract_stdin_to_stdout(run, video):
    result = run("subtract", "-", "-o", "-", "--format", "gif", input=video.read_bytes())
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"GIF8")


def test_extract_background(run, video, tmp_path):
    for method in ["gmm", "online", "median"]:
        result = run("extract-background", video, "--method", method, "-o", f"{method}.png",
                     "--json")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outputs"] == [f"{method}.png"]
        background = iio.imread(tmp_path / f"{method}.png")
        assert background.shape == (24, 80, 3)
        assert background[8:14, :40].max() < 200  # the square passed here, it is not background


def test_default_output_names(run, video, tmp_path):
    assert run("extract-background", video, "--method", "mean").exit_code == 0
    assert run("subtract", video, "--method", "mean").exit_code == 0
    assert {"clip-background.png", "clip-masks.gif"} <= set(os.listdir(tmp_path))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["subtract", "clip.gif", "--train", "50:60"], 1, "selects no frames"),
        (["subtract", "clip.gif", "--frames", "100:"], 1, "selects no frames"),
        (["subtract", "clip.gif", "-k", "0"], 2, "out of range"),
        (["subtract", "clip.gif", "--threshold", "-1"], 2, ">= 0"),
        (["subtract", "clip.gif", "--threshold", "nan"], 2, ">= 0"),
        (["subtract", "clip.gif", "--train", "a:b"], 2, "START:STOP"),
        (["subtract", "clip.gif", "--learning-rate", "3"], 2, "learning-rate"),
        (["subtract", "clip.gif", "--learning-rate", "1"], 2, "restart the model"),
        (["subtract", "one.png"], 1, "frame"),
        (["subtract", "clip.gif", "--method", "nope"], 2, "nope"),
        (["subtract", "clip.gif", "--load-model", "x.npz"], 2, "--method online"),
    ],
)
def test_subtract_bad_input(run, video, tmp_path, args, code, message):
    iio.imwrite(tmp_path / "one.png", np.zeros((4, 4, 3), np.uint8))
    before = only_files(tmp_path)
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert only_files(tmp_path) == before


def test_online_save_and_resume(run, video, tmp_path):
    result = run("subtract", video, "--method", "online", "--frames", ":10", "-o", "a.gif",
                 "--save-model", "model.npz")  # fmt: skip
    assert result.exit_code == 0, result.output
    result = run("subtract", video, "--method", "online", "--load-model", "model.npz",
                 "-o", "b.gif", "--history", "50")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--history has no effect with --load-model" in result.stderr
    iio.imwrite(tmp_path / "other.gif", np.zeros((3, 10, 12, 3), np.uint8))
    result = run("subtract", "other.gif", "--method", "online", "--load-model", "model.npz",
                 "-o", "c.gif")  # fmt: skip
    assert result.exit_code == 1
    assert "learned on 80x24 frames and this video is 12x10" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "c.gif").exists()
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    result = run("subtract", video, "--method", "online", "--load-model", "bad.npz", "-o", "d.gif")
    assert result.exit_code == 1 and "not a readable OnlineGMM model" in result.stderr
    assert "Traceback" not in result.output


def test_a_failed_model_save_leaves_no_model_file(run, video, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("numpy.savez_compressed", disk_full)
    result = run("subtract", video, "--method", "online", "-o", "m.gif",
                 "--save-model", "model.npz")  # fmt: skip
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not any(p.name.startswith((".model", "model")) for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "method, args, flag",
    [("gmm", ["--no-shadows"], "--shadows/--no-shadows"), ("median", ["-k", "2"], "-k")],
)
def test_options_a_method_ignores_are_named_as_typed(run, video, method, args, flag):
    result = run("subtract", video, "--method", method, "-o", "masks.gif", *args)
    assert result.exit_code == 0, result.output
    assert f"{flag} has no effect with --method {method}" in result.stderr

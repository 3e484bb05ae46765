"""The bad-input matrix (README "Bad input"): one CLI run per row, each checking the exit
code, a one-line message without a traceback, and that no output file is left behind."""

import errno
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from gmmbg.cli.main import cli


def frames(n=12, shape=(24, 32)):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, *shape, 3), dtype=np.uint8)


def make_inputs(folder: Path) -> None:
    """Every input the matrix names, good and bad, in ``folder``."""
    iio.imwrite(folder / "clip.gif", frames(), duration=100, loop=0)
    iio.imwrite(folder / "clip.mp4", frames(shape=(32, 32)), plugin="pyav", codec="libx264", fps=10)
    iio.imwrite(folder / "img.png", frames(1)[0])
    (folder / "empty.png").write_bytes(b"")
    (folder / "empty.gif").write_bytes(b"")
    for name in ("text.png", "text.gif", "text.mp4"):
        (folder / name).write_text("this is not media\n")
    for name in ("img.png", "clip.gif", "clip.mp4"):
        data = (folder / name).read_bytes()
        (folder / f"cut-{name}").write_bytes(data[: len(data) // 3])
    (folder / "no-images").mkdir()
    (folder / "no-images" / "notes.txt").write_text("nothing to see")
    (folder / "sizes").mkdir()
    iio.imwrite(folder / "sizes" / "1.png", frames(1)[0])
    iio.imwrite(folder / "sizes" / "2.png", frames(1, (10, 10))[0])
    iio.imwrite(folder / "one-pixel.png", np.array([[[10, 20, 30]]], np.uint8))
    iio.imwrite(folder / "one-frame.gif", frames(1), duration=100, loop=0)
    iio.imwrite(folder / "gray.png", frames(1)[0][:, :, 0])
    iio.imwrite(folder / "rgba.png", np.dstack([frames(1)[0], np.full((24, 32), 200, np.uint8)]))
    iio.imwrite(folder / "deep.png", frames(1)[0][:, :, 0].astype(np.uint16) * 257)
    from PIL import Image

    Image.fromarray(frames(1)[0]).convert("P", palette=Image.ADAPTIVE, colors=8).save(
        folder / "palette.png"
    )
    (folder / "taken.png").write_bytes(b"the user's file")


# (arguments, exit code, text the one-line message must contain); exit 0 rows must work.
MATRIX = [
    (["segment", "missing.png"], 1, "no such file"),
    (["segment", "empty.png"], 1, "empty"),
    (["subtract", "empty.gif"], 1, "empty"),
    (["segment", "text.png"], 1, "cannot be read"),
    (["subtract", "text.gif"], 1, "cannot be read"),
    (["subtract", "text.mp4"], 1, "cannot be read"),
    (["segment", "cut-img.png"], 1, "cannot be read"),
    (["subtract", "cut-clip.gif"], 1, "cut-clip.gif"),
    (["subtract", "cut-clip.mp4"], 1, "cut-clip.mp4"),
    (["subtract", "no-images"], 1, "no images"),
    (["subtract", "sizes", "--method", "median"], 1, "same size"),
    (["segment", "one-pixel.png", "-k", "3"], 0, "warning"),
    (["subtract", "one-frame.gif"], 1, "at least 2"),
    (["subtract", "one-frame.gif", "--method", "online"], 0, ""),
    (["segment", "gray.png", "-k", "2"], 0, ""),
    (["segment", "rgba.png", "-k", "2"], 0, ""),
    (["segment", "palette.png", "-k", "2"], 0, ""),
    (["segment", "deep.png", "-k", "2"], 0, ""),
    (["subtract", "clip.mp4", "--method", "mean"], 0, ""),
    (["segment", "img.png", "-k", "0"], 2, "out of range"),
    (["segment", "img.png", "-k", "-1"], 2, "out of range"),
    (["segment", "img.png", "-k", "1000"], 2, "out of range"),
    (["subtract", "clip.gif", "-k", "1000"], 2, "out of range"),
    (["subtract", "clip.gif", "--threshold", "-3"], 2, ">= 0"),
    (["subtract", "clip.gif", "--threshold", "nan"], 2, ">= 0"),
    (["subtract", "clip.gif", "--train", "100:200"], 1, "selects no frames"),
    (["segment", "img.png", "-o", "missing-folder/out.png"], 1, "does not exist"),
    (["segment", "img.png", "-o", "/sys/out.png"], 1, "cannot write"),
    (["subtract", "clip.gif", "-o", "/sys/masks.gif"], 1, "cannot write"),
    (["segment", "img.png", "-o", "taken.png"], 1, "--force"),
]


@pytest.mark.parametrize(("args", "code", "message"), MATRIX, ids=[" ".join(r[0]) for r in MATRIX])
def test_bad_input_matrix(tmp_path, monkeypatch, args, code, message):
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert message in result.stderr
    if code:
        # Run-time errors (1) are one line; usage errors (2) add click's usage hint above it.
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 or (code == 2 and lines[-1].startswith("Error:")), result.stderr
        assert sum(line.startswith("Error:") for line in lines) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "taken.png").read_bytes() == b"the user's file"


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("args", "patch"),
    [
        (["segment", "img.png", "-o", "out.png"], "imageio.v3.imwrite"),
        (["subtract", "clip.gif", "--method", "mean", "-o", "masks.gif"],
         "imageio.plugins.pyav.PyAVPlugin.write_frame"),
        (["subtract", "clip.gif", "--method", "mean", "-o", "masks/"], "imageio.v3.imwrite"),
    ],
)  # fmt: skip
def test_disk_full_leaves_nothing(tmp_path, monkeypatch, args, patch):
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(patch, disk_full)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before

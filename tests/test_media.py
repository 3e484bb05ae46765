"""The media layer: normalisation rule, readers, streamed frames, atomic writers."""

import io
import os
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from gmmbg import media
from gmmbg.media import MediaError


@pytest.mark.parametrize(
    ("image", "expected_shape", "expected_value"),
    [
        (np.full((2, 3), 65535, np.uint16), (2, 3), 255),
        (np.full((2, 3), 257 * 100, np.uint16), (2, 3), 100),
        (np.full((2, 3, 4), 7, np.uint8), (2, 3, 3), 7),
        (np.full((2, 3, 2), 9, np.uint8), (2, 3), 9),
        (np.full((2, 3, 1), 5, np.uint8), (2, 3), 5),
        (np.ones((2, 3), bool), (2, 3), 255),
        (np.full((2, 3), 0.5), (2, 3), 128),
        (np.full((2, 3, 3), 300.0), (2, 3, 3), 255),
    ],
)
def test_to_uint8_follows_the_documented_rule(image, expected_shape, expected_value):
    out = media.to_uint8(image)
    assert out.dtype == np.uint8
    assert out.shape == expected_shape
    assert np.all(out == expected_value)


def test_to_rgb_repeats_gray():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = media.to_rgb(gray)
    assert rgb.shape == (2, 3, 3)
    assert np.array_equal(rgb[:, :, 2], gray)


@pytest.mark.parametrize("extension", [".png", ".bmp", ".tif"])
def test_read_image_lossless_formats_round_trip(tmp_path, extension):
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / f"a{extension}", image)
    assert np.array_equal(media.read_image(tmp_path / f"a{extension}"), image)


def test_read_image_jpeg_gray_and_16_bit(tmp_path):
    rgb = np.full((8, 8, 3), 120, np.uint8)
    iio.imwrite(tmp_path / "a.jpg", rgb)
    assert np.abs(media.read_image(tmp_path / "a.jpg").astype(int) - 120).max() <= 2
    iio.imwrite(tmp_path / "g.png", np.full((4, 4), 33, np.uint8))
    assert media.read_image(tmp_path / "g.png").shape == (4, 4)
    iio.imwrite(tmp_path / "w.png", np.full((4, 4), 257 * 200, np.uint16))
    assert np.all(media.read_image(tmp_path / "w.png") == 200)


def test_read_image_palette_png_expands_to_rgb(tmp_path):
    from PIL import Image

    palette_image = Image.new("P", (4, 3))
    palette_image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette_image.putpixel((1, 1), 1)
    palette_image.save(tmp_path / "p.png")
    image = media.read_image(tmp_path / "p.png")
    assert image.shape == (3, 4, 3)
    assert tuple(image[1, 1]) == (10, 20, 30)


def _file(name, data):
    def make(folder):
        (folder / name).write_bytes(data)
        return folder / name

    return make


def _truncated_png(tmp_path):
    iio.imwrite(tmp_path / "full.png", np.zeros((64, 64, 3), np.uint8) + 9)
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.png"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.png", "no such file"),
        (_file("empty.png", b""), "empty"),
        (_file("text.png", b"hello, I am text"), "cannot be read"),
        (_truncated_png, "cannot be read"),
        (lambda p: p, "is a folder"),
    ],
)
def test_read_image_bad_input_is_one_line_media_error(tmp_path, make, message):
    with pytest.raises(MediaError, match=message) as error:
        media.read_image(make(tmp_path))
    assert "\n" not in str(error.value)


def _write_folder(folder, names, shape=(6, 8, 3)):
    folder.mkdir()
    for value, name in enumerate(names):
        iio.imwrite(folder / name, np.full(shape, value * 10, np.uint8))


def test_folder_frames_come_in_natural_order(tmp_path):
    _write_folder(tmp_path / "v", ["f10.png", "f2.png", "f1.png"])
    frames = list(media.iter_frames(tmp_path / "v"))
    assert [f[0, 0, 0] for f in frames] == [20, 10, 0]  # f1, f2, f10
    info = media.probe_video(tmp_path / "v")
    assert (info.n_frames, info.height, info.width) == (3, 6, 8)
    assert info.frame_names == ["f1", "f2", "f10"]


def test_iter_frames_selects_and_stops(tmp_path):
    _write_folder(tmp_path / "v", [f"{i}.png" for i in range(6)])
    values = [f[0, 0, 0] for f in media.iter_frames(tmp_path / "v", slice(1, None, 2))]
    assert values == [10, 30, 50]
    assert [f[0, 0, 0] for f in media.iter_frames(tmp_path / "v", [0, 4])] == [0, 40]


def test_frames_of_different_sizes_name_the_frame(tmp_path):
    _write_folder(tmp_path / "v", ["0.png", "1.png"])
    iio.imwrite(tmp_path / "v" / "2.png", np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(MediaError, match="frame 2 is 3x3 but the first is 8x6"):
        list(media.iter_frames(tmp_path / "v"))


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(MediaError, match="no images"):
        media.probe_video(tmp_path)


def test_seed_gif_mixed_rgb_rgba_frames_share_one_shape(shared_media):
    path = shared_media / "seed-traffic" / "traffic.gif"
    shapes = {frame.shape for frame in media.iter_frames(path)}
    assert shapes == {(120, 160, 3)}
    assert media.probe_video(path).n_frames == 80


def test_video_files_probe_and_stream(shared_media):
    for name, count in [("traffic.mp4", 80), ("traffic.avi", 120)]:
        info = media.probe_video(shared_media / "seed-traffic" / name)
        assert (info.n_frames, info.height, info.width) == (count, 120, 160)
        frames = list(media.iter_frames(shared_media / "seed-traffic" / name, slice(0, 3)))
        assert len(frames) == 3 and frames[0].shape == (120, 160, 3)


def _masks(n=4, shape=(10, 12)):
    masks = np.zeros((n, *shape), np.uint8)
    for i in range(n):
        masks[i, i : i + 3, 2:6] = 255
        masks[i, 0, :] = 127
    return masks


def test_gif_writer_is_lossless_for_masks(tmp_path):
    masks = _masks()
    with media.FrameWriter(tmp_path / "m.gif", fps=5) as writer:
        for mask in masks:
            writer.write(mask)
    back = np.array([f[:, :, 0] for f in media.iter_frames(tmp_path / "m.gif")])
    assert np.array_equal(back, masks)
    assert media.probe_video(tmp_path / "m.gif").fps == pytest.approx(5)


@pytest.mark.parametrize("extension", [".mp4", ".avi", ".mkv"])
def test_video_writers_write_every_frame(tmp_path, extension):
    with media.FrameWriter(tmp_path / f"m{extension}", fps=10) as writer:
        for mask in _masks(shape=(16, 16)):
            writer.write(mask)
    assert media.probe_video(tmp_path / f"m{extension}").n_frames == 4


@pytest.mark.parametrize("extension", [".mp4", ".avi"])
def test_lossy_video_keeps_every_mask_value(tmp_path, extension):
    """Masks (0, 127 shadow, 255) go to the encoder as gray frames; each pixel reads back
    close to its value, also with x264's fastest preset."""
    masks = np.zeros((6, 64, 96), np.uint8)
    for i in range(len(masks)):
        masks[i, 8 * i : 8 * i + 24, 16:48] = 255
        masks[i, 40:56, 8 * i : 8 * i + 32] = 127
    with media.FrameWriter(tmp_path / f"m{extension}", fps=10) as writer:
        for mask in masks:
            writer.write(mask)
    back = np.array([f[:, :, 0] for f in media.iter_frames(tmp_path / f"m{extension}")])
    assert back.shape == masks.shape
    assert np.abs(back.astype(int) - masks).max() <= 40


def test_folder_writer_names_frames(tmp_path):
    with media.FrameWriter(f"{tmp_path}/out/", frame_names=["a", "b"]) as writer:
        for mask in _masks(3):
            writer.write(mask)
    assert sorted(os.listdir(tmp_path / "out")) == ["000003.png", "a.png", "b.png"]


def test_a_failure_leaves_no_output_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "m.gif"
    with pytest.raises(KeyboardInterrupt):
        with media.FrameWriter(target) as writer:
            writer.write(_masks()[0])
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with media.FrameWriter(target, force=True) as writer:
            writer.write(_masks()[0])
            raise RuntimeError("frame 500 is corrupt")
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["m.gif"]


def test_existing_output_needs_force(tmp_path):
    (tmp_path / "bg.png").write_bytes(b"x")
    with pytest.raises(MediaError, match="--force"):
        media.write_image(tmp_path / "bg.png", np.zeros((2, 2), np.uint8))
    media.write_image(tmp_path / "bg.png", np.zeros((2, 2), np.uint8), force=True)
    assert media.read_image(tmp_path / "bg.png").shape == (2, 2)


def test_output_folder_must_exist(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        media.check_output(tmp_path / "nope" / "bg.png")


def test_stdin_is_sniffed_and_spooled(tmp_path, monkeypatch):
    iio.imwrite(tmp_path / "a.gif", _masks(), duration=100, loop=0)
    data = (tmp_path / "a.gif").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with media.open_source("-") as path:
        assert path.suffix == ".gif"
        assert media.probe_video(path).n_frames >= 1
    assert not path.exists()


def test_stdin_of_unknown_bytes_asks_for_format(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello world, not media")))
    with pytest.raises(MediaError, match="--format"):
        with media.open_source("-"):
            pass


def test_outputs_get_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        media.write_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644

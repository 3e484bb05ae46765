"""The sample media: reproducible from their script, and the truth they claim to be."""

import importlib.util
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from gmmbg.metrics import read_temporal_roi

SAMPLES = Path(__file__).resolve().parents[1] / "sample_media"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_samples = _load_script()


def _files(folder: Path) -> dict[str, Path]:
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".png", ".gif", ".txt")
    }


def _pixels(path: Path) -> np.ndarray:
    return iio.imread(path, index=None) if path.suffix == ".gif" else iio.imread(path)


@pytest.fixture(scope="module")
def street() -> dict[str, np.ndarray]:
    return make_samples.make_street()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    make_samples.main(["--out", str(out)])
    return out


def test_rerun_is_byte_identical_and_writes_nothing(regenerated, tmp_path, capsys):
    make_samples.main(["--out", str(tmp_path)])
    first, second = _files(regenerated), _files(tmp_path)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name
    mtimes = {name: p.stat().st_mtime_ns for name, p in second.items()}
    capsys.readouterr()
    make_samples.main(["--out", str(tmp_path)])
    assert "0 of 124 files written" in capsys.readouterr().out
    assert {name: p.stat().st_mtime_ns for name, p in second.items()} == mtimes


def test_committed_files_are_what_the_script_makes(regenerated):
    committed, fresh = _files(SAMPLES), _files(regenerated)
    assert committed.keys() == fresh.keys()
    differing = []
    for name in committed:
        if committed[name].read_bytes() == fresh[name].read_bytes():
            continue
        # Another Pillow or zlib may encode the same pixels to other bytes: the pixels must
        # still be the same.
        differing.append(name)
        if name.endswith(".txt"):
            assert committed[name].read_text() == fresh[name].read_text(), name
        else:
            assert np.array_equal(_pixels(committed[name]), _pixels(fresh[name])), name
    if differing:
        warnings.warn(
            f"{len(differing)} sample files re-encode to other bytes with this image library "
            f"(same pixels), e.g. {differing[0]}",
            stacklevel=1,
        )


def test_sample_media_stay_small():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 3_000_000


def test_video_decodes_losslessly_to_the_documented_shape(street):
    frames = iio.imread(SAMPLES / "street.gif", index=None)
    assert frames.shape[:3] == (make_samples.N_FRAMES, make_samples.HEIGHT, make_samples.WIDTH)
    assert (frames.shape[0], frames.shape[1:3]) == (120, (120, 160))
    assert np.array_equal(frames[..., :3], street["frames"])
    assert iio.immeta(SAMPLES / "street.gif")["duration"] == 100  # 10 fps


def test_ground_truth_is_exact_and_has_both_classes(street):
    truth = np.stack(
        [iio.imread(SAMPLES / f"street-groundtruth/{i:06d}.png") for i in range(1, 121)]
    )
    assert truth.dtype == np.uint8 and truth.shape == (120, 120, 160)
    assert np.array_equal(truth, street["truth"])
    assert set(np.unique(truth).tolist()) == {0, 255}
    first, last = read_temporal_roi(SAMPLES / "street-groundtruth/temporalROI.txt")
    assert (first, last) == (31, 120)
    assert not truth[: first - 1].any()  # warm-up: nothing moves
    scored = truth[first - 1 : last]
    assert all(0 < np.count_nonzero(t) < t.size // 4 for t in scored)
    # Objects enter and leave: motion touches the left and right borders.
    assert scored[:, :, 0].any() and scored[:, :, -1].any()


def test_background_matches_static_parts_within_the_noise(street):
    background = iio.imread(SAMPLES / "street-background.png")
    assert background.shape == (120, 160, 3)
    assert np.array_equal(background, street["background"])
    frames = street["frames"].astype(np.int16)
    static = (street["truth"][0] == 0) & ~street["waving"]
    diff = np.abs(frames[0] - background)[static]
    assert diff.max() <= make_samples.MAX_NOISE
    assert diff.mean() < 4
    # In the waving tree the background is the colour each pixel shows most often: within
    # the noise of the frame in more than half of the frames where no object hides it.
    close = np.abs(frames - background).max(axis=3) <= make_samples.MAX_NOISE
    visible = street["truth"] == 0
    waving = street["waving"]
    share = (close & visible)[:, waving].sum(axis=0) / visible[:, waving].sum(axis=0)
    assert share.min() > 0.5
    assert share.max() < 0.8  # and it does wave


def test_video_holds_at_most_256_colours(street):
    rgb = street["frames"].reshape(-1, 3).astype(np.int32)
    assert len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])) <= 256


def test_flowers_image():
    image = iio.imread(SAMPLES / "flowers.png")
    assert image.shape == (192, 256, 3) and image.dtype == np.uint8
    # Five colour classes: each reference colour is the nearest one for a visible share of
    # the pixels.
    refs = np.array(list(make_samples.FLOWER_COLOURS.values()), dtype=float)
    distance = np.linalg.norm(image[:, :, None, :].astype(float) - refs, axis=3)
    share = np.bincount(distance.argmin(axis=2).ravel(), minlength=5) / distance[..., 0].size
    assert (share > 0.01).all()

"""`gmmbg compare` end to end: report files, figures checked against independent counting,
and one-line errors for inputs that do not fit the video."""

import csv
import json
import math
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from gmmbg import compare, media
from gmmbg.cli.main import cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_media"
CDNET_CODES = {0, 50, 85, 170, 255}

cv2 = pytest.importorskip("cv2")


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """Run `gmmbg ARGS...` in tmp_path; returns click's Result."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])

    return invoke


@pytest.fixture()
def clip(tmp_path) -> dict:
    """A 20-frame 24x32 GIF (noisy static background, a bright square moving right from
    frame 4 on) with its ground truth folder, a ROI and one-frame ground truth images."""
    rng = np.random.default_rng(2)
    background = rng.integers(40, 120, (24, 32, 3)).astype(np.uint8)
    frames, truths = [], []
    for t in range(20):
        frame = np.clip(background + rng.integers(-3, 4, background.shape), 0, 255)
        truth = np.zeros((24, 32), np.uint8)
        if t >= 4:
            frame[8:14, t : t + 6] = 250
            truth[8:14, t : t + 6] = 255
        frames.append(frame.astype(np.uint8))
        truths.append(truth)
    iio.imwrite(tmp_path / "clip.gif", np.array(frames), duration=100, loop=0)
    frames = list(iio.imiter(tmp_path / "clip.gif", plugin="pillow", mode="RGB"))  # as stored
    folder = tmp_path / "truth"
    folder.mkdir()
    for t, truth in enumerate(truths):
        iio.imwrite(folder / f"gt{t + 1:06d}.png", truth)
    roi = np.full((24, 32), 255, np.uint8)
    roi[:, 24:] = 0
    iio.imwrite(tmp_path / "roi.png", roi)
    # Wallflower style: one 24-bit mask with values other than CDnet codes, threshold 128.
    single = np.where(truths[12] > 0, 240, 20).astype(np.uint8)
    iio.imwrite(tmp_path / "gt12.bmp", np.repeat(single[:, :, None], 3, axis=2))
    return {"video": tmp_path / "clip.gif", "truth": folder, "roi": tmp_path / "roi.png",
            "frames": frames, "truths": truths, "single": tmp_path / "gt12.bmp"}  # fmt: skip


def mog2_counts(frames, truths, scored, roi=None) -> np.ndarray:
    """Independent counting: OpenCV MOG2 fed BGR frames, CDnet rules written out here."""
    subtractor = cv2.createBackgroundSubtractorMOG2()
    counts = np.zeros(4, np.int64)
    for index, frame in enumerate(frames):
        mask = subtractor.apply(np.ascontiguousarray(frame[:, :, ::-1]))
        if index not in scored:
            continue
        truth = truths(index) if callable(truths) else truths[index]
        counted = (truth != 85) & (truth != 170)
        if roi is not None:
            counted &= roi
        positive, negative = counted & (truth == 255), counted & ((truth == 0) | (truth == 50))
        found = mask == 255
        counts += [(positive & found).sum(), (negative & found).sum(),
                   (positive & ~found).sum(), (negative & ~found).sum()]  # fmt: skip
    return counts


def f_measure(counts) -> float:
    tp, fp, fn, _ = (int(c) for c in counts)
    return 2 * tp / (2 * tp + fp + fn)


def leftovers(folder: Path, before: set) -> set:
    """Files or folders that appeared in ``folder`` (a report or a temporary one)."""
    return {p.name for p in folder.iterdir()} - before


# --------------------------------------------------------------------------- happy paths


def test_street_every_method_sane_and_report_files_open(run, tmp_path):
    methods = compare.default_methods()
    result = run("compare", SAMPLES / "street.gif", "--ground-truth",
                 SAMPLES / "street-groundtruth", "--background-truth",
                 SAMPLES / "street-background.png", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["temporal_roi"] == [31, 120] and report["scored_frames"] == 90
    rows = {row["method"]: row for row in report["methods"]}
    assert list(rows) == methods
    for name, row in rows.items():
        for key in ("recall", "specificity", "precision", "f_measure", "peps", "pceps"):
            assert 0 <= row[key] <= 1, (name, key, row[key])
        assert row["f_measure"] > 0.5, (name, row["f_measure"])
        assert 0 <= row["pwc"] < 10 and 0 <= row["age"] < 30 and row["psnr"] > 15, row
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == 90 * 160 * 120
        assert row["apply_seconds"] > 0 and row["frames_per_second"] > 0
        online = name in ("online", "opencv-mog2", "opencv-knn")
        assert row["frames"] == (120 if online else 90)
        assert row["train_frames"] == (0 if online else 30)

    folder = tmp_path / "street-compare"
    assert sorted(report["outputs"]) == sorted(str(Path("street-compare") / name) for name in [
        "metrics.json", "metrics.csv", "montage.gif", "montage.png",
        *(f"{m}-background.png" for m in methods)])  # fmt: skip
    assert json.loads((folder / "metrics.json").read_text())["methods"] == report["methods"]
    with open(folder / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["method"] for r in table] == methods
    assert math.isclose(float(table[0]["f_measure"]), rows[methods[0]]["f_measure"])
    gif = iio.imread(folder / "montage.gif")
    still = iio.imread(folder / "montage.png")
    assert 2 <= len(gif) <= compare.MAX_MONTAGE_FRAMES and gif.shape[1:] == still.shape
    # input, ground truth and one panel per method, each 160 wide, on a grid.
    columns = math.ceil(math.sqrt(2 + len(methods)))
    assert still.shape[1] == columns * 160 + (columns - 1) * 2
    for name in methods:
        assert iio.imread(folder / f"{name}-background.png").shape == (120, 160, 3)


def test_table_and_csv_on_stdout(run, clip):
    result = run("compare", clip["video"], "--ground-truth", clip["truth"],
                 "--methods", "opencv-mog2,opencv-knn")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["method", "F", "Pr"] and set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == ["opencv-mog2", "opencv-knn"]
    assert len({len(line) for line in lines[:2]}) == 1  # aligned
    result = run("compare", clip["video"], "--ground-truth", clip["truth"],
                 "--methods", "opencv-mog2", "--csv", "-o", "other")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert rows[0]["method"] == "opencv-mog2" and 0 < float(rows[0]["f_measure"]) <= 1


def test_counts_match_independent_mog2_with_roi_and_temporal_roi(run, clip):
    (clip["truth"].parent / "ROI.bmp").write_bytes(clip["roi"].read_bytes())  # found beside
    result = run("compare", clip["video"], "--ground-truth", clip["truth"],
                 "--temporal-roi", "6:17", "--methods", "opencv-mog2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["methods"][0]
    roi = iio.imread(clip["roi"]) > 0
    expected = mog2_counts(clip["frames"], clip["truths"], set(range(5, 17)), roi)
    assert [row[k] for k in ("tp", "fp", "fn", "tn")] == expected.tolist()
    assert expected.sum() == 12 * 24 * 24
    assert row["f_measure"] == pytest.approx(f_measure(expected), abs=1e-12)


def test_single_ground_truth_image_and_mask_video(run, clip, tmp_path):
    result = run("compare", clip["video"], "--ground-truth", clip["single"], "--gt-frame", 12,
                 "--methods", "opencv-mog2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["scored_frames"] == 1 and report["montage_still_frame"] == 12
    expected = mog2_counts(clip["frames"][:13], clip["truths"], {12})
    assert [report["methods"][0][k] for k in ("tp", "fp", "fn", "tn")] == expected.tolist()
    assert report["methods"][0]["frames"] == 13  # nothing decoded after the scored frame

    with media.FrameWriter(tmp_path / "masks.gif") as writer:  # as `gmmbg subtract` writes
        for truth in clip["truths"]:
            writer.write(truth)
    result = run("compare", clip["video"], "--ground-truth", tmp_path / "masks.gif",
                 "--methods", "opencv-mog2", "--json", "-o", "video-truth")  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["methods"][0]
    expected = mog2_counts(clip["frames"], clip["truths"], set(range(20)))
    assert [row[k] for k in ("tp", "fp", "fn", "tn")] == expected.tolist()


def test_no_ground_truth_times_and_backgrounds_only(run, clip, tmp_path):
    result = run("compare", clip["video"], "--methods", "opencv-knn", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    row = report["methods"][0]
    assert "f_measure" not in row and row["frames"] == 20 and report["scored_frames"] == 0
    assert (tmp_path / "clip-compare" / "opencv-knn-background.png").is_file()


def test_force_replaces_a_report(run, clip, tmp_path):
    folder = tmp_path / "clip-compare"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    args = ("compare", clip["video"], "--methods", "opencv-mog2")
    result = run(*args)
    assert result.exit_code == 1 and "--force" in result.output
    assert [p.name for p in folder.iterdir()] == ["old.txt"]
    assert run(*args, "--force").exit_code == 0
    assert not (folder / "old.txt").exists() and (folder / "metrics.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_truth_codes_and_files_beside(tmp_path):
    codes = np.array([[0, 50, 85], [170, 255, 0]], np.uint8)
    assert (compare.to_truth_codes(codes) == codes).all()
    plain = np.array([[0, 127, 128], [200, 5, 255]], np.uint8)
    assert compare.to_truth_codes(plain).tolist() == [[0, 0, 255], [255, 0, 255]]
    (tmp_path / "gt").mkdir()
    (tmp_path / "temporalROI.txt").write_text("2 3")
    assert compare.find_beside(tmp_path / "gt", ["temporalROI.txt"]) == tmp_path / "temporalROI.txt"
    (tmp_path / "gt" / "temporalROI.txt").write_text("2 3")
    assert compare.find_beside(tmp_path / "gt", ["temporalROI.txt"]).parent.name == "gt"
    assert compare.find_beside(tmp_path / "gt", ["ROI.bmp"]) is None


# ----------------------------------------------------------------------------- bad input


def assert_one_line_error(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in errors[0], errors[0]


def bad_truth(folder: Path, count: int, shape=(24, 32)) -> Path:
    folder.mkdir()
    for t in range(count):
        iio.imwrite(folder / f"gt{t + 1:06d}.png", np.zeros(shape, np.uint8))
    return folder


@pytest.mark.parametrize(
    "case, words",
    [
        ("size", ["16x12", "32x24", "frame size"]),
        ("count", ["19 frames", "has 20", "one mask per"]),
        ("roi", ["ROI", "frame size"]),
        ("image without frame", ["--gt-frame"]),
        ("frame out of range", ["--gt-frame 20", "0 to 19"]),
        ("temporal roi out of range", ["temporal ROI", "1 to 20"]),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(run, clip, tmp_path, case, words):
    args = {
        "size": ["--ground-truth", bad_truth(tmp_path / "small", 20, (12, 16))],
        "count": ["--ground-truth", bad_truth(tmp_path / "short", 19)],
        "roi": ["--ground-truth", clip["truth"], "--roi", clip["single"].with_name("r.png")],
        "image without frame": ["--ground-truth", clip["single"]],
        "frame out of range": ["--ground-truth", clip["single"], "--gt-frame", 20],
        "temporal roi out of range": ["--ground-truth", clip["truth"], "--temporal-roi", "5:21"],
    }[case]
    iio.imwrite(tmp_path / "r.png", np.full((24, 30), 255, np.uint8))
    before = {p.name for p in tmp_path.iterdir()}
    result = run("compare", clip["video"], *args, "--methods", "opencv-mog2")
    assert_one_line_error(result, 1, *words)
    assert leftovers(tmp_path, before) == set()


def test_unknown_method_is_a_usage_error(run, clip, tmp_path):
    before = {p.name for p in tmp_path.iterdir()}
    result = run("compare", clip["video"], "--methods", "gmm,mog3")
    assert_one_line_error(result, 2, "unknown method 'mog3'", "opencv-mog2")
    assert leftovers(tmp_path, before) == set()


def test_opencv_not_installed(run, clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    assert "opencv-mog2" not in compare.default_methods()
    before = {p.name for p in tmp_path.iterdir()}
    result = run("compare", clip["video"], "--methods", "online,opencv-knn")
    assert_one_line_error(result, 1, "OpenCV is not installed", "pip install opencv-python")
    assert leftovers(tmp_path, before) == set()


# ------------------------------------------------------------------------------ real media


@pytest.mark.slow
@pytest.mark.media
def test_highway_mog2_f_measure_matches_independent_computation(shared_media, tmp_path):
    highway = shared_media / "cdnet-highway"
    result = CliRunner().invoke(cli, [
        "compare", str(highway / "input"), "--ground-truth", str(highway / "groundtruth"),
        "--methods", "opencv-mog2", "--json", "-o", str(tmp_path / "report")])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["temporal_roi"] == [470, 1700] and report["roi"].endswith("ROI.bmp")
    frames = (iio.imread(path) for path in sorted((highway / "input").glob("in*.jpg")))
    roi = iio.imread(highway / "ROI.bmp")[:, :, 0] > 0

    def truth(index):
        return iio.imread(highway / "groundtruth" / f"gt{index + 1:06d}.png")[:, :, 0]

    expected = mog2_counts(frames, truth, set(range(469, 1700)), roi)
    row = report["methods"][0]
    assert [row[k] for k in ("tp", "fp", "fn", "tn")] == expected.tolist()
    assert abs(row["f_measure"] - f_measure(expected)) < 1e-9
    assert 0.5 < row["f_measure"] < 0.95

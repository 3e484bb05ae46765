"""Run several background methods on one clip and score them side by side.

The video is decoded once and every frame is fed to every method in turn, so the methods see
exactly the same pixels; batch methods are first fitted on the training frames (a separate,
bounded read of at most ``pipeline.MAX_TRAINING_FRAMES`` frames). Per method this module
accumulates CDnet confusion counts over the scored frames (``gmmbg.metrics``), the seconds spent
in the method's own code (never decoding, reading ground truth or scoring), the background
image and its SBI measures against a true background, and small copies of the masks of the
frames the montage shows. Nothing else is kept: memory does not grow with the clip's length.

Which frames do what (0-based indices):

- *evaluated*: the temporal ROI when there is one (CDnet's ``temporalROI.txt``, 1-based and
  inclusive), the ground-truth frame of a single-image ground truth, else the whole clip;
  frames after the last evaluated one are not decoded at all;
- *scored*: the evaluated frames, when there is ground truth;
- *training* (batch methods): ``train`` when given, else the frames before the first evaluated
  frame when there are any (CDnet's warm-up frames), else the whole clip; thinned to at most
  ``MAX_TRAINING_FRAMES`` spread evenly (``pipeline.training_indices``);
- online methods see every frame up to the last evaluated one, in order; batch methods score
  only the evaluated frames and the montage frames.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gmmbg import media, metrics, pipeline
from gmmbg.background import METHODS
from gmmbg.background.opencv import INSTALL_HINT, OpenCVKNN, OpenCVMOG2, opencv_available
from gmmbg.errors import GmmbgError
from gmmbg.media import MediaError

OPENCV_METHODS = {"opencv-mog2": OpenCVMOG2, "opencv-knn": OpenCVKNN}

# The montage GIF shows at most this many frames, spread evenly over the evaluated frames
# (or the frames leading up to a single ground-truth frame), each panel at most this wide.
MAX_MONTAGE_FRAMES = 80
MONTAGE_PANEL_WIDTH = 160
MONTAGE_FPS = 10.0
_LABEL_HEIGHT = 14
_GAP = 2  # pixels between panels, on a dark grey canvas
_NO_TRUTH = metrics.OUTSIDE_ROI  # the ground-truth panel of a frame without ground truth

# CDnet code values: a mask holding only these is read as CDnet ground truth, any other mask
# is binarised at 128 (Wallflower's rule, and what a lossy mask video needs).
_CODES = np.zeros(256, dtype=bool)
_CODES[[metrics.STATIC, metrics.HARD_SHADOW, metrics.OUTSIDE_ROI, metrics.UNKNOWN,
        metrics.MOTION]] = True  # fmt: skip


# ------------------------------------------------------------------------------- methods


def method_names() -> list[str]:
    """Every method `compare` knows: gmmbg's, then OpenCV's."""
    return [*METHODS, *OPENCV_METHODS]


def default_methods() -> list[str]:
    """Every gmmbg method, plus OpenCV's MOG2 and KNN when OpenCV is installed."""
    return [*METHODS, *(OPENCV_METHODS if opencv_available() else ())]


def check_methods(names: Sequence[str]) -> list[str]:
    """Validate method names (duplicates dropped, order kept).

    Raises ValueError for an unknown name, GmmbgError when an OpenCV method is asked for
    and OpenCV is not installed.
    """
    chosen = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not chosen:
        raise ValueError(f"no method given: choose from {', '.join(method_names())}")
    unknown = [name for name in chosen if name not in method_names()]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}: choose from {', '.join(method_names())}")
    if any(name in OPENCV_METHODS for name in chosen) and not opencv_available():
        raise GmmbgError(INSTALL_HINT)
    return chosen


def build_method(name: str):
    """A background model for ``name`` with its default parameters."""
    if name in OPENCV_METHODS:
        return OPENCV_METHODS[name]()
    return pipeline.build_model(name)


def _warm_up(name: str) -> None:
    """Run a throwaway model of ``name`` on a tiny clip, so that Numba's one-time compilation
    (or cache load) is not counted in the method's seconds."""
    frames = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    model = build_method(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model.needs_training:
            model.fit(list(frames))
        mask = model.apply(frames[0])
        model.apply(frames[1], out=mask)
        model.background_image()


# -------------------------------------------------------------------------- ground truth


def to_truth_codes(mask: np.ndarray) -> np.ndarray:
    """A ground-truth mask as CDnet codes, uint8 ``(H, W)``.

    A mask holding only CDnet codes (0, 50, 85, 170, 255) is used as it is; any other
    (Wallflower's BMPs, a lossy mask video) is binarised at 128 with
    ``metrics.truth_from_binary``. Colour masks are read from channel 0.
    """
    plane = mask[:, :, 0] if mask.ndim == 3 else mask
    if plane.dtype == np.uint8 and _CODES[plane].all():
        return np.ascontiguousarray(plane)
    return metrics.truth_from_binary(plane)


def _is_roi_file(path: Path) -> bool:
    return path.stem.lower() == "roi"


@dataclass
class GroundTruth:
    """Where the ground truth of a clip is: a folder of masks (CDnet's ``groundtruth/``: one
    per frame, in natural order, ``ROI.*`` left out), a video of masks, or one mask image that
    shows frame ``frame`` (0-based)."""

    path: Path
    kind: str  # "folder", "video" or "image"
    n_frames: int
    height: int
    width: int
    frame: int | None = None
    files: list[Path] | None = field(default=None, repr=False)

    def frames(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """The CDnet codes, uint8 ``(H, W)``, of the 0-based frames ``indices`` (increasing)."""
        if self.kind == "folder":
            for index in indices:
                yield to_truth_codes(media.read_image(self.files[index]))
        elif self.kind == "image":
            if list(indices) not in ([], [self.frame]):
                raise ValueError(f"{self.path} is the ground truth of frame {self.frame} only")
            for _ in indices:
                yield to_truth_codes(media.read_image(self.path))
        else:
            count = 0
            for frame in media.iter_frames(self.path, list(indices)):
                count += 1
                yield to_truth_codes(frame)
            if count < len(indices):
                raise MediaError(
                    f"{self.path}: the ground-truth video ends after {count} of the "
                    f"{len(indices)} scored frames: give one mask per video frame"
                )


def open_ground_truth(path: str | os.PathLike, gt_frame: int | None = None) -> GroundTruth:
    """Find out what ``path`` holds (see :class:`GroundTruth`); ``gt_frame`` (0-based) is
    required for, and only allowed with, a single mask image."""
    path = media.check_input(path)
    is_image = path.is_file() and path.suffix.lower() in media.IMAGE_EXTENSIONS
    if is_image:
        if gt_frame is None:
            raise ValueError(
                f"{path} is a single ground-truth image: give --gt-frame N, the 0-based "
                "frame it shows"
            )
        image = media.read_image(path)
        return GroundTruth(path, "image", 1, image.shape[0], image.shape[1], frame=gt_frame)
    if gt_frame is not None:
        raise ValueError(
            "--gt-frame is for a single ground-truth image; a folder or video of masks "
            "gives every frame"
        )
    if path.is_dir():
        files = [p for p in media.folder_images(path) if not _is_roi_file(p)]
        if not files:
            raise MediaError(f"{path}: the ground-truth folder holds no mask images")
        first = media.read_image(files[0])
        return GroundTruth(path, "folder", len(files), first.shape[0], first.shape[1],
                           files=files)  # fmt: skip
    info = media.probe_video(path)
    return GroundTruth(path, "video", info.n_frames, info.height, info.width)


def find_beside(truth: str | os.PathLike, names: Sequence[str]) -> Path | None:
    """The first file named one of ``names`` beside the ground truth, or None.

    Looks in a ground-truth folder itself and in its parent (CDnet's layout:
    ``highway/temporalROI.txt`` next to ``highway/groundtruth/``), or in the folder of a
    ground-truth file.
    """
    truth = Path(truth)
    folders = [truth, truth.parent] if truth.is_dir() else [truth.parent]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def read_roi(path: str | os.PathLike) -> np.ndarray:
    """A region-of-interest mask: bool ``(H, W)``, True where pixels are scored (non-zero)."""
    image = media.read_image(path)
    return (image[:, :, 0] if image.ndim == 3 else image) != 0


# ------------------------------------------------------------------------------- results


@dataclass
class MethodResult:
    """What one method did on the clip."""

    method: str
    counts: np.ndarray  # int64 (4,): [tp, fp, fn, tn] summed over the scored frames
    frames: int = 0  # frames passed to apply
    train_frames: int = 0
    train_seconds: float = 0.0
    apply_seconds: float = 0.0
    background: np.ndarray | None = field(default=None, repr=False)
    background_scores: dict[str, float] = field(default_factory=dict)

    def row(self, scored: bool) -> dict:
        """One flat row of figures (CDnet scores only when frames were scored)."""
        row = {"method": self.method}
        if scored:
            row.update(metrics.cdnet_scores(self.counts))
            row.update(zip(("tp", "fp", "fn", "tn"), (int(c) for c in self.counts), strict=True))
        row.update(self.background_scores)
        row.update(
            frames=self.frames,
            train_frames=self.train_frames,
            train_seconds=self.train_seconds,
            apply_seconds=self.apply_seconds,
            seconds=self.train_seconds + self.apply_seconds,
            frames_per_second=self.frames / self.apply_seconds if self.apply_seconds else None,
        )
        return row


@dataclass
class MontageFrame:
    """The panels of one montage frame: the input, its ground truth (CDnet codes, or None
    where it has none) and each method's mask, all the same size."""

    index: int
    image: np.ndarray
    truth: np.ndarray | None
    masks: dict[str, np.ndarray]


@dataclass
class Comparison:
    """The result of :func:`compare`."""

    video: str
    n_frames: int
    fps: float | None
    evaluated: range | list[int]
    scored: bool
    training: list[int]
    results: list[MethodResult]
    montage: list[MontageFrame]
    still: MontageFrame
    temporal_roi: tuple[int, int] | None = None
    ground_truth: str | None = None
    gt_frame: int | None = None
    roi: str | None = None
    background_truth: str | None = None
    parameters: dict[str, dict] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row of figures per method."""
        return [result.row(self.scored) for result in self.results]

    def summary(self) -> dict:
        """Everything but the images, for metrics.json and --json (nan and inf as null)."""
        return _finite(
            {
                "command": "compare",
                "input": self.video,
                "frames": self.n_frames,
                "ground_truth": self.ground_truth,
                "gt_frame": self.gt_frame,
                "temporal_roi": list(self.temporal_roi) if self.temporal_roi else None,
                "roi": self.roi,
                "background_truth": self.background_truth,
                "evaluated_range": [self.evaluated[0], self.evaluated[-1]],
                "scored_frames": len(self.evaluated) if self.scored else 0,
                "training_frames": len(self.training),
                "training_range": [self.training[0], self.training[-1]] if self.training else None,
                "montage_frames": len(self.montage),
                "montage_still_frame": self.still.index,
                "methods": self.rows(),
                "parameters": self.parameters,
            }
        )


def _jsonable(value):
    """numpy scalars and arrays (model parameters) as JSON types."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _finite(value):
    """``value`` with every nan or infinite float replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------- run


def _evenly(indices: Sequence[int], count: int) -> list[int]:
    """At most ``count`` of ``indices``, spread evenly, first and last included."""
    if len(indices) <= count:
        return list(indices)
    picks = np.unique(np.linspace(0, len(indices) - 1, count).round().astype(int))
    return [indices[i] for i in picks]


def _shrink(image: np.ndarray, factor: int, average: bool) -> np.ndarray:
    """``image`` made ``factor`` times smaller: block means (``average``) or every
    ``factor``-th pixel (masks, whose values are labels)."""
    if factor == 1:
        return image.copy()
    if not average:
        return image[::factor, ::factor].copy()
    height, width = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    blocks = image[:height, :width].reshape(height // factor, factor, width // factor, factor, -1)
    return (
        blocks.mean(axis=(1, 3))
        .round()
        .astype(np.uint8)
        .reshape(height // factor, width // factor, *image.shape[2:])
    )


def _check_size(what: str, height: int, width: int, info: media.VideoInfo, hint: str) -> None:
    if (height, width) != (info.height, info.width):
        raise ValueError(
            f"{what} is {width}x{height} but the video is {info.width}x{info.height}: {hint}"
        )


def compare(
    video: str | os.PathLike,
    methods: Sequence[str],
    *,
    truth: GroundTruth | None = None,
    roi: np.ndarray | str | os.PathLike | None = None,
    temporal_roi: tuple[int, int] | None = None,
    background_truth: np.ndarray | str | os.PathLike | None = None,
    train: slice | None = None,
    max_montage_frames: int = MAX_MONTAGE_FRAMES,
    progress: pipeline.Progress = pipeline.no_progress,
) -> Comparison:
    """Run ``methods`` on ``video`` and score them.

    Parameters
    ----------
    video : path
        A video file or a folder of frames (see ``gmmbg.media``).
    methods : sequence of str
        Names from :func:`method_names`.
    truth : GroundTruth, optional
        From :func:`open_ground_truth`; without it only timings and backgrounds are measured.
    roi : bool array, shape (H, W), or the path of a mask image, optional
        Only True (non-zero) pixels are scored.
    temporal_roi : (first, last), optional
        1-based inclusive frame numbers to evaluate (CDnet's ``temporalROI.txt``).
    background_truth : uint8 array, shape (H, W) or (H, W, C), or an image path, optional
        The true background, to score each method's background image (AGE, pEPs, pCEPs,
        PSNR: ``gmmbg.metrics``).
    train : slice, optional
        Training frames of the batch methods, 0-based (see the module docstring).
    max_montage_frames : int
        Frames kept for the montage GIF.
    progress : callable
        ``(items, total, description) -> items``, e.g. a tqdm bar.

    Raises
    ------
    ValueError, GmmbgError
        One-line messages for inputs that do not fit the video.
    """
    methods = check_methods(methods)
    video = media.check_input(video)
    info = media.probe_video(video)
    roi, roi_source = _array_or_file(roi, read_roi)
    background_truth, background_source = _array_or_file(background_truth, media.read_image)
    evaluated = _evaluated_frames(info.n_frames, truth, temporal_roi)
    _check_inputs(info, truth, roi, background_truth)
    training = _training_frames(info.n_frames, evaluated, train)
    last = evaluated[-1]
    if len(evaluated) > 1:
        montage_indices = _evenly(evaluated, max_montage_frames)
    else:  # a single evaluated frame: the clip leading up to it
        montage_indices = list(range(max(0, last + 1 - max_montage_frames), last + 1))

    models = {name: build_method(name) for name in methods}
    for name in methods:
        _warm_up(name)
    results = {name: MethodResult(name, np.zeros(4, np.int64)) for name in methods}
    batch = [name for name in methods if models[name].needs_training]
    if batch:
        _train(models, results, batch, video, training, progress)

    run = _Run(models, results, truth, roi, evaluated, montage_indices, info)
    online = len(batch) < len(methods)
    wanted = range(last + 1) if online else sorted(set(evaluated) | set(montage_indices))
    decoded = media.iter_frames(video, wanted)
    count = 0
    for index, frame in zip(wanted, progress(decoded, len(wanted), "comparing"), strict=False):
        run.step(index, frame)
        count += 1
    if count < len(wanted):
        raise MediaError(
            f"{video}: decoding stopped after {count} of {len(wanted)} frames "
            "(the file may be truncated)"
        )

    for name, model in models.items():
        result = results[name]
        result.background = model.background_image()
        if background_truth is not None:
            result.background_scores = _background_scores(result.background, background_truth)
    return Comparison(
        video=str(video),
        n_frames=info.n_frames,
        fps=info.fps,
        evaluated=evaluated,
        scored=truth is not None,
        training=training if batch else [],
        results=list(results.values()),
        montage=run.montage,
        still=run.still,
        temporal_roi=temporal_roi,
        ground_truth=str(truth.path) if truth is not None else None,
        gt_frame=truth.frame if truth is not None else None,
        roi=roi_source,
        background_truth=background_source,
        parameters={name: model.get_params() for name, model in models.items()},
    )


def _array_or_file(value, read) -> tuple[np.ndarray | None, str | None]:
    """``(array, where it came from)`` for an array or a path read with ``read``."""
    if value is None:
        return None, None
    if isinstance(value, np.ndarray):
        return value, "(array)"
    return read(value), str(value)


def _training_frames(n_frames: int, evaluated: Sequence[int], train: slice | None) -> list[int]:
    """The batch methods' training frames (see the module docstring)."""
    if train is None and evaluated[0] > 0:
        train = slice(0, evaluated[0])
    return pipeline.training_indices(n_frames, train)


def _evaluated_frames(
    n_frames: int, truth: GroundTruth | None, temporal_roi: tuple[int, int] | None
) -> range | list[int]:
    """The 0-based frames to evaluate (see the module docstring), validated."""
    if truth is not None and truth.kind == "image":
        if temporal_roi is not None:
            raise ValueError(
                "--temporal-roi does not apply to a single ground-truth image: only its "
                "frame (--gt-frame) is scored"
            )
        if not 0 <= truth.frame < n_frames:
            raise ValueError(
                f"--gt-frame {truth.frame} is not a frame of this {n_frames}-frame video "
                f"(0-based: 0 to {n_frames - 1})"
            )
        return [truth.frame]
    if temporal_roi is not None:
        first, last = temporal_roi
        if not 1 <= first <= last <= n_frames:
            raise ValueError(
                f"temporal ROI {first}:{last} is not within this {n_frames}-frame video "
                f"(1-based frame numbers, 1 to {n_frames})"
            )
        return range(first - 1, last)
    return range(n_frames)


def _check_inputs(
    info: media.VideoInfo,
    truth: GroundTruth | None,
    roi: np.ndarray | None,
    background_truth: np.ndarray | None,
) -> None:
    """Fail before any work when the ground truth, ROI or true background do not fit."""
    if truth is not None:
        _check_size(f"the ground truth ({truth.path})", truth.height, truth.width, info,
                    "give masks of the video's frame size")  # fmt: skip
        if truth.kind != "image" and truth.n_frames < info.n_frames:
            raise ValueError(
                f"the ground truth ({truth.path}) has {truth.n_frames} frames but the video "
                f"has {info.n_frames}: give one mask per video frame"
            )
    if roi is not None:
        _check_size("the ROI mask", roi.shape[0], roi.shape[1], info,
                    "give a ROI mask of the frame size")  # fmt: skip
    if background_truth is not None:
        _check_size("the true background", background_truth.shape[0], background_truth.shape[1],
                    info, "give a background image of the frame size")  # fmt: skip


def _train(models, results, batch, video, training, progress) -> None:
    """Decode the training frames once, into one stack that every batch model is fitted on
    (timed), so that memory holds one stack, not one per model."""
    from gmmbg.background.pixel_gmm import stack_frames

    frames = progress(media.iter_frames(video, training), len(training), "reading training")
    stack = stack_frames(pipeline.Counted(frames, len(training)))
    for name in batch:
        start = time.perf_counter()
        models[name].fit(stack)
        results[name].train_seconds = time.perf_counter() - start
        results[name].train_frames = len(stack)


def _background_scores(background: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """SBI measures of one background image against the true background."""
    if (background.ndim == 3) != (truth.ndim == 3):  # one gray: compare both as RGB
        background, truth = media.to_rgb(background), media.to_rgb(truth)
    return {
        "age": metrics.age(background, truth),
        "peps": metrics.peps(background, truth),
        "pceps": metrics.pceps(background, truth),
        "psnr": metrics.psnr(background, truth),
    }


class _Run:
    """The main pass: feeds each frame to every method, scores, keeps montage panels."""

    def __init__(self, models, results, truth, roi, evaluated, montage_indices, info):
        self.models = models
        self.results = results
        self.masks = {name: None for name in models}
        self.outside_roi = None if roi is None else ~roi
        self.evaluated = set(evaluated)
        self.montage_indices = set(montage_indices)
        self.batch_frames = self.evaluated | self.montage_indices  # what batch methods score
        self.montage: list[MontageFrame] = []
        self.factor = max(1, math.ceil(info.width / MONTAGE_PANEL_WIDTH))
        self.truth = truth.frames(list(evaluated)) if truth is not None else None
        # The still (montage.png) is the scored frame with the most motion in the ground
        # truth (the first of equals); without ground truth, the middle evaluated frame.
        self.still_index = None if truth is not None else evaluated[len(evaluated) // 2]
        self.still: MontageFrame | None = None
        self.still_motion = -1

    def step(self, index: int, frame: np.ndarray) -> None:
        truth = None
        if self.truth is not None and index in self.evaluated:
            truth = next(self.truth)
            if self.outside_roi is not None:
                truth = truth.copy()
                truth[self.outside_roi] = metrics.OUTSIDE_ROI
        for name, model in self.models.items():
            if model.needs_training and index not in self.batch_frames:
                continue
            result = self.results[name]
            start = time.perf_counter()
            self.masks[name] = model.apply(frame, out=self.masks[name])
            result.apply_seconds += time.perf_counter() - start
            result.frames += 1
            if truth is not None:
                result.counts += metrics.confusion_counts(self.masks[name], truth)
        if index in self.montage_indices:
            self.montage.append(self._panels(index, frame, truth, self.factor))
        if truth is not None:
            motion = int(np.count_nonzero(truth == metrics.MOTION))
            if motion > self.still_motion:
                self.still, self.still_motion = self._panels(index, frame, truth, 1), motion
        elif index == self.still_index:
            self.still = self._panels(index, frame, None, 1)

    def _panels(self, index, frame, truth, factor) -> MontageFrame:
        """The current frame's panels, ``factor`` times smaller (every method has a mask of
        this frame: montage and scored frames are fed to every method)."""
        masks = {name: _shrink(mask, factor, average=False) for name, mask in self.masks.items()}
        truth = None if truth is None else _shrink(truth, factor, average=False)
        return MontageFrame(index, _shrink(frame, factor, average=True), truth, masks)


# ------------------------------------------------------------------------------ report

# (key, table heading, format) of every column a table can show, in order.
_COLUMNS = [
    ("method", "method", "{}"),
    ("f_measure", "F", "{:.4f}"),
    ("precision", "Pr", "{:.4f}"),
    ("recall", "Re", "{:.4f}"),
    ("specificity", "Sp", "{:.4f}"),
    ("pwc", "PWC", "{:.3f}"),
    ("age", "AGE", "{:.2f}"),
    ("peps", "pEPs", "{:.4f}"),
    ("pceps", "pCEPs", "{:.4f}"),
    ("psnr", "PSNR", "{:.2f}"),
    ("train_seconds", "train s", "{:.2f}"),
    ("apply_seconds", "apply s", "{:.2f}"),
    ("frames_per_second", "frames/s", "{:.1f}"),
]


def format_table(rows: list[dict]) -> str:
    """An aligned text table of the main figures (columns present in the rows only)."""
    columns = [c for c in _COLUMNS if rows and c[0] in rows[0]]
    cells = [[heading for _, heading, _ in columns]]
    for row in rows:
        cells.append([_cell(row.get(key), style) for key, _, style in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for number, line in enumerate(cells):
        text = [line[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(line[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(text).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value, style: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return style.format(value)


def format_markdown(rows: list[dict]) -> str:
    """The table of :func:`format_table` as a Markdown table."""
    columns = [c for c in _COLUMNS if rows and c[0] in rows[0]]
    lines = ["| " + " | ".join(heading for _, heading, _ in columns) + " |"]
    lines.append("|" + "|".join("---" if key == "method" else "---:" for key, _, _ in columns)
                 + "|")  # fmt: skip
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k), s) for k, _, s in columns) + " |")
    return "\n".join(lines)


def format_csv(rows: list[dict]) -> str:
    """Every figure of every row as CSV (nan and inf as empty cells)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in _finite(rows):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def montage_image(frame: MontageFrame, rows: list[dict] | None = None) -> np.ndarray:
    """One montage frame: labelled panels (input, ground truth, each method's mask) on a
    grid, uint8 RGB ``(H', W', 3)``. ``rows`` adds each method's F-measure to its label."""
    from PIL import Image, ImageDraw, ImageFont

    scores = {row["method"]: row.get("f_measure") for row in rows or []}
    panels = [("input", frame.image)]
    if frame.truth is not None or any(v is not None for v in scores.values()):
        truth = frame.truth
        if truth is None:
            truth = np.full(frame.image.shape[:2], _NO_TRUTH, np.uint8)
        panels.append(("ground truth", truth))
    for name, mask in frame.masks.items():
        score = scores.get(name)
        label = name if score is None or math.isnan(score) else f"{name}  F={score:.3f}"
        panels.append((label, mask))
    height, width = frame.image.shape[:2]
    columns = math.ceil(math.sqrt(len(panels)))
    grid_rows = math.ceil(len(panels) / columns)
    cell_width, cell_height = width + _GAP, height + _LABEL_HEIGHT
    size = (columns * cell_width - _GAP, grid_rows * cell_height)
    canvas = Image.new("RGB", size, (48, 48, 48))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for number, (label, panel) in enumerate(panels):
        x, y = number % columns * cell_width, number // columns * cell_height
        canvas.paste(Image.fromarray(media.to_rgb(panel)), (x, y + _LABEL_HEIGHT))
        draw.text((x + 3, y + 1), label, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def write_report(
    comparison: Comparison, folder: str | os.PathLike, force: bool = False
) -> list[Path]:
    """Write the report folder: metrics.json, metrics.csv, montage.gif, montage.png and
    ``<method>-background.png``; returns the paths written.

    The files are written to a temporary sibling folder that replaces ``folder`` only when
    complete. An existing non-empty ``folder`` is refused unless ``force``.
    """
    folder = Path(folder)
    _check_report_folder(folder, force)
    rows = comparison.rows()
    names = ["metrics.json", "metrics.csv", "montage.gif", "montage.png"]
    names += [f"{result.method}-background.png" for result in comparison.results]
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        summary = comparison.summary()
        (temporary / "metrics.json").write_text(
            json.dumps(summary, indent=2, default=_jsonable) + "\n"
        )
        (temporary / "metrics.csv").write_text(format_csv(rows))
        with media.FrameWriter(temporary / "montage.gif", fps=MONTAGE_FPS) as gif:
            for frame in comparison.montage:
                gif.write(montage_image(frame, rows))
        media.write_image(temporary / "montage.png", montage_image(comparison.still, rows))
        for result in comparison.results:
            media.write_image(temporary / f"{result.method}-background.png", result.background)
        _share_like_umask(temporary)
        _replace_folder(temporary, folder, force)
    except OSError as error:
        raise MediaError(f"{folder}: cannot write the report ({error.strerror or error})") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return [folder / name for name in names]


def _share_like_umask(folder: Path) -> None:
    """Give the folder and its files the permissions the umask allows (temporary files and
    folders are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def _check_report_folder(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise MediaError(f"{folder}: is a file; the report needs a folder (choose another -o)")
    media.check_output(folder, force)


def _replace_folder(new: Path, folder: Path, force: bool) -> None:
    """Move the finished folder ``new`` to ``folder``, replacing an old one (checked again:
    it may have appeared while the methods ran)."""
    _check_report_folder(folder, force)
    old = None
    if folder.is_dir():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
        os.replace(folder, old / folder.name)
    try:
        os.replace(new, folder)
    except OSError:
        if old is not None:
            os.replace(old / folder.name, folder)  # put the old report back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

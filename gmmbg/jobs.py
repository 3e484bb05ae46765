"""The per-video jobs: one function per command, the only code that runs a command on a video.

``gmmbg subtract``, ``gmmbg extract-background`` and ``gmmbg compare`` call these for one
video, and ``gmmbg.distributed`` calls the same functions for each of many videos, in this
process or as tasks on Dask workers. Each takes an input path, an output path and plain
options (numbers, strings, slices: values that pickle), streams the video as ``gmmbg.media``
reads it, writes its outputs atomically, and returns a JSON-able report.

``progress`` and ``log`` are for a caller in this process that shows a terminal; a task on
a worker leaves them out.

Example::

    from gmmbg import jobs

    report = jobs.subtract("street.gif", "street-masks.gif", method="online")
    report["frames"], report["outputs"]
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable

import numpy as np

from gmmbg import compare as comparing
from gmmbg import media, metrics, pipeline
from gmmbg.pipeline import MAX_TRAINING_FRAMES, Progress, no_progress

PathLike = str | os.PathLike
Log = Callable[[str, int], None]  # (message, verbosity level: 0 normal, 1 with -v)
FOREGROUND = 255  # mask value of foreground pixels (shadows are 127)


def quiet(message: str, level: int = 0) -> None:
    """A log that says nothing."""


def check_subtract(method: str, learning_rate: float, load_model: PathLike | None) -> None:
    """Raise ValueError for a combination of subtract options that cannot work (the command
    line checks them before any work, as usage errors)."""
    if learning_rate != -1 and not 0 <= learning_rate < 1:
        raise ValueError(
            f"--learning-rate {learning_rate}: use -1 (automatic) or a rate from 0 to below 1 "
            "(1 would restart the model on every frame)"
        )
    if load_model is not None and method != "online":
        raise ValueError("--load-model needs --method online")


def _check_resumable(model, path: PathLike, info: media.VideoInfo) -> None:
    """Refuse a loaded online model that this video's frames would silently reset."""
    height, width = model.frame_shape_[:2]
    if (info.height, info.width) != (height, width):
        raise ValueError(
            f"{path}: the model was learned on {width}x{height} frames and this video is "
            f"{info.width}x{info.height}: resume a model only on the video it was saved from"
        )


def check_compare(
    output: PathLike | None, ground_truth: PathLike | None, gt_frame: int | None
) -> None:
    """Raise ValueError for compare options that cannot work (see :func:`check_subtract`)."""
    if output is not None and str(output) == "-":
        raise ValueError("the report is a folder, not '-': use --json or --csv to print results")
    if gt_frame is not None and ground_truth is None:
        raise ValueError("--gt-frame needs --ground-truth IMAGE")


def subtract(
    video: PathLike,
    output: PathLike,
    *,
    method: str = "gmm",
    n_components: int | None = None,
    max_train_frames: int = MAX_TRAINING_FRAMES,
    history: int | None = None,
    threshold: float | None = None,
    var_threshold: float | None = None,
    learning_rate: float = -1.0,
    shadows: bool | None = None,
    train: slice | None = None,
    frames: slice | None = None,
    save_model: PathLike | None = None,
    load_model: PathLike | None = None,
    media_format: str | None = None,
    force: bool = False,
    progress: Progress = no_progress,
    log: Log = quiet,
) -> dict:
    """Write a foreground mask for each frame of ``video`` to ``output`` (a video file, a
    folder of PNGs, or ``-``); see ``gmmbg subtract --help`` for the options.

    ``None`` options take the method's default. Returns the report ``--json`` prints:
    method, parameters, frames, seconds (training and masks), frames per second, mean
    foreground fraction, outputs.
    """
    check_subtract(method, learning_rate, load_model)
    media.check_output(output, force)
    if save_model:
        media.check_output(save_model, force)
    with media.open_source(video, media_format) as source:
        info = media.probe_video(source)
        if load_model is not None:
            from gmmbg.background import OnlineGMM

            model = OnlineGMM.load(media.check_input(load_model))
            _check_resumable(model, load_model, info)
            ignored = {
                "-k": n_components,
                "--history": history,
                "--var-threshold": var_threshold,
                "--shadows/--no-shadows": shadows,
            }
            for flag in (flag for flag, value in ignored.items() if value is not None):
                warnings.warn(
                    f"{flag} has no effect with --load-model: the model keeps its own parameters",
                    stacklevel=2,
                )
        else:
            model = pipeline.build_model(
                method, n_components=n_components, threshold=threshold, history=history,
                var_threshold=var_threshold, detect_shadows=shadows,
            )  # fmt: skip
        start = time.perf_counter()
        if model.needs_training:
            indices = pipeline.training_indices(info.n_frames, train, max_train_frames)
            log(f"training {method} on {len(indices)} frames", 1)
            pipeline.train(model, source, indices, progress)
        elif train is not None:
            warnings.warn(
                "--train has no effect with --method online: it learns from every frame",
                stacklevel=2,
            )
        names = info.frame_names
        if names is not None and frames is not None:
            names = [names[i] for i in pipeline.frame_range(info.n_frames, frames)]
        with media.FrameWriter(output, fps=info.fps, frame_names=names, force=force,
                               format=media_format or "gif") as writer:  # fmt: skip
            masks = pipeline.stream_masks(model, source, frames, info.n_frames, progress,
                                          learning_rate=learning_rate)  # fmt: skip
            foreground, is_foreground = 0.0, None
            for mask in masks:
                writer.write(mask)
                if is_foreground is None or is_foreground.shape != mask.shape:
                    is_foreground = np.empty(mask.shape, bool)  # one buffer for every frame
                np.equal(mask, FOREGROUND, out=is_foreground)
                foreground += np.count_nonzero(is_foreground) / mask.size
        seconds = time.perf_counter() - start
    if save_model:
        with media.atomic_path(save_model, force) as temporary:  # no half-written model
            model.save(temporary)
    return _model_report(
        "subtract", video, method, model, writer.count, seconds,
        frames_per_second=round(writer.count / seconds, 2) if seconds else None,
        mean_foreground_fraction=round(foreground / max(writer.count, 1), 6),
        outputs=[str(p) for p in (output, save_model) if p and str(p) != "-"],
    )  # fmt: skip


def extract_background(
    video: PathLike,
    output: PathLike,
    *,
    method: str = "gmm",
    n_components: int | None = None,
    max_train_frames: int = MAX_TRAINING_FRAMES,
    history: int | None = None,
    frames: slice | None = None,
    media_format: str | None = None,
    force: bool = False,
    progress: Progress = no_progress,
    log: Log = quiet,
) -> dict:
    """Write the background image of ``video`` to ``output`` (an image file or ``-``); see
    ``gmmbg extract-background --help`` for the options.

    Returns the report ``--json`` prints: method, parameters, frames learned from, seconds,
    size, outputs.
    """
    media.check_output(output, force)
    with media.open_source(video, media_format) as source:
        info = media.probe_video(source)
        model = pipeline.build_model(method, n_components=n_components, history=history)
        learned = pipeline.background_frames(model, info.n_frames, frames, max_train_frames)
        log(f"{method} learns the background from {len(learned)} frames", 1)
        start = time.perf_counter()
        background = pipeline.extract_background(
            model, source, frames, info.n_frames, max_train_frames, progress
        )
        seconds = time.perf_counter() - start
    media.write_image(output, background, force=force, format=media_format or "png")
    return _model_report(
        "extract-background", video, method, model, len(learned), seconds,
        height=info.height, width=info.width,
        outputs=[str(output)] if str(output) != "-" else [],
    )  # fmt: skip


def compare(
    video: PathLike,
    output: PathLike,
    *,
    methods: list[str] | None = None,
    ground_truth: PathLike | None = None,
    gt_frame: int | None = None,
    roi: PathLike | None = None,
    temporal_roi: tuple[int, int] | None = None,
    background_truth: PathLike | None = None,
    train: slice | None = None,
    media_format: str | None = None,
    force: bool = False,
    progress: Progress = no_progress,
    log: Log = quiet,
) -> dict:
    """Run ``methods`` (default: ``gmmbg.compare.default_methods()``) on ``video``, score them
    against ``ground_truth`` and write the report folder ``output``; see ``gmmbg compare
    --help`` for the options.

    Without ``temporal_roi`` or ``roi``, CDnet's ``temporalROI.txt`` and ``ROI.bmp`` beside
    the ground truth are used when present. Returns the report ``--json`` prints: the summary
    of ``metrics.json`` (per method: CDnet scores, seconds, frames per second), the job's
    seconds and the files written.
    """
    start = time.perf_counter()
    names = comparing.check_methods(methods if methods is not None else comparing.default_methods())
    check_compare(output, ground_truth, gt_frame)
    media.check_output(output, force)
    truth = None
    if ground_truth is not None:
        truth = comparing.open_ground_truth(ground_truth, gt_frame)
        if temporal_roi is None and truth.kind != "image":
            found = comparing.find_beside(ground_truth, ["temporalROI.txt"])
            if found is not None:
                temporal_roi = metrics.read_temporal_roi(found)
                log(f"temporal ROI {temporal_roi[0]}:{temporal_roi[1]} from {found}", 0)
        if roi is None:
            roi = comparing.find_beside(ground_truth, ["ROI.bmp", "ROI.png"])
            if roi is not None:
                log(f"region of interest from {roi}", 0)
    with media.open_source(video, media_format) as source:
        result = comparing.compare(
            source, names, truth=truth, roi=roi, temporal_roi=temporal_roi,
            background_truth=background_truth, train=train, progress=progress,
        )  # fmt: skip
    result.video = str(video)
    written = comparing.write_report(result, output, force)
    return _plain(
        {
            **result.summary(),
            "seconds": round(time.perf_counter() - start, 4),
            "outputs": [str(path) for path in written],
        }
    )


def _model_report(command: str, video: PathLike, method: str, model, frames: int,
                  seconds: float, **figures) -> dict:  # fmt: skip
    """The report of a job that ran one background model: command, input, method,
    parameters, frames, seconds, then ``figures`` (as JSON types, see :func:`_plain`)."""
    return _plain(
        {
            "command": command,
            "input": str(video),
            "method": method,
            "parameters": model.get_params(),
            "frames": frames,
            "seconds": round(seconds, 4),
            **figures,
        }
    )


def _plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists, tuples as lists
    and nan or infinite floats as None: what ``json.dumps`` writes as strict JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

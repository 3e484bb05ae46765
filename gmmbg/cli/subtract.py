"""`gmmbg subtract VIDEO...`: a foreground mask for every frame of each video."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    MODEL_DEFAULTS,
    THRESHOLD_HELP,
    VIDEOS_ARGUMENT,
    FrameSlice,
    NonNegative,
    check_skip_and_force,
    default_output,
    expand_videos,
    force_option,
    format_option,
    json_option,
    log,
    log_outputs,
    many_options,
    refuse_two_stdouts,
    run_many,
    run_one,
    video_model_options,
)


@click.command()
@VIDEOS_ARGUMENT
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="MASKS",
    help="Masks as .gif/.mp4/.avi/.mkv/.webm, a folder/ of PNGs (named after the "
    "input frames), or '-' for stdout (default: <video stem>-masks.gif). With several "
    "videos: the folder that receives each one's <stem>-masks.gif, created if missing "
    "(default: the current folder).",
)
@video_model_options
@click.option("--threshold", type=NonNegative(), default=None, help=THRESHOLD_HELP)
@click.option(
    "--var-threshold",
    type=NonNegative(),
    default=None,
    help="online: squared Mahalanobis distance, in variances (sigma squared: 16 is 4 sigma), "
    "within which a value is background (MOG2's varThreshold; default: "
    f"{MODEL_DEFAULTS['var_threshold']['online']}).",
)
@click.option(
    "--learning-rate",
    type=float,
    default=-1.0,
    show_default=True,
    help="online: learning rate per frame: -1 automatic (1/min(2n, history) at the n-th "
    "frame), 0 frozen, or a fixed rate below 1. Batch methods do not learn while scoring.",
)
@click.option(
    "--shadows/--no-shadows",
    default=None,
    help="online: mark shadows (darker copies of the background) 127 in the masks, else "
    "255 (default: on).",
)
@click.option(
    "--train",
    type=FrameSlice(),
    default=None,
    help="Batch methods: training frames, a 0-based slice of frame indices, thinned to "
    "--max-train-frames (default: the whole clip).",
)
@click.option(
    "--frames",
    type=FrameSlice(),
    default=None,
    help="Frames to write masks for, a 0-based slice of frame indices; online still learns "
    "from every frame up to the last one asked for (default: every frame).",
)
@click.option(
    "--save-model",
    default=None,
    metavar="MODEL.npz",
    help="online: save the model state at the end, to resume with --load-model (default: "
    "not saved).",
)
@click.option(
    "--load-model",
    default=None,
    metavar="MODEL.npz",
    help="online: start from a model state saved with --save-model (default: none, an "
    "empty model).",
)
@format_option("gif", several=True)
@json_option("a summary on stderr")
@force_option
@many_options
@click.pass_context
def subtract(ctx, videos, output, method, k, max_train_frames, history, threshold, var_threshold,
             learning_rate, shadows, train, frames, save_model, load_model, media_format,
             as_json, force, workers, scheduler, skip_existing):  # fmt: skip
    """Write a foreground mask (0 background, 255 foreground, 127 shadow) for each frame of
    each VIDEO: a GIF, MP4/AVI/WebM/MKV file, a folder of images, or '-' for stdin.

    Batch methods (gmm, mean, median, kmeans) first learn from the training frames, then
    score every frame; online learns as it goes, in constant memory.

    Several videos (paths, globs, or folders of video files) each get
    <stem>-masks.gif (or .EXT with --format EXT) in the -o folder (default: the current
    folder), one after another or on Dask with --workers / --scheduler; a video that fails
    does not stop the others (exit code 1).
    """
    from gmmbg import jobs

    try:
        jobs.check_subtract(method, learning_rate, load_model)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    check_skip_and_force(skip_existing, force)
    options = dict(
        method=method, n_components=k, max_train_frames=max_train_frames, history=history,
        threshold=threshold, var_threshold=var_threshold, learning_rate=learning_rate,
        shadows=shadows, train=train, frames=frames, load_model=load_model,
    )  # fmt: skip
    videos, many = expand_videos(videos, workers, scheduler)
    if many:
        if save_model:
            raise click.UsageError("--save-model saves one video's model: give one input")
        run_many(ctx, "subtract", videos, output, f"-masks.{media_format or 'gif'}",
                 lambda video: options, workers=workers, scheduler=scheduler,
                 skip_existing=skip_existing, force=force, as_json=as_json)  # fmt: skip
        return
    video = videos[0]
    output = output or default_output(video, "-masks.gif")
    refuse_two_stdouts(output, as_json)
    report = run_one(ctx, "subtract", video, output, {**options, "save_model": save_model},
                     media_format=media_format, force=force, skip_existing=skip_existing,
                     as_json=as_json)  # fmt: skip
    if report is not None and not as_json:
        log(ctx, f"{report['frames']} masks with {method} in {report['seconds']:.2f} s "
                 f"({report['frames_per_second']} frames/s)")  # fmt: skip
        log_outputs(ctx, report["outputs"])

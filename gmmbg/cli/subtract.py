"""`gmmbg subtract VIDEO...`: a foreground mask for every frame of each video."""

from __future__ import annotations

from functools import partial

import click

from gmmbg.cli.options import (
    VIDEOS_ARGUMENT,
    FrameSlice,
    NonNegative,
    check_skip_and_force,
    default_output,
    emit_json,
    force_option,
    format_option,
    json_option,
    log,
    many_options,
    progress_reporter,
    refuse_two_stdouts,
    run_many,
    skip_single,
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
    "videos: the folder that receives each one's <stem>-masks.gif (created if missing).",
)
@video_model_options
@click.option(
    "--threshold",
    type=NonNegative(),
    default=None,
    help="Foreground threshold. gmm: Mahalanobis distance in sigmas (default 2.5); "
    "mean / median / kmeans: colour distance in grey levels (see README).",
)
@click.option(
    "--var-threshold",
    type=NonNegative(),
    default=None,
    help="online: squared Mahalanobis distance for background (default 16).",
)
@click.option(
    "--learning-rate",
    type=float,
    default=-1.0,
    show_default=True,
    help="online: -1 automatic (1/min(2n, history)), 0 frozen, in (0, 1) fixed.",
)
@click.option(
    "--shadows/--no-shadows",
    default=None,
    help="online: mark shadows 127 in the masks (default on).",
)
@click.option(
    "--train",
    type=FrameSlice(),
    default=None,
    help="Batch methods: training frames, 0-based slice START:STOP[:STEP] "
    "(default: the whole clip).",
)
@click.option(
    "--frames",
    type=FrameSlice(),
    default=None,
    help="Frames to write masks for, 0-based slice (default: all).",
)
@click.option(
    "--save-model",
    default=None,
    metavar="MODEL.npz",
    help="online: save the model state at the end, to resume later.",
)
@click.option(
    "--load-model",
    default=None,
    metavar="MODEL.npz",
    help="online: start from a saved model state instead of an empty one.",
)
@format_option("gif", "masks")
@json_option
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
    from gmmbg import distributed, jobs

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
    videos, many = distributed.expand_inputs(videos)
    if many or workers is not None or scheduler is not None:
        if save_model:
            raise click.UsageError("--save-model saves one video's model: give one input")
        run_many(ctx, "subtract", videos, output, f"-masks.{media_format or 'gif'}",
                 lambda video: options, workers=workers, scheduler=scheduler,
                 skip_existing=skip_existing, force=force, as_json=as_json)  # fmt: skip
        return
    video = videos[0]
    output = output or default_output(video, "-masks.gif")
    refuse_two_stdouts(output, as_json)
    if skip_single(ctx, "subtract", video, output, skip_existing, as_json):
        return
    report = jobs.subtract(
        video, output, **options, save_model=save_model, media_format=media_format,
        force=force, progress=progress_reporter(ctx), log=partial(log, ctx),
    )  # fmt: skip
    if as_json:
        emit_json(report)
    else:
        log(ctx, f"{report['frames']} masks with {method} in {report['seconds']:.2f} s "
                 f"({report['frames_per_second']} frames/s)")  # fmt: skip
        for path in report["outputs"]:
            log(ctx, f"wrote {path}")

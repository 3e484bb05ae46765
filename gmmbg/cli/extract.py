"""`gmmbg extract-background VIDEO...`: the clean background image of each video."""

from __future__ import annotations

from functools import partial

import click

from gmmbg.cli.options import (
    VIDEOS_ARGUMENT,
    FrameSlice,
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


@click.command("extract-background")
@VIDEOS_ARGUMENT
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="BG.png",
    help="Background image (default: <video stem>-background.png; '-' for stdout). With "
    "several videos: the folder that receives each one's <stem>-background.png.",
)
@video_model_options
@click.option(
    "--frames",
    type=FrameSlice(),
    default=None,
    help="Frames to learn from, 0-based slice START:STOP[:STEP] (default: all; "
    "batch methods thin them to --max-train-frames).",
)
@format_option("png", "images")
@json_option
@force_option
@many_options
@click.pass_context
def extract_background(ctx, videos, output, method, k, max_train_frames, history,
                       frames, media_format, as_json, force, workers, scheduler,
                       skip_existing):  # fmt: skip
    """Extract the background of each VIDEO (a GIF, MP4/AVI/WebM/MKV, a folder of images, or
    '-'): per pixel, the mean of its heaviest mixture component(s).

    Several videos (paths, globs, or folders of video files) each get
    <stem>-background.png (or .EXT with --format EXT) in the -o folder (default: the current
    folder), one after another or on Dask with --workers / --scheduler; a video that fails
    does not stop the others (exit code 1).
    """
    from gmmbg import distributed, jobs

    check_skip_and_force(skip_existing, force)
    options = dict(method=method, n_components=k, max_train_frames=max_train_frames,
                   history=history, frames=frames)  # fmt: skip
    videos, many = distributed.expand_inputs(videos)
    if many or workers is not None or scheduler is not None:
        run_many(ctx, "extract-background", videos, output,
                 f"-background.{media_format or 'png'}", lambda video: options,
                 workers=workers, scheduler=scheduler, skip_existing=skip_existing,
                 force=force, as_json=as_json)  # fmt: skip
        return
    video = videos[0]
    output = output or default_output(video, "-background.png")
    refuse_two_stdouts(output, as_json)
    if skip_single(ctx, "extract-background", video, output, skip_existing, as_json):
        return
    report = jobs.extract_background(
        video, output, **options, media_format=media_format, force=force,
        progress=progress_reporter(ctx), log=partial(log, ctx),
    )  # fmt: skip
    if as_json:
        emit_json(report)
    else:
        log(ctx, f"background of {video} with {method} in {report['seconds']:.2f} s")
        for path in report["outputs"]:
            log(ctx, f"wrote {path}")

"""`gmmbg extract-background VIDEO...`: the clean background image of each video."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    VIDEOS_ARGUMENT,
    FrameSlice,
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


@click.command("extract-background")
@VIDEOS_ARGUMENT
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="BG.png",
    help="Background image, or '-' for stdout (default: <video stem>-background.png). With "
    "several videos: the folder that receives each one's <stem>-background.png (default: "
    "the current folder).",
)
@video_model_options
@click.option(
    "--frames",
    type=FrameSlice(),
    default=None,
    help="Frames to learn from, a 0-based slice of frame indices; batch methods thin them "
    "to --max-train-frames (default: every frame).",
)
@format_option("png", several=True)
@json_option("a summary on stderr")
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
    check_skip_and_force(skip_existing, force)
    options = dict(method=method, n_components=k, max_train_frames=max_train_frames,
                   history=history, frames=frames)  # fmt: skip
    videos, many = expand_videos(videos, workers, scheduler)
    if many:
        run_many(ctx, "extract-background", videos, output,
                 f"-background.{media_format or 'png'}", lambda video: options,
                 workers=workers, scheduler=scheduler, skip_existing=skip_existing,
                 force=force, as_json=as_json)  # fmt: skip
        return
    video = videos[0]
    output = output or default_output(video, "-background.png")
    refuse_two_stdouts(output, as_json)
    report = run_one(ctx, "extract-background", video, output, options,
                     media_format=media_format, force=force, skip_existing=skip_existing,
                     as_json=as_json)  # fmt: skip
    if report is not None and not as_json:
        log(ctx, f"background of {video} with {method} in {report['seconds']:.2f} s")
        log_outputs(ctx, report["outputs"])

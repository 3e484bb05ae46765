"""`gmmbg extract-background VIDEO`: the clean background image of a video."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    FrameSlice,
    Timer,
    default_output,
    emit_json,
    force_option,
    format_option,
    json_option,
    log,
    progress_reporter,
    refuse_two_stdouts,
    video_model_options,
)


@click.command("extract-background")
@click.argument("video")
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="BG.png",
    help="Background image (default: <video stem>-background.png; '-' for stdout).",
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
@click.pass_context
def extract_background(ctx, video, output, method, k, max_train_frames, history, frames,
                       media_format, as_json, force):  # fmt: skip
    """Extract the background of VIDEO (a GIF, MP4/AVI/WebM/MKV, a folder of images, or '-'):
    per pixel, the mean of its heaviest mixture component(s)."""
    from gmmbg import media, pipeline

    output = output or default_output(video, "-background.png")
    refuse_two_stdouts(output, as_json)
    media.check_output(output, force)
    with media.open_source(video, media_format) as source:
        info = media.probe_video(source)
        model = pipeline.build_model(method, n_components=k, history=history)
        with Timer() as timer:
            background = pipeline.extract_background(
                model, source, frames, info.n_frames, max_train_frames, progress_reporter(ctx)
            )
    media.write_image(output, background, force=force, format=media_format or "png")
    report = {
        "command": "extract-background",
        "input": video,
        "method": method,
        "parameters": model.get_params(),
        "seconds": round(timer.seconds, 4),
        "height": info.height,
        "width": info.width,
        "outputs": [output] if output != "-" else [],
    }
    if as_json:
        emit_json(report)
    else:
        log(ctx, f"background of {video} with {method} in {timer.seconds:.2f} s")
        if output != "-":
            log(ctx, f"wrote {output}")

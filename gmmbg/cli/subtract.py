"""`gmmbg subtract VIDEO`: a foreground mask for every frame."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    FrameSlice,
    NonNegative,
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


@click.command()
@click.argument("video")
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="MASKS",
    help="Masks as .gif/.mp4/.avi/.mkv/.webm, a folder/ of PNGs (named after the "
    "input frames), or '-' for stdout (default: <video stem>-masks.gif).",
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
@click.pass_context
def subtract(ctx, video, output, method, k, max_train_frames, history, threshold, var_threshold,
             learning_rate, shadows, train, frames, save_model, load_model, media_format,
             as_json, force):  # fmt: skip
    """Write a foreground mask (0 background, 255 foreground, 127 shadow) for each frame of
    VIDEO: a GIF, MP4/AVI/WebM/MKV file, a folder of images, or '-' for stdin.

    Batch methods (gmm, mean, median, kmeans) first learn from the training frames, then
    score every frame; online learns as it goes, in constant memory.
    """
    from gmmbg import media, pipeline

    output = output or default_output(video, "-masks.gif")
    refuse_two_stdouts(output, as_json)
    media.check_output(output, force)
    if save_model:
        media.check_output(save_model, force)
    if learning_rate != -1 and not 0 <= learning_rate <= 1:
        raise click.BadParameter(
            "use -1 (automatic) or a rate from 0 to 1", param_hint="--learning-rate"
        )
    progress = progress_reporter(ctx)
    with media.open_source(video, media_format) as source:
        info = media.probe_video(source)
        if load_model:
            model = _load_online_model(method, load_model)
        else:
            model = pipeline.build_model(
                method, n_components=k, threshold=threshold, history=history,
                var_threshold=var_threshold, detect_shadows=shadows,
            )  # fmt: skip
        with Timer() as timer:
            if model.needs_training:
                indices = pipeline.training_indices(info.n_frames, train, max_train_frames)
                log(ctx, f"training {method} on {len(indices)} frames", level=1)
                pipeline.train(model, source, indices, progress)
            elif train is not None:
                click.echo("warning: --train has no effect with --method online: it learns "
                           "from every frame", err=True)  # fmt: skip
            names = info.frame_names
            if names is not None and frames is not None:
                names = [names[i] for i in pipeline.frame_range(info.n_frames, frames)]
            with media.FrameWriter(output, fps=info.fps, frame_names=names, force=force,
                                   format=media_format or "gif") as writer:  # fmt: skip
                masks = pipeline.stream_masks(model, source, frames, info.n_frames, progress,
                                              learning_rate=learning_rate)  # fmt: skip
                foreground = 0.0
                for mask in masks:
                    writer.write(mask)
                    foreground += float((mask == 255).mean())
        if save_model:
            model.save(save_model)
    written = [p for p in (output, save_model) if p and p != "-"]
    report = {
        "command": "subtract",
        "input": video,
        "method": method,
        "parameters": model.get_params(),
        "frames": writer.count,
        "seconds": round(timer.seconds, 4),
        "frames_per_second": round(writer.count / timer.seconds, 2) if timer.seconds else None,
        "mean_foreground_fraction": round(foreground / max(writer.count, 1), 6),
        "outputs": written,
    }
    if as_json:
        emit_json(report)
    else:
        log(ctx, f"{writer.count} masks with {method} in {timer.seconds:.2f} s "
                 f"({report['frames_per_second']} frames/s)")  # fmt: skip
        for path in written:
            log(ctx, f"wrote {path}")


def _load_online_model(method: str, path: str):
    """The saved OnlineGMM at ``path`` (only the online method can resume)."""
    if method != "online":
        raise click.UsageError("--load-model needs --method online")
    from gmmbg import media
    from gmmbg.background import OnlineGMM

    return OnlineGMM.load(media.check_input(path))

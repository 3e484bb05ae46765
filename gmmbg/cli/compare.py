"""`gmmbg compare VIDEO...`: every method on each clip, scored against ground truth."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from gmmbg.cli.options import (
    MAX_TRAIN_FRAMES,
    VIDEOS_ARGUMENT,
    FrameSlice,
    check_skip_and_force,
    default_output,
    expand_videos,
    force_option,
    format_option,
    json_option,
    log,
    many_options,
    run_many,
    run_one,
)


class TemporalROI(click.ParamType):
    """``FIRST:LAST``: 1-based inclusive frame numbers, as CDnet's temporalROI.txt."""

    name = "FIRST:LAST"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            first, last = (int(part) for part in str(value).replace(" ", ":").split(":"))
        except ValueError:
            self.fail(f"{value!r} is not FIRST:LAST (1-based frame numbers, e.g. 470:1700)",
                      param, ctx)  # fmt: skip
        if not 1 <= first <= last:
            self.fail(f"{value!r}: need 1 <= FIRST <= LAST (1-based frame numbers)", param, ctx)
        return first, last


@click.command()
@VIDEOS_ARGUMENT
@click.option(
    "--ground-truth", "ground_truth", default=None, metavar="DIR|VIDEO|IMAGE",
    help="Ground truth: a CDnet groundtruth/ folder (or any folder of masks, one per frame), "
    "a video of masks, or one mask image with --gt-frame. Masks of CDnet codes "
    "(0, 50, 85, 170, 255) are used as they are; other masks are thresholded at 128. "
    "{dir}, {stem} and {name} stand for each video's folder, stem and name (default: none, "
    "only timings and background images are measured).",
)  # fmt: skip
@click.option(
    "--gt-frame", type=click.IntRange(min=0), default=None, metavar="N",
    help="The 0-based index of the frame a single ground-truth image shows (Wallflower "
    "style); needed with an image --ground-truth (default: none).",
)  # fmt: skip
@click.option(
    "--roi", default=None, metavar="MASK",
    help="Region of interest: only pixels where MASK is non-zero are scored "
    "(default: ROI.bmp beside the ground truth when present, else every pixel).",
)  # fmt: skip
@click.option(
    "--temporal-roi", type=TemporalROI(), default=None,
    help="Frames to score, as 1-based inclusive frame numbers (default: temporalROI.txt "
    "beside the ground truth when present, else every frame).",
)  # fmt: skip
@click.option(
    "--background-truth", default=None, metavar="BG.png",
    help="The true background: score each method's background image (AGE, pEPs, pCEPs, "
    "PSNR) (default: none, not scored).",
)  # fmt: skip
@click.option(
    "--methods", default=None, metavar="NAME,...",
    help="Comma-separated methods: gmm, online, mean, median, kmeans, opencv-mog2, "
    "opencv-knn (default: every gmmbg method, plus OpenCV's when installed).",
)  # fmt: skip
@click.option(
    "--train", type=FrameSlice(), default=None,
    help="Batch methods' training frames, a 0-based slice of frame indices, thinned to "
    f"{MAX_TRAIN_FRAMES} spread evenly (default: the frames before the scored ones, else the "
    "whole clip).",
)  # fmt: skip
@click.option(
    "-o", "--output", default=None, metavar="REPORT_DIR",
    help="Report folder: metrics.json, metrics.csv, montage.gif, montage.png, "
    "<method>-background.png (default: <video stem>-compare/). With several videos: the "
    "folder that receives each one's <stem>-compare/ (default: the current folder).",
)  # fmt: skip
@json_option("a table")
@click.option(
    "--csv", "as_csv", is_flag=True,
    help="Print the results as CSV on stdout (default: off, a table).",
)  # fmt: skip
@format_option()
@force_option
@many_options
@click.pass_context
def compare(ctx, videos, ground_truth, gt_frame, roi, temporal_roi, background_truth, methods,
            train, output, as_json, as_csv, media_format, force, workers, scheduler,
            skip_existing):  # fmt: skip
    """Run background methods on each VIDEO (a GIF, MP4/AVI/WebM/MKV file, a folder of images,
    or '-' for stdin), score their masks against ground truth with the CDnet 2014 measures,
    time them, and write a report folder with a labelled montage.

    The video is decoded once and every frame is fed to every method; seconds and frames/s
    count only the methods' own work (not decoding, scoring, or Numba's one-time compile).

    Several videos (paths, globs, or folders of video files) each get a <stem>-compare/
    report in the -o folder (default: the current folder), one after another or on Dask with
    --workers / --scheduler. Their ground truth, ROI and true background are named with
    {dir} (the video's folder), {stem} and {name}: --ground-truth '{dir}/groundtruth' for
    CDnet's layout, '{dir}/{stem}-groundtruth' for clip.gif beside clip-groundtruth/.
    """
    from gmmbg import compare as comparing
    from gmmbg import jobs

    if as_json and as_csv:
        raise click.UsageError("--json and --csv both print the results: choose one")
    try:
        jobs.check_compare(output, ground_truth, gt_frame)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    check_skip_and_force(skip_existing, force)
    try:
        names = comparing.check_methods(
            methods.split(",") if methods is not None else comparing.default_methods()
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--methods") from None

    def options_for(video: str) -> dict:
        return dict(
            methods=names, ground_truth=for_video(ground_truth, video), gt_frame=gt_frame,
            roi=for_video(roi, video), temporal_roi=temporal_roi,
            background_truth=for_video(background_truth, video), train=train,
        )  # fmt: skip

    videos, many = expand_videos(videos, workers, scheduler)
    if many:
        if ground_truth is not None and not any(p in ground_truth for p in PLACEHOLDERS):
            raise click.BadParameter(
                "with several videos, name each one's ground truth with {dir}, {stem} or "
                "{name}, e.g. '{dir}/groundtruth' (CDnet) or '{dir}/{stem}-groundtruth'",
                param_hint="--ground-truth",
            )
        run_many(ctx, "compare", videos, output, "-compare", options_for, workers=workers,
                 scheduler=scheduler, skip_existing=skip_existing, force=force,
                 as_json=as_json, show=partial(_show_many, as_csv=as_csv))  # fmt: skip
        return
    video = videos[0]
    report = output or default_output(video, "-compare")
    result = run_one(ctx, "compare", video, report, options_for(video),
                     media_format=media_format, force=force, skip_existing=skip_existing,
                     as_json=as_json)  # fmt: skip
    if result is None:
        return
    if as_csv:
        click.echo(comparing.format_csv(result["methods"]), nl=False)
    elif not as_json:
        click.echo(comparing.format_table(result["methods"]))
    log(ctx, f"wrote {report}/ ({', '.join(Path(path).name for path in result['outputs'])})")


PLACEHOLDERS = ("{dir}", "{stem}", "{name}")


def for_video(template: str | None, video: str) -> str | None:
    """``template`` with ``{dir}`` (the folder of ``video``), ``{stem}`` and ``{name}`` (its
    file or folder name, with and without the extension) filled in."""
    if template is None:
        return None
    path = Path(video.rstrip("/\\"))
    return (
        template.replace("{dir}", str(path.parent))
        .replace("{stem}", path.stem)
        .replace("{name}", path.name)
    )


def _show_many(entries: list[dict], as_csv: bool) -> None:
    """Each compared video's table (or one CSV with an ``input`` column) on stdout."""
    from gmmbg import compare as comparing

    done = [entry for entry in entries if entry["status"] == "done"]
    if as_csv:
        rows = [{"input": entry["input"], **row} for entry in done for row in entry["methods"]]
        if rows:
            click.echo(comparing.format_csv(rows), nl=False)
        return
    for entry in done:
        click.echo(f"{entry['input']}\n{comparing.format_table(entry['methods'])}\n")

"""`gmmbg compare VIDEO`: every method on one clip, scored against ground truth, side by side."""

from __future__ import annotations

import click

from gmmbg.cli.options import (
    FrameSlice,
    default_output,
    emit_json,
    force_option,
    log,
    progress_reporter,
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
@click.argument("video")
@click.option(
    "--ground-truth", "ground_truth", default=None, metavar="DIR|VIDEO|IMAGE",
    help="Ground truth: a CDnet groundtruth/ folder (or any folder of masks, one per frame), "
    "a video of masks, or one mask image with --gt-frame. Masks of CDnet codes "
    "(0, 50, 85, 170, 255) are used as they are; other masks are thresholded at 128.",
)  # fmt: skip
@click.option(
    "--gt-frame", type=click.IntRange(min=0), default=None, metavar="N",
    help="The 0-based frame a single ground-truth image shows (Wallflower style).",
)  # fmt: skip
@click.option(
    "--roi", default=None, metavar="MASK",
    help="Region of interest: only pixels where MASK is non-zero are scored "
    "(default: ROI.bmp beside the ground truth, when present).",
)  # fmt: skip
@click.option(
    "--temporal-roi", type=TemporalROI(), default=None,
    help="Frames to score, 1-based and inclusive (default: temporalROI.txt beside the "
    "ground truth when present, else every frame).",
)  # fmt: skip
@click.option(
    "--background-truth", default=None, metavar="BG.png",
    help="The true background: score each method's background image (AGE, pEPs, pCEPs, PSNR).",
)  # fmt: skip
@click.option(
    "--methods", default=None, metavar="NAME,...",
    help="Comma-separated methods: gmm, online, mean, median, kmeans, opencv-mog2, "
    "opencv-knn (default: every gmmbg method, plus OpenCV's when installed).",
)  # fmt: skip
@click.option(
    "--train", type=FrameSlice(), default=None,
    help="Batch methods' training frames, 0-based START:STOP[:STEP] (default: the frames "
    "before the scored ones, else the whole clip; at most 200, spread evenly).",
)  # fmt: skip
@click.option(
    "-o", "--output", default=None, metavar="REPORT_DIR",
    help="Report folder: metrics.json, metrics.csv, montage.gif, montage.png, "
    "<method>-background.png (default: <video stem>-compare/).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the results as CSV.")
@click.option(
    "--format", "media_format", default=None, metavar="EXT",
    help="Format of '-' (stdin) input when its bytes do not tell, e.g. gif, mp4.",
)  # fmt: skip
@force_option
@click.pass_context
def compare(ctx, video, ground_truth, gt_frame, roi, temporal_roi, background_truth, methods,
            train, output, as_json, as_csv, media_format, force):  # fmt: skip
    """Run background methods on VIDEO (a GIF, MP4/AVI/WebM/MKV file, a folder of images, or
    '-' for stdin), score their masks against ground truth with the CDnet 2014 measures, time
    them, and write a report folder with a labelled montage.

    The video is decoded once and every frame is fed to every method; seconds and frames/s
    count only the methods' own work (not decoding, scoring, or Numba's one-time compile).
    """
    from gmmbg import compare as comparing
    from gmmbg import media, metrics

    if as_json and as_csv:
        raise click.UsageError("--json and --csv both print the results: choose one")
    if gt_frame is not None and ground_truth is None:
        raise click.UsageError("--gt-frame needs --ground-truth IMAGE")
    try:
        names = comparing.check_methods(
            methods.split(",") if methods is not None else comparing.default_methods()
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--methods") from None
    if output == "-":
        raise click.BadParameter(
            "the report is a folder; use --json or --csv to print the results", param_hint="-o"
        )
    report = output or default_output(video, "-compare")
    media.check_output(report, force)

    truth = None
    if ground_truth is not None:
        truth = comparing.open_ground_truth(ground_truth, gt_frame)
        if temporal_roi is None and truth.kind != "image":
            found = comparing.find_beside(ground_truth, ["temporalROI.txt"])
            if found is not None:
                temporal_roi = metrics.read_temporal_roi(found)
                log(ctx, f"temporal ROI {temporal_roi[0]}:{temporal_roi[1]} from {found}")
        if roi is None:
            roi = comparing.find_beside(ground_truth, ["ROI.bmp", "ROI.png"])
            if roi is not None:
                log(ctx, f"region of interest from {roi}")

    with media.open_source(video, media_format) as source:
        result = comparing.compare(
            source, names, truth=truth, roi=roi, temporal_roi=temporal_roi,
            background_truth=background_truth, train=train, progress=progress_reporter(ctx),
        )  # fmt: skip
    result.video = video
    written = comparing.write_report(result, report, force)
    rows = result.rows()
    if as_json:
        emit_json({**result.summary(), "outputs": [str(path) for path in written]})
    elif as_csv:
        click.echo(comparing.format_csv(rows), nl=False)
    else:
        click.echo(comparing.format_table(rows))
    log(ctx, f"wrote {report}/ ({', '.join(path.name for path in written)})")

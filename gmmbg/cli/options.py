"""Options, parameter types and helpers every subcommand shares.

Nothing here imports numpy or numba at module level: `gmmbg --help` must stay fast.
"""

from __future__ import annotations

import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import click


class FrameSlice(click.ParamType):
    """Python slice syntax over 0-based frame indices: ``0:469``, ``::5``, ``100:``."""

    name = "START:STOP:STEP"

    def convert(self, value, param, ctx):
        if isinstance(value, slice):
            return value
        parts = str(value).split(":")
        if len(parts) > 3 or (len(parts) == 1 and parts[0] == ""):
            self.fail(f"{value!r} is not START:STOP[:STEP] (for example 0:469 or ::5)", param, ctx)
        try:
            bounds = [int(part) if part.strip() else None for part in parts]
        except ValueError:
            self.fail(f"{value!r} is not START:STOP[:STEP] with whole numbers", param, ctx)
        if len(bounds) == 1:  # a single index N means frame N alone
            return slice(bounds[0], bounds[0] + 1 if bounds[0] != -1 else None)
        if len(bounds) == 3 and bounds[2] is not None and bounds[2] <= 0:
            self.fail(f"{value!r}: the step must be a positive whole number", param, ctx)
        return slice(*bounds)


class Components(click.ParamType):
    """A number of mixture components, or ``auto`` where the command can choose it."""

    name = "N|auto"

    def __init__(self, allow_auto: bool = True, maximum: int = 255) -> None:
        self.allow_auto = allow_auto
        self.maximum = maximum

    def convert(self, value, param, ctx):
        if self.allow_auto and str(value).lower() == "auto":
            return "auto"
        try:
            k = int(value)
        except (TypeError, ValueError):
            hint = "a whole number or 'auto'" if self.allow_auto else "a whole number"
            self.fail(f"{value!r} is not {hint}", param, ctx)
        if not 1 <= k <= self.maximum:
            self.fail(f"{k} is out of range: use 1 to {self.maximum} components", param, ctx)
        return k


class NonNegative(click.ParamType):
    """A finite float >= 0 (thresholds); NaN and inf are refused."""

    name = "FLOAT"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0:
            self.fail(f"{value!r} must be a finite number >= 0", param, ctx)
        return number


def stack(*decorators):
    """One decorator that applies ``decorators`` in the order written (top one first in
    --help), as if each were written above the function."""

    def decorate(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return decorate


# Help texts state every option's default: a fixed value with ``show_default=True``
# ("[default: 200]"), anything else (none, off, a method's own) as "(default: ...)" in the
# text. tests/test_help.py checks that every option does one or the other.

force_option = click.option(
    "--force", is_flag=True,
    help="Overwrite outputs that already exist (default: off, an existing output is an "
    "error).",
)  # fmt: skip


def json_option(without: str):
    """--json; ``without`` says what the command prints instead."""
    return click.option(
        "--json", "as_json", is_flag=True,
        help=f"Print the results as one JSON object on stdout; logs stay on stderr (default: "
        f"off, {without}).",
    )  # fmt: skip


def format_option(output_default: str | None = None, several: bool = False):
    """--format: of '-' (stdin) input; of '-' output when the command writes one (by default
    ``output_default``) and, when it takes ``several`` videos, of each one's output."""
    if output_default is None:
        text = "Format of '-' (stdin) input, e.g. gif, mp4 (default: guessed from its bytes)."
    else:
        outputs = "'-' output and, with several videos, each output" if several else "'-' output"
        text = (f"Format of '-' (stdin) input and of {outputs}, e.g. png, gif, mp4 (default: "
                f"input guessed from its bytes, output {output_default}).")  # fmt: skip
    return click.option("--format", "media_format", default=None, metavar="EXT", help=text)


def default_output(source: str, suffix: str) -> str:
    """``<input stem><suffix>`` in the current folder (``stdin`` for ``-``)."""
    stem = "stdin" if source == "-" else Path(source.rstrip("/")).stem
    return f"{stem}{suffix}"


def log(ctx: click.Context, message: str, level: int = 0) -> None:
    """Write a log line to stderr when the verbosity allows it (-q hides level 0, -v shows 1)."""
    if ctx.find_root().obj.get("verbosity", 0) >= level:
        click.echo(message, err=True)


def progress_reporter(ctx: click.Context):
    """A ``(items, total, description) -> items`` wrapper that shows a tqdm bar on stderr, only
    when stderr is a terminal and --quiet is not set."""
    show = sys.stderr.isatty() and ctx.find_root().obj.get("verbosity", 0) >= 0

    def progress(items, total, description):
        if not show:
            return items
        from tqdm import tqdm

        return tqdm(items, total=total, desc=description, unit="frame", file=sys.stderr,
                    leave=False)  # fmt: skip

    return progress


def emit_json(result: dict) -> None:
    """Print the result object as one line of JSON to stdout."""
    click.echo(json.dumps(result, default=_jsonable))


def _jsonable(value):
    """Turn numpy scalars and arrays (and paths) into JSON types."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class Timer:
    """Wall-clock seconds of a with-block: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


# ----------------------------------------------------------------- video commands

METHOD_NAMES = ["gmm", "online", "mean", "median", "kmeans"]

# Defaults that depend on --method, as --help states them. They are the background models'
# own defaults (tests/test_help.py checks them); here so that --help imports no model.
MODEL_DEFAULTS = {
    "n_components": {"gmm": 3, "online": 5, "kmeans": 3},
    "threshold": {"gmm": 2.5, "mean": 60, "median": 60, "kmeans": 50},
    "history": {"online": 500},
    "var_threshold": {"online": 16},
    "detect_shadows": {"online": True},
}
MAX_TRAIN_FRAMES = 200  # = gmmbg.pipeline.MAX_TRAINING_FRAMES (checked by tests/test_help.py)
_K, _T = MODEL_DEFAULTS["n_components"], MODEL_DEFAULTS["threshold"]

# The options that choose and configure a background model (subtract, extract-background).
video_model_options = stack(
    click.option("--method", type=click.Choice(METHOD_NAMES), default="gmm", show_default=True,
                 help="gmm: per-pixel EM over training frames; online: adaptive MOG2-style "
                 "mixture; mean / median / kmeans: per-pixel baselines."),
    click.option("-k", "--components", "k", type=Components(allow_auto=False, maximum=64),
                 default=None, metavar="N", help="Mixture components (gmm, online) or "
                 "clusters (kmeans) per pixel, 1-64; mean and median take none (default: "
                 f"{_K['gmm']} for gmm, {_K['kmeans']} for kmeans, {_K['online']} for online)."),
    click.option("--max-train-frames", type=click.IntRange(min=2), default=MAX_TRAIN_FRAMES,
                 show_default=True, metavar="FRAMES", help="Batch methods (all but online) "
                 "hold at most this many training frames in memory, spread evenly over the "
                 "training range."),
    click.option("--history", type=click.IntRange(min=1), default=None, metavar="FRAMES",
                 help="online: frames the model remembers; the learning rate at the n-th "
                 "frame is 1/min(2n, history) (default: "
                 f"{MODEL_DEFAULTS['history']['online']})."),
)  # fmt: skip

THRESHOLD_HELP = (
    "Foreground threshold of the batch methods. gmm: Mahalanobis distance in standard "
    f"deviations (default: {_T['gmm']}); mean, median, kmeans: L2 colour distance in grey "
    f"levels (default: {_T['mean']}, {_T['median']}, {_T['kmeans']}). online: see "
    "--var-threshold."
)


def refuse_two_stdouts(output: str, as_json: bool) -> None:
    """--json and '-o -' would both write to stdout: refuse the pair."""
    if as_json and output == "-":
        raise click.UsageError("--json and '-o -' both write to stdout: choose one")


# ------------------------------------------------------------------------------ many videos

VIDEOS_ARGUMENT = click.argument("videos", nargs=-1, required=True, metavar="VIDEO...")


# --workers, --scheduler and --skip-existing (subtract, extract-background, compare).
many_options = stack(
    click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Run the videos on a local Dask cluster of N worker processes "
                 "(needs gmmbg[dask]); the cores are split between their Numba threads "
                 "(default: none, one video after another in this process)."),
    click.option("--scheduler", default=None, metavar="ADDRESS",
                 help="Run the videos on the Dask cluster whose scheduler is at ADDRESS "
                 "(tcp://host:8786); its workers need gmmbg and the same paths (default: "
                 "none)."),
    click.option("--skip-existing", is_flag=True,
                 help="Leave the videos whose output is already there: do only what is "
                 "missing (default: off, an existing output is an error)."),
)  # fmt: skip


def check_skip_and_force(skip_existing: bool, force: bool) -> None:
    if skip_existing and force:
        raise click.UsageError("--skip-existing keeps outputs, --force replaces them: choose one")


def expand_videos(videos, workers: int | None, scheduler: str | None) -> tuple[list[str], bool]:
    """The videos the VIDEO... arguments name, and whether to run them as many (each output
    named after its video, in the -o folder): several videos, or a cluster asked for."""
    from gmmbg.distributed import expand_inputs

    videos, many = expand_inputs(videos)
    return videos, many or workers is not None or scheduler is not None


def run_one(ctx: click.Context, command: str, video: str, output: str, options: dict, *,
            media_format: str | None, force: bool, skip_existing: bool,
            as_json: bool) -> dict | None:  # fmt: skip
    """Run ``command`` on one video in this process, with a progress bar and logs on stderr;
    print its report with --json. Returns the report, or None when --skip-existing found the
    output already there."""
    from gmmbg import distributed, jobs

    if skip_existing and output != "-" and distributed.output_exists(output):
        if as_json:
            emit_json({"command": command, "input": video, "status": "skipped",
                       "outputs": [output]})  # fmt: skip
        else:
            log(ctx, f"skipped {video}: {output} is already there")
        return None
    function = getattr(jobs, distributed.COMMANDS[command])
    report = function(
        video, output, **options, media_format=media_format, force=force,
        progress=progress_reporter(ctx), log=partial(log, ctx),
    )  # fmt: skip
    if as_json:
        emit_json(report)
    return report


def log_outputs(ctx: click.Context, paths: list[str]) -> None:
    """Log each path written."""
    for path in paths:
        log(ctx, f"wrote {path}")


def run_many(
    ctx: click.Context,
    command: str,
    videos: list[str],
    folder: str | None,
    suffix: str,
    options_for,
    *,
    workers: int | None,
    scheduler: str | None,
    skip_existing: bool,
    force: bool,
    as_json: bool,
    show=None,
) -> None:
    """Run ``command`` on each of ``videos``, writing ``<folder>/<stem><suffix>`` for each,
    with ``options_for(video)`` as its options. Progress goes to stderr as videos end; at the
    end the summary goes to stdout with --json, else ``show(entries)`` prints what the command
    shows (entries as ``gmmbg.distributed.run_jobs`` returns them). When any video failed,
    raises a ClickException (exit code 1) after the others are done."""
    from gmmbg import distributed

    if "-" in videos:
        raise click.UsageError("'-' (standard input) can only be the one input")
    if folder == "-":
        raise click.UsageError("with several inputs, -o names a folder: '-' cannot hold them")
    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers starts a cluster, --scheduler uses one: choose one")
    _check_output_folder(folder)
    names = distributed.output_names(videos, suffix)
    jobs = [
        distributed.Job(
            command,
            video,
            str(Path(folder, name)) if folder else name,
            {**options_for(video), "force": force},
        )
        for video, name in zip(videos, names, strict=True)
    ]
    existing = distributed.existing_outputs(jobs)
    if existing and not (force or skip_existing):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise click.ClickException(
            f"{existing[0]}: already exists{more}: use --skip-existing to do only what is "
            "missing, or --force to redo it"
        )
    if workers is not None or scheduler is not None:
        distributed.import_distributed()  # the one-line install hint before any work
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)

    seen_warnings: set[str] = set()
    ended = []

    def on_done(index: int, entry: dict) -> None:
        ended.append(index)
        for message in entry.get("warnings", []):
            if message not in seen_warnings:
                seen_warnings.add(message)
                click.echo(f"warning: {message}", err=True)
        line = f"[{len(ended)}/{len(jobs)}] {_describe(entry, jobs[index].output)}"
        if entry["status"] == "failed":
            click.echo(line, err=True)  # errors show even with --quiet
        else:
            log(ctx, line)

    in_process = workers is None and scheduler is None
    start = time.perf_counter()
    try:
        entries = distributed.run_jobs(
            jobs, workers=workers, scheduler=scheduler, skip_existing=skip_existing,
            on_done=on_done, progress=progress_reporter(ctx) if in_process else None,
        )  # fmt: skip
    except KeyboardInterrupt:
        others = (
            "the videos already running on the cluster finish (Dask cannot stop a task), "
            "the others were cancelled"
            if scheduler
            else "the others left no partial output"
        )
        click.echo(f"gmmbg: interrupted after {len(ended)} of {len(jobs)} videos (their "
                   f"outputs are complete); {others}", err=True)  # fmt: skip
        raise SystemExit(130) from None
    counts = {status: sum(e["status"] == status for e in entries)
              for status in ("done", "failed", "skipped")}  # fmt: skip
    seconds = time.perf_counter() - start
    if as_json:
        emit_json({
            "command": command, "inputs": len(entries), **counts, "seconds": round(seconds, 4),
            "workers": workers, "scheduler": scheduler, "output_folder": folder or ".",
            "results": entries,
        })  # fmt: skip
    elif show is not None:
        show(entries)
    where = (f"on {scheduler}" if scheduler
             else f"on {workers} worker{'s' if workers > 1 else ''}" if workers
             else "in this process")  # fmt: skip
    log(ctx, f"{len(entries)} videos {where} in {seconds:.2f} s: {counts['done']} done, "
             f"{counts['failed']} failed, {counts['skipped']} skipped")  # fmt: skip
    if counts["failed"]:
        failed = [entry["input"] for entry in entries if entry["status"] == "failed"]
        raise click.ClickException(
            f"{len(failed)} of {len(entries)} videos failed ({', '.join(failed[:3])}"
            f"{', ...' if len(failed) > 3 else ''}); the others are done"
        )


def _check_output_folder(folder: str | None) -> None:
    """With several inputs, -o must be a folder (or a new name without a media extension)."""
    from gmmbg import media

    if folder is None:
        return
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{folder} is a file: with several inputs, -o names a folder",
                                 param_hint="-o")  # fmt: skip
    extensions = media.VIDEO_EXTENSIONS | media.IMAGE_EXTENSIONS
    if not path.exists() and path.suffix.lower() in extensions:
        raise click.BadParameter(
            f"{folder} looks like a file: with several inputs, -o names a folder that "
            "receives one output per input",
            param_hint="-o",
        )


def _describe(entry: dict, output: str) -> str:
    """One progress line for a video that ended."""
    if entry["status"] == "failed":
        return f"failed {entry['input']}: {entry['error']}"
    if entry["status"] == "skipped":
        return f"skipped {entry['input']}: {output} is already there"
    frames = f", {entry['frames']} frames" if entry.get("frames") is not None else ""
    return f"done {entry['input']} -> {output} ({entry['wall_seconds']:.2f} s{frames})"

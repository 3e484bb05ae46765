"""Options, parameter types and helpers every subcommand shares.

Nothing here imports numpy or numba at module level: `gmmbg --help` must stay fast.
"""

from __future__ import annotations

import json
import math
import sys
import time
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


def force_option(f):
    return click.option(
        "--force", is_flag=True, help="Overwrite outputs that already exist (default: refuse)."
    )(f)


def json_option(f):
    return click.option(
        "--json", "as_json", is_flag=True,
        help="Print one JSON object with the results to stdout (logs stay on stderr).",
    )(f)  # fmt: skip


def format_option(default: str, kind: str):
    def decorate(f):
        return click.option(
            "--format", "media_format", default=None, metavar="EXT",
            help=f"Format of '-' (stdin) input and '-' output, e.g. png, gif, mp4 "
            f"(default for {kind} on stdout: {default}).",
        )(f)  # fmt: skip

    return decorate


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


def video_model_options(f):
    """The options that choose and configure a background model (subtract, extract-background)."""
    decorators = [
        click.option("--method", type=click.Choice(METHOD_NAMES), default="gmm", show_default=True,
                     help="gmm: per-pixel EM over training frames; online: adaptive MOG2-style "
                     "mixture; mean / median / kmeans: per-pixel baselines."),
        click.option("-k", "--components", "k", type=Components(allow_auto=False, maximum=64),
                     default=None, help="Mixture components (or clusters) per pixel "
                     "(default: 3 for gmm and kmeans, 5 for online)."),
        click.option("--max-train-frames", type=click.IntRange(min=2), default=200,
                     show_default=True, help="Batch methods keep at most this many training "
                     "frames in memory, spread evenly over the training range."),
        click.option("--history", type=click.IntRange(min=1), default=None,
                     help="online: frames the learning rate ramps over, 1/min(2n, history) "
                     "(default 500)."),
    ]  # fmt: skip
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


def refuse_two_stdouts(output: str, as_json: bool) -> None:
    """--json and '-o -' would both write to stdout: refuse the pair."""
    if as_json and output == "-":
        raise click.UsageError("--json and '-o -' both write to stdout: choose one")

"""The `gmmbg` command group: --version, -v/-q, lazy subcommands, one-line errors.

Subcommand modules are imported only when named (or listed by --help), and they import numpy
and the kernels only inside their functions, so `gmmbg --help` starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from gmmbg import __version__, interrupts
from gmmbg.errors import GmmbgError
from gmmbg.interrupts import EXIT_INTERRUPTED, EXIT_TERMINATED

SUBCOMMANDS = {
    "segment": "gmmbg.cli.segment:segment",
    "extract-background": "gmmbg.cli.extract:extract_background",
    "subtract": "gmmbg.cli.subtract:subtract",
    "compare": "gmmbg.cli.compare:compare",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is needed, and turns the
    library's user-facing errors into one-line ClickExceptions."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attribute = SUBCOMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (GmmbgError, ValueError, MemoryError, OSError) as error:
            if (ctx.obj or {}).get("verbosity", 0) > 0:
                raise  # -v: show the traceback, for bug reports
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if isinstance(error, OSError) and error.strerror:  # disk full, permissions...
                where = f"{error.filename}: " if error.filename else ""
                message = f"{where}{error.strerror}"
            if isinstance(error, MemoryError):
                message = "out of memory: use fewer training frames (--max-train-frames)"
            raise click.ClickException(message) from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, without the source location."""
    click.echo(f"warning: {message}", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gmmbg")
@click.option(
    "-v", "--verbose", count=True,
    help="More detail on stderr, and tracebacks with errors (default: off).",
)  # fmt: skip
@click.option(
    "-q", "--quiet", is_flag=True,
    help="No progress bars or logs on stderr; warnings and errors still show (default: off).",
)  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Gaussian mixtures over pixels: segment images, extract and subtract video backgrounds.

    Inputs are image or video files, folders of images, or '-' for stdin; results go to
    files (-o) or '-' for stdout. Run 'gmmbg COMMAND --help' for each command's options.
    """
    ctx.obj = {"verbosity": -1 if quiet else verbose}
    warnings.showwarning = _show_warning


def main() -> None:
    """Console-script entry point."""
    interrupts.install()
    try:
        code = cli.main(prog_name="gmmbg", standalone_mode=False)
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting.
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("gmmbg: interrupted; unfinished outputs were removed", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as stop:
        if stop.code == EXIT_TERMINATED:
            click.echo("gmmbg: terminated; unfinished outputs were removed", err=True)
        raise

"""--help of every command: each option says its default, and the defaults it states are the
library's own."""

import inspect
import re

import click
import pytest

from gmmbg.cli import options
from gmmbg.cli.main import cli

SKIPPED = {"help", "version"}


def walk(command: click.Command, ctx: click.Context):
    """Yield ``(path, context, command)`` for ``command`` and every subcommand below it, through
    the group's own list_commands/get_command (LazyGroup imports them on demand)."""
    yield ctx.command_path, ctx, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))


def all_options():
    root = click.Context(cli, info_name="gmmbg")
    return [
        (f"{path} {param.opts[-1]}", ctx, param)
        for path, ctx, command in walk(cli, root)
        for param in command.params
        if isinstance(param, click.Option) and param.name not in SKIPPED
    ]


OPTIONS = all_options()


def test_every_command_is_walked():
    paths = {name.rsplit(" ", 1)[0] for name, _, _ in OPTIONS}
    assert paths == {
        "gmmbg",
        "gmmbg segment",
        "gmmbg extract-background",
        "gmmbg subtract",
        "gmmbg compare",
    }


@pytest.mark.parametrize(("name", "ctx", "option"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_option_help_states_its_default(name, ctx, option):
    """A fixed default shows as click's "[default: X]" (show_default=True); any other one
    (none, off, each method's own) is written in the text as "(default: ...)" or "default: ..."
    among several."""
    record = option.get_help_record(ctx)
    assert record is not None, f"{name} is hidden from --help"
    text = record[1]
    assert option.help, f"{name} has no help text"
    assert "default: " in text, f"{name}: its help does not say its default: {text!r}"
    if option.default is not None and not option.is_flag and option.count is False:
        assert option.show_default, f"{name} has the default {option.default!r}: show it"


def test_stated_model_defaults_are_the_models():
    """The method-dependent defaults --help states are the background models' own."""
    from gmmbg import pipeline
    from gmmbg.background import model_class

    stated = {(name, method): value for name, by_method in options.MODEL_DEFAULTS.items()
              for method, value in by_method.items()}  # fmt: skip
    for method in options.METHOD_NAMES:
        signature = inspect.signature(model_class(method)).parameters
        for name in options.MODEL_DEFAULTS:
            if name in signature:
                assert stated.get((name, method)) == signature[name].default, (name, method)
            else:
                assert (name, method) not in stated, (name, method)
    assert options.MAX_TRAIN_FRAMES == pipeline.MAX_TRAINING_FRAMES


def test_help_renders_the_stated_defaults():
    """The rendered subtract --help carries the numbers of MODEL_DEFAULTS."""
    ctx = click.Context(cli, info_name="gmmbg")
    subtract = cli.get_command(ctx, "subtract")
    text = subtract.get_help(click.Context(subtract, info_name="subtract", parent=ctx))
    text = re.sub(r"\s+", " ", text)
    assert "(default: 2.5)" in text
    assert "(default: 60, 60, 50)" in text
    assert "varThreshold; default: 16)" in text
    assert "(default: 3 for gmm, 3 for kmeans, 5 for online)" in text

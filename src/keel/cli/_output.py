"""Shared CLI plumbing: consoles, output formats, and mapping errors to exit codes.

Exit codes (documented in docs/cli.md): 0 ok; 1 a check failed (contract violated, breaking
change); 2 unusable input (missing or corrupt data, malformed contract, bad arguments).
"""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from keel.errors import ContractError, KeelError, StepFailedError

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNUSABLE",
    "Format",
    "KeelGroup",
    "err",
    "fail",
    "out",
    "reporting",
    "set_debug",
    "shown_traceback",
]

EXIT_FAILED, EXIT_UNUSABLE = 1, 2  # 0 is success

# a pipe or file gets 120 columns: reports are tables, and 80 columns fold them badly
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


class Format(enum.StrEnum):
    table = "table"
    json = "json"


def print_json(data: Any) -> None:
    """JSON to stdout, unstyled, so scripts can parse it."""
    typer.echo(json.dumps(data, indent=2, allow_nan=False))


class _Debug:
    """``--debug`` or ``KEEL_DEBUG=1`` (the root callback sets it): tracebacks unfolded."""

    on = False


def set_debug(on: bool) -> None:
    _Debug.on = on


def debug() -> bool:
    return _Debug.on


def shown_traceback(text: str) -> str:
    """A recorded traceback as the user reads it: Keel's frames folded unless ``--debug``."""
    from keel._traceback import fold_traceback

    return text if debug() else fold_traceback(text)


def fail(error: KeelError) -> NoReturn:
    """Print ``error:`` and ``Hint:`` (literally: brackets in them are text, not markup) and
    exit with the error's code. A failed step's traceback comes first, pointing at the user's
    code; ``--debug`` prints every frame, Keel's own too."""
    from keel._traceback import chain_text, format_error

    trace = error.traceback if isinstance(error, StepFailedError) else None
    if trace:
        text = chain_text(trace, error) if debug() else shown_traceback(trace)
        err.print(text.rstrip("\n"), highlight=False, markup=False, soft_wrap=True)
    elif debug():
        err.print(format_error(error).rstrip("\n"), highlight=False, markup=False, soft_wrap=True)
    # soft_wrap: the terminal wraps; a pipe or a log gets each message whole, on one line
    err.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
    if error.hint:
        err.print("[bold]Hint:[/]", escape(error.hint), highlight=False, soft_wrap=True)
    failed = isinstance(error, (ContractError, StepFailedError))
    raise typer.Exit(EXIT_FAILED if failed else EXIT_UNUSABLE)


class KeelGroup(TyperGroup):
    """The root command group: a Keel error that escapes a command's own :func:`reporting`
    (rendering, a second step after the main call) still prints ``error:`` and ``Hint:`` and
    exits with its code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except KeelError as error:
            fail(error)


@contextlib.contextmanager
def reporting() -> Iterator[None]:
    """Turn Keel errors into a message and exit code instead of a traceback."""
    try:
        yield
    except KeelError as error:
        fail(error)


@contextlib.contextmanager
def progress(message: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A spinner naming the phase on stderr while long work runs; once the work reports
    ``(done, total)`` through the yielded callback (a library's ``on_progress``), a bar with
    the count and an estimate of the time left. Nothing off a terminal or when ``quiet``
    (``--format json``): stdout and stderr stay exactly what a script reads."""
    if quiet or not err.is_terminal:
        yield _unreported
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(message, total=None)  # no total yet: a spinner and a pulsing bar

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advance


def _unreported(done: int, total: int) -> None:
    """Progress nobody is shown."""

"""``keel run``, ``keel check``, ``keel reproduce`` and ``keel lineage``.

``keel run`` shows each step's state live (waiting, running, cached, done, failed, with
durations) on a terminal, and one line per finished step otherwise. ``--format json``
prints the run's documented JSON (see docs/pipelines.md) on stdout.
"""

from __future__ import annotations

import enum
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, err, out, print_json, reporting
from keel.errors import UsageError

if TYPE_CHECKING:
    from keel.pipelines import LineageNode, StepEvent

__all__ = ["check", "lineage", "reproduce", "run"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

_STYLE = {
    "waiting": "dim",
    "running": "yellow",
    "cached": "cyan",
    "done": "green",
    "failed": "bold red",
}


class ExecutorChoice(enum.StrEnum):
    local = "local"
    process = "process"
    dask = "dask"


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


def _parse_params(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} is not key=value.", hint="--param lr=0.1")
        found[key.strip()] = value
    return found


class _Progress:
    """The live table of step states (a terminal) or a line per finished step (a pipe)."""

    def __init__(self, live: bool) -> None:
        self.states: dict[str, tuple[str, float | None, str | None]] = {}
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()
        self.live = Live(self._table(), console=err, refresh_per_second=8) if live else None

    def __call__(self, event: StepEvent) -> None:
        with self.lock:
            if event.status == "running":
                self.started[event.step] = time.monotonic()
            self.states[event.step] = (event.status, event.duration, event.explanation)
            if self.live is not None:
                self.live.update(self._table())
            elif event.status in ("cached", "done", "failed"):
                shown = event.explanation if event.status != "cached" else None
                note = f"  ({shown})" if shown else ""
                err.print(
                    f"{event.step:<20} {event.status:<7} {event.duration or 0:8.3f} s{note}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )

    def _table(self) -> Table:
        table = Table(show_header=True, header_style="bold", box=None)
        for column in ("step", "state", "time", "why"):
            table.add_column(column)
        for name, (status, took, why) in self.states.items():
            now = time.monotonic()
            duration = now - self.started.get(name, now) if status == "running" else took
            shown = "" if duration is None else f"{duration:.2f} s"
            reason = "" if status == "cached" else (why or "")
            # a step's name and why it ran (paths) are text, not markup
            table.add_row(escape(name), f"[{_STYLE[status]}]{status}[/]", shown, escape(reason))
        return table

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()


def run(
    pipeline: Annotated[str, typer.Argument(help="path/to/file.py:function or module:function.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Override a parameter: key=value.")
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="Re-run this step and what depends on it ('*': all)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Run independent steps in N processes.")] = 1,
    executor: Annotated[
        ExecutorChoice, typer.Option(help="local, process or dask.")
    ] = ExecutorChoice.local,
    address: Annotated[
        str | None, typer.Option(help="Dask scheduler (tcp://host:8786); default: a local one.")
    ] = None,
    log_format: Annotated[
        LogFormat | None, typer.Option("--log-format", help="json: structured logs on stderr.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Run a pipeline: check its wiring, then run every step whose inputs changed."""
    from keel.pipelines import load_pipeline, run_pipeline

    with reporting():
        texts = _parse_params(param or [])
        found = load_pipeline(pipeline)
        from keel.config import load_config

        chosen = log_format.value if log_format else load_config().log_format
        quiet = chosen == "json"  # structured logs replace the progress display
        progress = _Progress(live=err.is_terminal and not quiet)
        with progress:
            result = run_pipeline(
                found,
                texts=texts,
                force=force or (),
                executor=executor.value,
                workers=workers,
                address=address,
                on_event=None if quiet else progress,
                log_format=log_format.value if log_format else None,
            )
    if fmt is Format.json:
        print_json(result.to_dict())
        return
    ran, cached = len(result.executed), len(result.cached)
    out.print(
        f"Run {result.run_id[:8]} of {result.pipeline}: {ran} step(s) ran, {cached} cached.",
        highlight=False,
    )


def check(
    pipeline: Annotated[str, typer.Argument(help="path/to/file.py:function or module:function.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Check with this value: key=value.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Check a pipeline's wiring and contracts without running anything. Exit 1 on problems."""
    from keel.pipelines import load_pipeline

    with reporting():
        found = load_pipeline(pipeline)
        graph = found.build(texts=_parse_params(param or []))
        problems = graph.problems()
    if fmt is Format.json:
        print_json(
            {
                "pipeline": found.name,
                "ok": not problems,
                "steps": list(graph.nodes),
                "problems": problems,
            }
        )
    elif problems:
        err.print(f"[bold red]pipeline {found.name} has {len(problems)} problem(s):[/]")
        for problem in problems:
            err.print(f"  - {problem}", highlight=False, markup=False)
    else:
        out.print(
            f"pipeline {found.name}: {len(graph.nodes)} step(s) wired; every handoff's "
            "contract is compatible.",
            highlight=False,
        )
    if problems:
        raise typer.Exit(EXIT_FAILED)


def reproduce(
    run_id: Annotated[str, typer.Argument(help="The pipeline run to re-execute (id or prefix).")],
    tolerance: Annotated[
        float, typer.Option(help="Relative tolerance for numeric outputs (metrics).")
    ] = 0.0,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Re-run a recorded pipeline run and check that every output reproduces. Exit 1 if not."""
    from keel.pipelines import reproduce_run

    with reporting():
        report = reproduce_run(run_id, tolerance=tolerance, on_event=_Progress(live=False))
    if fmt is Format.json:
        print_json(report.to_dict())
    else:
        out.print(report)
    if not report.reproduced:
        raise typer.Exit(EXIT_FAILED)


class LineageFormat(enum.StrEnum):
    text = "text"
    json = "json"
    dot = "dot"


def lineage(
    ref: Annotated[
        str,
        typer.Argument(help="A run id, RUN_ID:STEP, an artifact digest prefix, or dataset NAME/3."),
    ],
    fmt: Annotated[
        LineageFormat, typer.Option("--format", "-f", help="text, json or dot.")
    ] = LineageFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    downstream: Annotated[
        bool,
        typer.Option(
            "--downstream",
            help="What was made from it instead: runs, outputs, model versions, deployments.",
        ),
    ] = False,
) -> None:
    """The upstream tree of a dataset, artifact, step or run: what it was made from
    (--downstream: what was made from it, down to models and deployments)."""
    from keel.pipelines import lineage_dot, lineage_rich, lineage_tree

    with reporting():
        tree = _downstream(ref) if downstream else lineage_tree(ref)
    if fmt is LineageFormat.json:
        print_json(tree.to_dict())
        return
    if fmt is LineageFormat.dot:  # Graphviz text, exactly: no markup, no wrapping
        text = lineage_dot(tree, downstream=downstream)
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)
        return
    if output is not None:
        from rich.console import Console

        with output.open("w", encoding="utf-8") as handle:
            Console(file=handle, width=200, soft_wrap=True).print(lineage_rich(tree))
        return
    out.print(lineage_rich(tree))


def _downstream(ref: str) -> LineageNode:
    from keel.deploy import with_deployments
    from keel.pipelines import lineage_downstream
    from keel.tracking import open_project

    project = open_project()
    return with_deployments(lineage_downstream(ref, project=project), project=project)

"""``keel runs list|show|compare``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import Format, out, print_json, reporting, shown_traceback
from keel.errors import UsageError

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["app"]

app = typer.Typer(help="Tracked runs: list, show, compare.", no_args_is_help=True)


_PAGE = 20  # the table's default; JSON lists every run unless --limit


@app.command("list")
def list_runs(
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help=f"Newest N runs (default: all in JSON; {_PAGE} in the table, with a count)."
        ),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Runs, newest first, with params and the latest value of each metric.

    `--format json` prints every matching run unless --limit is given; the table shows the
    newest 20 and says how many more there are.
    """
    from keel.tracking import open_project, run_to_dict

    with reporting():
        store = open_project().metadata
        shown = limit if limit is not None or fmt is Format.json else _PAGE
        runs = store.list_runs(experiment=experiment, limit=shown)
        total = store.count_runs(experiment=experiment) if len(runs) == shown else len(runs)
    if fmt is Format.json:
        _stream_json(run_to_dict(r) for r in runs)
        return
    table = Table(title=f"{len(runs)} run(s), newest first", title_justify="left")
    for column in ("id", "name", "status", "started", "params", "metrics"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(
            run.id[:8],
            run.name or "",
            run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            ", ".join(f"{k}={v!r}" for k, v in run.params.items()),
            ", ".join(f"{k}={v:.4g}" for k, v in run.metrics.items()),
        )
    out.print(table)
    if total > len(runs):
        out.print(
            f"{total - len(runs)} more run(s) not shown; use --limit {total} (or --format "
            "json, which lists every run).",
            highlight=False,
        )


def _stream_json(items: Iterable[dict[str, Any]]) -> None:
    """A JSON array written one element at a time (thousands of runs never build one string);
    the same text as :func:`print_json` of the list."""
    first = True
    for item in items:
        body = textwrap.indent(json.dumps(item, indent=2, allow_nan=False), "  ")
        typer.echo(("[\n" if first else ",\n") + body, nl=False)
        first = False
    typer.echo("[]" if first else "\n]")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """One run: params, metrics, tags, fingerprint and artifacts."""
    from keel.tracking import open_project, run_to_dict

    with reporting():
        project = open_project()
        run = project.metadata.get_run(_resolve(run_id))
        artifacts = project.metadata.list_artifacts(run.id)
    data = run_to_dict(run, artifacts)
    if fmt is Format.json:
        print_json(data)
        return
    table = Table(title=f"run {run.id} ({run.name or 'unnamed'}, {run.status})", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key in ("started_at", "ended_at", "params", "metrics", "tags", "artifacts", "error"):
        if data[key]:  # Text: a bracket in a param or an error is not markup
            shown = shown_traceback(data[key]) if key == "error" else str(data[key])
            table.add_row(key, Text(shown))
    code = (run.fingerprint or {}).get("code", {})
    table.add_row(
        "code", f"{code.get('kind')} {code.get('commit') or ''} dirty={code.get('dirty')}"
    )
    out.print(table)


@app.command("compare")
def compare(
    run_ids: Annotated[
        list[str], typer.Argument(help="Two or more run ids; the first is the baseline.")
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Which of code, environment, params, seed and data differ; metric deltas."""
    from keel.tracking import compare_runs, open_project

    with reporting():
        if len(run_ids) < 2:
            raise UsageError("compare needs at least two runs.", hint="keel runs compare ID ID")
        store = open_project().metadata
        result = compare_runs([store.get_run(_resolve(r)) for r in run_ids])
    if fmt is Format.json:
        print_json(result.to_dict())
    else:
        out.print(result)


def _resolve(prefix: str) -> str:
    """A full run id from a unique prefix."""
    from keel.tracking import open_project

    return open_project().metadata.resolve_run_id(prefix)

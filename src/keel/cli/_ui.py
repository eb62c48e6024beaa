"""``keel ui`` (the local web app, or ``--export DIR``) and ``keel kpis``.

``keel kpis`` exits 1 when any KPI is red (CI fails), 0 otherwise; ``--format json`` prints
``{"status": ..., "kpis": [...]}``, the data of the UI's overview and ``/api/kpis``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, out, print_json, reporting

__all__ = ["kpis", "ui"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

_COLORS = {"green": "green", "amber": "yellow", "red": "bold red", "n/a": "dim"}


def ui(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="KEEL_UI_TOKEN",
            help="Required beyond loopback; requests carry it (docs/ui.md). [env: KEEL_UI_TOKEN]",
            show_envvar=False,
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the pages as a static site into this (new or empty) folder."),
    ] = None,
) -> None:
    """The local web app over this project's stores (read-only): KPIs, runs, models, data."""
    with reporting():
        if export is not None:
            from keel.ui import export_site

            written = export_site(export)
            # plain text: a path is never folded or read as markup
            typer.echo(f"Wrote {len(written)} page(s) to {export}; open {export / 'index.html'}")
            return
        from keel.ui import check_bind, run_ui

        check_bind(host, token)
        typer.echo(f"keel ui on http://{host}:{port}/ (Ctrl+C stops it)")
        run_ui(host=host, port=port, token=token)


def kpis(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Quality KPIs against their [kpis] objectives. Exit 1 when any is red."""
    from keel.tracking import open_project
    from keel.ui import kpi_report

    with reporting():
        report = kpi_report(open_project())
    if fmt is Format.json:
        print_json(report)
    else:
        table = Table(title=f"KPIs: {report['status']}", title_justify="left")
        for column in ("status", "KPI", "value", "why"):
            table.add_column(column, overflow="fold")
        for k in report["kpis"]:
            color = _COLORS[k["status"]]
            table.add_row(f"[{color}]{k['status']}[/]", k["title"], k["value_text"], k["reason"])
        out.print(table)
    if report["status"] == "red":
        raise typer.Exit(EXIT_FAILED)

"""``keel monitor compare``: drift between two datasets. Exit 1 when a column drifted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, out, print_json, progress, reporting

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(help="Monitoring: drift and data quality.", no_args_is_help=True)


@app.command()
def compare(
    reference: Annotated[str, typer.Argument(help="Reference data: Parquet file/folder, CSV.")],
    current: Annotated[str, typer.Argument(help="Current data, the same way.")],
    contract: Annotated[
        str | None, typer.Option(help="Compare the contract's columns (contract.yaml, mod:Class).")
    ] = None,
    slice_by: Annotated[str | None, typer.Option("--slice", help="Also per value of COL.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the resampling.")] = 0,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Which columns drifted between REFERENCE and CURRENT (effect sizes with intervals)."""
    from keel.monitor._compare import compare as run_compare

    with reporting(), progress(f"Profiling {reference} and {current}"):
        columns = None
        if contract is not None:
            from keel.contracts import load_contract

            columns = list(load_contract(contract).column_names)
        result = run_compare(reference, current, columns=columns, slice_by=slice_by, seed=seed)
    if html is not None:
        from keel.monitor._report_html import comparison_html

        html.write_text(
            comparison_html(result, title=f"Drift: {current} against {reference}"),
            encoding="utf-8",
        )
    if fmt is Format.json:
        print_json(result.to_dict())
    else:
        table = Table(
            title=f"{current} against {reference}: " + ("DRIFT" if result.drifted else "no drift"),
            title_justify="left",
        )
        for column in ("column", "method", "score", "interval", "threshold", "drifted"):
            table.add_column(column)
        for r in result.columns:
            table.add_row(
                r.column,
                r.method,
                f"{r.score:.3g}",
                f"[{r.low:.3g}, {r.high:.3g}]",
                f"{r.threshold:.3g}",
                "[bold red]yes[/]" if r.drifted else "no",
            )
        out.print(table)
        if html is not None:
            out.print(f"Wrote {html}", highlight=False)
    if result.drifted:
        raise typer.Exit(EXIT_FAILED)

"""``keel monitor reference set|show``: the reference profiles stored with model and dataset
versions, which ``keel monitor compare model:NAME@ALIAS CURRENT`` compares with."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keel.cli._output import Format, out, print_json, progress, reporting

if TYPE_CHECKING:
    from keel.monitor import ColumnProfile, StoredReference

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(
    help="Reference profiles stored with model versions and dataset versions.",
    no_args_is_help=True,
)

_REF_HELP = (
    "A model version (NAME, NAME/3, NAME@champion, or model:...) or a dataset version "
    "(data:NAME/3, data:NAME for the latest)."
)


@app.command("set")
def set_(
    ref: Annotated[str, typer.Argument(help=_REF_HELP)],
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Reference data (Parquet file/folder, CSV, NDJSON). Required for a model; "
            "a dataset version defaults to its own files."
        ),
    ] = None,
    contract: Annotated[
        str | None,
        typer.Option(help="Profile this contract's columns (default: the model's input contract)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Profile DATA and store it as the reference of REF (replacing any earlier one)."""
    from keel.monitor import set_reference

    with reporting(), progress(f"Profiling {data if data is not None else ref}"):
        stored = set_reference(ref, data, contract=contract)
    _render(stored, fmt)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help=_REF_HELP)],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """The reference profile of REF: rows, and per column its counts, moments and bins."""
    from keel.monitor import get_reference

    with reporting():
        stored = get_reference(ref)
    _render(stored, fmt)


def _render(stored: StoredReference, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(stored.to_dict())
        return
    record = stored.record
    from keel.grammar import Reference

    inherited = Reference("dataset", record.name, record.version).qualified
    via = f", inherited from {inherited}" if stored.inherited else ""
    out.print(
        f"{stored.subject} {stored.reference}: reference profile of "
        f"{stored.profile.rows:,} rows from {record.source or '?'}{via}",
        highlight=False,
    )
    out.print(
        f"stored by {record.created_by} at {record.created_at:%Y-%m-%d %H:%M:%S}, "
        f"digest {record.digest[:12]}",
        highlight=False,
    )
    table = Table(title_justify="left")
    for heading in ("column", "kind", "nulls", "mean", "std", "min", "max", "bins / top levels"):
        table.add_column(heading)
    for column in stored.profile.columns.values():
        table.add_row(*_row(column))
    out.print(table)


def _row(column: ColumnProfile) -> tuple[str, ...]:
    if column.kind == "categorical":
        labels = column.bins.labels if column.bins is not None else ()
        ranked = sorted(zip(labels, column.counts, strict=False), key=lambda p: -p[1])
        top = ", ".join(f"{label} ({count:,})" for label, count in ranked[:3] if count)
        return (column.column, column.kind, f"{column.nulls:,}", "", "", "", "", top)
    std = math.sqrt(column.variance) if column.n > 1 else math.nan
    return (
        column.column,
        column.kind,
        f"{column.nulls:,}",
        _number(column.mean),
        _number(std),
        _number(column.minimum),
        _number(column.maximum),
        str(len(column.counts)),
    )


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4g}"

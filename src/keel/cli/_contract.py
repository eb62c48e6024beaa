"""``keel contract infer|diff|codegen|export``."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from keel.cli._output import EXIT_FAILED, Format, out, print_json, progress, reporting

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["app"]

app = typer.Typer(help="Contracts as files: infer, diff, codegen, export.", no_args_is_help=True)


class ExportFormat(enum.StrEnum):
    json_schema = "json-schema"
    yaml = "yaml"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"Wrote {output}", highlight=False)


@app.command()
def infer(
    data: Annotated[str, typer.Argument(help="Parquet file/folder/glob, CSV or NDJSON.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    name: Annotated[str | None, typer.Option(help="Contract name (default: file name).")] = None,
) -> None:
    """Propose a contract from data: types, nullability, ranges, categories, formats."""
    from keel.contracts import dump_yaml, infer_contract, read_data

    with reporting():
        frame = read_data(data)
        with progress(f"Profiling {data}"):
            contract = infer_contract(frame, name=name or _default_name(data))
        text = dump_yaml(contract)
    _write(text, output)


def _default_name(data: str) -> str:
    stem = Path(data.rstrip("/")).stem.replace("-", "_").replace("*", "").strip("_")
    return "".join(part.capitalize() for part in stem.split("_")) or "Inferred"


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The contract as it was.")],
    new: Annotated[str, typer.Argument(help="The contract as proposed.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List changes and classify each as breaking or compatible. Exit 1 on a breaking change."""
    from keel.contracts import diff_contracts, load_contract

    with reporting():
        result = diff_contracts(load_contract(old), load_contract(new))
    if fmt is Format.json:
        print_json(result.to_dict())
    else:
        out.print(result)
    if result.breaking:
        raise typer.Exit(EXIT_FAILED)


@app.command("codegen")
def codegen_command(
    contract: Annotated[str, typer.Argument(help="contract.yaml (or module:Class).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    class_name: Annotated[str | None, typer.Option(help="Python class name.")] = None,
) -> None:
    """Write the Python keel.Schema class for a contract file."""
    from keel.contracts import codegen, load_contract

    with reporting():
        source = codegen(load_contract(contract), class_name=class_name)
    _write(source, output)


@app.command()
def export(
    contract: Annotated[str, typer.Argument(help="contract.yaml, or module:Class.")],
    to: Annotated[ExportFormat, typer.Option("--to", help="Target format.")] = (
        ExportFormat.json_schema
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
) -> None:
    """Export a contract as JSON Schema (for APIs) or YAML (for a Python-defined schema)."""
    from keel.contracts import dump_yaml, load_contract, to_json_schema

    with reporting():
        spec = load_contract(contract)
        if to is ExportFormat.yaml:
            text = dump_yaml(spec)
        else:
            text = json.dumps(to_json_schema(spec), indent=2) + "\n"
    _write(text, output)

"""``keel validate CONTRACT DATA``."""

from __future__ import annotations

from typing import Annotated

import typer

from keel.cli._output import EXIT_FAILED, Format, out, print_json, progress, reporting

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["validate"]


def validate(
    contract: Annotated[str, typer.Argument(help="contract.yaml, or module:Class.")],
    data: Annotated[
        str,
        typer.Argument(
            help="Parquet file/folder/glob, CSV or NDJSON, or a dataset version (data:NAME)."
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    examples: Annotated[
        int | None, typer.Option(min=0, help="Failing rows shown per check (keel.toml default).")
    ] = None,
    coerce: Annotated[bool, typer.Option(help="Cast columns to the declared types.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List passed checks too (table format).")
    ] = False,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="Reject undeclared columns.")
    ] = None,
) -> None:
    """Validate DATA against CONTRACT. Exit 0: passed; 1: an error check failed; 2: unusable."""
    from keel.config import load_config
    from keel.contracts import check_data, load_contract
    from keel.tracking import local_source

    with reporting():
        config = load_config()
        spec = load_contract(contract)
        with progress(f"Validating {data} against {spec.name}"):
            report = check_data(
                spec,
                local_source(data),
                coerce=coerce,
                strict=config.contract_strict if strict is None else strict,
                examples=config.contract_examples if examples is None else examples,
            )
    if fmt is Format.json:
        print_json(report.to_dict())
    else:
        out.print(report.table(show_passed=show_all))
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)

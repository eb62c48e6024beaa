"""``keel features list|show|training-set``: the project's feature definitions (read from the
file ``keel.toml`` names, ``[features] definitions``) and point-in-time training sets.

JSON shapes (``--format json``): ``list`` gives ``{"source", "entities": [...], "views":
[...], "services": [...], "derived": [...]}`` with each item as ``show`` gives it; ``show
NAME`` gives one view (``name, entity, source, event_time, created_time, ttl, features,
contract, description``) or service (``name, features, full_names, description``);
``training-set`` gives ``{"rows", "features", "coverage": [{"view", "found", "expired",
"missing"}], "key", "dataset", "cache_hit", "output"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keel.cli._output import Format, out, print_json, progress, reporting

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["app"]

app = typer.Typer(
    help="Feature store: definitions and point-in-time training sets.", no_args_is_help=True
)

_DEFINITIONS = typer.Option(
    "--definitions", help="The definitions file (default: keel.toml [features] definitions)."
)


def _load(definitions: Path | None) -> Any:
    from keel.features import load_definitions

    return load_definitions(definitions)


@app.command("list")
def list_definitions(
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Every entity, feature view, feature service and derived feature defined."""
    with reporting():
        found = _load(definitions)
    if fmt is Format.json:
        print_json(found.to_dict())
        return
    table = Table(title=f"features in {found.source}", title_justify="left")
    for column in ("kind", "name", "entity", "features", "source", "ttl"):
        table.add_column(column)
    for view in found.views.values():
        ttl = "never" if view.ttl is None else str(view.ttl)
        features = ", ".join(view.features)
        table.add_row("view", view.name, view.entity.name, features, str(view.source), ttl)
    for service in found.services.values():
        shown = ", ".join(service.to_dict()["features"])
        table.add_row("service", service.name, "", shown, "", "")
    for item in found.derived.values():
        table.add_row("derived", item.name, "", ", ".join(item.input_names), "", "")
    out.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A feature view or feature service.")],
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """One feature view (or service): its definition and features."""
    from keel.errors import UsageError, did_you_mean

    with reporting():
        found = _load(definitions)
        item = found.views.get(name) or found.services.get(name)
        if item is None:
            raise UsageError(
                f"no feature view or service {name!r} in {found.source}.",
                hint=did_you_mean(name, [*found.views, *found.services]),
            )
    data = item.to_dict()
    if fmt is Format.json:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)


@app.command("training-set")
def training_set_command(
    entities: Annotated[str, typer.Argument(help="Entity rows: a file, glob or data:NAME/3.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The feature service.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the Parquet here.")],
    timestamp: Annotated[
        str, typer.Option(help="The entity rows' column of as-of times.")
    ] = "timestamp",
    as_known_at: Annotated[
        bool,
        typer.Option("--as-known-at", help="Also require each row's created time <= the time."),
    ] = False,
    engine: Annotated[str, typer.Option(help="auto, polars or duckdb.")] = "auto",
    name: Annotated[
        str | None,
        typer.Option(help="Record as a version of this dataset [default: SERVICE.training-set]."),
    ] = None,
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Build the point-in-time correct training set for ENTITIES and write it to OUTPUT.

    Exactly one row per entity row, in order; a feature is null when its entity has no row at
    or before the time (missing) or its latest is older than the view's TTL (expired). The
    result is recorded as a dataset version; the same request again is a cache hit.
    """
    from keel.features import training_set

    with reporting(), progress("Building the training set"):
        defs = _load(definitions)
        built = training_set(
            entities,
            defs.service(service),
            definitions=defs,
            timestamp=timestamp,
            as_known_at=as_known_at,
            engine=engine,  # type: ignore[arg-type]  # the library names the allowed ones
            name=name or f"{service}.training-set",
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        built.frame.write_parquet(output)
    data = {**built.to_dict(), "output": str(output)}
    if fmt is Format.json:
        print_json(data)
        return
    origin = "cache hit" if built.cache_hit else "built"
    out.print(
        f"{data['rows']:,} rows x {len(built.features)} features -> {output} ({origin}; "
        f"dataset {data['dataset']})",
        highlight=False,
    )
    for item in built.coverage:
        rows = max(data["rows"], 1)
        out.print(
            f"  {item.view}: {item.found:,} found, {item.expired:,} expired "
            f"({item.expired / rows:.0%}), {item.missing:,} missing ({item.missing / rows:.0%})",
            highlight=False,
        )

"""``keel features list|show|training-set|materialize|get|skew``: the project's feature
definitions (read from the file ``keel.toml`` names, ``[features] definitions``),
point-in-time training sets, the online store, and training-serving skew.

JSON shapes (``--format json``): ``list`` gives ``{"source", "entities": [...], "views":
[...], "services": [...], "derived": [...]}`` with each item as ``show`` gives it; ``show
NAME`` gives one view (``name, entity, source, event_time, created_time, ttl, features,
contract, description``) or service (``name, features, full_names, description``);
``training-set`` gives ``{"rows", "features", "coverage": [{"view", "found", "expired",
"missing"}], "key", "dataset", "cache_hit", "output"}``; ``materialize`` gives
``{"store", "materializations": [{"view", "as_of", "fingerprint", "rows", "written",
"features"}]}``;
``get`` gives ``{"features", "rows", "status", "materializations"}``; ``skew`` gives
:meth:`keel.features.SkewReport.to_dict` (docs/features.md), exit 1 when a feature's share
of differing values exceeds the threshold.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, out, print_json, progress, reporting

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

    with reporting(), progress("Building the training set", quiet=fmt is Format.json):
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


def _moment(text: str | None, option: str) -> dt.datetime | None:
    from keel.errors import UsageError

    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date-time.",
            hint=f"Write it as ISO 8601, e.g. {option} 2024-01-05T12:00:00Z (naive times are UTC).",
        ) from None


@app.command()
def materialize(
    views: Annotated[
        list[str] | None, typer.Argument(help="The views to materialize [default: all].")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The instant (ISO 8601) [default: now].")
    ] = None,
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Write the latest value per entity of each view, as of now (or --as-of), into the online
    store (keel.toml [features] online: the embedded SQLite store by default, or Redis).

    The values are those a training set gives at that instant; each view's previous snapshot
    is replaced atomically. The TTL is enforced again when values are read.
    """
    from keel.config import load_config
    from keel.features import materialize as run

    with reporting(), progress("Materializing", quiet=fmt is Format.json):
        defs = _load(definitions)
        done = run(views or None, _moment(as_of, "--as-of"), definitions=defs)
    store = load_config().features_online or ".keel/online.db"
    if fmt is Format.json:
        print_json({"store": store, "materializations": [m.to_dict() for m in done]})
        return
    for item in done:
        out.print(
            f"{item.view}: {item.rows:,} entities as of {item.as_of.isoformat()} -> {store}",
            highlight=False,
        )


def _field(text: str, keys: dict[str, type]) -> tuple[str, Any]:
    from keel.errors import UsageError

    name, equals, value = text.partition("=")
    if not equals or not name:
        raise UsageError(
            f"{text!r} is not KEY=VALUE.", hint="Name each entity key, e.g. applicant_id=17."
        )
    kind = keys.get(name)
    if kind is str:
        return name, value
    if kind is bool and value.lower() in {"true", "false"}:
        return name, value.lower() == "true"
    if kind is int:
        try:
            return name, int(value)
        except ValueError:
            raise UsageError(
                f"{name}={value!r}: the key {name!r} is an integer.", hint=f"{name}=17"
            ) from None
    try:  # a request field: a JSON value (number, true, null...), else text
        return name, json.loads(value)
    except ValueError:
        return name, value


@app.command()
def get(
    fields: Annotated[
        list[str], typer.Argument(help="The entity's keys and request fields, as KEY=VALUE.")
    ],
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="The feature service.")
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="A feature instead of a service (view:name, name)."),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Read as of this instant (ISO 8601) [default: now]."),
    ] = None,
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Look up one entity's features in the online store (the TTL applied now: a value past it
    is null, status expired; an entity without values is missing)."""
    from keel.errors import UsageError
    from keel.features import get_online

    with reporting():
        defs = _load(definitions)
        if (service is None) == (not feature):
            raise UsageError(
                "name the features with --service or with --feature (one of the two).",
                hint="keel features get applicant_id=17 --service loans",
            )
        wanted = defs.service(service) if service is not None else list(feature or [])
        keys = {k: t for part in defs.plan(wanted).views for k, t in part.view.entity.keys}
        row = dict(_field(f, keys) for f in fields)
        found = get_online(row, wanted, definitions=defs, now=_moment(now, "--now"))
    if fmt is Format.json:
        print_json(found.to_dict())
        return
    table = Table(title="online features", title_justify="left")
    for column in ("feature", "value"):
        table.add_column(column)
    for name, value in found.rows[0].items():
        table.add_row(name, "null" if value is None else str(value))
    out.print(table)
    for view, state in found.status[0].items():
        meta = next(m for m in found.materializations if m.view == view)
        out.print(
            f"  {view}: {state} (materialized as of {meta.as_of.isoformat()})", highlight=False
        )


@app.command()
def skew(
    name: Annotated[str, typer.Argument(help="The served model's name.")],
    since: Annotated[
        str,
        typer.Option(help="From: 2026-11-01, 2026-11-01T12:00, or a span back from now (1d, 24h)."),
    ] = "1d",
    until: Annotated[str | None, typer.Option(help="Up to (excluded), the same way.")] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            "-s",
            help="The feature service the rows were served with (default: each logged "
            "version's, from the registry).",
        ),
    ] = None,
    max_share: Annotated[
        float | None,
        typer.Option(
            help="Fail when more than this share of a feature's values differ (default: "
            "keel.toml features.skew_max_share, 0.01)."
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Numbers within TOLERANCE x max(1, |offline|) are equal.")
    ] = 1e-9,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    definitions: Annotated[Path | None, _DEFINITIONS] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Training-serving skew of model NAME: per feature, the share of the values it served
    that differ from the point-in-time join at the logged request times, and why (stale,
    missing, expired, computed differently). Exit 1 when a feature's share exceeds
    --max-share."""
    from keel.monitor import skew as run_skew

    with reporting(), progress(f"Replaying the features model {name} served"):
        found = run_skew(
            name,
            since=since,
            until=until,
            service=service,
            definitions=None if definitions is None else _load(definitions),
            max_share=max_share,
            tolerance=tolerance,
        )
    if html is not None:
        from keel.monitor import skew_html

        html.write_text(skew_html(found), encoding="utf-8")
    if fmt is Format.json:
        print_json(found.to_dict())
    else:
        print_skew(found)
        if html is not None:
            out.print(f"Wrote {html}", highlight=False)
    if not found.passed:
        raise typer.Exit(EXIT_FAILED)


def print_skew(found: Any) -> None:
    """A skew report as a table (``keel features skew``, ``keel monitor report``)."""
    from keel.features import SKEW_REASONS as REASONS

    verdict = (
        f"SKEW in {', '.join(found.skewed)}" if found.skewed else "no feature over the threshold"
    )
    table = Table(
        title=f"{found.model or 'served rows'}: {found.rows:,} served rows, skew threshold "
        f"{found.max_share:.2%} - {verdict}",
        title_justify="left",
    )
    for column in ("feature", "view", "differ", "share", *REASONS):
        table.add_column(column)
    for item in found.features:
        share = f"{item.share:.2%}"
        table.add_row(
            item.feature,
            item.view or "(derived)",
            f"{item.differ:,}",
            f"[bold red]{share}[/]" if item.share > found.max_share else share,
            *(f"{item.reasons[r]:,}" for r in REASONS),
        )
    out.print(table)
    for item in found.features:
        for example in item.examples[:1]:
            keys = ", ".join(f"{k}={v}" for k, v in example["keys"].items())
            out.print(
                f"  {item.feature}: {keys} at {example['time']:%Y-%m-%d %H:%M:%S}: served "
                f"{example['served']!r}, offline {example['offline']!r} ({example['reason']})",
                highlight=False,
                markup=False,
            )

"""Entity frames and feature rows made ready for the engine: columns present, keys of their
declared types and never null, times as date-times that are all time-zone aware or all
naive. Each refusal says which column of which input, what it holds and how to fix it.
The engines' results are put back together here too (:func:`assemble`), so every engine,
Dask's partitions included, gives the same output columns and coverage counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import ContractError, FailureReport, InputError, UsageError
from keel.features._entity import KEY_TYPES, Entity
from keel.features._pit import CREATED, EVENT, FOUND, ROW, TIME
from keel.features._view import FeatureView

if TYPE_CHECKING:
    import polars as pl

    from keel.features._definitions import Definitions
    from keel.features._service import Plan
    from keel.features._source import Loaded
    from keel.tracking import Project

__all__ = [
    "Coverage",
    "assemble",
    "contract_failure",
    "count",
    "entity_rows",
    "feature_rows",
    "time_zone_of",
]


def _key_dtype(kind: type) -> pl.DataType:
    import polars as pl

    return {int: pl.Int64(), str: pl.String(), bool: pl.Boolean()}[kind]


def _fits(dtype: pl.DataType, kind: type) -> bool:
    import polars as pl

    if kind is int:
        return dtype.is_integer()
    if kind is str:
        return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    return dtype == pl.Boolean


def time_zone_of(dtype: pl.DataType, column: str, what: str) -> str | None:
    """The time zone of a date-time column (``None``: naive); a date counts as naive."""
    import polars as pl

    if isinstance(dtype, pl.Datetime):
        return dtype.time_zone
    if dtype == pl.Date:
        return None
    raise InputError(
        f"{what} column {column!r} holds {dtype}, not date-times.",
        hint=f"Parse it first, e.g. pl.col({column!r}).str.to_datetime().",
    )


def _as_time(column: str, zone: str | None) -> pl.Expr:
    import polars as pl

    expr = pl.col(column).cast(pl.Datetime("us", zone) if zone else pl.Datetime("us"))
    return expr.dt.convert_time_zone("UTC") if zone else expr


def _check_keys(schema: pl.Schema, entity: Entity, what: str) -> None:
    for key, kind in entity.keys:
        if key not in schema:
            raise InputError(
                f"{what} has no column {key!r}, a key of entity {entity.name!r}.",
                hint=f"Add it (columns: {', '.join(schema.names()[:20])}).",
            )
        if not _fits(schema[key], kind):
            raise InputError(
                f"{what} column {key!r} holds {schema[key]}, but entity {entity.name!r} "
                f"declares it {KEY_TYPES[kind]}.",
                hint=f"Cast it: pl.col({key!r}).cast(pl.{_key_dtype(kind)}).",
            )


def entity_rows(
    frame: pl.DataFrame, entities: Sequence[Entity], timestamp: str
) -> tuple[pl.DataFrame, str | None]:
    """``ROW``, every entity's keys (typed) and ``TIME``; with the frame's time zone."""
    import polars as pl

    schema = frame.schema
    if timestamp not in schema:
        raise InputError(
            f"the entity frame has no timestamp column {timestamp!r} (columns: "
            f"{', '.join(schema.names()[:20])}).",
            hint="Give each row the time its features are wanted as of, or pass "
            "timestamp='COLUMN' (--timestamp COLUMN) naming it.",
        )
    zone = time_zone_of(schema[timestamp], timestamp, "the entity frame")
    keys: dict[str, type] = {}
    for entity in entities:
        _check_keys(schema, entity, "the entity frame")
        keys.update(entity.keys)
    for column in [*keys, timestamp]:
        nulls = frame.get_column(column).is_null()
        if nulls.any():
            rows = frame.with_row_index("row").filter(nulls).get_column("row").head(5).to_list()
            what = "key" if column in keys else "timestamp"
            raise InputError(
                f"the entity frame has {int(nulls.sum())} row(s) with a null {what} "
                f"{column!r} (rows {rows}); a row without {what} cannot be looked up.",
                hint="Drop or fill those rows before asking for features.",
            )
    ready = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW),
        *(pl.col(k).cast(_key_dtype(kind)) for k, kind in keys.items()),
        _as_time(timestamp, zone).alias(TIME),
    )
    return ready, zone


def feature_rows(
    frame: pl.LazyFrame, view: FeatureView, zone: str | None, timestamp: str
) -> pl.DataFrame:
    """The view's keys, ``EVENT``, ``CREATED`` and features, collected and normalized."""
    import polars as pl

    what = f"feature view {view.name!r}: the source {view.source}"
    schema = frame.collect_schema()
    _check_keys(schema, view.entity, what)
    times = [(view.event_time, EVENT)]
    if view.created_time:
        times.append((view.created_time, CREATED))
    for column, _ in times:
        if column not in schema:
            raise InputError(
                f"{what} has no column {column!r} (the view's "
                f"{'event' if column == view.event_time else 'created'} time).",
                hint=f"Columns: {', '.join(schema.names()[:20])}.",
            )
        here = time_zone_of(schema[column], column, what)
        if (here is None) != (zone is None):
            aware, naive = (
                ("the entity frame", what) if zone is not None else (what, "the entity frame")
            )
            raise InputError(
                f"{what} column {column!r} is {'naive' if here is None else f'in {here}'} "
                f"but the entity frame's {timestamp!r} is "
                f"{'naive' if zone is None else f'in {zone}'}: time-zone aware and naive "
                "times cannot be compared.",
                hint=f"Make both aware or both naive: {naive} with "
                f"pl.col(...).dt.replace_time_zone('UTC') if it holds UTC, or {aware} with "
                ".dt.replace_time_zone(None).",
            )
    missing = [c for c in view.features if c not in schema]
    if missing:  # the contract check reports these; this guards a contract-less read
        raise UsageError(f"{what} lacks the feature column(s) {', '.join(missing)}.")
    return frame.select(
        *(pl.col(k).cast(_key_dtype(kind)) for k, kind in view.entity.keys),
        *(_as_time(c, time_zone_of(schema[c], c, what)).alias(alias) for c, alias in times),
        *view.features,
    ).collect()


def contract_failure(report: FailureReport, view: FeatureView, shown: str) -> ContractError:
    """The error a source that breaks its view's contract raises (with the whole report)."""
    return ContractError(report, where=f"feature view {view.name!r}: the source {shown}")


@dataclass(frozen=True)
class Coverage:
    """How one view's features were found: rows with a live value, with an expired one (the
    latest row is older than the TTL), and with none at all."""

    view: str
    found: int
    expired: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "found": self.found,
            "expired": self.expired,
            "missing": self.missing,
        }


def count(view: FeatureView, ready: pl.DataFrame, found: pl.Series) -> Coverage:
    """The coverage of ``view`` from the engine's ``FOUND`` (the winning row's event time,
    null when none) for the entity rows ``ready``."""
    import datetime as dt

    missing = int(found.is_null().sum())
    expired = 0
    if view.ttl is not None:
        start = ready.get_column(TIME) - dt.timedelta(microseconds=view.ttl.microseconds)
        expired = int((found.is_not_null() & (found < start)).sum())
    return Coverage(view.name, ready.height - missing - expired, expired, missing)


def assemble(
    frame: pl.DataFrame,
    ready: pl.DataFrame,
    plan: Plan,
    parts: list[Any],
    results: list[pl.DataFrame],
) -> tuple[pl.DataFrame, tuple[Coverage, ...]]:
    """``frame`` with each view's features (from the engine's ``results``, one per part of
    ``parts``) and the derived features appended; with each view's coverage."""
    columns: list[pl.Series] = []
    coverage = []
    for part, result in zip(parts, results, strict=True):
        coverage.append(count(part.view, ready, result.get_column(FOUND)))
        columns.extend(result.get_column(f).alias(out) for f, out in part.columns)
    out = frame.hstack(columns) if columns else frame
    for item in plan.derived:
        out = out.with_columns(item.compute(out))
    assert ROW not in out.columns
    return out, tuple(coverage)


def checked_source(view: FeatureView, defs: Definitions, project: Project | None) -> Loaded:
    """The view's source, read, after it passed the view's contract (else the contract
    report as a :class:`ContractError`): the one check training, materializing and skew share."""
    from keel.contracts import check_data

    loaded = view.source.load(defs.root, project)
    report = check_data(view.schema, loaded.frame, examples=3)
    if not report.passed:
        raise contract_failure(report, view, loaded.shown)
    return loaded


def source_zone(frame: pl.LazyFrame | pl.DataFrame, view: FeatureView) -> str | None:
    """The time zone of the view's event times (``None``: naive, or no such column)."""
    schema = frame.collect_schema()
    if view.event_time not in schema:
        return None
    return time_zone_of(schema[view.event_time], view.event_time, f"feature view {view.name!r}")

"""The point-in-time engine: for each entity row (keys, timestamp ``T``), the latest feature
row of its entity with event time ``<= T`` and ``>= T - TTL`` (both inclusive).

Semantics, held by every engine (a property test compares each with a brute-force join):

- Among the feature rows of an entity with event time ``<= T``, the one with the greatest
  event time wins; rows of equal event time are ordered by created time (a missing created
  time counts as the earliest). Two rows with equal keys, event time and created time are
  ambiguous and refused (:func:`sorted_rows`).
- "As known at" (``as_known_at=True``): a row also needs its created time ``<= T`` (a row
  without a created time is known from its event time).
- The winner's event time must be ``>= T - TTL``; otherwise the features are null (expired).
  Every entity row gives exactly one output row, in the input's order; rows with no feature
  row are null too (missing), never dropped. The winner's event time is returned as well,
  so callers can tell missing from expired.
- Feature rows with a null key or a null event time can match nothing and are ignored.

The plan, shared by the engines: number the feature rows ``p`` in (keys, event time, created
time) order; a row becomes *known* at ``k`` = its event time (or, as known at, the later of
its event and created times); the best row known by ``k`` is the running maximum of ``p``
over the entity's rows in ``k`` order; an as-of join on ``k`` finds, per entity row, the
best row known at ``T``; the TTL is then checked on that row's event time. The online
snapshot (the latest row per entity at one instant) is the same join with one entity row per
entity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from keel.errors import InputError

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BEST",
    "CREATED",
    "EVENT",
    "FOUND",
    "KNOWN",
    "ROW",
    "TIME",
    "JoinSpec",
    "SearchIndex",
    "join_known",
    "join_polars",
    "known_rows",
    "last_known",
    "pick",
    "search_index",
    "search_known",
    "sorted_rows",
]

ROW = "__keel_row"
"""The entity row's position in the input."""
TIME = "__keel_time"
"""The entity row's timestamp, normalized."""
EVENT = "__keel_event"
CREATED = "__keel_created"
FOUND = "__keel_found"
"""The winning feature row's event time (null when no row was found)."""
_P = "__keel_p"
KNOWN = "__keel_k"
"""When a feature row becomes known (its event time; as known at, the later of its event
and created times)."""
BEST = "__keel_best"
"""The position of the best feature row known by then."""


@dataclass(frozen=True)
class JoinSpec:
    """One view's join: its keys, TTL (microseconds, None: never expires), mode, columns."""

    keys: tuple[str, ...]
    ttl_us: int | None
    as_known_at: bool
    has_created: bool
    columns: tuple[str, ...]


def sorted_rows(features: pl.DataFrame, spec: JoinSpec, *, view: str) -> pl.DataFrame:
    """The feature rows in (keys, event time, created time) order, ambiguous rows refused.

    When no two rows share an event time (the usual case with fine-grained times), event-time
    order alone is that order within every entity, and a sort by one column is enough.

    ``features`` has the keys, ``EVENT``, ``CREATED`` (when the view has one) and the
    feature columns, normalized."""
    import polars as pl

    order = [*spec.keys, EVENT, *([CREATED] if spec.has_created else [])]
    rows = features.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in [*spec.keys, EVENT]))
    by_event = rows.sort(EVENT)
    if not by_event.select(pl.col(EVENT).eq(pl.col(EVENT).shift(1)).any()).item():
        return by_event  # no two rows share an event time: the (cheaper) order is complete
    rows = rows.sort(order, nulls_last=False)
    same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1)) for c in order)
    clashes = rows.filter(same)
    if clashes.height:
        shown = (
            clashes.head(3)
            .select(order)
            .rename({EVENT: "event_time", CREATED: "created_time"}, strict=False)
        )
        created = "and created time " if spec.has_created else ""
        raise InputError(
            f"feature view {view!r}: {clashes.height} row(s) repeat the keys and event time "
            f"{created}of another row, so which one holds is ambiguous; e.g. "
            f"{shown.to_dicts()}.",
            hint="Keep one row per entity and event time, or give the view a created_time "
            "column (the later-created row then wins).",
        )
    return rows


def known_rows(rows: pl.DataFrame, spec: JoinSpec) -> pl.DataFrame:
    """The keys, the time ``k`` each row of ``rows`` becomes known, and the best row (its
    position in ``rows``) known by then: the right side of every as-of join, built once.

    ``rows`` comes from :func:`sorted_rows`."""
    import polars as pl

    keys = list(spec.keys)
    index = pl.int_range(pl.len(), dtype=pl.UInt32)
    if spec.as_known_at and spec.has_created:
        return (
            rows.select(*keys, pl.max_horizontal(EVENT, CREATED).alias(KNOWN), index.alias(_P))
            .sort([*keys, KNOWN, _P])
            .with_columns(pl.col(_P).cum_max().over(keys).alias(BEST))
            .drop(_P)
        )
    # known at its event time: the rows are in order already
    return rows.select(*keys, pl.col(EVENT).alias(KNOWN), index.alias(BEST))


def join_known(
    entities: pl.DataFrame, rows: pl.DataFrame, known: pl.DataFrame, spec: JoinSpec
) -> pl.DataFrame:
    """``FOUND`` and ``spec.columns`` per entity row, in ``ROW`` order.

    ``entities`` has ``ROW``, the keys and ``TIME``; ``rows`` comes from :func:`sorted_rows`
    and ``known`` from :func:`known_rows` of it."""

    keys = list(spec.keys)
    matched = (
        entities.select(ROW, *keys, TIME)
        .sort(TIME)
        .join_asof(
            known,
            left_on=TIME,
            right_on=KNOWN,
            by=keys,
            strategy="backward",
            check_sortedness=False,  # sorted above, within each entity too
        )
    )
    return pick(matched, rows, spec)


def pick(matched: pl.DataFrame, rows: pl.DataFrame, spec: JoinSpec) -> pl.DataFrame:
    """``FOUND`` and ``spec.columns`` per entity row, in ``ROW`` order, from the as-of
    join's ``matched`` rows (``ROW``, ``TIME`` and ``BEST``, the position in ``rows`` of the
    best row known at ``TIME``, null when none): the TTL is checked here."""
    import polars as pl

    best = matched.get_column(BEST)
    values = rows.select(EVENT, *spec.columns)[best]
    found = values.get_column(EVENT)
    live = found.is_not_null()
    if spec.ttl_us is not None:
        start = matched.get_column(TIME) - dt.timedelta(microseconds=spec.ttl_us)
        live = live & (found >= start)
    out = pl.DataFrame([matched.get_column(ROW), found.alias(FOUND)]).with_columns(
        pl.when(live).then(values.get_column(c)).alias(c) for c in spec.columns
    )
    return out.sort(ROW)


def last_known(known: pl.DataFrame, spec: JoinSpec) -> pl.DataFrame:
    """``known`` without the rows another row of the same keys and time ``k`` follows (the
    follower is at least as good): one row per (keys, ``k``), so an as-of join that picks
    any of equal times (DuckDB's) finds the best. Equal (keys, ``k``) rows are adjacent in
    ``known``, or absent when the rows are ordered by event time alone."""
    import polars as pl

    same = pl.all_horizontal(pl.col(c).eq(pl.col(c).shift(-1)) for c in [*spec.keys, KNOWN])
    return known.filter(same.not_() | same.is_null())


def join_polars(entities: pl.DataFrame, rows: pl.DataFrame, spec: JoinSpec) -> pl.DataFrame:
    """The Polars engine: ``FOUND`` and ``spec.columns`` per entity row, in ``ROW`` order.

    ``entities`` has ``ROW``, the keys and ``TIME``; ``rows`` comes from :func:`sorted_rows`.
    """
    return join_known(entities, rows, known_rows(rows, spec), spec)


@dataclass(frozen=True)
class SearchIndex:
    """The known-rows table as one sorted integer column, for entity rows joined in small
    batches: a batch then costs a binary search per row instead of a pass over every
    feature row (:func:`search_known`).

    The table is ordered by (key, ``k``), one row per pair (:func:`last_known`); ``code`` is
    the key's rank times ``width`` plus ``k`` - ``start`` (microseconds), so the order of
    ``code`` is that order. Built only for one key and when ``code`` fits in 63 bits."""

    keys: pl.Series
    """The distinct keys, sorted."""
    code: pl.Series
    best: pl.Series
    start: int
    width: int


def search_index(known: pl.DataFrame, spec: JoinSpec) -> SearchIndex | None:
    """The :class:`SearchIndex` of ``known`` (from :func:`known_rows`), or ``None`` when the
    entity has several keys or the codes would not fit in 63 bits."""
    import polars as pl

    if len(spec.keys) != 1 or known.height == 0 or known.schema[spec.keys[0]] == pl.Boolean:
        return None
    (key,) = spec.keys
    table = last_known(known.sort([key, KNOWN], maintain_order=True), spec)
    micros = table.get_column(KNOWN).dt.epoch("us")
    start = cast("int", micros.min())  # never null: sorted_rows dropped null event times
    width = cast("int", micros.max()) - start + 1
    keys = table.get_column(key)
    distinct = keys.unique(maintain_order=True)  # sorted already
    if distinct.len() * width >= 2**62:
        return None
    rank = (keys.ne_missing(keys.shift(1)).cast(pl.Int64).cum_sum() - 1).fill_null(0)
    code = rank * width + (micros - start)
    return SearchIndex(distinct, code, table.get_column(BEST), start, width)


def search_known(entities: pl.DataFrame, index: SearchIndex, spec: JoinSpec) -> pl.DataFrame:
    """``ROW``, ``TIME`` and ``BEST`` per entity row, as :func:`join_known`'s as-of join
    gives them, by binary search in ``index``."""
    import polars as pl

    (key,) = spec.keys
    wanted = entities.get_column(key)
    position = index.keys.search_sorted(wanted, side="left").cast(pl.Int64)
    inside = position < index.keys.len()
    present = inside & index.keys.gather(position.clip(0, index.keys.len() - 1)).eq(wanted)
    since = entities.get_column(TIME).dt.epoch("us") - index.start
    known = present & (since >= 0)  # some row of this key is known by then, maybe
    query = position * index.width + since.clip(upper_bound=index.width - 1)
    found = index.code.search_sorted(query, side="right").cast(pl.Int64) - 1
    ok = known & (found >= 0)
    ok = ok & (index.code.gather(found.clip(0, index.code.len() - 1)) >= position * index.width)
    best = index.best.gather(found.clip(0, index.code.len() - 1))
    return pl.DataFrame(
        [entities.get_column(ROW), entities.get_column(TIME), ok.alias("__ok"), best]
    ).select(ROW, TIME, pl.when(pl.col("__ok")).then(pl.col(BEST)).alias(BEST))

"""``keel.features.materialize`` and ``keel.features.get_online``: the online snapshot and
lookups in it.

The snapshot is the point-in-time join of :mod:`keel.features._pit` (the training sets'
engine) with one entity row per entity at the as-of time, so the online values are those a
training set would give at that time, by construction. The TTL is applied again when a value
is read: a value older than its TTL at read time comes back null with status ``expired``,
never stale; an entity without a row comes back ``missing``. Derived features are computed
by the same functions as in training sets.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from keel.contracts import DType, polars_type
from keel.errors import InputError, UsageError, did_you_mean
from keel.features._definitions import Definitions, load_definitions
from keel.features._derived import DerivedFeature
from keel.features._frames import checked_source, feature_rows, source_zone
from keel.features._online import (
    EVENT_FIELD,
    Materialization,
    OnlineStore,
    decode_row,
    encode_key,
    open_online_store,
)
from keel.features._pit import EVENT, FOUND, ROW, TIME, JoinSpec, join_polars, sorted_rows
from keel.features._service import FeatureLike, FeatureService, Plan
from keel.features._view import FeatureView
from keel.tracking import Project, open_project

if TYPE_CHECKING:
    import polars as pl

__all__ = ["OnlineFeatures", "Status", "get_online", "materialize"]

Status = Literal["found", "expired", "missing"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(moment: dt.datetime | None) -> dt.datetime:
    """``moment`` (default: now) as an aware UTC time; a naive time is taken as UTC."""
    if moment is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(moment, dt.datetime):
        raise UsageError(
            f"{moment!r} is not a date-time.", hint="Pass a datetime, e.g. 2024-01-05T00:00Z."
        )
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _store(project: Project | None, store: OnlineStore | None) -> tuple[OnlineStore, bool]:
    if store is not None:
        return store, False
    return open_online_store((project or open_project()).config), True


def materialize(
    views: Iterable[str | FeatureView] | None = None,
    as_of: dt.datetime | None = None,
    *,
    definitions: Definitions | None = None,
    project: Project | None = None,
    store: OnlineStore | None = None,
) -> list[Materialization]:
    """Write the latest value per entity as of ``as_of`` (default: now; naive times are UTC)
    of ``views`` (default: every defined view) into the online store, replacing each view's
    previous snapshot atomically, and record each materialization."""
    defs = definitions if definitions is not None else load_definitions()
    project = project or open_project()
    moment = _utc(as_of)
    chosen = [
        v if isinstance(v, FeatureView) else defs.view(v)
        for v in (defs.views.values() if views is None else views)
    ]
    if not chosen:
        raise UsageError(
            f"{defs.source} defines no feature view to materialize.",
            hint="Define a keel.FeatureView in the definitions file.",
        )
    online, owned = _store(project, store)
    try:
        return [_materialize_view(view, defs, project, moment, online) for view in chosen]
    finally:
        if owned:
            online.close()


def _materialize_view(
    view: FeatureView, defs: Definitions, project: Project, moment: dt.datetime, online: OnlineStore
) -> Materialization:
    import polars as pl

    fingerprint = view.fingerprint(defs.root, project)
    loaded = checked_source(view, defs, project)
    zone = source_zone(loaded.frame, view)
    rows = feature_rows(loaded.frame, view, zone, "timestamp")
    spec = JoinSpec(
        keys=view.entity.key_names,
        ttl_us=None if view.ttl is None else view.ttl.microseconds,
        as_known_at=False,
        has_created=view.created_time is not None,
        columns=view.features,
    )
    at = moment if zone is not None else moment.replace(tzinfo=None)
    keys = list(spec.keys)
    # Only rows of an entity's latest event time at or before the instant can win its join
    # (ties among them are for the join to settle, by created time): keep just those, so the
    # engine orders thousands of rows, not millions. A property test holds the result equal
    # to the training set's.
    event = pl.col(EVENT)
    rows = rows.filter(event <= at).filter(event == event.max().over(keys))
    ordered = sorted_rows(rows, spec, view=view.name)
    entities = (
        ordered.select(keys)
        .unique()
        .with_columns(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW),
            pl.lit(at, dtype=rows.schema[EVENT]).alias(TIME),
        )
    )
    joined = join_polars(entities, ordered, spec)  # in ROW order, as ``entities``
    encoded = (
        pl.concat([entities.select(keys), joined], how="horizontal")
        .filter(pl.col(FOUND).is_not_null())
        .select(
            pl.struct(keys).struct.json_encode(),
            pl.struct(
                pl.col(FOUND).dt.epoch("us").alias(EVENT_FIELD),
                *(pl.col(c).alias(str(i)) for i, c in enumerate(spec.columns)),
            ).struct.json_encode(),
        )
        .rows()
    )
    meta = Materialization(
        view=view.name,
        as_of=moment,
        fingerprint=fingerprint,
        rows=len(encoded),
        written=dt.datetime.now(dt.UTC),
        features=view.features,
    )
    online.write(meta, encoded)
    return meta


@dataclass(frozen=True)
class OnlineFeatures:
    """Features looked up online: per entity row its request fields and features, and per
    view whether the value was ``found``, ``expired`` (older than the TTL at read time: null)
    or ``missing`` (no row for the entity)."""

    features: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    status: tuple[dict[str, Status], ...]
    """Per entity row: view name -> status."""
    materializations: tuple[Materialization, ...]
    """The snapshot each view's values come from (its as-of time tells how stale it is)."""
    dtypes: tuple[tuple[str, DType], ...] = ()

    def to_frame(self) -> pl.DataFrame:
        """The rows as a frame, features typed as their contracts declare."""
        import polars as pl

        typed = dict(self.dtypes)
        names = list(self.rows[0]) if self.rows else list(self.features)
        columns = {n: [r.get(n) for r in self.rows] for n in names}
        return pl.DataFrame(
            [
                pl.Series(n, v, dtype=polars_type(typed[n]) if n in typed else None, strict=False)
                for n, v in columns.items()
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "rows": [dict(r) for r in self.rows],
            "status": [dict(s) for s in self.status],
            "materializations": [m.to_dict() for m in self.materializations],
        }


def _converter(dtype: DType) -> Any:
    if dtype == DType.DATETIME:
        return dt.datetime.fromisoformat
    if dtype == DType.DATE:
        return dt.date.fromisoformat
    if dtype == DType.DECIMAL:  # Polars writes decimals as text: exact
        return decimal.Decimal
    return None


_KEY_NAMES = {int: "an integer", str: "a string", bool: "a boolean"}


def _checked_key(value: object, kind: type, key: str, index: int) -> Any:
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is not int and isinstance(value, kind):
        return value
    raise InputError(
        f"entity row {index}: key {key!r} is {value!r}, not {_KEY_NAMES[kind]}.",
        hint=f"Pass {key} as {_KEY_NAMES[kind]}.",
    )


def get_online(
    entity_rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    features: FeatureService | str | Plan | Iterable[FeatureLike],
    *,
    definitions: Definitions | None = None,
    now: dt.datetime | None = None,
    project: Project | None = None,
    store: OnlineStore | None = None,
) -> OnlineFeatures:
    """Look up ``features`` (a service, a service's name or a list) for ``entity_rows`` (one
    mapping or a list: the entity keys, plus request fields derived features need) in the
    online store. A value older than its view's TTL at ``now`` (default: the present) is
    returned as null with status ``expired``. A :class:`Plan` (a request already resolved,
    as serving holds one) is looked up as it is."""
    defs = definitions if definitions is not None else load_definitions()
    plan = features if isinstance(features, Plan) else defs.plan(features)
    given = [entity_rows] if isinstance(entity_rows, Mapping) else list(entity_rows)
    now_us = _micros(_utc(now))
    online, owned = _store(project, store)
    try:
        out: list[dict[str, Any]] = [dict(row) for row in given]
        status: list[dict[str, Status]] = [{} for _ in given]
        metas = [_materialization(online, part.view) for part in plan.views]
        dtypes: list[tuple[str, DType]] = []
        found = online.read_views([(p.view.name, _keys(p.view, given)) for p in plan.views])
        for part, texts in zip(plan.views, found, strict=True):
            _fill(part.view, part.columns, texts, now_us=now_us, out=out, status=status)
            dtypes.extend((name, dtype) for name, _, _, dtype in _layout(part.view, part.columns))
        for item in plan.derived:
            dtypes.append((item.name, item.dtype))
            _derive(item, out)
    finally:
        if owned:
            online.close()
    return OnlineFeatures(plan.columns, tuple(out), tuple(status), tuple(metas), tuple(dtypes))


_LAYOUTS: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[FeatureView, Any]] = {}


def _layout(
    view: FeatureView, columns: Sequence[tuple[str, str]]
) -> list[tuple[str, str, Any, DType]]:
    """(output name, feature, converter, type) per column: made once per view and columns."""
    key = (id(view), tuple(columns))
    found = _LAYOUTS.get(key)
    if found is None or found[0] is not view:
        types = {c.name: c.dtype for c in view.schema.columns}
        position = {f: str(i) for i, f in enumerate(view.features)}  # as materialize stores
        made = [(name, position[f], _converter(types[f]), types[f]) for f, name in columns]
        found = _LAYOUTS[key] = (view, made)  # the view is kept: its id stays its own
    layout: list[tuple[str, str, Any, DType]] = found[1]
    return layout


@functools.lru_cache(maxsize=256)
def _int_key_prefix(name: str) -> str:
    """``{"name":`` as :func:`encode_key` writes it, for keys of one integer."""
    return encode_key([name], [0])[:-2]


def _keys(view: FeatureView, given: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = []
    ((only, kind),) = view.entity.keys if len(view.entity.keys) == 1 else ((None, None),)
    if only is not None and kind is int:  # the usual key: quick and the same text
        prefix = _int_key_prefix(only)
        for row in given:
            value = row.get(only)
            if type(value) is not int:
                break
            keys.append(f"{prefix}{value}}}")
        else:
            return keys
        keys = []
    for index, row in enumerate(given):
        values = []
        for key, kind in view.entity.keys:
            if key not in row:
                raise InputError(
                    f"entity row {index} has no {key!r}, a key of entity "
                    f"{view.entity.name!r} (it has {', '.join(map(str, row)) or 'none'}).",
                    hint=f"Give every row its {', '.join(view.entity.key_names)}.",
                )
            values.append(_checked_key(row[key], kind, key, index))
        keys.append(encode_key(view.entity.key_names, values))
    return keys


def _materialization(online: OnlineStore, view: FeatureView) -> Materialization:
    """The view's snapshot's record, refused when there is none or it is of other features."""
    meta = online.materialization(view.name)
    if meta is None:
        raise UsageError(
            f"feature view {view.name!r} has not been materialized into the online "
            f"store {online.url}.",
            hint=f"Run keel features materialize {view.name}.",
        )
    if meta.features != view.features:
        raise UsageError(
            f"feature view {view.name!r} now has features {', '.join(view.features)}, but its "
            f"snapshot in the online store {online.url} holds {', '.join(meta.features)}.",
            hint=f"Run keel features materialize {view.name} (the definition changed).",
        )
    return meta


def _fill(
    view: FeatureView,
    columns: Sequence[tuple[str, str]],
    texts: Sequence[str | bytes | None],
    *,
    now_us: int,
    out: list[dict[str, Any]],
    status: list[dict[str, Status]],
) -> None:
    """Fill ``out`` and ``status`` with one view's features, read as ``texts``."""
    convert = _layout(view, columns)
    ttl = None if view.ttl is None else view.ttl.microseconds
    for index, text in enumerate(texts):
        target = out[index]
        decoded = None if text is None else decode_row(text)
        if decoded is None or (ttl is not None and decoded[EVENT_FIELD] < now_us - ttl):
            status[index][view.name] = "missing" if decoded is None else "expired"
            for name, *_ in convert:
                target[name] = None
            continue
        status[index][view.name] = "found"
        for name, at, change, _ in convert:
            value = decoded[at]
            target[name] = change(value) if change and value is not None else value


def _derive(item: DerivedFeature, out: list[dict[str, Any]]) -> None:
    for target in out:
        missing = [n for n in item.input_names if n not in target]
        if missing:
            raise UsageError(
                f"derived feature {item.name!r} ({item.where}) needs {missing[0]!r}, "
                "which is neither a feature asked for nor a field of the entity row.",
                hint="Pass it in the entity row (a request field), or add the feature "
                "to the service. " + did_you_mean(missing[0], target),
            )
        target[item.name] = item.compute_one(target)

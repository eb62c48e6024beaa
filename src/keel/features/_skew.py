"""Training-serving skew: served feature values held against the point-in-time join.

:func:`skew_of` takes rows a model served (the entity keys, the request fields, every
feature of the service under its output name, the lookup ``time`` and, optionally,
``feature_status``: a JSON object ``{feature: "ok" | "missing" | "expired" | "derived"}``),
replays the training sets' point-in-time join (:mod:`keel.features._pit`) for those keys at
those times, and reports per feature the share of served values that differ from the
offline ones, and why:

- ``missing``: the served value is null because the online store had no row for the entity
  (status ``missing``, or a null without a status), while the offline join has a value;
- ``expired``: the served value is null with status ``expired`` while the offline join has a
  live value, or a value was served that the view's TTL had expired at the request time;
- ``stale``: the served value is that of an older feature row of the entity than the one
  the offline join takes (materialization lag: the snapshot predates the newer row);
- ``computed differently``: any other difference: a derived feature whose function, applied
  to the served inputs, does not give the served value (the function changed), or a view's
  value that matches no row of its entity.

A derived feature whose served value is its function of the served inputs, but whose inputs
were skewed, takes its inputs' reason (a derived value computed from a stale input is stale).

Values are equal when both are null; numbers when ``|served - offline| <= tolerance *
max(1, |offline|)`` (:data:`SKEW_TOLERANCE`, relative above 1, absolute below); NaN equals NaN;
anything else when it is equal. The rows reading the prediction log from a model's name live
in :func:`keel.monitor.skew` (the log belongs to monitoring, a layer above this one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel._json import json_safe
from keel.errors import InputError, UsageError, did_you_mean
from keel.features._definitions import Definitions, load_definitions
from keel.features._derived import DerivedFeature
from keel.features._frames import checked_source, entity_rows, feature_rows, source_zone
from keel.features._pit import EVENT, FOUND, ROW, JoinSpec, join_polars, sorted_rows
from keel.features._service import FeatureLike, FeatureService, Plan, ViewPart

if TYPE_CHECKING:
    import polars as pl

    from keel.tracking import Project

__all__ = [
    "FEATURE_STATUS_COLUMN",
    "SKEW_MAX_SHARE",
    "SKEW_REASONS",
    "SKEW_TOLERANCE",
    "FeatureSkew",
    "SkewReport",
    "skew_of",
]

SKEW_REASONS = ("stale", "missing", "expired", "computed differently")
"""Why a served value differs from the offline one (see the module's docstring)."""
FEATURE_STATUS_COLUMN = "feature_status"
"""The logged column holding each row's per-feature lookup status, as a JSON object."""
SKEW_TOLERANCE = 1e-9
"""Numbers within ``SKEW_TOLERANCE * max(1, |offline|)`` of each other are equal."""
SKEW_MAX_SHARE = 0.01
"""The default verdict: a feature fails when more than 1 % of its served values differ."""
EXAMPLES = 3

_SERVED = "__keel_served"
_OFFLINE = "__keel_offline"
_TIME = "time"


@dataclass(frozen=True)
class FeatureSkew:
    """One feature's skew: of ``rows`` served values, ``differ`` differ from the offline join,
    counted per reason, with a few ``examples`` (keys, time, served and offline values)."""

    feature: str
    view: str | None
    """The feature view it comes from; None for a derived feature."""
    rows: int
    differ: int
    reasons: Mapping[str, int]
    examples: tuple[Mapping[str, Any], ...] = ()

    @property
    def share(self) -> float:
        """The share of served values that differ (0 without rows)."""
        return self.differ / self.rows if self.rows else 0.0

    def merged(self, other: FeatureSkew, examples: int = EXAMPLES) -> FeatureSkew:
        """This feature's counts and ``other``'s together (rows of two model versions)."""
        return FeatureSkew(
            self.feature,
            self.view if self.view == other.view else None,
            self.rows + other.rows,
            self.differ + other.differ,
            {r: self.reasons.get(r, 0) + other.reasons.get(r, 0) for r in SKEW_REASONS},
            (*self.examples, *other.examples)[:examples],
        )

    def to_dict(self, max_share: float) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "view": self.view,
            "rows": self.rows,
            "differ": self.differ,
            "share": self.share,
            "exceeds": self.share > max_share,
            "reasons": {r: self.reasons.get(r, 0) for r in SKEW_REASONS},
            "examples": [dict(json_safe(dict(e))) for e in self.examples],
        }


@dataclass(frozen=True)
class SkewReport:
    """Per feature, how often served values differ from the point-in-time join, and the
    verdict: a feature whose share exceeds ``max_share`` fails."""

    rows: int
    features: tuple[FeatureSkew, ...]
    services: tuple[str, ...]
    max_share: float = SKEW_MAX_SHARE
    tolerance: float = SKEW_TOLERANCE
    model: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    versions: tuple[int, ...] = field(default_factory=tuple)

    @property
    def skewed(self) -> tuple[str, ...]:
        """The features whose share of differing values exceeds ``max_share``."""
        return tuple(f.feature for f in self.features if f.share > self.max_share)

    @property
    def passed(self) -> bool:
        return not self.skewed

    def feature(self, name: str) -> FeatureSkew:
        """One feature's skew, by output name."""
        for found in self.features:
            if found.feature == name:
                return found
        raise UsageError(
            f"the skew report has no feature {name!r}.",
            hint=did_you_mean(name, [f.feature for f in self.features]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON (docs/features.md, "Training-serving skew")."""
        return {
            "model": self.model,
            "services": list(self.services),
            "versions": list(self.versions),
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "rows": self.rows,
            "max_share": self.max_share,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "skewed": list(self.skewed),
            "features": [f.to_dict(self.max_share) for f in self.features],
        }


def skew_of(
    served: Any,
    features: FeatureService | str | Iterable[FeatureLike] | Plan,
    *,
    definitions: Definitions | None = None,
    max_share: float = SKEW_MAX_SHARE,
    tolerance: float = SKEW_TOLERANCE,
    examples: int = EXAMPLES,
    project: Project | None = None,
) -> SkewReport:
    """The skew of ``served`` rows (a Polars frame, eager or lazy: a prediction log's rows)
    against the point-in-time join of ``features`` (a service, its name, or a list) at each
    row's ``time`` for its entity keys. Names in text are resolved in ``definitions``
    (default: those ``keel.toml`` names); a resolved :class:`Plan` is taken as it is."""
    import polars as pl

    check_share(max_share)
    if not tolerance >= 0:
        raise UsageError(f"tolerance={tolerance!r} is not a number >= 0.", hint="E.g. 1e-9.")
    defs = definitions if definitions is not None else load_definitions()
    plan = features if isinstance(features, Plan) else defs.plan(features)
    frame = served.collect() if isinstance(served, pl.LazyFrame) else served
    _check_served(frame, plan)
    statuses = _statuses(frame, plan)
    offline, replays = _offline(frame, plan, defs, project)
    reasons: dict[str, pl.Series] = {}
    skews: list[FeatureSkew] = []
    for replay in replays:
        view = replay.part.view
        found = _view_reasons(frame, offline, replay, statuses, tolerance)
        reasons.update(found)
        skews += [
            _summary(
                frame,
                offline,
                out,
                view=view.name,
                keys=view.entity.key_names,
                reason=found[out],
                examples=examples,
            )
            for _, out in replay.part.columns
        ]
    keys = list(dict.fromkeys(k for part in plan.views for k in part.view.entity.key_names))
    for item in plan.derived:
        reason = _derived_reason(frame, offline, item, reasons, tolerance)
        reasons[item.name] = reason
        skews.append(
            _summary(
                frame, offline, item.name, view=None, keys=keys, reason=reason, examples=examples
            )
        )
    names = (features.name,) if isinstance(features, FeatureService) else ()
    if isinstance(features, str) and features in defs.services:
        names = (features,)
    return SkewReport(
        rows=frame.height,
        features=tuple(skews),
        services=names,
        max_share=max_share,
        tolerance=tolerance,
    )


def check_share(max_share: float) -> None:
    """Refuse a threshold that is not a share (0 to 1)."""
    if not 0 <= max_share <= 1:
        raise UsageError(
            f"max_share={max_share!r} is not a share between 0 and 1.",
            hint="E.g. 0.01: a feature fails when more than 1 % of its served values differ.",
        )


# --------------------------------------------------------------------------- the served rows
def _check_served(frame: pl.DataFrame, plan: Plan) -> None:
    if _TIME not in frame.columns:
        raise InputError(
            f"the served rows have no {_TIME!r} column (the lookup time); columns: "
            f"{', '.join(frame.columns[:20])}.",
            hint="Pass rows of a prediction log: serving writes each row's lookup time.",
        )
    absent = [c for c in plan.columns if c not in frame.columns]
    if len(absent) == len(plan.columns):
        raise UsageError(
            f"the served rows hold none of the feature columns ({', '.join(absent)}), so "
            "there is nothing to compare.",
            hint="The model was served without a feature service, or with another one: "
            "serve a model version that names its feature service (or pass the service the "
            "rows were served with).",
        )
    keys = dict.fromkeys(k for part in plan.views for k in part.view.entity.key_names)
    unkeyed = [k for k in keys if k not in frame.columns]
    if unkeyed:
        raise InputError(
            f"the served rows have no entity key column(s) {', '.join(unkeyed)}, so their "
            "features cannot be looked up offline.",
            hint="Serving logs each request's entity keys under their names. "
            + did_you_mean(unkeyed[0], frame.columns),
        )
    if absent:
        raise UsageError(
            f"the served rows lack feature column(s) {', '.join(absent)} of the service.",
            hint="They were served with another feature list: pass the service they were "
            "served with. " + did_you_mean(absent[0], frame.columns),
        )
    for item in plan.derived:
        for needed in item.input_names:
            if needed not in frame.columns:
                raise UsageError(
                    f"derived feature {item.name!r} ({item.where}) needs {needed!r}, which "
                    "the served rows do not hold.",
                    hint="Log the request fields derived features use beside the features. "
                    + did_you_mean(needed, frame.columns),
                )


def _statuses(frame: pl.DataFrame, plan: Plan) -> dict[str, pl.Series]:
    """Per feature, its logged lookup status (``ok``, ``missing``, ``expired``, ``derived``;
    null where the row has none)."""
    import polars as pl

    if FEATURE_STATUS_COLUMN not in frame.columns:
        return {}
    column = frame.get_column(FEATURE_STATUS_COLUMN)
    if column.dtype != pl.String:
        column = column.cast(pl.String)
    names = [(out, feature) for part in plan.views for feature, out in part.columns]
    dtype = pl.Struct(dict.fromkeys({n for pair in names for n in pair}, pl.String))
    distinct = column.drop_nulls().unique()  # a few combinations: decode each once
    try:
        decoded = distinct.str.json_decode(dtype)
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"the served rows' {FEATURE_STATUS_COLUMN!r} is not a JSON object per row "
            f"({str(exc).splitlines()[0]}).",
            hint='Serving writes {"feature": "ok" | "missing" | "expired" | "derived"}.',
        ) from None
    key = "__keel_status"
    table = pl.DataFrame([distinct.alias(key), decoded.alias("__keel_decoded")])
    fields = (
        column.alias(key)
        .to_frame()
        .join(table.unnest("__keel_decoded"), on=key, how="left", maintain_order="left")
    )
    return {
        out: fields.get_column(out).fill_null(fields.get_column(feature)) for out, feature in names
    }


# --------------------------------------------------------------------------- the offline join
@dataclass(frozen=True)
class _Replay:
    """One view's replay: its sorted feature rows, and per served row (in order) the entity
    keys as the engine typed them, the request time and the offline winner's event time."""

    part: ViewPart
    rows: pl.DataFrame
    asked: pl.DataFrame
    """``ROW``, the keys, ``TIME`` and ``FOUND``, one row per served row, in order."""


def _offline(
    frame: pl.DataFrame, plan: Plan, defs: Definitions, project: Project | None
) -> tuple[pl.DataFrame, list[_Replay]]:
    """The offline value of every feature for the served rows (in their order), and each
    view's replay (for the stale and expired checks)."""
    import polars as pl

    columns: list[pl.Series] = []
    replays = []
    for part in plan.views:
        view = part.view
        rows, zone = _view_rows(part, defs, project)
        spec = JoinSpec(
            keys=view.entity.key_names,
            ttl_us=None if view.ttl is None else view.ttl.microseconds,
            as_known_at=False,  # as materialization snapshots it
            has_created=view.created_time is not None,
            columns=tuple(f for f, _ in part.columns),
        )
        time = pl.col(_TIME).cast(pl.Datetime("us", "UTC"))
        if zone is None:  # the view's times are naive: UTC, as materialization takes them
            time = time.dt.replace_time_zone(None)
        ready, _ = entity_rows(frame.select(*spec.keys, time), [view.entity], _TIME)
        ordered = sorted_rows(rows, spec, view=view.name)
        joined = join_polars(ready, ordered, spec)  # in ROW order, as ``ready``
        columns.extend(joined.get_column(f).alias(out) for f, out in part.columns)
        replays.append(_Replay(part, ordered, ready.with_columns(joined.get_column(FOUND))))
    taken = {c.name for c in columns} | {d.name for d in plan.derived}
    offline = frame.select(c for c in frame.columns if c not in taken).hstack(columns)
    for item in plan.derived:  # the same functions, on the offline values
        offline = offline.with_columns(item.compute(offline))
    return offline, replays


def _view_rows(
    part: ViewPart, defs: Definitions, project: Project | None
) -> tuple[pl.DataFrame, str | None]:
    """The view's rows (after its source passed its contract) and its times' zone."""
    view = part.view
    loaded = checked_source(view, defs, project)
    zone = source_zone(loaded.frame, view)
    return feature_rows(loaded.frame, view, zone, _TIME), zone


# --------------------------------------------------------------------------- comparing
def _same(served: pl.Series, offline: pl.Series, tolerance: float) -> pl.Series:
    """Row by row, whether two values are equal: nulls equal nulls, numbers within the
    tolerance, NaN equals NaN, anything else exactly."""
    import polars as pl

    both_null = served.is_null() & offline.is_null()
    if pl.Null in (served.dtype, offline.dtype):
        return both_null
    if served.dtype.is_integer() and offline.dtype.is_integer():
        equal = served.cast(pl.Int64) == offline.cast(pl.Int64)  # exact: no float rounding
    elif served.dtype.is_numeric() and offline.dtype.is_numeric():
        a, b = served.cast(pl.Float64), offline.cast(pl.Float64)
        close = (a - b).abs() <= b.abs().clip(lower_bound=1.0) * tolerance
        equal = close | (a.is_nan() & b.is_nan())
    else:
        a, b = _comparable(served), _comparable(offline)
        if a.dtype != b.dtype:
            a, b = a.cast(pl.String), b.cast(pl.String)
        equal = a == b
    return equal.fill_null(False) | both_null


def _comparable(values: pl.Series) -> pl.Series:
    """Date-times as naive UTC microseconds (a log and a source may keep them differently)."""
    import polars as pl

    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return values.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return values.cast(pl.String)
    return values


def _view_reasons(
    frame: pl.DataFrame,
    offline: pl.DataFrame,
    replay: _Replay,
    statuses: Mapping[str, pl.Series],
    tolerance: float,
) -> dict[str, pl.Series]:
    """Per feature of one view, each served row's reason for differing (null: the same)."""
    import polars as pl

    part, asked = replay.part, replay.asked
    found = asked.get_column(FOUND)
    expired_offline = found.is_not_null() & False
    ttl = part.view.ttl
    if ttl is not None:
        start = asked.get_column("__keel_time") - dt.timedelta(microseconds=ttl.microseconds)
        expired_offline = found.is_not_null() & (found < start)
    none = pl.Series([None] * frame.height, dtype=pl.String)
    settled: dict[str, tuple[pl.Series, pl.Series, pl.Series]] = {}
    for _, out in part.columns:
        served = frame.get_column(out)
        status = statuses.get(out, none)
        differ = ~_same(served, offline.get_column(out), tolerance)
        missing = (status == "missing").fill_null(False) | (status.is_null() & served.is_null())
        expired = (status == "expired").fill_null(False) | (served.is_not_null() & expired_offline)
        settled[out] = (differ, differ & missing, differ & ~missing & expired)
    older = _older_matches(frame, replay, settled, tolerance)
    reasons = {}
    for _, out in part.columns:
        differ, missing, expired = settled[out]
        reasons[out] = pl.select(
            pl.when(pl.lit(missing))
            .then(pl.lit("missing"))
            .when(pl.lit(expired))
            .then(pl.lit("expired"))
            .when(pl.lit(differ) & pl.lit(older[out]))
            .then(pl.lit("stale"))
            .when(pl.lit(differ))
            .then(pl.lit("computed differently"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias(out)
        ).to_series()
    return reasons


def _older_matches(
    frame: pl.DataFrame,
    replay: _Replay,
    settled: Mapping[str, tuple[pl.Series, pl.Series, pl.Series]],
    tolerance: float,
) -> dict[str, pl.Series]:
    """Per feature, whether each served value equals that of an older feature row of its
    entity than the offline winner (checked only where the value differs for no other
    reason: one join of those rows with their entities' history)."""
    import polars as pl

    keys = list(replay.part.view.entity.key_names)
    open_ = {out: d & ~m & ~e for out, (d, m, e) in settled.items()}
    any_open = pl.select(pl.any_horizontal(pl.lit(s) for s in open_.values())).to_series()
    out_of = {out: pl.Series(out, [False] * frame.height) for out in open_}
    if not any_open.any():
        return out_of
    served = [frame.get_column(out).alias(f"{_SERVED}{out}") for out in open_]
    asked = replay.asked.hstack(served).filter(any_open)
    asked = asked.filter(pl.col(FOUND).is_not_null())
    feature_of = {out: f for f, out in replay.part.columns}
    history = replay.rows.select(
        *keys, EVENT, *(pl.col(feature_of[o]).alias(f"{_OFFLINE}{o}") for o in open_)
    ).join(asked.select(keys).unique(), on=keys, how="semi")
    pairs = asked.join(history, on=keys, how="inner").filter(pl.col(EVENT) < pl.col(FOUND))
    rows = pairs.get_column(ROW)
    for out in open_:
        hit = _same(
            pairs.get_column(f"{_SERVED}{out}"), pairs.get_column(f"{_OFFLINE}{out}"), tolerance
        )
        matched = rows.filter(hit).unique()
        out_of[out] = pl.Series(out, [False] * frame.height).scatter(matched, True)
    return out_of


_PRIORITY = {reason: i for i, reason in enumerate(SKEW_REASONS)}


def _derived_reason(
    frame: pl.DataFrame,
    offline: pl.DataFrame,
    item: DerivedFeature,
    reasons: Mapping[str, pl.Series],
    tolerance: float,
) -> pl.Series:
    """Each served row's reason for a derived feature's differing value: ``computed
    differently`` when its function, applied to the served inputs, does not give the served
    value; else the reason of its skewed inputs (the first in :data:`SKEW_REASONS` order)."""
    import polars as pl

    served = frame.get_column(item.name)
    differ = ~_same(served, offline.get_column(item.name), tolerance)
    consistent = _same(served, item.compute(frame), tolerance)
    inputs = [reasons[name] for name in item.input_names if name in reasons]
    rank = pl.Series([None] * frame.height, dtype=pl.Int64)
    for found in inputs:
        ranked = found.replace_strict(_PRIORITY, default=None, return_dtype=pl.Int64)
        rank = pl.select(pl.min_horizontal(pl.lit(rank), pl.lit(ranked))).to_series()
    inherited = rank.replace_strict(
        {i: r for r, i in _PRIORITY.items()}, default=None, return_dtype=pl.String
    )
    return (
        pl.select(
            pl.when(pl.lit(differ) & ~pl.lit(consistent))
            .then(pl.lit("computed differently"))
            .when(pl.lit(differ))
            .then(pl.lit(inherited).fill_null("computed differently"))
            .otherwise(pl.lit(None, dtype=pl.String))
        )
        .to_series()
        .alias(item.name)
    )


def _summary(
    frame: pl.DataFrame,
    offline: pl.DataFrame,
    name: str,
    *,
    view: str | None,
    keys: Sequence[str],
    reason: pl.Series,
    examples: int,
) -> FeatureSkew:
    import polars as pl

    counts = dict(reason.drop_nulls().value_counts().iter_rows())
    differ = int(reason.is_not_null().sum())
    shown: list[Mapping[str, Any]] = []
    if differ and examples:
        picked = (
            pl.DataFrame(
                [
                    *(frame.get_column(k) for k in keys),
                    frame.get_column(_TIME),
                    frame.get_column(name).alias(_SERVED),
                    offline.get_column(name).alias(_OFFLINE),
                    reason.alias("__keel_reason"),
                ]
            )
            .filter(pl.col("__keel_reason").is_not_null())
            .head(examples)
        )
        shown = [
            {
                "keys": {k: row[k] for k in keys},
                "time": row[_TIME],
                "served": row[_SERVED],
                "offline": row[_OFFLINE],
                "reason": row["__keel_reason"],
            }
            for row in picked.iter_rows(named=True)
        ]
    return FeatureSkew(
        feature=name,
        view=view,
        rows=frame.height,
        differ=differ,
        reasons={r: int(counts.get(r, 0)) for r in SKEW_REASONS},
        examples=tuple(shown),
    )

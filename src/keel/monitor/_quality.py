"""Data quality of a served model's inputs, window by window.

Per window: the row count and the share of rows that broke the input contract (the log's
``valid`` flag, with the most frequent violations), and per input column the null rate
(nulls and NaN, over rows), the NaN and infinite counts, the out-of-range rate of numeric
columns (values below the reference's minimum or above its maximum, infinities included,
over the present values) and the unseen-category rate of categorical columns (levels the
reference never held, over the present values).

Counts of nulls, out-of-range values and unseen levels come from the window's profile
(:mod:`keel.monitor._profile`); the contract flags and the NaN counts, which a profile does
not keep apart, from one extra grouped query over the whole range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from keel.monitor._profile import ColumnProfile, Profile
from keel.monitor._windows import window_key

if TYPE_CHECKING:
    import polars as pl

__all__ = ["quality_queries", "window_quality"]

TOP_VIOLATIONS = 5


def quality_queries(
    frame: pl.LazyFrame, width: timedelta, columns: Sequence[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Two grouped queries over the log rows in range: per window, the invalid-row count and
    the NaN count of each float column; and per window and violation, its count."""
    import polars as pl

    schema = frame.collect_schema()
    keyed = frame.with_columns(window_key(width))
    exprs = [pl.len().alias("_rows")]
    if "valid" in schema:
        exprs.append(pl.col("valid").cast(pl.Boolean).not_().sum().alias("_invalid"))
    for i, name in enumerate(columns):
        if schema[name].is_float():
            exprs.append(pl.col(name).is_nan().sum().alias(f"_nan{i}"))
    counts = keyed.group_by("_window").agg(exprs)
    if "violations" in schema and not isinstance(schema["violations"], pl.Null):
        broken = (
            keyed.filter(pl.col("violations").is_not_null())
            .group_by("_window", pl.col("violations").cast(pl.String))
            .len()
        )
    else:
        broken = pl.DataFrame(
            schema={"_window": pl.Int64, "violations": pl.String, "len": pl.UInt32}
        ).lazy()
    return counts, broken


def window_quality(
    profile: Profile,
    columns: Sequence[str],
    counts: Mapping[str, Any] | None,
    violations: Sequence[tuple[str, int]],
) -> dict[str, Any]:
    """The quality section of one window in the report's JSON."""
    rows = profile.rows
    invalid = int((counts or {}).get("_invalid") or 0)
    top = sorted(violations, key=lambda v: (-v[1], v[0]))[:TOP_VIOLATIONS]
    return {
        "rows": rows,
        "invalid": invalid,
        "violation_rate": _rate(invalid, rows),
        "top_violations": [{"violation": text, "count": n} for text, n in top],
        "columns": [
            _column(profile.columns[name], int((counts or {}).get(f"_nan{i}") or 0))
            for i, name in enumerate(columns)
        ],
    }


def _column(c: ColumnProfile, nan: int) -> dict[str, Any]:
    present = c.count - c.nulls
    numeric = c.kind == "numeric"
    unseen = c.counts[-1] if not numeric and c.counts else 0
    return {
        "column": c.column,
        "kind": c.kind,
        "nulls": c.nulls,
        "null_rate": _rate(c.nulls, c.count),
        "nan": nan,
        "infinite": c.infinite,
        "below": c.below if numeric else None,
        "above": c.above if numeric else None,
        "out_of_range_rate": _rate(c.below + c.above, present) if numeric else None,
        "unseen": None if numeric else unseen,
        "unseen_rate": None if numeric else _rate(unseen, present),
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None

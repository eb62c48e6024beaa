"""Profiles of partitioned data: a Dask DataFrame, profiled one partition at a time by Polars.

Each partition (a pandas frame) is converted to Polars through Arrow and profiled with the
same one-query plan as any frame; the partitions' profiles are merged with
:meth:`~keel.monitor.Profile.merge_all`, which is exact (counts add; moments by the k-way
Chan formula), so the result equals profiling all rows at once. The work runs in Dask's
scheduler (one task per partition), on a cluster when the user's client points at one; only
profiles (O(columns x bins)) travel back.

Reference bins need quantiles, which do not merge. They come from a uniform sample of at
most :data:`DASK_SAMPLE_ROWS` rows, drawn in the same pass that counts each categorical
level exactly and finds each numeric column's exact minimum and maximum. With more rows than
the sample, the inner edges are the sample's quantiles (the bins hold close to, not exactly,
a tenth of the reference each); the range and the levels are exact.

Partitions reach Polars through ``polars.from_pandas``: in a NumPy-backed float column NaN
is pandas' missing value and arrives as null; Arrow-backed columns (``double[pyarrow]``)
keep NaN and null apart. This module is imported only when a Dask object is passed in;
Keel never imports Dask otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keel.monitor._engine import KindsOf, require_columns
from keel.monitor._polars import (
    MAX_KNOWN,
    POLARS,
    _bins_from_sorted,
    _categorical,
    _categorical_bins,
    _finite_values,
)
from keel.monitor._profile_data import Bins, Kind, Profile

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DASK",
    "DASK_SAMPLE_ROWS",
    "DaskEngine",
    "dask_reference_bins",
    "dask_schema",
    "profile_dask",
]

DASK_SAMPLE_ROWS = 1_000_000
"""Rows sampled from a Dask reference for its quantile edges."""


def dask_schema(data: Any) -> Mapping[str, pl.DataType]:
    """The Polars types of a Dask DataFrame's columns, from its (empty) metadata frame."""
    import polars as pl

    meta = data._meta  # the empty pandas frame every Dask DataFrame carries
    schema = dict(pl.from_pandas(meta).schema)
    for name, dtype in meta.dtypes.items():
        if str(dtype) == "object":  # object columns of an empty frame say nothing: text
            schema[str(name)] = pl.String()
    return schema


def _polars(part: Any) -> pl.DataFrame:
    import polars as pl

    return pl.from_pandas(part)  # NumPy-backed NaN becomes null, as pandas means it


def _compute(tasks: Sequence[Any]) -> tuple[Any, ...]:
    """Run Dask tasks in the current scheduler (a cluster's, if a client is set up)."""
    from dask.base import compute

    return tuple(compute(*tasks))  # type: ignore[no-untyped-call]


def _profile_part(part: Any, bins: Mapping[str, Bins]) -> Profile:
    return POLARS.profile_many([_polars(part)], bins)[0]


def profile_dask(data: Any, bins: Mapping[str, Bins]) -> Profile:
    """Profile every partition of ``data`` with Polars (as Dask tasks) and merge them."""
    from dask.delayed import delayed

    require_columns([b.column for b in bins.values()], dask_schema(data), "profile")
    columns = list(dict.fromkeys(b.column for b in bins.values()))
    parts = data[columns].to_delayed()
    task = delayed(_profile_part, pure=True)
    profiles: Sequence[Profile] = _compute([task(part, bins) for part in parts])
    if not profiles:  # no partitions at all: the profile of no rows
        return _profile_part(data._meta[columns], bins)
    return Profile.merge_all(profiles)


def _summarise(
    part: Any, numeric: Sequence[str], text: Sequence[str], fraction: float, seed: int
) -> tuple[dict[str, Any], dict[str, tuple[float | None, float | None]], dict[str, Counter[str]]]:
    """One partition's sample of finite numeric values, their range, and its level counts."""
    import polars as pl

    frame = _polars(part)
    schema = frame.schema
    finite = frame.select(_finite_values(name, schema[name]) for name in numeric)
    sample = finite.sample(fraction=fraction, seed=seed) if fraction < 1 else finite
    ranges = {}
    if numeric:
        row = finite.select(
            [pl.col(n).min().alias(f"lo{i}") for i, n in enumerate(numeric)]
            + [pl.col(n).max().alias(f"hi{i}") for i, n in enumerate(numeric)]
        ).row(0)
        ranges = {n: (row[i], row[len(numeric) + i]) for i, n in enumerate(numeric)}
    levels: dict[str, Counter[str]] = {}
    for name in text:
        counted = (
            frame.select(_categorical(name, schema[name]).cast(pl.String).alias("v"))
            .drop_nulls()
            .group_by("v")
            .len(name="n")
        )
        levels[name] = Counter(dict(counted.iter_rows()))
    values = {n: sample.get_column(n).drop_nulls().to_numpy() for n in numeric}
    return values, ranges, levels


def dask_reference_bins(
    data: Any, kinds: Mapping[str, Kind], *, bins: int, top_k: int
) -> dict[str, Bins]:
    """Bins of a Dask reference: edges from a uniform sample, exact ranges and levels."""
    import numpy as np
    from dask.delayed import delayed

    numeric = [n for n, k in kinds.items() if k == "numeric"]
    text = [n for n, k in kinds.items() if k == "categorical"]
    frame = data[[*numeric, *text]]
    lengths = frame.map_partitions(len).compute()
    total = int(sum(lengths))
    fraction = min(1.0, DASK_SAMPLE_ROWS / total) if total else 1.0
    task = delayed(_summarise, pure=True)
    parts = frame.to_delayed()
    summaries = _compute([task(part, numeric, text, fraction, i) for i, part in enumerate(parts)])
    found: dict[str, Bins] = {}
    for name in numeric:
        values = np.sort(np.concatenate([s[0][name] for s in summaries] or [np.empty(0)]))
        sampled = _bins_from_sorted(name, values, bins)
        low = _extreme(min, [s[1][name][0] for s in summaries])
        high = _extreme(max, [s[1][name][1] for s in summaries])
        found[name] = Bins(column=name, kind="numeric", edges=sampled.edges, low=low, high=high)
    for name in text:
        counts: Counter[str] = Counter()
        for s in summaries:
            counts.update(s[2][name])
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        found[name] = _categorical_bins(name, [v for v, _ in ordered[: top_k + MAX_KNOWN]], top_k)
    return {name: found[name] for name in kinds}


def _extreme(pick: Any, values: Sequence[Any]) -> float | None:
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(pick(present)) if present else None


class DaskEngine:
    """The :class:`~keel.monitor._engine.ProfileEngine` of Dask DataFrames: the Polars
    engine on every partition, as Dask tasks, merged exactly."""

    partitioned = True

    def schema(self, data: Any) -> Mapping[str, pl.DataType]:
        return dask_schema(data)

    def reference_bins(
        self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int
    ) -> dict[str, Bins]:
        return dask_reference_bins(data, kinds_of(dask_schema(data)), bins=bins, top_k=top_k)

    def reference(self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int) -> Profile:
        return profile_dask(data, self.reference_bins(data, kinds_of, bins=bins, top_k=top_k))

    def profile_many(self, datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
        return [profile_dask(data, bins) for data in datas]


DASK = DaskEngine()

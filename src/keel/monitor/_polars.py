"""The Polars profile engine: every statistic of every column in one lazy query.

Polars frames and lazy frames, pandas DataFrames, PyArrow Tables and data files (read lazily
by :func:`keel.contracts.read_data`) are profiled here; the Dask engine
(:mod:`keel.monitor._dask`) runs this same engine on each partition. See
:mod:`keel.monitor._profile` for the design (fixed reference bins, exact merging, one query
per profile, in-memory or streaming by size) and the conventions (NaN, infinities, dates,
booleans, point masses, "other" and "unseen" levels); this module is their implementation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from keel.errors import UsageError
from keel.monitor._engine import KindsOf, require_columns
from keel.monitor._profile_data import Bins, ColumnProfile, Kind, Profile, _opt_float
from keel.tracking import open_source

if TYPE_CHECKING:
    import polars as pl

__all__ = ["MAX_KNOWN", "POLARS", "PolarsEngine"]


class PolarsEngine:
    """The default :class:`~keel.monitor._engine.ProfileEngine`: one lazy Polars query per
    dataset, several datasets' queries collected concurrently."""

    partitioned = False

    def schema(self, data: Any) -> Mapping[str, pl.DataType]:
        return open_source(data).collect_schema()

    def reference_bins(
        self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int
    ) -> dict[str, Bins]:
        return self.reference(data, kinds_of, bins=bins, top_k=top_k).bins

    def reference(self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int) -> Profile:
        """Bins and profile from one read: the sorted values that give the quantile edges
        also give the reference's bin counts (binary search)."""
        import polars as pl

        frame = open_source(data)
        kinds = kinds_of(frame.collect_schema())
        engine: Literal["in-memory", "streaming"] = "streaming"
        if _fit_in_memory({0: (data, frame)}, kinds)[0] != "streaming":  # read it once
            frame, engine = frame.select(list(kinds)).collect().lazy(), "in-memory"
        schema = frame.collect_schema()
        numeric = [n for n, k in kinds.items() if k == "numeric"]
        text = [n for n, k in kinds.items() if k == "categorical"]
        main = frame.select(
            pl.len().alias("rows"),
            *[e for i, name in enumerate(numeric) for e in _sorted_exprs(i, name, schema[name])],
            *[_categorical(n, schema[n]).null_count().alias(f"cz{i}") for i, n in enumerate(text)],
        )
        levels = [_levels_query(frame, name, schema[name], top_k + MAX_KNOWN) for name in text]
        results = pl.collect_all([main, *levels], engine=engine)
        lists = [f"v{i}" for i in range(len(numeric))]
        row = results[0].drop(lists).row(0, named=True)  # the scalars; the values stay
        rows = int(row["rows"])
        found: dict[str, ColumnProfile] = {}
        unsorted = [results[0].get_column(f"v{i}")[0].to_numpy() for i in range(len(numeric))]
        for i, (name, values) in enumerate(zip(numeric, _sorted(unsorted), strict=True)):
            found[name] = _numeric_reference(name, i, values, row, bins)
        for i, (name, frequent) in enumerate(zip(text, results[1:], strict=True)):
            values = frequent.get_column("v").to_list()
            counts = [int(c) for c in frequent.get_column("n").to_list()]
            nulls = int(row[f"cz{i}"])
            found[name] = ColumnProfile(
                column=name,
                kind="categorical",
                count=rows,
                nulls=nulls,
                counts=(*counts[:top_k], sum(counts[top_k:]), rows - nulls - sum(counts)),
                bins=_categorical_bins(name, values, top_k),
            )
        return Profile(columns={name: found[name] for name in kinds}, rows=rows)

    def profile_many(self, datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
        """Small sources on the in-memory engine, large ones streaming; each group's queries
        collected concurrently."""
        import polars as pl

        built: dict[Any, _Built] = {}  # windows of one log share a schema: build it once
        planned = [_profile_query(data, bins, built) for data in datas]
        fits = _fit_in_memory({i: (datas[i], p[0]) for i, p in enumerate(planned)}, bins)
        done: dict[int, Profile] = {}
        groups: list[tuple[list[int], Literal["in-memory", "streaming"], bool]] = [
            ([i for i in fits if fits[i] == "small"], "in-memory", True),
            ([i for i in fits if fits[i] == "in-memory"], "in-memory", False),
            ([i for i in fits if fits[i] == "streaming"], "streaming", False),
        ]
        for group, engine, small in groups:
            if group:
                queries = [planned[i][1] for i in group]
                lean = _lean() if small else None
                frames = (
                    pl.collect_all(queries, engine=engine)
                    if lean is None
                    else pl.collect_all(queries, engine=engine, optimizations=lean)
                )
                for i, frame in zip(group, frames, strict=True):
                    done[i] = planned[i][2](frame.row(0))
        return [done[i] for i in range(len(datas))]


POLARS = PolarsEngine()


def _lean() -> Any:
    """The optimizations worth their planning for a small source's profile query (a report's
    window): reading only the columns and rows it needs. The others (common subexpressions
    above all, over a thousand reductions a query of 50 columns) cost more to plan than they
    save on a few thousand rows; the rows' values and so the profile are the same."""
    import polars as pl

    if not hasattr(pl, "QueryOptFlags"):
        return None  # the defaults (polars before 1.30 has no flags to pass)
    flags = pl.QueryOptFlags.none()
    flags.predicate_pushdown = True
    flags.projection_pushdown = True
    return flags


MAX_KNOWN = 1000
"""How many reference levels beyond the top-K a categorical :class:`Bins` remembers."""


def _kind_of(dtype: pl.DataType) -> Kind | None:
    import polars as pl

    if dtype.is_numeric() or isinstance(dtype, pl.Date | pl.Datetime | pl.Duration | pl.Null):
        return "numeric"  # a Null column (no value at all) profiles as numeric: all null
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Boolean):
        return "categorical"
    return None


def _numeric(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Float64: temporal values as epoch (or length) microseconds."""
    import polars as pl

    col = pl.col(name)
    if isinstance(dtype, pl.Date | pl.Datetime):
        col = col.dt.epoch("us")
    elif isinstance(dtype, pl.Duration):
        col = col.dt.total_microseconds()
    return col.cast(pl.Float64)


def _categorical(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as text (kept as is if it is already text or categories)."""
    import polars as pl

    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return pl.col(name)
    return pl.col(name).cast(pl.String)


def _finite_values(name: str, dtype: pl.DataType) -> pl.Expr:
    """A numeric column as Float64, null where it is not finite."""
    import polars as pl

    x = _numeric(name, dtype)
    return (pl.when(x.is_finite()).then(x) if dtype.is_float() else x).alias(name)


def _sorted(arrays: Sequence[Any]) -> list[Any]:
    """Each numpy array sorted, the arrays in parallel threads.

    NumPy sorts float64 with SIMD (x86-simd-sort): a million values take about 16 ms of CPU
    here against 45-50 ms for Polars' sort, and it releases the GIL, so the columns still
    sort side by side on every core.
    """
    import numpy as np

    if len(arrays) < 2:
        return [np.sort(a) for a in arrays]
    with ThreadPoolExecutor(max_workers=min(len(arrays), os.cpu_count() or 1)) as pool:
        return list(pool.map(np.sort, arrays))


def _sorted_exprs(i: int, name: str, dtype: pl.DataType) -> list[pl.Expr]:
    """A numeric column's finite values (one list, sorted afterwards by :func:`_sorted`),
    its null/NaN/inf counts, moments."""
    import polars as pl

    x = _numeric(name, dtype)
    floating = dtype.is_float()
    finite = _finite_values(name, dtype)
    zero = pl.lit(0, dtype=pl.UInt32)
    return [
        finite.drop_nulls().implode().alias(f"v{i}"),
        x.null_count().alias(f"z{i}"),
        (x.is_nan().sum() if floating else zero).alias(f"nan{i}"),
        ((x == -math.inf).sum() if floating else zero).alias(f"ninf{i}"),
        ((x == math.inf).sum() if floating else zero).alias(f"pinf{i}"),
        finite.mean().alias(f"mean{i}"),
        finite.var(ddof=0).alias(f"var{i}"),
    ]


def _numeric_reference(
    name: str, i: int, values: Any, row: Mapping[str, Any], bins: int
) -> ColumnProfile:
    """Bins from the sorted finite values (a numpy array), and the reference's profile."""
    import numpy as np

    rows = int(row["rows"])
    b = _bins_from_sorted(name, values, bins)
    n = int(values.size)
    at = np.searchsorted(values, np.asarray(b.edges, dtype=np.float64), side="left")
    bounds = [0, *(int(a) for a in at), n]
    sums = tuple(float(values[a:z].sum()) for a, z in pairwise(bounds))  # pairwise summation
    nans, ninf, pinf = int(row[f"nan{i}"]), int(row[f"ninf{i}"]), int(row[f"pinf{i}"])
    return ColumnProfile(
        column=name,
        kind="numeric",
        count=rows,
        nulls=int(row[f"z{i}"]) + nans,
        nans=nans,
        counts=tuple(b - a for a, b in pairwise(bounds)),
        below=ninf if n else 0,  # with no finite values there is no range to be outside
        above=pinf if n else 0,
        infinite=ninf + pinf,
        minimum=b.low,
        maximum=b.high,
        mean=float(row[f"mean{i}"]) if n else math.nan,
        m2=float(row[f"var{i}"]) * n if n else 0.0,
        n=n,
        bins=b,
        sums=sums,
    )


def _bins_from_sorted(name: str, values: Any, bins: int) -> Bins:
    """Numeric bins from a column's finite values in increasing order (a numpy array).

    Edges at the ``lower`` quantiles ``k / bins``; a value that fills several quantiles (or
    the minimum) gets a bin of its own, cut at the next larger value. A constant column gets
    three bins: below, at and above its value.
    """
    import numpy as np

    n = int(values.size)
    if n == 0:
        return Bins(column=name, kind="numeric")
    low, high = float(values[0]), float(values[-1])
    if low == high:  # "at" is [low, low + a billionth), so the three centers stay apart
        edges = (low, low + max(abs(low), 1.0) * 1e-9)
        return Bins(column=name, kind="numeric", edges=edges, low=low, high=high)
    quantiles = [float(values[(n - 1) * k // bins]) for k in range(1, bins)]
    cuts: set[float] = set(quantiles)
    seen: set[float] = set()
    for q in quantiles:
        if (q in seen or q == low) and q != high:
            after = int(np.searchsorted(values, q, side="right"))
            if after < n:
                cuts.add(float(values[after]))
        seen.add(q)
    inner = tuple(sorted(e for e in cuts if low < e <= high))
    return Bins(column=name, kind="numeric", edges=inner, low=low, high=high)


def _categorical_bins(name: str, values: Sequence[str], top_k: int) -> Bins:
    """Categorical bins from the reference's levels, most frequent first."""
    limit = top_k + MAX_KNOWN
    return Bins(
        column=name,
        kind="categorical",
        levels=tuple(values[:top_k]),
        known=frozenset(values[top_k:limit]),
    )


def _levels_query(frame: pl.LazyFrame, name: str, dtype: pl.DataType, limit: int) -> pl.LazyFrame:
    """A column's most frequent levels and their counts, most frequent first (ties by level)."""
    import polars as pl

    return (
        frame.select(_categorical(name, dtype).cast(pl.String).alias("v"))
        .drop_nulls()
        .group_by("v")
        .len(name="n")
        .sort(["n", "v"], descending=[True, False])
        .head(limit)
    )


_Finish = Callable[[int, Sequence[Any]], ColumnProfile]


_STREAM_ABOVE = 2**26
"""Cells (rows x profiled columns) above which a lazy source is profiled by streaming."""
_SMALL_BELOW = 2**20
"""Cells up to which a lazy source's query is planned lean (a window of a report)."""


def _fit_in_memory(
    sources: Mapping[int, tuple[Any, pl.LazyFrame]], columns: Sized
) -> dict[int, Literal["small", "in-memory", "streaming"]]:
    """Which sources to profile on the in-memory engine (about half the CPU of streaming).

    Data already in memory always is; a lazy source when its profiled columns would take
    less than about half a gigabyte (``_STREAM_ABOVE`` cells). The row counts of all lazy
    sources are read in one concurrent query (for Parquet, from the files' metadata).
    Larger sources stream, in memory O(columns x bins). A lazy source of at most
    ``_SMALL_BELOW`` cells is ``"small"``: in memory, planned lean (:func:`_lean`).
    """
    import polars as pl

    lazy = [i for i, (data, _) in sources.items() if isinstance(data, pl.LazyFrame | str | Path)]
    found: dict[int, Literal["small", "in-memory", "streaming"]]
    found = dict.fromkeys(sources, "in-memory")
    counts = pl.collect_all([sources[i][1].select(pl.len()) for i in lazy])
    for i, count in zip(lazy, counts, strict=True):
        cells = int(count.item()) * max(len(columns), 1)
        found[i] = (
            "small"
            if cells <= _SMALL_BELOW
            else "in-memory"
            if cells <= _STREAM_ABOVE
            else "streaming"
        )
    return found


_Built = tuple[list["pl.Expr"], list["pl.Expr"], Callable[[tuple[Any, ...]], Profile]]


def _profile_query(
    data: Any, bins: Mapping[str, Bins], built: dict[Any, _Built] | None = None
) -> tuple[pl.LazyFrame, pl.LazyFrame, Callable[[tuple[Any, ...]], Profile]]:
    """The data as a lazy frame, its profile query (one row), and what makes it a Profile.

    ``built`` remembers the expressions by schema (for one ``bins``): building them costs
    more than running them on a small window."""
    frame = open_source(data)
    schema = frame.collect_schema()
    key = tuple((name, str(dtype)) for name, dtype in schema.items())
    found = None if built is None else built.get(key)
    if found is None:
        found = _profile_exprs(schema, bins)
        if built is not None:
            built[key] = found
    exprs, finite, done = found
    # The finite values as columns of their own: evaluated once, where a ``pl.when`` inside
    # each of a column's twenty-odd reductions was evaluated twenty-odd times.
    query = (frame.with_columns(finite) if finite else frame).select(exprs)
    return frame, query, done


def _profile_exprs(schema: Any, bins: Mapping[str, Bins]) -> _Built:
    """The profile's reductions over data of ``schema``, the finite-value columns they read,
    and what makes their one row a Profile."""
    import polars as pl

    require_columns([b.column for b in bins.values()], schema, "profile")
    exprs: list[pl.Expr] = [pl.len().alias("rows")]
    plans: list[tuple[int, int, _Finish]] = []
    finite: list[pl.Expr] = []  # each numeric column's finite values, computed once
    for key, b in bins.items():
        if key != b.column:
            raise UsageError(f"profile: bins under key {key!r} are for column {b.column!r}.")
        if b.kind == "numeric":
            name = _unused(f"_keel_finite_{len(finite)}", schema)
            column_exprs, finish = _numeric_plan(b, schema[b.column], name)
            finite.append(_finite_values(b.column, schema[b.column]).alias(name))
        else:
            column_exprs, finish = _categorical_plan(b, schema[b.column])
        start = len(exprs)
        exprs += [e.alias(f"s{start + j}") for j, e in enumerate(column_exprs)]
        plans.append((start, len(exprs), finish))

    def done(row: tuple[Any, ...]) -> Profile:
        rows = int(row[0])
        columns = [finish(rows, row[start:stop]) for start, stop, finish in plans]
        return Profile(columns={c.column: c for c in columns}, rows=rows)

    return exprs, finite, done


def _unused(name: str, schema: Mapping[str, Any]) -> str:
    """``name``, lengthened until no column of ``schema`` has it."""
    while name in schema:
        name += "_"
    return name


def _numeric_plan(b: Bins, dtype: pl.DataType, finite: str) -> tuple[list[pl.Expr], _Finish]:
    """A numeric column's reductions, over the column itself and over ``finite``, its finite
    values (null elsewhere) computed once as a column of that name."""
    import polars as pl

    if _kind_of(dtype) != "numeric":
        raise UsageError(
            f"profile: column {b.column!r} holds {dtype} values, but its reference bins are "
            "numeric.",
            hint="Profile data of the reference's types (check it against its contract first).",
        )
    x, f = _numeric(b.column, dtype), pl.col(finite)
    zero = pl.lit(0, dtype=pl.UInt32)
    if dtype.is_float():
        nans, ninf, pinf = x.is_nan().sum(), (x == -math.inf).sum(), (x == math.inf).sum()
    else:  # no NaN or infinity possible
        nans, ninf, pinf = zero, zero, zero
    exprs = [
        x.null_count(),
        nans,
        ninf,
        pinf,
        f.count(),
        f.mean(),
        f.var(ddof=0),
        f.min(),
        f.max(),
        (f < b.low).sum() if b.low is not None else zero,
        (f > b.high).sum() if b.high is not None else zero,
        f.sum(),
        *[(f >= e).sum() for e in b.edges],
        *[pl.when(f >= e).then(f).sum() for e in b.edges],
    ]
    k = len(b.edges)

    def finish(rows: int, v: Sequence[Any]) -> ColumnProfile:
        nulls, nan, ninf, pinf, n, mean, var, low, high, below, above, total = v[:12]
        cumulative = [n, *v[12 : 12 + k], 0]
        summed = [total, *v[12 + k :], 0.0]
        return ColumnProfile(
            column=b.column,
            kind="numeric",
            count=rows,
            nulls=int(nulls) + int(nan),
            nans=int(nan),
            counts=tuple(int(a - z) for a, z in pairwise(cumulative)),
            below=int(below) + (int(ninf) if b.low is not None else 0),
            above=int(above) + (int(pinf) if b.high is not None else 0),
            infinite=int(ninf) + int(pinf),
            minimum=_opt_float(low),
            maximum=_opt_float(high),
            mean=float(mean) if n else math.nan,
            m2=float(var) * n if n else 0.0,
            n=int(n),
            bins=b,
            sums=tuple(float(a or 0.0) - float(z or 0.0) for a, z in pairwise(summed)),
        )

    return exprs, finish


def _categorical_plan(b: Bins, dtype: pl.DataType) -> tuple[list[pl.Expr], _Finish]:
    import polars as pl

    if dtype.is_nested() or isinstance(dtype, pl.Binary | pl.Object):
        raise UsageError(
            f"profile: column {b.column!r} holds {dtype} values, which Keel cannot count as "
            "categories.",
            hint="Profile data of the reference's types (check it against its contract first).",
        )
    s = _categorical(b.column, dtype)
    exprs = [
        s.null_count(),
        s.is_in(sorted(b.known)).sum() if b.known else pl.lit(0),
        *[(s == level).sum() for level in b.levels],
    ]

    def finish(rows: int, v: Sequence[Any]) -> ColumnProfile:
        nulls, other, *levels = (int(x) for x in v)
        unseen = rows - nulls - other - sum(levels)
        return ColumnProfile(
            column=b.column,
            kind="categorical",
            count=rows,
            nulls=nulls,
            counts=(*levels, other, unseen),
            bins=b,
        )

    return exprs, finish

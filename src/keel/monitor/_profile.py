"""Column profiles that merge exactly: the summaries drift statistics compare.

A profile summarises each column of a frame in a few numbers and a fixed-length vector of
counts, so its size is O(columns x bins) whatever the number of rows.

Design
------
**Bins are fixed by a reference.** :func:`reference_bins` looks at reference data (the training
set) once and freezes, per column, where the bins lie: quantile edges for numeric columns,
the top-K levels for categorical ones. Every profile compared with that reference is counted
over the *same* bins, which makes two things possible: two profiles are comparable bin by bin
(a drift statistic is a function of two count vectors), and profiles of different windows or
replicas add up. Edges taken from each window's own quantiles would give vectors that can be
neither compared nor summed.

**Merging is exact.** Counts add. Minimum and maximum combine. Mean and variance use Chan,
Golub and LeVeque's parallel formula: each side keeps ``n``, ``mean`` and ``m2`` (the sum of
squared deviations from its mean), and two sides combine as::

    n = na + nb,  mean = (na*ma + nb*mb) / n,  m2 = m2a + m2b + (mb - ma)**2 * na*nb / n

This gives the variance of the union without the raw data, is numerically stable (no
``sum(x**2) - n*mean**2`` cancellation) and, written this way, is exactly commutative.
:meth:`Profile.merge_all` applies the k-way form of the same identity in one pass, so a day
of one-minute windows (1,440 profiles of 20 columns) combines in a few tens of milliseconds.

**One query per profile.** :func:`profile` builds every statistic of every column as one lazy
Polars ``select`` of reductions (bin counts as sums of ``x >= edge`` indicators, differenced
afterwards). A large source (more than :data:`_STREAM_ABOVE` cells, about half a gigabyte of
values; a Parquet file's row count is in its metadata) is collected with the streaming engine,
so a file larger than memory is read in batches and never materialised; smaller data runs on
the in-memory engine, which evaluates this wide ``select`` at about half the CPU cost.
:func:`profile_reference` (and :func:`reference_bins`)
sorts every numeric column's finite values in one ``select`` (each column sorted once, in
parallel), and takes from those sorted values the quantile edges, the next value after a point
mass, and the reference's own bin counts (binary search), so the reference is read once for
both its bins and its profile. Exact quantiles need the reference's numeric columns in memory
(8 bytes per row and column), which is the one place that is O(rows).

**Dask.** A Dask DataFrame is profiled partition by partition (each converted to Polars
through Arrow and profiled as above, in Dask's scheduler), and the partition profiles are
merged exactly with :meth:`Profile.merge_all`; its reference bins come from a uniform sample
(see :func:`profile_reference`). Dask is imported only when a Dask object is passed in.

Conventions
-----------
* Numeric columns: NaN counts as null (and in ``nans``). ``+inf``/``-inf`` are counted in
  ``infinite`` and in ``above``/``below`` (they lie outside the reference's finite range, when
  it has one), never in a bin. The bins, ``minimum``, ``maximum``, ``mean`` and ``m2``
  describe the ``n`` finite values, so a window of NaN or infinities is a data-quality
  finding, not drift (as nulls).
  In NumPy-backed pandas (and Dask) float columns NaN is pandas' missing value and arrives
  as null.
* Dates and datetimes are profiled on their epoch value in microseconds (UTC for zoned
  datetimes), durations on their length in microseconds; edges are in those units.
* Booleans are categorical with the levels ``"true"`` and ``"false"``.
* Numeric edges are the reference's quantiles (``lower`` interpolation, so each edge is a value
  that occurs), deduplicated. A value that fills several quantiles (a point mass, as in
  discrete or zero-inflated data) gets a bin of its own: an edge is added at the next larger
  value in the reference. Binary 0/1 data thus gets the bins ``{0}`` and ``{1}``. A constant
  reference column ``c`` gets the bins below, at and above its value (``[c, c + 1e-9 |c|)`` is
  "at"), so that any change of the constant is drift rather than invisible.
* Categorical levels beyond the top-K are "other" if the reference held them and "unseen"
  otherwise. The reference's next :data:`MAX_KNOWN` most frequent levels are remembered for
  this; if the reference has more distinct levels than ``top_k + MAX_KNOWN``, its rarest levels
  are forgotten and count as unseen, so "unseen" is then approximate (an upper bound).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence, Sized
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from keel.errors import UsageError, did_you_mean
from keel.monitor._profile_data import Bins, ColumnProfile, Kind, Profile, _opt_float

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "MAX_KNOWN",
    "Bins",
    "ColumnProfile",
    "Kind",
    "Profile",
    "profile",
    "profile_many",
    "profile_reference",
    "reference_bins",
]

MAX_KNOWN = 1000
"""How many reference levels beyond the top-K a categorical :class:`Bins` remembers."""


# --------------------------------------------------------------------------- data access


def _is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.startswith("dask.") and hasattr(data, "to_delayed")


def _schema_of(data: Any) -> Mapping[str, pl.DataType]:
    """Column names and Polars types of ``data``, reading no rows."""
    if _is_dask(data):
        from keel.monitor._dask import dask_schema

        return dask_schema(data)
    return _as_lazy(data).collect_schema()


def _as_lazy(data: Any) -> pl.LazyFrame:
    """``data`` (a frame, a path or a dataset reference) as a lazy Polars frame."""
    from keel.tracking import open_source

    return open_source(data)


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


def _missing(names: Sequence[str], schema: Mapping[str, Any], what: str) -> None:
    absent = [n for n in names if n not in schema]
    if absent:
        raise UsageError(
            f"{what}: column(s) {absent} not in the data.", hint=did_you_mean(absent[0], schema)
        )


# --------------------------------------------------------------------------- reference


def reference_bins(
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    bins: int = 10,
    top_k: int = 20,
) -> dict[str, Bins]:
    """Bins for each column, fixed from reference ``data`` (the data a model was trained on).

    ``data`` is a Polars DataFrame/LazyFrame, a pandas DataFrame, a PyArrow Table, a path or
    a Dask DataFrame (see :func:`profile_reference` for how Dask data is binned).
    ``columns`` defaults to every column; numeric and temporal columns get up to ``bins``
    quantile bins, text/categorical/boolean columns (and those named in ``categorical``) their
    ``top_k`` most frequent levels. Columns of other types are skipped with a warning.
    """
    if _is_dask(data):
        from keel.monitor._dask import dask_reference_bins

        kinds = _reference_kinds(data, columns, categorical, bins, top_k)
        return dask_reference_bins(data, kinds, bins=bins, top_k=top_k)
    return profile_reference(
        data, columns=columns, categorical=categorical, bins=bins, top_k=top_k
    ).bins


def profile_reference(
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    bins: int = 10,
    top_k: int = 20,
) -> Profile:
    """The reference's bins and its own profile over them, from one read of the data.

    Equal to ``profile(data, reference_bins(data, ...))`` (counts exactly, moments to
    rounding) at about half the cost: the sorted values that give the quantile edges also
    give the reference's bin counts. The bins are :attr:`Profile.bins`.

    A Dask DataFrame is binned from a uniform sample of :data:`DASK_SAMPLE_ROWS` rows
    (all rows when there are fewer): the quantile edges are the sample's; the minimum and
    maximum of each numeric column and the level counts of each categorical column are
    exact (one pass over every partition). It is then profiled exactly over those bins
    (a second pass).
    """
    import polars as pl

    if _is_dask(data):
        from keel.monitor._dask import dask_reference_bins, profile_dask

        kinds = _reference_kinds(data, columns, categorical, bins, top_k)
        return profile_dask(data, dask_reference_bins(data, kinds, bins=bins, top_k=top_k))
    frame = _as_lazy(data)
    kinds = _reference_kinds(frame, columns, categorical, bins, top_k)
    engine: Literal["in-memory", "streaming"] = "streaming"
    if _fit_in_memory({0: (data, frame)}, kinds)[0]:  # read it once, then work in memory
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
    row = results[0].drop(lists).row(0, named=True)  # the scalars; the sorted values stay put
    rows = int(row["rows"])
    found: dict[str, ColumnProfile] = {}
    for i, name in enumerate(numeric):
        values = results[0].get_column(f"v{i}")[0].to_numpy()
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


def _reference_kinds(
    data: Any,
    columns: Sequence[str] | None,
    categorical: Sequence[str] | None,
    bins: int,
    top_k: int,
) -> dict[str, Kind]:
    """Check the arguments; the kind of each column to bin (skipping others, with a warning)."""
    if bins < 1 or top_k < 0:
        raise UsageError(
            f"reference_bins needs bins >= 1 and top_k >= 0, got bins={bins}, top_k={top_k}."
        )
    schema = _schema_of(data)
    names = list(schema if columns is None else columns)
    forced = list(categorical or ())
    _missing([*names, *forced], schema, "reference_bins")
    if not set(forced) <= set(names):
        raise UsageError(
            f"reference_bins: categorical names {sorted(set(forced) - set(names))}, which are "
            "not among the columns asked for.",
            hint="List them in columns as well, or leave columns out.",
        )
    return _kinds(names, forced, schema)


def _kinds(
    names: Sequence[str], forced: Sequence[str], schema: Mapping[str, Any]
) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for name in names:
        kind = "categorical" if name in forced else _kind_of(schema[name])
        if kind is None:
            warnings.warn(
                f"reference_bins skips column {name!r}: Keel does not profile its type "
                f"{schema[name]}.",
                UserWarning,
                stacklevel=4,
            )
            continue
        kinds[name] = kind
    return kinds


def _finite_values(name: str, dtype: pl.DataType) -> pl.Expr:
    """A numeric column as Float64, null where it is not finite."""
    import polars as pl

    x = _numeric(name, dtype)
    return (pl.when(x.is_finite()).then(x) if dtype.is_float() else x).alias(name)


def _sorted_exprs(i: int, name: str, dtype: pl.DataType) -> list[pl.Expr]:
    """A numeric column's finite values sorted (one list), its null/NaN/inf counts, moments."""
    import polars as pl

    x = _numeric(name, dtype)
    floating = dtype.is_float()
    finite = _finite_values(name, dtype)
    zero = pl.lit(0, dtype=pl.UInt32)
    return [
        finite.drop_nulls().sort().implode().alias(f"v{i}"),
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


# --------------------------------------------------------------------------- profiling

_Finish = Callable[[int, Sequence[Any]], ColumnProfile]


def profile(data: Any, bins: Mapping[str, Bins]) -> Profile:
    """Profile ``data`` over ``bins`` (from :func:`reference_bins`) in one streaming query.

    Every column named by ``bins`` must be in the data. Memory is O(columns x bins): a Parquet
    file is read in batches, never whole. A Dask DataFrame is profiled partition by partition
    and the partitions' profiles merged exactly.
    """
    return profile_many([data], bins)[0]


def profile_many(datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
    """Profile several datasets over the same ``bins``; their queries run concurrently."""
    import polars as pl

    done: dict[int, Profile] = {}
    for i, data in enumerate(datas):
        if _is_dask(data):
            from keel.monitor._dask import profile_dask

            done[i] = profile_dask(data, bins)
    planned = {i: _profile_query(data, bins) for i, data in enumerate(datas) if i not in done}
    fits = _fit_in_memory({i: (datas[i], frame) for i, (frame, _, _) in planned.items()}, bins)
    small = [i for i in planned if fits[i]]
    large = [i for i in planned if not fits[i]]
    engines: list[tuple[list[int], Literal["in-memory", "streaming"]]] = [
        (small, "in-memory"),
        (large, "streaming"),
    ]
    for group, engine in engines:
        if group:
            frames = pl.collect_all([planned[i][1] for i in group], engine=engine)
            for i, frame in zip(group, frames, strict=True):
                done[i] = planned[i][2](frame.row(0))
    return [done[i] for i in range(len(datas))]


_STREAM_ABOVE = 2**26
"""Cells (rows x profiled columns) above which a lazy source is profiled by streaming."""


def _fit_in_memory(
    sources: Mapping[int, tuple[Any, pl.LazyFrame]], columns: Sized
) -> dict[int, bool]:
    """Which sources to profile on the in-memory engine (about half the CPU of streaming).

    Data already in memory always is; a lazy source when its profiled columns would take
    less than about half a gigabyte (``_STREAM_ABOVE`` cells). The row counts of all lazy
    sources are read in one concurrent query (for Parquet, from the files' metadata).
    Larger sources stream, in memory O(columns x bins).
    """
    import polars as pl

    lazy = [i for i, (data, _) in sources.items() if isinstance(data, pl.LazyFrame | str | Path)]
    found = dict.fromkeys(sources, True)
    counts = pl.collect_all([sources[i][1].select(pl.len()) for i in lazy])
    for i, count in zip(lazy, counts, strict=True):
        found[i] = int(count.item()) * max(len(columns), 1) <= _STREAM_ABOVE
    return found


def _profile_query(
    data: Any, bins: Mapping[str, Bins]
) -> tuple[pl.LazyFrame, pl.LazyFrame, Callable[[tuple[Any, ...]], Profile]]:
    """The data as a lazy frame, its profile query (one row), and what makes it a Profile."""
    import polars as pl

    frame = _as_lazy(data)
    schema = frame.collect_schema()
    _missing([b.column for b in bins.values()], schema, "profile")
    exprs: list[pl.Expr] = [pl.len().alias("rows")]
    plans: list[tuple[int, int, _Finish]] = []
    for key, b in bins.items():
        if key != b.column:
            raise UsageError(f"profile: bins under key {key!r} are for column {b.column!r}.")
        plan = _numeric_plan if b.kind == "numeric" else _categorical_plan
        column_exprs, finish = plan(b, schema[b.column])
        start = len(exprs)
        exprs += [e.alias(f"s{start + j}") for j, e in enumerate(column_exprs)]
        plans.append((start, len(exprs), finish))

    def done(row: tuple[Any, ...]) -> Profile:
        rows = int(row[0])
        columns = [finish(rows, row[start:stop]) for start, stop, finish in plans]
        return Profile(columns={c.column: c for c in columns}, rows=rows)

    return frame, frame.select(exprs), done


def _numeric_plan(b: Bins, dtype: pl.DataType) -> tuple[list[pl.Expr], _Finish]:
    import polars as pl

    if _kind_of(dtype) != "numeric":
        raise UsageError(
            f"profile: column {b.column!r} holds {dtype} values, but its reference bins are "
            "numeric.",
            hint="Profile data of the reference's types (check it against its contract first).",
        )
    x = _numeric(b.column, dtype)
    zero = pl.lit(0, dtype=pl.UInt32)
    finite: pl.Expr
    if dtype.is_float():
        valid, finite = x.fill_nan(None), pl.when(x.is_finite()).then(x)
        nans, infinite = x.is_nan().sum(), x.is_infinite().sum()
    else:  # no NaN or infinity possible
        valid, finite, nans, infinite = x, x, zero, zero
    exprs = [
        x.null_count(),
        nans,
        infinite,
        finite.count(),
        finite.mean(),
        finite.var(ddof=0),
        finite.min(),
        finite.max(),
        (valid < b.low).sum() if b.low is not None else zero,
        (valid > b.high).sum() if b.high is not None else zero,
        *[(finite >= e).sum() for e in b.edges],
    ]

    def finish(rows: int, v: Sequence[Any]) -> ColumnProfile:
        nulls, nan, inf, n, mean, var, low, high, below, above, *at_least = v
        cumulative = [n, *at_least, 0]
        return ColumnProfile(
            column=b.column,
            kind="numeric",
            count=rows,
            nulls=int(nulls) + int(nan),
            nans=int(nan),
            counts=tuple(int(a - z) for a, z in pairwise(cumulative)),
            below=int(below),
            above=int(above),
            infinite=int(inf),
            minimum=_opt_float(low),
            maximum=_opt_float(high),
            mean=float(mean) if n else math.nan,
            m2=float(var) * n if n else 0.0,
            n=int(n),
            bins=b,
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

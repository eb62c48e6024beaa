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
afterwards) and collects it with the streaming engine, so a Parquet file larger than memory is
read in batches and never materialised. :func:`reference_bins` computes all numeric columns'
quantiles in one ``select``; exact quantiles need the reference's numeric columns in memory
(8 bytes per row and column), which is the one place that is O(rows).

Conventions
-----------
* Numeric columns: NaN counts as null. ``+inf``/``-inf`` are counted in ``infinite`` and in the
  last/first bin (and in ``above``/``below``), and are left out of ``minimum``, ``maximum``,
  ``mean`` and ``m2``, which describe the ``n`` finite values.
* Dates and datetimes are profiled on their epoch value in microseconds (UTC for zoned
  datetimes), durations on their length in microseconds; edges are in those units.
* Booleans are categorical with the levels ``"true"`` and ``"false"``.
* Numeric edges are the reference's quantiles (``lower`` interpolation, so each edge is a value
  that occurs), deduplicated. A value that fills several quantiles (a point mass, as in
  discrete or zero-inflated data) gets a bin of its own: an edge is added at the next larger
  value in the reference. Binary 0/1 data thus gets the bins ``{0}`` and ``{1}``.
* Categorical levels beyond the top-K are "other" if the reference held them and "unseen"
  otherwise. The reference's next :data:`MAX_KNOWN` most frequent levels are remembered for
  this; if the reference has more distinct levels than ``top_k + MAX_KNOWN``, its rarest levels
  are forgotten and count as unseen, so "unseen" is then approximate (an upper bound).
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from keel.errors import UsageError, did_you_mean

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
    "reference_bins",
]

Kind = Literal["numeric", "categorical"]

MAX_KNOWN = 1000
"""How many reference levels beyond the top-K a categorical :class:`Bins` remembers."""

_FORMAT = 1  # version of the dictionaries written by to_dict
_OTHER, _UNSEEN = "(other)", "(unseen)"


# --------------------------------------------------------------------------- bins


@dataclass(frozen=True)
class Bins:
    """Where a column's values are counted; fixed by the reference, shared by every profile.

    Numeric: the inner ``edges`` ``e_1 < ... < e_{k-1}`` give the bins ``(-inf, e_1)``,
    ``[e_1, e_2)``, ..., ``[e_{k-1}, +inf)``; ``low``/``high`` are the reference's finite
    minimum and maximum, against which out-of-range values are counted.
    Categorical: ``levels`` are the reference's top-K levels, most frequent first, followed
    in every count vector by "other" (a level in ``known``) and "unseen" (any other level).
    """

    column: str
    kind: Kind
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    known: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise UsageError(
                f"bins of column {self.column!r}: unknown kind {self.kind!r}.",
                hint="Use 'numeric' or 'categorical'.",
            )
        if self.kind == "numeric":
            if self.levels or self.known:
                raise UsageError(f"numeric bins of column {self.column!r} cannot have levels.")
            if not all(math.isfinite(e) for e in self.edges) or any(
                a >= b for a, b in pairwise(self.edges)
            ):
                raise UsageError(
                    f"bins of column {self.column!r}: edges must be finite and strictly "
                    f"increasing, got {list(self.edges)}."
                )
        elif self.edges or self.low is not None or self.high is not None:
            raise UsageError(f"categorical bins of column {self.column!r} cannot have edges.")
        elif not self.known.isdisjoint(self.levels):
            raise UsageError(
                f"bins of column {self.column!r}: a level is both top-K and 'other'.",
                hint="known holds the reference levels beyond the top-K only.",
            )

    @property
    def size(self) -> int:
        """Length of the count vectors over these bins."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.levels) + 2

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per count, e.g. ``('< 1', '[1, 2.5)', '>= 2.5')`` or levels + other/unseen."""
        if self.kind == "categorical":
            return (*self.levels, _OTHER, _UNSEEN)
        if not self.edges:
            return ("all",)
        inner = [f"[{a:g}, {b:g})" for a, b in pairwise(self.edges)]
        return (f"< {self.edges[0]:g}", *inner, f">= {self.edges[-1]:g}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        return {
            "column": self.column,
            "kind": self.kind,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "known": sorted(self.known),
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        """Bins from :meth:`to_dict` output.

        Equal bins read in one process come back as one object, so merging many stored
        profiles compares their bins by identity instead of level by level.
        """
        known = tuple(str(v) for v in data.get("known", ()))
        key = (
            str(data["column"]),
            data["kind"],
            tuple(float(e) for e in data.get("edges", ())),
            tuple(str(v) for v in data.get("levels", ())),
            known,
            _opt_float(data.get("low")),
            _opt_float(data.get("high")),
        )
        found = _READ.get(key)
        if found is None:
            column, kind, edges, levels, _, low, high = key
            found = cls(column, kind, edges, levels, low, high, frozenset(known))
            _READ[key] = found
        return found


_READ: weakref.WeakValueDictionary[tuple[Any, ...], Bins] = weakref.WeakValueDictionary()


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class ColumnProfile:
    """One column's counts and moments over fixed :class:`Bins`; merges exactly.

    ``counts`` has one entry per bin (numeric: ``len(edges) + 1``; categorical: one per level,
    then other, then unseen) and sums to ``count - nulls``. ``n``, ``mean``, ``m2``,
    ``minimum`` and ``maximum`` describe the finite non-null values (numeric columns only).
    """

    column: str
    kind: Kind
    count: int
    nulls: int
    counts: tuple[int, ...]
    below: int = 0
    above: int = 0
    infinite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float = math.nan
    m2: float = 0.0
    n: int = 0
    bins: Bins | None = None

    def __post_init__(self) -> None:
        if self.bins is not None and len(self.counts) != self.bins.size:
            raise UsageError(
                f"profile of column {self.column!r} has {len(self.counts)} counts, "
                f"its bins {self.bins.size}."
            )

    @property
    def variance(self) -> float:
        """Sample variance (``m2 / (n - 1)``) of the finite values; NaN below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both sides' rows together (exact; commutative)."""
        _check_compatible(self, other)
        n, mean, m2 = _chan(self, other)
        return ColumnProfile(
            column=self.column,
            kind=self.kind,
            count=self.count + other.count,
            nulls=self.nulls + other.nulls,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            below=self.below + other.below,
            above=self.above + other.above,
            infinite=self.infinite + other.infinite,
            minimum=_extreme(min, (self.minimum, other.minimum)),
            maximum=_extreme(max, (self.maximum, other.maximum)),
            mean=mean,
            m2=m2,
            n=n,
            bins=self.bins,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (non-finite floats as ``None``/strings); see :meth:`from_dict`."""
        return {
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "counts": list(self.counts),
            "below": self.below,
            "above": self.above,
            "infinite": self.infinite,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": _float_out(self.mean),
            "m2": _float_out(self.m2),
            "n": self.n,
            "bins": None if self.bins is None else self.bins.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """A column profile from :meth:`to_dict` output."""
        bins = data.get("bins")
        return cls(
            column=str(data["column"]),
            kind=data["kind"],
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            counts=tuple(int(c) for c in data["counts"]),
            below=int(data.get("below", 0)),
            above=int(data.get("above", 0)),
            infinite=int(data.get("infinite", 0)),
            minimum=_opt_float(data.get("minimum")),
            maximum=_opt_float(data.get("maximum")),
            mean=_float_in(data.get("mean")),
            m2=_float_in(data.get("m2", 0.0)),
            n=int(data.get("n", 0)),
            bins=None if bins is None else Bins.from_dict(bins),
        )


@dataclass(frozen=True)
class Profile:
    """Profiles of a frame's columns (by name) and its row count; merges exactly."""

    columns: dict[str, ColumnProfile]
    rows: int

    def merge(self, other: Profile) -> Profile:
        """The profile of both frames' rows together."""
        _check_same_columns(self, other)
        return Profile(
            columns={name: c.merge(other.columns[name]) for name, c in self.columns.items()},
            rows=self.rows + other.rows,
        )

    @staticmethod
    def merge_all(profiles: Sequence[Profile]) -> Profile:
        """All ``profiles`` merged in one pass: counts summed, moments by the k-way Chan form.

        Equal (counts exactly, moments to rounding) to folding :meth:`merge` over them, and
        much faster for many profiles.
        """
        if not profiles:
            raise UsageError(
                "Profile.merge_all got no profiles.", hint="Pass at least one profile."
            )
        first = profiles[0]
        for other in profiles[1:]:
            _check_same_columns(first, other)
        return Profile(
            columns={
                name: _merge_many([p.columns[name] for p in profiles]) for name in first.columns
            },
            rows=sum(p.rows for p in profiles),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, for storing with a model or dataset version."""
        return {
            "format": _FORMAT,
            "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """A profile from :meth:`to_dict` output."""
        try:
            version = int(data.get("format", _FORMAT))
            if version > _FORMAT:
                raise UsageError(
                    f"this profile was written in format {version}; this Keel reads up to "
                    f"{_FORMAT}.",
                    hint="Upgrade Keel to read it.",
                )
            columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
            return cls(columns={c.column: c for c in columns}, rows=int(data["rows"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"not a Keel profile: {type(exc).__name__}: {exc}.",
                hint="Pass the dictionary written by Profile.to_dict().",
            ) from exc


# --------------------------------------------------------------------------- merging


def _chan(a: ColumnProfile, b: ColumnProfile) -> tuple[int, float, float]:
    """Chan et al.'s pairwise update of (n, mean, m2); symmetric in its two sides."""
    if b.n == 0:
        return a.n, a.mean, a.m2
    if a.n == 0:
        return b.n, b.mean, b.m2
    n = a.n + b.n
    delta = b.mean - a.mean
    return n, (a.n * a.mean + b.n * b.mean) / n, a.m2 + b.m2 + delta * delta * (a.n * b.n / n)


def _extreme(
    pick: Callable[[Sequence[float]], float], values: Sequence[float | None]
) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _check_compatible(a: ColumnProfile, b: ColumnProfile) -> None:
    if a.bins is b.bins and a.column == b.column and len(a.counts) == len(b.counts):
        return
    if a.column != b.column or a.kind != b.kind:
        raise UsageError(
            f"cannot merge the profile of column {a.column!r} ({a.kind}) with that of "
            f"{b.column!r} ({b.kind}).",
            hint="Merge profiles of the same column.",
        )
    if a.bins != b.bins or len(a.counts) != len(b.counts):
        raise UsageError(
            f"cannot merge profiles of column {a.column!r}: they were counted over different bins.",
            hint="Profile every window with the same reference_bins(...) result.",
        )


def _check_same_columns(a: Profile, b: Profile) -> None:
    if a.columns.keys() != b.columns.keys():
        only_a = sorted(a.columns.keys() - b.columns.keys())
        only_b = sorted(b.columns.keys() - a.columns.keys())
        raise UsageError(
            f"cannot merge profiles of different columns (only in the first: {only_a}; "
            f"only in the second: {only_b}).",
            hint="Profile every window with the same bins.",
        )


def _merge_many(parts: list[ColumnProfile]) -> ColumnProfile:
    first = parts[0]
    for part in parts[1:]:
        _check_compatible(first, part)
    moments = [(p.n, p.mean, p.m2) for p in parts if p.n > 0]
    n = sum(m[0] for m in moments)
    mean, m2 = math.nan, 0.0
    if n:
        mean = math.fsum(k * mu for k, mu, _ in moments) / n
        m2 = math.fsum(s for _, _, s in moments) + math.fsum(
            k * (mu - mean) ** 2 for k, mu, _ in moments
        )
    return ColumnProfile(
        column=first.column,
        kind=first.kind,
        count=sum(p.count for p in parts),
        nulls=sum(p.nulls for p in parts),
        counts=tuple(map(sum, zip(*(p.counts for p in parts), strict=True))),
        below=sum(p.below for p in parts),
        above=sum(p.above for p in parts),
        infinite=sum(p.infinite for p in parts),
        minimum=_extreme(min, [p.minimum for p in parts]),
        maximum=_extreme(max, [p.maximum for p in parts]),
        mean=mean,
        m2=m2,
        n=n,
        bins=first.bins,
    )


# --------------------------------------------------------------------------- JSON helpers


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_out(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    return value if math.isfinite(value) else str(value)  # JSON has no inf: "inf"/"-inf"


def _float_in(value: Any) -> float:
    return math.nan if value is None else float(value)


# --------------------------------------------------------------------------- data access


def _as_lazy(data: Any) -> pl.LazyFrame:
    import polars as pl

    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, str | Path):
        from keel.contracts import read_data

        return read_data(data)
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pl.from_pandas(data).lazy()
    if module == "pyarrow":
        frame = pl.from_arrow(data)
        if isinstance(frame, pl.DataFrame):
            return frame.lazy()
    raise UsageError(
        f"cannot profile data of type {type(data).__name__}.",
        hint="Pass a Polars DataFrame or LazyFrame, a pandas DataFrame, a PyArrow Table or "
        "the path of a data file.",
    )


def _kind_of(dtype: pl.DataType) -> Kind | None:
    import polars as pl

    if dtype.is_numeric() or isinstance(dtype, pl.Date | pl.Datetime | pl.Duration):
        return "numeric"
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

    ``data`` is a Polars DataFrame/LazyFrame, a pandas DataFrame, a PyArrow Table or a path.
    ``columns`` defaults to every column; numeric and temporal columns get up to ``bins``
    quantile bins, text/categorical/boolean columns (and those named in ``categorical``) their
    ``top_k`` most frequent levels. Columns of other types are skipped with a warning.
    """
    import polars as pl

    if bins < 1 or top_k < 0:
        raise UsageError(
            f"reference_bins needs bins >= 1 and top_k >= 0, got bins={bins}, top_k={top_k}."
        )
    frame = _as_lazy(data)
    schema = frame.collect_schema()
    names = list(schema.names() if columns is None else columns)
    forced = list(categorical or ())
    _missing([*names, *forced], schema, "reference_bins")
    if not set(forced) <= set(names):
        raise UsageError(
            f"reference_bins: categorical names {sorted(set(forced) - set(names))}, which are "
            "not among the columns asked for.",
            hint="List them in columns as well, or leave columns out.",
        )
    kinds = _kinds(names, forced, schema)
    numeric = [n for n, k in kinds.items() if k == "numeric"]
    text = [n for n, k in kinds.items() if k == "categorical"]
    queries = [_levels_query(frame, name, schema[name], top_k + MAX_KNOWN) for name in text]
    if numeric:
        queries.append(_quantile_query(frame, numeric, schema, bins))
    results = pl.collect_all(queries, engine="streaming")
    found = _numeric_bins(frame, numeric, schema, results[-1].row(0) if numeric else ())
    for name, levels in zip(text, results, strict=False):
        values = levels.get_column("v").to_list()
        found[name] = Bins(
            column=name,
            kind="categorical",
            levels=tuple(values[:top_k]),
            known=frozenset(values[top_k:]),
        )
    return {name: found[name] for name in kinds}


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
                stacklevel=3,
            )
            continue
        kinds[name] = kind
    return kinds


def _finite(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column's finite values, null elsewhere."""
    import polars as pl

    x = _numeric(name, dtype)
    return pl.when(x.is_finite()).then(x)


def _quantile_query(
    frame: pl.LazyFrame, names: Sequence[str], schema: Mapping[str, Any], bins: int
) -> pl.LazyFrame:
    """Min, max and inner quantiles of every numeric column, as one select."""
    quantiles = [i / bins for i in range(1, bins)]
    exprs = []
    for i, name in enumerate(names):
        x = _finite(name, schema[name])
        exprs += [x.min().alias(f"lo{i}"), x.max().alias(f"hi{i}")]
        if quantiles:
            exprs.append(x.quantile(quantiles, "lower").alias(f"q{i}"))
    return frame.select(exprs)


def _levels_query(frame: pl.LazyFrame, name: str, dtype: pl.DataType, limit: int) -> pl.LazyFrame:
    """A column's most frequent levels, most frequent first (ties by level)."""
    import polars as pl

    return (
        frame.select(_categorical(name, dtype).cast(pl.String).alias("v"))
        .drop_nulls()
        .group_by("v")
        .len(name="n")
        .sort(["n", "v"], descending=[True, False])
        .head(limit)
    )


def _numeric_bins(
    frame: pl.LazyFrame, names: Sequence[str], schema: Mapping[str, Any], row: tuple[Any, ...]
) -> dict[str, Bins]:
    """Edges from the quantile row; point masses get a bin of their own (one more query)."""
    width = len(row) // len(names) if names else 0
    stats: dict[str, tuple[float | None, float | None, list[float]]] = {}
    masses: list[tuple[str, float]] = []
    for i, name in enumerate(names):
        low, high, *rest = row[i * width : (i + 1) * width]
        values = [float(q) for q in (rest[0] if rest else ()) if q is not None]
        stats[name] = (low, high, values)
        seen: set[float] = set()
        for q in values:
            if (q in seen or q == low) and q != high and (name, q) not in masses:
                masses.append((name, q))
            seen.add(q)
    after = _next_values(frame, masses, schema)
    found = {}
    for name, (low, high, values) in stats.items():
        cuts = {*values, *after.get(name, ())}
        edges = sorted(e for e in cuts if low is not None and high is not None and low < e <= high)
        found[name] = Bins(
            column=name,
            kind="numeric",
            edges=tuple(edges),
            low=None if low is None else float(low),
            high=None if high is None else float(high),
        )
    return found


def _next_values(
    frame: pl.LazyFrame, masses: Sequence[tuple[str, float]], schema: Mapping[str, Any]
) -> dict[str, list[float]]:
    """For each (column, value), the smallest value of the column above it."""
    import polars as pl

    if not masses:
        return {}
    exprs = []
    for i, (name, value) in enumerate(masses):
        x = _finite(name, schema[name])
        exprs.append(pl.when(x > value).then(x).min().alias(f"m{i}"))
    row = frame.select(exprs).collect(engine="streaming").row(0)
    after: dict[str, list[float]] = {}
    for (name, _), value in zip(masses, row, strict=True):
        if value is not None:
            after.setdefault(name, []).append(float(value))
    return after


# --------------------------------------------------------------------------- profiling

_Finish = Callable[[int, Sequence[Any]], ColumnProfile]


def profile(data: Any, bins: Mapping[str, Bins]) -> Profile:
    """Profile ``data`` over ``bins`` (from :func:`reference_bins`) in one streaming query.

    Every column named by ``bins`` must be in the data. Memory is O(columns x bins): a Parquet
    file is read in batches, never whole.
    """
    return profile_many([data], bins)[0]


def profile_many(datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
    """Profile several datasets over the same ``bins``; their queries run concurrently."""
    import polars as pl

    planned = [_profile_query(data, bins) for data in datas]
    frames = pl.collect_all([query for query, _ in planned], engine="streaming")
    return [finish(frame.row(0)) for frame, (_, finish) in zip(frames, planned, strict=True)]


def _profile_query(
    data: Any, bins: Mapping[str, Bins]
) -> tuple[pl.LazyFrame, Callable[[tuple[Any, ...]], Profile]]:
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

    return frame.select(exprs), done


def _numeric_plan(b: Bins, dtype: pl.DataType) -> tuple[list[pl.Expr], _Finish]:
    import polars as pl

    if _kind_of(dtype) != "numeric" and not isinstance(dtype, pl.Null):
        raise UsageError(
            f"profile: column {b.column!r} holds {dtype} values, but its reference bins are "
            "numeric.",
            hint="Profile data of the reference's types (check it against its contract first).",
        )
    x = _numeric(b.column, dtype)
    valid = x.fill_nan(None) if dtype.is_float() else x
    finite = pl.when(x.is_finite()).then(x)
    exprs = [
        x.null_count() + (x.is_nan().sum() if dtype.is_float() else 0),
        x.is_infinite().sum() if dtype.is_float() else pl.lit(0),
        finite.count(),
        finite.mean(),
        finite.var(ddof=0),
        finite.min(),
        finite.max(),
        (valid < b.low).sum() if b.low is not None else pl.lit(0),
        (valid > b.high).sum() if b.high is not None else pl.lit(0),
        *[(valid >= e).sum() for e in b.edges],
    ]

    def finish(rows: int, v: Sequence[Any]) -> ColumnProfile:
        nulls, infinite, n, mean, var, low, high, below, above, *at_least = v
        cumulative = [rows - nulls, *at_least, 0]
        return ColumnProfile(
            column=b.column,
            kind="numeric",
            count=rows,
            nulls=int(nulls),
            counts=tuple(int(a - z) for a, z in pairwise(cumulative)),
            below=int(below),
            above=int(above),
            infinite=int(infinite),
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

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

**Merging is exact.** Counts add, and so do the per-bin sums of the values that make the
Wasserstein drift score exact (:attr:`ColumnProfile.sums`; added with ``math.fsum``). Minimum
and maximum combine. Mean and variance use Chan, Golub and LeVeque's parallel formula: each
side keeps ``n``, ``mean`` and ``m2`` (the sum of squared deviations from its mean), and two
sides combine as::

    n = na + nb,  mean = (na*ma + nb*mb) / n,  m2 = m2a + m2b + (mb - ma)**2 * na*nb / n

This gives the variance of the union without the raw data, is numerically stable (no
``sum(x**2) - n*mean**2`` cancellation) and, written this way, is exactly commutative.
:meth:`Profile.merge_all` applies the k-way form of the same identity in one pass, so a day
of one-minute windows (1,440 profiles of 20 columns) combines in a few tens of milliseconds.

**One query per profile.** :func:`profile` builds every statistic of every column as one lazy
Polars ``select`` of reductions (bin counts as sums of ``x >= edge`` indicators and bin sums as
sums of the values ``>= edge``, differenced afterwards), over each numeric column's finite
values computed once as a column of their own. A large source (more than
``_polars._STREAM_ABOVE`` cells, about half a gigabyte of values; a Parquet file's row count is
in its metadata) is collected with the streaming engine, so a file larger than memory is read
in batches and never materialised; smaller data runs on the in-memory engine, which evaluates
this wide ``select`` at about half the CPU cost. :func:`profile_reference` (and
:func:`reference_bins`) gathers every numeric column's finite values in one ``select``, sorts
each once (NumPy's SIMD sort, the columns in parallel threads), and takes from those sorted
values the quantile edges, the next value after a point mass, and the reference's own bin
counts (binary search) and bin sums, so the reference is read once for both its bins and its
profile. Exact quantiles need the reference's numeric columns in memory (8 bytes per row and
column), which is the one place that is O(rows).

**Dask.** A Dask DataFrame is profiled partition by partition (each converted to Polars
through Arrow and profiled as above, in Dask's scheduler), and the partition profiles are
merged exactly with :meth:`Profile.merge_all`; its reference bins come from a uniform sample
(see :func:`profile_reference`). Dask is imported only when a Dask object is passed in.

**Engines.** This module decides what to profile (the columns, their kinds, the bins) and
hands the work to the engine :func:`engine_for` picks for the data, behind the small
:class:`~keel.monitor._engine.ProfileEngine` protocol: :mod:`keel.monitor._polars` (the
queries above) or :mod:`keel.monitor._dask`.

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

import functools
import importlib
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keel.errors import UsageError
from keel.monitor._engine import ProfileEngine, is_dask, require_columns
from keel.monitor._polars import POLARS, _kind_of
from keel.monitor._profile_data import Bins, ColumnProfile, Kind, Profile

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "Bins",
    "ColumnProfile",
    "Kind",
    "Profile",
    "engine_for",
    "profile",
    "profile_many",
    "profile_reference",
    "reference_bins",
]


# --------------------------------------------------------------------------- engines


def engine_for(data: Any) -> ProfileEngine:
    """The engine that profiles ``data``: Dask's for a Dask DataFrame (its module, and Dask,
    imported on first use), else Polars'."""
    if is_dask(data):
        dask_engine: ProfileEngine = importlib.import_module("keel.monitor._dask").DASK
        return dask_engine
    return POLARS


def _schema_of(data: Any) -> Mapping[str, pl.DataType]:
    """Column names and Polars types of ``data``, reading no rows."""
    return engine_for(data).schema(data)


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
    kinds_of = functools.partial(
        _reference_kinds, columns=columns, categorical=categorical, bins=bins, top_k=top_k
    )
    return engine_for(data).reference_bins(data, kinds_of, bins=bins, top_k=top_k)


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

    A Dask DataFrame is binned from a uniform sample of ``_dask.DASK_SAMPLE_ROWS`` rows
    (all rows when there are fewer): the quantile edges are the sample's; the minimum and
    maximum of each numeric column and the level counts of each categorical column are
    exact (one pass over every partition). It is then profiled exactly over those bins
    (a second pass).
    """
    kinds_of = functools.partial(
        _reference_kinds, columns=columns, categorical=categorical, bins=bins, top_k=top_k
    )
    return engine_for(data).reference(data, kinds_of, bins=bins, top_k=top_k)


def _reference_kinds(
    schema: Mapping[str, pl.DataType],
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
    names = list(schema if columns is None else columns)
    forced = list(categorical or ())
    require_columns([*names, *forced], schema, "reference_bins")
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
                stacklevel=5,  # the caller of profile_reference (through its engine)
            )
            continue
        kinds[name] = kind
    return kinds


# --------------------------------------------------------------------------- profiling


def profile(data: Any, bins: Mapping[str, Bins]) -> Profile:
    """Profile ``data`` over ``bins`` (from :func:`reference_bins`) in one streaming query.

    Every column named by ``bins`` must be in the data. Memory is O(columns x bins): a Parquet
    file is read in batches, never whole. A Dask DataFrame is profiled partition by partition
    and the partitions' profiles merged exactly.
    """
    return profile_many([data], bins)[0]


def profile_many(datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
    """Profile several datasets over the same ``bins``; their queries run concurrently."""
    groups: dict[int, tuple[ProfileEngine, list[int]]] = {}
    for i, data in enumerate(datas):
        engine = engine_for(data)
        groups.setdefault(id(engine), (engine, []))[1].append(i)
    done: dict[int, Profile] = {}
    for engine, indices in groups.values():
        found = engine.profile_many([datas[i] for i in indices], bins)
        done.update(zip(indices, found, strict=True))
    return [done[i] for i in range(len(datas))]

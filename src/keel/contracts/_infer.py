"""Suggest a contract from data, in the spirit of Deequ's constraint suggestion.

What is inferred, per column:

* the type, from the dtype (all-null columns become nullable ``str``, with a note);
* ``nullable`` when any value is null;
* ``ge``/``le`` from the observed minimum and maximum of numbers, dates and datetimes;
  numbers rounded *outward* to two significant digits of the larger magnitude (observed
  18.3 to 12,322.96 gives ``ge: 0, le: 13000``), so the contract reads well and tomorrow's
  legitimate data, a little past today's extremes, still passes; integers stay integers and
  non-negative data keeps a bound of at least 0;
* ``finite`` for floats without NaN or infinity (a float column holding either gets no
  range either: NaN fails every bound);
* ``categorical`` with ``isin`` for text with few distinct values (at most
  ``max_categories``, and each value seen twice on average);
* ``unique`` for int and str columns whose non-null values are all distinct (over 2+ values);
* a ``pattern`` for text whose every value is a UUID, an ISO date, an e-mail address, a URL
  or digits only.

Every statistic comes from one ``select`` over the data (one per 200 columns of wide data);
one more query, only when some column looks categorical, fetches the distinct values of
those columns. The result is a
starting point to review (the observed range is only what this sample held), not a verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

import narwhals.stable.v2 as nw

from keel.contracts._backends import Backend, engine_error, open_frame
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._types import DType
from keel.errors import InputError, UsageError

__all__ = ["infer_contract"]

PATTERNS: dict[str, str] = {  # tried in this order; each runs on Python re and Polars alike
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "iso_date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "url": r"^https?://[^\s/]+\S*$",
    "digits": r"^[0-9]+$",
}
_ORDERED = (DType.INT, DType.FLOAT, DType.DECIMAL, DType.DATE, DType.DATETIME)
_BATCH = 200  # columns per summary query (see _measure)
_ONE_BY_ONE = {"non_finite"}  # uses a column twice: not over several columns at once
_SEP, _ROWS = "\x1f", "\x1frows"  # result names: column, unit separator, statistic
_IN_MEMORY = 10_000_000  # values: wide data this small is read once, then profiled in memory
_NOT_NULL = "every value was null when the contract was inferred; the type is a guess"


@dataclass
class _Profile:
    """What one query learned about one column."""

    name: str
    dtype: DType | None  # None: all null, type unknown
    native: Any
    stats: dict[str, Any] = field(default_factory=dict)

    def stat(self, key: str) -> Any:
        return self.stats.get(key)


def infer_contract(
    data: Any,
    *,
    name: str = "Inferred",
    max_categories: int = 20,
    exact_bounds: bool = False,
) -> Contract:
    """A contract that ``data`` satisfies, with types, nullability, ranges and formats.

    ``data`` is any frame narwhals accepts (Polars DataFrame or LazyFrame, pandas, PyArrow,
    DuckDB...). Numeric ranges are rounded outward to two significant digits unless
    ``exact_bounds`` (the observed extremes, as a profile has them). Raises
    :class:`~keel.errors.InputError` for data without rows.
    """
    with warnings.catch_warnings():
        # narwhals announces that Dask support moves to a separate package; nothing to do yet
        warnings.filterwarnings("ignore", message="Dask support is moving", category=FutureWarning)
        backend = _in_memory_when_small(_open(data))
        profiles, skipped = _profiles(backend.schema())
        try:
            rows = _measure(backend, profiles)
        except TypeError as exc:
            if backend.library != "dask":
                raise
            raise UsageError(  # Dask cannot build metadata for min/max of date columns
                f"Dask could not profile the data: {exc}.",
                hint="Infer from a sample instead: infer_contract(ddf.head(100_000)).",
            ) from exc
        if rows == 0:
            raise InputError(
                "cannot infer a contract from 0 rows.",
                hint="Pass a sample of the data that has rows.",
            )
        candidates = [p for p in profiles if _is_categorical(p, max_categories)]
        categories = _categories(backend, candidates)
    columns = tuple(_column(p, categories.get(p.name), exact_bounds) for p in profiles)
    notes = [f"Inferred from {rows:,} rows by keel.infer_contract; review before use."]
    notes += [f"Column {c!r} ({t}) was skipped: no contract type holds it." for c, t in skipped]
    return Contract(name=name, columns=columns, description="\n".join(notes))


def _open(data: Any) -> Backend:
    try:
        return open_frame(data)
    except UsageError as exc:
        kind = f"{type(data).__module__}.{type(data).__name__}"
        raise UsageError(
            f"cannot infer a contract from an object of type {kind}.", hint=exc.hint
        ) from exc


def _in_memory_when_small(backend: Backend) -> Backend:
    """Read small lazy Polars data (up to :data:`_IN_MEMORY` values) into memory once.

    Wide data is profiled in several queries (see :func:`_measure`); over a file each would
    read it again (a CSV is parsed whole for any projection), over data in memory none does.
    """
    if not (backend.lazy and backend.library == "polars"):
        return backend
    width = len(backend.schema())
    if width <= _BATCH:
        return backend  # one query anyway
    (rows,) = _collect(backend, backend.frame.select(nw.len())).row(0)
    if rows * width > _IN_MEMORY:
        return backend
    return open_frame(_collect(backend, backend.frame))


def _collect(backend: Backend, frame: Any) -> Any:
    """Run one query; an engine failure (a corrupt file...) is an :class:`InputError`."""
    import polars as pl

    try:
        return backend.collect(frame)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise engine_error(exc, None) from exc


def _dtype(native: Any) -> DType | None:
    for dtype in (DType.BOOL, *_ORDERED):
        if dtype.accepts(native):
            return dtype
    if native == nw.String:
        return DType.STR
    return DType.CATEGORICAL if DType.CATEGORICAL.accepts(native) else None


def _profiles(schema: dict[str, Any]) -> tuple[list[_Profile], list[tuple[str, str]]]:
    profiles, skipped = [], []
    for name, native in schema.items():
        if native == nw.Unknown:
            profiles.append(_Profile(name, None, native))
        elif (dtype := _dtype(native)) is not None:
            profiles.append(_Profile(name, dtype, native))
        else:
            skipped.append((name, str(native)))
    return profiles, skipped


def _stats(dtype: DType | None) -> Iterator[tuple[str, Callable[[Any], Any]]]:
    """The aggregates that profile a column of ``dtype`` (or several at once), by name."""
    yield "nulls", lambda x: x.null_count()
    if dtype in {DType.INT, DType.STR, DType.CATEGORICAL}:
        yield "distinct", lambda x: x.n_unique()  # counts null as one value
    if dtype in _ORDERED:
        yield "min", lambda x: x.min()
        yield "max", lambda x: x.max()
    if dtype is DType.FLOAT:  # engines differ on null; one column at a time (_ONE_BY_ONE)
        yield "non_finite", lambda x: (~x.is_finite() & ~x.is_null()).sum()
    if dtype is DType.STR:
        for key, pattern in PATTERNS.items():
            yield key, _matches(pattern)


def _matches(pattern: str) -> Callable[[Any], Any]:
    return lambda x: x.str.contains(pattern).sum()


def _measure(backend: Backend, profiles: list[_Profile]) -> int:
    """Run the summary queries; fill each profile's stats; return the row count.

    One query per :data:`_BATCH` columns: the streaming engine's cost of a ``select`` grows
    with the number of distinct counts times the columns they read, so one query over 10,000
    columns needs tens of GB where batches stay linear. Parquet reads only each batch's
    columns; narrow data (the common case) is still one query.
    """
    rows = 0
    for start in range(0, max(len(profiles), 1), _BATCH):
        rows = _measure_batch(backend, profiles[start : start + _BATCH])
    for profile in profiles:
        profile.stats["non_null"] = rows - int(profile.stat("nulls") or 0)
    return rows


def _measure_batch(backend: Backend, profiles: list[_Profile]) -> int:
    """One query: each statistic over all the batch's columns of a type in one expression
    (translating 40,000 single-column expressions took longer than running them)."""
    by_type: dict[DType | None, list[str]] = {}
    for profile in profiles:
        by_type.setdefault(profile.dtype, []).append(profile.name)
    exprs: list[Any] = [nw.len().alias(_ROWS)]
    for dtype, names in by_type.items():
        for stat, aggregate in _stats(dtype):
            suffix = f"{_SEP}{stat}"
            if stat in _ONE_BY_ONE:
                exprs += [aggregate(nw.col(name)).alias(name + suffix) for name in names]
            else:
                exprs.append(aggregate(nw.col(*names)).name.suffix(suffix))
    (row,) = _collect(backend, backend.frame.select(*exprs)).rows(named=True)
    for profile in profiles:
        for stat, _ in _stats(profile.dtype):
            profile.stats[stat] = row[f"{profile.name}{_SEP}{stat}"]
    return int(row[_ROWS])


def _distinct(profile: _Profile) -> int:
    """Distinct non-null values (``n_unique`` counts null as a value)."""
    distinct = int(profile.stat("distinct") or 0)
    return distinct - 1 if profile.stat("nulls") else distinct


def _is_categorical(profile: _Profile, max_categories: int) -> bool:
    if profile.dtype not in {DType.STR, DType.CATEGORICAL}:
        return False
    distinct = _distinct(profile)
    if not 0 < distinct <= max_categories:
        return False
    return profile.dtype is DType.CATEGORICAL or 2 * distinct <= profile.stat("non_null")


def _categories(backend: Backend, profiles: list[_Profile]) -> dict[str, tuple[str, ...]]:
    """The distinct values of low-cardinality text columns, in one query."""
    if not profiles:
        return {}
    aliases = [f"{i}" for i in range(len(profiles))]
    frame = backend.frame.select(
        *(nw.col(p.name).cast(nw.String).alias(a) for p, a in zip(profiles, aliases, strict=True))
    )
    pairs = frame.unpivot(on=aliases, variable_name="column", value_name="value").unique()
    values: dict[str, set[str]] = {}
    for alias, value in _collect(backend, pairs).iter_rows():
        if value is not None:
            values.setdefault(alias, set()).add(value)
    return {
        p.name: tuple(sorted(values.get(a, ()))) for p, a in zip(profiles, aliases, strict=True)
    }


def _column(profile: _Profile, categories: tuple[str, ...] | None, exact: bool) -> ColumnSpec:
    nullable = bool(profile.stat("nulls"))
    if profile.dtype is None:
        return ColumnSpec(name=profile.name, dtype=DType.STR, nullable=True, description=_NOT_NULL)
    if categories is not None:
        return ColumnSpec(
            name=profile.name, dtype=DType.CATEGORICAL, nullable=nullable, isin=categories
        )
    return ColumnSpec(
        name=profile.name, dtype=profile.dtype, nullable=nullable, **_constraints(profile, exact)
    )


def _constraints(profile: _Profile, exact: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    non_null = profile.stat("non_null")
    if profile.stat("non_finite"):  # NaN fails every bound, and infinities pass none
        return out
    if profile.stat("min") is not None:
        low, high = profile.stat("min"), profile.stat("max")
        out["ge"], out["le"] = (low, high) if exact else _outward(low, high, profile.dtype)
    if profile.dtype is DType.FLOAT and non_null:
        out["finite"] = True
    if profile.dtype in {DType.INT, DType.STR} and non_null > 1:
        out["unique"] = _distinct(profile) == non_null
    if profile.dtype is DType.STR and non_null:
        pattern = next((p for k, p in PATTERNS.items() if profile.stat(k) == non_null), None)
        if pattern is not None:
            out["pattern"] = pattern
    return out


_DIGITS = 2  # significant digits of a rounded bound
_INT64 = 2**63 - 1


def _outward(low: Any, high: Any, dtype: DType | None) -> tuple[Any, Any]:
    """``low`` and ``high`` rounded down and up to :data:`_DIGITS` significant digits of the
    larger magnitude (``(0.0036, 0.998)`` -> ``(0.0, 1.0)``; ``(18, 90)`` stays). Integers
    stay integers; a bound that would leave the type's range (an int past 64 bits, a float
    past the largest double) stays as observed. Dates, datetimes and decimals are kept."""
    if dtype not in {DType.INT, DType.FLOAT} or isinstance(low, bool):
        return low, high
    magnitude = max(abs(Decimal(low)), abs(Decimal(high)))
    if magnitude == 0:
        return low, high
    exponent = magnitude.adjusted() - (_DIGITS - 1)  # adjusted(): floor(log10)
    if dtype is DType.INT:
        exponent = max(exponent, 0)
    return _rounded(low, exponent, ROUND_FLOOR), _rounded(high, exponent, ROUND_CEILING)


def _rounded(value: Any, exponent: int, rounding: str) -> Any:
    with localcontext() as exact:
        exact.prec = 1_100  # a double's exact decimal form has under 1,100 digits
        quantized = Decimal(value).quantize(Decimal(1).scaleb(exponent), rounding=rounding)
    if isinstance(value, int):
        whole = int(quantized)
        return whole if abs(whole) <= _INT64 else value
    number = float(quantized)  # nearest double: never inside value, which is a double itself
    outward = number <= value if rounding == ROUND_FLOOR else number >= value
    return number if math.isfinite(number) and outward else value

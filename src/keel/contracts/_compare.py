"""How checks compare values, the same way on every engine (docs/contracts.md, "Semantics").

- Floats are compared in double precision: a Float32 column is widened first, so a bound
  means the number written in the contract (``le=0.1`` fails ``0.1f``, 0.10000000149).
- Integer bounds outside the column's storage range are decided without a literal the engine
  may not hold (PyArrow cannot make a UInt64 literal from a Python int ≥ 2**63).
- ``-0.0`` equals ``0.0`` (IEEE 754); where an engine hashes them apart (PyArrow, pandas,
  Dask), values and keys are made canonical first.
- A time-zone-aware column compares only with aware bounds, a naive one with naive bounds;
  anything else is an :class:`~keel.errors.InputError` naming the column and both zones.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import narwhals.stable.v2 as nw

from keel.contracts._types import DType
from keel.errors import InputError

__all__ = [
    "canonical",
    "compare",
    "dask_decimal",
    "dask_decimal_literal",
    "decimal_values",
    "record_bound",
    "record_values",
    "refuse_dask_decimal_arithmetic",
    "widened",
]

_HASH_SIGNED_ZERO = {"pandas", "pyarrow", "dask", "modin"}  # -0.0 and 0.0 hash apart there
_INT_LIMITS = {
    nw.Int8: (-(2**7), 2**7 - 1),
    nw.Int16: (-(2**15), 2**15 - 1),
    nw.Int32: (-(2**31), 2**31 - 1),
    nw.Int64: (-(2**63), 2**63 - 1),
    nw.Int128: (-(2**127), 2**127 - 1),
    nw.UInt8: (0, 2**8 - 1),
    nw.UInt16: (0, 2**16 - 1),
    nw.UInt32: (0, 2**32 - 1),
    nw.UInt64: (0, 2**64 - 1),
    nw.UInt128: (0, 2**128 - 1),
}
_OPS = {">=": "__ge__", ">": "__gt__", "<=": "__le__", "<": "__lt__"}
_EXACT_DOUBLE = 2**53  # integers beyond it may have no exact double


def widened(column: str, dtypes: Mapping[str, Any], library: str) -> Any:
    """The column as an expression, Float32 widened to Float64 (compare as the contract says).

    Dask casts to NumPy floats, where NaN becomes null; it compares Float32 data with a
    double literal in double precision already, so it is left alone.
    """
    expr = nw.col(column)
    dtype = dtypes.get(column)
    if dtype is not None and dtype == nw.Float32 and library != "dask":
        return expr.cast(nw.Float64)
    return expr


_FLOAT64_DIGITS = 15  # significant digits that survive a trip through a double
_DASK_HINT = (
    "Check the data as a Polars or pandas frame (ddf.compute() if it fits in memory), "
    "or keep the decimals to at most 15 significant digits."
)


def dask_decimal(column: str, dtype: Any) -> Any:
    """A decimal column as Dask compares it, as float64; refused when its precision exceeds
    the 15 significant digits a double holds exactly (the verdict could differ)."""
    precision = getattr(dtype, "precision", None)
    if precision is None or precision > _FLOAT64_DIGITS:
        raise InputError(
            f"column {column!r} is a decimal of precision {precision}: Dask compares decimals "
            f"as float64, exact to {_FLOAT64_DIGITS} significant digits, so this check could "
            "give another verdict than the other engines.",
            hint=_DASK_HINT,
        )
    return nw.col(column).cast(nw.Float64)


def refuse_dask_decimal_arithmetic(columns: Sequence[str]) -> NoReturn:
    """Arithmetic on decimals, which Dask would compute in float64 (inexact at any size)."""
    named = ", ".join(repr(c) for c in columns) or "a decimal literal"
    raise InputError(
        f"a rule does arithmetic on decimals ({named}): Dask computes decimals as float64, "
        "whose sums, differences and products are not the decimal ones (0.1 + 0.2 != 0.3), "
        "so the rule could give another verdict than the other engines.",
        hint="Check the data as a Polars or pandas frame (ddf.compute() if it fits in "
        "memory), or compare the decimal columns without arithmetic.",
    )


def dask_decimal_literal(value: decimal.Decimal) -> float:
    """A decimal literal as Dask compares it, refused beyond 15 significant digits."""
    digits = len(value.normalize().as_tuple().digits)
    if value.is_finite() and digits > _FLOAT64_DIGITS:
        raise InputError(
            f"the decimal {value} has {digits} significant digits: Dask compares decimals as "
            f"float64, exact to {_FLOAT64_DIGITS}, so this check could give another verdict "
            "than the other engines.",
            hint=_DASK_HINT,
        )
    return float(value)


def canonical(column: str, dtypes: Mapping[str, Any], library: str) -> Any:
    """The column with ``-0.0`` written ``0.0`` where the engine would hash them apart."""
    expr = widened(column, dtypes, library)
    dtype = dtypes.get(column)
    if library in _HASH_SIGNED_ZERO and dtype is not None and dtype.is_float():
        return nw.when(expr == 0.0).then(nw.lit(0.0)).otherwise(expr)
    return expr


def compare(column: str, op: str, bound: Any, dtypes: Mapping[str, Any], library: str) -> Any:
    """``column <op> bound`` as a narwhals expression, null where the value is null."""
    dtype = dtypes.get(column)
    if library == "dask" and isinstance(bound, decimal.Decimal):
        # Dask cannot compare with a decimal literal: both sides as float64 (15 digits)
        if isinstance(dtype, nw.Decimal):
            return getattr(dask_decimal(column, dtype), _OPS[op])(dask_decimal_literal(bound))
        return getattr(nw.col(column).cast(nw.Float64), _OPS[op])(dask_decimal_literal(bound))
    x = widened(column, dtypes, library)
    limits = _int_limits(dtype)
    if limits is not None and isinstance(bound, int) and not isinstance(bound, bool):
        low, high = limits
        if bound > high or bound < low:  # every value lies on one side of the bound
            below = bound > high
            holds = below == (op in ("<=", "<"))
            return (x == x) if holds else (x != x)  # noqa: PLR0124  # true/false, null on null
        if low == 0 and library == "pyarrow":  # a signed literal would make it cast the data
            return getattr(x, _OPS[op])(nw.lit(_arrow_unsigned(bound, high)))
    if dtype is not None and dtype.is_float() and isinstance(bound, int):
        bound = float(bound) if abs(bound) > _EXACT_DOUBLE else bound
    if isinstance(bound, dt.datetime):
        bound = _zoned_bound(column, dtype, bound)
    return getattr(x, _OPS[op])(bound)


def _arrow_unsigned(value: int, high: int) -> Any:
    import pyarrow as pa

    kinds = {2**8 - 1: pa.uint8(), 2**16 - 1: pa.uint16(), 2**32 - 1: pa.uint32()}
    return pa.scalar(value, type=kinds.get(high, pa.uint64()))


def pa_array(values: list[Any], dtype: Any) -> Any:
    """An Arrow array of ``values`` in the unsigned column type ``dtype``."""
    import pyarrow as pa

    name = str(dtype).lower()
    return pa.array(values, type=getattr(pa, name, pa.uint64)())


def _int_limits(dtype: Any) -> tuple[int, int] | None:
    if dtype is None or not dtype.is_integer():
        return None
    for kind, limits in _INT_LIMITS.items():
        if dtype == kind:
            return limits
    return None


def zone_of(dtype: Any) -> str | None:
    """The time zone of a Datetime dtype (``None`` when naive or not a datetime)."""
    return getattr(dtype, "time_zone", None) if isinstance(dtype, nw.Datetime) else None


def _zoned_bound(column: str, dtype: Any, bound: dt.datetime) -> dt.datetime:
    """A datetime bound made comparable with ``column``, or an InputError saying why not."""
    if not isinstance(dtype, nw.Datetime):
        return bound
    zone = zone_of(dtype)
    if (zone is None) == (bound.tzinfo is None):
        if zone is None or bound.tzinfo is None:
            return bound
        from zoneinfo import ZoneInfo

        return bound.astimezone(ZoneInfo(zone))
    theirs = "naive (no time zone)" if bound.tzinfo is None else f"in {bound.tzname()}"
    mine = "naive (no time zone)" if zone is None else f"in time zone {zone}"
    raise InputError(
        f"column {column!r} holds datetimes {mine}, but its bound {bound.isoformat()} is "
        f"{theirs}: the two cannot be compared.",
        hint="Declare the bound in the data's time zone (datetime(..., tzinfo=...)), or "
        "convert the data (dt.replace_time_zone / dt.convert_time_zone) before checking.",
    )


def check_zones(left: str, right: str, dtypes: Mapping[str, Any]) -> None:
    """Two datetime columns compared in a rule: both naive or both aware, else InputError."""
    a, b = dtypes.get(left), dtypes.get(right)
    if not (isinstance(a, nw.Datetime) and isinstance(b, nw.Datetime)):
        return
    za, zb = zone_of(a), zone_of(b)
    if (za is None) != (zb is None):
        raise InputError(
            f"columns {left!r} ({za or 'naive'}) and {right!r} ({zb or 'naive'}) cannot be "
            "compared: one has a time zone and the other has none.",
            hint="Give both columns a time zone (dt.replace_time_zone) before checking.",
        )


def isin_values(values: tuple[Any, ...], dtype: Any, library: str) -> Any:
    """The allowed values as compared with ``==``: NaN equals nothing, ``-0.0`` is ``0.0``;
    integers the column cannot hold are dropped (they match nothing)."""
    limits = _int_limits(dtype)
    if limits is not None:
        low, high = limits
        exact = [int(v) for v in values if _is_number(v) and _integral(v)]
        fits = [v for v in exact if low <= v <= high]
        if fits and low == 0 and library == "pyarrow":  # a signed array would overflow
            return pa_array(fits, dtype)
        if fits and low == 0 and library == "pandas":  # NumPy's uint64 suits both backends
            import numpy as np

            return np.array(fits, dtype=np.uint64)
        return fits
    if isinstance(dtype, nw.Decimal):
        return decimal_values(values, dtype)
    if dtype is None or not dtype.is_float():
        return list(values)
    # a number equals a float when their values are equal: ints without an exact double
    # (2**63 - 1) equal none; NaN equals nothing; -0.0 is 0.0
    return [float(v) + 0.0 for v in values if _is_number(v) and float(v) == v]


def record_values(values: tuple[Any, ...], dtype: DType) -> list[Any]:
    """:func:`isin_values` for one record's value of the logical type ``dtype`` (parsed JSON,
    of any size): the same equality, so a record is in a set exactly when its row would be."""
    if dtype is DType.INT:
        return [int(v) for v in values if _is_number(v) and _integral(v)]
    if dtype is DType.FLOAT:
        return [float(v) + 0.0 for v in values if _is_number(v) and float(v) == v]
    if dtype is DType.DECIMAL:
        return decimal_values(values, None)  # no scale: every exact value
    return [v for v in values if not (isinstance(v, float) and math.isnan(v))]


def record_bound(bound: Any, dtype: DType) -> Any:
    """A bound as :func:`compare` uses it, for one record's value of the logical type
    ``dtype``: an integer bound of a float column is the double nearest to it, a decimal
    column's bound the exact decimal."""
    if dtype is DType.FLOAT and isinstance(bound, int) and abs(bound) > _EXACT_DOUBLE:
        return float(bound)
    if dtype is DType.DECIMAL:
        return decimal.Decimal(bound)
    return bound


def _integral(value: Any) -> bool:
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def decimal_values(values: tuple[Any, ...], dtype: Any) -> list[decimal.Decimal]:
    """Allowed values for a decimal column, as decimals of its scale: a number equals a
    decimal when their values are equal (``1.5 == Decimal("1.50")``); a number that needs
    more digits than the column keeps (``0.1`` is 0.1000000000000000055...) equals none."""
    scale = getattr(dtype, "scale", None)
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        exact = decimal.Decimal(value)
        if scale is not None:
            step = decimal.Decimal(1).scaleb(-scale)
            if exact != exact.quantize(step, rounding=decimal.ROUND_DOWN):
                continue
            exact = exact.quantize(step)
        out.append(exact)
    return out

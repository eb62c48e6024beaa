"""``coerce=True``: columns cast to their declared types, losslessly or not at all.

A value that does not convert exactly becomes null in the cast column while its raw value
is kept aside, so the type check counts it as a failure (docs/contracts.md, "Semantics"):
``1.5``, ``NaN``, ``1e300`` and the text ``"1.5"`` for ``int``, whatever the source type
and the engine. Polars casts non-strictly; on other engines the values an ``int`` or
``float`` cast would truncate or refuse are made null first, and NumPy-backed pandas and Dask
(whose NumPy integers hold no nulls) get nullable integers, and text as float Arrow doubles
(where ``"nan"`` stays NaN). Other text conversions that an engine refuses outright stop
checking with an :class:`~keel.errors.InputError`.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

import narwhals.stable.v2 as nw

from keel.contracts._backends import Backend
from keel.contracts._contract import Contract
from keel.contracts._dtype_map import polars_type
from keel.contracts._types import DType
from keel.errors import InputError, first_line

__all__ = ["RAW", "coerce", "coercion_error"]

RAW = "__keel_raw__"
INT_TEXT = r"^[+-]?[0-9]+$"
FLOAT_TEXT = (
    r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN])$"
)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_EXACT_FLOAT = 2**53  # integers beyond ±2**53 may not have an exact float
BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_PANDAS = {"pandas", "dask", "modin"}


def coerce(
    backend: Backend, contract: Contract, dtypes: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Cast columns whose type differs from the declaration, keeping the raw values aside."""
    wrong = _wrong(contract, dtypes)
    if not wrong:
        return backend.frame, {}
    unsigned = _unsigned(backend.frame, wrong, dtypes)
    if backend.library == "polars":  # the same filter, then non-strict casts: nulls count
        filtered = backend.frame.with_columns(
            *(nw.col(c).alias(RAW + c) for c in wrong),
            *(_lossless(c, dtypes[c], d, c in unsigned).alias(c) for c, d in wrong.items()),
        )
        text = {c for c in wrong if dtypes[c] == nw.String}
        casts = [_polars_cast(c, c in text, d, c in unsigned) for c, d in wrong.items()]
        return nw.from_native(nw.to_native(filtered).with_columns(casts)), wrong
    frame, rest = backend.frame, dict(wrong)
    nullable: dict[str, DType] = {
        c: d
        for c, d in wrong.items()
        if d in (DType.INT, DType.BOOL) or (d is DType.FLOAT and dtypes[c] == nw.String)
    }
    if backend.library in _PANDAS and nullable:  # NumPy ints and bools cannot hold failures,
        # and a NumPy float's NaN is a missing value: text as Arrow doubles keeps "nan" NaN
        native = _pandas_cast(nw.to_native(frame), nullable, unsigned, backend.library)
        frame = nw.from_native(native)
        rest = {c: d for c, d in wrong.items() if c not in nullable}
    if rest:
        frame = frame.with_columns(
            *(nw.col(c).alias(RAW + c) for c in rest),
            *(
                _lossless(c, dtypes[c], d, c in unsigned).cast(_target(d, c in unsigned)).alias(c)
                for c, d in rest.items()
            ),
        )
    return frame, wrong


def _target(dtype: DType, unsigned: bool) -> Any:
    return nw.UInt64() if unsigned else dtype.target()


def _unsigned(frame: Any, wrong: dict[str, DType], dtypes: dict[str, Any]) -> set[str]:
    """The text columns coerced to ``int`` that hold an integer beyond Int64 and no negative
    one: they are cast to UInt64 (so up to 2**64-1 converts); other columns to Int64."""
    text = [c for c, d in wrong.items() if d is DType.INT and dtypes[c] == nw.String]
    if not text:
        return set()
    flags = frame.select(*(_beyond_int64(nw.col(c)).alias(c) for c in text))
    if isinstance(flags, nw.LazyFrame):
        flags = flags.collect()
    return {c for c, flag in zip(text, flags.row(0), strict=True) if flag}


def _digits(x: Any) -> tuple[Any, Any]:
    """An integer text's digits without sign and leading zeros, and how many there are:
    compared with a limit's digits, they say whether the integer fits a type."""
    digits = x.str.replace_all(r"^[+-]?0*", "")
    return digits, digits.str.len_chars()


def _beyond_int64(x: Any) -> Any:
    """Whether the text column ``x`` holds an integer above Int64 and no negative integer."""
    x = x.fill_null("")
    digits, size = _digits(x)
    above = (size > 19) | ((size == 19) & (digits > str(_INT64[1])))
    big = x.str.contains(INT_TEXT) & ~x.str.starts_with("-") & above
    negative = x.str.contains(r"^-0*[1-9][0-9]*$")
    return big.any() & ~negative.any()


def _wrong(contract: Contract, dtypes: dict[str, Any]) -> dict[str, DType]:
    """The columns whose stored type the declaration does not accept."""
    return {
        spec.name: spec.dtype
        for spec in contract.columns
        if spec.name in dtypes and not spec.dtype.accepts(dtypes[spec.name])
    }


def coercion_error(exc: Exception, contract: Contract, dtypes: dict[str, Any]) -> InputError:
    """An engine's refusal to convert a column (text ``'x'`` as a date) as a clear error."""
    listed = ", ".join(f"{c!r} to {d.value}" for c, d in _wrong(contract, dtypes).items())
    return InputError(
        f"could not coerce {listed}: {first_line(exc)}",
        hint="Convert the column yourself, or check the data as a Polars frame, where "
        "coerce=True reports each value that does not convert as a type failure.",
    )


def _lossless(column: str, source: Any, target: DType, unsigned: bool = False) -> Any:
    """Values a cast would truncate, round or refuse become null (the type check counts
    them): numbers an integer cannot hold exactly (1.5, NaN, 1e300), integers beyond ±2**53
    as floats, numbers other than 0 and 1 as booleans, and text outside the grammar of an
    integer (``-12``, ``+7``), a float (``1.5e3``, ``inf``) or a boolean (``true``/``yes``/``1``,
    ``false``/``no``/``0``); ``unsigned``: the integer text is within UInt64, not Int64."""
    x = nw.col(column)
    if source == nw.String:
        return _grammar(x, target, unsigned)
    if target is DType.INT and (source.is_float() or source == nw.Decimal):
        exact = (x == x.round(0)) & (x.abs() < 9.2e18)
        return nw.when(exact & x.is_finite() if source.is_float() else exact).then(x)
    if target is DType.FLOAT and source.is_integer():
        return nw.when((x <= _EXACT_FLOAT) & (x >= -_EXACT_FLOAT)).then(x)
    if target is DType.BOOL and source.is_numeric():
        return nw.when((x == 0) | (x == 1)).then(x)
    return x


def _grammar(x: Any, target: DType, unsigned: bool) -> Any:
    """Text that is an int, float or bool by the documented grammar; other text null."""
    if target is DType.INT and unsigned:  # no negative integer in the column, "-0" is 0
        digits, size = _digits(x)
        fits = (size < 20) | ((size == 20) & (digits <= str(_UINT64[1])))
        return nw.when(x.str.contains(INT_TEXT) & fits).then(x.str.replace_all(r"^[+-]", ""))
    if target is DType.INT:
        digits, size = _digits(x)
        edge = (digits <= str(_INT64[1])) | (x.str.starts_with("-") & (digits == str(-_INT64[0])))
        fits = (size < 19) | ((size == 19) & edge)
        return nw.when(x.str.contains(INT_TEXT) & fits).then(x.str.replace_all(r"^\+", ""))
    if target is DType.FLOAT:
        return nw.when(x.str.contains(FLOAT_TEXT)).then(x)
    if target is DType.BOOL:
        word = x.str.strip_chars().str.to_lowercase()
        yes = [w for w, v in BOOL_WORDS.items() if v]
        no = [w for w, v in BOOL_WORDS.items() if not v]
        return (
            nw.when(word.is_in(yes))
            .then(nw.lit(True))
            .otherwise(nw.when(word.is_in(no)).then(nw.lit(False)))
        )
    return x


_NULLABLE = {DType.INT: "Int64", DType.BOOL: "boolean", DType.FLOAT: "double[pyarrow]"}


def _pandas_cast(native: Any, columns: dict[str, DType], unsigned: set[str], library: str) -> Any:
    """pandas or Dask columns as nullable integers or booleans, values that do not convert
    exactly null; the raw columns are kept aside (NumPy ints and bools hold no nulls)."""
    raw = {RAW + c: native[c] for c in columns}
    dtypes = {c: "UInt64" if c in unsigned else _NULLABLE[d] for c, d in columns.items()}
    if library == "dask":
        import pandas as pd  # type: ignore[import-untyped]  # no stubs in the environment

        cast = {
            c: native[c].map_partitions(
                _exact_series, d, dtypes[c], meta=pd.Series([], dtype=dtypes[c], name=c)
            )
            for c, d in columns.items()
        }
    else:
        cast = {c: _exact_series(native[c], d, dtypes[c]) for c, d in columns.items()}
    return native.assign(**raw).assign(**cast)


def _exact_series(series: Any, target: DType, dtype: str) -> Any:
    import pandas as pd

    if target is DType.FLOAT:  # built as Arrow: pandas would take NaN for a missing value
        import pyarrow as pa

        doubles = pa.array([_exact_float(v) for v in series.tolist()], pa.float64())
        array = pd.arrays.ArrowExtensionArray(doubles)
        return pd.Series(array, index=series.index, name=series.name)
    bounds = _UINT64 if dtype == "UInt64" else _INT64
    values = [
        _exact_int(v, bounds) if target is DType.INT else _exact_bool(v) for v in series.tolist()
    ]
    return pd.Series(values, index=series.index, name=series.name, dtype=dtype)


_FLOAT_TEXT = re.compile(FLOAT_TEXT)


def _exact_float(value: Any) -> float | None:
    """Text as a float by the grammar of :data:`FLOAT_TEXT` (``"nan"`` is NaN), else ``None``."""
    return float(value) if isinstance(value, str) and _FLOAT_TEXT.match(value) else None


_INT_TEXT = re.compile(INT_TEXT)


def _exact_int(value: Any, bounds: tuple[int, int] = _INT64) -> int | None:
    """``value`` as an integer within ``bounds`` if it converts exactly, else ``None``."""
    if isinstance(value, str):
        found = int(value) if _INT_TEXT.match(value) else None
    elif isinstance(value, bool | int):
        found = int(value)
    elif isinstance(value, float):
        found = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, decimal.Decimal):
        found = int(value) if value.is_finite() and value == value.to_integral_value() else None
    else:  # None, pandas.NA, NaT
        found = None
    return found if found is not None and bounds[0] <= found <= bounds[1] else None


def _exact_bool(value: Any) -> bool | None:
    """``value`` as a boolean: a bool, 0 or 1, or one of the words of :data:`BOOL_WORDS`."""
    if isinstance(value, str):
        return BOOL_WORDS.get(value.strip().lower())
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def _polars_cast(column: str, text: bool, target: DType, unsigned: bool = False) -> Any:
    """A non-strict Polars cast of the filtered column (:func:`_lossless`); dates are parsed
    from ISO text (``text``: the column was read as text) rather than cast."""
    import polars as pl

    expr = pl.col(column)
    if text and target is DType.DATE:
        return expr.str.to_date(strict=False)
    if text and target is DType.DATETIME:
        return expr.str.to_datetime(strict=False, time_unit="us")
    return expr.cast(pl.UInt64 if unsigned else polars_type(target), strict=False)

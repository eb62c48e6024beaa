"""The input contract compiled once into a per-record checker for the request hot path.

A request carries a few records; building a dataframe to check them costs more than the
model's prediction, so each column's declared type, nullability and value checks (bounds,
``isin``/``notin``, pattern, lengths, finiteness: the same definitions the contract checks
on dataframes, see :mod:`keel.contracts`) become one small Python function, run record by
record. Checks that only a whole dataset can fail (``unique``, rules, ``mostly``) have no
per-record form and are skipped, as in the JSON Schema of the contract.

Problems come back as ``{"row": i, "field": "age", "error": "..."}``. A problem is *hard*
when the model cannot read the value at all (missing, wrong type, null in a column that is
not nullable): such records are refused in every mode. Value checks (``ge``, ``isin``, ...)
are *soft*: the ``reject`` mode refuses them, the ``warn`` mode predicts anyway and records
what was broken in the prediction log.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keel.contracts import ColumnSpec, Contract, DType, decimal_values, translate_pattern

__all__ = ["CheckedBatch", "RecordChecker"]

_MISSING = object()
Problem = dict[str, Any]
ValueCheck = Callable[[Any], str | None]


@dataclass
class CheckedBatch:
    """The records of one request after checking."""

    values: list[list[Any]]  # one row per record, contract column order, model-ready values
    errors: list[Problem]  # problems that refuse the request (hard, or soft in reject mode)
    violations: list[str | None]  # per record: soft problems let through (warn mode)


class RecordChecker:
    """Checks JSON records against a contract and orders their values for the model.

    ``mode`` is ``"reject"`` (any problem refuses the request) or ``"warn"`` (only problems
    that make a record unreadable do; value checks are recorded as violations).
    """

    def __init__(self, contract: Contract | None, *, mode: str = "reject") -> None:
        self.contract = contract
        self.mode = mode
        columns = contract.columns if contract is not None else ()
        self.names: tuple[str, ...] = tuple(c.name for c in columns)
        self.strict = bool(contract is not None and contract.strict)
        self.numeric = all(c.dtype in _NUMBERS for c in columns)
        self._columns = [_compile(c) for c in columns]
        self._fast = _fast_path(columns, strict=self.strict)

    def check(self, records: Sequence[Any]) -> CheckedBatch:
        """Check ``records`` (parsed JSON); never raises for bad data."""
        values: list[list[Any]] = []
        errors: list[Problem] = []
        violations: list[str | None] = []
        fast = self._fast
        for i, record in enumerate(records):
            if fast is not None and type(record) is dict:
                try:
                    found = fast(record)
                except (KeyError, TypeError):
                    found = None
                if found is not None:  # every value present, of its type, passing its checks
                    values.append(found)
                    violations.append(None)
                    continue
            row, violation = self._check_one(i, record, errors)
            values.append(row)
            violations.append(violation)
        return CheckedBatch(values, errors, violations)

    def _check_one(
        self, i: int, record: Any, errors: list[Problem]
    ) -> tuple[list[Any], str | None]:
        """The general path: every problem of record ``i`` into ``errors``, the soft ones
        (``warn`` mode) as the returned violation text."""
        if not isinstance(record, dict):
            errors.append({"row": i, "field": None, "error": "expected a JSON object"})
            return [], None
        warn = self.mode == "warn"
        row: list[Any] = []
        soft: list[str] = []
        for name, convert, checks in self._columns:
            value, problem = convert(record.get(name, _MISSING))
            row.append(value)
            if problem is not None:
                errors.append({"row": i, "field": name, "error": problem})
                continue
            failures = [] if value is None else [f for c in checks if (f := c(value)) is not None]
            for failed in failures:
                if warn:
                    soft.append(f"{name}: {failed}")
                else:
                    errors.append({"row": i, "field": name, "error": failed})
        if self.strict and len(record) > len(self.names):
            for extra in (k for k in record if k not in self.names):
                errors.append({"row": i, "field": extra, "error": "unexpected field"})
        return row, "; ".join(soft) if soft else None


_NUMBERS = (DType.INT, DType.FLOAT, DType.BOOL, DType.DECIMAL)
Converter = Callable[[Any], tuple[Any, str | None]]


_FAST_TYPES = {
    DType.INT: "type({v}) is int",
    DType.FLOAT: "(type({v}) is float or type({v}) is int)",
    DType.BOOL: "type({v}) is bool",
    DType.STR: "type({v}) is str",
    DType.CATEGORICAL: "type({v}) is str",
}
_FAST_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _fast_path(
    columns: Sequence[ColumnSpec], *, strict: bool
) -> Callable[[dict[str, Any]], list[Any] | None] | None:
    """One generated function that accepts a valid record in a single expression.

    It returns the record's values when every column is present, of its type and passes
    its checks, else None (or raises KeyError/TypeError): the general checker then runs
    and says what is wrong. Names and constants reach the code through its namespace,
    never as source text. Contracts with dates or decimals have no fast path.
    """
    if not columns or any(c.dtype not in _FAST_TYPES for c in columns):
        return None
    namespace: dict[str, Any] = {"isfinite": math.isfinite}
    reads: list[str] = []
    tests: list[str] = []
    for i, spec in enumerate(columns):
        v = f"v{i}"
        namespace[f"k{i}"] = spec.name
        reads.append(f"{v} = record[k{i}]")
        soft = spec.severity == "warn" or spec.mostly is not None
        parts = [_FAST_TYPES[spec.dtype].format(v=v)]
        if not soft:
            parts.extend(_fast_checks(spec, v, i, namespace))
        test = " and ".join(parts)
        if spec.nullable or soft:
            test = f"({v} is None or ({test}))"
        tests.append(test)
    if strict:
        tests.append(f"len(record) == {len(columns)}")
    values = ", ".join(f"v{i}" for i in range(len(columns)))
    body = "\n    ".join(reads)
    source = (
        f"def fast(record):\n    {body}\n"
        f"    if {' and '.join(tests)}:\n        return [{values}]\n    return None\n"
    )
    exec(
        compile(source, "<keel contract checker>", "exec"), namespace
    )  # source from the contract; values by name
    found: Callable[[dict[str, Any]], list[Any] | None] = namespace["fast"]
    return found


def _fast_checks(spec: ColumnSpec, v: str, i: int, namespace: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    for key, operator in _FAST_BOUNDS:
        bound = getattr(spec, key)
        if bound is not None:
            namespace[f"{key}{i}"] = bound
            parts.append(f"{v} {operator} {key}{i}")
    if spec.isin is not None:
        namespace[f"isin{i}"] = frozenset(spec.isin)
        parts.append(f"{v} in isin{i}")
    if spec.notin is not None:
        namespace[f"notin{i}"] = frozenset(spec.notin)
        parts.append(f"{v} not in notin{i}")
    if spec.pattern is not None:
        namespace[f"pattern{i}"] = re.compile(translate_pattern(spec.pattern, "python")).search
        parts.append(f"pattern{i}({v}) is not None")
    if spec.min_length is not None:
        parts.append(f"len({v}) >= {int(spec.min_length)}")
    if spec.max_length is not None:
        parts.append(f"len({v}) <= {int(spec.max_length)}")
    if spec.finite:
        parts.append(f"isfinite({v})")
    return parts


def _compile(spec: ColumnSpec) -> tuple[str, Converter, tuple[ValueCheck, ...]]:
    soft_only = spec.severity == "warn" or spec.mostly is not None
    nullable = spec.nullable or soft_only
    convert = _converter(spec.dtype, nullable)
    checks = () if soft_only else tuple(_value_checks(spec))
    return spec.name, convert, checks


def _converter(dtype: DType, nullable: bool) -> Converter:
    reader = _READERS[dtype]

    def convert(raw: Any) -> tuple[Any, str | None]:
        if raw is None or raw is _MISSING:
            if nullable:
                return None, None
            return None, "is required" if raw is _MISSING else "must not be null"
        return reader(raw)

    return convert


def _read_int(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is int:
        return raw, None
    if type(raw) is float and raw.is_integer():
        return int(raw), None
    return None, f"expected an integer, got {_kind(raw)}"


def _read_float(raw: Any) -> tuple[Any, str | None]:
    kind = type(raw)
    if kind is float or kind is int:
        return raw, None
    return None, f"expected a number, got {_kind(raw)}"


def _read_bool(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is bool:
        return raw, None
    return None, f"expected true or false, got {_kind(raw)}"


def _read_str(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        return raw, None
    return None, f"expected a string, got {_kind(raw)}"


def _read_date(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        try:
            return dt.date.fromisoformat(raw), None
        except ValueError:
            pass
    return None, f"expected a date as YYYY-MM-DD, got {_kind(raw)}"


def _read_datetime(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        try:
            return dt.datetime.fromisoformat(raw), None
        except ValueError:
            pass
    return None, f"expected an ISO 8601 date-time, got {_kind(raw)}"


def _read_decimal(raw: Any) -> tuple[Any, str | None]:
    if type(raw) in (int, float):
        return raw, None
    if type(raw) is str:
        try:
            found = decimal.Decimal(raw)
        except decimal.InvalidOperation:
            pass
        else:
            if found.is_finite():
                return found, None
    return None, f"expected a decimal number, got {_kind(raw)}"


_READERS: dict[DType, Callable[[Any], tuple[Any, str | None]]] = {
    DType.INT: _read_int,
    DType.FLOAT: _read_float,
    DType.BOOL: _read_bool,
    DType.STR: _read_str,
    DType.CATEGORICAL: _read_str,
    DType.DATE: _read_date,
    DType.DATETIME: _read_datetime,
    DType.DECIMAL: _read_decimal,
}


def _value_checks(spec: ColumnSpec) -> list[ValueCheck]:
    checks: list[ValueCheck] = []
    for key, test, words in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = getattr(spec, key)
        if bound is not None:
            checks.append(_bound(bound, test, words, spec.dtype))
    as_key = _decimal_key if spec.dtype is DType.DECIMAL else _same
    if spec.isin is not None:
        allowed = frozenset(_members(spec.isin, spec.dtype))
        shown = _listing(spec.isin)
        checks.append(
            lambda v: None if as_key(v) in allowed else f"must be one of {shown}, got {v!r}"
        )
    if spec.notin is not None:
        banned = frozenset(_members(spec.notin, spec.dtype))
        checks.append(lambda v: f"must not be {v!r}" if as_key(v) in banned else None)
    if spec.pattern is not None:
        search = re.compile(translate_pattern(spec.pattern, "python")).search
        pattern = spec.pattern
        checks.append(lambda v: None if search(v) else f"must match {pattern!r}, got {v!r}")
    if spec.min_length is not None or spec.max_length is not None:
        checks.append(_length(spec.min_length, spec.max_length))
    if spec.finite:
        checks.append(lambda v: None if math.isfinite(v) else f"must be finite, got {v!r}")
    return checks


def _same(value: Any) -> Any:
    return value


def _decimal_key(value: Any) -> Any:
    """A request's decimal as the number its JSON text says (``0.1`` is the decimal 0.1)."""
    if isinstance(value, float) and math.isfinite(value):
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value) if isinstance(value, int) else value


def _members(values: Sequence[Any], dtype: DType) -> list[Any]:
    """A contract's ``isin`` values as compared: for a decimal column, numbers by their exact
    value, as the dataframe engines compare them."""
    if dtype is not DType.DECIMAL:
        return list(values)
    return decimal_values(tuple(values), None)  # no scale: every exact value


def _bound(bound: Any, test: Callable[[Any, Any], bool], words: str, dtype: DType) -> ValueCheck:
    if dtype is DType.DECIMAL and isinstance(bound, int | float | decimal.Decimal):
        exact = decimal.Decimal(bound)

        def check_decimal(value: Any) -> str | None:
            ok = test(_decimal_key(value), exact)
            return None if ok else f"must be {words} {bound}, got {value}"

        return check_decimal

    def check(value: Any) -> str | None:
        try:
            ok = test(value, bound)
        except TypeError:  # a datetime against a date bound, say
            return f"cannot be compared with {bound!r}"
        return None if ok else f"must be {words} {bound}, got {value!r}"

    return check


def _length(low: int | None, high: int | None) -> ValueCheck:
    def check(value: Any) -> str | None:
        size = len(value)
        if (low is not None and size < low) or (high is not None and size > high):
            return f"length must be within [{low or 0}, {'' if high is None else high}], got {size}"
        return None

    return check


def _listing(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:10])
    return f"[{shown}{', ...' if len(values) > 10 else ''}]"


def _kind(raw: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    found = names.get(type(raw))
    if found is not None:
        return found if type(raw) is not str else f"the string {raw[:40]!r}"
    return repr(raw)[:40]

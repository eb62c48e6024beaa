"""The contract semantics of docs/contracts.md, row by row in plain Python.

No dataframe library and no Keel engine code: each check kind is written again from the
docs, so the conformance suite can hold every engine (and the serving record checker) to it.
``data`` maps a column name to its values (``None`` for null).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import operator
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

from keel.contracts import Check, Contract, DType
from keel.contracts._expr import Binary, Call, Column, Expr, Literal

Data = dict[str, list[Any]]
Verdict = tuple[str, int]  # (status, failures)

_OPS = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def key_of(value: Any) -> Hashable:
    """Uniqueness and keys: -0.0 is 0.0 and NaN is one value (as GROUP BY does)."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else value + 0.0
    return value


def python_pattern(pattern: str) -> re.Pattern[str]:
    """The documented dialect: ASCII classes, ``$`` at the end of the text only."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern), re.ASCII)


# -- row checks: the rows that fail -------------------------------------------------------
def range_fails(value: Any, bounds: dict[str, Any]) -> bool:
    return is_nan(value) or not all(_OPS[op](value, b) for op, b in bounds.items())


def isin_fails(value: Any, allowed: Sequence[Any], negate: bool) -> bool:
    found = any(value == a for a in allowed)  # IEEE ==: NaN equals nothing, -0.0 == 0.0
    return found if negate else not found


def pattern_fails(value: str, pattern: str) -> bool:
    return python_pattern(pattern).search(value) is None


def length_fails(value: str, low: int | None, high: int | None) -> bool:
    return (low is not None and len(value) < low) or (high is not None and len(value) > high)


def ordered_fails(values: Sequence[Any], strict: bool) -> bool:
    for a, b in itertools.pairwise(values):
        if a is None or b is None:
            continue  # a pair with a null is skipped
        if is_nan(a) or is_nan(b) or not (a < b if strict else a <= b):
            return True
    return False


def close_fails(left: Any, right: Any, abs_tol: float, rel_tol: float) -> bool:
    left, right = float(left), float(right)
    if not (math.isfinite(left) and math.isfinite(right)):
        return True
    return not abs(left - right) <= abs_tol + rel_tol * abs(right)


def duplicated_rows(data: Data, keys: Sequence[str]) -> int:
    """Rows whose key (no null in it) appears more than once."""
    rows = [tuple(data[k][i] for k in keys) for i in range(_length(data))]
    complete = [tuple(key_of(v) for v in row) for row in rows if None not in row]
    counts = Counter(complete)
    return sum(1 for row in complete if counts[row] > 1)


def dependency_rows(data: Data, key: Sequence[str], value: str) -> int:
    """Rows (no null in key or value) whose key maps to more than one value."""
    seen: dict[Hashable, set[Hashable]] = defaultdict(set)
    rows = []
    for i in range(_length(data)):
        k = tuple(data[c][i] for c in key)
        v = data[value][i]
        if None in k or v is None:
            continue
        kk = tuple(key_of(x) for x in k)
        seen[kk].add(key_of(v))
        rows.append(kk)
    return sum(1 for kk in rows if len(seen[kk]) > 1)


# -- coercion: lossless or a failure ------------------------------------------------------
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def int_from_text(values: Sequence[str | None]) -> list[int | None]:
    """Text as ``int``: ``[+-]?[0-9]+`` within Int64, or within UInt64 when no integer in the
    column is negative and one is beyond Int64; ``None`` for null and for what fails."""
    parsed = [int(v) if v is not None and _INT_TEXT.fullmatch(v) else None for v in values]
    numbers = [n for n in parsed if n is not None]
    unsigned = any(n > 2**63 - 1 for n in numbers) and all(n >= 0 for n in numbers)
    low, high = (0, 2**64 - 1) if unsigned else (-(2**63), 2**63 - 1)
    return [n if n is not None and low <= n <= high else None for n in parsed]


def float_from_text(value: str | None) -> float | None:
    """Text as ``float``: a decimal or exponent number, ``inf`` or ``nan`` (NaN, not null)."""
    try:
        return None if value is None or "_" in value or value != value.strip() else float(value)
    except ValueError:
        return None


# -- expressions: SQL's three-valued logic, IEEE NaN, division by zero is null -------------
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COMPARE |= {"==": operator.eq, "!=": operator.ne}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def evaluate(expr: Expr, data: Data, i: int) -> Any:
    """The value of a row-level expression on row ``i``; ``None`` when unknown (null)."""
    if isinstance(expr, Column):
        return data[expr.name][i]
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Binary):
        return _binary(expr.op, evaluate(expr.left, data, i), evaluate(expr.right, data, i))
    assert isinstance(expr, Call)
    return _function(expr, evaluate(expr.args[0], data, i))


def _function(call: Call, x: Any) -> Any:
    if call.fn in ("is_null", "is_not_null"):
        return (x is None) == (call.fn == "is_null")
    if x is None:
        return None
    if call.fn == "is_in":
        return any(x == v for v in call.args[1].value)  # type: ignore[attr-defined]
    functions = {"abs": abs, "is_nan": is_nan, "len_chars": len, "not": operator.not_}
    functions["is_finite"] = lambda v: not isinstance(v, float) or math.isfinite(v)
    return functions[call.fn](x)


def _binary(op: str, a: Any, b: Any) -> Any:
    if op in ("&", "|"):  # Kleene: a known false decides &, a known true decides |
        decisive = op == "|"
        if a is decisive or b is decisive:
            return decisive
        return None if a is None or b is None else (not decisive)
    if a is None or b is None:
        return None
    if op in _COMPARE:
        return False if is_nan(a) or is_nan(b) else _COMPARE[op](a, b)
    if op == "/":
        return None if b == 0 else a / b
    return _ARITH[op](a, b)


def aggregate_value(expr: Expr, data: Data) -> Any:
    """The value of a dataset-level expression: aggregations skip null (and NaN, for the
    statistics), comparisons are IEEE; ``None`` when undefined."""
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Binary):
        return _binary(expr.op, aggregate_value(expr.left, data), aggregate_value(expr.right, data))
    assert isinstance(expr, Call)
    assert isinstance(expr.args[0], Column)
    return _statistic(expr.fn, data[expr.args[0].name])


def _statistic(fn: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    numbers = [v for v in present if not is_nan(v)]
    counts = {
        "count": lambda: len(present),
        "null_count": lambda: len(values) - len(present),
        "n_unique": lambda: len({key_of(v) for v in values}),
        "sum": lambda: sum(numbers),  # of nothing: 0
    }
    if fn in counts:
        return counts[fn]()
    if not numbers or (fn in ("std", "var") and len(numbers) < 2):
        return None
    stats = {"mean": statistics.fmean, "min": min, "max": max}
    stats |= {"std": statistics.stdev, "var": statistics.variance}
    return stats[fn](numbers)


def correlation(data: Data, x: str, y: str) -> float | None:
    """Pearson's r over rows where both are set (not null, not NaN); ``None`` if undefined."""
    pairs = [
        (float(a), float(b))
        for a, b in zip(data[x], data[y], strict=True)
        if a is not None and b is not None and not is_nan(a) and not is_nan(b)
    ]
    if len(pairs) < 2:
        return None
    xs, ys = zip(*pairs, strict=True)
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def newest_age(values: Sequence[Any], now: dt.datetime) -> dt.timedelta | None:
    """How old the newest value is (a date ends at midnight; naive times are UTC)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    newest = max(present)
    if not isinstance(newest, dt.datetime):
        newest = dt.datetime.combine(newest, dt.time.max)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    return now - newest


def _length(data: Data) -> int:
    return len(next(iter(data.values()))) if data else 0


# -- verdicts -----------------------------------------------------------------------------
_TEXT = {DType.STR, DType.CATEGORICAL}


def verdicts(
    contract: Contract, data: Data, types: dict[str, DType] | None = None
) -> dict[str, Verdict]:
    """Status and failure count of every check, by check label. ``types`` are the logical
    types of the data's columns (the declared ones when not given)."""
    declared = {spec.name: spec.dtype for spec in contract.columns}
    types = declared if types is None else types
    usable = {c for c, t in declared.items() if c in types and _fits(t, types[c])}
    rows = _length(data)
    out: dict[str, Verdict] = {}
    for check in contract.checks():
        if check.kind == "columns":
            missing = [c for c in declared if c not in types]
            unexpected = [c for c in types if c not in declared] if contract.strict else []
            wrong = len(missing) + len(unexpected)
            out[check.label] = ("failed" if wrong else "passed", wrong)
        elif check.kind == "dtype":
            column = check.columns[0]
            ok = column in types and _fits(declared[column], types[column])
            failures = int(column in types and not ok)
            out[check.label] = ("passed" if ok else "failed", failures)
        elif not set(check.columns) <= usable:  # a column missing or of the wrong type
            out[check.label] = ("skipped", 0)
        else:
            failures, passed = _judge(check, data, rows)
            out[check.label] = ("passed" if passed else "failed", failures)
    return out


def _fits(declared: DType, actual: DType) -> bool:
    """A type accepts its own data; text types accept each other (docs: str, categorical)."""
    return declared == actual or {declared, actual} <= _TEXT


def _judge(check: Check, data: Data, rows: int) -> tuple[int, bool]:
    kind = check.kind
    if kind == "rows":
        ok = (check.min is None or rows >= check.min) and (check.max is None or rows <= check.max)  # type: ignore[attr-defined]
        return (0 if ok else 1), ok
    if kind == "null_fraction":
        nulls = sum(v is None for v in data[check.column])  # type: ignore[attr-defined]
        ok = (nulls / rows if rows else 0.0) <= check.max  # type: ignore[attr-defined]
        return nulls, ok
    if kind in _DATASET:
        ok = _DATASET[kind](check, data)
        return (0 if ok else 1), ok
    failures = _failing_rows(check, data)
    fraction = failures / rows if rows else 0.0
    ok = failures == 0 or (check.mostly is not None and fraction <= 1 - check.mostly + 1e-12)
    return failures, ok


def _correlated(check: Any, data: Data) -> bool:
    r = correlation(data, check.x, check.y)
    low = -1.0 if check.min is None else check.min
    high = 1.0 if check.max is None else check.max
    return r is not None and low <= max(-1.0, min(1.0, r)) <= high


def _fresh(check: Any, data: Data) -> bool:
    age = newest_age(data[check.column], check.now)
    return age is not None and age <= check.max_age


def _aggregate(check: Any, data: Data) -> bool:
    return bool(aggregate_value(check.expr, data))


_DATASET = {"correlated": _correlated, "fresh": _fresh, "aggregate": _aggregate}


def _pair_rows(check: Any, data: Data) -> int:
    names = check.chain if check.kind == "ordered" else (check.left.name, check.right.name)
    count = 0
    for row in zip(*(data[c] for c in names), strict=True):
        if check.kind == "ordered":
            count += ordered_fails(row, check.strict)
        elif None not in row:
            count += close_fails(row[0], row[1], check.abs_tol, check.rel_tol)
    return count


def _failing_rows(check: Any, data: Data) -> int:  # noqa: PLR0911  # one branch per kind
    kind = check.kind
    if kind == "unique":
        return duplicated_rows(data, check.keys)
    if kind == "functional_dependency":
        return dependency_rows(data, check.key, check.value)
    if kind == "not_null":
        return sum(v is None for v in data[check.column])
    if kind in ("ordered", "close"):
        return _pair_rows(check, data)
    if kind == "expression":  # fails where false; unknown (null) rows are skipped
        return sum(evaluate(check.expr, data, i) is False for i in range(_length(data)))
    values = [v for v in data[check.column] if v is not None]  # every other check skips null
    if kind == "range":
        bounds = {k: getattr(check, k) for k in _OPS if getattr(check, k) is not None}
        return sum(range_fails(v, bounds) for v in values)
    if kind == "isin":
        return sum(isin_fails(v, check.values, check.negate) for v in values)
    if kind == "pattern":
        return sum(pattern_fails(v, check.pattern) for v in values)
    if kind == "length":
        return sum(length_fails(v, check.min, check.max) for v in values)
    if kind == "finite":
        return sum(not math.isfinite(v) for v in values)
    raise NotImplementedError(kind)

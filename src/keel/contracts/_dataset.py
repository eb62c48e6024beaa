"""Dataset checks: statistics of the whole dataset (correlation, row count, null fraction,
freshness, custom aggregate rules), computed in the one summary query and judged in Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import narwhals.stable.v2 as nw

from keel.contracts._checks import Check, Outcome, Scope, _OnColumn, _OnExpression
from keel.contracts._expr import Column, Expr, aggregations, evaluate
from keel.errors import InputError
from keel.grammar import format_duration

__all__ = [
    "Aggregate",
    "Correlated",
    "Fresh",
    "Rows",
]


@dataclass(frozen=True, kw_only=True)
class Correlated(Check):
    """Pearson correlation of two columns lies in ``[min, max]`` (rows where both are set)."""

    x: str
    y: str
    min: float | None = None
    max: float | None = None
    kind: ClassVar[str] = "correlated"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.x, self.y)

    def default_name(self) -> str:
        low = "" if self.min is None else f"{self.min} <= "
        high = "" if self.max is None else f" <= {self.max}"
        return f"{low}corr({self.x}, {self.y}){high}"

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": [self.x, self.y]}
        out.update({k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None})
        return out

    def summary(self, scope: Scope) -> list[Any]:
        # NaN is not a number to correlate: treat it as missing, as nulls are
        x, y = (nw.col(c).fill_nan(None) if scope.is_float(c) else nw.col(c) for c in self.columns)
        pairs = (~x.is_null() & ~y.is_null()).sum()
        return [nw.corr(x, y), pairs]

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        r, pairs = values
        if r is None or not math.isfinite(float(r)) or int(pairs or 0) < 2:
            return Outcome(
                1, None, False, "correlation undefined: < 2 complete rows or no variance"
            )
        r = max(-1.0, min(1.0, float(r)))
        low = -1.0 if self.min is None else self.min
        high = 1.0 if self.max is None else self.max
        ok = low <= r <= high
        return Outcome(0 if ok else 1, round(r, 6), ok, "" if ok else f"correlation is {r:.4f}")


@dataclass(frozen=True, kw_only=True)
class Aggregate(_OnExpression, Check):
    """A custom dataset-level rule: ``keel.aggregate(Loan.amount.mean() < 50_000)``.

    The engine computes the aggregations (``mean``, ``max``...); the rest of the expression
    is judged in Python, so comparisons, NaN and nulls mean the same on every engine.
    """

    expr: Expr
    kind: ClassVar[str] = "aggregate"

    def summary(self, scope: Scope) -> list[Any]:
        return [call.compile(scope.floats, scope) for call in aggregations(self.expr)]

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        calls = aggregations(self.expr)
        found = {
            c.render(): _scalar(v, _dated(c, scope)) for c, v in zip(calls, values, strict=True)
        }
        for call in calls:  # counts and sums of no values are 0 (some SQL engines say null)
            if call.fn in _ZERO_WHEN_EMPTY and found[call.render()] is None:
                found[call.render()] = 0
        try:
            ok = evaluate(self.expr, found) is True
        except TypeError as exc:  # an aware maximum against a naive literal, say
            raise InputError(
                f"the rule {self.label!r} cannot compare its values: {exc}.",
                hint="Compare values of one kind: dates with dates, aware datetimes with "
                "aware ones (datetime(..., tzinfo=...)).",
            ) from exc
        return Outcome(0 if ok else 1, ok, ok, "" if ok else "the expression is false")


_ZERO_WHEN_EMPTY = {"count", "n_unique", "null_count", "sum"}


def _dated(call: Any, scope: Scope) -> bool:
    """Whether ``call`` takes the minimum or maximum of a date column."""
    arg = call.args[0]
    dtype = scope.dtypes.get(getattr(arg, "name", ""))
    return call.fn in ("min", "max") and isinstance(arg, Column) and dtype == nw.Date


def _scalar(value: Any, date: bool = False) -> Any:
    """An engine's scalar as plain Python: pandas' NA and NaT are null, NumPy numbers are
    Python numbers; with ``date``, a date (Dask computes dates as datetimes, and an empty
    maximum as NaN)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if type(value).__module__ == "numpy":
        value = value.item()
    if date and isinstance(value, float):
        return None
    if date and isinstance(value, dt.datetime):
        return value.date()
    return value


@dataclass(frozen=True, kw_only=True)
class Rows(Check):
    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "rows"

    @property
    def columns(self) -> tuple[str, ...]:
        return ()

    def default_name(self) -> str:
        low = "" if self.min is None else f"{self.min:,} <= "
        high = "" if self.max is None else f" <= {self.max:,}"
        return f"{low}rows{high}"

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
        return Outcome(0 if ok else 1, rows, ok, "" if ok else f"{rows:,} rows")


@dataclass(frozen=True, kw_only=True)
class Fresh(_OnColumn):
    """The newest timestamp in ``column`` is at most ``max_age`` old (naive times are UTC)."""

    max_age: dt.timedelta
    now: dt.datetime | None = field(default=None, compare=False)
    kind: ClassVar[str] = "fresh"

    def default_name(self) -> str:
        return f"{self.column}: newest within {format_duration(self.max_age)}"

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "max_age": format_duration(self.max_age)}

    def summary(self, scope: Scope) -> list[Any]:
        return [scope.column(self.column).max()]

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        newest = _scalar(values[0], date=scope.dtypes.get(self.column) == nw.Date)
        if not isinstance(newest, dt.date):  # None, or NaN (Dask's maximum of nothing)
            return Outcome(1, None, False, "no timestamps")
        now = self.now or dt.datetime.now(dt.UTC)
        if not isinstance(newest, dt.datetime):
            newest = dt.datetime.combine(newest, dt.time.max)
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        age = now - newest
        ok = age <= self.max_age
        shown = newest.isoformat()
        if ok:
            return Outcome(0, shown, ok, "")
        whole = dt.timedelta(seconds=round(age.total_seconds()))  # "3d", not "259200.0417s"
        return Outcome(1, shown, ok, f"newest is {format_duration(whole)} old")

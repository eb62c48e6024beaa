"""Rule constructors: checks across columns and over the whole dataset.

Every constructor takes columns as typed references (``Loan.q10``) or names (``"q10"``), and
the common options ``name=``, ``severity=`` and ``mostly=``. Use them in a schema's ``rules``
tuple or return them from a method decorated with :func:`rule`.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from keel.contracts._checks import (
    Check,
    Close,
    ExpressionRule,
    FunctionalDependency,
    NullFraction,
    Ordered,
    Unique,
)
from keel.contracts._dataset import (
    Aggregate,
    Correlated,
    Fresh,
    Rows,
)
from keel.contracts._expr import Column, Expr, parse_expr
from keel.contracts._field import Severity
from keel.errors import ContractDefinitionError, UsageError
from keel.grammar import Duration, parse_duration

__all__ = [
    "aggregate",
    "close",
    "correlated",
    "expression",
    "fresh",
    "functional_dependency",
    "null_fraction",
    "ordered",
    "rows",
    "rule",
    "unique",
]

ColumnRef = Column[Any] | str
F = TypeVar("F", bound=Callable[..., Any])
ALL_COLUMNS: tuple[str, ...] = ()


ColumnsOf = Callable[[Any], Sequence[ColumnRef]]
"""``lambda s: (s.q10, s.q50)``: columns picked from the schema class being defined."""


@dataclass(frozen=True, kw_only=True)
class Deferred(Check):
    """A rule whose columns are picked by a function of the schema class (``lambda s: ...``).

    The schema class resolves it when it is created; anywhere else it is an error.
    """

    build: Callable[[Any], Check]
    kind: ClassVar[str] = "deferred"

    @property
    def columns(self) -> tuple[str, ...]:
        raise ContractDefinitionError(
            "a rule written with a lambda picks its columns from a keel.Schema class, "
            "and can only be used in one.",
            hint="Put it in a Schema's rules, or name the columns: keel.ordered('a', 'b').",
        )


def _picked(value: object) -> bool:
    return callable(value) and not isinstance(value, Column | str)


def _name(ref: ColumnRef) -> str:
    if isinstance(ref, Column):
        return ref.name
    if isinstance(ref, str):
        return ref
    raise ContractDefinitionError(
        f"expected a column (Schema.column or its name), got {ref!r}.",
        hint="Pass Loan.income or 'income'.",
    )


def _expr(value: Expr | str) -> Expr:
    return parse_expr(value) if isinstance(value, str) else value


def ordered(
    *columns: ColumnRef | ColumnsOf,
    strict: bool = False,
    name: str | None = None,
    severity: Severity = "error",
    mostly: float | None = None,
) -> Check:
    """``columns[0] <= columns[1] <= ...`` on every row (``<`` with ``strict=True``).

    Columns are references (``S.q10``), names, or in a schema body one function that picks
    them from the class: ``keel.ordered(lambda s: (s.q10, s.q50, s.q90))``.
    """
    options: dict[str, Any] = {"strict": strict, "name": name, "severity": severity}
    if len(columns) == 1 and _picked(columns[0]):
        pick = typing.cast(ColumnsOf, columns[0])
        return Deferred(build=lambda cls: ordered(*pick(cls), **options, mostly=mostly))
    if len(columns) < 2:
        raise ContractDefinitionError(
            "ordered() needs at least two columns.", hint="keel.ordered(S.q10, S.q50, S.q90)"
        )
    chain = tuple(_name(typing.cast(ColumnRef, c)) for c in columns)
    return Ordered(chain=chain, strict=strict, name=name, severity=severity, mostly=mostly)


def expression(
    expr: Expr | str,
    *,
    name: str | None = None,
    severity: Severity = "error",
    mostly: float | None = None,
) -> Check:
    """A custom row-level rule: ``keel.expression(Sale.discount <= Sale.price * 0.5)``."""
    parsed = _expr(expr)
    if not parsed.columns() or parsed.is_aggregate():
        raise ContractDefinitionError(
            f"the rule {parsed} is not row-level: it must read columns outside aggregations.",
            hint="Use keel.aggregate(...) for rules over the whole dataset.",
        )
    return ExpressionRule(expr=parsed, name=name, severity=severity, mostly=mostly)


def close(
    left: Expr | str,
    right: Expr | str,
    *,
    abs_tol: float = 1e-9,
    rel_tol: float = 0.0,
    name: str | None = None,
    severity: Severity = "error",
    mostly: float | None = None,
) -> Check:
    """``left == right`` within a tolerance: ``close(S.total, S.price * S.qty, abs_tol=0.01)``."""
    if abs_tol < 0 or rel_tol < 0:
        raise ContractDefinitionError(
            f"close() tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}.",
            hint="Use abs_tol=0.01 for cents.",
        )
    return Close(
        left=_expr(left),
        right=_expr(right),
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        name=name,
        severity=severity,
        mostly=mostly,
    )


def correlated(
    x: ColumnRef | ColumnsOf,
    y: ColumnRef | None = None,
    *,
    min: float | None = None,  # mirrors the YAML keys min/max
    max: float | None = None,
    name: str | None = None,
    severity: Severity = "error",
) -> Check:
    """Pearson correlation of ``x`` and ``y`` lies within ``[min, max]``.

    In a schema body the pair may be picked from the class:
    ``keel.correlated(lambda s: (s.income, s.amount), min=0.0)``.
    """
    if _picked(x) and y is None:
        pick = typing.cast(ColumnsOf, x)
        return Deferred(
            build=lambda cls: correlated(*pick(cls), min=min, max=max, name=name, severity=severity)
        )
    if y is None:
        raise ContractDefinitionError(
            "correlated() needs two columns.", hint="keel.correlated(S.income, S.amount, min=0)"
        )
    for bound in (min, max):
        if bound is not None and not -1 <= bound <= 1:
            raise ContractDefinitionError(
                f"correlation bounds must lie in [-1, 1], got {bound}.",
                hint="min=0.0 asks for a non-negative correlation.",
            )
    if min is None and max is None:
        raise ContractDefinitionError(
            "correlated() needs min= or max=.", hint="correlated(S.income, S.amount, min=0.0)"
        )
    first = _name(typing.cast(ColumnRef, x))
    return Correlated(x=first, y=_name(y), min=min, max=max, name=name, severity=severity)


def functional_dependency(
    key: ColumnRef | Sequence[ColumnRef],
    value: ColumnRef,
    *,
    name: str | None = None,
    severity: Severity = "error",
    mostly: float | None = None,
) -> Check:
    """Each value of ``key`` maps to exactly one value of ``value`` (zip → state)."""
    keys = (key,) if isinstance(key, Column | str) else tuple(key)
    return FunctionalDependency(
        key=tuple(_name(k) for k in keys),
        value=_name(value),
        name=name,
        severity=severity,
        mostly=mostly,
    )


def aggregate(expr: Expr | str, *, name: str | None = None, severity: Severity = "error") -> Check:
    """A custom dataset-level rule: ``keel.aggregate(Loan.amount.mean() < 50_000)``."""
    parsed = _expr(expr)
    if not parsed.is_aggregate():
        raise ContractDefinitionError(
            f"the rule {parsed} is row-level: every column must be inside an aggregation.",
            hint="Use keel.expression(...) for row-level rules, or wrap columns in .mean() etc.",
        )
    return Aggregate(expr=parsed, name=name, severity=severity)


def rows(
    min: int | None = None,  # mirrors the YAML keys min/max
    max: int | None = None,
    *,
    name: str | None = None,
    severity: Severity = "error",
) -> Check:
    """The dataset has between ``min`` and ``max`` rows."""
    if min is None and max is None:
        raise ContractDefinitionError("rows() needs min= or max=.", hint="keel.rows(min=1_000)")
    if min is not None and max is not None and min > max:
        raise ContractDefinitionError(
            f"rows(min={min}, max={max}) can never pass.", hint="Use min <= max."
        )
    return Rows(min=min, max=max, name=name, severity=severity)


def unique(
    *columns: ColumnRef,
    name: str | None = None,
    severity: Severity = "error",
    mostly: float | None = None,
) -> Check:
    """No duplicate rows over ``columns`` (a key); with no columns, over all declared columns."""
    return Unique(
        keys=tuple(_name(c) for c in columns), name=name, severity=severity, mostly=mostly
    )


def null_fraction(
    column: ColumnRef,
    max: float,  # mirrors the YAML key
    *,
    name: str | None = None,
    severity: Severity = "error",
) -> Check:
    """At most a fraction ``max`` of ``column`` is null."""
    if not 0 <= max <= 1:
        raise ContractDefinitionError(
            f"null_fraction max must be in [0, 1], got {max}.", hint="max=0.05 allows 5% nulls."
        )
    return NullFraction(column=_name(column), max=max, name=name, severity=severity)


def fresh(
    column: ColumnRef,
    max_age: dt.timedelta | Duration | str,
    *,
    name: str | None = None,
    severity: Severity = "error",
) -> Check:
    """The newest value of ``column`` is at most ``max_age`` old (``"36h"``, ``"7d"``, or any
    duration: docs/cli.md#durations)."""
    try:
        age = parse_duration(max_age, where="max_age").timedelta
    except UsageError as exc:
        raise ContractDefinitionError(exc.message, hint=exc.hint) from None
    return Fresh(column=_name(column), max_age=age, name=name, severity=severity)


def rule(fn: F) -> F:
    """Mark a schema method as a rule; it is called with the class and returns checks.

    ``cls`` gives typed column references, so a misspelled column is a type error::

        class Loan(keel.Schema):
            q10: keel.Column[float]
            q90: keel.Column[float]

            @keel.rule
            def quantiles(cls) -> keel.Check:
                return keel.ordered(cls.q10, cls.q90)
    """
    fn.__keel_rule__ = True  # type: ignore[attr-defined]  # marker read by the schema class
    return fn

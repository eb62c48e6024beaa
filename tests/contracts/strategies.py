"""Hypothesis strategies for valid contracts: every column type, constraint and rule kind."""

from __future__ import annotations

import datetime as dt
import keyword
from typing import Any

from hypothesis import strategies as st

import keel
from keel.contracts import Check, ColumnSpec, Contract, DType, col, lit
from keel.contracts._field import Severity

# Names a column may have. Some are not Python identifiers, are keywords, or collide with
# Schema members: generated code must give those another attribute and alias them.
PLAIN_NAMES = ("id", "income", "state", "email", "opened", "ts", "amount", "q10", "q50", "zip")
AWKWARD_NAMES = ("my col", "2nd", "class", "rules", "keel", "_private", "größe", "a-b")
# Names an expression can hold: Column.render writes a keyword bare (`class`), which
# does not parse back, so expressions avoid keyword column names for now
EXPRESSION_SAFE = tuple(
    n for n in PLAIN_NAMES + AWKWARD_NAMES if not keyword.iskeyword(n) or not n.isidentifier()
)

_ORDERED_VALUES: dict[DType, st.SearchStrategy[Any]] = {
    DType.INT: st.integers(-(10**12), 10**12),
    DType.FLOAT: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000),
    DType.DECIMAL: st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.integers(-1000, 1000),
    DType.DATE: st.dates(),
    DType.DATETIME: st.datetimes(timezones=st.none() | st.just(dt.UTC)),
}
_TEXT = st.text(max_size=12)
_VALUES: dict[DType, st.SearchStrategy[Any]] = {
    **_ORDERED_VALUES,
    DType.BOOL: st.booleans(),
    DType.STR: _TEXT,
    DType.CATEGORICAL: _TEXT,
}
_PATTERNS = ("^a", "^[0-9]+$", r"^[^@\s]+@[^@\s]+$", "x|y", "é$", r"\d{3}")
_FRACTIONS = st.floats(min_value=0, max_value=1, exclude_min=True)
SEVERITIES: tuple[Severity, ...] = ("error", "warn")
_SEVERITIES = st.sampled_from(SEVERITIES)


def usable(name: str) -> bool:
    return name in PLAIN_NAMES


@st.composite
def column_specs(draw: st.DrawFn, name: str, attribute: str | None) -> ColumnSpec:
    dtype = draw(st.sampled_from(list(DType)))
    values: dict[str, Any] = {}
    if dtype.is_ordered:
        for key in ("ge", "gt", "le", "lt"):
            values[key] = draw(st.none() | _ORDERED_VALUES[dtype])
    for key in ("isin", "notin"):
        values[key] = draw(
            st.none() | st.tuples() | st.lists(_VALUES[dtype], max_size=3).map(tuple)
        )
    if dtype.is_textual:
        values["pattern"] = draw(st.none() | st.sampled_from(_PATTERNS))
        low = draw(st.none() | st.integers(0, 5))
        values["min_length"] = low
        values["max_length"] = draw(st.none() | st.integers(low or 0, 10))
    values["finite"] = dtype is DType.FLOAT and draw(st.booleans())
    return ColumnSpec(
        name=name,
        dtype=dtype,
        nullable=draw(st.booleans()),
        unique=draw(st.booleans()),
        mostly=draw(st.none() | _FRACTIONS),
        severity=draw(_SEVERITIES),
        description=draw(st.just("") | st.text(max_size=30)),
        attribute=attribute,
        **values,
    )


@st.composite
def _common(draw: st.DrawFn, mostly: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": draw(st.none() | st.text(min_size=1, max_size=10)),
        "severity": draw(_SEVERITIES),
    }
    if mostly:
        out["mostly"] = draw(st.none() | _FRACTIONS)
    return out


@st.composite
def _expression_rule(draw: st.DrawFn, names: list[str]) -> Check:
    safe = [n for n in names if n in EXPRESSION_SAFE]
    a, b = draw(st.sampled_from(safe)), draw(st.sampled_from(safe))
    number = draw(st.floats(-100, 100) | st.integers(-100, 100))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return keel.expression(col(a) <= col(b), **draw(_common()))
    if kind == 1:
        return keel.expression(abs(col(a) - col(b) * 2) <= number, **draw(_common()))
    if kind == 2:
        # `~` only at the top: inside an operator it renders as `a | not(b)`, not parseable
        return keel.expression(~(col(a).is_null() | (col(b) > lit("x"))), **draw(_common()))
    if kind == 3:
        return keel.expression(col(a).is_in([1, 2.5, "z", None]), **draw(_common()))
    if kind == 4:
        abs_tol, rel_tol = draw(st.floats(0, 1)), draw(st.floats(0, 1))
        return keel.close(
            col(a), col(b) / 3 + 1, abs_tol=abs_tol, rel_tol=rel_tol, **draw(_common())
        )
    return keel.aggregate(col(a).mean() - col(b).std() < number, **draw(_common(mostly=False)))


@st.composite
def _rule(draw: st.DrawFn, names: list[str]) -> Check:  # noqa: PLR0911  # one per rule kind
    some = st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)
    kind = draw(st.integers(0, 8))
    if kind == 0:
        chain = draw(st.lists(st.sampled_from(names), min_size=2, max_size=3))
        return keel.ordered(*chain, strict=draw(st.booleans()), **draw(_common()))
    if kind == 1:
        low = draw(st.none() | st.floats(-1, 1))
        high = draw(st.floats(-1, 1)) if low is None else draw(st.none() | st.floats(-1, 1))
        x, y = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        return keel.correlated(x, y, min=low, max=high, **draw(_common(mostly=False)))
    if kind == 2:
        low = draw(st.none() | st.integers(0, 10**6))
        higher = st.integers(low or 0, 10**7)
        high = draw(higher if low is None else st.none() | higher)
        return keel.rows(min=low, max=high, **draw(_common(mostly=False)))
    if kind == 3:
        return keel.unique(*draw(some), **draw(_common()))
    if kind == 4:
        value = draw(st.sampled_from(names))
        return keel.functional_dependency(draw(some), value, **draw(_common()))
    if kind == 5:
        fraction = draw(st.floats(0, 1))
        return keel.null_fraction(draw(st.sampled_from(names)), fraction, **draw(_common(False)))
    if kind == 6:
        age = draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=999)))
        return keel.fresh(draw(st.sampled_from(names)), age, **draw(_common(mostly=False)))
    if not any(n in EXPRESSION_SAFE for n in names):
        return keel.rows(min=1)
    return draw(_expression_rule(names))


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    """A valid contract. A column whose name cannot be an attribute carries one."""
    pool = st.sampled_from(PLAIN_NAMES + AWKWARD_NAMES)
    names = draw(st.lists(pool, min_size=0, max_size=6, unique=True))
    columns = tuple(
        draw(column_specs(name, None if usable(name) else f"col_{i}"))
        for i, name in enumerate(names)
    )
    rules = tuple(draw(st.lists(_rule(names), max_size=4))) if names else ()
    return Contract(
        name=draw(st.text(min_size=1, max_size=20)),
        columns=columns,
        rules=rules,
        strict=draw(st.booleans()),
        description=draw(st.just("") | st.text(max_size=40)),
        version=draw(st.just("") | st.text(max_size=5)),
    )

"""Expressions: text round trip, and engine results equal a plain-Python oracle."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import parse_expr

ints = st.lists(st.one_of(st.none(), st.integers(-50, 50)), min_size=1, max_size=30)
floats = st.one_of(
    st.none(), st.floats(-50, 50, allow_nan=False), st.just(math.nan), st.just(math.inf)
)


@given(
    st.sampled_from(
        [
            "abs(a - (b * 2)) <= 0.5",
            "(a > b) | is_null(b)",
            "a % 3 == 1",
            "not (a in [1, 2])",
            "mean(a) < max(b)",
            "a <= b <= 10",
        ]
    )
)
def test_text_form_round_trips(text: str) -> None:
    expr = parse_expr(text)
    assert parse_expr(expr.render()).render() == expr.render()


def _py_range_failures(xs: list[float | None], lo: float, hi: float) -> int:
    # the documented semantics: null skips; NaN fails every bound
    return sum(1 for x in xs if x is not None and (math.isnan(x) or not lo <= x <= hi))


@settings(max_examples=60, deadline=None)
@given(
    xs=st.lists(floats, min_size=1, max_size=40),
    lo=st.floats(-10, 0),
    hi=st.floats(0, 10),
    examples=st.integers(0, 5),
)
def test_range_failures_match_the_oracle(
    xs: list[float | None], lo: float, hi: float, examples: int
) -> None:
    class S(keel.Schema):
        x: float | None = keel.Field(ge=lo, le=hi)

    report = S.check(pl.DataFrame({"x": xs}, schema={"x": pl.Float64}), examples=examples)
    check = report.checks[-1]
    expected = _py_range_failures(xs, lo, hi)
    assert check.failures == expected
    assert check.passed is (expected == 0)
    assert len(check.examples) == min(expected, examples)
    assert all(not (lo <= e["values"]["x"] <= hi) for e in check.examples)


@settings(max_examples=60, deadline=None)
@given(a=ints, data=st.data())
def test_ordered_and_unique_match_the_oracle(a: list[int | None], data: st.DataObject) -> None:
    b = data.draw(
        st.lists(st.one_of(st.none(), st.integers(-50, 50)), min_size=len(a), max_size=len(a))
    )

    class S(keel.Schema):
        a: int | None = keel.Field(unique=True)
        b: int | None
        rules = (keel.ordered("a", "b"),)

    report = S.check(pl.DataFrame({"a": a, "b": b}, schema={"a": pl.Int64, "b": pl.Int64}))
    unordered = sum(
        1 for x, y in zip(a, b, strict=True) if x is not None and y is not None and x > y
    )
    counts = {v: a.count(v) for v in a if v is not None}
    duplicated = sum(n for n in counts.values() if n > 1)
    assert report["a <= b"].failures == unordered
    assert report["a: unique"].failures == duplicated


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=3, max_size=40)
)
def test_correlation_matches_numpy(pairs: list[tuple[float, float]]) -> None:
    import numpy as np

    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])

    class S(keel.Schema):
        x: float
        y: float
        rules = (keel.correlated("x", "y", min=-1.0),)

    observed = S.check(pl.DataFrame({"x": x, "y": y})).checks[-1].observed
    if x.std() < 1e-6 or y.std() < 1e-6:
        return  # near-constant columns: the correlation is numerically meaningless
    assert observed is not None
    assert math.isclose(observed, float(np.corrcoef(x, y)[0, 1]), abs_tol=1e-6)


def test_date_and_decimal_literals_round_trip_and_evaluate() -> None:
    class S(keel.Schema):
        d: dt.date
        rules = (keel.expression(keel.col("d") >= dt.date(2024, 1, 1)),)

    rule = S.__contract__.rules[0]
    assert rule.label == "d >= date('2024-01-01')"
    assert parse_expr(rule.label).render() == rule.label
    report = S.check(pl.DataFrame({"d": [dt.date(2023, 12, 31), dt.date(2024, 1, 1)]}))
    assert report[rule.label].failures == 1
    assert parse_expr("x == decimal('1.50')").render() == "x == decimal('1.50')"


def test_a_rule_compiles_each_node_once() -> None:
    """The unknown-mask of ``&`` and ``|`` reads the values of both sides: they are compiled
    once with it, not again per level (a long rule would compile quadratically)."""
    reads: Counter[str] = Counter()

    class Counting:
        def column(self, name: str) -> Any:
            reads[name] += 1
            return nw.col(name)

        def literal(self, value: Any) -> Any:
            return nw.lit(value)

        def arithmetic(self, columns: Sequence[str], literals: Sequence[Any]) -> None:
            return None

    names = [f"c{i}" for i in range(12)]
    rule = parse_expr(" & ".join(f"({n} > 0) | ({n} < -1)" for n in names))
    value, unknown = rule.compiled(dict.fromkeys(names, False), Counting())
    assert unknown is not None
    assert reads == dict.fromkeys(names, 2)  # each column is read twice in the rule
    frame = pl.DataFrame({n: [1, None, -5, 0] for n in names})
    assert nw.from_native(frame).select(value.alias("v"))["v"].to_list() == [
        True,
        False,
        True,
        False,
    ]

"""The record checker gives, row by row, the engine's verdict for every check kind.

Each check kind defines its frame expression and its per-record predicate side by side;
this holds the two to one answer: hypothesis draws a frame full of edge values (nulls, NaN,
±inf, -0.0, integer limits, empty and combining-character strings, dates, naive and aware
datetimes, decimals) and a contract with one check, then every row that the engine
(``check_data`` on Polars) reports failing a check is exactly a row whose record the record
checker refuses for that check.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import (
    Check,
    ColumnSpec,
    Contract,
    DType,
    check_data,
    dump_yaml,
    record_checker,
)
from keel.errors import InputError, UsageError
from tests.contracts.conformance.test_conformance import PER_RECORD, contracts, frames

ROW_RULES = ["ordered", "close", "expression"]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A row as a JSON request carries it: dates as ISO 8601 text, decimals as exact text."""
    return {name: _json(value) for name, value in row.items()}


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if isinstance(value, decimal.Decimal) else value


def _judged(check: Check) -> bool:
    """Checks with a per-record form (``mostly`` and warnings are judged on a share of rows)."""
    per_record = check.kind in (*PER_RECORD, "not_null", *ROW_RULES)
    return per_record and check.severity == "error" and check.mostly is None


def _engine_failing(contract: Contract, df: pl.DataFrame) -> dict[str, set[int]]:
    report = check_data(contract, df, examples=max(len(df), 1))
    return {c.name: {e["row"] for e in c.examples} for c in report.checks}


def _record_failing(contract: Contract, df: pl.DataFrame, check: Check) -> set[int]:
    """The rows whose record the checker refuses for ``check`` (a column's field, or the
    rule by its name)."""
    checker = record_checker(contract)
    failing = set()
    for i, row in enumerate(df.to_dicts()):
        for error in checker.check([_record(row)]).errors:
            rule = error["field"] is None and check.label in error["error"]
            if rule or (error["field"] == check.columns[0] and len(check.columns) == 1):
                failing.add(i)
    return failing


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(st.data())
def test_the_record_checker_refuses_exactly_the_rows_the_engine_fails(
    data: st.DataObject,
) -> None:
    df, types = data.draw(frames(numpy=False))
    # records carry doubles; a Float32 column stores rounded values, so compare those
    df = df.with_columns(pl.col("f").cast(pl.Float64), pl.col("s").cast(pl.String))
    zone = df.schema["t"].time_zone  # type: ignore[attr-defined]
    contract = data.draw(contracts(types, zone, kinds=[*PER_RECORD, "not_null", *ROW_RULES]))
    try:
        engine = _engine_failing(contract, df)
    except InputError:  # values the engine refuses to compare (an aware and a naive time)
        assume(False)
    judged = [check for check in contract.checks() if _judged(check)]
    for check in judged:
        got = _record_failing(contract, df, check)
        assert got == engine[check.label], (check.label, df.to_dicts(), dump_yaml(contract))
    # warn mode lets value checks and rules through, as violations on the same rows
    warned = record_checker(contract, mode="warn").check([_record(r) for r in df.to_dicts()])
    soft = [check for check in judged if check.kind != "not_null"]
    expected = {row for check in soft for row in engine[check.label]}
    assert {i for i, v in enumerate(warned.violations) if v is not None} == expected


# -- what the property found, pinned ------------------------------------------------------
def _refused(contract: Contract, record: dict[str, Any]) -> list[str]:
    return [e["error"] for e in record_checker(contract).check([record]).errors]


def _float_column(**constraints: Any) -> Contract:
    spec = ColumnSpec(name="x", dtype=DType.FLOAT, nullable=True, **constraints)
    return Contract(name="C", columns=(spec,))


def test_nan_is_in_no_set_even_when_it_is_the_very_object_listed() -> None:
    contract = _float_column(isin=(math.nan, 1.0))
    assert _refused(contract, {"x": math.nan}) == ["must be one of [nan, 1.0], got nan"]
    assert _refused(_float_column(notin=(math.nan,)), {"x": math.nan}) == []
    assert _refused(contract, {"x": -0.0}) == ["must be one of [nan, 1.0], got -0.0"]
    assert _refused(_float_column(isin=(0.0,)), {"x": -0.0}) == []


def test_row_rules_are_checked_per_record_and_skip_nulls() -> None:
    class Quantiles(keel.Schema):
        q10: float | None
        q90: float
        total: float
        price: float
        rules = (
            keel.ordered("q10", "q90"),
            keel.close("total", keel.col("price") * 2, abs_tol=0.01),
            keel.expression(keel.col("price") > 0),
        )

    contract: Contract = Quantiles.__contract__  # type: ignore[attr-defined]
    good = {"q10": 1.0, "q90": 2.0, "total": 4.0, "price": 2.0}
    assert _refused(contract, good) == []
    assert _refused(contract, {**good, "q10": None}) == []  # a null input skips the rule
    assert _refused(contract, {**good, "q10": 3.0}) == ["breaks the rule 'q10 <= q90'"]
    assert _refused(contract, {**good, "q10": math.nan}) == ["breaks the rule 'q10 <= q90'"]
    assert _refused(contract, {**good, "total": 5.0}) == ["breaks the rule 'total == price * 2'"]
    warned = record_checker(contract, mode="warn").check([{**good, "price": -2.0, "total": -4.0}])
    assert warned.errors == []
    assert warned.violations == ["breaks the rule 'price > 0'"]


def test_dataset_checks_mostly_and_warnings_have_no_per_record_form() -> None:
    class Loose(keel.Schema):
        a: int = keel.Field(unique=True, ge=0, mostly=0.9)
        b: int = keel.Field(le=0, severity="warn")
        rules = (keel.rows(min=5), keel.ordered("a", "b", mostly=0.5))

    checked = record_checker(Loose.__contract__).check([{"a": -1, "b": None}])  # type: ignore[attr-defined]
    assert checked.errors == []


def test_the_mode_is_reject_or_warn() -> None:
    with pytest.raises(UsageError, match="'reject' or 'warn'"):
        record_checker(None, mode="strict")


def test_an_integer_in_a_float_column_is_the_double_a_frame_would_hold() -> None:
    contract = _float_column(le=2.0**53)
    big = 2**53 + 1  # stored as 2**53 in a Float64 column, so within the bound
    engine = check_data(contract, pl.DataFrame({"x": [big]}, schema={"x": pl.Float64}))
    assert engine.passed
    checked = record_checker(contract).check([{"x": big}])
    assert checked.errors == []
    assert checked.values == [[float(big)]]
    assert _refused(contract, {"x": 10**400}) == [
        "expected a number within the range of a double, got " + repr(10**400)[:40]
    ]


@pytest.mark.parametrize(
    ("dtype", "constraints", "value"),
    [
        (DType.FLOAT, {"ge": 2**63 + 1}, 2.0**63),  # the bound as the double nearest to it
        (DType.FLOAT, {"isin": (2**53 + 1, 1)}, 2.0**53),  # an int without a double: no match
        (DType.INT, {"isin": (True, 2)}, 1),  # a boolean is not the number 1
        (DType.INT, {"isin": (2.0, 1.5)}, 2),
        (DType.INT, {"notin": (True,)}, 1),
    ],
)
def test_bounds_and_sets_mean_on_a_record_what_they_mean_on_a_frame(
    dtype: DType, constraints: dict[str, Any], value: Any
) -> None:
    spec = ColumnSpec(name="x", dtype=dtype, **constraints)
    contract = Contract(name="C", columns=(spec,))
    storage = pl.Float64 if dtype is DType.FLOAT else pl.Int64
    engine = check_data(contract, pl.DataFrame({"x": [value]}, schema={"x": storage}))
    assert (_refused(contract, {"x": value}) == []) == engine.passed


@pytest.mark.parametrize("rule", ["d * 0.5 < 0.5", "d == 0.1", "d + 1 > 1.05", "d - 0.05 >= 0.05"])
def test_a_decimal_met_with_a_float_is_computed_as_a_float_as_on_a_frame(rule: str) -> None:
    spec = ColumnSpec(name="d", dtype=DType.DECIMAL)
    contract = Contract(name="C", columns=(spec,), rules=(keel.expression(rule),))
    texts = ["0.10", "1.50", "0.05"]
    frame = pl.DataFrame(
        {"d": [decimal.Decimal(t) for t in texts]}, schema={"d": pl.Decimal(12, 2)}
    )
    engine = _engine_failing(contract, frame)[contract.rules[0].label]
    checked = record_checker(contract).check([{"d": t} for t in texts])
    assert {e["row"] for e in checked.errors} == engine


@pytest.mark.parametrize("rule", ["a % b == 1", "f % g < 1", "is_nan(a % b)", "is_null(f % g)"])
def test_modulo_by_zero_is_what_a_frame_computes(rule: str) -> None:
    specs = tuple(
        ColumnSpec(name=n, dtype=DType.INT if n in "ab" else DType.FLOAT, nullable=True)
        for n in "abfg"
    )
    contract = Contract(name="C", columns=specs, rules=(keel.expression(rule),))
    rows = {"a": [-3, 3, 5, None], "b": [2, 0, 0, 1], "f": [-3.5, 3.5, 1.0, 2.0]}
    rows["g"] = [2.0, 0.0, -0.0, None]
    engine = _engine_failing(contract, pl.DataFrame(rows))[contract.rules[0].label]
    records = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    checked = record_checker(contract).check(records)
    assert {e["row"] for e in checked.errors} == engine

"""The request checker: the generated fast path for valid records agrees with the general
checker on every record (valid or not), and problems are reported per field."""

from __future__ import annotations

import decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import ColumnSpec, Contract, DType, RecordChecker


class Order(keel.Schema):
    qty: int = keel.Field(ge=1, le=10)
    price: float | None = keel.Field(gt=0)
    kind: str = keel.Field(isin=["a", "b"])
    code: str = keel.Field(pattern=r"^[A-Z]{2}\d$", max_length=3)
    rush: bool
    note: str = keel.Field(min_length=2, severity="warn")


CONTRACT = Order.__contract__
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(-2, 20, allow_nan=False),
    st.sampled_from(["a", "b", "c", "AB1", "ab1", "ABC1", "x", "longer"]),
    st.lists(st.integers(), max_size=2),
)
RECORDS = st.dictionaries(
    st.sampled_from(["qty", "price", "kind", "code", "rush", "note", "extra"]), VALUES
)


def _general(mode: str, strict: bool) -> RecordChecker:
    checker = RecordChecker(CONTRACT.with_strict(strict), mode=mode)
    checker._fast = None  # the general path alone, to compare with
    return checker


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(st.one_of(RECORDS, st.integers()), min_size=1, max_size=4),
    mode=st.sampled_from(["reject", "warn"]),
    strict=st.booleans(),
)
def test_the_fast_path_agrees_with_the_general_checker(
    records: list[Any], mode: str, strict: bool
) -> None:
    fast = RecordChecker(CONTRACT.with_strict(strict), mode=mode)
    assert fast._fast is not None
    assert fast.check(records) == _general(mode, strict).check(records)


def test_valid_records_come_back_in_contract_order() -> None:
    record = {"rush": True, "code": "AB1", "kind": "a", "price": None, "qty": 3, "note": "n"}
    checked = RecordChecker(CONTRACT).check([record])
    assert checked.errors == []
    assert checked.values == [[3, None, "a", "AB1", True, "n"]]
    assert checked.violations == [None]


def test_every_problem_is_reported_per_field() -> None:
    record = {"qty": 0, "price": -1.0, "kind": "z", "code": "ab1", "rush": 1, "note": "n"}
    checked = RecordChecker(CONTRACT).check([record])
    errors = {e["field"]: e["error"] for e in checked.errors}
    assert errors == {
        "qty": "must be >= 1, got 0",
        "price": "must be > 0, got -1.0",
        "kind": "must be one of ['a', 'b'], got 'z'",
        "code": "must match '^[A-Z]{2}\\\\d$', got 'ab1'",
        "rush": "expected true or false, got 1",
    }


def test_warn_mode_lets_value_problems_through_as_violations() -> None:
    record = {"qty": 11, "price": 2.0, "kind": "a", "code": "AB1", "rush": False, "note": "n"}
    checked = RecordChecker(CONTRACT, mode="warn").check([record])
    assert checked.errors == []
    assert checked.violations == ["qty: must be <= 10, got 11"]


def test_a_decimal_sent_as_a_json_number_is_the_decimal_its_text_says() -> None:
    contract = Contract(
        name="D",
        columns=(
            ColumnSpec(
                name="x",
                dtype=DType.DECIMAL,
                isin=(decimal.Decimal("0.10"), 2),
                le=decimal.Decimal("2.00"),
            ),
        ),
    )
    checker = RecordChecker(contract)
    records = [{"x": 0.1}, {"x": "0.1"}, {"x": 2}, {"x": 0.2}, {"x": "2.01"}]
    assert [e["row"] for e in checker.check(records).errors] == [3, 4, 4]

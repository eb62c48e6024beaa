"""A contract as the JSON Schema of one record (the future HTTP request schema)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import ColumnSpec, Contract, DType, record_checker
from keel.contracts._jsonschema import to_json_schema
from tests.contracts.strategies import contracts


def schema_of(**spec: Any) -> dict[str, Any]:
    """The property schema of a single column ``x``."""
    contract = Contract(name="T", columns=(ColumnSpec(name="x", **spec),))
    schema: dict[str, Any] = to_json_schema(contract)["properties"]["x"]
    return schema


def _text_of(dtype: DType) -> st.SearchStrategy[tuple[DType, str]]:
    pattern = schema_of(dtype=dtype)["pattern"]
    return st.from_regex(pattern, fullmatch=True).map(lambda text: (dtype, text))


class Loan(keel.Schema, strict=True):
    """Loans we book."""

    id: keel.Column[int] = keel.Field(ge=1)
    income: keel.Column[float | None] = keel.Field(ge=0, lt=1e7, description="yearly, USD")
    state: keel.Column[keel.Categorical] = keel.Field(isin=["CA", "NY"])

    rules = (keel.rows(min=1),)


def test_object_with_every_column_required() -> None:
    assert Loan.to_json_schema() == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Loan",
        "description": "Loans we book.",
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "income": {
                "type": ["number", "null"],
                "description": "yearly, USD",
                "minimum": 0,
                "exclusiveMaximum": 1e7,
            },
            "state": {"type": "string", "enum": ["CA", "NY"]},
        },
        "required": ["id", "income", "state"],
        "additionalProperties": False,
    }


def test_not_strict_allows_other_properties() -> None:
    schema = to_json_schema(Contract(name="T", columns=()))
    assert "additionalProperties" not in schema
    assert schema["required"] == []


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (DType.INT, {"type": "integer"}),
        (DType.FLOAT, {"type": "number"}),
        (DType.BOOL, {"type": "boolean"}),
        (DType.STR, {"type": "string"}),
        (DType.CATEGORICAL, {"type": "string"}),
    ],
)
def test_types(dtype: DType, expected: dict[str, Any]) -> None:
    assert schema_of(dtype=dtype) == expected


@pytest.mark.parametrize(("dtype", "form"), [(DType.DATE, "date"), (DType.DATETIME, "date-time")])
def test_dates_are_text_with_a_format_and_a_pattern(dtype: DType, form: str) -> None:
    schema = schema_of(dtype=dtype)
    assert (schema["type"], schema["format"]) == ("string", form)
    assert schema["pattern"].startswith("^")
    assert schema["pattern"].endswith("$")


GOOD_DATES = ["2024-01-31", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "1900-02-28"]
BAD_DATES = [
    "2024-13-45",
    "yesterday",
    "2023-02-29",  # not a leap year
    "1900-02-29",  # divisible by 100, not by 400
    "2024-04-31",
    "0000-01-01",
    "2024-1-01",
    "2024-01-01T10:00:00",  # a datetime is not a date
    " 2024-01-01",
]
ISO_BASIC = ["20240101", "2024-01-01", "2024-01-01T10:00"]  # ISO 8601, not RFC 3339
GOOD_DATETIMES = [
    "2024-02-29T23:59:59",
    "2024-01-01T10:00:00Z",
    "2024-01-01t10:00:00.5+05:30",
    "2024-01-01 10:00:00.123456-08:00",
]
BAD_DATETIMES = [
    "2024-13-45T10:00:00",
    "yesterday",
    "2024-01-01T24:00:00",
    "2024-01-01T10:00:60",  # leap seconds: Python's datetime has none
    "2024-01-01T10:00:00+24:00",
    "2024-01-01T10:00:00z",  # fromisoformat reads Z only
    "2023-02-29T10:00:00Z",
]


def test_dates_validate_as_such_in_a_default_draft_2020_12_validator() -> None:
    """A default validator does not assert ``format``; the pattern makes a client's
    validator refuse what the server refuses. It asks for RFC 3339 forms: ISO 8601's
    basic and shortened forms, which the server also reads, are refused."""
    from jsonschema import Draft202012Validator

    class Event(keel.Schema):
        day: keel.Column[dt.date]
        at: keel.Column[dt.datetime]

    validator = Draft202012Validator(Event.to_json_schema())
    assert validator.format_checker is None
    checker = record_checker(Event.__contract__)  # type: ignore[attr-defined]
    at, day = GOOD_DATETIMES[0], GOOD_DATES[0]
    cases = [({"day": d, "at": at}, d in GOOD_DATES) for d in GOOD_DATES + BAD_DATES]
    cases += [({"day": day, "at": t}, t in GOOD_DATETIMES) for t in GOOD_DATETIMES + BAD_DATETIMES]
    for record, good in cases:
        assert validator.is_valid(record) is good, record
        assert (not checker.check([record]).errors) is good, record
    lenient = [{"day": ISO_BASIC[0], "at": at}, *({"day": day, "at": t} for t in ISO_BASIC[1:])]
    for record in lenient:
        assert not validator.is_valid(record), record
        assert not checker.check([record]).errors, record


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([DType.DATE, DType.DATETIME]).flatmap(_text_of))
def test_anything_the_pattern_accepts_the_server_reads(drawn: tuple[DType, str]) -> None:
    dtype, text = drawn
    contract = Contract(name="T", columns=(ColumnSpec(name="x", dtype=dtype),))
    assert record_checker(contract).check([{"x": text}]).errors == []


def test_decimal_is_a_number_or_decimal_text() -> None:
    schema = schema_of(dtype=DType.DECIMAL, ge=decimal.Decimal("0.5"), le=decimal.Decimal(10))
    assert schema["type"] == ["string", "number"]
    assert (schema["minimum"], schema["maximum"]) == (0.5, 10)
    assert isinstance(schema["maximum"], int)
    assert schema["pattern"] == r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def test_nullable_adds_null_to_type_and_enum() -> None:
    schema = schema_of(dtype=DType.STR, nullable=True, isin=("a", "b"))
    assert schema == {"type": ["string", "null"], "enum": ["a", "b", None]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ge": 0}, {"minimum": 0}),
        ({"gt": 0}, {"exclusiveMinimum": 0}),
        ({"le": 3}, {"maximum": 3}),
        ({"lt": 2}, {"exclusiveMaximum": 2}),
        ({"notin": (0, -1)}, {"not": {"enum": [0, -1]}}),
        ({"isin": (1, 2)}, {"enum": [1, 2]}),
    ],
)
def test_numeric_value_checks(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert schema_of(dtype=DType.INT, **spec) == {"type": "integer", **expected}


def test_text_checks() -> None:
    schema = schema_of(dtype=DType.STR, pattern="^[a-z]+$", min_length=1, max_length=8)
    assert schema == {"type": "string", "pattern": "^[a-z]+$", "minLength": 1, "maxLength": 8}


@pytest.mark.parametrize(
    ("pattern", "emitted", "matches", "misses"),
    [
        (r"^\w+$", "^[0-9A-Za-z_]+$", ["ab_1"], ["é", "e\u0301", "日本", "ab-1"]),
        (r"^\d+$", "^[0-9]+$", ["123"], ["١٢٣", "12a"]),
        (r"\s", "[\\t\\n\\x0B\\f\\r ]", ["a b", "a\tb"], ["a\u00a0b", "ab"]),
        (r"^[\w-]+\z", "^[0-9A-Za-z_-]+$", ["a-b"], ["aé"]),
        (r"\Aa.c", "^a[^\\n]c", ["abc", "a\u2028c"], ["a\nc", "xabc"]),
        (r"(?P<y>\d{4})-\D", "(?<y>[0-9]{4})-[^0-9]", ["2024-x"], ["2024-1"]),
    ],
)
def test_patterns_are_emitted_in_ecma_262_with_the_contracts_meaning(
    pattern: str, emitted: str, matches: list[str], misses: list[str]
) -> None:
    found = schema_of(dtype=DType.STR, pattern=pattern)["pattern"]
    assert found == emitted
    # Python's re reads these ASCII-only constructs as ECMA-262 does (named groups aside);
    # with or without re.ASCII, the emitted pattern gives the contract's answer
    python = found.replace("(?<", "(?P<")
    for flags in (0, re.ASCII):
        assert [bool(re.search(python, v, flags)) for v in matches + misses] == [True] * len(
            matches
        ) + [False] * len(misses)


def test_a_pattern_with_inline_flags_has_no_ecma_262_form_and_is_left_out() -> None:
    assert schema_of(dtype=DType.STR, pattern="(?i)^abc$") == {"type": "string"}


def test_dates_in_enums_are_iso_text_and_date_bounds_are_left_out() -> None:
    schema = schema_of(dtype=DType.DATE, ge=dt.date(2020, 1, 1), isin=(dt.date(2021, 5, 4),))
    assert schema["enum"] == ["2021-05-04"]
    assert set(schema) == {"type", "format", "pattern", "enum"}


def test_soft_checks_keep_the_type_but_allow_null_and_any_value() -> None:
    warn = schema_of(dtype=DType.INT, ge=0, severity="warn")
    mostly = schema_of(dtype=DType.STR, pattern="^a", mostly=0.9)
    assert warn == {"type": ["integer", "null"]}
    assert mostly == {"type": ["string", "null"]}


def test_non_finite_bounds_are_left_out() -> None:
    assert schema_of(dtype=DType.FLOAT, ge=float("-inf"), le=1.0) == {
        "type": "number",
        "maximum": 1.0,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_any_contract_gives_a_json_document(contract: Contract) -> None:
    schema = to_json_schema(contract)
    assert json.loads(json.dumps(schema, allow_nan=False)) == schema
    assert list(schema["properties"]) == list(contract.column_names)
    assert schema["required"] == list(contract.column_names)

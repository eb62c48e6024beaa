"""A contract as the JSON Schema of one record (the future HTTP request schema)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import keel
from keel.contracts import ColumnSpec, Contract, DType
from keel.contracts._jsonschema import to_json_schema
from tests.contracts.strategies import contracts


def schema_of(**spec: Any) -> dict[str, Any]:
    """The property schema of a single column ``x``."""
    contract = Contract(name="T", columns=(ColumnSpec(name="x", **spec),))
    schema: dict[str, Any] = to_json_schema(contract)["properties"]["x"]
    return schema


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
        (DType.DATE, {"type": "string", "format": "date"}),
        (DType.DATETIME, {"type": "string", "format": "date-time"}),
    ],
)
def test_types(dtype: DType, expected: dict[str, Any]) -> None:
    assert schema_of(dtype=dtype) == expected


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
    assert schema == {"type": "string", "format": "date", "enum": ["2021-05-04"]}


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

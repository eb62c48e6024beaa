"""Defining contracts: mistakes fail at class creation with a message that says how to fix."""

from __future__ import annotations

import datetime as dt
import decimal

import polars as pl
import pytest

import keel
from keel.contracts import DType
from keel.errors import ContractDefinitionError


def test_annotations_become_typed_columns() -> None:
    class Row(keel.Schema):
        a: int
        b: float | None
        c: keel.Column[str]
        d: keel.Column[keel.Categorical | None]
        e: dt.date
        f: dt.datetime
        g: decimal.Decimal
        h: bool

    contract = Row.__contract__
    assert [(c.name, c.dtype, c.nullable) for c in contract.columns] == [
        ("a", DType.INT, False),
        ("b", DType.FLOAT, True),
        ("c", DType.STR, False),
        ("d", DType.CATEGORICAL, True),
        ("e", DType.DATE, False),
        ("f", DType.DATETIME, False),
        ("g", DType.DECIMAL, False),
        ("h", DType.BOOL, False),
    ]
    assert isinstance(Row.a, keel.Column)
    assert Row.a.name == "a"


def test_inheritance_extends_the_parent_contract() -> None:
    class Base(keel.Schema, strict=True):
        id: int = keel.Field(unique=True)

    class Child(Base, contract_name="child"):
        x: float

    assert Child.__contract__.column_names == ("id", "x")
    assert Child.__contract__.strict
    assert Child.__contract__.name == "child"


def test_alias_maps_a_data_name_that_is_not_an_identifier() -> None:
    class Row(keel.Schema):
        customer_id: int = keel.Field(alias="Customer ID")

    assert Row.customer_id.name == "Customer ID"
    assert Row.check(pl.DataFrame({"Customer ID": [1]})).passed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": (str, keel.Field(ge=1))}, "bounds ['ge'] do not apply to type str"),
        ({"x": (int, keel.Field(ge="a"))}, "ge='a' is not a int bound"),
        ({"x": (str, keel.Field(pattern="(unclosed"))}, "invalid regular expression"),
        ({"x": (str, keel.Field(pattern=r"(?<=a)b"))}, "uses look-around"),
        ({"x": (int, keel.Field(finite=True))}, "finite applies to float columns"),
        ({"x": (int, keel.Field(mostly=1.5))}, "mostly must be a fraction in (0, 1]"),
        ({"x": (int, keel.Field(severity="fatal"))}, "severity must be 'error' or 'warn'"),
        ({"x": (list, keel.Field())}, "is not a column type"),
        ({"x": (int, 3)}, "columns take keel.Field(...)"),
        ({"check": (int, keel.Field())}, "collides with Schema.check"),
    ],
)
def test_definition_mistakes_fail_at_class_creation(
    body: dict[str, tuple[object, object]], message: str
) -> None:
    namespace: dict[str, object] = {"__annotations__": {k: v[0] for k, v in body.items()}}
    namespace.update({k: v[1] for k, v in body.items()})
    with pytest.raises(ContractDefinitionError, match=None) as caught:
        type(keel.Schema)("Bad", (keel.Schema,), namespace)
    assert message in str(caught.value)
    assert caught.value.hint


def test_a_rule_on_a_missing_column_names_the_closest_column() -> None:
    with pytest.raises(ContractDefinitionError) as caught:

        class Quantiles(keel.Schema):
            q10: float
            q90: float
            rules = (keel.ordered("q10", "q09"),)

    assert "rule 'q10 <= q09' uses column 'q09'" in str(caught.value)
    assert "Did you mean 'q90'?" in str(caught.value)


def test_chained_comparisons_are_refused_with_a_hint() -> None:
    with pytest.raises(ContractDefinitionError, match=r"keel\.ordered"):

        class Chain(keel.Schema):
            a: int
            b: int
            c: int

            @keel.rule
            def chain(cls) -> keel.Check:
                return keel.expression(cls.a <= cls.b <= cls.c)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: keel.ordered("a"), "at least two columns"),
        (lambda: keel.correlated("a", "b"), "needs min= or max="),
        (lambda: keel.correlated("a", "b", min=2), "must lie in [-1, 1]"),
        (lambda: keel.rows(min=5, max=1), "can never pass"),
        (lambda: keel.null_fraction("a", max=2), "must be in [0, 1]"),
        (lambda: keel.fresh("a", "soon"), "is not a duration"),
        (lambda: keel.expression("mean(a) > 1"), "is not row-level"),
        (lambda: keel.aggregate("a > 1"), "is row-level"),
        (lambda: keel.expression("a >"), "is not valid"),
        (lambda: keel.expression("__import__('os')"), "unknown function"),
        (lambda: keel.expression("a.b"), "Attribute syntax is not allowed"),
    ],
)
def test_rule_constructors_reject_impossible_rules(make: object, message: str) -> None:
    with pytest.raises(ContractDefinitionError) as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)


def test_from_contract_builds_a_schema_class() -> None:
    class Row(keel.Schema):
        x: int = keel.Field(ge=0)

    copy = keel.Schema.from_contract(Row.__contract__)
    assert copy.__contract__ == Row.__contract__
    assert not copy.check(pl.DataFrame({"x": [-1]})).passed


def test_rules_may_pick_columns_from_the_class_with_a_lambda() -> None:
    class Loan(keel.Schema):
        income: float
        amount: float
        q10: float
        q50: float
        q90: float
        rules = (
            keel.ordered(lambda s: (s.q10, s.q50, s.q90)),
            keel.correlated(lambda s: (s.income, s.amount), min=0.0),
        )

    assert [r.label for r in Loan.__contract__.rules] == [
        "q10 <= q50 <= q90",
        "0.0 <= corr(income, amount)",
    ]
    df = pl.DataFrame(
        {
            "income": [1.0, 2.0],
            "amount": [2.0, 1.0],
            "q10": [1.0, 2.0],
            "q50": [2.0, 1.0],
            "q90": [3.0, 3.0],
        }
    )
    assert {c.name for c in Loan.check(df).errors} == {
        "q10 <= q50 <= q90",
        "0.0 <= corr(income, amount)",
    }


def test_a_lambda_rule_outside_a_schema_is_refused() -> None:
    with pytest.raises(ContractDefinitionError, match="can only be used in one"):
        keel.Contract(name="x", columns=(), rules=(keel.ordered(lambda s: (s.a, s.b)),))
    with pytest.raises(ContractDefinitionError, match=r"reads .typo., which is not a column"):

        class Typo(keel.Schema):
            a: int
            rules = (keel.ordered(lambda s: (s.a, s.typo)),)

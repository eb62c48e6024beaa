"""One contract, the same report on every engine (Polars, pandas, PyArrow, DuckDB, Dask)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import polars as pl

import keel
from tests.conftest import Constructor


class Order(keel.Schema):
    id: keel.Column[int] = keel.Field(unique=True)
    qty: keel.Column[int] = keel.Field(ge=1, le=10)
    price: keel.Column[float | None] = keel.Field(gt=0)
    total: keel.Column[float]
    state: keel.Column[str] = keel.Field(isin=["CA", "NY"])
    email: keel.Column[str] = keel.Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=12)
    zip: keel.Column[str]
    day: keel.Column[dt.date] = keel.Field(ge=dt.date(2024, 1, 1))
    lo: keel.Column[float]
    hi: keel.Column[float]

    rules = (
        keel.ordered("lo", "hi"),
        keel.close("total", "price * qty", abs_tol=0.01),
        keel.functional_dependency("zip", "state"),
        keel.correlated("qty", "total", min=0.0),
        keel.unique("zip", "state", "qty", name="no repeated order lines"),
        keel.null_fraction("price", max=0.5),
        keel.rows(min=1),
        keel.aggregate("mean(qty) < 100"),
    )


DATA = pl.DataFrame(
    {
        "id": [1, 2, 2, 4, 5, 6],
        "qty": [1, 0, 3, 11, 2, 2],
        "price": [10.0, 2.0, None, 1.0, 5.0, 5.0],
        "total": [10.0, 0.0, 9.0, 11.0, 10.5, 10.0],
        "state": ["CA", "NY", "TX", "CA", "CA", "CA"],
        "email": ["a@b.c", "bad", "c@d.e", "a-very-long@address.com", "e@f.g", "e@f.g"],
        "zip": ["1", "1", "2", "3", "3", "3"],
        "day": [dt.date(2024, 1, 2), dt.date(2023, 12, 31)] + [dt.date(2024, 5, 1)] * 4,
        "lo": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "hi": [2.0, 1.0, 3.0, 5.0, 6.0, 7.0],
    }
)


def _comparable(report: keel.Report) -> list[dict[str, Any]]:
    checks = report.to_dict()["checks"]
    for check in checks:
        if isinstance(check["observed"], float):
            check["observed"] = round(check["observed"], 6)
        check.pop("message")  # engine-specific dtype spelling lives in messages
        if check["kind"] == "dtype":
            check.pop("observed")
    return checks


def test_same_report_on_every_engine(constructor: Constructor) -> None:
    expected = Order.check(DATA, examples=10)
    got = Order.check(constructor(DATA), examples=10)
    assert got.rows == 6
    assert _comparable(got) == _comparable(expected)
    failed = {c.name for c in got.errors}
    assert failed == {
        "id: unique",
        "qty: >= 1 and <= 10",
        "state: in {'CA', 'NY'}",
        "email: matches ^[^@\\s]+@[^@\\s]+$",
        "email: length <= 12",
        "day: >= 2024-01-01",
        "lo <= hi",
        "total == price * qty",
        "zip -> state",
        "no repeated order lines",
    }


def test_clean_data_passes_on_every_engine(constructor: Constructor) -> None:
    clean = DATA.filter(pl.col("id").is_in([1, 5])).with_columns(
        qty=pl.Series([1, 3]), total=pl.Series([10.0, 15.0]), zip=pl.Series(["1", "3"])
    )
    report = Order.check(constructor(clean))
    assert report.passed, report.summary()


class Typed(keel.Schema):
    price: keel.Column[decimal.Decimal] = keel.Field(ge=0, le=decimal.Decimal("100.5"))
    state: keel.Column[keel.Categorical] = keel.Field(isin=["CA", "NY"], pattern="^[A-Z]{2}$")
    ts: keel.Column[dt.datetime] = keel.Field(ge=dt.datetime(2024, 1, 1))
    flag: keel.Column[bool]


def test_decimal_categorical_datetime_and_bool_columns(constructor: Constructor) -> None:
    df = pl.DataFrame(
        {
            "price": [decimal.Decimal("1.50"), decimal.Decimal("200.00")],
            "state": ["CA", "Tx"],
            "ts": [dt.datetime(2024, 5, 1), dt.datetime(2023, 1, 1)],
            "flag": [True, False],
        },
        schema_overrides={"state": pl.Categorical, "price": pl.Decimal(10, 2)},
    )
    report = Typed.check(constructor(df))
    assert {c.name: [e["row"] for e in c.examples] for c in report.errors} == {
        "price: >= 0 and <= 100.5": [1],
        "state: in {'CA', 'NY'}": [1],
        "state: matches ^[A-Z]{2}$": [1],
        "ts: >= 2024-01-01 00:00:00": [1],
    }

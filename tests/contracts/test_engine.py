"""Each check, through the public API: counts, fractions, examples, severity, mostly."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

import keel
from keel.contracts import _backends
from keel.errors import ContractError


class Loan(keel.Schema):
    id: keel.Column[int] = keel.Field(unique=True)
    age: keel.Column[int] = keel.Field(ge=18, le=100)
    income: keel.Column[float | None] = keel.Field(ge=0)
    state: keel.Column[str] = keel.Field(isin=["CA", "NY"])
    email: keel.Column[str] = keel.Field(pattern=r"^[^@\s]+@[^@\s]+$")
    q10: keel.Column[float]
    q50: keel.Column[float]
    q90: keel.Column[float]

    rules = (keel.rows(min=2),)

    @keel.rule
    def quantiles(cls) -> keel.Check:
        return keel.ordered(cls.q10, cls.q50, cls.q90)


def clean() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "age": [20, 30, 40, 50],
            "income": [1.0, None, 3.0, 4.0],
            "state": ["CA", "NY", "CA", "NY"],
            "email": ["a@b.c", "d@e.f", "g@h.i", "j@k.l"],
            "q10": [1.0, 2.0, 3.0, 4.0],
            "q50": [2.0, 2.0, 3.0, 5.0],
            "q90": [3.0, 3.0, 3.0, 6.0],
        }
    )


def test_clean_data_passes_every_check() -> None:
    report = Loan.check(clean())
    assert report.passed
    assert report.rows == 4
    assert all(c.status == "passed" for c in report.checks)
    names = {c.name for c in report.checks}
    assert {"id: unique", "age: >= 18 and <= 100", "quantiles", "2 <= rows"} <= names


def test_validate_returns_a_frame_of_the_schema() -> None:
    frame = Loan.validate(clean())
    assert isinstance(frame, keel.Frame)
    assert frame.schema is Loan
    assert len(frame) == 4
    assert frame.to_polars().equals(clean())


def test_every_failure_is_reported_with_counts_and_examples() -> None:
    df = clean().with_columns(
        age=pl.Series([20, 17, 40, 101]),
        id=pl.Series([1, 2, 2, 4]),
        email=pl.Series(["a@b.c", "nope", "g@h.i", "j@k.l"]),
        q50=pl.Series([2.0, 1.0, 3.0, 5.0]),
    )
    with pytest.raises(ContractError) as caught:
        Loan.validate(df)
    report = caught.value.report
    failed = {c.name: c for c in report.errors}
    assert set(failed) == {
        "age: >= 18 and <= 100",
        "id: unique",
        "email: matches "
        r"^[^@\s]+@[^@\s]+$",
        "quantiles",
    }
    age = failed["age: >= 18 and <= 100"]
    assert (age.failures, age.fraction) == (2, 0.5)
    assert [e["row"] for e in age.examples] == [1, 3]
    assert [e["values"]["age"] for e in age.examples] == [17, 101]
    assert failed["id: unique"].failures == 2  # both rows holding the repeated id
    assert failed["quantiles"].examples[0]["values"] == {"q10": 2.0, "q50": 1.0, "q90": 3.0}
    message = str(caught.value)
    assert "4 check(s) failed on 4 rows" in message
    assert "row 1: age=17" in message


def test_examples_are_capped() -> None:
    df = pl.DataFrame({"x": list(range(100))})

    class S(keel.Schema):
        x: int = keel.Field(ge=1000)

    report = S.check(df, examples=3)
    check = report["x: >= 1000"]
    assert check.failures == 100
    assert [e["row"] for e in check.examples] == [0, 1, 2]


def test_warnings_never_fail_validation() -> None:
    class S(keel.Schema):
        x: int = keel.Field(ge=10, severity="warn")

    report = S.check(pl.DataFrame({"x": [1, 20]}))
    assert report.passed
    assert [w.name for w in report.warnings] == ["x: >= 10"]
    assert report.warnings[0].failures == 1


@pytest.mark.parametrize(("mostly", "passed"), [(0.75, True), (0.8, False)])
def test_mostly_tolerates_a_fraction_of_failing_rows(mostly: float, passed: bool) -> None:
    class S(keel.Schema):
        x: int = keel.Field(ge=0, mostly=mostly)

    report = S.check(pl.DataFrame({"x": [-1, 1, 2, 3]}))
    assert report.passed is passed
    assert report["x: >= 0"].fraction == 0.25


def test_null_is_governed_only_by_nullability() -> None:
    class S(keel.Schema):
        required: int = keel.Field(ge=0)
        optional: int | None = keel.Field(ge=0)

    df = pl.DataFrame({"required": [None, 1], "optional": [None, 1]})
    report = S.check(df)
    assert report["required: not null"].failures == 1
    assert report["required: >= 0"].passed  # the null row is not a range failure
    assert report["optional: >= 0"].passed
    assert not any(c.name == "optional: not null" for c in report.checks)


def test_nan_is_a_value_that_fails_bounds_and_finite_but_is_not_null() -> None:
    class S(keel.Schema):
        x: float = keel.Field(ge=0, finite=True)
        y: float

    nan = float("nan")
    df = pl.DataFrame({"x": [nan, 1.0, math.inf], "y": [nan, 1.0, 2.0]})
    report = S.check(df)
    assert report["x: not null"].passed
    assert report["y: not null"].passed
    assert report["x: >= 0"].failures == 1  # NaN, although Polars orders it above 0
    assert report["x: finite"].failures == 2


def test_cross_column_rules() -> None:
    class Sale(keel.Schema):
        price: float
        qty: int
        total: float
        zip: str
        state: str
        income: float
        amount: float

        rules = (
            keel.close("total", "price * qty", abs_tol=0.01),
            keel.functional_dependency("zip", "state"),
            keel.correlated("income", "amount", min=0.5),
            keel.expression("qty <= 10"),
            keel.aggregate("mean(price) < 100"),
        )

    df = pl.DataFrame(
        {
            "price": [2.0, 3.0, 1.0, 500.0],
            "qty": [2, 3, 20, 1],
            "total": [4.0, 9.5, 20.0, 500.0],
            "zip": ["1", "1", "2", "2"],
            "state": ["CA", "NY", "TX", "TX"],
            "income": [1.0, 2.0, 3.0, 4.0],
            "amount": [4.0, 3.0, 2.0, 1.0],
        }
    )
    report = Sale.check(df)
    by_kind = {c.kind: c for c in report.checks if c.kind not in {"dtype", "not_null"}}
    assert by_kind["close"].failures == 1
    assert by_kind["close"].examples[0]["row"] == 1
    assert by_kind["functional_dependency"].failures == 2
    assert by_kind["correlated"].status == "failed"
    assert by_kind["correlated"].observed == pytest.approx(-1.0)
    assert by_kind["expression"].failures == 1
    assert by_kind["aggregate"].status == "failed"


def test_unique_on_a_key_and_nulls_are_not_duplicates() -> None:
    class S(keel.Schema):
        a: int | None = keel.Field(unique=True)
        b: int

        rules = (keel.unique("a", "b", name="key"),)

    df = pl.DataFrame({"a": [None, None, 1, 1, 2, 2], "b": [1, 1, 2, 3, 4, 4]})
    report = S.check(df)
    assert report["a: unique"].failures == 4
    assert [e["row"] for e in report["a: unique"].examples] == [2, 3, 4, 5]
    assert report["key"].failures == 2  # (2, 4) twice; (None, 1) twice is not a duplicate


def test_dataset_rules_rows_nulls_and_freshness() -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    class Events(keel.Schema):
        ts: dt.datetime
        v: float | None

        rules = (
            keel.rows(min=1, max=2),
            keel.null_fraction("v", max=0.1),
            keel.fresh("ts", "1d"),
        )

    df = pl.DataFrame({"ts": [now - dt.timedelta(days=3), now], "v": [None, 1.0]})
    report = Events.check(df)
    assert report["1 <= rows <= 2"].passed
    assert report["v: null fraction <= 0.1"].observed == 0.5
    assert not report["v: null fraction <= 0.1"].passed
    assert report["ts: newest within 1d"].passed
    stale = df.with_columns(ts=pl.Series([now - dt.timedelta(days=3)] * 2))
    assert not Events.check(stale)["ts: newest within 1d"].passed


def test_missing_and_unexpected_columns() -> None:
    class S(keel.Schema):
        a: int = keel.Field(ge=0)
        b: int

    df = pl.DataFrame({"a": [1], "c": [2]})
    report = S.check(df, strict=True)
    present = report["columns present (strict)"]
    assert present.observed == {"missing": ["b"], "unexpected": ["c"]}
    assert report["b: not null"].status == "skipped"
    assert "missing" in report["b: not null"].message
    assert S.check(df.with_columns(b=pl.lit(1))).passed  # not strict by default


def test_wrong_type_fails_the_type_check_and_skips_value_checks() -> None:
    class S(keel.Schema):
        age: int = keel.Field(ge=0)

    report = S.check(pl.DataFrame({"age": ["12", "x"]}))
    assert report["age: type int"].message == "expected int, found String"
    assert report["age: >= 0"].status == "skipped"


def test_coercion_casts_and_reports_values_that_do_not_convert() -> None:
    class S(keel.Schema):
        age: int = keel.Field(ge=0)
        when: dt.date

    df = pl.DataFrame({"age": ["12", "x", None], "when": ["2024-01-02"] * 3})
    report = S.check(df, coerce=True)
    assert report["age: type int"].failures == 1
    assert report["age: type int"].examples == ({"row": 1, "values": {"age": "x"}},)
    ok = S.validate(pl.DataFrame({"age": ["12"], "when": ["2024-01-02"]}), coerce=True)
    assert ok.to_polars().schema == pl.Schema({"age": pl.Int64, "when": pl.Date})


def test_empty_data_and_all_null_columns() -> None:
    class S(keel.Schema):
        x: float | None = keel.Field(ge=0)
        y: int

    empty = pl.DataFrame(schema={"x": pl.Float64, "y": pl.Int64})
    report = S.check(empty)
    assert report.passed
    assert report.rows == 0
    all_null = pl.DataFrame({"x": [None, None], "y": [1, 2]})
    assert all_null.schema["x"] == pl.Null
    assert S.check(all_null).passed


def test_the_data_is_scanned_once_when_everything_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    collect, collect_all = _backends.Backend.collect, _backends.Backend.collect_all

    def counting(self: _backends.Backend, frame: object) -> object:
        calls.append("collect")
        return collect(self, frame)

    def counting_all(self: _backends.Backend, frames: list[object], **kw: bool) -> object:
        calls.append("collect_all")
        return collect_all(self, frames, **kw)

    monkeypatch.setattr(_backends.Backend, "collect", counting)
    monkeypatch.setattr(_backends.Backend, "collect_all", counting_all)

    class Quantiles(keel.Schema):
        q10: float = keel.Field(ge=0)
        q50: float
        q90: float
        rules = (keel.ordered("q10", "q50", "q90"), keel.correlated("q10", "q90", min=0.0))

    assert Quantiles.check(clean().lazy()).passed
    assert calls == ["collect"]  # every check in one query
    calls.clear()
    bad = clean().with_columns(q10=pl.Series([9.0, 2.0, 3.0, -1.0]))
    assert not Quantiles.check(bad.lazy()).passed
    assert calls == ["collect", "collect_all"]  # one more round for failing-row examples


def test_streamed_uniqueness_counts_rows_and_shows_examples(tmp_path: object) -> None:
    from pathlib import Path

    class Key(keel.Schema):
        id: int | None = keel.Field(unique=True)

    path = Path(str(tmp_path)) / "ids.parquet"
    pl.DataFrame({"id": [5, 1, None, 5, 2, None, 1, 5]}).write_parquet(path)
    check = Key.check(pl.scan_parquet(path), examples=2)["id: unique"]
    in_memory = Key.check(pl.read_parquet(path), examples=2)["id: unique"]
    assert check == in_memory
    assert check.failures == 5  # three 5s and two 1s; nulls are never duplicates
    assert [e["row"] for e in check.examples] == [0, 1]


def test_files_are_validated_by_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "loans.parquet"
    clean().write_parquet(path)
    report = Loan.check(path)
    assert report.passed
    assert report.source == str(path)

"""The wrong verdicts of issue 18, pinned on every engine (docs/contracts.md, "Semantics")."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.contracts import (
    ColumnSpec,
    Contract,
    DType,
    check_data,
    record_checker,
    translate_pattern,
)
from keel.errors import ContractDefinitionError, InputError
from tests.conftest import CONSTRUCTORS, Constructor
from tests.contracts.conformance import oracle


def _verdict(
    schema: type[keel.Schema], df: pl.DataFrame, constructor: Constructor, name: str
) -> tuple[str, int]:
    result = schema.check(constructor(df))[name]
    return result.status, result.failures


def test_unique_with_mostly_is_judged_on_rows_involved_in_duplicates(
    constructor: Constructor,
) -> None:
    class S(keel.Schema):
        k: int = keel.Field(unique=True, mostly=0.5)

    df = pl.DataFrame({"k": [1, 1, 1, 1, 2, 2, 3, 4, 5, 6]})
    assert _verdict(S, df, constructor, "k: unique") == ("failed", 6)  # 6 of 10 > 50%


def test_close_fails_against_an_infinite_or_nan_side(constructor: Constructor) -> None:
    class S(keel.Schema):
        total: float
        expect: float
        rules = (keel.close("total", "expect", abs_tol=0.01),)

    df = pl.DataFrame({"total": [1.5, 1.5, 1.5], "expect": [math.inf, math.nan, 1.5]})
    assert _verdict(S, df, constructor, "total == expect") == ("failed", 2)


@pytest.mark.parametrize(
    ("value", "bound", "failures"),
    [(math.inf, {"le": 1e308}, 1), (0.1, {"le": 0.1}, 1), (3.0e38, {"lt": 3.4e38}, 0)],
)
def test_float32_data_is_compared_with_the_bound_in_double_precision(
    constructor: Constructor, value: float, bound: dict[str, float], failures: int
) -> None:
    class S(keel.Schema):
        x: float = keel.Field(**bound)  # type: ignore[arg-type]

    df = pl.DataFrame({"x": pl.Series([value], dtype=pl.Float32)})
    name = next(c.name for c in S.check(df).checks if c.kind == "range")
    assert _verdict(S, df, constructor, name)[1] == failures


def test_aware_data_against_a_naive_bound_is_an_input_error(constructor: Constructor) -> None:
    class S(keel.Schema):
        t: dt.datetime = keel.Field(ge=dt.datetime(2020, 1, 1))

    df = pl.DataFrame({"t": [dt.datetime(2021, 1, 1, tzinfo=dt.UTC)]})
    with pytest.raises(
        InputError, match=r"column 't' holds datetimes in time zone (Etc/)?UTC.*naive"
    ):
        S.check(constructor(df))


def test_keel_validate_reports_a_time_zone_mismatch_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "keel: 1\nname: T\ncolumns:\n  t: {type: datetime, ge: 2020-01-01T00:00:00}\n"
    )
    pl.DataFrame({"t": [dt.datetime(2021, 1, 1, tzinfo=dt.UTC)]}).write_parquet(
        tmp_path / "d.parquet"
    )
    result = CliRunner().invoke(
        app, ["validate", str(tmp_path / "c.yaml"), str(tmp_path / "d.parquet")]
    )
    assert result.exit_code == 2, result.output
    assert "error: column 't' holds datetimes in time zone UTC" in result.output
    assert "Traceback" not in result.output


_COERCED = {  # column: (declared type, values, failures)
    "a": ("int", [1.5, 2.0, None, 1e300], 2),  # a lossy conversion is a failure
    "b": ("int", ["1.5", "2", "9223372036854775808", "+7"], 1),  # no negative: UInt64
    "c": ("int", ["007", " 2", "1_000", "-9223372036854775808"], 2),
    "d": ("float", ["1e3", "x", "-inf", None], 1),
    "e": ("float", [2**53, 2**53 + 1, -1, 3], 1),  # no exact float beyond 2**53
    "f": ("bool", ["yes", "No", "maybe", None], 1),
    "g": ("bool", [0, 1, 2, 1], 1),
}


@pytest.mark.parametrize("engine", [*CONSTRUCTORS, "pandas-numpy"])
def test_coercion_fails_what_does_not_convert_exactly_the_same_on_every_engine(
    engine: str,
) -> None:
    columns = tuple(
        ColumnSpec(name=c, dtype=DType(t), nullable=True) for c, (t, _, _) in _COERCED.items()
    )
    df = pl.DataFrame({c: values for c, (_, values, _) in _COERCED.items()}, strict=False)
    native = df.to_pandas() if engine == "pandas-numpy" else CONSTRUCTORS[engine](df)
    report = check_data(Contract(name="T", columns=columns), native, coerce=True)
    got = {c: report[f"{c}: type {t}"].failures for c, (t, _, _) in _COERCED.items()}
    assert got == {c: failures for c, (_, _, failures) in _COERCED.items()}


@pytest.mark.parametrize(
    ("values", "failures"),
    [
        (["9223372036854775808"], 0),  # beyond Int64, no negative value: UInt64
        (["18446744073709551615", "-0", None], 0),
        (["18446744073709551616"], 1),  # beyond UInt64
        (["-1", "9223372036854775808"], 1),  # a negative value: Int64, the big one fails
    ],
)
@pytest.mark.parametrize("engine", [*CONSTRUCTORS, "pandas-numpy"])
def test_text_beyond_int64_converts_to_uint64_when_the_column_has_no_negative_integer(
    engine: str, values: list[str | None], failures: int
) -> None:
    class S(keel.Schema):
        x: int | None = keel.Field(ge=0)

    df = pl.DataFrame({"x": pl.Series(values, dtype=pl.String)})
    native = df.to_pandas() if engine == "pandas-numpy" else CONSTRUCTORS[engine](df)
    report = S.check(native, coerce=True)
    expected = oracle.int_from_text(values)
    lost = sum(v is not None and e is None for v, e in zip(values, expected, strict=True))
    assert lost == failures
    assert report["x: type int"].failures == failures
    assert report["x: >= 0"].failures == sum(e is not None and e < 0 for e in expected)


@pytest.mark.parametrize("engine", [*CONSTRUCTORS, "pandas-numpy"])
def test_the_text_nan_coerced_to_float_is_nan_not_missing_on_every_engine(engine: str) -> None:
    class S(keel.Schema):
        x: float = keel.Field(ge=0)

    values = ["nan", "NaN", "1.5", "-inf", "x"]
    df = pl.DataFrame({"x": values})
    native = df.to_pandas() if engine == "pandas-numpy" else CONSTRUCTORS[engine](df)
    report = S.check(native, coerce=True)
    parsed = [oracle.float_from_text(v) for v in values]
    assert sum(p is None for p in parsed) == report["x: type float"].failures == 1  # "x"
    assert report["x: not null"].failures == 1  # "x" only: NaN is a value, not a missing one
    range_failures = sum(oracle.range_fails(p, {"ge": 0}) for p in parsed if p is not None)
    assert range_failures == report["x: >= 0"].failures == 3  # NaN, NaN, -inf


def test_text_an_engine_cannot_parse_as_a_date_is_a_clear_error() -> None:
    class S(keel.Schema):
        day: dt.date

    with pytest.raises(InputError, match=r"could not coerce 'day' to date: .*'x'"):
        S.check(pl.DataFrame({"day": ["2024-01-02", "x"]}).to_arrow(), coerce=True)
    assert (
        S.check(pl.DataFrame({"day": ["2024-01-02", "x"]}), coerce=True)["day: type date"].failures
        == 1
    )


@pytest.mark.parametrize(
    ("pattern", "values", "failures"),
    [
        (r"^\w+$", ["é", "e\u0301", "日本", "ab_1"], 3),  # ASCII classes on every engine
        (r"^\d+$", ["١٢٣", "123"], 1),
        (r"\s", ["a\u00a0b", "a b"], 1),
        ("^abc$", ["abc\n", "abc"], 1),  # $ is the end of the text, also in Python
    ],
)
def test_one_regex_dialect_on_every_engine_and_in_serving(
    constructor: Constructor, pattern: str, values: list[str], failures: int
) -> None:
    class S(keel.Schema):
        s: str = keel.Field(pattern=pattern)

    df = pl.DataFrame({"s": values})
    assert _verdict(S, df, constructor, f"s: matches {pattern}") == ("failed", failures)
    errors = record_checker(S.__contract__).check([{"s": v} for v in values]).errors
    assert len(errors) == failures


def test_patterns_no_engine_can_honour_are_refused_when_defined() -> None:
    for pattern in (r"(?<=a)b", r"(a)\1", r"\p{L}", "[[:alpha:]]", "a{,3}", "(?x)a"):
        with pytest.raises(ContractDefinitionError, match="not every engine supports"):

            class S(keel.Schema):
                s: str = keel.Field(pattern=pattern)

    assert translate_pattern(r"^\w+$", "python") == r"^[0-9A-Za-z_]+\Z"


def test_isin_compares_minus_zero_equal_to_zero(constructor: Constructor) -> None:
    class S(keel.Schema):
        x: float = keel.Field(isin=[0.0])

    df = pl.DataFrame({"x": [-0.0, math.nan]})
    assert _verdict(S, df, constructor, "x: in {0.0}") == ("failed", 1)  # NaN equals nothing


def test_unique_takes_minus_zero_as_zero_nan_as_one_value_and_skips_nulls(
    constructor: Constructor,
) -> None:
    class S(keel.Schema):
        x: float | None = keel.Field(unique=True)

    df = pl.DataFrame({"x": [-0.0, 0.0, math.nan, math.nan, None, None, 1.0]})
    assert _verdict(S, df, constructor, "x: unique") == ("failed", 4)


def test_ordered_skips_a_pair_with_a_null_before_judging_nan(constructor: Constructor) -> None:
    class S(keel.Schema):
        a: float | None
        b: float | None
        rules = (keel.ordered("a", "b"),)

    df = pl.DataFrame({"a": [None, math.nan, math.nan, 1.0], "b": [math.nan, None, 1.0, 2.0]})
    assert _verdict(S, df, constructor, "a <= b") == ("failed", 1)


def test_nulls_in_keys_are_skipped_by_unique_and_functional_dependency(
    constructor: Constructor,
) -> None:
    class S(keel.Schema):
        k: int | None
        v: str | None
        rules = (keel.functional_dependency("k", "v"), keel.unique("k", "v"))

    df = pl.DataFrame(
        {"k": [1, 1, None, None, 2, 2, 3, 3], "v": ["a", None, "x", "y", "b", "b", "c", "d"]}
    )
    assert _verdict(S, df, constructor, "k -> v") == ("failed", 2)  # 3 -> c and d
    assert _verdict(S, df, constructor, "k, v: unique") == ("failed", 2)  # (2, b) twice


def test_uint64_values_and_bounds_beyond_int64(constructor: Constructor) -> None:
    class S(keel.Schema):
        x: int = keel.Field(ge=0, le=2**63, isin=[2**63, 5])

    df = pl.DataFrame({"x": pl.Series([2**63, 5, 2**64 - 1], dtype=pl.UInt64)})
    report = S.check(constructor(df))
    assert [c.failures for c in report.checks if c.kind in ("range", "isin")] == [1, 1]


def test_expression_rules_use_three_valued_logic_on_every_engine(
    constructor: Constructor,
) -> None:
    class S(keel.Schema):
        a: float | None
        b: int
        rules = (
            keel.expression((keel.col("a") > 0) | (keel.col("b") < 2), name="or"),
            keel.expression((keel.col("a") > 0) & (keel.col("b") < 2), name="and"),
            keel.expression(keel.col("a").is_not_null(), name="set"),
            keel.expression(~(keel.col("a") > 0), name="not"),
            keel.expression(keel.col("b") / keel.col("a") >= 1, name="ratio"),
        )

    # a: null, null, NaN, 0.0, 2.0; b: 1, 5, 5, 5, 1
    df = pl.DataFrame({"a": [None, None, math.nan, 0.0, 2.0], "b": [1, 5, 5, 5, 1]})
    report = S.check(constructor(df))
    got = {name: report[name].failures for name in ("or", "and", "set", "not", "ratio")}
    # or: NaN and 0.0 rows are false | false; and: null & false is false (row 2), NaN, 0.0;
    # not: ~(NaN > 0) holds, ~(2 > 0) fails; ratio: 5/NaN is NaN (fails), 5/0 is null
    assert got == {"or": 2, "and": 3, "set": 2, "not": 1, "ratio": 2}


def test_aggregate_rules_skip_nan_and_judge_empty_statistics_the_same_everywhere(
    constructor: Constructor,
) -> None:
    class S(keel.Schema):
        x: float | None
        rules = (
            keel.aggregate(keel.col("x").mean() > 0.5, name="mean"),
            keel.aggregate(keel.col("x").sum() == 0, name="sum"),
            keel.aggregate(keel.col("x").count() == 0, name="count"),
        )

    full = S.check(constructor(pl.DataFrame({"x": [1.0, math.nan, 0.5, None]})))
    empty = S.check(constructor(pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)})))
    assert [full[n].status for n in ("mean", "sum", "count")] == ["passed", "failed", "failed"]
    assert [empty[n].status for n in ("mean", "sum", "count")] == ["failed", "passed", "passed"]


def test_isin_compares_values_across_number_types(constructor: Constructor) -> None:
    class S(keel.Schema):
        f: float = keel.Field(isin=[0, 1])
        i: int = keel.Field(isin=[1.5, 2.0])

    df = pl.DataFrame({"f": [0.0, 1.0, 0.5], "i": [2, 1, 2]})
    report = S.check(constructor(df))
    assert [c.failures for c in report.checks if c.kind == "isin"] == [1, 1]


def test_a_nan_bound_is_refused_when_the_contract_is_defined() -> None:
    with pytest.raises(ContractDefinitionError, match="ge=NaN fails every value"):

        class S(keel.Schema):
            x: float = keel.Field(ge=math.nan)


def test_dask_refuses_decimal_comparisons_beyond_what_float64_holds_exactly() -> None:
    class Bound(keel.Schema):
        d: decimal.Decimal = keel.Field(le=decimal.Decimal("1234567890.12345"))

    class Rule(keel.Schema):
        d: decimal.Decimal
        rules = (keel.expression(keel.col("d") > 0, name="positive"),)

    wide = pl.DataFrame(
        {"d": pl.Series([decimal.Decimal("1234567890.123450000001")], dtype=pl.Decimal(22, 12))}
    )  # as float64 it equals the bound
    assert Bound.check(wide)["d: <= 1234567890.12345"].failures == 1  # Polars: exact
    for schema in (Bound, Rule):
        with pytest.raises(InputError, match=r"column 'd' is a decimal of precision 22: Dask"):
            schema.check(CONSTRUCTORS["dask"](wide))
    narrow = pl.DataFrame({"d": pl.Series([decimal.Decimal("1.25")], dtype=pl.Decimal(15, 2))})
    assert Bound.check(CONSTRUCTORS["dask"](narrow)).passed  # 15 digits: exact as float64
    assert Rule.check(CONSTRUCTORS["dask"](narrow)).passed

    class Fine(keel.Schema):
        d: decimal.Decimal = keel.Field(ge=decimal.Decimal("1.0000000000000001"))

    with pytest.raises(InputError, match=r"the decimal 1.0000000000000001 has 17 significant"):
        Fine.check(CONSTRUCTORS["dask"](narrow))


def test_dask_refuses_arithmetic_on_decimals_which_float64_gets_wrong() -> None:
    class Total(keel.Schema):
        a: decimal.Decimal
        b: decimal.Decimal
        c: decimal.Decimal
        rules = (keel.expression(keel.col("a") + keel.col("b") == keel.col("c"), name="sum"),)

    money = pl.Decimal(10, 2)
    frame = pl.DataFrame(
        {
            "a": pl.Series([decimal.Decimal("0.10")], dtype=money),
            "b": pl.Series([decimal.Decimal("0.20")], dtype=money),
            "c": pl.Series([decimal.Decimal("0.30")], dtype=money),
        }
    )  # 0.1 + 0.2 == 0.3 in decimals, not in float64
    assert Total.check(frame).passed  # Polars computes decimals exactly
    with pytest.raises(InputError, match=r"arithmetic on decimals \('a', 'b'\): Dask"):
        Total.check(CONSTRUCTORS["dask"](frame))
    plain = pl.DataFrame({"a": [0.1], "b": [0.2], "c": [0.3]})  # floats: no refusal

    class Floats(keel.Schema):
        a: float
        b: float
        c: float
        rules = (keel.expression(keel.col("a") + keel.col("b") > keel.col("c") - 1, name="x"),)

    assert Floats.check(CONSTRUCTORS["dask"](plain)).passed


@pytest.mark.parametrize(("listed", "failures"), [([math.nan], 3), ([math.nan, 1.0], 2)])
def test_nan_is_in_no_list_in_a_rule_as_in_isin(
    constructor: Constructor, listed: list[float], failures: int
) -> None:
    class S(keel.Schema):
        x: float | None
        rules = (keel.expression(keel.col("x").is_in(listed)),)

    df = pl.DataFrame({"x": [math.nan, 1.0, 2.0, None]})
    name = f"is_in(x, {listed!r})"
    assert _verdict(S, df, constructor, name) == ("failed", failures)
    errors = record_checker(S.__contract__).check(df.to_dicts()).errors
    assert len(errors) == failures

"""Suggesting a contract from data: types, nulls, ranges, categories, keys and formats."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.contracts import DType, checked_data
from keel.contracts._backends import Backend
from keel.contracts._infer import PATTERNS, infer_contract
from keel.errors import InputError, UsageError
from tests.conftest import Constructor

N = 40


def loans() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(N)),
            "income": [float(i) if i % 5 else None for i in range(N)],
            "state": ["CA", "NY", "CA", "TX"] * (N // 4),
            "name": [f"person {i % 30}" for i in range(N)],
            "opened": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(N)],
            "ts": [dt.datetime(2024, 5, 1, i % 24, tzinfo=dt.UTC) for i in range(N)],
            "amount": pl.Series([decimal.Decimal(f"{i}.50") for i in range(N)]),
            "approved": [i % 2 == 0 for i in range(N)],
            "kind": pl.Series(["a", "b"] * (N // 2), dtype=pl.Categorical),
        }
    )


def test_types_nulls_and_ranges() -> None:
    contract = infer_contract(loans(), name="Loan")
    assert contract.name == "Loan"
    assert contract.column_names == tuple(loans().columns)
    types = {c.name: c.dtype for c in contract.columns}
    assert types == {
        "id": DType.INT,
        "income": DType.FLOAT,
        "state": DType.CATEGORICAL,
        "name": DType.STR,
        "opened": DType.DATE,
        "ts": DType.DATETIME,
        "amount": DType.DECIMAL,
        "approved": DType.BOOL,
        "kind": DType.CATEGORICAL,
    }
    nullable = {c.name for c in contract.columns if c.nullable}
    assert nullable == {"income"}
    income = contract.column("income")
    assert (income.ge, income.le, income.finite) == (1.0, 39.0, True)
    assert (contract.column("id").ge, contract.column("id").le) == (0, N - 1)
    assert contract.column("opened").le == dt.date(2020, 2, 9)
    assert contract.column("ts").ge == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    assert contract.column("amount").ge == decimal.Decimal("0.50")
    assert "Inferred from 40 rows" in contract.description


def test_categories_keys_and_plain_text() -> None:
    contract = infer_contract(loans())
    assert contract.column("state").isin == ("CA", "NY", "TX")
    assert contract.column("kind").isin == ("a", "b")
    assert contract.column("id").unique
    name = contract.column("name")  # 30 distinct values: too many to be categories
    assert (name.dtype, name.isin, name.unique, name.pattern) == (DType.STR, None, False, None)


def test_the_inferred_contract_accepts_its_data() -> None:
    data = loans()
    report, _ = checked_data(infer_contract(data), data)
    assert report.passed, report.summary()


def test_max_categories() -> None:
    assert infer_contract(loans(), max_categories=2).column("state").dtype is DType.STR
    frame = pl.DataFrame({"grade": [chr(65 + i % 25) for i in range(100)]})
    assert infer_contract(frame, max_categories=25).column("grade").dtype is DType.CATEGORICAL
    assert infer_contract(frame, max_categories=24).column("grade").dtype is DType.STR


def test_distinct_text_is_not_categorical() -> None:
    frame = pl.DataFrame({"code": ["a", "b", "c"]})
    code = infer_contract(frame).column("code")
    assert (code.dtype, code.unique) == (DType.STR, True)


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        (["a@x.com", "b.c@y.org", None], "email"),
        (["123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-00000000000A"], "uuid"),
        (["2020-01-01", "1999-12-31"], "iso_date"),
        (["https://example.com/a?b=1", "http://x.org"], "url"),
        (["00123", "987"], "digits"),
    ],
)
def test_formats_when_every_value_matches(values: list[str | None], pattern: str) -> None:
    frame = pl.DataFrame({"v": values})
    contract = infer_contract(frame)
    assert contract.column("v").pattern == PATTERNS[pattern]
    assert checked_data(contract, frame)[0].passed


def test_no_format_when_one_value_differs() -> None:
    frame = pl.DataFrame({"v": ["a@x.com", "b@y.org", "not an email"]})
    assert infer_contract(frame).column("v").pattern is None


def test_all_null_column_is_nullable_text_with_a_note() -> None:
    frame = pl.DataFrame({"id": [1, 2], "empty": [None, None]})
    empty = infer_contract(frame).column("empty")
    assert (empty.dtype, empty.nullable) == (DType.STR, True)
    assert "every value was null" in empty.description


def test_floats_with_nan_or_infinity_get_no_range_and_no_finite() -> None:
    frame = pl.DataFrame({"x": [1.0, float("nan"), 3.0], "y": [1.0, float("inf"), 2.0]})
    contract = infer_contract(frame)
    for name in ("x", "y"):
        spec = contract.column(name)
        assert (spec.finite, spec.ge, spec.le) == (False, None, None)
    assert checked_data(contract, frame)[0].passed


def test_single_row_is_not_called_unique() -> None:
    assert not infer_contract(pl.DataFrame({"id": [1]})).column("id").unique


def test_unique_ignores_nulls() -> None:
    spec = infer_contract(pl.DataFrame({"id": [1, None, 2, None]})).column("id")
    assert (spec.unique, spec.nullable) == (True, True)


def test_unsupported_columns_are_skipped_with_a_note() -> None:
    frame = pl.DataFrame({"id": [1, 2], "wait": [dt.timedelta(1), dt.timedelta(2)]})
    contract = infer_contract(frame)
    assert contract.column_names == ("id",)
    assert "Column 'wait' (Duration" in contract.description


def test_every_engine_gives_the_same_contract(constructor: Constructor) -> None:
    # no date column: Dask cannot take the minimum of dates (a Dask limitation)
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "s": ["a", "b", "a", "b"],
            "f": [0.5, 1, 2, None],
            "e": ["a@b.co", "c@d.io", None, "x@y.z"],
        }
    )
    assert infer_contract(constructor(frame)) == infer_contract(frame)


def test_statistics_take_one_query_and_categories_one_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries: list[Any] = []
    collect = Backend.collect

    def counting(self: Backend, frame: Any) -> Any:
        queries.append(frame)
        return collect(self, frame)

    monkeypatch.setattr(Backend, "collect", counting)
    infer_contract(pl.LazyFrame({"id": [1, 2, 3], "f": [0.1, 0.2, 0.3]}))
    assert len(queries) == 1
    infer_contract(pl.LazyFrame({"s": ["a", "b", "a", "b"], "t": ["x", "x", "y", "y"]}))
    assert len(queries) == 3


def test_zero_rows_is_an_input_error() -> None:
    with pytest.raises(InputError, match="cannot infer a contract from 0 rows") as info:
        infer_contract(pl.DataFrame({"id": []}, schema={"id": pl.Int64}))
    assert info.value.hint


def test_not_a_frame_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot infer a contract from an object of type"):
        infer_contract([1, 2, 3])


_CELLS = {
    "i": st.none() | st.integers(-(2**40), 2**40),
    "f": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    "s": st.none() | st.sampled_from(["a", "b", "c@d.io", "12", ""]) | st.text(max_size=5),
    "d": st.none() | st.dates(),
    "b": st.none() | st.booleans(),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.fixed_dictionaries(
            {k: st.lists(v, min_size=n, max_size=n) for k, v in _CELLS.items()}
        )
    )
)
def test_any_inferred_contract_accepts_the_data_it_came_from(columns: dict[str, list[Any]]) -> None:
    frame = pl.DataFrame(
        columns,
        schema={"i": pl.Int64, "f": pl.Float64, "s": pl.String, "d": pl.Date, "b": pl.Boolean},
    )
    report, _ = checked_data(infer_contract(frame), frame)
    assert report.passed, report.summary()


def test_dask_date_columns_get_a_clear_error_and_a_way_out() -> None:
    from tests.conftest import CONSTRUCTORS

    frame = pl.DataFrame({"d": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)], "x": [1, 2]})
    ddf = CONSTRUCTORS["dask"](frame)
    with pytest.raises(UsageError, match="Dask could not profile the data") as caught:
        infer_contract(ddf)
    assert "ddf.head(" in str(caught.value)
    sample = ddf.head(2, npartitions=-1)  # the hint's way out: a pandas sample
    assert infer_contract(sample) == infer_contract(frame)


def test_wide_data_from_a_file_gives_the_right_contract_per_column(tmp_path: Path) -> None:
    """2,000 columns streamed from Parquet: every column's type, range, nulls and key are its own.

    Wide data is profiled in batches of columns (one query over all of them grew as columns
    squared: 5 GB at 4,000 columns); each column must still get its own statistics.
    """
    width, rows = 2_000, 30
    columns: dict[str, Any] = {}
    for i in range(width):
        if i % 3 == 0:  # a key: distinct values i .. i + rows - 1
            columns[f"c{i}"] = [i + r for r in range(rows)]
        elif i % 3 == 1:  # repeats, with one null
            columns[f"c{i}"] = [None] + [i + r % 2 for r in range(rows - 1)]
        else:
            columns[f"c{i}"] = [float(-i + r) for r in range(rows)]
    path = tmp_path / "wide.parquet"
    pl.DataFrame(columns).write_parquet(path)

    contract = infer_contract(pl.scan_parquet(path), exact_bounds=True)  # each column's own

    assert [c.name for c in contract.columns] == list(columns)
    assert f"from {rows:,} rows" in contract.description
    for i, spec in enumerate(contract.columns):
        if i % 3 == 0:
            expected = (DType.INT, False, i, i + rows - 1, True)
        elif i % 3 == 1:
            expected = (DType.INT, True, i, i + 1, False)
        else:
            expected = (DType.FLOAT, False, float(-i), float(-i + rows - 1), False)
        assert (spec.dtype, spec.nullable, spec.ge, spec.le, spec.unique) == expected, spec.name
    assert checked_data(contract, path)[0].passed


def test_numeric_bounds_are_rounded_outward_to_readable_values() -> None:
    frame = pl.DataFrame(
        {
            "income": [10.428615797810439, 5000.5, 12322.961363407958],
            "score": [0.0035914444354882002, 0.5, 0.9978339562069605],
            "age": [18, 40, 90],
            "balance": [-12.34, 0.0, 3.0],
            "visits": [3, 1234, 987],
        }
    )
    contract = infer_contract(frame)
    bounds = {c.name: (c.ge, c.le) for c in contract.columns}
    assert bounds == {
        "income": (0.0, 13000.0),  # never 10.428615797810439 .. 12322.961363407958
        "score": (0.0, 1.0),
        "age": (18, 90),
        "balance": (-13.0, 3.0),
        "visits": (0, 1300),
    }
    assert all(isinstance(b, int) for b in (*bounds["age"], *bounds["visits"]))
    tomorrow = pl.DataFrame(  # a little past today's extremes: still accepted
        {"income": [12500.0], "score": [0.999], "age": [90], "balance": [-12.9], "visits": [1290]}
    )
    assert checked_data(contract, tomorrow)[0].passed
    exact = infer_contract(frame, exact_bounds=True).column("income")
    assert (exact.ge, exact.le) == (10.428615797810439, 12322.961363407958)


def _significant_digits(value: float) -> int:
    return len(decimal.Decimal(repr(value)).normalize().as_tuple().digits)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8),
)
def test_inferred_bounds_are_outward_readable_and_accept_the_sample(
    ints: list[int], floats: list[float]
) -> None:
    frame = pl.DataFrame({"i": ints[: len(floats)], "f": floats[: len(ints)]})
    contract = infer_contract(frame)
    assert checked_data(contract, frame)[0].passed
    for name, values in (("i", frame["i"].to_list()), ("f", frame["f"].to_list())):
        spec = contract.column(name)
        low, high = min(values), max(values)
        assert spec.ge <= low
        assert spec.le >= high
        if low >= 0:
            assert spec.ge >= 0
        for bound, observed in ((spec.ge, low), (spec.le, high)):
            assert type(bound) is type(observed)
            # two significant digits, or the observed value where rounding would leave the
            # type's range (past 64-bit integers or the largest double)
            assert bound == observed or _significant_digits(bound) <= 2

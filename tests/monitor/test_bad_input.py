"""Monitoring on bad input: missing columns, nulls, tiny and empty windows, new categories,
NaN and infinities, constant columns. Nothing crashes; every answer is one a user can act on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from keel.cli import app
from keel.contracts import dump_yaml, infer_contract
from keel.errors import InputError, UsageError
from keel.monitor import compare, profile, profile_reference, reference_bins

runner = CliRunner()


def _reference(rows: int = 5_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "amount": rng.lognormal(3, 0.5, rows),
            "age": rng.integers(18, 90, rows),
            "plan": rng.choice(["free", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
        }
    )


def _strict_json(result: object) -> dict[str, object]:
    """The comparison's JSON, which must be strict (no NaN or Infinity)."""
    text = json.dumps(result.to_dict(), allow_nan=False)  # type: ignore[attr-defined]
    return dict(json.loads(text))


# --------------------------------------------------------------------------- missing columns


def test_current_data_missing_columns_is_a_usage_error_naming_them() -> None:
    with pytest.raises(UsageError, match=r"lacks column.*amount, plan") as err:
        compare(_reference(), _reference().select("age"), columns=["amount", "age", "plan"])
    assert "It has: age" in str(err.value)
    bins = reference_bins(_reference())
    with pytest.raises(UsageError, match=r"\['plan'\] not in the data"):
        profile(_reference().drop("plan"), bins)


def test_cli_exits_2_naming_the_contract_columns_the_current_data_lacks(tmp_path: Path) -> None:
    reference = _reference()
    reference.write_parquet(tmp_path / "ref.parquet")
    reference.drop("plan").write_parquet(tmp_path / "cur.parquet")
    (tmp_path / "loan.yaml").write_text(dump_yaml(infer_contract(reference, name="Loan")))
    result = runner.invoke(
        app,
        [
            "monitor",
            "compare",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--contract",
            str(tmp_path / "loan.yaml"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "plan" in result.output
    assert "lacks" in result.output


def test_a_reference_column_the_current_data_lacks_is_named_not_dropped(tmp_path: Path) -> None:
    """Without ``columns=`` every reference column is compared: one the current data lacks
    is a usage error naming it and the current data, never a silent "no drift"."""
    reference, current = _reference(), _reference(seed=1).drop("plan")
    with pytest.raises(UsageError, match=r"current data lacks column\(s\) plan that") as err:
        compare(reference, current)
    assert "columns=" in str(err.value)
    assert "--columns" in str(err.value)
    current.write_parquet(tmp_path / "today.parquet")
    with pytest.raises(UsageError, match=r"current data \(.*today\.parquet\) lacks column"):
        compare(reference, tmp_path / "today.parquet")
    subset = compare(reference, current, columns=["amount", "age"])  # a subset, on purpose
    assert [r.column for r in subset.columns] == ["amount", "age"]
    assert [r.column for r in compare(current, reference).columns] == ["amount", "age"]


@settings(max_examples=25, deadline=None)
@given(dropped=st.sets(st.sampled_from(["amount", "age", "plan"]), min_size=1, max_size=2))
def test_exactly_the_columns_the_current_data_lacks_are_named(dropped: set[str]) -> None:
    reference = _reference(rows=200)
    with pytest.raises(UsageError) as err:
        compare(reference, _reference(rows=200, seed=1).drop(sorted(dropped)))
    named = [c for c in ("amount", "age", "plan") if c in dropped]  # in the reference's order
    assert f"lacks column(s) {', '.join(named)} that" in str(err.value)


def test_a_slicing_column_the_current_data_lacks_keeps_its_own_error() -> None:
    with pytest.raises(UsageError, match="cannot slice by 'plan'"):
        compare(_reference(), _reference(seed=1).drop("plan"), slice_by="plan")


def test_a_stored_profile_column_the_current_data_lacks_is_named() -> None:
    stored = profile_reference(_reference())
    with pytest.raises(UsageError, match=r"lacks column\(s\) age that the reference profile"):
        compare(stored, _reference(seed=1).drop("age"))
    assert [r.column for r in compare(stored, _reference(seed=1)).columns] == [
        "amount",
        "age",
        "plan",
    ]


def test_dask_current_data_lacking_a_reference_column_is_named() -> None:
    import dask.dataframe as dd  # installed with the test dependencies: missing fails here

    current = dd.from_pandas(_reference(seed=1).drop("plan").to_pandas(), npartitions=3)
    with pytest.raises(UsageError, match=r"lacks column\(s\) plan that the reference data"):
        compare(_reference(), current)
    stored = profile_reference(_reference())
    with pytest.raises(UsageError, match=r"lacks column\(s\) plan that the reference profile"):
        compare(stored, current)
    subset = compare(_reference(), current, columns=["amount", "age"])
    assert [r.column for r in subset.columns] == ["amount", "age"]
    reference = dd.from_pandas(_reference().to_pandas(), npartitions=3)  # Dask on the left
    with pytest.raises(UsageError, match=r"lacks column\(s\) age that the reference data"):
        compare(reference, _reference(seed=1).drop("age"))


def test_cli_exits_2_naming_the_column_the_current_data_lacks(tmp_path: Path) -> None:
    _reference().write_parquet(tmp_path / "ref.parquet")
    _reference(seed=1).drop("age").write_parquet(tmp_path / "cur.parquet")
    paths = [str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")]
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["monitor", "compare", *paths, "--format", fmt])
        assert result.exit_code == 2, result.output
        said = result.output.replace("\n", "")  # the terminal wraps the message
        assert "lacks column(s) age that the reference data has" in said
        assert "cur.parquet" in said
        assert "--columns" in said
    subset = runner.invoke(
        app, ["monitor", "compare", *paths, "--columns", "amount,plan", "--format", "json"]
    )
    assert subset.exit_code in (0, 1), subset.output
    assert [c["column"] for c in json.loads(subset.output)["columns"]] == ["amount", "plan"]
    (tmp_path / "loan.yaml").write_text(dump_yaml(infer_contract(_reference(), name="Loan")))
    both = ["--columns", "amount", "--contract", str(tmp_path / "loan.yaml")]
    assert runner.invoke(app, ["monitor", "compare", *paths, *both]).exit_code == 2
    assert runner.invoke(app, ["monitor", "compare", *paths, "--columns", " , "]).exit_code == 2


# --------------------------------------------------------------------------- nulls and sizes


def test_all_null_current_columns_are_not_drift_and_say_why() -> None:
    current = pl.DataFrame(
        {"amount": [None] * 50, "age": [None] * 50, "plan": [None] * 50},
        schema={"amount": pl.Float64, "age": pl.Int64, "plan": pl.String},
    )
    result = compare(_reference(), current)
    assert not result.drifted
    for r in result.columns:
        assert math.isnan(r.score)
        assert r.detail["reason"] == "no rows"
    assert result.current.columns["amount"].nulls == 50
    out = _strict_json(result)
    assert all(c["score"] is None for c in out["columns"])  # type: ignore[attr-defined,index]


def test_an_all_null_reference_column_is_skipped_or_reported() -> None:
    reference = _reference().with_columns(pl.lit(None, dtype=pl.Float64).alias("amount"))
    result = compare(reference, _reference(seed=1))
    amount = next(r for r in result.columns if r.column == "amount")
    assert amount.detail["reason"] == "no rows"
    assert not amount.drifted
    assert "reference" in amount.detail["message"]


def test_a_single_row_window() -> None:
    result = compare(_reference(), _reference(rows=1, seed=1))
    assert result.current.rows == 1
    assert not result.drifted  # one row is no evidence of a shift
    for r in result.columns:
        assert 0 <= r.low <= r.score <= r.high
        assert r.detail["small_window"]
    _strict_json(result)


def test_an_empty_current_dataset() -> None:
    # not "no drift": nothing was compared (tests/monitor/test_compare_unmeasurable.py)
    with pytest.raises(InputError, match="the current data has no rows"):
        compare(_reference(), _reference().clear())


def test_windows_with_no_traffic_merge_into_nothing() -> None:
    bins = reference_bins(_reference())
    empty = profile(_reference().clear(), bins)
    some = profile(_reference(rows=10, seed=3), bins)
    merged = empty.merge(some).merge(empty)
    assert merged.rows == 10
    assert merged.columns["amount"].counts == some.columns["amount"].counts
    assert merged.columns["amount"].mean == some.columns["amount"].mean


# --------------------------------------------------------------------------- values


def test_categories_never_seen_are_flagged_as_new() -> None:
    current = _reference(rows=2_000, seed=1).with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0)
        .then(pl.lit("enterprise"))
        .otherwise(pl.col("plan"))
        .alias("plan")
    )
    result = compare(_reference(), current)
    plan = next(r for r in result.columns if r.column == "plan")
    assert plan.detail["new_categories"] is True
    assert plan.detail["unseen_share"] == pytest.approx(0.25, abs=0.01)
    assert plan.drifted
    counts = result.current.columns["plan"]
    assert counts.counts[-1] == 500  # the unseen bin
    other = next(r for r in compare(_reference(), _reference(seed=1)).columns if r.column == "plan")
    assert other.detail["new_categories"] is False


def test_nan_and_infinities_are_counted_apart_and_never_break_anything() -> None:
    current = _reference(rows=1_000, seed=1).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(pl.lit(math.nan))
        .when(pl.int_range(pl.len()) % 10 == 1)
        .then(pl.lit(math.inf))
        .when(pl.int_range(pl.len()) % 10 == 2)
        .then(pl.lit(-math.inf))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    result = compare(_reference(), current)
    amount = result.current.columns["amount"]
    assert (amount.nans, amount.infinite) == (100, 200)
    assert amount.nulls == 100  # NaN counts as null
    assert sum(amount.counts) == amount.n == 700  # only finite values are binned
    assert amount.above >= 100  # +inf lies above the reference's range ...
    assert amount.below >= 100  # ... and -inf below it
    for value in (amount.minimum, amount.maximum, amount.mean, amount.variance):
        assert value is not None
        assert math.isfinite(value)
    drift = next(r for r in result.columns if r.column == "amount")
    assert not drift.drifted  # the finite values are distributed as before
    _strict_json(result)


def test_nan_and_infinities_in_the_reference() -> None:
    reference = _reference().with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit(math.inf))
        .when(pl.int_range(pl.len()) < 6)
        .then(pl.lit(math.nan))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    bins = reference_bins(reference)["amount"]
    assert bins.low is not None
    assert bins.high is not None
    assert math.isfinite(bins.low)
    assert math.isfinite(bins.high)
    assert not compare(reference, _reference(seed=1)).drifted


def test_a_constant_reference_column() -> None:
    reference = _reference().with_columns(pl.lit(7.0).alias("amount"))
    same = compare(reference, _reference(seed=1).with_columns(pl.lit(7.0).alias("amount")))
    amount = next(r for r in same.columns if r.column == "amount")
    assert amount.score == 0.0
    assert not amount.drifted
    assert same.reference.columns["amount"].variance == 0.0
    moved = compare(reference, _reference(seed=1).with_columns(pl.lit(8.0).alias("amount")))
    amount = next(r for r in moved.columns if r.column == "amount")
    assert amount.drifted  # a constant that changes is drift
    assert moved.current.columns["amount"].above == 5_000
    _strict_json(moved)

"""Each bad input of issue 14 stops with a message that says what, where and how to fix it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import keel
from keel.errors import InputError, KeelError, UsageError
from keel.features import load_definitions, training_set
from tests.features.conftest import DAY, T0


def _error(entities: object, features: object = "loans", **options: object) -> KeelError:
    with pytest.raises(KeelError) as caught:
        training_set(entities, features, **options)  # type: ignore[arg-type]
    return caught.value


def test_entity_frame_without_the_timestamp(project: Path) -> None:
    error = _error(pl.DataFrame({"applicant_id": [1], "when": [T0]}))
    assert isinstance(error, InputError)
    assert "no timestamp column 'timestamp'" in error.message
    assert "when" in error.message
    assert error.hint is not None
    assert "timestamp='COLUMN'" in error.hint


def test_key_of_the_wrong_type(project: Path) -> None:
    error = _error(pl.DataFrame({"applicant_id": ["1"], "timestamp": [T0]}))
    assert "column 'applicant_id' holds String, but entity 'applicant' declares it int" in (
        error.message
    )
    assert error.hint is not None
    assert "cast" in error.hint


def test_naive_and_aware_times_mixed(project: Path) -> None:
    entities = pl.DataFrame(
        {"applicant_id": [1], "timestamp": [dt.datetime(2024, 1, 2, tzinfo=dt.UTC)]}
    )
    error = _error(entities)
    assert "time-zone aware and naive times cannot be compared" in error.message
    assert "'event_time' is naive" in error.message
    assert error.hint is not None
    assert "replace_time_zone" in error.hint


def test_null_keys(project: Path) -> None:
    error = _error(pl.DataFrame({"applicant_id": [1, None], "timestamp": [T0, T0]}))
    assert "1 row(s) with a null key 'applicant_id' (rows [1])" in error.message


def test_duplicate_event_times_without_created_time(project: Path) -> None:
    pl.DataFrame({"applicant_id": [2, 2], "reported": [T0, T0], "delinquencies": [1, 3]}).write_csv(
        "data/bureau.csv"
    )
    error = _error(pl.DataFrame({"applicant_id": [2], "timestamp": [T0 + DAY]}), ["bureau:*"])
    assert "feature view 'bureau': 1 row(s) repeat the keys and event time" in error.message
    assert "ambiguous" in error.message
    assert error.hint is not None
    assert "created_time" in error.hint


def test_duplicate_event_times_are_broken_by_created_time(project: Path) -> None:
    credit = pl.read_parquet("data/credit.parquet")
    later = credit.head(1).with_columns(created_at=pl.lit(T0 + DAY), open_loans=pl.lit(7, pl.Int64))
    pl.concat([later, credit]).write_parquet("data/credit.parquet")  # order does not matter
    frame = training_set(
        pl.DataFrame({"applicant_id": [1], "timestamp": [T0 + DAY]}), ["open_loans"]
    ).frame
    assert frame.get_column("open_loans").to_list() == [7]


def test_a_feature_defined_by_two_views(project: Path) -> None:
    text = Path("features.py").read_text()
    text = text.replace("    delinquencies: int\n", "    delinquencies: int\n    open_loans: int\n")
    Path("features.py").write_text(text)
    pl.read_csv("data/bureau.csv").with_columns(open_loans=pl.lit(1)).write_csv("data/bureau.csv")
    entities = pl.DataFrame({"applicant_id": [1], "timestamp": [T0 + DAY]})
    bare = _error(entities, ["open_loans"])
    assert bare.message.endswith("feature 'open_loans' is defined by views 'credit' and 'bureau'.")
    assert bare.hint is not None
    assert "'credit:open_loans' or 'bureau:open_loans'" in bare.hint
    both = _error(entities, ["credit:open_loans", "bureau:open_loans"])
    assert "cannot hold both under one name" in both.message
    assert both.hint is not None
    assert "full_names=True gives columns credit__open_loans, bureau__open_loans" in both.hint
    frame = training_set(
        entities, ["credit:open_loans", "bureau:open_loans"], full_names=True
    ).frame
    assert frame.columns[-2:] == ["credit__open_loans", "bureau__open_loans"]


def test_an_unknown_feature_suggests_the_closest(project: Path) -> None:
    error = _error(pl.DataFrame({"applicant_id": [1], "timestamp": [T0]}), ["credit_scor"])
    assert error.message == "the feature list: unknown feature 'credit_scor'."
    assert error.hint is not None
    assert error.hint.startswith("Did you mean 'credit_score'?")
    view = load_definitions().views["credit"]
    with pytest.raises(UsageError, match="has no feature 'open_loan'") as caught:
        view["open_loan"]
    assert "Did you mean 'open_loans'?" in str(caught.value)


@pytest.mark.parametrize("ttl", ["0s", "-1d", 0, dt.timedelta(hours=-3)])
def test_a_ttl_of_zero_or_negative(ttl: object) -> None:
    class Rows(keel.Schema):
        k: int
        t: dt.datetime
        v: float

    with pytest.raises(UsageError) as caught:
        keel.FeatureView(
            "v",
            entity=keel.Entity("e", keys={"k": int}),
            source="rows.parquet",
            schema=Rows,
            event_time="t",
            ttl=ttl,  # type: ignore[arg-type]
        )
    assert "feature view 'v' ttl" in caught.value.message
    assert "expected longer than 0s" in caught.value.message
    assert "test_bad_input.py:" in caught.value.message  # where it was defined
    assert caught.value.hint is not None
    assert "ttl=None for values that never expire" in caught.value.hint


def test_a_service_naming_a_view_that_no_longer_exists(project: Path) -> None:
    text = (
        Path("features.py").read_text().replace('"bureau:delinquencies"', '"history:delinquencies"')
    )
    Path("features.py").write_text(text)
    error = _error(pl.DataFrame({"applicant_id": [1], "timestamp": [T0]}))
    assert "feature service 'loans'" in error.message
    assert "names feature view 'history' (in 'history:delinquencies'), which is not defined" in (
        error.message
    )
    assert error.hint is not None
    assert "renamed or removed" in error.hint


def test_the_definitions_file_keel_toml_names_is_missing(project: Path) -> None:
    Path("features.py").unlink()
    with pytest.raises(KeelError) as caught:
        load_definitions()
    assert "keel.toml:" in caught.value.message
    assert "features.definitions: no feature definitions file at" in caught.value.message


def test_a_definitions_file_that_raises(project: Path) -> None:
    Path("features.py").write_text("import keel\n\nx = 1 / 0\n")
    with pytest.raises(UsageError) as caught:
        load_definitions()
    assert "features.py:3: the feature definitions raised ZeroDivisionError" in caught.value.message


def test_a_derived_feature_needs_types() -> None:
    from keel.features import derived

    with pytest.raises(UsageError, match="parameter 'income' needs a column type annotation"):

        @derived
        def ratio(income, debt: float) -> float:  # type: ignore[no-untyped-def]
            return float(debt / income)

    with pytest.raises(UsageError, match="needs a return annotation"):

        @derived
        def half(income: float):  # type: ignore[no-untyped-def]
            return income / 2


def test_a_derived_feature_needs_its_inputs(project: Path) -> None:
    entities = pl.DataFrame({"applicant_id": [1], "timestamp": [T0]})
    error = _error(entities, ["credit:open_loans", "risky"])
    assert "derived feature 'risky'" in error.message
    assert "needs 'delinquencies'" in error.message


def test_two_views_of_one_name_in_the_definitions(project: Path) -> None:
    text = Path("features.py").read_text().replace('"bureau", entity', '"credit", entity')
    Path("features.py").write_text(text)
    with pytest.raises(UsageError, match="two definitions named 'credit'") as caught:
        load_definitions()
    assert "features.py:" in caught.value.message

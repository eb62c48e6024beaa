"""Training sets through the public API: the documented semantics on a small project, the
content address and cache, lineage, contracts on read, and every engine agreeing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import keel
from keel.errors import ContractError
from keel.features import load_definitions, training_set
from keel.pipelines import lineage_tree
from tests.features.conftest import DAY, T0


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_rows_in_order_with_missing_and_expired_as_null(project: Path, engine: str) -> None:
    built = training_set("entities.parquet", "loans", engine=engine)  # type: ignore[arg-type]
    frame = built.frame
    assert frame.columns == [
        "applicant_id", "timestamp", "label",
        "credit_score", "open_loans", "delinquencies", "risky",
    ]  # fmt: skip
    assert frame.select("applicant_id", "label").rows() == [(1, 0), (1, 1), (2, 1), (3, 0), (4, 0)]
    assert frame.get_column("credit_score").to_list() == [600.0, 700.0, None, None, None]
    assert frame.get_column("open_loans").to_list() == [1, 2, 0, None, None]
    assert frame.get_column("delinquencies").to_list() == [0, 0, 2, None, None]
    assert frame.get_column("risky").to_list() == [False, True, True, None, None]
    coverage = {c.view: (c.found, c.expired, c.missing) for c in built.coverage}
    assert coverage == {"credit": (3, 1, 1), "bureau": (3, 0, 2)}


def test_as_known_at_hides_rows_written_later(project: Path) -> None:
    entities = pl.DataFrame({"applicant_id": [1], "timestamp": [T0 + 4 * DAY]})
    plain = training_set(entities, ["credit:open_loans"]).frame
    known = training_set(entities, ["credit:open_loans"], as_known_at=True)
    assert plain.get_column("open_loans").to_list() == [2]  # event time 4d, written at 5d
    # known at 4d is only the row of day 0, older than the 3d TTL: expired, never the future
    assert known.frame.get_column("open_loans").to_list() == [None]
    assert known.coverage[0].expired == 1


def test_recorded_content_addressed_and_cached_with_lineage(project: Path) -> None:
    first = training_set("entities.parquet", "loans", name="loans-train")
    assert first.dataset is not None
    assert not first.cache_hit
    assert (first.dataset.name, first.dataset.version, first.dataset.rows) == ("loans-train", 1, 5)
    again = training_set("entities.parquet", "loans", name="loans-train")
    assert again.cache_hit
    assert again.key == first.key
    assert again.dataset is not None
    assert again.dataset.version == 1
    assert again.frame.equals(first.frame)
    tree = lineage_tree("loans-train/1")
    run = tree.children[0]
    assert run.kind == "run"
    assert "training-set loans-train" in run.label
    params = keel.tracking.open_project().metadata.get_run(str(run.run_id)).params
    assert set(params) >= {"features.key", "features.view.credit", "features.view.bureau"}
    assert params["features.view.credit"]["source"] == "data/credit.parquet"

    # new rows in a source: a new content version, so a new training set
    credit = pl.read_parquet("data/credit.parquet")
    extra = credit.head(1).with_columns(
        event_time=pl.lit(T0 + DAY), created_at=pl.lit(T0 + DAY), open_loans=pl.lit(9, pl.Int64)
    )
    pl.concat([credit, extra]).write_parquet("data/credit.parquet")
    changed = training_set("entities.parquet", "loans", name="loans-train")
    assert not changed.cache_hit
    assert changed.key != first.key
    assert changed.dataset is not None
    assert changed.dataset.version == 2
    assert changed.frame.get_column("open_loans").to_list()[0] == 9


def test_a_dataset_reference_is_a_source_and_an_input_of_the_run(project: Path) -> None:
    keel.add_dataset("data/credit.parquet", "credit-rows", profile=False)
    text = Path("features.py").read_text().replace('"data/credit.parquet"', '"data:credit-rows/1"')
    Path("features.py").write_text(text)
    built = training_set("entities.parquet", "loans", name="by-ref")
    assert built.frame.get_column("credit_score").to_list() == [600.0, 700.0, None, None, None]
    tree = lineage_tree("by-ref/1")
    inputs = [node.label for node in tree.children[0].children]
    assert inputs == ["credit-rows/1"]


def test_a_sql_source_runs_in_duckdb(project: Path) -> None:
    text = (
        Path("features.py")
        .read_text()
        .replace(
            'source="data/bureau.csv"',
            'source=sql("SELECT applicant_id, reported, delinquencies * 10 AS delinquencies '
            "FROM 'data/bureau.csv'\")",
        )
    )
    Path("features.py").write_text(text)
    built = training_set("entities.parquet", ["bureau:delinquencies"])
    assert built.frame.get_column("delinquencies").to_list() == [0, 0, 20, None, None]


def test_a_glob_source(project: Path) -> None:
    credit = pl.read_parquet("data/credit.parquet")
    Path("data/parts").mkdir()
    credit.head(2).write_parquet("data/parts/a.parquet")
    credit.tail(2).write_parquet("data/parts/b.parquet")
    Path("features.py").write_text(
        Path("features.py").read_text().replace("data/credit.parquet", "data/parts/*.parquet")
    )
    built = training_set("entities.parquet", ["credit:open_loans"])
    assert built.frame.get_column("open_loans").to_list() == [1, 2, 0, None, None]


def test_a_source_breaking_its_contract_stops_with_the_report(project: Path) -> None:
    credit = pl.read_parquet("data/credit.parquet")
    credit.with_columns(credit_score=pl.lit(-5.0)).write_parquet("data/credit.parquet")
    with pytest.raises(ContractError) as caught:
        training_set("entities.parquet", "loans")
    assert "feature view 'credit': the source" in str(caught.value)
    assert "credit_score" in str(caught.value)
    assert not caught.value.report.passed  # type: ignore[attr-defined]


def test_definitions_are_read_afresh_and_fingerprinted(project: Path) -> None:
    defs = load_definitions()
    assert set(defs.views) == {"credit", "bureau"}
    assert set(defs.services) == {"loans"}
    assert set(defs.derived) == {"risky"}
    before = defs.views["credit"].fingerprint(defs.root)
    Path("features.py").write_text(Path("features.py").read_text().replace('ttl="3d"', 'ttl="4d"'))
    after = load_definitions().views["credit"].fingerprint(defs.root)
    assert before != after


def test_timezone_aware_times_on_both_sides(project: Path) -> None:
    credit = pl.read_parquet("data/credit.parquet").with_columns(
        pl.col("event_time", "created_at").dt.replace_time_zone("UTC")
    )
    credit.write_parquet("data/credit.parquet")
    entities = pl.DataFrame(
        {"applicant_id": [1], "timestamp": [dt.datetime(2024, 1, 5, 1, tzinfo=dt.UTC)]}
    ).with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Paris"))
    # 01:00 UTC on the 5th is after the 4th-day row
    frame = training_set(entities, ["credit:open_loans"]).frame
    assert frame.get_column("open_loans").to_list() == [2]


def test_a_duckdb_relation_of_entity_rows(project: Path) -> None:
    import duckdb

    relation = duckdb.sql("SELECT * FROM 'entities.parquet'")
    built = training_set(relation, "loans")
    assert built.frame.get_column("open_loans").to_list() == [1, 2, 0, None, None]

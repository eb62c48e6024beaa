"""keel features list|show|training-set: JSON shapes, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from tests.features.conftest import project  # noqa: F401  # the fixture

runner = CliRunner()


def test_list_and_show_as_json(project: Path) -> None:  # noqa: F811
    listed = runner.invoke(app, ["features", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [v["name"] for v in data["views"]] == ["credit", "bureau"]
    assert data["services"] == [
        {
            "name": "loans",
            "features": ["credit:*", "bureau:delinquencies", "risky"],
            "full_names": False,
            "description": "",
        }
    ]
    assert data["derived"][0]["inputs"] == ["open_loans", "delinquencies"]
    shown = runner.invoke(app, ["features", "show", "credit", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["ttl"] == "3d"
    assert view["features"] == {"credit_score": "float", "open_loans": "int"}
    assert view["created_time"] == "created_at"
    table = runner.invoke(app, ["features", "list"])
    assert table.exit_code == 0
    assert "credit" in table.stdout


def test_show_an_unknown_name_exits_2_with_a_suggestion(project: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["features", "show", "credt"])
    assert result.exit_code == 2
    assert "no feature view or service 'credt'" in result.stderr
    assert "Did you mean 'credit'?" in result.stderr


def test_training_set_writes_records_and_hits_the_cache(project: Path) -> None:  # noqa: F811
    args = [
        "features",
        "training-set",
        "entities.parquet",
        "--service",
        "loans",
        "-o",
        "out/train.parquet",
    ]
    first = runner.invoke(app, [*args, "--format", "json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["rows"] == 5
    assert data["dataset"] == "loans.training-set/1"
    assert data["cache_hit"] is False
    assert {"view": "credit", "found": 3, "expired": 1, "missing": 1} in data["coverage"]
    written = pl.read_parquet("out/train.parquet")
    assert written.height == 5
    assert written.columns[-1] == "risky"
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "cache hit" in again.stdout
    assert "loans.training-set/1" in again.stdout
    assert "credit: 3 found, 1 expired (20%), 1 missing (20%)" in again.stdout


def test_training_set_exit_codes(project: Path) -> None:  # noqa: F811
    base = ["features", "training-set", "entities.parquet", "-o", "o.parquet"]
    unknown = runner.invoke(app, [*base, "--service", "lons"])
    assert unknown.exit_code == 2
    assert "Did you mean 'loans'?" in unknown.stderr
    credit = pl.read_parquet("data/credit.parquet")
    credit.with_columns(credit_score=pl.lit(2000.0)).write_parquet("data/credit.parquet")
    broken = runner.invoke(app, [*base, "--service", "loans"])
    assert broken.exit_code == 1
    assert "error: feature view 'credit': the source" in broken.stderr
    assert not Path("o.parquet").exists()


def test_no_definitions_configured_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["features", "list"])
    assert result.exit_code == 2
    assert "names no feature definitions file" in result.stderr
    assert "[features]" in result.stderr


def test_materialize_then_get(project: Path) -> None:  # noqa: F811
    done = runner.invoke(
        app, ["features", "materialize", "--as-of", "2024-01-05T00:00:00", "--format", "json"]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert [(m["view"], m["rows"]) for m in data["materializations"]] == [
        ("credit", 3),
        ("bureau", 2),
    ]
    assert data["materializations"][0]["as_of"] == "2024-01-05T00:00:00+00:00"
    got = runner.invoke(
        app,
        [
            *["features", "get", "applicant_id=1", "--service", "loans"],
            *["--now", "2024-01-06", "--format", "json"],
        ],
    )
    assert got.exit_code == 0, got.output
    found = json.loads(got.stdout)
    assert found["rows"] == [
        {"applicant_id": 1, "credit_score": 700.0, "open_loans": 2, "delinquencies": 0}
        | {"risky": True}
    ]
    assert found["status"] == [{"credit": "found", "bureau": "found"}]
    # read now (years later): both values are past their TTL, never served stale
    table = runner.invoke(app, ["features", "get", "applicant_id=1", "--service", "loans"])
    assert table.exit_code == 0, table.output
    assert "credit: expired" in table.stdout
    assert "bureau: expired" in table.stdout


def test_get_refuses_bad_input(project: Path) -> None:  # noqa: F811
    never = runner.invoke(app, ["features", "get", "applicant_id=1", "--service", "loans"])
    assert never.exit_code == 2
    assert "not been materialized" in never.output
    assert "Hint:" in never.output
    runner.invoke(app, ["features", "materialize", "--as-of", "2024-01-05"])
    typo = runner.invoke(app, ["features", "get", "applicant_id=1", "--feature", "open_loan"])
    assert typo.exit_code == 2
    assert "unknown feature 'open_loan'" in typo.output
    assert "open_loans" in typo.output
    bad = runner.invoke(app, ["features", "get", "applicant_id=x", "--service", "loans"])
    assert bad.exit_code == 2
    assert "is an integer" in bad.output
    when = runner.invoke(app, ["features", "materialize", "--as-of", "yesterday"])
    assert when.exit_code == 2
    assert "not a date-time" in when.output


def test_an_unreachable_online_store_is_a_clear_error(project: Path) -> None:  # noqa: F811
    toml = project / "keel.toml"
    toml.write_text(toml.read_text().replace('# online = ""', 'online = "redis://127.0.0.1:1/0"'))
    down = runner.invoke(app, ["features", "materialize"])
    assert down.exit_code == 2
    assert "error: the Redis online store redis://127.0.0.1:1/0 cannot be reached" in down.output
    assert "Hint: Start the Redis server" in down.output

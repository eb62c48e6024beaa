"""keel data add|list|show|diff|get: versions by content, described, restorable."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project

runner = CliRunner()

CONTRACT = """\
keel: 1
name: events
columns:
  id: {type: int, unique: true}
  v: {type: float, ge: 0}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    data = tmp_path / "events"
    data.mkdir()
    pl.DataFrame({"id": [1, 2], "v": [0.5, 1.5]}).write_parquet(data / "part-0.parquet")
    pl.DataFrame({"id": [3], "v": [2.5]}).write_parquet(data / "part-1.parquet")
    return tmp_path


def _add(*args: str, code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, ["data", "add", *args, "--format", "json"])
    assert result.exit_code == code, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_add_describes_and_versions_by_content(project: Path) -> None:
    first = _add("events", "--name", "events", "--contract", "contract.yaml")
    assert (first["version"], first["rows"], first["files"]) == (1, 3, 2)
    assert first["schema"] == {"id": "Int64", "v": "Float64"}
    assert first["contract_passed"] is True
    again = _add("events", "--name", "events")
    assert again["version"] == 1  # unchanged data: no new version
    pl.DataFrame({"id": [4, 4], "v": [-1.0, 3.0]}).write_parquet(project / "events" / "p2.parquet")
    second = _add("events", "--name", "events", "--contract", "contract.yaml", code=1)
    assert (second["version"], second["rows"], second["contract_passed"]) == (2, 5, False)
    listed = json.loads(runner.invoke(app, ["data", "list", "events", "--format", "json"]).stdout)
    assert [v["version"] for v in listed] == [1, 2]


def test_diff_names_rows_files_and_contract_changes(project: Path) -> None:
    _add("events", "--name", "events", "--contract", "contract.yaml")
    pl.DataFrame({"id": [9], "v": [-1.0]}).write_parquet(project / "events" / "part-1.parquet")
    _add("events", "--name", "events", "--contract", "contract.yaml", code=1)
    result = runner.invoke(app, ["data", "diff", "events", "--format", "json"])
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["rows"] == [3, 3]
    assert diff["files"] == {"added": [], "removed": [], "changed": ["part-1.parquet"]}
    assert diff["contract"][0]["passed"] is True
    assert diff["contract"][1]["failed"] == ["v: >= 0"]


def test_diff_defaults_to_a_table_like_every_other_command(project: Path) -> None:
    _add("events", "--name", "events", "--contract", "contract.yaml")
    pl.DataFrame({"id": [9], "v": [-1.0], "w": [1]}).write_parquet(
        project / "events" / "part-1.parquet"
    )
    (project / "events" / "part-0.parquet").unlink()
    _add("events", "--name", "events", "--contract", "contract.yaml", code=1)
    table = runner.invoke(app, ["data", "diff", "events"])
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("events/1 -> events/2: different content")
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in table.stdout.splitlines()
        if line.startswith("│")
    ]
    rows = {row[0]: row[1:] for row in cells if row[0]}
    assert rows["rows"] == ["3", "1"]
    assert rows["column w"] == ["—", "added"]
    assert rows["file part-0.parquet"] == ["present", "removed"]
    assert rows["file part-1.parquet"] == ["", "changed"]
    assert rows["contract"] == ["passed (events)", "FAILED (events): v: >= 0"]
    explicit = runner.invoke(app, ["data", "diff", "events", "1", "2", "--format", "json"])
    assert json.loads(explicit.stdout)["schema"]["added"] == ["w"]


def test_data_failing_its_contract_is_registered_as_failing_and_exits_1(project: Path) -> None:
    pl.DataFrame({"id": [5, 5], "v": [-1.0, 2.0]}).write_parquet(project / "events" / "p2.parquet")
    result = runner.invoke(
        app, ["data", "add", "events", "--name", "ev", "--contract", "contract.yaml"]
    )
    assert result.exit_code == 1, result.output
    assert "ev/1" in result.stdout
    assert "contract FAILED" in result.stdout
    said = " ".join(result.stderr.split())
    assert "ev/1 was registered as FAILING contract 'events': 2 check(s) failed on 5 rows" in said
    assert "id: unique: 2 rows" in said
    assert "v: >= 0: 1 row " in said  # one row, not "1 rows"
    assert "--require-valid" in said
    shown = json.loads(runner.invoke(app, ["data", "show", "ev/1"]).stdout)
    assert shown["contract_passed"] is False
    assert shown["contract"]["errors"] == 2  # the whole report is kept with the version
    table = runner.invoke(app, ["data", "list", "ev"])
    assert "failed" in table.stdout


def test_require_valid_refuses_failing_data_and_stores_nothing(project: Path) -> None:
    pl.DataFrame({"id": [5], "v": [-1.0]}).write_parquet(project / "events" / "p2.parquet")
    args = ["data", "add", "events", "--name", "ev", "--contract", "contract.yaml"]
    refused = runner.invoke(app, [*args, "--require-valid"])
    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.stderr.split())
    assert "v: >= 0" in said
    assert "Nothing was registered" in said
    listed = runner.invoke(app, ["data", "list", "ev", "--format", "json"])
    assert json.loads(listed.stdout) == []
    (project / "events" / "p2.parquet").unlink()
    accepted = runner.invoke(app, [*args, "--require-valid", "--format", "json"])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["contract_passed"] is True
    alone = runner.invoke(app, ["data", "add", "events", "--name", "ev", "--require-valid"])
    assert alone.exit_code == 2
    assert "--require-valid needs --contract" in alone.stderr


def test_add_dataset_records_the_failing_report_or_raises_with_require_valid(
    project: Path,
) -> None:
    import keel
    from keel.errors import ContractError

    pl.DataFrame({"id": [5], "v": [-1.0]}).write_parquet(project / "events" / "p2.parquet")
    version = keel.add_dataset(project / "events", "ev", contract="contract.yaml")
    assert version.contract is not None
    assert version.contract["passed"] is False
    assert [c["name"] for c in version.contract["checks"] if not c["passed"]] == ["v: >= 0"]
    with pytest.raises(ContractError) as caught:
        keel.add_dataset(project / "events", "strict", contract="contract.yaml", require_valid=True)
    assert not caught.value.report.passed
    assert [
        v.version for v in keel.tracking.open_project().metadata.list_dataset_versions("strict")
    ] == []


def test_get_restores_a_version_exactly(project: Path) -> None:
    _add("events", "--name", "events")
    original = (project / "events" / "part-0.parquet").read_bytes()
    (project / "events" / "part-0.parquet").write_bytes(b"changed later")
    result = runner.invoke(app, ["data", "get", "events/1", "restored"])
    assert result.exit_code == 0, result.output
    assert (project / "restored" / "part-0.parquet").read_bytes() == original
    assert pl.read_parquet(project / "restored").height == 3


def test_reference_only_is_recorded_but_not_restorable(project: Path) -> None:
    added = _add("events", "--name", "events", "--reference-only")
    assert added["stored"] is False
    result = runner.invoke(app, ["data", "get", "events", "out"])
    assert result.exit_code == 2
    assert "reference only" in result.stderr


def test_bad_input(project: Path) -> None:
    missing = runner.invoke(app, ["data", "add", "nope", "--name", "x"])
    assert missing.exit_code == 2
    assert "no data at nope" in missing.stderr
    assert runner.invoke(app, ["data", "get", "events@x", "out"]).exit_code == 2
    unknown = runner.invoke(app, ["data", "show", "ghost"])
    assert unknown.exit_code == 2
    _add("events", "--name", "events")
    lonely = runner.invoke(app, ["data", "diff", "events"])
    assert lonely.exit_code == 2
    assert "a diff needs two" in lonely.stderr


@pytest.mark.parametrize("command", ["show", "get"])
def test_the_old_version_form_exits_2_naming_the_new_one(project: Path, command: str) -> None:
    _add("events", "--name", "loans")
    result = runner.invoke(app, ["data", command, "loans@1", *(["out"] * (command == "get"))])

    assert result.exit_code == 2
    shown = " ".join(result.stderr.split())
    assert "dataset versions are written NAME/3" in shown
    assert "Hint: Write loans/1." in shown
    assert not (project / "out").exists()


def test_a_dataset_version_is_shown_and_read_as_name_slash_version(project: Path) -> None:
    added = runner.invoke(app, ["data", "add", "events", "--name", "loans"])
    assert added.stdout.startswith("loans/1: ")
    shown = runner.invoke(app, ["data", "show", "loans/1"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["version"] == 1

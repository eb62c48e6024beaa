"""The keel command: exit codes, JSON shapes and error messages as documented in docs/cli.md."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel import __version__
from keel.cli import app

runner = CliRunner()

CONTRACT = """\
keel: 1
name: loans
columns:
  id: {type: int, unique: true}
  age: {type: int, ge: 18, le: 100}
  state: {type: str, isin: [CA, NY]}
rules:
  - {rule: rows, min: 1}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    pl.DataFrame({"id": [1, 2], "age": [30, 40], "state": ["CA", "NY"]}).write_parquet(
        tmp_path / "good.parquet"
    )
    pl.DataFrame({"id": [1, 1, 3], "age": [30, 12, 40], "state": ["CA", "NY", "TX"]}).write_csv(
        tmp_path / "bad.csv"
    )
    return tmp_path


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"keel {__version__}"


def test_init_creates_the_project_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path), "--name", "demo"])
    assert result.exit_code == 0
    assert (tmp_path / "keel.toml").read_text().count('name = "demo"') == 1
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_validate_passes_with_exit_0(project: Path) -> None:
    result = runner.invoke(app, ["validate", "contract.yaml", "good.parquet"])
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.stdout


def test_validate_json_report_shape_and_exit_1(project: Path) -> None:
    result = runner.invoke(
        app, ["validate", "contract.yaml", "bad.csv", "--format", "json", "--examples", "1"]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["rows"] == 3
    by_name = {c["name"]: c for c in report["checks"]}
    for check in report["checks"]:
        assert set(check) >= {
            "name",
            "columns",
            "severity",
            "passed",
            "failures",
            "fraction",
            "examples",
        }
    age = by_name["age: >= 18 and <= 100"]
    assert (age["passed"], age["failures"], age["columns"]) == (False, 1, ["age"])
    assert age["fraction"] == pytest.approx(1 / 3, abs=1e-6)
    assert age["examples"] == [{"row": 1, "values": {"age": 12}}]
    assert by_name["id: unique"]["failures"] == 2
    assert len(by_name["id: unique"]["examples"]) == 1


def test_validate_table_lists_every_failure(project: Path) -> None:
    result = runner.invoke(app, ["validate", "contract.yaml", "bad.csv"])
    assert result.exit_code == 1
    for text in ("FAILED", "id: unique", "age: >= 18", "state: in"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "contract.yaml", "missing.parquet"], "data not found"),
        (["validate", "nope.yaml", "good.parquet"], "nope.yaml"),
        (["validate", "contract.yaml", "good.txt"], "cannot tell the format"),
        (["validate", "nomodule:Loan", "good.parquet"], "cannot import 'nomodule'"),
    ],
)
def test_unusable_input_exits_2_with_a_message(
    project: Path, args: list[str], message: str
) -> None:
    (project / "good.txt").write_text("x")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_bad_yaml_names_key_and_line(project: Path) -> None:
    (project / "typo.yaml").write_text(CONTRACT.replace("unique: true", "uniqe: true"))
    result = runner.invoke(app, ["validate", "typo.yaml", "good.parquet"])
    assert result.exit_code == 2
    assert "typo.yaml:4: columns.id.uniqe: unknown key" in result.stderr


def test_infer_then_validate_round_trip(project: Path) -> None:
    result = runner.invoke(app, ["contract", "infer", "good.parquet", "-o", "inferred.yaml"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["validate", "inferred.yaml", "good.parquet"]).exit_code == 0


def test_diff_exits_1_on_breaking_changes(project: Path) -> None:
    (project / "narrower.yaml").write_text(CONTRACT.replace("ge: 18", "ge: 21"))
    result = runner.invoke(
        app, ["contract", "diff", "contract.yaml", "narrower.yaml", "--format", "json"]
    )
    assert result.exit_code == 1
    diff = json.loads(result.stdout)
    assert diff["breaking"] is True
    assert any(c["breaking"] and "age" in c["target"] for c in diff["changes"])
    (project / "wider.yaml").write_text(CONTRACT.replace("ge: 18", "ge: 16"))
    assert runner.invoke(app, ["contract", "diff", "contract.yaml", "wider.yaml"]).exit_code == 0


def test_codegen_and_export(project: Path) -> None:
    result = runner.invoke(app, ["contract", "codegen", "contract.yaml", "-o", "schema.py"])
    assert result.exit_code == 0, result.output
    source = (project / "schema.py").read_text()
    assert "class" in source
    assert "keel.Schema" in source
    validated = runner.invoke(app, ["validate", f"{project / 'schema.py'}:Loans", "good.parquet"])
    assert validated.exit_code == 0, validated.output
    exported = runner.invoke(app, ["contract", "export", "contract.yaml"])
    assert exported.exit_code == 0
    schema = json.loads(exported.stdout)
    assert schema["properties"]["age"]["minimum"] == 18

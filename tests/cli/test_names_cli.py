"""Bad names and huge versions on the command line: exit 2, ``error:``, and the rule as hint.

Run against both backends: SQLite and PostgreSQL must give the same answer (the rule is
checked before any query, so PostgreSQL never sees a NUL byte or a 21-digit version).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.grammar import NAME_RULE
from keel.tracking import open_project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Iterator[Path]:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEEL_STORE_URL", store_url)
    (tmp_path / "loans.csv").write_text("id,v\n1,0.5\n2,1.5\n")
    assert runner.invoke(app, ["data", "add", "loans.csv", "--name", "loans"]).exit_code == 0
    yield tmp_path
    open_project(tmp_path).metadata.close()  # before the database is dropped


def _refused(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # rich wraps long lines


@pytest.mark.parametrize("name", ["a/b", "..", "rtl\u202egpj.exe", "nul\x00", "x" * 201, " x"])
def test_a_bad_dataset_name_is_refused_with_the_rule(project: Path, name: str) -> None:
    shown = _refused(["data", "add", "loans.csv", "--name", name])
    assert "Hint: " + NAME_RULE in shown


@pytest.mark.parametrize(
    "args",
    [
        ["data", "get", "loans/99999999999999999999", "out"],
        ["data", "show", "loans/1e30"],
        ["data", "diff", "loans", "1", "99999999999999999999"],
        ["models", "show", "churn/1e30"],
        ["models", "show", "churn/99999999999999999999"],
        ["models", "alias", "churn", "champion", "99999999999999999999"],
    ],
)
def test_a_huge_version_is_refused_not_overflowed(project: Path, args: list[str]) -> None:
    shown = _refused(args)
    assert "A version is a whole number from 1 to 2147483647" in shown
    assert not (project / "out").exists()


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["models", "alias", "churn", "3", "1"], "must not look like a number"),
        (["models", "show", "churn@3"], "Hint: Write churn/3."),
        (["data", "show", "loans@1"], "Hint: Write loans/1."),
        (["models", "alias", "churn", "a/b", "1"], NAME_RULE),
        (["models", "show", "churn@x\u202e"], NAME_RULE),
        (["data", "list", "nul\x00"], NAME_RULE),
        (["runs", "list", "--experiment", "x" * 300], NAME_RULE),
    ],
)
def test_bad_aliases_and_lookups_are_refused_with_the_rule(
    project: Path, args: list[str], rule: str
) -> None:
    assert rule in _refused(args)

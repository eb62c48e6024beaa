"""keel runs list|show|compare, through the CLI, on runs recorded with keel.start_run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.tracking import open_project
from keel.versioning import hash_path

runner = CliRunner()


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    ids = []
    for lr, auc in ((0.1, 0.80), (0.2, 0.85)):
        with keel.start_run("train", params={"lr": lr, "depth": 3}, project=project) as run:
            run.log_metrics({"auc": auc, "odd": math.nan})
        ids.append(run.id)
    return ids


def test_list_json_shape(runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["id"] for r in listed] == runs[::-1]  # newest first
    first = listed[-1]
    assert {"id", "name", "status", "params", "metrics"} <= set(first)
    assert first["params"] == {"lr": 0.1, "depth": 3}
    assert first["metrics"] == {"auc": 0.8, "odd": "nan"}
    assert first["status"] == "finished"


def test_list_json_returns_every_run_unless_limited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    made = []
    for i in range(23):  # more than the table's page of 20
        with keel.start_run(f"r{i}", params={"i": i}, project=project) as run:
            pass
        made.append(run.id)
    everything = runner.invoke(app, ["runs", "list", "--format", "json"])
    assert everything.exit_code == 0, everything.output
    listed = json.loads(everything.stdout)
    assert sorted(r["id"] for r in listed) == sorted(made)
    assert [r["id"] for r in listed] == [r.id for r in project.metadata.list_runs()]
    from keel.cli._output import print_json

    with pytest.MonkeyPatch.context() as patch:  # streamed: the same text as one dump
        captured: list[str] = []
        patch.setattr("typer.echo", lambda text, **_: captured.append(text))
        print_json(listed)
    assert everything.stdout == captured[0] + "\n"
    limited = json.loads(runner.invoke(app, ["runs", "list", "-f", "json", "--limit", "5"]).stdout)
    assert [r["id"] for r in limited] == [r["id"] for r in listed[:5]]
    table = runner.invoke(app, ["runs", "list"])
    assert table.exit_code == 0, table.output
    assert "20 run(s), newest first" in table.stdout
    assert "3 more run(s) not shown; use --limit 23" in " ".join(table.stdout.split())
    whole = runner.invoke(app, ["runs", "list", "--limit", "30"])
    assert "23 run(s)" in whole.stdout
    assert "more run(s) not shown" not in whole.stdout


def test_list_json_of_an_empty_experiment_is_an_empty_array(runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "list", "--experiment", "none-yet", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_list_table_and_show(runs: list[str]) -> None:
    table = runner.invoke(app, ["runs", "list"])
    assert table.exit_code == 0
    assert runs[0][:8] in table.stdout
    shown = runner.invoke(app, ["runs", "show", runs[0][:8], "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == runs[0]


def test_compare_names_what_differs_and_metric_deltas(runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "compare", *runs, "--format", "json"])
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["differs"] == {
        "code": False,
        "environment": False,
        "params": True,
        "seed": False,
        "data": False,
    }
    assert diff["params"] == {"lr": [0.1, 0.2]}  # depth is the same: not listed
    assert diff["metrics"]["auc"]["deltas"][1] == pytest.approx(0.05)
    table = runner.invoke(app, ["runs", "compare", *runs])
    assert "param lr" in table.stdout


def test_unknown_run_is_exit_2(runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "show", "zzzz"])
    assert result.exit_code == 2
    assert "no run 'zzzz'" in result.stderr
    assert runner.invoke(app, ["runs", "compare", runs[0]]).exit_code == 2


PIPELINE = """\
from pathlib import Path

import keel


@keel.step
def read(source: Path) -> int:
    return len(source.read_text().split())


@keel.pipeline
def count(source: Path = Path("a.txt")) -> None:
    read(source)
"""


def test_compare_says_data_differs_for_runs_that_read_different_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.py").write_text(PIPELINE)
    (tmp_path / "a.txt").write_text("1 2 3\n")
    (tmp_path / "b.txt").write_text("4 5\n")
    (tmp_path / "copy.txt").write_text("1 2 3\n")

    def run(*params: str) -> str:
        args = [a for p in params for a in ("--param", p)]
        done = runner.invoke(app, ["run", "flow.py:count", *args, "--format", "json"])
        assert done.exit_code == 0, done.output
        run_id: str = json.loads(done.stdout)["run_id"]
        return run_id

    def compare(*ids: str) -> Any:
        done = runner.invoke(app, ["runs", "compare", *ids, "--format", "json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    def digest(path: str) -> str:
        return hash_path(tmp_path / path).digest

    first, other, copy = run(), run("source=b.txt"), run("source=copy.txt")
    a_digest = digest("a.txt")
    (tmp_path / "a.txt").write_text("9 9 9 9\n")  # new bytes under the same path
    rewritten = run()

    differs = compare(first, other)
    assert differs["differs"]["data"] is True
    assert differs["data"] == {
        "file read.source": [
            {"read": "a.txt", "digest": a_digest},
            {"read": "b.txt", "digest": digest("b.txt")},
        ]
    }
    same_bytes = compare(first, copy)  # another path, the same bytes: the same data
    assert same_bytes["differs"]["data"] is False
    assert same_bytes["differs"]["params"] is True
    assert same_bytes["data"] == {}
    assert compare(first, rewritten)["differs"]["data"] is True
    table = runner.invoke(app, ["runs", "compare", first, rewritten])
    assert "file read.source" in table.stdout
    assert f"a.txt {a_digest[:12]}" in table.stdout

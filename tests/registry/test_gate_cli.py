"""``keel models evaluate`` and ``keel models gate`` on registered models, as CI runs them,
and ``keel.registry.gate`` from Python: one result type, the same JSON the CLI prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project
from keel.errors import UsageError
from keel.registry import GateResult, gate, set_alias
from keel.tracking import Project, open_project


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=rows) > 0.5).astype(int)
    group = np.where(x[:, 1] > 0.5, "north", "south")
    return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "group": group, "label": y})


def _fit(frame: pl.DataFrame, *, useful: bool = True) -> Any:
    x = frame.select("x1", "x2").to_numpy()
    if not useful:  # a model that learned nothing from x1: it only sees x2
        x = np.column_stack([np.zeros(len(x)), x[:, 1]])
    return LogisticRegression().fit(x, frame["label"].to_numpy())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    project = open_project(tmp_path)
    train = _frame(2000, 1)
    keel.register(_fit(train), "risk", contract=Features, project=project)
    keel.register(_fit(train, useful=False), "risk", contract=Features, project=project)
    _frame(1500, 2).write_parquet(tmp_path / "holdout.parquet")
    return project


def _keel(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keel", "models", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "KEEL_ACTOR": "ci", "NO_COLOR": "1"},
        check=False,
    )


def test_evaluate_reports_metrics_per_slice_with_cis_and_html(project: Project) -> None:
    root = project.config.root
    done = _keel(
        root, "evaluate", "risk/1", "--data", "holdout.parquet", "--target", "label",
        "--slice", "group", "--n-boot", "200", "--html", "report.html", "-f", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"] == 1
    assert result["rows"] == 1500
    auc = result["metrics"]["auc"]
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert auc["value"] > 0.8
    assert {s["label"] for s in result["slices"]} == {"north", "south"}
    assert sum(s["rows"] for s in result["slices"]) == 1500
    page = (root / "report.html").read_text()
    assert "<svg" in page
    assert "north" in page
    # the model's own labels are counted, and the page says so; the curves are drawn
    confusion = result["confusion"]
    assert confusion["basis"] == "predicted labels"
    assert sum(map(sum, confusion["matrix"])) == 1500
    assert "Confusion matrix (predicted labels)" in page
    assert result["curves"]["roc"][0] == [0, 0]
    assert result["curves"]["roc"][-1] == [1, 1]
    for chart in ("ROC curve", "Precision-recall curve", "Score distribution per class"):
        assert f'aria-label="{chart}"' in page


def test_the_first_version_passes_without_a_baseline_and_is_promoted(project: Project) -> None:
    root = project.config.root
    done = _keel(
        root, "gate", "risk", "--candidate", "1", "--data", "holdout.parquet",
        "--target", "label", "--promote", "-f", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["passed"] is True
    assert outcome["baseline"] is None
    assert outcome["promoted"] is True
    assert project.metadata.models.alias("risk", "champion").version == 1


def test_a_worse_candidate_fails_the_gate_and_the_failure_is_recorded(
    project: Project,
) -> None:
    root = project.config.root
    keel.registry.set_alias("risk", "champion", 1, project=project)
    (root / "gate.yaml").write_text(
        "metrics:\n  auc:\n    min: 0.6\n    min_delta: -0.01\n    significance: non-inferior\n"
        "slices:\n  columns: [group]\n  metric: auc\n  max_drop: 0.05\n"
    )
    done = _keel(
        root, "gate", "risk", "--candidate", "2", "--data", "holdout.parquet",
        "--target", "label", "--policy", "gate.yaml", "--promote", "-f", "json",
    )  # fmt: skip
    assert done.returncode == 1
    outcome = json.loads(done.stdout)
    assert outcome["passed"] is False
    assert outcome["baseline"] == 1
    failed = {c["name"] for c in outcome["checks"] if not c["passed"]}
    assert "auc.min" in failed
    assert "slices" in failed
    assert project.metadata.models.alias("risk", "champion").version == 1  # not promoted
    gate_event = project.metadata.models.events("risk")[-1]
    assert gate_event.kind == "gate"
    assert gate_event.actor == "ci"
    assert gate_event.detail["passed"] is False
    table = _keel(root, "history", "risk")
    assert "gate FAILED" in table.stdout


def test_evaluation_data_that_breaks_the_contract_is_reported(project: Project) -> None:
    root = project.config.root
    broken = _frame(100, 3).with_columns(x1=pl.lit(5.0))
    broken.write_parquet(root / "broken.parquet")
    done = _keel(root, "evaluate", "risk/1", "--data", "broken.parquet", "--target", "label")
    assert done.returncode == 1
    assert "x1" in done.stderr
    gated = _keel(
        root, "gate", "risk", "--candidate", "1", "--data", "broken.parquet", "--target", "label",
    )  # fmt: skip
    assert gated.returncode == 1
    assert "contract" in gated.stdout


def test_a_misspelt_alias_is_an_error_not_a_first_version(project: Project) -> None:
    root = project.config.root
    keel.registry.set_alias("risk", "champion", 1, project=project)
    done = _keel(
        root, "gate", "risk", "--candidate", "2", "--data", "holdout.parquet",
        "--target", "label", "--against", "champoin", "--promote",
    )  # fmt: skip
    assert done.returncode == 2
    assert "Did you mean 'champion'?" in done.stderr
    assert project.metadata.models.alias("risk", "champion").version == 1


def test_rollback_ignores_gate_results(project: Project) -> None:
    root = project.config.root
    keel.registry.set_alias("risk", "champion", 2, project=project)
    keel.registry.set_alias("risk", "champion", 1, project=project)
    gated = _keel(
        root, "gate", "risk", "--candidate", "2", "--data", "holdout.parquet", "--target", "label",
    )  # fmt: skip
    assert gated.returncode == 1  # recorded as an event on the champion alias
    back = keel.registry.rollback("risk", "champion", project=project)
    assert back.version == 2  # undoes the last move, not the gate


def test_a_policy_without_the_contract_check_scores_the_data_as_it_is(
    project: Project,
) -> None:
    root = project.config.root
    _frame(300, 5).with_columns(x1=pl.col("x1") * 1.5).write_parquet(root / "wide.parquet")
    (root / "lenient.yaml").write_text("contract: false\nmetrics:\n  auc:\n    min: 0.5\n")
    done = _keel(
        root, "gate", "risk", "--candidate", "1", "--data", "wide.parquet", "--target", "label",
        "--policy", "lenient.yaml", "-f", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    names = [c["name"] for c in json.loads(done.stdout)["checks"]]
    assert "contract" not in names
    strict = _keel(
        root, "gate", "risk", "--candidate", "1", "--data", "wide.parquet", "--target", "label",
    )  # fmt: skip
    assert strict.returncode == 1
    assert "x1" in strict.stdout  # which check failed is named


def test_the_data_may_be_a_dataset_version_in_the_one_grammar(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.grammar import InvalidNameError
    from keel.registry import evaluate_model
    from keel.tracking import add_dataset

    root = project.config.root
    monkeypatch.chdir(root)
    add_dataset(root / "holdout.parquet", "holdout", project=project)

    def rows(data: str) -> int:
        _, result = evaluate_model("risk/1", data, target="label", n_boot=0, project=project)
        return result.rows

    assert {
        rows(d) for d in ("holdout.parquet", "holdout/1", "data:holdout/1", "data:holdout")
    } == {1500}
    with pytest.raises(InvalidNameError, match="dataset versions are written") as caught:
        rows("holdout@1")
    assert caught.value.hint == "Write holdout/1."


def test_gate_returns_the_one_result_type_naming_what_it_compared(project: Project) -> None:
    root = project.config.root
    set_alias("risk", "champion", 1, project=project)
    (root / "gate.yaml").write_text("metrics:\n  auc:\n    min_delta: -0.01\n")
    result = gate(
        "risk",
        candidate=2,
        data=str(root / "holdout.parquet"),
        target="label",
        policy=root / "gate.yaml",
        project=project,
    )
    assert isinstance(result, GateResult)
    assert (result.model, result.candidate, result.baseline, result.against) == (
        "risk", 2, 1, "champion",
    )  # fmt: skip
    assert not result.passed
    assert not result.promoted
    assert "auc.min_delta" in {check.name for check in result.failures}
    shape = list(result.to_dict())
    assert shape == ["model", "candidate", "baseline", "against", "promoted", "passed", "checks"]
    (event,) = [e for e in project.metadata.models.events("risk") if e.kind == "gate"]
    assert event.detail["checks"] == result.to_dict()["checks"]  # the event keeps checks only
    assert "model" not in event.detail


def test_a_missing_policy_file_fails_before_the_model_is_read(project: Project) -> None:
    with pytest.raises(UsageError, match="no gate policy at") as caught:
        gate(
            "no-such-model",
            candidate=1,
            data="nowhere.parquet",
            target="label",
            policy=Path(project.config.root) / "missing.yaml",
            project=project,
        )
    assert caught.value.hint == "Check the path."

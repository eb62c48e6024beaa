"""Performance from the prediction log: measured on joined feedback (equal to scikit-learn
on the same rows), estimated from confidence where labels are missing (CBPE), per slice,
and champion against challenger on the same traffic."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn import metrics

from keel.config import init_project
from keel.monitor import PredictionLog, report
from keel.monitor._report_html import monitor_report_html
from keel.tracking import Project, open_project
from tests.monitor._served import (
    T0,
    TIME,
    feedback,
    fit,
    register,
    traffic,
    training,
    write,
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    return open_project(tmp_path)


def test_measured_metrics_equal_scikit_learn_on_the_joined_rows(project: Project) -> None:
    model = fit()
    register(project, model)
    hour0 = traffic(model, hour=0, rows=200, seed=0)
    hour1 = traffic(model, hour=1, rows=200, seed=1)
    # one request of three records, labelled as a whole (row null)
    batch = traffic(model, hour=1, rows=3, seed=2, request_ids=["batch"] * 3).with_columns(
        pl.Series("row", [0, 1, 2])
    )
    write(project, hour0, hour1, batch)
    rng = np.random.default_rng(5)
    labelled0 = hour0.head(150)
    labels0 = (rng.uniform(size=150) < labelled0["score"].to_numpy()).astype(int)
    wrong_first = [1 - v for v in labels0[:10]]  # superseded by a later label
    feedback(project, {"request_id": labelled0["request_id"][:10], "label": wrong_first})
    feedback(
        project,
        {
            "request_id": labelled0["request_id"],
            "label": labels0,
            "time": [T0 + timedelta(days=2)] * 150,
        },
    )
    feedback(project, {"request_id": ["batch"], "row": [None], "label": [1]})
    result = report("churn", reference=training()[0], project=project)
    first, second = result.windows
    assert first.performance is not None
    assert first.performance["rows"] == 200
    assert first.performance["labelled"] == 150
    assert first.performance["estimated"] is False
    y, p, s = labels0, labelled0["prediction"].to_numpy(), labelled0["score"].to_numpy()
    assert first.performance["accuracy"] == pytest.approx(metrics.accuracy_score(y, p))
    assert first.performance["precision"] == pytest.approx(metrics.precision_score(y, p))
    assert first.performance["recall"] == pytest.approx(metrics.recall_score(y, p))
    assert first.performance["f1"] == pytest.approx(metrics.f1_score(y, p))
    assert first.performance["auc"] == pytest.approx(metrics.roc_auc_score(y, s))
    assert second.performance is not None  # only the batch request, all three records
    assert (second.performance["rows"], second.performance["labelled"]) == (203, 3)
    assert second.performance["recall"] == pytest.approx(
        metrics.recall_score([1, 1, 1], batch["prediction"].to_numpy(), zero_division=0)
    )
    assert first.estimated_performance is not None
    assert first.estimated_performance["estimated"] is True


def _log(project: Project, name: str, columns: dict[str, Any]) -> None:
    """A log written without the registry: the task is read from the log itself."""
    n = len(columns["prediction"])
    PredictionLog(project.artifacts, name).append(
        pl.DataFrame(
            {
                "request_id": [f"r{i}" for i in range(n)],
                "row": [0] * n,
                "time": [T0 + timedelta(seconds=10 * i) for i in range(n)],
                "model": [name] * n,
                "version": [1] * n,
                "role": ["champion"] * n,
                "latency_ms": [1.0] * n,
                "valid": [True] * n,
                "violations": [None] * n,
                "score": [None] * n,
                "confidence": [None] * n,
            }
            | columns,
            schema_overrides={
                "time": TIME,
                "violations": pl.String,
                "score": pl.Float64,
                "confidence": pl.Float64,
            },
        )
    )


def test_regression_metrics(project: Project) -> None:
    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(0, 1, n)
    prediction = 2 * x + rng.normal(0, 0.3, n)
    truth = 2 * x + rng.normal(0, 0.5, n)
    _log(project, "price", {"prediction": prediction, "x": x})
    feedback(project, {"request_id": [f"r{i}" for i in range(n)], "label": truth}, name="price")
    result = report("price", reference=pl.DataFrame({"x": x}), project=project)
    (window,) = result.windows
    assert result.task == "regression"
    assert window.estimated_performance is None  # no estimate for regressors
    found = window.performance
    assert found is not None
    assert found["mae"] == pytest.approx(metrics.mean_absolute_error(truth, prediction))
    assert found["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(truth, prediction)))
    assert found["r2"] == pytest.approx(metrics.r2_score(truth, prediction))


def test_many_classes_and_text_labels(project: Project) -> None:
    rng = np.random.default_rng(1)
    n = 150
    truth = rng.choice(["a", "b", "c"], n)
    prediction = np.where(rng.uniform(size=n) < 0.7, truth, rng.choice(["a", "b", "c"], n))
    confidence = rng.uniform(0.4, 1.0, n)
    _log(
        project,
        "kind",
        {"prediction": prediction, "confidence": confidence, "x": rng.normal(size=n)},
    )
    feedback(project, {"request_id": [f"r{i}" for i in range(n)], "label": truth}, name="kind")
    (window,) = report(
        "kind", reference=pl.DataFrame({"x": rng.normal(size=99)}), project=project
    ).windows
    found = window.performance
    assert found is not None
    assert "auc" not in found  # no score for many classes
    assert found["accuracy"] == pytest.approx(metrics.accuracy_score(truth, prediction))
    for name, fn in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        assert found[name] == pytest.approx(fn(truth, prediction, average="macro", zero_division=0))
    assert window.estimated_performance == {
        "rows": n,
        "accuracy": pytest.approx(confidence.mean()),
        "estimated": True,
    }


def test_a_binary_classifier_with_text_classes(project: Project) -> None:
    rng = np.random.default_rng(2)
    n = 200
    score = rng.uniform(size=n)
    prediction = np.where(score >= 0.5, "yes", "no")
    truth = np.where(rng.uniform(size=n) < score, "yes", "no")
    _log(
        project,
        "churn",
        {
            "prediction": prediction,
            "score": score,
            "confidence": np.maximum(score, 1 - score),
            "x": rng.normal(size=n),
        },
    )
    feedback(project, {"request_id": [f"r{i}" for i in range(n)], "label": truth})
    (window,) = report(
        "churn", reference=pl.DataFrame({"x": rng.normal(size=99)}), project=project
    ).windows
    found = window.performance
    assert found is not None
    assert found["precision"] == pytest.approx(
        metrics.precision_score(truth, prediction, pos_label="yes")
    )
    assert found["recall"] == pytest.approx(
        metrics.recall_score(truth, prediction, pos_label="yes")
    )
    assert found["auc"] == pytest.approx(metrics.roc_auc_score(truth == "yes", score))


def test_cbpe_estimates_accuracy_of_a_calibrated_model_without_labels(project: Project) -> None:
    model = fit()
    register(project, model)
    rng = np.random.default_rng(7)
    n = 4000
    frame = traffic(model, hour=0, rows=n, seed=3).with_columns(
        pl.Series("score", rng.uniform(0, 1, n))
    )
    score = frame["score"].to_numpy()
    frame = frame.with_columns(
        pl.Series("prediction", (score >= 0.5).astype(int)),
        pl.Series("confidence", np.maximum(score, 1 - score)),
    )
    write(project, frame)
    truth = (rng.uniform(size=n) < score).astype(int)  # calibrated by construction
    result = report("churn", reference=training()[0], project=project)
    (window,) = result.windows
    assert window.performance is None  # no labels arrived
    estimate = window.estimated_performance
    assert estimate is not None
    assert estimate["estimated"] is True
    prediction = frame["prediction"].to_numpy()
    assert estimate["accuracy"] == pytest.approx(
        metrics.accuracy_score(truth, prediction), abs=0.02
    )
    assert estimate["precision"] == pytest.approx(
        metrics.precision_score(truth, prediction), abs=0.03
    )
    assert estimate["recall"] == pytest.approx(metrics.recall_score(truth, prediction), abs=0.03)
    assert estimate["auc"] == pytest.approx(metrics.roc_auc_score(truth, score), abs=0.02)
    assert result.to_dict()["windows"][0]["estimated_performance"]["estimated"] is True


def test_performance_per_slice(project: Project) -> None:
    model = fit()
    register(project, model)
    frame = traffic(model, hour=0, rows=300, seed=4)
    write(project, frame)
    labels = (np.random.default_rng(1).uniform(size=300) < frame["score"].to_numpy()).astype(int)
    feedback(project, {"request_id": frame["request_id"], "label": labels})
    result = report("churn", reference=training()[0], slice_by="state", project=project)
    assert result.slices["column"] == "state"
    assert result.slices["reference"] == "slice"  # each slice against the reference's slice
    values = {v["value"]: v for v in result.slices["values"]}
    assert sorted(values) == ["CA", "NY", "TX"]
    for state, found in values.items():
        keep = (frame["state"] == state).to_numpy()
        y, p = labels[keep], frame["prediction"].to_numpy()[keep]
        assert found["rows"] == keep.sum()
        assert found["performance"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, p))
        assert found["estimated_performance"]["estimated"] is True
        assert {c["column"] for c in found["columns"]} == {"x1", "x2"}  # not state itself
    numeric = report("churn", reference=training()[0], slice_by="x1", project=project)
    assert sum(v["rows"] for v in numeric.slices["values"]) == 300  # by the reference's bins
    assert numeric.slices["values"][0]["value"].startswith("< ")


def test_champion_against_a_shadow_challenger_on_the_same_requests(project: Project) -> None:
    champion_model, challenger_model = fit(), fit(c=1e-4)
    register(project, champion_model)
    register(project, challenger_model, alias="challenger")
    frames = []
    for hour in range(2):
        served = traffic(champion_model, hour=hour, rows=200, seed=hour)
        inputs = served.select("x1", "x2", "state")
        shadow = traffic(
            challenger_model,
            hour=hour,
            rows=200,
            seed=hour,
            role="shadow",
            version=2,
            request_ids=served["request_id"],
            inputs=inputs,
        )
        frames += [served, shadow]
    write(project, *frames)
    ids = pl.concat([f["request_id"] for f in frames[::2]])
    rng = np.random.default_rng(3)
    scores = pl.concat([f["score"] for f in frames[::2]]).to_numpy()
    labels = pl.Series((rng.uniform(size=len(ids)) < scores).astype(int))
    feedback(project, {"request_id": ids, "label": labels})
    result = report("churn", reference=training()[0], project=project)
    duel = result.champion_vs_challenger
    assert duel is not None
    assert (duel["mode"], duel["champion_versions"], duel["challenger_versions"]) == (
        "shadow",
        [1],
        [2],
    )
    y = labels.to_numpy()
    champion = pl.concat([f["prediction"] for f in frames[::2]]).to_numpy()
    challenger = pl.concat([f["prediction"] for f in frames[1::2]]).to_numpy()
    overall = duel["overall"]
    assert overall["champion"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, champion))
    assert overall["challenger"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, challenger))
    assert overall["difference"]["accuracy"] == pytest.approx(
        metrics.accuracy_score(y, challenger) - metrics.accuracy_score(y, champion)
    )
    assert overall["difference"]["estimated"] is False
    assert duel["agreement"]["records"] == 400
    assert duel["agreement"]["rate"] == pytest.approx(float(np.mean(champion == challenger)))
    assert len(duel["windows"]) == 2
    page = monitor_report_html(result)
    assert "Champion (v1) against challenger (v2, shadow)" in page
    assert "they agreed on" in page
    # the per-window performance is the champion's answers only
    assert result.windows[0].performance is not None
    assert result.windows[0].performance["rows"] == 200


def test_no_challenger_no_comparison(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, traffic(model, hour=0, rows=50, seed=0))
    result = report("churn", reference=training()[0], project=project)
    assert result.champion_vs_challenger is None
    assert result.to_dict()["champion_vs_challenger"] is None


def test_unknown_requests_and_unlabelled_windows(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, traffic(model, hour=0, rows=50, seed=0))
    feedback(project, {"request_id": [uuid.uuid4().hex], "label": [1]})  # matches nothing
    (window,) = report("churn", reference=training()[0], project=project).windows
    assert window.performance is None
    assert window.estimated_performance is not None

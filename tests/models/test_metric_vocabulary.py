"""One metric vocabulary: every consumer accepts every name where it makes sense, and refuses
an unknown name with the same error; each metric matches scikit-learn."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm  # type: ignore[import-untyped]

from keel.deploy._spec import DeploySpecError, parse_spec
from keel.errors import UsageError
from keel.models import METRICS, evaluate, metric
from keel.models._metrics import f1, precision, recall
from keel.monitor._alerts import Thresholds
from keel.monitor._performance import Task, measured_metrics
from keel.registry import GatePolicy
from keel.registry._stats import compare

UNKNOWN = "acuracy"
UNKNOWN_MESSAGE = "unknown metric 'acuracy'.\nHint: Did you mean 'accuracy'? Known: "


def _data(name: str) -> dict[str, Any]:
    """Rows a metric can be computed on: a binary classifier with scores, or a regressor."""
    rng = np.random.default_rng(3)
    if METRICS[name].task == "regression":
        y = rng.normal(size=80)
        return {"y_true": y, "y_pred": y + rng.normal(scale=0.5, size=80)}
    y = rng.integers(0, 2, 80)
    score = np.clip(0.3 * y + rng.uniform(0, 0.7, 80), 0, 1)
    return {"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score}


def test_each_metric_says_its_direction_and_kind() -> None:
    for name, spec in METRICS.items():
        assert metric(name) is spec
        assert spec.direction in ("higher", "lower")
        assert spec.kind == ("proba" if spec.needs_score else spec.task)
    assert {"mse", "rmse", "mae", "r2", "accuracy", "precision", "recall", "f1"} <= set(METRICS)
    assert {"auc", "log_loss", "ece"} <= set(METRICS)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_evaluation_accepts_every_metric(name: str) -> None:
    data = _data(name)
    result = evaluate(
        data["y_true"],
        y_pred=data["y_pred"],
        y_score=data.get("y_score"),
        metrics=[name],
        n_boot=20,
    )
    expected = METRICS[name].fn(data["y_true"], data["y_pred"], data.get("y_score"))
    assert result.metrics[name].value == pytest.approx(expected)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_gate_policies_and_comparisons_accept_every_metric(name: str) -> None:
    policy = GatePolicy.from_yaml(f"metrics:\n  {name}:\n    min_delta: -1\n")
    assert policy.metrics[0].metric == name
    data = _data(name)
    found = compare(
        name,
        data["y_true"],
        base_pred=data["y_pred"],
        base_score=data.get("y_score"),
        cand_pred=data["y_pred"],
        cand_score=data.get("y_score"),
        n_boot=20,
    )
    assert found.delta == pytest.approx(0.0) or math.isnan(found.delta)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_alert_thresholds_accept_every_metric(name: str) -> None:
    assert Thresholds(min={name: 0.5}).min == {name: 0.5}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_guardrails_accept_the_metrics_with_a_per_record_form(name: str) -> None:
    text = f"challenger: {{analysis: {{guardrails: {{metric: {{name: {name}}}}}}}}}"
    if METRICS[name].per_record is None:
        with pytest.raises(DeploySpecError) as caught:
            parse_spec(text, name="churn")
        assert any(
            f"metric {name!r} cannot be used for a guardrail" in p.message
            for p in caught.value.problems
        )
        return
    spec = parse_spec(text, name="churn")
    assert spec.challenger is not None
    guard = spec.challenger.analysis.guardrails.metric
    assert guard is not None
    assert guard.name == name


def test_monitoring_measures_every_metric_of_its_task() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 50)
    score = rng.uniform(size=50)
    binary = pl.DataFrame(
        {"k": 1, "label": y, "prediction": (score >= 0.5).astype(int), "score": score}
    )
    found = measured_metrics(binary, ["k"], Task("classification", binary=True, positive=1))[(1,)]
    assert {n for n, m in METRICS.items() if m.task == "classification"} <= set(found)
    values = rng.normal(size=50)
    regression = pl.DataFrame({"k": 1, "label": values, "prediction": values + 0.1})
    found = measured_metrics(regression, ["k"], Task("regression"))[(1,)]
    assert {n for n, m in METRICS.items() if m.task == "regression"} <= set(found)
    assert found["mse"] == pytest.approx(0.01)


def test_every_consumer_refuses_an_unknown_metric_with_the_same_message() -> None:
    errors: list[str] = []
    for attempt in (
        lambda: metric(UNKNOWN),
        lambda: evaluate([0, 1], y_pred=[0, 1], metrics=[UNKNOWN]),
        lambda: compare(UNKNOWN, [0, 1], base_pred=[0, 1], cand_pred=[0, 1]),
        lambda: Thresholds(max={UNKNOWN: 1.0}),
        lambda: GatePolicy.from_yaml(f"metrics:\n  {UNKNOWN}:\n    min: 0.5\n"),
    ):
        with pytest.raises(UsageError) as caught:
            attempt()
        errors.append(str(caught.value))
    with pytest.raises(DeploySpecError) as spec_error:
        parse_spec(
            f"challenger: {{analysis: {{guardrails: {{metric: {{name: {UNKNOWN}}}}}}}}}",
            name="churn",
        )
    for message in errors:
        assert UNKNOWN_MESSAGE in message, message
        assert ", ".join(sorted(METRICS)) in message
    problems = " ".join(f"{p.message} {p.hint}" for p in spec_error.value.problems)
    assert UNKNOWN_MESSAGE.replace("\nHint: ", " ") in problems


labels = st.lists(st.integers(0, 3), min_size=1, max_size=40)


@given(st.data())
def test_one_class_metrics_match_scikit_learn(data: st.DataObject) -> None:
    y_true = np.array(data.draw(labels))
    y_pred = np.array(
        data.draw(st.lists(st.integers(0, 3), min_size=len(y_true), max_size=len(y_true)))
    )
    classes = np.unique(np.concatenate([y_true, y_pred]))
    for ours, theirs in ((precision, skm.precision_score), (recall, skm.recall_score)):
        macro = theirs(y_true, y_pred, labels=classes, average="macro", zero_division=0)
        assert ours(y_true, y_pred, average="macro") == pytest.approx(macro)
        pos = theirs(y_true, y_pred, labels=[1], average="macro", zero_division=np.nan)
        got = ours(y_true, y_pred, positive=1)
        assert (math.isnan(got) and math.isnan(pos)) or got == pytest.approx(pos)
    if len(classes) > 2:
        assert f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))

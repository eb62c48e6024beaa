"""Evaluation: metrics against scikit-learn, bootstrap intervals, slices, JSON and HTML."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm  # type: ignore[import-untyped]

from keel.errors import UsageError
from keel.models._evaluate import (
    NULL_LABEL,
    Evaluation,
    _prepare,
    _Replicates,
    evaluate,
)
from keel.models._metrics import METRICS
from keel.models._report_html import evaluation_html


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, score


def _regression(n: int, seed: int = 0) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, n)
    return y, y + rng.normal(0, 2, n)


# --- metrics ------------------------------------------------------------------------------


def test_binary_metrics_equal_scikit_learn() -> None:
    y, score = _binary(600)
    result = evaluate(y, y_score=score, n_boot=0)
    assert result.task == "classification"
    assert list(result.metrics) == ["auc", "log_loss", "accuracy", "f1", "ece"]
    pred = (score >= 0.5).astype(int)
    m = {name: v.value for name, v in result.metrics.items()}
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, score))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["ece"] == pytest.approx(_ece(y, score))
    assert math.isnan(result.metrics["auc"].low)  # n_boot=0: no interval


def _ece(y: np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> float:
    index = np.minimum((p * 10).astype(int), 9)
    gaps = [
        np.sum(index == b) * abs(y[index == b].mean() - p[index == b].mean())
        for b in range(10)
        if np.any(index == b)
    ]
    return float(sum(gaps) / len(y))


def test_string_labels_positive_is_the_greater_label() -> None:
    y, score = _binary(400, seed=1)
    labels = np.where(y == 1, "yes", "no")
    pred = np.where(score >= 0.4, "yes", "no")
    result = evaluate(labels, y_pred=pred, y_score=score, n_boot=0)
    assert result.metrics["auc"].value == pytest.approx(skm.roc_auc_score(labels == "yes", score))
    assert result.metrics["log_loss"].value == pytest.approx(skm.log_loss(labels == "yes", score))
    assert result.metrics["f1"].value == pytest.approx(skm.f1_score(labels, pred, pos_label="yes"))
    assert result.metrics["accuracy"].value == pytest.approx(skm.accuracy_score(labels, pred))


def test_bool_labels_and_default_prediction() -> None:
    y, score = _binary(300, seed=2)
    result = evaluate(y.astype(bool), y_score=score, n_boot=0)
    pred = score >= 0.5
    assert result.metrics["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert result.metrics["f1"].value == pytest.approx(skm.f1_score(y, pred))


def test_multiclass_has_accuracy_and_macro_f1() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c"], 500)
    pred = np.where(rng.random(500) < 0.6, y, rng.choice(["a", "b", "c"], 500))
    result = evaluate(y, y_pred=pred, n_boot=0)
    assert list(result.metrics) == ["accuracy", "f1"]
    assert result.metrics["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert result.metrics["f1"].value == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_regression_metrics_equal_scikit_learn() -> None:
    y, pred = _regression(500)
    result = evaluate(y, y_pred=pred, n_boot=0)
    assert result.task == "regression"
    assert list(result.metrics) == ["rmse", "mae", "r2"]
    assert result.metrics["rmse"].value == pytest.approx(skm.mean_squared_error(y, pred) ** 0.5)
    assert result.metrics["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert result.metrics["r2"].value == pytest.approx(skm.r2_score(y, pred))


@pytest.mark.parametrize(
    ("y_true", "task"),
    [
        ([0, 1, 1, 0], "classification"),
        ([0.0, 1.0, 1.0], "classification"),
        (["x", "y", "z"], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(30)), "regression"),
    ],
)
def test_task_is_inferred(y_true: list[Any], task: str) -> None:
    assert evaluate(y_true, y_pred=y_true, n_boot=0).task == task


def test_metrics_can_be_chosen() -> None:
    y, score = _binary(100)
    result = evaluate(y, y_score=score, metrics=["f1", "auc"], n_boot=10)
    assert list(result.metrics) == ["f1", "auc"]


# --- bootstrap ----------------------------------------------------------------------------


def test_intervals_contain_the_estimate_and_shrink_with_more_rows() -> None:
    y, score = _binary(200)
    small = evaluate(y, y_score=score, n_boot=300)
    y, score = _binary(5000)
    large = evaluate(y, y_score=score, n_boot=300)
    for name, m in large.metrics.items():
        assert m.low <= m.value <= m.high, name
        s = small.metrics[name]
        assert s.low <= s.value <= s.high, name
        assert (m.high - m.low) < (s.high - s.low) / 2, name
    y, pred = _regression(200)
    y2, pred2 = _regression(5000)
    small_r = evaluate(y, y_pred=pred, n_boot=300)
    large_r = evaluate(y2, y_pred=pred2, n_boot=300)
    for name, m in large_r.metrics.items():
        assert m.low <= m.value <= m.high, name
        s = small_r.metrics[name]
        assert (m.high - m.low) < (s.high - s.low) / 2, name


def test_the_same_seed_gives_the_same_result() -> None:
    y, score = _binary(300)
    group = np.arange(300) % 3
    first = evaluate(y, y_score=score, slices={"g": group}, n_boot=200, seed=7)
    again = evaluate(y, y_score=score, slices={"g": group}, n_boot=200, seed=7)
    other = evaluate(y, y_score=score, slices={"g": group}, n_boot=200, seed=8)
    assert first == again
    assert first.metrics["auc"] != other.metrics["auc"]
    assert first.metrics["auc"].value == other.metrics["auc"].value


def test_a_slice_interval_does_not_depend_on_other_slice_columns() -> None:
    y, score = _binary(300)
    group = np.arange(300) % 3
    alone = evaluate(y, y_score=score, slices={"g": group}, n_boot=100)
    more = evaluate(y, y_score=score, slices={"g": group, "h": np.arange(300) % 2}, n_boot=100)
    assert alone.slices == [s for s in more.slices if s.column == "g"]
    assert alone.metrics == more.metrics


@pytest.mark.parametrize("kind", ["binary", "binary_ties", "multiclass", "regression"])
def test_vectorized_resamples_equal_the_metric_functions(kind: str) -> None:
    rng = np.random.default_rng(5)
    n = 61
    if kind.startswith("binary"):
        y, score = _binary(n)
        score = np.round(score, 1) if kind == "binary_ties" else score
        rows = _prepare(y, None, score, None)
    elif kind == "multiclass":
        rows = _prepare(rng.integers(0, 4, n), rng.integers(0, 4, n), None, None)
    else:
        rows = _prepare(*_regression(n), None, None)
    names = [name for name, m in METRICS.items() if m.task == rows.task]
    names = [n for n in names if rows.score is not None or not METRICS[n].needs_score]
    replicate = _Replicates(rows, names)
    index = rng.integers(0, n, size=(150, n))
    fast = replicate(index)
    for name in names:
        r = replicate.rows
        slow = [
            METRICS[name].fn(r.true[i], r.pred[i], None if r.score is None else r.score[i])
            for i in index
        ]
        np.testing.assert_allclose(fast[name], slow, rtol=1e-9, atol=1e-12, err_msg=name)


# --- slices -------------------------------------------------------------------------------


def test_categorical_slices_have_their_rows_and_metrics() -> None:
    y, score = _binary(900)
    rng = np.random.default_rng(9)
    region = rng.choice(["north", "south", "east"], 900)
    result = evaluate(y, y_score=score, slices={"region": region}, n_boot=50)
    assert [s.label for s in result.slices] == ["east", "north", "south"]
    for s in result.slices:
        chosen = region == s.label
        assert s.column == "region"
        assert s.rows == int(chosen.sum())
        assert s.metrics["auc"].value == pytest.approx(skm.roc_auc_score(y[chosen], score[chosen]))
        assert s.metrics["accuracy"].value == pytest.approx(
            skm.accuracy_score(y[chosen], score[chosen] >= 0.5)
        )


def test_numeric_slices_are_quantile_bins() -> None:
    y, pred = _regression(1000)
    age = np.random.default_rng(4).uniform(18, 90, 1000)
    age[:10] = np.nan
    few = np.arange(1000) % 5  # five values <= 2 * bins: sliced by value
    result = evaluate(y, y_pred=pred, slices={"age": age, "few": few}, n_boot=50)
    bins = [s for s in result.slices if s.column == "age"]
    assert [s.label for s in bins][-1] == NULL_LABEL
    assert bins[-1].rows == 10
    numeric = bins[:-1]
    assert len(numeric) == 4
    assert all(re.fullmatch(r"\[\S+, \S+\)", s.label) for s in numeric[:-1])
    assert re.fullmatch(r"\[\S+, \S+\]", numeric[-1].label)
    assert sum(s.rows for s in numeric) == 990
    assert all(abs(s.rows - 990 / 4) <= 1 for s in numeric)
    edges = [float(x) for x in re.findall(r"[-\d.e+]+", " ".join(s.label for s in numeric))]
    assert edges == sorted(edges)
    # each bin's metric is the metric on the rows in its range
    present = ~np.isnan(age)
    lows = np.nanquantile(age, [0, 0.25, 0.5, 0.75])
    codes = np.searchsorted(lows, age[present], side="right") - 1
    for code, s in enumerate(numeric):
        chosen = codes == code
        assert s.rows == int(chosen.sum())
        expected = skm.mean_absolute_error(y[present][chosen], pred[present][chosen])
        assert s.metrics["mae"].value == pytest.approx(expected)
    assert [s.label for s in result.slices if s.column == "few"] == ["0", "1", "2", "3", "4"]


def test_a_slice_with_one_class_has_no_auc() -> None:
    y = np.array([0, 1, 0, 1, 1, 1, 1, 0])
    score = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.7, 0.4, 0.2])
    group = np.array(["a", "a", "a", "a", "b", "b", "b", "c"])
    result = evaluate(y, y_score=score, slices={"group": group}, n_boot=100)
    b = next(s for s in result.slices if s.label == "b")
    assert math.isnan(b.metrics["auc"].value)
    assert math.isnan(b.metrics["auc"].low)
    assert math.isnan(b.metrics["auc"].high)
    assert b.metrics["accuracy"].value == pytest.approx(2 / 3)
    c = next(s for s in result.slices if s.label == "c")  # one row: a value, no interval
    assert c.rows == 1
    assert c.metrics["accuracy"].value == 1.0
    assert math.isnan(c.metrics["accuracy"].low)
    assert math.isnan(c.metrics["accuracy"].high)


def test_missing_categories_form_a_null_slice() -> None:
    y, pred = _regression(6)
    result = evaluate(
        y,
        y_pred=pred,
        slices={"c": np.array(["x", None, "y", "x", None, "y"], dtype=object)},
        n_boot=5,
    )
    assert [(s.label, s.rows) for s in result.slices] == [("x", 2), ("y", 2), (NULL_LABEL, 2)]


# --- output -------------------------------------------------------------------------------


def _sample() -> Evaluation:
    y, score = _binary(400)
    rng = np.random.default_rng(2)
    return evaluate(
        y,
        y_score=score,
        slices={
            "segment": np.where(y == 1, "<b>pro</b>", rng.choice(["free & co", "team"], 400)),
            "tenure": rng.exponential(12, 400),
        },
        n_boot=100,
    )


def test_to_dict_is_json() -> None:
    result = _sample()
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data) == {
        "task", "rows", "confidence", "n_boot", "metrics", "slices", "calibration",
        "curves", "confusion",
    }  # fmt: skip
    assert data["rows"] == 400
    assert set(data["metrics"]["auc"]) == {"value", "low", "high"}
    pro = next(s for s in data["slices"] if s["label"] == "<b>pro</b>")
    assert pro["metrics"]["auc"] == {"value": None, "low": None, "high": None}
    assert sum(b["rows"] for b in data["calibration"]) == 400


def test_html_is_a_self_contained_document() -> None:
    result = _sample()
    page = evaluation_html(result, title="churn <v3>", subtitle="holdout & more")
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "<svg" in page
    assert "churn &lt;v3&gt;" in page
    assert "holdout &amp; more" in page
    assert "<b>pro</b>" not in page
    for s in result.slices:
        assert s.label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert "<link" not in page
    assert "Reliability diagram" in page
    # one chart per metric per slice column, the reliability diagram, ROC, PR and scores
    assert page.count("<svg") == 2 * len(result.metrics) + 4


def test_html_for_a_regression() -> None:
    y, pred = _regression(100)
    result = evaluate(y, y_pred=pred, slices={"x": np.arange(100) % 3}, n_boot=20)
    page = evaluation_html(result, title="prices")
    assert page.count("<svg") == 3
    assert "R²" in page


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [0, 1], "y_pred": [0, 1, 1]}, "y_pred has 3 rows but y_true has 2"),
        ({"y_true": [], "y_pred": []}, "no rows"),
        ({"y_true": [0, 1], "y_score": [0.5, 1.5]}, r"\[0, 1\]"),
        ({"y_true": [0, 1], "y_score": [0.5, float("nan")]}, r"\[0, 1\]"),
        ({"y_true": [0.5, 1.5], "task": "regression"}, "needs y_pred"),
        ({"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "y_score": [0.1, 0.2, 0.3]}, "two classes"),
        ({"y_true": [0, 1], "y_pred": [0.2, 0.9]}, "y_score"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "metrics": ["acc"]}, "unknown metric 'acc'"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "metrics": ["auc"]}, "needs predicted prob"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "metrics": ["rmse"]}, "is for regression"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "slices": {"s": [1]}}, "slice column 's'"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "confidence": 95}, "between 0 and 1"),
        ({"y_true": [1.5, float("nan")], "y_pred": [1.0, 2.0]}, "missing or infinite"),
        ({"y_true": ["a", None], "y_pred": ["a", "b"]}, "missing label"),
        ({"y_true": [0, 1], "y_pred": ["no", "yes"]}, "different types"),
        ({"y_true": [0, 1], "task": "ranking"}, "unknown task"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "seed": -1}, "non-negative"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "n_boot": -1}, "n_boot"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "bins": 0}, "bins"),
        ({"y_true": [[0, 1]], "y_pred": [[0, 1]]}, "one-dimensional"),
    ],
)
def test_bad_input_is_a_usage_error(kwargs: dict[str, Any], message: str) -> None:
    y_true = kwargs.pop("y_true")
    with pytest.raises(UsageError, match=message) as caught:
        evaluate(y_true, **kwargs)
    assert caught.value.hint


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=60).flatmap(
        lambda n: st.tuples(
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.floats(0, 1), min_size=n, max_size=n),
        )
    ),
    st.integers(min_value=0, max_value=2**32),
)
def test_intervals_are_ordered_and_ece_is_a_share(
    data: tuple[list[bool], list[float]], seed: int
) -> None:
    y, score = data
    result = evaluate(y, y_score=score, n_boot=40, seed=seed)
    for m in result.metrics.values():
        assert math.isnan(m.low) == math.isnan(m.high)
        if not math.isnan(m.low):
            assert m.low <= m.high
    for name in ("auc", "accuracy", "f1", "ece"):
        m = result.metrics[name]
        for v in (m.value, m.low, m.high):
            assert math.isnan(v) or 0 <= v <= 1, name
    assert 0 <= result.metrics["ece"].value <= 1
    json.dumps(result.to_dict(), allow_nan=False)

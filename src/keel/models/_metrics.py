"""Model quality metrics on NumPy arrays: one definition used by evaluation and by gates.

Every metric takes the row-aligned arrays ``y_true``, ``y_pred`` (a predicted label or
value) and ``y_score`` (the predicted probability of the positive class, for binary
classifiers; ``None`` otherwise) and returns a float; ``nan`` when it is undefined on these
rows (AUC with one class present, R² of a constant target). They are written with NumPy
only (no scikit-learn at run time) and tested against scikit-learn.

``METRICS`` lists them with their task and direction, so callers (bootstrap, slices,
gates) treat them uniformly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "Metric",
    "Task",
    "accuracy",
    "auc",
    "expected_calibration_error",
    "f1",
    "log_loss",
    "mae",
    "r2",
    "rmse",
]

Task = Literal["classification", "regression"]
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Metric:
    """A metric: its function, the task it applies to, and whether higher is better."""

    name: str
    fn: Callable[[Array, Array | None, Array | None], float]
    task: Task
    higher_is_better: bool
    needs_score: bool = False  # a probability is required (AUC, log loss, ECE)


def accuracy(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """Share of rows whose predicted label equals the true one."""
    assert y_pred is not None
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def f1(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """F1 of the positive class for two classes; the unweighted mean over classes otherwise."""
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if len(classes) <= 2:
        positive = classes.max() if len(classes) else 1
        return _f1_for(y_true, y_pred, positive)
    return float(np.mean([_f1_for(y_true, y_pred, c) for c in classes]))


def _f1_for(y_true: Array, y_pred: Array, positive: Any) -> float:
    tp = float(np.sum((y_pred == positive) & (y_true == positive)))
    fp = float(np.sum((y_pred == positive) & (y_true != positive)))
    fn = float(np.sum((y_pred != positive) & (y_true == positive)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def auc(y_true: Array, y_pred: Array | None, y_score: Array | None) -> float:
    """Area under the ROC curve (binary), by the rank-sum formula with ties averaged."""
    assert y_score is not None
    positive = y_true == 1
    n_pos = int(positive.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(y_score, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: Array) -> Array:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    # ties share the mean of the ranks they span
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(values)]])
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks


def log_loss(y_true: Array, y_pred: Array | None, y_score: Array | None) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped at 1e-15)."""
    assert y_score is not None
    if not len(y_true):
        return float("nan")
    p = np.clip(np.asarray(y_score, dtype=float), 1e-15, 1 - 1e-15)
    y = np.asarray(y_true, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_calibration_error(
    y_true: Array, y_pred: Array | None, y_score: Array | None, bins: int = 10
) -> float:
    """ECE: mean |observed rate - mean predicted probability| over 10 equal-width bins,
    weighted by the bins' row counts."""
    assert y_score is not None
    if not len(y_true):
        return float("nan")
    p = np.asarray(y_score, dtype=float)
    y = np.asarray(y_true, dtype=float)
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.sum() * abs(y[chosen].mean() - p[chosen].mean())
    return float(total / len(y))


def rmse(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    diff = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return float(np.sqrt(np.mean(diff**2)))


def mae(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    diff = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return float(np.mean(np.abs(diff)))


def r2(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """Coefficient of determination; ``nan`` for a constant target."""
    assert y_pred is not None
    y = np.asarray(y_true, dtype=float)
    if len(y) < 2:
        return float("nan")
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return float("nan")
    residual = float(np.sum((y - np.asarray(y_pred, dtype=float)) ** 2))
    return 1 - residual / total


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", auc, "classification", True, needs_score=True),
        Metric("log_loss", log_loss, "classification", False, needs_score=True),
        Metric("accuracy", accuracy, "classification", True),
        Metric("f1", f1, "classification", True),
        Metric("ece", expected_calibration_error, "classification", False, needs_score=True),
        Metric("rmse", rmse, "regression", False),
        Metric("mae", mae, "regression", False),
        Metric("r2", r2, "regression", True),
    )
}

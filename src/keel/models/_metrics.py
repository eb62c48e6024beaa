"""The metric vocabulary: every model-quality metric Keel knows, defined once.

Evaluation, gates (policies and paired statistics), deployment guardrails, monitoring
performance and alert thresholds all name metrics from :data:`METRICS` and compute them with
its functions, so ``mse`` means the same thing (and is accepted) everywhere. Each
:class:`Metric` says its name, its task (``classification`` or ``regression``), whether it
needs a predicted probability (``kind`` is then ``"proba"``), its direction (higher or lower
is better), and its implementation; :func:`metric` looks a name up and refuses an unknown one
with the same error wherever it is asked.

Every metric takes the row-aligned arrays ``y_true``, ``y_pred`` (a predicted label or
value) and ``y_score`` (the predicted probability of the positive class, for binary
classifiers; ``None`` otherwise) and returns a float; ``nan`` when it is undefined on these
rows (AUC with one class present, R² of a constant target, precision when nothing was
predicted positive). They are written with NumPy only (no scikit-learn at run time) and
tested against scikit-learn.

Classification metrics of one class (precision, recall, F1) take, for at most two classes,
the *greater* label as the positive one (``True``, ``1``, ``"yes"``) unless ``positive``
names it; for more classes, the unweighted mean over the classes present (a class nothing
was predicted as, or that never occurs, counts 0).

A metric with a per-record form (accuracy, absolute and squared error) also has
``per_record``: the value one record contributes, which the guardrails' sequential test
averages over live feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from keel.errors import UsageError, did_you_mean

__all__ = [
    "METRICS",
    "Metric",
    "MetricKind",
    "Task",
    "accuracy",
    "auc",
    "expected_calibration_error",
    "f1",
    "log_loss",
    "mae",
    "metric",
    "metric_not_usable",
    "mse",
    "one_class_metrics",
    "precision",
    "r2",
    "recall",
    "rmse",
    "unknown_metric",
]

Task = Literal["classification", "regression"]
MetricKind = Literal["classification", "regression", "proba"]
Average = Literal["binary", "macro"] | None
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Metric:
    """A metric: its name, function, task, direction and what it needs.

    ``needs_score``: the metric is computed from the predicted probability (AUC, log loss,
    ECE). ``default``: part of an evaluation's default set (the others on request).
    ``per_record``: the metric's value for one ``(prediction, label)`` pair when the metric
    is the mean of those, else ``None``.
    """

    name: str
    fn: Callable[[Array, Array | None, Array | None], float]
    task: Task
    higher_is_better: bool
    needs_score: bool = False  # a probability is required (AUC, log loss, ECE)
    default: bool = True
    per_record: Callable[[Any, Any], float] | None = None
    label: str = ""  # how reports title it (the name when empty)

    @property
    def title(self) -> str:
        """The metric's name as reports show it ("Log loss", "R²")."""
        return self.label or self.name

    @property
    def kind(self) -> MetricKind:
        """``proba`` for a metric of predicted probabilities, else its task."""
        return "proba" if self.needs_score else self.task

    @property
    def direction(self) -> Literal["higher", "lower"]:
        """Which way is better."""
        return "higher" if self.higher_is_better else "lower"


def unknown_metric(name: object) -> UsageError:
    """The error for a metric name outside the vocabulary (the same for every consumer)."""
    return UsageError(f"unknown metric {name!r}.", hint=did_you_mean(str(name), METRICS))


def metric_not_usable(name: str, purpose: str, usable: Sequence[str], why: str) -> UsageError:
    """The error for a known metric that ``purpose`` cannot use (e.g. AUC as a guardrail)."""
    return UsageError(
        f"metric {name!r} cannot be used for {purpose}; use one of {', '.join(usable)}.",
        hint=why,
    )


def metric(name: object) -> Metric:
    """The metric called ``name``; ``UsageError`` (did you mean, known names) if none is."""
    found = METRICS.get(name) if isinstance(name, str) else None
    if found is None:
        raise unknown_metric(name)
    return found


def accuracy(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """Share of rows whose predicted label equals the true one."""
    assert y_pred is not None
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def precision(
    y_true: Array,
    y_pred: Array | None,
    y_score: Array | None = None,
    *,
    positive: Any = None,
    average: Average = None,
) -> float:
    """Share of the rows predicted positive that are positive; ``nan`` when none is.

    ``positive`` names the positive class; ``average="macro"`` forces the mean over classes
    (see the module docstring for the default)."""
    return _by_class(y_true, y_pred, _precision_of, positive, average)


def recall(
    y_true: Array,
    y_pred: Array | None,
    y_score: Array | None = None,
    *,
    positive: Any = None,
    average: Average = None,
) -> float:
    """Share of the positive rows predicted positive; ``nan`` when none is positive."""
    return _by_class(y_true, y_pred, _recall_of, positive, average)


def f1(
    y_true: Array,
    y_pred: Array | None,
    y_score: Array | None = None,
    *,
    positive: Any = None,
    average: Average = None,
) -> float:
    """F1 of the positive class for two classes; the unweighted mean over classes otherwise.

    0 (not ``nan``) when no row is a true positive."""
    return _by_class(y_true, y_pred, _f1_of, positive, average)


_Counts = tuple[float, float, float]  # true positives, false positives, false negatives


def _by_class(
    y_true: Array,
    y_pred: Array | None,
    of: Callable[[_Counts, float], float],
    positive: Any,
    average: Average,
) -> float:
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    if positive is not None:
        return of(_counts(y_true, y_pred, positive), float("nan"))
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if average != "macro" and len(classes) <= 2:
        return of(_counts(y_true, y_pred, classes.max() if len(classes) else 1), float("nan"))
    return float(np.mean([of(_counts(y_true, y_pred, c), 0.0) for c in classes]))


def _counts(y_true: Array, y_pred: Array, positive: Any) -> _Counts:
    truth, guess = y_true == positive, y_pred == positive
    return (
        float(np.sum(guess & truth)),
        float(np.sum(guess & ~truth)),
        float(np.sum(~guess & truth)),
    )


def one_class_metrics(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from (possibly expected, fractional) true positive, false
    positive and false negative counts: the formulas every one-class figure uses, with
    ``nan`` for an empty precision or recall and 0 for the F1 of no true positive."""
    counts = (tp, fp, fn)
    nan = float("nan")
    return _precision_of(counts, nan), _recall_of(counts, nan), _f1_of(counts, nan)


def _precision_of(counts: _Counts, empty: float) -> float:
    tp, fp, _ = counts
    return tp / (tp + fp) if tp + fp else empty


def _recall_of(counts: _Counts, empty: float) -> float:
    tp, _, fn = counts
    return tp / (tp + fn) if tp + fn else empty


def _f1_of(counts: _Counts, empty: float) -> float:
    tp, fp, fn = counts
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
    """Root mean squared error."""
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    diff = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return float(np.sqrt(np.mean(diff**2)))


def mse(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """Mean squared error."""
    assert y_pred is not None
    if not len(y_true):
        return float("nan")
    diff = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return float(np.mean(diff**2))


def mae(y_true: Array, y_pred: Array | None, y_score: Array | None = None) -> float:
    """Mean absolute error."""
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


def _record_correct(prediction: Any, label: Any) -> float:
    """1 when a prediction equals its label (``1`` and ``"1"`` match: JSON loses types)."""
    same = prediction == label
    return (
        1.0
        if same or (type(prediction) is not type(label) and str(prediction) == str(label))
        else 0.0
    )


def _record_abs_error(prediction: Any, label: Any) -> float:
    return abs(float(prediction) - float(label))


def _record_sq_error(prediction: Any, label: Any) -> float:
    return (float(prediction) - float(label)) ** 2


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", auc, "classification", True, needs_score=True, label="AUC"),
        Metric("log_loss", log_loss, "classification", False, needs_score=True, label="Log loss"),
        Metric(
            "accuracy",
            accuracy,
            "classification",
            True,
            per_record=_record_correct,
            label="Accuracy",
        ),
        Metric("f1", f1, "classification", True, label="F1"),
        Metric(
            "ece",
            expected_calibration_error,
            "classification",
            False,
            needs_score=True,
            label="Expected calibration error",
        ),
        Metric("precision", precision, "classification", True, default=False, label="Precision"),
        Metric("recall", recall, "classification", True, default=False, label="Recall"),
        Metric("rmse", rmse, "regression", False, label="RMSE"),
        Metric("mae", mae, "regression", False, per_record=_record_abs_error, label="MAE"),
        Metric("r2", r2, "regression", True, label="R²"),
        Metric(
            "mse", mse, "regression", False, default=False, per_record=_record_sq_error, label="MSE"
        ),
    )
}
"""The vocabulary, by name. Evaluation's default set is the metrics with ``default``."""

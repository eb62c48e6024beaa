"""A served model's performance from its prediction log: measured where labels arrived,
estimated from its confidence where they did not.

**Measured.** Feedback rows are joined to predictions by ``request_id`` and ``row``; a
feedback row without ``row`` labels every record of its request, and when a record got
several labels the latest counts. Classifiers get accuracy, precision, recall and F1 (of the
positive class for two classes, the unweighted mean over classes otherwise) and ROC AUC
when the log holds ``score`` (with log loss and calibration error); regressors MAE, RMSE, MSE
and R². The definitions are
:mod:`keel.models._metrics` (the ones evaluation and gates use), and every figure comes
with the number of rows it rests on.

**Estimated (CBPE).** Without labels, a classifier whose probabilities are calibrated still
says how often it is right: a record predicted with confidence 0.9 is right 90% of the time.
Expected accuracy is the mean ``confidence``; for two classes, each record adds ``score``
(the probability of the positive class) to the expected true positives and ``1 - score`` to
the false positives if it was predicted positive, and to the false and true negatives
otherwise, which gives expected precision, recall and F1; the expected ROC curve orders the
records by score with the same expected counts (scores bucketed to 1/1000). This is
NannyML's confidence-based performance estimation. It is only as good as the calibration: a
miscalibrated model or a change in the relation between inputs and labels (concept drift)
makes the estimate wrong, which is why every estimated figure says ``"estimated": true``.

Aggregation runs in Polars over the log rows (memory O(groups)); only labelled rows are
collected to compute measured metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from keel._json import nulled
from keel.models import (
    accuracy,
    auc,
    expected_calibration_error,
    f1,
    log_loss,
    mae,
    mse,
    one_class_metrics,
    precision,
    r2,
    recall,
    rmse,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "Task",
    "agreement",
    "estimated_metrics",
    "labelled",
    "measured_metrics",
    "performance_difference",
]

_BUCKETS = 1000
_NEEDED = ("request_id", "row", "time", "role", "version", "prediction", "score", "confidence")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Task:
    """What the model predicts: ``classification`` (``binary`` when the log has a score for
    the positive class ``positive``) or ``regression``."""

    kind: Literal["classification", "regression"]
    binary: bool = False
    positive: Any = None


def predicted_positive() -> pl.Expr:
    """Whether a binary classifier predicted the positive class: the class whose probability
    is the confidence (``score`` or ``1 - score``), or ``score >= 0.5`` without one."""
    import polars as pl

    s, c = pl.col("score"), pl.col("confidence")
    return pl.when(c.is_not_null()).then((c - s).abs() <= (c - (1 - s)).abs()).otherwise(s >= 0.5)


def labelled(predictions: pl.LazyFrame, feedback: pl.LazyFrame) -> pl.LazyFrame:
    """``predictions`` with a ``label`` column, restricted to the rows that have one."""
    import polars as pl

    pred_schema = predictions.collect_schema()
    fb = feedback.select(
        pl.col("request_id").cast(pl.String),
        pl.col("row").cast(pl.Int64, strict=False),
        pl.col("label"),
        pl.col("time"),
    )
    label_type = fb.collect_schema()["label"]
    target = pred_schema.get("prediction")
    if target is not None and label_type != target and not isinstance(target, pl.Null):
        fb = fb.with_columns(pl.col("label").cast(target, strict=False))
    fb = fb.filter(pl.col("label").is_not_null()).sort("time")  # the latest label wins
    by_row = (
        fb.filter(pl.col("row").is_not_null())
        .unique(["request_id", "row"], keep="last")
        .select("request_id", "row", "label")
    )
    by_request = (
        fb.filter(pl.col("row").is_null())
        .unique("request_id", keep="last")
        .select("request_id", "label")
    )
    needed = [c for c in pred_schema.names() if c in _NEEDED or c.startswith("_")]
    keyed = predictions.select(needed).with_columns(
        pl.col("request_id").cast(pl.String), pl.col("row").cast(pl.Int64, strict=False)
    )
    # a record's own label, else its request's (inner joins: only labelled rows are built)
    own = keyed.join(by_row, on=["request_id", "row"], how="inner")
    shared = keyed.join(by_request, on="request_id", how="inner").join(
        by_row.select("request_id", "row"), on=["request_id", "row"], how="anti"
    )
    return pl.concat([own, shared], how="vertical_relaxed")


# --------------------------------------------------------------------------- measured


def measured_metrics(
    frame: pl.DataFrame, keys: Sequence[str], task: Task
) -> dict[Key, dict[str, Any]]:
    """Measured metrics of the labelled rows in ``frame`` per value of ``keys``."""
    if frame.height == 0:
        return {}
    groups = frame.partition_by(list(keys), as_dict=True, maintain_order=True)
    return {tuple(key): _measured(group, task) for key, group in groups.items()}


def _measured(group: pl.DataFrame, task: Task) -> dict[str, Any]:
    y_true = group["label"].to_numpy()
    y_pred = group["prediction"].to_numpy()
    found: dict[str, Any] = {"labelled": group.height}
    if task.kind == "regression":
        t, p = y_true.astype(float), y_pred.astype(float)
        found |= {"mae": mae(t, p), "rmse": rmse(t, p), "mse": mse(t, p), "r2": r2(t, p)}
    else:
        found |= _classification(y_true, y_pred, task)
        score = group["score"] if "score" in group.columns else None
        if task.binary and score is not None and score.null_count() == 0:
            truth = (y_true == task.positive).astype(int)
            s = score.to_numpy().astype(float)
            found["auc"] = auc(truth, None, s)
            found["log_loss"] = log_loss(truth, None, s)
            found["ece"] = expected_calibration_error(truth, None, s)
        elif task.binary:
            found |= {"auc": None, "log_loss": None, "ece": None}
    return {k: nulled(v) for k, v in found.items()} | {"estimated": False}


def _classification(y_true: Any, y_pred: Any, task: Task) -> dict[str, Any]:
    found: dict[str, Any] = {"accuracy": accuracy(y_true, y_pred)}
    if task.binary:
        found["precision"] = precision(y_true, y_pred, positive=task.positive)
        found["recall"] = recall(y_true, y_pred, positive=task.positive)
        truth, guess = y_true == task.positive, y_pred == task.positive
        found["f1"] = f1(truth.astype(int), guess.astype(int))
        return found
    found["precision"] = precision(y_true, y_pred, average="macro")  # macro, as f1 for many
    found["recall"] = recall(y_true, y_pred, average="macro")
    found["f1"] = f1(y_true, y_pred)
    return found


# --------------------------------------------------------------------------- estimated


def estimated_metrics(
    frame: pl.LazyFrame, keys: Sequence[str], task: Task
) -> dict[Key, dict[str, Any]]:
    """Row counts per value of ``keys`` and, for classifiers with a confidence or a score,
    the CBPE estimates (each dictionary carries ``"estimated": true``)."""
    import polars as pl

    schema = frame.collect_schema()
    has_conf = "confidence" in schema and not isinstance(schema["confidence"], pl.Null)
    has_score = task.binary and "score" in schema and not isinstance(schema["score"], pl.Null)
    exprs = [pl.len().alias("n")]
    if has_conf:
        conf = pl.col("confidence").cast(pl.Float64)
        exprs += [conf.count().alias("n_conf"), conf.sum().alias("sum_conf")]
    if has_score:
        s = pl.col("score").cast(pl.Float64)
        pos = predicted_positive()
        exprs += [
            s.count().alias("n_score"),
            pl.when(pos).then(s).sum().alias("tp"),
            pl.when(pos).then(1 - s).sum().alias("fp"),
            pl.when(~pos).then(s).sum().alias("fn"),
            pl.when(~pos).then(1 - s).sum().alias("tn"),
        ]
    queries = [frame.group_by(list(keys)).agg(exprs)]
    if has_score:
        bucket = (pl.col("score").cast(pl.Float64) * _BUCKETS).floor().clip(0, _BUCKETS - 1)
        queries.append(
            frame.filter(pl.col("score").is_not_null())
            .group_by([*keys, bucket.alias("_bucket")])
            .agg(
                pl.col("score").cast(pl.Float64).sum().alias("pos"),
                (1 - pl.col("score").cast(pl.Float64)).sum().alias("neg"),
            )
        )
    results = pl.collect_all(queries)
    curves = _curves(results[1], keys) if has_score else {}
    found: dict[Key, dict[str, Any]] = {}
    for row in results[0].iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        found[key] = _estimate(row, task, curves.get(key), has_conf=has_conf)
    return found


def _estimate(row: Mapping[str, Any], task: Task, curve: Any, *, has_conf: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"rows": int(row["n"])}
    if task.kind != "classification":
        return found
    if has_conf and row.get("n_conf"):
        found["accuracy"] = row["sum_conf"] / row["n_conf"]
    if task.binary and row.get("n_score"):
        tp, fp, fn, tn = (float(row[k] or 0.0) for k in ("tp", "fp", "fn", "tn"))
        found.setdefault("accuracy", (tp + tn) / row["n_score"])
        found["precision"], found["recall"], found["f1"] = one_class_metrics(tp, fp, fn)
        found["auc"] = _expected_auc(curve) if curve is not None else math.nan
    if len(found) == 1:
        return found
    return {k: nulled(v) for k, v in found.items()} | {"estimated": True}


def _curves(frame: pl.DataFrame, keys: Sequence[str]) -> dict[Key, Any]:
    """Per key, the (positive, negative) expected counts of each score bucket, highest first."""
    curves: dict[Key, Any] = {}
    for key, group in frame.partition_by(list(keys), as_dict=True).items():
        ordered = group.sort("_bucket", descending=True)
        curves[tuple(key)] = (ordered["pos"].to_numpy(), ordered["neg"].to_numpy())
    return curves


def _expected_auc(curve: Any) -> float:
    """The area under the ROC curve traced by expected true and false positives, scores
    descending (trapezoids, so records in one bucket count as ties)."""
    pos, neg = (np.asarray(c, dtype=float) for c in curve)
    if pos.sum() <= 0 or neg.sum() <= 0:
        return math.nan
    tpr = np.concatenate([[0.0], np.cumsum(pos) / pos.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / neg.sum()])
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


# --------------------------------------------------------------------------- comparisons


def performance_difference(
    champion: Mapping[str, Any] | None, challenger: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """``challenger - champion`` for every metric both have (estimated if either is)."""
    if not champion or not challenger:
        return None
    skip = {"rows", "labelled", "estimated"}
    found: dict[str, Any] = {}
    for name, value in champion.items():
        other = challenger.get(name)
        if name in skip or value is None or other is None:
            continue
        found[name] = other - value
    if not found:
        return None
    return found | {"estimated": bool(champion.get("estimated") or challenger.get("estimated"))}


def agreement(champion: pl.LazyFrame, challenger: pl.LazyFrame) -> tuple[int, float | None]:
    """How many records both predicted (same request and row) and the share they agree on."""
    import polars as pl

    keys = ["request_id", "row"]
    left = champion.select(*keys, pl.col("prediction").alias("_a"))
    right = challenger.select(*keys, pl.col("prediction").alias("_b"))
    both = left.join(right, on=keys, how="inner")
    row = both.select(pl.len(), (pl.col("_a") == pl.col("_b")).mean()).collect().row(0)
    count = int(row[0])
    return count, (float(row[1]) if count and row[1] is not None else None)

"""Prediction logs written the way serving writes them, for the monitoring tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

import keel
from keel.monitor import FeedbackLog, PredictionLog
from keel.registry import set_alias
from keel.tracking import Project

T0 = datetime(2026, 11, 20, tzinfo=UTC)
TIME = pl.Datetime("us", "UTC")


class Features(keel.Schema):
    x1: float
    x2: float


def training(rows: int = 2000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """Features (x1, x2 numeric; state categorical) and a label driven by x1."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "x1": rng.normal(0, 1, rows),
            "x2": rng.normal(0, 1, rows),
            "state": rng.choice(["CA", "NY", "TX"], rows),
        }
    )
    y = (frame["x1"].to_numpy() + rng.normal(0, 0.7, rows) > 0).astype(int)
    return frame, y


def fit(c: float = 1.0, seed: int = 0) -> LogisticRegression:
    frame, y = training(seed=seed)
    return LogisticRegression(C=c).fit(frame.select("x1", "x2").to_numpy(), y)


def register(project: Project, model: LogisticRegression, *, alias: str = "champion") -> int:
    version = keel.register(model, "churn", contract=Features, project=project).version
    set_alias("churn", alias, version, project=project)
    return version


def traffic(
    model: LogisticRegression,
    *,
    hour: int,
    rows: int,
    seed: int,
    shift: float = 0.0,
    role: str = "champion",
    version: int = 1,
    request_ids: Sequence[str] | None = None,
    inputs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``rows`` predicted records spread over hour ``hour`` after :data:`T0`."""
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = pl.DataFrame(
            {
                "x1": rng.normal(shift, 1, rows),
                "x2": rng.normal(0, 1, rows),
                "state": rng.choice(["CA", "NY", "TX"], rows),
            }
        )
    score = model.predict_proba(inputs.select("x1", "x2").to_numpy())[:, 1]
    seconds = np.sort(rng.uniform(0, 3599, rows))
    ids = list(request_ids) if request_ids is not None else [uuid.uuid4().hex for _ in range(rows)]
    return pl.DataFrame(
        {
            "request_id": ids,
            "row": [0] * rows,
            "time": [T0 + timedelta(hours=hour, seconds=float(s)) for s in seconds],
            "model": ["churn"] * rows,
            "version": [version] * rows,
            "role": [role] * rows,
            "latency_ms": [1.5] * rows,
            "valid": [True] * rows,
            "violations": [None] * rows,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "confidence": np.maximum(score, 1 - score),
        },
        schema_overrides={"time": TIME, "violations": pl.String},
    ).hstack(inputs)


def write(project: Project, *frames: pl.DataFrame) -> None:
    log = PredictionLog(project.artifacts, "churn")
    for frame in frames:
        log.append(frame)


def feedback(project: Project, rows: dict[str, Any], *, name: str = "churn") -> None:
    """Append feedback rows (request_id, row, label; time defaults to a day after T0)."""
    n = len(rows["request_id"])
    frame = pl.DataFrame(
        {
            "request_id": rows["request_id"],
            "row": rows.get("row", [0] * n),
            "label": rows["label"],
            "time": rows.get("time", [T0 + timedelta(days=1)] * n),
        },
        schema_overrides={"time": TIME, "row": pl.Int64},
    )
    FeedbackLog(project.artifacts, name).append(frame)

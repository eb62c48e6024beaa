"""A small project like the demo's, built through the public API: two versions of a dataset
(the second breaks its contract), tracked runs with metric curves (one failed), a pipeline
run twice (the second fully cached), a model with two versions, gated and promoted, the
second evaluated per slice on a dataset version, its prediction log over four hours (the last
one drifted) with labels for the first, and a canary rollout of the other version with one
failed and one passed analysis."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project
from keel.tracking import open_project

FLOW = """\
import keel


@keel.step
def numbers(count: int) -> list[float]:
    return [float(i) for i in range(count)]


@keel.step
def total(values: list[float]) -> dict[str, float]:
    return {"total": sum(values)}


@keel.pipeline
def flow(count: int = 5) -> None:
    total(numbers(count))
"""


class Applicant(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)
    label: int = keel.Field(isin=[0, 1])


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


SERVED_HOURS = 4
"""Hours of the prediction log; the last one's x1 is shifted (drift)."""
LOG_START = datetime(2026, 11, 20, tzinfo=UTC)
DEPLOY = """\
challenger:
  alias: challenger
  mode: canary
  steps: [{setWeight: 10}, {analysis: {}}, {setWeight: 50}, {pause: {}}]
  analysis:
    interval: 30s
    failureLimit: 1
    minRequests: 20
    guardrails:
      errorRate: {maxIncrease: 0.01}
      latencyP99: {maxRatio: 1.5}
  promotion: manual
"""


@dataclass(frozen=True)
class Built:
    root: Path
    runs: list[str]
    """The training runs, oldest first (the last one failed)."""
    model_runs: dict[int, str]
    """Model version -> the run that trained it."""


def frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=rows) > 0.5).astype(int)
    return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": y})


def build(root: Path) -> Built:
    init_project(root, name="ui-test")
    project = open_project(root)
    clean = frame(600, 1)
    clean.write_parquet(root / "batch_1.parquet")
    clean.with_columns(
        x1=pl.when(pl.col("x1") > 0.95).then(7.0).otherwise(pl.col("x1"))
    ).write_parquet(root / "batch_2.parquet")
    keel.add_dataset(root / "batch_1.parquet", "applicants", contract=Applicant, project=project)
    keel.add_dataset(root / "batch_2.parquet", "applicants", contract=Applicant, project=project)
    frame(400, 2).write_parquet(root / "holdout.parquet")

    runs: list[str] = []
    model_runs: dict[int, str] = {}
    fitted: dict[int, Any] = {}
    for i, c in enumerate((1.0, 0.01, 0.3)):
        with keel.start_run(
            "train", params={"c": c, "solver": "lbfgs"}, seed=i, project=project
        ) as run:
            run.use_dataset("applicants/1")
            for step in range(5):
                run.log_metrics({"loss": 1.0 / (step + 1 + i)}, step=step)
            model = LogisticRegression(C=c).fit(
                clean.select("x1", "x2").to_numpy(), clean["label"].to_numpy()
            )
            run.log_metrics({"accuracy": 0.7 + 0.05 * i})
        runs.append(run.id)
        if i < 2:
            version = keel.register(
                model,
                "risk",
                contract=Features,
                run=run.id,
                metrics={"accuracy": 0.7 + 0.05 * i, "auc": 0.8 + 0.01 * i},
                description=f"logistic regression, C={c}",
                project=project,
            )
            model_runs[version.version] = run.id
            fitted[version.version] = model
    try:
        with keel.start_run("broken", params={"c": 2.0}, project=project):
            raise RuntimeError("diverged")
    except RuntimeError:
        pass
    from keel.registry import gate

    for candidate in (1, 2):
        gate(
            "risk", candidate=candidate, data=root / "holdout.parquet", target="label",
            promote=True, project=project,
        )  # fmt: skip
    _pipeline(root, project)
    from keel.registry import evaluate_model

    evaluate_model(  # kept in risk/2's history: its page shows it
        "risk/2", "applicants/1", target="label", slices=["x2"], n_boot=200, project=project
    )
    _serving(root, project, clean, fitted)
    return Built(root, runs, model_runs)


def _pipeline(root: Path, project: Any) -> None:
    from keel.pipelines import load_pipeline, run_pipeline

    (root / "flow.py").write_text(FLOW)
    here = Path.cwd()
    os.chdir(root)
    try:
        flow = load_pipeline("flow.py:flow")
        run_pipeline(flow, {"count": 5}, project=project)
        run_pipeline(flow, {"count": 5}, project=project)  # every step cached
    finally:
        os.chdir(here)


def _serving(root: Path, project: Any, clean: pl.DataFrame, fitted: dict[int, Any]) -> None:
    """What serving would have written: a prediction log of the champion (and a canary of
    the other version), labels for the first hour, and the rollout's decisions."""
    from keel.deploy import open_rollout
    from keel.monitor import FeedbackLog, PredictionLog, set_reference
    from keel.registry import set_alias

    inputs = clean.select("x1", "x2")
    for version in (1, 2):
        set_reference(f"model:risk/{version}", inputs, project=project)
    champion = project.metadata.models.aliases("risk")["champion"]
    challenger = 2 if champion == 1 else 1
    rng = np.random.default_rng(7)
    log = PredictionLog(project.artifacts, "risk")
    for hour in range(SERVED_HOURS):
        n = 240
        x1 = rng.uniform(0, 1, n) * (0.5 if hour == SERVED_HOURS - 1 else 1.0)
        x2 = rng.uniform(0, 1, n)
        roles = np.where(np.arange(n) % 6 == 0, "challenger", "champion")
        features = np.column_stack([x1, x2])
        score = np.where(
            roles == "champion",
            fitted[champion].predict_proba(features)[:, 1],
            fitted[challenger].predict_proba(features)[:, 1],
        )
        log.append(
            pl.DataFrame(
                {
                    "request_id": [f"{hour}-{i}" for i in range(n)],
                    "row": [0] * n,
                    "time": [LOG_START + timedelta(hours=hour, seconds=14 * i) for i in range(n)],
                    "model": ["risk"] * n,
                    "version": np.where(roles == "champion", champion, challenger),
                    "role": roles,
                    "latency_ms": rng.uniform(1, 4, n),
                    "valid": [True] * n,
                    "violations": [None] * n,
                    "prediction": (score >= 0.5).astype(int),
                    "score": score,
                    "confidence": np.maximum(score, 1 - score),
                    "x1": x1,
                    "x2": x2,
                },
                schema_overrides={"time": pl.Datetime("us", "UTC"), "violations": pl.String},
            )
        )
    first = [f"0-{i}" for i in range(240)]
    FeedbackLog(project.artifacts, "risk").append(
        pl.DataFrame(
            {
                "request_id": first,
                "row": [0] * 240,
                "label": rng.integers(0, 2, 240),
                "time": [LOG_START + timedelta(hours=SERVED_HOURS)] * 240,
            },
            schema_overrides={"time": pl.Datetime("us", "UTC")},
        )
    )
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "risk.yaml").write_text(DEPLOY)
    set_alias("risk", "challenger", challenger, project=project)
    controller = open_rollout("risk", project=project)
    for errors in (0.2, 0.0):  # one failed analysis (errors), then one that passes
        controller.guardrails.reset()
        for i in range(40):
            for role in ("champion", "challenger"):
                failed = role == "challenger" and i < 40 * errors
                controller.guardrails.observe(
                    role, request_id=f"{role}-{i}", count=1, latency_ms=2.0, error=failed,
                    predictions=[1],
                )  # fmt: skip
        controller.tick()

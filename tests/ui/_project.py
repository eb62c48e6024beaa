"""A small project like the demo's, built through the public API: two versions of a dataset
(the second breaks its contract), tracked runs with metric curves (one failed), a pipeline
run twice (the second fully cached), and a model with two versions, gated and promoted,
the second evaluated per slice on a dataset version."""

from __future__ import annotations

import os
from dataclasses import dataclass
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

"""A project for the lineage pages, built through the public API: a dataset with two
profiled versions (and a third without a profile), a training pipeline that reads version 1
(ingest -> featurize -> train, evaluate), a model version registered from that pipeline run
and promoted to champion, and a deployment spec serving it. Kept apart from
``_project.py``, whose counts other tests pin."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import keel
from keel.config import init_project
from keel.tracking import open_project
from tests.ui._project import Applicant, frame

TRAINING = """\
from pathlib import Path

import polars as pl
from sklearn.linear_model import LogisticRegression

import keel


class Rows(keel.Schema):
    x1: float
    x2: float
    label: int


@keel.step
def ingest(source: Path) -> keel.Frame[Rows]:
    return Rows.validate(pl.read_parquet(source))


@keel.step
def featurize(rows: keel.Frame[Rows]) -> keel.Frame[Rows]:
    return Rows.validate(rows.to_polars().with_columns(x2=pl.col("x2") * 0.5))


@keel.step
def train(rows: keel.Frame[Rows]) -> LogisticRegression:
    frame = rows.to_polars()
    return LogisticRegression().fit(frame.select("x1", "x2").to_numpy(), frame["label"])


@keel.step
def evaluate(model: LogisticRegression, rows: keel.Frame[Rows]) -> dict[str, float]:
    frame = rows.to_polars()
    return {"accuracy": float(model.score(frame.select("x1", "x2").to_numpy(), frame["label"]))}


@keel.pipeline
def training(source: Path = Path("batch_1.parquet")) -> None:
    rows = featurize(ingest(source))
    evaluate(train(rows), rows)
"""

DEPLOY = """\
model: scorer
champion: champion
"""


@dataclass(frozen=True)
class LineageBuilt:
    root: Path
    run_id: str
    """The pipeline run that read ``applicants/1`` and trained ``scorer/1``."""


def build_lineage(root: Path) -> LineageBuilt:
    init_project(root, name="lineage-test")
    project = open_project(root)
    first = frame(500, 11)
    first.write_parquet(root / "batch_1.parquet")
    shifted = frame(400, 12).with_columns(x1=pl.col("x1") * 0.5 + 0.5)
    shifted.with_columns(band=pl.lit("b")).write_parquet(root / "batch_2.parquet")
    keel.add_dataset(root / "batch_1.parquet", "applicants", contract=Applicant, project=project)
    keel.add_dataset(root / "batch_2.parquet", "applicants", project=project)
    frame(300, 13).write_parquet(root / "batch_3.parquet")  # no profile: no drift to show
    keel.add_dataset(root / "batch_3.parquet", "applicants", profile=False, project=project)
    (root / "training.py").write_text(TRAINING)
    (root / "deploy").mkdir()
    (root / "deploy" / "scorer.yaml").write_text(DEPLOY)
    from keel.pipelines import load_pipeline, run_pipeline
    from keel.registry import set_alias

    here = Path.cwd()
    os.chdir(root)
    try:
        result = run_pipeline(load_pipeline("training.py:training"), project=project)
    finally:
        os.chdir(here)
    model = result.value("train")
    version = keel.register(model, "scorer", run=result.run_id, project=project)
    set_alias("scorer", "champion", version.version, project=project)
    return LineageBuilt(root, result.run_id)

"""Shared by the tests of models trained on a feature service: a project with feature
definitions (one view, a derived feature reading a request field, a service), data whose
rows are fresh, expired or absent at the present time, and a registered model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier

import keel
from keel.config import init_project
from keel.features import materialize as materialize_views
from keel.registry import set_alias
from keel.tracking import Project, open_project

DEFINITIONS = """
import datetime as dt

import keel
from keel.features import derived


class Credit(keel.Schema):
    applicant_id: int
    event_time: dt.datetime
    credit_score: float | None = keel.Field(ge=0, le=1000)
    open_loans: int


applicant = keel.Entity("applicant", keys={"applicant_id": int})

credit = keel.FeatureView(
    "credit",
    entity=applicant,
    source="data/credit.parquet",
    schema=Credit,
    event_time="event_time",
    ttl="3d",
)


@derived
def loan_ratio(amount: float, open_loans: int) -> float:
    return amount / (1 + open_loans)


scoring = keel.FeatureService("scoring", features=[credit, loan_ratio])
"""


class Inputs(keel.Schema):
    """The model's input contract: the service's features (null when not found)."""

    credit_score: float | None
    open_loans: int | None
    loan_ratio: float | None


COLUMNS = ("credit_score", "open_loans", "loan_ratio")
FRESH, EXPIRED, ABSENT = 1, 2, 3  # applicant ids


def write_data(root: Path, now: dt.datetime | None = None) -> None:
    """Applicant 1 has a row an hour old (fresh), 2 one ten days old (past the 3-day TTL),
    3 none; 4 and up are fresh, for many-key requests."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ids = [FRESH, EXPIRED, *range(4, 104)]
    (root / "data").mkdir(exist_ok=True)
    pl.DataFrame(
        {
            "applicant_id": ids,
            "event_time": [now - dt.timedelta(hours=1), now - dt.timedelta(days=10)]
            + [now - dt.timedelta(minutes=i) for i in range(4, 104)],
            "credit_score": [700.0, 300.0] + [float(400 + i) for i in range(4, 104)],
            "open_loans": [1, 4] + [i % 5 for i in range(4, 104)],
        }
    ).write_parquet(root / "data" / "credit.parquet")


def classifier() -> HistGradientBoostingClassifier:
    rng = np.random.default_rng(0)
    rows = 400
    x = np.column_stack(
        [rng.uniform(300, 800, rows), rng.integers(0, 5, rows), rng.uniform(0, 5000, rows)]
    )
    x[rng.uniform(size=rows) < 0.1, 0] = np.nan
    y = ((np.nan_to_num(x[:, 0], nan=500) > 550) ^ (x[:, 2] > 2500)).astype(int)
    return HistGradientBoostingClassifier(max_iter=20).fit(x, y)


def online_project(root: Path, *, register: bool = True, materialize: bool = True) -> Project:
    """A project with the definitions, the data, the online snapshot and ``scoring_model``
    version 1 (the ``champion``) registered with feature service ``scoring``."""
    init_project(root)
    toml = root / "keel.toml"
    toml.write_text(
        toml.read_text().replace('# definitions = "features.py"', 'definitions = "features.py"')
    )
    (root / "features.py").write_text(DEFINITIONS)
    write_data(root)
    project = open_project(root)
    if materialize:
        materialize_views(project=project)
    if register:
        keel.register(
            classifier(), "scoring_model", contract=Inputs, feature_service="scoring",
            project=project,
        )  # fmt: skip
        set_alias("scoring_model", "champion", 1, project=project)
    return project

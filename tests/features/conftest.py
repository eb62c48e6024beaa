"""A project with feature definitions: two views (Parquet and CSV) of one entity, a derived
feature and a service, as keel.toml names them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from keel.config import init_project

DEFINITIONS = """
import datetime as dt

import keel
from keel.features import derived, sql


class Credit(keel.Schema):
    applicant_id: int
    event_time: dt.datetime
    created_at: dt.datetime
    credit_score: float | None = keel.Field(ge=0, le=1000)
    open_loans: int


class Bureau(keel.Schema):
    applicant_id: int
    reported: dt.datetime
    delinquencies: int


applicant = keel.Entity("applicant", keys={"applicant_id": int})

credit = keel.FeatureView(
    "credit",
    entity=applicant,
    source="data/credit.parquet",
    schema=Credit,
    event_time="event_time",
    created_time="created_at",
    ttl="3d",
)
bureau = keel.FeatureView(
    "bureau", entity=applicant, source="data/bureau.csv", schema=Bureau,
    event_time="reported", ttl="10d",
)


@derived
def risky(open_loans: int, delinquencies: int | None) -> bool:
    return open_loans > 1 or (delinquencies or 0) > 0


loans = keel.FeatureService("loans", features=[credit, "bureau:delinquencies", risky])
"""

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2024, 1, 1)


def write_data(root: Path) -> None:
    data = root / "data"
    data.mkdir(exist_ok=True)
    pl.DataFrame(
        {
            "applicant_id": [1, 1, 2, 3],
            "event_time": [T0, T0 + 4 * DAY, T0, T0],
            "created_at": [T0, T0 + 5 * DAY, T0, T0],
            "credit_score": [600.0, 700.0, None, 500.0],
            "open_loans": [1, 2, 0, 3],
        }
    ).write_parquet(data / "credit.parquet")
    pl.DataFrame(
        {"applicant_id": [1, 2], "reported": [T0 - DAY, T0 + DAY], "delinquencies": [0, 2]}
    ).write_csv(data / "bureau.csv")
    pl.DataFrame(
        {
            "applicant_id": [1, 1, 2, 3, 4],
            "timestamp": [T0 + DAY, T0 + 4 * DAY, T0 + 2 * DAY, T0 + 9 * DAY, T0],
            "label": [0, 1, 1, 0, 0],
        }
    ).write_parquet(root / "entities.parquet")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    init_project(tmp_path)
    toml = tmp_path / "keel.toml"
    toml.write_text(
        toml.read_text().replace('# definitions = "features.py"', 'definitions = "features.py"')
    )
    (tmp_path / "features.py").write_text(DEFINITIONS)
    write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path

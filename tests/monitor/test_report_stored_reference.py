"""The demo path of monitoring: a model registered with its reference data, served, asked a
few predictions, then ``keel monitor report NAME`` with no ``--reference`` (the stored
reference, with the profile of the model's own answers: ``prediction`` and ``score``).

A report window without traffic once read the log's own columns (``score``...) as text and
failed against the reference's numeric bins; these run the real app and the real metadata
store (SQLite, then PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app as cli
from keel.config import init_project
from keel.monitor import PredictionLog, report
from keel.monitor._predlog import PREDICTION_COLUMNS
from keel.registry import set_alias
from keel.serve import create_app
from keel.tracking import Project, open_project
from tests.serve._serving import Features, client, model, records, training

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """``churn`` registered with ``reference=`` its training data, served (the champion), and
    asked three requests, its prediction log flushed at shutdown."""
    monkeypatch.setenv("KEEL_STORE_URL", store_url)
    monkeypatch.chdir(tmp_path)
    init_project(tmp_path)
    project = open_project(tmp_path)
    x, _ = training()
    reference = pl.DataFrame(x, schema=["age", "income", "rate"], orient="row")
    reference = reference.with_columns(pl.col("age").cast(pl.Int64))
    keel.register(model(), "churn", contract=Features, reference=reference, project=project)
    set_alias("churn", "champion", 1, project=project)

    async def traffic() -> None:
        async with client(create_app("churn", project=project, log_flush_interval=3600)) as http:
            for seed in range(3):
                answer = await http.post("/predict", json=records(5, seed=seed))
                assert answer.status_code == 200, answer.text

    asyncio.run(traffic())
    yield project
    project.metadata.close()


def _window_rows(windows: list[Any]) -> list[int]:
    return [w.profile.rows for w in windows]


def test_report_compares_with_the_stored_reference_over_windows_without_traffic(
    served: Project,
) -> None:
    done = report("churn", since="3h", window="1h", project=served)
    assert done.reference["source"] == "model:churn/1"
    assert {"prediction", "score"} <= set(done.reference["columns"])
    rows = _window_rows(done.windows)
    assert sum(rows) == 15
    assert 0 in rows  # the hours before the traffic
    busy = next(w for w in done.windows if w.profile.rows)
    assert busy.drift is not None
    drifted = {d.column for d in busy.drift}
    assert {"age", "income", "rate", "prediction", "score"} <= drifted
    assert np.isfinite([d.score for d in busy.drift]).all()


def test_report_without_since_uses_the_stored_reference(served: Project) -> None:
    done = report("churn", window="1m", project=served)
    assert sum(_window_rows(done.windows)) == 15
    assert done.reference["source"] == "model:churn/1"


def test_cli_report_uses_the_stored_reference(served: Project) -> None:
    result = runner.invoke(cli, ["monitor", "report", "churn", "--since", "3h", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sum(w["rows"] for w in data["windows"]) == 15
    assert any(w["rows"] == 0 for w in data["windows"])
    (busy,) = (w for w in data["windows"] if w["rows"])
    assert {"prediction", "score"} <= {c["column"] for c in busy["columns"]}
    table = runner.invoke(cli, ["monitor", "report", "churn", "--since", "3h", "--html", "r.html"])
    assert table.exit_code == 0, table.output
    assert "churn: 15 predictions" in table.stdout
    assert "score" in Path("r.html").read_text()


def test_an_empty_log_scan_has_the_types_serving_writes(served: Project) -> None:
    log = PredictionLog(served.artifacts, "churn")
    written = log.scan().collect_schema()
    empty = log.scan_files([]).collect_schema()
    assert list(empty) == list(PREDICTION_COLUMNS)
    for column in PREDICTION_COLUMNS:
        if column != "prediction":  # the model's own type: unknown without a row
            assert empty[column] == written[column], column
    assert empty["prediction"] == pl.Null

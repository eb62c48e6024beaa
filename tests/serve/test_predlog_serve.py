"""The prediction log the server writes: one row per predicted record with its inputs,
flushed on an interval and at shutdown (a real ``keel serve`` stopped by SIGTERM loses
nothing), and ``keel predictions export``."""

from __future__ import annotations

import asyncio
import decimal
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

import keel
from keel.cli._app import app as cli
from keel.config import init_project
from keel.contracts import DType, polars_type
from keel.monitor import PredictionLog
from keel.monitor._predlog import PREDICTION_COLUMNS
from keel.registry import set_alias
from keel.serve import create_app, recover_predictions
from keel.serve._export import export_predictions
from keel.serve._journal import Journal, journal_folder
from keel.serve._logwriter import LogWriter
from keel.tracking import open_project

from ._serving import COLUMNS, client, expected, make_project, records


def test_every_predicted_record_is_logged_with_its_inputs(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    rows = records(7)
    app = create_app("churn", project=project, log_flush_interval=3600)

    async def main() -> list[str]:
        async with client(app) as http:
            one = await http.post("/predict", json=rows[:3])
            two = await http.post("/predict", json=rows[3:])
            return [one.json()["request_id"], two.json()["request_id"]]

    ids = asyncio.run(main())  # the log is written at shutdown
    log = PredictionLog(project.artifacts, "churn")
    assert len(log.files()) == 1
    frame = log.scan().collect().sort("request_id", "row")
    assert frame.columns == [*PREDICTION_COLUMNS, *COLUMNS]
    assert frame.height == 7
    by_request = dict(frame.group_by("request_id").len().rows())
    assert by_request == {ids[0]: 3, ids[1]: 4}
    ordered = pl.concat([frame.filter(pl.col("request_id") == i).sort("row") for i in ids])
    assert ordered.select(COLUMNS).to_dicts() == rows
    assert ordered["prediction"].to_list() == expected(project, rows)
    assert set(ordered["model"]) == {"churn"}
    assert set(ordered["version"]) == {1}
    assert set(ordered["role"]) == {"champion"}
    assert ordered["valid"].all()
    assert ordered["score"].is_between(0, 1).all()
    assert (ordered["confidence"] >= 0.5).all()
    assert ordered["latency_ms"].min() > 0
    assert frame.schema["time"] == pl.Datetime("us", "UTC")


def test_the_log_is_flushed_on_an_interval(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    app = create_app("churn", project=project, log_flush_interval=0.05)
    log = PredictionLog(project.artifacts, "churn")

    async def main() -> int:
        async with client(app) as http:
            await http.post("/predict", json=records(2))
            for _ in range(100):
                if log.files():
                    break
                await asyncio.sleep(0.05)
            return log.scan().collect().height

    assert asyncio.run(main()) == 2


def test_predictions_export_writes_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    log = PredictionLog(project.artifacts, "churn")
    now = datetime.now(UTC)
    for hours_ago, n in ((48, 2), (1, 3)):
        when = now - timedelta(hours=hours_ago)
        log.append(
            pl.DataFrame(
                {
                    "request_id": [f"r{hours_ago}"] * n,
                    "row": list(range(n)),
                    "time": [when] * n,
                    "model": ["churn"] * n,
                    "version": [1] * n,
                    "role": ["champion"] * n,
                    "latency_ms": [1.0] * n,
                    "valid": [True] * n,
                    "violations": [None] * n,
                    "prediction": [1] * n,
                    "score": [0.9] * n,
                    "confidence": [0.9] * n,
                    "age": [30] * n,
                },
                schema_overrides={"violations": pl.String},
            )
        )
    assert export_predictions("churn", tmp_path / "all.parquet", project=project) == 5
    assert (
        pl.read_parquet(tmp_path / "all.parquet")["request_id"].to_list()
        == ["r48"] * 2 + ["r1"] * 3
    )
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(
        cli,
        [
            "predictions",
            "export",
            "churn",
            "-o",
            "recent.parquet",
            "--since",
            "24h",
            "--format",
            "json",
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"model": "churn", "path": "recent.parquet", "rows": 3}
    assert pl.read_parquet(tmp_path / "recent.parquet").height == 3
    bad = CliRunner().invoke(
        cli, ["predictions", "export", "churn", "-o", "x.parquet", "--since", "yesterday"]
    )
    assert bad.exit_code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_keel_serve_logs_every_request_when_stopped_by_sigterm(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    port = _free_port()
    env = {**os.environ, "KEEL_LOGGING_FORMAT": "json", "NO_COLOR": "1"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keel",
            "serve",
            "churn",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-flush",
            "1h",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    # reading stderr of a live server would block: stop it first
                    server.kill()
                    _, stderr = server.communicate(timeout=60)
                    raise AssertionError(f"keel serve never became ready:\n{stderr}") from None
                time.sleep(0.2)
        rows = records(25)
        answers = [_post(f"{base}/predict", row) for row in rows]
        assert [a["predictions"][0] for a in answers] == expected(project, rows)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    logged = PredictionLog(project.artifacts, "churn").scan().collect()
    assert logged.height == 25  # exactly N: none lost, none twice
    assert sorted(logged["request_id"]) == sorted(a["request_id"] for a in answers)
    access = [json.loads(line) for line in stderr.splitlines() if '"event": "request"' in line]
    assert len([a for a in access if a["path"] == "/predict"]) == 25
    assert {a["status"] for a in access if a["path"] == "/predict"} == {200}


class Priced(keel.Schema):
    amount: decimal.Decimal = keel.Field(ge=0)
    tier: keel.Categorical = keel.Field(isin=["1", "2", "3"])


def _priced_project(root: Path) -> Any:
    init_project(root)
    project = open_project(root)
    x = np.array([[1.5, 1], [20.25, 2], [3.0, 3], [40.0, 1]])
    fitted = LinearRegression().fit(x, x[:, 0] * 2)
    keel.register(fitted, "priced", contract=Priced, project=project)
    set_alias("priced", "champion", 1, project=project)
    return project


def test_decimal_and_categorical_inputs_are_logged_with_the_contract_s_types(
    tmp_path: Path,
) -> None:
    project = _priced_project(tmp_path)
    rows = [{"amount": "12.345678901", "tier": "2"}, {"amount": 0.1, "tier": "1"}]
    app = create_app("priced", project=project, log_flush_interval=3600)

    async def main() -> None:
        async with client(app) as http:
            answer = await http.post("/predict", json=rows)
            assert answer.status_code == 200, answer.text

    asyncio.run(main())
    logged = PredictionLog(project.artifacts, "priced").scan().collect().sort("row")
    types = {c.name: polars_type(c.dtype) for c in Priced.__contract__.columns}
    assert {name: logged.schema[name] for name in types} == types
    assert logged["tier"].to_list() == ["2", "1"]
    # decimals are kept exactly at the contract's scale, not as floats
    assert logged["amount"].to_list() == [decimal.Decimal("12.345678901"), decimal.Decimal("0.1")]


def test_journaled_decimals_are_recovered_exactly(tmp_path: Path) -> None:
    project = _priced_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "priced")
    writer = LogWriter(project.artifacts, "priced", Priced.__contract__, journal=folder)
    writer.add(
        request_id="r0",
        time=time.time(),
        model="priced",
        version=1,
        role="champion",
        latency_ms=1.0,
        inputs=[[decimal.Decimal("0.123456789"), "3"]],
        violations=[None],
        predictions=[0.5],
        scores=[None],
        confidences=[None],
        columns=("amount", "tier"),
    )
    writer.journal()
    journal = writer._journal
    assert journal is not None
    assert journal.current is not None
    Journal.close(journal.current)  # what a killed server leaves
    journal.current = None

    assert recover_predictions("priced", project=project) == 1
    logged = PredictionLog(project.artifacts, "priced").scan().collect()
    assert logged["amount"].dtype == polars_type(DType.DECIMAL)
    assert logged["amount"].to_list() == [decimal.Decimal("0.123456789")]
    assert logged["tier"].dtype == polars_type(DType.CATEGORICAL)

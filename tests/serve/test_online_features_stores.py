"""Online lookup through a real ``keel serve`` process (SQLite store) and with Redis: the
real server (a failure, never a skip, when it is missing) and one that is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from keel.features import get_online
from keel.monitor import PredictionLog
from keel.serve import create_app
from keel.tracking import Project, open_project

from ._online import ABSENT, DEFINITIONS, EXPIRED, FRESH, online_project
from ._process import keel_serve
from ._serving import client

REDIS = os.environ.get("KEEL_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUESTS = [
    {"applicant_id": FRESH, "amount": 1200.0},
    {"applicant_id": EXPIRED, "amount": 300.0},
    {"applicant_id": ABSENT, "amount": 50.0},
]


def _post(base: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _online(root: Path, url: str) -> None:
    toml = root / "keel.toml"
    toml.write_text(toml.read_text().replace('# online = ""', f'online = "{url}"'))


def test_keel_serve_looks_features_up_and_logs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = online_project(tmp_path)
    with keel_serve(tmp_path, "--log-flush", "0.2s", name="scoring_model") as server:
        answer = _post(server.base, "/predict", REQUESTS)
    assert answer["version"] == 1
    assert len(answer["predictions"]) == 3
    log = PredictionLog(project.artifacts, "scoring_model").scan().collect().sort("row")
    online = get_online(REQUESTS, "scoring", project=project)
    assert log["credit_score"].to_list() == [r["credit_score"] for r in online.rows]
    assert [json.loads(s)["open_loans"] for s in log["feature_status"]] == [
        "ok",
        "expired",
        "missing",
    ]


def test_keel_serve_refuses_a_service_whose_view_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    online_project(tmp_path)
    (tmp_path / "features.py").write_text(DEFINITIONS.replace('"credit",\n', '"credit2",\n'))
    done = subprocess.run(
        [sys.executable, "-m", "keel", "serve", "scoring_model", "--port", "1"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "feature view 'credit'" in done.stderr
    assert "no longer defines" in done.stderr


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


def test_redis_store_serves_the_same_values_as_get_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    db = REDIS.rsplit("/", 1)[0] + "/11"  # a database of its own: the default key prefix
    monkeypatch.chdir(tmp_path)
    online_project(tmp_path, register=False, materialize=False)
    _online(tmp_path, db)
    try:
        project = online_project_registered(tmp_path)
        app = create_app("scoring_model", project=project)

        async def work(http: Any) -> list[Any]:
            answer = await http.post("/predict", json=REQUESTS)
            app.state.keel.flush()
            return [answer, await http.get("/v2/health/ready")]

        answer, ready = run(app, work)
        assert answer.status_code == 200, answer.text
        assert ready.status_code == 200
        log = PredictionLog(project.artifacts, "scoring_model").scan().collect().sort("row")
        online = get_online(REQUESTS, "scoring", project=project)
        assert online.materializations[0].view == "credit"
        assert log["credit_score"].to_list() == [700.0, None, None]
        assert log["credit_score"].to_list() == [r["credit_score"] for r in online.rows]
    finally:
        server = redis.Redis.from_url(db)
        for key in server.scan_iter("keel:features*"):
            server.delete(key)
        server.close()


def online_project_registered(root: Path) -> Project:
    import keel
    from keel.features import materialize
    from keel.registry import set_alias

    from ._online import Inputs, classifier

    project = open_project(root)
    materialize(project=project)
    keel.register(classifier(), "scoring_model", contract=Inputs, feature_service="scoring",
                  project=project)  # fmt: skip
    set_alias("scoring_model", "champion", 1, project=project)
    return project


def test_redis_down_means_not_ready_and_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = online_project(tmp_path)  # registered with the embedded store materialized
    _online(tmp_path, "redis://127.0.0.1:1/0")  # then served against a Redis that is down
    app = create_app("scoring_model", project=open_project(tmp_path))

    async def work(http: Any) -> list[Any]:
        return [
            await http.get("/v2/health/ready"),
            await http.post("/predict", json=REQUESTS[0]),
            await http.post(
                "/v2/models/scoring_model/infer",
                json={
                    "inputs": [
                        {"name": "applicant_id", "shape": [1], "datatype": "INT64", "data": [1]},
                        {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]},
                    ]
                },
            ),
        ]

    ready, answer, infer = run(app, work)
    assert ready.status_code == 503
    assert "redis://127.0.0.1:1/0 cannot be reached" in ready.json()["reason"]
    assert answer.status_code == 503
    assert answer.json()["code"] == "features_unavailable"
    assert "Start the Redis server" in answer.json()["hint"]
    assert infer.status_code == 503
    assert PredictionLog(project.artifacts, "scoring_model").files() == []

"""``keel ui`` over a PostgreSQL metadata store: the same pages and API as over SQLite."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import keel
from keel.config import init_project
from keel.tracking import open_project
from keel.ui import create_app, export_site


def test_runs_kpis_and_export_over_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_STORE_URL", pg_url)
    init_project(tmp_path)
    project = open_project(tmp_path)
    try:
        for i, model in enumerate(["rf", "lr", "rf"]):
            with keel.start_run(
                "train", params={"model": model, "depth": 10 - i}, project=project
            ) as run:
                run.log_metrics({"auc": 0.7 + i / 10})
        client = TestClient(create_app(project))
        page = client.get(
            "/api/runs", params={"where": "params.model = rf", "order_by": "params.depth"}
        ).json()
        assert [r["params"]["depth"] for r in page["runs"]] == [10, 8]
        assert page["total"] == 2
        by_auc = client.get("/api/runs", params={"order_by": "metrics.auc"}).json()["runs"]
        assert [r["metrics"]["auc"] for r in by_auc] == pytest.approx([0.9, 0.8, 0.7])
        kpis = client.get("/api/kpis").json()
        assert {k["key"]: k["status"] for k in kpis["kpis"]}["run_failure_rate"] == "green"
        assert client.get("/runs").status_code == 200
        assert (tmp_path / "site" / "index.html") in export_site(tmp_path / "site", project)
    finally:
        project.metadata.close()


def test_runs_ordered_by_a_metric_over_postgresql_put_nan_and_missing_last(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL sorts NaN above every number: the latest values' table holds it as NULL
    monkeypatch.setenv("KEEL_STORE_URL", pg_url)
    init_project(tmp_path)
    project = open_project(tmp_path)
    scores = [0.5, math.nan, 0.9, None, 0.5, 0.7]  # None: never logged
    try:
        for i, score in enumerate(scores):
            with keel.start_run(f"r{i}", project=project) as run:
                if score is not None:
                    run.log_metrics({"score": 0.1}, step=0)
                    run.log_metrics({"score": score}, step=1)  # the latest: the highest step
        client = TestClient(create_app(project))
        names = {
            desc: [r["name"] for r in client.get(
                "/api/runs", params={"order_by": "metrics.score", "desc": desc}
            ).json()["runs"]]
            for desc in (True, False)
        }  # fmt: skip
        assert names[True] == ["r2", "r5", "r4", "r0", "r3", "r1"]  # ties and the rest newest first
        assert names[False] == ["r4", "r0", "r5", "r2", "r3", "r1"]
        page = client.get(
            "/api/runs", params={"where": "metrics.score >= 0.5", "order_by": "metrics.score",
                                 "desc": False, "offset": 1, "limit": 2}
        ).json()  # fmt: skip
        assert ([r["name"] for r in page["runs"]], page["total"]) == (["r0", "r5"], 4)
    finally:
        project.metadata.close()

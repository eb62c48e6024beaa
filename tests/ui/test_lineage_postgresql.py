"""The lineage and diff pages over a PostgreSQL metadata store: the store's new queries
(step runs that read a digest, runs that read a dataset version) answer as over SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from keel.tracking import open_project
from keel.ui import create_app
from tests.ui._lineage_project import build_lineage


def test_lineage_and_diff_over_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_STORE_URL", pg_url)
    built = build_lineage(tmp_path)
    project = open_project(tmp_path)
    try:
        client = TestClient(create_app(project))
        found = client.get("/api/lineage/applicants/1").json()
        (run,) = found["downstream"]["children"]
        assert run["run_id"] == built.run_id
        assert [c["label"] for c in run["children"]] == ["training.ingest", "scorer/1"]
        assert client.get("/api/datasets/applicants/1").json()["used_by"] == [
            {"id": built.run_id, "name": "training"}
        ]
        diff = client.get("/api/datasets/applicants/diff", params={"a": 1, "b": 2}).json()
        assert diff["drift"]["reference_rows"] == 500
        dag = client.get(f"/api/pipelines/{built.run_id}").json()
        assert len(dag["steps"]) == 4
    finally:
        project.metadata.close()

"""Serving a model trained on a feature service: requests carry entity keys and request
fields, the features come from the online store (the same values as get_online), the
contract checks the assembled vector, and the log keeps it with per-feature statuses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import keel
from keel.errors import UsageError
from keel.features import get_online
from keel.monitor import PredictionLog
from keel.registry import set_alias
from keel.serve import create_app
from keel.tracking import Project

from ._online import ABSENT, COLUMNS, DEFINITIONS, EXPIRED, FRESH, classifier, online_project
from ._serving import client


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.chdir(tmp_path)
    return online_project(tmp_path)


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


def _model_rows(project: Project, rows: list[dict[str, Any]]) -> list[Any]:
    """What the model predicts on the features get_online gives for ``rows``."""
    found = get_online(rows, "scoring", project=project)
    frame = pl.DataFrame(
        {c: [r[c] for r in found.rows] for c in COLUMNS},
        schema={"credit_score": pl.Float64, "open_loans": pl.Int64, "loan_ratio": pl.Float64},
    )
    loaded = keel.load("scoring_model/1", project=project)
    return list(np.asarray(loaded.predict(frame.to_numpy())).tolist())


REQUESTS = [
    {"applicant_id": FRESH, "amount": 1200.0},
    {"applicant_id": EXPIRED, "amount": 300.0},
    {"applicant_id": ABSENT, "amount": 50.0},
    {"applicant_id": 7, "amount": 5000.0},
]


def test_predict_looks_the_features_up_and_logs_the_assembled_vector(project: Project) -> None:
    app = create_app("scoring_model", project=project)

    async def work(http: Any) -> Any:
        answer = await http.post("/predict", json=REQUESTS)
        app.state.keel.flush()
        return answer

    answer = run(app, work)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == _model_rows(project, REQUESTS)
    online = get_online(REQUESTS, "scoring", project=project)
    log = PredictionLog(project.artifacts, "scoring_model").scan().collect().sort("row")
    assert log["applicant_id"].to_list() == [r["applicant_id"] for r in REQUESTS]
    assert log["applicant_id"].dtype == pl.Int64
    assert log["amount"].to_list() == [r["amount"] for r in REQUESTS]
    for column in COLUMNS:  # the served values are get_online's, column by column
        assert log[column].to_list() == [r[column] for r in online.rows], column
    assert log["credit_score"].to_list()[:3] == [700.0, None, None]
    assert log["loan_ratio"].to_list()[0] == pytest.approx(1200.0 / 2)
    statuses = [json.loads(s) for s in log["feature_status"].to_list()]
    assert statuses[0] == {"credit_score": "ok", "open_loans": "ok", "loan_ratio": "derived"}
    assert statuses[1]["credit_score"] == "expired"
    assert statuses[2] == {
        "credit_score": "missing",
        "open_loans": "missing",
        "loan_ratio": "derived",
    }
    assert log["valid"].to_list() == [True] * 4  # the contract allows nulls
    times = log["time"].to_list()
    assert all(t.tzinfo is not None for t in times)


def test_open_inference_protocol_and_mlflow_take_keys_and_fields(project: Project) -> None:
    app = create_app("scoring_model", project=project)
    ids = [r["applicant_id"] for r in REQUESTS]
    amounts = [r["amount"] for r in REQUESTS]
    v2 = {
        "inputs": [
            {"name": "applicant_id", "shape": [4], "datatype": "INT64", "data": ids},
            {"name": "amount", "shape": [4], "datatype": "FP64", "data": amounts},
        ]
    }

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/v2/models/scoring_model/infer", json=v2),
            await http.get("/v2/models/scoring_model"),
            await http.post(
                "/invocations",
                json={
                    "dataframe_split": {
                        "columns": ["applicant_id", "amount"],
                        "data": [list(p) for p in zip(ids, amounts, strict=True)],
                    }
                },
            ),
        ]

    infer, meta, mlflow = run(app, work)
    expected = _model_rows(project, REQUESTS)
    assert infer.status_code == 200, infer.text
    assert infer.json()["outputs"][0]["data"] == expected
    assert [i["name"] for i in meta.json()["inputs"]] == ["applicant_id", "amount"]
    assert mlflow.status_code == 200, mlflow.text
    assert mlflow.json()["predictions"] == expected


def test_a_request_without_keys_or_with_features_is_refused(project: Project) -> None:
    app = create_app("scoring_model", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json={"amount": 10.0}),
            await http.post("/predict", json={"applicant_id": 1}),
            await http.post(
                "/predict", json={"applicant_id": 1, "amount": 1.0, "credit_score": 900.0}
            ),
            await http.post("/predict", json={"applicant_id": "1", "amount": 1.0}),
        ]

    no_key, no_field, feature, wrong_type = run(app, work)
    assert no_key.status_code == 422
    assert no_key.json()["errors"][0]["field"] == "applicant_id"
    assert no_field.json()["errors"][0]["field"] == "amount"
    assert feature.status_code == 422
    assert "looked up online" in feature.json()["errors"][0]["error"]
    assert wrong_type.status_code == 422
    assert "not an integer" in wrong_type.json()["error"]


def test_in_strict_mode_a_missing_feature_breaks_a_non_null_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = online_project(tmp_path, register=False)

    class Strict(keel.Schema):
        credit_score: float
        open_loans: int
        loan_ratio: float

    keel.register(classifier(), "strict", contract=Strict, feature_service="scoring",
                  project=project)  # fmt: skip
    set_alias("strict", "champion", 1, project=project)
    app = create_app("strict", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json={"applicant_id": FRESH, "amount": 1.0}),
            await http.post("/predict", json={"applicant_id": ABSENT, "amount": 1.0}),
        ]

    fresh, absent = run(app, work)
    assert fresh.status_code == 200
    assert absent.status_code == 422
    assert "credit_score" in absent.text


def test_a_store_that_cannot_answer_makes_the_server_not_ready(
    project: Project, tmp_path: Path
) -> None:
    app = create_app("scoring_model", project=project)
    online_db = tmp_path / ".keel" / "online.db"

    async def work(http: Any) -> list[Any]:
        ready = await http.get("/v2/health/ready")
        app.state.keel.champion.features.close()  # the store goes away ...
        online_db.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{online_db}{suffix}").unlink(missing_ok=True)
        online_db.mkdir()  # ... and cannot be opened again
        app.state.keel.champion.features._store = None
        gone = await http.post("/predict", json=REQUESTS[0])
        not_ready = await http.get("/v2/health/ready")
        ping = await http.get("/ping")
        return [ready, gone, not_ready, ping]

    ready, gone, not_ready, ping = run(app, work)
    assert ready.status_code == 200
    assert gone.status_code == 503
    assert gone.json()["code"] == "features_unavailable"
    assert str(online_db) in gone.json()["error"]
    assert not_ready.status_code == 503
    assert not_ready.json()["ready"] is False
    assert "online store" in not_ready.json()["reason"]
    assert ping.status_code == 503


def test_a_view_not_materialized_is_not_ready_and_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = online_project(tmp_path, materialize=False)
    app = create_app("scoring_model", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.get("/v2/health/ready"),
            await http.post("/predict", json=REQUESTS[0]),
        ]

    ready, answer = run(app, work)
    assert ready.status_code == 503
    assert "keel features materialize credit" in ready.json()["reason"]
    assert answer.status_code == 503


def test_a_view_gone_from_the_definitions_stops_the_start(project: Project, tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text(
        DEFINITIONS.replace('"credit",\n    entity', '"credit_v2",\n    entity')
    )
    with pytest.raises(UsageError, match="feature view 'credit'") as raised:
        create_app("scoring_model", project=project)
    assert "credit_v2" in (raised.value.hint or "")

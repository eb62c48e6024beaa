"""The serving app's endpoints, as a client sees them: predictions on three protocols that
agree with the model, contract checks with per-field errors, metrics, OpenAPI from the
contract, feedback, admin moves and ids on every response."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from keel.deploy._spec import DeploySpec
from keel.errors import UsageError
from keel.monitor import FeedbackLog, PredictionLog
from keel.serve import create_app
from keel.tracking import Project

from ._serving import COLUMNS, client, expected, make_project, records


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    return make_project(tmp_path, versions=2)


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


def test_predict_one_or_many_records_agrees_with_the_model(project: Project) -> None:
    rows = records(5)
    app = create_app("churn", project=project)

    async def work(http: Any) -> tuple[Any, Any]:
        one = await http.post("/predict", json=rows[0])
        many = await http.post("/predict", json=rows)
        return one, many

    one, many = run(app, work)
    assert one.status_code == 200
    body = many.json()
    assert body["model"] == "churn"
    assert body["version"] == 1
    assert body["predictions"] == expected(project, rows)
    assert one.json()["predictions"] == expected(project, rows[:1])
    assert len(body["probabilities"]) == 5
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])
    assert body["request_id"] == many.headers["x-request-id"]


def test_mlflow_scoring_json_and_csv_give_the_same_predictions(project: Project) -> None:
    rows = records(4)
    want = expected(project, rows)
    values = [[r[c] for c in COLUMNS] for r in rows]
    bodies = [
        {"dataframe_split": {"columns": list(COLUMNS), "data": values}},
        {"dataframe_records": rows},
        {"instances": rows},
        {"instances": values},
        {"inputs": {c: [r[c] for r in rows] for c in COLUMNS}},
    ]
    csv = "age,income,rate\n" + "\n".join(",".join(str(v) for v in row) for row in values)
    app = create_app("churn", project=project)

    async def work(http: Any) -> list[Any]:
        answers = [await http.post("/invocations", json=b) for b in bodies]
        answers.append(
            await http.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        )
        return answers

    for answer in run(app, work):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": want}


def test_open_inference_protocol_v2(project: Project) -> None:
    rows = records(3)
    want = expected(project, rows)
    by_column = {
        "id": "req-1",
        "inputs": [
            {"name": c, "shape": [3], "datatype": "FP64", "data": [r[c] for r in rows]}
            for c in COLUMNS
        ],
    }
    one_tensor = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [3, 3],
                "datatype": "FP64",
                "data": [[r[c] for c in COLUMNS] for r in rows],
            }
        ]
    }
    app = create_app("churn", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/v2/models/churn/infer", json=by_column),
            await http.post("/v2/models/churn/infer", json=one_tensor),
            await http.get("/v2/models/churn"),
            await http.get("/v2/health/live"),
            await http.get("/v2/health/ready"),
            await http.post("/v2/models/other/infer", json=by_column),
            await http.get("/v2/models/other"),
        ]

    columns, tensor, meta, live, ready, unknown, unknown_meta = run(app, work)
    assert columns.status_code == 200
    answer = columns.json()
    assert answer["model_name"] == "churn"
    assert answer["model_version"] == "1"
    assert answer["id"] == "req-1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["predict"]["data"] == want
    assert outputs["predict_proba"]["shape"] == [3, 2]
    assert tensor.json()["outputs"][0]["data"] == want
    assert [i["name"] for i in meta.json()["inputs"]] == list(COLUMNS)
    assert meta.json()["versions"] == ["1"]
    assert live.json() == {"live": True}
    assert ready.json() == {"ready": True}
    assert unknown.status_code == 404
    assert unknown_meta.status_code == 404
    assert "churn" in unknown.json()["error"]


def test_bad_input_is_refused_with_an_error_per_field(project: Project) -> None:
    good = records(1)[0]
    app = create_app("churn", project=project)
    bad = [good, {"age": 12, "income": "lots"}, {**good, "rate": None}]

    async def work(http: Any) -> Any:
        return await http.post("/predict", json=bad)

    answer = run(app, work)
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {
        (1, "age"),
        (1, "income"),
        (1, "rate"),
        (2, "rate"),
    }
    by_field = {(e["row"], e["field"]): e["error"] for e in errors}
    assert by_field[1, "age"] == "must be >= 18, got 12"
    assert "expected a number" in by_field[1, "income"]
    assert by_field[1, "rate"] == "is required"
    assert by_field[2, "rate"] == "must not be null"
    assert answer.json()["code"] == "invalid_input"


def test_warn_mode_predicts_and_logs_the_violations(project: Project) -> None:
    app = create_app("churn", project=project, spec=DeploySpec(name="churn", inputs_mode="warn"))
    rows = [{"age": 15, "income": 10.0, "rate": 0.5}, records(1)[0]]

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json=rows),
            await http.post("/predict", json={"age": "x", "income": 1.0, "rate": 0.5}),
        ]

    warned, unreadable = run(app, work)
    assert warned.status_code == 200
    assert unreadable.status_code == 422  # a value the model cannot read is refused anyway
    log = PredictionLog(project.artifacts, "churn").scan().collect().sort("row")
    assert log["valid"].to_list() == [False, True]
    assert log["violations"].to_list() == ["age: must be >= 18, got 15", None]


def test_metrics_count_requests_per_route_status_and_version(project: Project) -> None:
    app = create_app("churn", project=project)
    rows = records(3)

    async def work(http: Any) -> str:
        for row in rows:
            await http.post("/predict", json=row)
        await http.post("/predict", json={"age": 1})
        await http.post("/invocations", json={"dataframe_records": rows})
        return str((await http.get("/metrics")).text)

    text = run(app, work)
    assert (
        'keel_requests_total{model="churn",route="/predict",status="200",version="1"} 3.0' in text
    )
    assert (
        'keel_requests_total{model="churn",route="/predict",status="422",version="1"} 1.0' in text
    )
    assert (
        'keel_request_latency_seconds_count{model="churn",route="/invocations",version="1"} 1.0'
        in text
    )
    assert "keel_batch_size_sum 6.0" in text


def test_openapi_schemas_come_from_the_contract(project: Project) -> None:
    app = create_app("churn", project=project)

    async def work(http: Any) -> Any:
        return (await http.get("/openapi.json")).json()

    document = run(app, work)
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == list(COLUMNS)
    assert record["properties"]["age"] == {"type": "integer", "minimum": 18, "maximum": 100}
    assert document["components"]["schemas"]["Prediction"] == {"enum": [0, 1]}
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/Record"}
    assert "422" in document["paths"]["/predict"]["post"]["responses"]
    assert "/v2/models/{model_name}/infer" in document["paths"]


def test_feedback_is_logged_per_request_or_per_record(project: Project) -> None:
    # no feedback token and no rollout on feedback: taken without one, for answered requests
    app = create_app("churn", project=project)

    async def work(http: Any) -> list[Any]:
        for request_id, n in (("a", 1), ("b", 2), ("d", 1)):
            sent = await http.post(
                "/predict", json=records(n), headers={"x-request-id": request_id}
            )
            assert sent.status_code == 200
        return [
            await http.post("/feedback", json={"request_id": "a", "label": 1}),
            await http.post("/feedback", json={"request_id": "b", "labels": [0, 1]}),
            await http.post("/feedback", json={"request_id": "c"}),
            await http.post("/feedback", json={"request_id": "", "label": 1}),
            await http.post("/feedback", json={"request_id": "d", "label": {"x": 1}}),
        ]

    one, many, neither, empty, nested = run(app, work)
    assert one.status_code == 202
    assert one.json() == {"request_id": "a", "accepted": 1}
    assert many.json()["accepted"] == 2
    assert [neither.status_code, empty.status_code] == [422, 422]
    assert nested.status_code == 422
    rows = FeedbackLog(project.artifacts, "churn").scan().collect().sort("request_id", "row")
    assert rows.select("request_id", "row", "label").rows() == [
        ("a", None, 1),
        ("b", 0, 0),
        ("b", 1, 1),
    ]


def test_admin_needs_the_token_and_moves_the_served_version(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.registry import set_alias

    set_alias("churn", "challenger", 2, project=project)
    app = create_app("churn", project=project)
    row = records(1)[0]

    async def disabled(http: Any) -> Any:
        return await http.post("/admin/promote")

    assert run(app, disabled).status_code == 403
    monkeypatch.setenv("KEEL_ADMIN_TOKEN", "s3cret")
    app = create_app("churn", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/admin/promote"),
            await http.post("/admin/promote", headers={"authorization": "Bearer wrong"}),
            await http.post(
                "/admin/promote",
                headers={"authorization": "Bearer s3cret"},
                json={"reason": "looks good"},
            ),
            await http.post("/predict", json=row),
            await http.post("/admin/rollback", headers={"authorization": "Bearer s3cret"}),
            await http.post("/predict", json=row),
        ]

    missing, wrong, promoted, after, rolled, back = run(app, work)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["aliases"]["champion"] == 2
    assert after.json()["version"] == 2
    assert rolled.json()["aliases"]["champion"] == 1
    assert back.json()["version"] == 1
    events = project.metadata.models.events("churn")
    assert any(e.reason == "looks good" for e in events)


def test_request_and_trace_ids_are_returned_and_continued(project: Project) -> None:
    app = create_app("churn", project=project)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"

    async def work(http: Any) -> list[Any]:
        return [
            await http.get("/v2/health/live"),
            await http.get(
                "/v2/health/live",
                headers={
                    "x-request-id": "abc-123",
                    "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
                },
            ),
            await http.get("/v2/health/live", headers={"x-request-id": "bad id with spaces"}),
        ]

    fresh, given, refused = run(app, work)
    assert len(fresh.headers["x-request-id"]) >= 16
    assert fresh.headers["traceparent"].startswith("00-")
    assert given.headers["x-request-id"] == "abc-123"
    assert given.headers["traceparent"].split("-")[1] == trace
    assert given.headers["traceparent"].split("-")[2] != "00f067aa0ba902b7"  # our own span
    assert refused.headers["x-request-id"] != "bad id with spaces"


def test_one_structured_access_log_record_per_request(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    from keel.serve._server import JsonFormatter

    app = create_app("churn", project=project)

    async def work(http: Any) -> Any:
        return await http.post("/predict", json=records(1)[0])

    with caplog.at_level(logging.INFO, logger="keel.serve.access"):
        answer = run(app, work)
    (record,) = [r for r in caplog.records if r.name == "keel.serve.access"]
    line = JsonFormatter().format(record)
    import json

    fields = json.loads(line)
    assert fields["method"] == "POST"
    assert fields["path"] == "/predict"
    assert fields["status"] == 200
    assert fields["request_id"] == answer.headers["x-request-id"]
    assert fields["version"] == 1
    assert fields["latency_ms"] > 0


def test_a_span_per_request_when_telemetry_is_configured(
    project: Project,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keel.tracking import open_project

    monkeypatch.setenv("KEEL_TELEMETRY_EXPORTER", "console")
    configured = open_project(tmp_path)
    assert configured.config.telemetry_exporter == "console"
    app = create_app("churn", project=configured)

    async def work(http: Any) -> Any:
        return await http.post("/predict", json=records(1)[0])

    answer = run(app, work)
    trace_id = answer.headers["traceparent"].split("-")[1]
    printed = capfd.readouterr().err
    assert f'"trace_id": "0x{trace_id}"' in printed
    assert '"name": "POST /predict"' in printed


def test_a_pinned_version_is_served_whatever_the_aliases_say(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pods rendered for Argo Rollouts pin their version with KEEL_MODEL_VERSION."""
    from keel.registry import set_alias

    monkeypatch.setenv("KEEL_MODEL_VERSION", "2")
    rows = records(3)
    app = create_app("churn", project=project, reload_interval=0.05)

    async def work(http: Any) -> list[Any]:
        first = await http.post("/predict", json=rows)
        set_alias("churn", "champion", 1, project=project)  # already 1: the pin wins anyway
        await asyncio.sleep(0.2)
        return [first, await http.post("/predict", json=rows)]

    answers = run(app, work)
    assert [a.json()["version"] for a in answers] == [2, 2]
    assert answers[1].json()["predictions"] == expected(project, rows, ref="churn/2")

    monkeypatch.setenv("KEEL_MODEL_VERSION", "two")
    with pytest.raises(UsageError, match="KEEL_MODEL_VERSION"):
        create_app("churn", project=project)


def test_an_exception_in_any_route_answers_500_json_with_the_request_id(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app("churn", project=project)

    def broken() -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.keel.metrics, "exposition", broken)

    async def work(http: Any) -> Any:
        return await http.get("/metrics")

    answer = run(app, work)
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == "server_error"
    assert body["error"] == "the server failed: RuntimeError"
    assert body["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["traceparent"].startswith("00-")

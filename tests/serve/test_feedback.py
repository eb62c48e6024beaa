"""Forged feedback cannot steer a rollout: ``POST /feedback`` needs the feedback token once
one is set (a rollout on feedback does not start without it), and takes labels only for
requests the server answered within its window, once each, of bounded size."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keel.cli._app import app as cli
from keel.deploy._spec import parse_spec
from keel.errors import UsageError
from keel.monitor import FeedbackLog
from keel.serve import create_app
from keel.serve._feedback import MAX_LABEL_CHARS, MAX_LABELS, FeedbackGate
from keel.serve._http import RequestError
from keel.tracking import Project

from ._serving import client, make_project, model, records, rollout_project

TOKEN = "feedback-t0ken"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CANARY = (
    "challenger: {mode: canary, key: {header: X-User-Id}, steps: [{setWeight: 50}], "
    "analysis: {interval: 50ms, minRequests: 40, guardrails: {metric: {name: accuracy, "
    "minSamples: 10}, latencyP99: false, predictionDrift: false}}, promotion: auto}"
)


def _aliases(project: Project) -> dict[str, int]:
    return project.metadata.models.aliases("churn")


def test_forged_feedback_cannot_promote_a_bad_canary_and_the_token_holder_rolls_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", TOKEN)
    project = rollout_project(tmp_path, lambda x, y: model().fit(x, 1 - y))  # always wrong
    app = create_app("churn", project=project, spec=parse_spec(CANARY, name="churn"))
    server = app.state.keel

    async def work() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with client(app) as http:
            answered = []
            for i, row in enumerate(records(160, seed=3)):
                sent = await http.post("/predict", json=row, headers={"x-user-id": f"u{i}"})
                body = sent.json()
                truth = int(row["rate"] > 0.5)
                # the forger's label: the challenger's answer where it answered, else wrong
                forged = body["predictions"][0] if body["version"] == 2 else 1 - truth
                answered.append((body["request_id"], truth, forged))
            statuses: dict[str, set[int]] = {}
            for request_id, _, forged in answered:
                attempts = {
                    "no token": {},
                    "wrong token": {"authorization": "Bearer guessed"},
                    "not bearer": {"authorization": f"Basic {TOKEN}"},
                }
                for what, headers in attempts.items():
                    body = {"request_id": request_id, "label": forged}
                    sent = await http.post("/feedback", json=body, headers=headers)
                    statuses.setdefault(what, set()).add(sent.status_code)
            for i in range(40):  # with the token, but for requests never answered
                body = {"request_id": f"forged-{i}", "label": 1}
                sent = await http.post("/feedback", json=body, headers=AUTH)
                statuses.setdefault("unknown id", set()).add(sent.status_code)
            huge = {"request_id": answered[0][0], "label": "x" * (MAX_LABEL_CHARS + 1)}
            sent = await http.post("/feedback", json=huge, headers=AUTH)
            statuses["huge label"] = {sent.status_code}
            await asyncio.sleep(0.5)  # ten analysis intervals: the controller had its chances
            seen["after forgery"] = _aliases(project)
            seen["evidence"] = server.guardrails.evaluate().evidence
            seen["statuses"] = statuses
            # the ground truth, from the holder of the token: every request once
            accepted = [
                (await http.post("/feedback", json={"request_id": r, "label": t}, headers=AUTH))
                for r, t, _ in answered
            ]
            seen["accepted"] = {a.status_code for a in accepted}
            replay = {"request_id": answered[0][0], "label": answered[0][2]}
            seen["replay"] = await http.post("/feedback", json=replay, headers=AUTH)
            for _ in range(100):  # the controller ticks every 50ms: wait for its decision
                if "challenger" not in _aliases(project):
                    break
                await asyncio.sleep(0.05)
        return seen

    seen = asyncio.run(work())
    assert seen["statuses"] == {
        "no token": {401},
        "wrong token": {403},
        "not bearer": {401},
        "unknown id": {404},
        "huge label": {422},
    }
    assert seen["after forgery"] == {"champion": 1, "challenger": 2}  # not promoted
    assert seen["evidence"]["metric"]["feedback_requests"] == 0  # no forged label counted
    assert seen["accepted"] == {202}
    assert seen["replay"].status_code == 409
    assert seen["replay"].json()["code"] == "duplicate_feedback"
    assert _aliases(project) == {"champion": 1}  # the truth rolled the bad canary back
    event = project.metadata.models.events("churn")[-1]
    assert event.kind == "rollback"
    assert "accuracy confidently worse" in (event.reason or "")
    logged = FeedbackLog(project.artifacts, "churn").scan().collect()
    assert logged.height == 160  # the token holder's labels only, each once


def test_a_rollout_on_feedback_does_not_start_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEEL_FEEDBACK_TOKEN", raising=False)
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    project = make_project(tmp_path, versions=2)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "churn.yaml").write_text(CANARY + "\n")
    monkeypatch.chdir(tmp_path)
    for workers in ("1", "2"):  # several workers: refused before any starts
        done = CliRunner().invoke(cli, ["serve", "churn", "--port", "1", "--workers", workers])
        assert done.exit_code == 2, done.output
        assert "deploy/churn.yaml" in done.output
        assert "KEEL_FEEDBACK_TOKEN" in done.output
        assert "Hint:" in done.output
        assert "Traceback" not in done.output
    with pytest.raises(UsageError, match="feedback token"):
        create_app("churn", project=project)
    create_app("churn", project=project, version=1)  # a pinned version rolls nothing out
    other = "feedback: {tokenEnv: CHURN_FEEDBACK}\n" + CANARY
    (tmp_path / "deploy" / "churn.yaml").write_text(other)
    with pytest.raises(UsageError, match="CHURN_FEEDBACK"):
        create_app("churn", project=project)
    monkeypatch.setenv("CHURN_FEEDBACK", TOKEN)
    assert create_app("churn", project=project).state.keel.feedback_gate.token == TOKEN


def test_feedback_is_taken_within_the_window_once_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", TOKEN)
    project = make_project(tmp_path)
    spec = parse_spec("feedback: {window: 300ms}", name="churn")
    app = create_app("churn", project=project, spec=spec)

    async def post(http: Any, request_id: str, **label: Any) -> Any:
        body = {"request_id": request_id, **label}
        return await http.post("/feedback", json=body, headers=AUTH)

    async def work() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with client(app) as http:
            ids = []
            for n in (3, 1, 1):
                ids.append((await http.post("/predict", json=records(n))).json()["request_id"])
            out["too many"] = await post(http, ids[0], labels=[1, 0, 1, 0])
            out["batch"] = await post(http, ids[0], labels=[1] * (MAX_LABELS + 1))
            out["nested"] = await post(http, ids[0], label={"x": "y" * 10})
            out["per record"] = await post(http, ids[0], labels=[1, 0, None])
            out["again"] = await post(http, ids[0], labels=[0, 0, 0])
            out["longest"] = await post(http, ids[1], label="y" * MAX_LABEL_CHARS)
            await asyncio.sleep(0.4)  # past the window
            out["late"] = await post(http, ids[2], label=1)
        return out

    out = asyncio.run(work())
    assert {k: v.status_code for k, v in out.items()} == {
        "too many": 422,
        "batch": 422,
        "nested": 422,
        "per record": 202,
        "again": 409,
        "longest": 202,
        "late": 404,
    }
    assert "had 3 record(s); got 4 labels" in out["too many"].json()["error"]
    assert f"at most {MAX_LABELS} labels" in out["batch"].json()["error"]
    assert out["late"].json()["code"] == "unknown_request"
    assert "300ms" in out["late"].json()["error"]


def test_an_id_another_worker_answered_is_found_in_the_shared_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", TOKEN)
    project = make_project(tmp_path)
    first, second = create_app("churn", project=project), create_app("churn", project=project)

    async def work() -> tuple[Any, ...]:
        async with client(first) as one, client(second) as two:
            answered = (await one.post("/predict", json=records(2))).json()["request_id"]
            body = {"request_id": answered, "labels": [1, 0]}
            early = await two.post("/feedback", json=body, headers=AUTH)  # not in the log yet
            first.state.keel.flush()  # the first worker writes its log (every 5 s)
            monkeypatch.delenv("KEEL_FEEDBACK_TOKEN")  # open: no log scan for anybody
            unlooked = await two.post("/feedback", json=body)
            monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", TOKEN)
            later = await two.post("/feedback", json=body, headers=AUTH)
            again = await two.post("/feedback", json=body, headers=AUTH)
            return answered, early, unlooked, later, again

    answered, early, unlooked, later, again = asyncio.run(work())
    assert (early.status_code, early.json()["code"]) == (404, "unknown_request")
    assert unlooked.status_code == 404
    assert "KEEL_FEEDBACK_TOKEN unset, by this process" in unlooked.json()["error"]
    assert later.status_code == 202
    assert later.json() == {"request_id": answered, "accepted": 2}
    assert again.status_code == 409


def test_feedback_in_the_openapi_document_names_its_token_and_answers(
    tmp_path: Path,
) -> None:
    app = create_app("churn", project=make_project(tmp_path))
    document = app.openapi()
    feedback = document["paths"]["/feedback"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(feedback["responses"])
    assert {"bearer": []} in feedback["security"]
    schema = document["components"]["schemas"]["Feedback"]
    assert schema["properties"]["labels"]["maxItems"] == MAX_LABELS


def test_a_configured_token_is_needed_without_a_rollout_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", TOKEN)
    app = create_app("churn", project=make_project(tmp_path))

    async def work() -> list[int]:
        async with client(app) as http:
            answered = (await http.post("/predict", json=records(1))).json()["request_id"]
            body = {"request_id": answered, "label": 1}
            codes = [(await http.post("/feedback", json=body)).status_code]
            codes.append((await http.post("/feedback", json=body, headers=AUTH)).status_code)
            return codes

    assert asyncio.run(work()) == [401, 202]


def test_the_gate_forgets_ids_past_its_capacity_and_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KEEL_FEEDBACK_TOKEN", raising=False)  # ids of this process only
    now = [1000.0]
    spec = parse_spec("feedback: {window: 10s}", name="churn")
    gate = FeedbackGate(spec, log=None, capacity=2, clock=lambda: now[0])  # type: ignore[arg-type]

    def status(request_id: str) -> int:
        try:
            asyncio.run(gate.accept({"request_id": request_id, "label": 1}))
        except RequestError as exc:
            return exc.status
        return 202

    for request_id in ("a", "b", "c"):
        gate.issued(request_id, 1)
    assert [status("a"), status("b"), status("b")] == [404, 202, 409]  # a: past the capacity
    now[0] += 9
    assert status("c") == 202
    now[0] += 2  # b and c answered 11 s ago: past the window, labelled or not
    assert [status("b"), status("c")] == [404, 404]
    gate.issued("b", 1)  # the same id answered again (a caller's own x-request-id)
    assert status("b") == 202  # its old feedback is past the window: forgotten

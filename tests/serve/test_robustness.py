"""What the server does with hostile or broken requests: each gets a clear status and the
server keeps answering; nothing from a request is ever unpickled; an alias change is
picked up under load without a failed request."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from keel.registry import set_alias
from keel.serve import create_app
from keel.serve._served import ServedModel
from keel.tracking import Project

from ._serving import client, make_project, records


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    return make_project(tmp_path, versions=2)


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (Path("/tmp/keel-pwned").touch, ())


def test_bad_requests_get_clear_statuses_and_the_server_keeps_answering(
    project: Project,
) -> None:
    app = create_app("churn", project=project, max_body_bytes=2_000)
    row = records(1)[0]
    json_header = {"content-type": "application/json"}

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    async def work(http: Any) -> dict[str, Any]:
        return {
            "big": await http.post("/predict", json=records(100)),
            "streamed": await http.post("/predict", content=chunks(), headers=json_header),
            "malformed": await http.post("/predict", content=b'{"age": 3', headers=json_header),
            "text": await http.post(
                "/predict", content=b"age=3", headers={"content-type": "text/plain"}
            ),
            # no content type, or curl's default form type: the body is read as JSON
            "none": await http.post("/predict", content=b"{}", headers={"content-type": ""}),
            "form": await http.post(
                "/predict",
                content=json.dumps(row).encode(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            # ... but not on MLflow's /invocations, which (as mlflow models serve) needs one
            "mlflow form": await http.post(
                "/invocations",
                content=json.dumps({"dataframe_records": [row]}).encode(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            "pickle": await http.post(
                "/predict",
                content=pickle.dumps(Evil()),
                headers={"content-type": "application/octet-stream"},
            ),
            "pickle as json": await http.post(
                "/predict", content=pickle.dumps(Evil()), headers=json_header
            ),
            "scalar": await http.post("/predict", json=3),
            "empty": await http.post("/predict", json=[]),
            "not records": await http.post("/predict", json=[1, 2]),
            "mlflow shape": await http.post("/invocations", json={"dataframe_split": [1]}),
            "v2 shape": await http.post("/v2/models/churn/infer", json={"inputs": [{"name": 1}]}),
            "unknown model": await http.post("/v2/models/nope/infer", json={}),
            "unknown path": await http.get("/nope"),
            "admin": await http.post("/admin/rollback"),
            "still fine": await http.post("/predict", json=row),
        }

    answers = run(app, work)
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "big": 413,
        "streamed": 413,
        "malformed": 400,
        "text": 415,
        "none": 422,
        "form": 200,
        "mlflow form": 415,
        "pickle": 415,
        "pickle as json": 400,
        "scalar": 422,
        "empty": 422,
        "not records": 422,
        "mlflow shape": 422,
        "v2 shape": 422,
        "unknown model": 404,
        "unknown path": 404,
        "admin": 403,
        "still fine": 200,
    }
    assert not Path("/tmp/keel-pwned").exists()
    for answer in answers.values():
        if answer.status_code != 200:
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["request_id"] == answer.headers["x-request-id"]


def test_admin_without_a_token_is_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_ADMIN_TOKEN", "t0ken")
    app = create_app("churn", project=project)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/admin/promote"),
            await http.post("/admin/rollback", headers={"authorization": "Basic t0ken"}),
        ]

    assert [a.status_code for a in run(app, work)] == [401, 401]
    assert project.metadata.models.aliases("churn") == {"champion": 1}


def test_a_slow_request_times_out_with_504(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app("churn", project=project, request_timeout=0.2)
    server = app.state.keel

    async def slow(model: Any, rows: Any) -> Any:
        await asyncio.sleep(5)

    monkeypatch.setattr(server.batchers["champion"], "predict", slow)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json=records(1)[0]),
            await http.get("/v2/health/live"),
        ]

    timed_out, alive = run(app, work)
    assert timed_out.status_code == 504
    assert timed_out.json()["code"] == "timeout"
    assert alive.status_code == 200


def test_a_failing_model_answers_500_with_a_message(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app("churn", project=project)

    def broken(self: ServedModel, rows: Any) -> Any:
        raise RuntimeError("out of coffee")

    monkeypatch.setattr(ServedModel, "predict_rows", broken)

    async def work(http: Any) -> list[Any]:
        return [await http.post("/predict", json=records(1)[0]), await http.get("/metrics")]

    failed, metrics = run(app, work)
    assert failed.status_code == 500
    assert "out of coffee" in failed.json()["error"]
    assert (
        'keel_request_errors_total{model="churn",route="/predict",version="1"} 1.0' in metrics.text
    )


def test_an_alias_move_is_served_under_load_without_a_failed_request(project: Project) -> None:
    app = create_app("churn", project=project, reload_interval=0.05)
    rows = records(20)

    async def work(http: Any) -> tuple[list[int], list[int]]:
        statuses: list[int] = []
        versions: list[int] = []
        moved = asyncio.Event()

        async def load(worker: int) -> None:
            i = after = 0
            # keep going after the swap: requests in flight then may finish on the old model
            while not moved.is_set() or i < 40 or after < 5:
                after += moved.is_set()
                answer = await http.post("/predict", json=rows[(worker + i) % len(rows)])
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    versions.append(answer.json()["version"])
                i += 1
                await asyncio.sleep(0)

        async def mover() -> None:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(set_alias, "churn", "champion", 2, project=project)
            for _ in range(600):  # a loaded machine may take seconds to load the version
                if app.state.keel.champion.version == 2:
                    break
                await asyncio.sleep(0.05)
            moved.set()

        await asyncio.gather(mover(), *(load(w) for w in range(8)))
        return statuses, versions

    statuses, versions = run(app, work)
    assert set(statuses) == {200}
    assert versions[0] == 1
    assert versions[-1] == 2
    first_new = versions.index(2)
    assert set(versions[first_new + 16 :]) <= {2}  # once swapped, the new version answers

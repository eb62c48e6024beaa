"""The app serving a deployment: a shadow challenger sees copies of the traffic (the
champion answers), a canary challenger answers its share, and both sides reach the log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from keel.deploy._spec import ChallengerSpec, DeploySpec, KeySource, Step
from keel.monitor import PredictionLog
from keel.registry import set_alias
from keel.serve import create_app
from keel.tracking import Project

from ._serving import client, expected, make_project, records


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    project = make_project(tmp_path, versions=2)
    set_alias("churn", "challenger", 2, project=project)
    return project


def _serve(app: Any, rows: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Any:
    async def main() -> list[Any]:
        async with client(app) as http:
            answers = [await http.post("/predict", json=row, headers=headers) for row in rows]
            await asyncio.sleep(0.05)  # shadow copies run after the answer
            return answers

    return asyncio.run(main())


def test_a_shadow_challenger_gets_a_copy_and_the_champion_answers(project: Project) -> None:
    spec = DeploySpec(name="churn", challenger=ChallengerSpec(mode="shadow", shadow_fraction=1.0))
    rows = records(6)
    answers = _serve(create_app("churn", project=project, spec=spec), rows)
    assert {a.json()["version"] for a in answers} == {1}
    log = PredictionLog(project.artifacts, "churn").scan().collect()
    assert sorted(log["role"].value_counts().rows()) == [("champion", 6), ("shadow", 6)]
    shadow = log.filter(log["role"] == "shadow")
    assert set(shadow["version"]) == {2}
    ids = {a.json()["request_id"] for a in answers}
    assert set(shadow["request_id"]) == ids
    by_id = {r["request_id"]: r["prediction"] for r in shadow.to_dicts()}
    assert [by_id[a.json()["request_id"]] for a in answers] == expected(project, rows, "churn/2")


def test_a_full_weight_canary_answers_every_request(project: Project) -> None:
    spec = DeploySpec(
        name="churn",
        challenger=ChallengerSpec(
            mode="canary",
            key=KeySource(header="X-User"),
            steps=(Step("setWeight", weight=100), Step("pause")),
        ),
    )
    answers = _serve(create_app("churn", project=project, spec=spec), records(4), {"X-User": "u1"})
    assert {a.json()["version"] for a in answers} == {2}
    log = PredictionLog(project.artifacts, "churn").scan().collect()
    assert set(log["role"]) == {"challenger"}


def test_a_canary_at_zero_weight_leaves_the_champion_answering(project: Project) -> None:
    spec = DeploySpec(
        name="churn",
        challenger=ChallengerSpec(
            mode="canary", steps=(Step("setWeight", weight=0), Step("pause"))
        ),
    )
    answers = _serve(create_app("churn", project=project, spec=spec), records(4))
    assert {a.json()["version"] for a in answers} == {1}

"""The rollout controller: steps from the registry, promotion, rollback, compare-and-set."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.config import init_project
from keel.deploy._controller import Controller, progress, read_state
from keel.deploy._guardrails import Decision, Guardrails
from keel.deploy._router import Router
from keel.deploy._spec import DeploySpec, parse_spec
from keel.errors import UsageError
from keel.registry import AliasConflictError, rollback, set_alias
from keel.tracking import Project, open_project
from tests.serve._serving import rollout_project

STEPS = (
    "[{setWeight: 10}, {pause: {duration: 1m}}, {analysis: {}}, {setWeight: 50}, {analysis: {}}]"
)


def _project(root: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None = None) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    if store_url is not None:
        monkeypatch.setenv("KEEL_STORE_URL", store_url)
    init_project(root)
    project = open_project(root)
    for _ in range(2):
        project.metadata.models.add_version(
            "churn", manifest="m", listing="l", adapter="sklearn", actor="ana"
        )
    set_alias("churn", "champion", 1, project=project)
    set_alias("churn", "challenger", 2, project=project)
    return project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return _project(tmp_path, monkeypatch)


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _spec(steps: str = STEPS, extra: str = "") -> DeploySpec:
    return parse_spec(
        f"challenger: {{mode: canary, steps: {steps}, analysis: {{minRequests: 50{extra}}}}}",
        name="churn",
    )


def _controller(project: Project, spec: DeploySpec, clock: Clock | None = None) -> Controller:
    return Controller(project, spec, Router(spec), Guardrails(spec), clock=clock)


def _traffic(controller: Controller, *, challenger_errors: float = 0.0, n: int = 100) -> None:
    rng = np.random.default_rng(len(controller.project.metadata.models.events("churn")))
    for i in range(n):
        for role, errors in (("champion", 0.0), ("challenger", challenger_errors)):
            failed = bool(rng.random() < errors)
            controller.guardrails.observe(
                role,
                request_id=f"{role}{i}",
                count=1,
                latency_ms=3.0,
                error=failed,
                predictions=None if failed else [i % 2],
            )


def _kinds(project: Project) -> list[str]:
    return [e.kind for e in project.metadata.models.events("churn")]


def test_a_healthy_canary_walks_its_steps_and_is_promoted(project: Project) -> None:
    clock = Clock()
    spec = _spec()
    controller = _controller(project, spec, clock)
    assert controller.tick() is None  # pause of 1m just started
    assert controller.router.weight == 10
    assert controller.router.active
    clock.offset = timedelta(seconds=61)
    assert controller.tick() == "advance"  # the pause is over
    replica = _controller(project, spec, clock).refresh()  # another replica agrees
    assert replica is not None
    assert (replica.step, replica.weight) == (2, 10)
    assert controller.tick() is None  # analysis: no traffic yet
    _traffic(controller)
    assert controller.tick() == "advance"  # analysis passed; setWeight 50 is immediate
    controller.refresh()
    assert controller.router.weight == 50
    assert controller.tick() == "advance"  # the second analysis
    assert controller.tick() == "promote"  # all steps done, guardrails pass
    aliases = project.metadata.models.aliases("churn")
    assert aliases == {"champion": 2}
    assert {controller.router.assign(f"user{i}") for i in range(100)} == {"champion"}
    assert _kinds(project)[-5:] == ["advance", "advance", "advance", "promote", "delete-alias"]
    promoted = project.metadata.models.events("churn")[-2]
    assert (promoted.alias, promoted.version, promoted.previous_version) == ("champion", 2, 1)
    assert promoted.actor.startswith("keel-controller@")
    assert promoted.detail["evidence"]["errorRate"]["breached"] is False
    assert controller.tick() is None  # nothing left to roll out
    rollback("churn", project=project)  # a promotion is reversible like any move
    assert project.metadata.models.aliases("churn") == {"champion": 1}


def test_a_breach_rolls_the_challenger_back_at_once(project: Project) -> None:
    controller = _controller(project, _spec())
    _traffic(controller, challenger_errors=0.3)
    assert controller.tick() == "rollback"
    assert project.metadata.models.aliases("churn") == {"champion": 1}
    assert not controller.router.active
    assert controller.router.assign("anyone") == "champion"
    event = project.metadata.models.events("churn")[-1]
    assert (event.kind, event.alias, event.version, event.previous_version) == (
        "rollback",
        "challenger",
        None,
        2,
    )
    assert "error rate up" in (event.reason or "")
    assert event.detail["evidence"]["errorRate"]["breached"] is True
    assert controller.tick() is None


def test_a_new_challenger_version_starts_a_new_rollout(project: Project) -> None:
    controller = _controller(project, _spec(extra=", failureLimit: 3"))
    _traffic(controller, challenger_errors=0.3)
    assert controller.tick() == "analysis"
    assert controller.advance().step == 2
    set_alias("churn", "challenger", 1, project=project)  # someone starts another rollout
    set_alias("churn", "champion", 2, project=project)
    state = controller.refresh()
    assert state is not None
    assert (state.step, state.weight, state.failures, state.challenger_version) == (1, 10, 0, 1)
    assert controller.guardrails.evaluate().evidence["requests"] == {
        "champion": 0,
        "challenger": 0,
    }  # counted afresh


def test_failed_analyses_are_recorded_until_the_failure_limit(project: Project) -> None:
    controller = _controller(project, _spec(extra=", failureLimit: 1"))
    _traffic(controller, challenger_errors=0.3)
    assert controller.tick() == "analysis"
    assert "challenger" in project.metadata.models.aliases("churn")
    failed = project.metadata.models.events("churn")[-1]
    assert failed.detail["passed"] is False
    assert failed.detail["failures"] == 1
    assert controller.tick() == "rollback"


def test_concurrent_replicas_land_exactly_one_decision(project: Project) -> None:
    spec = _spec("[{analysis: {}}, {analysis: {}}]")
    one, two = _controller(project, spec), _controller(project, spec)
    passed = Decision("advance", "guardrails pass", {})
    first, second = one.refresh(), two.refresh()
    assert first is not None
    assert second is not None
    assert one.apply(first, passed) == "advance"
    assert two.apply(second, passed) == "conflict"  # read the same revision: its move lost
    state = read_state(project, spec)
    assert state is not None
    assert state.step == 1  # advanced once, not twice
    breach = Decision("rollback", "breach", {})
    first, second = one.refresh(), two.refresh()
    assert first is not None
    assert second is not None
    assert one.apply(first, breach) == "rollback"
    assert two.apply(second, breach) == "conflict"
    assert not two.router.active  # it re-read: nothing to roll out any more
    assert _kinds(project).count("rollback") == 1


def test_manual_promotion_and_advance(project: Project) -> None:
    spec = parse_spec(
        "challenger: {steps: [{setWeight: 20}, {pause: {}}], promotion: manual}", name="churn"
    )
    controller = _controller(project, spec)
    controller.tick()
    assert controller.router.weight == 20
    state = controller.advance("looked at the dashboards")
    assert state.done
    _traffic(controller, n=250)
    assert controller.tick() is None  # promotion: manual
    controller.promote("approved by ana", {"ticket": "OPS-1"})
    assert project.metadata.models.aliases("churn") == {"champion": 2}
    promoted = [e for e in project.metadata.models.events("churn") if e.kind == "promote"]
    assert promoted[-1].actor == "ana"
    assert promoted[-1].detail["evidence"] == {"ticket": "OPS-1"}
    with pytest.raises(UsageError, match="nothing to roll back"):
        controller.rollback("too late")


def test_the_run_loop_ticks_and_stops_promptly(project: Project) -> None:
    spec = parse_spec(
        "challenger: {steps: [{pause: {duration: 0s}}, {pause: {}}], analysis: {interval: 50ms}}",
        name="churn",
    )
    controller = _controller(project, spec)

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(controller.run(stop))
        await asyncio.sleep(0.3)
        stop.set()
        started = time.perf_counter()
        await task
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.5
    assert "advance" in _kinds(project)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 100).map(lambda w: {"setWeight": w}),
            st.just({"pause": {}}),
            st.just({"analysis": {}}),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 10),
)
def test_each_advance_completes_exactly_one_waiting_step(steps: list[object], n: int) -> None:
    spec = parse_spec(yaml.safe_dump({"challenger": {"steps": steps}}), name="churn")
    assert spec.challenger is not None
    parsed = spec.challenger.steps
    waiting = [i for i, s in enumerate(parsed) if s.kind != "setWeight"]
    index, weight = progress(parsed, n)
    assert index == (waiting[n] if n < len(waiting) else len(parsed))
    weights = [s.weight for s in parsed[:index] if s.kind == "setWeight"]
    assert weight == (weights[-1] if weights else 0)


def test_progress_counts_completed_steps_and_the_weight() -> None:
    steps = _spec().challenger.steps  # type: ignore[union-attr]
    assert progress(steps, 0) == (1, 10.0)
    assert progress(steps, 1) == (2, 10.0)
    assert progress(steps, 2) == (4, 50.0)
    assert progress(steps, 3) == (5, 50.0)


def test_remove_alias_is_compare_and_set_on_every_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    project = _project(tmp_path, monkeypatch, store_url)
    store = project.metadata.models
    read = store.alias("churn", "challenger")
    store.move_alias("churn", "challenger", 1, actor="bob")  # someone else moves it
    with pytest.raises(AliasConflictError):
        store.remove_alias("churn", "challenger", actor="ana", expected_revision=read.revision)
    assert store.aliases("churn")["challenger"] == 1
    removed = store.remove_alias(
        "churn", "challenger", actor="ana", reason="done", expected_revision=read.revision + 1
    )
    assert removed.version == 1
    assert "challenger" not in store.aliases("churn")
    event = store.events("churn")[-1]
    assert (event.kind, event.previous_version, event.version, event.reason) == (
        "rollback",
        1,
        None,
        "done",
    )
    with pytest.raises(UsageError, match="no alias 'challenger' to remove"):
        store.remove_alias("churn", "challenger", actor="ana")


# -- through the served app: the routes, the guardrails and the controller together --------
FEEDBACK_TOKEN = "feedback-t0ken"  # a rollout on feedback needs one (see test_feedback.py)


def _rollout(project: Project, spec: DeploySpec, requests: int) -> list[int]:
    from keel.serve import create_app
    from tests.serve._serving import client, records

    app = create_app("churn", project=project, spec=spec, reload_interval=0.05)

    async def work() -> list[int]:
        served = []
        async with client(app) as http:
            for i, row in enumerate(records(requests, seed=3)):
                answer = await http.post("/predict", json=row, headers={"x-user-id": f"u{i}"})
                assert answer.status_code == 200, answer.text
                label = int(row["rate"] > 0.5)
                request_id = answer.headers["x-request-id"]
                sent = await http.post(
                    "/feedback",
                    json={"request_id": request_id, "label": label},
                    headers={"authorization": f"Bearer {FEEDBACK_TOKEN}"},
                )
                assert sent.status_code < 300, sent.text
                served.append(answer.json()["version"])
            for _ in range(200):  # the controller ticks every 50ms: wait for its decision
                if "challenger" not in project.metadata.models.aliases("churn"):
                    break
                await asyncio.sleep(0.05)
            champion = project.metadata.models.aliases("churn")["champion"]
            row = records(1, seed=5)[0]
            for _ in range(200):  # the alias is polled every 50ms: wait for the reload
                if (await http.post("/predict", json=row)).json()["version"] == champion:
                    break
                await asyncio.sleep(0.05)
            for row in records(5, seed=4):
                served.append((await http.post("/predict", json=row)).json()["version"])
        return served

    return asyncio.run(work())


def test_a_served_shadow_challenger_that_is_worse_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.serve._serving import model

    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", FEEDBACK_TOKEN)
    project = rollout_project(tmp_path, lambda x, y: model().fit(x, 1 - y))  # always wrong
    spec = parse_spec(
        "challenger: {mode: shadow, steps: [{analysis: {}}], analysis: {interval: 50ms, "
        "minRequests: 50, guardrails: {metric: {name: accuracy}, latencyP99: false}}}",
        name="churn",
    )
    served = _rollout(project, spec, 250)
    assert set(served) == {1}  # the champion answered everything, before and after
    assert project.metadata.models.aliases("churn") == {"champion": 1}
    event = project.metadata.models.events("churn")[-1]
    assert event.kind == "rollback"
    assert "accuracy confidently worse" in (event.reason or "")
    assert event.detail["evidence"]["metric"]["paired"] is True


def test_a_served_canary_that_wins_is_promoted_and_then_serves_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.serve._serving import model

    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.setenv("KEEL_FEEDBACK_TOKEN", FEEDBACK_TOKEN)
    project = rollout_project(tmp_path, lambda x, y: model())
    spec = parse_spec(
        "challenger: {mode: canary, key: {header: X-User-Id}, steps: [{setWeight: 50}], "
        "analysis: {interval: 50ms, minRequests: 50, "
        "guardrails: {metric: {name: accuracy}, latencyP99: false}}}",
        name="churn",
    )
    served = _rollout(project, spec, 400)
    assert {1, 2} <= set(served[:100])  # the canary took part of the traffic
    assert project.metadata.models.aliases("churn") == {"champion": 2}
    assert served[-5:] == [2] * 5  # hot-reloaded after the promotion
    promoted = [e for e in project.metadata.models.events("churn") if e.kind == "promote"]
    assert promoted[-1].detail["evidence"]["metric"]["win"] is True
    assert promoted[-1].detail["evidence"]["metric"]["paired"] is False

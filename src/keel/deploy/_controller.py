"""The rollout controller: advances a challenger through its steps, promotes it on a win and
rolls it back on a breach, every decision an event in the registry.

**State lives in the registry, not in the process.** Where a rollout stands is derived from
the model's event log: it starts with the last event that pointed the challenger alias at
its version, and every later ``advance`` event completes one ``pause`` or ``analysis``
step (``setWeight`` steps complete as soon as they are reached). A pause ends when its
duration has passed since the step began (the time of the previous advance, in the
database's clock), so every replica computes the same step and weight, and a restarted
server resumes where the rollout was.

**Decisions are compare-and-set.** Each decision moves an alias naming the revision it
read (``expected_revision``): an advance or a failed analysis re-points the challenger
alias at the same version (bumping its revision, with the event), a rollback removes it,
a promotion moves the champion alias to the challenger's version and then removes the
challenger alias. When several replicas decide at once exactly one move lands; the others
get :class:`~keel.store.AliasConflictError`, log it and re-read the state.

Each tick (every ``analysis.interval``) asks :class:`~keel.deploy._guardrails.Guardrails`
for a verdict and applies it:

- ``rollback`` (a guardrail breached): a failed analysis. Once more than ``failureLimit``
  analyses of this rollout have failed, the challenger alias is removed (event
  ``rollback`` with the evidence); before that, event ``analysis`` with ``passed: false``.
- at a ``pause`` step: advance once its duration has passed (``pause: {}`` waits for
  :meth:`Controller.advance`, e.g. ``keel deploy advance NAME``).
- at an ``analysis`` step: advance on ``advance`` or ``promote`` (the guardrails pass).
- after the last step: promote on ``promote`` when ``promotion: auto``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keel._json import json_safe, nulled
from keel.deploy._guardrails import Decision, Guardrails
from keel.deploy._router import Router
from keel.deploy._spec import DeploySpec, Step
from keel.errors import UsageError
from keel.grammar import format_duration
from keel.store import AliasConflictError, ModelEvent

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["Controller", "RolloutState", "phase", "progress", "read_state"]

log = logging.getLogger("keel.serve.controller")

ROLLOUT_EVENTS = ("advance", "analysis")  # events that re-point the alias at its version


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands, derived from the registry."""

    champion_version: int | None
    challenger_version: int | None
    revision: int | None  # the challenger alias's, for compare-and-set
    started_at: datetime | None
    step: int  # index of the step waited on; len(steps) when every step is done
    steps: int
    weight: float
    advances: int
    failures: int
    step_started_at: datetime | None

    @property
    def active(self) -> bool:
        return (
            self.challenger_version is not None and self.challenger_version != self.champion_version
        )

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (``keel deploy status --format json``'s ``rollout``)."""
        return dict(
            json_safe(
                {
                    "active": self.active,
                    "champion_version": self.champion_version,
                    "challenger_version": self.challenger_version,
                    "started_at": self.started_at,
                    "step": self.step,
                    "steps": self.steps,
                    "done": self.done,
                    "weight": self.weight,
                    "advances": self.advances,
                    "failed_analyses": self.failures,
                    "step_started_at": self.step_started_at,
                }
            )
        )


def progress(steps: Sequence[Step], advances: int) -> tuple[int, float]:
    """The step waited on and the canary weight after ``advances`` completed steps."""
    index, weight, left = 0, 0.0, advances
    while index < len(steps):
        step = steps[index]
        if step.kind == "setWeight":
            weight = float(step.weight or 0)
        elif left > 0:
            left -= 1
        else:
            break
        index += 1
    return index, weight


def read_state(project: Project, spec: DeploySpec) -> RolloutState | None:
    """The rollout's state from the registry; ``None`` when the spec has no challenger."""
    challenger = spec.challenger
    if challenger is None:
        return None
    store = project.metadata.models
    aliases = store.aliases(spec.name)
    champion = aliases.get(spec.champion)
    if challenger.alias not in aliases:
        return RolloutState(champion, None, None, None, 0, len(challenger.steps), 0.0, 0, 0, None)
    current = store.alias(spec.name, challenger.alias)
    events = [e for e in store.events(spec.name) if e.alias == challenger.alias]
    start = _start(events)
    since = [e for e in events if start is None or e.id > start.id]
    advances = [e for e in since if e.kind == "advance"]
    failures = sum(1 for e in since if e.kind == "analysis" and not e.detail.get("passed"))
    step, weight = progress(challenger.steps, len(advances))
    started = _utc(start.created_at) if start else None
    step_started = _utc(advances[-1].created_at) if advances else started
    return RolloutState(
        champion_version=champion,
        challenger_version=current.version,
        revision=current.revision,
        started_at=started,
        step=step,
        steps=len(challenger.steps),
        weight=weight if challenger.mode == "canary" else 0.0,
        advances=len(advances),
        failures=failures,
        step_started_at=step_started,
    )


def phase(spec: DeploySpec, state: RolloutState | None) -> str:  # noqa: PLR0911  # one per phase
    """One line for people: where the rollout stands and what it waits for."""
    challenger = spec.challenger
    if challenger is None or state is None:
        return "no challenger in the spec: the champion serves alone"
    if not state.active:
        what = "no" if state.challenger_version is None else "the champion's"
        return f"idle: {challenger.alias!r} points at {what} version"
    if state.done:
        if challenger.promotion == "manual":
            return "all steps done: awaiting manual promotion (keel deploy promote)"
        return "all steps done: promotes when the guardrails show a win"
    step = challenger.steps[state.step]
    where = f"step {state.step + 1}/{state.steps}"
    if step.kind == "analysis":
        return f"{where}: analysis, advances when the guardrails pass"
    if step.duration is None:
        return f"{where}: paused until advanced by hand (keel deploy advance)"
    return f"{where}: pause of {format_duration(step.duration)}"


def _start(events: Sequence[ModelEvent]) -> ModelEvent | None:
    moves = [e for e in events if e.version is not None and e.kind not in ROLLOUT_EVENTS]
    return moves[-1] if moves else None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Controller:
    """Drives one deployment's rollout (see the module docstring).

    ``clock`` returns the current UTC time (tests pass a fake one).
    """

    def __init__(
        self,
        project: Project,
        spec: DeploySpec,
        router: Router,
        guardrails: Guardrails,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.project, self.spec = project, spec
        self.router, self.guardrails = router, guardrails
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rollout: tuple[int | None, datetime | None] | None = None
        self.last_decision: Decision | None = None
        self.actor = f"keel-controller@{socket.gethostname()}"

    # -- the loop ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``analysis.interval`` until ``stop`` is set; errors are logged, never
        raised (a flaky database must not take the server down)."""
        if self.spec.challenger is None:
            await stop.wait()
            return
        interval = self.spec.challenger.analysis.interval
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("rollout controller tick failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def refresh(self) -> RolloutState | None:
        """Read the rollout's state and bring the router and guardrails in line with it."""
        state = read_state(self.project, self.spec)
        if state is None:
            self.router.active = False
            return None
        self.router.active = state.active
        self.router.weight = state.weight
        rollout = (state.challenger_version, state.started_at)
        if rollout != self._rollout:
            if self._rollout is not None:
                self.guardrails.reset()  # a new challenger version: start counting afresh
            self._rollout = rollout
        return state

    def tick(self) -> str | None:
        """One evaluation: returns what was done (``advance``, ``analysis``, ``rollback``,
        ``promote``, ``conflict``) or ``None``."""
        state = self.refresh()
        if state is None or not state.active:
            return None
        decision = self.guardrails.evaluate()
        self.last_decision = decision
        return self.apply(state, decision)

    def apply(self, state: RolloutState, decision: Decision) -> str | None:
        """Act on ``decision`` at ``state`` (compare-and-set against ``state.revision``)."""
        if self.spec.challenger is None or not state.active:
            return None
        try:
            done = self._act(state, decision)
        except AliasConflictError as exc:
            log.info("another replica decided first: %s", exc.message)
            done = "conflict"
        if done is not None:
            self.refresh()  # the router follows the decision at once
        return done

    def _act(self, state: RolloutState, decision: Decision) -> str | None:
        spec = self.spec.challenger
        assert spec is not None
        if decision.action == "rollback":
            return self._failed(state, decision)
        if state.done:
            if decision.action != "promote" or spec.promotion != "auto":
                return None
            self._promote(state, decision.reason, decision.evidence, self.actor)
            return "promote"
        step = spec.steps[state.step]
        if step.kind == "analysis" and decision.action in ("advance", "promote"):
            reason = f"analysis passed: {decision.reason}"
            self._advance(state, reason, decision.evidence, self.actor)
            return "advance"
        if self._pause_over(step, state):
            reason = f"pause of {format_duration(step.duration or 0)} over"
            self._advance(state, reason, {}, self.actor)
            return "advance"
        return None

    def _pause_over(self, step: Step, state: RolloutState) -> bool:
        started = state.step_started_at
        if step.kind != "pause" or step.duration is None or started is None:
            return False
        return (self._clock() - started).total_seconds() >= step.duration

    # -- decisions -------------------------------------------------------------------------
    def promote(self, reason: str, evidence: Mapping[str, Any] | None = None) -> None:
        """Make the challenger's version the champion now and end the rollout (recorded)."""
        state = self._require_active("promote")
        self._promote(state, reason, evidence, _user())
        self.refresh()

    def rollback(self, reason: str, evidence: Mapping[str, Any] | None = None) -> None:
        """Withdraw the challenger now: remove its alias (recorded as ``rollback``)."""
        state = self._require_active("roll back")
        self._rollback(state, reason, evidence, _user())
        self.refresh()

    def advance(self, reason: str = "advanced by hand") -> RolloutState:
        """Complete the current step now (ends a ``pause: {}``); returns the new state."""
        state = self._require_active("advance")
        if state.done:
            raise UsageError(
                f"the rollout of {self.spec.name} has done all its steps.",
                hint=f"Promote it: keel deploy promote {self.spec.name}",
            )
        self._advance(state, reason, {}, _user())
        new = self.refresh()
        assert new is not None
        return new

    def _require_active(self, what: str) -> RolloutState:
        state = read_state(self.project, self.spec)
        if state is None or not state.active:
            alias = self.spec.challenger.alias if self.spec.challenger else "challenger"
            raise UsageError(
                f"nothing to {what}: model {self.spec.name!r} has no {alias!r} version being "
                "rolled out.",
                hint=f"Start one: keel models alias {self.spec.name} {alias} VERSION"
                if self.spec.challenger
                else f"Add a challenger section to deploy/{self.spec.name}.yaml.",
            )
        return state

    def _failed(self, state: RolloutState, decision: Decision) -> str:
        assert self.spec.challenger is not None
        limit = self.spec.challenger.analysis.failure_limit
        failures = state.failures + 1
        if failures > limit:
            self._rollback(state, decision.reason, decision.evidence, self.actor)
            return "rollback"
        detail = {
            "passed": False,
            "failures": failures,
            "failureLimit": limit,
            "step": state.step,
            "evidence": decision.evidence,
        }
        self._bump(state, "analysis", decision.reason, detail, self.actor)
        return "analysis"

    def _advance(
        self, state: RolloutState, reason: str, evidence: Mapping[str, Any], actor: str
    ) -> None:
        assert self.spec.challenger is not None
        steps = self.spec.challenger.steps
        after, weight = progress(steps, state.advances + 1)
        detail = {
            "step": state.step,
            "kind": steps[state.step].kind,
            "next": after,
            "weight": weight,
            "evidence": dict(evidence),
        }
        self._bump(state, "advance", reason, detail, actor)

    def _bump(
        self, state: RolloutState, kind: str, reason: str, detail: Mapping[str, Any], actor: str
    ) -> None:
        assert self.spec.challenger is not None
        assert state.challenger_version is not None
        self.project.metadata.models.move_alias(
            self.spec.name,
            self.spec.challenger.alias,
            state.challenger_version,
            actor=actor,
            reason=reason,
            expected_revision=state.revision,
            kind=kind,
            detail=nulled(dict(detail)),
        )

    def _rollback(
        self, state: RolloutState, reason: str, evidence: Mapping[str, Any] | None, actor: str
    ) -> None:
        assert self.spec.challenger is not None
        self.project.metadata.models.remove_alias(
            self.spec.name,
            self.spec.challenger.alias,
            actor=actor,
            reason=reason,
            expected_revision=state.revision,
            kind="rollback",
            detail=nulled(
                {"step": state.step, "weight": state.weight, "evidence": dict(evidence or {})}
            ),
        )
        log.warning("rolled back %s/%s: %s", self.spec.name, state.challenger_version, reason)

    def _promote(
        self, state: RolloutState, reason: str, evidence: Mapping[str, Any] | None, actor: str
    ) -> None:
        assert self.spec.challenger is not None
        assert state.challenger_version is not None
        store, name = self.project.metadata.models, self.spec.name
        champion = store.aliases(name).get(self.spec.champion)
        revision = store.alias(name, self.spec.champion).revision if champion else 0
        if champion != state.champion_version:
            raise AliasConflictError(
                f"alias {self.spec.champion!r} of model {name!r} moved since it was read.",
            )
        store.move_alias(
            name,
            self.spec.champion,
            state.challenger_version,
            actor=actor,
            reason=reason,
            expected_revision=revision,
            kind="promote",
            detail=nulled(
                {
                    "from_alias": self.spec.challenger.alias,
                    "step": state.step,
                    "evidence": dict(evidence or {}),
                }
            ),
        )
        alias, done = self.spec.challenger.alias, f"promoted to {self.spec.champion}"
        try:
            store.remove_alias(
                name,
                alias,
                actor=actor,
                reason=done,
                expected_revision=state.revision,
                kind="delete-alias",
            )
        except AliasConflictError:  # bumped meanwhile: remove it only if still this version
            if store.aliases(name).get(alias) == state.challenger_version:
                store.remove_alias(name, alias, actor=actor, reason=done, kind="delete-alias")
        log.warning(
            "promoted %s/%s to %s: %s", name, state.challenger_version, self.spec.champion, reason
        )


def _user() -> str:
    from keel.registry import actor

    return actor()

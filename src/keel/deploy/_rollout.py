"""A deployment by name: its controller, and where its rollout stands.

``keel deploy status|advance|promote|rollback NAME`` are these calls; a Python user (a CI
job, a notebook) makes the same ones::

    status = keel.deploy.rollout_status("churn")
    keel.deploy.open_rollout("churn").promote("the canary won")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.deploy._controller import Controller, RolloutState, phase, read_state
from keel.deploy._guardrails import Guardrails
from keel.deploy._router import Router
from keel.deploy._spec import DeploySpec, load_spec, spec_path

if TYPE_CHECKING:
    from keel.store import ModelEvent
    from keel.tracking import Project

__all__ = [
    "DECISION_KINDS",
    "RolloutStatus",
    "deployment_names",
    "open_rollout",
    "rollout_status",
    "spec_file",
]

DECISION_KINDS = ("advance", "analysis", "promote", "rollback", "delete-alias", "alias")
"""The registry events that are rollout decisions (what ``status`` lists)."""


@dataclass(frozen=True)
class RolloutStatus:
    """Where deployment ``name`` stands: its spec, aliases, rollout state and recent decisions.

    ``file`` is the spec's path relative to the project root (``None``: no file, the
    champion serves alone); ``state`` is ``None`` without a challenger in the spec;
    ``phase`` is one line for people; ``decisions`` are the last 20 decision events.
    """

    name: str
    file: str | None
    spec: DeploySpec
    aliases: dict[str, int]
    state: RolloutState | None
    phase: str
    decisions: tuple[ModelEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON (``keel deploy status NAME --format json``)."""
        return {
            "name": self.name,
            "file": self.file,
            "spec": self.spec.to_dict(),
            "aliases": self.aliases,
            "rollout": None if self.state is None else self.state.to_dict(),
            "phase": self.phase,
            "decisions": [e.to_dict() for e in self.decisions],
        }


def deployment_names(*, root: Path) -> list[str]:
    """The deployments of the project at ``root``: the names of its ``deploy/NAME.yaml``
    files, sorted."""
    folder = spec_path("_", root=root).parent
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def spec_file(name: str, *, root: Path) -> str | None:
    """``deploy/NAME.yaml`` relative to ``root`` when that file exists, else ``None``."""
    path = spec_path(name, root=root)
    return str(path.relative_to(root)) if path.is_file() else None


def _open(name: str, project: Project | None) -> tuple[Project, DeploySpec]:
    from keel.tracking import open_project

    project = project or open_project()
    return project, load_spec(name, root=project.config.root)


def open_rollout(name: str, *, project: Project | None = None) -> Controller:
    """The :class:`Controller` of deployment ``name`` (its spec read from ``deploy/NAME.yaml``),
    to :meth:`~Controller.advance`, :meth:`~Controller.promote` or
    :meth:`~Controller.rollback` its rollout by hand."""
    project, spec = _open(name, project)
    return Controller(project, spec, Router(spec), Guardrails(spec))


def rollout_status(name: str, *, project: Project | None = None) -> RolloutStatus:
    """Where deployment ``name``'s rollout stands, read from the registry (the same answer
    on every replica: the state lives in the event log)."""
    project, spec = _open(name, project)
    store = project.metadata.models
    state = read_state(project, spec)
    decisions = [e for e in store.events(name) if e.kind in DECISION_KINDS][-20:]
    return RolloutStatus(
        name=name,
        file=spec_file(name, root=project.config.root),
        spec=spec,
        aliases=store.aliases(name),
        state=state,
        phase=phase(spec, state),
        decisions=tuple(decisions),
    )

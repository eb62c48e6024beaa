"""The deployment pages' data: each ``deploy/NAME.yaml`` and where its rollout stands.

A deployment's page is ``keel deploy status NAME --format json``
(:meth:`keel.deploy.RolloutStatus.to_dict`) with, around it, the spec's ``steps`` marked
done / current / to come, and the ``timeline``: every rollout decision of the model (not
only the last 20 that ``status`` lists), oldest first, each with the weight it left and
its guardrails' values against their limits, read from the evidence the controller
recorded with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.errors import KeelError
from keel.ui._views import NotFoundError

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["deployment", "deployments", "guardrail_rows"]

# evidence key -> (label, value key, limit key, how the value is compared with the limit)
_GUARDRAILS = (
    ("errorRate", "error rate increase", "increase", "maxIncrease", "at most"),
    ("latencyP99", "latency p99 ratio", "ratio", "maxRatio", "at most"),
    ("predictionDrift", "prediction drift", "score", "max", "at most"),
    ("metric", "metric difference", "estimate", "margin", "at least"),
)


def deployments(project: Project) -> list[dict[str, Any]]:
    """Every deployment spec of the project with where its rollout stands (each item is
    ``keel deploy status NAME --format json`` without its decisions)."""
    from keel.deploy import deployment_names

    found = []
    for name in deployment_names(root=project.config.root):
        try:
            status = _status(project, name)
        except KeelError as error:  # an invalid spec is shown, not a failed page
            found.append({"name": name, "error": error.message, "hint": error.hint})
            continue
        found.append({k: v for k, v in status.items() if k != "decisions"} | {"error": None})
    return found


def deployment(project: Project, name: str) -> dict[str, Any]:
    """``keel deploy status NAME --format json``, plus ``steps``, ``timeline`` and
    ``versions`` (the registered versions of the model, for links)."""
    from keel.deploy import DECISION_KINDS, deployment_names

    if name not in deployment_names(root=project.config.root):
        raise NotFoundError(
            f"no deployment {name!r}: there is no deploy/{name}.yaml in this project.",
            hint="docs/serving.md shows how to write one; /deployments lists the specs.",
        )
    status = _status(project, name)
    registry = project.metadata.models
    events = [e.to_dict() for e in registry.events(name) if e.kind in DECISION_KINDS]
    return status | {
        "steps": _steps(status),
        "timeline": [e | {"guardrails": guardrail_rows(e.get("detail") or {})} for e in events],
        "versions": sorted(v.version for v in registry.versions(name)),
    }


def _status(project: Project, name: str) -> dict[str, Any]:
    from keel.deploy import rollout_status

    return rollout_status(name, project=project).to_dict()


def _steps(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's steps, each ``done``, ``current`` or ``next`` for the rollout's state."""
    challenger = status["spec"].get("challenger") or {}
    rollout = status.get("rollout") or {}
    at = rollout.get("step", 0) if rollout.get("active") else None
    found = []
    for i, step in enumerate(challenger.get("steps") or []):
        where = "next" if at is None or i > at else ("current" if i == at else "done")
        found.append({"index": i, "where": where, "step": step})
    return found


def guardrail_rows(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Each guardrail in a decision's evidence: its value against its limit, breached or not
    (as the controller judged it; nothing is recomputed here)."""
    evidence = detail.get("evidence") or {}
    rows = []
    for key, label, value_key, limit_key, rule in _GUARDRAILS:
        found = evidence.get(key)
        if not isinstance(found, dict):
            continue
        limit = found.get(limit_key)
        rows.append(
            {
                "guardrail": key,
                "label": f"{found.get('name')} difference" if key == "metric" else label,
                "value": found.get(value_key),
                "limit": -limit if key == "metric" and limit is not None else limit,
                "rule": rule,
                "breached": bool(found.get("breached")),
                "interval": [found.get("low"), found.get("high")] if key == "metric" else None,
                "win": found.get("win") if key == "metric" else None,
            }
        )
    return rows

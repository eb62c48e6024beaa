"""What the overview says of each model and pipeline step, beside the KPIs.

Per registered model: the champion (or the newest version when there is none), its newest
stored evaluation's headline metric with its interval (``keel models evaluate`` records them,
:mod:`keel.ui._views_models`), and the latest gate decision. Per model with a prediction
log: the latest window's drift and performance, from :func:`keel.monitor.report` restricted
to that one window (the same window and verdicts as ``keel monitor check NAME --window W``,
where ``W`` is the window the monitoring page chooses), so the overview stays fast however
long the log is. Per pipeline step: the median and p90 of its executed (not cached) runs'
durations among the newest step runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keel._json import json_safe
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.monitor import ReportCache
    from keel.store import ModelEvent
    from keel.tracking import Project

__all__ = [
    "HEADLINE_METRICS",
    "empty_facts",
    "headline",
    "latest_window",
    "model_facts",
    "step_durations",
]

HEADLINE_METRICS = ("auc", "accuracy", "f1", "rmse", "mae", "r2")
"""The metric the overview shows of an evaluation or a window: the first of these it has."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def headline(metrics: dict[str, Any] | None) -> str | None:
    """The name of the metric the overview shows among ``metrics`` (``None`` when empty)."""
    if not metrics:
        return None
    return next((m for m in HEADLINE_METRICS if metrics.get(m) is not None), next(iter(metrics)))


def model_facts(project: Project, name: str, events: Sequence[ModelEvent]) -> dict[str, Any]:
    """Model ``name``'s champion (or newest version), its newest evaluation's headline metric
    with its interval and its own latest gate decision, and the model's latest gate decision
    (of any version), from its event log ``events``."""
    from keel.ui._views_models import evaluations

    registry = project.metadata.models
    aliases = registry.aliases(name)
    versions = [e.version for e in events if e.kind == "register" and e.version is not None]
    champion = aliases.get("champion")
    shown = champion if champion is not None else (max(versions) if versions else None)
    found = evaluations(e for e in events if e.version == shown) if shown is not None else []
    evaluation = None
    if found:
        newest = found[0]
        metric = headline(newest.get("metrics"))
        if metric is not None:
            evaluation = {
                "metric": metric,
                **newest["metrics"][metric],
                "rows": newest.get("rows"),
                "confidence": newest.get("confidence"),
                "data": newest.get("data"),
                "created_at": newest.get("created_at"),
            }
    gates = [e for e in events if e.kind == "gate"]
    own = [e for e in gates if e.version == shown]
    return empty_facts(name) | {
        "version": shown,
        "champion": champion is not None,
        "evaluation": evaluation,
        "version_gate": _gate(own[-1]) if own else None,
        "gate": _gate(gates[-1]) if gates else None,
    }


def _gate(event: ModelEvent) -> dict[str, Any]:
    shape = event.to_dict()
    return {
        "id": shape["id"],
        "version": shape["version"],
        "passed": bool(shape["detail"].get("passed")),
        "against": shape["alias"],
        "baseline": shape["detail"].get("baseline"),
        "reason": shape["reason"],
        "created_at": shape["created_at"],
    }


def empty_facts(name: str) -> dict[str, Any]:
    """The facts of a model the registry does not know (served only), every key present."""
    return {
        "name": name,
        "version": None,
        "champion": False,
        "evaluation": None,
        "version_gate": None,
        "gate": None,
        "latest_window": None,
        "serving": None,
    }


def latest_window(
    project: Project, name: str, *, cache: ReportCache | None = None
) -> dict[str, Any]:
    """The latest window of model ``name``'s prediction log: its bounds, rows, drifted
    columns and headline performance (measured from labels, else estimated), or
    ``{"error", "hint"}`` when it cannot be monitored (no reference stored, say)."""
    from keel.grammar import parse_duration
    from keel.monitor import PredictionLog, check, report
    from keel.ui._views_monitor import choose_window

    hours = PredictionLog(project.artifacts, name).hours()
    window = choose_window(project, name)
    if hours is None:
        return {"window": window, "error": "the prediction log is empty", "hint": None}
    width = parse_duration(window, where="window").timedelta
    last_hour = hours[1]
    if width >= timedelta(hours=1):  # windows of an hour or more hold whole hourly files
        start = _EPOCH + (last_hour - _EPOCH) // width * width
        end = start + width
    else:  # shorter windows: the last file's hour, whose latest busy window is the latest
        start, end = last_hour, last_hour + timedelta(hours=1)
    try:
        result = report(name, since=start, until=end, window=window, project=project, cache=cache)
    except KeelError as error:
        return {"window": window, "error": error.message, "hint": error.hint}
    latest = result.latest
    if latest is None:
        return {"window": window, "error": "no traffic in the latest window", "hint": None}
    drifted = [a.to_dict() for a in check(result) if a.kind == "drift"]
    measured = dict(latest.performance or {})
    estimated = dict(latest.estimated_performance or {})
    metric = headline({k: v for k, v in measured.items() if k in HEADLINE_METRICS})
    kind = "measured"
    if metric is None:
        metric = headline({k: v for k, v in estimated.items() if k in HEADLINE_METRICS})
        measured, kind = estimated, "estimated"
    return {
        "window": window,
        "start": latest.start.isoformat(),
        "end": latest.end.isoformat(),
        "rows": latest.rows,
        "columns": len(latest.drift or []),
        "drifted": [
            {"column": a["column"], "score": a["value"], "threshold": a["threshold"]}
            for a in drifted
        ],
        "performance": None
        if metric is None
        else {"metric": metric, "value": json_safe(measured.get(metric)), "kind": kind},
    }


def step_durations(steps: Sequence[Any]) -> list[dict[str, Any]]:
    """Per pipeline step, the median and p90 duration (seconds) of its executed runs among
    ``steps`` (step-run records), the number of runs and of cache hits, slowest p90 first."""
    by_step: dict[tuple[str, str], list[Any]] = {}
    for record in steps:
        by_step.setdefault((record.pipeline, record.step), []).append(record)
    found = []
    for (pipeline, step), records in by_step.items():
        executed = sorted(r.duration for r in records if r.status != "cached")
        found.append(
            {
                "pipeline": pipeline,
                "step": step,
                "runs": len(records),
                "cached": sum(1 for r in records if r.status == "cached"),
                "executed": len(executed),
                "median_s": statistics.median(executed) if executed else None,
                "p90_s": _quantile(executed, 0.9) if executed else None,
            }
        )
    found.sort(key=lambda s: (-float(s["p90_s"] or 0.0), str(s["pipeline"]), str(s["step"])))
    return found


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, linearly interpolated (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))

"""What each page shows, as JSON-ready data: the API returns it, the templates render it.

Every object has the shape the CLI prints with ``--format json`` for the same object
(:func:`keel.tracking.run_to_dict`, :meth:`keel.store.ModelVersion.to_dict`,
:func:`keel.tracking.dataset_version_to_dict`...); pages add context around it, never a
second shape of it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from keel._json import json_safe
from keel.errors import UsageError
from keel.tracking import compare_runs, dataset_version_to_dict, run_to_dict
from keel.ui._found import NotFoundError
from keel.ui._found import found as _found
from keel.ui._kpis import assess, worst
from keel.ui._views_data import dataset_profile
from keel.ui._views_models import EVALUATION, evaluations

if TYPE_CHECKING:
    from keel.monitor import ReportCache
    from keel.tracking import Project

__all__ = [
    "COMPARE_LIMIT",
    "PAGE_SIZE",
    "NotFoundError",
    "columns",
    "compare",
    "dataset",
    "dataset_version",
    "datasets",
    "kpis",
    "model",
    "model_version",
    "models",
    "overview",
    "pagination",
    "pipelines",
    "run",
    "runs",
]

PAGE_SIZE = 50
COMPARE_LIMIT = 50
SHOWN_METRICS = 12
SHOWN_PARAMS = 8


def kpis(project: Project, *, cache: ReportCache | None = None) -> dict[str, Any]:
    """Every KPI, the worst status and the facts behind them (``keel kpis --format json``):
    ``{"status", "kpis": [...], "health": {"models": [...], "steps": [...]}}``."""
    found = assess(project, cache=cache)
    return {
        "status": worst(found.kpis),
        "kpis": [k.to_dict() for k in found.kpis],
        "health": found.to_dict(),
    }


def overview(project: Project, *, cache: ReportCache | None = None) -> dict[str, Any]:
    """The KPIs, and the newest of everything with links along the chain."""
    store = project.metadata
    registry = store.models
    champions = []
    for m in registry.models():
        chosen = m.aliases.get("champion", m.latest)
        version = registry.get_version(m.name, chosen) if chosen else None
        champions.append(m.to_dict() | {"shown": None if version is None else version.to_dict()})
    data = []
    for name in store.dataset_names():
        versions = store.list_dataset_versions(name)
        data.append({"name": name, "versions": len(versions)} | _latest(versions))
    return kpis(project, cache=cache) | {
        "project": project.config.project_name,
        "store": store.url,
        "models": champions,
        "datasets": data,
        "runs": [run_to_dict(r) for r in store.list_runs(limit=10)],
    }


def _latest(versions: Sequence[Any]) -> dict[str, Any]:
    return {"latest": dataset_version_to_dict(versions[-1]) if versions else None}


def runs(
    project: Project,
    *,
    where: str = "",
    order_by: str = "started",
    descending: bool = True,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of runs (``keel runs list --format json`` items), filtered and ordered in SQL."""
    page = project.metadata.search_runs(
        where, order_by=order_by, descending=descending, offset=offset, limit=limit
    )
    shown = [run_to_dict(r) for r in page.runs]
    return {
        "runs": shown,
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "where": where,
        "order_by": order_by,
        "descending": descending,
        "param_keys": sorted({k for r in page.runs for k in r.params}),
        "metric_keys": sorted({k for r in page.runs for k in r.metrics}),
    }


def columns(data: dict[str, Any], *, every: bool = False) -> dict[str, list[str]]:
    """The metric and param columns the runs page shows: all with ``every``, else the first
    :data:`SHOWN_METRICS` and :data:`SHOWN_PARAMS` and any the filter or the order names
    (a table of 100 columns is read by nobody, and costs most of the page's time)."""
    named = f"{data['where']} {data['order_by']}"
    shown = {}
    for kind, limit in (("metric", SHOWN_METRICS), ("param", SHOWN_PARAMS)):
        keys = data[f"{kind}_keys"]
        mentioned = [
            k for k in keys if re.search(rf"\b{kind}s?\.{re.escape(k)}(?![\w.\-/])", named)
        ]
        first = keys if every else keys[:limit]
        shown[kind] = sorted(set(first) | set(mentioned), key=keys.index)
    return shown


def pagination(data: dict[str, Any]) -> dict[str, int]:
    """The page number and page count of a :func:`runs` result."""
    size = max(int(data["limit"]), 1)
    return {
        "page": int(data["offset"]) // size + 1,
        "pages": max((int(data["total"]) + size - 1) // size, 1),
    }


def run(project: Project, run_id: str) -> dict[str, Any]:
    """One run (``keel runs show --format json``), its pipeline steps, what it used and made."""
    store = project.metadata
    found = _found(functools.partial(_get_run, store, run_id))
    shape = run_to_dict(found, store.list_artifacts(found.id))
    steps = store.pipelines.for_run(found.id)
    used = [dict(item) for item in (found.fingerprint or {}).get("data") or []]
    seen = {(u.get("name"), u.get("version")) for u in used}
    for step in steps:  # a pipeline's inputs that are registered dataset versions
        for io in step.inputs:
            for version in store.dataset_versions_with_digest(io.digest):
                if (version.name, version.version) not in seen:
                    seen.add((version.name, version.version))
                    used.append({"name": version.name, "version": version.version})
    registered = [
        v.to_dict()
        for m in store.models.models()
        for v in store.models.versions(m.name)
        if v.run_id == found.id
    ]
    histories = store.metric_histories([found.id])[found.id]
    made_by = {o.digest: s.step for s in steps for o in s.outputs}
    return shape | {
        "steps": [_step(s) | {"upstream": _upstream(s, made_by)} for s in steps],
        "datasets_used": json_safe(used),
        "models_registered": registered,
        "curves": {k: _curve(v) for k, v in histories.items() if len(v) > 1},
    }


def _get_run(store: Any, prefix: str) -> Any:
    return store.get_run(store.resolve_run_id(prefix))


def _step(record: Any) -> dict[str, Any]:
    return dict(
        json_safe(
            {
                "step": record.step,
                "pipeline": record.pipeline,
                "status": record.status,
                "duration_s": record.duration,
                "explanation": record.explanation,
                "error": record.error,
                "inputs": [
                    {"name": i.name, "kind": i.kind, "digest": i.digest} for i in record.inputs
                ],
                "outputs": [
                    {"name": o.name, "kind": o.kind, "digest": o.digest} for o in record.outputs
                ],
            }
        )
    )


def _upstream(step: Any, made_by: dict[str, str]) -> list[str]:
    """The steps of the same run whose outputs this step read: its edges in the DAG."""
    return sorted(
        {made_by[i.digest] for i in step.inputs if made_by.get(i.digest, step.step) != step.step}
    )


def pipelines(project: Project, *, steps: int = 2000) -> list[dict[str, Any]]:
    """The newest pipeline runs (from their newest ``steps`` step runs), newest first: each
    run's steps, how many were served from the cache, and the time its steps took."""
    found: dict[str, dict[str, Any]] = {}
    for record in project.metadata.pipelines.recent(steps):
        entry = found.setdefault(
            record.run_id,
            {"run_id": record.run_id, "pipeline": record.pipeline, "steps": 0, "cached": 0}
            | {"failed": 0, "seconds": 0.0, "started_at": record.started_at},
        )
        entry["steps"] += 1
        entry["cached"] += record.status == "cached"
        entry["failed"] += record.status == "failed"
        entry["seconds"] += record.duration
        entry["started_at"] = min(entry["started_at"], record.started_at)
    return [dict(json_safe(e)) for e in found.values()]


def _io(item: Any) -> dict[str, Any]:
    return {"name": item.name, "kind": item.kind, "digest": item.digest}


def _curve(history: Sequence[Any]) -> dict[str, list[Any]]:
    return {"step": [m.step for m in history], "value": json_safe([m.value for m in history])}


def compare(project: Project, run_ids: Sequence[str]) -> dict[str, Any]:
    """Runs side by side (``keel runs compare --format json``), with their metric curves."""
    if not 2 <= len(run_ids) <= COMPARE_LIMIT:
        raise UsageError(
            f"compare takes 2 to {COMPARE_LIMIT} runs, got {len(run_ids)}.",
            hint="Tick between 2 and 50 runs on the runs page.",
        )
    store = project.metadata
    full = [
        r if len(r) == 32 else _found(functools.partial(store.resolve_run_id, r)) for r in run_ids
    ]
    chosen = _found(functools.partial(store.get_runs, full))
    histories = store.metric_histories([r.id for r in chosen])
    keys = sorted({k for r in chosen for k, v in histories[r.id].items() if len(v) > 1})
    return compare_runs(chosen).to_dict() | {
        "names": {r.id: r.name for r in chosen},
        "curves": {key: _aligned(key, chosen, histories) for key in keys},
    }


def _aligned(key: str, chosen: Sequence[Any], histories: dict[str, Any]) -> dict[str, Any]:
    """One metric's curves over the union of the runs' steps (``null`` where one lacks it)."""
    by_run = {r.id: {m.step: m.value for m in histories[r.id].get(key, [])} for r in chosen}
    steps = sorted({step for values in by_run.values() for step in values})
    runs = {run_id: json_safe([v.get(s) for s in steps]) for run_id, v in by_run.items() if v}
    return {"step": steps, "runs": runs}


def models(project: Project) -> list[dict[str, Any]]:
    """Registered models (``keel models list --format json``)."""
    return [m.to_dict() for m in project.metadata.models.models()]


def model(project: Project, name: str) -> dict[str, Any]:
    """A model's versions (``keel models show NAME``), aliases and history
    (``keel models history NAME``), and each metric across versions."""
    registry = project.metadata.models
    versions = [v.to_dict() for v in _found(functools.partial(registry.versions, name))]
    if not versions:
        raise NotFoundError(f"no model {name!r} in this registry.", hint="keel models list")
    events = [e.to_dict() for e in registry.events(name)]
    keys = sorted({k for v in versions for k in v["metrics"]})
    return {
        "name": name,
        "aliases": registry.aliases(name),
        "versions": versions,
        "history": events,
        "gates": [e for e in events if e["kind"] == "gate"],
        "metrics_by_version": {
            k: {"version": [v["version"] for v in versions]}
            | {"value": [v["metrics"].get(k) for v in versions]}
            for k in keys
        },
    }


def model_version(project: Project, name: str, version: int) -> dict[str, Any]:
    """One version (``keel models show NAME/3``), its gates and alias moves, and its stored
    evaluations (:func:`keel.ui._views_models.evaluations`), newest first."""
    registry = project.metadata.models
    shape = _found(lambda: registry.get_version(name, version)).to_dict()
    found = [e for e in registry.events(name) if e.version == version]
    events = [e.to_dict() for e in found if e.kind != EVALUATION]
    return shape | {"events": events, "evaluations": evaluations(found)}


def datasets(project: Project) -> list[dict[str, Any]]:
    """Every dataset with its newest version (as ``keel data show NAME`` prints it)."""
    store = project.metadata
    found = []
    for name in store.dataset_names():
        versions = store.list_dataset_versions(name)
        passed = [v for v in versions if (v.contract or {}).get("passed") is not None]
        found.append(
            {"name": name, "versions": len(versions), "checked": len(passed)}
            | {"passed": sum(1 for v in passed if (v.contract or {}).get("passed"))}
            | _latest(versions)
        )
    return found


def dataset(project: Project, name: str) -> dict[str, Any]:
    """Every version of a dataset (``keel data list NAME --format json``)."""
    versions = [dataset_version_to_dict(v) for v in project.metadata.list_dataset_versions(name)]
    if not versions:
        raise NotFoundError(
            f"no dataset {name!r} in this store.", hint="keel data add PATH --name N"
        )
    return {"name": name, "versions": versions}


def dataset_version(project: Project, name: str, version: int) -> dict[str, Any]:
    """One version (``keel data show NAME/3``), the runs that used it."""
    store = project.metadata
    shape = dataset_version_to_dict(_found(lambda: store.get_dataset_version(name, version)))
    # every run that read it, not those among the newest 500 (as this page once showed)
    used_by = [
        {"id": r.id, "name": r.name} for r in store.get_runs(store.runs_reading(name, version))
    ]
    return shape | {"used_by": used_by} | dataset_profile(project, name, version)

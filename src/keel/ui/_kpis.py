"""Quality KPIs: each a measured value against an objective, green, amber or red with why.

The objectives come from ``keel.toml`` ``[kpis]`` (defaults in :mod:`keel.config`). A KPI
that meets its objective is green; one that misses it by at most ``amber_margin`` (a
fraction of the objective) is amber; beyond that, red. A KPI with nothing to measure yet (no
served predictions, no gate decided) is ``n/a`` and says so: neither passing nor failing.

The same rules drive ``keel kpis`` (exit 1 when any KPI is red) and the overview page of
``keel ui``, so CI and the page agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from keel._json import nulled
from keel.grammar import parse_duration

if TYPE_CHECKING:
    from keel.monitor import ReportCache
    from keel.tracking import Project

__all__ = ["Health", "Kpi", "KpiStatus", "assess", "evaluate_kpis"]

KpiStatus = Literal["green", "amber", "red", "n/a"]

RECENT_VERSIONS = 10  # a dataset's pass rate is over its last 10 versions
RUN_WINDOW = timedelta(days=30)
RECENT_GATES = 10
RECENT_STEPS = 200
SERVING_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Kpi:
    """One KPI: what it measures, of what, the value, the objective, the verdict and why."""

    key: str
    """Which objective of ``[kpis]`` it is held to (``contract_pass_rate``...)."""
    subject: str
    """What it measures: ``dataset loans``, ``model loans-default``, ``runs``, ``pipelines``."""
    title: str
    value: float | None
    objective: float
    direction: Literal["at least", "at most"]
    status: KpiStatus
    reason: str
    link: str | None = None
    """The page of the subject in ``keel ui`` (``data/loans``), when it has one."""
    value_text: str = ""
    """The value as people read it (``50.0%``, ``3.2d``, ``13.9 ms``); empty when none."""
    objective_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one KPI (``keel kpis --format json``)."""
        return {
            "key": self.key,
            "subject": self.subject,
            "title": self.title,
            "value": nulled(self.value),
            "objective": self.objective,
            "direction": self.direction,
            "status": self.status,
            "reason": self.reason,
            "link": self.link,
            "value_text": self.value_text,
            "objective_text": self.objective_text,
        }


@dataclass(frozen=True)
class Health:
    """The KPIs and the facts the overview shows beside them (:mod:`keel.ui._health`):
    per model its champion's evaluation, latest gate, latest window and serving figures;
    per pipeline step its durations."""

    kpis: list[Kpi]
    models: list[dict[str, Any]]
    steps: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """``{"models": [...], "steps": [...]}``: the ``health`` of ``keel kpis --format json``."""
        return {"models": self.models, "steps": self.steps}


def evaluate_kpis(
    project: Project, *, now: datetime | None = None, cache: ReportCache | None = None
) -> list[Kpi]:
    """Every KPI of the project, from its stores, held to its ``[kpis]`` objectives."""
    return assess(project, now=now, cache=cache).kpis


def assess(
    project: Project, *, now: datetime | None = None, cache: ReportCache | None = None
) -> Health:
    """Every KPI and the facts behind the model and pipeline ones. ``cache`` keeps the
    latest windows' profiles and drift between calls (the app passes its own)."""
    objectives = dict(project.config.kpis)
    when = now or datetime.now(UTC)
    judge = _Judge(float(objectives["amber_margin"]))
    models: dict[str, dict[str, Any]] = {}
    found: list[Kpi] = []
    found += _data_kpis(project, objectives, judge, when)
    found += _run_kpis(project, objectives, judge, when)
    found += _model_kpis(project, objectives, judge, models)
    found += _drift_kpis(project, objectives, judge, models, cache)
    pipeline_kpis, steps = _pipeline_kpis(project, objectives, judge)
    found += pipeline_kpis
    found += _serving_kpis(project, objectives, judge, when, models)
    return Health(found, list(models.values()), steps)


@dataclass(frozen=True)
class _Judge:
    margin: float

    def __call__(
        self,
        key: str,
        subject: str,
        title: str,
        value: float | None,
        *,
        objective: float,
        direction: Literal["at least", "at most"],
        shown: Callable[[float], str] = lambda v: f"{v:.1%}",
        none: str = "nothing measured yet",
        link: str | None = None,
        detail: str = "",
    ) -> Kpi:
        def kpi(status: KpiStatus, reason: str) -> Kpi:
            text = "" if value is None or math.isnan(value) else shown(value)
            reason += f"; {detail}" if detail else ""
            return Kpi(
                key, subject, title, value, objective, direction, status, reason, link,
                value_text=text, objective_text=f"{direction} {shown(objective)}",
            )  # fmt: skip

        if value is None or math.isnan(value):
            return kpi("n/a", none)
        target = f"objective {direction} {shown(objective)}"
        if direction == "at least":
            met, near = value >= objective, value >= objective * (1 - self.margin)
        else:
            met, near = value <= objective, value <= objective * (1 + self.margin)
        if met:
            return kpi("green", f"{shown(value)} meets the {target}")
        verdict: KpiStatus = "amber" if near else "red"
        how = f"within {self.margin:.0%} of it" if near else f"more than {self.margin:.0%} off"
        if objective == 0:  # no margin around zero: any miss is red
            return kpi(verdict, f"{shown(value)} misses the {target}")
        return kpi(verdict, f"{shown(value)} misses the {target} ({how})")


def _data_kpis(
    project: Project, objectives: Mapping[str, Any], judge: _Judge, now: datetime
) -> list[Kpi]:
    store = project.metadata
    freshness = parse_duration(str(objectives["data_freshness"]), where="[kpis] data_freshness")
    found = []
    for name in store.dataset_names():
        versions = store.list_dataset_versions(name)[-RECENT_VERSIONS:]
        checked = [v for v in versions if (v.contract or {}).get("passed") is not None]
        passed = sum(1 for v in checked if (v.contract or {}).get("passed"))
        rate = passed / len(checked) if checked else None
        latest = versions[-1]
        found.append(
            judge(
                "contract_pass_rate",
                f"dataset {name}",
                f"{name}: contract pass rate (last {len(checked)} checked)",
                rate,
                objective=float(objectives["contract_pass_rate"]),
                direction="at least",
                none="no version was checked against a contract",
                link=f"data/{name}",
            )
        )
        age = (now - latest.created_at).total_seconds()
        found.append(
            judge(
                "data_freshness",
                f"dataset {name}",
                f"{name}: age of the newest version ({name}/{latest.version})",
                max(age, 0.0),
                objective=freshness.seconds,
                direction="at most",
                shown=age_text,
                link=f"data/{name}/{latest.version}",
            )
        )
    return found


def _run_kpis(
    project: Project, objectives: Mapping[str, Any], judge: _Judge, now: datetime
) -> list[Kpi]:
    store = project.metadata
    since = f"started >= {(now - RUN_WINDOW).isoformat()}"

    def count(where: str) -> int:
        return store.search_runs(f"{since} and {where}", limit=0).total  # counted in SQL

    ended = count("status != running")
    failed = count("status = failed") + count("status = killed")
    days = RUN_WINDOW.days
    return [
        judge(
            "run_failure_rate",
            "runs",
            f"runs: failed or killed ({ended:,} ended in the last {days} days)",
            failed / ended if ended else None,
            objective=float(objectives["run_failure_rate"]),
            direction="at most",
            none=f"no run ended in the last {days} days",
            link="runs",
        )
    ]


def _model_kpis(
    project: Project,
    objectives: Mapping[str, Any],
    judge: _Judge,
    models: dict[str, dict[str, Any]],
) -> list[Kpi]:
    from keel.ui._health import model_facts

    registry = project.metadata.models
    found = []
    for model in registry.models():
        events = registry.events(model.name)
        facts = models[model.name] = model_facts(project, model.name, events)
        gates = [e for e in events if e.kind == "gate"][-RECENT_GATES:]
        passed = sum(1 for e in gates if e.detail.get("passed"))
        latest = facts["gate"]
        found.append(
            judge(
                "gate_pass_rate",
                f"model {model.name}",
                f"{model.name}: gate decisions passed (last {len(gates)})",
                passed / len(gates) if gates else None,
                objective=float(objectives["gate_pass_rate"]),
                direction="at least",
                none="no gate has been decided",
                link=f"models/{model.name}",
                detail=""
                if latest is None
                else f"latest: version {latest['version']} {_verdict(latest)}",
            )
        )
    return found


def _verdict(gate: Mapping[str, Any]) -> str:
    verdict = "passed" if gate["passed"] else "failed"
    baseline = gate["baseline"]
    against = f" against {gate['against']}" + (f" (version {baseline})" if baseline else "")
    return verdict + against


def _drift_kpis(
    project: Project,
    objectives: Mapping[str, Any],
    judge: _Judge,
    models: dict[str, dict[str, Any]],
    cache: ReportCache | None,
) -> list[Kpi]:
    """Per model with a prediction log: columns drifted in its latest window."""
    from keel.monitor import PredictionLog
    from keel.ui._health import empty_facts, latest_window

    found = []
    for name in PredictionLog.names(project.artifacts):
        window = latest_window(project, name, cache=cache)
        facts = models.setdefault(name, empty_facts(name))
        facts["latest_window"] = window
        drifted = window.get("drifted")
        detail = ""
        if drifted:
            columns = ", ".join(d["column"] for d in drifted)
            detail = f"drifted: {columns} (window from {window['start']})"
        elif "start" in window:
            detail = f"window from {window['start']}, {window['rows']:,} rows"
        found.append(
            judge(
                "drifted_columns",
                f"model {name}",
                f"{name}: columns drifted in the latest {window['window']} window",
                None if drifted is None else float(len(drifted)),
                objective=float(objectives["drifted_columns"]),
                direction="at most",
                shown=lambda v: f"{v:.0f}",
                none=f"not measured: {window.get('error')}",
                link=f"monitoring/{name}",
                detail=detail,
            )
        )
    return found


def _pipeline_kpis(
    project: Project, objectives: Mapping[str, Any], judge: _Judge
) -> tuple[list[Kpi], list[dict[str, Any]]]:
    from keel.ui._health import step_durations

    steps = project.metadata.pipelines.recent(RECENT_STEPS)
    hits = sum(1 for s in steps if s.status == "cached")
    durations = step_durations(steps)
    slowest = next((d for d in durations if d["p90_s"] is not None), None)
    limit = parse_duration(str(objectives["step_p90"]), where="[kpis] step_p90")
    found = [
        judge(
            "cache_hit_rate",
            "pipelines",
            f"pipelines: steps served from the cache (last {len(steps)})",
            hits / len(steps) if steps else None,
            objective=float(objectives["cache_hit_rate"]),
            direction="at least",
            none="no pipeline step has run",
            link="pipelines",
        ),
        judge(
            "step_p90",
            "pipelines",
            "pipelines: p90 duration of the slowest step"
            + ("" if slowest is None else f" ({slowest['pipeline']}.{slowest['step']})"),
            None if slowest is None else slowest["p90_s"],
            objective=limit.seconds,
            direction="at most",
            shown=_seconds,
            none="no pipeline step was executed (only cache hits, or none)",
            link="pipelines",
            detail=""
            if slowest is None
            else f"median {_seconds(slowest['median_s'])} over {slowest['executed']} run(s)",
        ),
    ]
    return found, durations


def _seconds(value: float) -> str:
    """A step's duration: ``0.408 ms``, ``250 ms``, ``12s``, ``3.5m``."""
    return f"{value * 1000:.3g} ms" if value < 1 else age_text(value)


def _serving_kpis(
    project: Project,
    objectives: Mapping[str, Any],
    judge: _Judge,
    now: datetime,
    models: dict[str, dict[str, Any]],
) -> list[Kpi]:
    found = []
    for name in [m.name for m in project.metadata.models.models()]:
        stats = serving_stats(project, name, since=now - SERVING_WINDOW, until=now)
        if stats is None:
            continue  # never served: no serving KPI to hold it to
        models[name]["serving"] = stats
        for key, title in (("p50", "p50 latency"), ("p99", "p99 latency")):
            found.append(
                judge(
                    f"serving_{key}_ms",
                    f"model {name}",
                    f"{name}: {title}, last day ({stats['records']:,} records)",
                    stats[f"{key}_ms"],
                    objective=float(objectives[f"serving_{key}_ms"]),
                    direction="at most",
                    shown=lambda v: f"{v:.1f} ms",
                    none="no prediction in the last day",
                    link=f"models/{name}",
                )
            )
        found.append(
            judge(
                "serving_invalid_rate",
                f"model {name}",
                f"{name}: error rate, records that broke the input contract, last day",
                stats["invalid_rate"],
                objective=float(objectives["serving_invalid_rate"]),
                direction="at most",
                shown=lambda v: f"{v:.2%}",
                none="no prediction in the last day",
                link=f"monitoring/{name}",
                detail="the prediction log records answered records only, not HTTP errors",
            )
        )
    return found


def serving_stats(
    project: Project, name: str, *, since: datetime, until: datetime
) -> dict[str, Any] | None:
    """Latency percentiles and the invalid share of a model's predictions in a window
    (``None`` when the model has no prediction log at all)."""
    import polars as pl

    from keel.monitor import PredictionLog

    log = PredictionLog(project.artifacts, name)
    if not log.files():
        return None
    frame = (
        log.scan(since=since, until=until)
        .select(
            pl.len().alias("records"),
            pl.col("latency_ms").quantile(0.5).alias("p50_ms"),
            pl.col("latency_ms").quantile(0.99).alias("p99_ms"),
            (1 - pl.col("valid").cast(pl.Float64).mean()).alias("invalid_rate"),
        )
        .collect()
    )
    row = frame.row(0, named=True)
    return {k: (None if v is None else v) for k, v in row.items()}


def worst(kpis: Sequence[Kpi]) -> KpiStatus:
    """The worst status among KPIs (``n/a`` only when nothing was measured)."""
    statuses: tuple[KpiStatus, ...] = ("red", "amber", "green")
    for status in statuses:
        if any(k.status == status for k in kpis):
            return status
    return "n/a"


def age_text(seconds: float) -> str:
    """A length of time as people read an age: ``45s``, ``12m``, ``5.2h``, ``3.1d``."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{seconds:.0f}s"

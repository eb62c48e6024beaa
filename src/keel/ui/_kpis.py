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
    from keel.tracking import Project

__all__ = ["Kpi", "KpiStatus", "evaluate_kpis"]

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


def evaluate_kpis(project: Project, *, now: datetime | None = None) -> list[Kpi]:
    """Every KPI of the project, from its stores, held to its ``[kpis]`` objectives."""
    objectives = dict(project.config.kpis)
    when = now or datetime.now(UTC)
    judge = _Judge(float(objectives["amber_margin"]))
    found: list[Kpi] = []
    found += _data_kpis(project, objectives, judge, when)
    found += _run_kpis(project, objectives, judge, when)
    found += _model_kpis(project, objectives, judge)
    found += _pipeline_kpis(project, objectives, judge)
    found += _serving_kpis(project, objectives, judge, when)
    return found


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
    ) -> Kpi:
        def kpi(status: KpiStatus, reason: str) -> Kpi:
            text = "" if value is None or math.isnan(value) else shown(value)
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


def _model_kpis(project: Project, objectives: Mapping[str, Any], judge: _Judge) -> list[Kpi]:
    registry = project.metadata.models
    found = []
    for model in registry.models():
        gates = [e for e in registry.events(model.name) if e.kind == "gate"][-RECENT_GATES:]
        passed = sum(1 for e in gates if e.detail.get("passed"))
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
            )
        )
    return found


def _pipeline_kpis(project: Project, objectives: Mapping[str, Any], judge: _Judge) -> list[Kpi]:
    steps = project.metadata.pipelines.recent(RECENT_STEPS)
    hits = sum(1 for s in steps if s.status == "cached")
    return [
        judge(
            "cache_hit_rate",
            "pipelines",
            f"pipelines: steps served from the cache (last {len(steps)})",
            hits / len(steps) if steps else None,
            objective=float(objectives["cache_hit_rate"]),
            direction="at least",
            none="no pipeline step has run",
            link="pipelines",
        )
    ]


def _serving_kpis(
    project: Project, objectives: Mapping[str, Any], judge: _Judge, now: datetime
) -> list[Kpi]:
    found = []
    for name in [m.name for m in project.metadata.models.models()]:
        stats = serving_stats(project, name, since=now - SERVING_WINDOW, until=now)
        if stats is None:
            continue  # never served: no serving KPI to hold it to
        found.append(
            judge(
                "serving_p99_ms",
                f"model {name}",
                f"{name}: p99 latency, last day ({stats['records']:,} records)",
                stats["p99_ms"],
                objective=float(objectives["serving_p99_ms"]),
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
                f"{name}: records that broke the input contract, last day",
                stats["invalid_rate"],
                objective=float(objectives["serving_invalid_rate"]),
                direction="at most",
                shown=lambda v: f"{v:.2%}",
                none="no prediction in the last day",
                link=f"models/{name}",
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

"""``keel.monitor.skew``: the training-serving skew of a served model, from its prediction log.

The rows model ``NAME`` served in a time range are read from its prediction log
(:class:`~keel.monitor.PredictionLog`: entity keys, request fields, every feature under its
output name and ``feature_status``), grouped by the version that served them, each
group with the features its version was registered with (``ModelVersion.feature_service``
and the snapshot stored with it, resolved against today's definitions), or all rows with
the service passed; each group is compared with the point-in-time join by
:func:`keel.features.skew_of`. The semantics (reasons, tolerance, verdict) are documented
there and in docs/features.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keel.errors import KeelError, UsageError, did_you_mean
from keel.features import (
    FEATURE_STATUS_COLUMN,
    SKEW_TOLERANCE,
    Definitions,
    FeatureService,
    FeatureSkew,
    Plan,
    SkewReport,
    load_definitions,
    service_plan,
    skew_of,
)
from keel.monitor._predlog import PREDICTION_COLUMNS, PredictionLog
from keel.monitor._windows import parse_time

if TYPE_CHECKING:
    import polars as pl

    from keel.tracking import Project

__all__ = ["skew"]


def skew(
    model: str,
    *,
    since: str | datetime | None = "1d",
    until: str | datetime | None = None,
    service: str | None = None,
    definitions: Definitions | None = None,
    max_share: float | None = None,
    tolerance: float = SKEW_TOLERANCE,
    examples: int = 3,
    project: Project | None = None,
) -> SkewReport:
    """Per feature, the share of the values model ``model`` served in ``[since, until)`` that
    differ from the point-in-time join at the logged request times, and why.

    ``since``/``until``: datetimes, ISO dates, or spans back from now (``"1d"``, the
    default; ``since=None`` reads the whole log). ``service`` names the feature service the
    rows were served with (default: each logged version's, from the registry).
    ``max_share`` (default: ``keel.toml`` ``[features] skew_max_share``, 0.01) decides the
    verdict: a feature fails when its share exceeds it.
    """
    import polars as pl

    from keel.tracking import open_project

    project = project or open_project()
    limit = project.config.features_skew_max_share if max_share is None else max_share
    now = datetime.now(UTC)
    low, high = parse_time(since, now=now), parse_time(until, now=now)
    if low is not None and high is not None and low >= high:
        raise UsageError(
            f"--since ({low:%Y-%m-%d %H:%M}) is not before --until ({high:%Y-%m-%d %H:%M})."
        )
    log = PredictionLog(project.artifacts, model)
    _require_model(project, log)
    unused = [c for c in PREDICTION_COLUMNS if c not in ("time", "version")]  # the answers
    frame = log.scan(since=low, until=high).select(pl.exclude(unused)).collect()
    if frame.height == 0:
        raise UsageError(
            f"the prediction log of model {model!r} has no predictions{_span(low, high)}.",
            hint=_last_logged(log) + "Widen --since/--until.",
        )
    defs = definitions if definitions is not None else load_definitions(start=project.config.root)
    reports = [
        replace(
            skew_of(
                rows,
                features,
                definitions=defs,
                max_share=limit,
                tolerance=tolerance,
                examples=examples,
                project=project,
            ),
            services=(name,),
        )
        for name, features, rows in _groups(project, model, frame, service, defs)
    ]
    versions = (
        frame.get_column("version").drop_nulls().unique().sort().to_list()
        if "version" in frame.columns
        else []
    )
    return replace(
        _merged(reports, examples),
        model=model,
        since=low,
        until=high,
        versions=tuple(int(v) for v in versions),
    )


def _require_model(project: Project, log: PredictionLog) -> None:
    """Refuse a model that is neither registered nor logged, naming the closest one."""
    known = {m.name for m in project.metadata.models.models()}
    if log.name in known or log.files():
        return
    fs, folder = log.artifacts.fs, log.root.rsplit("/", 1)[0]  # every model's log
    if fs.exists(folder):  # only on this error path: every file of every log is listed
        prefix = len(folder.rstrip("/")) + 1
        known.update(path[prefix:].split("/", 1)[0] for path in fs.find(folder))
    raise UsageError(
        f"no model {log.name!r}: it is not in the registry and has no prediction log.",
        hint=did_you_mean(log.name, known),
    )


def _groups(
    project: Project, model: str, frame: pl.DataFrame, service: str | None, defs: Definitions
) -> list[tuple[str, FeatureService | Plan, pl.DataFrame]]:
    """The rows per feature service: all of them with the one given, else each logged
    version's rows with the features it was registered with (its stored snapshot, resolved
    against the definitions as they are now: what it served, whatever the service says
    today)."""
    import polars as pl

    if service is not None:
        return [(service, defs.service(service), frame)]
    logged = FEATURE_STATUS_COLUMN in frame.columns
    versions = (
        frame.get_column("version").unique().sort().to_list()
        if "version" in frame.columns
        else [None]
    )
    named = {v: _service_of(project, model, v) for v in versions}
    unnamed = [str(v) for v, s in named.items() if s is None]
    if unnamed and not logged:
        raise UsageError(
            f"the prediction log of model {model!r} holds no feature columns (no "
            f"{FEATURE_STATUS_COLUMN!r}): version(s) {', '.join(unnamed)} were served without a "
            "feature service, so there are no served features to compare.",
            hint="Register the model with its feature service and serve it, or pass the "
            "service the rows were served with: --service NAME.",
        )
    if unnamed:
        raise UsageError(
            f"version(s) {', '.join(unnamed)} of model {model!r} name no feature service in "
            "the registry, but their logged rows hold features.",
            hint="Pass the service they were served with: --service NAME.",
        )
    groups: list[tuple[str, FeatureService | Plan, pl.DataFrame]] = []
    for version, found in named.items():
        assert found is not None
        name, snapshot = found
        rows = frame.filter(pl.col("version") == version) if version is not None else frame
        groups.append((name, service_plan(snapshot, defs), rows))
    return groups


def _service_of(project: Project, model: str, version: Any) -> tuple[str, dict[str, Any]] | None:
    """The feature service registered with one version of ``model`` and its snapshot (None:
    none, or the version is not in the registry)."""
    if version is None:
        return None
    try:
        found = project.metadata.models.get_version(model, int(version))
        if found.feature_service is None:
            return None
        snapshot = project.metadata.models.feature_snapshot(model, int(version))
    except KeelError:
        return None
    return None if snapshot is None else (found.feature_service, snapshot)


def _merged(reports: Sequence[SkewReport], examples: int) -> SkewReport:
    """One report of the rows of several services (features by name, counts summed)."""
    first = reports[0]
    if len(reports) == 1:
        return first
    features: dict[str, FeatureSkew] = {}
    for report in reports:
        for item in report.features:
            held = features.get(item.feature)
            features[item.feature] = item if held is None else held.merged(item, examples)
    return replace(
        first,
        rows=sum(r.rows for r in reports),
        features=tuple(features.values()),
        services=tuple(dict.fromkeys(s for r in reports for s in r.services)),
    )


def _span(low: datetime | None, high: datetime | None) -> str:
    if low and high:
        return f" from {low:%Y-%m-%d %H:%M} to {high:%Y-%m-%d %H:%M} UTC"
    if low:
        return f" since {low:%Y-%m-%d %H:%M} UTC"
    return f" before {high:%Y-%m-%d %H:%M} UTC" if high else ""


def _last_logged(log: PredictionLog) -> str:
    import polars as pl

    files = log.files()
    if not files:
        return f"It has no prediction log yet (keel serve {log.name}, then send requests). "
    last = log.scan_files(files[-3:]).select(pl.col("time").max()).collect().item()
    return f"Its latest logged prediction is at {last:%Y-%m-%d %H:%M} UTC. " if last else ""


def report_skew(
    model: str,
    *,
    since: datetime | None,
    until: datetime | None,
    columns: Sequence[str],
    version: int | None,
    project: Project,
) -> SkewReport | dict[str, Any] | None:
    """The skew section of ``keel monitor report``: None when the model serves no features
    (its log holds no ``feature_status`` and its version names no feature service), else
    the skew over the report's range, or what stopped it being measured (``error`` and
    ``hint``: the rest of the report stands)."""
    if FEATURE_STATUS_COLUMN not in columns and _service_of(project, model, version) is None:
        return None
    try:
        return skew(model, since=since, until=until, project=project)
    except KeelError as exc:
        return {"error": exc.message, "hint": exc.hint}

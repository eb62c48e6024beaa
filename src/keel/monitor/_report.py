"""``keel monitor report NAME``: a served model's prediction log, window by window.

For each time window (aligned to UTC, see :mod:`keel.monitor._windows`): drift of every
input column from the model's reference, data quality (:mod:`keel.monitor._quality`), and
performance, measured where labels arrived and estimated from confidence where they did
not (:mod:`keel.monitor._performance`). Over the whole range: performance and drift per
slice of a column, and the champion against the challenger (canary or shadow) on the same
traffic. :func:`keel.monitor.check` turns thresholds into alerts.

The JSON of :meth:`MonitorReport.to_dict` is documented in docs/monitoring.md
("Monitoring a served model") and stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keel.contracts import open_data
from keel.errors import KeelError, UsageError, did_you_mean
from keel.grammar import Duration, Reference, format_duration, prefix_kind
from keel.monitor._alerts import Alert, Thresholds, check
from keel.monitor._cache import ReportCache
from keel.monitor._drift import DriftResult
from keel.monitor._performance import (
    Task,
    agreement,
    estimated_metrics,
    labelled,
    measured_metrics,
    performance_difference,
)
from keel.monitor._predlog import PREDICTION_COLUMNS, FeedbackLog, PredictionLog
from keel.monitor._profile import Bins, Profile, profile_many, reference_bins
from keel.monitor._profile_drift import drift_of_profiles
from keel.monitor._quality import quality_queries, window_quality
from keel.monitor._reference import MODEL_OUTPUTS  # the model's answers, drifted like inputs
from keel.monitor._report_html import monitor_report_html
from keel.monitor._skew import report_skew
from keel.monitor._windows import (
    Window,
    drift_by_window,
    parse_time,
    parse_window,
    plan_windows,
    profiles_by_window,
    window_files,
    window_key,
    window_scans,
)

if TYPE_CHECKING:
    import polars as pl

    from keel.features import SkewReport
    from keel.tracking import Project

__all__ = ["MonitorReport", "WindowReport", "report"]

MAX_SLICES = 20
_CHALLENGERS = ("challenger", "shadow")


@dataclass(frozen=True)
class WindowReport:
    """One window: its rows' profile, drift, quality and performance."""

    start: datetime
    end: datetime
    profile: Profile
    drift: list[DriftResult] | None
    summary: Mapping[str, Any] | None
    quality: Mapping[str, Any]
    performance: Mapping[str, Any] | None = None
    estimated_performance: Mapping[str, Any] | None = None

    @property
    def rows(self) -> int:
        return self.profile.rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "drifted": None if self.summary is None else bool(self.summary["drifted"]),
            "share": None if self.summary is None else self.summary["share"],
            "columns": [_drift_dict(r) for r in self.drift or []],
            "quality": dict(self.quality),
            "performance": None if self.performance is None else dict(self.performance),
            "estimated_performance": (
                None if self.estimated_performance is None else dict(self.estimated_performance)
            ),
        }


@dataclass(frozen=True)
class MonitorReport:
    """A served model's report over a time range; :meth:`to_dict` is the documented JSON."""

    model: str
    since: datetime
    until: datetime
    window: str
    task: str
    reference: Mapping[str, Any]
    reference_profile: Profile
    bins: dict[str, Bins]
    windows: list[WindowReport]
    slices: Mapping[str, Any] = field(default_factory=dict)
    champion_vs_challenger: Mapping[str, Any] | None = None
    alerts: list[Alert] = field(default_factory=list)
    skew: SkewReport | Mapping[str, Any] | None = None
    """Training-serving skew when the model serves features (else None), or why it could
    not be measured (``{"error", "hint"}``)."""

    @property
    def latest(self) -> WindowReport | None:
        """The latest window with traffic."""
        busy = [w for w in self.windows if w.rows]
        return busy[-1] if busy else None

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window": self.window,
            "task": self.task,
            "rows": self.rows,
            "reference": dict(self.reference),
            "windows": [w.to_dict() for w in self.windows],
            "slices": dict(self.slices),
            "champion_vs_challenger": (
                None if self.champion_vs_challenger is None else dict(self.champion_vs_challenger)
            ),
            "alerts": [a.to_dict() for a in self.alerts],
            "skew": _skew_dict(self.skew),
        }

    def to_html(self, *, title: str | None = None) -> str:
        """The report of ``keel monitor report --html``: a self-contained HTML page (drift,
        data quality and performance over time, slices, champion against challenger)."""
        return monitor_report_html(self, title=title)

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())

    def __repr__(self) -> str:
        busy = sum(1 for w in self.windows if w.rows)
        alerts = ", ".join(sorted({a.kind for a in self.alerts})) or "none"
        return (
            f"<MonitorReport {self.model!r} {self.since:%Y-%m-%d %H:%M} to "
            f"{self.until:%Y-%m-%d %H:%M}: {self.rows:,} predictions in {busy} of "
            f"{len(self.windows)} windows of {self.window}; alerts: {alerts}>"
        )


def _skew_dict(found: SkewReport | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return dict(found) if isinstance(found, Mapping) else found.to_dict()


def _drift_dict(r: DriftResult) -> dict[str, Any]:
    return {**r.to_dict(), "new_categories": bool(r.detail.get("new_categories", False))}


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class _Selection:
    """The log rows a report covers and how to read them."""

    log: PredictionLog
    since: datetime | None
    until: datetime | None
    first: datetime
    last: datetime
    inputs: list[str]
    schema: Any
    facts: Mapping[str, Any]
    files: list[str]

    def scan(self) -> pl.LazyFrame:
        """The selected rows, lazily."""
        return _bounded(self.log.scan_files(self.files), self.since, self.until)


def report(
    name: str,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    window: str | timedelta | Duration = "1h",
    reference: Any = None,
    slice_by: str | None = None,
    thresholds: Thresholds | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    project: Project | None = None,
    cache: ReportCache | None = None,
) -> MonitorReport:
    """Monitor model ``name`` over its prediction log, window by window.

    ``since``/``until`` bound the range (datetimes, ISO dates, or spans back from now such
    as ``"24h"``; without ``until`` the range ends now if ``since`` is given, else at the last
    logged prediction). ``window`` is a length such as ``"15m"``, ``"1h"`` or ``"1d"``.
    ``reference`` is data (a frame or path), a :class:`Profile`, or ``"model:NAME/3"`` /
    ``"data:NAME/2"``; by default, the stored reference of the model version the champion
    served last. ``slice_by`` names a column to break performance and drift down by.
    ``thresholds`` (default: drift only) decide :attr:`MonitorReport.alerts`. With a
    ``cache`` (:class:`ReportCache`, kept between calls), windows whose log files did not
    change since an earlier report are not profiled or tested again.
    """
    from keel.tracking import open_project

    project = project or open_project()
    log = PredictionLog(project.artifacts, name)
    _require_model(log, project)
    selection = _select(log, since, until, window)
    width = parse_window(window)
    ref_profile, bins, ref_info = _reference(reference, selection, name, project)
    windows = plan_windows(selection.first, selection.last, width)
    profiles, drift = _windows_drift(
        selection, windows, reference=ref_profile, bins=bins, alpha=alpha, seed=seed, cache=cache
    )
    monitored = list(bins)
    counts, broken = quality_queries(selection.scan(), width, monitored)
    quality = _quality(windows, profiles, monitored, counts, broken)
    task = _task(project, name, selection)
    sliced = _slice_key(slice_by, selection, bins) if slice_by is not None else None
    keys = [window_key(width)] + ([sliced[0]] if sliced is not None else [])
    traffic = selection.scan().with_columns(keys)
    feedback = FeedbackLog(project.artifacts, name).scan(since=selection.since)
    answered = labelled(traffic, feedback).collect()  # every role's labelled records
    served = traffic.filter(_champion_rows(selection))
    estimated = estimated_metrics(served, ["_window"], task)
    measured = measured_metrics(answered.filter(_champion_rows(selection)), ["_window"], task)
    reports = [
        WindowReport(
            start=w.start,
            end=w.end,
            profile=p,
            drift=None if d is None else d[0],
            summary=None if d is None else d[1],
            quality=q,
            performance=_with_rows(measured.get((w.index,)), estimated.get((w.index,))),
            estimated_performance=_estimated_only(estimated.get((w.index,))),
        )
        for w, p, d, q in zip(windows, profiles, drift, quality, strict=True)
    ]
    slices = {}
    if slice_by is not None and sliced is not None:
        slices = _slices(
            slice_by,
            sliced,
            served=served,
            answered=answered.filter(_champion_rows(selection)),
            task=task,
            reference=ref_profile,
            reference_data=_reference_data(reference),
            bins=bins,
            alpha=alpha,
            seed=seed,
        )
    duel = None
    if selection.facts["challenger_rows"] and selection.facts["champion_rows"]:
        duel = _champion_vs_challenger(traffic, answered, task, windows, selection.schema)
    result = MonitorReport(
        model=name,
        since=windows[0].start if selection.since is None else selection.since,
        until=windows[-1].end if selection.until is None else selection.until,
        window=format_duration(width),
        task=task.kind,
        reference=ref_info,
        reference_profile=ref_profile,
        bins=bins,
        windows=reports,
        slices=slices,
        champion_vs_challenger=duel,
        skew=report_skew(
            name,
            since=selection.since,
            until=selection.until,
            columns=selection.schema.names(),
            version=_served_version(selection),
            project=project,
        ),
    )
    return replace(result, alerts=check(result, thresholds))


def _windows_drift(
    selection: _Selection,
    windows: Sequence[Window],
    *,
    reference: Profile,
    bins: dict[str, Bins],
    alpha: float,
    seed: int,
    cache: ReportCache | None,
) -> tuple[list[Profile], list[tuple[list[DriftResult], dict[str, Any]] | None]]:
    """Each window's profile and drift from ``reference``; with ``cache``, only the windows
    it does not hold are profiled and tested."""

    def profiled(indices: Sequence[int]) -> list[Profile]:
        scans = window_scans(
            selection.log,
            selection.files,
            [windows[i] for i in indices],
            selection.schema,
            since=selection.since,
            until=selection.until,
        )
        return profiles_by_window(scans, bins)

    if cache is None:
        profiles = profiled(range(len(windows)))
        return profiles, drift_by_window(reference, profiles, bins, alpha=alpha, seed=seed)
    named = window_files(selection.files, windows, since=selection.since, until=selection.until)
    profiles = cache.profiles(named, bins, profiled)

    def tested(i: int) -> tuple[list[DriftResult], dict[str, Any]] | None:
        return drift_by_window(reference, [profiles[i]], bins, alpha=alpha, seed=seed)[0]

    drift = cache.drift(named, reference, (tuple(bins), alpha, seed), tested)
    return profiles, drift


def _require_model(log: PredictionLog, project: Project) -> None:
    """A model with neither a prediction log nor a registry entry is a misspelled name: say
    so, with the closest of the registered and logged models, before "no predictions"."""
    if log.artifacts.fs.exists(log.root):
        return
    registered = {m.name for m in project.metadata.models.models()}
    if log.name in registered:
        return  # registered, never served: "no predictions" says what to do
    folder = log.root.rsplit("/", 1)[0]
    fs = log.artifacts.fs
    # only on this error path: walking every log's files is fine when a name is wrong
    found = fs.find(folder) if fs.exists(folder) else []
    logged = {p[len(folder) :].strip("/").split("/", 1)[0] for p in found}
    raise UsageError(
        f"unknown model {log.name!r}: it is not registered and has no prediction log.",
        hint=did_you_mean(log.name, registered | logged),
    )


def _select(
    log: PredictionLog,
    since: str | datetime | None,
    until: str | datetime | None,
    window: str | timedelta | Duration,
) -> _Selection:

    parse_window(window)  # a bad window fails before any reading
    now = datetime.now(UTC)
    low, high = parse_time(since, now=now), parse_time(until, now=now)
    if low is not None and high is not None and low >= high:
        raise UsageError(
            f"--since ({low:%Y-%m-%d %H:%M}) is not before --until ({high:%Y-%m-%d %H:%M})."
        )
    files = log.files(since=low, until=high)
    frame = _bounded(log.scan_files(files), low, high)
    schema = frame.collect_schema()
    facts = _facts(frame, schema)
    count, first, last = facts["rows"], facts["first"], facts["last"]
    if not count:
        span = _span_text(low, high)
        raise UsageError(
            f"the prediction log of model {log.name!r} has no predictions{span}.",
            hint=f"Serve the model (keel serve {log.name}) and send it requests, or widen "
            "--since/--until.",
        )
    inputs = [c for c in schema.names() if c not in PREDICTION_COLUMNS]
    end = high or (max(now, last + timedelta(microseconds=1)) if low else None)
    return _Selection(
        log=log,
        since=low,
        until=high,
        first=low or first,
        last=end or last + timedelta(microseconds=1),
        inputs=inputs,
        schema=schema,
        facts=facts,
        files=files,
    )


def _bounded(frame: pl.LazyFrame, low: datetime | None, high: datetime | None) -> pl.LazyFrame:
    import polars as pl

    if low is not None:
        frame = frame.filter(pl.col("time") >= low)
    if high is not None:
        frame = frame.filter(pl.col("time") < high)
    return frame


def _facts(frame: pl.LazyFrame, schema: Any) -> dict[str, Any]:
    """What the report needs to know of the whole selection, in one pass: rows, first and
    last time, rows the champion answered, the version the champion (else anyone) served
    last, and how many rows carry a score and a confidence."""
    import polars as pl

    def known(name: str) -> bool:
        return name in schema and not isinstance(schema[name], pl.Null)

    time = pl.col("time")
    champion = pl.col("role") == "champion" if known("role") else pl.lit(False)
    exprs = [
        pl.len().alias("rows"),
        time.min().alias("first"),
        time.max().alias("last"),
        champion.sum().alias("champion_rows"),
        (pl.col("role").is_in(list(_CHALLENGERS)).sum() if known("role") else pl.lit(0)).alias(
            "challenger_rows"
        ),
    ]
    if known("version"):
        version = pl.col("version").cast(pl.Int64, strict=False)
        exprs += [
            version.filter(champion)
            .top_k_by(time.filter(champion), 1)
            .first()
            .alias("champion_version"),
            version.top_k_by(time, 1).first().alias("last_version"),
        ]
    for name in ("score", "confidence"):
        exprs.append((pl.col(name).count() if known(name) else pl.lit(0)).alias(f"{name}s"))
    empty = {"champion_version": None, "last_version": None}
    return empty | frame.select(exprs).collect().row(0, named=True)


def _span_text(low: datetime | None, high: datetime | None) -> str:
    if low and high:
        return f" from {low:%Y-%m-%d %H:%M} to {high:%Y-%m-%d %H:%M} UTC"
    if low:
        return f" since {low:%Y-%m-%d %H:%M} UTC"
    if high:
        return f" before {high:%Y-%m-%d %H:%M} UTC"
    return ""


# --------------------------------------------------------------------------- reference


def _reference(
    reference: Any, selection: _Selection, name: str, project: Project
) -> tuple[Profile, dict[str, Bins], dict[str, Any]]:
    if reference is None:
        version = _served_version(selection)
        ref = Reference("model", name, version, None if version is not None else "champion")
        found = _stored(ref.qualified, project)
        if found is None:
            raise UsageError(
                f"model {ref} has no stored reference profile to monitor against.",
                hint=f"Pass --reference DATA (its training data), or store one with "
                f"`keel monitor reference set {ref} DATA`.",
            )
        return _restrict(found, selection, ref.qualified)
    if isinstance(reference, Profile):
        return _restrict(reference, selection, "profile")
    if isinstance(reference, str) and prefix_kind(reference) is not None:
        found = _stored(reference, project)
        if found is None:
            raise UsageError(
                f"{reference} has no stored reference profile.",
                hint="Store one with `keel monitor reference set`, or pass the data itself.",
            )
        return _restrict(found, selection, reference)
    frame = open_data(reference)
    names = frame.collect_schema().names()
    columns = [c for c in selection.inputs if c in names]
    if not columns:
        raise UsageError(
            "the reference data shares no column with the prediction log's inputs.",
            hint=f"The log's inputs: {', '.join(selection.inputs) or '(none)'}; the "
            f"reference's columns: {', '.join(names) or '(none)'}.",
        )
    bins = reference_bins(frame, columns=columns)
    (profiled,) = profile_many([frame], bins)
    source = reference if isinstance(reference, str) else "data"
    return profiled, bins, _ref_info(str(source), profiled)


def _reference_data(reference: Any) -> pl.LazyFrame | None:
    """The reference as rows, when it was given as data (slices can then be matched)."""
    if reference is None or isinstance(reference, Profile):
        return None
    if isinstance(reference, str) and prefix_kind(reference) is not None:
        return None
    found: pl.LazyFrame = open_data(reference)
    return found


def _stored(ref: str, project: Project) -> Profile | None:
    try:
        from keel.monitor import _reference as stored
    except ImportError:  # stored references are not available in this installation
        return None
    found = stored.find_reference(ref, project=project)
    return None if found is None else found.profile


def _served_version(selection: _Selection) -> int | None:
    """The version the champion served last in the range (any role if none says so)."""
    facts = selection.facts
    found = facts["champion_version"] if facts["champion_rows"] else facts["last_version"]
    return None if found is None else int(found)


def _restrict(
    profile: Profile, selection: _Selection, source: str
) -> tuple[Profile, dict[str, Bins], dict[str, Any]]:
    """The reference's columns the log has, with their bins: inputs, and the model's
    outputs (``prediction``, ``score``) when the reference profiled them."""
    logged = {*selection.inputs, *(c for c in MODEL_OUTPUTS if c in selection.schema)}
    if source.startswith("model:"):
        _require_inputs(profile, selection, source)
    columns = {
        name: c for name, c in profile.columns.items() if name in logged and c.bins is not None
    }
    if not columns:
        raise UsageError(
            f"the reference ({source}) shares no column with the prediction log's inputs.",
            hint=f"The log's inputs: {', '.join(selection.inputs) or '(none)'}; the "
            f"reference's: {', '.join(profile.columns) or '(none)'}.",
        )
    restricted = Profile(columns=columns, rows=profile.rows)
    bins = {name: c.bins for name, c in columns.items() if c.bins is not None}
    return restricted, bins, _ref_info(source, restricted)


def _require_inputs(profile: Profile, selection: _Selection, source: str) -> None:
    """A model version's reference covers its input contract, which serving logs in full:
    an input column the log lacks (another version's contract, say) is named, not left out
    of the drift as if it had not drifted."""
    logged = set(selection.inputs)
    missing = [
        name
        for name, column in profile.columns.items()
        if name not in logged and name not in MODEL_OUTPUTS and column.bins is not None
    ]
    if missing:
        raise UsageError(
            f"the prediction log of model {selection.log.name!r} lacks input column(s) "
            f"{', '.join(missing)} that the reference ({source}) profiles: their drift "
            "cannot be measured.",
            hint="Monitor against the reference of the version that served (the default), "
            "or pass --reference DATA. The log's inputs: "
            f"{', '.join(selection.inputs) or '(none)'}.",
        )


def _ref_info(source: str, profile: Profile) -> dict[str, Any]:
    return {"source": source, "rows": profile.rows, "columns": list(profile.columns)}


# --------------------------------------------------------------------------- quality


def _quality(
    windows: Sequence[Window],
    profiles: Sequence[Profile],
    columns: Sequence[str],
    counts: pl.LazyFrame,
    broken: pl.LazyFrame,
) -> list[dict[str, Any]]:
    import polars as pl

    found, violations = pl.collect_all([counts, broken])
    by_window = {row["_window"]: row for row in found.iter_rows(named=True)}
    texts: dict[int, list[tuple[str, int]]] = {}
    for index, text, n in violations.iter_rows():
        texts.setdefault(index, []).append((text, int(n)))
    return [
        window_quality(p, columns, by_window.get(w.index), texts.get(w.index, []))
        for w, p in zip(windows, profiles, strict=True)
    ]


# --------------------------------------------------------------------------- performance


def _task(project: Project, name: str, selection: _Selection) -> Task:
    """Classification or regression: from the served version's manifest, else the log."""
    kind: str | None = None
    classes: list[Any] | None = None
    version = _served_version(selection)
    try:
        import yaml

        found = project.metadata.models.get_version(name, version)
        manifest = yaml.safe_load(project.artifacts.get_bytes(found.manifest).decode("utf-8"))
        kind, classes = manifest.get("task"), manifest.get("classes")
    except (KeelError, OSError, ValueError, AttributeError):
        pass  # a log written without the registry: decide from the log
    present = {"score": selection.facts["scores"], "confidence": selection.facts["confidences"]}
    if kind is None:
        prediction = selection.schema.get("prediction")
        numeric = prediction is not None and prediction.is_float()
        kind = "classification" if any(present.values()) or not numeric else "regression"
    if kind != "classification":
        return Task("regression")
    binary = bool(present.get("score")) or (classes is not None and len(classes) == 2)
    positive = classes[-1] if classes is not None and len(classes) == 2 else None
    if binary and positive is None:
        positive = _positive_class(selection)
    return Task("classification", binary=binary, positive=positive)


def _positive_class(selection: _Selection) -> Any:
    """The class a binary classifier's score is the probability of, read from the log: the
    prediction where the score says "positive" (1 if the log never predicted it)."""
    import polars as pl

    from keel.monitor._performance import predicted_positive

    found = (
        selection.scan()
        .filter(pl.col("score").is_not_null() & predicted_positive())
        .select(pl.col("prediction").drop_nulls().mode().sort().first())
        .collect()
    )
    value = found.item() if found.height else None
    return 1 if value is None else value


def _champion_rows(selection: _Selection) -> pl.Expr:
    """Rows the champion answered; every row if the log names no champion."""
    import polars as pl

    return pl.col("role") == "champion" if selection.facts["champion_rows"] else pl.lit(True)


def _with_rows(
    measured: Mapping[str, Any] | None, estimated: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if measured is None:
        return None
    return {"rows": (estimated or {}).get("rows", measured["labelled"]), **measured}


def _estimated_only(estimated: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(estimated) if estimated and estimated.get("estimated") else None


# --------------------------------------------------------------------------- slices


def _slice_key(
    column: str, selection: _Selection, bins: Mapping[str, Bins]
) -> tuple[pl.Expr, list[str]]:
    """The slice label of each row and the labels to report (at most :data:`MAX_SLICES`).

    A numeric column the reference binned is sliced by its reference bins; any other column
    by value (the most frequent ones; the rest are ``(other)``).
    """
    import polars as pl

    schema = selection.schema
    if column not in schema:
        raise UsageError(
            f"cannot slice by {column!r}: the prediction log has no such column.",
            hint=did_you_mean(column, schema.names()),
        )
    found = bins.get(column)
    if (
        found is not None
        and found.kind == "numeric"
        and found.edges
        and schema[column].is_numeric()
    ):
        labels = list(found.labels)
        x = pl.col(column).cast(pl.Float64)
        index = pl.sum_horizontal([(x >= e).cast(pl.Int32) for e in found.edges])
        key = (
            pl.when(x.is_null() | x.is_nan())
            .then(pl.lit("(null)"))
            .otherwise(index.replace_strict(dict(enumerate(labels)), return_dtype=pl.String))
        )
        labels.append("(null)")
        return key.alias("_slice"), labels
    key = pl.col(column).cast(pl.String).fill_null("(null)")
    counts = (
        selection.scan()
        .select(key.alias("_slice"))
        .group_by("_slice")
        .len()
        .sort(["len", "_slice"], descending=[True, False])
        .collect()
    )
    values = counts["_slice"].to_list()
    if len(values) > MAX_SLICES:
        kept = values[: MAX_SLICES - 1]
        key = pl.when(key.is_in(kept)).then(key).otherwise(pl.lit("(other)"))
        values = [*sorted(kept), "(other)"]
    return key.alias("_slice"), sorted(values) if len(values) <= MAX_SLICES else values


def _slices(
    column: str,
    slicing: tuple[pl.Expr, list[str]],
    *,
    served: pl.LazyFrame,
    answered: pl.DataFrame,
    task: Task,
    reference: Profile,
    reference_data: pl.LazyFrame | None,
    bins: dict[str, Bins],
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    """Per slice of ``column`` (the champion's answers ``served``, the labelled ones
    ``answered``, both with a ``_slice`` column): rows, performance, and drift of the monitored
    columns but ``column`` itself. Each slice is compared with the same slice of the
    reference data when the reference was given as data holding ``column``, else with the
    whole reference."""
    import polars as pl

    key, labels = slicing
    estimated = estimated_metrics(served, ["_slice"], task)
    measured = measured_metrics(answered, ["_slice"], task)
    kept = {name: b for name, b in bins.items() if name != column}
    profiles = profile_many([served.filter(pl.col("_slice") == label) for label in labels], kept)
    matched = reference_data is not None and column in reference_data.collect_schema()
    if reference_data is not None and matched:
        marked = reference_data.with_columns(key)
        references = profile_many([marked.filter(pl.col("_slice") == v) for v in labels], kept)
    else:
        whole = Profile({name: reference.columns[name] for name in kept}, reference.rows)
        references = [whole] * len(labels)
    values = []
    for label, profiled, ref in zip(labels, profiles, references, strict=True):
        if label == "(null)" and not profiled.rows:
            continue
        results = None
        if profiled.rows and ref.rows and kept:
            results = drift_of_profiles(ref, profiled, kept, alpha=alpha, seed=seed)
        values.append(
            {
                "value": label,
                "rows": profiled.rows,
                "drifted": None if results is None else bool(results[1]["drifted"]),
                "share": None if results is None else results[1]["share"],
                "columns": [_drift_dict(r) for r in results[0]] if results else [],
                "performance": _with_rows(measured.get((label,)), estimated.get((label,))),
                "estimated_performance": _estimated_only(estimated.get((label,))),
            }
        )
    return {"column": column, "reference": "slice" if matched else "whole", "values": values}


# --------------------------------------------------------------------------- champion vs challenger


def _champion_vs_challenger(
    traffic: pl.LazyFrame,
    answered: pl.DataFrame,
    task: Task,
    windows: Sequence[Window],
    schema: Any,
) -> dict[str, Any] | None:
    import polars as pl

    if "role" not in schema:
        return None
    role = (
        pl.when(pl.col("role") == "champion")
        .then(pl.lit("champion"))
        .when(pl.col("role").is_in(list(_CHALLENGERS)))
        .then(pl.lit("challenger"))
        .alias("_role")
    )
    both = traffic.with_columns(role).filter(pl.col("_role").is_not_null())
    roles = both.group_by("_role", "role").agg(
        pl.col("version").drop_nulls().unique().sort() if "version" in schema else pl.lit(None)
    )
    found = roles.collect()
    seen = {r["_role"] for r in found.iter_rows(named=True)}
    if seen != {"champion", "challenger"}:
        return None
    versions: dict[str, list[Any]] = {"champion": [], "challenger": []}
    modes = set()
    for r in found.iter_rows(named=True):
        versions[r["_role"]] += list(r["version"] or [])
        if r["_role"] == "challenger":
            modes.add("shadow" if r["role"] == "shadow" else "canary")
    rows = answered.with_columns(role).filter(pl.col("_role").is_not_null())
    overall = _duel(
        estimated_metrics(both, ["_role"], task), measured_metrics(rows, ["_role"], task), ()
    )
    per_window_est = estimated_metrics(both, ["_window", "_role"], task)
    per_window_meas = measured_metrics(rows, ["_window", "_role"], task)
    per_window = []
    for w in windows:
        duel = _duel(per_window_est, per_window_meas, (w.index,))
        per_window.append({"start": w.start.isoformat(), "end": w.end.isoformat(), **duel})
    count, rate = agreement(
        both.filter(pl.col("_role") == "champion"), both.filter(pl.col("role") == "shadow")
    )
    return {
        "mode": modes.pop() if len(modes) == 1 else "mixed",
        "champion_versions": sorted(set(versions["champion"])),
        "challenger_versions": sorted(set(versions["challenger"])),
        "overall": overall,
        "agreement": {"records": count, "rate": rate} if count else None,
        "windows": per_window,
    }


def _duel(
    estimated: Mapping[Any, dict[str, Any]],
    measured: Mapping[Any, dict[str, Any]],
    prefix: tuple[Any, ...],
) -> dict[str, Any]:
    """Both sides measured when both have labels, else both estimated (like with like)."""
    keys = (*prefix, "champion"), (*prefix, "challenger")
    if all(k in measured for k in keys):
        champion, challenger = (_with_rows(measured[k], estimated.get(k)) for k in keys)
    else:
        champion, challenger = (_comparable(estimated.get(k)) for k in keys)
    return {
        "champion": champion,
        "challenger": challenger,
        "difference": performance_difference(champion, challenger),
    }


def _comparable(estimated: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The estimate where there is one, else just the row count (``None`` without rows)."""
    if estimated is None:
        return None
    return _estimated_only(estimated) or {"rows": estimated["rows"]}

"""The monitoring pages' data: served models, and one model's report window by window.

A model's page is ``keel monitor report NAME --format json`` (:meth:`MonitorReport.to_dict`,
computed by :func:`keel.monitor.report`, never here) with what the page draws from the same
report added around it: the drift ``heatmap`` (window x column, each score against its
threshold) and the ``distributions`` (reference and each window, per column, from the
profiles the report compared) that a click on a cell shows.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from keel.ui._views import NotFoundError

if TYPE_CHECKING:
    from keel.monitor import MonitorReport, ReportCache
    from keel.tracking import Project

__all__ = ["WINDOWS", "MonitorMemo", "choose_window", "monitor", "monitored", "panel_json"]

WINDOWS = ("15m", "1h", "6h", "1d", "1w")
"""The window lengths the page offers, shortest first."""
MOST_WINDOWS = 120
"""The page picks the shortest of :data:`WINDOWS` that cuts the log into at most this many."""
MOST_SHOWN = 1000
"""Windows one page shows at most (``window=`` finer than that over the whole log is refused)."""
WINDOWS_KEPT = 600
"""Windows whose profile and drift the app keeps (about 80 kB each for 50 columns)."""
_SOURCE = re.compile(r"^model:(?P<name>[^/@]+)/(?P<version>\d+)$")


class MonitorMemo:
    """What the app keeps between requests: window profiles and drift
    (:class:`keel.monitor.ReportCache`), and each page's data by the state it was read from
    (the log's files, which are never rewritten, and the model's newest registry event,
    which an alias move or a new reference profile adds): the last ``size`` pages, each
    megabytes for a 90 x 50 heatmap."""

    def __init__(self, size: int = 4) -> None:
        from keel.monitor import ReportCache

        self.cache: ReportCache = ReportCache(WINDOWS_KEPT)
        self.size = size
        self._pages: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> dict[str, Any] | None:
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
            return found

    def put(self, key: Hashable, data: dict[str, Any]) -> None:
        with self._lock:
            self._pages[key] = data
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def monitored(project: Project) -> list[dict[str, Any]]:
    """Every model with a prediction log: its files, first and last hour, and whether the
    registry knows it (and has a deployment spec)."""
    from keel.deploy import deployment_names
    from keel.monitor import FeedbackLog, PredictionLog

    registered = {m.name for m in project.metadata.models.models()}
    deployed = set(deployment_names(root=project.config.root))
    labelled = set(FeedbackLog.names(project.artifacts))
    found = []
    for name in PredictionLog.names(project.artifacts):
        log = PredictionLog(project.artifacts, name)
        files = log.files()
        hours = log.hours(files)
        found.append(
            {
                "name": name,
                "files": len(files),
                "first_hour": hours[0].isoformat() if hours else None,
                "last_hour": hours[1].isoformat() if hours else None,
                "feedback": name in labelled,
                "registered": name in registered,
                "deployed": name in deployed,
                "window": choose_window(project, name),
            }
        )
    return found


def choose_window(project: Project, name: str) -> str:
    """The shortest of :data:`WINDOWS` that cuts model ``name``'s log into at most
    :data:`MOST_WINDOWS` windows (from its files' hours: no row is read)."""
    span = _span(project, name)
    for window in WINDOWS:
        if span / _length(window) <= MOST_WINDOWS:
            return window
    return WINDOWS[-1]


def _span(project: Project, name: str) -> timedelta:
    """From the first to the end of the last hour of model ``name``'s log files."""
    from keel.monitor import PredictionLog

    hours = PredictionLog(project.artifacts, name).hours()
    return (hours[1] - hours[0] + timedelta(hours=1)) if hours else timedelta(hours=1)


def _length(window: str) -> timedelta:
    from keel.grammar import parse_duration

    return parse_duration(window, where="window").timedelta


def _check_size(project: Project, name: str, window: str, since: str | None) -> None:
    """A page of more than :data:`MOST_SHOWN` windows is refused (it would be megabytes
    that nobody reads); a range that starts later (``since``) may be finer."""
    from keel.errors import UsageError

    if since:
        return  # the report bounds the range; MAX_WINDOWS still applies there
    count = _span(project, name) / _length(window)
    if count > MOST_SHOWN:
        raise UsageError(
            f"windows of {window} cut the log of model {name!r} into about {count:,.0f} "
            f"windows; a page shows at most {MOST_SHOWN}.",
            hint=f"Choose a longer window (the default is {choose_window(project, name)}), "
            "or a later since.",
        )


def monitor(
    project: Project,
    name: str,
    *,
    window: str | None = None,
    since: str | None = None,
    until: str | None = None,
    slice_by: str | None = None,
    memo: MonitorMemo | None = None,
) -> dict[str, Any]:
    """Model ``name``'s report (``keel monitor report NAME --format json``) with its
    ``heatmap``, ``distributions``, the model ``versions`` it links to and the ``windows``
    the page offers. With ``memo``, an unchanged log is answered from memory."""
    from keel.monitor import PredictionLog

    if name not in PredictionLog.names(project.artifacts):
        raise NotFoundError(
            f"model {name!r} has no prediction log in this project.",
            hint="Serve it (keel serve NAME) and send it requests; /monitoring lists the "
            "models that have one.",
        )
    chosen = window or choose_window(project, name)
    _check_size(project, name, chosen, since)
    options = (name, chosen, since or None, until or None, slice_by or None)
    key = None if memo is None else _state(project, options)
    if memo is not None and key is not None:
        found = memo.get(key)
        if found is not None:
            return found
    result = _report(project, options, None if memo is None else memo.cache)
    data = result.to_dict() | {
        "heatmap": heatmap(result),
        "distributions": distributions(result),
        "versions": _versions(project, result),
        "windows_offered": list(WINDOWS),
        "slice_by": slice_by or None,
    }
    if memo is not None and key is not None:
        memo.put(key, data)
    return data


def _report(project: Project, options: tuple[Any, ...], cache: ReportCache | None) -> MonitorReport:
    """The report (a refused option or range is the request's error: HTTP 400)."""
    from keel.monitor import report

    name, window, since, until, slice_by = options
    return report(
        name,
        window=window,
        since=since,
        until=until,
        slice_by=slice_by,
        project=project,
        cache=cache,
    )


def _state(project: Project, options: tuple[Any, ...]) -> Hashable | None:
    """What a model's page was computed from; ``None`` when a relative range (``24h``)
    makes every request different."""
    from keel.monitor import FeedbackLog, PredictionLog

    name, _, since, until, _ = options
    if any(text and text.strip()[-1:].isalpha() for text in (since, until)):
        return None
    events = project.metadata.models.events(name) if _registered(project, name) else []
    return (
        options,
        tuple(PredictionLog(project.artifacts, name).files()),
        tuple(FeedbackLog(project.artifacts, name).files()),
        events[-1].id if events else None,
    )


def _registered(project: Project, name: str) -> bool:
    return any(m.name == name for m in project.metadata.models.models())


def heatmap(result: MonitorReport) -> dict[str, Any]:
    """Drift per column (rows) and window (columns): each cell's score, threshold, their
    ratio and the verdict, ``None`` for a window without traffic or a column not measured."""
    columns = list(result.bins)
    cells: dict[str, list[dict[str, Any] | None]] = {c: [] for c in columns}
    for window in result.windows:
        by_column = {r.column: r for r in window.drift or []}
        for column in columns:
            found = by_column.get(column)
            cells[column].append(None if found is None else _cell(found))
    return {
        "columns": columns,
        "starts": [w.start.isoformat() for w in result.windows],
        "rows": [w.rows for w in result.windows],
        "cells": [cells[c] for c in columns],
    }


def _cell(result: Any) -> dict[str, Any]:
    score, threshold = _finite(result.score), _finite(result.threshold)
    ratio = None
    if score is not None and threshold is not None and threshold > 0:
        ratio = score / threshold
    return {
        "score": score,
        "low": _finite(result.low),
        "high": _finite(result.high),
        "threshold": threshold,
        "ratio": ratio,
        "method": result.method,
        "drifted": bool(result.drifted),
    }


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def distributions(result: MonitorReport) -> dict[str, Any]:
    """Per column its bins' labels and the reference's counts, and per window each column's
    counts over the same bins (what the report compared)."""
    columns = list(result.bins)
    reference = result.reference_profile.columns
    return {
        "labels": {c: list(result.bins[c].labels) for c in columns},
        "kinds": {c: result.bins[c].kind for c in columns},
        "reference": {c: list(reference[c].counts) for c in columns},
        "windows": [
            [list(w.profile.columns[c].counts) if w.rows else None for c in columns]
            for w in result.windows
        ],
    }


def _versions(project: Project, result: MonitorReport) -> dict[str, Any]:
    """The model versions the report links to: the one whose reference it used, and the
    champion's and challenger's versions that served."""
    found: dict[str, Any] = {"reference": None, "champion": [], "challenger": []}
    match = _SOURCE.match(str(result.reference.get("source", "")))
    if match and match["name"] == result.model:
        found["reference"] = int(match["version"])
    duel = result.champion_vs_challenger
    if duel is not None:
        found["champion"] = [int(v) for v in duel.get("champion_versions", [])]
        found["challenger"] = [int(v) for v in duel.get("challenger_versions", [])]
    elif found["reference"] is not None:
        found["champion"] = [found["reference"]]
    found["registered"] = _registered(project, result.model)
    return found


def panel_json(data: dict[str, Any]) -> str:
    """What the page's script reads when a heatmap cell is clicked (each cell's verdict as
    ``[score, low, high, threshold, drifted]``, each column's method, the distributions), as
    compact JSON safe inside ``<script>``: numbers to 4 significant digits, enough to draw
    and to read (the API keeps them whole)."""
    heatmap = data["heatmap"]
    cells = [
        [None if c is None else [_short(c[k]) for k in _PANEL_KEYS] for c in row]
        for row in heatmap["cells"]
    ]
    methods = [next((c["method"] for c in row if c is not None), None) for row in heatmap["cells"]]
    shown = {
        "heatmap": {k: heatmap[k] for k in ("columns", "starts", "rows")}
        | {"methods": methods, "cells": cells},
        "distributions": data["distributions"],
    }
    text = json.dumps(shown, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PANEL_KEYS = ("score", "low", "high", "threshold", "drifted")
"""Each cell of the panel's JSON is a list of these (its column's method said once)."""


def _short(value: Any) -> Any:
    return float(f"{value:.4g}") if isinstance(value, float) else value

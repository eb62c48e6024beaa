"""Thresholds on a monitoring report, the alerts they raise, and their delivery to a webhook.

Thresholds are checked on the **latest window with traffic** (``min_rows`` on the report's
last window, so that silence alarms); a metric threshold on the latest window that has the
metric, measured if labels arrived, else estimated (the alert then says so). A thresholds
file is YAML::

    drift: true                 # any column drifted (default true)
    max_violation_rate: 0.01    # share of rows that broke the input contract
    max_null_rate: 0.05         # per column
    max_out_of_range_rate: 0.02 # per numeric column, outside the reference's [min, max]
    max_unseen_rate: 0          # per categorical column; 0: any unseen category alerts
    min_rows: 100               # rows in the last window
    min: {accuracy: 0.8, auc: 0.75}
    max: {rmse: 3.0}

``min`` and ``max`` name metrics of :data:`keel.models.METRICS` (any of them).
Every mistake in the file is reported at once, each with its line, key and what is allowed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from keel.errors import KeelError, UsageError
from keel.grammar import Document, Reader, read_yaml
from keel.models import METRICS
from keel.models import metric as lookup_metric

__all__ = [
    "METRIC_NAMES",
    "Alert",
    "Thresholds",
    "WebhookError",
    "alert_payload",
    "check",
    "post_alerts",
]

METRIC_NAMES = tuple(sorted(METRICS))
"""Every metric of the vocabulary: the performance report measures each that applies."""
_RATES = (
    ("max_null_rate", "null_rate", "null rate"),
    ("max_out_of_range_rate", "out_of_range_rate", "out-of-range rate"),
    ("max_unseen_rate", "unseen_rate", "unseen-category rate"),
)


class WebhookError(KeelError):
    """An alert could not be delivered to its webhook."""


@dataclass(frozen=True)
class Thresholds:
    """What makes ``keel monitor check`` fail; ``None`` switches a check off."""

    drift: bool = True
    max_violation_rate: float | None = None
    max_null_rate: float | None = None
    max_out_of_range_rate: float | None = None
    max_unseen_rate: float | None = None
    min_rows: int | None = None
    min: Mapping[str, float] = field(default_factory=dict)
    max: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_violation_rate", "max_null_rate", "max_out_of_range_rate"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise UsageError(f"threshold {name} must lie in [0, 1], got {value}.")
        if self.max_unseen_rate is not None and not 0 <= self.max_unseen_rate <= 1:
            raise UsageError(
                f"threshold max_unseen_rate must lie in [0, 1], got {self.max_unseen_rate}."
            )
        for name in sorted({*self.min, *self.max}):
            lookup_metric(name)  # the vocabulary's error for a name it does not know

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "thresholds") -> Thresholds:
        """Thresholds from a mapping with the keys of the YAML file (see the module); every
        mistake is reported at once, naming ``where`` and the key."""
        return _read(Document(where, data))

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        """Thresholds from a YAML file; every mistake is reported at once with its line."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise UsageError(f"cannot read thresholds file {file}: {reason}.") from exc
        return _read(read_yaml(text, str(file), what=_WHAT))

    def override(self, **changes: Any) -> Thresholds:
        """These thresholds with the non-``None`` ``changes`` applied (``min``/``max`` merged)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "min" in given:
            given["min"] = {**self.min, **given["min"]}
        if "max" in given:
            given["max"] = {**self.max, **given["max"]}
        return replace(self, **given)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "min": dict(self.min),
            "max": dict(self.max),
        }


_WHAT = "thresholds file"
_RATE_KEYS = ("max_violation_rate", "max_null_rate", "max_out_of_range_rate", "max_unseen_rate")
_KEYS = ("drift", *_RATE_KEYS, "min_rows", "min", "max")


def _read(document: Document) -> Thresholds:
    """Thresholds from a read file (or plain data), collecting every problem."""
    hint = "docs/monitoring.md lists every key of a thresholds file."
    reader = Reader(document, what=_WHAT, hint=hint)
    data = reader.mapping(document.data, (), _KEYS) or {}
    values: dict[str, Any] = {"drift": reader.boolean(data, "drift", (), True)}
    for key in _RATE_KEYS:
        if data.get(key) is not None:
            values[key] = reader.number(data, key, (), 0.0, low=0, high=1)
    if data.get("min_rows") is not None:
        values["min_rows"] = int(reader.number(data, "min_rows", (), 0, low=0, integer=True))
    for bound in ("min", "max"):
        limits = reader.mapping(data.get(bound), (bound,), METRIC_NAMES) or {}
        values[bound] = {
            str(metric): reader.number(limits, metric, (bound,), 0.0)
            for metric in limits
            if metric in METRIC_NAMES
        }
    reader.finish()
    return Thresholds(**values)


@dataclass(frozen=True)
class Alert:
    """A crossed threshold: what, where (column or metric, window), the value and the limit."""

    kind: (
        str  # drift | violation_rate | null_rate | out_of_range_rate | unseen_rate | rows | metric
    )
    message: str
    value: float | None
    threshold: float | None
    window_start: str | None
    window_end: str | None
    column: str | None = None
    metric: str | None = None
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "column": self.column,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "estimated": self.estimated,
            "window": {"start": self.window_start, "end": self.window_end},
        }


def check(report: Any, thresholds: Thresholds | None = None) -> list[Alert]:
    """The alerts ``thresholds`` (default: drift only) raise on ``report`` (a
    :class:`~keel.monitor.MonitorReport` or its ``to_dict()``)."""
    data = _checked(report) if hasattr(report, "to_dict") else report
    limits = thresholds or Thresholds()
    windows: Sequence[Mapping[str, Any]] = data.get("windows") or []
    alerts: list[Alert] = []
    if windows and limits.min_rows is not None and windows[-1]["rows"] < limits.min_rows:
        last = windows[-1]
        alerts.append(
            Alert(
                "rows",
                f"{last['rows']} rows in the window from {last['start']}, fewer than "
                f"{limits.min_rows}.",
                float(last["rows"]),
                float(limits.min_rows),
                last["start"],
                last["end"],
            )
        )
    busy = [w for w in windows if w["rows"]]
    if busy:
        alerts += _window_alerts(busy[-1], limits)
    alerts += _metric_alerts(busy, limits)
    return alerts


def _checked(report: Any) -> dict[str, Any]:
    """What :func:`check` reads of a report: every window's rows and performance, and the
    drift and quality of the latest window with traffic (the JSON of a 90-window report of
    50 columns costs more than the check itself)."""
    busy = [w for w in report.windows if w.rows]
    latest = busy[-1] if busy else None
    windows = []
    for w in report.windows:
        if latest is not None and w is latest:
            windows.append(latest.to_dict())
            continue
        windows.append(
            {
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "rows": w.rows,
                "performance": None if w.performance is None else dict(w.performance),
                "estimated_performance": (
                    None if w.estimated_performance is None else dict(w.estimated_performance)
                ),
            }
        )
    return {"windows": windows}


def _window_alerts(window: Mapping[str, Any], limits: Thresholds) -> list[Alert]:
    where = (window["start"], window["end"])
    alerts = []
    if limits.drift:
        for c in window.get("columns") or []:
            if c["drifted"]:
                alerts.append(
                    Alert(
                        "drift",
                        f"column {c['column']} drifted ({c['method']} {_fmt(c['score'])}, "
                        f"interval [{_fmt(c['low'])}, {_fmt(c['high'])}]).",
                        c["score"],
                        c.get("threshold"),
                        *where,
                        column=c["column"],
                    )
                )
    quality = window.get("quality") or {}
    rate = quality.get("violation_rate")
    if (
        limits.max_violation_rate is not None
        and rate is not None
        and rate > limits.max_violation_rate
    ):
        alerts.append(
            Alert(
                "violation_rate",
                f"{rate:.2%} of rows broke the input contract (limit "
                f"{limits.max_violation_rate:.2%}).",
                rate,
                limits.max_violation_rate,
                *where,
            )
        )
    for option, key, words in _RATES:
        limit = getattr(limits, option)
        if limit is None:
            continue
        for c in quality.get("columns") or []:
            value = c.get(key)
            if value is not None and value > limit:
                alerts.append(
                    Alert(
                        key,
                        f"column {c['column']}: {words} {value:.2%} (limit {limit:.2%}).",
                        value,
                        limit,
                        *where,
                        column=c["column"],
                    )
                )
    return alerts


def _metric_alerts(windows: Sequence[Mapping[str, Any]], limits: Thresholds) -> list[Alert]:
    alerts = []
    for bound, wanted in (("min", limits.min), ("max", limits.max)):
        for metric, limit in wanted.items():
            found = _latest_metric(windows, metric)
            if found is None:
                continue
            value, estimated, window = found
            crossed = value < limit if bound == "min" else value > limit
            if crossed:
                sign = ">=" if bound == "min" else "<="
                label = "estimated " if estimated else ""
                alerts.append(
                    Alert(
                        "metric",
                        f"{label}{metric} {value:.4g} in the window from {window['start']} "
                        f"(wanted {sign} {limit:g}).",
                        value,
                        limit,
                        window["start"],
                        window["end"],
                        metric=metric,
                        estimated=estimated,
                    )
                )
    return alerts


def _latest_metric(
    windows: Sequence[Mapping[str, Any]], metric: str
) -> tuple[float, bool, Mapping[str, Any]] | None:
    for key, estimated in (("performance", False), ("estimated_performance", True)):
        for window in reversed(windows):
            value = (window.get(key) or {}).get(metric)
            if value is not None:
                return float(value), estimated, window
    return None


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def post_alerts(url: str, payload: Mapping[str, Any], *, timeout: float = 10.0) -> int:
    """POST ``payload`` as JSON to ``url``; return the HTTP status.

    Raises :class:`WebhookError` when the request fails or the server answers >= 300.
    """
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{url!r} is not an http(s) URL.", hint="Give the webhook's full URL.")
    body = json.dumps(payload, allow_nan=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error is also the response: release its connection
        raise WebhookError(
            f"the webhook {url} answered {exc.code} {exc.reason}; the alert was not delivered.",
            hint="Check the URL and what the receiving service expects.",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(
            f"cannot POST the alert to {url}: {reason}.",
            hint="Check that the webhook URL is reachable from this machine.",
        ) from exc
    if status >= 300:
        raise WebhookError(f"the webhook {url} answered {status}; the alert was not delivered.")
    return status


def alert_payload(report: Any, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """The JSON of a checked :class:`~keel.monitor.MonitorReport`: what ``keel monitor check``
    prints and POSTs to a webhook (:func:`post_alerts`), with a one-line ``text`` for chat
    tools, the window checked and every alert; ``thresholds`` are included when given."""
    latest = report.latest
    alerts = [a.to_dict() for a in report.alerts]
    text = (
        f"keel: model {report.model}: {len(alerts)} alert(s): "
        + "; ".join(a["message"] for a in alerts)
        if alerts
        else f"keel: model {report.model}: all checks passed."
    )
    payload: dict[str, Any] = {
        "text": text,
        "model": report.model,
        "ok": not alerts,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "window": report.window,
        "checked": None
        if latest is None
        else {
            "start": latest.start.isoformat(),
            "end": latest.end.isoformat(),
            "rows": latest.rows,
        },
        "alerts": alerts,
    }
    if thresholds is not None:
        payload["thresholds"] = thresholds.to_dict()
    return payload

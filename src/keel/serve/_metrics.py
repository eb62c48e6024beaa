"""Prometheus metrics of one app, in a registry of its own (two apps in a process never mix).

- ``keel_requests_total{model,version,route,status}``: requests answered.
- ``keel_request_errors_total{model,version,route}``: requests answered 5xx.
- ``keel_request_latency_seconds{model,version,route}``: time from request to response.
- ``keel_batch_size``: records per predict call (1 per request with batching off).
- ``keel_prediction_log_rows_total``: rows written to the prediction log.

``version`` is empty for routes that touch no model (health, metrics, 4xx before a model
was chosen). With ``--workers`` above 1 each worker process counts on its own and a scrape
reaches one of them; run one worker per replica behind the scraper, or scrape replicas.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The counters and histograms of one app; label children are cached per label set."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version", "route")
        self.requests = Counter(
            "keel_requests",
            "Requests answered, by model version, route and status code.",
            (*labels, "status"),
            registry=self.registry,
        )
        self.errors = Counter(
            "keel_request_errors",
            "Requests answered with a server error (5xx).",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "keel_request_latency_seconds",
            "Time from request to response.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "keel_batch_size",
            "Records per predict call.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.logged = Counter(
            "keel_prediction_log_rows",
            "Rows written to the prediction log.",
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        key = (model, version, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(model, version, route, str(status)),
                self.errors.labels(model, version, route) if status >= 500 else None,
                self.latency.labels(model, version, route),
            )
            self._children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()
        children[2].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

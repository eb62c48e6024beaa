"""Observability shared by pipelines and serving: OpenTelemetry spans and JSON log lines.

``[telemetry] exporter`` picks where spans go: ``"none"`` (the default, and then
OpenTelemetry is never imported), ``"console"`` (one JSON object per span on the log
stream) or ``"otlp"`` (OTLP over HTTP to ``[telemetry] endpoint``, batched in the
background). ``[logging] format = "json"`` turns :meth:`Telemetry.log` on: one JSON object
per line, for log collectors; in ``"text"`` format the CLI draws its own progress instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, cast

from keel._json import json_safe
from keel.errors import ConfigError, MissingDependencyError, did_you_mean

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from keel.config import Config

__all__ = ["SpanHandle", "Telemetry"]

AttributeValue = str | int | float | bool

EXPORTERS = ("none", "console", "otlp")
LOG_FORMATS = ("text", "json")

# Seconds one OTLP export may take, retries included. The exporter's own default (10 s) would
# hold a finished CLI run that long whenever the collector is down. The standard
# OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT variables still take precedence.
OTLP_TIMEOUT = 3.0
_OTLP_TIMEOUT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")


class SpanHandle:
    """The span of one running step; every method does nothing when telemetry is off."""

    __slots__ = ("_span", "trace_id")

    def __init__(self, span: Span | None = None) -> None:
        self._span = span
        self.trace_id: str | None = None  # 32 hex digits when a span is recorded
        if span is not None and span.is_recording():
            self.trace_id = f"{span.get_span_context().trace_id:032x}"

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Attach ``key = value`` to the span (rows read, cache hit, ...)."""
        if self._span is not None:
            self._span.set_attribute(key, value)

    def record_error(self, error: BaseException) -> None:
        """Mark the span failed (status ERROR) and add ``error`` as an exception event."""
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self._span.record_exception(error)
        self._span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


_NO_SPAN = SpanHandle()


class Telemetry:
    """Spans and structured logs for one pipeline run.

    ``log_format`` overrides ``config.log_format`` (the CLI's ``--log-format``); log lines and
    console spans go to ``stream`` (default ``sys.stderr``). Safe to share between threads.
    Call :meth:`shutdown` at the end so batched spans are sent.
    """

    def __init__(
        self, config: Config, *, log_format: str | None = None, stream: TextIO | None = None
    ) -> None:
        exporter = config.telemetry_exporter
        log_format = config.log_format if log_format is None else log_format
        _check_choice("telemetry.exporter", exporter, EXPORTERS)
        _check_choice("logging.format", log_format, LOG_FORMATS)
        self._stream = sys.stderr if stream is None else stream
        self._lock = threading.Lock()  # one writer at a time, so lines never interleave
        self._json = log_format == "json"
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        if exporter != "none":
            self._provider = _tracer_provider(config, _LockedWriter(self._stream, self._lock))
            self._tracer = self._provider.get_tracer("keel.pipeline")

    def tracer(self, name: str) -> Tracer | None:
        """An OpenTelemetry tracer named ``name`` on this configuration's exporter, or
        ``None`` when ``[telemetry] exporter = "none"``."""
        return None if self._provider is None else self._provider.get_tracer(name)

    @contextmanager
    def step_span(
        self,
        pipeline: str,
        step: str,
        *,
        run_id: str,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Iterator[SpanHandle]:
        """A span named ``pipeline.step`` around the ``with`` block.

        An exception raised in the block marks the span failed and propagates.
        """
        tracer = self._tracer
        if tracer is None:
            yield _NO_SPAN
            return
        attrs: dict[str, AttributeValue] = {
            **(attributes or {}),
            "keel.pipeline": pipeline,
            "keel.step": step,
            "keel.run_id": run_id,
        }
        with tracer.start_as_current_span(
            f"{pipeline}.{step}",
            attributes=attrs,
            record_exception=False,  # record_error does both, for BaseException too
            set_status_on_exception=False,
        ) as span:
            handle = SpanHandle(span)
            try:
                yield handle
            except BaseException as exc:
                handle.record_error(exc)
                raise

    def record_span(
        self,
        pipeline: str,
        step: str,
        *,
        run_id: str,
        start: dt.datetime,
        end: dt.datetime,
        attributes: Mapping[str, AttributeValue] | None = None,
        error: str | None = None,
    ) -> str | None:
        """Record a finished step as a span from ``start`` to ``end``; return its trace id.

        The scheduler uses this for steps that ran in other processes or on a cluster,
        where no ``with`` block can surround the work.
        """
        tracer = self._tracer
        if tracer is None:
            return None
        from opentelemetry.trace import Status, StatusCode

        attrs: dict[str, AttributeValue] = {
            **(attributes or {}),
            "keel.pipeline": pipeline,
            "keel.step": step,
            "keel.run_id": run_id,
        }
        span = tracer.start_span(f"{pipeline}.{step}", attributes=attrs, start_time=_nanos(start))
        trace_id = f"{span.get_span_context().trace_id:032x}"
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.strip().splitlines()[-1][:500]))
        span.end(end_time=_nanos(end))
        return trace_id

    def log(self, event: str, **fields: Any) -> None:
        """Write ``event`` and ``fields`` as one JSON line (``json`` log format only).

        The level is ``"error"`` when ``status="failed"`` or an ``error`` is given, else
        ``"info"``. Values JSON cannot hold become text.
        """
        if not self._json:
            return
        failed = fields.get("status") == "failed" or fields.get("error") is not None
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": "error" if failed else "info",
            "event": event,
            **fields,
        }
        line = json.dumps(json_safe(record), default=_as_text, ensure_ascii=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def shutdown(self) -> None:
        """Send pending spans and stop the exporter; later spans are not recorded."""
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()


class _LockedWriter:
    """The log stream behind the lock that :meth:`Telemetry.log` also takes."""

    def __init__(self, stream: TextIO, lock: threading.Lock) -> None:
        self._stream = stream
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


def _tracer_provider(config: Config, out: _LockedWriter) -> TracerProvider:
    """An SDK tracer provider of its own (the global one is left to the application)."""
    purpose = f"Exporting pipeline spans (telemetry.exporter = {config.telemetry_exporter!r})"
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as exc:
        raise MissingDependencyError("opentelemetry-sdk", extra="otel", purpose=purpose) from exc

    processor: SpanProcessor
    if config.telemetry_exporter == "console":
        exporter = ConsoleSpanExporter(
            out=cast(TextIO, out), formatter=lambda span: span.to_json(indent=None) + "\n"
        )
        processor = SimpleSpanProcessor(exporter)
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise MissingDependencyError(
                "opentelemetry-exporter-otlp-proto-http", extra="otel", purpose=purpose
            ) from exc
        timeout = None if any(v in os.environ for v in _OTLP_TIMEOUT_VARS) else OTLP_TIMEOUT
        otlp = OTLPSpanExporter(endpoint=config.telemetry_endpoint or None, timeout=timeout)
        processor = BatchSpanProcessor(otlp)
    resource = Resource.create({"service.name": "keel", "keel.project": config.project_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider


def _nanos(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _check_choice(setting: str, value: str, known: tuple[str, ...]) -> None:
    if value not in known:
        raise ConfigError(
            f"{setting} is {value!r}, expected one of {', '.join(known)}",
            hint=did_you_mean(value, known),
        )


def _as_text(value: object) -> str:
    """JSON fallback: exceptions as ``Type: message``, anything else as ``str()``."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)

"""The ASGI middleware around every request: id, trace, timeout, metrics, access log.

Pure ASGI (no per-request task or body copy, unlike Starlette's ``BaseHTTPMiddleware``):

- ``x-request-id``: the caller's (when it is a short token) or a new one, on every response.
- ``traceparent`` (W3C): with OpenTelemetry configured (``[telemetry] exporter`` in
  keel.toml) one server span per request, continuing the caller's trace; without it the
  caller's trace id (or a new one) with a fresh span id, so logs still correlate.
- A request that takes longer than ``timeout`` seconds is answered 504; an exception that
  escapes a handler is answered 500 (with the request id) and logged, never crashing the
  server.
- The prediction routes (``direct``, by path) are called straight from here, skipping the
  framework's routing and dependency machinery (a third of a small request's CPU time);
  the framework still routes everything else and documents every route.
- One access log record per request on the ``keel.serve.access`` logger, with method,
  path, status, latency, request id, trace id, model and version; with logging as
  ``keel serve`` sets it up, the line is written without a record, in batches
  (:mod:`keel.serve._accesslog`).

The app puts this middleware outside the framework's own (see ``create_app``), so the
prediction routes skip that too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from keel.serve._accesslog import fast_access_handler
from keel.serve._metrics import Metrics

__all__ = ["ServeMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ACCESS = "keel.serve.access"
access = logging.getLogger(_ACCESS)
logger = logging.getLogger("keel.serve")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class ServeMiddleware:
    """Wraps the app: see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        model: str,
        timeout: float | None = 30.0,
        tracer: Any = None,
        direct: dict[str, ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.direct = direct or {}
        self.metrics = metrics
        self.model = model
        self.timeout = timeout
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming_id, incoming_trace = _headers(scope["headers"])
        fresh = os.urandom(36).hex()  # request id, trace id, span id: one system call
        request_id = incoming_id or fresh[:24]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        span = self._start_span(scope, incoming_trace) if self.tracer is not None else None
        trace_id, traceparent = _trace_ids(span, incoming_trace, fresh)
        extra = [(b"x-request-id", request_id.encode()), (b"traceparent", traceparent.encode())]
        status = 500
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        app = self.app
        if scope["method"] == "POST":
            app = self.direct.get(scope["path"], app)
        expired: list[asyncio.Task[Any]] = []
        timer = self._timer(expired)
        try:
            await app(scope, receive, send_with_ids)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if isinstance(exc, asyncio.CancelledError) and (
                not expired or expired[0].uncancel() > 0  # cancelled by someone else: go on
            ):
                raise
            if not started:
                await _error(send_with_ids, 504, "timeout", _timeout_text(self.timeout), request_id)
        except Exception as exc:
            logger.exception("request %s failed", request_id)
            if not started:
                text = f"the server failed: {type(exc).__name__}"
                await _error(send_with_ids, 500, "server_error", text, request_id)
        finally:
            if timer is not None:
                timer.cancel()
            seconds = time.perf_counter() - start
            self._record(scope, state, status, seconds, span=span, trace_id=trace_id)

    def _timer(self, expired: list[asyncio.Task[Any]]) -> asyncio.TimerHandle | None:
        """The request's timeout: a timer that cancels its task (noted in ``expired``), as
        ``asyncio.timeout`` does, at a fraction of its cost per request."""
        if self.timeout is None:
            return None
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        return None if task is None else loop.call_later(self.timeout, _expire, task, expired)

    def _record(
        self,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        seconds: float,
        *,
        span: Any,
        trace_id: str,
    ) -> None:
        """Metrics, the span's end and the access log record of one answered request."""
        route = state.get("route") or "unmatched"
        version = state.get("version")
        self.metrics.observe(
            self.model, "" if version is None else str(version), route, status, seconds
        )
        if span is not None:
            _end_span(span, status, version)
        if access.isEnabledFor(logging.INFO):
            method = scope["method"]
            path = scope["path"]
            request_id = state["request_id"]
            fields = {
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round(seconds * 1000, 3),
                "request_id": request_id,
                "trace_id": trace_id,
                "model": self.model,
                "version": version,
                "role": state.get("role"),
            }
            fast = fast_access_handler(access)
            if fast is not None:  # logging as ``keel serve`` sets it up: write the line
                fast.access(f"{method} {path} {status} {seconds * 1000:.1f}ms {request_id}", fields)
                return
            # else a record, made here: ``access.info`` would look up the caller's frame
            args = (method, path, status, seconds * 1000, request_id)
            record = logging.LogRecord(
                _ACCESS, logging.INFO, __file__, _LINE, "%s %s %d %.1fms %s", args, None, "_record"
            )
            record.keel = fields
            access.handle(record)

    def _start_span(self, scope: Scope, incoming: tuple[bytes, bytes] | None) -> Any:
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            TraceFlags,
            set_span_in_context,
        )

        context = None
        if incoming is not None:
            parent = SpanContext(
                trace_id=int(incoming[0], 16),
                span_id=int(incoming[1], 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            context = set_span_in_context(NonRecordingSpan(parent))
        return self.tracer.start_span(
            f"{scope['method']} {scope['path']}",
            context=context,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope["path"],
                "keel.model": self.model,
            },
        )


_LINE = ServeMiddleware._record.__code__.co_firstlineno


def _expire(task: asyncio.Task[Any], expired: list[asyncio.Task[Any]]) -> None:
    expired.append(task)
    task.cancel()


def _trace_ids(span: Any, incoming: tuple[bytes, bytes] | None, fresh: str) -> tuple[str, str]:
    """The trace id and the ``traceparent`` to answer with (the span's, or a fresh span id
    in the caller's trace, or a new trace)."""
    if span is not None:
        context = span.get_span_context()
        trace_id = f"{context.trace_id:032x}"
        return trace_id, f"00-{trace_id}-{context.span_id:016x}-01"
    trace_id = incoming[0].decode() if incoming else fresh[24:56]
    return trace_id, f"00-{trace_id}-{fresh[56:72]}-01"


def _headers(
    headers: list[tuple[bytes, bytes]],
) -> tuple[str | None, tuple[bytes, bytes] | None]:
    request_id: str | None = None
    trace: tuple[bytes, bytes] | None = None
    for key, value in headers:
        if key == b"x-request-id" and _REQUEST_ID.match(value):
            request_id = value.decode()
        elif key == b"traceparent":
            found = _TRACEPARENT.match(value.strip().lower())
            if found and found[1] != b"0" * 32 and found[2] != b"0" * 16:
                trace = (found[1], found[2])
    return request_id, trace


def _end_span(span: Any, status: int, version: Any) -> None:
    span.set_attribute("http.response.status_code", status)
    if version is not None:
        span.set_attribute("keel.version", int(version))
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    span.end()


def _timeout_text(timeout: float | None) -> str:
    return f"the request took longer than the server's {timeout:g} s timeout"


async def _error(send: Send, status: int, code: str, text: str, request_id: str) -> None:
    body = orjson.dumps({"error": text, "code": code, "request_id": request_id})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

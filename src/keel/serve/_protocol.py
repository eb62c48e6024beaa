"""The HTTP/1.1 protocol ``keel serve`` runs: uvicorn's httptools protocol with header limits.

uvicorn bounds neither the size of a request's headers nor the time a client may take to
send them, so one client could make the server hold a 100 MB header in memory, or hold
hundreds of connections open by sending a byte every few seconds (slowloris). Here:

- **Header size**: a request line and headers larger than ``max_header_bytes`` (64 KiB)
  are answered ``431 Request Header Fields Too Large`` and the connection is closed. The
  count is checked after every read, so at most one read beyond the limit (256 KiB) is
  ever buffered.
- **Header time**: a connection that has not sent a whole request line and headers
  ``header_timeout`` seconds (10) after it opened, or after it began its next request, is
  answered ``408 Request Timeout`` and closed. One timer per server sweeps the connections
  (every second at most), rather than a timer per request.
- **Connections**: a connection opened while ``max_connections`` (1,000) are open is
  answered ``503 Service Unavailable`` at once and closed, without reading its request; the
  open ones are served as before. (uvicorn's ``limit_concurrency``, set one higher, also
  bounds the requests in progress: :func:`uvicorn_limits`.)

After a 431, 408 or 503 the connection is closed for writing and what the client still sends is
read and dropped for a second, so that the client reads the answer instead of a reset.

The limits are per process; :func:`configure` sets them before the server starts, in each
worker process.
"""

from __future__ import annotations

import asyncio
import http
import weakref
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keel.errors import UsageError

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_HEADER_BYTES",
    "HeaderLimits",
    "LimitedHttpProtocol",
    "configure",
    "uvicorn_limits",
]

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000
_LINGER = 1.0  # seconds a rejected connection's further input is read and dropped


@dataclass(frozen=True)
class HeaderLimits:
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        wrong = [
            f"{name}={value!r} (expected {expected})"
            for name, value, ok, expected in (
                (
                    "max_header_bytes",
                    self.max_header_bytes,
                    self.max_header_bytes >= 1024,
                    ">= 1024",
                ),
                ("header_timeout", self.header_timeout, self.header_timeout > 0, "> 0 seconds"),
                ("max_connections", self.max_connections, self.max_connections >= 1, ">= 1"),
            )
            if not ok
        ]
        if wrong:
            raise UsageError(
                f"keel serve cannot run with {', '.join(wrong)}.",
                hint="Leave them out for the defaults: 64 KiB of headers, 10 s to send them, "
                "1000 connections.",
            )


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.TimerHandle] = (
    weakref.WeakKeyDictionary()
)


def configure(limits: HeaderLimits) -> None:
    """Use ``limits`` for the connections this process accepts from now on."""
    LimitedHttpProtocol.limits = limits


def uvicorn_limits(limits: HeaderLimits) -> dict[str, Any]:
    """The uvicorn settings that go with ``limits``: the protocol, and the connection limit
    (uvicorn answers 503 when its count, this connection included, reaches the limit)."""
    return {"http": LimitedHttpProtocol, "limit_concurrency": limits.max_connections + 1}


class _HeadersTooLargeError(Exception):
    pass


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a bound on the size of a request's headers and on
    the time a client takes to send them."""

    limits = HeaderLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._limits = self.limits
        self._header_bytes = 0
        self._reading_headers = True  # from the first byte of a request to its headers' end
        self._since = self.loop.time()
        self._rejected = False
        if len(self.connections) > self._limits.max_connections:  # this one included
            self.reject(503, "Too many connections.")
            return
        _sweep_later(self.loop, self.connections, self._limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._rejected:  # lingering: read and drop
            return
        self._unset_keepalive_if_required()
        began_before = self._reading_headers
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadersTooLargeError):
                self.reject(431, "Request header fields too large.")
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._reading_headers:
            self._header_bytes += len(data) if began_before else _tail(data)
            if self._header_bytes > self._limits.max_header_bytes:
                self.reject(431, "Request header fields too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:
            self._reading_headers = True
            self._since = self.loop.time()
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        # a request whose headers arrived with this read: measured only when it could be big
        if self._header_bytes + self._chunk > self._limits.max_header_bytes:
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self._limits.max_header_bytes:
                raise _HeadersTooLargeError
        super().on_headers_complete()

    def reject(self, status: int, message: str) -> None:
        """Answer ``status`` and close the connection (reading and dropping for a second
        what the client still sends, so that it reads the answer rather than a reset)."""
        if self._rejected or self.transport.is_closing():
            return
        self._rejected = True
        self._reading_headers = False
        self.connections.discard(self)  # not counted against the limit while it lingers
        body = message.encode()
        phrase = http.HTTPStatus(status).phrase.encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER, self.transport.close)

    def timed_out(self, now: float) -> bool:
        """Whether this connection has been sending its headers for too long."""
        return (
            self._reading_headers
            and not self._rejected
            and now - self._since > self._limits.header_timeout
        )


def _tail(data: bytes) -> int:
    """How many bytes of ``data`` can belong to headers that began within it: those after
    the last blank line (the previous request's headers or body end before it)."""
    end = data.rfind(b"\r\n\r\n")
    return len(data) if end < 0 else len(data) - end - 4


def _sweep_later(loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float) -> None:
    if loop not in _sweepers:
        delay = min(1.0, timeout / 4)
        _sweepers[loop] = loop.call_later(delay, _sweep, loop, connections, timeout)


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float) -> None:
    """Answer 408 on the server's connections that are too slow with their headers; again
    in a while, as long as there are connections."""
    del _sweepers[loop]
    now = loop.time()
    for protocol in list(connections):
        if isinstance(protocol, LimitedHttpProtocol) and protocol.timed_out(now):
            protocol.reject(408, "Request headers not received in time.")
    if connections:
        _sweep_later(loop, connections, timeout)

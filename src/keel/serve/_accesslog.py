"""The access log's output: one line per request, written in batches.

A ``logging.StreamHandler`` writes and flushes its stream for every record: at thousands of
requests a second that is a system call per request. :class:`BatchedStreamHandler`
formats each record at once but keeps access-log lines (INFO records of
``keel.serve.access``) in memory and writes them together: when ``max_lines`` are
waiting, when the oldest waited ``max_delay`` seconds (checked at the next record and by
the server's background task, :func:`flush_access_log`), at the app's shutdown, and at
interpreter exit (``logging.shutdown``). Any other record (a warning, an error, the
server's own messages) is written at once, after the lines before it, so the order holds.

The formatters cache the formatted timestamp per second: formatting a time is the most
expensive part of a text line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any, TextIO

__all__ = [
    "ACCESS_LOGGER",
    "BatchedStreamHandler",
    "JsonFormatter",
    "TextFormatter",
    "fast_access_handler",
    "flush_access_log",
]

ACCESS_LOGGER = "keel.serve.access"


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes access-log lines in batches; see the module docstring."""

    def __init__(
        self, stream: TextIO | None = None, *, max_lines: int = 256, max_delay: float = 0.5
    ) -> None:
        super().__init__(stream)
        self.max_lines = max_lines
        self.max_delay = max_delay
        self._lines: list[str] = []
        self._since = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        lines = self._lines
        if not lines:
            self._since = record.created
        lines.append(line)
        if (
            record.name != ACCESS_LOGGER
            or record.levelno != logging.INFO
            or len(lines) >= self.max_lines
            or record.created - self._since >= self.max_delay
        ):
            try:
                self._write()
            except Exception:
                self.handleError(record)

    def access(self, message: str, fields: dict[str, Any]) -> None:
        """Buffer a request's access-log line as :meth:`emit` would for its record (see
        :func:`fast_access_handler`), without making the record."""
        created = time.time()
        line = self.formatter.access_line(created, message, fields) + self.terminator  # type: ignore[union-attr]
        self.acquire()
        try:
            lines = self._lines
            if not lines:
                self._since = created
            lines.append(line)
            if len(lines) >= self.max_lines or created - self._since >= self.max_delay:
                self._write()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": ACCESS_LOGGER, "msg": message}))
        finally:
            self.release()

    def flush(self) -> None:
        """Write the waiting lines and flush the stream."""
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        """Write the waiting lines and flush; errors propagate, as ``StreamHandler.flush``'s."""
        lines, self._lines = self._lines, []
        if lines:
            self.stream.write("".join(lines))
        if self.stream is not None and hasattr(self.stream, "flush"):
            self.stream.flush()


def flush_access_log() -> None:
    """Write the access-log lines waiting in the handlers of ``keel.serve`` (and its access
    logger)."""
    for name in ("keel.serve", ACCESS_LOGGER):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, BatchedStreamHandler):
                with contextlib.suppress(OSError, ValueError):  # a closed stream, as
                    handler.flush()  # logging.shutdown ignores it


def fast_access_handler(access: logging.Logger) -> BatchedStreamHandler | None:
    """The handler that alone receives ``access``'s INFO records, when logging is set up as
    :func:`keel.serve._server.configure_logging` does (one batched handler on
    ``keel.serve``, nothing else to call): its :meth:`BatchedStreamHandler.access` then
    writes what the record would. Otherwise None: make the record and log it."""
    parent = access.parent
    if access.handlers or access.filters or not access.propagate or parent is None:
        return None
    handlers = parent.handlers
    if len(handlers) != 1 or parent.filters or parent.propagate or parent.disabled:
        return None
    handler = handlers[0]
    if (
        type(handler) is not BatchedStreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) not in (TextFormatter, JsonFormatter)
    ):
        return None
    return handler


class _SecondCache:
    """The last second's formatted time, so that records of the same second share it."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""


class TextFormatter(logging.Formatter):
    """``%(asctime)s %(levelname)s %(name)s: %(message)s``, as ``logging.Formatter`` writes
    it, with the timestamp's seconds formatted once per second."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._cache = _SecondCache()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802  # logging's name
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cache = self._cache
        if cache.second != second:
            cache.text = time.strftime(self.default_time_format, self.converter(record.created))
            cache.second = second
        return f"{cache.text},{int(record.msecs):03d}"  # logging's default_msec_format

    def access_line(self, created: float, message: str, fields: dict[str, Any]) -> str:
        """What :meth:`format` writes for an access-log record made at ``created``."""
        second = int(created)
        cache = self._cache
        if cache.second != second:
            cache.text = time.strftime(self.default_time_format, self.converter(created))
            cache.second = second
        msecs = int((created - second) * 1000)
        return f"{cache.text},{msecs:03d} INFO {ACCESS_LOGGER}: {message}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's fields."""

    def __init__(self) -> None:
        super().__init__()
        self.converter = time.gmtime
        self._cache = _SecondCache()
        self._encoder = json.JSONEncoder(default=str, ensure_ascii=False)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": f"{self._second(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "keel", None)
        if isinstance(fields, dict):
            data["event"] = "request"
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return self._encoder.encode(data)

    def access_line(self, created: float, message: str, fields: dict[str, Any]) -> str:
        """What :meth:`format` writes for an access-log record made at ``created``."""
        msecs = int((created - int(created)) * 1000)
        data: dict[str, Any] = {
            "time": f"{self._second(created)}.{msecs:03d}Z",
            "level": "info",
            "logger": ACCESS_LOGGER,
            "event": "request",
        }
        data.update(fields)
        return self._encoder.encode(data)

    def _second(self, created: float) -> str:
        second = int(created)
        cache = self._cache
        if cache.second != second:
            cache.text = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(created))
            cache.second = second
        return cache.text

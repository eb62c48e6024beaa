"""The access log's batched output: one line per request, none lost at shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keel.serve import create_app
from keel.serve._accesslog import (
    BatchedStreamHandler,
    JsonFormatter,
    TextFormatter,
    fast_access_handler,
)
from keel.serve._server import configure_logging
from keel.tracking import Project

from ._serving import client, make_project, records


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    return make_project(tmp_path, versions=1)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    serve = logging.getLogger("keel.serve")
    saved = (list(serve.handlers), serve.level, serve.propagate)
    yield
    for handler in list(serve.handlers):
        serve.removeHandler(handler)
    for handler in saved[0]:
        serve.addHandler(handler)
    serve.setLevel(saved[1])
    serve.propagate = saved[2]


def _record(name: str, level: int, msg: str, *args: Any) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.usefixtures("restore_logging")
def test_one_line_per_request_all_written_by_shutdown(project: Project, log_format: str) -> None:
    stream = io.StringIO()
    configure_logging(log_format, stream=stream)
    app = create_app("churn", project=project)

    async def main() -> list[str]:
        async with client(app) as http:
            answers = [await http.post("/predict", json=row) for row in records(30)]
        return [a.headers["x-request-id"] for a in answers]

    ids = asyncio.run(main())
    lines = [line for line in stream.getvalue().splitlines() if "/predict" in line]
    assert len(lines) == 30
    if log_format == "json":
        fields = [json.loads(line) for line in lines]
        assert [f["request_id"] for f in fields] == ids
        assert {f["event"] for f in fields} == {"request"}
        assert {f["status"] for f in fields} == {200}
    else:
        assert [line.rsplit(" ", 1)[1] for line in lines] == ids
        assert all(" INFO keel.serve.access: POST /predict 200 " in line for line in lines)


def test_access_lines_wait_other_records_are_written_at_once_in_order() -> None:
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, max_lines=100, max_delay=60)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.handle(_record("keel.serve.access", logging.INFO, "first"))
    handler.handle(_record("keel.serve.access", logging.INFO, "second"))
    assert stream.getvalue() == ""
    handler.handle(_record("keel.serve", logging.WARNING, "a warning"))
    assert stream.getvalue().splitlines() == [
        "keel.serve.access first",
        "keel.serve.access second",
        "keel.serve a warning",
    ]
    handler.handle(_record("keel.serve.access", logging.INFO, "third"))
    handler.flush()
    assert stream.getvalue().splitlines()[-1] == "keel.serve.access third"


def test_access_lines_are_written_when_enough_wait_or_long_enough() -> None:
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, max_lines=3, max_delay=60)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(2):
        handler.handle(_record("keel.serve.access", logging.INFO, f"line {i}"))
    assert stream.getvalue() == ""
    handler.handle(_record("keel.serve.access", logging.INFO, "line 2"))
    assert stream.getvalue().splitlines() == ["line 0", "line 1", "line 2"]

    late = BatchedStreamHandler(io.StringIO(), max_lines=100, max_delay=0.5)
    late.setFormatter(logging.Formatter("%(message)s"))
    old = _record("keel.serve.access", logging.INFO, "old")
    old.created -= 1
    late.handle(old)
    late.handle(_record("keel.serve.access", logging.INFO, "new"))
    assert late.stream.getvalue().splitlines() == ["old", "new"]


def test_text_formatter_writes_what_the_stdlib_formatter_writes() -> None:
    stdlib = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    ours = TextFormatter()
    for created in (1_700_000_000.123, 1_700_000_000.987, 1_700_000_001.5):
        record = _record("keel.serve.access", logging.INFO, "POST %s %d", "/predict", 200)
        record.created = created
        record.msecs = (created - int(created)) * 1000
        assert ours.format(record) == stdlib.format(record)


def test_json_formatter_writes_a_request_as_one_object() -> None:
    record = _record("keel.serve.access", logging.INFO, "POST /predict")
    record.created = 1_700_000_000.25
    record.msecs = 250.0
    record.keel = {"method": "POST", "path": "/predict", "status": 200, "note": "é"}
    line = JsonFormatter().format(record)
    assert '"event": "request"' in line
    assert "é" in line
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "info",
        "logger": "keel.serve.access",
        "event": "request",
        "method": "POST",
        "path": "/predict",
        "status": 200,
        "note": "é",
    }


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_a_line_written_without_a_record_is_the_records_line(formatter: Any) -> None:
    fields = {"method": "POST", "path": "/predict", "status": 200, "request_id": "abc"}
    record = _record("keel.serve.access", logging.INFO, "POST /predict 200 1.5ms abc")
    record.keel = fields
    assert formatter.access_line(record.created, record.getMessage(), fields) == (
        formatter.format(record)
    )


@pytest.mark.usefixtures("restore_logging")
def test_the_fast_access_path_only_when_logging_is_keels_own() -> None:
    access = logging.getLogger("keel.serve.access")
    configure_logging("text", stream=io.StringIO())
    handler = fast_access_handler(access)
    assert isinstance(handler, BatchedStreamHandler)
    extra = logging.NullHandler()
    access.addHandler(extra)  # e.g. a test's capture, or a user's handler
    try:
        assert fast_access_handler(access) is None
    finally:
        access.removeHandler(extra)
    serve = logging.getLogger("keel.serve")
    serve.propagate = True  # records also go to the root's handlers
    assert fast_access_handler(access) is None


@pytest.mark.usefixtures("restore_logging")
def test_flushing_at_shutdown_survives_a_closed_stream() -> None:
    from keel.serve._accesslog import flush_access_log

    stream = io.StringIO()
    configure_logging("text", stream=stream)
    handler = logging.getLogger("keel.serve").handlers[0]
    handler.handle(_record("keel.serve.access", logging.INFO, "a line"))
    stream.close()  # e.g. a captured stderr that its test closed
    flush_access_log()  # no error: the app's shutdown goes on

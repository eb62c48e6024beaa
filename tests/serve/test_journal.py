"""A server killed without warning loses at most half a second of its prediction log: the
rows buffered between flushes are journaled locally and written into the log, once, by the
next start (or ``keel predictions recover``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app as cli
from keel.config import init_project
from keel.monitor import FeedbackLog, PredictionLog
from keel.serve import create_app, recover_predictions
from keel.serve._journal import Journal, journal_folder
from keel.serve._logwriter import LogWriter
from keel.tracking import Project, open_project

from ._process import keel_serve
from ._serving import Features, client, make_project, records

# -- a real server, killed under load ---------------------------------------------------------


def _load(port: int, worker: int, answered: list[tuple[str, float]], stop: threading.Event) -> None:
    """Send single-record requests on one keep-alive connection until told to stop or the
    server dies; record each answered request's id and when its answer arrived."""
    body = json.dumps(records(1, seed=worker)[0]).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for i in range(1_000_000):
            if stop.is_set():
                return
            request_id = f"w{worker}-{i}"
            headers = {"content-type": "application/json", "x-request-id": request_id}
            connection.request("POST", "/predict", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                answered.append((request_id, time.monotonic()))
    except (OSError, http.client.HTTPException):  # the server was killed mid-answer
        return
    finally:
        connection.close()


def _parquet_files(project: Project) -> list[str]:
    return PredictionLog(project.artifacts, "churn").files()


@pytest.mark.slow
def test_a_server_killed_under_load_loses_no_row_answered_half_a_second_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    answered: list[tuple[str, float]] = []
    stop = threading.Event()
    with keel_serve(tmp_path, "--log-flush", "2s") as server:
        threads = [
            threading.Thread(target=_load, args=(server.port, w, answered, stop)) for w in range(4)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while not _parquet_files(project):  # a flush wrote the rows before it to the log...
            assert time.monotonic() < deadline, "no flush in 30 s"
            time.sleep(0.02)
        time.sleep(1.3)  # ...and the next flush is 0.7 s away: these rows are journaled only
        killed = time.monotonic()
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        stop.set()
        for thread in threads:
            thread.join()
    flushed = PredictionLog(project.artifacts, "churn").scan().collect().height

    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["predictions", "recover", "churn", "--format", "json"])
    assert done.exit_code == 0, done.output

    logged = PredictionLog(project.artifacts, "churn").scan().collect()
    assert json.loads(done.stdout) == {"model": "churn", "rows": logged.height - flushed}
    ids = set(logged["request_id"])
    due = [request_id for request_id, at in answered if at < killed - 0.5]
    late = [request_id for request_id, at in answered if at >= killed - 1.3]
    assert len(due) > 200, len(due)
    assert len(late) > 50, len(late)  # answered after the last flush: journaled only
    assert [request_id for request_id in due if request_id not in ids] == []
    assert logged["request_id"].is_duplicated().sum() == 0  # every row once
    assert recover_predictions("churn", project=open_project(tmp_path)) == 0  # nothing left


# -- the journal, in process ------------------------------------------------------------------


def _entry(writer: LogWriter, request_id: str, inputs: list[Any], columns: tuple[str, ...]) -> None:
    writer.add(
        request_id=request_id,
        time=time.time(),
        model="churn",
        version=1,
        role="champion",
        latency_ms=1.0,
        inputs=[inputs],
        violations=[None],
        predictions=[1],
        scores=[0.75],
        confidences=[0.75],
        columns=columns,
    )


def _killed(writer: LogWriter) -> None:
    """What SIGKILL leaves of a writer: its journal segment, no longer locked."""
    journal = writer._journal
    assert journal is not None
    assert journal.current is not None
    Journal.close(journal.current)
    journal.current = None


def test_the_next_start_writes_the_journal_of_a_killed_server_into_the_log(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "churn")
    writer = LogWriter(project.artifacts, "churn", Features.__contract__, journal=folder)
    for i in range(3):
        writer.add_feedback(f"r{i}", [1], dt.datetime.now(dt.UTC), per_row=False)
        _entry(writer, f"r{i}", [30, 1000.0, 0.5], ("age", "income", "rate"))
    writer.journal()
    _killed(writer)
    assert PredictionLog(project.artifacts, "churn").scan().collect().height == 0

    async def main() -> None:
        async with client(create_app("churn", project=project)):
            pass

    asyncio.run(main())
    logged = PredictionLog(project.artifacts, "churn").scan().collect()
    assert sorted(logged["request_id"]) == ["r0", "r1", "r2"]
    assert logged.row(0, named=True)["income"] == 1000.0
    assert FeedbackLog(project.artifacts, "churn").scan().collect().height == 3
    assert list(folder.glob("*.journal")) == []


def test_a_torn_last_record_is_dropped_and_the_records_before_it_are_kept(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "churn")
    writer = LogWriter(project.artifacts, "churn", None, journal=folder)
    _entry(writer, "kept", [30, 1.0, 0.5], ("age", "income", "rate"))
    writer.journal()
    _entry(writer, "torn", [31, 2.0, 0.5], ("age", "income", "rate"))
    writer.journal()
    _killed(writer)
    (segment,) = folder.glob("*.journal")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # killed in the middle of its second write

    assert recover_predictions("churn", project=project) == 1
    assert PredictionLog(project.artifacts, "churn").scan().collect()["request_id"].to_list() == [
        "kept"
    ]


def test_replaying_a_journal_whose_flush_was_written_adds_no_copy(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "churn")
    writer = LogWriter(project.artifacts, "churn", None, journal=folder)
    _entry(writer, "once", [30, 1.0, 0.5], ("age", "income", "rate"))
    writer.journal()
    segment = writer._journal.current if writer._journal else None
    assert segment is not None
    kept = segment.path.read_bytes()
    assert writer.flush() == 1  # written, and its segment removed...
    segment.path.write_bytes(kept)  # ...but killed before the removal reached the disk

    assert recover_predictions("churn", project=project) == 1  # the same file, rewritten
    assert PredictionLog(project.artifacts, "churn").scan().collect()["request_id"].to_list() == [
        "once"
    ]
    assert list(folder.glob("*.journal")) == []


def test_a_running_servers_journal_is_left_alone(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "churn")
    running = LogWriter(project.artifacts, "churn", None, journal=folder)
    _entry(running, "live", [30, 1.0, 0.5], ("age", "income", "rate"))
    running.journal()

    assert recover_predictions("churn", project=project) == 0
    assert PredictionLog(project.artifacts, "churn").scan().collect().height == 0
    assert running.flush() == 1
    assert PredictionLog(project.artifacts, "churn").scan().collect().height == 1


def test_dates_and_datetimes_come_back_from_the_journal_as_they_were(tmp_path: Path) -> None:
    class Visit(keel.Schema):
        day: dt.date
        seen: dt.datetime
        note: str

    init_project(tmp_path)
    project = open_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "visits")
    writer = LogWriter(project.artifacts, "visits", Visit.__contract__, journal=folder)
    day, seen = dt.date(2026, 11, 27), dt.datetime(2026, 11, 27, 14, 3, 12, 345678)
    _entry(writer, "v", [day, seen, "2026-01-01"], ("day", "seen", "note"))
    writer.journal()
    _killed(writer)

    assert recover_predictions("visits", project=project) == 1
    row = PredictionLog(project.artifacts, "visits").scan().collect().row(0, named=True)
    assert (row["day"], row["seen"], row["note"]) == (day, seen, "2026-01-01")
    assert PredictionLog(project.artifacts, "visits").scan().collect().schema["day"] == pl.Date


def test_a_failed_journal_write_leaves_no_torn_record_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "journal")
    journal.write([b"[1]"])
    real = os.write

    def disk_full(fd: int, data: Any) -> int:
        real(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        journal.write([b"[2]"])
    monkeypatch.setattr(os, "write", real)
    journal.write([b"[3]"])
    assert journal.current is not None
    assert list(Journal.read(journal.current)) == [b"[1]", b"[3]"]


def test_rows_whose_write_failed_are_written_once_by_a_later_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    folder = journal_folder(project.config.state_dir, "churn")
    writer = LogWriter(project.artifacts, "churn", Features.__contract__, journal=folder)
    _entry(writer, "a", [30, 1.0, 0.5], ("age", "income", "rate"))
    writer.add_feedback("a", [1], dt.datetime.now(dt.UTC), per_row=False)
    real = FeedbackLog.append

    def unavailable(self: FeedbackLog, frame: pl.DataFrame, *, key: str | None = None) -> None:
        raise OSError("the store is unavailable")

    monkeypatch.setattr(FeedbackLog, "append", unavailable)
    assert writer.flush() == 1  # the predictions went; the feedback is kept
    _entry(writer, "b", [31, 1.0, 0.5], ("age", "income", "rate"))
    assert writer.flush() == 0  # kept behind it, in order
    monkeypatch.setattr(FeedbackLog, "append", real)
    assert writer.flush() == 1

    logged = PredictionLog(project.artifacts, "churn").scan().collect()
    assert sorted(logged["request_id"]) == ["a", "b"]
    assert FeedbackLog(project.artifacts, "churn").scan().collect()["request_id"].to_list() == ["a"]
    assert list(folder.glob("*.journal")) == []  # each segment gone once written

"""Database errors a user can cause or fix become Keel errors that say what, where and how to
fix it, on the real PostgreSQL and on SQLite: values the store cannot hold, a full disk, a
read-only database and a disk I/O error. Never a raw SQLAlchemy exception."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

import keel
from keel.config import init_project
from keel.errors import KeelError, StoreValueError, StoreWriteError, UsageError
from keel.store import MetadataStore
from keel.tracking import Project, open_project

DIGEST = "0" * 64


@pytest.fixture
def project(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_STORE_URL", store_url)
    init_project(tmp_path)
    return open_project(tmp_path)


@pytest.fixture
def pg_project(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_STORE_URL", pg_url)
    init_project(tmp_path)
    return open_project(tmp_path)


def _not_sqlalchemy(error: BaseException) -> None:
    assert isinstance(error, KeelError)
    assert not isinstance(error, sa.exc.SQLAlchemyError)
    assert error.hint


# -- values the store cannot hold --------------------------------------------------------------
def test_an_integer_past_64_bits_is_a_store_value_error(project: Project) -> None:
    store = project.metadata
    with pytest.raises(StoreValueError) as caught:
        store.add_dataset_version("d", DIGEST, stored=False, rows=10**30)
    _not_sqlalchemy(caught.value)
    message = caught.value.message
    assert "dataset_versions.rows" in message
    assert "64-bit" in message
    assert store.url in message
    assert "-9223372036854775808 to 9223372036854775807" in (caught.value.hint or "")
    assert store.list_dataset_versions("d") == []  # nothing of the write was kept
    assert store.add_dataset_version("d", DIGEST, stored=False, rows=10).version == 1


def test_a_32_bit_column_out_of_range_on_postgresql(pg_project: Project) -> None:
    with pytest.raises(StoreValueError) as caught:
        pg_project.metadata.add_dataset_version("d", DIGEST, stored=False, files=10**12)
    assert "dataset_versions.files = 1000000000000" in caught.value.message
    assert "32-bit integer range -2147483648 to 2147483647" in caught.value.message
    assert "NumericValueOutOfRange" not in str(caught.value)


def test_a_nul_character_in_a_tag_on_postgresql(pg_project: Project) -> None:
    with pytest.raises(StoreValueError) as caught:
        keel.start_run("train", tags={"note": "a\x00b"}, project=pg_project).__enter__()
    assert "run_tags.value" in caught.value.message
    assert "NUL" in caught.value.message
    assert pg_project.metadata.list_runs() == []
    with keel.start_run("train", project=pg_project) as run:
        with pytest.raises(StoreValueError, match="NUL"):
            run.set_tag("note", "a\x00b")
        run.set_tag("note", "ab")
    assert pg_project.metadata.get_run(run.id).tags == {"note": "ab"}


def test_a_metric_key_too_long_ends_the_run_failed_on_postgresql(pg_project: Project) -> None:
    key = "k" * 300
    with (  # buffered: refused when the run ends
        pytest.raises(StoreValueError) as caught,
        keel.start_run("train", project=pg_project) as run,
    ):
        run.log_metric(key, 1.0)
    assert "metrics.key" in caught.value.message
    assert "300 characters where the column holds at most 250" in caught.value.message
    assert caught.value.hint == "Use at most 250 characters."
    ended = pg_project.metadata.get_run(run.id)
    assert ended.status == "failed"  # not left running
    assert "metrics.key" in (ended.error or "")


def test_a_metric_step_past_64_bits_is_refused_where_it_is_logged(project: Project) -> None:
    with keel.start_run("train", project=project) as run:
        for step in (2**63, -(2**63) - 1, 10**30):
            with pytest.raises(UsageError, match="64-bit"):
                run.log_metric("loss", 0.5, step=step)
            with pytest.raises(UsageError, match="64-bit"):
                project.metadata.log_metrics(run.id, [("loss", 0.5, step)])
        with pytest.raises(UsageError, match="not an integer"):
            run.log_metric("loss", 0.5, step=1.5)  # type: ignore[arg-type]
        run.log_metric("loss", 0.5, step=2**63 - 1)  # the largest step fits
    assert project.metadata.metric_history(run.id, "loss")[0].step == 2**63 - 1


def test_a_metric_value_too_large_for_a_float_is_a_usage_error(project: Project) -> None:
    with keel.start_run("train", project=project) as run:
        with pytest.raises(UsageError, match="fits a float"):
            run.log_metric("big", 10**400)
        with pytest.raises(UsageError, match="too large for a float"):
            project.metadata.log_metrics(run.id, [("big", 10**400)])
    assert project.metadata.get_run(run.id).status == "finished"


# -- storage that cannot write -----------------------------------------------------------------
def _fill(store: MetadataStore, run_id: str) -> None:
    for i in range(1000):
        store.log_metrics(run_id, [(f"m{k}", float(i), i) for k in range(200)])


def test_sqlite_disk_full_is_a_store_write_error(sqlite_url: str, sqlite_pragma: list[str]) -> None:
    store = MetadataStore(sqlite_url)
    run_id = store.create_run("x")
    pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar_one()
    store.close()
    # SQLite raises SQLITE_FULL past max_page_count exactly as on a full disk
    sqlite_pragma.append(f"PRAGMA max_page_count = {pages + 20}")
    store = MetadataStore(sqlite_url)
    with pytest.raises(StoreWriteError) as caught:
        _fill(store, run_id)
    _not_sqlalchemy(caught.value)
    assert "could not write: the disk is full" in caught.value.message
    assert sqlite_url.removeprefix("sqlite:///") in (caught.value.hint or "")
    assert "Free space" in (caught.value.hint or "")
    assert store.get_run(run_id).status == "running"  # the store still reads
    store.close()


def test_a_real_full_disk(tmp_path: Path) -> None:
    """A 1 MB tmpfs (needs root and mount; the PRAGMA test above runs everywhere)."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        store = MetadataStore(f"sqlite:///{folder / 'keel.db'}")
        with pytest.raises(StoreWriteError, match="the disk is full"):
            _fill(store, store.create_run("x"))
        store.close()
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_sqlite_read_only_is_a_store_write_error(sqlite_url: str, sqlite_pragma: list[str]) -> None:
    store = MetadataStore(sqlite_url)
    sqlite_pragma.append("PRAGMA query_only = ON")  # writes fail as on a read-only file
    store.close()  # the next connection is read-only
    with pytest.raises(StoreWriteError) as caught:
        store.create_run("x")
    assert "the database is read-only" in caught.value.message
    assert "writable" in (caught.value.hint or "")
    store.close()
    with pytest.raises(StoreWriteError, match="read-only"):  # opening it migrates: a write
        MetadataStore(sqlite_url)


_IO_ERROR = """
import resource, signal, sys
from keel.errors import StoreWriteError
from keel.store import MetadataStore

store = MetadataStore(sys.argv[1])
run_id = store.create_run("x")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
try:
    for i in range(1000):
        store.log_metrics(run_id, [(f"m{k}", float(i), i) for k in range(200)])
except StoreWriteError as exc:
    print(exc.message)
"""


def test_sqlite_disk_io_error_is_a_store_write_error(sqlite_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IO_ERROR, sqlite_url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "could not write: the disk reported an I/O error" in done.stdout


def test_postgresql_read_only_is_a_store_write_error(pg_url: str) -> None:
    store = MetadataStore(pg_url)
    database = sa.make_url(pg_url).database
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    admin.dispose()
    store.close()  # the next connection is read-only
    with pytest.raises(StoreWriteError) as caught:
        store.create_run("x")
    _not_sqlalchemy(caught.value)
    assert "could not write: the database is read-only" in caught.value.message
    assert "postgresql" in caught.value.message
    store.close()

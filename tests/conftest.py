"""Shared fixtures: the same data handed to every engine Keel supports, and metadata stores.

Every metadata store test runs against SQLite and the real PostgreSQL: the server at
``KEEL_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test
gets a fresh database, dropped afterwards. Without a server the PostgreSQL cases are skipped
locally and fail in CI (``CI=true``), so CI cannot go green without having exercised
PostgreSQL.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import Pool

Constructor = Callable[[pl.DataFrame], Any]


def _pandas(df: pl.DataFrame) -> Any:
    return df.to_pandas(use_pyarrow_extension_array=True)


def _duckdb(df: pl.DataFrame) -> Any:
    import duckdb

    return duckdb.from_arrow(df.to_arrow())


@functools.cache
def _tokenize_arrow_dictionaries() -> None:
    """Dask names a frame by a token of its data, and reuses a frame of the same name; its
    token of an Arrow dictionary array reads the indices only (``arr.buffers()`` leaves the
    dictionary out), so two frames of different categories get one name and the second
    silently computes with the first one's data. Tokenize the dictionary too."""
    import pyarrow as pa
    from dask.base import normalize_token

    @normalize_token.register(pa.DictionaryArray)  # type: ignore[misc]  # untyped decorator
    def _normalize(arr: Any) -> tuple[Any, ...]:
        indices, dictionary = normalize_token(arr.indices), normalize_token(arr.dictionary)
        return ("pa.DictionaryArray", indices, dictionary)


def _dask(df: pl.DataFrame) -> Any:
    import dask.dataframe as dd

    _tokenize_arrow_dictionaries()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return dd.from_pandas(_pandas(df), npartitions=2)


CONSTRUCTORS: dict[str, Constructor] = {
    "polars": lambda df: df,
    "polars-lazy": lambda df: df.lazy(),
    "pandas": _pandas,
    "pyarrow": lambda df: df.to_arrow(),
    "duckdb": _duckdb,
    "dask": _dask,
}


@pytest.fixture(params=list(CONSTRUCTORS))
def constructor(request: pytest.FixtureRequest) -> Constructor:
    """Turns a Polars frame into each supported library's frame (narwhals' pattern)."""
    return CONSTRUCTORS[request.param]


PG_ADMIN_URL = os.environ.get("KEEL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin() -> sa.Engine:
    engine = sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    admin = _pg_admin()
    name = f"keel_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file in a folder that does not exist yet."""
    return f"sqlite:///{tmp_path / '.keel' / 'keel.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh metadata store URL on each backend (narwhals' ``constructor`` pattern)."""
    fixture = {"sqlite": "sqlite_url", "postgresql": "pg_url"}[request.param]
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sqlite_pragma() -> Iterator[list[str]]:
    """PRAGMAs that every new SQLite connection runs while the test runs (the test appends
    them): ``PRAGMA max_page_count = N`` makes SQLite fail exactly as on a full disk,
    ``PRAGMA query_only = ON`` as on a read-only database."""
    pragmas: list[str] = []

    def apply(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            for pragma in pragmas:
                connection.execute(pragma)

    event.listen(Pool, "connect", apply)
    try:
        yield pragmas
    finally:
        event.remove(Pool, "connect", apply)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under ``CI=true`` a skipped test fails: a missing service, client or package must not
    let CI go green without the test having run (``importorskip`` included)."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and os.environ.get("CI", "").lower() == "true"
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


SWIFT_START = Path(__file__).parent / "services" / "swift" / "start.sh"


@pytest.fixture(scope="session")
def swift() -> dict[str, str]:
    """A real S3-compatible server: OpenStack Swift with its s3api middleware, installed
    (from Debian's packages, if missing) and started once by tests/services/swift/start.sh;
    left running for the next session. Its endpoint, key and secret. If it cannot start, the
    tests using it are skipped locally and fail under ``CI=true``."""
    import subprocess

    try:
        done = subprocess.run(
            ["bash", str(SWIFT_START)], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        done = subprocess.CompletedProcess([], 1, "", str(exc))
    if done.returncode != 0:
        reason = f"the Swift S3 server could not start ({SWIFT_START}): {done.stderr[-2000:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {
        "endpoint_url": found["KEEL_SWIFT_ENDPOINT"],
        "key": found["KEEL_SWIFT_KEY"],
        "secret": found["KEEL_SWIFT_SECRET"],
    }


@pytest.fixture
def s3_bucket(swift: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh bucket on the Swift server: ``(s3://BUCKET/keel, storage options)``."""
    s3fs = pytest.importorskip("s3fs")
    options: dict[str, Any] = dict(swift)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    bucket = f"keel-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    yield f"s3://{bucket}/keel", options
    _empty_bucket(fs, bucket)


def _empty_bucket(fs: Any, bucket: str) -> None:
    import contextlib

    with contextlib.suppress(Exception):
        for path in fs.find(bucket, refresh=True):
            fs.rm_file(path)  # one by one: DeleteObjects wants Content-MD5 on Swift
        fs.rmdir(bucket)

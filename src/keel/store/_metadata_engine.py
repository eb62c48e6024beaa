"""Engines for the metadata store: which URLs are accepted and how connections are set up.

- ``sqlite:///path/to/keel.db`` (the default, ``.keel/keel.db``): the folder is created; every
  connection runs in WAL mode with a 30 s busy timeout, foreign keys on and
  ``synchronous=NORMAL``. Write transactions start with ``BEGIN IMMEDIATE`` so that writers
  queue on the busy timeout instead of failing with "database is locked" when a read
  transaction tries to become a write transaction.
- ``postgresql+psycopg://user:password@host:port/db`` (``postgresql://`` means the same).

:func:`transaction` retries a whole transaction on the transient errors of concurrency
(SQLite busy/locked, PostgreSQL serialization failures and deadlocks) with jittered backoff.
Every engine translates the database errors a user can cause or fix (a value out of range,
a full disk, a read-only database) into Keel errors (:mod:`keel.store._metadata_errors`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from keel.errors import ConfigError, MissingDependencyError
from keel.store._metadata_errors import install as install_error_translation

__all__ = ["create_engine", "public_url", "transaction"]

T = TypeVar("T")

BUSY_TIMEOUT_S = 30
SUPPORTED = "sqlite:///path/to/keel.db, postgresql+psycopg://user@host:5432/db"
_WRITE = "keel_write"
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_ATTEMPTS = 10


def parse_url(url: str) -> URL:
    """The parsed store URL, or a :class:`ConfigError` naming the supported forms."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{url!r} is not a metadata store URL.",
            hint=f"Use one of: {SUPPORTED} ([store] url in keel.toml or KEEL_STORE_URL).",
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in {"sqlite", "postgresql+psycopg"}:
        raise ConfigError(
            f"unknown metadata store URL scheme {parsed.drivername!r} in "
            f"{public_url(parsed)!r}; supported: sqlite, postgresql+psycopg.",
            hint=f"Use one of: {SUPPORTED} ([store] url in keel.toml or KEEL_STORE_URL).",
        )
    return parsed


def public_url(url: URL) -> str:
    """The URL as text with its password masked, safe for messages and logs."""
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> tuple[Engine, Engine]:
    """A ``(read, write)`` pair of engines over one pool for a URL from :func:`parse_url`."""
    engine = _sqlite_engine(url) if url.get_backend_name() == "sqlite" else _postgres_engine(url)
    install_error_translation(engine)
    return engine, engine.execution_options(**{_WRITE: True})


def transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction, retried from the start on transient concurrency errors."""
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == _ATTEMPTS - 1 or not _transient(exc):
                raise
        time.sleep(min(2.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")  # pragma: no cover


def _transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in {"", ":memory:"}:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        _make_parent(Path(database))
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder {path.parent} for the metadata store: "
            f"{exc.strerror or exc}.",
            hint="Make it writable, or set [store] url in keel.toml (KEEL_STORE_URL).",
        ) from exc


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _begin_sqlite)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_engine(url: URL) -> Engine:
    try:
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except ImportError:
        raise MissingDependencyError(
            "psycopg", extra="postgresql", purpose="A PostgreSQL metadata store"
        ) from None

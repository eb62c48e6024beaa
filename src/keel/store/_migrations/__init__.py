"""Schema migrations of the metadata store, applied when a store is opened.

The revision scripts live in ``versions/`` and are run by Alembic in-process (no ``env.py``,
no ``alembic.ini``). The revision is recorded in ``keel_alembic_version`` so that a project's
own Alembic table is never touched. Several processes may open a fresh store at once: the
upgrade runs inside one transaction that first takes a lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), then re-reads the revision, so only the first
process migrates and the others find the work done.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from keel.errors import StoreVersionError

__all__ = ["VERSION_TABLE", "current_revision", "head_revision", "upgrade"]

VERSION_TABLE = "keel_alembic_version"
_LOCK_KEY = 0x6B65656C  # "keel": the PostgreSQL advisory lock that serializes upgrades


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(Path(__file__).parent))


def head_revision() -> str:
    """The newest revision this Keel knows."""
    head = _script().get_current_head()
    assert head is not None  # the package ships at least one revision
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine, *, where: str) -> None:
    """Bring the database behind ``engine`` to the head revision (a no-op when it is there).

    ``engine`` must begin write transactions with a lock on SQLite (``BEGIN IMMEDIATE``).
    ``where`` names the store (its URL without the password) in error messages.
    """
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == head_revision():
        return
    _check_known(current, where)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        _check_known(current_revision(conn), where)
        _run(conn)


def _check_known(revision: str | None, where: str) -> None:
    known = _known_revisions()
    if revision is not None and revision not in known:
        raise StoreVersionError(
            f"the metadata store at {where} is at schema revision {revision!r}, which this "
            f"Keel does not know (newest known: {head_revision()!r}): it was created by a "
            "newer Keel.",
            hint="Upgrade keel (pip install -U mlkeel) on this machine; "
            "the store was left untouched.",
        )


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _script().walk_revisions())


def _run(conn: Connection) -> None:
    script = _script()

    def to_head(revision: Any, context: MigrationContext) -> Iterable[Any]:
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(Config(), script, fn=to_head) as environment:
        environment.configure(connection=conn, version_table=VERSION_TABLE)
        environment.run_migrations()

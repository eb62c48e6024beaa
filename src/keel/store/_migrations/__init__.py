"""Schema migrations of the metadata store, applied when a store is opened.

The revision scripts live in ``versions/`` and are run by Alembic in-process (no ``env.py``,
no ``alembic.ini``). The revision is recorded in ``keel_alembic_version`` so that a project's
own Alembic table is never touched. Several processes may open a fresh store at once: the
upgrade runs inside one transaction that first takes a lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), then re-reads the revision, so only the first
process migrates and the others find the work done.

Opening a store that is already current costs one ``SELECT`` and does not import Alembic
(about 50 ms of start-up a CLI command would otherwise pay): the newest revision is the
constant ``HEAD``, which a test keeps equal to the newest script in ``versions/``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from keel.errors import StoreVersionError

if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

__all__ = ["HEAD", "VERSION_TABLE", "current_revision", "head_revision", "upgrade"]

HEAD = "0007"  # the newest script in versions/ (tests/store/test_metadata_migrations.py checks)
VERSION_TABLE = "keel_alembic_version"
_LOCK_KEY = 0x6B65656C  # "keel": the PostgreSQL advisory lock that serializes upgrades


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(__file__).parent))


def head_revision() -> str:
    """The newest revision among the scripts in ``versions/`` (imports Alembic)."""
    head = _script().get_current_head()
    assert head is not None  # the package ships at least one revision
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    try:
        revision = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except DBAPIError:  # pragma: no cover - the table vanished between the two statements
        return None
    return None if revision is None else str(revision)


def upgrade(engine: Engine, *, where: str) -> None:
    """Bring the database behind ``engine`` to the head revision (a no-op when it is there).

    ``engine`` must begin write transactions with a lock on SQLite (``BEGIN IMMEDIATE``).
    ``where`` names the store (its URL without the password) in error messages.
    """
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == HEAD:
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
            f"Keel does not know (newest known: {HEAD!r}): it was created by a "
            "newer Keel.",
            hint="Upgrade keel (pip install -U mlkeel) on this machine; "
            "the store was left untouched.",
        )


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _script().walk_revisions())


def _run(conn: Connection) -> None:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    script = _script()

    def to_head(revision: Any, context: MigrationContext) -> Iterable[Any]:
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(Config(), script, fn=to_head) as environment:
        environment.configure(connection=conn, version_table=VERSION_TABLE)
        environment.run_migrations()

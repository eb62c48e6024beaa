"""Runs record the process that runs them (host, pid, start identity), and a run whose
process died is ``killed``.

Revision ID: 0006
Revises: 0005

SQLite cannot alter a CHECK constraint, and rebuilding ``runs`` would delete every row
that refers to it (``ON DELETE CASCADE`` fires on ``DROP TABLE`` while foreign keys are on,
as they are inside this transaction). The constraint is widened instead by editing the
table's definition in ``sqlite_schema``, the procedure SQLite documents for changes that
do not touch stored rows (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of
Table Schema Changes"): every existing row satisfies the wider constraint.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keel.errors import StoreVersionError

revision = "0006"
down_revision: str | None = "0005"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_OLD = "status IN ('running', 'finished', 'failed')"
_NEW = "status IN ('running', 'finished', 'failed', 'killed')"


def upgrade() -> None:
    op.add_column("runs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("runs", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("process_start", sa.String(200), nullable=True))
    op.create_index("ix_runs_status_host", "runs", ["status", "host"])
    _check(_OLD, _NEW)


def downgrade() -> None:
    op.execute("UPDATE runs SET status = 'failed' WHERE status = 'killed'")
    _check(_NEW, _OLD)
    op.drop_index("ix_runs_status_host", table_name="runs")
    for column in ("process_start", "pid", "host"):
        op.drop_column("runs", column)  # SQLite >= 3.35 drops a column in place


def _check(old: str, new: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        op.drop_constraint("ck_runs_status", "runs", type_="check")
        op.create_check_constraint("ck_runs_status", "runs", new)
        return
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
    ).scalar_one()
    if sql.count(old) != 1:
        raise StoreVersionError(
            f"the runs table of this SQLite store has an unexpected definition: {sql}",
            hint="The store was changed outside Keel; restore it from a backup.",
        )
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'runs'",
        (sql.replace(old, new),),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise StoreVersionError(
            f"the SQLite store failed its integrity check while migrating: {problems}",
            hint="Nothing was changed (the migration rolled back); restore it from a backup.",
        )

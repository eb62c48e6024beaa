"""Each run's latest value of each metric in its own table, indexed by (key, value), so that
runs ordered or filtered by a metric need not find every run's latest value among all values.

Revision ID: 0008
Revises: 0007

The table is filled from ``metrics`` with the rule ``Run.metrics`` always used: the value of
the highest step, then the latest timestamp, then the last logged. NaN is stored as NULL.
From here on :meth:`MetadataStore.log_metrics` keeps it current in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

# NaN: SQLite already holds it as NULL; PostgreSQL's NaN equals 'NaN' (unlike IEEE)
_FILL = """
INSERT INTO latest_metrics (run_id, "key", "value", step, "timestamp")
SELECT run_id, "key", {value}, step, "timestamp" FROM (
    SELECT run_id, "key", "value", step, "timestamp", row_number() OVER (
        PARTITION BY run_id, "key" ORDER BY step DESC, "timestamp" DESC, id DESC
    ) AS position
    FROM metrics
) AS ranked
WHERE position = 1
"""


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double()),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute(_FILL.format(value="""NULLIF("value", 'NaN')""" if postgresql else '"value"'))
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.drop_table("latest_metrics")

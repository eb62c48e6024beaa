"""Pipelines: a record per step run (its cache key and what went in and out), and lineage.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "step_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("pipeline", sa.String(250), nullable=False),
        sa.Column("step", sa.String(250), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("explanation", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("components", _JSON),
        sa.CheckConstraint(
            "status IN ('finished', 'cached', 'failed')", name="ck_step_runs_status"
        ),
        sa.Index("ix_step_runs_key", "key"),
        sa.Index("ix_step_runs_run", "run_id"),
        sa.Index("ix_step_runs_pipeline_step", "pipeline", "step", "ended_at"),
    )
    op.create_table(
        "step_io",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "step_run_id",
            sa.String(32),
            sa.ForeignKey("step_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger()),
        sa.Column("detail", _JSON),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_step_io_direction"),
        sa.Index("ix_step_io_digest", "digest"),
        sa.Index("ix_step_io_step_run", "step_run_id"),
    )
    op.create_table(
        "lineage_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("event_time", _TIME, nullable=False),
        sa.Column("job", sa.String(250), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Index("ix_lineage_events_run", "run_id"),
    )


def downgrade() -> None:
    op.drop_table("lineage_events")
    op.drop_table("step_io")
    op.drop_table("step_runs")

"""Initial tracking schema: experiments, runs, tags, params, metrics, artifacts, datasets.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_RUN_ID = sa.String(32)


def _run_fk(ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey("runs.id", ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    _create_runs()
    _create_run_children()
    _create_datasets()


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", _RUN_ID, primary_key=True),
        sa.Column("experiment_id", _BIG_ID, sa.ForeignKey("experiments.id", ondelete="SET NULL")),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_id", _RUN_ID, _run_fk()),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME),
        sa.Column("error", sa.Text()),
        sa.Column("fingerprint", _JSON),
        sa.CheckConstraint("status IN ('running', 'finished', 'failed')", name="ck_runs_status"),
    )
    op.create_index("ix_runs_experiment_started", "runs", ["experiment_id", "started_at"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])


def _create_run_children() -> None:
    op.create_table(
        "run_tags",
        sa.Column("run_id", _RUN_ID, _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "params",
        sa.Column("run_id", _RUN_ID, _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", _RUN_ID, _run_fk(), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Double()),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "artifacts",
        sa.Column("run_id", _RUN_ID, _run_fk(), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])


def _create_datasets() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column(
            "dataset_id",
            _BIG_ID,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger()),
        sa.Column("schema", _JSON),
        sa.Column("contract", _JSON),
        sa.Column("stored", sa.Boolean(), nullable=False),
        sa.Column("uri", sa.Text()),
        sa.Column("run_id", _RUN_ID, _run_fk("SET NULL")),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])


def downgrade() -> None:
    for table in (
        "dataset_versions",
        "datasets",
        "artifacts",
        "metrics",
        "params",
        "run_tags",
        "runs",
        "experiments",
    ):
        op.drop_table(table)

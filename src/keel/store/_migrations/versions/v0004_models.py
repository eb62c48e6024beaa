"""The model registry: models, immutable versions, aliases (with a revision for optimistic
concurrency) and an append-only event log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision: str | None = "0003"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", _BIG_ID, _model_fk(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("manifest", sa.String(64), nullable=False),
        sa.Column("listing", sa.String(64), nullable=False),
        sa.Column("adapter", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("metrics", _JSON),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", _BIG_ID, _model_fk(), primary_key=True),
        sa.Column("alias", sa.String(250), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    op.create_table(
        "model_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("model_id", _BIG_ID, _model_fk(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("alias", sa.String(250)),
        sa.Column("previous_version", sa.Integer()),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("detail", _JSON),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Index("ix_model_events_model", "model_id", "id"),
    )


def downgrade() -> None:
    op.drop_table("model_events")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("registered_models")

"""Reference profiles: the profile of a model version's or dataset version's reference data
(stored as an artifact), by subject, name and version.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision: str | None = "0004"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("subject", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(250), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("columns", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("source", sa.Text()),
        sa.CheckConstraint("subject IN ('model', 'dataset')", name="ck_reference_profiles_subject"),
        sa.Index("ix_reference_profiles_digest", "digest"),
    )


def downgrade() -> None:
    op.drop_table("reference_profiles")

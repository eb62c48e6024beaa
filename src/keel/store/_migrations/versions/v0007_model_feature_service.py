"""A model version names the feature service it was trained with, and keeps a snapshot of
that service as resolved at registration (features, views, entity keys, request fields).

Revision ID: 0007
Revises: 0006

Both columns are nullable and added in place (no table rebuild): existing versions named no
service, and keep every row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision: str | None = "0006"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("feature_service", sa.String(250), nullable=True))
    op.add_column("model_versions", sa.Column("feature_snapshot", _JSON, nullable=True))


def downgrade() -> None:
    for column in ("feature_snapshot", "feature_service"):
        op.drop_column("model_versions", column)  # SQLite >= 3.35 drops a column in place

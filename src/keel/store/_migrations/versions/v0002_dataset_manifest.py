"""Dataset versions record their size, file count and the manifest of their files.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("files", sa.Integer(), nullable=True))
        # BLAKE3 digest of the artifact listing every file (path, digest, size)
        batch.add_column(sa.Column("manifest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("manifest")
        batch.drop_column("files")
        batch.drop_column("size")

"""The tables of the metadata store, as SQLAlchemy Core objects used by every query.

The schema is created and changed only by the Alembic migrations in ``_migrations/versions``;
``tests/store/test_metadata_migrations.py`` proves that the migrations build exactly these
tables. Types that the two backends disagree on are normalized here:

- ``UtcDateTime``: timezone-aware UTC in and out (SQLite keeps no time zone).
- ``FloatValue``: a double that keeps NaN. PostgreSQL stores NaN natively; SQLite turns NaN
  into NULL, so on SQLite a NULL metric value *is* NaN (a metric value is never absent).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "RUN_STATUSES",
    "FloatValue",
    "UtcDateTime",
    "artifacts",
    "dataset_versions",
    "datasets",
    "experiments",
    "lineage_events",
    "metadata",
    "metrics",
    "model_aliases",
    "model_events",
    "model_versions",
    "params",
    "reference_profiles",
    "registered_models",
    "run_tags",
    "runs",
    "step_io",
    "step_runs",
]

RUN_STATUSES = ("running", "finished", "failed", "killed")
STEP_STATUSES = ("finished", "cached", "failed")

KEY_LENGTH = 250
DIGEST_LENGTH = 64

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A datetime stored in UTC and always read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FloatValue(sa.TypeDecorator[float]):
    """A double precision float that round-trips NaN and +/-inf on SQLite and PostgreSQL."""

    impl = sa.Double()
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> float | None:
        if value is not None and dialect.name == "sqlite" and math.isnan(value):
            return None
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> float:
        return math.nan if value is None else float(value)


def _now() -> datetime:
    return datetime.now(UTC)


experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(KEY_LENGTH), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False, default=_now),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("experiment_id", BigId, sa.ForeignKey("experiments.id", ondelete="SET NULL")),
    sa.Column("name", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE")),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime()),
    sa.Column("error", sa.Text()),
    sa.Column("fingerprint", JSONType),
    # the process that runs it, so that a run whose process died can be marked killed
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer()),
    sa.Column("process_start", sa.String(200)),
    sa.CheckConstraint(
        "status IN ('running', 'finished', 'failed', 'killed')", name="ck_runs_status"
    ),
    sa.Index("ix_runs_experiment_started", "experiment_id", "started_at"),
    sa.Index("ix_runs_parent", "parent_id"),
    sa.Index("ix_runs_status_host", "status", "host"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),  # JSON text: exactly what was logged
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("value", FloatValue()),  # NULL only on SQLite, meaning NaN
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("timestamp", sa.Double(), nullable=False),  # Unix seconds
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("digest", sa.String(DIGEST_LENGTH), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_artifacts_digest", "digest"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(KEY_LENGTH), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column(
        "dataset_id", BigId, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("digest", sa.String(DIGEST_LENGTH), nullable=False),
    sa.Column("rows", sa.BigInteger()),
    sa.Column("schema", JSONType),
    sa.Column("contract", JSONType),  # the contract check's result, if one ran
    sa.Column("stored", sa.Boolean(), nullable=False),  # bytes in the artifact store?
    sa.Column("uri", sa.Text()),  # where the data lives when only referenced
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("size", sa.BigInteger()),  # bytes (revision 0002)
    sa.Column("files", sa.Integer()),
    sa.Column("manifest", sa.String(DIGEST_LENGTH)),  # artifact listing every file
    sa.Index("ix_dataset_versions_digest", "digest"),
)

step_runs = sa.Table(  # revision 0003: one row per step of a pipeline run
    "step_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("pipeline", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("step", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("key", sa.String(DIGEST_LENGTH), nullable=False),  # the cache key
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("explanation", sa.Text()),  # why it ran (or "cached")
    sa.Column("error", sa.Text()),
    sa.Column("components", JSONType),  # what the key hashes, part by part
    sa.CheckConstraint("status IN ('finished', 'cached', 'failed')", name="ck_step_runs_status"),
    sa.Index("ix_step_runs_key", "key"),
    sa.Index("ix_step_runs_run", "run_id"),
    sa.Index("ix_step_runs_pipeline_step", "pipeline", "step", "ended_at"),
)

step_io = sa.Table(  # what each step run read and wrote, by content digest
    "step_io",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "step_run_id",
        sa.String(32),
        sa.ForeignKey("step_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("name", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(DIGEST_LENGTH), nullable=False),
    sa.Column("size", sa.BigInteger()),
    sa.Column("detail", JSONType),  # schema, source path, dataset version, producer
    sa.CheckConstraint("direction IN ('in', 'out')", name="ck_step_io_direction"),
    sa.Index("ix_step_io_digest", "digest"),
    sa.Index("ix_step_io_step_run", "step_run_id"),
)

lineage_events = sa.Table(  # OpenLineage run events, as emitted
    "lineage_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(16), nullable=False),
    sa.Column("event_time", UtcDateTime(), nullable=False),
    sa.Column("job", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Index("ix_lineage_events_run", "run_id"),
)

registered_models = sa.Table(  # revision 0004: the model registry
    "registered_models",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(KEY_LENGTH), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.id", ondelete="CASCADE")


model_versions = sa.Table(  # immutable: rows are inserted, never updated
    "model_versions",
    metadata,
    sa.Column("model_id", BigId, _model_fk(), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("manifest", sa.String(DIGEST_LENGTH), nullable=False),  # keel-model.yaml
    sa.Column("listing", sa.String(DIGEST_LENGTH), nullable=False),  # every file, for gc
    sa.Column("adapter", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("description", sa.Text()),
    sa.Column("metrics", JSONType),
    # revision 0007: the feature service it was trained with, resolved at registration
    sa.Column("feature_service", sa.String(KEY_LENGTH)),
    sa.Column("feature_snapshot", JSONType),
)

model_aliases = sa.Table(  # revision: bumped by every move (optimistic concurrency)
    "model_aliases",
    metadata,
    sa.Column("model_id", BigId, _model_fk(), primary_key=True),
    sa.Column("alias", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

model_events = sa.Table(  # append-only: who did what to which version, when and why
    "model_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_id", BigId, _model_fk(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer()),
    sa.Column("alias", sa.String(KEY_LENGTH)),
    sa.Column("previous_version", sa.Integer()),
    sa.Column("actor", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Column("detail", JSONType),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_model_events_model", "model_id", "id"),
)

reference_profiles = sa.Table(  # revision 0005: a model or dataset version's reference profile
    "reference_profiles",
    metadata,
    sa.Column("subject", sa.String(16), primary_key=True),  # "model" or "dataset"
    sa.Column("name", sa.String(KEY_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("digest", sa.String(DIGEST_LENGTH), nullable=False),  # the Profile JSON artifact
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("columns", JSONType, nullable=False),  # the profiled column names, in order
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("source", sa.Text()),  # what was profiled: a path, a dataset version, a frame
    sa.CheckConstraint("subject IN ('model', 'dataset')", name="ck_reference_profiles_subject"),
    sa.Index("ix_reference_profiles_digest", "digest"),
)

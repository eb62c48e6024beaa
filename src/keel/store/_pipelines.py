"""Records of pipeline step runs (the cache and its explanations) and lineage events.

A step run is written once, when it ends, in one transaction with what it read and wrote
(``step_io``, by content digest). A finished step run *is* a cache entry: its key and its
outputs. Cached step runs are recorded too, so lineage and ``keel reproduce`` see every run
of every step. Lineage queries walk ``step_io``: the producer of a digest is the step run
that wrote it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from keel.store._metadata_engine import transaction
from keel.store._metadata_schema import lineage_events, step_io, step_runs

__all__ = ["LineageEvent", "PipelineStore", "StepIO", "StepRunRecord", "StepStatus"]

StepStatus = Literal["finished", "cached", "failed"]


@dataclass(frozen=True)
class StepIO:
    """One input or output of a step run: a name, what kind of value, and its digest."""

    name: str
    kind: str  # frame, json, object, file, external
    digest: str
    size: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepRunRecord:
    """One execution (or cache hit) of one step in one pipeline run."""

    id: str
    run_id: str
    pipeline: str
    step: str
    key: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime
    attempts: int = 1
    explanation: str | None = None
    error: str | None = None
    components: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[StepIO, ...] = ()
    outputs: tuple[StepIO, ...] = ()

    @property
    def duration(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class LineageEvent:
    """An OpenLineage run event as it was emitted."""

    run_id: str
    event_type: str
    event_time: datetime
    job: str
    payload: Mapping[str, Any]


class PipelineStore:
    """Step runs and lineage events in the metadata store (``MetadataStore.pipelines``)."""

    def __init__(self, read: Engine, write: Engine) -> None:
        self._read, self._write = read, write

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    # -- writing --------------------------------------------------------------------------
    def record(self, records: Sequence[StepRunRecord], events: Sequence[LineageEvent] = ()) -> None:
        """Write step runs with their inputs and outputs, and lineage events, at once."""
        run_rows = [
            {
                "id": r.id,
                "run_id": r.run_id,
                "pipeline": r.pipeline,
                "step": r.step,
                "key": r.key,
                "status": r.status,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "attempts": r.attempts,
                "explanation": r.explanation,
                "error": r.error,
                "components": dict(r.components),
            }
            for r in records
        ]
        io_rows = [
            {
                "step_run_id": r.id,
                "direction": direction,
                "name": item.name,
                "kind": item.kind,
                "digest": item.digest,
                "size": item.size,
                "detail": dict(item.detail),
            }
            for r in records
            for direction, items in (("in", r.inputs), ("out", r.outputs))
            for item in items
        ]
        event_rows = [e.__dict__ | {"payload": dict(e.payload)} for e in events]

        def work(conn: Connection) -> None:
            if run_rows:
                conn.execute(step_runs.insert(), run_rows)
            if io_rows:
                conn.execute(step_io.insert(), io_rows)
            if event_rows:
                conn.execute(lineage_events.insert(), event_rows)

        if run_rows or event_rows:
            transaction(self._write, work)

    # -- reading --------------------------------------------------------------------------
    def cached(self, key: str) -> StepRunRecord | None:
        """The newest successful step run with this cache key (a candidate cache hit)."""
        query = (
            sa.select(step_runs)
            .where(step_runs.c.key == key, step_runs.c.status.in_(("finished", "cached")))
            .order_by(step_runs.c.ended_at.desc())
            .limit(1)
        )
        return self._first(query)

    def previous(self, pipeline: str, step: str) -> StepRunRecord | None:
        """The newest successful run of ``pipeline``'s ``step`` (to explain a cache miss)."""
        query = (
            sa.select(step_runs)
            .where(
                step_runs.c.pipeline == pipeline,
                step_runs.c.step == step,
                step_runs.c.status.in_(("finished", "cached")),
            )
            .order_by(step_runs.c.ended_at.desc())
            .limit(1)
        )
        return self._first(query)

    def for_run(self, run_id: str) -> list[StepRunRecord]:
        """The step runs of one pipeline run, in the order they ended."""
        query = (
            sa.select(step_runs)
            .where(step_runs.c.run_id == run_id)
            .order_by(step_runs.c.ended_at, step_runs.c.step)
        )
        return self._many(query)

    def recent(self, limit: int = 200) -> list[StepRunRecord]:
        """The newest step runs of any pipeline, newest first (for KPIs and dashboards)."""
        query = sa.select(step_runs).order_by(step_runs.c.ended_at.desc()).limit(limit)
        return self._many(query)

    def get(self, step_run_id: str) -> StepRunRecord | None:
        return self._first(sa.select(step_runs).where(step_runs.c.id == step_run_id))

    def producers(self, digest_prefix: str) -> list[StepRunRecord]:
        """Step runs that wrote an output whose digest starts with ``digest_prefix``.

        Executed runs come before cache hits, newest first: the first is the run that made
        the bytes.
        """
        ids = (
            sa.select(step_io.c.step_run_id)
            .where(step_io.c.direction == "out", step_io.c.digest.startswith(digest_prefix))
            .scalar_subquery()
        )
        query = (
            sa.select(step_runs)
            .where(step_runs.c.id.in_(ids))
            .order_by((step_runs.c.status == "cached").asc(), step_runs.c.ended_at.desc())
        )
        return self._many(query)

    def consumers(self, digest: str) -> list[StepRunRecord]:
        """Step runs that read the value with exactly this ``digest`` (an output of another
        step, or data from outside), oldest first: what was made from it (downstream
        lineage)."""
        ids = (
            sa.select(step_io.c.step_run_id)
            .where(step_io.c.direction == "in", step_io.c.digest == digest)
            .scalar_subquery()
        )
        query = (
            sa.select(step_runs)
            .where(step_runs.c.id.in_(ids))
            .order_by(step_runs.c.ended_at, step_runs.c.step)
        )
        return self._many(query)

    def output_digests(self) -> set[str]:
        """Every digest a step run wrote (so that ``keel gc`` keeps the cache)."""
        query = sa.select(step_io.c.digest).where(
            step_io.c.direction == "out", step_io.c.kind != "external"
        )
        with self._read.connect() as conn:
            return {digest for (digest,) in conn.execute(query)}

    def events(self, run_id: str | None = None) -> list[LineageEvent]:
        """Lineage events, oldest first (of one OpenLineage run id when given)."""
        query = sa.select(lineage_events).order_by(lineage_events.c.id)
        if run_id is not None:
            query = query.where(lineage_events.c.run_id == run_id)
        with self._read.connect() as conn:
            return [
                LineageEvent(
                    run_id=row.run_id,
                    event_type=row.event_type,
                    event_time=row.event_time,
                    job=row.job,
                    payload=row.payload,
                )
                for row in conn.execute(query)
            ]

    def _first(self, query: sa.Select[Any]) -> StepRunRecord | None:
        found = self._many(query)
        return found[0] if found else None

    def _many(self, query: sa.Select[Any]) -> list[StepRunRecord]:
        with self._read.connect() as conn:
            rows = list(conn.execute(query))
            if not rows:
                return []
            ios: dict[str, dict[str, list[StepIO]]] = {r.id: {"in": [], "out": []} for r in rows}
            io_query = (
                sa.select(step_io)
                .where(step_io.c.step_run_id.in_(list(ios)))
                .order_by(step_io.c.id)
            )
            for io in conn.execute(io_query):
                ios[io.step_run_id][io.direction].append(
                    StepIO(io.name, io.kind, io.digest, io.size, io.detail or {})
                )
        return [_record(row, ios[row.id]) for row in rows]


def _record(row: Row[Any], io: Mapping[str, list[StepIO]]) -> StepRunRecord:
    return StepRunRecord(
        id=row.id,
        run_id=row.run_id,
        pipeline=row.pipeline,
        step=row.step,
        key=row.key,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        attempts=row.attempts,
        explanation=row.explanation,
        error=row.error,
        components=row.components or {},
        inputs=tuple(io["in"]),
        outputs=tuple(io["out"]),
    )


def now() -> datetime:
    return datetime.now(UTC)

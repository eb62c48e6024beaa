"""The metadata store: runs, params, metrics, tags, artifacts and dataset versions.

One SQL database holds what Keel knows about a project: a SQLite file (``.keel/keel.db``) by
default, PostgreSQL (``postgresql+psycopg://...``) for teams. Opening a store applies any
pending schema migration; a database created by a newer Keel is refused, untouched.
Every write is one transaction, retried on transient lock and serialization errors, so
concurrent processes can log into the same store.

Metric values are floats and keep NaN and +/-inf on both backends. Param values are
anything JSON can encode, stored as JSON text and read back as the decoded value.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, OperationalError

from keel.errors import StoreUnavailableError, UsageError
from keel.grammar import check_name, check_version
from keel.store import _migrations
from keel.store._metadata_engine import create_engine, parse_url, public_url, transaction
from keel.store._metadata_schema import (
    RUN_STATUSES,
    artifacts,
    dataset_versions,
    datasets,
    experiments,
    latest_metrics,
    metrics,
    model_versions,
    params,
    reference_profiles,
    run_tags,
    runs,
    step_io,
)
from keel.store._models import ModelStore
from keel.store._pipelines import PipelineStore
from keel.store._process import process_gone, this_host, this_process
from keel.store._references import ReferenceStore
from keel.store._run_search import RunPage, page_of_runs

_PARAMS, _METRICS = params, metrics  # tables, named apart from the arguments that shadow them
# run on every open (ix_runs_status_host); text, so a fresh engine has nothing to compile
_RUNNING_HERE = sa.text(
    "SELECT id, pid, process_start FROM runs WHERE status = 'running' AND host = :host"
)

__all__ = [
    "ArtifactRecord",
    "DatasetVersion",
    "MetadataStore",
    "Metric",
    "Run",
    "RunStatus",
    "metric_step",
]

RunStatus = Literal["running", "finished", "failed", "killed"]


class Metric(NamedTuple):
    """One logged metric value. ``timestamp`` is Unix seconds."""

    key: str
    value: float
    step: int = 0
    timestamp: float | None = None


@dataclass(frozen=True)
class Run:
    """A run as stored, with its tags, params and the latest value of each metric."""

    id: str
    name: str
    status: RunStatus
    started_at: datetime
    experiment: str | None = None
    parent_id: str | None = None
    ended_at: datetime | None = None
    error: str | None = None
    fingerprint: Mapping[str, Any] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    host: str | None = None
    """The host name of the process that ran it (``None`` for runs before Keel recorded it)."""
    pid: int | None = None


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact logged by a run: its name in the run and its bytes' BLAKE3 digest."""

    run_id: str
    name: str
    digest: str
    size: int
    created_at: datetime


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a named dataset."""

    name: str
    version: int
    digest: str
    stored: bool
    created_at: datetime
    rows: int | None = None
    schema: Mapping[str, Any] | None = None
    contract: Mapping[str, Any] | None = None
    uri: str | None = None
    run_id: str | None = None
    size: int | None = None
    files: int | None = None
    manifest: str | None = None
    """Digest of the artifact listing every file (path, digest, size), when recorded."""


class MetadataStore:
    """Tracking metadata in SQLite or PostgreSQL, migrated to this Keel's schema on open."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        self.url = public_url(parsed)
        """The store's URL with any password masked."""
        self._read, self._write = create_engine(parsed)
        try:
            _migrations.upgrade(self._write, where=self.url)
        except OperationalError as exc:
            self._read.dispose()
            raise _unavailable(self.url, parsed.password, exc) from None
        except BaseException:
            self._read.dispose()
            raise
        self.mark_killed_runs()

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Close every pooled connection."""
        self._read.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def models(self) -> ModelStore:
        """The model registry's versions, aliases and events."""
        return ModelStore(self._read, self._write)

    @property
    def pipelines(self) -> PipelineStore:
        """Step runs (the pipeline cache) and lineage events."""
        return PipelineStore(self._read, self._write)

    @property
    def references(self) -> ReferenceStore:
        """Which profile is the reference of each model and dataset version."""
        return ReferenceStore(self._read, self._write)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for reads and for tools; Keel writes through the API)."""
        return self._read

    # -- runs -----------------------------------------------------------------------------
    def create_run(
        self,
        name: str | None = None,
        *,
        experiment: str | None = None,
        parent_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a run (status ``running``) and return its id (32 hex characters).

        The run belongs to the calling process: if that process ends without finishing it,
        the next opening of the store on this machine marks it ``killed``.

        ``params`` are recorded in the same transaction (one write where there would be two).
        """
        if experiment is not None:
            check_name(experiment, "experiment")
        run_id = uuid.uuid4().hex
        encoded = {key: _encode_param(key, value) for key, value in (params or {}).items()}
        process = this_process()
        row: dict[str, Any] = {
            "id": run_id,
            "name": name or run_id[:8],
            "status": "running",
            "parent_id": parent_id,
            "started_at": datetime.now(UTC),
            "fingerprint": dict(fingerprint) if fingerprint is not None else None,
            "host": process.host,
            "pid": process.pid,
            "process_start": process.start,
        }

        def work(conn: Connection) -> None:
            if parent_id is not None:
                self._require_run(conn, parent_id)
            row["experiment_id"] = _experiment_id(conn, experiment) if experiment else None
            conn.execute(runs.insert().values(row))
            _upsert_tags(conn, run_id, tags or {})
            if encoded:
                conn.execute(
                    _PARAMS.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in encoded.items()],
                )

        transaction(self._write, work)
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: RunStatus = "finished",
        error: str | None = None,
        *,
        metrics: Iterable[Metric | tuple[Any, ...]] = (),
    ) -> None:
        """End a run as ``finished`` or ``failed`` (with the error text, e.g. a traceback).

        ``metrics`` still buffered by the caller are written in the same transaction.
        """
        now = time.time()
        rows = [_metric_row(run_id, Metric(*item), now) for item in metrics]
        if status not in RUN_STATUSES or status == "running":
            raise UsageError(
                f"cannot finish run {run_id} with status {status!r}.",
                hint="Use 'finished' or 'failed'.",
            )
        values = {"status": status, "error": error, "ended_at": datetime.now(UTC)}

        def work(conn: Connection) -> None:
            done = conn.execute(runs.update().where(runs.c.id == run_id).values(values))
            if done.rowcount == 0:
                raise _no_run(run_id)
            if rows:
                conn.execute(_METRICS.insert(), rows)
                _update_latest(conn, rows)

        transaction(self._write, work)

    def mark_killed_runs(self) -> list[str]:
        """Mark ``killed`` the running runs of this machine whose process no longer exists;
        return their ids. Run on every open: one indexed query, and a write only when a
        run is found dead. Best effort: a store this process cannot write is left as is."""
        host, me = this_host(), os.getpid()  # the start identity is read only if needed
        with self._read.connect() as conn:
            dead = [
                (run_id, pid)
                for run_id, pid, start in conn.execute(_RUNNING_HERE, {"host": host})
                if pid is not None and pid != me and process_gone(pid, start)
            ]
        if not dead:
            return []
        now = datetime.now(UTC)
        try:
            with self._write.begin() as conn:
                for run_id, pid in dead:
                    conn.execute(
                        runs.update()
                        .where(runs.c.id == run_id, runs.c.status == "running")
                        .values(status="killed", ended_at=now, error=_killed(pid, host))
                    )
        except DBAPIError:
            return []  # read-only or busy: the next open tries again
        return [run_id for run_id, _ in dead]

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags of a run."""

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            _upsert_tags(conn, run_id, tags)

        transaction(self._write, work)

    def add_run_input(self, run_id: str, name: str, version: int, digest: str) -> None:
        """Record that a run read dataset version ``name@version`` (its ``data`` fingerprint)."""
        _check_digest(digest)

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            stored = conn.execute(
                sa.select(runs.c.fingerprint).where(runs.c.id == run_id)
            ).scalar_one()
            fingerprint = dict(stored or {})
            inputs = [i for i in fingerprint.get("data") or [] if i.get("name") != name]
            inputs.append({"name": name, "version": version, "digest": digest})
            fingerprint["data"] = sorted(inputs, key=lambda i: str(i["name"]))
            conn.execute(runs.update().where(runs.c.id == run_id).values(fingerprint=fingerprint))

        transaction(self._write, work)

    def add_run_file(self, run_id: str, step: str, name: str, path: str, digest: str) -> None:
        """Record that step ``step`` of a run read the file or folder at ``path`` as its input
        ``name``, with content ``digest`` (the ``files`` of the run's fingerprint, which
        ``keel runs compare`` compares by digest: the same path may hold other data)."""
        _check_digest(digest)

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            stored = conn.execute(
                sa.select(runs.c.fingerprint).where(runs.c.id == run_id)
            ).scalar_one()
            fingerprint = dict(stored or {})
            files = [
                f
                for f in fingerprint.get("files") or []
                if (f.get("step"), f.get("input")) != (step, name)
            ]
            files.append({"step": step, "input": name, "path": path, "digest": digest})
            fingerprint["files"] = sorted(files, key=lambda f: (str(f["step"]), str(f["input"])))
            conn.execute(runs.update().where(runs.c.id == run_id).values(fingerprint=fingerprint))

        transaction(self._write, work)

    def get_run(self, run_id: str) -> Run:
        """The run with its tags, params and latest metric values."""
        found = self._select_runs(runs.c.id == run_id, limit=None)
        if not found:
            raise _no_run(run_id)
        return found[0]

    def get_runs(self, run_ids: Iterable[str]) -> list[Run]:
        """These runs, in the order given, read together (an unknown id is an error)."""
        chosen = list(run_ids)
        with self._read.connect() as conn:
            found = {run.id: run for run in _runs_in(conn, chosen)}
        missing = [run_id for run_id in chosen if run_id not in found]
        if missing:
            raise _no_run(missing[0])
        return [found[run_id] for run_id in chosen]

    def run_ids(self, prefix: str = "") -> list[str]:
        """Ids of the runs whose id starts with ``prefix`` (ids only: a cheap lookup)."""
        if not set(prefix) <= set("0123456789abcdef"):
            return []  # ids are hex; anything else (LIKE wildcards included) names no run
        query = sa.select(runs.c.id).where(runs.c.id.like(prefix + "%")).order_by(runs.c.id)
        with self._read.connect() as conn:
            return [run_id for (run_id,) in conn.execute(query)]

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        parent_id: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs, newest first, with their tags, params and latest metric values."""
        where = _run_conditions(experiment, status, parent_id)
        return self._select_runs(where, limit=limit)

    def count_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        parent_id: str | None = None,
    ) -> int:
        """How many runs :meth:`list_runs` returns without a limit (one ``count`` query)."""
        where = _run_conditions(experiment, status, parent_id)
        query = sa.select(sa.func.count()).select_from(runs.outerjoin(experiments)).where(where)
        with self._read.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def runs_reading(self, name: str, version: int) -> list[str]:
        """Ids of the runs that read dataset version ``name``/``version`` (their ``data``
        fingerprint names it), oldest first. Reads only ids and fingerprints."""
        query = sa.select(runs.c.id, runs.c.fingerprint).order_by(runs.c.started_at, runs.c.id)
        found = []
        with self._read.connect() as conn:
            for run_id, fingerprint in conn.execute(query):
                used = (fingerprint or {}).get("data") or []
                if any(d.get("name") == name and d.get("version") == version for d in used):
                    found.append(run_id)
        return found

    # -- params and metrics ---------------------------------------------------------------
    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Record params; a param, once logged, keeps its value (same value again is fine)."""
        encoded = {key: _encode_param(key, value) for key, value in values.items()}

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            query = sa.select(params.c.key, params.c.value).where(
                params.c.run_id == run_id, params.c.key.in_(list(encoded))
            )
            existing = {row.key: row.value for row in conn.execute(query)}
            _check_unchanged(run_id, existing, encoded)
            fresh = [
                {"run_id": run_id, "key": key, "value": value}
                for key, value in encoded.items()
                if key not in existing
            ]
            if fresh:
                conn.execute(params.insert(), fresh)

        if encoded:
            transaction(self._write, work)

    def log_metrics(self, run_id: str, values: Iterable[Metric | tuple[Any, ...]]) -> None:
        """Record metric values in one batched insert. NaN and +/-inf are kept as such."""
        now = time.time()
        rows = [_metric_row(run_id, Metric(*item), now) for item in values]

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute(metrics.insert(), rows)
            _update_latest(conn, rows)

        if rows:
            transaction(self._write, work)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of one metric of a run, by step then time."""
        query = (
            sa.select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        with self._read.connect() as conn:
            return [Metric(*row) for row in conn.execute(query)]

    def metric_histories(self, run_ids: Iterable[str]) -> dict[str, dict[str, list[Metric]]]:
        """Every value of every metric of these runs: ``{run_id: {key: [Metric, ...]}}``."""
        chosen = list(run_ids)
        columns = (metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
        query = (
            sa.select(metrics.c.run_id, *columns)
            .where(metrics.c.run_id.in_(chosen))
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        found: dict[str, dict[str, list[Metric]]] = {run_id: {} for run_id in chosen}
        with self._read.connect() as conn:
            for run_id, key, value, step, timestamp in conn.execute(query):
                found[run_id].setdefault(key, []).append(Metric(key, value, step, timestamp))
        return found

    def search_runs(
        self, where: str = "", *, order_by: str = "started", descending: bool = True,
        offset: int = 0, limit: int = 50,
    ) -> RunPage:  # fmt: skip
        """One page of the runs matching a filter expression, in an order, counted in SQL.

        ``where`` and ``order_by`` follow the grammar of :mod:`keel.store._run_search`
        (``metrics.auc > 0.8 and params.model = rf``; ``metrics.auc``). Only the page's runs
        are read: fast over tens of thousands of runs.
        """
        with self._read.connect() as conn:
            ids, total = page_of_runs(
                conn, where, order_by=order_by, descending=descending, offset=offset, limit=limit
            )
            by_id = {run.id: run for run in _runs_in(conn, ids)}
        return RunPage([by_id[i] for i in ids], total, max(offset, 0), max(limit, 0))

    # -- artifacts ------------------------------------------------------------------------
    def add_artifact(self, run_id: str, name: str, digest: str, size: int) -> ArtifactRecord:
        """Record that a run produced the artifact ``name`` (bytes in the artifact store)."""
        _check_digest(digest)
        record = ArtifactRecord(run_id, name, digest, size, datetime.now(UTC))

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute(
                artifacts.delete().where(artifacts.c.run_id == run_id, artifacts.c.name == name)
            )
            conn.execute(artifacts.insert().values(record.__dict__))

        transaction(self._write, work)
        return record

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The artifacts of a run, by name."""
        query = sa.select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.name)
        with self._read.connect() as conn:
            return [ArtifactRecord(**row._asdict()) for row in conn.execute(query)]

    def referenced_digests(self) -> set[str]:
        """Every artifact digest the metadata refers to: run artifacts, dataset manifests, the
        outputs of pipeline steps (the cache), model packages and reference profiles.

        (The files a manifest lists are referenced through the manifest; ``keel gc`` reads
        manifests from the artifact store.)
        """
        queries = [
            sa.select(artifacts.c.digest),
            sa.select(dataset_versions.c.manifest).where(dataset_versions.c.manifest.is_not(None)),
            sa.select(step_io.c.digest).where(
                step_io.c.direction == "out", step_io.c.kind != "external"
            ),
            sa.select(model_versions.c.manifest),
            sa.select(model_versions.c.listing),
            sa.select(reference_profiles.c.digest),
        ]
        with self._read.connect() as conn:
            return {digest for query in queries for (digest,) in conn.execute(query)}

    def stored_manifests(self) -> set[str]:
        """Digests of file listings whose files are in the artifact store: stored dataset
        versions' manifests and model versions' listings."""
        query = sa.select(dataset_versions.c.manifest).where(
            dataset_versions.c.manifest.is_not(None), dataset_versions.c.stored.is_(True)
        )
        with self._read.connect() as conn:
            found = {digest for (digest,) in conn.execute(query)}
            found.update(conn.execute(sa.select(model_versions.c.listing)).scalars())
            return found

    # -- datasets -------------------------------------------------------------------------
    def add_dataset_version(
        self,
        name: str,
        digest: str,
        *,
        stored: bool,
        rows: int | None = None,
        schema: Mapping[str, Any] | None = None,
        contract: Mapping[str, Any] | None = None,
        uri: str | None = None,
        run_id: str | None = None,
        size: int | None = None,
        files: int | None = None,
        manifest: str | None = None,
    ) -> DatasetVersion:
        """Record a new version of dataset ``name`` (1, 2, ...) and return it."""
        check_name(name, "dataset")
        _check_digest(digest)
        if manifest is not None:
            _check_digest(manifest)
        values: dict[str, Any] = {
            "size": size,
            "files": files,
            "manifest": manifest,
            "digest": digest,
            "stored": stored,
            "rows": rows,
            "uri": uri,
            "run_id": run_id,
            "schema": _json_object("schema", schema),
            "contract": _json_object("contract", contract),
            "created_at": datetime.now(UTC),
        }

        def work(conn: Connection) -> int:
            dataset_id = _locked_dataset_id(conn, name)
            last = conn.execute(
                sa.select(sa.func.max(dataset_versions.c.version)).where(
                    dataset_versions.c.dataset_id == dataset_id
                )
            ).scalar_one()
            version = int(last or 0) + 1
            conn.execute(
                dataset_versions.insert().values(dataset_id=dataset_id, version=version, **values)
            )
            return version

        version = transaction(self._write, work)
        return self.get_dataset_version(name, version)

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version of a dataset (the latest when ``version`` is ``None``)."""
        if version is not None:
            check_version(version)
        found = self.list_dataset_versions(name)
        if version is not None:
            found = [item for item in found if item.version == version]
        if not found:
            which = f"version {version} of " if version is not None else ""
            raise UsageError(
                f"{which}dataset {name!r} is not in the metadata store at {self.url}.",
                hint=f"keel data list {name} shows its versions.",
            )
        return found[-1]

    def dataset_versions_with_digest(self, digest: str) -> list[DatasetVersion]:
        """Registered dataset versions whose content has this digest (oldest first)."""
        where = dataset_versions.c.digest == digest
        return self._dataset_versions(where, dataset_versions.c.created_at)

    def dataset_names(self) -> list[str]:
        """The names of every registered dataset, sorted."""
        with self._read.connect() as conn:
            return list(conn.scalars(sa.select(datasets.c.name).order_by(datasets.c.name)))

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        check_name(name, "dataset")
        return self._dataset_versions(datasets.c.name == name, dataset_versions.c.version)

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix``."""
        matches = self.run_ids(prefix)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no run {prefix!r} in this store.", hint="keel runs list shows them.")
        raise UsageError(f"{prefix!r} names {len(matches)} runs.", hint="Give more characters.")

    def _dataset_versions(
        self, where: sa.ColumnElement[bool], order: sa.ColumnElement[Any]
    ) -> list[DatasetVersion]:
        query = (
            sa.select(datasets.c.name, dataset_versions)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(where)
            .order_by(order)
        )
        with self._read.connect() as conn:
            return [_dataset_version(row) for row in conn.execute(query)]

    # -- internals ------------------------------------------------------------------------
    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise _no_run(run_id)

    def _select_runs(self, where: sa.ColumnElement[bool], limit: int | None) -> list[Run]:
        chosen = (
            sa.select(runs.c.id)
            .select_from(runs.outerjoin(experiments))
            .where(where)
            .order_by(runs.c.started_at.desc(), runs.c.id)
            .limit(limit)
        )
        with self._read.connect() as conn:
            found = _runs_in(conn, chosen.scalar_subquery())
        return sorted(found, key=lambda r: (-r.started_at.timestamp(), r.id))


# -- helpers ------------------------------------------------------------------------------
def _run_conditions(
    experiment: str | None, status: RunStatus | None, parent_id: str | None
) -> sa.ColumnElement[bool]:
    where: list[sa.ColumnElement[bool]] = []
    if experiment is not None:
        where.append(experiments.c.name == check_name(experiment, "experiment"))
    if status is not None:
        where.append(runs.c.status == status)
    if parent_id is not None:
        where.append(runs.c.parent_id == parent_id)
    return sa.and_(sa.true(), *where)


def _unavailable(url: str, password: str | None, exc: OperationalError) -> StoreUnavailableError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if password:
        reason = reason.replace(password, "***")
    return StoreUnavailableError(
        f"cannot connect to the metadata store at {url}: {reason}",
        hint="Check that the database server is running and reachable, and the user, password "
        "and database name; or set [store] url in keel.toml (KEEL_STORE_URL).",
    )


def _killed(pid: int, host: str) -> str:
    return (
        f"the process that ran it (pid {pid} on {host}) ended without finishing the run: "
        "it was killed (SIGKILL, out of memory, a shutdown) or crashed."
    )


def _no_run(run_id: str) -> UsageError:
    return UsageError(
        f"run {run_id!r} is not in the metadata store.",
        hint="Use the id returned by create_run (list them with MetadataStore.list_runs()).",
    )


def _encode_param(key: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"param {key!r} has a value of type {type(value).__name__}, which is not "
            f"JSON-serializable: {exc}.",
            hint="Log str, int, float, bool, None, or lists and dicts of those "
            "(e.g. str(value), or value.tolist() for an array).",
        ) from None


def _json_object(what: str, value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _encode_param(what, dict(value))
    return dict(value)


def _check_unchanged(run_id: str, existing: Mapping[str, str], new: Mapping[str, str]) -> None:
    changed = sorted(key for key, value in existing.items() if new[key] != value)
    if changed:
        key = changed[0]
        raise UsageError(
            f"param {key!r} of run {run_id} is already {existing[key]} and cannot become "
            f"{new[key]} (changed: {', '.join(changed)}).",
            hint="Params describe a run's inputs and are fixed once logged; "
            "log a metric or start a new run instead.",
        )


def metric_step(key: str, step: Any) -> int:
    """``step`` as the integer the store keeps, or a :class:`UsageError` when it is not an
    integer or does not fit the store's 64-bit column (a check at logging time, so the error
    points at the line that logged it, not at the end of the run)."""
    try:
        number = int(step)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or number != step or isinstance(step, bool):
        raise UsageError(
            f"metric {key!r} has step {step!r}, which is not an integer.",
            hint="Steps count iterations or epochs: 0, 1, 2, ...",
        )
    if not -(2**63) <= number < 2**63:
        raise UsageError(
            f"metric {key!r} has step {number}, outside the 64-bit range the metadata store keeps.",
            hint="Use a step from -2**63 to 2**63-1 (an iteration or epoch count).",
        )
    return number


def _metric_row(run_id: str, metric: Metric, now: float) -> dict[str, Any]:
    if isinstance(metric.value, bool) or not isinstance(metric.value, int | float):
        raise UsageError(
            f"metric {metric.key!r} has a value of type {type(metric.value).__name__}.",
            hint="Metric values are numbers (float(value)); log other things as params or tags.",
        )
    try:
        value = float(metric.value)
    except OverflowError:
        raise UsageError(
            f"metric {metric.key!r} has the value {str(metric.value)[:12]}... "
            f"({len(str(metric.value))} digits), too large for a float.",
            hint="Metric values are floats (up to about 1.8e308); log such a number as a "
            "string param.",
        ) from None
    return {
        "run_id": run_id,
        "key": metric.key,
        "value": value,
        "step": metric_step(metric.key, metric.step),
        "timestamp": now if metric.timestamp is None else float(metric.timestamp),
    }


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
        raise UsageError(
            f"{digest!r} is not a content digest.",
            hint="Digests are 64 lower-case hex characters (BLAKE3), as ArtifactStore returns.",
        )


def _dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT with ``on_conflict_do_*`` (same API on both dialects, different classes)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # imported only for PostgreSQL stores

        return postgresql.insert(table)
    return sqlite.insert(table)


def _update_latest(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Keep ``latest_metrics`` equal to each run's latest value per key: the highest step,
    then the latest timestamp, then the last logged (so a new row wins a tie)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # in logging order: a later row wins a tie within the batch too
        key = (row["run_id"], row["key"])
        seen = latest.get(key)
        if seen is None or (row["step"], row["timestamp"]) >= (seen["step"], seen["timestamp"]):
            latest[key] = row
    values = [
        {**row, "value": None if math.isnan(row["value"]) else row["value"]}
        for row in latest.values()
    ]
    statement = _dialect_insert(conn, latest_metrics)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
        set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
        where=sa.or_(
            new.step > latest_metrics.c.step,
            sa.and_(new.step == latest_metrics.c.step, new.timestamp >= latest_metrics.c.timestamp),
        ),
    )
    conn.execute(statement, values)


def _upsert_tags(conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
    if not tags:
        return
    statement = _dialect_insert(conn, run_tags)
    statement = statement.on_conflict_do_update(
        index_elements=[run_tags.c.run_id, run_tags.c.key],
        set_={"value": statement.excluded.value},
    )
    conn.execute(
        statement, [{"run_id": run_id, "key": k, "value": str(v)} for k, v in tags.items()]
    )


def _get_or_create(conn: Connection, table: sa.Table, name: str) -> None:
    statement = _dialect_insert(conn, table).values(name=name, created_at=datetime.now(UTC))
    conn.execute(statement.on_conflict_do_nothing(index_elements=[table.c.name]))


def _experiment_id(conn: Connection, name: str) -> int:
    _get_or_create(conn, experiments, name)
    query = sa.select(experiments.c.id).where(experiments.c.name == name)
    return int(conn.execute(query).scalar_one())


def _locked_dataset_id(conn: Connection, name: str) -> int:
    """The dataset's id, its row locked (PostgreSQL) so versions are numbered one at a time."""
    _get_or_create(conn, datasets, name)
    query = sa.select(datasets.c.id).where(datasets.c.name == name).with_for_update()
    return int(conn.execute(query).scalar_one())


def _runs_in(conn: Connection, ids: sa.ScalarSelect[Any] | list[str]) -> list[Run]:
    """The runs whose ids are ``ids`` (in no particular order), with tags, params, metrics."""
    query = (
        sa.select(runs, experiments.c.name.label("experiment"))
        .select_from(runs.outerjoin(experiments))
        .where(runs.c.id.in_(ids))
    )
    rows = list(conn.execute(query))
    tags = _grouped(conn, sa.select(run_tags).where(run_tags.c.run_id.in_(ids)))
    logged = _grouped(conn, sa.select(params).where(params.c.run_id.in_(ids)), decode=True)
    latest = _grouped(conn, _latest_metrics(ids))
    return [
        _run(row, tags.get(row.id, {}), logged.get(row.id, {}), latest.get(row.id, {}))
        for row in rows
    ]


def _latest_metrics(run_ids: sa.ScalarSelect[Any] | list[str]) -> sa.Select[Any]:
    latest = latest_metrics.c
    return sa.select(latest.run_id, latest.key, latest.value).where(latest.run_id.in_(run_ids))


def _grouped(
    conn: Connection, query: sa.Select[Any], *, decode: bool = False
) -> dict[str, dict[str, Any]]:
    """``{run_id: {key: value}}`` from a query of ``(run_id, key, value)`` rows."""
    grouped: dict[str, dict[str, Any]] = {}
    for run_id, key, value in conn.execute(query):
        grouped.setdefault(run_id, {})[key] = json.loads(value) if decode else value
    return grouped


def _run(
    row: Row[Any], tags: dict[str, Any], logged: dict[str, Any], latest: dict[str, Any]
) -> Run:
    return Run(
        id=row.id,
        name=row.name,
        status=row.status,
        started_at=row.started_at,
        experiment=row.experiment,
        parent_id=row.parent_id,
        ended_at=row.ended_at,
        error=row.error,
        fingerprint=row.fingerprint,
        tags=tags,
        params=logged,
        metrics={key: math.nan if value is None else float(value) for key, value in latest.items()},
        host=row.host,
        pid=row.pid,
    )


def _dataset_version(row: Row[Any]) -> DatasetVersion:
    return DatasetVersion(
        name=row.name,
        version=row.version,
        digest=row.digest,
        stored=bool(row.stored),
        created_at=row.created_at,
        rows=row.rows,
        schema=row.schema,
        contract=row.contract,
        uri=row.uri,
        run_id=row.run_id,
        size=row.size,
        files=row.files,
        manifest=row.manifest,
    )

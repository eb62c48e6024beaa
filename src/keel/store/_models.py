"""Registry records: models, immutable versions, aliases and the append-only event log.

Versions are inserted and never updated. An alias row carries a ``revision`` that every
move increments. A move or removal first locks the model's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's write transactions are already one at a time), so the alias it then
reads is the latest one and moves of one model's aliases happen one after the other. A plain
move therefore always lands on top of the previous one (last writer wins, each move recorded
with the version it replaced); a move that names the revision it read (``expected_revision``)
changes nothing and is reported as a conflict when someone else moved the alias in between,
instead of silently overwriting their move (optimistic concurrency). Every
register, alias move, gate result, promotion and rollback appends an event in the same
transaction as the change it records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from keel._json import json_safe
from keel.errors import KeelError, UsageError, did_you_mean
from keel.grammar import check_alias, check_name, check_version
from keel.store._metadata_engine import transaction
from keel.store._metadata_schema import (
    model_aliases,
    model_events,
    model_versions,
    registered_models,
)

__all__ = [
    "AliasConflictError",
    "AliasState",
    "ModelEvent",
    "ModelStore",
    "ModelVersion",
    "RegisteredModel",
]


class AliasConflictError(KeelError):
    """An alias moved between reading it and moving it: someone else's move won."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    manifest: str
    listing: str
    adapter: str
    created_at: datetime
    created_by: str
    run_id: str | None = None
    description: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    feature_service: str | None = None
    """The feature service it was trained with (snapshot: ModelStore.feature_snapshot)."""

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one version (``keel models show NAME/3 --format json``)."""
        return dict(
            json_safe(
                {
                    "name": self.name,
                    "version": self.version,
                    "aliases": list(self.aliases),
                    "adapter": self.adapter,
                    "created_at": self.created_at,
                    "created_by": self.created_by,
                    "run_id": self.run_id,
                    "description": self.description,
                    "metrics": dict(self.metrics),
                    "manifest": self.manifest,
                    "feature_service": self.feature_service,
                }
            )
        )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    created_at: datetime
    latest: int | None
    aliases: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one model (``keel models list --format json``)."""
        shape = {"name": self.name, "latest": self.latest, "aliases": dict(self.aliases)}
        return shape | {"created_at": json_safe(self.created_at)}


@dataclass(frozen=True)
class ModelEvent:
    id: int
    name: str
    kind: str  # register, alias, rollback, gate, promote, delete-alias; advance, analysis
    created_at: datetime
    actor: str
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    reason: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one event (``keel models history --format json``)."""
        return dict(
            json_safe(
                {
                    "id": self.id,
                    "kind": self.kind,
                    "version": self.version,
                    "alias": self.alias,
                    "previous_version": self.previous_version,
                    "actor": self.actor,
                    "reason": self.reason,
                    "created_at": self.created_at,
                    "detail": dict(self.detail),
                }
            )
        )


@dataclass(frozen=True)
class AliasState:
    version: int
    revision: int


class ModelStore:
    """The registry's tables (``MetadataStore.models``)."""

    def __init__(self, read: Engine, write: Engine) -> None:
        self._read, self._write = read, write

    # -- writing --------------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        *,
        manifest: str,
        listing: str,
        adapter: str,
        actor: str,
        run_id: str | None = None,
        description: str | None = None,
        metrics: Mapping[str, float] | None = None,
        feature_service: str | None = None,
        feature_snapshot: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` (created on first use), with its event.

        ``feature_service`` names the feature service the version was trained with and
        ``feature_snapshot`` is that service as resolved then (plain JSON data); both are
        stored with the version, immutable like the rest of it."""
        if (feature_service is None) != (feature_snapshot is None):
            raise UsageError(
                "a model version's feature service and its snapshot are stored together.",
                hint="Pass both feature_service and feature_snapshot, or neither.",
            )
        now = datetime.now(UTC)

        def work(conn: Connection) -> int:
            model_id = _model_id(conn, name, create=True, lock=True)
            last = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == model_id
                )
            ).scalar()
            version = int(last or 0) + 1
            conn.execute(
                model_versions.insert().values(
                    model_id=model_id,
                    version=version,
                    manifest=manifest,
                    listing=listing,
                    adapter=adapter,
                    run_id=run_id,
                    created_at=now,
                    created_by=actor,
                    description=description,
                    metrics=dict(metrics or {}),
                    feature_service=feature_service,
                    feature_snapshot=None if feature_snapshot is None else dict(feature_snapshot),
                )
            )
            detail = None if feature_service is None else {"feature_service": feature_service}
            _event(
                conn,
                model_id,
                "register",
                actor,
                version=version,
                reason=description,
                detail=detail,
            )
            return version

        return self.get_version(name, transaction(self._write, work))

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        actor: str,
        reason: str | None = None,
        expected_revision: int | None = None,
        kind: str = "alias",
        detail: Mapping[str, Any] | None = None,
    ) -> AliasState:
        """Point ``alias`` at ``version``; with ``expected_revision``, only if nobody moved it
        since that revision was read (else :class:`AliasConflictError`). Without it the move
        always lands, after any concurrent move (last writer wins)."""
        check_alias(alias)
        check_version(version)

        def work(conn: Connection) -> AliasState:
            model_id = _model_id(conn, name, lock=True)
            _require_version(conn, model_id, name, version)
            current = _alias(conn, model_id, alias)
            now = datetime.now(UTC)
            if current is None:
                if expected_revision not in (None, 0):
                    raise _conflict(name, alias, expected_revision, None)
                conn.execute(
                    model_aliases.insert().values(
                        model_id=model_id, alias=alias, version=version, revision=1, updated_at=now
                    )
                )
                moved = AliasState(version, 1)
            else:
                read = current.revision if expected_revision is None else expected_revision
                done = conn.execute(
                    model_aliases.update()
                    .where(
                        model_aliases.c.model_id == model_id,
                        model_aliases.c.alias == alias,
                        model_aliases.c.revision == read,
                    )
                    .values(version=version, revision=read + 1, updated_at=now)
                )
                if done.rowcount != 1:
                    raise _conflict(name, alias, read, current)
                moved = AliasState(version, read + 1)
            _event(
                conn,
                model_id,
                kind,
                actor,
                version=version,
                alias=alias,
                previous_version=current.version if current else None,
                reason=reason,
                detail=detail,
            )
            return moved

        return transaction(self._write, work)

    def remove_alias(
        self,
        name: str,
        alias: str,
        *,
        actor: str,
        reason: str | None = None,
        expected_revision: int | None = None,
        kind: str = "rollback",
        detail: Mapping[str, Any] | None = None,
    ) -> AliasState:
        """Delete ``alias`` (recorded as ``kind``, ``previous_version`` the version it held);
        with ``expected_revision``, only if nobody moved it since (else
        :class:`AliasConflictError`). Returns the state it had."""
        check_name(alias, "alias")

        def work(conn: Connection) -> AliasState:
            model_id = _model_id(conn, name, lock=True)
            current = _alias(conn, model_id, alias)
            if current is None:
                if expected_revision is not None:
                    raise _conflict(name, alias, expected_revision, None)
                raise UsageError(
                    f"model {name!r} has no alias {alias!r} to remove.",
                    hint=did_you_mean(alias, _aliases_of(conn, model_id)),
                )
            read = current.revision if expected_revision is None else expected_revision
            done = conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_id == model_id,
                    model_aliases.c.alias == alias,
                    model_aliases.c.revision == read,
                )
            )
            if done.rowcount != 1:
                raise _conflict(name, alias, read, current)
            _event(
                conn,
                model_id,
                kind,
                actor,
                alias=alias,
                previous_version=current.version,
                reason=reason,
                detail=detail,
            )
            return current

        return transaction(self._write, work)

    def record_event(
        self,
        name: str,
        kind: str,
        *,
        actor: str,
        version: int | None = None,
        alias: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an event that changes nothing else (a gate result, say)."""

        def work(conn: Connection) -> None:
            model_id = _model_id(conn, name)
            _event(conn, model_id, kind, actor, version=version, alias=alias, reason=reason,
                   detail=detail)  # fmt: skip

        transaction(self._write, work)

    # -- reading --------------------------------------------------------------------------
    def get_version(self, name: str, version: int | None = None) -> ModelVersion:
        """One version (the latest when ``version`` is None)."""
        if version is not None:
            check_version(version)
        with self._read.connect() as conn:
            model_id = _model_id(conn, name)
            query = sa.select(model_versions).where(model_versions.c.model_id == model_id)
            if version is None:
                query = query.order_by(model_versions.c.version.desc()).limit(1)
            else:
                query = query.where(model_versions.c.version == version)
            row = conn.execute(query).first()
            if row is None:
                _require_version(conn, model_id, name, version or 0)
                raise AssertionError("unreachable")  # pragma: no cover
            aliases = _aliases_of(conn, model_id)
        return _version(name, row, aliases)

    def feature_snapshot(self, name: str, version: int) -> dict[str, Any] | None:
        """The feature service snapshot stored with version ``version`` of ``name`` (``None``
        when the version names no feature service)."""
        check_version(version)
        with self._read.connect() as conn:
            model_id = _model_id(conn, name)
            row = conn.execute(
                sa.select(model_versions.c.feature_snapshot).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == version
                )
            ).first()
            if row is None:
                _require_version(conn, model_id, name, version)
        return None if row is None or row[0] is None else dict(row[0])

    def alias(self, name: str, alias: str) -> AliasState:
        """Where ``alias`` points, and its revision (for an optimistic move)."""
        check_name(alias, "alias")  # a lookup: an alias stored before the number rule still works
        with self._read.connect() as conn:
            model_id = _model_id(conn, name)
            state = _alias(conn, model_id, alias)
            if state is None:
                known = list(_aliases_of(conn, model_id))
                raise UsageError(
                    f"model {name!r} has no alias {alias!r}.",
                    hint=did_you_mean(alias, known)
                    if known
                    else f"Set one: keel models alias {name} {alias} VERSION",
                )
            return state

    def aliases(self, name: str) -> dict[str, int]:
        """Every alias of model ``name`` and the version it points at."""
        with self._read.connect() as conn:
            return _aliases_of(conn, _model_id(conn, name))

    def versions(self, name: str) -> list[ModelVersion]:
        with self._read.connect() as conn:
            model_id = _model_id(conn, name)
            aliases = _aliases_of(conn, model_id)
            rows = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            )
            return [_version(name, row, aliases) for row in rows]

    def models(self) -> list[RegisteredModel]:
        latest = (
            sa.select(model_versions.c.model_id, sa.func.max(model_versions.c.version).label("v"))
            .group_by(model_versions.c.model_id)
            .subquery()
        )
        query = (
            sa.select(registered_models, latest.c.v)
            .outerjoin(latest, latest.c.model_id == registered_models.c.id)
            .order_by(registered_models.c.name)
        )
        with self._read.connect() as conn:
            rows = list(conn.execute(query))
            return [
                RegisteredModel(row.name, row.created_at, row.v, _aliases_of(conn, row.id))
                for row in rows
            ]

    def events(self, name: str) -> list[ModelEvent]:
        """The model's event log, oldest first."""
        with self._read.connect() as conn:
            model_id = _model_id(conn, name)
            rows = conn.execute(
                sa.select(model_events)
                .where(model_events.c.model_id == model_id)
                .order_by(model_events.c.id)
            )
            return [
                ModelEvent(
                    id=row.id,
                    name=name,
                    kind=row.kind,
                    created_at=row.created_at,
                    actor=row.actor,
                    version=row.version,
                    alias=row.alias,
                    previous_version=row.previous_version,
                    reason=row.reason,
                    detail=row.detail or {},
                )
                for row in rows
            ]


def _model_id(conn: Connection, name: str, *, create: bool = False, lock: bool = False) -> int:
    check_name(name, "model")  # before the database sees it: the same answer on every backend
    query = sa.select(registered_models.c.id).where(registered_models.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.execute(query).scalar()
    if found is not None:
        return int(found)
    if not create:
        known = list(conn.execute(sa.select(registered_models.c.name)).scalars())
        raise UsageError(
            f"no model {name!r} in the registry.",
            hint=did_you_mean(name, known) if known else "Register one first: keel.register(...)",
        )
    conn.execute(registered_models.insert().values(name=name, created_at=datetime.now(UTC)))
    return _model_id(conn, name, lock=lock)


def _require_version(conn: Connection, model_id: int, name: str, version: int) -> None:
    found = conn.execute(
        sa.select(model_versions.c.version).where(
            model_versions.c.model_id == model_id, model_versions.c.version == version
        )
    ).first()
    if found is None:
        versions = list(
            conn.execute(
                sa.select(model_versions.c.version)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            ).scalars()
        )
        shown = ", ".join(map(str, versions)) or "none"
        raise UsageError(
            f"model {name!r} has no version {version}.",
            hint=f"Its versions: {shown}.",
        )


def _alias(conn: Connection, model_id: int, alias: str) -> AliasState | None:
    row = conn.execute(
        sa.select(model_aliases.c.version, model_aliases.c.revision).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
    ).first()
    return AliasState(row.version, row.revision) if row else None


def _aliases_of(conn: Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        sa.select(model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model_id == model_id)
        .order_by(model_aliases.c.alias)
    )
    return {row.alias: row.version for row in rows}


def _event(
    conn: Connection,
    model_id: int,
    kind: str,
    actor: str,
    *,
    version: int | None = None,
    alias: str | None = None,
    previous_version: int | None = None,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        model_events.insert().values(
            model_id=model_id,
            kind=kind,
            version=version,
            alias=alias,
            previous_version=previous_version,
            actor=actor,
            reason=reason,
            detail=dict(detail or {}),
            created_at=datetime.now(UTC),
        )
    )


def _conflict(
    name: str, alias: str, read: int | None, now: AliasState | None
) -> AliasConflictError:
    where = f"version {now.version} (revision {now.revision})" if now else "nothing"
    return AliasConflictError(
        f"alias {alias!r} of model {name!r} moved since it was read at revision {read}: it now "
        f"points at {where}. Your move was not applied.",
        hint=f"Look again (keel models show {name}) and repeat the move if it is still right.",
    )


def _version(name: str, row: Row[Any], aliases: Mapping[str, int]) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=row.version,
        manifest=row.manifest,
        listing=row.listing,
        adapter=row.adapter,
        created_at=row.created_at,
        created_by=row.created_by,
        run_id=row.run_id,
        description=row.description,
        metrics=row.metrics or {},
        aliases=tuple(a for a, v in aliases.items() if v == row.version),
        feature_service=row.feature_service,
    )

"""Reference profiles: which profile (an artifact) is the reference of a model or dataset version.

One row per (subject, name, version), subject ``"model"`` or ``"dataset"``. The profile itself
is JSON in the artifact store, named by its digest; the row says which digest, how many rows
and which columns it describes, who stored it and from what. Setting a reference again
replaces the row (the old profile stays in the artifact store until ``keel gc``, which keeps
every digest a row names). A row can only name a version that exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine, Row

from keel.errors import UsageError
from keel.grammar import check_version
from keel.store._metadata_engine import transaction
from keel.store._metadata_schema import (
    dataset_versions,
    datasets,
    model_versions,
    reference_profiles,
    registered_models,
)

__all__ = ["ReferenceRecord", "ReferenceStore", "Subject"]

Subject = Literal["model", "dataset"]
_SUBJECTS = ("model", "dataset")


@dataclass(frozen=True)
class ReferenceRecord:
    """Where the reference profile of one model or dataset version is, and what it holds."""

    subject: Subject
    name: str
    version: int
    digest: str
    """BLAKE3 digest of the profile's JSON (``Profile.to_dict``) in the artifact store."""
    rows: int
    columns: tuple[str, ...]
    created_at: datetime
    created_by: str
    source: str | None = None
    """What was profiled: a path, ``data:NAME/3``, or a description of a frame."""


class ReferenceStore:
    """Reference profile records (``MetadataStore.references``)."""

    def __init__(self, read: Engine, write: Engine) -> None:
        self._read, self._write = read, write

    def put(
        self,
        subject: Subject,
        name: str,
        version: int,
        *,
        digest: str,
        rows: int,
        columns: Sequence[str],
        actor: str,
        source: str | None = None,
    ) -> ReferenceRecord:
        """Record (or replace) the reference profile of ``name`` version ``version``."""
        _check_subject(subject)
        check_version(version)
        if len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
            raise UsageError(
                f"{digest!r} is not a content digest.",
                hint="Store the profile with ArtifactStore.put_bytes and pass its digest.",
            )
        record = ReferenceRecord(
            subject=subject,
            name=name,
            version=version,
            digest=digest,
            rows=int(rows),
            columns=tuple(columns),
            created_at=datetime.now(UTC),
            created_by=actor,
            source=source,
        )
        values = {**record.__dict__, "columns": list(record.columns)}

        def work(conn: Connection) -> None:
            _require_version(conn, subject, name, version)
            statement = _insert(conn).values(values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[
                        reference_profiles.c.subject,
                        reference_profiles.c.name,
                        reference_profiles.c.version,
                    ],
                    set_={k: statement.excluded[k] for k in values if k not in _KEY},
                )
            )

        transaction(self._write, work)
        return record

    def get(self, subject: Subject, name: str, version: int) -> ReferenceRecord | None:
        """The record for ``name`` version ``version``, or ``None`` when none is stored."""
        _check_subject(subject)
        found = self._select(
            reference_profiles.c.subject == subject,
            reference_profiles.c.name == name,
            reference_profiles.c.version == version,
        )
        return found[0] if found else None

    def records(
        self, subject: Subject | None = None, name: str | None = None
    ) -> list[ReferenceRecord]:
        """Records, by subject, name and version (all, or one subject's, or one name's)."""
        where: list[sa.ColumnElement[bool]] = []
        if subject is not None:
            _check_subject(subject)
            where.append(reference_profiles.c.subject == subject)
        if name is not None:
            where.append(reference_profiles.c.name == name)
        return self._select(*where)

    def delete(self, subject: Subject, name: str, version: int) -> bool:
        """Forget the record (the profile's bytes go at the next ``keel gc --delete``)."""
        _check_subject(subject)

        def work(conn: Connection) -> int:
            done = conn.execute(
                reference_profiles.delete().where(
                    reference_profiles.c.subject == subject,
                    reference_profiles.c.name == name,
                    reference_profiles.c.version == version,
                )
            )
            return int(done.rowcount)

        return transaction(self._write, work) > 0

    def _select(self, *where: sa.ColumnElement[bool]) -> list[ReferenceRecord]:
        query = (
            sa.select(reference_profiles)
            .where(sa.true(), *where)
            .order_by(
                reference_profiles.c.subject,
                reference_profiles.c.name,
                reference_profiles.c.version,
            )
        )
        with self._read.connect() as conn:
            return [_record(row) for row in conn.execute(query)]


_KEY = ("subject", "name", "version")


def _check_subject(subject: str) -> None:
    if subject not in _SUBJECTS:
        raise UsageError(
            f"{subject!r} is not a reference subject.", hint="Use 'model' or 'dataset'."
        )


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # imported only for PostgreSQL stores

        return postgresql.insert(reference_profiles)
    return sqlite.insert(reference_profiles)


def _require_version(conn: Connection, subject: Subject, name: str, version: int) -> None:
    if subject == "model":
        parent, versions, key = registered_models, model_versions, model_versions.c.model_id
        hint = f"keel models show {name} lists its versions."
    else:
        parent, versions, key = datasets, dataset_versions, dataset_versions.c.dataset_id
        hint = f"keel data list {name} lists its versions."
    found = conn.execute(
        sa.select(versions.c.version)
        .join(parent, parent.c.id == key)
        .where(parent.c.name == name, versions.c.version == version)
    ).first()
    if found is None:
        raise UsageError(
            f"{subject} {name!r} has no version {version}: it cannot get a reference profile.",
            hint=hint,
        )


def _record(row: Row[Any]) -> ReferenceRecord:
    return ReferenceRecord(
        subject=row.subject,
        name=row.name,
        version=row.version,
        digest=row.digest,
        rows=row.rows,
        columns=tuple(row.columns or ()),
        created_at=row.created_at,
        created_by=row.created_by,
        source=row.source,
    )

"""``keel.FeatureView``: features of one entity, read from one source, typed by a contract."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.contracts import Contract, ContractLike, as_contract
from keel.errors import UsageError, did_you_mean
from keel.features._entity import Entity, checked_name, defined_at
from keel.features._source import Source, SqlQuery, as_source
from keel.grammar import Duration, format_duration, parse_duration
from keel.store import hash_bytes
from keel.tracking import Project

__all__ = ["FeatureRef", "FeatureView"]


@dataclass(frozen=True)
class FeatureRef:
    """One feature of one view: ``view["credit_score"]`` (or ``"credit:credit_score"``)."""

    view: FeatureView
    name: str

    def __str__(self) -> str:
        return f"{self.view.name}:{self.name}"


@dataclass(frozen=True, init=False)
class FeatureView:
    """Features of one entity, their source, when each row happened, and how long it holds.

    ``event_time`` is the column saying when a row's values became true; ``created_time``
    (optional) when the row was written, which breaks ties between rows of the same event
    time and, in ``as_known_at`` training sets, hides rows not yet written. ``ttl`` is how long
    a value holds after its event time (a duration: ``"30d"``, ``"12h"``); ``None`` means it
    never expires, and zero or a negative length is refused. ``schema`` is the contract of the
    view's columns (any :data:`keel.contracts.ContractLike`): its columns other than the
    entity's keys and the two time columns are the view's features, and the source is checked
    against it whenever it is read.
    """

    name: str
    entity: Entity
    source: Source
    schema: Contract
    event_time: str
    created_time: str | None
    ttl: Duration | None
    description: str
    where: str

    def __init__(
        self,
        name: str,
        *,
        entity: Entity,
        source: str | SqlQuery | Any,
        schema: ContractLike,
        event_time: str,
        ttl: str | float | dt.timedelta | Duration | None,
        created_time: str | None = None,
        description: str = "",
    ) -> None:
        where = defined_at()
        checked_name(name, "feature view", where)
        if ":" in name:
            raise UsageError(
                f"{where}: feature view name {name!r} contains ':', which separates a view "
                "from a feature in 'view:feature'.",
                hint="Use letters, digits, '_', '-' or '.'.",
            )
        if not isinstance(entity, Entity):
            raise UsageError(
                f"{where}: feature view {name!r} needs entity=keel.Entity(...), got "
                f"{type(entity).__name__}.",
                hint='entity=keel.Entity("applicant", keys={"applicant_id": int})',
            )
        contract = as_contract(schema, what="schema")
        values = {
            "name": name,
            "entity": entity,
            "source": as_source(source, f"{where}: feature view {name!r}"),
            "schema": contract,
            "event_time": event_time,
            "created_time": created_time,
            "ttl": _ttl(ttl, name, where),
            "description": description,
            "where": where,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        if not self.features:
            raise UsageError(
                f"{where}: feature view {name!r}: its schema {contract.name!r} declares no "
                "feature column (only keys and time columns).",
                hint="Declare the feature columns in the schema.",
            )

    @functools.cached_property  # read on every online lookup; the definition is frozen
    def features(self) -> tuple[str, ...]:
        """The feature columns: the contract's columns but the keys and time columns."""
        skip = {*self.entity.key_names, self.event_time, self.created_time}
        return tuple(c for c in self.schema.column_names if c not in skip)

    def __getitem__(self, feature: str) -> FeatureRef:
        if feature not in self.features:
            raise UsageError(
                f"feature view {self.name!r} has no feature {feature!r}.",
                hint=did_you_mean(feature, self.features),
            )
        return FeatureRef(self, feature)

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data: what ``keel features show`` prints, and what the
        definition part of the fingerprint hashes."""
        return {
            "name": self.name,
            "entity": self.entity.to_dict(),
            "source": self.source.to_dict(),
            "event_time": self.event_time,
            "created_time": self.created_time,
            "ttl": None if self.ttl is None else format_duration(self.ttl),
            "features": {
                c.name: c.dtype.value for c in self.schema.columns if c.name in self.features
            },
            "contract": {"name": self.schema.name, "fingerprint": self.schema.fingerprint},
            "description": self.description,
        }

    def definition_digest(self) -> str:
        """The digest of the definition alone (entity, source, times, TTL, contract)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hash_bytes(text.encode())

    def fingerprint(self, root: Path, project: Project | None = None) -> str:
        """The definition's digest and its source's content version, in one digest: it
        changes when the definition, the contract or the data changes."""
        version = self.source.version(root, project)
        return hash_bytes(f"{self.definition_digest()}\n{version}".encode())


def _ttl(value: object, name: str, where: str) -> Duration | None:
    if value is None:
        return None
    hint = (
        "A TTL is how long a value holds after its event time, longer than 0 (30d, 12h); "
        "ttl=None for values that never expire."
    )
    if isinstance(value, bool) or not isinstance(
        value, str | int | float | dt.timedelta | Duration
    ):
        raise UsageError(
            f"{where}: feature view {name!r} ttl={value!r} is not a duration.", hint=hint
        )
    try:
        return parse_duration(value, where=f"feature view {name!r} ttl", positive=True)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=hint) from None

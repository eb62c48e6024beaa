"""The feature service a model version was trained with, stored with the version.

``keel.register(..., feature_service=...)`` resolves the service (an object, or a name in the
project's feature definitions) and stores its snapshot with the new version: every feature
under its output name (the model's input column) with the view it comes from, or a derived
feature's inputs; each view's entity keys and TTL; the entity join keys and the request
fields a serving request carries. The snapshot is immutable like the version, so serving and
skew know what the model was trained with after the definitions change.
:func:`keel.registry.feature_snapshot` reads it back as a :class:`FeatureServiceSnapshot`.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "FeatureServiceSnapshot",
    "SnapshotFeature",
    "SnapshotView",
    "resolve_feature_service",
]


@dataclass(frozen=True)
class SnapshotFeature:
    """One feature of the service: ``name`` is its output column (the model's input)."""

    name: str
    type: str
    """The contract type name (``float``, ``int``, ``str``...)."""
    view: str | None = None
    """The view it is read from; ``None`` for a derived feature."""
    feature: str | None = None
    """Its name in the view (differs from ``name`` with full names: ``view__feature``)."""
    inputs: tuple[str, ...] = ()
    """A derived feature's inputs (features or request fields)."""
    function: str | None = None
    """A derived feature's function, ``module.qualname``."""

    @property
    def derived(self) -> bool:
        return self.view is None


@dataclass(frozen=True)
class SnapshotView:
    name: str
    entity: str
    keys: Mapping[str, str]
    """The entity's join keys and their types (``int``, ``str``, ``bool``)."""
    ttl: str | None
    definition: str
    """The digest of the view's definition at registration."""


@dataclass(frozen=True)
class FeatureServiceSnapshot:
    """A feature service as it was resolved when a model version was registered."""

    service: str
    full_names: bool
    features: tuple[SnapshotFeature, ...]
    views: tuple[SnapshotView, ...]
    entity_keys: Mapping[str, str]
    """Every join key a request carries, with its type."""
    request_fields: Mapping[str, str]
    """The request-time fields the derived features read, with their types."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The features' output names, in order."""
        return tuple(f.name for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON (the shape :func:`keel.features.service_snapshot` returns)."""
        features: list[dict[str, Any]] = []
        for f in self.features:
            if f.derived:
                features.append(
                    {
                        "name": f.name,
                        "derived": True,
                        "inputs": list(f.inputs),
                        "type": f.type,
                        "function": f.function,
                    }
                )
            else:
                features.append(
                    {"name": f.name, "view": f.view, "feature": f.feature, "type": f.type}
                )
        return {
            "service": self.service,
            "full_names": self.full_names,
            "features": features,
            "views": [
                {
                    "name": v.name,
                    "entity": v.entity,
                    "keys": dict(v.keys),
                    "ttl": v.ttl,
                    "definition": v.definition,
                }
                for v in self.views
            ],
            "entity_keys": dict(self.entity_keys),
            "request_fields": dict(self.request_fields),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureServiceSnapshot:
        return cls(
            service=data["service"],
            full_names=bool(data.get("full_names")),
            features=tuple(
                SnapshotFeature(
                    name=f["name"],
                    type=f["type"],
                    view=None if f.get("derived") else f["view"],
                    feature=None if f.get("derived") else f["feature"],
                    inputs=tuple(f.get("inputs", ())),
                    function=f.get("function"),
                )
                for f in data["features"]
            ),
            views=tuple(
                SnapshotView(v["name"], v["entity"], dict(v["keys"]), v.get("ttl"), v["definition"])
                for v in data["views"]
            ),
            entity_keys=dict(data["entity_keys"]),
            request_fields=dict(data["request_fields"]),
        )


class _Features(Protocol):
    """What registering with ``feature_service=`` asks of the feature store."""

    def service_snapshot(self, service: Any) -> dict[str, Any]: ...


def resolve_feature_service(service: Any) -> tuple[str, dict[str, Any]]:
    """The name and snapshot of ``service`` (a :class:`keel.FeatureService` or its name),
    from the feature store's public :func:`keel.features.service_snapshot`. The feature store
    sits above the registry (its training sets are dataset versions), so it is looked up by
    name when ``feature_service=`` needs it, behind the typed :class:`_Features`."""
    features = typing.cast(_Features, importlib.import_module("keel.features"))
    snapshot = features.service_snapshot(service)
    return str(snapshot["service"]), snapshot

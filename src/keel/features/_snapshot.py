"""A feature service as resolved now, as plain data: what a model version keeps of the
service it was trained with (``keel.register(..., feature_service=...)``).

The snapshot names every feature under its output name (the model's input column) with the
view and view feature it comes from, or, for a derived feature, its inputs and function;
each view's entity keys and TTL; the entity join keys a request must carry and the request
fields the derived features read. Serving and skew read it back, so they know what the
model was trained with even after the definitions change (:func:`service_snapshot`).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from keel.contracts import DType, parse_annotation
from keel.errors import ConfigError, UsageError, did_you_mean
from keel.features._definitions import Definitions, load_definitions
from keel.features._derived import DerivedFeature
from keel.features._entity import KEY_TYPES
from keel.features._service import FeatureService, Plan
from keel.features._view import FeatureRef, FeatureView
from keel.grammar import format_duration

__all__ = ["service_plan", "service_snapshot"]


def service_snapshot(
    service: FeatureService | str, *, definitions: Definitions | None = None
) -> dict[str, Any]:
    """``service`` (an object, or the name of one in the project's definitions) resolved
    against the definitions (default: the project's, ``[features] definitions``), as the
    JSON-ready snapshot a model version stores. An unknown name is a UsageError with the
    names it may have meant."""
    defs = _definitions(service, definitions)
    found = defs.service(service) if isinstance(service, str) else service
    plan = defs.plan(found)
    columns = set(plan.columns)
    features: list[dict[str, Any]] = []
    views: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    for part in plan.views:
        view = part.view
        types = {c.name: c.dtype.value for c in view.schema.columns}
        features += [
            {"name": out, "view": view.name, "feature": f, "type": types[f]}
            for f, out in part.columns
        ]
        entity_keys = {k: KEY_TYPES[kind] for k, kind in view.entity.keys}
        keys.update(entity_keys)
        views.append(
            {
                "name": view.name,
                "entity": view.entity.name,
                "keys": entity_keys,
                "ttl": None if view.ttl is None else format_duration(view.ttl),
                "definition": view.definition_digest(),
            }
        )
    fields: dict[str, str] = {}
    for item in plan.derived:
        features.append(
            {
                "name": item.name,
                "derived": True,
                "inputs": list(item.input_names),
                "type": item.dtype.value,
                "function": f"{item.function.__module__}.{item.function.__qualname__}",
            }
        )
        for name, dtype in _input_types(item).items():
            if name not in columns and name not in keys:
                fields.setdefault(name, dtype.value)
    return {
        "service": found.name,
        "full_names": found.full_names,
        "features": features,
        "views": views,
        "entity_keys": keys,
        "request_fields": fields,
    }


def service_plan(snapshot: dict[str, Any], definitions: Definitions) -> Plan:
    """The snapshot's features resolved against ``definitions`` as they are now: the same
    views, features and derived features by name (whatever the service says today). A view
    or derived feature that no longer exists is a UsageError naming it."""
    items: list[str] = [
        f"{f['view']}:{f['feature']}" if not f.get("derived") else f["name"]
        for f in snapshot["features"]
    ]
    where = f"feature service {snapshot['service']!r} (as stored with the model)"
    for item in items:
        view, colon, _ = item.partition(":")
        if colon and view not in definitions.views:
            raise UsageError(
                f"{where} uses feature view {view!r}, which {definitions.source} no longer "
                "defines.",
                hint=f"Restore view {view!r} in the definitions, or register a model trained "
                f"with the views that exist now. {did_you_mean(view, definitions.views)}",
            )
    return definitions.plan(items, full_names=bool(snapshot.get("full_names")))


def _definitions(service: FeatureService | str, given: Definitions | None) -> Definitions:
    if given is not None:
        return given
    if isinstance(service, str):
        return load_definitions()
    try:
        return load_definitions()
    except ConfigError:  # no definitions file: the object's own parts are the definitions
        return Definitions.of(_parts(service))


def _parts(service: FeatureService) -> Iterable[object]:
    yield service
    for item in service.features:
        if isinstance(item, FeatureView | DerivedFeature):
            yield item
        elif isinstance(item, FeatureRef):
            yield item.view


def _input_types(item: DerivedFeature) -> dict[str, DType]:
    """The derived feature's parameters and the types their annotations name."""
    hints = typing.get_type_hints(item.function)
    found: dict[str, DType] = {}
    for name in item.input_names:
        parsed = parse_annotation(hints.get(name))
        found[name] = parsed[0] if parsed is not None else DType.STR
    return found

"""The project's feature definitions: a Python file (``keel.toml`` ``[features] definitions``)
read afresh by every command, so there is no registry to apply and none to go stale.

Every :class:`~keel.Entity`, :class:`~keel.FeatureView`, :class:`~keel.FeatureService` and
derived feature bound to a top-level name of the file is collected; names must be unique per
kind.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.config import load_config
from keel.errors import ConfigError, KeelError, UsageError, did_you_mean, first_line
from keel.features._derived import DerivedFeature
from keel.features._entity import Entity
from keel.features._service import FeatureLike, FeatureService, Plan, resolve
from keel.features._view import FeatureView
from keel.grammar import read_toml
from keel.store import hash_bytes

__all__ = ["Definitions", "load_definitions"]

_KEY = ("features", "definitions")
_HINT = 'Add to keel.toml:\n[features]\ndefinitions = "features.py"'


@dataclass(frozen=True)
class Definitions:
    """Entities, feature views, feature services and derived features, by name."""

    root: Path
    """Relative source paths and code fingerprints are taken from here."""
    source: str
    entities: Mapping[str, Entity]
    views: Mapping[str, FeatureView]
    services: Mapping[str, FeatureService]
    derived: Mapping[str, DerivedFeature]
    _plans: dict[tuple[str, bool], Plan] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """Resolved services and service names (an online lookup resolves one per request)."""

    @classmethod
    def of(cls, objects: Iterable[object], *, root: Path | None = None) -> Definitions:
        """Definitions made of ``objects`` (views bring their entities along)."""
        return _collect(list(objects), root=(root or Path.cwd()).resolve(), source="<python>")

    def service(self, name: str) -> FeatureService:
        found = self.services.get(name)
        if found is None:
            raise UsageError(
                f"no feature service {name!r} in {self.source}.",
                hint=did_you_mean(name, self.services),
            )
        return found

    def view(self, name: str) -> FeatureView:
        found = self.views.get(name)
        if found is None:
            raise UsageError(
                f"no feature view {name!r} in {self.source}.", hint=did_you_mean(name, self.views)
            )
        return found

    def plan(
        self, features: FeatureService | str | Iterable[FeatureLike], *, full_names: bool = False
    ) -> Plan:
        """Resolve a service (object or name) or a list of features into a :class:`Plan`."""
        name = features if isinstance(features, str) else None
        if isinstance(features, FeatureService) and self.services.get(features.name) is features:
            name = features.name
        if name is not None and name in self.services:
            found = self._plans.get((name, full_names))
            if found is None:
                found = self._plans[(name, full_names)] = self._plan(features, full_names)
            return found
        return self._plan(features, full_names)

    def _plan(
        self, features: FeatureService | str | Iterable[FeatureLike], full_names: bool
    ) -> Plan:
        if isinstance(features, str) and ":" not in features and features in self.services:
            features = self.services[features]
        if isinstance(features, FeatureService):
            where = f"feature service {features.name!r} ({features.where})"
            return resolve(
                features.features,
                views=self.views,
                derived=self.derived,
                full_names=features.full_names or full_names,
                where=where,
            )
        items = [features] if isinstance(features, str | FeatureView) else list(features)
        return resolve(
            items,
            views=self.views,
            derived=self.derived,
            full_names=full_names,
            where="the feature list",
        )

    def digest(self) -> str:
        """A digest of every definition (not of the data): for ``keel features list``."""
        parts = sorted(v.definition_digest() for v in self.views.values())
        return hash_bytes("\n".join(parts).encode())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "entities": [e.to_dict() for e in self.entities.values()],
            "views": [v.to_dict() for v in self.views.values()],
            "services": [s.to_dict() for s in self.services.values()],
            "derived": [d.to_dict() for d in self.derived.values()],
        }


def load_definitions(path: str | Path | None = None, *, start: Path | None = None) -> Definitions:
    """Read the feature definitions at ``path``, or at the file ``keel.toml`` names
    (``[features] definitions``) in the project found from ``start`` (default: here)."""
    if path is None:
        file = _configured(start)
    else:
        file = Path(path)
        if not file.is_file():
            raise UsageError(
                f"no feature definitions file at {file}.",
                hint="Pass the Python file that defines the feature views.",
            )
    module = _execute(file.resolve())
    objects = [v for k, v in vars(module).items() if not k.startswith("__")]
    return _collect(objects, root=file.resolve().parent, source=str(file))


def _configured(start: Path | None) -> Path:
    config = load_config(start)
    if not config.features_definitions:
        where = str(config.source) if config.source else f"{config.root} (no keel.toml)"
        raise ConfigError(f"{where} names no feature definitions file.", hint=_HINT)
    file = config.root / config.features_definitions
    if file.is_file():
        return file
    where = "KEEL_FEATURES_DEFINITIONS"
    if config.source is not None:
        text = config.source.read_text(encoding="utf-8")
        document = read_toml(text, str(config.source), what="configuration")
        if document.data.get("features", {}).get("definitions") == config.features_definitions:
            where = f"{document.locate(_KEY)}: features.definitions"
    raise ConfigError(
        f"{where}: no feature definitions file at {file}.",
        hint="Fix the path (relative to the folder of keel.toml), or create the file.",
    )


def _execute(file: Path) -> Any:
    name = "keel_features_" + hash_bytes(str(file).encode())[:16]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {file} as Python.", hint="Name a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # typing and inspect find the module's globals by name
    try:
        spec.loader.exec_module(module)
    except KeelError:
        raise  # a definition refused: its message says where
    except Exception as exc:
        line = next(
            (
                f.lineno
                for f in reversed(traceback.extract_tb(exc.__traceback__))
                if f.filename == str(file)
            ),
            None,
        )
        raise UsageError(
            f"{file}:{line}: the feature definitions raised {type(exc).__name__}: "
            f"{first_line(exc)}",
            hint=f"Fix the file; python {file} shows the whole traceback.",
        ) from exc
    return module


def _collect(objects: list[object], *, root: Path, source: str) -> Definitions:
    kinds: dict[type, dict[str, Any]] = {
        Entity: {},
        FeatureView: {},
        FeatureService: {},
        DerivedFeature: {},
    }
    found = [o for o in objects if isinstance(o, tuple(kinds))]
    found += [o.entity for o in found if isinstance(o, FeatureView)]
    for item in found:
        table = kinds[type(item)]
        name = item.name  # type: ignore[attr-defined]  # every kind has a name
        other = table.setdefault(name, item)
        if other is not item and other != item:
            raise UsageError(
                f"{source}: two definitions named {name!r}: at {other.where} and at {item.where}.",  # type: ignore[attr-defined]
                hint="Give each entity, view, service and derived feature its own name.",
            )
    return Definitions(
        root=root,
        source=source,
        entities=kinds[Entity],
        views=kinds[FeatureView],
        services=kinds[FeatureService],
        derived=kinds[DerivedFeature],
    )

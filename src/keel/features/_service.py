"""``keel.FeatureService``: the features one model uses, and how a request for features is
resolved into views, their columns and derived features.

Features are named by object (``credit``, ``credit["score"]``, a derived feature) or by text:
``"credit:score"`` (a view's feature), ``"credit:*"`` (all of a view's), or a bare
``"score"`` when one view (or one derived feature) defines it. A training set's columns are
the bare feature names; two views defining the same name is an error, unless full names are
asked for (``full_names=True``: ``credit__score``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keel.errors import UsageError, did_you_mean
from keel.features._derived import DerivedFeature
from keel.features._entity import checked_name, defined_at
from keel.features._view import FeatureRef, FeatureView

__all__ = ["FeatureLike", "FeatureService", "Plan", "ViewPart", "resolve"]

FeatureLike = FeatureView | FeatureRef | DerivedFeature | str
"""One item of a feature list: a view (all its features), ``view["name"]``, a derived
feature, or text (``"view:name"``, ``"view:*"``, ``"name"``)."""

FULL_NAME_SEPARATOR = "__"


@dataclass(frozen=True, init=False)
class FeatureService:
    """The features a model uses, by name, so training and serving ask for the same ones."""

    name: str
    features: tuple[FeatureLike, ...]
    full_names: bool
    description: str
    where: str

    def __init__(
        self,
        name: str,
        *,
        features: Sequence[FeatureLike],
        full_names: bool = False,
        description: str = "",
    ) -> None:
        where = defined_at()
        checked_name(name, "feature service", where)
        if isinstance(features, str | FeatureView) or not features:
            raise UsageError(
                f"{where}: feature service {name!r} needs a list of features.",
                hint='features=[credit, bureau["delinquencies"], "bureau:age"]',
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "features", tuple(features))
        object.__setattr__(self, "full_names", full_names)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "where", where)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": [_shown(item) for item in self.features],
            "full_names": self.full_names,
            "description": self.description,
        }


@dataclass(frozen=True)
class ViewPart:
    """The features a plan takes from one view: (feature, output column) pairs."""

    view: FeatureView
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """A resolved feature request: per view the columns it gives, then derived features."""

    views: tuple[ViewPart, ...]
    derived: tuple[DerivedFeature, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The output columns, in order."""
        own = [out for part in self.views for _, out in part.columns]
        return (*own, *(d.name for d in self.derived))


def resolve(
    features: Sequence[FeatureLike],
    *,
    views: Mapping[str, FeatureView],
    derived: Mapping[str, DerivedFeature],
    full_names: bool,
    where: str,
) -> Plan:
    """Resolve ``features`` against the defined ``views`` and ``derived`` features."""
    chosen: dict[str, dict[str, None]] = {}  # view name -> features (ordered, unique)
    known_views: dict[str, FeatureView] = dict(views)
    found_derived: dict[str, DerivedFeature] = {}
    for item in features:
        for view, feature in _items(item, views=known_views, derived=derived, where=where):
            if isinstance(view, DerivedFeature):
                found_derived[view.name] = view
                continue
            known_views.setdefault(view.name, view)
            chosen.setdefault(view.name, {})[feature] = None
    parts = tuple(
        ViewPart(
            known_views[name],
            tuple((f, f"{name}{FULL_NAME_SEPARATOR}{f}" if full_names else f) for f in names),
        )
        for name, names in chosen.items()
    )
    plan = Plan(parts, tuple(found_derived.values()))
    _check_unique(plan, where)
    return plan


def _items(
    item: FeatureLike,
    *,
    views: Mapping[str, FeatureView],
    derived: Mapping[str, DerivedFeature],
    where: str,
) -> list[tuple[Any, str]]:
    if isinstance(item, FeatureView):
        return [(item, f) for f in item.features]
    if isinstance(item, FeatureRef):
        return [(item.view, item.name)]
    if isinstance(item, DerivedFeature):
        return [(item, item.name)]
    if not isinstance(item, str):
        raise UsageError(
            f"{where}: {item!r} is not a feature.",
            hint='Name features as a view, view["name"], a derived feature or "view:name".',
        )
    view_name, colon, feature = item.partition(":")
    if colon:
        view = _view(view_name, views, where, item)
        if feature == "*":
            return [(view, f) for f in view.features]
        return [(view[feature].view, feature)]
    return [_bare(item, views, derived, where)]


def _view(name: str, views: Mapping[str, FeatureView], where: str, item: str) -> FeatureView:
    found = views.get(name)
    if found is None:
        raise UsageError(
            f"{where} names feature view {name!r} (in {item!r}), which is not defined.",
            hint="The view was renamed or removed from the definitions: update the feature "
            f"list. {did_you_mean(name, views)}",
        )
    return found


def _bare(
    name: str,
    views: Mapping[str, FeatureView],
    derived: Mapping[str, DerivedFeature],
    where: str,
) -> tuple[Any, str]:
    owners = [view for view in views.values() if name in view.features]
    if name in derived:
        return (derived[name], name)
    if len(owners) == 1:
        return (owners[0], name)
    if owners:
        named = " or ".join(f"'{v.name}:{name}'" for v in owners)
        raise UsageError(
            f"{where}: feature {name!r} is defined by views "
            + " and ".join(repr(v.name) for v in owners)
            + ".",
            hint=f"Name it with its view: {named} (and full_names=True to keep both, as "
            f"columns {', '.join(v.name + FULL_NAME_SEPARATOR + name for v in owners)}).",
        )
    known = [f"{v.name}:{f}" for v in views.values() for f in v.features]
    bare = [f for v in views.values() for f in v.features]
    raise UsageError(
        f"{where}: unknown feature {name!r}.",
        hint=did_you_mean(name, {*bare, *known, *derived}),
    )


def _check_unique(plan: Plan, where: str) -> None:
    owners: dict[str, list[str]] = {}
    for part in plan.views:
        for feature, out in part.columns:
            owners.setdefault(out, []).append(f"{part.view.name}:{feature}")
    for item in plan.derived:
        owners.setdefault(item.name, []).append(f"derived feature {item.name}")
    for out, sources in owners.items():
        if len(sources) > 1:
            views = [s.partition(":")[0] for s in sources if ":" in s]
            columns = ", ".join(v + FULL_NAME_SEPARATOR + out for v in views)
            raise UsageError(
                f"{where}: feature {out!r} is defined by {' and '.join(sources)}; a training "
                "set cannot hold both under one name.",
                hint=f"Ask for full names (full_names=True gives columns {columns}), or keep "
                "one of them.",
            )


def _shown(item: FeatureLike) -> str:
    if isinstance(item, FeatureView):
        return f"{item.name}:*"
    if isinstance(item, DerivedFeature):
        return item.name
    return str(item)

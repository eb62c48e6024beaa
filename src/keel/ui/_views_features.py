"""The feature pages' data: the project's feature definitions, the online store's freshness
per view, and the training sets built from them.

The definitions are ``keel features list --format json`` (:meth:`Definitions.to_dict`) and a
view is ``keel features show VIEW --format json`` (:meth:`FeatureView.to_dict`); the pages
add context around them, never a second shape:

- ``fingerprints``: each view's fingerprint now (definition, contract and the source's content
  version; ``None`` with the reason in ``fingerprint_errors`` when the source cannot be read);
- ``online``: the online store (its URL, password masked) and each view's last
  materialization (``keel features materialize --format json`` items, ``None`` when never
  materialized) with its ``freshness``: ``current`` (the snapshot's fingerprint is the view's
  now), ``stale`` (the definition, the contract or the data changed since), ``never``, or
  ``unknown`` (no fingerprint now);
- ``training_sets``: the newest :data:`TRAINING_SETS` training sets recorded
  (``keel features training-set``): the dataset version (``NAME/3``), its rows, the run that
  built it, the features, and each view's fingerprint when it was built.

A project without ``[features] definitions`` answers with ``configured: false`` and the
reason in ``problem`` (the page explains how to add them), not with an error; so does a
definitions file that fails to load (the reason is its error, with the line).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from keel.errors import KeelError, UsageError
from keel.features import Definitions, FeatureView, load_definitions, open_online_store
from keel.tracking import dataset_version_to_dict
from keel.ui._views import NotFoundError

if TYPE_CHECKING:
    from keel.store import DatasetVersion, Run
    from keel.tracking import Project

__all__ = ["TRAINING_SETS", "export_features", "feature_view", "features"]

TRAINING_SETS = 200
"""How many of the newest training-set runs the pages read."""

_TAG = "keel.features"  # the tag keel.features.training_set puts on the run that records one
_VIEW_PARAM = "features.view."


def features(project: Project) -> dict[str, Any]:
    """Every entity, view, service and derived feature defined, with the online store's
    freshness per view and the training sets built (see the module's docstring)."""
    defs, error = _definitions(project)
    problem = None if error is None else {"error": error.message, "hint": error.hint}
    listed: dict[str, Any] = (
        defs.to_dict()
        if defs is not None
        else {"source": None, "entities": [], "views": [], "services": [], "derived": []}
    )
    views = list(defs.views.values()) if defs is not None else []
    fingerprints, errors = _fingerprints(project, defs, views)
    return listed | {
        "configured": bool(project.config.features_definitions),
        "problem": problem,
        "fingerprints": fingerprints,
        "fingerprint_errors": errors,
        "online": _online(project, views, fingerprints),
        "training_sets": training_sets(project),
    }


def feature_view(project: Project, name: str) -> dict[str, Any]:
    """One view (``keel features show VIEW --format json``): its contract's columns, its
    fingerprint, its online freshness, the services that use it and the training sets built
    from it (each with ``current``: built from the view's fingerprint now)."""
    defs, error = _definitions(project)
    if defs is None:
        assert error is not None
        raise NotFoundError(error.message, hint=error.hint)
    view = _found(lambda: defs.view(name))
    fingerprints, errors = _fingerprints(project, defs, [view])
    now = fingerprints[name]
    online = _online(project, [view], fingerprints)
    built = [
        t
        | {"fingerprint": t["views"][name], "current": now is not None and t["views"][name] == now}
        for t in training_sets(project)
        if name in t["views"]
    ]
    return view.to_dict() | {
        "fingerprint": now,
        "fingerprint_error": errors.get(name),
        "definition_digest": view.definition_digest(),
        "columns": _columns(view),
        "online": {
            "store": online["store"],
            "error": online["error"],
            "materialization": online["materializations"].get(name),
            "freshness": online["freshness"].get(name),
        },
        "services": [
            s.name
            for s in defs.services.values()
            if any(p.view.name == name for p in defs.plan(s).views)
        ],
        "training_sets": built,
    }


def training_sets(project: Project, *, limit: int = TRAINING_SETS) -> list[dict[str, Any]]:
    """The newest training sets recorded (one item per run that recorded one), newest first."""
    store = project.metadata
    runs = store.search_runs(f'tags.{_TAG} ~ ""', limit=limit).runs
    versions: dict[str, DatasetVersion] = {}
    for name in {r.tags[_TAG] for r in runs}:
        for version in store.list_dataset_versions(name):
            if version.run_id is not None:
                versions[version.run_id] = version
    return [_training_set(r, versions.get(r.id)) for r in runs]


def _training_set(run: Run, version: DatasetVersion | None) -> dict[str, Any]:
    shown = None if version is None else dataset_version_to_dict(version)
    views = {
        key.removeprefix(_VIEW_PARAM): value.get("fingerprint")
        for key, value in run.params.items()
        if key.startswith(_VIEW_PARAM) and isinstance(value, Mapping)
    }
    return {
        "dataset": None if version is None else f"{version.name}/{version.version}",
        "name": run.tags[_TAG],
        "version": None if version is None else version.version,
        "rows": None if shown is None else shown["rows"],
        "created_at": None if shown is None else shown["created_at"],
        "run_id": run.id,
        "run_status": run.status,
        "features": list(run.params.get("features.columns") or []),
        "as_known_at": run.params.get("features.as_known_at"),
        "key": run.params.get("features.key"),
        "views": views,
    }


def export_features(project: Project, write: Callable[..., None]) -> None:
    """Write the feature pages with ``write(page, template, **context)`` (the static export)."""
    data = features(project)
    write("features", "features.html", data=data)
    for view in data["views"]:
        name = view["name"]
        write(f"features/{name}", "feature_view.html", data=feature_view(project, name))


# -- reading --------------------------------------------------------------------------------
def _definitions(project: Project) -> tuple[Definitions | None, KeelError | None]:
    """The definitions, or why there are none (not configured, or a file that fails to load:
    its error, which names the line)."""
    try:
        return load_definitions(start=project.config.root), None
    except KeelError as error:
        return None, error


def _fingerprints(
    project: Project, defs: Definitions | None, views: list[FeatureView]
) -> tuple[dict[str, str | None], dict[str, str]]:
    found: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for view in views:
        assert defs is not None
        try:
            found[view.name] = view.fingerprint(defs.root, project)
        except KeelError as error:
            found[view.name] = None
            errors[view.name] = error.message
    return found, errors


def _online(
    project: Project, views: list[FeatureView], fingerprints: Mapping[str, str | None]
) -> dict[str, Any]:
    """The online store and each view's last materialization. The embedded store's file is
    not created when missing (the UI writes nothing): no file means nothing materialized."""
    config = project.config
    configured = config.features_online.strip()
    shape: dict[str, Any] = {"store": None, "error": None, "materializations": {}}
    if not configured and not (config.state_dir / "online.db").is_file():
        shape["store"] = f"sqlite:///{config.state_dir / 'online.db'}"
        shape["materializations"] = {v.name: None for v in views}
    elif views:
        try:
            store = open_online_store(config)
            try:
                shape["store"] = _masked(store.url)
                for view in views:
                    meta = store.materialization(view.name)
                    shape["materializations"][view.name] = None if meta is None else meta.to_dict()
            finally:
                store.close()
        except KeelError as error:
            shape["store"] = _masked(configured) if configured else None
            shape["error"] = error.message
    else:
        shape["store"] = _masked(configured) if configured else None
    shape["freshness"] = {
        name: _freshness(meta, fingerprints.get(name))
        for name, meta in shape["materializations"].items()
    }
    return shape


def _freshness(meta: Mapping[str, Any] | None, now: str | None) -> str:
    if meta is None:
        return "never"
    if now is None:
        return "unknown"
    return "current" if meta["fingerprint"] == now else "stale"


def _masked(url: str) -> str:
    """A store URL with its password replaced by ``***`` (pages are shared and exported)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _columns(view: FeatureView) -> list[dict[str, Any]]:
    """The contract's columns, each with its role in the view."""
    roles = dict.fromkeys(view.entity.key_names, "key")
    roles[view.event_time] = "event time"
    if view.created_time:
        roles[view.created_time] = "created time"
    return [
        {
            "name": c.name,
            "dtype": c.dtype.value,
            "nullable": c.nullable,
            "role": roles.get(c.name, "feature"),
        }
        for c in view.schema.columns
    ]


def _found(find: Callable[[], FeatureView]) -> FeatureView:
    try:
        return find()
    except UsageError as error:
        raise NotFoundError(error.message, hint=error.hint) from None

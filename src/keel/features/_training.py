"""``keel.features.training_set``: point-in-time correct training sets.

The output has exactly the entity frame's rows, in its order, with its columns, then one
column per feature (null when missing or expired) and per derived feature. With ``name=``,
the training set is content-addressed (its key hashes the definitions, every source's
content version, the mode and the entity frame), recorded as a version of dataset ``name``
by a run whose params name each view's fingerprint and source (dataset sources are the
run's inputs, so ``keel lineage NAME/3`` shows them), and kept in the project's cache:
asking for the same training set again reads it back (a cache hit) and records nothing new.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from keel.errors import UsageError, did_you_mean
from keel.features._dask import is_dask  # the module imports Dask only when used
from keel.features._definitions import Definitions, load_definitions
from keel.features._duckdb import join_duckdb
from keel.features._frames import Coverage, assemble, checked_source, entity_rows, feature_rows
from keel.features._pit import JoinSpec, join_polars, known_rows, sorted_rows
from keel.features._service import FeatureLike, FeatureService, Plan
from keel.features._view import FeatureView
from keel.store import hash_bytes
from keel.tracking import (
    Project,
    add_dataset,
    local_source,
    open_project,
    open_source,
    start_run,
)
from keel.versioning import HashCache, hash_path

if TYPE_CHECKING:
    import polars as pl

    from keel.store import DatasetVersion

__all__ = ["Coverage", "Engine", "TrainingSet", "training_set"]

Engine = Literal["auto", "polars", "duckdb", "dask"]
_ENGINES = ("auto", "polars", "duckdb", "dask")
_FORMAT = 1  # bump when the output of the same request would change


@dataclass(frozen=True)
class TrainingSet:
    """A built training set: its frame, what it holds, and where it was recorded."""

    frame: pl.DataFrame | Any
    """A Polars DataFrame; with the Dask engine, a lazy Dask DataFrame (write it with
    ``frame.to_parquet(folder)``; nothing is joined until then)."""
    features: tuple[str, ...]
    coverage: tuple[Coverage, ...]
    key: str | None = None
    """The content address (only when recorded: ``name=``)."""
    dataset: DatasetVersion | None = None
    cache_hit: bool = False

    @property
    def rows(self) -> int:
        """How many rows the training set has (the entity frame's)."""
        if hasattr(self.frame, "height"):
            return int(self.frame.height)
        if self.coverage:  # a lazy frame: every entity row is counted once per view
            first = self.coverage[0]
            return first.found + first.expired + first.missing
        return len(self.frame)

    def to_dict(self) -> dict[str, Any]:
        found = self.dataset
        return {
            "rows": self.rows,
            "features": list(self.features),
            "coverage": [c.to_dict() for c in self.coverage],
            "key": self.key,
            "dataset": None if found is None else f"{found.name}/{found.version}",
            "cache_hit": self.cache_hit,
        }


def training_set(
    entities: Any,
    features: FeatureService | str | Iterable[FeatureLike],
    *,
    definitions: Definitions | None = None,
    timestamp: str = "timestamp",
    as_known_at: bool = False,
    full_names: bool = False,
    engine: Engine = "auto",
    name: str | None = None,
    project: Project | None = None,
) -> TrainingSet:
    """The point-in-time correct training set for ``entities`` (any data source: a frame, a
    path, a dataset reference; it holds the entities' keys and ``timestamp``) and
    ``features`` (a :class:`FeatureService`, a service name, or a list of features).

    Names in text are resolved in ``definitions``, by default those ``keel.toml`` names.
    ``engine`` is ``polars``, ``duckdb`` or ``dask``; ``auto`` picks DuckDB for a DuckDB
    relation, Dask for a Dask DataFrame and Polars for anything else. All give the same rows.
    The Dask engine keeps the entity frame partitioned (a path or glob is read partition by
    partition) and returns a lazy Dask DataFrame. ``name`` records the result as a version
    of dataset ``name`` and caches it (not with the Dask engine).
    """
    if engine not in _ENGINES:
        raise UsageError(f"engine={engine!r} is not an engine.", hint=f"Choose one of {_ENGINES}.")
    defs = definitions if definitions is not None else _definitions_for(features)
    plan = defs.plan(features, full_names=full_names)
    if engine == "auto":
        engine = _engine_for(entities)
    if engine == "dask":
        return _build_dask(
            entities, plan, defs, project, timestamp=timestamp, as_known_at=as_known_at, name=name
        )
    frame = open_source(entities, project=project).collect()
    ready, zone = entity_rows(frame, [part.view.entity for part in plan.views], timestamp)
    _check_columns(frame, plan)
    key, parts = "", dict[str, Any]()
    if name is not None:
        project = project or open_project()
        key, parts = _key(frame, plan, defs, project, timestamp=timestamp, as_known_at=as_known_at)
        cached = _cached(project, key)
        if cached is not None:
            return _record(project, name, key, parts, plan=plan, built=cached, hit=True)
    join = join_duckdb if engine == "duckdb" else join_polars
    views = _views(plan, defs, project, zone, timestamp=timestamp, as_known_at=as_known_at)
    results = [join(ready, rows, spec) for rows, spec in views]
    out, coverage = assemble(frame, ready, plan, list(plan.views), results)
    built = TrainingSet(out, plan.columns, coverage)
    if name is None or project is None:
        return built
    return _record(project, name, key, parts, plan=plan, built=built, hit=False)


def _engine_for(entities: Any) -> Engine:
    """The engine of the entity rows' library: DuckDB's for a DuckDB relation, Dask's for a
    Dask DataFrame (as validation and monitoring choose), else Polars."""
    if type(entities).__module__.startswith("duckdb"):
        return "duckdb"
    return "dask" if is_dask(entities) else "polars"


def _views(
    plan: Plan,
    defs: Definitions,
    project: Project | None,
    zone: str | None,
    *,
    timestamp: str,
    as_known_at: bool,
) -> Iterator[tuple[pl.DataFrame, JoinSpec]]:
    """Each view's checked feature rows, in join order, and its join."""
    for part in plan.views:
        view = part.view
        rows = _read(view, defs, project, zone, timestamp)
        spec = JoinSpec(
            keys=view.entity.key_names,
            ttl_us=None if view.ttl is None else view.ttl.microseconds,
            as_known_at=as_known_at,
            has_created=view.created_time is not None,
            columns=tuple(f for f, _ in part.columns),
        )
        yield sorted_rows(rows, spec, view=view.name), spec


def _build_dask(  # training_set's arguments, passed on once
    entities: Any,
    plan: Plan,
    defs: Definitions,
    project: Project | None,
    *,
    timestamp: str,
    as_known_at: bool,
    name: str | None,
) -> TrainingSet:
    """The Dask engine: the entity frame stays partitioned; the result is a lazy frame."""
    from keel.features._dask import DaskJoin, dask_entities, refuse_recording

    if name is not None:
        raise refuse_recording(name)
    data = dask_entities(local_source(entities, project=project))
    join = DaskJoin(data, plan, timestamp)
    _check_columns(data, plan)
    tables, specs = [], []
    for rows, spec in _views(
        plan, defs, project, join.zone, timestamp=timestamp, as_known_at=as_known_at
    ):
        tables.append((rows, known_rows(rows, spec)))
        specs.append(spec)
    frame, coverage = join.build(tables, specs)
    return TrainingSet(frame, plan.columns, coverage)


def _definitions_for(features: object) -> Definitions:
    """Definitions from keel.toml when a feature is named by text, else from the objects."""
    items = features.features if isinstance(features, FeatureService) else features
    if isinstance(items, str) or (
        isinstance(items, Iterable) and any(isinstance(i, str) for i in items)
    ):
        return load_definitions()
    listed = list(items) if isinstance(items, Iterable) else [items]
    return Definitions.of(listed)


def _check_columns(frame: Any, plan: Plan) -> None:
    taken = [c for c in plan.columns if c in frame.columns]
    if taken:
        raise UsageError(
            f"the entity frame already has column(s) {', '.join(taken)}, which the training "
            "set would add as features.",
            hint="Rename or drop them in the entity frame, or ask for full names "
            "(full_names=True).",
        )
    for item in plan.derived:
        known = {*plan.columns, *frame.columns}
        for needed in item.input_names:
            if needed not in known:
                raise UsageError(
                    f"derived feature {item.name!r} ({item.where}) needs {needed!r}, which is "
                    "neither a feature asked for nor a column of the entity frame.",
                    hint="Add the feature to the service, or the column to the entity frame. "
                    + did_you_mean(needed, known),
                )


def _read(
    view: FeatureView, defs: Definitions, project: Project | None, zone: str | None, timestamp: str
) -> pl.DataFrame:
    """The view's rows, after its source passed its contract."""
    return feature_rows(checked_source(view, defs, project).frame, view, zone, timestamp)


# -- content address, cache and record -------------------------------------------------------
def _key(
    frame: pl.DataFrame,
    plan: Plan,
    defs: Definitions,
    project: Project,
    *,
    timestamp: str,
    as_known_at: bool,
) -> tuple[str, dict[str, Any]]:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    parts: dict[str, Any] = {
        "format": _FORMAT,
        "entities": hash_bytes(buffer.getvalue()),
        "timestamp": timestamp,
        "as_known_at": as_known_at,
        "columns": list(plan.columns),
        "views": {
            p.view.name: {
                "fingerprint": p.view.fingerprint(defs.root, project),
                "source": str(p.view.source),
                "columns": [list(c) for c in p.columns],
            }
            for p in plan.views
        },
        "derived": {d.name: d.fingerprint(defs.root) for d in plan.derived},
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hash_bytes(text.encode()), parts


def _cache_file(project: Project, key: str) -> Path:
    return project.config.state_dir / "cache" / "training-sets" / f"{key}.parquet"


def _cached(project: Project, key: str) -> TrainingSet | None:
    import polars as pl

    file = _cache_file(project, key)
    if not file.is_file():
        return None
    meta = json.loads(file.with_suffix(".json").read_text(encoding="utf-8"))
    coverage = tuple(Coverage(**c) for c in meta["coverage"])
    return TrainingSet(pl.read_parquet(file), tuple(meta["features"]), coverage, key=key)


def _record(
    project: Project,
    name: str,
    key: str,
    parts: dict[str, Any],
    *,
    plan: Plan,
    built: TrainingSet,
    hit: bool,
) -> TrainingSet:
    file = _cache_file(project, key)
    if not hit:
        file.parent.mkdir(parents=True, exist_ok=True)
        meta = {"features": list(built.features), "coverage": [c.to_dict() for c in built.coverage]}
        _write_atomic(  # first: a cached frame always has its description
            file.with_suffix(".json"), lambda path: Path(path).write_text(json.dumps(meta))
        )
        _write_atomic(file, lambda path: built.frame.write_parquet(path, statistics=True))
    digest = hash_path(file, cache=HashCache(project.config.state_dir / "cache")).digest
    same = [v for v in project.metadata.dataset_versions_with_digest(digest) if v.name == name]
    if same:
        version = same[-1]
    else:
        params = {
            "features.key": key,
            "features.columns": list(plan.columns),
            "features.as_known_at": parts["as_known_at"],
            **{f"features.view.{n}": v for n, v in parts["views"].items()},
        }
        with start_run(f"training-set {name}", params=params, tags={"keel.features": name}) as run:
            for part in plan.views:
                if part.view.source.kind == "dataset":
                    run.use_dataset(str(part.view.source.reference))
            version = add_dataset(file, name, profile=False, project=project)
    return TrainingSet(
        built.frame, built.features, built.coverage, key=key, dataset=version, cache_hit=hit
    )


def _write_atomic(target: Path, write: Any) -> None:
    handle, scratch = tempfile.mkstemp(prefix=".writing-", dir=target.parent)
    os.close(handle)
    try:
        write(scratch)
        os.replace(scratch, target)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)

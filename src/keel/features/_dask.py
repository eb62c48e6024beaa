"""The Dask engine of the point-in-time join, for entity frames larger than memory
(``pip install 'mlkeel[dask]'``).

The entity frame stays partitioned: each partition (a pandas frame) is turned into Polars
and joined against every view's feature rows inside a Dask task, on a cluster when the
user's client points at one. The feature rows are read, checked against their contracts,
ordered and indexed once, on the caller's side (:func:`~keel.features._pit.known_rows`),
and enter the graph once as one object per view, so every task shares them (a remote worker
fetches them once). A view with one key is indexed for binary search
(:func:`~keel.features._pit.search_index`), so a partition costs a search per entity row
rather than a pass over every feature row; a compound key falls back to the Polars as-of
join (:func:`~keel.features._pit.join_known`) per partition. Each
partition keeps its rows, its order, its index and its columns as they were, with the
features appended as Arrow-backed columns (nulls stay nulls); partitions keep their order.

The result is a lazy Dask DataFrame: nothing is joined until it is written or computed.
The coverage counts (found, expired, missing) come from a first pass of the as-of joins
alone (no values gathered, no derived feature computed) that keeps only the counts, so a
training set built with this engine is joined twice in all (once counted, once written),
never held in memory whole.

This module is imported only when the Dask engine is chosen; Keel never imports Dask
otherwise.
"""

from __future__ import annotations

import importlib
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InputError, MissingDependencyError, UsageError
from keel.features._frames import Coverage, assemble, count, entity_rows, time_zone_of
from keel.features._pit import (
    FOUND,
    JoinSpec,
    SearchIndex,
    join_known,
    pick,
    search_index,
    search_known,
)

if TYPE_CHECKING:
    import polars as pl

    from keel.features._service import Plan

__all__ = ["DaskJoin", "dask_entities", "dask_schema", "is_dask"]

ROWS_PER_PARTITION = 1_000_000
"""Rows per partition when the Dask engine is asked for on an in-memory frame."""


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.startswith("dask.") and hasattr(data, "to_delayed")


def _require_dask() -> None:
    try:
        importlib.import_module("dask.dataframe")
    except ImportError as exc:
        raise MissingDependencyError(
            "dask", extra="dask", purpose="the Dask feature engine"
        ) from exc


def dask_entities(source: Any) -> Any:
    """``source`` as a Dask DataFrame: a Dask DataFrame as it is; a Parquet file, folder or
    glob and a CSV file read partition by partition; an in-memory frame split into
    partitions of :data:`ROWS_PER_PARTITION` rows."""
    _require_dask()
    import dask.dataframe as dd

    if is_dask(source):
        return source
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if "://" not in text:  # the caller's file, wherever the workers run
            text = os.path.abspath(text)
        if Path(text).suffix.lower() == ".csv":
            return dd.read_csv(text)
        return dd.read_parquet(text)  # a file, a folder of files or a glob
    from keel.contracts import open_data

    frame = open_data(source).collect()
    parts = max(1, -(-frame.height // ROWS_PER_PARTITION))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        pandas = frame.to_pandas(use_pyarrow_extension_array=True)
        return dd.from_pandas(pandas, npartitions=parts)  # type: ignore[no-untyped-call]


def dask_schema(data: Any) -> pl.Schema:
    """The Polars types of a Dask DataFrame's columns, from its (empty) metadata frame; an
    object column (text, in pandas) counts as text."""
    import polars as pl

    meta = data._meta
    schema = dict(pl.from_pandas(meta).schema)
    for name, dtype in meta.dtypes.items():
        if str(dtype) == "object":
            schema[str(name)] = pl.String()
    return pl.Schema(schema)


@dataclass(frozen=True)
class _Task:
    """What every partition's task needs, apart from the feature rows."""

    plan: Plan
    specs: tuple[JoinSpec, ...]
    timestamp: str
    schema: pl.Schema


def _polars(part: Any, schema: pl.Schema) -> pl.DataFrame:
    """A pandas partition as Polars, with the frame's declared types (an empty partition of
    object columns says nothing about them)."""
    import polars as pl

    frame = pl.from_pandas(part)
    return frame.with_columns(
        pl.col(c).cast(schema[c]) for c in frame.columns if frame.schema[c] != schema[c]
    )


def _match(
    ready: pl.DataFrame, rows: pl.DataFrame, lookup: pl.DataFrame | SearchIndex, spec: JoinSpec
) -> pl.DataFrame:
    """One view's ``FOUND`` and feature columns for a partition's entity rows: by binary
    search when the view has a search index, else by an as-of join over the known rows."""
    if isinstance(lookup, SearchIndex):
        return pick(search_known(ready, lookup, spec), rows, spec)
    return join_known(ready, rows, lookup, spec)


def _ready(part: Any, frame: pl.DataFrame, task: _Task) -> pl.DataFrame:
    """The partition's entity rows for the engine, refused as the in-memory engines refuse
    them (the rows named are counted from the partition's start)."""
    entities = [p.view.entity for p in task.plan.views]
    try:
        return entity_rows(frame, entities, task.timestamp)[0]
    except InputError as exc:
        where = f" (index {part.index[0]} to {part.index[-1]})" if len(part) else ""
        raise InputError(
            f"in a partition of the entity frame{where}, counting rows from its start: "
            f"{exc.message}",
            hint=exc.hint,
        ) from exc


def _joined(part: Any, task: _Task, tables: Sequence[tuple[pl.DataFrame, Any]]) -> pl.DataFrame:
    """The partition's rows (as Polars) with every feature appended."""
    frame = _polars(part, task.schema)
    ready = _ready(part, frame, task)
    results = [
        _match(ready, rows, lookup, spec)
        for (rows, lookup), spec in zip(tables, task.specs, strict=True)
    ]
    return assemble(frame, ready, task.plan, list(task.plan.views), results)[0]


def _features_of(part: Any, task: _Task, *tables: tuple[pl.DataFrame, Any]) -> Any:
    """One partition with its features appended (the partition's own columns untouched)."""
    out = _joined(part, task, tables)
    added = out.select(task.plan.columns).to_pandas(use_pyarrow_extension_array=True)
    added.index = part.index
    return part.assign(**{c: added[c] for c in added.columns})


def _coverage_of(part: Any, task: _Task, *tables: tuple[pl.DataFrame, Any]) -> tuple[Coverage, ...]:
    """One partition's coverage counts, per view: the as-of joins alone (no feature values
    gathered, no derived feature computed)."""
    ready = _ready(part, _polars(part, task.schema), task)
    counted = []
    for p, (rows, lookup), spec in zip(task.plan.views, tables, task.specs, strict=True):
        found = _match(ready, rows, lookup, replace(spec, columns=())).get_column(FOUND)
        counted.append(count(p.view, ready, found))
    return tuple(counted)


def _compute(tasks: Sequence[Any]) -> tuple[Any, ...]:
    """Run Dask tasks in the current scheduler (a cluster's, if a client is set up)."""
    from dask.base import compute

    return tuple(compute(*tasks))  # type: ignore[no-untyped-call]


class DaskJoin:
    """The training set of a Dask entity frame: its time zone (known before any feature row
    is read), then the lazy frame with the features and the coverage counts."""

    def __init__(self, data: Any, plan: Plan, timestamp: str) -> None:
        self.data = data
        self.plan = plan
        self.timestamp = timestamp
        self.schema = dask_schema(data)
        if timestamp not in self.schema:
            raise InputError(
                f"the entity frame has no timestamp column {timestamp!r} (columns: "
                f"{', '.join(self.schema.names()[:20])}).",
                hint="Give each row the time its features are wanted as of, or pass "
                "timestamp='COLUMN' (--timestamp COLUMN) naming it.",
            )
        self.zone = time_zone_of(self.schema[timestamp], timestamp, "the entity frame")
        self._check_types()

    def _check_types(self) -> None:
        """The keys' types, from the metadata alone (null keys are found per partition)."""
        import polars as pl

        empty = pl.DataFrame(schema=self.schema)
        entity_rows(empty, [p.view.entity for p in self.plan.views], self.timestamp)

    def build(
        self, tables: Sequence[tuple[pl.DataFrame, Any]], specs: Sequence[JoinSpec]
    ) -> tuple[Any, tuple[Coverage, ...]]:
        """The lazy frame with the features, and the coverage counted over every partition."""
        from dask.delayed import delayed

        _ship_by_value(self.plan)
        task = _Task(self.plan, tuple(specs), self.timestamp, self.schema)
        tables = [  # a partition then costs a search per row, not a pass over every row
            (rows, search_index(known, spec) or known)
            for (rows, known), spec in zip(tables, specs, strict=True)
        ]
        run = uuid.uuid4().hex
        shared = [  # named, so Dask never hashes (or copies) millions of rows to name them
            delayed(table, name=f"keel-feature-rows-{part.view.name}-{run}", traverse=False)
            for table, part in zip(tables, self.plan.views, strict=True)
        ]
        meta = _features_of(self.data._meta, task, *(_empty(t) for t in tables))
        frame = self.data.map_partitions(
            _features_of, task, *shared, meta=meta, token=f"keel-training-set-{run}"
        )
        count = delayed(_coverage_of, pure=True)
        counted: Sequence[tuple[Coverage, ...]] = _compute(
            [count(part, task, *shared) for part in self.data.to_delayed()]
        )
        coverage = tuple(
            Coverage(
                part.view.name,
                sum(c[i].found for c in counted),
                sum(c[i].expired for c in counted),
                sum(c[i].missing for c in counted),
            )
            for i, part in enumerate(self.plan.views)
        )
        return frame, coverage


def _empty(table: tuple[pl.DataFrame, Any]) -> tuple[pl.DataFrame, Any]:
    rows, lookup = table
    return rows.clear(), lookup


def _ship_by_value(plan: Plan) -> None:
    """The user's code in the plan (derived features' functions, views' contracts) travels
    to workers by value: a definitions file is loaded by path, and a worker elsewhere could
    not import it (or the caller's module) by name."""
    import sys

    owners = [item.function for item in plan.derived] + [p.view.schema for p in plan.views]
    modules = {getattr(owner, "__module__", "") for owner in owners}
    cloudpickle = importlib.import_module("cloudpickle")  # Dask's own dependency
    for name in sorted(modules):
        if name.split(".")[0] == "keel" or name in {"", "__main__", "builtins"}:
            continue  # Keel is on every worker; __main__ goes by value anyway
        module = sys.modules.get(name)
        if module is not None:
            cloudpickle.register_pickle_by_value(module)


def refuse_recording(name: str) -> UsageError:
    """The error for ``name=`` with the Dask engine (a content address would read it all)."""
    return UsageError(
        f"name={name!r}: a training set built with the Dask engine is not recorded or cached "
        "(its content address would need every entity row in memory).",
        hint="Write the frame (built.frame.to_parquet('train/')) and record that folder "
        "with keel.add_dataset, or use engine='polars' for a frame that fits in memory.",
    )

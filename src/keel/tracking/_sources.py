"""Data sources: the one way Keel's commands and functions accept data to read.

A source is a path (a Parquet file, folder or glob, a CSV or NDJSON file), a frame (Polars,
pandas, PyArrow, DuckDB, Dask), or a registered dataset version: a reference with a version
number, or ``data:`` followed by any dataset reference (``data:NAME`` is the latest). An
existing path wins over a reference written the same way. References are read by
:func:`keel.grammar.parse_reference`; nothing here parses them.

Validation, drift comparison, profiles, evaluation and gates all take their data through
here, so each accepts every form. Frames and paths need nothing from the store and are
handled by :func:`keel.contracts.open_data`; a dataset version is first restored, once, into
the project's cache (``.keel/cache/datasets/DIGEST``: named by content, so never stale, and
safe to delete) and then read as a path, so it stays lazy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.grammar import Reference, parse_reference, prefix_kind
from keel.tracking._datasets import get_dataset
from keel.tracking._project import Project, open_project
from keel.tracking._refs import dataset_version

if TYPE_CHECKING:
    import polars as pl

__all__ = ["dataset_reference", "local_source", "open_source"]

_GLOB = "*?["


def open_source(source: Any, *, project: Project | None = None) -> pl.LazyFrame:
    """``source`` (see the module docstring) as a lazy Polars frame.

    The project is opened only for a dataset reference. Dask frames are collected: callers
    that run Dask distributed pass them on before asking for a Polars frame.
    """
    from keel.contracts import open_data

    return open_data(local_source(source, project=project))


def local_source(source: Any, *, project: Project | None = None) -> Any:
    """``source`` with a dataset reference replaced by the local path of its files; a path or
    a frame is returned as it is (validation reads those natively, on their own engine)."""
    if not isinstance(source, str):
        return source
    ref = dataset_reference(source)
    if ref is None:
        return source
    return _restored(ref, project or open_project())


def dataset_reference(text: str) -> Reference | None:
    """The dataset version ``text`` names, or ``None`` when it is a path.

    ``data:REF`` is always a reference; otherwise a text that is no existing path, no glob,
    and is written as a dataset version (``NAME/3``, or the old ``NAME@3``, which the
    grammar then refuses with the new form) is one.
    """
    if prefix_kind(text) == "dataset":
        return parse_reference(text)
    if any(ch in text for ch in _GLOB) or Path(text).exists():
        return None
    name, slash, version = text.rpartition("/")
    numbered = bool(slash and name) and "/" not in name and version.isascii() and version.isdigit()
    if "@" in text or numbered:
        return parse_reference(text, kind="dataset")
    return None


def _restored(ref: Reference, project: Project) -> Path:
    found = dataset_version(ref, project=project)
    root = project.config.state_dir / "cache" / "datasets" / found.digest
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".restoring-", dir=root.parent))
        try:
            get_dataset(ref, scratch, project=project)
            try:
                os.replace(scratch, root)  # atomic; a concurrent restore may have won
            except OSError:
                if not root.exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    return files[0] if len(files) == 1 else root  # a file keeps its name, so its format

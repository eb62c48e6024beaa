"""Where a feature view's rows come from, and the version of their content.

A source is a path (a Parquet or CSV file, a folder of Parquet files, a glob), a registered
dataset version (``data:credit/3``, ``credit/3``, ``data:credit`` for the latest), or a DuckDB
SQL query (:func:`sql`). Paths are read through :func:`keel.tracking.open_source`, the one way
Keel reads data, and relative paths are taken from the folder of the definitions file.

Each source has a *content version*: the BLAKE3 digest of its files (cached by size and
modification time, so an unchanged file is not read again), the digest of the dataset version
a reference resolves to, or for a query the digest of its text and its result. A view's
fingerprint includes it, so new data is seen without any apply step.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keel.errors import InputError, UsageError, first_line
from keel.features._duckdb import connect_duckdb
from keel.grammar import Reference
from keel.store import hash_bytes
from keel.tracking import Project, dataset_reference, dataset_version, open_source
from keel.versioning import HashCache, hash_path

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Loaded", "Source", "SqlQuery", "as_source", "sql"]

_GLOB = "*?["


@dataclass(frozen=True)
class SqlQuery:
    """A DuckDB SQL query whose result holds a view's rows (``pip install 'mlkeel[duckdb]'``).

    Relative file paths inside the query are read from the definitions file's folder."""

    query: str


def sql(query: str) -> SqlQuery:
    """A feature view source computed by DuckDB: ``keel.features.sql("SELECT ... FROM
    'credit/*.parquet'")``."""
    if not query.strip():
        raise UsageError(
            f"sql() needs the text of a query, got {query!r}.",
            hint="keel.features.sql(\"SELECT * FROM 'credit.parquet'\")",
        )
    return SqlQuery(query)


@dataclass(frozen=True)
class Loaded:
    """A source read: its rows (lazy where the source allows) and its content version."""

    frame: pl.LazyFrame
    version: str
    shown: str
    dataset: str | None = None
    """The dataset version read (``credit/3``), when the source is a reference."""


@dataclass(frozen=True)
class Source:
    """One source, as written in a definition (``kind``: ``path``, ``dataset`` or ``sql``)."""

    kind: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}

    def __str__(self) -> str:
        return f"sql({self.text!r})" if self.kind == "sql" else self.text

    def version(self, root: Path, project: Project | None) -> str:
        """The content version, without reading the rows of a path or a dataset."""
        if self.kind == "dataset":
            return dataset_version(self.reference, project=project).digest
        if self.kind == "sql":
            return self.load(root, project).version
        return _files_digest(self._files(root), project)

    def load(self, root: Path, project: Project | None) -> Loaded:
        """The rows and the content version."""
        if self.kind == "sql":
            return _run_query(self.text, root)
        if self.kind == "dataset":
            found = dataset_version(self.reference, project=project)
            frame = open_source(self.text, project=project)
            shown = f"{found.name}/{found.version}"
            return Loaded(frame, found.digest, f"dataset {shown}", dataset=shown)
        files = self._files(root)
        located = str(_resolved(self.text, root))
        frame = open_source(located)
        return Loaded(frame, _files_digest(files, project), located)

    @property
    def reference(self) -> Reference:
        """The dataset version a ``dataset`` source names."""
        found = dataset_reference(self.text)
        assert found is not None, "only dataset sources have a reference"
        return found

    def _files(self, root: Path) -> list[Path]:
        text = str(_resolved(self.text, root))
        if any(ch in text for ch in _GLOB):
            found = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
            if not found:
                raise InputError(f"no files match {text}.", hint="Check the glob.")
            return found
        path = Path(text)
        if not path.exists():
            raise InputError(
                f"no data at {path}.",
                hint="Check the path; a relative path is read from the definitions file's folder.",
            )
        return [path]


def as_source(value: object, where: str) -> Source:
    """What a view's ``source=`` holds, as a :class:`Source`."""
    if isinstance(value, SqlQuery):
        return Source("sql", value.query)
    if isinstance(value, os.PathLike):
        return Source("path", os.fspath(value))
    if isinstance(value, str) and value:
        return Source("dataset" if dataset_reference(value) else "path", value)
    raise UsageError(
        f"{where}: source={value!r} is not a feature source.",
        hint="Pass a Parquet or CSV path or glob, a dataset reference (data:credit/3) or "
        "keel.features.sql('SELECT ...').",
    )


def _resolved(text: str, root: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


def _files_digest(files: list[Path], project: Project | None) -> str:
    cache = HashCache(project.config.state_dir / "cache") if project is not None else None
    digests = [hash_path(path, cache=cache).digest for path in files]
    return hash_bytes("\n".join(digests).encode())


def _run_query(query: str, root: Path) -> Loaded:
    connection = connect_duckdb("a feature view with a SQL source")
    import duckdb  # importable: connect_duckdb succeeded

    try:
        connection.execute(f"SET file_search_path = '{str(root).replace(chr(39), chr(39) * 2)}'")
        result = connection.sql(query)
        if result is None:
            raise UsageError(
                f"the SQL source {query!r} returns no rows (it is not a query).",
                hint="Write a SELECT.",
            )
        frame = result.pl()
    except duckdb.Error as exc:
        raise InputError(
            f"the SQL source {query!r} failed in DuckDB: {first_line(exc)}",
            hint="Run the query in duckdb to fix it; relative paths are read from the "
            "definitions file's folder.",
        ) from exc
    finally:
        connection.close()
    return Loaded(frame.lazy(), _frame_digest(query, frame), f"sql({query!r})")


def _frame_digest(query: str, frame: pl.DataFrame) -> str:
    import io

    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return hash_bytes(query.encode() + b"\0" + buffer.getvalue())

"""Reading data: files for validation (Parquet file, folder or glob, CSV, NDJSON), and any
data source as one lazy Polars frame (:func:`open_data`).

Files are opened lazily with Polars, so validation streams them: a Parquet or CSV file larger
than memory is checked in bounded memory. Problems that make the input unusable (missing,
empty, corrupt, not UTF-8, duplicate column names, ragged CSV rows) are
:class:`~keel.errors.InputError` naming the file and the fix. A CSV checked against a
contract is parsed with the contract's types (see :mod:`keel.contracts._csv`).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import polars as pl

from keel.contracts._contract import Contract
from keel.contracts._csv import check_csv_shape, check_utf8, typed_csv
from keel.errors import InputError, UsageError, first_line

__all__ = ["DATA_SOURCES", "inferred_csv", "open_data", "read_as_declared", "read_data"]

DATA_SOURCES = (
    "a Parquet file, folder or glob, a CSV or NDJSON file, or a Polars, pandas, PyArrow, "
    "DuckDB or Dask frame"
)
"""What :func:`open_data` accepts, for messages and help texts."""

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv"}
_NDJSON = {".ndjson", ".jsonl"}
_SUPPORTED = "Parquet (.parquet, a folder of them, or a glob), CSV (.csv) or NDJSON (.ndjson)"


def read_data(path: str | Path) -> pl.LazyFrame:
    """Open a data file (or folder/glob of Parquet files) as a lazy Polars frame.

    The types of CSV and NDJSON are inferred from every row, in one pass, and pinned.
    """
    text = str(path)
    if any(ch in text for ch in "*?["):
        return _parquet_glob(text)
    file = _existing(text)
    if file.is_dir():
        return _parquet_glob(str(file / "**" / "*.parquet"))
    suffix = file.suffix.lower()
    if suffix in _PARQUET:
        return _checked(pl.scan_parquet(file), file)
    if suffix in _CSV:
        check_csv_shape(file)
        return inferred_csv(file)
    if suffix in _NDJSON:
        check_utf8(file)
        schema = _checked(pl.scan_ndjson(file, infer_schema_length=None), file).collect_schema()
        return pl.scan_ndjson(file, schema=schema)
    raise InputError(
        f"cannot tell the format of {file} from its extension {suffix or '(none)'!r}.",
        hint=f"Keel reads {_SUPPORTED}.",
    )


def inferred_csv(file: Path) -> pl.LazyFrame:
    """A CSV whose shape was checked, with types inferred from every row once and kept (a
    lazy scan would infer them per query)."""
    inferred = pl.scan_csv(file, infer_schema_length=None, try_parse_dates=True)
    schema = _checked(inferred, file).collect_schema()
    return pl.scan_csv(file, schema=schema, try_parse_dates=True)


def open_data(data: Any, *, what: str = "data") -> pl.LazyFrame:
    """Any data source as a lazy Polars frame: the one way Keel's commands accept data.

    A path (file, folder or glob) is scanned lazily by :func:`read_data`; a Polars frame is
    used as it is; pandas and PyArrow are converted; any other frame narwhals knows (DuckDB,
    Dask, ...) is collected into Polars. Callers that process Dask distributed (profiles,
    drift) check for Dask first and never get here with one. ``what`` names the data in the
    error for an object that is no data source.
    """
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, str | os.PathLike):
        return read_data(os.fspath(data))
    from keel.contracts._backends import require_unique_columns

    names = getattr(data, "column_names", None) or getattr(data, "columns", None)
    if names is not None and not callable(names):  # pandas and PyArrow allow repeated names
        require_unique_columns(map(str, names), f"the {type(data).__name__}")
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pl.from_pandas(data).lazy()
    if module == "pyarrow":
        frame = pl.from_arrow(data)
        if isinstance(frame, pl.DataFrame):
            return frame.lazy()
    return _via_narwhals(data, what)


def _via_narwhals(data: Any, what: str) -> pl.LazyFrame:
    import narwhals.stable.v2 as nw

    try:
        frame = nw.from_native(data)
    except TypeError:
        frame = None
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect(backend="polars")
    if not isinstance(frame, nw.DataFrame):
        raise UsageError(
            f"cannot read {what} of type {type(data).__module__}.{type(data).__name__}.",
            hint=f"Pass {DATA_SOURCES}.",
        )
    native = frame.to_polars()
    return native.lazy()


def read_as_declared(path: str | Path, contract: Contract) -> pl.LazyFrame | None:
    """A CSV file parsed with the types ``contract`` declares; ``None`` for other inputs.

    A value that does not parse as its declared type makes the query fail; read the file
    with :func:`inferred_csv` then (its shape is checked already), so the type check reports
    the type the column holds.
    """
    text = str(path)
    if any(ch in text for ch in "*?[") or Path(text).suffix.lower() not in _CSV:
        return None
    file = _existing(text)
    if file.is_dir():
        return None
    return typed_csv(file, contract)


def _existing(text: str) -> Path:
    file = Path(text)
    if not file.exists():
        raise InputError(f"data not found: {file}", hint="Check the path (and the working folder).")
    if file.is_file() and file.stat().st_size == 0:
        raise InputError(f"{file} is empty (0 bytes).", hint="Point at a file that holds data.")
    return file


def _parquet_glob(pattern: str) -> pl.LazyFrame:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise InputError(
            f"no Parquet files match {pattern}.",
            hint="Check the folder or glob; Keel looks for *.parquet files below a folder.",
        )
    return _checked(pl.scan_parquet(matches), Path(matches[0]))


def _checked(frame: pl.LazyFrame, file: Path) -> pl.LazyFrame:
    """Read the schema now, so a corrupt file fails here with its name, not mid-validation."""
    try:
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"cannot read {file}: {first_line(exc)}",
            hint="The file may be truncated or not in the format its extension says; re-export it.",
        ) from exc
    return frame

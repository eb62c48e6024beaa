"""What the engine needs from each dataframe library, behind one small interface.

Polars is the native engine (lazy frames are collected with the streaming engine, so files
larger than memory are validated in bounded memory). pandas, PyArrow, DuckDB and Dask go
through narwhals; only row numbering differs per library, because lazy SQL-like engines
have no row order of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import narwhals.stable.v2 as nw
from narwhals.exceptions import DuplicateError

from keel.errors import InputError, UsageError, first_line

__all__ = ["ROW", "Backend", "open_frame", "require_unique_columns"]

ROW = "__keel_row__"


class Backend:
    """A narwhals frame plus the few library-specific operations the engine needs."""

    def __init__(self, frame: Any, native: Any) -> None:
        self.frame = frame
        self.native = native
        self.lazy = isinstance(frame, nw.LazyFrame)
        self.library = type(native).__module__.split(".")[0]

    @property
    def guards_nulls(self) -> bool:
        """pandas-like engines answer False, not null, for tests on missing values."""
        return self.library in {"pandas", "dask", "modin"}

    def python_text(self) -> frozenset[str]:
        """Columns whose string operations run in Python's ``re`` (pandas object dtype)."""
        if self.library not in {"pandas", "dask", "modin"}:
            return frozenset()
        dask = self.library == "dask"
        native = self.native._meta if dask else self.native
        return frozenset(
            str(name)
            for name, dtype in native.dtypes.items()
            if not _arrow_backed(dtype) or (dask and _dictionary(dtype))
        )

    def schema(self) -> dict[str, Any]:
        return dict(self.frame.collect_schema())

    def collect(self, frame: Any) -> Any:
        """Run a query to an eager narwhals DataFrame."""
        if not isinstance(frame, nw.LazyFrame):
            return frame
        if self.library == "polars":
            return frame.collect(engine="streaming")
        return frame.collect()

    def deferred(self, frame: Any) -> Any:
        """A lazy view of in-memory Polars data, so follow-up queries can share work."""
        if self.library == "polars" and not isinstance(frame, nw.LazyFrame):
            return frame.lazy()
        return frame

    def collect_all(self, frames: list[Any], *, early_stop: bool = False) -> list[Any]:
        """Run several queries over the same data, sharing common work where the library can.

        Polars streams data read from disk (bounded memory) and queries that may stop early
        (``early_stop``: the first N failing rows); queries over data already in memory that
        share a costly subplan run on the in-memory engine, which computes it once.
        """
        if not frames:
            return []
        if self.library == "polars":
            import polars as pl

            natives = pl.collect_all(
                [nw.to_native(f) for f in frames],
                engine="streaming" if self.lazy or early_stop else "in-memory",
            )
            return [nw.from_native(n) for n in natives]
        return [self.collect(f) for f in frames]

    def duplicates(self, frame: Any, key: str, n: int) -> tuple[int, Any] | None:
        """Rows whose ``key`` value repeats: their count and the first ``n`` (Polars only).

        Sorting one column and comparing neighbours finds them without a hash table of every
        value (about 3x faster and 600 MB lighter at 10M rows than marking duplicates).
        Other libraries return ``None`` and the engine marks duplicates instead.
        """
        if self.library != "polars":
            return None
        import polars as pl

        native = nw.to_native(frame)
        lazy = native.lazy() if isinstance(native, pl.DataFrame) else native
        k = pl.col(key)
        ordered = lazy.select(k).drop_nulls().sort(key)
        repeated = ordered.filter((k == k.shift(1)) | (k == k.shift(-1)))
        values = repeated.collect(engine="streaming" if self.lazy else "in-memory")[key]
        first = lazy.with_row_index(ROW).filter(k.is_in(values.unique())).select(ROW, key)
        return len(values), nw.from_native(first.head(n).collect(engine="streaming"))

    def head(self, frame: Any, n: int) -> Any:
        """The first ``n`` rows, lazily where the library allows it."""
        if self.library == "dask":  # dask's head misreads partitions after a shuffle
            return frame
        return frame.head(n)

    def with_row_index(self, frame: Any) -> Any:
        """Number rows 0, 1, ... in the data's own order."""
        if not isinstance(frame, nw.LazyFrame):
            return frame.with_row_index(ROW)
        native = nw.to_native(frame)
        if self.library == "polars":
            return nw.from_native(native.with_row_index(ROW))
        if self.library == "duckdb":
            numbered = native.project(f'*, (row_number() OVER () - 1) AS "{ROW}"')
            return nw.from_native(numbered)
        if self.library == "dask":
            return nw.from_native(_number_dask(native))
        return frame.with_row_index(ROW, order_by=frame.collect_schema().names()[0])

    def to_native(self, frame: Any) -> Any:
        return nw.to_native(frame)


def _arrow_backed(dtype: Any) -> bool:
    """Whether pandas runs string operations on this dtype in Arrow (RE2); its
    ``StringDtype`` falls back to Python's ``re`` even with Arrow storage."""
    categories = getattr(dtype, "categories", None)
    if categories is not None:
        return _arrow_backed(categories.dtype)
    return type(dtype).__name__ == "ArrowDtype"


def _dictionary(dtype: Any) -> bool:
    """An Arrow dictionary (categorical) dtype: Dask casts it to text matched by ``re``."""
    arrow = getattr(dtype, "pyarrow_dtype", None)
    return arrow is not None and type(arrow).__name__ == "DictionaryType"


def _number_dask(native: Any) -> Any:
    """Global row numbers for a Dask frame, from partition lengths (one cheap extra pass)."""
    import numpy as np

    lengths = native.map_partitions(len).compute().tolist()
    offsets = np.cumsum([0, *lengths[:-1]]).tolist()

    def number(part: Any, partition_info: dict[str, Any] | None = None) -> Any:
        start = offsets[partition_info["number"]] if partition_info else 0
        return part.assign(**{ROW: np.arange(start, start + len(part), dtype="int64")})

    meta = native._meta.assign(**{ROW: np.array([], dtype="int64")})
    return native.map_partitions(number, meta=meta)


def open_frame(data: Any) -> Backend:
    """Wrap any supported dataframe; raise a clear error for anything else."""
    if isinstance(data, nw.DataFrame | nw.LazyFrame):
        return Backend(data, nw.to_native(data))
    try:
        frame = nw.from_native(data)
    except TypeError:
        frame = None
    except DuplicateError:  # pandas and PyArrow allow two columns of one name
        names = getattr(data, "column_names", None) or list(data.columns)  # PyArrow, pandas
        require_unique_columns(map(str, names), f"the {type(data).__name__}")
        raise
    if frame is None or isinstance(frame, nw.Series):
        raise UsageError(
            f"cannot validate an object of type {type(data).__module__}.{type(data).__name__}.",
            hint="Pass a Polars DataFrame/LazyFrame, a pandas DataFrame, a PyArrow Table, "
            "a DuckDB relation or a Dask DataFrame (or a file path to keel.read).",
        )
    return Backend(frame, data)


def require_unique_columns(names: Iterable[str], where: str) -> None:
    """Refuse data that names a column twice: which of the two would a check look at?"""
    repeated = [f"{n!r} ({count} times)" for n, count in Counter(names).items() if count > 1]
    if repeated:
        raise InputError(
            f"{where} has duplicate column names: {', '.join(repeated)}.",
            hint="Give every column its own name (rename or drop the repeated ones), then retry.",
        )


def engine_error(exc: Exception, source: str | None) -> InputError:
    """An engine failure while reading data (corrupt file, bad encoding) as an InputError."""
    where = f" {source}" if source else ""
    return InputError(
        f"could not read the data{where}: {first_line(exc)}",
        hint="Check that the file is complete and in the format its extension says.",
    )

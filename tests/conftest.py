"""Shared fixtures: the same data handed to every engine Keel supports."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

Constructor = Callable[[pl.DataFrame], Any]


def _pandas(df: pl.DataFrame) -> Any:
    return df.to_pandas(use_pyarrow_extension_array=True)


def _duckdb(df: pl.DataFrame) -> Any:
    import duckdb

    return duckdb.from_arrow(df.to_arrow())


def _dask(df: pl.DataFrame) -> Any:
    import dask.dataframe as dd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return dd.from_pandas(_pandas(df), npartitions=2)


CONSTRUCTORS: dict[str, Constructor] = {
    "polars": lambda df: df,
    "polars-lazy": lambda df: df.lazy(),
    "pandas": _pandas,
    "pyarrow": lambda df: df.to_arrow(),
    "duckdb": _duckdb,
    "dask": _dask,
}


@pytest.fixture(params=list(CONSTRUCTORS))
def constructor(request: pytest.FixtureRequest) -> Constructor:
    """Turns a Polars frame into each supported library's frame (narwhals' pattern)."""
    return CONSTRUCTORS[request.param]

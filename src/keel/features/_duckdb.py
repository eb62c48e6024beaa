"""The DuckDB engine of the point-in-time join: the plan of :mod:`keel.features._pit` as one
SQL query with an ``ASOF LEFT JOIN`` (``pip install 'mlkeel[duckdb]'``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.errors import MissingDependencyError
from keel.features._pit import CREATED, EVENT, FOUND, ROW, TIME, JoinSpec

if TYPE_CHECKING:
    import polars as pl

__all__ = ["connect_duckdb", "join_duckdb"]


def connect_duckdb(purpose: str) -> Any:
    """A new in-memory DuckDB connection, or a clear error naming ``purpose`` without it."""
    try:
        import duckdb
    except ImportError as exc:
        raise MissingDependencyError("duckdb", extra="duckdb", purpose=purpose) from exc
    return duckdb.connect()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _query(spec: JoinSpec) -> str:
    keys = [_q(k) for k in spec.keys]
    order = ", ".join(
        [*keys, _q(EVENT), *([f"{_q(CREATED)} NULLS FIRST"] if spec.has_created else [])]
    )
    known = (
        f"greatest({_q(EVENT)}, {_q(CREATED)})"
        if spec.as_known_at and spec.has_created
        else _q(EVENT)
    )
    live = f"f.{_q(EVENT)} IS NOT NULL"
    if spec.ttl_us is not None:
        live += f" AND f.{_q(EVENT)} >= e.{_q(TIME)} - to_microseconds({int(spec.ttl_us)})"
    values = ", ".join(f"CASE WHEN {live} THEN f.{_q(c)} END AS {_q(c)}" for c in spec.columns)
    by_key = " AND ".join(f"e.{k} = h.{k}" for k in keys)
    return f"""
WITH f AS (
    SELECT *, row_number() OVER (ORDER BY {order}) AS __p FROM rows
), g AS (
    SELECT {", ".join(keys)}, {known} AS __k,
        max(__p) OVER (PARTITION BY {", ".join(keys)} ORDER BY {known}, __p
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __best
    FROM f
), h AS (
    SELECT {", ".join(keys)}, __k, max(__best) AS __best FROM g GROUP BY ALL
)
SELECT e.{_q(ROW)}, f.{_q(EVENT)} AS {_q(FOUND)}{", " if values else ""}{values}
FROM entities e
ASOF LEFT JOIN h ON {by_key} AND e.{_q(TIME)} >= h.__k
LEFT JOIN f ON f.__p = h.__best
ORDER BY e.{_q(ROW)}
"""


def join_duckdb(entities: pl.DataFrame, rows: pl.DataFrame, spec: JoinSpec) -> pl.DataFrame:
    """``FOUND`` and ``spec.columns`` per entity row, in ``ROW`` order, computed by DuckDB."""
    connection = connect_duckdb("the DuckDB feature engine")
    try:
        connection.register("entities", entities.select(ROW, *spec.keys, TIME))
        connection.register("rows", rows)
        result: pl.DataFrame = connection.sql(_query(spec)).pl()
    finally:
        connection.close()
    return result.with_columns(
        result.get_column(c).cast(rows.schema[c]) for c in (FOUND, *spec.columns) if c != FOUND
    ).with_columns(result.get_column(FOUND).cast(rows.schema[EVENT]))

"""One table from each logical :class:`DType` to every outside type system Keel writes.

A contract's types leave Keel in four places: Polars frames (coercion, the prediction log),
Parquet/Arrow files, JSON Schema (the HTTP API) and MLflow signatures. Each of them reads its
type here, so a decimal is a 38-digit decimal with 9 places and a categorical is a dictionary
of strings everywhere, rather than whatever each writer once chose.

Polars and PyArrow are imported only when their types are asked for: declaring a contract
does not load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keel.contracts._types import DType

__all__ = [
    "DECIMAL_PRECISION",
    "DECIMAL_SCALE",
    "TypeMap",
    "arrow_type",
    "dtype_from_mlflow",
    "polars_type",
    "type_map",
]

DECIMAL_PRECISION = 38
DECIMAL_SCALE = 9


@dataclass(frozen=True)
class TypeMap:
    """How one logical type is written: ``json`` types (first is the canonical one),
    ``json_format`` for text that encodes a value, and the MLflow column type."""

    json: tuple[str, ...]
    json_format: str | None
    mlflow: str


_MAP: dict[DType, TypeMap] = {
    DType.INT: TypeMap(("integer",), None, "long"),
    DType.FLOAT: TypeMap(("number",), None, "double"),
    DType.BOOL: TypeMap(("boolean",), None, "boolean"),
    DType.STR: TypeMap(("string",), None, "string"),
    DType.CATEGORICAL: TypeMap(("string",), None, "string"),
    DType.DATE: TypeMap(("string",), "date", "datetime"),
    DType.DATETIME: TypeMap(("string",), "date-time", "datetime"),
    DType.DECIMAL: TypeMap(("string", "number"), None, "double"),  # MLflow has no decimal
}
# MLflow column types a contract can describe (the reverse of ``TypeMap.mlflow``, plus the
# narrower widths MLflow also names).
_FROM_MLFLOW: dict[str, DType] = {
    "long": DType.INT,
    "integer": DType.INT,
    "double": DType.FLOAT,
    "float": DType.FLOAT,
    "boolean": DType.BOOL,
    "string": DType.STR,
    "datetime": DType.DATETIME,
}


def type_map(dtype: DType) -> TypeMap:
    """The JSON Schema and MLflow forms of ``dtype``."""
    return _MAP[dtype]


def dtype_from_mlflow(name: str) -> DType | None:
    """The logical type of an MLflow column type (``"long"`` → int); ``None`` if it has none."""
    return _FROM_MLFLOW.get(name)


def polars_type(dtype: DType) -> Any:
    """The Polars dtype a column of ``dtype`` is built or cast as."""
    import polars as pl

    found: dict[DType, Any] = {
        DType.INT: pl.Int64,
        DType.FLOAT: pl.Float64,
        DType.BOOL: pl.Boolean,
        DType.STR: pl.String,
        DType.CATEGORICAL: pl.Categorical,
        DType.DATE: pl.Date,
        DType.DATETIME: pl.Datetime("us"),
        DType.DECIMAL: pl.Decimal(DECIMAL_PRECISION, DECIMAL_SCALE),
    }
    return found[dtype]


def arrow_type(dtype: DType) -> Any:
    """The Arrow (and so Parquet) type of a column of ``dtype``."""
    import pyarrow as pa

    found: dict[DType, Any] = {
        DType.INT: pa.int64(),
        DType.FLOAT: pa.float64(),
        DType.BOOL: pa.bool_(),
        DType.STR: pa.large_string(),
        DType.CATEGORICAL: pa.dictionary(pa.uint32(), pa.large_string()),
        DType.DATE: pa.date32(),
        DType.DATETIME: pa.timestamp("us"),
        DType.DECIMAL: pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    }
    return found[dtype]

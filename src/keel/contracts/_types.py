"""Column types of a contract, and how they map to Python annotations and engine dtypes.

A contract speaks of eight logical types. Each accepts a family of engine dtypes (``int``
accepts every signed and unsigned integer width), so a contract states meaning, not storage.
A column whose dtype is ``Null`` (all values missing) is compatible with every type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import types
import typing
from typing import Any

import narwhals.stable.v2 as nw

__all__ = ["Categorical", "DType", "parse_annotation"]


class Categorical(str):
    """Marker type for categorical string columns: ``state: keel.Column[keel.Categorical]``."""

    __slots__ = ()


class DType(enum.Enum):
    """The logical column types a contract can declare."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    CATEGORICAL = "categorical"
    DATE = "date"
    DATETIME = "datetime"
    DECIMAL = "decimal"

    @property
    def is_numeric(self) -> bool:
        return self in {DType.INT, DType.FLOAT, DType.DECIMAL}

    @property
    def is_textual(self) -> bool:
        return self in {DType.STR, DType.CATEGORICAL}

    @property
    def is_ordered(self) -> bool:
        """Whether ``ge``/``le`` bounds make sense for this type."""
        return self.is_numeric or self in {DType.DATE, DType.DATETIME}

    @property
    def python_type(self) -> type:
        return _PYTHON[self]

    def accepts(self, dtype: Any) -> bool:
        """Whether data stored as the narwhals ``dtype`` satisfies this logical type.

        ``Unknown`` is what an all-null column (Polars ``Null``) looks like: it fits any type.
        """
        if _is(dtype, nw.Unknown):
            return True
        return bool(_ACCEPTS[self](dtype))

    def target(self) -> Any:
        """The canonical narwhals dtype that coercion casts to."""
        return _TARGET[self]()


_PYTHON: dict[DType, type] = {
    DType.INT: int,
    DType.FLOAT: float,
    DType.BOOL: bool,
    DType.STR: str,
    DType.CATEGORICAL: Categorical,
    DType.DATE: dt.date,
    DType.DATETIME: dt.datetime,
    DType.DECIMAL: decimal.Decimal,
}
_FROM_PYTHON = {python: dtype for dtype, python in _PYTHON.items()}


def _is(dtype: Any, cls: Any) -> bool:
    return bool(dtype == cls or isinstance(dtype, cls))


_ACCEPTS: dict[DType, Any] = {
    DType.INT: lambda d: d.is_integer(),
    DType.FLOAT: lambda d: d.is_float(),
    DType.BOOL: lambda d: _is(d, nw.Boolean),
    DType.STR: lambda d: _is(d, nw.String) or _is(d, nw.Categorical) or _is(d, nw.Enum),
    DType.CATEGORICAL: lambda d: _is(d, nw.String) or _is(d, nw.Categorical) or _is(d, nw.Enum),
    DType.DATE: lambda d: _is(d, nw.Date),
    DType.DATETIME: lambda d: _is(d, nw.Datetime),
    DType.DECIMAL: lambda d: _is(d, nw.Decimal),
}

_TARGET: dict[DType, Any] = {
    DType.INT: nw.Int64,
    DType.FLOAT: nw.Float64,
    DType.BOOL: nw.Boolean,
    DType.STR: nw.String,
    DType.CATEGORICAL: nw.Categorical,
    DType.DATE: nw.Date,
    DType.DATETIME: nw.Datetime,
    DType.DECIMAL: nw.Decimal,
}


def parse_annotation(annotation: Any) -> tuple[DType, bool] | None:
    """Map ``int``, ``float | None``, ``Column[str]``... to ``(dtype, nullable)``.

    Returns ``None`` when the annotation is not a column type (the caller reports it).
    """
    from keel.contracts._expr import Column  # the column reference wraps the value type

    if typing.get_origin(annotation) is Column:
        (annotation,) = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.ClassVar:
        return None
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            return None
        annotation = members[0]
    dtype = _FROM_PYTHON.get(annotation)
    return None if dtype is None else (dtype, nullable)


def dtype_from_name(name: str) -> DType | None:
    """``"int"`` → ``DType.INT``; ``None`` for an unknown name."""
    try:
        return DType(name)
    except ValueError:
        return None

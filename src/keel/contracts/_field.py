"""``keel.Field``: the constraints declared on one column of a class-based contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Field", "FieldInfo", "Severity"]

Severity = Literal["error", "warn"]


@dataclass(frozen=True, kw_only=True)
class Constraints:
    """What ``keel.Field`` can say about a column's values (shared by the column spec)."""

    ge: Any = None
    gt: Any = None
    le: Any = None
    lt: Any = None
    isin: tuple[Any, ...] | None = None
    notin: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    unique: bool = False
    finite: bool = False
    mostly: float | None = None
    severity: Severity = "error"
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class FieldInfo(Constraints):
    """The constraints of one column, before its name and type are known."""

    alias: str | None = None


def Field(  # noqa: N802  # named like the class it stands for, as pydantic.Field and dataclasses.field
    *,
    ge: Any = None,
    gt: Any = None,
    le: Any = None,
    lt: Any = None,
    isin: Iterable[Any] | None = None,
    notin: Iterable[Any] | None = None,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    unique: bool = False,
    finite: bool = False,
    mostly: float | None = None,
    severity: Severity = "error",
    description: str = "",
    alias: str | None = None,
) -> Any:
    """Constraints on a column of a :class:`keel.Schema`.

    Bounds (``ge``, ``gt``, ``le``, ``lt``) apply to numbers, dates and datetimes; ``isin`` and
    ``notin`` to any type; ``pattern`` (a regular expression, searched: anchor it with ``^``
    and ``$``) and ``min_length``/``max_length`` to strings. ``unique`` forbids repeated
    values; ``finite`` forbids NaN and infinities. Nulls are governed by the annotation alone
    (``float | None`` is nullable) and every other check skips them.

    ``mostly=0.99`` lets up to 1% of rows fail each check of this column; ``severity="warn"``
    reports failures without failing validation. ``alias`` is the column's name in the data
    when it is not a Python identifier. The return type is ``Any`` so that
    ``age: Column[int] = keel.Field(ge=0)`` type-checks.
    """
    return FieldInfo(
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        isin=None if isin is None else tuple(isin),
        notin=None if notin is None else tuple(notin),
        pattern=pattern,
        min_length=min_length,
        max_length=max_length,
        unique=unique,
        finite=finite,
        mostly=mostly,
        severity=severity,
        description=description,
        alias=alias,
    )

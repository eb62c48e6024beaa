r"""A contract as a JSON Schema (draft 2020-12) for one record, e.g. an HTTP request body.

The record is an object with one property per declared column, all required; with
``strict`` no other property is allowed. Types map as ``int`` → integer, ``float`` → number,
``bool`` → boolean, ``str`` and ``categorical`` → string, ``date`` → string (format date),
``datetime`` → string (format date-time), ``decimal`` → string or number; a nullable column
also allows ``null``.

Draft 2020-12 validators do not assert ``format`` by default, so dates and datetimes also
carry a ``pattern``, which every validator asserts: a ``date`` is an RFC 3339 full-date
(``2024-02-29``: month lengths and leap years included, years 0001 to 9999); a
``datetime`` is that date, ``T`` (or ``t`` or a space), ``hh:mm:ss`` with an optional
fraction, and an optional offset (``Z`` or ``+hh:mm``). Anything the pattern accepts, the
contract engine's per-record check reads (Python's ``fromisoformat``); the ISO 8601 forms
that check also reads beyond RFC 3339 (``20240101``, a datetime without seconds) are
refused by the pattern. The offset is optional because a contract's datetime may be a
local time, which RFC 3339's ``date-time`` (what a ``format``-asserting validator checks)
does not allow.

Per-value checks carry over: bounds (numbers and decimals only: JSON Schema cannot bound
dates), ``isin`` → ``enum``, ``notin`` → ``not: {enum}``, ``pattern`` (rewritten into
ECMA-262, JSON Schema's regex dialect, so that it means what the contract's dialect says:
``\d`` is ``[0-9]``...; a pattern with inline flags such as ``(?i)`` has no ECMA-262 form
and is left out), and lengths. A
column whose checks are soft (``severity: warn`` or ``mostly`` below 1) keeps its type but
allows null and states no value checks: one record cannot fail a check that tolerates some
failing rows. Dataset-level checks (``unique``, rules) have no per-record form and are left
out; ``finite`` holds anyway, as JSON has no NaN or infinity.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
from typing import Any

from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._dtype_map import type_map
from keel.contracts._regex import PatternError, translate
from keel.contracts._types import DType

__all__ = ["to_json_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_DECIMAL_TEXT = translate(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", "ecma")
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATE = f"(?!0000)(?:[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_PATTERNS = {  # ECMA-262 and Python's re read them alike
    DType.DATE: f"^{_DATE}$",
    DType.DATETIME: f"^{_DATE}[Tt ]{_TIME}{_OFFSET}?$",
    DType.DECIMAL: _DECIMAL_TEXT,  # applies to the text form only
}
_BOUNDS = (
    ("ge", "minimum"),
    ("gt", "exclusiveMinimum"),
    ("le", "maximum"),
    ("lt", "exclusiveMaximum"),
)


def to_json_schema(contract: Contract) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) that one record of ``contract`` satisfies."""
    schema: dict[str, Any] = {"$schema": DRAFT, "title": contract.name}
    if contract.description:
        schema["description"] = contract.description
    schema["type"] = "object"
    schema["properties"] = {spec.name: _property(spec) for spec in contract.columns}
    schema["required"] = list(contract.column_names)
    if contract.strict:
        schema["additionalProperties"] = False
    return schema


def _property(spec: ColumnSpec) -> dict[str, Any]:
    soft = spec.severity == "warn" or spec.mostly is not None
    nullable = spec.nullable or soft
    mapped = type_map(spec.dtype)
    types = [*mapped.json, *(["null"] if nullable else [])]
    out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if mapped.json_format is not None:
        out["format"] = mapped.json_format
    if spec.dtype in _PATTERNS:
        out["pattern"] = _PATTERNS[spec.dtype]
    if spec.description:
        out["description"] = spec.description
    if not soft:
        out.update(_value_checks(spec, nullable))
    return out


def _value_checks(spec: ColumnSpec, nullable: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.dtype.is_numeric:
        for key, keyword in _BOUNDS:
            value = getattr(spec, key)
            if value is not None and (isinstance(value, int) or math.isfinite(value)):
                out[keyword] = _number(value)
    if spec.isin is not None:
        values = _enum(spec.isin, spec.dtype)
        out["enum"] = [*values, None] if nullable and None not in values else values
    if spec.notin is not None:
        out["not"] = {"enum": _enum(spec.notin, spec.dtype)}
    if spec.pattern is not None:
        with contextlib.suppress(PatternError):  # inline flags: no ECMA-262 form
            out["pattern"] = translate(spec.pattern, "ecma")  # (the server still checks it)
    if spec.min_length is not None:
        out["minLength"] = spec.min_length
    if spec.max_length is not None:
        out["maxLength"] = spec.max_length
    return out


def _number(value: Any) -> int | float:
    """A bound as a JSON number (decimals become the nearest float unless integral)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value if isinstance(value, int) else float(value)


def _enum(values: tuple[Any, ...], dtype: DType) -> list[Any]:
    """Enum members as JSON values: dates as ISO text, decimals as both number and text."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, dt.date):  # datetimes too
            out.append(value.isoformat())
        elif dtype is DType.DECIMAL and value is not None:
            out.extend([_number(value), str(value)])
        else:
            out.append(value)
    return out

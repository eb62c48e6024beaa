"""Values made safe for JSON output: the one rule every ``--format json`` follows."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

__all__ = ["json_safe", "nulled"]


def json_safe(value: Any) -> Any:  # noqa: PLR0911  # one return per JSON-unsafe type
    """JSON-safe: dates as ISO text, decimals and non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": JSON has no literal for them
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars from pandas or Dask
        return json_safe(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def nulled(value: Any) -> Any:
    """Strict JSON for numbers: non-finite floats become ``null`` (NumPy scalars unwrapped).

    For statistics (a metric undefined on a slice, an interval that cannot be computed),
    where "no value" is the meaning; :func:`json_safe` keeps them as text instead.
    """
    kind = type(value)
    if kind is float:  # the common cases first: a report holds thousands of these
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): nulled(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nulled(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

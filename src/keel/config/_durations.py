"""Durations, one grammar for every flag and file: ``500ms``, ``5s``, ``2m``, ``1h``, ``1d``,
or a number of seconds."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["format_seconds", "parse_seconds"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_seconds(value: Any) -> float | None:
    """A duration (``500ms``, ``5s``, ``2m``, ``1h``, ``1d``, or a number of seconds) in
    seconds; None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    found = _DURATION.match(value)
    if found is None:
        return None
    unit = found[2]
    return float(found[1]) / 1000 if unit == "ms" else float(found[1]) * _UNITS[unit]


def format_seconds(seconds: float) -> str:
    """Seconds as the shortest duration text that reads back (``120`` -> ``2m``)."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    milliseconds = float(seconds) * 1000
    if milliseconds.is_integer() and parse_seconds(f"{int(milliseconds)}ms") == seconds:
        return f"{int(milliseconds)}ms"
    return f"{float(seconds)!r}s"  # exact: the shortest text that reads back as this float

"""Durations, one grammar for every flag and file: a decimal number and a unit (``250ms``,
``30s``, ``15m``, ``1.5h``, ``2d``, ``1w``), or a number of seconds.

Contracts (``fresh``), deployment specs, monitoring windows, ``--since``, ``--log-flush`` and
``--grace`` all read durations here, so ``15m`` means the same thing everywhere. A
:class:`Duration` is held exactly in whole microseconds (a :class:`~datetime.timedelta`'s
resolution), so writing and reading it back gives the same value.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from keel.errors import UsageError

__all__ = ["DURATION_FORMS", "Duration", "DurationUnit", "format_duration", "parse_duration"]

DurationUnit = Literal["ms", "s", "m", "h", "d", "w"]

DURATION_FORMS = "a duration such as 30s, 15m, 1.5h, 7d, 1w or 250ms (a bare number is seconds)"
"""The accepted forms, as error messages and hints name them."""

_MICROS: dict[str, int] = {
    "w": 604_800_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
}
_TEXT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_LONGEST = dt.timedelta.max // dt.timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class Duration:
    """A length of time >= 0, in whole microseconds; ``str()`` gives its canonical text."""

    microseconds: int

    def __post_init__(self) -> None:
        if isinstance(self.microseconds, bool) or not isinstance(self.microseconds, int):
            raise UsageError(
                f"Duration({self.microseconds!r}): expected whole microseconds (an int).",
                hint="Use parse_duration() for text, seconds or a timedelta.",
            )
        if not 0 <= self.microseconds <= _LONGEST:
            raise UsageError(
                f"Duration({self.microseconds!r}) is out of range; expected 0 to {_LONGEST:,} "
                "microseconds.",
                hint="A duration is a length of time: 0 or longer, at most a timedelta's.",
            )

    @property
    def seconds(self) -> float:
        """The length in seconds (what ``time.time()`` arithmetic and sleeps take)."""
        return self.microseconds / 1_000_000

    @property
    def timedelta(self) -> dt.timedelta:
        """The length as a :class:`datetime.timedelta` (exact: the same resolution)."""
        return dt.timedelta(microseconds=self.microseconds)

    def __str__(self) -> str:
        return format_duration(self)


def parse_duration(
    value: str | float | dt.timedelta | Duration, *, where: str, positive: bool = False
) -> Duration:
    """``value`` as a :class:`Duration`: text in the one duration grammar (``250ms``, ``30s``,
    ``15m``, ``1.5h``, ``2d``, ``1w``, or a bare number of seconds, any letter case), a number
    of seconds, a timedelta or a Duration. ``where`` names the flag, key or argument it came
    from, for the error. Negative lengths are refused, and so is 0 when ``positive``.

    Raises:
        UsageError: ``value`` is not a duration, is negative, is 0 when ``positive``, or is
            longer than a timedelta can hold.
    """
    micros = _micros(value)
    if micros is None:
        raise UsageError(f"{where} {value!r} is not a duration.", hint=f"Write {DURATION_FORMS}.")
    low = 1 if positive else 0
    if not low <= micros <= _LONGEST:
        longest = f"at most {dt.timedelta.max.days:,} days"
        expected = longest if micros > 0 else "longer than 0s" if positive else "0s or longer"
        raise UsageError(
            f"{where} {value!r} is out of range; expected {expected}.",
            hint=f"Write {DURATION_FORMS}" + (", above 0." if positive else "."),
        )
    return Duration(micros)


def format_duration(value: Duration | dt.timedelta | float, *, largest: DurationUnit = "w") -> str:
    """The canonical text of a duration: the largest unit (up to ``largest``) it is a whole
    number of (``90s``, ``2m``, ``36h``, ``1w``), else milliseconds below a second (``250ms``,
    ``1.5ms``) and decimal seconds above (``1.25s``). It reads back as the same duration;
    ``largest="h"`` writes what Go's ``time.ParseDuration`` also reads (Argo Rollouts)."""
    micros = parse_duration(value, where="format_duration").microseconds
    if micros == 0:
        return "0s"
    units = list(_MICROS)[:-1]  # milliseconds below, as decimals: 250ms, 1.5ms
    for unit in units[units.index(largest) :]:
        whole, rest = divmod(micros, _MICROS[unit])
        if not rest:
            return f"{whole}{unit}"
    if micros < 1_000_000:
        return f"{_decimal(micros, 1_000)}ms"
    return f"{_decimal(micros, 1_000_000)}s"


def _micros(value: object) -> int | None:
    """Whole microseconds of ``value`` (rounded half to even), None when it is not a duration."""
    if isinstance(value, str):
        return _text_micros(value)
    if isinstance(value, Duration):
        return value.microseconds
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if isinstance(value, float):
        return round(value * 1_000_000) if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1_000_000
    return None


def _text_micros(text: str) -> int | None:
    """Whole microseconds of duration text (exact decimal arithmetic), None when malformed."""
    found = _TEXT.match(text)
    if found is None:
        return None
    size = _MICROS[found[2].lower() if found[2] else "s"]
    return int((Decimal(found[1]) * size).to_integral_value(ROUND_HALF_EVEN))


def _decimal(micros: int, size: int) -> str:
    """``micros / size`` as exact decimal text without trailing zeros (``1.25``)."""
    whole, rest = divmod(micros, size)
    digits = len(str(size)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0").rstrip(".")

"""Time windows over a prediction log: their bounds, their profiles and their drift.

Windows are fixed lengths (``15m``, ``1h``, ``1d``: any duration of a minute or more that
divides a day, or whole days) aligned to the UTC epoch, so an hourly window starts on the
hour and a daily one at midnight UTC, and two reports over overlapping ranges cut the same
windows. A window with no traffic is still a window (``rows`` 0, no drift) so that silence
shows in a report instead of vanishing.

Every window is profiled on the reference's bins (one streaming query per window over the
log files of that window's hours, run concurrently; memory O(windows x columns x bins)),
and its drift from the reference goes through the same path as ``keel monitor compare``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keel.errors import UsageError
from keel.grammar import Duration, parse_duration
from keel.monitor._drift import DriftResult
from keel.monitor._predlog import partition_hour
from keel.monitor._profile import Bins, Profile, profile_many
from keel.monitor._profile_drift import drift_of_profiles

if TYPE_CHECKING:
    import polars as pl

    from keel.monitor._predlog import PredictionLog

__all__ = [
    "MAX_WINDOWS",
    "Window",
    "drift_by_window",
    "parse_time",
    "parse_window",
    "plan_windows",
    "profiles_by_window",
    "window_files",
    "window_key",
    "window_scans",
]

MAX_WINDOWS = 5000
"""More windows than this in one report is refused: choose a longer window or a shorter range."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """The half-open time range ``[start, end)``, in UTC."""

    start: datetime
    end: datetime

    @property
    def index(self) -> int:
        """The window's position counted from the epoch (its key in group-bys)."""
        return int((self.start - _EPOCH) // (self.end - self.start))


def parse_window(window: str | timedelta | Duration) -> timedelta:
    """``"15m"``, ``"1h"``, ``"1d"`` (any duration of a minute or more that divides a day, or
    whole days) as a length."""
    width = parse_duration(window, where="window").timedelta
    if width < timedelta(minutes=1):
        raise UsageError(f"window {window!r} is shorter than a minute.", hint="Use 1m or more.")
    if timedelta(days=1) % width and width % timedelta(days=1):
        raise UsageError(
            f"window {window!r} does not divide a day (or a whole number of days).",
            hint="Windows align to UTC midnight: use 1m..1d lengths that divide 24h, or n days.",
        )
    return width


def parse_time(when: str | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """A point in time: a datetime, an ISO date or datetime (UTC unless it says otherwise),
    or a span back from now: a duration with its unit such as ``"30m"``, ``"24h"`` or ``"7d"``
    (a bare number is not a span: it could be read as a date)."""
    if when is None or isinstance(when, datetime):
        return None if when is None else _utc(when)
    text = when.strip()
    try:
        if text[-1:].isalpha():  # ISO dates and times never end in a letter once Z is read
            return _utc(now or datetime.now(UTC)) - parse_duration(text, where="span").timedelta
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (UsageError, ValueError, OverflowError):
        raise UsageError(
            f"{when!r} is neither a date nor a span back from now.",
            hint="Write a date (2026-11-01, 2026-11-01T12:00, 2026-11-01T12:00+01:00) or a "
            "duration with its unit (30m, 24h, 7d, 1w; docs/cli.md#durations).",
        ) from None


def plan_windows(first: datetime, last: datetime, width: timedelta) -> list[Window]:
    """The aligned windows from the one holding ``first`` up to the one holding ``last``
    (``last`` itself excluded when it falls on a boundary: ranges are half-open)."""
    start = _floor(first, width)
    stop = _floor(last, width)
    if stop < last:
        stop += width
    count = max(int((stop - start) / width), 1)
    if count > MAX_WINDOWS:
        raise UsageError(
            f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} in windows of {width} makes "
            f"{count:,} windows (the limit is {MAX_WINDOWS:,}).",
            hint="Choose a longer --window or a later --since.",
        )
    return [Window(start + i * width, start + (i + 1) * width) for i in range(count)]


def window_key(width: timedelta) -> pl.Expr:
    """An expression giving each log row its window's :attr:`Window.index`."""
    import polars as pl

    micros = int(width / timedelta(microseconds=1))
    return (pl.col("time").dt.epoch("us") // micros).alias("_window")


def window_scans(
    log: PredictionLog,
    files: Sequence[str],
    windows: Sequence[Window],
    schema: Mapping[str, Any],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[pl.LazyFrame]:
    """Each window's rows of ``log`` (also bounded by ``since``/``until``), lazily.

    ``files`` (``log.files(...)``, listed once) are handed to the windows by their hour
    partition (a file's rows start in its hour and may run into the next, as serving
    flushes), so each file is read by one or two windows. Every frame has the columns of
    ``schema`` (a window whose files lack a column gets it as nulls; one without files is
    empty, of ``schema``'s types).
    """
    import polars as pl

    scans = []
    for chosen, low, high in window_files(files, windows, since=since, until=until):
        # a window without files has no rows, but the selection's types all the same
        frame = log.scan_files(chosen) if chosen else pl.LazyFrame(schema=dict(schema))
        present = frame.collect_schema().names()
        missing = [pl.lit(None, dtype).alias(c) for c, dtype in schema.items() if c not in present]
        if missing:
            frame = frame.with_columns(missing)
        time = pl.col("time")
        scans.append(frame.filter((time >= low) & (time < high)))
    return scans


def window_files(
    files: Sequence[str],
    windows: Sequence[Window],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[tuple[str, ...], datetime, datetime]]:
    """Each window's bounds (also bounded by ``since``/``until``) and the files of ``files``
    that can hold its rows (by their hour partition): what names the window's rows, since
    a log's files are never rewritten."""
    hours = [(path, partition_hour(path)) for path in files]
    found = []
    for w in windows:
        low = max(d for d in (w.start, since) if d is not None)
        high = min(d for d in (w.end, until) if d is not None)
        earliest = low.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        chosen = tuple(p for p, h in hours if h is None or earliest <= h < high)
        found.append((chosen, low, high))
    return found


def profiles_by_window(scans: Sequence[pl.LazyFrame], bins: Mapping[str, Bins]) -> list[Profile]:
    """One profile per window's rows over ``bins``; the queries run concurrently."""
    if not scans:
        return []
    return profile_many(list(scans), bins)


def drift_by_window(
    reference: Profile,
    profiles: Sequence[Profile],
    bins: dict[str, Bins],
    *,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[tuple[list[DriftResult], dict[str, Any]] | None]:
    """Each window's drift from ``reference`` (as ``keel monitor compare`` measures it),
    None for a window without traffic."""
    found: list[tuple[list[DriftResult], dict[str, Any]] | None] = []
    for current in profiles:
        if current.rows == 0:
            found.append(None)
            continue
        found.append(drift_of_profiles(reference, current, bins, alpha=alpha, seed=seed))
    return found


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _floor(when: datetime, width: timedelta) -> datetime:
    return _EPOCH + (_utc(when) - _EPOCH) // width * width

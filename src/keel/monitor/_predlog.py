"""The prediction log and the feedback log of a served model: time-partitioned Parquet.

Serving appends one file per flush; monitoring scans them. Files live beside the
content-addressed objects of the artifact store, under ``logs/``::

    logs/predictions/NAME/date=2026-11-27/hour=14/20261127T140312-<uuid>.parquet
    logs/feedback/NAME/date=2026-11-27/hour=14/20261127T140500-<uuid>.parquet

A file is written under a temporary name and moved into place, so a reader never sees half
a file. The partition is the hour of a file's first row; readers filter on ``time`` too.

One row per predicted record. Columns (:data:`PREDICTION_COLUMNS`, then the model's input
columns under their own names):

``request_id`` (str), ``row`` (int, the record's position in its request), ``time``
(UTC datetime), ``model`` (str), ``version`` (int), ``role`` (``champion``, ``challenger``
or ``shadow``), ``latency_ms`` (float), ``valid`` (bool: the record met the input
contract), ``violations`` (str or null: what it broke, in ``warn`` mode), ``prediction``,
``score`` (float or null: the probability of the positive class of a binary classifier),
``confidence`` (float or null: the probability of the predicted class).

A model version registered with a feature service (``keel.register(...,
feature_service=...)``) is served from entity keys and request fields, its features looked up
online; its rows hold, after :data:`PREDICTION_COLUMNS`: the entity join keys under their
names (typed as the entity declares them), the request fields its derived features read
(typed as their parameters), every feature of the service under its output name (the model's
input columns, null when not found), and ``feature_status`` (str): a JSON object mapping each
feature to ``"ok"``, ``"missing"`` (no row for the entity) or ``"expired"`` (older than its
view's TTL at lookup time), and each derived feature to ``"derived"``. ``time`` is then the
lookup time (the instant the TTL was applied at), so a replay of the point-in-time join at
``time`` gives what should have been served.

Feedback rows (:data:`FEEDBACK_COLUMNS`): ``request_id``, ``row`` (null: every record of
the request), ``label``, ``time``.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keel.errors import UsageError
from keel.grammar import check_name

if TYPE_CHECKING:
    import polars as pl

    from keel.store import ArtifactStore

__all__ = [
    "FEEDBACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "FeedbackLog",
    "PredictionLog",
    "column_type",
    "partition_hour",
]

PREDICTION_COLUMNS = (
    "request_id",
    "row",
    "time",
    "model",
    "version",
    "role",
    "latency_ms",
    "valid",
    "violations",
    "prediction",
    "score",
    "confidence",
)
FEEDBACK_COLUMNS = ("request_id", "row", "label", "time")

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


class _Log:
    kind: str
    required: tuple[str, ...]

    def __init__(self, artifacts: ArtifactStore, name: str) -> None:
        check_name(name, "model")  # a safe folder name too: no separators, not . or ..
        self.artifacts = artifacts
        self.name = name
        self.root = f"{artifacts.root}/logs/{self.kind}/{name}"

    # -- writing --------------------------------------------------------------------------
    def append(self, frame: pl.DataFrame, *, key: str | None = None) -> str | None:
        """Write ``frame`` as one new file of the log; return its path (None if empty).

        With ``key`` (letters, digits, ``_`` and ``-``) the file's name is made of the first
        row's time and the key, and a file of that name already in the log is kept as it is:
        writing the same rows under the same key twice leaves one copy of them.
        """
        if key is not None and not _KEY.match(key):
            raise UsageError(
                f"{key!r} cannot name a {self.kind} log file.",
                hint="Use letters, digits, - and _.",
            )
        missing = [c for c in self.required if c not in frame.columns]
        if missing:
            raise UsageError(
                f"a {self.kind} log row lacks column(s) {', '.join(missing)}.",
                hint=f"Rows of the {self.kind} log have: {', '.join(self.required)}.",
            )
        if frame.height == 0:
            return None
        first = frame["time"][0]
        when = first if isinstance(first, datetime) else datetime.now(UTC)
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        folder = f"{self.root}/date={when:%Y-%m-%d}/hour={when:%H}"
        final = f"{folder}/{when:%Y%m%dT%H%M%S}-{key or uuid.uuid4().hex}.parquet"
        fs = self.artifacts.fs
        if key is not None and fs.exists(final):
            return final
        fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{uuid.uuid4().hex}.part"
        try:
            with fs.open(tmp, "wb") as out:
                frame.write_parquet(out)
            self.artifacts.publish(tmp, final)  # a copy + single delete on object stores
        finally:
            if fs.exists(tmp):
                self.artifacts.remove_file(tmp)
        return final

    # -- reading --------------------------------------------------------------------------
    def files(self, *, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        """The log's files, oldest first, pruned to the hours that can hold rows in range."""
        fs = self.artifacts.fs
        if not fs.exists(self.root):
            return []
        low = _hour(since) if since else None
        high = _hour(until) if until else None
        chosen = []
        for path in fs.find(self.root):
            if not path.endswith(".parquet"):
                continue
            start = partition_hour(path)
            # a file's rows start in its hour but may run past it: keep one hour earlier
            if start and ((high and start > high) or (low and start < low - timedelta(hours=1))):
                continue
            chosen.append(path)
        return sorted(chosen, key=lambda p: p.rsplit("/", 1)[-1])

    def scan(self, *, since: datetime | None = None, until: datetime | None = None) -> pl.LazyFrame:
        """The log's rows with ``since <= time < until`` (both optional), lazily."""
        import polars as pl

        frame = self.scan_files(self.files(since=since, until=until))
        if since is not None:
            frame = frame.filter(pl.col("time") >= _utc(since))
        if until is not None:
            frame = frame.filter(pl.col("time") < _utc(until))
        return frame

    def scan_files(self, files: Sequence[str]) -> pl.LazyFrame:
        """The rows of some of the log's files, lazily.

        Local files of one schema are read by a single Parquet scan (a day of one-minute
        flushes is 1,440 files: one scan per file is five times slower and exhausts Polars'
        blocking threads); files of different schemas are combined by column name, their
        types widened.
        """
        import polars as pl

        if not files:
            return pl.DataFrame(schema=self._empty_schema()).lazy()
        if self.artifacts.is_local:
            groups: dict[tuple[tuple[str, Any], ...], list[str]] = {}
            for f in files:
                groups.setdefault(tuple(pl.read_parquet_schema(f).items()), []).append(f)
            parts = [pl.scan_parquet(group) for group in groups.values()]
        else:
            fs = self.artifacts.fs
            parts = [pl.read_parquet(fs.open(f, "rb").read()).lazy() for f in files]
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")

    def _empty_schema(self) -> dict[str, Any]:
        """The log's own columns with the types serving writes them in, so that a scan of no
        file has the types of a scan of some (an empty report window is profiled over the
        reference's bins: a numeric ``score`` typed as text there failed the report)."""
        return {c: column_type(c) for c in self.required}


class PredictionLog(_Log):
    """The predictions a served model made, one row per predicted record."""

    kind = "predictions"
    required = PREDICTION_COLUMNS

    def check_inputs(self, columns: Sequence[str]) -> None:
        """Refuse input columns whose names the log uses for itself."""
        clash = [c for c in columns if c in PREDICTION_COLUMNS]
        if clash:
            raise UsageError(
                f"model {self.name!r} has input column(s) {', '.join(clash)}, "
                "which the prediction log uses for itself.",
                hint="Rename them in the input contract; reserved: "
                + ", ".join(PREDICTION_COLUMNS),
            )


class FeedbackLog(_Log):
    """Ground truth that arrived for earlier requests, joined to predictions by request id."""

    kind = "feedback"
    required = FEEDBACK_COLUMNS


def column_type(name: str) -> Any:
    """The Polars type serving writes log column ``name`` in (``prediction`` and ``label``
    take the model's type: unknown, Null, until a row holds one; Null joins any type when
    files are combined)."""
    import polars as pl

    return _column_types().get(name, pl.Null)


@functools.cache
def _column_types() -> dict[str, Any]:
    """The log's fixed column types, built once (Polars is imported on first use)."""
    import polars as pl

    return {
        "request_id": pl.String,
        "row": pl.Int64,
        "time": pl.Datetime("us", "UTC"),
        "model": pl.String,
        "version": pl.Int64,
        "role": pl.String,
        "latency_ms": pl.Float64,
        "valid": pl.Boolean,
        "violations": pl.String,
        "score": pl.Float64,
        "confidence": pl.Float64,
    }


def partition_hour(path: str) -> datetime | None:
    """The hour a log file's partition names (its first row's), or None outside the layout."""
    found = _PARTITION.search(path.replace(os.sep, "/"))
    if found is None:
        return None
    return datetime.fromisoformat(f"{found[1]}T{found[2]}:00:00+00:00")


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _hour(when: datetime) -> datetime:
    return _utc(when).replace(minute=0, second=0, microsecond=0)

"""Buffers prediction and feedback rows in memory and appends them to their logs.

The request path only appends a tuple per record to a list; :meth:`LogWriter.flush`
(called on an interval from a background task, and at shutdown) turns the buffer into one
Polars frame and one Parquet file of :class:`keel.monitor.PredictionLog` (and
:class:`keel.monitor.FeedbackLog`). A failed write keeps the rows for the next flush.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from keel.contracts import DType
from keel.monitor import FeedbackLog, PredictionLog
from keel.monitor._predlog import FEEDBACK_COLUMNS

if TYPE_CHECKING:
    import polars as pl

    from keel.contracts import Contract
    from keel.store import ArtifactStore

__all__ = ["LogWriter"]

logger = logging.getLogger("keel.serve")

_MAX_BUFFER = 1_000_000  # rows kept while writes fail, beyond which the oldest are dropped


class LogWriter:
    """The buffered prediction and feedback logs of one served model."""

    def __init__(self, artifacts: ArtifactStore, name: str, contract: Contract | None) -> None:
        import polars  # noqa: F401  # now, not first in a flush thread: a module half imported
        # by one thread breaks another thread's prediction (scikit-learn looks polars up)

        self.predictions = PredictionLog(artifacts, name)
        self.feedback_log = FeedbackLog(artifacts, name)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._rows: list[tuple[Any, ...]] = []
        self._feedback: list[tuple[Any, ...]] = []
        self.set_contract(contract)
        self.written = 0

    def set_contract(self, contract: Contract | None) -> None:
        """The input columns logged beside each prediction (a new version may change them)."""
        columns = contract.column_names if contract is not None else ()
        self.predictions.check_inputs(columns)
        self.inputs: tuple[str, ...] = columns
        self._types = {c.name: c.dtype for c in contract.columns} if contract else {}

    def add(
        self,
        *,
        request_id: str,
        time: float,
        model: str,
        version: int,
        role: str,
        latency_ms: float,
        inputs: Sequence[Sequence[Any]],
        violations: Sequence[str | None],
        predictions: Sequence[Any],
        scores: Sequence[float | None],
        confidences: Sequence[float | None],
        columns: tuple[str, ...],
    ) -> None:
        """Buffer one request's records (``inputs`` rows in ``columns`` order); ``time`` in
        seconds since the epoch, as ``time.time()`` gives it."""
        entry = (
            request_id,
            round(time * 1_000_000),  # microseconds: 10x faster to load than datetimes
            model,
            version,
            role,
            latency_ms,
            violations,
            predictions,
            scores,
            confidences,
            columns,
            inputs,
        )
        with self._lock:
            self._rows.append(entry)

    def add_feedback(
        self, request_id: str, labels: Sequence[Any], time: datetime, *, per_row: bool
    ) -> None:
        rows = [(request_id, i if per_row else None, label, time) for i, label in enumerate(labels)]
        with self._lock:
            self._feedback.extend(rows)

    @property
    def pending(self) -> int:
        return len(self._rows) + len(self._feedback)

    def flush(self) -> int:
        """Write the buffered rows; return how many prediction rows were written."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
                feedback, self._feedback = self._feedback, []
            written = 0
            if rows:
                try:
                    frame = self._prediction_frame(rows)
                    self.predictions.append(frame)
                    written = frame.height
                except Exception:
                    logger.exception("could not write %d prediction log rows", len(rows))
                    self._keep(rows, feedback=False)
            if feedback:
                try:
                    self.feedback_log.append(_feedback_frame(feedback))
                except Exception:
                    logger.exception("could not write %d feedback rows", len(feedback))
                    self._keep(feedback, feedback=True)
            self.written += written
            return written

    def _keep(self, rows: list[tuple[Any, ...]], *, feedback: bool) -> None:
        with self._lock:
            target = self._feedback if feedback else self._rows
            target[:0] = rows
            del target[: max(0, len(target) - _MAX_BUFFER)]

    def _prediction_frame(self, entries: list[tuple[Any, ...]]) -> pl.DataFrame:
        """One frame of the buffered requests: the log's columns, then the inputs.

        Built column by column (the inputs row-wise in Polars), as this runs beside the
        requests and holds the interpreter while it builds.
        """
        import polars as pl

        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for entry in entries:
            groups.setdefault(entry[10], []).append(entry)
        frames = [self._group_frame(columns, group) for columns, group in groups.items()]
        frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        return frame.sort("time", maintain_order=True) if len(frames) > 1 else frame

    def _group_frame(self, columns: tuple[str, ...], group: list[tuple[Any, ...]]) -> pl.DataFrame:
        import polars as pl

        counts = [len(e[7]) for e in group]

        def repeat(index: int) -> list[Any]:
            return [e[index] for e, n in zip(group, counts, strict=True) for _ in range(n)]

        def flat(index: int) -> list[Any]:
            return [value for e in group for value in e[index]]

        violations = flat(6)
        fixed = pl.DataFrame(
            [
                pl.Series("request_id", repeat(0), dtype=pl.String),
                pl.Series("row", [i for n in counts for i in range(n)], dtype=pl.Int64),
                pl.Series("time", repeat(1), dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
                pl.Series("model", repeat(2), dtype=pl.String),
                pl.Series("version", repeat(3), dtype=pl.Int64),
                pl.Series("role", repeat(4), dtype=pl.String),
                pl.Series("latency_ms", repeat(5), dtype=pl.Float64),
                pl.Series("valid", [v is None for v in violations], dtype=pl.Boolean),
                pl.Series("violations", violations, dtype=pl.String),
                pl.Series("prediction", flat(7), strict=False),
                pl.Series("score", flat(8), dtype=pl.Float64),
                pl.Series("confidence", flat(9), dtype=pl.Float64),
            ]
        )
        if not columns:
            return fixed
        schema = {c: _polars_type(self._types.get(c, DType.STR)) for c in columns}
        inputs = pl.DataFrame(flat(11), schema=schema, orient="row", strict=False)
        return pl.concat([fixed, inputs], how="horizontal")


def _polars_type(dtype: DType) -> Any:
    import polars as pl

    found: dict[DType, Any] = {
        DType.INT: pl.Int64,
        DType.FLOAT: pl.Float64,
        DType.BOOL: pl.Boolean,
        DType.DATE: pl.Date,
        DType.DATETIME: pl.Datetime("us"),
        DType.DECIMAL: pl.Float64,
    }
    return found.get(dtype, pl.String)


def _feedback_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    import polars as pl

    ids, positions, labels, times = (list(v) for v in zip(*rows, strict=True))
    kinds = {type(v) for v in labels if v is not None}
    label = (
        pl.Series("label", labels, strict=False)
        if len(kinds) <= 1 or kinds <= {int, float}
        else pl.Series("label", [None if v is None else str(v) for v in labels])
    )
    frame = pl.DataFrame(
        [
            pl.Series("request_id", ids, dtype=pl.String),
            pl.Series("row", positions, dtype=pl.Int64),
            label,
            pl.Series("time", times, dtype=pl.Datetime("us", "UTC")),
        ]
    )
    return frame.select(list(FEEDBACK_COLUMNS))

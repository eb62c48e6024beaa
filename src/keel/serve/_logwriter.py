"""Buffers prediction and feedback rows in memory and appends them to their logs.

The request path only appends a tuple per record to a list; :meth:`LogWriter.flush`
(called on an interval from a background task, and at shutdown) turns the buffer into one
Polars frame and one Parquet file of :class:`keel.monitor.PredictionLog` (and
:class:`keel.monitor.FeedbackLog`). A failed write keeps the rows for the next flush.

Between flushes, :meth:`LogWriter.journal` (every :data:`~keel.serve._journal.JOURNAL_INTERVAL`
seconds) appends the rows buffered since its last call to a local journal
(:mod:`keel.serve._journal`), so that a killed process loses at most that long of them:
:meth:`LogWriter.recover` (at the next start, and at shutdown) writes what dead processes
left in the journal into the logs, each flush's rows once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.contracts import DType, polars_type
from keel.monitor import FEEDBACK_COLUMNS, FeedbackLog, PredictionLog, log_column_type
from keel.serve._journal import FEEDBACK, PREDICTIONS, TYPES, Journal, Segment

if TYPE_CHECKING:
    import polars as pl

    from keel.contracts import Contract
    from keel.store import ArtifactStore

__all__ = ["LogWriter"]

logger = logging.getLogger("keel.serve")

_MAX_BUFFER = 1_000_000  # rows kept in memory while writes fail (beyond: on disk, or dropped)


@dataclass
class _Held:
    """The rows of one flush until they are in the logs (retried while writes fail)."""

    key: str  # names the flush's Parquet files, so that a retry or replay never adds a copy
    segment: Segment | None  # its journal segment, locked; None without a journal
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    feedback: list[tuple[Any, ...]] = field(default_factory=list)
    types: dict[str, DType] = field(default_factory=dict)
    on_disk: bool = False  # the rows are read back from the segment
    predictions_done: bool = False

    @property
    def size(self) -> int:
        return 0 if self.on_disk else len(self.rows) + len(self.feedback)


class LogWriter:
    """The buffered prediction and feedback logs of one served model.

    ``journal`` is the folder of its local journal (:func:`keel.serve._journal.journal_folder`);
    without one, rows buffered between flushes die with the process.
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        name: str,
        contract: Contract | None,
        *,
        journal: Path | None = None,
    ) -> None:
        import polars  # noqa: F401  # now, not first in a flush thread: a module half imported
        # by one thread breaks another thread's prediction (scikit-learn looks polars up)

        self.predictions = PredictionLog(artifacts, name)
        self.feedback_log = FeedbackLog(artifacts, name)
        self._lock = threading.Lock()  # the buffers
        self._flushing = threading.Lock()  # one flush (or replay) at a time
        self._journaling = threading.Lock()  # the open journal segment
        self._rows: list[tuple[Any, ...]] = []
        self._feedback: list[tuple[Any, ...]] = []
        self._journaled = 0  # how many of _rows (and of _feedback) the journal holds
        self._journaled_feedback = 0
        self._held: list[_Held] = []
        self._journal = _open_journal(journal, name)
        self._journaled_types: dict[str, DType] | None = None
        self._journal_failed = False
        self._extra_types: dict[str, DType] = {}
        self.set_contract(contract)
        self.written = 0

    def set_contract(
        self, contract: Contract | None, *, extra: Mapping[str, DType] | None = None
    ) -> None:
        """The input columns logged beside each prediction (a new version may change them);
        ``extra``: the types of columns logged besides them (a feature lookup's keys,
        request fields and statuses), kept for every version served since."""
        columns = contract.column_names if contract is not None else ()
        if extra:
            self.predictions.check_inputs(list(extra))
            self._extra_types.update(extra)
        self.predictions.check_inputs(columns)
        self.inputs: tuple[str, ...] = columns
        own = {c.name: c.dtype for c in contract.columns} if contract else {}
        self._types = {**self._extra_types, **own}

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
        self, request_id: str, labels: Sequence[Any], time: dt.datetime, *, per_row: bool
    ) -> None:
        rows = [(request_id, i if per_row else None, label, time) for i, label in enumerate(labels)]
        with self._lock:
            self._feedback.extend(rows)

    @property
    def pending(self) -> int:
        return len(self._rows) + len(self._feedback) + sum(h.size for h in self._held)

    # -- the journal ------------------------------------------------------------------------
    def journal(self) -> None:
        """Append the rows buffered since the last call to the journal (one write)."""
        if self._journal is None:
            return
        with self._journaling:
            with self._lock:
                rows, self._journaled = self._rows[self._journaled :], len(self._rows)
                feedback = self._feedback[self._journaled_feedback :]
                self._journaled_feedback = len(self._feedback)
                types = self._types
            self._append(self._journal, rows, feedback, types)

    def _append(
        self,
        journal: Journal,
        rows: list[tuple[Any, ...]],
        feedback: list[tuple[Any, ...]],
        types: dict[str, DType],
    ) -> None:
        if not rows and not feedback:
            return
        try:
            payloads = []
            if journal.current is None or types is not self._journaled_types:
                payloads.append(_dumps([TYPES, {c: t.value for c, t in types.items()}]))
            if rows:
                payloads.append(_dumps([PREDICTIONS, rows]))
            if feedback:
                payloads.append(_dumps([FEEDBACK, feedback]))
            journal.write(payloads)
            self._journaled_types = types
        except Exception:
            if not self._journal_failed:  # once: the rows are still kept in memory
                logger.exception("could not write the journal of %s", self.predictions.name)
            self._journal_failed = True

    # -- writing the logs -------------------------------------------------------------------
    def flush(self) -> int:
        """Write the buffered rows; return how many prediction rows were written."""
        with self._flushing:
            with self._journaling:
                with self._lock:
                    rows, self._rows = self._rows, []
                    feedback, self._feedback = self._feedback, []
                    unjournaled, self._journaled = rows[self._journaled :], 0
                    unjournaled_feedback = feedback[self._journaled_feedback :]
                    self._journaled_feedback = 0
                    types = self._types
                segment = None
                if self._journal is not None:
                    self._append(self._journal, unjournaled, unjournaled_feedback, types)
                    segment = self._journal.rotate()
            if rows or feedback:
                key = segment.key if segment is not None else uuid.uuid4().hex
                self._held.append(_Held(key, segment, rows, feedback, types))
            elif segment is not None:
                Journal.release(segment)
            before = self.written
            self._write_held()
            return self.written - before

    def recover(self) -> int:
        """Write the rows that dead processes left in the journal into the logs, each flush's
        rows once; return how many prediction rows were written."""
        if self._journal is None:
            return 0
        with self._flushing:
            before = self.written
            for segment in self._journal.orphans():
                held = _Held(segment.key, segment, on_disk=True)
                try:
                    self._write(held)
                except Exception:
                    logger.exception("could not replay the journal segment %s", segment.path)
                    Journal.close(segment)  # kept for the next attempt
                    continue
                Journal.release(segment)
            written = self.written - before
        if written:
            logger.info(
                "wrote %d prediction row(s) of %s left in the journal by a stopped server",
                written,
                self.predictions.name,
            )
        return written

    def _write_held(self) -> None:
        while self._held:
            held = self._held[0]
            try:
                self._write(held)
            except Exception:
                logger.exception(
                    "could not write the prediction and feedback logs of %s (%d row(s) kept)",
                    self.predictions.name,
                    sum(h.size for h in self._held),
                )
                self._trim()
                break
            self._held.pop(0)
            if held.segment is not None:
                Journal.release(held.segment)

    def _write(self, held: _Held) -> None:
        """Write one flush's rows under its key (counting the prediction rows written)."""
        rows, feedback, types = held.rows, held.feedback, held.types
        if held.on_disk and held.segment is not None:
            rows, feedback, types = _load(held.segment)
        if rows and not held.predictions_done:
            frame = _prediction_frame(rows, types)
            self.predictions.append(frame, key=held.key)
            self.written += frame.height
        held.predictions_done = True
        if feedback:
            self.feedback_log.append(_feedback_frame(feedback), key=held.key)

    def _trim(self) -> None:
        """Hold at most ``_MAX_BUFFER`` rows in memory: the oldest flushes' rows are left on
        disk in their journal segments, or dropped when they have none."""
        excess = sum(h.size for h in self._held) - _MAX_BUFFER
        for held in list(self._held):
            if excess <= 0:
                return
            if held.on_disk:
                continue
            excess -= held.size
            if held.segment is not None:
                held.on_disk = True
                held.rows, held.feedback = [], []
            else:
                logger.error(
                    "dropped %d unwritten row(s) of the logs of %s",
                    held.size,
                    self.predictions.name,
                )
                self._held.remove(held)


def _prediction_frame(entries: list[tuple[Any, ...]], types: dict[str, DType]) -> pl.DataFrame:
    """One frame of the buffered requests: the log's columns, then the inputs.

    Built column by column (the inputs row-wise in Polars), as this runs beside the
    requests and holds the interpreter while it builds.
    """
    import polars as pl

    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for entry in entries:
        groups.setdefault(entry[10], []).append(entry)
    frames = [_group_frame(columns, group, types) for columns, group in groups.items()]
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return frame.sort("time", maintain_order=True) if len(frames) > 1 else frame


def _group_frame(
    columns: tuple[str, ...], group: list[tuple[Any, ...]], types: dict[str, DType]
) -> pl.DataFrame:
    import polars as pl

    typed = log_column_type  # the log's own column types, as its readers expect them
    counts = [len(e[7]) for e in group]

    def repeat(index: int) -> list[Any]:
        return [e[index] for e, n in zip(group, counts, strict=True) for _ in range(n)]

    def flat(index: int) -> list[Any]:
        return [value for e in group for value in e[index]]

    violations = flat(6)
    fixed = pl.DataFrame(
        [
            pl.Series("request_id", repeat(0), dtype=typed("request_id")),
            pl.Series("row", [i for n in counts for i in range(n)], dtype=typed("row")),
            pl.Series("time", repeat(1), dtype=pl.Int64).cast(typed("time")),
            pl.Series("model", repeat(2), dtype=typed("model")),
            pl.Series("version", repeat(3), dtype=typed("version")),
            pl.Series("role", repeat(4), dtype=typed("role")),
            pl.Series("latency_ms", repeat(5), dtype=typed("latency_ms")),
            pl.Series("valid", [v is None for v in violations], dtype=typed("valid")),
            pl.Series("violations", violations, dtype=typed("violations")),
            pl.Series("prediction", flat(7), strict=False),
            pl.Series("score", flat(8), dtype=typed("score")),
            pl.Series("confidence", flat(9), dtype=typed("confidence")),
        ]
    )
    if not columns:
        return fixed
    schema = {c: polars_type(types.get(c, DType.STR)) for c in columns}
    inputs = pl.DataFrame(flat(11), schema=schema, orient="row", strict=False)
    return pl.concat([fixed, inputs], how="horizontal")


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


def _open_journal(folder: Path | None, name: str) -> Journal | None:
    """The journal in ``folder``, or None (with a warning) where it cannot be kept."""
    if folder is None:
        return None
    if not Journal.available():
        logger.warning("no journal for the logs of %s: file locks are not available here", name)
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning(
            "no journal for the logs of %s (%s): a killed server loses up to one flush "
            "interval of prediction rows",
            name,
            exc,
        )
        return None
    return Journal(folder)


def _dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(value: Any) -> Any:
    """A JSON value for what orjson does not write itself."""
    if isinstance(value, Decimal):
        return str(value)  # exact; read back as a Decimal (_PARSERS)
    item = getattr(value, "item", None)  # a NumPy scalar
    if callable(item):
        return item()
    return str(value)


_PARSERS: dict[DType, Any] = {  # inputs the journal holds as text
    DType.DATE: dt.date.fromisoformat,
    DType.DATETIME: dt.datetime.fromisoformat,
    DType.DECIMAL: Decimal,
}


def _load(
    segment: Segment,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, DType]]:
    """A journal segment's prediction entries, feedback rows and (last) input types."""
    import orjson

    rows: list[tuple[Any, ...]] = []
    feedback: list[tuple[Any, ...]] = []
    types: dict[str, DType] = {}
    for payload in Journal.read(segment):
        kind, items = orjson.loads(payload)
        if kind == TYPES:
            types = {column: DType(value) for column, value in items.items()}
        elif kind == PREDICTIONS:
            rows.extend(_entry(item, types) for item in items)
        elif kind == FEEDBACK:
            feedback.extend(
                (i, row, label, dt.datetime.fromisoformat(when)) for i, row, label, when in items
            )
    return rows, feedback, types


def _entry(item: list[Any], types: dict[str, DType]) -> tuple[Any, ...]:
    """A prediction entry as :meth:`LogWriter.add` buffered it, from its JSON form."""
    columns = tuple(item[10])
    inputs = item[11]
    parsers = [_PARSERS.get(types.get(c, DType.STR)) for c in columns]
    if any(parsers):
        inputs = [
            [
                p(v) if p is not None and isinstance(v, str) else v
                for p, v in zip(parsers, row, strict=True)
            ]
            for row in inputs
        ]
    return (*item[:10], columns, inputs)

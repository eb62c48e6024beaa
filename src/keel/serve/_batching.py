"""Micro-batching: the records of concurrent requests go to the model in one predict call.

A request's records join the pending batch; the batch is predicted when it holds
``max_batch_size`` records, or when every request being handled is waiting in a batch (no
request in flight could join it: waiting longer only adds idle time), or ``max_wait_ms``
after its first request arrived, whichever comes first; each request gets back exactly its
own rows. Under load, requests read in the same turn of the event loop share a batch, so
batches grow with the load by themselves; a lone request is predicted at once.

Requests are grouped by the model object they were checked against, so a hot reload
between check and prediction never mixes two versions in one call. If a combined call
fails, each request of the batch is predicted alone, so one bad request fails only itself
(its caller gets a 500 with the message), never its neighbours or the server.

The prediction runs on the event loop (``in_thread=False``, the default: a small model's
predict costs less than the hop to a thread) or in a worker thread, which keeps the loop
answering while a large model computes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Batcher", "Occupancy", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    """What one predict call returned for some rows."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    version: int


class Predictor(Protocol):
    def predict_rows(self, rows: list[list[Any]]) -> Prediction: ...


class Occupancy:
    """Requests inside the prediction handlers, and how many of them wait in a batch.

    Shared by the batchers of one app; the handlers call :meth:`enter` and :meth:`leave`.
    """

    __slots__ = ("active", "parked")

    def __init__(self) -> None:
        self.active = 0
        self.parked = 0

    def enter(self) -> None:
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


@dataclass
class _Job:
    model: Predictor
    rows: list[list[Any]]
    future: asyncio.Future[Prediction]


class Batcher:
    """Collects requests into batches. ``enabled=False`` predicts each request alone."""

    def __init__(
        self,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        enabled: bool = True,
        in_thread: bool = False,
        on_batch: Callable[[int], None] | None = None,
        occupancy: Occupancy | None = None,
    ) -> None:
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self.enabled = enabled
        self.in_thread = in_thread
        self._on_batch = on_batch
        self._occupancy = occupancy or Occupancy()
        self._pending: list[_Job] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def predict(self, model: Predictor, rows: list[list[Any]]) -> Prediction:
        """Predict ``rows`` with ``model``, batched with other requests' rows."""
        if not self.enabled:
            if self.in_thread:
                result = await asyncio.to_thread(model.predict_rows, rows)
            else:
                result = model.predict_rows(rows)
            self._count(len(rows))
            return result
        loop = asyncio.get_running_loop()
        job = _Job(model, rows, loop.create_future())
        self._pending.append(job)
        self._occupancy.parked += 1
        self._rows += len(rows)
        if self._rows >= self.max_batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait, self._flush)
            loop.call_soon(self._when_idle)
        return await job.future

    def _when_idle(self, turns: int = 8) -> None:
        """Flush once no request in flight can still join the batch; else look again on
        the next turns of the loop (a few: then the ``max_wait_ms`` timer decides, rather
        than the loop spinning while a slow client uploads)."""
        if not self._pending:
            return
        occupancy = self._occupancy
        if occupancy.parked >= occupancy.active:
            self._flush()
        elif turns > 1:
            asyncio.get_running_loop().call_soon(self._when_idle, turns - 1)

    async def drain(self) -> None:
        """Predict what is pending and wait for every running batch."""
        if self._pending:
            self._flush()
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        jobs, self._pending, self._rows = self._pending, [], 0
        if not jobs:
            return
        self._occupancy.parked -= len(jobs)
        groups: dict[int, list[_Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.model), []).append(job)
        for group in groups.values():
            if self.in_thread:
                task = asyncio.get_running_loop().create_task(self._run_in_thread(group))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            else:
                _settle(group, _run(group))
                self._count(sum(len(j.rows) for j in group))

    async def _run_in_thread(self, group: list[_Job]) -> None:
        outcome = await asyncio.to_thread(_run, group)
        _settle(group, outcome)
        self._count(sum(len(j.rows) for j in group))

    def _count(self, size: int) -> None:
        if self._on_batch is not None:
            self._on_batch(size)


def _run(group: list[_Job]) -> list[Prediction | BaseException]:
    """Predict a group in one call; if that fails, each job alone."""
    model = group[0].model
    if len(group) == 1:
        try:
            return [model.predict_rows(group[0].rows)]
        except Exception as exc:
            return [exc]
    rows = [row for job in group for row in job.rows]
    try:
        whole = model.predict_rows(rows)
    except Exception:
        out: list[Prediction | BaseException] = []
        for job in group:
            try:
                out.append(model.predict_rows(job.rows))
            except Exception as exc:
                out.append(exc)
        return out
    results: list[Prediction | BaseException] = []
    start = 0
    for job in group:
        end = start + len(job.rows)
        probabilities = whole.probabilities
        results.append(
            Prediction(
                whole.predictions[start:end],
                probabilities[start:end] if probabilities is not None else None,
                whole.version,
            )
        )
        start = end
    return results


def _settle(group: list[_Job], outcome: list[Prediction | BaseException]) -> None:
    for job, result in zip(group, outcome, strict=True):
        if job.future.done():  # the caller timed out or went away
            continue
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

"""What ``POST /feedback`` takes: from whom, for which requests, how often and how much.

A rollout whose guardrails score feedback (``analysis.guardrails.metric``) promotes or rolls
back on it, so forged labels would steer it. The gate:

- **From whom.** With a feedback token set (in the variable ``feedback.tokenEnv`` names,
  ``KEEL_FEEDBACK_TOKEN`` by default; a separate secret from the admin token, so the
  systems that send ground truth cannot move aliases), feedback needs ``Authorization:
  Bearer TOKEN``: none is 401, another token 403 (compared in constant time, as the admin
  token is). A spec whose guardrails use feedback is refused at start without a token
  (:func:`require_token`). Without a token and without such a rollout, feedback is taken
  unauthenticated, as before, into the feedback log only (no guardrail reads it).
- **For which requests.** Only ids this server answered within ``feedback.window`` (24 h):
  looked up in an in-memory index of the newest 100,000 ids this process answered, else
  (with a token: a look-up costs up to a scan of the window's log, which no unauthenticated
  request may set off) in the prediction log that every worker and replica writes (newest
  files first, in a thread, two at a time), so an id another worker answered is found once
  that worker has flushed its log. Otherwise 404.
- **How often.** Once per request id: a second feedback is 409. Exact within a process;
  across workers a repeat is not refused, but no guardrail counts it (each request is
  scored once, by the process that answered it) and monitoring keeps the latest label.
- **How much.** At most :data:`MAX_LABELS` labels, each a number, boolean, null or a
  string of at most :data:`MAX_LABEL_CHARS` characters; per-record labels no more than the
  request's records. Otherwise 422.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keel.config import format_seconds
from keel.errors import UsageError
from keel.serve._http import RequestError, bearer_token, same_token, shape_error

if TYPE_CHECKING:
    from fastapi import Request

    from keel.deploy import DeploySpec
    from keel.monitor import PredictionLog

__all__ = [
    "MAX_LABELS",
    "MAX_LABEL_CHARS",
    "TRACKED_IDS",
    "Feedback",
    "FeedbackGate",
    "logged_records",
    "parse_feedback",
    "require_token",
    "uses_feedback",
]

logger = logging.getLogger("keel.serve")

MAX_LABELS = 10_000  # labels in one feedback request
MAX_LABEL_CHARS = 256  # characters of one string label
TRACKED_IDS = 100_000  # request ids a process remembers answering (and labelling)
_LOG_CHUNK = 64  # prediction log files read at once, newest first
_LOG_READERS = 2  # log look-ups at once: unknown ids cannot take every thread
_LABEL_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Feedback:
    """One accepted feedback: the labels of ``request_id`` (one per record when
    ``per_row``, else one for every record)."""

    request_id: str
    labels: list[Any]
    per_row: bool


def uses_feedback(spec: DeploySpec) -> bool:
    """Whether the spec's guardrails decide on feedback (the ``metric`` guardrail)."""
    challenger = spec.challenger
    return challenger is not None and challenger.analysis.guardrails.metric is not None


def require_token(spec: DeploySpec) -> None:
    """Refuse to serve a rollout that decides on feedback while no feedback token is set:
    anyone who reached the server could promote or roll back the challenger."""
    variable = spec.feedback_token_env
    if not uses_feedback(spec) or os.environ.get(variable):
        return
    source = spec.source or f"the deployment spec of {spec.name}"
    raise UsageError(
        f"{source}: challenger.analysis.guardrails.metric decides the rollout on POST "
        f"/feedback, but no feedback token is set ({variable} is empty): anyone who can "
        "reach the server could steer the rollout with forged labels.",
        hint=f"Set {variable} to a secret token (`export {variable}=$(python -c 'import "
        "secrets; print(secrets.token_hex(32))')`) and send it with each feedback as "
        "`Authorization: Bearer TOKEN`; "
        f"feedback.tokenEnv in {source} names another variable; or remove the metric "
        "guardrail.",
    )


def parse_feedback(body: Any) -> Feedback:
    """The feedback in a request body; 422 (:class:`RequestError`) for a wrong shape."""
    if not isinstance(body, dict):
        raise shape_error("expected an object with request_id and label or labels", None)
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 200:
        raise shape_error("request_id must be a non-empty string", "request_id")
    if ("label" in body) == ("labels" in body):
        raise shape_error(
            "give exactly one of label (every record) or labels (one per record)", None
        )
    per_row = "labels" in body
    labels = body["labels"] if per_row else [body["label"]]
    if not isinstance(labels, list) or not labels:
        raise shape_error("labels must be a non-empty array", "labels")
    field = "labels" if per_row else "label"
    if len(labels) > MAX_LABELS:
        raise shape_error(f"at most {MAX_LABELS} labels per request; got {len(labels)}", field)
    if not all(isinstance(v, _LABEL_TYPES) for v in labels):
        raise shape_error("labels must be strings, numbers, booleans or null", field)
    longest = max((len(v) for v in labels if isinstance(v, str)), default=0)
    if longest > MAX_LABEL_CHARS:
        raise shape_error(
            f"a string label has at most {MAX_LABEL_CHARS} characters; got {longest}", field
        )
    return Feedback(request_id, labels, per_row)


class FeedbackGate:
    """Who may send feedback and for which requests (see the module docstring).

    :meth:`issued` is on the prediction path: one dictionary update per answered request.
    """

    def __init__(
        self,
        spec: DeploySpec,
        log: PredictionLog,
        *,
        capacity: int = TRACKED_IDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.variable = spec.feedback_token_env
        self.window = spec.feedback_window
        self._log = log
        self._capacity = capacity
        self._clock = clock
        # OrderedDicts: popping a plain dict's oldest key slows as deleted slots pile up
        self._issued: OrderedDict[str, tuple[float, int]] = OrderedDict()  # answered at, records
        self._labelled: OrderedDict[str, float] = OrderedDict()  # labelled at, oldest first
        self._readers = asyncio.Semaphore(_LOG_READERS)

    @property
    def token(self) -> str | None:
        """The feedback token (read at each request, as the admin token is); None: open."""
        return os.environ.get(self.variable) or None

    def issued(self, request_id: str, records: int) -> None:
        """Note that this process answered ``request_id`` (with ``records`` records)."""
        issued = self._issued
        issued[request_id] = (self._clock(), records)
        if len(issued) > self._capacity:
            issued.popitem(last=False)

    def authorize(self, request: Request) -> None:
        """401 without the feedback token, 403 with another one; open without a token."""
        token = self.token
        if token is None:
            return
        given = bearer_token(request)
        if given is None:
            raise RequestError(
                401,
                "unauthorized",
                f"feedback needs `Authorization: Bearer TOKEN` with the token in {self.variable}",
            )
        if not same_token(given, token):
            raise RequestError(403, "forbidden", "the feedback token is not valid")

    async def accept(self, body: Any) -> Feedback:
        """The feedback in ``body`` if this server answered its request within the window
        and has no feedback for it yet; :class:`RequestError` (404, 409, 422) otherwise."""
        feedback = parse_feedback(body)
        request_id = feedback.request_id
        records = await self._records(request_id)
        if records is None:
            open_ = "" if self.token else f" (with {self.variable} unset, by this process)"
            raise RequestError(
                404,
                "unknown_request",
                f"request {request_id!r} was not answered by this server{open_} in the last "
                f"{format_seconds(self.window)}: feedback is taken only for request ids the "
                "server issued (the x-request-id of the answer), within feedback.window",
            )
        if feedback.per_row and len(feedback.labels) > records:
            raise shape_error(
                f"request {request_id!r} had {records} record(s); got "
                f"{len(feedback.labels)} labels",
                "labels",
            )
        self._once(request_id)  # no await since the lookup: a concurrent twin sees the mark
        return feedback

    async def _records(self, request_id: str) -> int | None:
        """How many records ``request_id`` had, if answered within the window."""
        since = self._clock() - self.window
        found = self._issued.get(request_id)
        if found is not None:
            return found[1] if found[0] >= since else None
        if self.token is None:  # a request nobody authenticated never costs a log scan
            return None
        # answered by another worker or replica, before a restart, or forgotten: the log
        try:
            async with self._readers:
                return await asyncio.to_thread(logged_records, self._log, request_id, since)
        except Exception as exc:
            logger.exception("looking up request %s in the prediction log failed", request_id)
            raise RequestError(
                503,
                "feedback_unavailable",
                f"the prediction log cannot be read to check request {request_id!r}: "
                f"{type(exc).__name__}; retry later",
            ) from None

    def _once(self, request_id: str) -> None:
        now = self._clock()
        labelled = self._labelled
        if labelled.get(request_id, -1.0) >= now - self.window:
            raise RequestError(
                409,
                "duplicate_feedback",
                f"request {request_id!r} already has feedback: it is taken once per request",
            )
        labelled[request_id] = now
        labelled.move_to_end(request_id)
        while labelled:  # forget the oldest past the capacity or the window
            at = next(iter(labelled.values()))
            if len(labelled) <= self._capacity and at >= now - self.window:
                break
            labelled.popitem(last=False)


def logged_records(log: PredictionLog, request_id: str, since: float) -> int | None:
    """The records of ``request_id`` answered since ``since`` (seconds since the epoch) in
    the prediction log, reading the newest files first; None when it is not there."""
    import polars as pl

    start = datetime.fromtimestamp(since, UTC)
    files = log.files(since=start)
    wanted = (
        (pl.col("request_id") == request_id)
        & (pl.col("time") >= start)
        & (pl.col("role") != "shadow")  # a shadow's rows repeat the request's records
    )
    for end in range(len(files), 0, -_LOG_CHUNK):
        chunk = files[max(0, end - _LOG_CHUNK) : end]
        rows = log.scan_files(chunk).filter(wanted).select(pl.len()).collect().item()
        if rows:
            return int(rows)
    return None

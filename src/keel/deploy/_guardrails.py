"""Guardrails: is the challenger at least as good as the champion, on live traffic?

The server reports every answered request with :meth:`Guardrails.observe` (cheap: counters,
a fixed-size latency histogram and a bounded buffer, under a lock) and ground truth with
:meth:`Guardrails.feedback`; the controller asks :meth:`Guardrails.evaluate` every analysis
interval. Four comparisons, each switched on in the spec's ``analysis.guardrails``:

``errorRate``
    challenger minus champion share of requests that failed (5xx); breached above
    ``maxIncrease``.
``latencyP99``
    ratio of the 99th percentiles of request latency, from log-spaced histograms (500
    buckets 4% apart from 10 us: O(1) per request, fixed memory, quantiles within 2%);
    breached above ``maxRatio`` when the challenger is also more than ``toleranceMs``
    (default 5 ms) slower: sub-millisecond predictions jitter by large ratios no user
    notices. Judged from 200 requests per side: below that a p99 is the slowest request or
    two, one garbage collection away from a false alarm.
``predictionDrift``
    the distribution of the challenger's predictions against the champion's, profiled on
    shared bins fixed from the champion's first predictions (``keel.monitor.reference_bins``;
    labels are categorical, numbers binned at quantiles) and compared with
    ``keel.monitor.column_profile_drift`` (bias-corrected effect size with a calibrated
    threshold: Jensen-Shannon distance for labels, Wasserstein in champion standard
    deviations for numbers, exact from the profiles' bin sums). Breached when the drift is
    significant and its interval's lower bound clears ``max``. In shadow mode both sides saw
    the same requests, so any divergence is the models'; in canary mode the sides saw
    different users, which the threshold must allow.
``metric``
    once feedback arrives, per-record accuracy (or ``mae``/``mse``: the metrics of
    :data:`keel.models.METRICS` with a per-record form) of the two sides
    compared with an always-valid confidence sequence (:mod:`keel.deploy._sequential`):
    paired in shadow mode, two independent streams in canary mode. Breached when the
    challenger is confidently worse by more than ``margin``; a *win* when it is confidently
    better than ``-margin``.

No verdict is given before both sides have ``minRequests`` requests. Then: any breach is
``rollback``; otherwise ``promote`` when the metric shows a win (or no metric is
configured: the guardrails passed), else ``advance`` (healthy, metric undecided). What
the controller does with that depends on the rollout step. Statistics are per process:
with several workers or replicas each judges its own share of the traffic.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from keel._json import nulled
from keel.deploy._sequential import SequentialComparison
from keel.deploy._spec import DeploySpec, GuardrailSpec
from keel.errors import UsageError
from keel.models import metric

__all__ = ["Action", "Decision", "Guardrails", "LatencyHistogram"]

Action = Literal["continue", "advance", "promote", "rollback"]
_ROLES = ("champion", "challenger")
_REFERENCE_SIZE = 500  # champion predictions that fix the shared bins
_MAX_LEVELS = 50  # distinct labels beyond which predictions count as numbers
_LABELS = "labels"  # where a tracked request keeps its feedback until it can be scored
_MIN_LATENCY_SAMPLES = 200  # below this a p99 is one of the two slowest requests: noise


@dataclass(frozen=True)
class Decision:
    """What the evidence says: ``continue`` (too early), ``advance`` (healthy),
    ``promote`` (healthy and, with a metric, a confident win) or ``rollback`` (breach)."""

    action: Action
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


class LatencyHistogram:
    """Counts of latencies in log-spaced buckets: O(1) add, fixed memory, mergeable."""

    START_MS, RATIO, SIZE = 0.01, 1.04, 500

    def __init__(self, counts: Sequence[int] | None = None) -> None:
        self.counts = list(counts) if counts is not None else [0] * self.SIZE
        self._scale = 1 / math.log(self.RATIO)

    def add(self, ms: float) -> None:
        if not ms > self.START_MS:  # also NaN
            index = 0
        else:
            index = min(self.SIZE - 1, int(math.log(ms / self.START_MS) * self._scale) + 1)
        self.counts[index] += 1  # a list: a NumPy item update costs ten times more

    @property
    def count(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in ms (the geometric middle of its bucket); NaN when empty."""
        total = self.count
        if total == 0:
            return math.nan
        index = int(np.searchsorted(np.cumsum(self.counts), math.ceil(q * total)))
        if index == 0:
            return self.START_MS
        return float(self.START_MS * self.RATIO ** (index - 0.5))


@dataclass
class _Side:
    requests: int = 0
    errors: int = 0
    records: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    pending: list[Any] = field(default_factory=list)  # predictions not yet profiled
    dropped: int = 0
    profile: Any = None  # keel.monitor.ColumnProfile over the shared bins


class Guardrails:
    """Compares challenger with champion on live traffic (see the module docstring)."""

    def __init__(
        self, spec: DeploySpec, *, max_pending: int = 100_000, max_tracked: int = 100_000
    ) -> None:
        if spec.challenger is None:
            self._rules = GuardrailSpec(
                error_rate_max_increase=None, latency_p99_max_ratio=None, prediction_drift_max=None
            )
            self._min_requests, self._paired = 1, False
        else:
            analysis = spec.challenger.analysis
            self._rules = analysis.guardrails
            self._min_requests = analysis.min_requests
            self._paired = spec.challenger.mode == "shadow"
        self.spec = spec
        self._max_pending, self._max_tracked = max_pending, max_tracked
        self._lock = threading.Lock()
        self._evaluating = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything observed (a new challenger version is being rolled out)."""
        metric = self._rules.metric
        with self._lock:
            self._sides = {role: _Side() for role in _ROLES}
            self._tracked: OrderedDict[str, dict[str, Sequence[Any]]] = OrderedDict()
            self._feedback = 0
            self._comparison = (
                None
                if metric is None
                else SequentialComparison(
                    alpha=metric.alpha,
                    paired=self._paired,
                    min_samples=metric.min_samples,
                    bounded=metric.name == "accuracy",
                )
            )
            self._bins: Any = None
            self._reference: list[Any] = []
            self._score_record = _scorer(metric.name if metric else "accuracy")

    # -- the hot path --------------------------------------------------------------------
    def observe(
        self,
        role: str,
        *,
        request_id: str,
        count: int,
        latency_ms: float,
        error: bool,
        predictions: Sequence[Any] | None,
    ) -> None:
        """Record one answered request of ``role`` (``champion`` or ``challenger``)."""
        if role not in _ROLES:
            raise UsageError(f"unknown role {role!r}.", hint="Use 'champion' or 'challenger'.")
        with self._lock:
            side = self._sides[role]
            side.requests += 1
            side.records += count
            side.errors += bool(error)
            side.latency.add(latency_ms)
            if predictions is None or error:
                return
            if self._rules.prediction_drift_max is not None:
                room = self._max_pending - len(side.pending)
                side.pending.extend(predictions[:room] if room < len(predictions) else predictions)
                side.dropped += max(0, len(predictions) - room)
            if self._comparison is not None:
                entry = self._tracked.setdefault(request_id, {})
                entry[role] = predictions
                if _LABELS in entry:  # the feedback came before the shadow's prediction
                    self._score(request_id, entry)
                while len(self._tracked) > self._max_tracked:
                    self._tracked.popitem(last=False)

    def feedback(self, request_id: str, labels: Sequence[Any]) -> None:
        """Ground truth for the records of ``request_id`` (in order); unknown ids are ignored.

        In shadow mode a request is scored once both models' predictions and its labels are
        in, whichever comes last."""
        if self._comparison is None:
            return
        with self._lock:
            entry = self._tracked.get(request_id)
            if entry is None or _LABELS in entry:
                return
            self._feedback += 1
            entry[_LABELS] = labels
            self._score(request_id, entry)

    def _score(self, request_id: str, entry: dict[str, Sequence[Any]]) -> None:
        """Score a tracked request once it is complete (called under the lock)."""
        comparison = self._comparison
        assert comparison is not None
        if self._paired and not ("champion" in entry and "challenger" in entry):
            return  # wait for the other side (or for eviction)
        del self._tracked[request_id]
        score = self._score_record
        labels = entry[_LABELS]
        if self._paired:
            for a, b, y in zip(entry["champion"], entry["challenger"], labels, strict=False):
                if y is not None:
                    comparison.add_pair(score(b, y), score(a, y))
            return
        for role in _ROLES:
            for p, y in zip(entry.get(role, ()), labels, strict=False):
                if y is not None:
                    comparison.add(role, score(p, y))

    # -- the verdict ---------------------------------------------------------------------
    def evaluate(self) -> Decision:
        """Compare the two sides on everything observed since the last :meth:`reset`."""
        with self._evaluating:
            with self._lock:
                sides = {
                    role: (s.requests, s.errors, list(s.latency.counts), s.pending)
                    for role, s in self._sides.items()
                }
                for s in self._sides.values():
                    s.pending = []
                interval = None if self._comparison is None else self._comparison.interval()
                feedback = self._feedback
            drift = self._drift({role: pending for role, (*_, pending) in sides.items()})
            return self._decide(sides, drift, interval, feedback)

    def _decide(
        self, sides: dict[str, Any], drift: dict[str, Any] | None, interval: Any, feedback: int
    ) -> Decision:
        requests = {role: sides[role][0] for role in _ROLES}
        if self.spec.challenger is None:
            return Decision("continue", "no challenger in the spec", {"requests": requests})
        evidence: dict[str, Any] = {"requests": requests, "minRequests": self._min_requests}
        if min(requests.values()) < self._min_requests:
            waiting = ", ".join(f"{r} {n}" for r, n in requests.items())
            return Decision(
                "continue",
                f"waiting for {self._min_requests} requests on each side ({waiting})",
                nulled(evidence),
            )
        breaches: list[str] = []
        rules = self._rules
        self._error_rate(sides, evidence, breaches)
        self._latency(sides, evidence, breaches)
        if drift is not None:
            evidence["predictionDrift"] = drift
            if drift["breached"]:
                breaches.append(
                    f"predictions diverge: {drift['method']} {drift['score']:.3f} "
                    f"(max {rules.prediction_drift_max:g})"
                )
        win = self._metric(interval, feedback, evidence, breaches)
        if breaches:
            return Decision(
                "rollback", "guardrail breached: " + "; ".join(breaches), nulled(evidence)
            )
        if rules.metric is None:
            return Decision(
                "promote",
                f"guardrails pass on {requests['challenger']} challenger requests",
                nulled(evidence),
            )
        if win:
            m = evidence["metric"]
            return Decision(
                "promote",
                f"{rules.metric.name}: challenger better by "
                f"{m['estimate']:+.4f} (interval [{m['low']:+.4f}, {m['high']:+.4f}])",
                nulled(evidence),
            )
        return Decision(
            "advance", f"guardrails pass; {rules.metric.name} not yet decided", nulled(evidence)
        )

    def _error_rate(
        self, sides: dict[str, Any], evidence: dict[str, Any], breaches: list[str]
    ) -> None:
        limit = self._rules.error_rate_max_increase
        if limit is None:
            return
        rates = {role: sides[role][1] / max(sides[role][0], 1) for role in _ROLES}
        diff = rates["challenger"] - rates["champion"]
        hit = diff > limit
        evidence["errorRate"] = {**rates, "increase": diff, "maxIncrease": limit, "breached": hit}
        if hit:
            breaches.append(f"error rate up {diff:.2%} (max {limit:.2%})")

    def _latency(
        self, sides: dict[str, Any], evidence: dict[str, Any], breaches: list[str]
    ) -> None:
        rules = self._rules
        limit = rules.latency_p99_max_ratio
        if limit is None:
            return
        p99 = {}
        for role in _ROLES:
            p99[role] = LatencyHistogram(sides[role][2]).quantile(0.99)
        ratio = p99["challenger"] / p99["champion"] if p99["champion"] > 0 else math.inf
        slower = p99["challenger"] - p99["champion"]
        enough = min(sides[role][0] for role in _ROLES) >= _MIN_LATENCY_SAMPLES
        hit = enough and ratio > limit and slower > rules.latency_p99_tolerance_ms
        evidence["latencyP99"] = {
            "champion_ms": p99["champion"],
            "challenger_ms": p99["challenger"],
            "ratio": ratio,
            "maxRatio": limit,
            "toleranceMs": rules.latency_p99_tolerance_ms,
            "enough_requests": enough,
            "breached": hit,
        }
        if hit:
            breaches.append(f"latency p99 x{ratio:.2f} (max x{limit:g})")

    def _metric(
        self, interval: Any, feedback: int, evidence: dict[str, Any], breaches: list[str]
    ) -> bool:
        metric = self._rules.metric
        if metric is None or interval is None:
            return False
        found = interval.to_dict()
        worse = bool(interval.ready and interval.high < -metric.margin)
        win = bool(interval.ready and interval.low > -metric.margin)
        evidence["metric"] = {
            "name": metric.name,
            "alpha": metric.alpha,
            "margin": metric.margin,
            "feedback_requests": feedback,
            **found,
            "win": win,
            "breached": worse,
        }
        if worse:
            breaches.append(
                f"{metric.name} confidently worse: difference in "
                f"[{interval.low:+.4f}, {interval.high:+.4f}]"
            )
        return win

    # -- prediction drift ------------------------------------------------------------------
    def _drift(self, pending: dict[str, list[Any]]) -> dict[str, Any] | None:
        """Profile newly observed predictions on the shared bins; drift once both have
        ``minRequests`` records. Runs under ``_evaluating`` only (not the hot-path lock)."""
        limit = self._rules.prediction_drift_max
        if limit is None:
            return None
        from keel.monitor import column_profile_drift

        sides = self._sides
        if self._bins is None:
            self._reference.extend(pending["champion"])
            if len(self._reference) < min(_REFERENCE_SIZE, self._min_requests):
                with self._lock:  # keep the challenger's until the bins exist
                    sides["challenger"].pending[:0] = pending["challenger"]
                return None
            self._bins = _bins(self._reference)
            pending = {"champion": self._reference, "challenger": pending["challenger"]}
            self._reference = []
        for role, values in pending.items():
            if values:
                found = _profile(values, self._bins)
                side = sides[role]
                side.profile = found if side.profile is None else side.profile.merge(found)
        champion, challenger = sides["champion"].profile, sides["challenger"].profile
        if champion is None or challenger is None:
            return None
        if min(champion.count, challenger.count) < self._min_requests:
            return None
        result = column_profile_drift(champion, challenger, bins=self._bins, threshold=limit)
        return {
            "method": result.method,
            "score": result.score,
            "low": result.low,
            "high": result.high,
            "threshold": result.threshold,
            "p_value": result.p_value,
            "max": limit,
            "records": {"champion": champion.count, "challenger": challenger.count},
            "breached": result.drifted,
        }


def _categorical(values: Sequence[Any]) -> bool:
    sample = values[:_REFERENCE_SIZE]
    if all(isinstance(v, str | bool) for v in sample):
        return True
    integral = all(isinstance(v, int | np.integer) for v in sample)
    return integral and len(set(sample)) <= _MAX_LEVELS


def _frame(values: Sequence[Any], kind: str) -> Any:
    import polars as pl

    if kind == "categorical":
        return pl.DataFrame(
            {"prediction": [None if v is None else str(v) for v in values]},
            schema={"prediction": pl.String},
        )
    column = [float(v) if isinstance(v, int | float | np.number) else None for v in values]
    return pl.DataFrame({"prediction": column}, schema={"prediction": pl.Float64})


def _bins(reference: Sequence[Any]) -> Any:
    from keel.monitor import reference_bins

    kind = "categorical" if _categorical(reference) else "numeric"
    frame = _frame(reference, kind)
    forced = ["prediction"] if kind == "categorical" else None
    return reference_bins(frame, categorical=forced, bins=10, top_k=_MAX_LEVELS)["prediction"]


def _profile(values: Sequence[Any], bins: Any) -> Any:
    from keel.monitor import profile

    return profile(_frame(values, bins.kind), {"prediction": bins}).columns["prediction"]


def _scorer(name: str) -> Callable[[Any, Any], float]:
    """The metric's per-record value, turned so that higher is better."""
    spec = metric(name)
    per_record = spec.per_record
    assert per_record is not None  # the spec accepts only metrics that have one
    if spec.higher_is_better:
        return per_record
    return lambda p, y: -per_record(p, y)

"""Guardrails: errors, latency, prediction divergence and the feedback metric decide."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from keel.deploy._guardrails import Guardrails, LatencyHistogram
from keel.deploy._spec import DeploySpec, parse_spec

_ids = itertools.count()


def _spec(guardrails: str = "{}", mode: str = "canary", min_requests: int = 100) -> DeploySpec:
    return parse_spec(
        f"challenger: {{mode: {mode}, analysis: {{minRequests: {min_requests}, "
        f"guardrails: {guardrails}}}}}",
        name="churn",
    )


def _traffic(
    guard: Guardrails,
    role: str,
    n: int,
    *,
    seed: int = 0,
    error_rate: float = 0.0,
    latency: float = 5.0,
    positive: float = 0.3,
) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = []
    for _ in range(n):
        request_id = f"r{next(_ids)}"
        error = bool(rng.random() < error_rate)
        label = int(rng.random() < positive)
        guard.observe(
            role,
            request_id=request_id,
            count=1,
            error=error,
            latency_ms=float(latency * rng.uniform(0.8, 1.2)),
            predictions=None if error else [label],
        )
        ids.append(request_id)
    return ids


def test_no_verdict_before_min_requests_on_both_sides() -> None:
    guard = Guardrails(_spec())
    _traffic(guard, "champion", 500)
    _traffic(guard, "challenger", 99, seed=1)
    decision = guard.evaluate()
    assert decision.action == "continue"
    assert "waiting for 100 requests" in decision.reason
    assert decision.evidence["requests"] == {"champion": 500, "challenger": 99}


def test_healthy_challenger_without_a_metric_is_ready_to_promote() -> None:
    guard = Guardrails(_spec())
    _traffic(guard, "champion", 600, error_rate=0.01)
    _traffic(guard, "challenger", 600, seed=1, error_rate=0.01)
    decision = guard.evaluate()
    assert decision.action == "promote", decision.reason
    evidence = decision.evidence
    assert not evidence["errorRate"]["breached"]
    assert 0.9 < evidence["latencyP99"]["ratio"] < 1.1
    assert not evidence["predictionDrift"]["breached"]
    assert evidence["predictionDrift"]["method"] == "jensen_shannon"  # labels: categorical


def test_more_errors_roll_back() -> None:
    guard = Guardrails(_spec("{errorRate: {maxIncrease: 0.02}}"))
    _traffic(guard, "champion", 400, error_rate=0.01)
    _traffic(guard, "challenger", 400, seed=1, error_rate=0.10)
    decision = guard.evaluate()
    assert decision.action == "rollback"
    assert "error rate up" in decision.reason
    found = decision.evidence["errorRate"]
    assert found["breached"]
    assert found["increase"] == pytest.approx(found["challenger"] - found["champion"])


def test_slower_p99_rolls_back() -> None:
    guard = Guardrails(_spec("{latencyP99: {maxRatio: 1.5}, predictionDrift: false}"))
    _traffic(guard, "champion", 300, latency=4.0)
    _traffic(guard, "challenger", 300, seed=1, latency=20.0)
    decision = guard.evaluate()
    assert decision.action == "rollback"
    assert decision.evidence["latencyP99"]["ratio"] == pytest.approx(20 / 4, rel=0.1)


def test_latency_jitter_below_the_tolerance_is_no_breach() -> None:
    guard = Guardrails(_spec("{latencyP99: {maxRatio: 1.5, toleranceMs: 5}}"))
    _traffic(guard, "champion", 300, latency=0.2)
    _traffic(guard, "challenger", 300, seed=1, latency=0.8)  # 4x, but under a millisecond
    decision = guard.evaluate()
    assert decision.evidence["latencyP99"]["ratio"] > 3
    assert not decision.evidence["latencyP99"]["breached"]
    assert decision.action == "promote"


def test_diverging_predictions_roll_back() -> None:
    guard = Guardrails(_spec("{predictionDrift: {max: 0.1}}"))
    _traffic(guard, "champion", 800, positive=0.2)
    _traffic(guard, "challenger", 800, seed=1, positive=0.7)
    decision = guard.evaluate()
    assert decision.action == "rollback"
    assert "predictions diverge" in decision.reason
    assert decision.evidence["predictionDrift"]["score"] > 0.1


def test_numeric_predictions_are_binned_and_compared() -> None:
    guard = Guardrails(_spec("{predictionDrift: {max: 0.2}}", min_requests=100))
    rng = np.random.default_rng(5)
    for role, shift in (("champion", 0.0), ("challenger", 1.0)):
        for i in range(0, 1000, 10):  # batches of 10 records
            values = (rng.normal(size=10) + shift).tolist()
            guard.observe(
                role,
                request_id=f"{role}{i}",
                count=10,
                latency_ms=3.0,
                error=False,
                predictions=values,
            )
    decision = guard.evaluate()
    drift = decision.evidence["predictionDrift"]
    assert drift["method"] == "wasserstein"
    assert drift["score"] == pytest.approx(1.0, abs=0.15)  # moved by one sd: reads as one
    assert drift["low"] <= 1.0 <= drift["high"]
    assert drift["breached"]
    assert drift["records"] == {"champion": 1000, "challenger": 1000}


def _feedback(guard: Guardrails, mode: str, n: int, p_champion: float, p_challenger: float) -> None:
    rng = np.random.default_rng(11)
    for i in range(n):
        label = int(rng.random() < 0.5)
        right = {"champion": rng.random() < p_champion, "challenger": rng.random() < p_challenger}
        roles = (
            ("champion", "challenger") if mode == "shadow" else (("champion", "challenger")[i % 2],)
        )
        for role in roles:
            predicted = label if right[role] else 1 - label
            guard.observe(
                role,
                request_id=f"f{i}",
                count=1,
                latency_ms=2.0,
                error=False,
                predictions=[predicted],
            )
        guard.feedback(f"f{i}", [label])


@pytest.mark.parametrize("mode", ["canary", "shadow"])
def test_a_confident_win_on_the_metric_promotes(mode: str) -> None:
    rails = "{metric: {name: accuracy, alpha: 0.05}, predictionDrift: false}"
    guard = Guardrails(_spec(rails, mode=mode))
    _feedback(guard, mode, 3000, 0.70, 0.85)
    decision = guard.evaluate()
    assert decision.action == "promote", decision.reason
    metric = decision.evidence["metric"]
    assert metric["win"]
    assert metric["ready"]
    assert metric["paired"] is (mode == "shadow")
    assert metric["low"] > 0
    assert metric["estimate"] == pytest.approx(0.15, abs=0.04)


def test_a_confidently_worse_metric_rolls_back_and_an_undecided_one_waits() -> None:
    rails = "{metric: {name: accuracy}, predictionDrift: false}"
    worse = Guardrails(_spec(rails, mode="shadow"))
    _feedback(worse, "shadow", 3000, 0.85, 0.70)
    decision = worse.evaluate()
    assert decision.action == "rollback"
    assert "accuracy confidently worse" in decision.reason
    equal = Guardrails(_spec(rails, mode="shadow"))
    _feedback(equal, "shadow", 400, 0.8, 0.8)
    assert equal.evaluate().action == "advance"


def test_observe_is_thread_safe_and_memory_is_bounded() -> None:
    guard = Guardrails(_spec(), max_pending=1000)

    def hammer(role: str) -> None:
        for i in range(2000):
            guard.observe(
                role,
                request_id=f"{role}{i}",
                count=2,
                latency_ms=1.0,
                error=i % 10 == 0,
                predictions=[1, 0],
            )

    threads = [threading.Thread(target=hammer, args=(r,)) for r in ("champion", "challenger") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decision = guard.evaluate()
    assert decision.evidence["requests"] == {"champion": 4000, "challenger": 4000}
    assert decision.evidence["errorRate"]["champion"] == pytest.approx(0.1)
    assert decision.evidence["predictionDrift"]["records"]["champion"] <= 1000  # bounded


def test_without_a_challenger_there_is_nothing_to_decide() -> None:
    guard = Guardrails(parse_spec("", name="churn"))
    _traffic(guard, "champion", 300)
    assert guard.evaluate().action == "continue"


def test_reset_starts_a_new_rollout_from_nothing() -> None:
    guard = Guardrails(_spec())
    _traffic(guard, "champion", 200)
    _traffic(guard, "challenger", 200, seed=2)
    guard.reset()
    assert guard.evaluate().evidence["requests"] == {"champion": 0, "challenger": 0}


def test_the_latency_histogram_quantiles_are_within_four_percent() -> None:
    values = np.random.default_rng(0).lognormal(mean=1.5, sigma=0.8, size=20_000)
    histogram = LatencyHistogram()
    for v in values:
        histogram.add(float(v))
    for q in (0.5, 0.9, 0.99):
        assert histogram.quantile(q) == pytest.approx(float(np.quantile(values, q)), rel=0.04)
    assert len(histogram.counts) == LatencyHistogram.SIZE  # fixed, whatever the traffic
    assert histogram.count == len(values)

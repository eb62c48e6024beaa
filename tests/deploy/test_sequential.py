"""The sequential test stays valid when a rollout peeks after every batch of feedback, where
a t-test repeated at each look promotes equal models far more often than its 5%."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keel.deploy._sequential import SequentialComparison, mixture_halfwidth, tuning

ALPHA = 0.05
Z = 1.959963984540054  # two-sided 5% normal quantile


def _peeking(
    runs: int, records: int, every: int, p_champion: float, p_challenger: float, *, paired: bool
) -> tuple[float, float, float]:
    """Share of runs where, at some look, the sequential test (then the naive one) declared
    the challenger better; and the sequential test's share declaring anything at all."""
    rng = np.random.default_rng(2024)
    promoted = naive = decided = 0
    for _ in range(runs):
        test = SequentialComparison(alpha=ALPHA, paired=paired, min_samples=100, bounded=True)
        a = (rng.random(records) < p_champion).astype(float)
        b = (rng.random(records) < p_challenger).astype(float)
        hit_seq = hit_naive = hit_any = False
        for start in range(0, records, every):
            for x, y in zip(a[start : start + every], b[start : start + every], strict=True):
                if paired:
                    test.add_pair(float(y), float(x))
                else:
                    test.add("champion", float(x))
                    test.add("challenger", float(y))
            found = test.interval()
            if not found.ready:
                continue
            hit_seq |= found.low > 0
            hit_any |= found.low > 0 or found.high < 0
            n = test.champion.n
            se = math.sqrt(
                (test.champion.variance() + test.challenger.variance()) / n
                if not paired
                else test.diff.variance() / n
            )
            hit_naive |= found.estimate / se > Z if se > 0 else False
        promoted += hit_seq
        naive += hit_naive
        decided += hit_any
    return promoted / runs, naive / runs, decided / runs


@pytest.mark.parametrize("paired", [False, True], ids=["canary", "shadow"])
def test_false_promotions_under_continuous_peeking_stay_below_alpha(paired: bool) -> None:
    promoted, naive, decided = _peeking(200, 1500, 15, 0.8, 0.8, paired=paired)
    assert promoted <= ALPHA / 2 + 0.01  # one side of a two-sided 5% sequence
    assert decided <= ALPHA
    # the same one-sided look with a z-test (nominal 2.5%) promotes about 15% of equal models
    assert naive >= 4 * ALPHA / 2


def test_a_real_improvement_is_found() -> None:
    promoted, _, _ = _peeking(40, 3000, 50, 0.75, 0.85, paired=False)
    assert promoted >= 0.9


def test_the_interval_waits_for_min_samples_and_narrows_with_data() -> None:
    test = SequentialComparison(alpha=ALPHA, paired=False, min_samples=50)
    rng = np.random.default_rng(0)
    for _ in range(49):
        test.add("champion", float(rng.random() < 0.5))
        test.add("challenger", float(rng.random() < 0.5))
    assert not test.interval().ready
    widths = []
    for _ in range(5):
        for _ in range(400):
            test.add("champion", float(rng.random() < 0.5))
            test.add("challenger", float(rng.random() < 0.5))
        found = test.interval()
        assert found.ready
        assert found.low < found.estimate < found.high
        widths.append(found.high - found.low)
    assert widths == sorted(widths, reverse=True)


def test_equal_scores_never_decide() -> None:
    test = SequentialComparison(alpha=ALPHA, paired=True, min_samples=10)
    for _ in range(500):
        test.add_pair(1.0, 1.0)
    found = test.interval()
    assert found.low <= 0 <= found.high


def test_the_price_of_peeking_is_a_wider_interval_than_a_single_look() -> None:
    tau2 = np.array([1.0])
    half = mixture_halfwidth(tau2, tuning(ALPHA) * tau2, ALPHA)[0]
    assert 1.4 * Z < half < 1.7 * Z  # at the tuned sample size

"""An always-valid comparison of challenger and champion on a per-record metric.

**Why not a t-test.** A fixed-horizon test is valid for one look at a sample size chosen in
advance. A rollout looks at the data every analysis interval and stops as soon as it sees
a difference; under no difference at all, a 5% t-test repeated after every batch of
feedback crosses its threshold at *some* look far more often than 5% (about 30% of runs
over 100 looks between 100 and 1,500 records per side, and it tends to 100% as the looks
go on: the law of the iterated logarithm), so
"promote on the first significant look" would promote equal or worse models routinely.
``tests/serve/test_sequential.py`` simulates both.

**The method: a normal-mixture confidence sequence** (Robbins 1970; Howard, Ramdas,
McAuliffe and Sekhon 2021; the asymptotic form of Waudby-Smith et al. 2021, "Time-uniform
central limit theory"). Write ``D`` for the estimated difference (challenger minus
champion; for error metrics the sign is flipped so that positive always means "challenger
better") and ``tau2`` for its estimated variance: ``var(d) / n`` for paired records
(shadow mode: both models predicted the same record) or
``var_a / n_a + var_b / n_b`` for two independent streams (canary). Mixing the Gaussian
likelihood ratio ``exp(lambda D / tau2 - lambda^2 / (2 tau2))`` over ``lambda ~ N(0, g2)``
gives a nonnegative martingale under ``delta = 0``, and by Ville's inequality it ever
exceeds ``1 / alpha`` with probability at most ``alpha``. Inverting it gives the interval

    delta in D +- sqrt( 2 tau2 (1 + v) / v * log( sqrt(1 + v) / alpha ) ),   v = g2 / tau2

which holds *simultaneously for every sample size*: it may be checked after every record
and acted on at any time. ``g2`` (the mixing variance, a prior scale for the effect) is
fixed once, when ``min_samples`` records are first reached, so that the interval is
tightest around ``tuned_at`` records per side (``g2 = c * tau2(tuned_at)`` with
``c = -2 log alpha + log(1 - 2 log alpha)``, Waudby-Smith et al.'s choice). Plugging the
running variance into ``tau2`` makes the guarantee asymptotic; the simulation checks the
false-promotion rate from ``min_samples`` records up. The price of peeking freely is
width: at the tuned sample size the interval is about 1.55 times as wide as a
one-look 95% interval.

For accuracy, a record scores 1 when right and 0 when wrong; for ``mae`` and ``mse`` it
scores ``-|error|`` and ``-error^2``. Each running mean keeps Welford's ``(n, mean, m2)``:
O(1) memory and time per record. A bounded metric (accuracy) has its variance floored at
that of a 1-in-``n`` event, so a stream of all-correct records cannot collapse the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Interval", "RunningMean", "SequentialComparison", "mixture_halfwidth", "tuning"]

FloatArray = npt.NDArray[np.float64]


def tuning(alpha: float) -> float:
    """``c`` such that ``g2 = c * tau2(n*)`` makes the interval tightest at ``n*``."""
    return -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))


def mixture_halfwidth(tau2: Any, g2: Any, alpha: float) -> FloatArray:
    """Half-width of the normal-mixture confidence sequence (arrays broadcast).

    ``tau2`` is the variance of the estimate now, ``g2`` the mixing variance.
    """
    tau2 = np.asarray(tau2, dtype=float)
    v = np.asarray(g2, dtype=float) / np.maximum(tau2, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.sqrt(2 * tau2 * (1 + v) / v * np.log(np.sqrt(1 + v) / alpha))
    return np.where(tau2 > 0, width, 0.0)


@dataclass
class RunningMean:
    """Welford's running mean and variance."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def variance(self, *, bounded: bool = False) -> float:
        if self.n < 2:
            return math.inf
        var = self.m2 / (self.n - 1)
        return max(var, 1 / (self.n + 1)) if bounded else var


@dataclass(frozen=True)
class Interval:
    """Where the improvement of challenger over champion lies, valid at any stopping time."""

    estimate: float
    low: float
    high: float
    n_champion: int
    n_challenger: int
    paired: bool
    ready: bool  # enough samples to test

    def to_dict(self) -> dict[str, Any]:
        def f(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "estimate": f(self.estimate),
            "low": f(self.low),
            "high": f(self.high),
            "n_champion": self.n_champion,
            "n_challenger": self.n_challenger,
            "paired": self.paired,
            "ready": self.ready,
            "method": "normal-mixture confidence sequence",
        }


class SequentialComparison:
    """Challenger minus champion on per-record scores (higher is better), always valid.

    Feed paired scores with :meth:`add_pair` (both models scored the same record) or
    independent ones with :meth:`add`; ``interval()`` is valid at any time. Not
    thread-safe: the caller holds a lock.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        paired: bool,
        min_samples: int = 100,
        tuned_at: int = 1000,
        bounded: bool = False,
    ) -> None:
        self.alpha, self.paired, self.min_samples = alpha, paired, min_samples
        self.tuned_at, self.bounded = max(tuned_at, min_samples), bounded
        self.champion, self.challenger, self.diff = RunningMean(), RunningMean(), RunningMean()
        self.g2: float | None = None

    def add(self, role: str, score: float) -> None:
        (self.challenger if role == "challenger" else self.champion).add(score)

    def add_pair(self, challenger: float, champion: float) -> None:
        self.challenger.add(challenger)
        self.champion.add(champion)
        self.diff.add(challenger - champion)

    def _tau2(self, n: int | None = None) -> float:
        """The estimate's variance with ``n`` records per side (default: as observed)."""
        b = self.bounded
        if self.paired:
            return self.diff.variance(bounded=b) / (n or self.diff.n)
        a, c = self.champion, self.challenger
        return a.variance(bounded=b) / (n or a.n) + c.variance(bounded=b) / (n or c.n)

    def interval(self) -> Interval:
        n_a, n_b = self.champion.n, self.challenger.n
        estimate = self.diff.mean if self.paired else self.challenger.mean - self.champion.mean
        ready = min(self.diff.n if self.paired else min(n_a, n_b), n_a, n_b) >= self.min_samples
        if not ready:
            nan = math.nan if min(n_a, n_b) == 0 else estimate
            return Interval(nan, -math.inf, math.inf, n_a, n_b, self.paired, False)
        if self.g2 is None:  # fixed once, so the mixture is a martingale from here on
            g2 = tuning(self.alpha) * self._tau2(self.tuned_at)
            self.g2 = g2 if 0 < g2 < math.inf else None
        if self.g2 is None:  # no variance yet (every score equal): nothing can be told apart
            return Interval(estimate, -math.inf, math.inf, n_a, n_b, self.paired, False)
        half = float(mixture_halfwidth(self._tau2(), self.g2, self.alpha))
        return Interval(estimate, estimate - half, estimate + half, n_a, n_b, self.paired, True)

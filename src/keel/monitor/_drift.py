"""Drift between a reference profile and a monitored window, with confidence.

Statistics that stay right at any sample size, where every peer fails somewhere:

* **An effect size with a confidence interval**, alarming only when the interval clears a
  practical threshold. A p-value answers "is there *any* difference?", and at a million
  rows every real column differs from its reference by something: a KS test flags a mean
  shift of 0.01 standard deviations. A monitor must answer "did the data move by an amount
  that matters?", a statement about an effect size and its uncertainty.
* **Binned divergences bias-corrected for window size**, so that a 500-row window and a
  5M-row window are comparable. A divergence computed from sampled proportions is
  inflated by sampling noise, the more so the smaller the window: PSI between a reference
  and a 500-row sample *of the same distribution* is about ``(bins - 1) / 500``, for ten
  bins a fifth of the usual 0.1 alarm level. Uncorrected, a score moves with traffic
  volume, not with the data.
* **Thresholds calibrated per column** from reference sub-windows of the monitored window's
  size: how far does sampling noise alone take this column's score at this window size?
  The practical threshold is the floor; a window so small that noise crosses the floor
  more than one time in a hundred raises the bar to the noise's 99th percentile.
* **False alarms controlled across columns and over time.** A per-column 5% test over 20
  columns alarms on at least one column 64% of the time with no drift at all;
  :func:`dataset_drift` applies Benjamini-Hochberg to the columns' p-values. Over time a
  monitor repeats its check every window, and a stream of 5% tests alarms every twenty
  windows. Requiring the interval's lower bound (not the point estimate) to clear a
  threshold at least as high as the null's 99th percentile bounds a stable column's
  per-check alarm rate by about 1% even for windows of a handful of rows, and in practice
  makes it vanish: none in thousands of simulated stable checks from 10 rows up.

Everything works on **binned counts**, the mergeable form a profile keeps: the numeric
bins fixed by the reference (with, per bin, the sum of its values), or the reference's top
categories followed by ``other`` and ``unseen``. No raw data is needed, and every random
draw below is a multinomial over the bins (and a normal per bin for bin sums), ``O(bins)``
whatever the row counts: comparing 20 columns with 1M-row windows on both sides takes
about 30 ms.

The statistics
--------------
``p`` are the reference proportions and ``q`` the current ones.

``psi``
    Population stability index ``sum (q - p) ln(q / p)``, the symmetrised KL divergence.
    An empty bin makes the log ratio infinite, so :data:`PSI_EPSILON` (``1e-4``) is added
    to every proportion, without renormalising: each term keeps the sign of ``q - p`` in
    both factors, so PSI stays ``>= 0``. ``1e-4`` is small next to any bin that matters (a
    decile is 0.1), and caps an unseen category's contribution near ``9.2 q``: new
    categories count as drift without a stray row dominating.
``jensen_shannon``
    Jensen-Shannon *distance*: the square root of the JS divergence in bits, in ``[0, 1]``;
    symmetric, bounded, and finite with empty bins.
``wasserstein``
    The Wasserstein-1 (earth mover's) distance ``integral |F_q - F_p|`` between the two
    samples' distributions, in units of ``scale`` (the reference standard deviation). The
    only one of the four that knows bin 3 is next to bin 4: it reads as "how far did the
    values move", in standard deviations (a mean shift of 0.2 sd reads 0.2). From bin
    counts and bin sums (profiles keep both) the integral of ``F_q - F_p`` over each bin
    is exact (:mod:`keel.monitor._wasserstein`), and ``sum_b |integral_b (F_q - F_p)|`` is
    the samples' distance itself wherever the two distributions do not cross inside a
    bin: any location shift, most scale changes, discrete values on the bins' edges.
    Where they cross inside a bin it reads lower, never higher (``detail["estimator"]``
    is ``"bin sums"``). Measured against ``scipy.stats.wasserstein_distance`` on the raw
    samples (benchmarks/monitor/bench_drift_bias.py, 20,000 rows, normal, lognormal,
    Poisson and zero-inflated data shifted by 0 to 1 sd): mean error -0.010 to 0.000.
    With counts only (a profile stored before Keel kept bin sums, or
    :func:`column_drift` without ``sums``), each bin's mass sits at a representative value
    (:func:`bin_centers`) and the distance is ``sum_i |F_q(i) - F_p(i)| (x_{i+1} - x_i)``
    over the cut points: biased either way by how the values sit in their bins (a 0.2 sd
    shift of a normal read 0.25, of a lognormal 0.47; ``"bin centres"``).
``chi2_effect``
    Cramér's V of the 2 x k contingency table, with both rows weighted equally
    (proportions rather than counts): ``V^2 = 1/2 sum (p - q)^2 / (p + q)``. On raw counts
    V depends on the windows' sizes: against a 1M-row reference a 500-row window carries a
    2000th of the table, and V shrinks by ``sqrt(500 / 1M)`` for the same shift, the very
    window-size dependence this module removes.

Bias correction
    The calibrated null says how much of a score is noise; the correction must remove it
    on the scale where the noise adds. PSI, the JS divergence and ``V^2`` are to first
    order quadratic forms in ``q - p``, scaled chi-square statistics, whose expectation
    under a shift is the true value plus the noise's ``~(bins - 1) / n`` (a noncentral
    chi-square has mean ``df + lambda``). On that scale the null mean is subtracted,
    clipped at 0, and the result mapped back: the square root for JS and V, nothing for
    PSI, where this is exactly ``score - mean(null scores)``. Wasserstein is a sum of
    ``|D_b|``, ``D_b`` the integral of ``F_q - F_p`` over bin ``b`` (or, from counts only,
    ``F_q - F_p`` at each cut point times the gap between bin centres); noise inflates
    ``|D_b|`` by ``0.8 sd(D_b)`` when nothing moved and by almost nothing once the shift
    dwarfs the noise, so no single number can be subtracted. Its correction is Efron's
    bootstrap bias correction part by part, ``2 |D_b| - E|N(D_b, Var D_b)|``, in closed
    form (the mean of a folded normal) with ``Var D_b`` from the null, the sum clipped at
    0: it removes the inflation of a real shift at any window size, and about 40% of it
    when nothing moved (the calibrated threshold covers the rest). Subtracting the null
    mean on the distance scale instead would under-report real shifts: at 500 rows it
    reads a 0.5 sd mean shift as JS 0.16 where the truth is 0.20, which this correction
    recovers. ``raw`` keeps the uncorrected score: for Wasserstein from bin sums, the
    plug-in distance of the two samples, which noise inflates (two samples of one
    distribution are some distance apart); ``score`` estimates the distance between the
    distributions they were drawn from.

Calibrated null
    Draw ``n_null`` reference windows ``Multinomial(n_reference, p)`` and current windows
    ``Multinomial(n_current, p)``, both from the reference proportions, and score each
    pair: the statistic at these window sizes when nothing changed. The reference is a
    sample too, and when it is no bigger than the current window ignoring its noise would
    understate the null and make p-values too small; when it is much bigger, this is a
    reference sub-window of the current window's size scored against the reference. The
    **p-value** is ``(1 + #{null >= observed}) / (1 + n_null)`` on the raw scores. That
    cannot go below ``1 / (1 + n_null)``, 0.005 for 200 draws, while Benjamini-Hochberg
    over 20 columns at 5% needs 0.0025 to flag a single column; so when fewer than 10 null
    draws reach the observed score, the p-value is the tail of a gamma distribution
    moment-matched to the null scores (Satterthwaite's approximation of a quadratic form,
    evaluated through the Wilson-Hilferty cube root). The gamma tail assumes a smooth
    null, so it is not used for windows too small for large-sample approximations
    (Cochran's rule: more than a fifth of the reference mass in bins where the window
    expects fewer than 5 rows; ``detail["small_window"]``). The **threshold** is
    ``max(practical, 99th percentile of the bias-corrected null)``.

Confidence interval
    A parametric bootstrap of both windows: ``Multinomial(n, (counts + 1/2) / (n + bins/2))``
    for each, the proportions smoothed by the Jeffreys half-count so that a tiny window is
    not resampled as itself (a one-row window resampled from its own proportions is always
    that row: a zero-width interval). With bin sums, each drawn bin's sum is its count
    times the side's bin mean plus normal noise of the bin's within-bin variance (spread
    from the column's variance, see :mod:`keel.monitor._wasserstein`), in the null draws
    too. Each draw is scored and bias-corrected like the observation; the interval is the
    corrected score plus the percentiles of the draws' deviations from their mean (their
    spread, centred on the corrected estimate rather than on the inflated plug-in value),
    on the additive scale for the divergences (mapped back) and on the distance for
    Wasserstein, clipped to the statistic's range. Simulated coverage of the nominal 95%
    is 93-97% for the divergences from 500 rows up. Wasserstein's interval covers the
    samples' distance (scipy on the raw values) in 99.7% of the bias benchmark's cases
    (4 shapes x 4 shifts x 20 seeds, 20,000 rows) and in at least 95% of seeded cases at
    4,000 rows (tests/monitor/test_drift_accuracy.py); it covers the distributions'
    distance (the shift itself) in 89-97% of cases for 500- to 5,000-row windows against a
    200,000-row reference, less for smaller or heavily skewed windows (81% at 100 lognormal
    rows), erring on either side.

Decisions
    :func:`column_drift` calls a column drifted when ``low > threshold`` and
    ``p_value < alpha``; :func:`dataset_drift` replaces the second condition by
    Benjamini-Hochberg significance across the columns. A window with no non-null values
    is never drifted (score ``nan``, ``detail["reason"] == "no rows"``): missing values are
    a data-quality matter, not a distribution shift. Mass in the ``unseen`` bin of a
    categorical column is drift like any other, and sets ``detail["new_categories"]``.
"""

from __future__ import annotations

import itertools
import math
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from keel._json import nulled
from keel.errors import UsageError, did_you_mean
from keel.monitor._profile_data import Bins
from keel.monitor._wasserstein import BinSide, bin_integrals, draw_windows, prepare

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "PSI_EPSILON",
    "DriftResult",
    "bin_centers",
    "column_drift",
    "dataset_drift",
]

FloatArray = npt.NDArray[np.float64]
Kind = Literal["numeric", "categorical"]

METHODS: Final = ("wasserstein", "psi", "jensen_shannon", "chi2_effect")
"""The drift statistics :func:`column_drift` computes."""

PSI_EPSILON: Final = 1e-4
"""Added to every proportion in PSI so that an empty bin has a finite log ratio."""

DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "wasserstein": 0.1,
        "psi": 0.1,
        "jensen_shannon": 0.1,
        "chi2_effect": 0.1,
    }
)
"""The practical threshold per method: the smallest change worth an alarm.

For scale, what each means for N(0, 1) binned at deciles (a mean shift, in sd) and for a
categorical column with shares 40/30/15/10/5% (points of share moved from the first level
to the fourth):

* ``wasserstein`` 0.1: values moved by a tenth of a reference standard deviation on
  average (a 0.1 sd mean shift: the score is the distance itself, computed from bin
  sums): half of Cohen's "small" effect, the smallest move of a feature that plausibly
  changes a model's output. (The bin-centre estimate, biased, read a 0.2 sd shift as
  anything from 0.01 for Poisson counts to 0.47 for lognormal values.)
* ``psi`` 0.1: the industry convention (below 0.1 "no significant change", 0.1 to 0.25
  "investigate", above 0.25 "major shift"), kept so that scores read as users expect:
  a 0.32 sd mean shift, or 10 points of share.
* ``jensen_shannon`` 0.1: a common default of drift tools for the JS distance: a 0.24 sd
  mean shift, or 7 points of share.
* ``chi2_effect`` 0.1: Cohen's "small" Cramér's V: a 0.21 sd mean shift, or 6 points of
  share (``V^2`` is close to ``PSI / 4`` for small shifts).
"""

_DEFAULT_METHOD: Final[Mapping[str, str]] = MappingProxyType(
    {"numeric": "wasserstein", "categorical": "jensen_shannon"}
)
_NULL_QUANTILE: Final = 0.99  # the calibrated threshold: noise crosses it 1 time in 100
_TAIL_EXCEEDANCES: Final = 10  # fewer null draws at or above the score: use the gamma tail
_JEFFREYS: Final = 0.5  # half-count added to every bin before resampling a window
_MIN_DRAWS: Final = 10


@dataclass(frozen=True)
class DriftResult:
    """The drift of one column: an effect size, its interval, and the decision.

    ``score`` is the bias-corrected effect size, ``[low, high]`` its confidence interval,
    ``threshold`` the level ``low`` must clear (the practical threshold or the null's 99th
    percentile at this window size, whichever is higher), ``p_value`` the share of
    calibrated null draws at least as large as the raw score (a fitted tail beyond the
    draws), and ``raw`` the uncorrected score. ``drifted`` is
    ``low > threshold and p_value < alpha`` from :func:`column_drift`, and uses
    Benjamini-Hochberg across columns once the results have passed through
    :func:`dataset_drift`.
    """

    column: str
    method: str
    score: float
    low: float
    high: float
    threshold: float
    p_value: float
    drifted: bool
    raw: float
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one column's drift (non-finite numbers as ``null``)."""
        return {
            "column": self.column,
            "method": self.method,
            "score": nulled(self.score),
            "low": nulled(self.low),
            "high": nulled(self.high),
            "threshold": nulled(self.threshold),
            "p_value": nulled(self.p_value),
            "drifted": self.drifted,
            "raw": nulled(self.raw),
            "detail": nulled(dict(self.detail)),
        }


@dataclass(frozen=True)
class _Statistic:
    """A drift statistic, split so that its sampling noise can be measured and removed.

    ``parts(P, Q)`` maps reference and current proportions (one distribution per row) to
    components, ``raw`` maps components to the uncorrected score, ``noise`` summarises the
    components of the calibrated null draws, and ``corrected(parts, noise)`` gives the
    bias-corrected value on the scale where the interval is formed; ``to_score`` (monotone)
    maps that scale to the score, whose largest possible value is ``upper``.
    """

    parts: Callable[[FloatArray, FloatArray], FloatArray]
    raw: Callable[[FloatArray], FloatArray]
    noise: Callable[[FloatArray], FloatArray]
    corrected: Callable[[FloatArray, FloatArray], FloatArray]
    to_score: Callable[[FloatArray], FloatArray]
    upper: float


def bin_centers(bins: Bins) -> FloatArray:
    """A representative value for each numeric bin of ``bins``: the one bin-centre rule.

    Inner bins get their midpoint. The two outer bins are open (``(-inf, edges[0])`` and
    ``[edges[-1], inf)``), so they are anchored at the reference's minimum and maximum
    (``bins.low``, ``bins.high``) when those lie beyond the edges: the outer centre is the
    midpoint between the extreme and the edge. Otherwise the outer bin is taken to end half
    the average bin width beyond its edge (half of 1 with a single edge), and is centred
    between there and the edge. With no edge at all, the one bin is centred at the minimum
    (0 without one). The Wasserstein statistic of :func:`column_drift` places each bin's
    mass here when it has counts only (a profile stored before profiles kept bin sums);
    with bin sums it needs no representative value.
    """
    edges = list(bins.edges)
    if not edges:
        return np.array([bins.low if bins.low is not None else 0.0])
    width = (edges[-1] - edges[0]) / max(len(edges) - 1, 1) or 1.0
    low = bins.low if bins.low is not None and bins.low < edges[0] else edges[0] - width / 2
    high = bins.high if bins.high is not None and bins.high > edges[-1] else edges[-1] + width / 2
    points = [low, *edges, high]
    return np.array([(a + b) / 2 for a, b in itertools.pairwise(points)])


# -- statistics on proportions, one distribution per row ------------------------------------


def _row_sums(terms: FloatArray) -> FloatArray:
    """One column holding each row's sum."""
    return np.asarray(terms.sum(axis=1), dtype=np.float64)[:, None]


def _psi(p: FloatArray, q: FloatArray) -> FloatArray:
    ratio = np.log((q + PSI_EPSILON) / (p + PSI_EPSILON))
    return _row_sums((q - p) * ratio)


def _xlog2(x: FloatArray, y: FloatArray) -> FloatArray:
    """``x * log2(x / y)``, 0 where ``x`` is 0."""
    safe_x = np.where(x > 0, x, 1.0)
    safe_y = np.where(x > 0, y, 1.0)
    return np.where(x > 0, x * np.log2(safe_x / safe_y), 0.0)


def _js_divergence(p: FloatArray, q: FloatArray) -> FloatArray:
    m = (p + q) / 2
    return np.clip(0.5 * _row_sums(_xlog2(p, m) + _xlog2(q, m)), 0.0, 1.0)


def _v_squared(p: FloatArray, q: FloatArray) -> FloatArray:
    total = p + q
    safe = np.where(total > 0, total, 1.0)
    terms = np.where(total > 0, (p - q) ** 2 / safe, 0.0)
    return np.clip(0.5 * _row_sums(terms), 0.0, 1.0)


def _divergence(
    divergence: Callable[[FloatArray, FloatArray], FloatArray],
    to_score: Callable[[FloatArray], FloatArray],
    upper: float,
) -> _Statistic:
    """A divergence whose noise adds to it: subtract the null mean, clip at 0."""

    def raw(parts: FloatArray) -> FloatArray:
        return to_score(parts[:, 0])

    def noise(null_parts: FloatArray) -> FloatArray:
        return np.asarray(np.mean(null_parts, axis=0), dtype=np.float64)

    def corrected(parts: FloatArray, noise: FloatArray) -> FloatArray:
        return np.asarray(np.maximum(parts[:, 0] - noise[0], 0.0), dtype=np.float64)

    return _Statistic(divergence, raw, noise, corrected, to_score, upper)


def _identity(values: FloatArray) -> FloatArray:
    return values


def _erf(x: FloatArray) -> FloatArray:
    """The error function for ``x >= 0`` (Abramowitz & Stegun 7.1.26, error < 1.5e-7)."""
    t = 1 / (1 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return 1 - poly * np.exp(-x * x)


def _wasserstein(parts: Callable[[FloatArray, FloatArray], FloatArray]) -> _Statistic:
    """Wasserstein-1 as ``sum |parts|``, Efron-corrected part by part.

    ``parts`` are the signed pieces of the distance in units of the scale: ``F_q - F_p`` at
    each cut point times the gap between bin centres, or the integral of ``F_q - F_p``
    over each bin (:mod:`keel.monitor._wasserstein`).
    """

    def raw(parts: FloatArray) -> FloatArray:
        return np.asarray(np.abs(parts).sum(axis=1), dtype=np.float64)

    def noise(null_parts: FloatArray) -> FloatArray:
        return np.asarray(np.mean(null_parts**2, axis=0), dtype=np.float64)  # Var of each part

    def corrected(parts: FloatArray, noise: FloatArray) -> FloatArray:
        # E|D| for D ~ N(d, s^2) is s sqrt(2/pi) exp(-d^2 / 2s^2) + d erf(d / (s sqrt 2)); the
        # bootstrap's bias estimate at the observed d is that minus d.
        d, s = np.abs(parts), np.sqrt(np.maximum(noise, 1e-24))
        folded = s * math.sqrt(2 / math.pi) * np.exp(-0.5 * (d / s) ** 2) + d * _erf(
            d / (s * math.sqrt(2))
        )
        return np.asarray(np.maximum((2 * d - folded).sum(axis=1), 0.0), dtype=np.float64)

    return _Statistic(parts, raw, noise, corrected, _identity, math.inf)


def _wasserstein_centres(centers: FloatArray, scale: float) -> _Statistic:
    """Each bin's mass at its centre: ``F_q - F_p`` at each cut point times the gap."""
    weights = np.diff(centers) / scale

    def parts(p: FloatArray, q: FloatArray) -> FloatArray:
        return np.asarray(np.cumsum(q - p, axis=1)[:, :-1] * weights, dtype=np.float64)

    return _wasserstein(parts)


def _wasserstein_sums(edges: FloatArray, scale: float) -> _Statistic:
    """Exact per-bin integrals of ``F_q - F_p`` from bin counts and sums (centred)."""

    def parts(p: FloatArray, q: FloatArray) -> FloatArray:
        return bin_integrals(p, q, edges) / scale

    return _wasserstein(parts)


_STATISTICS: Final[Mapping[str, _Statistic]] = MappingProxyType(
    {
        "psi": _divergence(_psi, _identity, math.inf),
        "jensen_shannon": _divergence(_js_divergence, np.sqrt, 1.0),
        "chi2_effect": _divergence(_v_squared, np.sqrt, 1.0),
    }
)


# -- inputs ---------------------------------------------------------------------------------


def _counts(values: npt.ArrayLike, name: str, column: str) -> npt.NDArray[np.int64]:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a != np.round(a)):
        raise UsageError(
            f"column_drift({column!r}): {name} must be a non-empty vector of non-negative "
            f"whole counts, got {np.asarray(values).ravel()[:12].tolist()}.",
            hint="Pass the bin counts of a profile, not proportions or raw values.",
        )
    return a.astype(np.int64)


def _resolve_method(column: str, kind: str, method: str | None) -> str:
    if kind not in _DEFAULT_METHOD:
        raise UsageError(
            f"column_drift({column!r}): unknown kind {kind!r}.",
            hint=did_you_mean(kind, _DEFAULT_METHOD),
        )
    chosen = _DEFAULT_METHOD[kind] if method is None else method
    if chosen not in METHODS:
        raise UsageError(
            f"column_drift({column!r}): unknown drift method {chosen!r}.",
            hint=did_you_mean(chosen, METHODS),
        )
    if chosen == "wasserstein" and kind == "categorical":
        raise UsageError(
            f"column_drift({column!r}): 'wasserstein' needs ordered numeric bins, and this "
            "column is categorical.",
            hint="Use 'jensen_shannon', 'psi' or 'chi2_effect' for categorical columns.",
        )
    return chosen


def _check_options(
    column: str,
    *,
    n_null: int,
    n_ci: int,
    confidence: float,
    alpha: float,
    threshold: float | None,
) -> None:
    problems = []
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        problems.append(f"threshold must be a finite number >= 0 (got {threshold})")
    if n_null < _MIN_DRAWS or n_ci < _MIN_DRAWS:
        problems.append(f"n_null and n_ci must be at least {_MIN_DRAWS} (got {n_null}, {n_ci})")
    if not 0 < confidence < 1:
        problems.append(f"confidence must be in (0, 1) (got {confidence})")
    if not 0 < alpha < 1:
        problems.append(f"alpha must be in (0, 1) (got {alpha})")
    if problems:
        raise UsageError(
            f"column_drift({column!r}): " + "; ".join(problems) + ".",
            hint="The defaults (n_null=200, n_ci=200, confidence=0.95, alpha=0.05, the "
            "method's DEFAULT_THRESHOLDS) suit most monitors.",
        )


def _wasserstein_for(
    column: str, p: FloatArray, centers: npt.ArrayLike | None, scale: float | None
) -> tuple[_Statistic, float]:
    if centers is None:
        raise UsageError(
            f"column_drift({column!r}): 'wasserstein' needs a representative value per bin.",
            hint="Pass centers=bin_centers(bins) with the reference's bins.",
        )
    x = np.asarray(centers, dtype=np.float64).ravel()
    if x.shape != p.shape or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise UsageError(
            f"column_drift({column!r}): centers must be {p.size} finite, strictly "
            f"increasing values (one per bin), got {x[:12].tolist()}.",
            hint="Pass centers=bin_centers(bins) with the reference's bins.",
        )
    if scale is None or not math.isfinite(scale) or scale <= 0:
        mean = float(p @ x)
        scale = math.sqrt(float(p @ (x - mean) ** 2))  # the binned reference sd
        if scale <= 0:  # a constant reference: measure in bin widths instead
            scale = float(np.mean(np.diff(x))) if x.size > 1 else 1.0
    return _wasserstein_centres(x, scale), scale


def _wasserstein_of_sums(
    column: str,
    ref: npt.NDArray[np.int64],
    cur: npt.NDArray[np.int64],
    *,
    edges: npt.ArrayLike | None,
    sums: tuple[npt.ArrayLike, npt.ArrayLike],
    variances: tuple[float, float] | None,
    scale: float | None,
) -> tuple[_Statistic, _Layout, float]:
    """The exact binned Wasserstein statistic, the windows it reads, and its scale."""
    binned = prepare(column, ref, cur, edges=edges, sums=sums, variances=variances, scale=scale)
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    layout = _Layout(
        np.concatenate([ref / n_ref, binned.sums[0] / n_ref])[None, :],
        np.concatenate([cur / n_cur, binned.sums[1] / n_cur])[None, :],
        binned.sides,
    )
    return _wasserstein_sums(binned.edges, binned.scale), layout, binned.scale


# -- the calibrated null, the p-value and the interval --------------------------------------


def _gamma_tail(value: float, null: FloatArray) -> float | None:
    """``P(X >= value)`` for a gamma moment-matched to ``null``; ``None`` when degenerate."""
    mean, var = float(np.mean(null)), float(np.var(null))
    if mean <= 0 or var <= 1e-30 * mean * mean:
        return None
    shape = mean * mean / var
    # Wilson-Hilferty: (X / mean)^(1/3) is close to normal for a gamma with this shape.
    s2 = 1 / (9 * shape)
    z = ((value / mean) ** (1 / 3) - (1 - s2)) / math.sqrt(s2)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _smoothed(counts: npt.NDArray[np.int64]) -> FloatArray:
    """The add-half (Jeffreys) smoothed proportions a window is resampled from."""
    n = int(counts.sum())
    return np.asarray((counts + _JEFFREYS) / (n + _JEFFREYS * counts.size), dtype=np.float64)


@dataclass(frozen=True)
class _Layout:
    """What a statistic reads of a window: the observed windows (one row each), and how more
    are drawn: bin proportions only, or (``sides`` given) proportions and bin sums."""

    reference: FloatArray
    current: FloatArray
    sides: tuple[BinSide, BinSide] | None = None

    def draw(
        self, rng: np.random.Generator, n: int, probs: FloatArray, size: int, side: int
    ) -> FloatArray:
        """``size`` windows of ``n`` rows from ``probs``, bin sums drawn like side ``side``'s
        (0 the reference, 1 the current)."""
        chosen = None if self.sides is None else self.sides[side]
        return _DRAWS.draw(rng, n, probs, size, chosen)


class _DrawMemo:
    """Draws already made, by the generator's state and the draw's arguments.

    A draw is a pure function of the generator's state before it and its arguments, so a
    remembered draw (with the state after it) is exactly the draw made again. The first
    draws of a column's stream depend on the reference only (its seed is the seed and the
    column name), so a report's windows share them: measuring 90 windows against one
    reference makes each column's reference draws once, not 90 times. Bounded (least
    recently used out) and thread-safe: the UI measures from worker threads.
    """

    def __init__(self, size: int) -> None:
        import threading
        from collections import OrderedDict

        self._size = size
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[Any, ...], tuple[FloatArray, Any]]
        self._found = OrderedDict()
        self.hits = 0
        """Draws answered from memory (tests read it)."""

    def clear(self) -> None:
        """Forget every draw (tests compare with draws made afresh)."""
        with self._lock:
            self._found.clear()

    def draw(
        self,
        rng: np.random.Generator,
        n: int,
        probs: FloatArray,
        size: int,
        side: BinSide | None,
    ) -> FloatArray:
        state = rng.bit_generator.state
        key = (
            repr(state),
            n,
            size,
            probs.dtype.str,
            probs.tobytes(),
            None if side is None else (side.means.tobytes(), side.variances.tobytes()),
        )
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                self.hits += 1
        if found is not None:
            rng.bit_generator.state = found[1]
            return found[0].copy()
        if side is None:
            drawn = np.asarray(rng.multinomial(n, probs, size=size) / n, dtype=np.float64)
        else:
            drawn = draw_windows(rng, n, probs, size, side)
        with self._lock:
            self._found[key] = (drawn.copy(), rng.bit_generator.state)
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        return drawn


_DRAWS: Final = _DrawMemo(512)


def _small_window(p: FloatArray, n_current: int) -> bool:
    """Too few rows for large-sample approximations (Cochran's rule, weighted by mass).

    More than a fifth of the reference's mass sits in bins where the current window is
    expected to hold fewer than 5 rows.
    """
    return float(np.sum(p[n_current * p < 5])) > 0.2


def _p_value(raw: float, null: FloatArray, *, tail: bool) -> float:
    exceed = int(np.count_nonzero(null >= raw * (1 - 1e-9)))
    empirical = (1 + exceed) / (1 + null.size)
    if exceed >= _TAIL_EXCEEDANCES or not tail:
        return empirical
    smooth = _gamma_tail(raw, null)
    return empirical if smooth is None else max(smooth, sys.float_info.min)


def _interval(
    stat: _Statistic, point: float, draws: FloatArray, *, confidence: float
) -> tuple[float, float]:
    """The corrected value plus the percentiles of the bootstrap draws around their mean.

    Formed on the statistic's correction scale (the divergence itself for PSI, JS and V,
    where the spread is closest to symmetric), mapped to the score, clipped to its range.
    The interval always contains the score.
    """
    levels = [(1 - confidence) / 2, (1 + confidence) / 2]
    ends = point + np.quantile(draws - np.mean(draws), levels)
    lo, hi = stat.to_score(np.maximum(np.append(ends, point), 0.0))[[0, 1]]
    score = float(stat.to_score(np.array([point]))[0])
    return max(min(float(lo), score), 0.0), min(max(float(hi), score), stat.upper)


def _no_rows(
    column: str, method: str, threshold: float, n_reference: int, n_current: int
) -> DriftResult:
    which = "reference" if n_reference == 0 else "current"
    nan = float("nan")
    return DriftResult(
        column=column,
        method=method,
        score=nan,
        low=nan,
        high=nan,
        threshold=threshold,
        p_value=nan,
        drifted=False,
        raw=nan,
        detail={
            "reason": "no rows",
            "message": f"the {which} window has no non-null values; nulls are a "
            "data-quality check, not drift",
            "n_reference": n_reference,
            "n_current": n_current,
            "practical_threshold": threshold,
        },
    )


def column_drift(
    column: str,
    kind: Kind,
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    centers: npt.ArrayLike | None = None,
    scale: float | None = None,
    edges: npt.ArrayLike | None = None,
    sums: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    variances: tuple[float, float] | None = None,
    method: str | None = None,
    threshold: float | None = None,
    n_null: int = 200,
    n_ci: int = 200,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> DriftResult:
    """The drift of one column from its reference bin counts to the current ones.

    ``reference`` and ``current`` are counts over the same bins: for a numeric column the
    bins cut by the reference's edges, for a categorical column the reference's top levels
    followed by ``other`` and ``unseen``. ``method`` defaults to ``"wasserstein"`` for
    numeric columns and ``"jensen_shannon"`` for categorical ones. ``threshold`` is the
    practical floor, defaulting to :data:`DEFAULT_THRESHOLDS` for the method.

    Wasserstein is measured in units of ``scale``, the reference standard deviation. Given
    ``sums`` (each side's sum of values per bin) and the inner ``edges``, it is the exact
    distance of the binned values wherever the two distributions do not cross inside a
    bin (``detail["estimator"] == "bin sums"``); ``variances`` (each side's variance of
    its values, :attr:`ColumnProfile.variance`) give the within-bin noise of the interval
    and the default ``scale``. With counts only, each bin's mass sits at ``centers`` (one
    value per bin, see :func:`bin_centers`): biased, kept for profiles without sums
    (``"bin centres"``); ``scale`` then defaults to the binned reference's sd.
    :func:`column_profile_drift` passes all of this from two profiles.

    ``n_null`` calibrated null draws give the p-value, the bias and the calibrated
    threshold; ``n_ci`` bootstrap draws give the ``confidence`` interval. Results are
    reproducible for a given ``seed`` and column name. See the module documentation for
    the design; the result is ``drifted`` when ``low > threshold`` and ``p_value < alpha``.
    """
    chosen = _resolve_method(column, kind, method)
    _check_options(
        column, n_null=n_null, n_ci=n_ci, confidence=confidence, alpha=alpha, threshold=threshold
    )
    ref, cur = _counts(reference, "reference", column), _counts(current, "current", column)
    if ref.shape != cur.shape:
        raise UsageError(
            f"column_drift({column!r}): reference has {ref.size} bins and current {cur.size}.",
            hint="Bin the current window with the reference's edges or levels.",
        )
    practical = DEFAULT_THRESHOLDS[chosen] if threshold is None else float(threshold)
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    if n_ref == 0 or n_cur == 0:
        return _no_rows(column, chosen, practical, n_ref, n_cur)
    p, q = ref / n_ref, cur / n_cur
    detail: dict[str, Any] = {"n_reference": n_ref, "n_current": n_cur}
    layout = _Layout(p[None, :], q[None, :])
    if chosen != "wasserstein":
        stat = _STATISTICS[chosen]
    elif sums is None:
        stat, detail["scale"] = _wasserstein_for(column, p, centers, scale)
        detail["estimator"] = "bin centres"
    else:
        stat, layout, detail["scale"] = _wasserstein_of_sums(
            column, ref, cur, edges=edges, sums=sums, variances=variances, scale=scale
        )
        detail["estimator"] = "bin sums"
    if kind == "categorical":
        detail["unseen_share"] = float(q[-1])
        detail["new_categories"] = bool(cur[-1] > 0)

    rng = np.random.default_rng([seed, zlib.crc32(column.encode())])
    null_parts = stat.parts(
        layout.draw(rng, n_ref, p, n_null, 0), layout.draw(rng, n_cur, p, n_null, 0)
    )
    noise = stat.noise(null_parts)
    observed = stat.parts(layout.reference, layout.current)
    raw = float(stat.raw(observed)[0])
    point = float(stat.corrected(observed, noise)[0])
    score = float(stat.to_score(np.array([point]))[0])
    draws = stat.parts(
        layout.draw(rng, n_ref, _smoothed(ref), n_ci, 0),
        layout.draw(rng, n_cur, _smoothed(cur), n_ci, 1),
    )
    low, high = _interval(stat, point, stat.corrected(draws, noise), confidence=confidence)
    null_scores = stat.to_score(stat.corrected(null_parts, noise))
    null_q = float(np.quantile(null_scores, _NULL_QUANTILE))
    small = _small_window(p, n_cur)
    p_value = _p_value(raw, stat.raw(null_parts), tail=not small)
    calibrated = max(practical, null_q)
    detail |= {
        "bias": raw - score,
        "practical_threshold": practical,
        "null_q99": null_q,
        "confidence": confidence,
        "small_window": small,
    }
    return DriftResult(
        column=column,
        method=chosen,
        score=score,
        low=low,
        high=high,
        threshold=calibrated,
        p_value=p_value,
        drifted=bool(low > calibrated and p_value < alpha),
        raw=raw,
        detail=detail,
    )


def _bh_adjusted(p_values: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (``q <= alpha`` is the step-up rejection)."""
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def dataset_drift(
    results: Sequence[DriftResult], *, alpha: float = 0.05
) -> tuple[list[DriftResult], dict[str, Any]]:
    """Decide drift across columns, controlling the false discovery rate at ``alpha``.

    Benjamini-Hochberg runs over the columns' p-values (a column without rows counts as
    ``p = 1``); a column is drifted iff it is BH-significant *and* its interval's lower
    bound clears its threshold. Returns the results with ``drifted`` decided this way (and
    ``detail["q_value"]``, the BH-adjusted p-value), and a summary: ``drifted`` (any
    column), ``share`` of drifted columns, ``columns``, ``drifted_columns`` and ``alpha``.
    """
    if not 0 < alpha < 1:
        raise UsageError(
            f"dataset_drift: alpha must be in (0, 1), got {alpha}.",
            hint="alpha is the false discovery rate across columns; 0.05 is usual.",
        )
    p = np.array([r.p_value if math.isfinite(r.p_value) else 1.0 for r in results], dtype=float)
    adjusted = _bh_adjusted(p) if p.size else p
    decided = [
        replace(
            r,
            drifted=bool(q <= alpha and r.low > r.threshold),
            detail=r.detail | {"q_value": float(q)},
        )
        for r, q in zip(results, adjusted, strict=True)
    ]
    names = [r.column for r in decided if r.drifted]
    summary: dict[str, Any] = {
        "drifted": bool(names),
        "share": len(names) / len(decided) if decided else 0.0,
        "columns": len(decided),
        "drifted_columns": names,
        "alpha": alpha,
    }
    return decided, summary


# -- drift of whole profiles ---------------------------------------------------------------

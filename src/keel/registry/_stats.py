"""Paired comparisons of two models on the same rows: the statistics behind gates.

A gate asks "is the candidate at least as good as the champion?" Comparing two headline
numbers computed on the evaluation set ignores how noisy they are: on 500 rows an AUC of
0.81 against 0.80 is well within chance. Both models were scored on the *same* rows, so
their errors are correlated, and a paired analysis removes the shared row-to-row noise: it
gives a much narrower interval for the difference than two independent intervals would.
Every function here returns a :class:`PairedComparison`: both point estimates, their
difference ``candidate - baseline``, a confidence interval for that difference, and a
p-value when a test applies.

Three methods, each chosen where it fits:

``delong`` (AUC)
    DeLong, DeLong & Clarke-Pearson (1988) express each AUC as a two-sample U-statistic
    and estimate the covariance of two AUCs measured on the same rows from their
    *structural components*: ``V10[i]``, the share of negatives that positive ``i`` outranks,
    and ``V01[j]``, the share of positives that outrank negative ``j`` (ties count one
    half). With ``m`` positives and ``n`` negatives::

        Var(AUC_c - AUC_b) = Var_i(V10_c[i] - V10_b[i]) / m + Var_j(V01_c[j] - V01_b[j]) / n

    (sample variances), which equals the familiar ``L S L'`` form with ``S = S10/m + S01/n``.
    The components come from mid-ranks (Sun & Xu 2014), so the cost is ``O(n log n)``
    rather than ``O(m n)``. The test is ``z = delta / sd`` against the normal, two-sided;
    the interval is ``delta ± z * sd`` with ``z`` the normal quantile for the confidence.

``mcnemar`` (accuracy)
    Only rows where the models disagree about correctness carry information: ``b`` rows
    only the baseline gets right, ``c`` rows only the candidate gets right. Under "equal
    accuracy" each discordant row is a fair coin, so the p-value is the exact two-sided
    binomial test of ``c`` out of ``b + c`` when ``b + c < 25``, and otherwise the
    chi-square statistic with continuity correction ``(max(|b - c| - 1, 0))² / (b + c)``
    on one degree of freedom. (The ``max`` only matters when ``b == c``, where it gives
    ``p = 1`` instead of a value just below it.) The interval for the accuracy difference
    ``d = (c - b) / N`` is the Wald interval for paired proportions,
    ``d ± z sqrt(((b + c)/N - d²) / N)``: simple and adequate at evaluation-set sizes,
    though it narrows to ``[0, 0]`` when no row is discordant.

``paired_bootstrap`` (every other metric)
    Resample the rows with replacement ``n_boot`` times and compute *both* models' metric
    on the same resampled rows in each replicate, so the row-level correlation is kept.
    The interval is the percentile interval of the replicate differences; there is no
    p-value (``p_value`` is ``None``). Replicates where the metric is undefined (an AUC
    on a resample holding one class) are dropped. When both models predict the same, every
    replicate difference is exactly zero and so is the interval.

:func:`compare` picks among them: ``auc`` → DeLong, ``accuracy`` → McNemar, anything else
→ paired bootstrap. Only NumPy and the standard library are used at run time (the normal
and chi-square tails come from :mod:`statistics` and :func:`math.erfc`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from keel.errors import UsageError, did_you_mean
from keel.models import METRICS, Metric
from keel.models import metric as lookup

__all__ = [
    "Method",
    "PairedComparison",
    "compare",
    "delong",
    "mcnemar",
    "paired_bootstrap",
]

Array = npt.NDArray[Any]
Method = Literal["auto", "paired-bootstrap", "delong", "mcnemar"]

_AUTO: dict[str, Method] = {"auc": "delong", "accuracy": "mcnemar"}
_EXACT_BELOW = 25  # discordant pairs under this use the exact binomial test


@dataclass(frozen=True)
class PairedComparison:
    """Two models' values of one metric on the same rows, and their difference.

    ``delta`` is ``candidate - baseline`` in the metric's own units (for a lower-is-better
    metric such as RMSE a negative delta is an improvement); ``low`` and ``high`` bound it
    at the requested confidence. ``p_value`` is two-sided for "no difference" and ``None``
    for the bootstrap. Undefined values (an AUC on rows of one class) are ``nan``.
    """

    metric: str
    baseline: float
    candidate: float
    delta: float
    low: float
    high: float
    p_value: float | None
    method: str


# -- DeLong ----------------------------------------------------------------------------------
def delong(
    y_true: npt.ArrayLike,
    base_score: npt.ArrayLike,
    cand_score: npt.ArrayLike,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare two correlated AUCs (DeLong et al. 1988, fast form of Sun & Xu 2014).

    ``y_true`` holds binary labels (1 is the positive class, as for ``METRICS["auc"]``);
    the scores are the models' positive-class probabilities (any monotone score works).
    """
    z = _z_value(confidence)
    y = _as_array(y_true, "y_true")
    base = _as_array(base_score, "base_score", len(y)).astype(float)
    cand = _as_array(cand_score, "cand_score", len(y)).astype(float)
    auc = METRICS["auc"]
    base_auc, cand_auc = auc.fn(y, None, base), auc.fn(y, None, cand)
    delta = cand_auc - base_auc
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if math.isnan(delta) or m < 2 or n < 2:  # one class, or too few rows for a variance
        return PairedComparison(
            "auc", base_auc, cand_auc, delta, math.nan, math.nan, None, "delong"
        )
    v10_b, v01_b = _structural_components(base[positive], base[~positive])
    v10_c, v01_c = _structural_components(cand[positive], cand[~positive])
    variance = float(np.var(v10_c - v10_b, ddof=1) / m + np.var(v01_c - v01_b, ddof=1) / n)
    sd = math.sqrt(max(variance, 0.0))
    if sd == 0.0:  # the scores rank every pair alike: no uncertainty left in the difference
        p_value = 1.0 if delta == 0 else 0.0
    else:
        p_value = math.erfc(abs(delta) / sd / math.sqrt(2))
    return PairedComparison(
        "auc", base_auc, cand_auc, delta, delta - z * sd, delta + z * sd, p_value, "delong"
    )


def _structural_components(positives: Array, negatives: Array) -> tuple[Array, Array]:
    """DeLong's ``V10`` (per positive) and ``V01`` (per negative) from mid-ranks."""
    m, n = len(positives), len(negatives)
    combined = _midranks(np.concatenate([positives, negatives]))
    v10 = (combined[:m] - _midranks(positives)) / n
    v01 = 1.0 - (combined[m:] - _midranks(negatives)) / m
    return v10, v01


def _midranks(values: Array) -> Array:
    """1-based ranks with ties sharing the mean of the ranks they span, in O(n log n)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid = ends - (counts - 1) / 2.0
    result: Array = mid[inverse.reshape(-1)]
    return result


# -- McNemar ---------------------------------------------------------------------------------
def mcnemar(
    y_true: npt.ArrayLike,
    base_pred: npt.ArrayLike,
    cand_pred: npt.ArrayLike,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare two classifiers' accuracy on the same rows with McNemar's test.

    Works for any number of classes: only whether each prediction is right matters.
    """
    z = _z_value(confidence)
    y = _as_array(y_true, "y_true")
    base = _as_array(base_pred, "base_pred", len(y))
    cand = _as_array(cand_pred, "cand_pred", len(y))
    accuracy = METRICS["accuracy"]
    base_acc, cand_acc = accuracy.fn(y, base, None), accuracy.fn(y, cand, None)
    total = len(y)
    if total == 0:
        return PairedComparison(
            "accuracy", math.nan, math.nan, math.nan, math.nan, math.nan, None, "mcnemar"
        )
    base_right, cand_right = base == y, cand == y
    b = int(np.sum(base_right & ~cand_right))  # only the baseline is right
    c = int(np.sum(cand_right & ~base_right))  # only the candidate is right
    delta = (c - b) / total
    half = z * math.sqrt(max((b + c) / total - delta**2, 0.0) / total)
    return PairedComparison(
        "accuracy",
        base_acc,
        cand_acc,
        delta,
        delta - half,
        delta + half,
        _mcnemar_p(b, c),
        "mcnemar",
    )


def _mcnemar_p(b: int, c: int) -> float:
    discordant = b + c
    if discordant == 0:
        return 1.0
    if discordant < _EXACT_BELOW:  # exact: twice the smaller binomial tail, at most 1
        tail = sum(math.comb(discordant, k) for k in range(min(b, c) + 1))
        return min(1.0, 2.0 * tail / (1 << discordant))
    statistic = max(abs(b - c) - 1, 0) ** 2 / discordant
    return math.erfc(math.sqrt(statistic / 2.0))  # chi-square, 1 degree of freedom


# -- paired bootstrap ------------------------------------------------------------------------
def paired_bootstrap(
    metric: str,
    y_true: npt.ArrayLike,
    *,
    base_pred: npt.ArrayLike | None = None,
    base_score: npt.ArrayLike | None = None,
    cand_pred: npt.ArrayLike | None = None,
    cand_score: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Percentile interval of ``candidate - baseline`` over row resamples shared by both.

    Each replicate draws ``len(y_true)`` row indices with replacement and evaluates both
    models on exactly those rows. The same ``seed`` gives the same interval.
    """
    _z_value(confidence)  # validates
    if n_boot < 1:
        raise UsageError(f"n_boot must be at least 1, got {n_boot}.", hint="Use 1000 or more.")
    spec = lookup(metric)
    y = _as_array(y_true, "y_true")
    base = _inputs(spec, "base", base_pred, base_score, len(y))
    cand = _inputs(spec, "cand", cand_pred, cand_score, len(y))
    base_value, cand_value = spec.fn(y, *base), spec.fn(y, *cand)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot if len(y) else 0)
    for i in range(len(deltas)):
        rows = rng.integers(0, len(y), size=len(y))
        deltas[i] = spec.fn(y[rows], *_take(cand, rows)) - spec.fn(y[rows], *_take(base, rows))
    deltas = deltas[~np.isnan(deltas)]
    alpha = 1.0 - confidence
    if len(deltas):
        low, high = (float(q) for q in np.quantile(deltas, [alpha / 2, 1 - alpha / 2]))
    else:
        low = high = math.nan
    return PairedComparison(
        spec.name,
        base_value,
        cand_value,
        cand_value - base_value,
        low,
        high,
        None,
        "paired-bootstrap",
    )


def _inputs(
    spec: Metric,
    who: str,
    pred: npt.ArrayLike | None,
    score: npt.ArrayLike | None,
    length: int,
) -> tuple[Array | None, Array | None]:
    """One model's ``(y_pred, y_score)`` as arrays, checking the metric gets what it needs."""
    needed, given = ("score", score) if spec.needs_score else ("pred", pred)
    if given is None:
        raise UsageError(
            f"the metric {spec.name!r} needs {who}_{needed}, which was not given.",
            hint=(
                "Pass the positive-class probabilities."
                if spec.needs_score
                else "Pass the predicted labels or values."
            ),
        )
    return (
        None if pred is None else _as_array(pred, f"{who}_pred", length),
        None if score is None else _as_array(score, f"{who}_score", length),
    )


def _take(inputs: tuple[Array | None, Array | None], rows: Array) -> tuple[Array | None, ...]:
    return tuple(None if a is None else a[rows] for a in inputs)


# -- choosing ------------------------------------------------------------------------------
def compare(
    metric: str,
    y_true: npt.ArrayLike,
    *,
    base_pred: npt.ArrayLike | None = None,
    base_score: npt.ArrayLike | None = None,
    cand_pred: npt.ArrayLike | None = None,
    cand_score: npt.ArrayLike | None = None,
    method: Method = "auto",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare two models on ``metric`` with the method that fits it.

    ``method="auto"`` uses DeLong for ``auc``, McNemar for ``accuracy`` and the paired
    bootstrap otherwise; DeLong and McNemar may only be asked for by those metrics.
    """
    spec = lookup(metric)
    chosen = _AUTO.get(spec.name, "paired-bootstrap") if method == "auto" else method
    if chosen == "paired-bootstrap":
        return paired_bootstrap(
            spec.name,
            y_true,
            base_pred=base_pred,
            base_score=base_score,
            cand_pred=cand_pred,
            cand_score=cand_score,
            n_boot=n_boot,
            confidence=confidence,
            seed=seed,
        )
    fits = {"delong": "auc", "mcnemar": "accuracy"}
    if chosen not in fits:
        raise UsageError(
            f"unknown comparison method {method!r}.",
            hint=did_you_mean(str(method), ["auto", "paired-bootstrap", *fits]),
        )
    if fits[chosen] != spec.name:
        raise UsageError(
            f"the {chosen} method compares {fits[chosen]}, not {spec.name!r}.",
            hint="Use method='paired-bootstrap' (or 'auto') for this metric.",
        )
    y = _as_array(y_true, "y_true")
    base = _inputs(spec, "base", base_pred, base_score, len(y))
    cand = _inputs(spec, "cand", cand_pred, cand_score, len(y))
    index = 1 if chosen == "delong" else 0
    given_base, given_cand = base[index], cand[index]
    assert given_base is not None  # _inputs checked
    assert given_cand is not None
    if chosen == "delong":
        return delong(y, given_base, given_cand, confidence)
    return mcnemar(y, given_base, given_cand, confidence)


# -- helpers -------------------------------------------------------------------------------


def _z_value(confidence: float) -> float:
    if isinstance(confidence, bool) or not 0.0 < confidence < 1.0:
        raise UsageError(
            f"confidence must be strictly between 0 and 1, got {confidence!r}.",
            hint="Use 0.95 for a 95% interval.",
        )
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _as_array(values: npt.ArrayLike, name: str, length: int | None = None) -> Array:
    array = np.asarray(values)
    if array.ndim != 1:
        raise UsageError(
            f"{name} must be one-dimensional, got shape {array.shape}.",
            hint="Pass one value per row (for scores, the positive-class probability).",
        )
    if length is not None and len(array) != length:
        raise UsageError(
            f"{name} has {len(array)} rows but y_true has {length}.",
            hint="Both models must be scored on the same rows, in the same order.",
        )
    return array

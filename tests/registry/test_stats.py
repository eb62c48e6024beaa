"""Paired comparisons, checked against slow direct implementations and scipy."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from keel.errors import UsageError
from keel.models._metrics import METRICS
from keel.registry._stats import (
    PairedComparison,
    _midranks,
    compare,
    delong,
    mcnemar,
    paired_bootstrap,
)

Array = npt.NDArray[Any]


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def _scores(seed: int, n: int = 300, *, ties: bool = False) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = 1 / (1 + np.exp(-(y * 1.0 + rng.normal(0, 1, n))))
    cand = 1 / (1 + np.exp(-(y * 1.3 + 0.5 * base + rng.normal(0, 1, n))))  # correlated
    if ties:
        base, cand = np.round(base, 1), np.round(cand, 1)
    return y, base, cand


# -- DeLong ----------------------------------------------------------------------------------
def _slow_delong(y: Array, base: Array, cand: Array) -> tuple[float, float, float]:
    """DeLong et al. (1988) from the O(m*n) kernel: (delta, variance, two-sided p)."""
    positive = y == 1
    v10, v01, aucs = [], [], []
    for scores in (base, cand):
        x, yy = scores[positive], scores[~positive]
        psi = (x[:, None] > yy[None, :]) + 0.5 * (x[:, None] == yy[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = int(positive.sum()), int((~positive).sum())
    s = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    contrast = np.array([-1.0, 1.0])
    variance = float(contrast @ s @ contrast)
    delta = aucs[1] - aucs[0]
    p = 2 * sps.norm.sf(abs(delta) / math.sqrt(variance))
    return delta, variance, float(p)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_the_direct_structural_components(seed: int, ties: bool) -> None:
    y, base, cand = _scores(seed, n=150 + 40 * seed, ties=ties)
    result = delong(y, base, cand, confidence=0.9)
    delta, variance, p = _slow_delong(y, base, cand)
    assert result.method == "delong"
    assert result.metric == "auc"
    assert result.delta == pytest.approx(delta, abs=1e-12)
    half = (result.high - result.low) / 2
    assert (half / _z(0.9)) ** 2 == pytest.approx(variance, rel=1e-9)
    assert result.low + half == pytest.approx(delta, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_delong_reports_the_auc_metric_values() -> None:
    y, base, cand = _scores(3)
    result = delong(y, base, cand)
    assert result.baseline == METRICS["auc"].fn(y, None, base)
    assert result.candidate == METRICS["auc"].fn(y, None, cand)
    assert result.delta == result.candidate - result.baseline


def test_midranks_match_scipy() -> None:
    values = np.random.default_rng(0).integers(0, 20, 500).astype(float)
    np.testing.assert_allclose(_midranks(values), sps.rankdata(values))


def test_delong_identical_scores_have_no_difference() -> None:
    y, base, _ = _scores(1)
    result = delong(y, base, base.copy())
    assert (result.delta, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_delong_one_class_is_undefined_not_an_error() -> None:
    result = delong(np.ones(10), np.linspace(0, 1, 10), np.linspace(1, 0, 10))
    assert math.isnan(result.delta)
    assert math.isnan(result.low)
    assert result.p_value is None


# -- McNemar ---------------------------------------------------------------------------------
def _labels(b: int, c: int, both_right: int = 30, both_wrong: int = 10) -> tuple[Array, ...]:
    """Labels and predictions with b rows only the baseline gets right, c only the candidate."""
    y = np.ones(b + c + both_right + both_wrong, dtype=int)
    base = np.concatenate([np.ones(b), np.zeros(c), np.ones(both_right), np.zeros(both_wrong)])
    cand = np.concatenate([np.zeros(b), np.ones(c), np.ones(both_right), np.zeros(both_wrong)])
    return y, base.astype(int), cand.astype(int)


@pytest.mark.parametrize(("b", "c"), [(3, 9), (0, 6), (7, 7), (12, 12), (5, 18), (1, 0)])
def test_mcnemar_exact_below_25_discordant_pairs(b: int, c: int) -> None:
    y, base, cand = _labels(b, c)
    result = mcnemar(y, base, cand)
    assert result.p_value == pytest.approx(sps.binomtest(c, b + c, 0.5).pvalue, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(10, 15), (20, 40), (33, 31), (50, 50)])
def test_mcnemar_chi_square_with_continuity_correction_from_25(b: int, c: int) -> None:
    y, base, cand = _labels(b, c)
    result = mcnemar(y, base, cand)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert result.p_value == pytest.approx(sps.chi2.sf(statistic, df=1), rel=1e-9)


def test_mcnemar_accuracy_difference_and_wald_interval() -> None:
    y, base, cand = _labels(8, 20, both_right=150, both_wrong=22)
    total = len(y)
    result = mcnemar(y, base, cand, confidence=0.95)
    assert result.method == "mcnemar"
    assert result.baseline == pytest.approx(158 / total)
    assert result.candidate == pytest.approx(170 / total)
    d = 12 / total
    assert result.delta == pytest.approx(d)
    half = 1.959963984540054 * math.sqrt((28 / total - d**2) / total)
    assert (result.low, result.high) == pytest.approx((d - half, d + half))


def test_mcnemar_no_discordant_rows() -> None:
    y, base, cand = _labels(0, 0)
    result = mcnemar(y, base, cand)
    assert (result.delta, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_mcnemar_handles_many_classes() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c"])
    result = mcnemar(y, np.array(["a", "b", "a", "a", "a", "a"]), y.copy())
    assert result.delta == pytest.approx(3 / 6)
    assert result.p_value == pytest.approx(sps.binomtest(3, 3, 0.5).pvalue)


# -- swapping ----------------------------------------------------------------------------------
def _assert_negated(a: PairedComparison, b: PairedComparison) -> None:
    assert (b.baseline, b.candidate) == (a.candidate, a.baseline)
    assert b.delta == pytest.approx(-a.delta, abs=1e-12)
    assert b.low == pytest.approx(-a.high, abs=1e-9)
    assert b.high == pytest.approx(-a.low, abs=1e-9)
    assert b.p_value == pytest.approx(a.p_value, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.booleans(), st.integers(0, 8), st.integers(0, 8)), min_size=6, max_size=80
    ),
    confidence=st.floats(0.5, 0.99),
)
def test_swapping_models_negates_delong(
    rows: list[tuple[bool, int, int]], confidence: float
) -> None:
    y = np.array([r[0] for r in rows], dtype=int)
    base = np.array([r[1] for r in rows], dtype=float)  # few levels: many ties
    cand = np.array([r[2] for r in rows], dtype=float)
    forward = delong(y, base, cand, confidence)
    backward = delong(y, cand, base, confidence)
    if math.isnan(forward.delta):  # one class only
        assert math.isnan(backward.delta)
        return
    if forward.p_value is None:  # too few rows of a class for a variance
        assert backward.p_value is None
        assert backward.delta == pytest.approx(-forward.delta)
        return
    _assert_negated(forward, backward)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
        min_size=1,
        max_size=120,
    ),
    confidence=st.floats(0.5, 0.99),
)
def test_swapping_models_negates_mcnemar(
    rows: list[tuple[int, int, int]], confidence: float
) -> None:
    y, base, cand = (np.array(column) for column in zip(*rows, strict=True))
    _assert_negated(mcnemar(y, base, cand, confidence), mcnemar(y, cand, base, confidence))


# -- paired bootstrap --------------------------------------------------------------------------
def _regression(seed: int = 0, n: int = 400) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, n)
    base = y + rng.normal(0, 1.0, n)
    cand = y + rng.normal(0, 0.6, n)
    return y, base, cand


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_bootstrap_identical_predictions_give_exactly_zero(metric: str) -> None:
    y, base, _ = _regression()
    result = paired_bootstrap(metric, y, base_pred=base, cand_pred=base.copy(), n_boot=200)
    assert (result.delta, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.p_value is None
    assert result.method == "paired-bootstrap"


def test_bootstrap_identical_scores_give_exactly_zero_for_auc() -> None:
    y, base, _ = _scores(2, n=60)
    result = paired_bootstrap("auc", y, base_score=base, cand_score=base.copy(), n_boot=200)
    assert (result.low, result.high) == (0.0, 0.0)


def test_bootstrap_a_clearly_better_model_has_an_interval_on_the_good_side() -> None:
    y, base, cand = _regression()
    rmse = paired_bootstrap("rmse", y, base_pred=base, cand_pred=cand, n_boot=300)
    assert rmse.delta < 0
    assert rmse.high < 0  # lower is better: the whole interval shows an improvement
    r2 = paired_bootstrap("r2", y, base_pred=base, cand_pred=cand, n_boot=300)
    assert r2.low > 0
    assert rmse.baseline == METRICS["rmse"].fn(y, base, None)


def test_bootstrap_better_classifier_accuracy() -> None:
    y, base, cand = _scores(4, n=800)
    result = compare(
        "accuracy",
        y,
        base_pred=(base > 0.9).astype(int),
        cand_pred=(cand > 0.7).astype(int),
        method="paired-bootstrap",
        n_boot=300,
    )
    assert result.low > 0


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    y, base, cand = _regression(seed=5, n=100)

    def run(seed: int) -> PairedComparison:
        return paired_bootstrap("mae", y, base_pred=base, cand_pred=cand, n_boot=200, seed=seed)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_bootstrap_interval_widens_with_confidence() -> None:
    y, base, cand = _regression(seed=6, n=150)
    narrow = paired_bootstrap("rmse", y, base_pred=base, cand_pred=cand, confidence=0.5)
    wide = paired_bootstrap("rmse", y, base_pred=base, cand_pred=cand, confidence=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_bootstrap_drops_replicates_where_the_metric_is_undefined() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    base = np.array([0.2, 0.7, 0.4, 0.6, 0.9, 0.1])
    result = paired_bootstrap("auc", y, base_score=base, cand_score=base[::-1].copy(), n_boot=300)
    assert math.isfinite(result.low)
    assert math.isfinite(result.high)


# -- choosing and validation -------------------------------------------------------------------
def test_compare_auto_picks_the_method_that_fits() -> None:
    y, base, cand = _scores(0)
    labels: dict[str, Any] = {
        "base_pred": (base > 0.6).astype(int),
        "cand_pred": (cand > 0.6).astype(int),
    }
    assert compare("auc", y, base_score=base, cand_score=cand).method == "delong"
    assert compare("accuracy", y, **labels).method == "mcnemar"
    assert compare("f1", y, **labels, n_boot=50).method == "paired-bootstrap"
    assert compare("log_loss", y, base_score=base, cand_score=cand, n_boot=50).method == (
        "paired-bootstrap"
    )
    bootstrapped = compare("auc", y, base_score=base, cand_score=cand, method="paired-bootstrap")
    assert bootstrapped.method == "paired-bootstrap"


def test_compare_rejects_a_method_that_does_not_fit() -> None:
    y, base, cand = _scores(0)
    with pytest.raises(UsageError, match="delong method compares auc, not 'rmse'"):
        compare("rmse", y, base_pred=base, cand_pred=cand, method="delong")


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match="Did you mean 'auc'"):
        compare("acu", [0, 1], base_score=[0.1, 0.9], cand_score=[0.2, 0.8])


def test_missing_and_misaligned_inputs_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="needs cand_score"):
        compare("auc", [0, 1], base_score=[0.1, 0.9], cand_pred=[0, 1])
    with pytest.raises(UsageError, match="base_pred has 3 rows but y_true has 2"):
        compare("rmse", [0.0, 1.0], base_pred=[0.0, 1.0, 2.0], cand_pred=[0.0, 1.0])
    with pytest.raises(UsageError, match="strictly between 0 and 1"):
        delong([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], confidence=95)

"""Drift on binned counts: the formulas against scipy, and the behaviour at every size.

The reference is a real sample: a million N(0, 1) values cut at their deciles. Monitored
windows are drawn as ``Multinomial(n, bin probabilities)`` with the probabilities from the
normal CDF at the reference's edges, which is exactly the distribution of the bin counts of
``n`` binned samples, and lets a test draw hundreds of million-row windows in milliseconds.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats.contingency import association

from keel.errors import UsageError
from keel.monitor import Bins
from keel.monitor._drift import (
    DEFAULT_THRESHOLDS,
    METHODS,
    PSI_EPSILON,
    DriftResult,
    bin_centers,
    column_drift,
    dataset_drift,
)

Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_RNG = np.random.default_rng(20240601)
SAMPLE = _RNG.normal(size=1_000_000)
EDGES = np.quantile(SAMPLE, np.linspace(0.1, 0.9, 9))
CENTERS = bin_centers(Bins("x", "numeric", edges=tuple(EDGES)))
SCALE = float(np.std(SAMPLE))
REFERENCE = np.bincount(np.searchsorted(EDGES, SAMPLE, side="right"), minlength=10)

# A categorical column: five top levels, then "other" and "unseen" (empty in the reference).
SHARES = np.array([0.35, 0.25, 0.15, 0.1, 0.05, 0.1, 0.0])
MOVED = SHARES + np.array([-0.15, 0, 0, 0.15, 0, 0, 0])  # 15 points from level 0 to level 3
CAT_REFERENCE = _RNG.multinomial(1_000_000, SHARES)


def _bins(values: Floats) -> Counts:
    return np.bincount(np.searchsorted(EDGES, values, side="right"), minlength=10)


def _window(n: int, *, mean: float = 0.0, sd: float = 1.0, seed: int = 0) -> Counts:
    cdf = sps.norm.cdf(EDGES, mean, sd)
    probs = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return np.random.default_rng(seed).multinomial(n, probs)


def _numeric(current: Counts, *, column: str = "x", **options: Any) -> DriftResult:
    return column_drift(
        column, "numeric", REFERENCE, current, centers=CENTERS, scale=SCALE, **options
    )


def _categorical(shares: Floats, n: int, *, seed: int = 0, **options: Any) -> DriftResult:
    current = np.random.default_rng(seed).multinomial(n, shares)
    return column_drift("c", "categorical", CAT_REFERENCE, current, **options)


# -- the formulas ---------------------------------------------------------------------------

COUNT_PAIRS = [
    ([100, 200, 300, 400], [400, 300, 200, 100]),
    ([5, 0, 7, 1, 9], [2, 3, 0, 0, 30]),
    ([1000, 1, 1, 1000], [999, 2, 0, 1001]),
    ([1, 2, 3], [1, 2, 3]),
]


@pytest.mark.parametrize(("ref", "cur"), COUNT_PAIRS)
def test_jensen_shannon_matches_scipy(ref: list[int], cur: list[int]) -> None:
    result = column_drift("c", "categorical", ref, cur, method="jensen_shannon")
    assert result.raw == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-9)


@pytest.mark.parametrize(("ref", "cur"), COUNT_PAIRS)
def test_wasserstein_matches_scipy(ref: list[int], cur: list[int]) -> None:
    centers = np.cumsum(np.arange(1.0, len(ref) + 1))  # uneven spacing
    result = column_drift("x", "numeric", ref, cur, centers=centers, scale=2.5)
    expected = sps.wasserstein_distance(centers, centers, u_weights=ref, v_weights=cur) / 2.5
    assert result.raw == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("ref", "cur"), COUNT_PAIRS)
def test_psi_is_the_symmetrised_kl_of_the_smoothed_proportions(
    ref: list[int], cur: list[int]
) -> None:
    p = np.array(ref) / sum(ref) + PSI_EPSILON
    q = np.array(cur) / sum(cur) + PSI_EPSILON
    result = column_drift("c", "categorical", ref, cur, method="psi")
    assert result.raw == pytest.approx(float(np.sum(rel_entr(q, p) + rel_entr(p, q))), abs=1e-12)


@pytest.mark.parametrize(("ref", "cur"), COUNT_PAIRS[:2])
def test_chi2_effect_is_cramers_v_with_both_windows_weighted_equally(
    ref: list[int], cur: list[int]
) -> None:
    # With equal totals the table's V is the standard one; other totals give the same V.
    n = 1000
    p, q = np.array(ref) / sum(ref), np.array(cur) / sum(cur)
    scaled = [list(np.round(p * n * 7)), list(np.round(q * n * 7))]
    table = np.array(scaled, dtype=np.int64)
    table = table[:, table.sum(axis=0) > 0]
    expected = association(table, method="cramer")
    result = column_drift("c", "categorical", scaled[0], scaled[1], method="chi2_effect")
    assert result.raw == pytest.approx(expected, abs=1e-9)
    bigger = column_drift(
        "c", "categorical", scaled[0], np.array(scaled[1]) * 50, method="chi2_effect"
    )
    assert bigger.raw == pytest.approx(result.raw, abs=1e-12)


def _edges(*edges: float, low: float | None = None, high: float | None = None) -> Bins:
    return Bins("x", "numeric", edges=edges, low=low, high=high)


def test_bin_centers_anchor_outer_bins_at_the_reference_extremes() -> None:
    assert bin_centers(_edges(0.0, 1.0, 3.0, low=-2.0, high=5.0)).tolist() == [
        -1.0,
        0.5,
        2.0,
        4.0,
    ]
    assert bin_centers(_edges(low=7.0)).tolist() == [7.0]


def test_bin_centers_without_extremes_bound_outer_bins_half_an_average_width_out() -> None:
    assert bin_centers(_edges(0.0, 1.0, 3.0)).tolist() == [-0.375, 0.5, 2.0, 3.375]
    # an extreme that is not beyond its edge (a point mass at the minimum) does not anchor
    assert bin_centers(_edges(0.0, 1.0, 3.0, low=0.0, high=3.0)).tolist() == [
        -0.375,
        0.5,
        2.0,
        3.375,
    ]
    assert bin_centers(_edges(2.0)).tolist() == [1.75, 2.25]
    assert bin_centers(_edges()).tolist() == [0.0]
    with pytest.raises(UsageError, match="strictly increasing"):
        bin_centers(_edges(1.0, 1.0))


def test_the_bin_centre_rule_is_public_in_keel_monitor() -> None:
    import keel.monitor

    assert keel.monitor.bin_centers is bin_centers


counts_st = st.lists(st.integers(0, 10**6), min_size=2, max_size=8).filter(lambda c: sum(c) > 0)


@settings(max_examples=60, deadline=None)
@given(st.data(), counts_st, st.sampled_from(METHODS))
def test_scores_are_non_negative_and_js_is_at_most_one(
    data: st.DataObject, ref: list[int], method: str
) -> None:
    cur = data.draw(
        st.lists(st.integers(0, 10**6), min_size=len(ref), max_size=len(ref)).filter(
            lambda c: sum(c) > 0
        )
    )
    r = column_drift(
        "x", "numeric", ref, cur, centers=np.arange(len(ref)), method=method, n_null=20, n_ci=20
    )
    assert r.raw >= 0
    assert 0 <= r.low <= r.score <= r.high
    assert 0 < r.p_value <= 1
    if method in {"jensen_shannon", "chi2_effect"}:
        assert r.raw <= 1
        assert r.high <= 1


@settings(max_examples=40, deadline=None)
@given(counts_st, st.integers(1, 5), st.sampled_from(METHODS))
def test_identical_distributions_score_zero(ref: list[int], times: int, method: str) -> None:
    cur = [c * times for c in ref]
    r = column_drift(
        "x", "numeric", ref, cur, centers=np.arange(len(ref)), method=method, n_null=20, n_ci=20
    )
    assert r.raw == 0.0
    assert r.score == 0.0
    assert not r.drifted


# -- behaviour at any sample size -----------------------------------------------------------


def test_no_shift_at_a_million_rows_never_alarms() -> None:
    """20 columns x 20 seeds: p-values alone flag about 5%; the decisions flag nothing."""
    flagged, small_p = 0, 0
    for seed in range(20):
        results = [
            _numeric(_window(1_000_000, seed=100 * seed + c), column=f"x{c}", seed=seed)
            for c in range(20)
        ]
        _, summary = dataset_drift(results)
        flagged += summary["drifted"] + sum(r.drifted for r in results)
        small_p += sum(r.p_value < 0.05 for r in results)
    assert flagged == 0
    assert small_p > 0  # a per-column 5% test would have alarmed


@pytest.mark.parametrize("n", [10, 100, 500, 5000])
@pytest.mark.parametrize("method", METHODS)
def test_no_shift_never_alarms_at_small_windows_either(n: int, method: str) -> None:
    results = [_numeric(_window(n, seed=s), method=method, seed=s) for s in range(60)]
    assert not any(r.drifted for r in results)


def test_a_tiny_harmless_shift_is_not_drift_though_ks_flags_it() -> None:
    rng = np.random.default_rng(7)
    current = rng.normal(0.01, 1.0, size=1_000_000)
    assert sps.ks_2samp(SAMPLE, current).pvalue < 0.05  # "significant" at a million rows
    for method in METHODS:
        r = _numeric(_bins(current), method=method)
        assert r.p_value < 0.05, method  # the difference is real ...
        assert not r.drifted, method  # ... and too small to matter
        assert r.high < DEFAULT_THRESHOLDS[method], method


@pytest.mark.parametrize("n", [1_000_000, 5000])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("mean", "sd"), [(0.5, 1.0), (0.0, math.sqrt(2))])
def test_a_real_numeric_shift_is_drift(n: int, method: str, mean: float, sd: float) -> None:
    r = _numeric(_window(n, mean=mean, sd=sd, seed=3), method=method)
    assert r.drifted
    assert r.low > r.threshold >= DEFAULT_THRESHOLDS[method]


@pytest.mark.parametrize("n", [1_000_000, 5000])
@pytest.mark.parametrize("method", ["jensen_shannon", "psi", "chi2_effect"])
def test_category_shares_moving_15_points_is_drift(n: int, method: str) -> None:
    r = _categorical(MOVED, n, method=method)
    assert r.drifted
    assert r.detail["new_categories"] is False
    unmoved = _categorical(SHARES, n, method=method)
    assert not unmoved.drifted


@pytest.mark.parametrize("method", ["psi", "jensen_shannon", "chi2_effect"])
def test_corrected_scores_compare_across_window_sizes_and_raw_ones_do_not(method: str) -> None:
    """The same 0.1 sd shift seen through 40 windows of 500 rows and one of 500,000."""
    big = _numeric(_window(500_000, mean=0.1, seed=1), method=method)
    small = [_numeric(_window(500, mean=0.1, seed=s), method=method, seed=s) for s in range(40)]
    covered = np.mean([r.low <= big.score <= r.high for r in small])
    assert covered >= 0.85
    raw_above = np.mean([r.raw > big.raw for r in small])
    corrected_above = np.mean([r.score > big.score for r in small])
    assert raw_above >= 0.8  # raw scores are inflated at 500 rows ...
    assert 0.2 <= corrected_above <= 0.8  # ... corrected ones scatter around the truth
    raw_gap = np.median([r.raw for r in small]) - big.raw
    corrected_gap = np.median([r.score for r in small]) - big.score
    assert abs(corrected_gap) < raw_gap / 3


def test_wasserstein_correction_removes_the_inflation_of_small_windows() -> None:
    big = _numeric(_window(500_000, mean=0.2, seed=1))
    small = [_numeric(_window(500, mean=0.2, seed=s), seed=s) for s in range(40)]
    assert np.mean([r.low <= big.score <= r.high for r in small]) >= 0.85
    assert abs(np.median([r.score for r in small]) - big.score) < 0.03
    # With nothing moved, noise alone gives a 500-row window a visible raw distance.
    still = [_numeric(_window(500, seed=s), seed=s) for s in range(40)]
    raw, corrected = np.median([r.raw for r in still]), np.median([r.score for r in still])
    assert raw > 0.03
    assert corrected < 0.7 * raw


def test_benjamini_hochberg_flags_exactly_the_shifted_columns() -> None:
    shifted = {2, 7, 11, 12, 19}
    for seed in range(10):
        results = [
            _numeric(
                _window(5000, mean=0.5 if c in shifted else 0.0, seed=1000 * seed + c),
                column=f"x{c}",
                seed=seed,
            )
            for c in range(20)
        ]
        decided, summary = dataset_drift(results)
        assert {int(r.column[1:]) for r in decided if r.drifted} == shifted
        assert summary["drifted_columns"] == [f"x{c}" for c in sorted(shifted)]
        assert summary["share"] == 0.25
        assert summary["columns"] == 20
        assert summary["drifted"] is True


def test_a_single_shifted_column_among_twenty_is_found() -> None:
    """BH needs p <= 0.0025 here, below the 1/201 floor of a 200-draw Monte Carlo p-value."""
    results = [
        _numeric(_window(5000, mean=0.5 if c == 4 else 0.0, seed=c), column=f"x{c}")
        for c in range(20)
    ]
    assert results[4].p_value < 0.05 / 20
    _, summary = dataset_drift(results)
    assert summary["drifted_columns"] == ["x4"]


def _result(column: str, p_value: float, *, low: float = 0.5) -> DriftResult:
    return DriftResult(column, "psi", 0.6, low, 0.7, 0.1, p_value, True, 0.6, {})


def test_dataset_drift_is_benjamini_hochberg_and_the_threshold() -> None:
    p_values = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    results = [_result(f"c{i}", p) for i, p in enumerate(p_values)]
    results[1] = replace(results[1], low=0.05)  # significant, but not by enough to matter
    decided, summary = dataset_drift(results, alpha=0.05)
    q_values = sps.false_discovery_control(p_values, method="bh")
    assert [r.detail["q_value"] for r in decided] == pytest.approx(q_values)
    assert summary["drifted_columns"] == ["c0"]
    assert [r.drifted for r in decided] == [True] + [False] * 9
    # A lone column at p = 0.04 is drifted on its own, not among 20.
    alone = [_result("a", 0.04)] + [_result(f"b{i}", 0.5) for i in range(19)]
    assert alone[0].drifted
    assert dataset_drift(alone)[1]["drifted"] is False


def test_dataset_drift_of_nothing() -> None:
    decided, summary = dataset_drift([])
    assert decided == []
    assert summary == {
        "drifted": False,
        "share": 0.0,
        "columns": 0,
        "drifted_columns": [],
        "alpha": 0.05,
    }


# -- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_an_empty_or_all_null_window_is_not_drift(
    kind: Literal["numeric", "categorical"],
) -> None:
    reference = REFERENCE if kind == "numeric" else CAT_REFERENCE
    r = column_drift("x", kind, reference, np.zeros_like(reference), centers=CENTERS)
    assert not r.drifted
    assert math.isnan(r.score)
    assert math.isnan(r.p_value)
    assert r.detail["reason"] == "no rows"
    assert "data-quality" in r.detail["message"]
    _, summary = dataset_drift([r, _numeric(_window(5000, mean=0.5), column="y")])
    assert summary["drifted_columns"] == ["y"]


def test_an_empty_reference_is_not_drift() -> None:
    r = column_drift("x", "numeric", np.zeros(10), _window(100), centers=CENTERS)
    assert not r.drifted
    assert r.detail["reason"] == "no rows"
    assert "reference" in r.detail["message"]


@pytest.mark.parametrize("row_bin", range(10))
def test_a_single_row_is_never_drift_and_has_a_wide_interval(row_bin: int) -> None:
    current = np.zeros(10, dtype=np.int64)
    current[row_bin] = 1
    r = _numeric(current)
    assert not r.drifted
    assert r.high - r.low > 0.5
    assert r.detail["small_window"] is True


@pytest.mark.parametrize("row_bin", range(7))
def test_a_single_categorical_row_is_never_drift(row_bin: int) -> None:
    current = np.zeros(7, dtype=np.int64)
    current[row_bin] = 1
    r = column_drift("c", "categorical", CAT_REFERENCE, current)
    assert not r.drifted
    assert r.high - r.low > 0.3
    assert r.detail["new_categories"] is (row_bin == 6)


def test_unseen_categories_are_drift_and_flagged() -> None:
    new = np.append(SHARES[:-1] * 0.8, 0.2)  # a fifth of the rows in levels never seen
    r = _categorical(new, 5000)
    assert r.drifted
    assert r.detail["new_categories"] is True
    assert r.detail["unseen_share"] == pytest.approx(0.2, abs=0.02)
    # A trickle of new levels at a million rows is flagged, and is not drift.
    trickle = np.append(SHARES[:-1] * 0.999, 0.001)
    r = _categorical(trickle, 1_000_000)
    assert r.detail["new_categories"] is True
    assert not r.drifted


def test_small_windows_get_a_higher_calibrated_threshold() -> None:
    tiny = _numeric(_window(20, seed=1))
    large = _numeric(_window(1_000_000, seed=1))
    assert tiny.threshold > DEFAULT_THRESHOLDS["wasserstein"] == large.threshold
    assert tiny.detail["null_q99"] == tiny.threshold
    assert large.detail["practical_threshold"] == 0.1


def test_the_practical_threshold_can_be_set() -> None:
    r = _numeric(_window(1_000_000, mean=0.2, seed=1))
    assert r.drifted
    strict = _numeric(_window(1_000_000, mean=0.2, seed=1), threshold=0.3)
    assert strict.threshold == 0.3
    assert not strict.drifted


def test_scale_defaults_to_the_binned_reference_sd() -> None:
    r = column_drift("x", "numeric", REFERENCE, _window(5000, mean=0.5), centers=CENTERS)
    binned_mean = float(REFERENCE @ CENTERS / REFERENCE.sum())
    binned_sd = math.sqrt(float(REFERENCE @ (CENTERS - binned_mean) ** 2 / REFERENCE.sum()))
    assert r.detail["scale"] == pytest.approx(binned_sd)
    assert r.drifted


def test_results_are_reproducible() -> None:
    a = _numeric(_window(5000, mean=0.1))
    b = _numeric(_window(5000, mean=0.1))
    assert a == b


def test_twenty_million_row_columns_in_well_under_half_a_second() -> None:
    windows = [_window(1_000_000, mean=0.05 * c, seed=c) for c in range(20)]
    start = time.perf_counter()
    results = [_numeric(w, column=f"x{c}") for c, w in enumerate(windows)]
    dataset_drift(results)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: column_drift("x", "numeric", [1, 2], [1, 2], method="psy"), "Did you mean 'psi'"),
        (lambda: column_drift("x", "nominal", [1, 2], [1, 2]), "unknown kind"),  # type: ignore[arg-type]
        (
            lambda: column_drift("x", "categorical", [1, 2], [1, 2], method="wasserstein"),
            "ordered numeric bins",
        ),
        (lambda: column_drift("x", "numeric", [1, 2], [1, 2]), r"centers=bin_centers\(bins\)"),
        (
            lambda: column_drift("x", "numeric", [1, 2], [1, 2], centers=[1.0, 0.0]),
            "strictly increasing",
        ),
        (
            lambda: column_drift("x", "numeric", [1, 2], [1, 2], sums=([1.0, 5.0], [1.0, 5.0])),
            "edges must be 1 finite",
        ),
        (
            lambda: column_drift(
                "x", "numeric", [1, 2], [1, 2], edges=[2.0], sums=([1.0], [1.0, 5.0])
            ),
            "reference sums must be 2 finite",
        ),
        (
            lambda: column_drift(
                "x", "numeric", [1, 2, 1], [1, 2, 1], edges=[2.0, 1.0], sums=([0.0] * 3,) * 2
            ),
            "strictly increasing",
        ),
        (lambda: column_drift("x", "categorical", [1, 2], [1, 2, 3]), "3"),
        (lambda: column_drift("x", "categorical", [1, -2], [1, 2]), "non-negative whole"),
        (lambda: column_drift("x", "categorical", [0.5, 0.5], [1, 2]), "non-negative whole"),
        (lambda: column_drift("x", "categorical", [1, 2], [1, 2], n_null=5), "at least 10"),
        (lambda: column_drift("x", "categorical", [1, 2], [1, 2], confidence=95), "confidence"),
        (lambda: column_drift("x", "categorical", [1, 2], [1, 2], threshold=-1), "threshold"),
        (lambda: dataset_drift([], alpha=5), "alpha"),
    ],
)
def test_usage_errors_say_what_and_how(call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        call()
    assert info.value.hint


# -- from bin sums --------------------------------------------------------------------------


def _sums(values: Floats) -> Floats:
    index = np.searchsorted(EDGES, values, side="right")
    return np.bincount(index, weights=values, minlength=10)


def test_with_bin_sums_the_distance_is_scipy_s_on_the_raw_values() -> None:
    current = np.random.default_rng(8).normal(0.3, 1.0, size=200_000)
    r = column_drift(
        "x",
        "numeric",
        REFERENCE,
        _bins(current),
        edges=EDGES,
        sums=(_sums(SAMPLE), _sums(current)),
        variances=(float(np.var(SAMPLE, ddof=1)), float(np.var(current, ddof=1))),
        scale=SCALE,
    )
    truth = sps.wasserstein_distance(SAMPLE, current) / SCALE
    assert r.raw == pytest.approx(truth, rel=1e-3)  # the CDFs do not cross inside a bin
    assert r.low <= truth <= r.high
    assert r.detail["estimator"] == "bin sums"
    assert r.drifted


def test_bin_sums_of_dates_are_exact_too() -> None:
    """Epoch microseconds are about 1.7e15 (the integrals are taken on centred values)."""
    start = 1.7e15
    day = 86_400e6
    rng = np.random.default_rng(9)
    ref, cur = start + rng.normal(0, 30, 50_000) * day, start + rng.normal(15, 30, 50_000) * day
    edges = np.quantile(ref, np.linspace(0.1, 0.9, 9))

    def binned(x: Floats) -> tuple[Counts, Floats]:
        index = np.searchsorted(edges, x, side="right")
        return np.bincount(index, minlength=10), np.bincount(index, weights=x, minlength=10)

    (cr, sr), (cc, sc) = binned(ref), binned(cur)
    r = column_drift("t", "numeric", cr, cc, edges=edges, sums=(sr, sc), scale=30 * day)
    assert r.raw == pytest.approx(sps.wasserstein_distance(ref, cur) / (30 * day), rel=1e-3)
    assert r.score == pytest.approx(0.5, abs=0.03)


def test_column_profile_drift_needs_bins_and_measures_categories_too() -> None:
    from keel.monitor import ColumnProfile, column_profile_drift

    bare = ColumnProfile("x", "numeric", 3, 0, (3,))
    with pytest.raises(UsageError, match="carry no bins") as info:
        column_profile_drift(bare, bare)
    assert info.value.hint
    levels = Bins("c", "categorical", levels=("a", "b"))
    ref = ColumnProfile("c", "categorical", 100, 0, (60, 40, 0, 0), bins=levels)
    cur = ColumnProfile("c", "categorical", 100, 0, (20, 80, 0, 0), bins=levels)
    r = column_profile_drift(ref, cur)
    assert r.method == "jensen_shannon"
    assert r.drifted
    assert "estimator" not in r.detail

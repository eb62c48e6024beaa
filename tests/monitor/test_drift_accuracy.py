"""The numeric drift score is the Wasserstein-1 distance it claims to be (issue 19).

Real samples of four shapes (continuous, skewed, discrete, zero-inflated), shifted by 0 to 1
reference standard deviation, go through ``compare`` exactly as a user's frames would; the
truth is ``scipy.stats.wasserstein_distance`` on the raw samples divided by the reference's
standard deviation. Each case puts its seeded pairs side by side as the columns of one
frame, so one ``compare`` measures them all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy.stats import wasserstein_distance

from keel.monitor import (
    Profile,
    column_profile_drift,
    compare,
    profile,
    profile_reference,
)

Floats = npt.NDArray[np.float64]
Sampler = Callable[[np.random.Generator, int], Floats]

SHAPES: dict[str, Sampler] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "poisson": lambda rng, n: rng.poisson(3.0, size=n).astype(np.float64),
    "zero-inflated": lambda rng, n: np.where(rng.random(n) < 0.6, 0.0, rng.exponential(size=n)),
}
SHIFTS = (0.0, 0.25, 0.5, 1.0)  # in reference standard deviations
ROWS, PAIRS = 4000, 12


def _pairs(shape: str, shift: float) -> tuple[pl.DataFrame, pl.DataFrame, list[float]]:
    """``PAIRS`` seeded reference/current samples as columns, and the true distances."""
    rng = np.random.default_rng([len(shape), int(shift * 100)])
    refs, curs, truths = {}, {}, []
    for i in range(PAIRS):
        ref = SHAPES[shape](rng, ROWS)
        sd = float(np.std(ref, ddof=1))
        cur = SHAPES[shape](rng, ROWS) + shift * sd
        refs[f"x{i}"], curs[f"x{i}"] = ref, cur
        truths.append(float(wasserstein_distance(ref, cur)) / sd)
    return pl.DataFrame(refs), pl.DataFrame(curs), truths


def test_the_interval_covers_the_true_distance_in_95_percent_of_cases() -> None:
    covered: list[bool] = []
    errors: dict[str, list[float]] = {}
    for shape in SHAPES:
        for shift in SHIFTS:
            reference, current, truths = _pairs(shape, shift)
            result = compare(reference, current)
            for r, truth in zip(result.columns, truths, strict=True):
                assert r.method == "wasserstein"
                assert r.detail["estimator"] == "bin sums"
                covered.append(r.low <= truth <= r.high)
                if shift:
                    errors.setdefault(shape, []).append(r.score - truth)
    assert np.mean(covered) >= 0.95, np.mean(covered)
    for shape, error in errors.items():  # the old estimator was off by -0.5 to +2.9 here
        assert abs(float(np.mean(error))) < 0.02, (shape, np.mean(error))


def test_a_location_shift_reads_as_itself() -> None:
    """N(0, 1) moved by 0.2 sd read 0.274 with the interval [0.252, 0.294] before."""
    rng = np.random.default_rng(19)
    ref, cur = rng.normal(size=100_000), rng.normal(0.2, 1.0, size=100_000)
    result = compare(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur}))
    (r,) = result.columns
    truth = wasserstein_distance(ref, cur) / np.std(ref, ddof=1)
    assert r.raw == pytest.approx(truth, abs=1e-9)  # same sign in every bin: exact
    assert r.low <= truth <= r.high
    assert r.low <= 0.2 <= r.high  # the population's distance too
    assert r.high - r.low < 0.03
    assert r.drifted


def test_nothing_moved_is_not_drift() -> None:
    reference, current, _ = _pairs("lognormal", 0.0)
    result = compare(reference, current)
    assert not result.drifted
    assert all(r.score < 0.05 and r.low < r.threshold for r in result.columns)
    assert sum(r.low == 0.0 for r in result.columns) >= PAIRS // 2


def _without_sums(stored: Profile) -> Profile:
    """A profile as Keel stored it before profiles kept bin sums."""
    data = stored.to_dict()
    for column in data["columns"]:
        del column["sums"]
    return Profile.from_dict(data)


def test_a_profile_stored_without_bin_sums_falls_back_to_bin_centres_and_says_so() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"x": rng.normal(size=20_000), "c": rng.choice(["a", "b"], 20_000)})
    shifted = frame.with_columns(pl.col("x") + 0.5)
    old = _without_sums(profile_reference(frame))
    assert old.columns["x"].sums is None
    result = compare(old, shifted)  # a stored reference: only the current data is read
    x = next(r for r in result.columns if r.column == "x")
    assert x.detail["estimator"] == "bin centres"
    assert "no bin sums" in x.detail["estimator_note"]
    assert "keel monitor reference set" in x.detail["estimator_note"]
    assert x.drifted  # still measured, with the old estimator
    c = next(r for r in result.columns if r.column == "c")
    assert "estimator_note" not in c.detail
    exact = compare(profile_reference(frame), shifted).columns[0]
    assert exact.detail["estimator"] == "bin sums"
    assert "estimator_note" not in exact.detail


def test_merged_windows_keep_their_sums_and_a_merge_with_an_old_profile_has_none() -> None:
    rng = np.random.default_rng(4)
    frame = pl.DataFrame({"x": rng.normal(size=9_000)})
    reference = profile_reference(frame)
    parts = [profile(frame.slice(i, 3_000), reference.bins) for i in (0, 3_000, 6_000)]
    merged = Profile.merge_all(parts)
    assert merged.columns["x"].sums == pytest.approx(reference.columns["x"].sums, rel=1e-12)
    old = _without_sums(parts[0])
    assert parts[1].merge(old).columns["x"].sums is None
    assert Profile.merge_all([parts[1], old]).columns["x"].sums is None
    drift = column_profile_drift(reference.columns["x"], merged.columns["x"])
    assert drift.raw == pytest.approx(0.0, abs=1e-9)  # the same rows: no distance at all

"""Drift between profiles: the column statistics of :mod:`keel.monitor._drift` fed from two
:class:`~keel.monitor.ColumnProfile` objects, as ``compare``, monitor reports and deployment
guardrails use them.

A numeric column is measured by Wasserstein in reference standard deviations, exact from
the profiles' bin sums; a profile without them (stored before Keel kept bin sums) falls back
to bin centres and says so in the result.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from keel.errors import UsageError
from keel.monitor._drift import DriftResult, bin_centers, column_drift, dataset_drift
from keel.monitor._profile_data import Bins, ColumnProfile, Profile

__all__ = ["column_profile_drift", "drift_of_profiles"]


def column_profile_drift(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    bins: Bins | None = None,
    method: str | None = None,
    threshold: float | None = None,
    n_null: int = 200,
    n_ci: int = 200,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> DriftResult:
    """The drift of one column from its reference profile to the current one.

    :func:`column_drift` on the profiles' counts over ``bins`` (default: the reference's):
    a numeric column by Wasserstein in reference standard deviations, exact from the
    profiles' bin sums (:attr:`ColumnProfile.sums`). A profile without bin sums (stored
    before Keel kept them) falls back to bin centres
    (:func:`bin_centers`), which over- or understates the distance, and says so in
    ``detail["estimator_note"]``. What ``compare``, monitor reports and deployment
    guardrails measure.
    """
    bins = bins or reference.bins or current.bins
    if bins is None:
        raise UsageError(
            f"column_profile_drift({reference.column!r}): the profiles carry no bins.",
            hint="Profile both sides with keel.monitor.profile over the reference's bins.",
        )
    options: dict[str, Any] = {
        "method": method,
        "threshold": threshold,
        "n_null": n_null,
        "n_ci": n_ci,
        "confidence": confidence,
        "alpha": alpha,
        "seed": seed,
    }
    counts = np.asarray(reference.counts, dtype=float), np.asarray(current.counts, dtype=float)
    if bins.kind != "numeric":
        return column_drift(bins.column, bins.kind, *counts, **options)
    scale = _scale(reference)
    sums = _sums_of(reference, current)
    if sums is None:
        result = column_drift(
            bins.column, "numeric", *counts, centers=bin_centers(bins), scale=scale, **options
        )
        if result.method != "wasserstein":
            return result
        if reference.sums is None or current.sums is None:
            which = "reference" if reference.sums is None else "current"
            why = f"the {which} profile has no bin sums (stored by an older Keel)"
            fix = "store the profile again (keel monitor reference set) for the exact distance"
        else:
            why = "a bin sum overflowed (values near the largest float)"
            fix = "rescale the column (for example to other units) for the exact distance"
        note = (
            f"{why}, so the distance places each bin's rows at its centre, which overstates "
            f"or understates it; {fix}"
        )
        return replace(result, detail=result.detail | {"estimator_note": note})
    return column_drift(
        bins.column,
        "numeric",
        *counts,
        edges=bins.edges,
        sums=sums,
        variances=(reference.variance, current.variance),
        scale=scale,
        **options,
    )


def _sums_of(
    reference: ColumnProfile, current: ColumnProfile
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Both sides' bin sums when both have finite ones."""
    if reference.sums is None or current.sums is None:
        return None
    if not all(math.isfinite(v) for v in (*reference.sums, *current.sums)):
        return None
    return reference.sums, current.sums


def drift_of_profiles(
    ref: Profile, cur: Profile, bins: dict[str, Bins], *, alpha: float, seed: int
) -> tuple[list[DriftResult], dict[str, Any]]:
    """Every binned column's drift from ``ref`` to ``cur`` (:func:`column_profile_drift`:
    numeric columns by Wasserstein in reference standard deviations), then flagged across
    columns by :func:`dataset_drift`: what ``compare``, monitor windows and reports all
    measure."""
    results = [
        column_profile_drift(ref.columns[name], cur.columns[name], bins=column_bins, seed=seed + i)
        for i, (name, column_bins) in enumerate(bins.items())
    ]
    flagged, summary = dataset_drift(results, alpha=alpha)
    return list(flagged), summary


def _scale(reference: ColumnProfile) -> float | None:
    variance = reference.variance
    return math.sqrt(variance) if variance and math.isfinite(variance) and variance > 0 else None

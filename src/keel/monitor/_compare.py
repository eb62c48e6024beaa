"""``keel monitor compare REFERENCE CURRENT``: drift between two datasets, column by column.

The reference fixes each column's bins (quantile edges, or its top levels); both datasets
are profiled against those bins in one streaming pass each; every column's drift is then an
effect size with a confidence interval, bias-corrected for the current window's size and
calibrated against reference windows of that size (see :mod:`keel.monitor._drift`), and
columns are flagged only after Benjamini-Hochberg across columns. Raw rows are read once
and never held: what is compared are the profiles.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keel._json import nulled
from keel.errors import UsageError
from keel.monitor._drift import DriftResult, column_drift, dataset_drift
from keel.monitor._profile import Bins, ColumnProfile, Profile, profile_many, reference_bins

__all__ = ["Comparison", "bin_centers", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Drift of every compared column, the dataset-level verdict and the two profiles."""

    columns: list[DriftResult]
    summary: dict[str, Any]
    reference: Profile
    current: Profile
    bins: dict[str, Bins]
    slices: dict[str, list[DriftResult]] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return bool(self.summary.get("drifted"))

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of ``keel monitor compare --format json``."""
        return {
            "drifted": self.drifted,
            "share": self.summary.get("share"),
            "reference_rows": self.reference.rows,
            "current_rows": self.current.rows,
            "columns": [_result(r) for r in self.columns],
            "slices": {k: [_result(r) for r in v] for k, v in self.slices.items()},
        }


def _result(r: DriftResult) -> dict[str, Any]:
    return {
        "column": r.column,
        "method": r.method,
        "score": nulled(r.score),
        "low": nulled(r.low),
        "high": nulled(r.high),
        "threshold": r.threshold,
        "p_value": nulled(r.p_value),
        "drifted": r.drifted,
        "raw": nulled(r.raw),
        "detail": nulled(dict(r.detail)),
    }


def bin_centers(bins: Bins) -> np.ndarray:
    """A representative value per numeric bin: midpoints, the outer bins anchored at the
    reference's min and max (or half a neighbouring width outside the edges)."""
    edges = list(bins.edges)
    if not edges:
        return np.array([bins.low if bins.low is not None else 0.0])
    width = (edges[-1] - edges[0]) / max(len(edges) - 1, 1) or 1.0
    low = bins.low if bins.low is not None and bins.low < edges[0] else edges[0] - width / 2
    high = bins.high if bins.high is not None and bins.high > edges[-1] else edges[-1] + width / 2
    points = [low, *edges, high]
    return np.array([(a + b) / 2 for a, b in itertools.pairwise(points)])


def compare(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    slice_by: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Profile ``reference`` and ``current`` (frames or paths) on the reference's bins and
    measure each column's drift; ``columns`` (default: those both have) restricts it."""
    ref_frame, cur_frame = _lazy(reference), _lazy(current)
    ref_columns = ref_frame.collect_schema().names()
    cur_columns = cur_frame.collect_schema().names()
    chosen = list(columns) if columns is not None else [c for c in ref_columns if c in cur_columns]
    missing = [c for c in chosen if c not in cur_columns]
    if missing:
        raise UsageError(
            f"the current data lacks column(s) {', '.join(missing)}.",
            hint=f"It has: {', '.join(cur_columns) or 'no columns'}.",
        )
    missing_ref = [c for c in chosen if c not in ref_columns]
    if missing_ref:
        raise UsageError(
            f"the reference data lacks column(s) {', '.join(missing_ref)}.",
            hint=f"It has: {', '.join(ref_columns) or 'no columns'}.",
        )
    chosen = [c for c in chosen if c != slice_by]
    if not chosen:
        raise UsageError("there is no column to compare.", hint="The two datasets share none.")
    bins = reference_bins(ref_frame, columns=chosen)
    ref_profile, cur_profile = profile_many([ref_frame, cur_frame], bins)  # concurrently
    results, summary = _drift_all(ref_profile, cur_profile, bins, alpha=alpha, seed=seed)
    slices: dict[str, list[DriftResult]] = {}
    if slice_by is not None:
        import polars as pl

        if slice_by not in cur_columns or slice_by not in ref_columns:
            raise UsageError(f"cannot slice by {slice_by!r}: a dataset lacks it.")
        values = cur_frame.select(pl.col(slice_by).unique()).collect()[slice_by].to_list()
        for value in sorted(values, key=str)[:50]:
            keep = pl.col(slice_by) == value if value is not None else pl.col(slice_by).is_null()
            sliced_ref, sliced_cur = profile_many(
                [ref_frame.filter(keep), cur_frame.filter(keep)], bins
            )
            slices[f"{slice_by}={value}"] = _drift_all(
                sliced_ref, sliced_cur, bins, alpha=alpha, seed=seed
            )[0]
    return Comparison(results, summary, ref_profile, cur_profile, bins, slices)


def _drift_all(
    ref: Profile, cur: Profile, bins: dict[str, Bins], *, alpha: float, seed: int
) -> tuple[list[DriftResult], dict[str, Any]]:
    results = []
    for i, (name, column_bins) in enumerate(bins.items()):
        r, c = ref.columns[name], cur.columns[name]
        numeric = column_bins.kind == "numeric"
        results.append(
            column_drift(
                name,
                column_bins.kind,
                np.asarray(r.counts, dtype=float),
                np.asarray(c.counts, dtype=float),
                centers=bin_centers(column_bins) if numeric else None,
                scale=_scale(r) if numeric else None,
                seed=seed + i,
            )
        )
    flagged, summary = dataset_drift(results, alpha=alpha)
    return list(flagged), summary


def _scale(reference: ColumnProfile) -> float | None:
    variance = reference.variance
    return math.sqrt(variance) if variance and math.isfinite(variance) and variance > 0 else None


def _lazy(data: Any) -> Any:
    import polars as pl

    from keel.contracts import read_data

    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return read_data(data)
    try:
        return pl.from_pandas(data).lazy()
    except (TypeError, ValueError, ImportError) as exc:
        raise UsageError(
            f"cannot compare a {type(data).__name__}.",
            hint="Give a Parquet/CSV/NDJSON path (or folder), or a Polars or pandas frame.",
        ) from exc

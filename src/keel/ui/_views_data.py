"""What the data pages add: a dataset version's profile, and the diff of two versions.

The profile is the version's stored reference profile (``keel monitor reference show
data:NAME/3 --format json``); the diff is ``keel data diff NAME A B --format json`` plus the
drift of every column (``keel monitor compare data:NAME/A data:NAME/B --format json``).
``distributions`` is what the page draws, read from those same profiles.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from keel._json import json_safe
from keel.errors import KeelError
from keel.monitor import ColumnProfile, compare, find_reference
from keel.tracking import diff_datasets
from keel.ui._found import found as _found

if TYPE_CHECKING:
    from keel.monitor import Comparison
    from keel.tracking import Project

__all__ = ["dataset_diff", "dataset_profile"]


def dataset_profile(project: Project, name: str, version: int) -> dict[str, Any]:
    """``profile``: the stored reference profile of ``NAME/V`` (``keel monitor reference
    show data:NAME/V --format json``, ``None`` when it has none) and ``distributions``:
    per column its counts over its bins (a histogram, or the top values), nulls, min,
    max, mean."""
    stored = find_reference(f"data:{name}/{version}", project=project)
    if stored is None:
        return {"profile": None, "distributions": []}
    rows = stored.profile.rows
    return {
        "profile": stored.to_dict(),
        "distributions": json_safe(
            [_distribution(c, rows) for c in stored.profile.columns.values()]
        ),
    }


def _distribution(column: ColumnProfile, rows: int) -> dict[str, Any]:
    labels = list(column.bins.labels) if column.bins is not None else []
    return {
        "column": column.column,
        "kind": column.kind,
        "rows": rows,
        "nulls": column.nulls,
        "minimum": column.minimum,
        "maximum": column.maximum,
        "mean": column.mean if math.isfinite(column.mean) else None,
        "labels": labels,
        "counts": list(column.counts),
    }


def dataset_diff(project: Project, name: str, a: int, b: int) -> dict[str, Any]:
    """``keel data diff NAME A B --format json``, plus ``drift``: ``keel monitor compare
    data:NAME/A data:NAME/B --format json`` (``None``, with ``drift_error`` saying why, when
    version A has no stored profile or B's data cannot be read), and ``distributions``:
    each compared column's counts in both versions over A's bins, with its drift score."""
    shape = _found(lambda: diff_datasets(name, a, b, project=project))
    try:
        comparison = compare(f"data:{name}/{a}", f"data:{name}/{b}", project=project)
    except KeelError as error:
        return shape | {
            "drift": None,
            "drift_error": {"error": error.message, "hint": error.hint},
            "distributions": [],
        }
    return shape | {
        "drift": comparison.to_dict(),
        "drift_error": None,
        "distributions": json_safe(_paired(comparison)),
    }


def _paired(comparison: Comparison) -> list[dict[str, Any]]:
    scores = {r.column: r for r in comparison.columns}
    paired = []
    for column, bins in comparison.bins.items():
        old, new = comparison.reference.columns[column], comparison.current.columns[column]
        result = scores.get(column)
        paired.append(
            {
                "column": column,
                "kind": bins.kind,
                "labels": list(bins.labels),
                "counts": [list(old.counts), list(new.counts)],
                "rows": [comparison.reference.rows, comparison.current.rows],
                "nulls": [old.nulls, new.nulls],
                "method": None if result is None else result.method,
                "score": None if result is None else result.score,
                "threshold": None if result is None else result.threshold,
                "drifted": None if result is None else result.drifted,
            }
        )
    return paired

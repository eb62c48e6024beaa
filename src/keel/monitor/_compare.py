"""``keel monitor compare REFERENCE CURRENT``: drift between two datasets, column by column.

The reference fixes each column's bins (quantile edges, or its top levels); both datasets
are profiled against those bins in one streaming pass each; every column's drift is then an
effect size with a confidence interval, bias-corrected for the current window's size and
calibrated against reference windows of that size (see :mod:`keel.monitor._drift`), and
columns are flagged only after Benjamini-Hochberg across columns. Raw rows are read once
and never held: what is compared are the profiles.

The reference can also be a stored reference profile (see :mod:`keel.monitor._reference`):
its columns carry their bins, so only the current data is read.

Data that cannot be compared is said to be so, never passed off as "no drift": a side with
no rows at all is an :class:`~keel.errors.InputError`, and a column with no value to bin on
either side (entirely null, or on a numeric column no finite value) is a
:class:`QualityFinding` in :attr:`Comparison.findings`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from keel.errors import InputError, UsageError, did_you_mean
from keel.monitor._drift import DriftResult
from keel.monitor._profile import (
    Bins,
    ColumnProfile,
    Profile,
    _schema_of,
    engine_for,
    profile_many,
    profile_reference,
)
from keel.monitor._profile_drift import drift_of_profiles
from keel.monitor._reference import MODEL_OUTPUTS, is_stored_reference, resolve_reference
from keel.monitor._report_html import comparison_html

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["Comparison", "QualityFinding", "compare"]

Side = Literal["reference", "current"]


@dataclass(frozen=True)
class QualityFinding:
    """A column whose drift could not be measured, and why: ``kind`` is ``"all_null"``
    (every row null, or NaN) or ``"no_finite_values"`` (a numeric column whose values are
    all infinite, with nothing left to bin), on the ``side`` it was found."""

    column: str
    side: Side
    kind: Literal["all_null", "no_finite_values"]
    rows: int
    nulls: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of one finding in ``keel monitor compare --format json``."""
        return {
            "column": self.column,
            "side": self.side,
            "kind": self.kind,
            "rows": self.rows,
            "nulls": self.nulls,
            "message": self.message,
        }


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

    @functools.cached_property  # read by to_dict, passed, the CLI and the HTML report
    def findings(self) -> list[QualityFinding]:
        """Compared columns whose drift could not be measured (reference side first)."""
        sides: tuple[tuple[Side, Profile], ...] = (
            ("reference", self.reference),
            ("current", self.current),
        )
        return [
            found
            for side, profile in sides
            for name in self.bins
            if (found := _finding(profile.columns[name], side, profile.rows)) is not None
        ]

    @property
    def passed(self) -> bool:
        """No column drifted and every column could be measured (``keel monitor compare``
        exits 1 otherwise)."""
        return not self.drifted and not self.findings

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of ``keel monitor compare --format json``."""
        return {
            "drifted": self.drifted,
            "passed": self.passed,
            "share": self.summary.get("share"),
            "reference_rows": self.reference.rows,
            "current_rows": self.current.rows,
            "columns": [r.to_dict() for r in self.columns],
            "findings": [f.to_dict() for f in self.findings],
            "slices": {k: [r.to_dict() for r in v] for k, v in self.slices.items()},
        }

    def to_html(self, *, title: str = "Drift comparison", subtitle: str = "") -> str:
        """The report of ``keel monitor compare --html``: a self-contained HTML page (every
        column's effect size with its interval, the two distributions side by side)."""
        return comparison_html(self, title=title, subtitle=subtitle)

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())

    def __repr__(self) -> str:
        drifted = [r.column for r in self.columns if r.drifted]
        parts = []
        if drifted:
            parts.append(
                f"drift in {len(drifted)} of {len(self.columns)} columns ({', '.join(drifted)})"
            )
        if self.findings:
            parts.append(
                f"{len({f.column for f in self.findings})} column(s) could not be compared"
            )
        verdict = "; ".join(parts) or f"no drift in {len(self.columns)} columns"
        return (
            f"<Comparison {verdict}; reference {self.reference.rows:,} rows, "
            f"current {self.current.rows:,} rows>"
        )


def _finding(column: ColumnProfile, side: Side, rows: int) -> QualityFinding | None:
    if sum(column.counts) > 0 or rows == 0:
        return None
    name = column.column
    if column.nulls >= column.count:
        return QualityFinding(
            name,
            side,
            "all_null",
            rows,
            column.nulls,
            f"column {name!r} of the {side} data is entirely null ({column.nulls:,} of "
            f"{rows:,} rows null or NaN): its drift cannot be measured.",
        )
    return QualityFinding(
        name,
        side,
        "no_finite_values",
        rows,
        column.nulls,
        f"column {name!r} of the {side} data has no finite value ({column.infinite:,} "
        f"infinite, {column.nulls:,} null or NaN, of {rows:,} rows): its drift cannot be "
        "measured.",
    )


def compare(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    slice_by: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    project: Project | None = None,
) -> Comparison:
    """Profile ``reference`` and ``current`` (frames or paths) on the reference's bins and
    measure each column's drift; ``columns`` restricts it (default: every column of the
    reference, which ``current`` must then have: a :class:`~keel.errors.UsageError` names
    the ones it lacks rather than leave them out as if they had not drifted).

    ``reference`` may also be a stored reference :class:`Profile` (its columns carry their
    bins), or a string naming one: ``model:NAME@ALIAS``, ``model:NAME/3``, ``data:NAME/3``
    (resolved in ``project``, default: the current one). Then only ``current`` is read, and
    with ``slice_by`` each slice of the current data is compared with the *whole* reference
    (a profile cannot be sliced).
    """
    labels = (_label(reference), _label(current))
    if isinstance(reference, str) and is_stored_reference(reference):
        reference = resolve_reference(reference, project=project)
    if _partitioned(reference) or _partitioned(current):
        done = _compare_partitioned(
            reference,
            current,
            columns=columns,
            slice_by=slice_by,
            alpha=alpha,
            seed=seed,
            current_label=labels[1],
        )
    elif isinstance(reference, Profile):
        done = _compare_profile(
            reference,
            _lazy(current, project),
            columns=columns,
            slice_by=slice_by,
            alpha=alpha,
            seed=seed,
            current_label=labels[1],
        )
    else:
        done = _compare_frames(
            _lazy(reference, project),
            _lazy(current, project),
            columns=columns,
            slice_by=slice_by,
            alpha=alpha,
            seed=seed,
            current_label=labels[1],
        )
    _require_rows(done, *labels)
    return done


def _partitioned(data: Any) -> bool:
    return not isinstance(data, Profile | str) and engine_for(data).partitioned


def _compare_partitioned(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None,
    slice_by: str | None,
    alpha: float,
    seed: int,
    current_label: str = "",
) -> Comparison:
    """``compare`` where either side is partitioned data (a Dask DataFrame; the other a
    frame, path or profile): each side profiled by its own engine, no slices."""
    if slice_by is not None:
        raise UsageError(
            "compare: slice_by is not supported for Dask data.",
            hint="Filter each slice with Dask and compare the slices one by one.",
        )
    stored = isinstance(reference, Profile)
    cur_names = list(_schema_of(current))
    ref_names = _stored_names(reference, cur_names) if stored else list(_schema_of(reference))
    what = "reference profile" if stored else "reference data"
    chosen = _choose(ref_names, cur_names, columns, None, what, current_label=current_label)
    if stored:
        ref_profile, bins = _stored_subset(reference, chosen)
    else:
        ref_profile = profile_reference(reference, columns=chosen)
        bins = ref_profile.bins
    (cur_profile,) = profile_many([current], bins)
    results, summary = drift_of_profiles(ref_profile, cur_profile, bins, alpha=alpha, seed=seed)
    return Comparison(results, summary, ref_profile, cur_profile, bins, {})


def _compare_frames(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None,
    slice_by: str | None,
    alpha: float,
    seed: int,
    current_label: str = "",
) -> Comparison:
    """``compare`` of two frames or paths: the reference's bins and profile in one read."""
    ref_frame, cur_frame = reference, current
    ref_columns = ref_frame.collect_schema().names()
    cur_columns = cur_frame.collect_schema().names()
    chosen = _choose(
        ref_columns, cur_columns, columns, slice_by, "reference data", current_label=current_label
    )
    ref_profile = profile_reference(ref_frame, columns=chosen)  # bins and profile: one read
    bins = ref_profile.bins
    cur_frame = _empty_text_as_numbers(cur_frame, bins)
    (cur_profile,) = profile_many([cur_frame], bins)
    results, summary = drift_of_profiles(ref_profile, cur_profile, bins, alpha=alpha, seed=seed)
    slices: dict[str, list[DriftResult]] = {}
    if slice_by is not None:
        if slice_by not in cur_columns or slice_by not in ref_columns:
            both = set(cur_columns) & set(ref_columns)
            lacking = "the current data" if slice_by not in cur_columns else "the reference data"
            raise UsageError(
                f"cannot slice by {slice_by!r}: {lacking} has no such column.",
                hint=did_you_mean(slice_by, both),
            )
        for label, keep in _slices(cur_frame, slice_by):
            sliced_ref, sliced_cur = profile_many(
                [ref_frame.filter(keep), cur_frame.filter(keep)], bins
            )
            slices[label] = drift_of_profiles(sliced_ref, sliced_cur, bins, alpha=alpha, seed=seed)[
                0
            ]
    return Comparison(results, summary, ref_profile, cur_profile, bins, slices)


def _compare_profile(
    reference: Profile,
    current: Any,
    *,
    columns: Sequence[str] | None,
    slice_by: str | None,
    alpha: float,
    seed: int,
    current_label: str = "",
) -> Comparison:
    """``compare`` against a stored profile: its bins, and one pass over ``current``."""
    cur_columns = current.collect_schema().names()
    ref_columns = _stored_names(reference, cur_columns)
    what = "reference profile"
    chosen = _choose(ref_columns, cur_columns, columns, slice_by, what, current_label=current_label)
    ref_profile, bins = _stored_subset(reference, chosen)
    cur_frame = _empty_text_as_numbers(current, bins)
    frames = [cur_frame]
    labels: list[str] = []
    if slice_by is not None:
        if slice_by not in cur_columns:
            raise UsageError(
                f"cannot slice by {slice_by!r}: the current data has no such column.",
                hint=did_you_mean(slice_by, cur_columns),
            )
        for label, keep in _slices(cur_frame, slice_by):
            labels.append(label)
            frames.append(cur_frame.filter(keep))
    cur_profile, *sliced = profile_many(frames, bins)  # the slices' queries run concurrently
    results, summary = drift_of_profiles(ref_profile, cur_profile, bins, alpha=alpha, seed=seed)
    slices = {
        label: drift_of_profiles(ref_profile, part, bins, alpha=alpha, seed=seed)[0]
        for label, part in zip(labels, sliced, strict=True)
    }
    return Comparison(results, summary, ref_profile, cur_profile, bins, slices)


def _stored_subset(reference: Profile, chosen: Sequence[str]) -> tuple[Profile, dict[str, Bins]]:
    """A stored reference restricted to the ``chosen`` columns, and their bins."""
    bins = {name: _bins_of(reference, name) for name in chosen}
    return Profile(columns={c: reference.columns[c] for c in chosen}, rows=reference.rows), bins


def _empty_text_as_numbers(frame: Any, bins: dict[str, Bins]) -> Any:
    """``frame`` with its text columns that the reference bins as numbers and that hold no
    value at all read as numbers: a CSV column left empty reads as text, and is then
    reported as entirely null instead of as a column of the wrong type. (One small query,
    only when such a column exists.)"""
    import polars as pl

    schema = frame.collect_schema()
    suspects = [
        name for name, b in bins.items() if b.kind == "numeric" and schema[name] == pl.String
    ]
    if not suspects:
        return frame
    present = frame.select(pl.col(name).count() for name in suspects).collect().row(0)
    empty = [name for name, n in zip(suspects, present, strict=True) if n == 0]
    return frame.with_columns(pl.col(name).cast(pl.Float64) for name in empty)


def _label(data: Any) -> str:
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return f" ({data})"
    return ""


def _require_rows(comparison: Comparison, reference: str, current: str) -> None:
    """An :class:`InputError` when a side has no rows: there is nothing to compare."""
    for side, rows, label in (
        ("reference", comparison.reference.rows, reference),
        ("current", comparison.current.rows, current),
    ):
        if rows == 0:
            raise InputError(
                f"the {side} data{label} has no rows: there is nothing to compare, so drift "
                "cannot be measured.",
                hint="Check the file, folder or query that produced it (an empty file, a "
                "filter that kept nothing, a window without traffic).",
            )


def _choose(
    ref_columns: Sequence[str],
    cur_columns: Sequence[str],
    columns: Sequence[str] | None,
    slice_by: str | None,
    what: str,
    *,
    current_label: str = "",
) -> list[str]:
    """The columns to compare: ``columns``, or every column of the reference (less
    ``slice_by``), which the current data must then all have: a column dropped silently
    would read as "no drift" on it."""
    if columns is None:
        _require_reference_columns(ref_columns, cur_columns, slice_by, what, current_label)
    chosen = list(columns) if columns is not None else [c for c in ref_columns if c in cur_columns]
    missing = [c for c in chosen if c not in cur_columns]
    if missing:
        raise UsageError(
            f"the current data{current_label} lacks column(s) {', '.join(missing)}.",
            hint=f"It has: {', '.join(cur_columns) or 'no columns'}.",
        )
    missing_ref = [c for c in chosen if c not in ref_columns]
    if missing_ref:
        raise UsageError(
            f"the {what} lacks column(s) {', '.join(missing_ref)}.",
            hint=f"It has: {', '.join(ref_columns) or 'no columns'}.",
        )
    chosen = [c for c in chosen if c != slice_by]
    if not chosen:
        raise UsageError("there is no column to compare.", hint="The two datasets share none.")
    return chosen


def _require_reference_columns(
    ref_columns: Sequence[str],
    cur_columns: Sequence[str],
    slice_by: str | None,
    what: str,
    current_label: str,
) -> None:
    """A :class:`UsageError` naming the reference's columns the current data lacks (the
    slicing column is left to its own error)."""
    present = set(cur_columns)
    missing = [c for c in ref_columns if c not in present and c != slice_by]
    if missing:
        raise UsageError(
            f"the current data{current_label} lacks column(s) {', '.join(missing)} that the "
            f"{what} has: they cannot be compared, and leaving them out would hide their drift.",
            hint="Fix the current data, or compare a subset: columns=[...] in Python, "
            "--columns A,B or --contract on the command line. The current data has: "
            f"{', '.join(cur_columns) or 'no columns'}.",
        )


def _stored_names(reference: Profile, cur_columns: Sequence[str]) -> list[str]:
    """A stored profile's columns to compare: all of them, but the model's answers
    (``prediction``, ``score``, profiled with a model version's reference) only when the
    current data holds them, as a prediction log does; feature data does not."""
    present = set(cur_columns)
    return [c for c in reference.columns if c in present or c not in MODEL_OUTPUTS]


def _slices(frame: Any, slice_by: str) -> list[tuple[str, Any]]:
    """``(label, filter)`` for each value of ``slice_by`` in ``frame`` (the first 50)."""
    import polars as pl

    values = frame.select(pl.col(slice_by).unique()).collect()[slice_by].to_list()
    return [
        (
            f"{slice_by}={value}",
            pl.col(slice_by) == value if value is not None else pl.col(slice_by).is_null(),
        )
        for value in sorted(values, key=str)[:50]
    ]


def _bins_of(reference: Profile, name: str) -> Bins:
    bins = reference.columns[name].bins
    if bins is None:
        raise UsageError(
            f"the reference profile of column {name!r} has no bins, so nothing can be counted "
            "on them.",
            hint="Use a profile made by keel.monitor.profile (or a stored reference profile).",
        )
    return bins


def _lazy(data: Any, project: Project | None = None) -> Any:
    """``data`` (a frame, a path or a dataset reference) as a lazy Polars frame."""
    from keel.tracking import open_source

    return open_source(data, project=project)

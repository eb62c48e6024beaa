"""The data of a profile: :class:`Bins`, :class:`ColumnProfile` and :class:`Profile`, and their
exact merge.

How profiles are made, and the design behind these types (bins fixed by a reference, exact
merging by Chan's formula, the conventions for NaN and infinities), is described in
:mod:`keel.monitor._profile`, which re-exports everything here.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from keel.errors import UsageError

__all__ = ["Bins", "ColumnProfile", "Kind", "Profile"]

Kind = Literal["numeric", "categorical"]

_FORMAT = 1  # version of the dictionaries written by to_dict
_OTHER, _UNSEEN = "(other)", "(unseen)"


# --------------------------------------------------------------------------- bins


@dataclass(frozen=True)
class Bins:
    """Where a column's values are counted; fixed by the reference, shared by every profile.

    Numeric: the inner ``edges`` ``e_1 < ... < e_{k-1}`` give the bins ``(-inf, e_1)``,
    ``[e_1, e_2)``, ..., ``[e_{k-1}, +inf)``; ``low``/``high`` are the reference's finite
    minimum and maximum, against which out-of-range values are counted.
    Categorical: ``levels`` are the reference's top-K levels, most frequent first, followed
    in every count vector by "other" (a level in ``known``) and "unseen" (any other level).
    """

    column: str
    kind: Kind
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    known: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise UsageError(
                f"bins of column {self.column!r}: unknown kind {self.kind!r}.",
                hint="Use 'numeric' or 'categorical'.",
            )
        if self.kind == "numeric":
            if self.levels or self.known:
                raise UsageError(f"numeric bins of column {self.column!r} cannot have levels.")
            if not all(math.isfinite(e) for e in self.edges) or any(
                a >= b for a, b in pairwise(self.edges)
            ):
                raise UsageError(
                    f"bins of column {self.column!r}: edges must be finite and strictly "
                    f"increasing, got {list(self.edges)}."
                )
        elif self.edges or self.low is not None or self.high is not None:
            raise UsageError(f"categorical bins of column {self.column!r} cannot have edges.")
        elif not self.known.isdisjoint(self.levels):
            raise UsageError(
                f"bins of column {self.column!r}: a level is both top-K and 'other'.",
                hint="known holds the reference levels beyond the top-K only.",
            )

    @property
    def size(self) -> int:
        """Length of the count vectors over these bins."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.levels) + 2

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per count, e.g. ``('< 1', '[1, 2.5)', '>= 2.5')`` or levels + other/unseen."""
        if self.kind == "categorical":
            return (*self.levels, _OTHER, _UNSEEN)
        if not self.edges:
            return ("all",)
        inner = [f"[{a:g}, {b:g})" for a, b in pairwise(self.edges)]
        return (f"< {self.edges[0]:g}", *inner, f">= {self.edges[-1]:g}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        return {
            "column": self.column,
            "kind": self.kind,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "known": sorted(self.known),
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        """Bins from :meth:`to_dict` output.

        Equal bins read in one process come back as one object, so merging many stored
        profiles compares their bins by identity instead of level by level.
        """
        known = tuple(str(v) for v in data.get("known", ()))
        key = (
            str(data["column"]),
            data["kind"],
            tuple(float(e) for e in data.get("edges", ())),
            tuple(str(v) for v in data.get("levels", ())),
            known,
            _opt_float(data.get("low")),
            _opt_float(data.get("high")),
        )
        found = _READ.get(key)
        if found is None:
            column, kind, edges, levels, _, low, high = key
            found = cls(column, kind, edges, levels, low, high, frozenset(known))
            _READ[key] = found
        return found


_READ: weakref.WeakValueDictionary[tuple[Any, ...], Bins] = weakref.WeakValueDictionary()


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class ColumnProfile:
    """One column's counts and moments over fixed :class:`Bins`; merges exactly.

    ``counts`` has one entry per bin (numeric: ``len(edges) + 1``; categorical: one per level,
    then other, then unseen). Numeric columns: ``counts`` sums to ``n``, the finite values,
    which ``mean``, ``m2``, ``minimum`` and ``maximum`` describe; ``nulls`` counts nulls and
    NaN, ``nans`` the NaN among them, ``infinite`` the infinities (kept out of the bins;
    ``-inf`` also counts in ``below`` and ``+inf`` in ``above``, the values outside the
    reference's range). ``sums`` holds, per bin, the sum of the finite values counted in it
    (what makes the Wasserstein drift score exact, see :mod:`keel.monitor._drift`); it is
    ``None`` for categorical columns and in profiles written before Keel kept it, and a
    merge with such a profile has none either. Categorical columns: ``counts`` sums to
    ``count - nulls``.
    """

    column: str
    kind: Kind
    count: int
    nulls: int
    counts: tuple[int, ...]
    below: int = 0
    above: int = 0
    infinite: int = 0
    nans: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float = math.nan
    m2: float = 0.0
    n: int = 0
    bins: Bins | None = None
    sums: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.bins is not None and len(self.counts) != self.bins.size:
            raise UsageError(
                f"profile of column {self.column!r} has {len(self.counts)} counts, "
                f"its bins {self.bins.size}."
            )
        if self.sums is not None and (self.kind != "numeric" or len(self.sums) != len(self.counts)):
            raise UsageError(
                f"profile of column {self.column!r} ({self.kind}) has {len(self.sums)} bin "
                f"sums for {len(self.counts)} counts.",
                hint="Only numeric columns keep bin sums, one per bin.",
            )

    @property
    def variance(self) -> float:
        """Sample variance (``m2 / (n - 1)``) of the finite values; NaN below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both sides' rows together (exact; commutative)."""
        _check_compatible(self, other)
        n, mean, m2 = _chan(self, other)
        return ColumnProfile(
            column=self.column,
            kind=self.kind,
            count=self.count + other.count,
            nulls=self.nulls + other.nulls,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            below=self.below + other.below,
            above=self.above + other.above,
            infinite=self.infinite + other.infinite,
            nans=self.nans + other.nans,
            minimum=_extreme(min, (self.minimum, other.minimum)),
            maximum=_extreme(max, (self.maximum, other.maximum)),
            mean=mean,
            m2=m2,
            n=n,
            bins=self.bins,
            sums=_added_sums([self.sums, other.sums]),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (non-finite floats as ``None``/strings); see :meth:`from_dict`."""
        return {
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "counts": list(self.counts),
            "below": self.below,
            "above": self.above,
            "infinite": self.infinite,
            "nans": self.nans,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": _float_out(self.mean),
            "m2": _float_out(self.m2),
            "n": self.n,
            "bins": None if self.bins is None else self.bins.to_dict(),
            "sums": None if self.sums is None else [_float_out(v) for v in self.sums],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """A column profile from :meth:`to_dict` output (one without ``sums``, as older Keel
        wrote them, reads with ``sums=None``)."""
        bins, sums = data.get("bins"), data.get("sums")
        return cls(
            column=str(data["column"]),
            kind=data["kind"],
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            counts=tuple(int(c) for c in data["counts"]),
            below=int(data.get("below", 0)),
            above=int(data.get("above", 0)),
            infinite=int(data.get("infinite", 0)),
            nans=int(data.get("nans", 0)),
            minimum=_opt_float(data.get("minimum")),
            maximum=_opt_float(data.get("maximum")),
            mean=_float_in(data.get("mean")),
            m2=_float_in(data.get("m2", 0.0)),
            n=int(data.get("n", 0)),
            bins=None if bins is None else Bins.from_dict(bins),
            sums=None if sums is None else tuple(_float_in(v) for v in sums),
        )


@dataclass(frozen=True)
class Profile:
    """Profiles of a frame's columns (by name) and its row count; merges exactly."""

    columns: dict[str, ColumnProfile]
    rows: int

    @property
    def bins(self) -> dict[str, Bins]:
        """Each column's bins, by column name (those of a reference fix every comparison)."""
        return {name: c.bins for name, c in self.columns.items() if c.bins is not None}

    def merge(self, other: Profile) -> Profile:
        """The profile of both frames' rows together."""
        _check_same_columns(self, other)
        return Profile(
            columns={name: c.merge(other.columns[name]) for name, c in self.columns.items()},
            rows=self.rows + other.rows,
        )

    @staticmethod
    def merge_all(profiles: Sequence[Profile]) -> Profile:
        """All ``profiles`` merged in one pass: counts summed, moments by the k-way Chan form.

        Equal (counts exactly, moments to rounding) to folding :meth:`merge` over them, and
        much faster for many profiles.
        """
        if not profiles:
            raise UsageError(
                "Profile.merge_all got no profiles.", hint="Pass at least one profile."
            )
        first = profiles[0]
        for other in profiles[1:]:
            _check_same_columns(first, other)
        return Profile(
            columns={
                name: _merge_many([p.columns[name] for p in profiles]) for name in first.columns
            },
            rows=sum(p.rows for p in profiles),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, for storing with a model or dataset version."""
        return {
            "format": _FORMAT,
            "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """A profile from :meth:`to_dict` output."""
        try:
            version = int(data.get("format", _FORMAT))
            if version > _FORMAT:
                raise UsageError(
                    f"this profile was written in format {version}; this Keel reads up to "
                    f"{_FORMAT}.",
                    hint="Upgrade Keel to read it.",
                )
            columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
            return cls(columns={c.column: c for c in columns}, rows=int(data["rows"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"not a Keel profile: {type(exc).__name__}: {exc}.",
                hint="Pass the dictionary written by Profile.to_dict().",
            ) from exc


# --------------------------------------------------------------------------- merging


def _chan(a: ColumnProfile, b: ColumnProfile) -> tuple[int, float, float]:
    """Chan et al.'s pairwise update of (n, mean, m2); symmetric in its two sides."""
    if b.n == 0:
        return a.n, a.mean, a.m2
    if a.n == 0:
        return b.n, b.mean, b.m2
    n = a.n + b.n
    delta = b.mean - a.mean
    return n, (a.n * a.mean + b.n * b.mean) / n, a.m2 + b.m2 + delta * delta * (a.n * b.n / n)


def _extreme(
    pick: Callable[[Sequence[float]], float], values: Sequence[float | None]
) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _check_compatible(a: ColumnProfile, b: ColumnProfile) -> None:
    if a.bins is b.bins and a.column == b.column and len(a.counts) == len(b.counts):
        return
    if a.column != b.column or a.kind != b.kind:
        raise UsageError(
            f"cannot merge the profile of column {a.column!r} ({a.kind}) with that of "
            f"{b.column!r} ({b.kind}).",
            hint="Merge profiles of the same column.",
        )
    if a.bins != b.bins or len(a.counts) != len(b.counts):
        raise UsageError(
            f"cannot merge profiles of column {a.column!r}: they were counted over different bins.",
            hint="Profile every window with the same reference_bins(...) result.",
        )


def _check_same_columns(a: Profile, b: Profile) -> None:
    if a.columns.keys() != b.columns.keys():
        only_a = sorted(a.columns.keys() - b.columns.keys())
        only_b = sorted(b.columns.keys() - a.columns.keys())
        raise UsageError(
            f"cannot merge profiles of different columns (only in the first: {only_a}; "
            f"only in the second: {only_b}).",
            hint="Profile every window with the same bins.",
        )


def _merge_many(parts: list[ColumnProfile]) -> ColumnProfile:
    first = parts[0]
    for part in parts[1:]:
        _check_compatible(first, part)
    moments = [(p.n, p.mean, p.m2) for p in parts if p.n > 0]
    n = sum(m[0] for m in moments)
    mean, m2 = math.nan, 0.0
    if n:
        mean = math.fsum(k * mu for k, mu, _ in moments) / n
        m2 = math.fsum(s for _, _, s in moments) + math.fsum(
            k * (mu - mean) ** 2 for k, mu, _ in moments
        )
    return ColumnProfile(
        column=first.column,
        kind=first.kind,
        count=sum(p.count for p in parts),
        nulls=sum(p.nulls for p in parts),
        counts=tuple(map(sum, zip(*(p.counts for p in parts), strict=True))),
        below=sum(p.below for p in parts),
        above=sum(p.above for p in parts),
        infinite=sum(p.infinite for p in parts),
        nans=sum(p.nans for p in parts),
        minimum=_extreme(min, [p.minimum for p in parts]),
        maximum=_extreme(max, [p.maximum for p in parts]),
        mean=mean,
        m2=m2,
        n=n,
        bins=first.bins,
        sums=_added_sums([p.sums for p in parts]),
    )


def _added_sums(parts: Sequence[tuple[float, ...] | None]) -> tuple[float, ...] | None:
    """Bin sums added bin by bin (``math.fsum``: the same whatever the order); ``None``
    when any side has none."""
    present = [p for p in parts if p is not None]
    if len(present) < len(parts) or not present:
        return None
    return tuple(math.fsum(column) for column in zip(*present, strict=True))


# --------------------------------------------------------------------------- JSON helpers


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_out(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    return value if math.isfinite(value) else str(value)  # JSON has no inf: "inf"/"-inf"


def _float_in(value: Any) -> float:
    return math.nan if value is None else float(value)

"""What an engine must do to profile data for the monitor: one small typed protocol.

A *profile engine* turns data of some kind into the monitor's summaries (:class:`Profile`,
:class:`Bins`); everything above it (``profile``, ``compare``, reports, references) asks the
engine chosen for the data and never looks at how it computes. Two engines ship, each in its
own module, both written against this protocol the way narwhals' backends are written
against its compliant protocols:

* :mod:`keel.monitor._polars`: Polars frames, lazy frames, pandas, PyArrow and data files,
  profiled in one lazy query per dataset (the default);
* :mod:`keel.monitor._dask`: Dask DataFrames, profiled partition by partition by the Polars
  engine inside Dask tasks, and merged exactly. It is imported (with Dask) only when a Dask
  object arrives.

The engines depend on this module and on the profile data types; this module depends on no
engine, so no concept module imports another in a circle to reach an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from keel.errors import UsageError, did_you_mean
from keel.monitor._profile_data import Bins, Kind, Profile

if TYPE_CHECKING:
    import polars as pl

__all__ = ["KindsOf", "ProfileEngine", "is_dask", "require_columns"]

KindsOf = Callable[[Mapping[str, "pl.DataType"]], dict[str, Kind]]
"""Given the data's schema, the kind of each column to bin (the caller's column choice)."""


class ProfileEngine(Protocol):
    """How one kind of data is profiled: its schema, its reference, its profiles."""

    partitioned: bool
    """True when the data is profiled part by part outside one Polars query, so it cannot
    be filtered into slices by a Polars expression (``compare(slice_by=...)``)."""

    def schema(self, data: Any) -> Mapping[str, pl.DataType]:
        """Column names and Polars types of ``data``, reading no rows."""
        ...

    def reference(self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int) -> Profile:
        """The reference's bins for the columns ``kinds_of`` picks, and its profile on them."""
        ...

    def reference_bins(
        self, data: Any, kinds_of: KindsOf, *, bins: int, top_k: int
    ) -> dict[str, Bins]:
        """Only the reference's bins (an engine may find them for less than a profile)."""
        ...

    def profile_many(self, datas: Sequence[Any], bins: Mapping[str, Bins]) -> list[Profile]:
        """A profile of each of ``datas`` over the same ``bins``, in order."""
        ...


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.startswith("dask.") and hasattr(data, "to_delayed")


def require_columns(names: Sequence[str], schema: Mapping[str, Any], what: str) -> None:
    """A :class:`UsageError` naming the first of ``names`` not in ``schema``."""
    absent = [n for n in names if n not in schema]
    if absent:
        raise UsageError(
            f"{what}: column(s) {absent} not in the data.", hint=did_you_mean(absent[0], schema)
        )

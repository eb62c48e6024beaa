"""Derived (on-demand) features: typed Python functions of other features and request fields.

``@keel.features.derived`` on ``def debt_ratio(debt: float, income: float) -> float | None``
makes a feature named ``debt_ratio`` whose inputs are the features (or entity-frame columns,
the request fields) named like its parameters. The same function computes the value in a
training set and, later, online, so the two cannot drift apart. A parameter typed without
``None`` is never called with a missing value: the derived value is then null.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.contracts import DType, parse_annotation, polars_type
from keel.errors import UsageError
from keel.features._entity import checked_name, defined_at
from keel.versioning import fingerprint_function

if TYPE_CHECKING:
    import polars as pl

__all__ = ["DerivedFeature", "derived"]


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from others by a typed function (see :func:`derived`)."""

    name: str
    function: Callable[..., Any]
    inputs: tuple[tuple[str, bool], ...]
    """(parameter name, accepts None) in call order."""
    dtype: DType
    nullable: bool
    where: str

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        """The feature over the rows of ``frame`` (which holds every input column)."""
        import polars as pl

        columns = [frame.get_column(name).to_list() for name in self.input_names]
        optional = [accepts for _, accepts in self.inputs]
        names = self.input_names
        values: list[Any] = []
        for row in zip(*columns, strict=True) if columns else [() for _ in range(frame.height)]:
            if any(v is None and not ok for v, ok in zip(row, optional, strict=True)):
                values.append(None)
                continue
            values.append(self.function(**dict(zip(names, row, strict=True))))
        return pl.Series(self.name, values, dtype=polars_type(self.dtype), strict=False)

    def compute_one(self, row: Mapping[str, Any]) -> Any:
        """The feature for one row (online): the same function, the same missing-value rule
        as :meth:`compute`."""
        if any(row[name] is None and not ok for name, ok in self.inputs):
            return None
        return self.function(**{name: row[name] for name, _ in self.inputs})

    def fingerprint(self, root: Path) -> str:
        """The function's code and the project code it reaches (keel.versioning's walk)."""
        return fingerprint_function(self.function, root).digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": list(self.input_names),
            "type": self.dtype.value,
            "nullable": self.nullable,
            "function": f"{self.function.__module__}.{self.function.__qualname__}",
        }


def derived(function: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``function`` a derived feature (``@derived`` or ``@derived(name="ratio")``).

    Every parameter names an input (a feature or an entity-frame column) and is annotated
    with its type; the return annotation is the feature's type (``float``, ``int``, ``str``,
    ``bool``, ``date``, ``datetime``, with ``| None`` when it can be missing).
    """

    def make(fn: Callable[..., Any]) -> DerivedFeature:
        return _derived(fn, name, defined_at(2 if function is None else 3))

    if function is not None:
        return make(function)
    return make


def _derived(fn: Callable[..., Any], name: str | None, where: str) -> DerivedFeature:
    if not callable(fn):
        raise UsageError(f"{where}: @derived applies to a function, got {fn!r}.")
    label = checked_name(name or getattr(fn, "__name__", ""), "derived feature", where)
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError) as exc:
        raise UsageError(
            f"{where}: derived feature {label!r}: its annotations cannot be resolved ({exc}).",
            hint="Annotate with built-in types: float, int, str, bool, with | None if missing.",
        ) from None
    inputs: list[tuple[str, bool]] = []
    for parameter in _parameters(fn, label, where):
        parsed = parse_annotation(hints.get(parameter.name, inspect.Parameter.empty))
        if parsed is None:
            raise UsageError(
                f"{where}: derived feature {label!r}: parameter {parameter.name!r} needs a "
                "column type annotation.",
                hint=f"def {label}({parameter.name}: float, ...) -> float",
            )
        inputs.append((parameter.name, parsed[1]))
    returned = parse_annotation(hints.get("return", inspect.Parameter.empty))
    if returned is None:
        raise UsageError(
            f"{where}: derived feature {label!r} needs a return annotation naming its type.",
            hint=f"def {label}(...) -> float | None",
        )
    return DerivedFeature(label, fn, tuple(inputs), returned[0], returned[1], where)


def _parameters(fn: Callable[..., Any], label: str, where: str) -> Sequence[inspect.Parameter]:
    found = list(inspect.signature(fn).parameters.values())
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    odd = [p.name for p in found if p.kind not in plain]
    if odd or not found:
        raise UsageError(
            f"{where}: derived feature {label!r} must take named inputs"
            + (f"; {', '.join(odd)} are not" if odd else ", and takes none")
            + ".",
            hint=f"def {label}(income: float, debt: float) -> float",
        )
    return found

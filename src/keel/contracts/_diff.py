"""What changed between two versions of a contract, and whether it breaks existing data.

A change is **breaking** when data that satisfied the old contract may fail the new one:

* a column removed, or added (existing data lacks it);
* a column's type changed, except the widenings ``int`` → ``float`` (data validated with
  ``coerce=True``) and ``str`` ↔ ``categorical`` (the same data fits both);
* a nullable column made required;
* a range narrowed: a bound added, or raised (lower) / lowered (upper), or made exclusive;
* ``isin`` lost values or was added; ``notin`` gained values or was added;
* a ``pattern`` added or changed; a length bound added or tightened;
* ``unique`` or ``finite`` added;
* severity raised from ``warn`` to ``error``; ``mostly`` raised (no ``mostly`` means 1);
* ``strict`` turned on;
* a rule added, or changed in its kind or arguments (compared as in the file format).

The loosening counterparts are **compatible**. Renaming the contract and changing its
version, a description or a column's Python attribute are compatible changes shown as
**info**. Rules are matched by name when named, else by kind and columns.

``to_dict()`` shape (stable)::

    {"breaking": bool,
     "changes": [{"kind": str, "target": str, "breaking": bool, "message": str}]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from keel.contracts._checks import Check
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._types import DType
from keel.contracts._yaml import rule_to_dict
from keel.errors import ContractDefinitionError

__all__ = ["Change", "ContractDiff", "diff_contracts"]

_INFO = frozenset({"name_changed", "version_changed", "description_changed", "attribute_changed"})
_WIDENINGS = {
    (DType.INT, DType.FLOAT),
    (DType.STR, DType.CATEGORICAL),
    (DType.CATEGORICAL, DType.STR),
}

Bound = tuple[Any, bool]  # (value, inclusive)


@dataclass(frozen=True)
class Change:
    """One difference between two contracts."""

    kind: str
    """A stable identifier: ``column_removed``, ``range_narrowed``, ``rule_added``..."""
    target: str
    """The column or rule changed, or ``contract``."""
    breaking: bool
    message: str

    @property
    def impact(self) -> str:
        """``breaking``, ``compatible``, or ``info`` for documentation-only changes."""
        if self.breaking:
            return "breaking"
        return "info" if self.kind in _INFO else "compatible"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "breaking": self.breaking,
            "message": self.message,
        }


@dataclass(frozen=True)
class ContractDiff:
    """Every change from one contract to another; ``breaking`` if any change is."""

    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"breaking": self.breaking, "changes": [c.to_dict() for c in self.changes]}

    def __str__(self) -> str:
        if not self.changes:
            return "no changes"
        return "\n".join(f"[{c.impact}] {c.target}: {c.message}" for c in self.changes)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.changes:
            yield Text("No changes.", style="green")
            return
        count = sum(c.breaking for c in self.changes)
        verdict = Text(f"{count} breaking", style="bold red") if count else Text("compatible")
        title = Text.assemble(f"{len(self.changes)} change(s): ", verdict)
        table = Table(title=title, title_justify="left", expand=False)
        for header in ("impact", "target", "change", "detail"):
            table.add_column(header, overflow="fold")
        styles = {"breaking": "bold red", "compatible": "green", "info": "dim"}
        for change in self.changes:
            impact = Text(change.impact, style=styles[change.impact])
            table.add_row(impact, change.target, change.kind, change.message)
        yield table


def diff_contracts(old: Contract, new: Contract) -> ContractDiff:
    """The changes from ``old`` to ``new``, classified as breaking or compatible."""
    changes = [
        *_contract_changes(old, new),
        *_column_changes(old, new),
        *_rule_changes(old.rules, new.rules),
    ]
    return ContractDiff(tuple(changes))


# -- the contract itself -----------------------------------------------------------------
def _contract_changes(old: Contract, new: Contract) -> Iterator[Change]:
    target = "contract"
    if old.name != new.name:
        yield Change("name_changed", target, False, f"renamed {old.name!r} → {new.name!r}")
    if old.version != new.version:
        yield Change("version_changed", target, False, f"version {old.version!r} → {new.version!r}")
    if old.description != new.description:
        yield Change("description_changed", target, False, "description changed")
    if old.strict != new.strict:
        if new.strict:
            yield Change("strict_enabled", target, True, "strict: undeclared columns now fail")
        else:
            yield Change("strict_disabled", target, False, "no longer strict")


# -- columns -----------------------------------------------------------------------------
def _column_changes(old: Contract, new: Contract) -> Iterator[Change]:
    before = {spec.name: spec for spec in old.columns}
    after = {spec.name: spec for spec in new.columns}
    for name, spec in before.items():
        if name not in after:
            yield Change("column_removed", name, True, f"column {name!r} was removed")
        else:
            for compare in _COLUMN_CHECKS:
                yield from compare(spec, after[name])
    for name in after:
        if name not in before:
            yield Change(
                "column_added", name, True, f"column {name!r} was added; existing data lacks it"
            )


def _type(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    if a.dtype is not b.dtype:
        widening = (a.dtype, b.dtype) in _WIDENINGS
        note = " (a widening)" if widening else ""
        message = f"type {a.dtype.value} → {b.dtype.value}{note}"
        yield Change("type_changed", a.name, not widening, message)


def _nullable(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    if a.nullable and not b.nullable:
        yield Change("nullable_removed", a.name, True, "nullable → required: nulls now fail")
    elif b.nullable and not a.nullable:
        yield Change("nullable_added", a.name, False, "required → nullable")


def _lower(spec: ColumnSpec) -> Bound | None:
    return _strictest([(spec.ge, True), (spec.gt, False)], lower=True)


def _upper(spec: ColumnSpec) -> Bound | None:
    return _strictest([(spec.le, True), (spec.lt, False)], lower=False)


def _strictest(bounds: list[Bound], *, lower: bool) -> Bound | None:
    """The bound that admits fewer values (on a tie, the exclusive one)."""
    bounds = [b for b in bounds if b[0] is not None]
    if len(bounds) < 2:
        return bounds[0] if bounds else None
    try:
        if lower:
            return max(bounds, key=lambda b: (b[0], not b[1]))
        return min(bounds, key=lambda b: (b[0], b[1]))
    except TypeError:  # e.g. a naive and an aware datetime: keep the inclusive bound
        return bounds[0]


def _tightening(old: Bound | None, new: Bound | None, lower: bool) -> int:
    """+1 if ``new`` admits fewer values than ``old``, -1 if more, 0 if the same."""
    if old == new:
        return 0
    if old is None or new is None:
        return 1 if old is None else -1
    (a, a_inclusive), (b, _) = old, new
    if a != b:
        return 1 if (b > a) == lower else -1
    return 1 if a_inclusive else -1  # same value: exclusive is the tighter one


def _show(bound: Bound | None, lower: bool) -> str:
    if bound is None:
        return "none"
    op = (">" if lower else "<") + ("=" if bound[1] else "")
    return f"{op} {bound[0]}"


def _bound_change(
    column: str, what: str, old: Bound | None, new: Bound | None, *, lower: bool
) -> Iterator[Change]:
    try:
        tighter = _tightening(old, new, lower)
    except TypeError:  # values of different types (the column's type changed): a new range
        tighter = 1
    if tighter:
        side = "lower" if lower else "upper"
        message = f"{side} {what} {_show(old, lower)} → {_show(new, lower)}"
        kind = (
            f"{'range' if what == 'bound' else 'length'}_{'narrowed' if tighter > 0 else 'widened'}"
        )
        yield Change(kind, column, tighter > 0, message)


def _bounds(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    yield from _bound_change(a.name, "bound", _lower(a), _lower(b), lower=True)
    yield from _bound_change(a.name, "bound", _upper(a), _upper(b), lower=False)


def _lengths(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    def bound(value: int | None) -> Bound | None:
        return None if value is None else (value, True)

    low_a, low_b = bound(a.min_length), bound(b.min_length)
    yield from _bound_change(a.name, "length", low_a, low_b, lower=True)
    yield from _bound_change(
        a.name, "length", bound(a.max_length), bound(b.max_length), lower=False
    )


def _values(values: tuple[Any, ...]) -> str:
    shown = ", ".join(map(repr, values[:10]))
    return shown + (", ..." if len(values) > 10 else "")


def _isin(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    old, new = a.isin, b.isin
    if old == new:
        return
    if new is None:
        yield Change("isin_widened", a.name, False, "values no longer restricted to a set")
    elif old is None:
        yield Change("isin_narrowed", a.name, True, f"values now restricted to {_values(new)}")
    else:
        lost = tuple(v for v in old if v not in new)
        gained = tuple(v for v in new if v not in old)
        added = f"values now allowed: {_values(gained)}" if gained else ""
        if lost:
            message = f"values no longer allowed: {_values(lost)}" + (f"; {added}" if added else "")
            yield Change("isin_narrowed", a.name, True, message)
        elif gained:
            yield Change("isin_widened", a.name, False, added)


def _notin(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    old, new = a.notin or (), b.notin or ()
    if gained := tuple(v for v in new if v not in old):
        yield Change("notin_extended", a.name, True, f"values now forbidden: {_values(gained)}")
    elif lost := tuple(v for v in old if v not in new):
        yield Change("notin_reduced", a.name, False, f"values no longer forbidden: {_values(lost)}")


def _pattern(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    old, new = a.pattern, b.pattern
    if old == new:
        return
    if new is None:
        yield Change("pattern_removed", a.name, False, f"pattern {old!r} removed")
    elif old is None:
        yield Change("pattern_added", a.name, True, f"values must now match {new!r}")
    else:
        yield Change("pattern_changed", a.name, True, f"pattern {old!r} → {new!r}")


def _flags(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    for flag in ("unique", "finite"):
        before, after = getattr(a, flag), getattr(b, flag)
        if before != after:
            state = "added" if after else "removed"
            yield Change(f"{flag}_{state}", a.name, bool(after), f"{flag} {state}")


def _strength(target: str, old: Check | ColumnSpec, new: Check | ColumnSpec) -> Iterator[Change]:
    """Severity and ``mostly`` of a column or a rule."""
    if old.severity != new.severity:
        raised = new.severity == "error"
        kind = "severity_raised" if raised else "severity_lowered"
        yield Change(kind, target, raised, f"severity {old.severity} → {new.severity}")
    before = 1.0 if old.mostly is None else old.mostly
    after = 1.0 if new.mostly is None else new.mostly
    if before != after:
        kind = "mostly_raised" if after > before else "mostly_lowered"
        yield Change(kind, target, after > before, f"mostly {before:g} → {after:g}")


def _severity(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    yield from _strength(a.name, a, b)


def _documentation(a: ColumnSpec, b: ColumnSpec) -> Iterator[Change]:
    if a.description != b.description:
        yield Change("description_changed", a.name, False, "description changed")
    if a.attribute != b.attribute:
        old, new = a.attribute or a.name, b.attribute or b.name
        yield Change("attribute_changed", a.name, False, f"Python attribute {old} → {new}")


_COLUMN_CHECKS: tuple[Callable[[ColumnSpec, ColumnSpec], Iterator[Change]], ...] = (
    _type,
    _nullable,
    _bounds,
    _isin,
    _notin,
    _pattern,
    _lengths,
    _flags,
    _severity,
    _documentation,
)


# -- rules -------------------------------------------------------------------------------
def _form(check: Check) -> dict[str, Any]:
    """A rule as compared: its file form without severity and mostly."""
    try:
        form = rule_to_dict(check)
    except ContractDefinitionError:  # a custom check without a file form
        form = {"rule": check.kind, **check.params(), "name": check.name}
    return {k: v for k, v in form.items() if k not in {"severity", "mostly"}}


def _keyed(rules: tuple[Check, ...]) -> dict[tuple[Any, ...], Check]:
    """Rules by identity: the name if any, else kind and columns (numbered when repeated)."""
    out: dict[tuple[Any, ...], Check] = {}
    for check in rules:
        base = ("name", check.name) if check.name else (check.kind, check.columns)
        n = sum(1 for key in out if key[:2] == base)
        out[(*base, n)] = check
    return out


def _rule_changes(old: tuple[Check, ...], new: tuple[Check, ...]) -> Iterator[Change]:
    before, after = _keyed(old), _keyed(new)
    for key, check in before.items():
        if key not in after:
            yield Change("rule_removed", check.label, False, f"rule {check.label!r} removed")
            continue
        other = after[key]
        a, b = _form(check), _form(other)
        if a != b:
            diff = "; ".join(
                f"{k}: {a.get(k)!r} → {b.get(k)!r}"
                for k in dict.fromkeys([*a, *b])
                if a.get(k) != b.get(k)
            )
            yield Change("rule_changed", other.label, True, f"rule changed: {diff}")
        yield from _strength(other.label, check, other)
    for key, check in after.items():
        if key not in before:
            yield Change("rule_added", check.label, True, f"rule {check.label!r} added")

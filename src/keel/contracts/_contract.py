"""The contract as plain, frozen data: columns, their constraints, and rules.

A :class:`Contract` is what every form of a contract (a ``keel.Schema`` class, a YAML file,
a JSON document) becomes. It is validated when built, so a bad regex, a bound on a string
column or a rule naming a missing column fails at definition time, not mid-validation.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, Literal

from keel.contracts._checks import (
    Check,
    ColumnsPresent,
    DTypeCheck,
    Finite,
    IsIn,
    Length,
    NotNull,
    Pattern,
    Range,
    Unique,
)
from keel.contracts._field import Constraints, FieldInfo
from keel.contracts._regex import dialect_error, translate
from keel.contracts._types import DType
from keel.errors import ContractDefinitionError, did_you_mean

__all__ = ["ColumnKind", "ColumnSpec", "Contract"]

ColumnKind = Literal["numeric", "categorical", "datetime", "text"]
"""What a column's values are, for summaries such as monitoring profiles."""

_KINDS: dict[DType, ColumnKind] = {
    DType.INT: "numeric",
    DType.FLOAT: "numeric",
    DType.DECIMAL: "numeric",
    DType.BOOL: "categorical",
    DType.CATEGORICAL: "categorical",
    DType.STR: "text",
    DType.DATE: "datetime",
    DType.DATETIME: "datetime",
}

_BOUND_TYPES: dict[DType, tuple[type, ...]] = {
    DType.INT: (int,),
    DType.FLOAT: (int, float),
    DType.DECIMAL: (int, float, decimal.Decimal),
    DType.DATE: (dt.date,),
    DType.DATETIME: (dt.datetime,),
}


@dataclass(frozen=True, kw_only=True)
class ColumnSpec(Constraints):
    """One declared column: its name in the data, logical type, nullability and constraints."""

    name: str
    dtype: DType
    nullable: bool = False
    attribute: str | None = None
    """The Python attribute name, when it differs from ``name``."""

    @classmethod
    def from_field(
        cls, name: str, dtype: DType, nullable: bool, info: FieldInfo, attribute: str | None
    ) -> ColumnSpec:
        values = {f.name: getattr(info, f.name) for f in fields(Constraints)}
        return cls(name=name, dtype=dtype, nullable=nullable, attribute=attribute, **values)

    @property
    def kind(self) -> ColumnKind:
        """The column's kind by its declared type: ``numeric`` (int, float, decimal),
        ``categorical`` (categorical, bool), ``datetime`` (date, datetime) or ``text`` (str)."""
        return _KINDS[self.dtype]

    def constraints(self) -> dict[str, Any]:
        """The constraints that are set (not at their defaults), in declaration order."""
        skip = {"name", "dtype", "nullable", "attribute"}
        defaults = ColumnSpec(name="_", dtype=self.dtype)
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in skip and getattr(self, f.name) != getattr(defaults, f.name)
        }

    def checks(self) -> Iterator[Check]:
        common: dict[str, Any] = {"severity": self.severity, "mostly": self.mostly}
        name = self.name
        yield DTypeCheck(column=name, dtype=self.dtype, severity=self.severity)
        if not self.nullable:
            yield NotNull(column=name, **common)
        if any(v is not None for v in (self.ge, self.gt, self.le, self.lt)):
            yield Range(column=name, ge=self.ge, gt=self.gt, le=self.le, lt=self.lt, **common)
        if self.isin is not None:
            yield IsIn(column=name, values=self.isin, **common)
        if self.notin is not None:
            yield IsIn(column=name, values=self.notin, negate=True, **common)
        if self.pattern is not None:
            yield Pattern(column=name, pattern=self.pattern, **common)
        if self.min_length is not None or self.max_length is not None:
            yield Length(column=name, min=self.min_length, max=self.max_length, **common)
        if self.finite:
            yield Finite(column=name, **common)
        if self.unique:
            yield Unique(keys=(name,), **common)

    def validate(self, where: str) -> None:
        """Raise :class:`ContractDefinitionError` if the constraints cannot apply."""
        where = f"{where}, column {self.name!r}"
        _check_common(self.severity, self.mostly, where)
        bounds = {k: v for k in ("ge", "gt", "le", "lt") if (v := getattr(self, k)) is not None}
        if bounds:
            allowed = _BOUND_TYPES.get(self.dtype)
            if allowed is None:
                raise ContractDefinitionError(
                    f"{where}: bounds {sorted(bounds)} do not apply to type {self.dtype.value}.",
                    hint="Use isin=[...] or pattern= for strings and categories.",
                )
            for key, value in bounds.items():
                wrong_date = self.dtype is DType.DATE and isinstance(value, dt.datetime)
                if isinstance(value, bool) or not isinstance(value, allowed) or wrong_date:
                    raise ContractDefinitionError(
                        f"{where}: {key}={value!r} is not a {self.dtype.value} bound.",
                        hint=f"Give a {' or '.join(t.__name__ for t in allowed)} value.",
                    )
                if str(value).lower() == "nan":  # float or Decimal NaN
                    raise ContractDefinitionError(
                        f"{where}: {key}=NaN fails every value (NaN compares false).",
                        hint="Drop the bound, or use finite=True to refuse NaN values.",
                    )
        if (
            self.pattern is not None or self.min_length is not None or self.max_length is not None
        ) and not self.dtype.is_textual:
            raise ContractDefinitionError(
                f"{where}: pattern and length checks apply to strings, not {self.dtype.value}.",
                hint="Declare the column as str, or drop the check.",
            )
        if self.pattern is not None:
            check_regex(self.pattern, where)
        if self.finite and self.dtype is not DType.FLOAT:
            raise ContractDefinitionError(
                f"{where}: finite applies to float columns, not {self.dtype.value}.",
                hint="Only floats can hold NaN or infinity; drop finite=True.",
            )
        low, high = self.min_length, self.max_length
        if (low is not None and low < 0) or (low is not None and high is not None and low > high):
            raise ContractDefinitionError(
                f"{where}: length bounds min_length={low}, max_length={high} are impossible.",
                hint="Use 0 <= min_length <= max_length.",
            )


def _check_common(severity: object, mostly: object, where: str) -> None:
    if severity not in ("error", "warn"):
        raise ContractDefinitionError(
            f"{where}: severity must be 'error' or 'warn', got {severity!r}.",
            hint='Use severity="warn" to report without failing.',
        )
    if mostly is not None and (
        isinstance(mostly, bool) or not isinstance(mostly, int | float) or not 0 < mostly <= 1
    ):
        raise ContractDefinitionError(
            f"{where}: mostly must be a fraction in (0, 1], got {mostly!r}.",
            hint="mostly=0.99 lets 1% of rows fail.",
        )


def check_regex(pattern: str, where: str) -> None:
    """A pattern must be in Keel's dialect (see :mod:`keel.contracts._regex`) and compile,
    translated, for Python's ``re`` (serving), Rust's ``regex`` (Polars) and RE2 (Arrow)."""
    refused = dialect_error(pattern)
    if refused is not None:
        raise ContractDefinitionError(
            f"{where}: the pattern {pattern!r} uses {refused}, which not every engine supports.",
            hint="Keel patterns are RE2 syntax with ASCII classes (\\d, \\w, \\s); "
            "write the characters out, e.g. [0-9A-Za-zÀ-ÿ] for letters with accents.",
        )
    try:
        re.compile(translate(pattern, "python"))
    except re.error as exc:
        raise ContractDefinitionError(
            f"{where}: invalid regular expression {pattern!r}: {exc}.",
            hint="Fix the pattern; test it with re.compile().",
        ) from exc
    import polars as pl

    try:
        pl.select(pl.lit("").str.contains(translate(pattern, "rust")))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ContractDefinitionError(
            f"{where}: the pattern {pattern!r} is not supported by the Polars engine ({first}).",
            hint="Avoid look-around and back-references: Keel patterns must run on every engine.",
        ) from exc


@dataclass(frozen=True, kw_only=True)
class Contract:
    """A named, validated data contract: the engine-neutral form of a ``keel.Schema``."""

    name: str
    columns: tuple[ColumnSpec, ...]
    rules: tuple[Check, ...] = ()
    strict: bool = False
    description: str = ""
    version: str = ""

    def __post_init__(self) -> None:
        where = f"contract {self.name!r}"
        names = [c.name for c in self.columns]
        whole_rows = tuple(
            replace(r, keys=tuple(names)) if isinstance(r, Unique) and not r.keys else r
            for r in self.rules
        )
        object.__setattr__(self, "rules", whole_rows)  # unique() without columns: whole rows
        dupes = sorted(n for n, seen in Counter(names).items() if seen > 1)
        if dupes:
            raise ContractDefinitionError(
                f"{where}: columns declared twice: {', '.join(dupes)}.",
                hint="Give each column one declaration (use alias= for data names).",
            )
        for column in self.columns:
            column.validate(where)
        for rule in self.rules:
            _check_common(rule.severity, rule.mostly, f"{where}, rule {rule.label!r}")
            for name in rule.columns:
                if name not in names:
                    raise ContractDefinitionError(
                        f"{where}: rule {rule.label!r} uses column {name!r}, "
                        "which the contract does not declare.",
                        hint=did_you_mean(name, names),
                    )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise ContractDefinitionError(
            f"contract {self.name!r} has no column {name!r}.",
            hint=did_you_mean(name, self.column_names),
        )

    @cached_property
    def fingerprint(self) -> str:
        """A hex digest of the contract's file form (:func:`keel.contracts.contract_to_dict`):
        equal contracts have equal fingerprints, in any process; any change to a column, a
        check or a rule changes it. Caches, lineage and stores key contracts by it."""
        import json

        import blake3

        from keel.contracts._yaml import contract_to_dict  # the file form builds on this module

        text = json.dumps(contract_to_dict(self), sort_keys=True, default=str)
        return blake3.blake3(text.encode()).hexdigest()

    def checks(self) -> tuple[Check, ...]:
        """Every check: column presence, per-column types and constraints, then the rules."""
        present = ColumnsPresent(expected=self.column_names, strict=self.strict)
        return (present, *(c for spec in self.columns for c in spec.checks()), *self.rules)

    def with_strict(self, strict: bool) -> Contract:
        return self if strict == self.strict else replace(self, strict=strict)

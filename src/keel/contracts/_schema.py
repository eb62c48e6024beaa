"""``keel.Schema``: class-based contracts, and ``keel.Frame[S]``, data validated against one.

Declaring columns as annotations gives static facts: ``Loan.incme`` is a mypy error, and a
``Frame[Loan]`` is not a ``Frame[Features]``. The class body becomes a frozen
:class:`~keel.contracts.Contract` (``Loan.__contract__``) when the class is created, so
definition mistakes surface at import time.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from keel.contracts._checks import Check
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._expr import Column, Expr
from keel.contracts._field import FieldInfo
from keel.contracts._rules import Deferred, expression
from keel.contracts._types import parse_annotation
from keel.errors import ContractDefinitionError, did_you_mean

if TYPE_CHECKING:
    import polars as pl

    from keel.contracts._report import Report

__all__ = ["Frame", "Schema"]

S = TypeVar("S", bound="Schema")

_RESERVED = frozenset(
    {"validate", "check", "rules", "to_yaml", "to_json_schema", "contract", "column_names"}
)


class _SchemaMeta(type):
    __contract__: Contract  # every schema class's compiled contract (Schema declares it too)

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        strict: bool | None = None,
        contract_name: str | None = None,
        **kwargs: Any,
    ) -> _SchemaMeta:
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if namespace.get("__module__") == __name__ and name == "Schema":
            return cls
        if isinstance(namespace.get("__contract__"), Contract):  # from_contract(): prebuilt
            _bind_columns(cls, namespace["__contract__"].columns)
            return cls
        cls.__contract__ = _build_contract(cls, namespace, strict, contract_name)
        return cls


def _bind_columns(cls: type, specs: Iterable[ColumnSpec]) -> None:
    """Make each column a typed reference on the class: ``Loan.income``."""
    for spec in specs:
        setattr(cls, spec.attribute or spec.name, Column(spec.name))


def _own_columns(cls: type, namespace: dict[str, Any]) -> Iterator[ColumnSpec]:
    where = f"schema {cls.__qualname__}"
    try:
        hints = inspect.get_annotations(cls, eval_str=True)
    except Exception as exc:
        raise ContractDefinitionError(
            f"{where}: cannot resolve the column annotations ({exc}).",
            hint="Import every type the annotations name (keel, datetime, decimal) at module "
            "level.",
        ) from exc
    for attribute, annotation in hints.items():
        if attribute.startswith("_") or attribute == "rules":
            continue
        parsed = parse_annotation(annotation)
        if parsed is None:
            if getattr(annotation, "__origin__", None) is ClassVar:
                continue
            raise ContractDefinitionError(
                f"{where}: column {attribute!r} has annotation {annotation!r}, which is not a "
                "column type.",
                hint="Use int, float, bool, str, datetime.date, datetime.datetime, "
                "decimal.Decimal or keel.Categorical, optionally `| None`, or keel.Column[...].",
            )
        if attribute in _RESERVED:
            raise ContractDefinitionError(
                f"{where}: column name {attribute!r} collides with Schema.{attribute}.",
                hint="Name the attribute differently and map it: "
                f"x = keel.Field(alias={attribute!r}).",
            )
        default = namespace.get(attribute, FieldInfo())
        if not isinstance(default, FieldInfo):
            raise ContractDefinitionError(
                f"{where}: column {attribute!r} has default {default!r}; "
                "columns take keel.Field(...).",
                hint=f"Write {attribute}: ... = keel.Field(...), or drop the default.",
            )
        dtype, nullable = parsed
        data_name = default.alias or attribute
        yield ColumnSpec.from_field(
            data_name, dtype, nullable, default, attribute if data_name != attribute else None
        )


def _as_checks(cls: type, value: object, where: str, default_name: str | None) -> list[Check]:
    items = value if isinstance(value, tuple | list) else [value]
    checks: list[Check] = []
    for entry in items:
        item = expression(entry) if isinstance(entry, Expr) else entry
        if isinstance(item, Deferred):  # lambda s: (s.a, s.b): pick the columns now
            item = _build(item, cls, where)
        if not isinstance(item, Check):
            raise ContractDefinitionError(
                f"{where}: {item!r} is not a rule.",
                hint="Use keel.ordered(...), keel.rows(...), an expression such as S.a < S.b, ...",
            )
        named = default_name and item.name is None and len(items) == 1
        checks.append(_renamed(item, default_name) if named and default_name else item)
    return checks


def _build(deferred: Deferred, cls: type, where: str) -> Check:
    try:
        return deferred.build(cls)
    except AttributeError as exc:
        known = [n for n in vars(cls) if isinstance(getattr(cls, n, None), Column)]
        raise ContractDefinitionError(
            f"{where}: a rule's lambda reads {exc.name!r}, which is not a column of "
            f"{cls.__qualname__}.",
            hint=did_you_mean(str(exc.name), known),
        ) from None


def _renamed(check: Check, name: str) -> Check:
    from dataclasses import replace

    return replace(check, name=name)


def _build_contract(
    cls: type, namespace: dict[str, Any], strict: bool | None, contract_name: str | None
) -> Contract:
    parent: Contract | None = next(
        (b.__dict__["__contract__"] for b in cls.__mro__[1:] if "__contract__" in b.__dict__),
        None,
    )
    columns = {c.name: c for c in (parent.columns if parent else ())}
    for spec in _own_columns(cls, namespace):
        columns[spec.name] = spec
    _bind_columns(cls, columns.values())
    where = f"schema {cls.__qualname__}"
    rules = list(parent.rules if parent else ())
    rules += _as_checks(cls, namespace.get("rules", ()), f"{where}.rules", None)
    for attribute, member in namespace.items():
        if callable(member) and getattr(member, "__keel_rule__", False):
            rules += _as_checks(cls, member(cls), f"{where}.{attribute}", attribute)
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
    return Contract(
        name=contract_name or cls.__name__,
        columns=tuple(columns.values()),
        rules=tuple(rules),
        strict=strict if strict is not None else (parent.strict if parent else False),
        description=doc,
    )


class Schema(metaclass=_SchemaMeta):
    """Base class of class-based contracts.

    Annotate columns with their type (``int``, ``float | None``, ``keel.Column[str]``...) and
    constrain them with :func:`keel.Field`; add ``rules = (...)`` and ``@keel.rule`` methods for
    checks across columns. Class keywords: ``strict=True`` rejects undeclared columns,
    ``contract_name="loans"`` names the contract (default: the class name).
    """

    __contract__: ClassVar[Contract]

    @classmethod
    def check(
        cls,
        data: Any,
        *,
        coerce: bool = False,
        strict: bool | None = None,
        examples: int = 5,
    ) -> Report:
        """Check ``data`` and return the report; never raises for violations."""
        from keel.contracts._engine import checked_data

        return checked_data(
            cls.__contract__, data, coerce=coerce, strict=strict, examples=examples
        )[0]

    @classmethod
    def validate(
        cls,
        data: Any,
        *,
        coerce: bool = False,
        strict: bool | None = None,
        examples: int = 5,
    ) -> Frame[Self]:
        """Check ``data``; return it as a ``Frame[Self]`` or raise ``ContractError``.

        The error carries the full report (every failing check, not the first). With
        ``coerce=True`` columns are cast to the declared types first (values that do not
        convert are reported); warnings never fail validation.
        """
        from keel.contracts._engine import checked_data
        from keel.errors import ContractError

        report, native = checked_data(
            cls.__contract__, data, coerce=coerce, strict=strict, examples=examples
        )
        if not report.passed:
            raise ContractError(report)
        return Frame(native, cls, report)

    @classmethod
    def to_yaml(cls) -> str:
        """The contract as YAML, the form handed between teams."""
        from keel.contracts._yaml import dump_yaml

        return dump_yaml(cls.__contract__)

    @classmethod
    def to_json_schema(cls) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) for one record of this contract."""
        from keel.contracts._jsonschema import to_json_schema

        return to_json_schema(cls.__contract__)

    @classmethod
    def from_contract(cls, contract: Contract) -> type[Schema]:
        """A schema class for a contract built elsewhere (e.g. read from YAML)."""
        name = contract.name if contract.name.isidentifier() else "Contract"
        built = _SchemaMeta(name, (Schema,), {"__contract__": contract, "__module__": "keel"})
        return typing.cast(type[Schema], built)

    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        return cls.__contract__.column_names


class Frame(Generic[S]):
    """Data validated against the schema ``S``; ``Frame[A]`` is not a ``Frame[B]``.

    ``native`` is the data in the caller's own library (Polars, pandas, PyArrow, DuckDB,
    Dask), coerced if coercion was asked for; ``report`` is the validation report.
    """

    __slots__ = ("native", "report", "schema")

    def __init__(self, native: Any, schema: type[S], report: Report) -> None:
        self.native = native
        self.schema = schema
        self.report = report

    def to_polars(self) -> pl.DataFrame:
        """The data as an eager Polars DataFrame (collecting lazy data)."""
        import narwhals.stable.v2 as nw
        import polars as pl

        frame = nw.from_native(self.native)
        if isinstance(frame, nw.LazyFrame):
            frame = frame.collect()
        native = frame.to_polars()
        assert isinstance(native, pl.DataFrame)
        return native

    @property
    def columns(self) -> list[str]:
        import narwhals.stable.v2 as nw

        return list(nw.from_native(self.native).collect_schema().names())

    def __len__(self) -> int:
        return self.report.rows

    def __repr__(self) -> str:
        kind = type(self.native).__module__.split(".")[0]
        return f"Frame[{self.schema.__name__}]({kind}, {self.report.rows:,} rows)"

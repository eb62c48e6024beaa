"""From a contract file's data (parsed YAML or JSON) to a validated :class:`Contract`.

Every value is checked against the format (documented in ``_yaml``) and every mistake is
reported with the file, the line and the key path, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from keel.contracts._checks import Check
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._expr import parse_expr
from keel.contracts._rules import (
    aggregate,
    close,
    correlated,
    expression,
    fresh,
    functional_dependency,
    null_fraction,
    ordered,
    rows,
    unique,
)
from keel.contracts._types import DType
from keel.errors import ContractDefinitionError, did_you_mean

__all__ = ["FORMAT_VERSION", "RULE_FORMS", "START_HINT", "KeyPath", "contract_from_dict"]

FORMAT_VERSION = 1

KeyPath = tuple[str | int, ...]
"""Where a value sits in the file: ``("columns", "id", "ge")``, ``("rules", 2, "expr")``."""

_TOP_KEYS = ("keel", "name", "description", "version", "strict", "columns", "rules")
_COLUMN_KEYS = (
    *("type", "nullable", "ge", "gt", "le", "lt", "isin", "notin", "pattern", "min_length"),
    *("max_length", "unique", "finite", "mostly", "severity", "description", "attribute"),
)
_PLAIN_KEYS = {  # column key -> the _Reader method that checks its value
    **dict.fromkeys(("nullable", "unique", "finite"), "boolean"),
    **dict.fromkeys(("min_length", "max_length"), "integer"),
    **dict.fromkeys(("pattern", "description", "attribute"), "text"),
    "mostly": "fraction",
    "severity": "severity",
}
_TYPES = tuple(d.value for d in DType)
START_HINT = "A contract file starts with `keel: 1`, `name: ...` and `columns:`."
_NUMBER = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


def contract_from_dict(
    data: Any, source: str = "<dict>", lines: Mapping[KeyPath, int] | None = None
) -> Contract:
    """Build a contract from its file form (parsed YAML or JSON).

    ``source`` names the file in errors; ``lines`` maps key paths to line numbers.
    """
    return _Reader(source, lines or {}).contract(data)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}
    if value is None:
        return "nothing (null)"
    label = next((v for t, v in names.items() if isinstance(value, t)), None)
    return f"{label} ({value!r})" if label else f"{type(value).__name__} {value!r}"


def _ident(path: KeyPath) -> str:
    """The key a value sits under (for a list item, the list's key)."""
    return next((p for p in reversed(path) if isinstance(p, str)), "value")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_float(value: Any) -> Any:
    if _is_number(value):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)  # YAML 1.1 reads 1e-5 (no dot) as text
    raise ValueError


def _to_decimal(value: Any) -> Any:
    if _is_number(value) or isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, str):
        return decimal.Decimal(value.strip())
    raise ValueError


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise ValueError


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.strip())
    raise ValueError


def _of(kind: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        raise ValueError

    return convert


_VALUES: dict[DType, tuple[Callable[[Any], Any], str]] = {
    DType.INT: (_of(int), "Write a whole number, e.g. 0."),
    DType.FLOAT: (_to_float, "Write a number, e.g. 0.5."),
    DType.DECIMAL: (_to_decimal, "Write a number, or a decimal as text: '0.01'."),
    DType.DATE: (_to_date, "Write an ISO date, e.g. '2020-01-01'."),
    DType.DATETIME: (_to_datetime, "Write an ISO datetime, e.g. '2020-01-01T08:00:00+00:00'."),
    DType.BOOL: (_of(bool), "Write true or false."),
    DType.STR: (_of(str), "Quote it: YAML reads yes, no, on, off, 1 and 2020-01-01 unquoted."),
    DType.CATEGORICAL: (_of(str), "Quote it: YAML reads yes, no, on, off and 1 unquoted."),
}


@dataclass(frozen=True)
class _RuleForm:
    """A rule's own keys (each with the kind of value it takes), required keys, constructor."""

    fields: Mapping[str, str]
    required: tuple[str, ...]
    build: Callable[[dict[str, Any], dict[str, Any], tuple[str, ...]], Check]
    mostly: bool = True


_COMMON = {"rule": "text", "name": "text", "severity": "severity", "mostly": "fraction"}


def _pick(args: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: args[k] for k in keys if k in args}


RULE_FORMS: dict[str, _RuleForm] = {
    "ordered": _RuleForm(
        {"columns": "columns", "strict": "boolean"},
        ("columns",),
        lambda a, o, _: ordered(*a["columns"], **_pick(a, "strict"), **o),
    ),
    "expression": _RuleForm(
        {"expr": "expr"}, ("expr",), lambda a, o, _: expression(a["expr"], **o)
    ),
    "close": _RuleForm(
        {"left": "expr", "right": "expr", "abs_tol": "number", "rel_tol": "number"},
        ("left", "right"),
        lambda a, o, _: close(a["left"], a["right"], **_pick(a, "abs_tol", "rel_tol"), **o),
    ),
    "correlated": _RuleForm(
        {"columns": "pair", "min": "number", "max": "number"},
        ("columns",),
        lambda a, o, _: correlated(a["columns"][0], a["columns"][1], **_pick(a, "min", "max"), **o),
        mostly=False,
    ),
    "functional_dependency": _RuleForm(
        {"key": "key", "value": "column"},
        ("key", "value"),
        lambda a, o, _: functional_dependency(a["key"], a["value"], **o),
    ),
    "aggregate": _RuleForm(
        {"expr": "expr"}, ("expr",), lambda a, o, _: aggregate(a["expr"], **o), mostly=False
    ),
    "rows": _RuleForm(
        {"min": "integer", "max": "integer"},
        (),
        lambda a, o, _: rows(**_pick(a, "min", "max"), **o),
        mostly=False,
    ),
    "unique": _RuleForm(
        {"columns": "columns"}, (), lambda a, o, names: unique(*a.get("columns", names), **o)
    ),
    "null_fraction": _RuleForm(
        {"column": "column", "max": "number"},
        ("column", "max"),
        lambda a, o, _: null_fraction(a["column"], a["max"], **o),
        mostly=False,
    ),
    "fresh": _RuleForm(
        {"column": "column", "max_age": "text"},
        ("column", "max_age"),
        lambda a, o, _: fresh(a["column"], a["max_age"], **o),
        mostly=False,
    ),
}


class _Reader:
    """Turns parsed data into a :class:`Contract`, naming the file, line and key of mistakes."""

    def __init__(self, source: str, lines: Mapping[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.names: tuple[str, ...] = ()  # the declared columns, once read

    # -- errors ----------------------------------------------------------------------------
    def where(self, path: KeyPath) -> str:
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return f"{self.source}, line {line}"
        return self.source

    def error(self, path: KeyPath, message: str, hint: str) -> ContractDefinitionError:
        return ContractDefinitionError(f"{self.where(path)}: {message}", hint=hint)

    def wrap(self, exc: ContractDefinitionError, path: KeyPath) -> ContractDefinitionError:
        return ContractDefinitionError(f"{self.where(path)}: {exc.message}", hint=exc.hint)

    def check_keys(
        self, mapping: Mapping[Any, Any], path: KeyPath, known: tuple[str, ...], where: str
    ) -> None:
        for key in mapping:
            if key not in known:
                raise self.error(
                    (*path, str(key)),
                    f"unknown key {key!r} {where}.",
                    hint=did_you_mean(str(key), known),
                )

    def require(self, mapping: Mapping[Any, Any], path: KeyPath, key: str, where: str) -> Any:
        if key not in mapping:
            raise self.error(
                path, f"missing the required key {key!r} {where}.", hint=f"Add {key}: ..."
            )
        return mapping[key]

    # -- plain values (each checker takes the value and where it sits) --------------------
    def expect(self, ok: bool, value: Any, path: KeyPath, expected: str, hint: str) -> None:
        if not ok:
            message = f"{_ident(path)} must be {expected}, got {_kind(value)}."
            raise self.error(path, message, hint=hint)

    def boolean(self, value: Any, path: KeyPath) -> bool:
        key = _ident(path)
        hint = f"Write {key}: true or {key}: false, without quotes."
        self.expect(isinstance(value, bool), value, path, "true or false", hint)
        return bool(value)

    def text(self, value: Any, path: KeyPath) -> str:
        self.expect(isinstance(value, str), value, path, "text", "Quote the value.")
        return str(value)

    def integer(self, value: Any, path: KeyPath) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        self.expect(ok, value, path, "a whole number", f"Write {_ident(path)}: 10.")
        return int(value)

    def number(self, value: Any, path: KeyPath) -> Any:
        ok = _is_number(value) or (isinstance(value, str) and bool(_NUMBER.fullmatch(value)))
        self.expect(ok, value, path, "a number", f"Write {_ident(path)}: 0.5.")
        return _to_float(value)

    def fraction(self, value: Any, path: KeyPath) -> Any:
        number = self.number(value, path)
        hint = "mostly: 0.99 lets 1% of rows fail."
        self.expect(0 < number <= 1, value, path, "a fraction in (0, 1]", hint)
        return number

    def severity(self, value: Any, path: KeyPath) -> str:
        hint = "severity: warn reports failures without failing validation."
        self.expect(value in ("error", "warn"), value, path, "'error' or 'warn'", hint)
        return str(value)

    def items(self, value: Any, path: KeyPath) -> list[Any]:
        key = _ident(path)
        self.expect(isinstance(value, list), value, path, "a list", f"Write {key}: [a, b].")
        return list(value)

    # -- the contract ----------------------------------------------------------------------
    def contract(self, data: Any) -> Contract:
        if data is None:
            raise self.error((), "the contract is empty.", hint=START_HINT)
        if not isinstance(data, Mapping):
            raise self.error(
                (), f"a contract must be a mapping of keys, got {_kind(data)}.", hint=START_HINT
            )
        self.check_keys(data, (), _TOP_KEYS, "at the top level")
        self.format_version(data)
        name = self.text(self.require(data, (), "name", "at the top level"), ("name",))
        columns = self.columns(self.require(data, (), "columns", "at the top level"))
        self.names = tuple(spec.name for spec in columns)
        raw_rules = data.get("rules")
        rules = [] if raw_rules is None else self.items(raw_rules, ("rules",))
        checks = tuple(self.rule(item, ("rules", i)) for i, item in enumerate(rules))
        strict = self.boolean(data.get("strict", False), ("strict",))
        description = self.text(data.get("description", ""), ("description",))
        version = self.version(data.get("version", ""))
        try:
            return Contract(
                name=name,
                columns=columns,
                rules=checks,
                strict=strict,
                description=description,
                version=version,
            )
        except ContractDefinitionError as exc:
            raise self.wrap(exc, ()) from exc

    def format_version(self, data: Mapping[str, Any]) -> None:
        if "keel" not in data:
            raise self.error(
                (),
                "missing the format version key 'keel'.",
                hint=f"Add `keel: {FORMAT_VERSION}` as the first line.",
            )
        value = data["keel"]
        if isinstance(value, bool) or value != FORMAT_VERSION:
            raise self.error(
                ("keel",),
                f"unknown contract format version keel: {value!r}; "
                f"this Keel reads version {FORMAT_VERSION}.",
                hint=f"Write keel: {FORMAT_VERSION}, or upgrade Keel: pip install -U mlkeel.",
            )

    def version(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error(
                ("version",),
                f"version must be text, got {_kind(value)}.",
                hint='Quote it: version: "1.10" (a bare 1.10 is the number 1.1).',
            )
        return value

    def columns(self, value: Any) -> tuple[ColumnSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.error(
                ("columns",),
                f"columns must map each column name to its type and checks, got {_kind(value)}.",
                hint="Write columns:\n  id: {type: int}\n  income: {type: float, ge: 0}",
            )
        return tuple(self.column_spec(name, spec) for name, spec in value.items())

    # -- columns ---------------------------------------------------------------------------
    def column_spec(self, name: Any, spec: Any) -> ColumnSpec:
        path: KeyPath = ("columns", str(name))
        if not isinstance(name, str):
            raise self.error(
                path,
                f"the column name {name!r} is not text.",
                hint="Quote it: YAML reads yes, no, on, off and numbers unquoted.",
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            raise self.error(
                path,
                f"column {name!r} must be a mapping such as {{type: int}}, got {_kind(spec)}.",
                hint=f"Write {name}: {{type: str}}; types: {', '.join(_TYPES)}.",
            )
        where = f"in column {name!r}"
        self.check_keys(spec, path, _COLUMN_KEYS, where)
        dtype = self.dtype(self.require(spec, path, "type", where), (*path, "type"), name)
        values = {
            key: self.column_value(key, value, dtype, (*path, key), name)
            for key, value in spec.items()
            if key != "type"
        }
        column = ColumnSpec(name=name, dtype=dtype, **values)
        column.validate(self.where(path))
        return column

    def dtype(self, value: Any, path: KeyPath, column: str) -> DType:
        if not isinstance(value, str) or value not in _TYPES:
            raise self.error(
                path,
                f"unknown type {value!r} in column {column!r}.",
                hint=did_you_mean(str(value), _TYPES),
            )
        return DType(value)

    def column_value(self, key: str, value: Any, dtype: DType, path: KeyPath, column: str) -> Any:
        if key in {"ge", "gt", "le", "lt"}:
            # bounds on unordered types are reported by ColumnSpec.validate, with a better hint
            return self.value(value, dtype, path, column) if dtype.is_ordered else value
        if key in {"isin", "notin"}:
            items = self.items(value, path)
            return tuple(self.value(v, dtype, (*path, i), column) for i, v in enumerate(items))
        check: Callable[[Any, KeyPath], Any] = getattr(self, _PLAIN_KEYS[key])
        return check(value, path)

    def value(self, value: Any, dtype: DType, path: KeyPath, column: str) -> Any:
        if value is None:
            return None
        convert, hint = _VALUES[dtype]
        try:
            return convert(value)
        except (ValueError, decimal.InvalidOperation):
            raise self.error(
                path,
                f"{_ident(path)}: {value!r} in column {column!r} is not a valid {dtype.value}.",
                hint=hint,
            ) from None

    # -- rules -----------------------------------------------------------------------------
    def rule(self, item: Any, path: KeyPath) -> Check:
        if not isinstance(item, Mapping):
            raise self.error(
                path,
                f"each rule must be a mapping such as {{rule: rows, min: 1}}, got {_kind(item)}.",
                hint=f"Rules: {', '.join(RULE_FORMS)}.",
            )
        kind = self.require(item, path, "rule", f"in rule {path[-1]}")
        form = RULE_FORMS.get(kind) if isinstance(kind, str) else None
        if form is None:
            raise self.error(
                (*path, "rule"), f"unknown rule {kind!r}.", hint=did_you_mean(str(kind), RULE_FORMS)
            )
        common = ("name", "severity", "mostly") if form.mostly else ("name", "severity")
        where = f"in rule {kind!r}"
        self.check_keys(item, path, ("rule", *form.fields, *common), where)
        for key in form.required:
            self.require(item, path, key, where)
        kinds = {**_COMMON, **form.fields}
        args = {k: self.rule_value(kinds[k], v, (*path, k)) for k, v in item.items()}
        options = {k: args.pop(k) for k in common if k in args}
        del args["rule"]
        try:
            return form.build(args, options, self.names)
        except ContractDefinitionError as exc:
            raise self.wrap(exc, path) from exc

    def rule_value(self, kind: str, value: Any, path: KeyPath) -> Any:
        if kind == "expr":
            try:
                return parse_expr(self.text(value, path), columns=self.names)
            except ContractDefinitionError as exc:
                raise self.wrap(exc, path) from exc
        if kind in {"columns", "pair", "key"}:
            return self.column_refs(kind, value, path)
        check: Callable[[Any, KeyPath], Any] = getattr(self, kind)
        return check(value, path)

    def column_refs(self, kind: str, value: Any, path: KeyPath) -> Any:
        if kind == "key" and isinstance(value, str):
            return self.column(value, path)
        refs = [self.column(v, (*path, i)) for i, v in enumerate(self.items(value, path))]
        if kind == "pair" and len(refs) != 2:
            raise self.error(
                path,
                f"columns must name exactly two columns, got {len(refs)}.",
                hint="Write columns: [income, amount].",
            )
        return refs

    def column(self, value: Any, path: KeyPath) -> str:
        """A column a rule names, which the contract must declare."""
        name = self.text(value, path)
        if name not in self.names:
            raise self.error(
                path,
                f"the rule uses column {name!r}, which the contract does not declare.",
                hint=did_you_mean(name, self.names),
            )
        return name

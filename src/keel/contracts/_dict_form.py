"""From a contract file's data (parsed YAML or JSON) to a validated :class:`Contract`.

Every value is checked against the format (documented in ``_yaml``) and every mistake is
reported at once, each with the file, the line and the key path, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
from keel.errors import ContractDefinitionError, ContractFileError, Problem, did_you_mean
from keel.grammar import Document, KeyPath, Location, Reader, kind_of, suggestion

__all__ = [
    "FORMAT_VERSION",
    "RULE_FORMS",
    "START_HINT",
    "KeyPath",
    "contract_from_dict",
    "contract_from_document",
]

FORMAT_VERSION = 1

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

    ``source`` names the file in errors; ``lines`` maps key paths to line numbers. Raises
    :class:`~keel.errors.ContractFileError` listing every mistake.
    """
    where = {path: Location(source, line, None, path) for path, line in (lines or {}).items()}
    return contract_from_document(Document(source, data, where))


def contract_from_document(document: Document) -> Contract:
    """Build a contract from a read file (``keel.grammar.read_yaml``): plain data, the
    location of every key, and the problems found while reading, reported with the rest."""
    return _Reader(document).contract(document.data)


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


class _PartError(Exception):
    """Stops reading one part (a column, a rule, a top-level key); its problem is kept and
    reading goes on with the next part."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


_MARK = "\0"  # where ColumnSpec.validate puts the location, removed from its messages


class _Reader:
    """Turns parsed data into a :class:`Contract`, collecting every mistake with its file,
    line and key; each column and each rule is read on its own, so one bad column does not
    hide the next."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.located = Reader(document, what="contract", error=ContractFileError)
        self.names: tuple[str, ...] = ()  # the declared columns, once read

    # -- errors ----------------------------------------------------------------------------
    def error(self, path: KeyPath, message: str, hint: str) -> _PartError:
        return _PartError(self.document.problem(path, message.rstrip("."), hint=hint))

    def wrap(self, exc: ContractDefinitionError, path: KeyPath) -> _PartError:
        return self.error(path, exc.message, exc.hint or "")

    @contextmanager
    def each(self) -> Iterator[None]:
        """Read one part; a mistake in it is collected and reading goes on."""
        try:
            yield
        except _PartError as mistake:
            self.located.problems.append(mistake.problem)

    def check_keys(self, mapping: Mapping[Any, Any], path: KeyPath, known: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in known:
                self.located.unknown((*path, str(key)), str(key), known)

    def require(self, mapping: Mapping[Any, Any], path: KeyPath, key: str) -> Any:
        if key not in mapping:
            raise self.error(path, f"missing the required key {key!r}", hint=f"Add {key}: ...")
        return mapping[key]

    # -- plain values (each checker takes the value and where it sits) --------------------
    def expect(self, ok: bool, value: Any, path: KeyPath, expected: str, hint: str) -> None:
        if not ok:
            raise self.error(path, f"must be {expected}, got {kind_of(value)}", hint=hint)

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
        if data is None or not isinstance(data, Mapping):
            empty = data is None and not self.located.problems
            message = f"a contract must be a mapping of keys, got {kind_of(data)}"
            self.located.problem((), "the contract is empty" if empty else message, hint=START_HINT)
            self.located.finish()
        self.check_keys(data, (), _TOP_KEYS)
        with self.each():
            self.format_version(data)
        name = ""
        with self.each():
            name = self.text(self.require(data, (), "name"), ("name",))
        columns: tuple[ColumnSpec, ...] = ()
        with self.each():
            columns = self.columns(self.require(data, (), "columns"))
        checks = self.rules(data.get("rules"))
        strict, description, version = False, "", ""
        with self.each():
            strict = self.boolean(data.get("strict", False), ("strict",))
        with self.each():
            description = self.text(data.get("description", ""), ("description",))
        with self.each():
            version = self.version(data.get("version", ""))
        self.located.finish()
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
            problem = self.wrap(exc, ()).problem
            raise ContractFileError(self.document.source, [problem], what="contract") from exc

    def format_version(self, data: Mapping[str, Any]) -> None:
        if "keel" not in data:
            raise self.error(
                (),
                "missing the format version key 'keel'",
                hint=f"Add `keel: {FORMAT_VERSION}` as the first line.",
            )
        value = data["keel"]
        if isinstance(value, bool) or value != FORMAT_VERSION:
            raise self.error(
                ("keel",),
                f"unknown contract format version keel: {value!r}; "
                f"this Keel reads version {FORMAT_VERSION}",
                hint=f"Write keel: {FORMAT_VERSION}, or upgrade Keel: pip install -U mlkeel.",
            )

    def version(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error(
                ("version",),
                f"must be text, got {kind_of(value)}",
                hint='Quote it: version: "1.10" (a bare 1.10 is the number 1.1).',
            )
        return value

    def columns(self, value: Any) -> tuple[ColumnSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.error(
                ("columns",),
                f"must map each column name to its type and checks, got {kind_of(value)}",
                hint="Write columns:\n  id: {type: int}\n  income: {type: float, ge: 0}",
            )
        self.names = tuple(name for name in value if isinstance(name, str))
        specs = []
        for name, spec in value.items():
            with self.each():
                column = self.column_spec(name, spec)
                if column is not None:
                    specs.append(column)
        return tuple(specs)

    # -- columns ---------------------------------------------------------------------------
    def column_spec(self, name: Any, spec: Any) -> ColumnSpec | None:
        path: KeyPath = ("columns", str(name))
        if not isinstance(name, str):
            raise self.error(
                path,
                f"the column name {name!r} is not text",
                hint="Quote it: YAML reads yes, no, on, off and numbers unquoted.",
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            raise self.error(
                path,
                f"must be a mapping such as {{type: int}}, got {kind_of(spec)}",
                hint=f"Write {name}: {{type: str}}; types: {', '.join(_TYPES)}.",
            )
        before = len(self.located.problems)
        self.check_keys(spec, path, _COLUMN_KEYS)
        dtype = self.dtype(self.require(spec, path, "type"), (*path, "type"))
        values = {}
        for key, value in spec.items():
            if key != "type" and key in _COLUMN_KEYS:
                with self.each():
                    values[key] = self.column_value(key, value, dtype, (*path, key))
        if len(self.located.problems) > before:
            return None
        column = ColumnSpec(name=name, dtype=dtype, **values)
        try:
            column.validate(_MARK)
        except ContractDefinitionError as exc:
            message = exc.message.removeprefix(f"{_MARK}, column {name!r}: ")
            raise self.error(path, message, exc.hint or "") from exc
        return column

    def dtype(self, value: Any, path: KeyPath) -> DType:
        if not isinstance(value, str) or value not in _TYPES:
            raise _PartError(
                self.document.problem(
                    path,
                    f"unknown type {value!r}{suggestion(str(value), _TYPES)}",
                    allowed=", ".join(_TYPES),
                    hint="A column's type is one of the allowed names.",
                )
            )
        return DType(value)

    def column_value(self, key: str, value: Any, dtype: DType, path: KeyPath) -> Any:
        if key in {"ge", "gt", "le", "lt"}:
            # bounds on unordered types are reported by ColumnSpec.validate, with a better hint
            return self.value(value, dtype, path) if dtype.is_ordered else value
        if key in {"isin", "notin"}:
            items = self.items(value, path)
            return tuple(self.value(v, dtype, (*path, i)) for i, v in enumerate(items))
        check: Callable[[Any, KeyPath], Any] = getattr(self, _PLAIN_KEYS[key])
        return check(value, path)

    def value(self, value: Any, dtype: DType, path: KeyPath) -> Any:
        if value is None:
            return None
        convert, hint = _VALUES[dtype]
        try:
            return convert(value)
        except (ValueError, decimal.InvalidOperation):
            raise self.error(path, f"{value!r} is not a valid {dtype.value}", hint=hint) from None

    # -- rules -----------------------------------------------------------------------------
    def rules(self, value: Any) -> tuple[Check, ...]:
        items: list[Any] = []
        with self.each():
            items = [] if value is None else self.items(value, ("rules",))
        checks = []
        for i, item in enumerate(items):
            with self.each():
                check = self.rule(item, ("rules", i))
                if check is not None:
                    checks.append(check)
        return tuple(checks)

    def rule(self, item: Any, path: KeyPath) -> Check | None:
        if not isinstance(item, Mapping):
            raise self.error(
                path,
                f"must be a mapping such as {{rule: rows, min: 1}}, got {kind_of(item)}",
                hint=f"Rules: {', '.join(RULE_FORMS)}.",
            )
        kind = self.require(item, path, "rule")
        form = RULE_FORMS.get(kind) if isinstance(kind, str) else None
        if form is None:
            raise _PartError(
                self.document.problem(
                    (*path, "rule"),
                    f"unknown rule {kind!r}{suggestion(str(kind), tuple(RULE_FORMS))}",
                    allowed=", ".join(RULE_FORMS),
                    hint="docs/contracts.md shows every rule's keys.",
                )
            )
        before = len(self.located.problems)
        common = ("name", "severity", "mostly") if form.mostly else ("name", "severity")
        known = ("rule", *form.fields, *common)
        self.check_keys(item, path, known)
        for key in form.required:
            with self.each():
                self.require(item, path, key)
        kinds = {**_COMMON, **form.fields}
        args = {}
        for key, value in item.items():
            if key in known:
                with self.each():
                    args[key] = self.rule_value(kinds[key], value, (*path, key))
        if len(self.located.problems) > before:
            return None
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
                f"must name exactly two columns, got {len(refs)}",
                hint="Write columns: [income, amount].",
            )
        return refs

    def column(self, value: Any, path: KeyPath) -> str:
        """A column a rule names, which the contract must declare."""
        name = self.text(value, path)
        if name not in self.names:
            raise self.error(
                path,
                f"the rule uses column {name!r}, which the contract does not declare",
                hint=did_you_mean(name, self.names),
            )
        return name

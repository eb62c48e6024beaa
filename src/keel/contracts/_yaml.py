"""Contracts as files: the YAML (or JSON) form of a contract, handed between teams.

The format, version 1::

    keel: 1              # format version; required; unknown versions are an error
    name: Loan           # required
    description: ...     # optional
    version: "3"         # optional, text (a bare number is read as text)
    strict: false        # optional; true rejects columns the contract does not declare
    columns:             # required: column name -> its type and checks
      id: {type: int, unique: true}
      income: {type: float, nullable: true, ge: 0, description: "yearly, USD"}
      state: {type: categorical, isin: [CA, NY]}
      email: {type: str, pattern: "^[^@\\s]+@[^@\\s]+$", severity: warn, mostly: 0.99}
      opened: {type: date, ge: "2020-01-01"}
      flag: bool         # shorthand for {type: bool}
    rules:               # optional
      - {rule: ordered, columns: [q10, q50, q90]}            # strict: true for <
      - {rule: correlated, columns: [income, amount], min: 0.0}   # min and/or max
      - {rule: rows, min: 1000}                              # min and/or max
      - {rule: expression, expr: "abs(total - price * qty) <= 0.01", name: total_matches}
      - {rule: close, left: total, right: "price * qty", abs_tol: 0.01}   # and rel_tol
      - {rule: unique, columns: [a, b]}                      # no columns: all columns
      - {rule: functional_dependency, key: [zip], value: state}
      - {rule: null_fraction, column: income, max: 0.05}
      - {rule: fresh, column: ts, max_age: 7d}               # s, m, h, d, w
      - {rule: aggregate, expr: "mean(amount) < 50000"}

Column keys: ``type`` (``int``, ``float``, ``bool``, ``str``, ``categorical``, ``date``,
``datetime``, ``decimal``; required), ``nullable``, ``ge``, ``gt``, ``le``, ``lt``, ``isin``,
``notin``, ``pattern``, ``min_length``, ``max_length``, ``unique``, ``finite``, ``mostly``,
``severity`` (``error`` or ``warn``), ``description``, and ``attribute`` (the Python
attribute name when it differs from the column name; used by generated code). Every rule
also takes ``name`` and ``severity``; ``ordered``, ``expression``, ``close``,
``functional_dependency`` and ``unique`` also take ``mostly``.

Values follow the column type: dates and datetimes are ISO text (``"2020-01-01"``,
``"2020-01-01T08:00:00+00:00"``), decimals are text or numbers. Keys at their defaults are
left out when writing. Files are read with YAML's safe loader only (no Python objects), and
every mistake is reported with the file, the line and the key, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from keel.contracts._checks import Check, Fresh, format_duration, parse_duration
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
from keel.errors import ContractDefinitionError, InputError, did_you_mean

__all__ = [
    "FORMAT_VERSION",
    "contract_from_dict",
    "contract_to_dict",
    "dump_yaml",
    "load_yaml",
    "read_contract",
    "rule_to_dict",
]

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
_START = "A contract file starts with `keel: 1`, `name: ...` and `columns:`."
_NUMBER = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


# -- writing -------------------------------------------------------------------------------
def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """The contract as plain, JSON-safe data in the file format (defaults left out)."""
    out: dict[str, Any] = {"keel": FORMAT_VERSION, "name": contract.name}
    if contract.description:
        out["description"] = contract.description
    if contract.version:
        out["version"] = contract.version
    if contract.strict:
        out["strict"] = True
    out["columns"] = {spec.name: _column_to_dict(spec) for spec in contract.columns}
    if contract.rules:
        out["rules"] = [rule_to_dict(check) for check in contract.rules]
    return out


def _column_to_dict(spec: ColumnSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.dtype.value}
    if spec.nullable:
        out["nullable"] = True
    out.update({key: _plain(value) for key, value in spec.constraints().items()})
    if spec.attribute is not None:
        out["attribute"] = spec.attribute
    return out


def rule_to_dict(check: Check) -> dict[str, Any]:
    """One rule in the file format: ``{"rule": kind, **params, name?, severity?, mostly?}``."""
    if check.kind not in _RULES:
        raise ContractDefinitionError(
            f"the rule {check.label!r} (kind {check.kind!r}) has no file form.",
            hint="Build rules with keel.ordered(), keel.expression(), keel.rows(), ...",
        )
    out: dict[str, Any] = {"rule": check.kind, **check.params()}
    if isinstance(check, Fresh):
        out["max_age"] = _duration_text(check.max_age)
    if check.name is not None:
        out["name"] = check.name
    if check.severity != "error":
        out["severity"] = check.severity
    if check.mostly is not None:
        out["mostly"] = check.mostly
    return {key: _plain(value) for key, value in out.items()}


def _duration_text(value: dt.timedelta) -> str:
    """``7d``, ``36h``... when exact, else seconds (``86401s``, ``0.5s``)."""
    text = format_duration(value)
    if parse_duration(text) == value:
        return text
    seconds = value.total_seconds()
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds!r}s"


def _plain(value: Any) -> Any:
    """JSON-safe values: dates and datetimes as ISO text, decimals as text, tuples as lists."""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{type: int, unique: true}``."""


class _Block(dict[str, Any]):
    """A mapping written one key per line."""


_UNICODE_BREAKS = frozenset("\x85\u2028\u2029")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # never write &id001 anchors, even when a list object is shared

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None  # falls back to quotes when a block cannot hold it
    if _UNICODE_BREAKS & set(data):  # written raw, they would read back as line breaks
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(
    _Block, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)

_WIDTH = 100


def _styled(mapping: dict[str, Any], indent: int) -> dict[str, Any]:
    """One line when the mapping fits and holds no multi-line text; else one key per line."""
    line = yaml.dump(
        mapping,
        Dumper=_Dumper,
        default_flow_style=True,
        sort_keys=False,
        allow_unicode=True,
        width=10**9,
    ).strip()
    multiline = any(isinstance(v, str) and "\n" in v for v in mapping.values())
    fits = not multiline and indent + len(line) <= _WIDTH
    return _Flow(mapping) if fits else _Block(mapping)


def dump_yaml(contract: Contract) -> str:
    """The contract as YAML text in the documented format, keys in a stable order."""
    data = contract_to_dict(contract)
    data["columns"] = {
        name: _styled(spec, len(str(name)) + 4) for name, spec in data["columns"].items()
    }
    if "rules" in data:
        data["rules"] = [_styled(item, 4) for item in data["rules"]]
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
        default_flow_style=None,
    )


# -- reading -------------------------------------------------------------------------------
def read_contract(path: str | Path) -> Contract:
    """Read a contract from a ``.yaml``, ``.yml`` or ``.json`` file."""
    file = Path(path)
    if not file.exists():
        raise InputError(
            f"the contract file {file} does not exist.",
            hint=f"Check the path (relative paths start at {Path.cwd()}).",
        )
    suffix = file.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise InputError(
            f"cannot read a contract from {file}: unsupported extension {suffix or '(none)'!r}.",
            hint="Contracts are .yaml, .yml or .json files.",
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the contract file {file} is not UTF-8 text.", hint="Save it as UTF-8."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"cannot read the contract file {file}: {exc.strerror or exc}.",
            hint="Check that it is a readable file, not a folder.",
        ) from exc
    source = str(path)
    return _load_json(text, source) if suffix == ".json" else load_yaml(text, source)


def load_yaml(text: str, source: str = "<string>") -> Contract:
    """Parse a contract from YAML text; errors name ``source``, the line and the key."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ContractDefinitionError(f"{source}: the contract is empty.", hint=_START)
        lines = _line_map(node, source)  # before constructing, which flattens merge keys
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from exc
    except yaml.YAMLError as exc:
        raise ContractDefinitionError(
            f"{source}: invalid YAML: {exc}", hint="Check the file's syntax."
        ) from exc
    finally:
        loader.dispose()
    return contract_from_dict(data, source, lines)


class _BadDate(yaml.constructor.ConstructorError):
    """A scalar that looks like a date but is not one (``2020-13-01``)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, reporting an impossible date (2020-13-01) with its line."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise _BadDate(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark
            ) from exc


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _load_json(text: str, source: str) -> Contract:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractDefinitionError(
            f"{source}, line {exc.lineno}: invalid JSON: {exc.msg}.",
            hint="Check commas, quotes and brackets near that line.",
        ) from exc
    try:  # JSON is YAML, which tells where each key sits; best effort
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None
    return contract_from_dict(data, source, _line_map(node, source) if node else {})


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> ContractDefinitionError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}, line {mark.line + 1}" if mark else source
    problem = exc.problem or "syntax error"
    context = f" ({exc.context})" if exc.context else ""
    if isinstance(exc, _BadDate):
        hint = "Write a real date as YYYY-MM-DD."
    elif isinstance(exc, yaml.composer.ComposerError):
        hint = "A contract file holds one YAML document: remove the extra '---'."
    elif isinstance(exc, yaml.constructor.ConstructorError):
        hint = "Contracts hold plain values only (no !!tags); quote a value to keep it as text."
    else:
        hint = "Indent with spaces, not tabs; quote values that hold ': ' or ' #'."
    return ContractDefinitionError(f"{where}: invalid YAML: {problem}{context}.", hint=hint)


def _line_map(node: yaml.Node, source: str) -> dict[KeyPath, int]:
    """The 1-based line of every key down to list items inside columns and rules."""
    lines: dict[KeyPath, int] = {}
    _walk(node, (), lines, source)
    return lines


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if len(path) >= 4:  # deep enough for every key of the format; also stops alias cycles
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            text = _key_text(key)
            line = key.start_mark.line + 1
            if text in seen and text != "<<":
                where = ".".join(map(str, path)) or "the top level"
                raise ContractDefinitionError(
                    f"{source}, line {line}: duplicate key {text!r} in {where}.",
                    hint="Keep one of the two; YAML would silently use the last.",
                )
            seen.add(text)
            lines[(*path, text)] = line
            _walk(value, (*path, text), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, source)


def _key_text(key: yaml.Node) -> str:
    """A key as the parsed data will hold it, as text (``yes`` becomes ``"True"``)."""
    if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:str":
        try:
            return str(yaml.safe_load(key.value))
        except (yaml.YAMLError, ValueError):
            pass
    return str(key.value)


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


_RULES: dict[str, _RuleForm] = {
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
            raise self.error((), "the contract is empty.", hint=_START)
        if not isinstance(data, Mapping):
            raise self.error(
                (), f"a contract must be a mapping of keys, got {_kind(data)}.", hint=_START
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
                hint=f"Rules: {', '.join(_RULES)}.",
            )
        kind = self.require(item, path, "rule", f"in rule {path[-1]}")
        form = _RULES.get(kind) if isinstance(kind, str) else None
        if form is None:
            raise self.error(
                (*path, "rule"), f"unknown rule {kind!r}.", hint=did_you_mean(str(kind), _RULES)
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

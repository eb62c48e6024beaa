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
left out when writing. Files are read with ``keel.grammar.read_yaml`` (plain values only: no
tags, no key given twice), and every mistake is reported at once, each with the file, the
line and the key, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import yaml

from keel.contracts._checks import Check
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._dict_form import (
    FORMAT_VERSION,
    RULE_FORMS,
    contract_from_dict,
    contract_from_document,
)
from keel.errors import (
    ContractDefinitionError,
    ContractFileError,
    InputError,
    InvalidFileError,
    Problem,
)
from keel.grammar import Document, read_yaml

__all__ = [
    "FORMAT_VERSION",
    "contract_from_dict",
    "contract_to_dict",
    "dump_yaml",
    "load_yaml",
    "read_contract",
    "rule_to_dict",
]


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
    if check.kind not in RULE_FORMS:
        raise ContractDefinitionError(
            f"the rule {check.label!r} (kind {check.kind!r}) has no file form.",
            hint="Build rules with keel.ordered(), keel.expression(), keel.rows(), ...",
        )
    out: dict[str, Any] = {"rule": check.kind, **check.params()}
    if check.name is not None:
        out["name"] = check.name
    if check.severity != "error":
        out["severity"] = check.severity
    if check.mostly is not None:
        out["mostly"] = check.mostly
    return {key: _plain(value) for key, value in out.items()}


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


class _LineDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Renders a mapping on one line to measure it: libyaml's emitter where installed, as
    fast as the result is long (the Python one took 1 ms a column, 10 s at 10,000 columns)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_LineDumper.add_representer(str, _represent_str)


def _styled(mapping: dict[str, Any], indent: int) -> dict[str, Any]:
    """One line when the mapping fits and holds no multi-line text; else one key per line."""
    line = yaml.dump(
        mapping,
        Dumper=_LineDumper,
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
    """Parse a contract from YAML text; every mistake is reported at once, each with
    ``source``, the line and the key (:class:`~keel.errors.ContractFileError`)."""
    return contract_from_document(read_yaml(text, source, what=_WHAT, error=ContractFileError))


_WHAT = "contract"


def _load_json(text: str, source: str) -> Contract:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(
            source,
            exc.lineno,
            exc.colno,
            "",
            f"invalid JSON: {exc.msg}",
            hint="Check commas, quotes and brackets near that line.",
        )
        raise ContractFileError(source, [problem], what=_WHAT) from exc
    try:  # JSON is YAML, which tells where each key sits (and a key given twice); best effort
        located = read_yaml(text, source, what=_WHAT)
    except InvalidFileError:
        located = Document(source, data)
    return contract_from_document(Document(source, data, located.locations, located.problems))

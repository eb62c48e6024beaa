"""Python source for a contract: the ``keel.Schema`` class that declares it.

``codegen(read_contract("loan.yaml"))`` gives a module to save next to the code that uses
the data, so a YAML contract handed over by another team becomes typed column references
(``Loan.income``) that mypy checks. Executing the source gives a schema whose contract is the
one given. Columns whose names are not Python identifiers (or are keywords, or collide with
``Schema`` methods) get a safe attribute name and ``alias="..."``; rules use the string forms
of the rule constructors (``keel.ordered("q10", "q50")``). The layout follows ``ruff format``:
lines that do not fit in 88 characters are split one argument per line with a trailing comma.
"""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import keyword
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._schema import _RESERVED
from keel.contracts._types import DType
from keel.contracts._yaml import rule_to_dict
from keel.errors import ContractDefinitionError

__all__ = ["codegen"]

LINE = 88
_INDENT = "    "
_MODULES = frozenset({"keel", "datetime", "decimal", "dataclasses"})
_TAKEN = _RESERVED | _MODULES  # attribute names a column must not use in the class body

_ANNOTATIONS = {
    DType.INT: "int",
    DType.FLOAT: "float",
    DType.BOOL: "bool",
    DType.STR: "str",
    DType.CATEGORICAL: "keel.Categorical",
    DType.DATE: "datetime.date",
    DType.DATETIME: "datetime.datetime",
    DType.DECIMAL: "decimal.Decimal",
}
_POSITIONAL = {  # rule kind -> file-form keys passed by position ("*" spreads a list)
    "ordered": ("*columns",),
    "expression": ("expr",),
    "close": ("left", "right"),
    "correlated": ("*columns",),
    "functional_dependency": ("key", "value"),
    "aggregate": ("expr",),
    "rows": (),
    "unique": ("*columns",),
    "null_fraction": ("column",),
    "fresh": ("column", "max_age"),
}


def codegen(contract: Contract, *, class_name: str | None = None) -> str:
    """The source of a module declaring ``contract`` as a ``keel.Schema`` subclass."""
    return _Writer(contract, _class_name(contract.name, class_name)).module()


def _usable(name: str) -> bool:
    """Whether a column can be declared under this attribute name."""
    return (
        name.isidentifier()
        and unicodedata.normalize("NFKC", name) == name  # Python normalizes identifiers
        and not keyword.iskeyword(name)
        and not name.startswith("_")  # Schema ignores private attributes
        and name not in _TAKEN
    )


def _class_name(name: str, given: str | None) -> str:
    if given is not None:
        if not given.isidentifier() or keyword.iskeyword(given) or given in _MODULES:
            raise ContractDefinitionError(
                f"class_name {given!r} cannot name the generated class.",
                hint="Pass a Python identifier that is not keel, datetime, decimal or a keyword.",
            )
        return given
    if _usable(name) and name[:1].isupper():
        return name
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", name))
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Contract"
    if text[0].isdigit():
        text = "Contract" + text
    return text if _usable(text) else "Contract"


def _safe_name(name: str) -> str:
    text = re.sub(r"\W+", "_", unicodedata.normalize("NFKC", name)).strip("_")
    if not text or text[0].isdigit():
        text = f"c_{text}" if text else "column"
    if keyword.iskeyword(text) or text in _TAKEN:
        text += "_"
    return text if text.isidentifier() else "column"


def _attributes(columns: tuple[ColumnSpec, ...]) -> list[str]:
    """One distinct attribute name per column: its own when usable, else a safe one."""
    wanted = [spec.attribute or spec.name for spec in columns]
    reserved = {name for name in wanted if _usable(name)}
    used: set[str] = set()
    out = []
    for name in wanted:
        if _usable(name) and name not in used:
            attribute = name
        else:
            attribute = _safe_name(name)
            while attribute in reserved or attribute in used:
                attribute += "_"
        used.add(attribute)
        out.append(attribute)
    return out


def _string(text: str) -> str:
    """A string literal, double-quoted where possible (as ruff format writes it)."""
    body = repr(text)
    if body.startswith("'") and '"' not in text:
        body = f'"{body[1:-1]}"'
    return body


def _pattern(text: str) -> str:
    """A raw string for a regex with backslashes, when one can hold it."""
    raw_ok = "\\" in text and '"' not in text and not text.endswith("\\") and text.isprintable()
    return f'r"{text}"' if raw_ok else _string(text)


def _docstring_ok(text: str) -> bool:
    """Whether the class docstring reproduces ``text`` (the schema reads it with cleandoc)."""
    return bool(text) and inspect.cleandoc(text) == text


def _docstring(text: str) -> list[str]:
    lines = text.split("\n")
    triple = '"""' not in text and "\\" not in text and not text.endswith('"')
    # ruff format strips trailing spaces in docstrings, which would change the description
    plain = all(line.isprintable() and line == line.rstrip() for line in lines)
    if not triple or not plain:
        return [f"{_INDENT}{_string(text)}"]
    if len(lines) == 1:
        return [f'{_INDENT}"""{text}"""']
    body = [f"{_INDENT}{line}" if line else "" for line in lines[1:]]
    return [f'{_INDENT}"""{lines[0]}', *body, f'{_INDENT}"""']


def _width(text: str) -> int:
    """Columns a line takes on screen, as ruff measures it (wide characters count twice)."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


@dataclass(frozen=True)
class _Arg:
    """One argument's source; a list literal keeps its items, to be split when too long."""

    text: str
    opening: str = ""  # "isin=[" for a list literal
    items: tuple[str, ...] = ()

    def lines(self, indent: str) -> list[str]:
        one = f"{indent}{self.text},"
        if _width(one) <= LINE or not self.items:
            return [one]
        inner = [f"{indent}{_INDENT}{item}," for item in self.items]
        return [f"{indent}{self.opening}", *inner, f"{indent}],"]


def _call(head: str, args: list[_Arg], indent: str, tail: str = "") -> list[str]:
    """``head(args)`` on one line if it fits, else one argument per line (as ruff does)."""
    one = f"{indent}{head}({', '.join(a.text for a in args)}){tail}"
    if _width(one) <= LINE or not args:
        return [one]
    inner = [line for a in args for line in a.lines(indent + _INDENT)]
    return [f"{indent}{head}(", *inner, f"{indent}){tail}"]


class _Writer:
    """Writes one module; remembers which standard-library modules the values need."""

    def __init__(self, contract: Contract, class_name: str) -> None:
        self.contract = contract
        self.class_name = class_name
        self.imports: set[str] = set()

    def module(self) -> str:
        body = self.class_body()
        tail = self.tail()
        head = [f'"""{self.title()}"""', ""]
        head += [f"import {name}" for name in sorted(self.imports)]
        head += ["", "import keel"] if self.imports else ["import keel"]
        return "\n".join([*head, "", "", *self.class_lines(), *body, *tail]) + "\n"

    def title(self) -> str:
        name = self.contract.name
        shown = f" {name!r}" if name.isprintable() and not {'"', "\\"} & set(name) else ""
        return f"The contract{shown} as a keel.Schema (generated by keel; edit freely)."

    def class_lines(self) -> list[str]:
        args = [_Arg("keel.Schema")]
        if self.contract.strict:
            args.append(_Arg("strict=True"))
        if unicodedata.normalize("NFKC", self.class_name) != self.contract.name:
            args.append(_Arg(f"contract_name={_string(self.contract.name)}"))
        return _call(f"class {self.class_name}", args, "", ":")

    def class_body(self) -> list[str]:
        lines: list[str] = []
        description = self.contract.description
        if _docstring_ok(description):
            lines += [*_docstring(description), ""]
        names = _attributes(self.contract.columns)
        for spec, attribute in zip(self.contract.columns, names, strict=True):
            lines += self.column(spec, attribute)
        if self.contract.rules:
            lines += ["", *self.rules()]
        while lines and not lines[-1]:
            lines.pop()
        return lines or [f"{_INDENT}pass"]

    def rules(self) -> list[str]:
        calls = [self.rule(rule_to_dict(check)) for check in self.contract.rules]
        one = f"{_INDENT}rules = ({calls[0][0].strip()})" if len(calls) == 1 else ""
        if len(calls[0]) == 1 and one and _width(one) <= LINE:
            return [one]  # ruff joins a one-element tuple that fits: its comma is not "magic"
        return [f"{_INDENT}rules = (", *(line for call in calls for line in call), f"{_INDENT})"]

    def tail(self) -> list[str]:
        """What class syntax cannot say: the version, and a docstring-unsafe description."""
        extra = []
        if self.contract.version:
            extra.append(f"version={_string(self.contract.version)}")
        description = self.contract.description
        if description and not _docstring_ok(description):
            extra.append(f"description={_string(description)}")
        if not extra:
            return []
        self.imports.add("dataclasses")
        target = f"{self.class_name}.__contract__"
        head = f"{target} = dataclasses.replace"
        return ["", "", *_call(head, [_Arg(target), *map(_Arg, extra)], "")]

    def column(self, spec: ColumnSpec, attribute: str) -> list[str]:
        annotation = _ANNOTATIONS[spec.dtype] + (" | None" if spec.nullable else "")
        self.imports.update({"datetime", "decimal"} & {annotation.split(".")[0]})
        args = [self.keyword(key, v) for key, v in spec.constraints().items()]
        if attribute != spec.name:
            args.append(_Arg(f"alias={_string(spec.name)}"))
        head = f"{attribute}: keel.Column[{annotation}]"
        if not args:
            return [f"{_INDENT}{head}"]
        return _call(f"{head} = keel.Field", args, _INDENT)

    def rule(self, form: dict[str, Any]) -> list[str]:
        kind = form.pop("rule")
        if kind == "close" and form.get("abs_tol") == 1e-9:
            del form["abs_tol"]  # the constructor's default
        if kind == "functional_dependency" and len(form["key"]) == 1:
            form["key"] = form["key"][0]
        args: list[_Arg] = []
        for key in _POSITIONAL[kind]:
            value = form.pop(key.lstrip("*"))
            values = value if key.startswith("*") else [value]
            args += [_Arg(self.literal(v)) for v in values]
        args += [self.keyword(key, value) for key, value in form.items()]
        return _call(f"keel.{kind}", args, _INDENT * 2, ",")

    def keyword(self, key: str, value: Any) -> _Arg:
        if key == "pattern":
            return _Arg(f"{key}={_pattern(value)}")
        if isinstance(value, tuple | list):
            items = tuple(self.literal(v) for v in value)
            return _Arg(f"{key}=[{', '.join(items)}]", f"{key}=[", items)
        return _Arg(f"{key}={self.literal(value)}")

    def literal(self, value: Any) -> str:
        """Python source for a constraint value."""
        if isinstance(value, str):
            return _string(value)
        if isinstance(value, float) and not math.isfinite(value):
            return f'float("{value}")'
        if isinstance(value, float):
            return repr(value).replace("e+", "e")  # 1e16, as ruff format writes it
        if value is None or isinstance(value, bool | int):
            return repr(value)
        if isinstance(value, tuple | list):
            return f"[{', '.join(self.literal(v) for v in value)}]"
        return self.temporal(value)

    def temporal(self, value: Any) -> str:
        if isinstance(value, decimal.Decimal):
            self.imports.add("decimal")
            return f'decimal.Decimal("{value}")'
        if isinstance(value, dt.date):  # datetimes too
            self.imports.add("datetime")
            if not isinstance(value, dt.datetime):
                return repr(value)  # datetime.date(2020, 1, 1)
            if value.tzinfo is None or isinstance(value.tzinfo, dt.timezone):
                text = repr(value.replace(fold=0))  # fold never changes equality here
                return text.replace("tzinfo=datetime.timezone.utc", "tzinfo=datetime.UTC")
            return f"datetime.datetime.fromisoformat({_string(value.isoformat())})"
        raise ContractDefinitionError(
            f"cannot write the value {value!r} ({type(value).__name__}) as Python source.",
            hint="Contract values are numbers, text, booleans, dates, datetimes or decimals.",
        )

"""Declarative files read with their locations: one reader for every YAML and TOML file a
user writes (contracts, gate policies, deployment specs, alert thresholds, ``keel.toml``).

Reading gives plain data (dicts, lists, scalars) and the location (file, line, column, key
path) of every key and list item, so each schema can say exactly where a mistake sits.
The reader refuses what a plain YAML load would let through silently: a key given twice
(YAML keeps the last) and tags that construct objects (``!!python/object``, ``!custom``).

Schemas take their typed values through a :class:`Reader`, which collects problems instead
of stopping at the first, and raises one :class:`~keel.errors.InvalidFileError` listing
them all (``file:line: key: what is wrong; allowed: ...``).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidFileError, Problem

__all__ = [
    "Document",
    "KeyPath",
    "Location",
    "Reader",
    "dotted",
    "kind_of",
    "read_toml",
    "read_yaml",
    "suggestion",
]

KeyPath = tuple[str | int, ...]
"""Where a value sits: ``("challenger", "steps", 0, "setWeight")``."""


@dataclass(frozen=True)
class Location:
    """Where a key (or list item) sits: 1-based line and column."""

    source: str
    line: int | None
    column: int | None
    path: KeyPath

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass
class Document:
    """A file read into plain data, the location of every key, and the problems found
    while reading (duplicate keys, refused tags), which a :class:`Reader` reports."""

    source: str
    data: Any
    locations: dict[KeyPath, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def locate(self, path: KeyPath) -> Location:
        """The location of ``path``, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(path[:end])
            if found is not None:
                return found
        return Location(self.source, None, None, path)

    def problem(self, path: KeyPath, message: str, *, allowed: str = "", hint: str = "") -> Problem:
        """A problem at ``path`` (located at it or its nearest located ancestor)."""
        where = self.locate(path)
        return Problem(self.source, where.line, where.column, dotted(path), message, allowed, hint)


# -- YAML ------------------------------------------------------------------------------------
def read_yaml(
    text: str,
    source: str = "<string>",
    *,
    what: str = "file",
    error: type[InvalidFileError] = InvalidFileError,
) -> Document:
    """Parse one YAML document into plain data with locations.

    A syntax error raises ``error`` (an :class:`InvalidFileError`) at once, as nothing
    after it can be trusted; duplicate keys, refused tags and impossible dates are
    collected in ``Document.problems``.
    """
    from keel.grammar._yaml_file import parse  # PyYAML loads when a YAML file is read

    return parse(text, source, what=what, error=error)


# -- TOML ------------------------------------------------------------------------------------
_TOML_ERROR_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def read_toml(
    text: str,
    source: str = "<string>",
    *,
    what: str = "file",
    error: type[InvalidFileError] = InvalidFileError,
) -> Document:
    """Parse TOML into plain data with the line of every table and key.

    ``tomllib`` refuses duplicate keys itself (reported with its line) and has no tags; it
    gives no locations, so a light scan of the text finds each ``[table]`` header and
    ``key =`` line (enough for the flat files Keel reads; a key the scan misses falls back
    to its table's line)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_ERROR_AT.search(str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        message = _TOML_ERROR_AT.sub("", str(exc)).strip()
        problem = Problem(
            source,
            line,
            column,
            "",
            f"invalid TOML: {message}",
            hint="Fix the syntax: a key is written once, text is quoted.",
        )
        raise error(source, [problem], what=what) from exc
    document = Document(source, data)
    document.locations[()] = Location(source, 1, 1, ())
    _scan_toml(text, document)
    return document


def _scan_toml(text: str, document: Document) -> None:
    table: KeyPath = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        toggles = (line.count('"""') + line.count("'''")) % 2 == 1
        if in_string:  # inside a multi-line string: no keys until it closes
            in_string = not toggles
            continue
        in_string = toggles  # a key line may open one: name = """
        header = _TOML_TABLE.match(line)
        if header:
            table = _toml_path(header[1])
            document.locations.setdefault(table, Location(document.source, number, 1, table))
            continue
        key = _TOML_KEY.match(line)
        if key:
            path = (*table, *_toml_path(key[1]))
            column = len(line) - len(line.lstrip()) + 1
            document.locations.setdefault(path, Location(document.source, number, column, path))


def _toml_path(text: str) -> KeyPath:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', text)
    return tuple(part.strip("\"'") for part in parts)


# -- typed values ----------------------------------------------------------------------------
def dotted(path: KeyPath) -> str:
    """A key path as users write it: ``challenger.steps[0].setWeight``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def kind_of(value: Any) -> str:
    """What a value is, for messages: ``text 'x'``, ``a list``, ``nothing``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def suggestion(word: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Reader:
    """Takes typed values out of a :class:`Document`, collecting every problem.

    Each ``take`` method reads ``data[key]`` (``path`` is where ``data`` sits), returns the
    value, or records a problem and returns ``default`` so reading goes on; :meth:`finish`
    raises one error listing them all. ``error`` is the error class (a subclass of
    :class:`InvalidFileError`), ``what`` names the kind of file in its message."""

    def __init__(
        self,
        document: Document,
        *,
        what: str = "file",
        hint: str | None = None,
        error: type[InvalidFileError] = InvalidFileError,
    ) -> None:
        self.document = document
        self.problems: list[Problem] = list(document.problems)
        self.what = what
        self.hint = hint
        self.error = error

    @property
    def source(self) -> str:
        return self.document.source

    def problem(self, path: KeyPath, message: str, *, allowed: str = "", hint: str = "") -> None:
        """Record a problem at ``path``."""
        self.problems.append(self.document.problem(path, message, allowed=allowed, hint=hint))

    def finish(self) -> None:
        """Raise the error listing every problem, if any. A value refused while reading (a
        tag, an impossible date) is not reported a second time by the schema."""
        if self.problems:
            read = self.document.problems
            refused = {(p.key, p.line) for p in read}
            kept = [
                *read,
                *(p for p in self.problems[len(read) :] if (p.key, p.line) not in refused),
            ]
            raise self.error(self.source, kept, what=self.what, hint=self.hint)

    # -- structure -----------------------------------------------------------------------------
    def mapping(
        self,
        value: Any,
        path: KeyPath,
        known: Sequence[str] | None,
        *,
        instead: Mapping[str, str] | None = None,
    ) -> Mapping[Any, Any] | None:
        """``value`` as a mapping (``None`` reads as empty); unknown keys are problems, each
        with the closest known key, or the advice in ``instead`` for keys from other tools."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            allowed = ", ".join(known) if known else ""
            self.problem(path, f"expected a mapping; got {kind_of(value)}", allowed=allowed)
            return None
        if known is not None:
            for key in value:
                if str(key) not in known:
                    self.unknown((*path, str(key)), str(key), known, instead)
        return value

    def unknown(
        self,
        path: KeyPath,
        key: str,
        known: Sequence[str],
        instead: Mapping[str, str] | None = None,
        *,
        what: str = "key",
    ) -> None:
        """Record an unknown key (or ``what``: section...) with a did-you-mean and the keys
        allowed there; ``instead`` maps keys of other tools to advice."""
        advice = (instead or {}).get(key)
        message = (
            f"unknown {what}; {advice}" if advice else f"unknown {what}{suggestion(key, known)}"
        )
        self.problem(path, message, allowed=", ".join(known) or "(no keys)")

    def require(self, data: Mapping[Any, Any], key: str, path: KeyPath) -> bool:
        """Whether ``data`` has ``key``; a problem (at ``path``) when it does not."""
        if key in data:
            return True
        self.problem(path, f"missing the required key {key!r}", hint=f"Add {key}: ...")
        return False

    # -- scalars -------------------------------------------------------------------------------
    def text(
        self, data: Mapping[Any, Any], key: str, path: KeyPath, default: str, *, empty: bool = False
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or (not empty and not value.strip()):
            what = "text" if empty else "non-empty text"
            self.problem((*path, key), f"expected {what}; got {kind_of(value)}")
            return default
        return value

    def boolean(self, data: Mapping[Any, Any], key: str, path: KeyPath, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(
                (*path, key), f"expected true or false; got {kind_of(value)}", allowed="true, false"
            )
            return default
        return value

    def number(
        self,
        data: Mapping[Any, Any],
        key: str,
        path: KeyPath,
        default: float,
        *,
        low: float = -math.inf,
        high: float = math.inf,
        integer: bool = False,
        open_low: bool = False,
        open_high: bool = False,
    ) -> float:
        """A number (an integer when ``integer``) within the bounds; never NaN or infinite."""
        value = data.get(key, default)
        ok = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
        ok = ok and math.isfinite(value)
        ok = ok and (value > low if open_low else value >= low)
        ok = ok and (value < high if open_high else value <= high)
        if not ok:
            what = "an integer" if integer else "a number"
            bounds = []
            if math.isfinite(low):
                bounds.append(f"{'>' if open_low else '>='} {low:g}")
            if math.isfinite(high):
                bounds.append(f"{'<' if open_high else '<='} {high:g}")
            hint = ""
            if isinstance(value, str) and "e" in value.lower():
                hint = "YAML reads 1e-2 as text: write 0.01 or 1.0e-2."
            expected = " ".join([what, " and ".join(bounds)]).strip()
            self.problem((*path, key), f"expected {expected}; got {kind_of(value)}", hint=hint)
            return default
        return float(value)

    def choice(
        self,
        data: Mapping[Any, Any],
        key: str,
        path: KeyPath,
        allowed: Sequence[str],
        default: str,
        *,
        what: str = "",
    ) -> str:
        """One of ``allowed`` words; ``what`` names them in the message (``unknown metric``)."""
        value = data.get(key, default)
        if not isinstance(value, str) or value not in allowed:
            wrong = f"unknown {what} {value!r}" if what else f"{value!r} is not allowed"
            self.problem(
                (*path, key), wrong + suggestion(str(value), allowed), allowed=", ".join(allowed)
            )
            return default
        return value

    def converted(
        self,
        data: Mapping[Any, Any],
        key: str,
        path: KeyPath,
        default: Any,
        *,
        convert: Callable[[Any], Any],
        expected: str,
    ) -> Any:
        """``convert(value)``, which returns ``None`` when the value is not of its kind
        (durations, aliases...); a problem naming ``expected`` then."""
        value = data.get(key, default)
        out = convert(value)
        if out is None:
            self.problem((*path, key), f"expected {expected}; got {kind_of(value)}")
            return default
        return out

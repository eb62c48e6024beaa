"""One regular-expression dialect for every engine: RE2 syntax with ASCII classes.

Engines disagree on what ``\\w`` means: Polars (Rust ``regex``) and Python's ``re`` read it
as Unicode, RE2 (PyArrow, pandas with Arrow strings, DuckDB) as ASCII; Python's ``$`` also
matches before a final newline. A contract's pattern means the same on each: ``\\d``, ``\\w``,
``\\s`` and ``\\b`` are ASCII (``[0-9]``, ``[0-9A-Za-z_]``, ``[\\t\\n\\v\\f\\r ]``), ``$`` is the
end of the text (of a line under ``(?m)``), and :func:`translate` rewrites a pattern for each
engine so that it says exactly that. Constructs that some engine cannot honour (look-around,
back-references, ``\\p{..}`` classes, possessive or ``{,n}`` repeats, flags other than
``i``, ``m``, ``s``) are refused when the contract is defined, by :func:`dialect_error`.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["Dialect", "dialect_error", "translate"]

Dialect = Literal["rust", "re2", "python", "ecma"]
"""Polars (Rust ``regex``), RE2 (PyArrow, DuckDB, Arrow-backed pandas), Python's ``re``
(pandas object strings, serving) and ECMA-262 (JSON Schema's ``pattern``)."""

_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\x0B\\f\\r "}
_WORD = "[0-9A-Za-z_]"
_BOUNDARY = {
    "rust": {"b": "(?-u:\\b)", "B": "(?-u:\\B)"},
    "re2": {"b": "\\b", "B": "\\B"},
    "ecma": {"b": "\\b", "B": "\\B"},  # ASCII without the u flag
    "python": {
        "b": f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))",
        "B": f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))",
    },
}
_REFUSED_ESCAPES = {
    "p": "Unicode classes (\\p{..})",
    "P": "Unicode classes (\\P{..})",
    "Q": "quoted text (\\Q..\\E)",
    "Z": "\\Z (write \\z or $)",
    "u": "\\u escapes (write the character itself)",
    "U": "\\U escapes (write the character itself)",
    "N": "\\N escapes (write the character itself)",
    "C": "\\C",
    "G": "\\G",
    "k": "named back-references",
    "X": "\\X",
}
_FLAGS = re.compile(r"\(\?([a-zA-Z-]*)([:)])")


class PatternError(ValueError):
    """A pattern outside the common dialect (or, for ``"ecma"``, without an ECMA-262 form);
    the message says which construct."""


def dialect_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot mean the same on every engine, or ``None`` when it can."""
    try:
        translate(pattern, "re2")
    except PatternError as exc:
        return str(exc)
    return None


def translate(pattern: str, dialect: Dialect) -> str:
    """``pattern`` rewritten so that ``dialect``'s engine gives the documented answer."""
    multiline = any("m" in flags.split("-")[0] for flags, _ in _FLAGS.findall(pattern))
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            text, i = _escape(pattern, i, dialect, in_class=in_class)
            out.append(text)
            continue
        if in_class:
            in_class = not (char == "]" and not _opens_class(pattern, i))
            if pattern.startswith(("[:", "&&", "--", "~~"), i):
                raise PatternError(f"set operations and [:name:] classes (at {i})")
        elif char == "[":
            in_class = True
        elif char == "(" and pattern.startswith("(?", i):
            _check_group(pattern, i)
            if dialect == "ecma":
                char, i = _ecma_group(pattern, i)
        elif char == "$" and dialect == "python" and not multiline:
            char = "\\Z"
        elif char == "." and dialect == "ecma":
            char = "[^\\n]"  # ECMA's dot also stops at \r, U+2028 and U+2029
        elif char == "{" and re.match(r"\{,\d", pattern[i:]):
            raise PatternError(f"a repeat without a lower bound {{,n}} (at {i}): write {{0,n}}")
        elif char in "*+?}" and pattern.startswith("+", i + 1):
            raise PatternError(f"possessive repeats (at {i})")
        out.append(char)
        i += 1
    return "".join(out)


def _opens_class(pattern: str, i: int) -> bool:
    """Whether the ``]`` at ``i`` is a literal (first in its class: ``[]a]``, ``[^]a]``)."""
    before = pattern[:i]
    return before.endswith("[") or before.endswith("[^")


def _check_group(pattern: str, i: int) -> None:
    rest = pattern[i + 2 :]
    if rest.startswith(":") or rest.startswith("P<"):
        return
    if rest[:1] in ("=", "!") or rest.startswith(("<=", "<!")):
        raise PatternError(f"look-around (at {i})")
    if rest.startswith("P=") or rest.startswith(("<", ">", "#", "(")):
        raise PatternError(f"the group syntax {pattern[i : i + 4]!r} (at {i})")
    found = _FLAGS.match(pattern, i)
    if found is None or set(found.group(1)) - set("ims-"):
        raise PatternError(f"flags other than i, m and s (at {i})")


def _ecma_group(pattern: str, i: int) -> tuple[str, int]:
    """An RE2 group opening as ECMA-262 writes it: ``(?P<name>`` is ``(?<name>``; ECMA has
    no inline flags, so ``(?i)`` and friends have no translation."""
    if pattern.startswith("(?P<", i):
        return "(?<", i + 3
    if pattern.startswith("(?:", i):
        return "(", i
    raise PatternError(f"inline flags (at {i}) have no ECMA-262 form")


def _escape(pattern: str, i: int, dialect: Dialect, *, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(pattern):
        raise PatternError("a trailing backslash")
    code = pattern[i + 1]
    lower = code.lower()
    if lower in _CLASSES:
        if in_class and code.isupper():
            raise PatternError(f"\\{code} inside a character class (at {i})")
        body = _CLASSES[lower]
        text = body if in_class else ("[^" if code.isupper() else "[") + body + "]"
        return text, i + 2
    if code in "bB":
        if in_class:
            raise PatternError(f"\\{code} inside a character class (at {i})")
        return _BOUNDARY[dialect][code], i + 2
    if code.isdigit():
        raise PatternError(f"back-references or octal escapes (\\{code}, at {i})")
    if code in _REFUSED_ESCAPES:
        raise PatternError(f"{_REFUSED_ESCAPES[code]} (at {i})")
    if code == "x" and pattern.startswith("{", i + 2):
        raise PatternError(f"\\x{{..}} escapes (at {i}): write \\xhh or the character itself")
    if code == "z":
        return {"python": "\\Z", "ecma": "$"}.get(dialect, "\\z"), i + 2
    if code == "A" and dialect == "ecma":
        return "^", i + 2
    return pattern[i : i + 2], i + 2

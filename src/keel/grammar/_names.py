"""The one rule for names (datasets, models, aliases, experiments, steps) and version numbers.

A name is stored in a ``VARCHAR(250)`` column on every backend and becomes part of
references (``loans/3``, ``churn/2``, ``churn@champion``; see
:mod:`keel.grammar._references`) and of paths in the artifact store
(the prediction log of a model), so the same rule holds on SQLite and PostgreSQL alike:

- 1 to :data:`NAME_LIMIT` characters, with no space at either end;
- printable: no control characters (NUL, newline, escape...), no format characters
  (bidirectional overrides such as U+202E, zero-width characters) and no separators but
  the plain space;
- none of ``/`` and ``\\`` (path separators), ``@`` (it starts an alias), or the
  wildcards ``*``, ``?``, ``[`` and ``]``; and not ``.`` or ``..``.

An alias also must not look like a number, which reads as a version (``churn/3``). A
version is a whole number from 1 to :data:`VERSION_LIMIT` (the columns are 32-bit
integers), written in ASCII digits.
"""

from __future__ import annotations

import re

from keel.errors import UsageError

__all__ = [
    "NAME_LIMIT",
    "NAME_RULE",
    "VERSION_LIMIT",
    "InvalidNameError",
    "check_alias",
    "check_name",
    "check_version",
    "parse_version",
]

NAME_LIMIT = 200
"""Longest name, in characters (every name column holds 250)."""

VERSION_LIMIT = 2**31 - 1
"""Largest version number (versions are 32-bit integer columns)."""

_FORBIDDEN = "/\\@*?[]"
NAME_RULE = (
    f"A name is 1 to {NAME_LIMIT} printable characters with no space at either end, "
    "without / \\ @ * ? [ ], control or bidirectional-override characters, and is not "
    "'.' or '..'."
)
_ALIAS_RULE = NAME_RULE + " An alias also must not look like a number: a version is written NAME/3."
_VERSION_RULE = f"A version is a whole number from 1 to {VERSION_LIMIT}."
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DIGITS = re.compile(r"[0-9]+")


class InvalidNameError(UsageError):
    """A name or version number breaks the naming rule; the hint states the rule."""


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it follows the rule, else :class:`InvalidNameError` saying why."""
    problem = _problem(name)
    if problem is not None:
        raise InvalidNameError(f"{_shown(name)} cannot name a {what}: {problem}.", hint=NAME_RULE)
    assert isinstance(name, str)
    return name


def check_alias(alias: object) -> str:
    """``alias`` if it follows the rule for names and does not look like a number."""
    problem = _problem(alias)
    if problem is None and _NUMBER.fullmatch(str(alias)):
        problem = "it looks like a number, which would read as a version"
    if problem is not None:
        raise InvalidNameError(
            f"{_shown(alias)} cannot name an alias: {problem}.", hint=_ALIAS_RULE
        )
    assert isinstance(alias, str)
    return alias


def check_version(version: object, what: str = "version") -> int:
    """``version`` if it is a whole number from 1 to :data:`VERSION_LIMIT`."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidNameError(f"{what} {version!r} is not a whole number.", hint=_VERSION_RULE)
    if not 1 <= version <= VERSION_LIMIT:
        shown = str(version) if version < 10**30 else f"a {len(str(version))}-digit number"
        raise InvalidNameError(f"{what} {shown} is out of range.", hint=_VERSION_RULE)
    return version


def parse_version(text: str, ref: str | None = None) -> int:
    """The version number written as ``text`` (ASCII digits only) in ``ref``, checked."""
    where = f"reference {_shown(ref)}: " if ref is not None else ""
    if not _DIGITS.fullmatch(text):
        raise InvalidNameError(
            f"{where}version {_shown(text)} is not a whole number.", hint=_VERSION_RULE
        )
    if len(text.lstrip("0")) > len(str(VERSION_LIMIT)):  # never converts a huge number
        raise InvalidNameError(
            f"{where}version {_shown(text)} is out of range.", hint=_VERSION_RULE
        )
    return check_version(int(text), f"{where}version")


def _problem(name: object) -> str | None:  # noqa: PLR0911  # one return per broken part
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not text"
    if not name:
        return "it is empty"
    if len(name) > NAME_LIMIT:
        return f"it is {len(name)} characters long (at most {NAME_LIMIT})"
    if name in (".", ".."):
        return "it names a folder"
    bad = next((c for c in name if c in _FORBIDDEN or not c.isprintable()), None)
    if bad is not None:
        return f"it contains {bad!r} (U+{ord(bad):04X})"
    if name != name.strip():
        return "it starts or ends with a space"
    return None


def _shown(text: object) -> str:
    shown = ascii(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."

"""The one rule for paths Keel takes from places it does not control, and the join applying it.

A path taken from a model manifest, a dataset listing, an MLflow ``MLmodel`` file, an archive
or the metadata store names a file *inside* a folder, and nothing else. It must be:

- text, relative, with ``/`` between its parts: no absolute path, no drive (``C:``), no
  backslash (so no ``\\\\server`` share either);
- made of real names: no empty part, no ``.`` and no ``..``;
- free of NUL and other control characters;
- and, joined to its folder, reached without following a symbolic link below that folder,
  and resolved inside it.

:func:`check_relative_path` checks the text; :func:`safe_join` checks the text, then the
filesystem (on the side being read and on the side being written), and returns the joined
path. Every such path in Keel goes through :func:`safe_join`; a path that breaks the rule
raises :class:`UnsafePathError`, naming the entry and why, before anything is read or written.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from keel.errors import InputError

__all__ = ["UnsafePathError", "check_relative_path", "safe_join"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc category: C0, DEL and C1
_HINT = (
    "Paths in packages, listings and stores are relative, '/'-separated names with no '..', "
    "'.', empty, absolute or drive parts, no backslash or control character, and no symbolic "
    "link on the way. Do not use this {what}: it was altered, or made by another tool."
)


class UnsafePathError(InputError):
    """A path from a package, listing or store could lead outside its folder; ``entry`` is it."""

    def __init__(self, message: str, *, entry: object, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.entry = entry


def check_relative_path(entry: object, *, where: str, what: str = "package") -> str:
    """``entry`` if it is a safe relative path (see the module docstring), else raise.

    ``where`` names the file or listing the entry comes from (it leads the message);
    ``what`` names the kind of thing for the hint ("package", "listing"...).
    """
    reason = _unsafe_reason(entry)
    if reason is not None:
        raise UnsafePathError(
            f"{where} names the path {entry!r}, which {reason}.",
            entry=entry,
            hint=_HINT.format(what=what),
        )
    assert isinstance(entry, str)
    return entry


def safe_join(
    root: str | os.PathLike[str], entry: object, *, where: str, what: str = "package"
) -> Path:
    """``root / entry`` once ``entry`` is checked and no part of it below ``root`` is a
    symbolic link (parts that do not exist yet are fine: they will be created as folders).

    ``root`` itself is trusted: it is the folder the caller chose. The result resolves inside
    it. Use it both to read a file a manifest lists and to decide where to write one.
    """
    relative = check_relative_path(entry, where=where, what=what)
    base = os.fspath(root)
    current = base
    for part in relative.split("/"):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break  # the rest does not exist: nothing on the way to follow
        if stat.S_ISLNK(mode):
            shown = os.path.relpath(current, base)
            raise UnsafePathError(
                f"{where} names the path {relative!r}, which goes through the symbolic link "
                f"{shown!r} in {base}; Keel does not follow links inside a {what}.",
                entry=entry,
                hint=_HINT.format(what=what),
            )
    # no '..' and no link below root: the path resolves inside root by construction (a
    # resolve() per file would cost more than the checks on a dataset of many files)
    return Path(base, relative)


def _unsafe_reason(entry: object) -> str | None:  # noqa: PLR0911 - one return per reason
    if not isinstance(entry, str):
        return f"is a {type(entry).__name__}, not text"
    if not entry:
        return "is empty"
    if _CONTROL.search(entry):
        return "contains a control character"
    if "\\" in entry:
        return "contains a backslash"
    if entry.startswith("/"):
        return "is absolute"
    if _DRIVE.match(entry):
        return "starts with a drive"
    parts = entry.split("/")
    if ".." in parts:
        return "has a '..' part"
    if "." in parts:
        return "has a '.' part"
    if "" in parts:
        return "has an empty part ('//' or a trailing '/')"
    return None

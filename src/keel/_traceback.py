"""Tracebacks that point at the user's code: Keel's own frames folded into one line.

A step runs in a worker (this process, a process pool, a Dask worker elsewhere), so its
traceback is formatted there, as text (:func:`format_error`), and travels and is stored as
text. :func:`fold_traceback` reads that text back: each run of consecutive frames in Keel's
own package becomes one line ``… 7 frames in keel …``; a traceback made only of Keel's
frames (Keel raising on purpose) keeps just its exception. ``--debug`` (or
``KEEL_DEBUG=1``) prints the text unfolded.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

__all__ = ["chain_text", "fold_traceback", "format_error", "is_keel_file"]

_PACKAGE = Path(__file__).resolve().parent  # src/keel or site-packages/keel
_FRAME = re.compile(r'^(?P<indent>[ |]*)File "(?P<file>[^"]+)", line \d+, in .*$')
_HEADER = "Traceback (most recent call last):"
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"


def format_error(exc: BaseException) -> str:
    """The full traceback of ``exc`` as Python prints it (causes and contexts included)."""
    return "".join(traceback.format_exception(exc))


def chain_text(cause: str, exc: BaseException) -> str:
    """``cause`` (a traceback formatted elsewhere, a worker's) chained to ``exc`` the way
    Python chains ``raise ... from cause``: both stay readable, and foldable, as one text."""
    return cause.rstrip("\n") + "\n" + _CAUSE + format_error(exc)


def is_keel_file(path: str) -> bool:
    """Whether ``path`` is a module of Keel itself, wherever Keel was installed.

    The frame may come from another machine (a Dask worker) whose Keel sits elsewhere: a
    path is Keel's when, below a folder named ``keel``, it names a module this Keel has.
    A user's project folder called ``keel`` does not count unless it mirrors Keel's files.
    """
    parts = Path(path).parts
    if Path(path).is_absolute() and Path(path).resolve().is_relative_to(_PACKAGE):
        return True
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "keel" and index < len(parts) - 1:
            return _PACKAGE.joinpath(*parts[index + 1 :]).is_file()
    return False


def fold_traceback(text: str) -> str:
    """``text`` with every run of Keel's frames folded into one ``… N frames in keel …``
    line. Lines that are not frames (the exception, chaining notes) are kept as they are."""
    folder = _Folder()
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        index = folder.read(lines, index)
    folder.close_section()
    return "\n".join(folder.out) + ("\n" if text.endswith("\n") else "")


class _Folder:
    """The state of one pass over a traceback's lines."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.section: list[str] = []  # the traceback being read, its Keel frames folded
        self.folded = 0  # Keel frames in the run being folded
        self.user_frames = 0  # the user's frames in the section
        self.indent = "  "

    def read(self, lines: list[str], index: int) -> int:
        """Read the line at ``index`` (a frame: with its source lines); the next index."""
        line = lines[index]
        match = _FRAME.match(line)
        if match is None:
            in_traceback = bool(self.section) and self.section[0].strip() == _HEADER
            if line.strip() == _HEADER:
                self.close_section()
                self.section.append(line)
            elif in_traceback and line.startswith(" "):
                self.section.append(line)  # "[Previous line repeated N more times]"
            else:
                self.close_section()
                self.out.append(line)
            return index + 1
        self.indent = match["indent"] or "  "
        body = [line]
        index += 1
        while index < len(lines) and _indent_of(lines[index]) > len(self.indent) + 1:
            if _FRAME.match(lines[index]):
                break
            body.append(lines[index])  # the source line and its ^^^ markers
            index += 1
        if is_keel_file(match["file"]):
            self.folded += 1
        else:
            self.flush_fold()
            self.user_frames += 1
            self.section.extend(body)
        return index

    def flush_fold(self) -> None:
        if self.folded:
            plural = "s" if self.folded > 1 else ""
            self.section.append(f"{self.indent}… {self.folded} frame{plural} in keel …")
            self.folded = 0

    def close_section(self) -> None:
        """End the traceback being read; one of Keel's frames only keeps just its exception."""
        self.flush_fold()
        keel_only = bool(self.section) and self.section[0].strip() == _HEADER
        if self.user_frames or not keel_only:
            self.out.extend(self.section)
        self.user_frames = 0
        self.section.clear()


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" |"))

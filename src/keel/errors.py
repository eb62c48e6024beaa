"""Errors raised by Keel.

Every error derives from :class:`KeelError` and its message says what failed, where,
and (after ``Hint:``) what to do about it. The hierarchy::

    KeelError
    ├── UsageError                  the caller or a definition is wrong; fix the code or config
    │   ├── InvalidFileError        a declarative file is invalid (``.problems``, each located)
    │   ├── ConfigError             keel.toml, a KEEL_* variable or a store URL is invalid
    │   │   └── ConfigFileError     keel.toml is invalid (also an InvalidFileError)
    │   ├── ContractDefinitionError a contract (class, YAML, JSON) is malformed
    │   │   └── ContractFileError   a contract file is invalid (also an InvalidFileError)
    │   ├── MissingDependencyError  an optional extra is not installed
    │   ├── PipelineDefinitionError a pipeline's wiring is wrong (cycle, unbound input...)
    │   ├── StoreValueError         a value does not fit the metadata store (out of range...)
    │   └── StoreVersionError       the metadata store was created by a newer Keel
    ├── InputError                  the data cannot be read (missing, corrupt, wrong format)
    ├── StoreUnavailableError       the metadata store's database server cannot be reached
    ├── StoreWriteError             the metadata store cannot write (disk full, read-only)
    ├── ContractError               the data was read and violates its contract (has ``.report``)
    └── StepFailedError             a pipeline step raised, timed out or was killed

The CLI maps ``ContractError`` and ``StepFailedError`` (something ran and failed) to exit
code 1 and every other ``KeelError`` to exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ConfigError",
    "ConfigFileError",
    "ContractDefinitionError",
    "ContractError",
    "ContractFileError",
    "FailureReport",
    "InputError",
    "InvalidFileError",
    "KeelError",
    "MissingDependencyError",
    "PipelineDefinitionError",
    "Problem",
    "StepFailedError",
    "StoreUnavailableError",
    "StoreValueError",
    "StoreVersionError",
    "StoreWriteError",
    "UsageError",
    "did_you_mean",
    "first_line",
    "missing_field_note",
    "unknown_field_note",
]


class KeelError(Exception):
    """Root of every error Keel raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\nHint: {hint}" if hint else message)


class UsageError(KeelError):
    """The caller, a definition or a configuration is wrong; the data is not at fault."""


class ConfigError(UsageError):
    """``keel.toml`` or a ``KEEL_*`` environment variable is invalid."""


class ContractDefinitionError(UsageError):
    """A contract is malformed: unknown column, bad regex, unknown YAML key, wrong type."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a declarative file: where it sits (file, line, column, dotted key),
    what is wrong, what is allowed there and how to fix it."""

    source: str
    line: int | None
    column: int | None
    key: str
    message: str
    allowed: str = ""
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        key = f" {self.key}:" if self.key else ""
        allowed = f"; allowed: {self.allowed}" if self.allowed else ""
        return f"{where}:{key} {self.message}{allowed}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (``keel deploy check --format json``)."""
        return {
            "file": self.source,
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "message": self.message,
            "allowed": self.allowed or None,
            "hint": self.hint or None,
            "text": str(self),
        }


class InvalidFileError(UsageError):
    """A declarative file (contract YAML, gate policy, deployment spec, alert thresholds,
    ``keel.toml``) is invalid. ``problems`` lists every mistake found, in file order, each
    with its line and key; one problem reads as one line, several as a list."""

    def __init__(
        self,
        source: str,
        problems: Sequence[Problem],
        *,
        what: str = "file",
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        if len(self.problems) == 1:
            only = self.problems[0]
            super().__init__(str(only), hint=only.hint or hint)
            return
        listed = "\n".join(
            f"  - {p}" + (f"\n      {p.hint}" if p.hint else "") for p in self.problems
        )
        super().__init__(
            f"{source} is not a valid {what} ({len(self.problems)} problems):\n{listed}",
            hint=hint or "Fix each problem above; every one names its line and key.",
        )


class ContractFileError(InvalidFileError, ContractDefinitionError):
    """A contract file (YAML, JSON, or its data) is invalid; ``problems`` lists every mistake."""


class ConfigFileError(InvalidFileError, ConfigError):
    """``keel.toml`` is invalid; ``problems`` lists every mistake."""


class MissingDependencyError(UsageError):
    """An optional dependency is needed for what was asked and is not installed."""

    def __init__(self, package: str, *, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the package {package!r}, which is not installed.",
            hint=f"pip install 'mlkeel[{extra}]'",
        )
        self.package = package
        self.extra = extra


class PipelineDefinitionError(UsageError):
    """A pipeline cannot run as written: a cycle, an unbound input, incompatible contracts.

    ``problems`` lists every problem found, not only the first.
    """

    def __init__(self, problems: list[str], *, where: str, hint: str | None = None) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"pipeline {where} cannot run ({len(problems)} problem(s)):\n{listed}",
            hint=hint or "Fix the wiring; keel check PIPELINE re-checks it without running.",
        )


class StepFailedError(KeelError):
    """A pipeline step failed: it raised, broke a contract, timed out, or its worker died.

    Completed steps keep their outputs in the cache, so the next run resumes after them.
    ``traceback`` is the step's own traceback, formatted where it ran (a worker process or
    a Dask worker), or ``None`` (a broken contract, a dead worker).
    """

    def __init__(
        self,
        message: str,
        *,
        step: str,
        run_id: str,
        hint: str | None = None,
        traceback: str | None = None,
    ) -> None:
        self.step = step
        self.run_id = run_id
        self.traceback = traceback
        super().__init__(
            message,
            hint=hint
            or "Fix the step and run the pipeline again: finished steps are cached and skipped.",
        )


class StoreVersionError(UsageError):
    """The metadata store's schema is newer than this Keel knows; it must not be touched."""


class StoreUnavailableError(KeelError):
    """The metadata store's database cannot be reached (server down, wrong host or login)."""


class StoreValueError(UsageError):
    """The metadata store refused a value: a number out of its column's range, text too long
    for its column or holding a NUL character. Nothing of the write was kept."""


class StoreWriteError(KeelError):
    """The metadata store could not write: its disk is full, the database is read-only, or
    the disk reported an I/O error. Nothing of the write was kept."""


class InputError(KeelError):
    """Data could not be read: a missing or corrupt file, an unsupported format or encoding."""


class FailureReport(Protocol):
    """What :class:`ContractError` needs of a report: :class:`keel.contracts.Report` is one.

    A protocol rather than an import: ``errors`` is the bottom layer and imports no other
    Keel package, not even for typing, so anything may raise its errors without a cycle.
    """

    @property
    def errors(self) -> Sequence[Any]:
        """The failed checks."""
        ...

    def summary(self) -> str:
        """Every failure, one per line (the error's message)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        ...


class ContractError(KeelError):
    """Data violates its contract. ``report`` (a :class:`keel.contracts.Report`) holds every
    failure, not just the first."""

    def __init__(self, report: FailureReport, *, where: str = "") -> None:
        self.report = report
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(prefix + report.summary())


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (engines write long ones)."""
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


def unknown_field_note(field: str, known: Sequence[str]) -> str:
    """What to say after ``unknown field`` in a record: `` (did you mean 'tenure'?)`` when
    ``known`` holds a close name, else the fields a record carries."""
    close = difflib.get_close_matches(field, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return f" (a record carries {shown or 'no fields'})"


def missing_field_note(missing: str, unknown: Sequence[str]) -> str:
    """What to say after ``is required`` when the record holds ``unknown`` fields: ``; got
    unknown field 'tenur' — did you mean 'tenure'?`` for the closest, else nothing."""
    close = difflib.get_close_matches(missing, unknown, n=1)
    if not close:
        return ""
    return f"; got unknown field {close[0]!r} — did you mean {missing!r}?"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """A hint naming the closest of ``known`` to ``word`` (if any), then listing them all."""
    names = sorted(known)
    close = difflib.get_close_matches(word, names, n=1)
    prefix = f"Did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"{prefix}Known: {shown or '(none)'}."

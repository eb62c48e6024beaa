"""Database errors of the metadata store, turned into Keel errors in one place.

:func:`install` registers :func:`translate` as the engine's ``handle_error`` hook, which
SQLAlchemy calls for every failed statement, commit and connection of that engine. Two
kinds of failure become Keel errors that say what failed, where, and what to do:

- :class:`~keel.errors.StoreValueError`: the database refused a value (PostgreSQL's
  ``DataError`` family, SQLSTATE class 22: a number out of its column's range, text too long
  for its column or holding a NUL character; SQLite's ``OverflowError`` for an integer past
  64 bits). The offending column and value are named when they can be found among the
  statement's parameters.
- :class:`~keel.errors.StoreWriteError`: the database could not write (SQLite "database or
  disk is full", "attempt to write a readonly database", "disk I/O error"; PostgreSQL
  ``disk_full``, ``read_only_sql_transaction``, ``io_error``).

Everything else passes through untouched: the transient errors that
:func:`keel.store._metadata_engine.transaction` retries, and connection failures, which
opening a store reports as :class:`~keel.errors.StoreUnavailableError`. The transaction
in which the error happened is rolled back, so nothing of a failed write is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext

from keel.errors import KeelError, StoreValueError, StoreWriteError, first_line

__all__ = ["install", "translate"]

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
# SQLite primary result codes (the low byte of the extended code)
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13
_PG_WRITE_STATES = {
    "53100": "full",  # disk_full
    "25006": "readonly",  # read_only_sql_transaction
    "58030": "io",  # io_error
}
_WRITE_PROBLEMS = {
    "full": (
        "the disk is full",
        "Free space on the disk that holds the database{file}, then repeat the command: "
        "the failed write was rolled back, nothing of it was kept.",
    ),
    "readonly": (
        "the database is read-only",
        "Make the database{file} and its folder writable by this user (SQLite also writes "
        "-wal and -shm files beside it), or point [store] url in keel.toml "
        "(KEEL_STORE_URL) at a writable store.",
    ),
    "io": (
        "the disk reported an I/O error",
        "Check the disk that holds the database{file}: its free space, the kernel log, a "
        "network mount that went away; then repeat the command (the failed write was rolled "
        "back).",
    ),
}


def install(engine: Engine) -> None:
    """Translate the driver errors of ``engine`` into Keel errors (see the module)."""
    event.listen(engine, "handle_error", translate)


def translate(context: ExceptionContext) -> KeelError | None:
    """The Keel error for a failed statement, or ``None`` to let the original through."""
    if context.is_pre_ping:
        return None
    where = _where(context)
    if _refused_value(context):
        return _value_error(context, where)
    problem = _write_problem(context.original_exception)
    if problem is not None:
        what, hint = _WRITE_PROBLEMS[problem]
        database = context.engine.url.database if context.engine is not None else None
        file = f" ({database})" if context.dialect.name == "sqlite" and database else ""
        return StoreWriteError(
            f"the metadata store at {where} could not write: {what} "
            f"({_first_line(context.original_exception)}).",
            hint=hint.format(file=file),
        )
    return None


# -- classification -------------------------------------------------------------------------
def _refused_value(context: ExceptionContext) -> bool:
    if isinstance(context.sqlalchemy_exception, sa.exc.DataError):
        return True
    original = context.original_exception
    return isinstance(original, OverflowError) and context.dialect.name == "sqlite"


def _write_problem(original: BaseException) -> str | None:
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return {
            _SQLITE_FULL: "full",
            _SQLITE_READONLY: "readonly",
            _SQLITE_IOERR: "io",
        }.get(code & 0xFF)
    return _PG_WRITE_STATES.get(str(getattr(original, "sqlstate", None)))


# -- a refused value ------------------------------------------------------------------------
def _value_error(context: ExceptionContext, where: str) -> StoreValueError:
    reason = _first_line(context.original_exception)
    table = _table(context)
    found = _offender(context, table)
    doing = _doing(context, table)
    if found is None:
        return StoreValueError(
            f"the metadata store at {where} refused a value while {doing}: {reason}.",
            hint="Integers must fit in 64 bits (-2**63 to 2**63-1; version numbers and file "
            "counts in 32 bits), names and keys in 250 characters, and text may not contain "
            "NUL characters (\\x00). Log a larger number as a float metric or a string param.",
        )
    column, value, problem, hint = found
    return StoreValueError(
        f"the metadata store at {where} refused {column} = {_shown(value)} while {doing}: "
        f"{problem} ({reason}).",
        hint=hint,
    )


def _offender(
    context: ExceptionContext, table: sa.Table | None
) -> tuple[str, Any, str, str] | None:
    """``(column, value, problem, hint)`` of the first parameter the database cannot hold."""
    narrow = context.dialect.name != "sqlite"  # SQLite's INTEGER always holds 64 bits
    for key, value in _parameters(context):
        column = _column(table, key)
        name = f"{table.name}.{column.name}" if table is not None and column is not None else key
        problem = _problem(value, column, narrow=narrow)
        if problem is not None:
            return (name, value, *problem)
    return None


def _problem(value: Any, column: sa.Column[Any] | None, *, narrow: bool) -> tuple[str, str] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        small = narrow and column is not None and _is_int32(column)
        low, high = _INT32 if small else _INT64
        if not low <= value <= high:
            bits = 32 if small else 64
            return (
                f"out of the {bits}-bit integer range {low} to {high}",
                f"Give a number from {low} to {high}; log a larger one as a float metric "
                "or a string param.",
            )
    if isinstance(value, str):
        if "\x00" in value:
            return (
                "text holds a NUL character (\\x00), which PostgreSQL text cannot store",
                "Remove the NUL characters from the text.",
            )
        length = getattr(column.type, "length", None) if column is not None else None
        if isinstance(length, int) and len(value) > length:
            return (
                f"{len(value)} characters where the column holds at most {length}",
                f"Use at most {length} characters.",
            )
    return None


def _is_int32(column: sa.Column[Any]) -> bool:
    kind = column.type
    return isinstance(kind, sa.Integer) and not isinstance(kind, sa.BigInteger)


def _parameters(context: ExceptionContext) -> Iterator[tuple[str, Any]]:
    compiled = getattr(context.execution_context, "compiled_parameters", None) or []
    for row in compiled:
        if isinstance(row, Mapping):
            yield from row.items()


def _column(table: sa.Table | None, key: str) -> sa.Column[Any] | None:
    if table is None:
        return None
    for name in (key, re.sub(r"(_m?\d+)+$", "", key)):  # binds are "step", "step_m1", ...
        if name in table.c:
            return table.c[name]
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    if isinstance(value, int) and len(text) > 24:
        return f"{text[:12]}... ({len(text.lstrip('-'))} digits)"
    return text if len(text) <= 80 else text[:77] + "..."


# -- where ----------------------------------------------------------------------------------
def _where(context: ExceptionContext) -> str:
    if context.engine is None:
        return "(unknown URL)"
    return context.engine.url.render_as_string(hide_password=True)


def _table(context: ExceptionContext) -> sa.Table | None:
    compiled = getattr(context.execution_context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    table = getattr(statement, "table", None)
    return table if isinstance(table, sa.Table) else None


def _doing(context: ExceptionContext, table: sa.Table | None) -> str:
    verb = (context.statement or "").lstrip().split(" ", 1)[0].upper()
    if table is not None:
        doing = {"INSERT": "writing to", "UPDATE": "updating", "DELETE": "deleting from"}
        return f"{doing.get(verb, 'using')} table {table.name}"
    if verb in {"SELECT", "WITH"}:
        return "reading"
    return "writing" if context.statement is None else "running a statement"


def _first_line(exc: BaseException) -> str:
    return first_line(exc).rstrip(".")

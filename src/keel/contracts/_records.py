"""The contract on one record at a time: the per-record form of its checks, for serving.

A request carries a few records; building a dataframe to check them costs more than the
model's prediction, so the contract compiles into a checker that runs record by record.
Nothing here defines what a check means: each check kind gives its own per-record form
beside its frame expression (:meth:`~keel.contracts.Check.record_test` for a value of one
column, :meth:`~keel.contracts.Check.record_rule` for a rule across columns), and this
module only reads JSON values as their declared types and runs those forms. Checks that only
a whole dataset can fail (``unique``, ``functional_dependency``, dataset rules) and checks
with ``mostly`` or ``severity="warn"`` have no per-record form and are skipped.

Problems come back as ``{"row": i, "field": "age", "error": "..."}`` (``field`` is ``None``
for a rule across columns). A problem is *hard* when the model cannot read the value at all
(missing, wrong type, null in a column that is not nullable): such records are refused in
every mode. Value checks and rules are *soft*: the ``reject`` mode refuses them, the
``warn`` mode predicts anyway and records what was broken.

A field the contract does not declare (a misspelled name, most often) is soft too: refused
as ``unknown field`` in ``reject`` mode, recorded in ``warn`` mode, and refused in both when
the contract is ``strict``. A required column missing beside an unknown field of a close
name says so: ``is required; got unknown field 'tenur' — did you mean 'tenure'?``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from keel.contracts._checks import Check, RecordRule, RecordTest, record_decimal
from keel.contracts._contract import ColumnSpec, Contract
from keel.contracts._types import DType
from keel.errors import UsageError, missing_field_note, unknown_field_note

__all__ = ["CheckedBatch", "RecordChecker", "record_checker"]

_MISSING = object()
Problem = dict[str, Any]
Mode = Literal["reject", "warn"]
Converter = Callable[[Any], tuple[Any, str | None]]
Test = tuple[Callable[[Any], bool], Callable[[Any], str]]  # (passes, what is wrong)


@dataclass
class CheckedBatch:
    """The records of one request after checking."""

    values: list[list[Any]]  # one row per record, contract column order, model-ready values
    errors: list[Problem]  # problems that refuse the request (hard, or soft in reject mode)
    violations: list[str | None]  # per record: soft problems let through (warn mode)


def record_checker(contract: Contract | None, *, mode: Mode | str = "reject") -> RecordChecker:
    """The checker of JSON records against ``contract`` (none: every record passes as is).

    ``mode`` is ``"reject"`` (any problem refuses the record) or ``"warn"`` (only problems
    that make a record unreadable do; value checks and rules are recorded as violations).
    """
    if mode not in ("reject", "warn"):
        raise UsageError(
            f"record checker mode must be 'reject' or 'warn', got {mode!r}.",
            hint="Use mode='warn' to predict anyway and record the violations.",
        )
    return RecordChecker(contract, mode=mode)


@dataclass(frozen=True)
class _Column:
    name: str
    dtype: DType
    convert: Converter
    tests: tuple[RecordTest, ...]
    nullable: bool


@dataclass(frozen=True)
class _Rule:
    label: str
    holds: RecordRule


class RecordChecker:
    """Checks JSON records against a contract and orders their values for the model.

    Built by :func:`record_checker`; compiled once, then :meth:`check` runs per request.
    """

    def __init__(self, contract: Contract | None, *, mode: str = "reject") -> None:
        self.contract = contract
        self.mode = mode
        columns, rules = _plan(contract)
        self.names: tuple[str, ...] = tuple(c.name for c in columns)
        self.strict = bool(contract is not None and contract.strict)
        self._known = frozenset(self.names)
        self._closed = contract is not None  # no contract: any field passes
        self._notes: dict[str, str] = {}  # unknown field name -> its did-you-mean note
        self.numeric = all(c.dtype in _NUMBERS for c in columns)
        self._columns = [(c.name, c.convert, tuple(map(_compiled, c.tests))) for c in columns]
        self._rules = rules
        self._decimals = [i for i, c in enumerate(columns) if c.dtype is DType.DECIMAL]
        self._fast = _fast_path(columns, rules)

    def check(self, records: Sequence[Any]) -> CheckedBatch:
        """Check ``records`` (parsed JSON); never raises for bad data."""
        values: list[list[Any]] = []
        errors: list[Problem] = []
        violations: list[str | None] = []
        fast = self._fast
        for i, record in enumerate(records):
            if fast is not None and type(record) is dict:
                try:
                    found = fast(record)
                except (KeyError, TypeError):
                    found = None
                if found is not None:  # every value present, of its type, passing its checks
                    values.append(found)
                    violations.append(None)
                    continue
            row, violation = self._check_one(i, record, errors)
            values.append(row)
            violations.append(violation)
        return CheckedBatch(values, errors, violations)

    def _check_one(
        self, i: int, record: Any, errors: list[Problem]
    ) -> tuple[list[Any], str | None]:
        """The general path: every problem of record ``i`` into ``errors``, the soft ones
        (``warn`` mode) as the returned violation text."""
        if not isinstance(record, dict):
            errors.append({"row": i, "field": None, "error": "expected a JSON object"})
            return [], None
        warn = self.mode == "warn"
        row: list[Any] = []
        soft: list[str] = []
        known = self._known
        unknown = [str(k) for k in record if k not in known] if self._closed else []
        for name, convert, tests in self._columns:
            raw = record.get(name, _MISSING)
            value, problem = convert(raw)
            row.append(value)
            if problem is not None:
                if raw is _MISSING and unknown:
                    problem += missing_field_note(name, unknown)
                errors.append({"row": i, "field": name, "error": problem})
                continue
            for failed in [] if value is None else _failures(tests, value):
                if warn:
                    soft.append(f"{name}: {failed}")
                else:
                    errors.append({"row": i, "field": name, "error": failed})
        for failed in self._broken(row) if self._rules else []:
            if warn:
                soft.append(failed)
            else:
                errors.append({"row": i, "field": None, "error": failed})
        self._unknown(i, unknown, soft if warn and not self.strict else None, errors)
        return row, "; ".join(soft) if soft else None

    def _unknown(
        self, i: int, unknown: list[str], soft: list[str] | None, errors: list[Problem]
    ) -> None:
        """Fields the contract does not declare: into ``soft`` (``warn`` mode, a contract
        that is not strict), else into ``errors``."""
        notes = self._notes
        for extra in unknown:
            note = notes.get(extra)
            if note is None:  # difflib costs ~15 µs: once per name (a client repeats it)
                note = unknown_field_note(extra, self.names)
                if len(notes) < 1024:
                    notes[extra] = note
            error = "unknown field" + note
            if soft is not None:
                soft.append(f"{extra}: {error}")
            else:
                errors.append({"row": i, "field": extra, "error": error})

    def _broken(self, row: list[Any]) -> list[str]:
        """The rules the record breaks (its unreadable values are null: such rules skip)."""
        compared = list(row)
        for j in self._decimals:  # a decimal as the number its JSON text says
            compared[j] = record_decimal(compared[j])
        record = dict(zip(self.names, compared, strict=True))
        return [f"breaks the rule {r.label!r}" for r in self._rules if not _holds(r.holds, record)]


def _holds(holds: RecordRule, record: dict[str, Any]) -> bool:
    try:
        return holds(record)
    except (TypeError, ArithmeticError):  # values that cannot be compared or computed
        return False


def _failures(tests: tuple[Test, ...], value: Any) -> list[str]:
    out = []
    for passes, problem in tests:
        try:
            ok = passes(value)
        except TypeError:  # a datetime against a date bound, say
            ok = False
        if not ok:
            out.append(problem(value))
    return out


def _plan(contract: Contract | None) -> tuple[list[_Column], list[_Rule]]:
    """The columns (reader, value tests, nullability) and rules a record is checked against."""
    if contract is None:
        return [], []
    specs = {spec.name: spec for spec in contract.columns}
    tests: dict[str, list[RecordTest]] = {name: [] for name in specs}
    required: set[str] = set()
    rules: list[_Rule] = []
    for check in contract.checks():
        if check.severity != "error" or check.mostly is not None:
            continue  # no per-record form: it is judged on a share of rows, or only warns
        if check.kind == "not_null":
            required.add(check.columns[0])
            continue
        _add(check, specs, tests, rules)
    columns = [
        _Column(
            name=name,
            dtype=spec.dtype,
            convert=_converter(spec.dtype, nullable=name not in required),
            tests=tuple(tests[name]),
            nullable=name not in required,
        )
        for name, spec in specs.items()
    ]
    return columns, rules


def _add(
    check: Check,
    specs: dict[str, ColumnSpec],
    tests: dict[str, list[RecordTest]],
    rules: list[_Rule],
) -> None:
    columns = check.columns
    if len(columns) == 1 and columns[0] in specs:
        test = check.record_test(specs[columns[0]].dtype)
        if test is not None:
            tests[columns[0]].append(test)
            return
    rule = check.record_rule()
    if rule is not None:
        rules.append(_Rule(check.label, rule))


def _compiled(test: RecordTest) -> Test:
    """A record test as a function of the value (the general path)."""
    namespace = dict(test.names)
    source = f"lambda v: {test.source.format(v='v', p='')}"
    passes: Callable[[Any], bool] = eval(  # source from the check kinds, values by name
        compile(source, "<keel record test>", "eval"), namespace
    )
    return passes, test.problem


_NUMBERS = (DType.INT, DType.FLOAT, DType.BOOL, DType.DECIMAL)
_EXACT_DOUBLE = 2**53  # integers beyond it are stored (and compared) as the nearest double
_FAST_TYPES = {
    DType.INT: "type({v}) is int",
    DType.FLOAT: "(type({v}) is float or (type({v}) is int and -{e} <= {v} <= {e}))",
    DType.BOOL: "type({v}) is bool",
    DType.STR: "type({v}) is str",
    DType.CATEGORICAL: "type({v}) is str",
}


def _fast_path(
    columns: Sequence[_Column], rules: Sequence[_Rule]
) -> Callable[[dict[str, Any]], list[Any] | None] | None:
    """One generated function that accepts a valid record in a single expression.

    It returns the record's values when every column is present, of its type and passes
    its tests and the rules, and the record holds no other field, else None (or raises
    KeyError/TypeError): the general checker then runs and says what is wrong. The tests
    are the check kinds' own sources; names and constants reach the code through its
    namespace, never as source text. Contracts with dates or decimals have no fast path.
    """
    if not columns or any(c.dtype not in _FAST_TYPES for c in columns):
        return None
    namespace: dict[str, Any] = {}
    reads: list[str] = []
    tests: list[str] = []
    for i, column in enumerate(columns):
        v = f"v{i}"
        namespace[f"k{i}"] = column.name
        reads.append(f"{v} = record[k{i}]")
        parts = [_FAST_TYPES[column.dtype].format(v=v, e=_EXACT_DOUBLE)]
        for j, test in enumerate(column.tests):
            prefix = f"c{i}_{j}_"
            namespace.update({prefix + key: value for key, value in test.names.items()})
            parts.append(f"({test.source.format(v=v, p=prefix)})")
        test_all = " and ".join(parts)
        tests.append(f"({v} is None or ({test_all}))" if column.nullable else test_all)
    for j, rule in enumerate(rules):
        namespace[f"rule{j}"] = rule.holds
        tests.append(f"rule{j}(record)")
    tests.append(f"len(record) == {len(columns)}")  # every column read: no other field
    values = ", ".join(f"v{i}" for i in range(len(columns)))
    body = "\n    ".join(reads)
    source = (
        f"def fast(record):\n    {body}\n"
        f"    if {' and '.join(tests)}:\n        return [{values}]\n    return None\n"
    )
    exec(  # source from the contract's check kinds; values by name
        compile(source, "<keel contract checker>", "exec"), namespace
    )
    found: Callable[[dict[str, Any]], list[Any] | None] = namespace["fast"]
    return found


def _converter(dtype: DType, nullable: bool) -> Converter:
    """The type check of one JSON value: the value as the model reads it, or what is wrong."""
    reader = _READERS[dtype]

    def convert(raw: Any) -> tuple[Any, str | None]:
        if raw is None or raw is _MISSING:
            if nullable:
                return None, None
            return None, "is required" if raw is _MISSING else "must not be null"
        return reader(raw)

    return convert


def _read_int(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is int:
        return raw, None
    if type(raw) is float and raw.is_integer():
        return int(raw), None
    return None, f"expected an integer, got {_kind(raw)}"


def _read_float(raw: Any) -> tuple[Any, str | None]:
    kind = type(raw)
    if kind is float:
        return raw, None
    if kind is int and -_EXACT_DOUBLE <= raw <= _EXACT_DOUBLE:
        return raw, None
    if kind is int:  # a float column holds the nearest double, as a dataframe would
        try:
            return float(raw), None
        except OverflowError:
            return None, f"expected a number within the range of a double, got {_kind(raw)}"
    return None, f"expected a number, got {_kind(raw)}"


def _read_bool(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is bool:
        return raw, None
    return None, f"expected true or false, got {_kind(raw)}"


def _read_str(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        return raw, None
    return None, f"expected a string, got {_kind(raw)}"


def _read_date(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        try:
            return dt.date.fromisoformat(raw), None
        except ValueError:
            pass
    return None, f"expected a date as YYYY-MM-DD, got {_kind(raw)}"


def _read_datetime(raw: Any) -> tuple[Any, str | None]:
    if type(raw) is str:
        try:
            return dt.datetime.fromisoformat(raw), None
        except ValueError:
            pass
    return None, f"expected an ISO 8601 date-time, got {_kind(raw)}"


def _read_decimal(raw: Any) -> tuple[Any, str | None]:
    if type(raw) in (int, float):
        return raw, None
    if type(raw) is str:
        try:
            found = decimal.Decimal(raw)
        except decimal.InvalidOperation:
            pass
        else:
            if found.is_finite():
                return found, None
    return None, f"expected a decimal number, got {_kind(raw)}"


_READERS: dict[DType, Converter] = {
    DType.INT: _read_int,
    DType.FLOAT: _read_float,
    DType.BOOL: _read_bool,
    DType.STR: _read_str,
    DType.CATEGORICAL: _read_str,
    DType.DATE: _read_date,
    DType.DATETIME: _read_datetime,
    DType.DECIMAL: _read_decimal,
}


def _kind(raw: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    found = names.get(type(raw))
    if found is not None:
        return found if type(raw) is not str else f"the string {raw[:40]!r}"
    return repr(raw)[:40]

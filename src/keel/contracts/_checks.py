"""The checks a contract compiles to.

Each check contributes aggregate expressions to the one summary query (``summary``), turns
the resulting values into an :class:`Outcome`, and may offer a row predicate (``failing``)
that the engine uses, only when the check failed, to fetch example rows.

Beside its frame expression, each row check defines its *per-record* form, for one record
of parsed JSON on the serving hot path (:mod:`keel.contracts._records` compiles them): a
check of one column gives a :class:`RecordTest` (``record_test``), a rule across columns a
predicate over the record (``record_rule``). Dataset checks have none.

*Row checks* define ``valid``: a per-row boolean that is null where the check does not apply
(a null input); their failure count is the number of rows where it is false. *Dataset checks*
compute statistics (row count, correlation, freshness) and judge them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import narwhals.stable.v2 as nw

from keel.contracts._compare import (
    canonical,
    check_zones,
    compare,
    dask_decimal,
    dask_decimal_literal,
    isin_values,
    record_bound,
    record_values,
    refuse_dask_decimal_arithmetic,
    widened,
)
from keel.contracts._expr import Expr, evaluator
from keel.contracts._field import Severity
from keel.contracts._regex import Dialect, translate
from keel.contracts._types import DType

__all__ = ["Check", "Outcome", "RecordRule", "RecordTest", "RowCheck", "Scope"]


@dataclass(frozen=True)
class Scope:
    """What the compiler knows about the data: the dtype of every column present."""

    dtypes: Mapping[str, Any]
    library: str = "polars"
    guard_nulls: bool = False
    """True for engines (pandas/Dask with NumPy dtypes) where a test on a missing value gives
    False instead of null: row checks then pass missing values explicitly."""
    python_text: frozenset[str] = frozenset()
    """Text columns whose regular expressions run in Python's ``re`` (pandas object dtype)."""

    def regex_dialect(self, column: str) -> Dialect:
        if self.library == "polars":
            return "rust"
        return "python" if column in self.python_text else "re2"

    @property
    def floats(self) -> dict[str, bool]:
        return {name: bool(dtype.is_float()) for name, dtype in self.dtypes.items()}

    def is_float(self, column: str) -> bool:
        dtype = self.dtypes.get(column)
        return dtype is not None and bool(dtype.is_float())

    def column(self, name: str) -> Any:
        """A column as rules read it: Float32 widened (compared as the contract says),
        categoricals and enums as text (not every engine compares or measures them), and
        on Dask decimals as floats and dates as datetimes (its scalars hold neither)."""
        dtype = self.dtypes.get(name)
        if dtype is not None and (dtype == nw.Categorical or isinstance(dtype, nw.Enum)):
            return nw.col(name).cast(nw.String)
        if self.library == "dask" and dtype is not None and isinstance(dtype, nw.Decimal):
            return dask_decimal(name, dtype)
        if self.library == "dask" and dtype is not None and dtype == nw.Date:
            return nw.col(name).cast(nw.Datetime("us"))
        return widened(name, self.dtypes, self.library)

    def arithmetic(self, columns: Sequence[str], literals: Sequence[Any]) -> None:
        """Dask computes decimals as float64, whose sums and products are not the decimal
        ones even within 15 digits (0.1 + 0.2 != 0.3): arithmetic on them is refused."""
        if self.library != "dask":
            return
        decimals = [c for c in columns if isinstance(self.dtypes.get(c), nw.Decimal)]
        if decimals or any(isinstance(v, decimal.Decimal) for v in literals):
            refuse_dask_decimal_arithmetic(decimals)

    def literal(self, value: Any) -> Any:
        """A literal as rules compare it (on Dask, decimals as floats, dates as datetimes)."""
        if self.library == "dask" and isinstance(value, decimal.Decimal):
            return nw.lit(dask_decimal_literal(value))
        if self.library == "dask" and type(value) is dt.date:
            return nw.lit(dt.datetime.combine(value, dt.time()))
        return nw.lit(value)


@dataclass(frozen=True)
class Outcome:
    """The verdict of one check on one dataset."""

    failures: int
    observed: Any = None
    passed: bool | None = None  # None: decided from failures, rows and mostly
    message: str = ""


@dataclass(frozen=True)
class RecordTest:
    """A column check on one record's value, as Python source the record checker compiles.

    ``source`` is an expression true when the value passes: ``{v}`` stands for the value (never
    null, already of the column's type) and ``{p}`` prefixes each name of ``names`` it reads.
    ``problem(value)`` says what is wrong with a value that fails.
    """

    source: str
    names: Mapping[str, Any]
    problem: Callable[[Any], str]


RecordRule = Callable[[Mapping[str, Any]], bool]
"""A rule on one record (column name to value, ``None`` for null): true when it holds or
does not apply (a null input)."""


@dataclass(frozen=True, kw_only=True)
class Check:
    """Base of every check. Subclasses are frozen, plain data: they serialize and diff."""

    name: str | None = None
    severity: Severity = "error"
    mostly: float | None = None
    kind: ClassVar[str] = "check"
    row_level: ClassVar[bool] = False
    static: ClassVar[bool] = False  # decided from the schema alone, without scanning
    recount: ClassVar[bool] = False  # exact failing rows are counted only when it failed
    counts_rows: ClassVar[bool] = False  # failures are rows (so fraction = failures / rows)

    @property
    def windowed(self) -> bool:
        """Whether the failure count needs a window (group) expression per row."""
        return False

    @property
    def columns(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:
        return f"{self.kind}({', '.join(self.columns)})"

    def describe(self) -> str:
        return self.default_name()

    def params(self) -> dict[str, Any]:
        """The check's own arguments, as plain data (the YAML form of a rule)."""
        return {}

    def summary(self, scope: Scope) -> list[Any]:
        """Aggregate narwhals expressions for the single summary query."""
        return []

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        raise NotImplementedError

    def failing(self, scope: Scope) -> Any | None:
        """A row predicate true on failing rows, used to fetch examples; ``None`` if none."""
        return None

    def marks(self, scope: Scope, step: Callable[[int], str]) -> list[Any]:
        """The failing-row predicate as steps, each added as a column (``step(j)`` names step j).

        The last step is the predicate. Steps let window results be combined only after they
        are columns, which distributed engines (Dask) require.
        """
        return [self.failing(scope)]

    def example_columns(self, scope: Scope) -> list[tuple[str, Any]]:
        """What an example shows: (label, expression) pairs, by default the columns read."""
        return [(name, nw.col(name)) for name in self.columns]

    def record_test(self, dtype: DType) -> RecordTest | None:
        """This check on one value of its column (of logical type ``dtype``); ``None`` when
        it is not a check of one value."""
        return None

    def record_rule(self) -> RecordRule | None:
        """This check on one record (a rule across its columns); ``None`` when only a whole
        dataset can fail it."""
        return None


@dataclass(frozen=True, kw_only=True)
class _OnColumn(Check):
    """A check of one column."""

    column: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class _OnExpression:
    """What rules written as an expression share: columns, name and YAML form."""

    expr: Expr

    @property
    def columns(self) -> tuple[str, ...]:
        return self.expr.columns()

    def default_name(self) -> str:
        return self.expr.render()

    def params(self) -> dict[str, Any]:
        return {"expr": self.expr.render()}


@dataclass(frozen=True, kw_only=True)
class RowCheck(Check):
    """A check that holds or fails row by row."""

    row_level: ClassVar[bool] = True
    counts_rows: ClassVar[bool] = True
    skips_nulls_itself: ClassVar[bool] = False  # valid() already passes rows with nulls

    def valid(self, scope: Scope) -> Any:
        raise NotImplementedError

    def _valid(self, scope: Scope) -> Any:
        """``valid``, with missing inputs passing on every engine (they are null's business)."""
        result = self.valid(scope)
        if scope.guard_nulls and not self.windowed and not self.skips_nulls_itself:
            for name in self.columns:
                result = result | nw.col(name).is_null()
        return result

    def summary(self, scope: Scope) -> list[Any]:
        return [(~self._valid(scope)).sum()]

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        return Outcome(failures=int(values[0] or 0))

    def failing(self, scope: Scope) -> Any:
        return ~self._valid(scope)


def _not_nan(expr: Any, column: str, scope: Scope) -> Any:
    """NaN fails bounds and comparisons on every engine (Polars orders NaN above all)."""
    return expr & ~nw.col(column).is_nan() if scope.is_float(column) else expr


_LAZY = {"dask", "duckdb", "sqlframe", "pyspark", "ibis"}  # no eager is_duplicated


def _present(columns: Sequence[str]) -> Any:
    """True where none of ``columns`` is null."""
    result = ~nw.col(columns[0]).is_null()
    for name in columns[1:]:
        result = result & ~nw.col(name).is_null()
    return result


def _window_keys(
    columns: Sequence[str], scope: Scope, step: Callable[[int], str]
) -> tuple[list[Any], list[list[str]]]:
    """Group keys for a window, per column: float keys the engine would split (-0.0 from
    0.0) become canonical columns first, and on PyArrow, whose windows drop rows with a null
    key, a key becomes its text (nulls filled) plus a null flag. Returns the steps and, per
    column, the names to group by."""
    steps: list[Any] = []
    names: list[list[str]] = []
    for column in columns:
        expr = canonical(column, scope.dtypes, scope.library)
        x = nw.col(column)
        if scope.library == "pyarrow":
            parts = [expr.cast(nw.String).fill_null(""), x.is_null()]
        elif scope.is_float(column) and scope.library == "dask":  # its groups merge NaN, null
            parts = [nw.when(x.is_nan()).then(nw.lit(0.0)).otherwise(expr), x.is_nan()]
        elif scope.is_float(column) and scope.library not in {"polars", "duckdb"}:
            parts = [expr]
        else:
            names.append([column])
            continue
        names.append([step(len(steps) + j) for j in range(len(parts))])
        steps.extend(parts)
    return steps, names


def _text(column: str, scope: Scope) -> Any:
    """A string view of a text column (categoricals are cast, as not every engine matches them)."""
    dtype = scope.dtypes.get(column)
    expr = nw.col(column)
    return expr if dtype is None or dtype == nw.String else expr.cast(nw.String)


# -- checks generated from column declarations -------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ColumnsPresent(Check):
    """Every declared column is present; with ``strict``, no other column is."""

    expected: tuple[str, ...]
    strict: bool = False
    kind: ClassVar[str] = "columns"
    static: ClassVar[bool] = True

    @property
    def columns(self) -> tuple[str, ...]:
        return self.expected

    def default_name(self) -> str:
        return "columns present" + (" (strict)" if self.strict else "")

    def describe(self) -> str:
        extra = "; no other columns" if self.strict else ""
        return f"columns {', '.join(self.expected)} exist{extra}"

    def evaluate(self, scope: Scope) -> Outcome:
        missing = [c for c in self.expected if c not in scope.dtypes]
        unexpected = [c for c in scope.dtypes if c not in self.expected] if self.strict else []
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected: {', '.join(unexpected)}")
        return Outcome(
            failures=len(missing) + len(unexpected),
            observed={"missing": missing, "unexpected": unexpected},
            passed=not parts,
            message="; ".join(parts),
        )


@dataclass(frozen=True, kw_only=True)
class DTypeCheck(_OnColumn):
    dtype: DType
    kind: ClassVar[str] = "dtype"
    static: ClassVar[bool] = True

    def default_name(self) -> str:
        return f"{self.column}: type {self.dtype.value}"

    def evaluate(self, scope: Scope) -> Outcome:
        actual = scope.dtypes.get(self.column)
        if actual is None:
            return Outcome(failures=0, passed=False, message="column missing")
        ok = self.dtype.accepts(actual)
        message = "" if ok else f"expected {self.dtype.value}, found {actual}"
        return Outcome(failures=0 if ok else 1, observed=str(actual), passed=ok, message=message)


@dataclass(frozen=True, kw_only=True)
class Coerced(RowCheck, _OnColumn):
    """Replaces the type check of a column cast to its declared type: no value was lost."""

    dtype: DType
    raw: str
    kind: ClassVar[str] = "dtype"
    skips_nulls_itself: ClassVar[bool] = True  # a null cast from a set raw value is the failure

    def default_name(self) -> str:
        return f"{self.column}: type {self.dtype.value}"

    def valid(self, scope: Scope) -> Any:
        return ~(~nw.col(self.raw).is_null() & nw.col(self.column).is_null())

    def example_columns(self, scope: Scope) -> list[tuple[str, Any]]:
        return [(self.column, nw.col(self.raw))]


@dataclass(frozen=True, kw_only=True)
class NotNull(_OnColumn):
    kind: ClassVar[str] = "not_null"
    counts_rows: ClassVar[bool] = True

    def default_name(self) -> str:
        return f"{self.column}: not null"

    def summary(self, scope: Scope) -> list[Any]:
        return [nw.col(self.column).null_count()]

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        return Outcome(failures=int(values[0] or 0))

    def failing(self, scope: Scope) -> Any:
        return nw.col(self.column).is_null()


@dataclass(frozen=True, kw_only=True)
class NullFraction(NotNull):
    """``not_null`` judged on a share: at most a fraction ``max`` of the column is null.

    The same count and failing rows as :class:`NotNull`; only the verdict (and the rule's
    name and YAML form, ``null_fraction``) differ. Judged on a share, it has no per-record
    form.
    """

    max: float
    kind: ClassVar[str] = "null_fraction"

    def default_name(self) -> str:
        return f"{self.column}: null fraction <= {self.max}"

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "max": self.max}

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        nulls = int(values[0] or 0)
        fraction = nulls / rows if rows else 0.0
        ok = fraction <= self.max
        return Outcome(nulls, round(fraction, 6), ok, "" if ok else f"{fraction:.2%} null")


@dataclass(frozen=True, kw_only=True)
class Range(RowCheck, _OnColumn):
    ge: Any = None
    gt: Any = None
    le: Any = None
    lt: Any = None
    kind: ClassVar[str] = "range"

    def bounds(self) -> list[tuple[str, Any]]:
        ops = (">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)
        return [(op, value) for op, value in ops if value is not None]

    def default_name(self) -> str:
        return f"{self.column}: " + " and ".join(f"{op} {v}" for op, v in self.bounds())

    def valid(self, scope: Scope) -> Any:
        tests = [
            compare(self.column, op, v, scope.dtypes, scope.library) for op, v in self.bounds()
        ]
        result = tests[0]
        for test in tests[1:]:
            result = result & test
        return _not_nan(result, self.column, scope)

    def record_test(self, dtype: DType) -> RecordTest:
        # a decimal compares by the exact value its JSON text says; NaN compares false
        exact = dtype is DType.DECIMAL
        bounds = [(op, record_bound(v, dtype)) for op, v in self.bounds()]
        names: dict[str, Any] = {f"b{j}": bound for j, (_, bound) in enumerate(bounds)}
        value = "{p}key({v})" if exact else "{v}"
        names["key"] = record_decimal
        source = " and ".join(f"{value} {op} {{p}}b{j}" for j, (op, _) in enumerate(bounds))
        shown = self.bounds()

        def problem(found: Any) -> str:
            key, text = (record_decimal(found), str(found)) if exact else (found, repr(found))
            for (op, bound), (_, written) in zip(bounds, shown, strict=True):
                try:
                    holds = _RECORD_OPS[op](key, bound)
                except TypeError:  # a datetime against a date bound, say
                    return f"cannot be compared with {written!r}"
                if not holds:
                    return f"must be {op} {written}, got {text}"
            return f"must be {' and '.join(f'{op} {b}' for op, b in shown)}, got {text}"

        return RecordTest(source, names, problem)


_RECORD_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


def record_decimal(value: Any) -> Any:
    """A record's decimal as the number its JSON text says (``0.1`` is the decimal 0.1)."""
    if isinstance(value, float) and math.isfinite(value):
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value) if isinstance(value, int) else value


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _banned(found: Any) -> str:
    return f"must not be {found!r}"


def _not_finite(found: Any) -> str:
    return f"must be finite, got {found!r}"


@dataclass(frozen=True, kw_only=True)
class IsIn(RowCheck, _OnColumn):
    values: tuple[Any, ...]
    negate: bool = False
    kind: ClassVar[str] = "isin"

    def default_name(self) -> str:
        shown = ", ".join(map(repr, self.values[:5])) + (", ..." if len(self.values) > 5 else "")
        return f"{self.column}: {'not ' if self.negate else ''}in {{{shown}}}"

    def valid(self, scope: Scope) -> Any:
        column = canonical(self.column, scope.dtypes, scope.library)
        if scope.library != "polars" and all(isinstance(v, str) for v in self.values):
            column = _text(self.column, scope)  # Arrow dictionaries match only as text
        values = isin_values(self.values, scope.dtypes.get(self.column), scope.library)
        if len(values) == 0:  # nothing can match; null rows stay skipped
            missing = nw.col(self.column).is_null()
            return (missing | ~missing) if self.negate else missing
        test = column.is_in(values)
        return ~test if self.negate else test

    def record_test(self, dtype: DType) -> RecordTest:
        # compared with == as on a frame: NaN equals nothing (a set would find the very NaN
        # object it holds), -0.0 is 0.0, a boolean is not a number, a decimal by its value
        exact = dtype is DType.DECIMAL
        members = frozenset(record_values(self.values, dtype))
        value = "{p}key({v})" if exact else "{v}"
        source = f"{value} {'not in' if self.negate else 'in'} {{p}}members"
        if self.negate:
            return RecordTest(source, {"members": members, "key": record_decimal}, _banned)
        shown = repr(list(self.values[:10]))
        shown = shown[:-1] + (", ...]" if len(self.values) > 10 else "]")

        def problem(found: Any) -> str:
            return f"must be one of {shown}, got {found!r}"

        return RecordTest(source, {"members": members, "key": record_decimal}, problem)


@dataclass(frozen=True, kw_only=True)
class Pattern(RowCheck, _OnColumn):
    pattern: str
    kind: ClassVar[str] = "pattern"

    def default_name(self) -> str:
        return f"{self.column}: matches {self.pattern}"

    def valid(self, scope: Scope) -> Any:
        pattern = translate(self.pattern, scope.regex_dialect(self.column))
        return _text(self.column, scope).str.contains(pattern)

    def record_test(self, dtype: DType) -> RecordTest:
        search = re.compile(translate(self.pattern, "python")).search
        pattern = self.pattern

        def problem(found: Any) -> str:
            return f"must match {pattern!r}, got {found!r}"

        return RecordTest("{p}search({v}) is not None", {"search": search}, problem)


@dataclass(frozen=True, kw_only=True)
class Length(RowCheck, _OnColumn):
    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "length"

    def default_name(self) -> str:
        low = "" if self.min is None else f"{self.min} <= "
        high = "" if self.max is None else f" <= {self.max}"
        return f"{self.column}: {low}length{high}"

    def valid(self, scope: Scope) -> Any:
        length = _text(self.column, scope).str.len_chars()
        tests = []
        if self.min is not None:
            tests.append(length >= self.min)
        if self.max is not None:
            tests.append(length <= self.max)
        return tests[0] & tests[1] if len(tests) == 2 else tests[0]

    def record_test(self, dtype: DType) -> RecordTest:
        low, high = self.min, self.max
        tests = [] if low is None else ["{p}low <= len({v})"]
        tests += [] if high is None else ["len({v}) <= {p}high"]

        def problem(found: Any) -> str:
            within = f"[{low or 0}, {'' if high is None else high}]"
            return f"length must be within {within}, got {len(found)}"

        return RecordTest(" and ".join(tests), {"low": low, "high": high}, problem)


@dataclass(frozen=True, kw_only=True)
class Finite(RowCheck, _OnColumn):
    kind: ClassVar[str] = "finite"

    def default_name(self) -> str:
        return f"{self.column}: finite"

    def valid(self, scope: Scope) -> Any:
        column = nw.col(self.column)
        if not scope.is_float(self.column):  # an all-null column (dtype Null): nothing to test
            return column.is_null()
        return column.is_finite() | column.is_null()

    def record_test(self, dtype: DType) -> RecordTest:
        # a record's float column holds a float or an integer within ±2**53 (a double)
        return RecordTest("{p}isfinite({v})", {"isfinite": math.isfinite}, _not_finite)


# -- rules: checks across columns and over the whole dataset -----------------------------
@dataclass(frozen=True, kw_only=True)
class Unique(Check):
    """No value (or combination of values over ``keys``) appears twice."""

    keys: tuple[str, ...]
    kind: ClassVar[str] = "unique"
    counts_rows: ClassVar[bool] = True
    recount: ClassVar[bool] = True

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys

    def default_name(self) -> str:
        return f"{', '.join(self.keys)}: unique"

    def params(self) -> dict[str, Any]:
        return {"columns": list(self.keys)}

    def summary(self, scope: Scope) -> list[Any]:
        if len(self.keys) == 1:  # a distinct count is ~5x cheaper than marking duplicates
            x = nw.col(self.keys[0])
            key = canonical(self.keys[0], scope.dtypes, scope.library)
            if not scope.is_float(self.keys[0]):
                return [nw.len(), key.n_unique(), x.null_count()]
            # NaN is one value; some engines count it with null in a distinct count (Dask)
            key = key.fill_nan(None)
            nans = (x.is_nan() & ~x.is_null()).sum()
            return [nw.len(), key.n_unique(), key.null_count(), x.null_count(), nans]
        return [self.failing(scope).sum()]

    @property
    def windowed(self) -> bool:
        return len(self.keys) > 1

    def outcome(self, values: Sequence[Any], rows: int, scope: Scope) -> Outcome:
        if len(self.keys) > 1:
            return Outcome(failures=int(values[0] or 0))
        numbers = [int(v or 0) for v in values]
        if len(numbers) == 3:  # not a float key: no NaN, the key's nulls are the column's
            numbers = [*numbers, numbers[2], 0]
        count, distinct, missing, nulls, nans = numbers
        # the key's distinct count takes null (and NaN) as one value; NaN is one value of
        # its own; nulls never count as duplicates
        values_seen = distinct - (1 if missing else 0) + (1 if nans else 0)
        excess = (count - nulls) - values_seen
        return Outcome(failures=excess)  # the engine recounts failing rows when excess > 0

    def failing(self, scope: Scope) -> Any:
        return (nw.len().over(*self.keys) > 1) & _present(self.keys)

    def marks(self, scope: Scope, step: Callable[[int], str]) -> list[Any]:
        # a row with a null key is never a duplicate: null is a missing value
        if len(self.keys) == 1 and scope.library not in _LAZY:
            key = canonical(self.keys[0], scope.dtypes, scope.library)
            return [key.is_duplicated(), nw.col(step(0)) & _present(self.keys)]
        steps, names = _window_keys(self.keys, scope, step)
        j = len(steps)
        group = [n for part in names for n in part]
        return [*steps, nw.len().over(*group), (nw.col(step(j)) > 1) & _present(self.keys)]


@dataclass(frozen=True, kw_only=True)
class ExpressionRule(_OnExpression, RowCheck):
    """A custom row-level rule: ``keel.expression(Sale.total <= Sale.limit)``."""

    expr: Expr
    kind: ClassVar[str] = "expression"
    skips_nulls_itself: ClassVar[bool] = True

    def valid(self, scope: Scope) -> Any:
        # three-valued logic: a row fails where the rule is false, and is skipped where a
        # null makes it unknown (the same rows on every engine)
        value, unknown = self.expr.compiled(scope.floats, scope)
        return value if unknown is None else value | unknown

    def record_rule(self) -> RecordRule:
        value_of = evaluator(self.expr, row=True)

        def holds(record: Mapping[str, Any]) -> bool:
            value = value_of(record)
            return value is None or bool(value)  # a null makes the rule unknown: skipped

        return holds


@dataclass(frozen=True, kw_only=True)
class Ordered(RowCheck):
    """``a <= b <= c`` on every row (``strict``: ``<``)."""

    chain: tuple[str, ...]
    strict: bool = False
    kind: ClassVar[str] = "ordered"
    skips_nulls_itself: ClassVar[bool] = True

    @property
    def columns(self) -> tuple[str, ...]:
        return self.chain

    def default_name(self) -> str:
        return f" {'<' if self.strict else '<='} ".join(self.chain)

    def params(self) -> dict[str, Any]:
        return {"columns": list(self.chain), **({"strict": True} if self.strict else {})}

    def valid(self, scope: Scope) -> Any:
        # each neighbouring pair is compared; a pair with a null is skipped, NaN fails
        tests = []
        for low, high in zip(self.chain, self.chain[1:], strict=False):
            check_zones(low, high, scope.dtypes)
            a, b = (widened(c, scope.dtypes, scope.library) for c in (low, high))
            test = _not_nan(_not_nan(a < b if self.strict else a <= b, low, scope), high, scope)
            tests.append(test | nw.col(low).is_null() | nw.col(high).is_null())
        result = tests[0]
        for test in tests[1:]:
            result = result & test
        return result

    def record_rule(self) -> RecordRule:
        pairs = list(zip(self.chain, self.chain[1:], strict=False))
        less = operator.lt if self.strict else operator.le

        def holds(record: Mapping[str, Any]) -> bool:
            for low, high in pairs:
                a, b = record.get(low), record.get(high)
                if a is None or b is None:
                    continue
                if _is_nan(a) or _is_nan(b) or not less(a, b):
                    return False
            return True

        return holds


@dataclass(frozen=True, kw_only=True)
class Close(RowCheck):
    """``left`` equals ``right`` within ``abs_tol + rel_tol * |right|`` (e.g. total = price*qty)."""

    left: Expr
    right: Expr
    abs_tol: float = 1e-9
    rel_tol: float = 0.0
    kind: ClassVar[str] = "close"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.left.columns(), *self.right.columns())))

    def default_name(self) -> str:
        return f"{self.left.render()} == {self.right.render()}"

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"left": self.left.render(), "right": self.right.render()}
        out["abs_tol"] = self.abs_tol
        if self.rel_tol:
            out["rel_tol"] = self.rel_tol
        return out

    def valid(self, scope: Scope) -> Any:
        # in double precision; NaN or an infinite side fails, a null side is skipped
        left, right = (
            side.compile(scope.floats, scope)
            if side.is_float(scope.floats)  # a cast would lose NaN on Dask
            else side.compile(scope.floats, scope).cast(nw.Float64)
            for side in (self.left, self.right)
        )
        near = (left - right).abs() <= self.abs_tol + self.rel_tol * right.abs()
        return (near & left.is_finite() & right.is_finite()) | left.is_null() | right.is_null()

    def record_rule(self) -> RecordRule:
        left_of, right_of = (evaluator(side, row=True) for side in (self.left, self.right))
        abs_tol, rel_tol = self.abs_tol, self.rel_tol

        def holds(record: Mapping[str, Any]) -> bool:
            left, right = left_of(record), right_of(record)
            if left is None or right is None:
                return True
            x, y = float(left), float(right)
            finite = math.isfinite(x) and math.isfinite(y)
            return finite and abs(x - y) <= abs_tol + rel_tol * abs(y)

        return holds


@dataclass(frozen=True, kw_only=True)
class FunctionalDependency(RowCheck):
    """Each value of ``key`` maps to one value of ``value`` (e.g. zip code → state)."""

    key: tuple[str, ...]
    value: str
    kind: ClassVar[str] = "functional_dependency"

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.key, self.value)

    def default_name(self) -> str:
        return f"{', '.join(self.key)} -> {self.value}"

    def params(self) -> dict[str, Any]:
        return {"key": list(self.key), "value": self.value}

    @property
    def windowed(self) -> bool:
        return True

    def valid(self, scope: Scope) -> Any:
        same = nw.col(self.value).count().over(*self.key) == nw.len().over(*self.key, self.value)
        return same | ~_present(self.columns)

    def marks(self, scope: Scope, step: Callable[[int], str]) -> list[Any]:
        # a key maps to several values iff its non-null values outnumber its (key, value)
        # group; rows with a null key or value are skipped
        steps, names = _window_keys(self.columns, scope, step)
        key = [n for part in names[:-1] for n in part]
        j = len(steps)
        counts = [nw.col(self.value).count().over(*key), nw.len().over(*key, *names[-1])]
        differ = nw.col(step(j)) != nw.col(step(j + 1))
        return [*steps, *counts, differ & _present(self.columns)]

"""Engine-neutral expressions over contract columns.

``Loan.income`` is a :class:`Column` (a typed reference); arithmetic, comparisons and the
methods below build an :class:`Expr` tree. The tree is plain data: it renders to a short
Python-like text (``abs(total - (price * qty)) <= 0.01``), parses back from that text (the
YAML form of custom rules), and compiles to a narwhals expression for any engine.

NaN is a value, not a missing value: a comparison with NaN is false on every engine (as in
IEEE 754), although Polars orders NaN above every number. The compiler adds that guard.
A null makes what reads it unknown (SQL's three-valued logic: ``null & false`` is false,
``null | true`` is true); :meth:`Expr.unknown` says where, the same on every engine, so a
rule can skip exactly the unknown rows. Division by zero is null. Aggregations skip null,
and ``mean``, ``sum``, ``min``, ``max``, ``std`` and ``var`` skip NaN as well.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import keyword
import math
import operator
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import narwhals.stable.v2 as nw

from keel.errors import ContractDefinitionError, did_you_mean

__all__ = ["Column", "Expr", "aggregations", "col", "evaluate", "evaluator", "lit", "parse_expr"]

T = TypeVar("T")
Scalar = int | float | str | bool | dt.date | dt.datetime | decimal.Decimal | None

_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_LOGIC: dict[str, Callable[[Any, Any], Any]] = {"&": operator.and_, "|": operator.or_}
_BINARY = {**_ARITH, **_COMPARE, **_LOGIC}

_ROW_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": lambda x: x.abs(),
    "is_null": lambda x: x.is_null(),
    "is_not_null": lambda x: ~x.is_null(),
    "is_nan": lambda x: x.is_nan().fill_null(True),  # null on a known row: a NaN (pandas)
    "is_finite": lambda x: x.is_finite().fill_null(False),
    "is_in": lambda x, values: x.is_in(values).fill_null(False),
    "len_chars": lambda x: x.str.len_chars(),
}
_AGG_FUNCS: dict[str, Callable[..., Any]] = {
    "mean": lambda x: x.mean(),
    "sum": lambda x: x.sum(),
    "min": lambda x: x.min(),
    "max": lambda x: x.max(),
    "std": lambda x: x.std(),
    "var": lambda x: x.var(),
    "count": lambda x: x.count(),
    "n_unique": lambda x: x.n_unique(),
    "null_count": lambda x: x.null_count(),
}
_FLOAT_RESULT = {"mean", "std", "var"}
_SKIP_NAN = {"mean", "sum", "min", "max", "std", "var"}


class Reader(Protocol):
    """How a rule reads columns and literals on an engine (``Scope`` in the engine:
    Float32 widened, categoricals as text, decimals as floats on Dask)."""

    def column(self, name: str) -> Any: ...

    def literal(self, value: Any) -> Any: ...

    def arithmetic(self, columns: Sequence[str], literals: Sequence[Any]) -> None:
        """Refuse arithmetic the engine would not compute exactly (decimals on Dask)."""


class _Plain:
    def column(self, name: str) -> Any:
        return nw.col(name)

    def literal(self, value: Any) -> Any:
        return nw.lit(value)

    def arithmetic(self, columns: Sequence[str], literals: Sequence[Any]) -> None:
        return None


_read: Reader = _Plain()


def _either(a: Any | None, b: Any | None) -> Any | None:
    """``a | b`` for unknown-masks, where ``None`` means never unknown."""
    if a is None:
        return b
    return a if b is None else a | b


_TYPED_LITERALS: dict[str, type] = {
    "datetime": dt.datetime,
    "date": dt.date,
    "decimal": decimal.Decimal,
}
_FUNCTION_NAMES = {
    *_TYPED_LITERALS,
    *_ROW_FUNCS,
    *_AGG_FUNCS,
    "not",
    "col",
    "True",
    "False",
    "None",
}


class Expr:
    """A node of an expression tree. Build them from columns; do not subclass."""

    __slots__ = ()

    # -- building -------------------------------------------------------------------------
    def _binary(self, op: str, other: object, *, reverse: bool = False) -> Expr:
        right = _lift(other)
        return Binary(op, right, self) if reverse else Binary(op, self, right)

    def __add__(self, other: object) -> Expr:
        return self._binary("+", other)

    def __radd__(self, other: object) -> Expr:
        return self._binary("+", other, reverse=True)

    def __sub__(self, other: object) -> Expr:
        return self._binary("-", other)

    def __rsub__(self, other: object) -> Expr:
        return self._binary("-", other, reverse=True)

    def __mul__(self, other: object) -> Expr:
        return self._binary("*", other)

    def __rmul__(self, other: object) -> Expr:
        return self._binary("*", other, reverse=True)

    def __truediv__(self, other: object) -> Expr:
        return self._binary("/", other)

    def __rtruediv__(self, other: object) -> Expr:
        return self._binary("/", other, reverse=True)

    def __mod__(self, other: object) -> Expr:
        return self._binary("%", other)

    def __lt__(self, other: object) -> Expr:
        return self._binary("<", other)

    def __le__(self, other: object) -> Expr:
        return self._binary("<=", other)

    def __gt__(self, other: object) -> Expr:
        return self._binary(">", other)

    def __ge__(self, other: object) -> Expr:
        return self._binary(">=", other)

    def __eq__(self, other: object) -> Expr:  # type: ignore[override]  # builds an expression
        return self._binary("==", other)

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]  # builds an expression
        return self._binary("!=", other)

    def __and__(self, other: object) -> Expr:
        return self._binary("&", other)

    def __rand__(self, other: object) -> Expr:
        return self._binary("&", other, reverse=True)

    def __or__(self, other: object) -> Expr:
        return self._binary("|", other)

    def __ror__(self, other: object) -> Expr:
        return self._binary("|", other, reverse=True)

    def __invert__(self) -> Expr:
        return Call("not", (self,))

    def __neg__(self) -> Expr:
        return Binary("-", Literal(0), self)

    def __abs__(self) -> Expr:
        return Call("abs", (self,))

    def __bool__(self) -> bool:
        raise ContractDefinitionError(
            f"the expression {self} has no truth value while a contract is being defined "
            "(chained comparisons like a <= b <= c and `and`/`or` ask for one).",
            hint="Use keel.ordered(a, b, c) for chains, and & / | instead of and / or.",
        )

    __hash__ = object.__hash__

    def abs(self) -> Expr:
        return Call("abs", (self,))

    def is_null(self) -> Expr:
        return Call("is_null", (self,))

    def is_not_null(self) -> Expr:
        return Call("is_not_null", (self,))

    def is_nan(self) -> Expr:
        return Call("is_nan", (self,))

    def is_finite(self) -> Expr:
        return Call("is_finite", (self,))

    def is_in(self, values: Sequence[Scalar]) -> Expr:
        return Call("is_in", (self, Literal(tuple(values))))

    def len_chars(self) -> Expr:
        return Call("len_chars", (self,))

    def is_between(self, lower: object, upper: object) -> Expr:
        return (self >= lower) & (self <= upper)

    def mean(self) -> Expr:
        return Call("mean", (self,))

    def sum(self) -> Expr:
        return Call("sum", (self,))

    def min(self) -> Expr:
        return Call("min", (self,))

    def max(self) -> Expr:
        return Call("max", (self,))

    def std(self) -> Expr:
        return Call("std", (self,))

    def var(self) -> Expr:
        return Call("var", (self,))

    def count(self) -> Expr:
        return Call("count", (self,))

    def n_unique(self) -> Expr:
        return Call("n_unique", (self,))

    def null_count(self) -> Expr:
        return Call("null_count", (self,))

    # -- inspecting -----------------------------------------------------------------------
    def columns(self) -> tuple[str, ...]:
        """Names of the columns the expression reads, in first-use order."""
        seen: dict[str, None] = {}
        self._collect(seen)
        return tuple(seen)

    def _collect(self, seen: dict[str, None]) -> None:
        raise NotImplementedError

    def is_aggregate(self) -> bool:
        """True when every column is read under an aggregation (the result is one value)."""
        raise NotImplementedError

    def render(self, *, top: bool = True) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"keel.parse_expr({self.render()!r})"

    def same_as(self, other: Expr) -> bool:
        """Structural equality (``==`` builds an expression instead)."""
        return self.render() == other.render()

    def compile(self, floats: Mapping[str, bool], read: Reader = _read) -> Any:
        """Translate to a narwhals expression; ``floats`` says which columns hold floats,
        ``read`` how to read a column."""
        return self.compiled(floats, read)[0]

    def unknown(self, floats: Mapping[str, bool], read: Reader = _read) -> Any | None:
        """Where the value is null (unknown), as a boolean expression that is never null
        itself; ``None`` when it never is."""
        return self.compiled(floats, read)[1]

    def compiled(self, floats: Mapping[str, bool], read: Reader = _read) -> tuple[Any, Any | None]:
        """``compile`` and ``unknown`` together, each node compiled once (the unknown-mask of
        ``&`` and ``|`` reads the values of both sides)."""
        raise NotImplementedError

    def is_float(self, floats: Mapping[str, bool]) -> bool:
        raise NotImplementedError


class Column(Expr, Generic[T]):
    """A typed reference to a contract column: ``Loan.income`` is a ``Column[float | None]``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _collect(self, seen: dict[str, None]) -> None:
        seen[self.name] = None

    def is_aggregate(self) -> bool:
        return False

    def render(self, *, top: bool = True) -> str:
        plain = self.name.isidentifier() and not keyword.iskeyword(self.name)
        return self.name if plain and self.name not in _FUNCTION_NAMES else f"col({self.name!r})"

    def compiled(self, floats: Mapping[str, bool], read: Reader = _read) -> tuple[Any, Any | None]:
        return read.column(self.name), nw.col(self.name).is_null()

    def is_float(self, floats: Mapping[str, bool]) -> bool:
        return floats.get(self.name, False)


@dataclass(frozen=True, eq=False, slots=True)
class Literal(Expr):
    value: Any

    def _collect(self, seen: dict[str, None]) -> None:
        return None

    def is_aggregate(self) -> bool:
        return True

    def render(self, *, top: bool = True) -> str:
        if isinstance(self.value, tuple):
            return repr(list(self.value))
        value = self.value
        if isinstance(value, dt.date):  # covers datetime, a subclass
            name = "datetime" if isinstance(value, dt.datetime) else "date"
            return f"{name}({value.isoformat()!r})"
        if isinstance(value, decimal.Decimal):
            return f"decimal({str(value)!r})"
        return repr(self.value)

    def compiled(self, floats: Mapping[str, bool], read: Reader = _read) -> tuple[Any, Any | None]:
        return read.literal(self.value), nw.lit(True) if self.value is None else None

    def is_float(self, floats: Mapping[str, bool]) -> bool:
        return False


@dataclass(frozen=True, eq=False, slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr

    def _collect(self, seen: dict[str, None]) -> None:
        self.left._collect(seen)
        self.right._collect(seen)

    def is_aggregate(self) -> bool:
        return self.left.is_aggregate() and self.right.is_aggregate()

    def render(self, *, top: bool = True) -> str:
        text = f"{self.left.render(top=False)} {self.op} {self.right.render(top=False)}"
        return text if top else f"({text})"

    def compiled(self, floats: Mapping[str, bool], read: Reader = _read) -> tuple[Any, Any | None]:
        if self.op in _ARITH:  # every column under either side takes part in it
            seen: dict[str, None] = {}
            self._collect(seen)
            operands = (self.left, self.right)
            read.arithmetic(list(seen), [o.value for o in operands if isinstance(o, Literal)])
        left, left_unknown = self.left.compiled(floats, read)
        right, right_unknown = self.right.compiled(floats, read)
        either = _either(left_unknown, right_unknown)
        if self.op == "/":  # division by zero is null on every engine
            return nw.when(right != 0).then(left / right), _either(either, right == 0)
        result = _BINARY[self.op](left, right)
        if self.op in _COMPARE:
            for side, compiled in ((self.left, left), (self.right, right)):
                if side.is_float(floats):
                    result = result & ~compiled.is_nan()
            # on a known row a null can only be a NaN that pandas' Arrow arithmetic made
            # null, and a comparison with NaN is false; unknown rows are unknown()'s business
            result = result.fill_null(False)  # a value, not a flag
        if self.op not in _LOGIC or either is None:
            return result, either
        # Kleene: a known false side decides &, a known true side decides |
        decided = []
        for side, mask in ((left, left_unknown), (right, right_unknown)):
            deciding = ~side if self.op == "&" else side
            decided.append(deciding if mask is None else ~mask & deciding)
        return result, either & ~(decided[0] | decided[1])

    def is_float(self, floats: Mapping[str, bool]) -> bool:
        if self.op in _ARITH:
            return self.op == "/" or self.left.is_float(floats) or self.right.is_float(floats)
        return False


@dataclass(frozen=True, eq=False, slots=True)
class Call(Expr):
    fn: str
    args: tuple[Expr, ...]

    def _collect(self, seen: dict[str, None]) -> None:
        for arg in self.args:
            arg._collect(seen)

    def is_aggregate(self) -> bool:
        return self.fn in _AGG_FUNCS or all(a.is_aggregate() for a in self.args)

    def render(self, *, top: bool = True) -> str:
        if self.fn == "not":
            return f"~({self.args[0].render()})"
        return f"{self.fn}({', '.join(a.render() for a in self.args)})"

    def compiled(self, floats: Mapping[str, bool], read: Reader = _read) -> tuple[Any, Any | None]:
        arg, arg_unknown = self.args[0].compiled(floats, read)
        if self.fn in _AGG_FUNCS:
            if self.fn in _SKIP_NAN and self.args[0].is_float(floats):
                arg = arg.fill_nan(None)
            return _AGG_FUNCS[self.fn](arg), None
        if self.fn in ("is_null", "is_not_null"):
            found = nw.lit(False) if arg_unknown is None else arg_unknown  # a literal
            return (~found if self.fn == "is_not_null" else found), None
        if self.fn == "not":
            return ~arg, arg_unknown
        if self.fn == "is_in":  # NaN equals nothing, not even a NaN in the list (IEEE ==)
            values = self.args[1]
            assert isinstance(values, Literal)
            listed = [v for v in values.value if not _is_nan(v)]
            found = _ROW_FUNCS["is_in"](arg, listed) if listed else nw.lit(False)
            return found, arg_unknown
        return _ROW_FUNCS[self.fn](arg), arg_unknown

    def is_float(self, floats: Mapping[str, bool]) -> bool:
        if self.fn in _FLOAT_RESULT:
            return True
        if self.fn in {"abs", "sum", "min", "max"}:
            return self.args[0].is_float(floats)
        return False


# -- dataset-level rules: engines compute the aggregations, Python judges the rest --------
def aggregations(expr: Expr) -> list[Call]:
    """The aggregation calls of ``expr`` (``mean(x)``...), each once, in first-use order."""
    found: dict[str, Call] = {}

    def visit(node: Expr) -> None:
        if isinstance(node, Call) and node.fn in _AGG_FUNCS:
            found.setdefault(node.render(), node)
        elif isinstance(node, Call):
            for arg in node.args:
                visit(arg)
        elif isinstance(node, Binary):
            visit(node.left)
            visit(node.right)

    visit(expr)
    return list(found.values())


Evaluator = Callable[[Mapping[str, Any]], Any]


def evaluate(expr: Expr, values: Mapping[str, Any], *, row: bool = False) -> Any:
    """``expr`` evaluated in Python (see :func:`evaluator`)."""
    return evaluator(expr, row=row)(values)


def evaluator(expr: Expr, *, row: bool = False) -> Evaluator:
    """``expr`` as a Python function, built once, with the rules' semantics: null is unknown
    (three-valued logic), a comparison with NaN is false, division by zero is null. ``None``
    is null.

    Aggregation calls are looked up in the values by their text (a dataset-level rule); with
    ``row``, the values are one record and columns are read from it (a row-level rule, run
    per record while serving).
    """
    if isinstance(expr, Literal):
        value = expr.value
        return lambda values: value
    if isinstance(expr, Binary):
        return _binary(expr.op, evaluator(expr.left, row=row), evaluator(expr.right, row=row))
    if isinstance(expr, Call):
        return _call(expr, row)
    if row and isinstance(expr, Column):
        name = expr.name
        return lambda values: values.get(name)
    raise ContractDefinitionError(
        f"the column {expr} is read outside an aggregation in a dataset-level rule.",
        hint="Wrap it in an aggregation: x.mean(), x.max(), ...",
    )


def _call(expr: Call, row: bool) -> Evaluator:
    if expr.fn in _AGG_FUNCS:
        key = expr.render()
        return lambda values: values[key]
    arg = evaluator(expr.args[0], row=row)
    if expr.fn in ("is_null", "is_not_null"):
        null = expr.fn == "is_null"
        return lambda values: (arg(values) is None) == null
    if expr.fn == "is_in":
        listed = typing.cast(Literal, expr.args[1]).value

        def is_in(values: Mapping[str, Any]) -> Any:
            x = arg(values)
            return None if x is None else any(x == v for v in listed)

        return is_in
    fn = _PYTHON_FUNCS[expr.fn]

    def call(values: Mapping[str, Any]) -> Any:
        x = arg(values)
        return None if x is None else fn(x)

    return call


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


_PYTHON_FUNCS: dict[str, Callable[[Any], Any]] = {
    "not": operator.not_,
    "abs": abs,
    "is_nan": _is_nan,
    "is_finite": lambda v: not isinstance(v, float) or math.isfinite(v),
    "len_chars": len,
}


def _binary(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op in _LOGIC:  # Kleene: a known false decides &, a known true decides |
        decisive = op == "|"

        def logic(values: Mapping[str, Any]) -> Any:
            a, b = left(values), right(values)
            if a is decisive or b is decisive:
                return decisive
            return None if a is None or b is None else not decisive

        return logic
    if op in _COMPARE:
        test = _COMPARE[op]

        def compare(values: Mapping[str, Any]) -> Any:
            a, b = left(values), right(values)
            if a is None or b is None:
                return None
            if type(a) is not type(b):
                a, b = _alike(a, b)
            return False if _is_nan(a) or _is_nan(b) else bool(test(a, b))

        return compare
    apply = _ARITH[op]
    divide, modulo = op == "/", op == "%"

    def arithmetic(values: Mapping[str, Any]) -> Any:
        a, b = left(values), right(values)
        if a is None or b is None or (divide and b == 0):
            return None
        if modulo and b == 0:  # a value no comparison holds for, as x % 0 on a frame
            return math.nan
        if type(a) is not type(b):
            a, b = _alike(a, b)
        return apply(a, b)

    return arithmetic


def _alike(a: Any, b: Any) -> tuple[Any, Any]:
    """A decimal met with a float is a float, as the engines compute it (``d * 0.5``)."""
    if isinstance(a, decimal.Decimal) and isinstance(b, float):
        return float(a), b
    if isinstance(b, decimal.Decimal) and isinstance(a, float):
        return a, float(b)
    return a, b


def col(name: str) -> Column[Any]:
    """An untyped column reference by name (prefer ``Schema.column`` for typed references)."""
    return Column(name)


def lit(value: Scalar) -> Expr:
    """A literal value in an expression."""
    return Literal(value)


def _lift(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
    if value is None or isinstance(
        value, int | float | str | bool | dt.date | dt.datetime | decimal.Decimal
    ):
        return Literal(value)
    raise ContractDefinitionError(
        f"cannot use {value!r} ({type(value).__name__}) in a contract expression.",
        hint="Use columns (Schema.column), numbers, strings, booleans, dates or None.",
    )


# -- parsing the text form ----------------------------------------------------------------
_AST_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_AST_BINARY.update({ast.BitAnd: "&", ast.BitOr: "|"})
_AST_COMPARE = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


def parse_expr(text: str, *, columns: Sequence[str] | None = None) -> Expr:
    """Parse the text form of an expression (``abs(total - price * qty) <= 0.01``).

    Only column names, literals, arithmetic, comparisons, ``&``/``|``/``and``/``or``/``not``
    and the functions of :class:`Expr` are allowed; nothing is evaluated.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ContractDefinitionError(
            f"the expression {text!r} is not valid: {exc.msg} at character {exc.offset}.",
            hint="Write it like Python: abs(total - price * qty) <= 0.01",
        ) from exc
    return _Parser(text, columns).visit(tree.body)


class _Parser:
    def __init__(self, text: str, columns: Sequence[str] | None) -> None:
        self.text = text
        self.columns = columns

    def fail(self, what: str, hint: str) -> ContractDefinitionError:
        return ContractDefinitionError(f"in the expression {self.text!r}: {what}.", hint=hint)

    def visit(self, node: ast.expr) -> Expr:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.fail(
                f"{type(node).__name__} syntax is not allowed",
                "Use columns, literals, arithmetic, comparisons and functions such as abs().",
            )
        result: Expr = method(node)
        return result

    def column(self, name: str) -> Expr:
        if self.columns is not None and name not in self.columns:
            raise self.fail(f"no column named {name!r}", did_you_mean(name, self.columns))
        return Column(name)

    def visit_Name(self, node: ast.Name) -> Expr:
        if node.id in {"True", "False", "None"}:
            return Literal({"True": True, "False": False, "None": None}[node.id])
        return self.column(node.id)

    def visit_Constant(self, node: ast.Constant) -> Expr:
        return Literal(node.value)

    def visit_List(self, node: ast.List) -> Expr:
        values = []
        for item in node.elts:
            if not isinstance(item, ast.Constant):
                raise self.fail("lists may hold only literal values", "Write [1, 2, 3].")
            values.append(item.value)
        return Literal(tuple(values))

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Expr:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            if isinstance(operand, Literal) and isinstance(operand.value, int | float):
                return Literal(-operand.value)
            return -operand
        if isinstance(node.op, ast.Not | ast.Invert):
            return ~operand
        raise self.fail("unary + is not allowed", "Drop the +.")

    def visit_BinOp(self, node: ast.BinOp) -> Expr:
        op = _AST_BINARY.get(type(node.op))
        if op is None:
            raise self.fail(
                f"the operator {type(node.op).__name__} is not allowed", "Use + - * / %."
            )
        return Binary(op, self.visit(node.left), self.visit(node.right))

    def visit_BoolOp(self, node: ast.BoolOp) -> Expr:
        op = "&" if isinstance(node.op, ast.And) else "|"
        values = [self.visit(v) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = Binary(op, result, value)
        return result

    def visit_Compare(self, node: ast.Compare) -> Expr:
        left = self.visit(node.left)
        parts: list[Expr] = []
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _AST_COMPARE.get(type(op_node))
            right = self.visit(right_node)
            if op is None:
                if isinstance(op_node, ast.In | ast.NotIn) and isinstance(right, Literal):
                    test = Call("is_in", (left, right))
                    parts.append(~test if isinstance(op_node, ast.NotIn) else test)
                    left = right
                    continue
                raise self.fail(
                    "this comparison is not allowed", "Use < <= > >= == != or in [...]."
                )
            parts.append(Binary(op, left, right))
            left = right
        result = parts[0]
        for part in parts[1:]:
            result = Binary("&", result, part)
        return result

    def typed_literal(self, name: str, args: list[ast.expr]) -> Expr:
        text = args[0].value if len(args) == 1 and isinstance(args[0], ast.Constant) else None
        try:
            if not isinstance(text, str):
                raise ValueError(text)
            if name == "decimal":
                return Literal(decimal.Decimal(text))
            kind = dt.datetime if name == "datetime" else dt.date
            return Literal(kind.fromisoformat(text))
        except (ValueError, decimal.InvalidOperation):
            raise self.fail(
                f"{name}() takes one ISO text argument", f"Write {name}('2024-01-31')."
            ) from None

    def visit_Call(self, node: ast.Call) -> Expr:
        if node.keywords:
            raise self.fail("keyword arguments are not allowed", "Pass arguments by position.")
        if isinstance(node.func, ast.Attribute):  # x.mean() is the same as mean(x)
            name, args = node.func.attr, [node.func.value, *node.args]
        elif isinstance(node.func, ast.Name):
            name, args = node.func.id, list(node.args)
        else:
            raise self.fail("only named functions can be called", "Write abs(x) or x.mean().")
        if name == "col" and len(args) == 1 and isinstance(args[0], ast.Constant):
            return self.column(str(args[0].value))
        if name in _TYPED_LITERALS:
            return self.typed_literal(name, args)
        known = {*_ROW_FUNCS, *_AGG_FUNCS, "not"}
        if name not in known:
            raise self.fail(f"unknown function {name!r}", did_you_mean(name, known))
        arity = 2 if name == "is_in" else 1
        if len(args) != arity:
            raise self.fail(f"{name}() takes {arity} argument(s), got {len(args)}", "")
        return Call(name, tuple(self.visit(a) for a in args))

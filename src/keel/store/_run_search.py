"""Searching runs in SQL: a filter expression, an order and a page, never every run in Python.

The filter grammar (``keel ui``'s runs page and :meth:`MetadataStore.search_runs`) is clauses
joined by ``and``::

    metrics.auc > 0.8 and params.model = "rf" and tags.team = risk and status = finished

- ``metrics.KEY`` compares the latest value of a metric with ``= != < <= > >=``;
- ``params.KEY`` and ``tags.KEY`` compare with ``=`` or ``!=``, or ``~`` (contains);
- ``status``, ``name``, ``experiment`` (``=``, ``!=``, ``~``) and ``started`` (a date or
  ISO time with ``<``, ``<=``, ``>``, ``>=``) are attributes of the run.

Values are numbers, bare words, or quoted with ``"`` or ``'``. An order is ``started``,
``name``, ``status``, ``metrics.KEY`` or ``params.KEY``; runs that lack the key come last.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel.errors import UsageError
from keel.store._metadata_schema import FloatValue, experiments, metrics, params, run_tags, runs

if TYPE_CHECKING:
    from keel.store._metadata import Run

__all__ = ["FILTER_HELP", "RunPage", "run_filter", "run_order"]

FILTER_HELP = (
    "Write clauses joined by 'and', e.g. metrics.auc > 0.8 and params.model = rf and "
    "status = finished; fields: metrics.KEY, params.KEY, tags.KEY, status, name, experiment, "
    "started."
)
_CLAUSE = re.compile(
    r"""\s*(?P<field>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|!=|=|<|>|~)\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s"']+)\s*""",
    re.VERBOSE | re.IGNORECASE,
)
_AND = re.compile(r"and\s+", re.IGNORECASE)
_KINDS = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params"}
_KINDS |= {"tags": "tags", "tag": "tags"}
_TEXT_OPS = ("=", "!=", "~")
_ORDERED_OPS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class RunPage:
    """One page of a run search: the runs, and how many runs match in all."""

    runs: list[Run]
    total: int
    offset: int
    limit: int


def run_filter(text: str) -> sa.ColumnElement[bool]:
    """The SQL condition of a filter expression (see the module's grammar)."""
    conditions: list[sa.ColumnElement[bool]] = []
    position, text = 0, text.strip()
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None:
            raise UsageError(
                f"cannot read the run filter {text!r} at {text[position:]!r}.", hint=FILTER_HELP
            )
        value = match["value"]
        quoted = value[:1] in {'"', "'"}
        conditions.append(_clause(match["field"], match["op"], value[1:-1] if quoted else value))
        position = match.end()
        joined = _AND.match(text, position)
        if joined is not None:
            position = joined.end()
        elif position < len(text):
            raise UsageError(
                f"expected 'and' in the run filter {text!r} at {text[position:]!r}.",
                hint=FILTER_HELP,
            )
    return sa.and_(sa.true(), *conditions)


def run_order(key: str, *, descending: bool, dialect: str) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of a run search by ``key``; runs without the key last, ties by id."""
    kind, _, name = key.partition(".")
    expression: sa.ColumnElement[Any]
    extra: list[sa.ColumnElement[Any]] = []
    if key in {"started", "name", "status"}:
        expression = {"started": runs.c.started_at, "name": runs.c.name}.get(key, runs.c.status)
    elif _KINDS.get(kind) == "metrics" and name:
        expression = _latest(name)
    elif _KINDS.get(kind) == "params" and name:
        text = _param(name)
        expression = _numeric(text, dialect)
        extra = [_directed(text, descending)]
    else:
        raise UsageError(
            f"cannot order runs by {key!r}.",
            hint="Order by started, name, status, metrics.KEY or params.KEY.",
        )
    return [_directed(expression, descending), *extra, runs.c.id]


def _directed(expression: sa.ColumnElement[Any], descending: bool) -> sa.ColumnElement[Any]:
    return (expression.desc() if descending else expression.asc()).nulls_last()


def _latest(key: str) -> sa.ScalarSelect[Any]:
    """A run's latest value of one metric (the value ``Run.metrics`` shows); NaN as NULL,
    so that it matches no comparison and sorts last on both backends (SQLite stores NaN as
    NULL already; PostgreSQL would sort it above every number)."""
    nan = sa.literal(math.nan, type_=FloatValue())  # binds NULL on SQLite: NULLIF keeps value
    return (
        sa.select(sa.func.nullif(metrics.c.value, nan))
        .where(metrics.c.run_id == runs.c.id, metrics.c.key == key)
        .order_by(metrics.c.step.desc(), metrics.c.timestamp.desc(), metrics.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _param(key: str) -> sa.ScalarSelect[Any]:
    """A run's param value as its JSON text."""
    return (
        sa.select(params.c.value)
        .where(params.c.run_id == runs.c.id, params.c.key == key)
        .scalar_subquery()
    )


def _numeric(text: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """A JSON number as a float, other values as NULL (so numbers sort as numbers)."""
    number = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
    if dialect == "postgresql":
        matches: sa.ColumnElement[bool] = text.op("~")(number)
    else:  # SQLite has no regex: a JSON value that is not text, a literal or a structure
        matches = sa.and_(
            text.not_like('"%'),
            text.not_like("[%"),
            text.not_like("{%"),
            text.not_in(["true", "false", "null"]),
        )
    return sa.case((matches, sa.cast(text, sa.Double())), else_=None)


def _clause(field: str, op: str, value: str) -> sa.ColumnElement[bool]:
    kind, _, key = field.partition(".")
    kind = _KINDS.get(kind.lower(), kind.lower())
    if kind == "metrics" and key:
        return _compare(_latest(key), op, _number(value, field), field)
    if kind in {"params", "tags"} and key:
        table = params if kind == "params" else run_tags
        column = (
            sa.select(table.c.value)
            .where(table.c.run_id == runs.c.id, table.c.key == key)
            .scalar_subquery()
        )
        candidates = [value] if kind == "tags" else _json_forms(value)
        return _text(column, op, candidates, field)
    if kind == "started" and not key:
        return _compare(runs.c.started_at, op, _time(value), field)
    columns = {"status": runs.c.status, "name": runs.c.name, "experiment": _experiment()}
    if kind in columns and not key:
        return _text(columns[kind], op, [value], field)
    raise UsageError(f"the run filter has no field {field!r}.", hint=FILTER_HELP)


def _experiment() -> sa.ScalarSelect[Any]:
    return (
        sa.select(experiments.c.name)
        .where(experiments.c.id == runs.c.experiment_id)
        .scalar_subquery()
    )


def _compare(
    column: sa.ColumnElement[Any], op: str, value: Any, field: str
) -> sa.ColumnElement[bool]:
    if op == "~":
        raise UsageError(f"{field} compares with = != < <= > >=, not ~.", hint=FILTER_HELP)
    compare: dict[str, Any] = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    result: sa.ColumnElement[bool] = compare[op](value)
    return result


def _text(
    column: sa.ColumnElement[Any], op: str, candidates: list[str], field: str
) -> sa.ColumnElement[bool]:
    if op not in _TEXT_OPS:
        raise UsageError(
            f"{field} compares with =, != or ~ (contains), not {op}.",
            hint="Order the runs by it instead, or filter on a metric.",
        )
    if op == "~":
        return column.contains(candidates[-1], autoescape=True)
    matched = column.in_(candidates)
    return matched if op == "=" else sa.or_(column.is_(None), sa.not_(matched))


def _json_forms(value: str) -> list[str]:
    """The JSON texts a param written as ``value`` may have been logged as."""
    forms = [json.dumps(value)]
    with contextlib.suppress(ValueError):
        forms.insert(0, json.dumps(json.loads(value)))
    return forms


def _number(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UsageError(
            f"{field} is a metric: compare it with a number, not {value!r}.", hint=FILTER_HELP
        ) from None


def _time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"started compares with a date or ISO time, not {value!r}.",
            hint="e.g. started >= 2026-11-01 or started < 2026-11-01T12:00",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)

"""Searching runs in SQL: a filter expression, an order and a page, never every run in Python.

The filter grammar (``keel ui``'s runs page and :meth:`MetadataStore.search_runs`) is clauses
joined by ``and``::

    metrics.auc > 0.8 and params.model = "rf" and tags.team = risk and status = finished

- ``metrics.KEY`` compares the latest value of a metric with ``= != < <= > >=``;
- ``params.KEY`` and ``tags.KEY`` compare with ``=`` or ``!=``, or ``~`` (contains);
- ``status``, ``name``, ``experiment`` (``=``, ``!=``, ``~``) and ``started`` (a date or
  ISO time with ``<``, ``<=``, ``>``, ``>=``) are attributes of the run.

Values are numbers, bare words, or quoted with ``"`` or ``'``. An order is ``started``,
``name``, ``status``, ``metrics.KEY`` or ``params.KEY``; runs that lack the key come last,
and runs with equal values come newest first.

A metric's value is its latest (``Run.metrics``), read from ``latest_metrics`` (revision 0008),
which :meth:`MetadataStore.log_metrics` keeps current: ordering 10,000 runs by a metric walks
its ``(key, value)`` index for one page instead of sorting every run's value.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel.errors import UsageError
from keel.store._metadata_schema import experiments, latest_metrics, params, run_tags, runs

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from keel.store._metadata import Run

__all__ = ["FILTER_HELP", "RunPage", "page_of_runs", "run_filter", "run_order"]

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
    return sa.and_(sa.true(), *(_clause(*clause) for clause in _clauses(text)))


def _clauses(text: str) -> list[tuple[str, str, str]]:
    """The ``(field, operator, value)`` clauses of a filter expression, quotes removed."""
    clauses: list[tuple[str, str, str]] = []
    position, text = 0, text.strip()
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None:
            raise UsageError(
                f"cannot read the run filter {text!r} at {text[position:]!r}.", hint=FILTER_HELP
            )
        value = match["value"]
        quoted = value[:1] in {'"', "'"}
        clauses.append((match["field"], match["op"], value[1:-1] if quoted else value))
        position = match.end()
        joined = _AND.match(text, position)
        if joined is not None:
            position = joined.end()
        elif position < len(text):
            raise UsageError(
                f"expected 'and' in the run filter {text!r} at {text[position:]!r}.",
                hint=FILTER_HELP,
            )
    return clauses


def page_of_runs(
    conn: Connection, where: str, *, order_by: str, descending: bool, offset: int, limit: int
) -> tuple[list[str], int]:
    """The ids of one page of the runs matching ``where`` in the order ``order_by``, and how
    many runs match in all. Runs that lack the key come last; ties go newest first."""
    clauses = _clauses(where)
    condition = sa.and_(sa.true(), *(_clause(*clause) for clause in clauses))
    offset, limit = max(offset, 0), max(limit, 0)
    kind, _, name = order_by.partition(".")
    if _KINDS.get(kind) == "metrics" and name:
        # the filter's clauses on the ordered metric bound the walk of its index instead
        bounds = [(op, _number(v, field)) for field, op, v in clauses if _metric(field) == name]
        others = [_clause(*clause) for clause in clauses if _metric(clause[0]) != name]
        ids = _by_metric(
            conn,
            condition,
            name,
            (bounds, sa.and_(sa.true(), *others)),
            descending=descending,
            offset=offset,
            limit=limit,
        )
    else:
        order = run_order(order_by, descending=descending, dialect=conn.dialect.name)
        page = sa.select(runs.c.id).where(condition).order_by(*order)
        ids = list(conn.execute(page.offset(offset).limit(limit)).scalars())
    count = sa.select(sa.func.count()).select_from(runs).where(condition)
    return ids, int(conn.execute(count).scalar_one())


def run_order(key: str, *, descending: bool, dialect: str) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of a run search by ``key``; runs without the key last, ties newest first.

    (:func:`page_of_runs` orders by a metric without it, through the latest values' index.)
    """
    kind, _, name = key.partition(".")
    if key == "started":
        return [_directed(runs.c.started_at, descending), runs.c.id]
    if key in {"name", "status"}:
        return [_directed(runs.c[key], descending), *_TIES]
    if _KINDS.get(kind) == "metrics" and name:
        return [_directed(_latest(name), descending), *_TIES]
    if _KINDS.get(kind) == "params" and name:
        text = _param(name)
        return [_directed(_numeric(text, dialect), descending), _directed(text, descending), *_TIES]
    raise UsageError(
        f"cannot order runs by {key!r}.",
        hint="Order by started, name, status, metrics.KEY or params.KEY.",
    )


# equal values: the newest run first (as in the default order), then by id (never random)
_TIES = (runs.c.started_at.desc(), runs.c.id)


def _by_metric(
    conn: Connection,
    condition: sa.ColumnElement[bool],
    key: str,
    walk: tuple[list[tuple[str, float]], sa.ColumnElement[bool]],
    *,
    descending: bool,
    offset: int,
    limit: int,
) -> list[str]:
    """A page ordered by a metric: the runs with a value walk ``ix_latest_metrics_key_value``
    in order and stop after the page (a few ms over 10,000 runs, where finding every run's
    value and sorting them took 40-130 ms); the runs without one follow, newest first."""
    bounds, others = walk  # ``condition`` split: bounds on this metric, the other clauses
    latest = latest_metrics.c
    has_value = sa.and_(latest.key == key, latest.value.is_not(None))
    bounded = [_compare(latest.value, op, number, key) for op, number in bounds]
    valued = (
        sa.select(latest.run_id)
        .join(runs, runs.c.id == latest.run_id)
        .where(has_value, *bounded, others)
    )
    value = latest.value.desc() if descending else latest.value.asc()
    page = valued.order_by(value, *_TIES).offset(offset).limit(limit)
    ids = list(conn.execute(page).scalars())
    if len(ids) == limit:
        return ids
    if ids or not offset:
        before = offset + len(ids)  # the page holds the last runs with a value
    else:
        counted = sa.select(sa.func.count()).select_from(valued.subquery())
        before = int(conn.execute(counted).scalar_one())
    lacking = sa.select(runs.c.id).where(
        condition, ~sa.exists().where(latest.run_id == runs.c.id, has_value)
    )
    rest = lacking.order_by(*_TIES).offset(max(offset - before, 0)).limit(limit - len(ids))
    return ids + list(conn.execute(rest).scalars())


def _directed(expression: sa.ColumnElement[Any], descending: bool) -> sa.ColumnElement[Any]:
    return (expression.desc() if descending else expression.asc()).nulls_last()


def _latest(key: str) -> sa.ScalarSelect[Any]:
    """A run's latest value of one metric (the value ``Run.metrics`` shows), NULL for NaN
    (``latest_metrics`` stores NaN as NULL), so that it matches no comparison and sorts last.
    An alias of its own: the subquery may sit in a query that joins ``latest_metrics``."""
    latest = latest_metrics.alias()
    return (
        sa.select(latest.c.value)
        .where(latest.c.run_id == runs.c.id, latest.c.key == key)
        .correlate(runs)
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
    if kind == "metrics" and key:  # a range of the latest values' (key, value) index
        latest = latest_metrics.alias()
        matching = sa.select(latest.c.run_id).where(
            latest.c.key == key, _compare(latest.c.value, op, _number(value, field), field)
        )
        return runs.c.id.in_(matching)
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


def _metric(field: str) -> str | None:
    """The metric a filter field names (``metrics.auc``: ``auc``), else None."""
    kind, _, key = field.partition(".")
    return key if key and _KINDS.get(kind.lower()) == "metrics" else None


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

"""Every check kind on every engine against the oracle (docs/contracts.md, "Semantics").

Hypothesis draws small frames full of edge values (nulls, NaN, ±inf, -0.0, empty and
combining-character strings, integer limits of every width, Float32, categoricals and enums,
naive and aware datetimes, decimals, empty, single-row and all-null columns) and one check;
each engine, and the serving record checker for per-record kinds, must give the oracle's
status and failure count. ``KEEL_CONFORMANCE=full`` runs many more examples (``make bench``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import warnings
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import ColumnSpec, Contract, DType, check_data, dump_yaml, lit, record_checker
from keel.contracts._dataset import Fresh
from tests.conftest import CONSTRUCTORS
from tests.contracts.conformance import oracle

FULL = os.environ.get("KEEL_CONFORMANCE", "") == "full"
ENGINES = {**CONSTRUCTORS, "pandas-numpy": lambda df: df.to_pandas()}
EXAMPLES = {"dask": 2, "pandas-numpy": 4}  # per check kind; Dask costs ~0.3 s a check

FLOATS = [None, math.nan, math.inf, -math.inf, -0.0, 0.0, 1.5, -2.0, 0.1, 1e308, 3.4e38]
TEXTS = [None, "", "a", "abc", "ABC", "é", "e\u0301", "日本", "a_1", "١٢٣", " x", "abc\n"]
PATTERNS = [r"^\w+$", r"^\d+$", r"\s", "^a", "é", "^$", "(?i)^abc$", r"\bx", r"c$"]
INTS = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
    pl.UInt8: (0, 2**8 - 1),
    pl.UInt32: (0, 2**32 - 1),
    pl.UInt64: (0, 2**64 - 1),
}
NAIVE = [dt.datetime(2020, 1, 1), dt.datetime(2024, 2, 29, 12), dt.datetime(1999, 12, 31)]
DAYS = [dt.date(2020, 1, 1), dt.date(2024, 2, 29), dt.date(1999, 12, 31)]
DECIMALS = [decimal.Decimal("1.50"), decimal.Decimal("-2.25"), decimal.Decimal("0.00")]
SMALL = [None, math.nan, 0.0, 1.0, 2.0, -1.0, 0.5]  # exact in binary: sums and means agree
NOW = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


@st.composite
def frames(draw: st.DrawFn, numpy: bool) -> tuple[pl.DataFrame, dict[str, DType]]:
    """A small frame: f, g, c (floats), i (an int width), e (Int32), s (text), t and u
    (datetimes, naive or aware), day (dates), d (decimals)."""
    n = draw(st.integers(0, 7))
    low, high = INTS[int_type := draw(st.sampled_from(list(INTS)))]
    zone = draw(st.sampled_from([None, "UTC"]))
    ints = [low, high, 0, 1, min(high, 2**53 + 1)]
    times = [None, *(t.replace(tzinfo=dt.UTC) if zone else t for t in NAIVE)]
    pools: dict[str, list[Any]] = {
        "f": FLOATS,
        "g": FLOATS,
        "c": SMALL,
        "i": ints if numpy else [None, *ints],
        "e": [0, 1, 2, 5, -3] if numpy else [None, 0, 1, 2, 5, -3],
        "s": TEXTS[1:] if numpy else TEXTS,
        "t": times,
        "u": times,
        "day": [None, *DAYS],
        "d": [None, *DECIMALS],
    }
    text = draw(st.sampled_from(["str", "cat", "enum"]))
    text_type = {"str": pl.String, "cat": pl.Categorical, "enum": pl.Enum(sorted(TEXTS[1:]))}
    schema = {
        "f": draw(st.sampled_from([pl.Float64, pl.Float32])),
        "g": pl.Float64,
        "c": pl.Float64,
        "i": int_type,
        "e": pl.Int32,
        "s": text_type[text],
        "t": pl.Datetime("us", zone),
        "u": pl.Datetime("us", zone),
        "day": pl.Date,
        "d": pl.Decimal(12, 2),
    }
    if numpy:  # NumPy-backed pandas keeps no decimals or dates, its integers hold no nulls
        for column in NUMPY_LESS:
            del pools[column], schema[column]
    data = {
        c: draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        for c, pool in pools.items()
    }
    return pl.DataFrame(data, schema=schema), {c: TYPES[c] for c in schema}


NUMPY_LESS = ("d", "day")
TYPES = {"f": DType.FLOAT, "g": DType.FLOAT, "c": DType.FLOAT, "i": DType.INT, "e": DType.INT}
TYPES |= {"s": DType.STR, "t": DType.DATETIME, "u": DType.DATETIME, "day": DType.DATE}
TYPES |= {"d": DType.DECIMAL}


def _values(column: str) -> st.SearchStrategy[Any]:
    return {
        "f": st.sampled_from([v for v in FLOATS if v is not None] + [1, -1]),
        "g": st.sampled_from([0.0, 1.5]),
        "i": st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 127, 2**31]),
        "s": st.sampled_from(TEXTS[1:]),
        "d": st.sampled_from([*DECIMALS, 0, 2]),
        "day": st.sampled_from(DAYS),
    }[column]


def _time(zone: str | None, value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if zone else value


@st.composite
def contracts(
    draw: st.DrawFn, types: dict[str, DType], zone: str | None, kinds: list[str] | None = None
) -> Contract:
    """All columns nullable and of their type, plus one check (a constraint or a rule)."""
    columns = {c: {"name": c, "dtype": d, "nullable": True} for c, d in types.items()}
    rules: tuple[Any, ...] = ()
    strict = False
    mostly = draw(st.none() | st.sampled_from([0.5, 0.9]))
    kind = draw(st.sampled_from(kinds or KINDS))
    if kind == "not_null":
        columns[draw(st.sampled_from(list(types)))]["nullable"] = False
    elif kind == "range":
        column = draw(st.sampled_from([c for c in ("f", "i", "d", "t", "day") if c in types]))
        keys = draw(st.lists(st.sampled_from(["ge", "gt", "le", "lt"]), min_size=1, unique=True))
        for key in keys:
            columns[column][key] = draw(_bounds(column, zone))
        columns[column]["mostly"] = mostly
    elif kind in ("isin", "notin"):
        column = draw(st.sampled_from([c for c in ("f", "i", "s", "d", "t", "day") if c in types]))
        columns[column][kind] = tuple(draw(st.lists(_bounds(column, zone, nan=True), max_size=3)))
    elif kind == "pattern":
        columns["s"]["pattern"] = draw(st.sampled_from(PATTERNS))
    elif kind == "length":
        columns["s"]["min_length"] = draw(st.none() | st.integers(0, 2))
        columns["s"]["max_length"] = draw(st.integers(2, 3))
    elif kind == "finite":
        columns["f"]["finite"] = True
    elif kind in ("columns", "dtype"):
        strict = _declare_wrongly(draw, kind, columns)
    elif kind == "unique":
        column = draw(st.sampled_from(list(types)))
        columns[column]["unique"] = True
        columns[column]["mostly"] = mostly
    else:
        rule = RULES[kind] if kind in RULES else _zoned_rules(kind, zone, set(types))
        rules = (draw(rule),)
        assume(set(rules[0].columns) <= set(types))  # NumPy frames lack some columns
    specs = tuple(ColumnSpec(**spec) for spec in columns.values())
    return Contract(name="Drawn", columns=specs, rules=rules, strict=strict)


def _declare_wrongly(draw: st.DrawFn, kind: str, columns: dict[str, dict[str, Any]]) -> bool:
    """A declaration the data breaks: one column missing, one undeclared (then returns
    True: strict), or one of the wrong type."""
    if kind == "dtype":
        column, dtype = draw(st.sampled_from([w for w in WRONG if w[0] in columns]))
        columns[column]["dtype"] = dtype
        return False
    column = draw(st.sampled_from(list(columns)))
    if draw(st.booleans()):
        columns[column]["name"] = "missing_" + column
        return False
    del columns[column]
    return True


def _bounds(column: str, zone: str | None, *, nan: bool = False) -> st.SearchStrategy[Any]:
    """Values of ``column``'s type; NaN only where allowed (a NaN bound is refused)."""
    if column == "t":
        return st.sampled_from(NAIVE).map(lambda t: _time(zone, t))
    return _values(column).filter(lambda v: nan or not oracle.is_nan(v))


def _zoned_rules(kind: str, zone: str | None, columns: set[str]) -> st.SearchStrategy[Any]:
    """Rules whose columns or literals depend on the frame (time zone, NumPy columns)."""
    usable = [r for r in _EXPRESSIONS[kind](zone) if set(r.columns()) <= columns]
    make = keel.expression if kind == "expression" else keel.aggregate
    return st.sampled_from(usable).map(make)


def _row_rules(zone: str | None) -> list[Any]:
    c, e, f, g, s = (keel.col(n) for n in "cefgs")
    t, d, day, i = keel.col("t"), keel.col("d"), keel.col("day"), keel.col("i")
    return [
        c <= g,
        (c > 0) | (e < 2),
        (c > 0) & (e < 2),
        c.is_null() | (c >= 0.5),
        ~(c == e),
        abs(c - g) <= 1.0,
        c / e >= 0.5,  # division by zero is null: skipped
        c * 2 + e <= 3,
        f <= 0.1,  # Float32 widened: 0.1f fails
        s.is_in(["a", "abc", "é"]),
        s.len_chars() <= 2,
        (s == "a") | c.is_nan(),
        t >= lit(_time(zone, NAIVE[0])),
        d > lit(decimal.Decimal("0.00")),
        day < lit(dt.date(2022, 1, 1)),
        i >= 0,
        e.is_in([1, 2]) | c.is_not_null(),
    ]


def _dataset_rules(zone: str | None) -> list[Any]:
    c, e, f, s = (keel.col(n) for n in "cefs")
    t, d, day = keel.col("t"), keel.col("d"), keel.col("day")
    return [
        c.mean() > 0.5,
        c.sum() <= 2.0,
        c.max() >= 1.0,
        c.min() < 0,
        e.std() < 1.37,
        c.var() <= 1.0,
        e.count() >= 2,
        s.n_unique() <= 3,
        f.null_count() == 0,
        c.mean() > e.mean(),
        t.max() <= lit(_time(zone, NAIVE[0])),
        d.min() >= lit(decimal.Decimal("0.00")),
        day.max() > lit(dt.date(2000, 1, 1)),
    ]


_EXPRESSIONS = {"expression": _row_rules, "aggregate": _dataset_rules}


def _fresh(column: str, days: int) -> Any:
    return Fresh(column=column, max_age=dt.timedelta(days=days), now=NOW)


RULES: dict[str, st.SearchStrategy[Any]] = {
    "unique_key": st.sampled_from(
        [("f", "i"), ("s", "i"), ("f", "s"), ("t", "s"), ("e", "c"), ("t", "u")]
    ).map(lambda keys: keel.unique(*keys)),
    "ordered": st.sampled_from([("f", "g"), ("t", "u"), ("c", "g", "f")]).flatmap(
        lambda chain: st.booleans().map(lambda strict: keel.ordered(*chain, strict=strict))
    ),
    "close": st.tuples(st.sampled_from([0.0, 0.01, 1.0]), st.sampled_from([0.0, 0.5])).map(
        lambda tol: keel.close("f", "g", abs_tol=tol[0], rel_tol=tol[1])
    ),
    "functional_dependency": st.sampled_from(
        [("i", "s"), ("s", "f"), ("f", "i"), ("t", "e"), (("s", "e"), "c")]
    ).map(lambda kv: keel.functional_dependency(kv[0], kv[1])),
    "correlated": st.sampled_from([("c", "e"), ("e", "c")]).flatmap(
        lambda xy: st.sampled_from([{"min": 0.123}, {"min": -0.471}, {"max": 0.617}]).map(
            lambda bound: keel.correlated(*xy, **bound)
        )
    ),
    "fresh": st.sampled_from(["t", "u", "day"]).flatmap(
        lambda column: st.sampled_from([1, 30, 10_000]).map(lambda days: _fresh(column, days))
    ),
    "rows": st.sampled_from([keel.rows(min=1), keel.rows(max=3), keel.rows(min=2, max=5)]),
    "null_fraction": st.sampled_from(["f", "s", "i"]).flatmap(
        lambda c: st.sampled_from([0.0, 0.25, 0.5]).map(lambda m: keel.null_fraction(c, max=m))
    ),
}
KINDS = ["not_null", "range", "isin", "notin", "pattern", "length", "finite", "unique"]
KINDS += [*RULES, "expression", "aggregate", "columns", "dtype"]
WRONG = [("s", DType.INT), ("f", DType.STR), ("t", DType.DATE), ("day", DType.DATETIME)]
WRONG += [("i", DType.FLOAT), ("d", DType.FLOAT), ("e", DType.BOOL), ("c", DType.DECIMAL)]
PER_RECORD = ["not_null", "range", "isin", "notin", "pattern", "length", "finite"]


def _oracle_data(df: pl.DataFrame, engine: str) -> oracle.Data:
    data = df.to_dict(as_series=False)
    if engine == "pandas-numpy":  # NumPy floats cannot tell NaN from null (documented)
        data = {c: [None if oracle.is_nan(v) else v for v in vs] for c, vs in data.items()}
    return data


def _engine_verdicts(contract: Contract, native: Any) -> dict[str, oracle.Verdict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        report = check_data(contract, native)
    return {c.name: (c.status, c.failures) for c in report.checks}


def _run(engine: str, kind: str, draw: st.DrawFn) -> None:
    df, types = draw(frames(numpy=engine == "pandas-numpy"))
    zone = df.schema["t"].time_zone  # type: ignore[attr-defined]
    contract = draw(contracts(types, zone, kinds=[kind]))
    expected = oracle.verdicts(contract, _oracle_data(df, engine), types)
    got = _engine_verdicts(contract, ENGINES[engine](df))
    assert got == expected, (
        engine,
        got,
        expected,
        df.to_dict(as_series=False),
        dump_yaml(contract),
    )


def _profile(engine: str) -> Any:
    examples = EXAMPLES.get(engine, 6) * (20 if FULL else 1)
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not FULL,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("kind", KINDS)
def test_every_engine_gives_the_oracles_verdict(engine: str, kind: str) -> None:
    @_profile(engine)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        _run(engine, kind, data.draw)

    check()


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A row as a JSON request carries it: dates and datetimes as ISO 8601 text (with the
    offset when aware), decimals as exact text."""
    return {name: _json(value) for name, value in row.items()}


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if isinstance(value, decimal.Decimal) else value


def _record_verdicts(contract: Contract, df: pl.DataFrame) -> dict[str, oracle.Verdict]:
    """The serving checker's verdicts: a check fails on the records it reports for its column."""
    checker = record_checker(contract, mode="reject")
    failures: dict[str, int] = {}
    for row in df.to_dicts():
        for field in {error["field"] for error in checker.check([_record(row)]).errors}:
            failures[field] = failures.get(field, 0) + 1
    out = {}
    for check in contract.checks():
        if check.kind in ("columns", "dtype"):
            continue
        count = failures.get(check.columns[0], 0)
        out[check.label] = ("passed" if count == 0 else "failed", count)
    return out


@settings(max_examples=150 if FULL else 60, deadline=None, derandomize=not FULL)
@given(st.data())
def test_the_serving_record_checker_gives_the_oracles_verdict(data: st.DataObject) -> None:
    df, types = data.draw(frames(numpy=False))
    zone = df.schema["t"].time_zone  # type: ignore[attr-defined]
    contract = data.draw(contracts(types, zone, kinds=PER_RECORD))
    assume(not any(c.mostly for c in contract.columns))  # mostly has no per-record form
    static = {c.label for c in contract.checks() if c.kind in ("columns", "dtype")}
    verdicts = oracle.verdicts(contract, df.to_dict(as_series=False))
    expected = {label: v for label, v in verdicts.items() if label not in static}
    assert _record_verdicts(contract, df) == expected, (df.to_dicts(), dump_yaml(contract))

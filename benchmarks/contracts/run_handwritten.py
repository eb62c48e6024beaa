"""The practical limit: one hand-written Polars ``select`` of every violation count.

Idiomatic and fair: ``n_unique`` for uniqueness (a distinct count is the cheap way to know
whether a key is unique), no NaN guards (the data holds no NaN; Keel guards float
comparisons against NaN, this query does not). The schema checks (column set and dtypes)
are read from the schema, as any hand-written validation would.

On data with duplicate ids the excess ``len - n_unique`` is > 0, and one more query counts
the rows involved (``is_duplicated().sum()``), the number every other tool reports; on clean
data the whole validation is the one ``select``. No failing-row examples are fetched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    AGE,
    COLUMNS,
    EMAIL,
    MIN_ROWS,
    NULLABLE,
    OPENED,
    STATES,
    TERMS,
    complete,
    measure,
    runner_args,
    versions_of,
)

DTYPES = {"int": pl.Int64, "float": pl.Float64, "str": pl.String, "date": pl.Date}


def counts_query() -> list[pl.Expr]:
    c = pl.col
    exprs = [pl.len().alias("rows")]
    exprs += [
        c(name).null_count().alias(f"not_null:{name}") for name in COLUMNS if name not in NULLABLE
    ]
    exprs += [
        (pl.len() - c("id").n_unique()).alias("unique:id"),
        (~c("age").is_between(*AGE)).sum().alias("range:age"),
        (c("income") < 0).sum().alias("range:income"),
        (c("amount") <= 0).sum().alias("range:amount"),
        (~c("score").is_between(0.0, 1.0)).sum().alias("range:score"),
        (~c("opened").is_between(*OPENED)).sum().alias("range:opened"),
        (~c("state").is_in(STATES)).sum().alias("isin:state"),
        (~c("term").is_in(TERMS)).sum().alias("isin:term"),
        (~c("email").str.contains(EMAIL)).sum().alias("pattern:email"),
        (~((c("q10") <= c("q50")) & (c("q50") <= c("q90")))).sum().alias("ordered:q10<=q50<=q90"),
        pl.corr("income", "amount").alias("corr"),
    ]
    return exprs


def validate(data: Any) -> dict[str, Any]:
    schema = data.collect_schema()
    streaming = isinstance(data, pl.LazyFrame)
    query = data.select(counts_query())
    row = (query.collect(engine="streaming") if streaming else query).row(0, named=True)
    if row["unique:id"]:
        dup = data.select(pl.col("id").is_duplicated().sum())
        row["unique:id"] = (dup.collect(engine="streaming") if streaming else dup).item()
    row["columns"] = int(set(schema.names()) != set(COLUMNS))
    row["dtypes"] = sum(schema.get(n) != DTYPES[t] for n, t in COLUMNS.items())
    return row


def violations(row: dict[str, Any]) -> dict[str, int | None]:
    out = {k: int(v) for k, v in row.items() if k not in ("rows", "corr")}
    out["corr:income,amount>=0"] = int(not (row["corr"] is not None and row["corr"] >= 0))
    out[f"rows>={MIN_ROWS}"] = int(row["rows"] < MIN_ROWS)
    return complete(out)


def main() -> None:
    args = runner_args(__doc__ or "")
    load = pl.scan_parquet if args.streaming else pl.read_parquet
    measure(
        "hand-written",
        args,
        load=load,
        validate=validate,
        violations=violations,
        versions=versions_of("polars"),
    )


if __name__ == "__main__":
    main()

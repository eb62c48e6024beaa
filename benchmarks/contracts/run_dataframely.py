"""dataframely: ``Loan.filter(df)`` and ``failure.counts()``.

``filter`` is dataframely's way to get every failure: it returns the valid rows and a
``FailureInfo`` holding the failing rows with one boolean column per rule (the report with
failing-row examples). ``validate`` on an eager frame runs the same ``filter`` and raises.
Cross-column and dataset checks are ``@dy.rule()`` methods; the two dataset checks
(correlation, row count) are aggregate expressions that Polars broadcasts to every row, so
when one fails every row fails it (counted once here).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dataframely as dy
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    AGE,
    EMAIL,
    MIN_ROWS,
    OPENED,
    STATES,
    TERMS,
    complete,
    measure,
    runner_args,
    versions_of,
)


class Loan(dy.Schema):
    id = dy.Int64(unique=True)
    age = dy.Int64(min=AGE[0], max=AGE[1])
    income = dy.Float64(nullable=True, min=0.0)
    amount = dy.Float64(min_exclusive=0.0)
    score = dy.Float64(min=0.0, max=1.0)
    state = dy.String(check={"isin": lambda c: c.is_in(STATES)})
    email = dy.String(regex=EMAIL)
    q10 = dy.Float64()
    q50 = dy.Float64()
    q90 = dy.Float64()
    opened = dy.Date(min=OPENED[0], max=OPENED[1])
    term = dy.Int64(is_in=list(TERMS))

    @dy.rule()
    def ordered(cls) -> pl.Expr:  # noqa: N805  # dataframely passes the schema
        c = pl.col
        return (c("q10") <= c("q50")) & (c("q50") <= c("q90"))

    @dy.rule()
    def correlated(cls) -> pl.Expr:  # noqa: N805  # dataframely passes the schema
        return pl.corr("income", "amount") >= 0

    @dy.rule()
    def rows(cls) -> pl.Expr:  # noqa: N805  # dataframely passes the schema
        return pl.len() >= MIN_ROWS


_KIND = {
    "nullability": "not_null",
    "unique": "unique",
    "min": "range",
    "max": "range",
    "min_exclusive": "range",
    "max_exclusive": "range",
    "regex": "pattern",
    "is_in": "isin",
    "check__isin": "isin",
}
_DATASET_RULES = {"correlated": "corr:income,amount>=0", "rows": f"rows>={MIN_ROWS}"}


def validate(df: pl.DataFrame) -> Any:
    _, failure = Loan.filter(df)
    return failure.counts()


def violations(counts: dict[str, int]) -> dict[str, int | None]:
    # filter() raises on a missing column or a wrong dtype: reaching here, both passed
    out: dict[str, int | None] = complete({})
    for rule, n in counts.items():
        if rule in _DATASET_RULES:
            name, n = _DATASET_RULES[rule], min(n, 1)  # noqa: PLW2901  # fails every row: once
        elif rule == "ordered":
            name = "ordered:q10<=q50<=q90"
        else:
            column, _, kind = rule.partition("|")
            name = f"{_KIND.get(kind, kind)}:{column}"
        out[name] = (out[name] or 0) + n
    return out


def main() -> None:
    args = runner_args(__doc__ or "")
    if args.streaming:
        sys.exit("dataframely.filter collects its input: no streaming run")
    measure(
        "dataframely",
        args,
        load=pl.read_parquet,
        validate=validate,
        violations=violations,
        versions=versions_of("dataframely", "polars"),
    )


if __name__ == "__main__":
    main()

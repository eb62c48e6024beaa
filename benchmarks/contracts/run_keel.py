"""Keel: ``Loan.check(df)`` (in memory) or ``Loan.check(pl.scan_parquet(path))`` (streamed)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

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

import keel


class Loan(keel.Schema, strict=True):
    id: keel.Column[int] = keel.Field(unique=True)
    age: keel.Column[int] = keel.Field(ge=AGE[0], le=AGE[1])
    income: keel.Column[float | None] = keel.Field(ge=0.0)
    amount: keel.Column[float] = keel.Field(gt=0.0)
    score: keel.Column[float] = keel.Field(ge=0.0, le=1.0)
    state: keel.Column[str] = keel.Field(isin=STATES)
    email: keel.Column[str] = keel.Field(pattern=EMAIL)
    q10: keel.Column[float]
    q50: keel.Column[float]
    q90: keel.Column[float]
    opened: keel.Column[dt.date] = keel.Field(ge=OPENED[0], le=OPENED[1])
    term: keel.Column[int] = keel.Field(isin=TERMS)

    rules = (
        keel.ordered("q10", "q50", "q90"),
        keel.correlated("income", "amount", min=0.0),
        keel.rows(min=MIN_ROWS),
    )


def common_name(check: Any) -> str:
    """Keel's check (kind, columns) -> the benchmark's common check name."""
    kind, cols = check.kind, check.columns
    if kind == "columns":
        return "columns"
    if kind == "dtype":
        return "dtypes"
    if kind == "ordered":
        return "ordered:" + "<=".join(cols)
    if kind == "correlated":
        return f"corr:{','.join(cols)}>=0"
    if kind == "rows":
        return f"rows>={MIN_ROWS}"
    return f"{kind}:{cols[0]}"


def violations(report: Any) -> dict[str, int | None]:
    counts: dict[str, int] = {}
    for check in report.checks:
        name = common_name(check)
        # checks that failed without a row count (dtype, correlation, rows) count as 1
        failures = check.failures or (0 if check.passed else 1)
        counts[name] = counts.get(name, 0) + failures
    return complete(counts)


def main() -> None:
    args = runner_args(__doc__ or "")
    load = pl.scan_parquet if args.streaming else pl.read_parquet
    examples = {}

    def validate(data: Any) -> Any:
        report = Loan.check(data)
        examples["shown"] = {c.name: c.examples[:2] for c in report.checks if c.examples}
        return report

    measure(
        "keel",
        args,
        load=load,
        validate=validate,
        violations=violations,
        versions=versions_of("mlkeel", "polars", "narwhals"),
    )
    print("EXAMPLES " + repr(examples.get("shown", {}))[:2000], file=sys.stderr)


if __name__ == "__main__":
    main()

"""pandera's Polars backend: a ``pandera.polars.DataFrameModel`` validated with ``lazy=True``.

Every failure is collected (``lazy=True``) into ``SchemaErrors.failure_cases``, one row per
failing value: the report with failing-row examples. Cross-column and dataset checks are
``@pa.dataframe_check`` methods returning Polars expressions.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandera.polars as pa
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


class Loan(pa.DataFrameModel):
    id: pl.Int64 = pa.Field(unique=True)
    age: pl.Int64 = pa.Field(ge=AGE[0], le=AGE[1])
    income: pl.Float64 = pa.Field(ge=0.0, nullable=True)
    amount: pl.Float64 = pa.Field(gt=0.0)
    score: pl.Float64 = pa.Field(ge=0.0, le=1.0)
    state: pl.String = pa.Field(isin=list(STATES))
    email: pl.String = pa.Field(str_matches=EMAIL)
    q10: pl.Float64
    q50: pl.Float64
    q90: pl.Float64
    opened: pl.Date = pa.Field(ge=OPENED[0], le=OPENED[1])
    term: pl.Int64 = pa.Field(isin=list(TERMS))

    class Config:
        strict = True  # exactly these columns

    @pa.dataframe_check(name="ordered")
    @classmethod
    def ordered(cls, data: Any) -> pl.LazyFrame:
        c = pl.col
        return data.lazyframe.select((c("q10") <= c("q50")) & (c("q50") <= c("q90")))

    @pa.dataframe_check(name="correlated")
    @classmethod
    def correlated(cls, data: Any) -> bool:
        return bool(data.lazyframe.select(pl.corr("income", "amount") >= 0).collect().item())

    @pa.dataframe_check(name="rows")
    @classmethod
    def rows(cls, data: Any) -> bool:
        return data.lazyframe.select(pl.len()).collect().item() >= MIN_ROWS


_CHECK_KIND = {
    "not_nullable": "not_null",
    "field_uniqueness": "unique",
    "isin": "isin",
    "str_matches": "pattern",
    "greater_than_or_equal_to": "range",
    "less_than_or_equal_to": "range",
    "greater_than": "range",
    "in_range": "range",
}


def common_name(column: str | None, check: str) -> str:
    base = check.split("(", maxsplit=1)[0]
    if base == "ordered":
        return "ordered:q10<=q50<=q90"
    if base == "correlated":
        return "corr:income,amount>=0"
    if base == "rows":
        return f"rows>={MIN_ROWS}"
    if base in ("column_in_dataframe", "column_in_schema"):
        return "columns"
    if base == "dtype":
        return "dtypes"
    return f"{_CHECK_KIND.get(base, base)}:{column}"


def validate(df: pl.DataFrame) -> Any:
    try:
        Loan.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


def violations(failure_cases: pl.DataFrame | None) -> dict[str, int | None]:
    counts: dict[str, int] = {}
    if failure_cases is None:
        return complete(counts)
    # range checks on one column (ge and le) fail on disjoint rows: their counts add up
    grouped = failure_cases.group_by("column", "check").len()
    for column, check, n in grouped.iter_rows():
        name = common_name(column, check)
        if name.startswith(("corr:", "rows>=", "columns", "dtypes")):
            n = 1  # noqa: PLW2901  # a failed dataset check counts once
        counts[name] = counts.get(name, 0) + n
    return complete(counts)


def main() -> None:
    args = runner_args(__doc__ or "")
    if args.streaming:
        sys.exit("pandera collects a LazyFrame before validating: no streaming run")
    measure(
        "pandera-polars",
        args,
        load=pl.read_parquet,
        validate=validate,
        violations=violations,
        versions=versions_of("pandera", "polars"),
    )


if __name__ == "__main__":
    main()

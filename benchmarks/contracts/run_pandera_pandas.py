"""pandera's pandas backend: a ``pandera.pandas.DataFrameModel`` validated with ``lazy=True``.

The Parquet file is loaded with PyArrow into pandas' own types (int64, float64 with NaN for
missing values, pandas' default string dtype, datetime64[ns] for the date column). Every
failure is collected into ``SchemaErrors.failure_cases`` (one row per failing value).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

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

LOW, HIGH = (pd.Timestamp(d) for d in OPENED)


class Loan(pa.DataFrameModel):
    id: Series[int] = pa.Field(unique=True)
    age: Series[int] = pa.Field(ge=AGE[0], le=AGE[1])
    income: Series[float] = pa.Field(ge=0.0, nullable=True)
    amount: Series[float] = pa.Field(gt=0.0)
    score: Series[float] = pa.Field(ge=0.0, le=1.0)
    state: Series[pd.StringDtype] = pa.Field(isin=list(STATES))
    email: Series[pd.StringDtype] = pa.Field(str_matches=EMAIL)
    q10: Series[float]
    q50: Series[float]
    q90: Series[float]
    opened: Series[pd.Timestamp] = pa.Field(ge=LOW, le=HIGH)
    term: Series[int] = pa.Field(isin=list(TERMS))

    class Config:
        strict = True

    @pa.dataframe_check(name="ordered")
    @classmethod
    def ordered(cls, df: pd.DataFrame) -> pd.Series:
        return (df["q10"] <= df["q50"]) & (df["q50"] <= df["q90"])

    @pa.dataframe_check(name="correlated")
    @classmethod
    def correlated(cls, df: pd.DataFrame) -> bool:
        return bool(df["income"].corr(df["amount"]) >= 0)

    @pa.dataframe_check(name="rows")
    @classmethod
    def rows(cls, df: pd.DataFrame) -> bool:
        return len(df) >= MIN_ROWS


_KIND = {
    "not_nullable": "not_null",
    "field_uniqueness": "unique",
    "isin": "isin",
    "str_matches": "pattern",
    "greater_than_or_equal_to": "range",
    "less_than_or_equal_to": "range",
    "greater_than": "range",
}


def common_name(column: Any, check: str) -> str:
    base = str(check).split("(")[0]
    special = {
        "ordered": "ordered:q10<=q50<=q90",
        "correlated": "corr:income,amount>=0",
        "rows": f"rows>={MIN_ROWS}",
        "column_in_dataframe": "columns",
        "column_in_schema": "columns",
    }
    if base in special:
        return special[base]
    if base.startswith("dtype"):
        return "dtypes"
    return f"{_KIND.get(base, base)}:{column}"


def load(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas(date_as_object=False)
    df["opened"] = df["opened"].astype("datetime64[ns]")
    return df


def validate(df: pd.DataFrame) -> Any:
    try:
        Loan.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


def violations(failure_cases: pd.DataFrame | None) -> dict[str, int | None]:
    counts: dict[str, int] = {}
    if failure_cases is None:
        return complete(counts)
    # a dataframe check reports every column of a failing row: count distinct rows
    frame_level = failure_cases["schema_context"] == "DataFrameSchema"
    cases = failure_cases.assign(column=failure_cases["column"].where(~frame_level, "*"))
    grouped = cases.groupby(["column", "check"], dropna=False)["index"].nunique(dropna=False)
    for (column, check), n in grouped.items():
        name = common_name(column, check)
        if name.startswith(("corr:", "rows>=", "columns", "dtypes")):
            n = 1  # noqa: PLW2901  # a failed dataset check counts once
        counts[name] = counts.get(name, 0) + int(n)
    return complete(counts)


def main() -> None:
    args = runner_args(__doc__ or "")
    if args.streaming:
        sys.exit("pandas has no streaming: no streaming run")
    measure(
        "pandera-pandas",
        args,
        load=load,
        validate=validate,
        violations=violations,
        versions=versions_of("pandera", "pandas", "pyarrow"),
    )


if __name__ == "__main__":
    main()

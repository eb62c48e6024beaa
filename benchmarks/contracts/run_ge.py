"""Great Expectations 1.x: an expectation suite run on a pandas DataFrame (ephemeral context).

The context, data source, suite and validation definition are built once, outside the timed
part; each timed run is ``ValidationDefinition.run`` with ``result_format="SUMMARY"`` (counts
plus up to 20 unexpected values per expectation: the report with failing-row examples).

GE has no expectation for a Pearson correlation between two columns on pandas, so that check
is not run (reported as n/a). ``q10 <= q50 <= q90`` is two pair expectations whose unexpected
counts add up (the generated data never breaks both pairs on one row).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

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

PANDAS_TYPES = {"int": "int64", "float": "float64", "str": "str", "date": "datetime64[ns]"}


def suite_expectations(gxe: Any) -> list[tuple[str, Any]]:
    """(common check name, expectation) pairs: the contract in GE's vocabulary."""
    import pandas as pd

    out: list[tuple[str, Any]] = [
        ("columns", gxe.ExpectTableColumnsToMatchSet(column_set=list(COLUMNS), exact_match=True)),
        (f"rows>={MIN_ROWS}", gxe.ExpectTableRowCountToBeBetween(min_value=MIN_ROWS)),
    ]
    for name, kind in COLUMNS.items():
        out.append(
            ("dtypes", gxe.ExpectColumnValuesToBeOfType(column=name, type_=PANDAS_TYPES[kind]))
        )
        if name not in NULLABLE:
            out.append((f"not_null:{name}", gxe.ExpectColumnValuesToNotBeNull(column=name)))
    low, high = (pd.Timestamp(d) for d in OPENED)
    out += [
        ("unique:id", gxe.ExpectColumnValuesToBeUnique(column="id")),
        (
            "range:age",
            gxe.ExpectColumnValuesToBeBetween(column="age", min_value=AGE[0], max_value=AGE[1]),
        ),
        ("range:income", gxe.ExpectColumnValuesToBeBetween(column="income", min_value=0.0)),
        (
            "range:amount",
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0.0, strict_min=True),
        ),
        (
            "range:score",
            gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0.0, max_value=1.0),
        ),
        (
            "range:opened",
            gxe.ExpectColumnValuesToBeBetween(column="opened", min_value=low, max_value=high),
        ),
        ("isin:state", gxe.ExpectColumnValuesToBeInSet(column="state", value_set=list(STATES))),
        ("isin:term", gxe.ExpectColumnValuesToBeInSet(column="term", value_set=list(TERMS))),
        ("pattern:email", gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL)),
        (
            "ordered:q10<=q50<=q90",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="q50", column_B="q10", or_equal=True
            ),
        ),
        (
            "ordered:q10<=q50<=q90",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="q90", column_B="q50", or_equal=True
            ),
        ),
    ]
    return out


class Validator:
    def __init__(self) -> None:
        import great_expectations as gx
        import great_expectations.expectations as gxe

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("loans")
        asset = source.add_dataframe_asset("loans")
        batch = asset.add_batch_definition_whole_dataframe("all")
        pairs = suite_expectations(gxe)
        suite = self.context.suites.add(gx.ExpectationSuite(name="loans"))
        self.names = {}
        for name, expectation in pairs:
            added = suite.add_expectation(expectation)
            self.names[added.id] = name
        self.definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name="loans")
        )

    def __call__(self, df: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.definition.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")


def load(path: Path) -> Any:
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas(date_as_object=False)
    df["opened"] = df["opened"].astype("datetime64[ns]")
    return df


def main() -> None:
    args = runner_args(__doc__ or "")
    if args.streaming:
        sys.exit("GE's pandas data source takes a DataFrame in memory: no streaming run")
    validator = Validator()

    def violations(result: Any) -> dict[str, int | None]:
        counts: dict[str, int] = {}
        for r in result.results:
            name = validator.names[r.expectation_config.id]
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise RuntimeError(f"{name}: {r.exception_info}")
            unexpected = (r.result or {}).get("unexpected_count")
            if unexpected is None or name in ("columns", "dtypes") or name.startswith("rows"):
                n = 0 if r.success else 1
            else:
                n = int(unexpected)
            counts[name] = counts.get(name, 0) + n
        return complete(counts, unsupported=("corr:income,amount>=0",))

    measure(
        "great-expectations",
        args,
        load=load,
        validate=validator,
        violations=violations,
        versions=versions_of("great_expectations", "pandas", "pyarrow"),
        notes="correlation check not expressible (n/a)",
    )


if __name__ == "__main__":
    main()

"""Run one peer (Evidently or NannyML) on a reference/current pair; print JSON.

Run with the interpreter of ``.venv-bench-monitor`` (benchmarks/setup.sh): both need
pandas < 3. The timed part reads both Parquet files with pandas and runs the tool with its
defaults; ``flagged`` is the columns the tool itself calls drifted.

    python run_peers.py TOOL REFERENCE CURRENT CATEGORICAL_COLUMNS(comma-separated)
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def evidently(reference: str, current: str, categorical: list[str]) -> list[str]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    numeric = [c for c in ref.columns if c not in categorical]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    flagged = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            column, value = config["column"], metric["value"]
            threshold = config.get("threshold")
            method = config.get("method") or ""
            # p-value tests drift below their threshold, distances above it
            if "p_value" in method or "test" in method.lower():
                drifted = value < threshold
            else:
                drifted = value >= threshold
            if drifted:
                flagged.append(column)
    return flagged


def nannyml(reference: str, current: str, categorical: list[str]) -> list[str]:
    import nannyml as nml
    import pandas as pd

    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    for c in categorical:
        ref[c] = ref[c].astype("category")
        cur[c] = cur[c].astype("category")
    # NannyML's default thresholds (mean + 3 sd of the reference chunks' scores) need
    # several reference chunks: with one, the sd is 0 and every column alarms. So the
    # reference is fitted in 10 chunks, then the whole current set is scored as one chunk.
    calc = nml.UnivariateDriftCalculator(
        column_names=list(ref.columns),
        treat_as_categorical=categorical,
        chunk_size=len(ref) // 10,
    )
    calc.fit(ref)
    calc.chunker = nml.chunk.SizeBasedChunker(chunk_size=len(cur))
    result = calc.calculate(cur).filter(period="analysis").to_df()
    flagged = []
    for column in ref.columns:
        alerts = [
            bool(result[(column, method, "alert")].any())
            for method in result[column].columns.get_level_values(0).unique()
        ]
        if any(alerts):
            flagged.append(column)
    return flagged


def main() -> None:
    tool, reference, current, categorical = sys.argv[1:5]
    warnings.filterwarnings("ignore")
    fn = {"evidently": evidently, "nannyml": nannyml}[tool]
    start = time.perf_counter()
    flagged = fn(reference, current, [c for c in categorical.split(",") if c])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "flagged": sorted(flagged)}))


if __name__ == "__main__":
    main()

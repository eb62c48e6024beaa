"""Logging runs: Keel against MLflow with its local SQLite backend, side by side.

Each tool logs N runs of 10 params, 10 metrics and one 1 MB artifact into a fresh store in a
temporary folder; the first run (store creation, migrations) is timed apart. Run with the
interpreter of the venv that has both (``.venv-bench-store``, made by benchmarks/setup.sh).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def keel_runs(folder: Path, runs: int, payload: Path) -> list[float]:
    import keel
    from keel.config import init_project
    from keel.tracking import open_project

    init_project(folder)
    project = open_project(folder)
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        with keel.start_run(
            f"r{i}", params={f"p{k}": k * i for k in range(10)}, project=project
        ) as run:
            run.log_metrics({f"m{k}": k / (i + 1) for k in range(10)})
            run.log_artifact(payload)
        times.append(time.perf_counter() - start)
    return times


def mlflow_runs(folder: Path, runs: int, payload: Path) -> list[float]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = mlflow.create_experiment("bench", artifact_location=(folder / "art").as_uri())
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        with mlflow.start_run(experiment_id=experiment, run_name=f"r{i}"):
            mlflow.log_params({f"p{k}": k * i for k in range(10)})
            mlflow.log_metrics({f"m{k}": k / (i + 1) for k in range(10)})
            mlflow.log_artifact(str(payload))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    tools: dict[str, Callable[[Path, int, Path], list[float]]] = {
        "keel": keel_runs,
        "mlflow (sqlite)": mlflow_runs,
    }
    results = {}
    for name, fn in tools.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            payload = folder / "model.bin"
            payload.write_bytes(os.urandom(1 << 20))
            os.chdir(folder)
            times = fn(folder, args.runs, payload)
        results[name] = (times[0], statistics.median(times[1:]))
    keel_median = results["keel"][1]
    print(f"| tool | first run (store creation) | median per run ({args.runs} runs) | ÷ Keel |")
    print("|---|---:|---:|---:|")
    for name, (first, median) in results.items():
        print(
            f"| {name} | {first * 1000:.1f} ms | {median * 1000:.1f} ms | "
            f"{median / keel_median:.1f}x |"
        )


if __name__ == "__main__":
    main()

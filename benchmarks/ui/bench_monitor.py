"""``keel ui``'s monitoring page at scale: the drift heatmap of 90 daily windows x 50 columns.

Builds a project with a registered model of 50 input columns, its stored reference profile
(5,000 training rows), and 90 days of prediction log (one file a day, ``--rows`` a day; the
first five columns drift slowly), then asks the app (in process, through its ASGI
interface) for ``/monitoring/NAME?window=1d`` and its JSON twin:

- cold: the first request, nothing remembered (every window profiled and tested);
- warm: the same page again, the log unchanged (answered from the app's memory);
- after a flush: one more file in the log (the newest window is profiled and tested again,
  the other 89 come from the app's :class:`keel.monitor.ReportCache`);
- the report itself, ``keel.monitor.report`` without a cache, as ``keel monitor report``
  computes it: the figure the page would cost without its memory.

Each figure is the median of ``--repeat`` runs, wall time and the process's CPU time
(user + system, which holds on a busy machine). The issue's target: under 500 ms.
Run with the project's venv: ``.venv/bin/python benchmarks/ui/bench_monitor.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

COLUMNS = 50
DAYS = 90
START = datetime(2026, 9, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Served:
    """What serving needs to write more of the log."""

    project: Any
    model: Any
    version: int
    names: list[str]


def build(root: Path, rows: int) -> Served:
    import numpy as np
    import polars as pl
    from sklearn.linear_model import LogisticRegression

    import keel
    from keel.config import init_project
    from keel.monitor import set_reference
    from keel.registry import set_alias
    from keel.tracking import open_project

    init_project(root, name="bench-monitor")
    project = open_project(root)
    rng = np.random.default_rng(0)
    names = [f"c{k:02d}" for k in range(COLUMNS)]
    train = pl.DataFrame({n: rng.normal(0, 1, 5000) for n in names})
    model = LogisticRegression().fit(train.to_numpy(), (train["c00"] > 0).to_numpy())
    version = keel.register(model, "wide", project=project).version
    set_alias("wide", "champion", version, project=project)
    set_reference(f"model:wide/{version}", train, project=project)
    served = Served(project, model, version, names)
    for day in range(DAYS):
        log_day(served, rng, day=day, rows=rows)
    return served


def log_day(served: Served, rng: Any, *, day: int, rows: int) -> None:
    """One flush of ``rows`` predictions spread over day ``day``."""
    import numpy as np
    import polars as pl

    from keel.monitor import PredictionLog

    project, model, version = served.project, served.model, served.version
    inputs = {
        n: rng.normal(0.01 * day if k < 5 else 0, 1, rows) for k, n in enumerate(served.names)
    }
    score = model.predict_proba(np.column_stack(list(inputs.values())))[:, 1]
    seconds = np.sort(rng.uniform(0, 86_399, rows))
    PredictionLog(project.artifacts, "wide").append(
        pl.DataFrame(
            {
                "request_id": [f"{day}-{i}" for i in range(rows)],
                "row": [0] * rows,
                "time": [START + timedelta(days=day, seconds=float(s)) for s in seconds],
                "model": ["wide"] * rows,
                "version": [version] * rows,
                "role": ["champion"] * rows,
                "latency_ms": [2.0] * rows,
                "valid": [True] * rows,
                "violations": [None] * rows,
                "prediction": (score >= 0.5),
                "score": score,
                "confidence": np.maximum(score, 1 - score),
                **inputs,
            },
            schema_overrides={"time": pl.Datetime("us", "UTC"), "violations": pl.String},
        )
    )


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="predictions a day")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import numpy as np
    from fastapi.testclient import TestClient

    from keel.monitor import report
    from keel.ui import create_app

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"building {DAYS} days x {args.rows:,} predictions x {COLUMNS} columns ...")
        started = time.perf_counter()
        served = build(root, args.rows)
        print(f"  built in {time.perf_counter() - started:.1f} s")
        project = served.project

        def page(path: str) -> Callable[[], None]:
            def call() -> None:
                response = client.get(path)
                assert response.status_code == 200, response.text[:500]

            return call

        html, api = "/monitoring/wide?window=1d", "/api/monitoring/wide?window=1d"
        figures: dict[str, tuple[float, float]] = {}
        cold = []
        for _ in range(max(1, args.repeat // 2)):
            client = TestClient(create_app(root))
            cold.append(timed(page(html)))
        figures["page, cold (nothing remembered)"] = median(cold)
        client = TestClient(create_app(root))
        page(html)()
        repeat = range(args.repeat)
        figures["page, warm (log unchanged)"] = median([timed(page(html)) for _ in repeat])
        figures["API, warm (log unchanged)"] = median([timed(page(api)) for _ in repeat])
        rng = np.random.default_rng(1)
        flushed = []
        for _ in repeat:
            log_day(served, rng, day=DAYS - 1, rows=50)  # one more flush on the last day
            flushed.append(timed(page(html)))
        figures["page, after one new flush"] = median(flushed)
        uncached = [
            timed(lambda: report("wide", window="1d", project=project))
            for _ in range(max(1, args.repeat // 2))
        ]
        figures["keel.monitor.report, no cache"] = median(uncached)

    base = figures["keel.monitor.report, no cache"]
    print(f"\n{DAYS} daily windows x {COLUMNS} columns, {args.rows:,} predictions a day")
    print(f"{'':38} {'wall ms':>9} {'CPU ms':>9} {'CPU vs no cache':>16}")
    for label, (wall, cpu) in figures.items():
        print(f"{label:38} {wall * 1000:9.0f} {cpu * 1000:9.0f} {cpu / base[1]:15.3f}x")


if __name__ == "__main__":
    main()

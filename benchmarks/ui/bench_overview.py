"""The overview page (``/``) of ``keel ui`` over a demo-like store, and how it grows with the log.

Builds the UI test project (``tests/ui/_project.py``: a dataset with two versions, six runs,
a pipeline run twice, a model with two versions gated, promoted and evaluated, four hours
of prediction log whose last hour drifted, labels, a canary rollout), then prepends
``--days`` days of hourly prediction log (240 records an hour) before those four hours, and
measures in process (FastAPI's test client, no HTTP round trip):

- the overview page's server time and CPU time (user+sys of this process), cold (a fresh
  app: the latest window is profiled) and warm (the app's monitoring cache holds it);
- ``keel kpis``'s work (:func:`keel.ui.kpi_report`, no cache: what CI runs);
- side by side, the naive path the overview avoids: ``keel.monitor.report`` over the whole
  log with the same window, then :func:`keel.monitor.check` (what ``keel monitor check NAME``
  does), as a ratio to the overview's latest-window path.

The issue's objective: the overview over the demo store in under 300 ms (server time).
Run from the repository root: ``PYTHONPATH=src .venv/bin/python benchmarks/ui/bench_overview.py``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.ui._project


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` calls of ``work``."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, used = time.perf_counter(), cpu()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu() - used)
    return statistics.median(walls), statistics.median(cpus)


def prepend_log(root: Path, days: int) -> int:
    """``days`` days of hourly prediction log before the project's own four hours."""
    import numpy as np
    import polars as pl
    from tests.ui._project import LOG_START

    from keel.monitor import PredictionLog
    from keel.tracking import open_project

    project = open_project(root)
    log = PredictionLog(project.artifacts, "risk")
    rng = np.random.default_rng(3)
    n = 240
    for hour in range(days * 24, 0, -1):
        start = LOG_START - timedelta(hours=hour)
        x1, x2 = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
        score = 1 / (1 + np.exp(-(4 * x1 - 2)))
        log.append(
            pl.DataFrame(
                {
                    "request_id": [f"h{hour}-{i}" for i in range(n)],
                    "row": [0] * n,
                    "time": [start + timedelta(seconds=14 * i) for i in range(n)],
                    "model": ["risk"] * n,
                    "version": [2] * n,
                    "role": ["champion"] * n,
                    "latency_ms": rng.uniform(1, 4, n),
                    "valid": [True] * n,
                    "violations": [None] * n,
                    "prediction": (score >= 0.5).astype(int),
                    "score": score,
                    "confidence": np.maximum(score, 1 - score),
                    "x1": x1,
                    "x2": x2,
                },
                schema_overrides={"time": pl.Datetime("us", "UTC"), "violations": pl.String},
            )
        )
    return days * 24 * n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="Days of log before the demo's.")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from tests.ui._project import build

    from keel.monitor import check, report
    from keel.tracking import open_project
    from keel.ui import create_app, kpi_report
    from keel.ui._views_monitor import choose_window

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        built = time.perf_counter()
        build(root)
        added = prepend_log(root, args.days)
        print(f"built the project, {added:,} extra log records ({args.days} days), "
              f"in {time.perf_counter() - built:.1f} s")  # fmt: skip
        project = open_project(root)
        window = choose_window(project, "risk")

        def cold() -> None:
            client = TestClient(create_app(project))
            assert client.get("/").status_code == 200

        warm_client = TestClient(create_app(project))
        assert warm_client.get("/").status_code == 200

        def warm() -> None:
            assert warm_client.get("/").status_code == 200

        def kpis() -> None:
            kpi_report(project)

        def naive() -> None:
            check(report("risk", window=window, project=project))

        rows = [
            ("overview page, cold (fresh app)", *timed(cold, args.repeat)),
            ("overview page, warm (app's cache)", *timed(warm, args.repeat)),
            ("keel kpis (kpi_report, no cache)", *timed(kpis, args.repeat)),
            (f"peer: report + check over the whole log ({window})", *timed(naive, 1)),
        ]
    print(f"\nlatest-window path vs the whole log; window {window}; medians of {args.repeat}")
    print(f"{'case':<52} {'wall ms':>9} {'cpu ms':>9}")
    for label, wall, used in rows:
        print(f"{label:<52} {wall * 1000:>9.1f} {used * 1000:>9.1f}")
    naive_cpu, kpis_cpu = rows[3][2], rows[2][2]
    print(f"\nwhole-log check / keel kpis, CPU: {naive_cpu / kpis_cpu:.1f}x")
    print("objective: overview under 300 ms of server time")


if __name__ == "__main__":
    main()

"""Feast's online store on the online benchmark's data, in Feast's own virtualenv
(``.venv-bench-features``, made by ``benchmarks/setup.sh features``).

The same two views as ``run_feast.py`` (its feature repository: DuckDB offline store, SQLite
online store). The repository is applied once, untimed; ``materialize(start, end)`` of both
views up to the same instant as Keel's is timed (best of ``--repeats``), then
``get_online_features(...).to_dict()`` for 1 and for 100 random applicants (p50/p99 after 200
warm-up lookups). One JSON line on stdout, like ``bench_online.py``'s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_feast import ACTIVITY, PROFILE, _definitions, _repo

AS_OF = datetime(2024, 4, 10, tzinfo=timezone.utc)  # noqa: UP017  # Feast's venv may be older
START = datetime(2023, 12, 1, tzinfo=timezone.utc)  # noqa: UP017


def _latency(call: Any, requests: list[Any], warmup: int = 200) -> dict[str, float]:
    for request in requests[:warmup]:
        call(request)
    samples = []
    for request in requests:
        started = time.perf_counter()
        call(request)
        samples.append(time.perf_counter() - started)
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1e3, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1e3, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Feast warns about its own experimental features
    from feast import FeatureStore

    repo = _repo(args.folder, "duckdb")
    store = FeatureStore(repo_path=str(repo))
    store.apply(_definitions(args.folder))
    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        store.materialize(start_date=START, end_date=AS_OF)
        best = min(best, time.perf_counter() - started)
    features = [f"activity:{c}" for c in ACTIVITY] + [f"profile:{c}" for c in PROFILE]
    rng = random.Random(14)
    ones = [[{"applicant_id": rng.randrange(10_000)}] for _ in range(args.reads)]
    hundreds = [
        [{"applicant_id": rng.randrange(10_000)} for _ in range(100)]
        for _ in range(max(args.reads // 10, 300))
    ]

    def lookup(rows: list[dict[str, int]]) -> Any:
        return store.get_online_features(features=features, entity_rows=rows).to_dict()

    result = {
        "store": "feast 0.67, sqlite online store",
        "materialize_s": round(best, 4),
        "get_online_1": _latency(lookup, ones),
        "get_online_100": _latency(lookup, hundreds),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

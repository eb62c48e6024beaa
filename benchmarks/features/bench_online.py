"""The online store: materialize 10k entities x 2 views, then online read latencies, for the
embedded SQLite store and Redis (issue 14's targets).

Data: the training-set benchmark's (``bench_training_set.py``, generated on first use): view
``activity`` (1M rows, 5 float features, TTL 7 days) and ``profile`` (200k rows, 3 features,
TTL 30 days) over 10k applicants and 100 days. Materialization is as of the end of the data
(2024-04-10), so every applicant with rows gets one, some already expired.

Measured, in this process (the machine may be shared: the best of ``--repeats`` is kept for
materialize; latencies are the p50/p99 of ``--reads`` lookups after 200 warm-up lookups):

- ``materialize``: ``keel.features.materialize(as_of=...)`` of both views (read the Parquet
  sources, check their contracts, the point-in-time join, encode, write atomically);
- ``store read``: the store's raw lookup of one view (1 key; 100 keys);
- ``get_online``: ``keel.features.get_online(rows, "model")``, both views, decoded, TTL
  applied, as Python values (1 entity; 100 entities).

    .venv/bin/python benchmarks/features/bench_online.py [--reads 5000] [--redis URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from bench_training_set import APPLICANTS, ensure_data  # noqa: E402

AS_OF = dt.datetime(2024, 4, 10, tzinfo=dt.UTC)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1e3, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1e3, 4),
    }


def _latency(call: Any, requests: list[Any], warmup: int = 200) -> dict[str, float]:
    for request in requests[:warmup]:
        call(request)
    samples = []
    clock = time.perf_counter
    for request in requests:
        start = clock()
        call(request)
        samples.append(clock() - start)
    return _percentiles(samples)


def measure(store: Any, definitions: Any, reads: int, repeats: int) -> dict[str, Any]:
    from keel.features import get_online, materialize
    from keel.features._online import encode_key
    from keel.tracking import open_project

    project = open_project()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        done = materialize(as_of=AS_OF, definitions=definitions, project=project, store=store)
        best = min(best, time.perf_counter() - start)
    rng = random.Random(14)
    ones = [rng.randrange(APPLICANTS) for _ in range(reads)]
    hundreds = [
        [rng.randrange(APPLICANTS) for _ in range(100)] for _ in range(max(reads // 10, 300))
    ]
    one_key = [[encode_key(["applicant_id"], [i])] for i in ones]
    many_keys = [[encode_key(["applicant_id"], [i]) for i in batch] for batch in hundreds]
    result: dict[str, Any] = {
        "store": store.url.split("?")[0],
        "materialize_s": round(best, 4),
        "rows": {m.view: m.rows for m in done},
        "store_read_1": _latency(lambda k: store.read("activity", k), one_key),
        "store_read_100": _latency(lambda k: store.read("activity", k), many_keys),
        "get_online_1": _latency(
            lambda i: get_online(
                {"applicant_id": i}, "model", definitions=definitions, now=AS_OF, store=store
            ),
            ones,
        ),
        "get_online_100": _latency(
            lambda b: get_online(
                [{"applicant_id": i} for i in b],
                "model",
                definitions=definitions,
                now=AS_OF,
                store=store,
            ),
            hundreds,
        ),
    }
    found = get_online(
        [{"applicant_id": i} for i in range(APPLICANTS)],
        "model",
        definitions=definitions,
        now=AS_OF,
        store=store,
    )
    result["status"] = {
        view: {
            state: sum(1 for s in found.status if s[view] == state)
            for state in ("found", "expired", "missing")
        }
        for view in ("activity", "profile")
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows-scale", type=float, default=1.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--feast-python",
        type=Path,
        default=ROOT / ".venv-bench-features" / "bin" / "python",
        help="Feast's virtualenv's python (run run_feast_online.py when it exists).",
    )
    arguments = parser.parse_args()
    folder = ensure_data(arguments.rows_scale)

    import os

    from keel.config import init_project
    from keel.features import load_definitions
    from keel.features._online import RedisStore, SqliteStore

    os.chdir(tempfile.mkdtemp(prefix="keel-bench-online-"))
    init_project(Path.cwd())
    definitions = load_definitions(folder / "features.py")
    results = []
    sqlite = SqliteStore(Path.cwd() / ".keel" / "online.db")
    results.append(measure(sqlite, definitions, arguments.reads, arguments.repeats))
    sqlite.close()
    if arguments.redis:
        prefix = f"keel-bench:{uuid.uuid4().hex}"
        redis = RedisStore(arguments.redis, prefix=prefix)
        try:
            results.append(measure(redis, definitions, arguments.reads, arguments.repeats))
        finally:
            import redis as client

            connection = client.Redis.from_url(arguments.redis)
            for key in connection.scan_iter(f"{prefix}:*"):
                connection.delete(key)
            redis.close()
    for item in results:
        print(json.dumps(item))
    if arguments.feast_python.exists():
        import subprocess

        feast = subprocess.run(
            [
                str(arguments.feast_python),
                str(HERE / "run_feast_online.py"),
                *["--folder", str(folder), "--reads", str(arguments.reads)],
                *["--repeats", str(arguments.repeats)],
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = feast.stdout.strip().splitlines()
        print(
            lines[-1]
            if feast.returncode == 0 and lines
            else f"feast failed: {feast.stderr[-2000:]}"
        )


if __name__ == "__main__":
    main()

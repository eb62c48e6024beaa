"""Feast's historical retrieval on the training-set benchmark's data, in Feast's own virtualenv
(``.venv-bench-features``, made by ``benchmarks/setup.sh features``).

The same two views (TTL 7 and 30 days, created time as Feast's ``created_timestamp_column``)
and the same entity rows; ``--store duckdb`` or ``file`` picks Feast's offline store. The
feature repository is applied once, untimed; then ``get_historical_features(...).to_df()``
is timed. Feast does not keep the entity rows' order, so a row number travels with them and
the result is sorted back by it (inside the timed part). One JSON line on stdout, like the
other roles; the frame is written to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

ACTIVITY = ["a1", "a2", "a3", "a4", "a5"]
PROFILE = ["income", "accounts", "region"]


def _repo(folder: Path, store: str) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    offline = "type: duckdb" if store == "duckdb" else "type: file"
    (repo / "feature_store.yaml").write_text(
        "project: bench\n"
        f"registry: {repo / 'registry.db'}\n"
        "provider: local\n"
        f"offline_store:\n  {offline}\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\n"
        "entity_key_serialization_version: 3\n"
    )
    return repo


def _definitions(folder: Path) -> list[object]:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    applicant = Entity(name="applicant", join_keys=["applicant_id"], value_type=ValueType.INT64)

    def view(name: str, fields: list[Field], ttl_days: int) -> FeatureView:
        source = FileSource(
            name=f"{name}_source",
            path=str(folder / f"{name}.parquet"),
            timestamp_field="event_time",
            created_timestamp_column="created_at",
        )
        return FeatureView(
            name=name,
            entities=[applicant],
            ttl=timedelta(days=ttl_days),
            schema=fields,
            source=source,
        )

    activity = view("activity", [Field(name=c, dtype=Float64) for c in ACTIVITY], 7)
    profile = view(
        "profile",
        [
            Field(name="income", dtype=Float64),
            Field(name="accounts", dtype=Int64),
            Field(name="region", dtype=String),
        ],
        30,
    )
    return [applicant, activity, profile]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--store", choices=["duckdb", "file"], default="duckdb")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Feast warns about its own experimental features
    import pandas as pd
    from feast import FeatureStore

    repo = _repo(args.folder, args.store)
    store = FeatureStore(repo_path=str(repo))
    store.apply(_definitions(args.folder))
    entities = pd.read_parquet(args.folder / "entities.parquet")
    entities = entities.rename(columns={"timestamp": "event_timestamp"})
    entities["event_timestamp"] = entities["event_timestamp"].dt.tz_localize("UTC")
    entities["__row"] = range(len(entities))
    features = [f"activity:{c}" for c in ACTIVITY] + [f"profile:{c}" for c in PROFILE]
    baseline = _rss_mb()

    def build() -> pd.DataFrame:
        frame = store.get_historical_features(entity_df=entities, features=features).to_df()
        return frame.sort_values("__row").reset_index(drop=True)

    frame = build()
    times, cpu = [], []
    for _ in range(args.repeats):
        started, used = time.perf_counter(), _cpu()
        frame = build()
        times.append(time.perf_counter() - started)
        cpu.append(_cpu() - used)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame = frame.rename(columns={"event_timestamp": "timestamp"})
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    frame.drop(columns=["__row"]).to_parquet(args.output)
    print(
        json.dumps(
            {
                "role": f"feast-{args.store}",
                "seconds": min(times) if times else None,
                "cpu_seconds": min(cpu) if cpu else None,
                "peak_mb": peak,
                "growth_mb": peak - baseline,
                "rows": len(frame),
            }
        )
    )
    return 0


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    sys.exit(main())

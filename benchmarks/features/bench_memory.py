"""The memory run of issue 14: a training set over 10M feature rows and 1M entity rows
completes in under 8 GB of memory; Keel's peak against a hand-written Polars ``join_asof``.

Data (generated on first use into ``benchmarks/data/features/memory-<scale>/``, seeded):
view ``activity`` of 10M rows (5 float features, a created time a little after each event
time, TTL 7 days) over 100k applicants and 365 days, as 10 Parquet files; and 1M entity
rows (keys over 110k applicants, so some have no features; times over the same year, so
some values expired) as 10 Parquet files. Nothing is held in the driver while measuring.

Each role runs once in a fresh subprocess that reads the files from disk, builds the
training set, writes it to Parquet and reports its wall time, its CPU time (user + sys) and
its peak RSS (``ru_maxrss`` of that process; Dask runs in its threads, inside it):

- ``handwritten``: the reference, a Polars ``join_asof`` sorted by event time, the TTL
  filter, the entity rows back in order;
- ``keel``: ``keel.features.training_set`` on the entity glob, the engine Keel picks (Polars);
- ``keel-duckdb``: ``engine="duckdb"``;
- ``keel-dask``: ``engine="dask"``, the entity glob read partition by partition (one per
  file) in Dask's threaded scheduler, written with ``frame.to_parquet``.

Every Keel output is compared with the reference row for row (nulls equal); the run exits 1
if one differs or a peak passes 8 GB.

    .venv/bin/python benchmarks/features/bench_memory.py [--rows-scale 1.0] [--roles ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / "benchmarks" / "data" / "features"

FEATURE_ROWS = 10_000_000
ENTITY_ROWS = 1_000_000
APPLICANTS = 100_000
DAYS = 365
TTL_DAYS = 7
FILES = 10
LIMIT_MB = 8 * 1024
FEATURES = ["a1", "a2", "a3", "a4", "a5"]

DEFINITIONS = """
import datetime as dt

import keel


class Activity(keel.Schema):
    applicant_id: int
    event_time: dt.datetime
    created_at: dt.datetime
    a1: float
    a2: float
    a3: float
    a4: float
    a5: float


applicant = keel.Entity("applicant", keys={"applicant_id": int})
activity = keel.FeatureView(
    "activity", entity=applicant, source="activity", schema=Activity,
    event_time="event_time", created_time="created_at", ttl="7d",
)
model = keel.FeatureService("model", features=[activity])
"""


# -- data -----------------------------------------------------------------------------------
def ensure_data(scale: float) -> Path:
    """The files, written one part at a time (the generator never holds all rows)."""
    import numpy as np
    import polars as pl

    folder = DATA / f"memory-{scale:g}"
    if (folder / "features.py").is_file():
        return folder
    for sub in ("activity", "entities"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    span = DAYS * 86_400_000_000
    per_file, entities_per_file = (int(n * scale) // FILES for n in (FEATURE_ROWS, ENTITY_ROWS))
    for i in range(FILES):
        # unique (applicant, event time): event times are distinct microseconds per file,
        # and each file covers its own slice of the microseconds (i modulo FILES)
        offsets = rng.choice(span // FILES, per_file, replace=False) * FILES + i
        event = start + offsets.astype("timedelta64[us]")
        created = event + rng.integers(0, 7_200_000_000, per_file).astype("timedelta64[us]")
        pl.DataFrame(
            {
                "applicant_id": rng.integers(0, APPLICANTS, per_file),
                "event_time": event,
                "created_at": created,
                **{name: rng.normal(size=per_file) for name in FEATURES},
            }
        ).write_parquet(folder / "activity" / f"part-{i:02d}.parquet")
        when = start + rng.integers(0, span, entities_per_file).astype("timedelta64[us]")
        pl.DataFrame(
            {
                "applicant_id": rng.integers(0, APPLICANTS + APPLICANTS // 10, entities_per_file),
                "timestamp": when,
                "label": rng.integers(0, 2, entities_per_file),
            }
        ).write_parquet(folder / "entities" / f"part-{i:02d}.parquet")
    (folder / "features.py").write_text(DEFINITIONS)
    return folder


# -- the roles (each in its own process) ----------------------------------------------------
def handwritten(folder: Path, output: Path) -> None:
    """The reference: sort the feature rows by event time, ``join_asof`` backward by key,
    null the values older than the TTL, the entity rows back in their order."""
    import datetime as dt

    import polars as pl

    entities = pl.read_parquet(folder / "entities" / "*.parquet").with_row_index("__row")
    rows = (
        pl.read_parquet(folder / "activity" / "*.parquet")
        .select("applicant_id", pl.col("event_time").alias("__event"), *FEATURES)
        .sort("__event")
    )
    out = entities.sort("timestamp").join_asof(
        rows, left_on="timestamp", right_on="__event", by="applicant_id", strategy="backward"
    )
    live = pl.col("__event") >= pl.col("timestamp") - dt.timedelta(days=TTL_DAYS)
    out = out.with_columns(pl.when(live).then(pl.col(c)).alias(c) for c in FEATURES)
    out.drop("__event").sort("__row").drop("__row").write_parquet(output)


def keel_build(folder: Path, output: Path, role: str) -> None:
    from keel.features import load_definitions, training_set

    definitions = load_definitions(folder / "features.py")
    engine = {"keel": "auto", "keel-duckdb": "duckdb", "keel-dask": "dask"}[role]
    built = training_set(
        str(folder / "entities" / "*.parquet"),
        "model",
        definitions=definitions,
        engine=engine,  # type: ignore[arg-type]
    )
    if role == "keel-dask":
        built.frame.to_parquet(
            output, write_index=False, name_function=lambda i: f"part-{i:05d}.parquet"
        )
    else:
        built.frame.write_parquet(output)


def run_role(role: str, folder: Path, output: Path) -> None:
    import polars as pl  # noqa: F401  # imported before the baseline, by every role

    if role.startswith("keel"):
        import keel.features  # noqa: F401
    if role == "keel-dask":
        import dask.dataframe  # noqa: F401
    baseline = _rss_mb()
    started, used = time.perf_counter(), _cpu()
    if role == "handwritten":
        handwritten(folder, output)
    else:
        keel_build(folder, output, role)
    result = {
        "role": role,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - used,
        "peak_mb": _peak_mb(),
        "baseline_mb": baseline,
    }
    print(json.dumps(result))


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- the driver -------------------------------------------------------------------------------
def _spawn(role: str, folder: Path, output: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--role", role, "--folder", str(folder)]
    command += ["--output", str(output)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{role} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _compare(got: Any, reference: Any) -> str:
    """Row-for-row equality with the reference (nulls equal), or how many rows differ."""
    import polars as pl

    if got.height != reference.height:
        return f"NO: {got.height:,} rows of {reference.height:,}"
    got = got.select(reference.columns).cast(dict(reference.schema), strict=False)
    if got.equals(reference):
        return "yes"
    same = pl.all_horizontal(
        got.get_column(c).eq_missing(reference.get_column(c)) for c in reference.columns
    )
    return f"NO: {got.height - int(pl.select(same).to_series().sum()):,} rows differ"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--rows-scale", type=float, default=1.0)
    parser.add_argument("--roles", default="handwritten,keel,keel-duckdb,keel-dask")
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args.folder, args.output)
        return 0

    import polars as pl

    folder = ensure_data(args.rows_scale)
    outputs = Path(tempfile.mkdtemp(prefix="keel-bench-memory-"))
    results = {}
    try:
        for role in args.roles.split(","):
            results[role] = _spawn(role, folder, outputs / f"{role}.parquet")
        reference = pl.read_parquet(outputs / "handwritten.parquet")
        base = results["handwritten"]
        status = 0
        print(f"{'tool':<13} {'time (s)':>9} {'x ref':>6} {'CPU (s)':>8} {'x ref':>6} "
              f"{'peak MB':>8} {'x ref':>6}  equal")  # fmt: skip
        for role, found in results.items():
            got = (
                pl.read_parquet(outputs / f"{role}.parquet" / "*.parquet")
                if (outputs / f"{role}.parquet").is_dir()
                else pl.read_parquet(outputs / f"{role}.parquet")
            )
            shown = _compare(got, reference)
            if role != "handwritten" and (shown != "yes" or found["peak_mb"] > LIMIT_MB):
                status = 1
            print(
                f"{role:<13} {found['seconds']:>9.1f} {found['seconds'] / base['seconds']:>6.2f} "
                f"{found['cpu_seconds']:>8.1f} "
                f"{found['cpu_seconds'] / base['cpu_seconds']:>6.2f} "
                f"{found['peak_mb']:>8.0f} {found['peak_mb'] / base['peak_mb']:>6.2f}  {shown}"
            )
        expired = reference.get_column("a1").null_count() / reference.height
        print(
            f"{reference.height:,} entity rows x {int(FEATURE_ROWS * args.rows_scale):,} "
            f"feature rows; features null in {expired:.0%} of the rows; limit {LIMIT_MB:,} MB"
        )
    finally:
        shutil.rmtree(outputs, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Point-in-time training sets: Keel against a hand-written Polars ``join_asof`` with the TTL
filter (issue 14's reference), on time, peak memory and row-for-row equality.

Data (generated on first use into ``benchmarks/data/features/``, seeded): view ``activity``
of 1M rows with 5 float features (TTL 7 days) and view ``profile`` of 200k rows with 3
features (float, int, text; TTL 30 days), both over 10k applicants and 100 days, with a
created time a little after each event time; and 100k entity rows (keys over 11k
applicants, so some have no features; times over the same 100 days, so some values
expired).

Each measured run is a fresh subprocess (``--role``) that imports its library, reads the
Parquet files, builds the training set once untimed and ``--repeats`` times timed (the
fastest wall and CPU times are kept: the machine may be shared), and writes the last result;
every tool runs ``--rounds`` times, round-robin, and its best round is reported. Peak memory
is the subprocess's peak RSS (``ru_maxrss``) in a separate single-build run, and its growth
over the RSS right after imports. Roles: ``handwritten`` (the reference), ``keel`` (Polars
engine, default), ``keel-duckdb`` (``engine="duckdb"``), and ``keel-recorded`` (``name=``:
content address, dataset version and cache; the timed builds after the first are cache
hits). Every Keel output is compared with the reference, row for row (nulls equal), and the
run exits 1 if one differs.

With ``--roles ...,feast-duckdb,feast-file`` Feast 0.67 runs too, in its own virtualenv
(``bash benchmarks/setup.sh features``; see ``run_feast.py``), with its DuckDB and its default
file offline stores, compared with the same reference (rows it drops or values that differ
are counted, not fatal: the exit status covers Keel only).

    .venv/bin/python benchmarks/features/bench_training_set.py [--repeats 5] [--rows-scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / "benchmarks" / "data" / "features"
FEAST_PYTHON = ROOT / ".venv-bench-features" / "bin" / "python"

APPLICANTS = 10_000
DAYS = 100
ACTIVITY_TTL_DAYS = 7
PROFILE_TTL_DAYS = 30

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


class Profile(keel.Schema):
    applicant_id: int
    event_time: dt.datetime
    created_at: dt.datetime
    income: float
    accounts: int
    region: str


applicant = keel.Entity("applicant", keys={"applicant_id": int})
activity = keel.FeatureView(
    "activity", entity=applicant, source="activity.parquet", schema=Activity,
    event_time="event_time", created_time="created_at", ttl="7d",
)
profile = keel.FeatureView(
    "profile", entity=applicant, source="profile.parquet", schema=Profile,
    event_time="event_time", created_time="created_at", ttl="30d",
)
model = keel.FeatureService("model", features=[activity, profile])
"""


# -- data -----------------------------------------------------------------------------------
def ensure_data(scale: float) -> Path:
    import numpy as np
    import polars as pl

    folder = DATA / f"scale-{scale:g}"
    if (folder / "features.py").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    span = DAYS * 86_400_000_000

    def times(n: int) -> Any:
        return start + rng.integers(0, span, n).astype("timedelta64[us]")

    def rows(n: int) -> pl.DataFrame:
        event = times(n)
        created = event + rng.integers(0, 7_200_000_000, n).astype("timedelta64[us]")
        frame = pl.DataFrame(
            {
                "applicant_id": rng.integers(0, APPLICANTS, n),
                "event_time": event,
                "created_at": created,
            }
        )
        return frame.unique(["applicant_id", "event_time"], keep="first", maintain_order=True)

    n_activity, n_profile, n_entities = (int(x * scale) for x in (1_000_000, 200_000, 100_000))
    activity = rows(n_activity)
    activity = activity.with_columns(
        pl.Series(f"a{i}", rng.normal(size=activity.height)) for i in range(1, 6)
    )
    profile = rows(n_profile)
    profile = profile.with_columns(
        pl.Series("income", rng.lognormal(10, 1, profile.height)),
        pl.Series("accounts", rng.integers(0, 12, profile.height)),
        pl.Series("region", rng.choice(["north", "south", "east", "west"], profile.height)),
    )
    entities = pl.DataFrame(
        {
            "applicant_id": rng.integers(0, APPLICANTS + APPLICANTS // 10, n_entities),
            "timestamp": times(n_entities),
            "label": rng.integers(0, 2, n_entities),
        }
    )
    activity.write_parquet(folder / "activity.parquet")
    profile.write_parquet(folder / "profile.parquet")
    entities.write_parquet(folder / "entities.parquet")
    (folder / "features.py").write_text(DEFINITIONS)
    return folder


# -- the roles (each in its own process) ----------------------------------------------------
def handwritten(folder: Path) -> Any:
    """The reference: per view, sort by event time, ``join_asof`` backward by key, then null
    the values older than the TTL; the entity rows back in their order."""
    import datetime as dt

    import polars as pl

    out = pl.read_parquet(folder / "entities.parquet").with_row_index("__row").sort("timestamp")
    views = [
        ("activity.parquet", ["a1", "a2", "a3", "a4", "a5"], ACTIVITY_TTL_DAYS),
        ("profile.parquet", ["income", "accounts", "region"], PROFILE_TTL_DAYS),
    ]
    for file, features, ttl_days in views:
        rows = (
            pl.read_parquet(folder / file)
            .select("applicant_id", pl.col("event_time").alias("__event"), *features)
            .sort("__event")
        )
        out = out.join_asof(
            rows, left_on="timestamp", right_on="__event", by="applicant_id", strategy="backward"
        )
        live = pl.col("__event") >= pl.col("timestamp") - dt.timedelta(days=ttl_days)
        out = out.with_columns(pl.when(live).then(pl.col(c)).alias(c) for c in features).drop(
            "__event"
        )
    return out.sort("__row").drop("__row")


def keel_build(folder: Path, role: str) -> Any:
    from keel.features import load_definitions, training_set

    definitions = load_definitions(folder / "features.py")
    options: dict[str, Any] = {}
    if role == "keel-duckdb":
        options["engine"] = "duckdb"
    if role == "keel-recorded":
        options["name"] = "bench.training-set"
    built = training_set(
        str(folder / "entities.parquet"), "model", definitions=definitions, **options
    )
    return built.frame


def run_role(role: str, folder: Path, repeats: int, output: Path, memory_only: bool) -> None:
    import polars as pl  # noqa: F401  # imported before the baseline, by every role

    if role.startswith("keel"):
        import keel.features  # noqa: F401
    if role == "keel-recorded":
        os.chdir(tempfile.mkdtemp(prefix="keel-bench-"))
        from keel.config import init_project

        init_project(Path.cwd())
    baseline = _rss_mb()
    build = handwritten if role == "handwritten" else lambda f: keel_build(f, role)
    frame = build(folder)
    times, cpu = [], []
    if not memory_only:
        for _ in range(repeats):
            started, used = time.perf_counter(), _cpu()
            frame = build(folder)
            times.append(time.perf_counter() - started)
            cpu.append(_cpu() - used)
    peak = _peak_mb()
    frame.write_parquet(output)
    result = {
        "role": role,
        "seconds": min(times) if times else None,
        "cpu_seconds": min(cpu) if cpu else None,
        "peak_mb": peak,
        "growth_mb": peak - baseline,
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
def _spawn(
    role: str, folder: Path, repeats: int, output: Path, memory_only: bool
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--folder",
        str(folder),
        "--repeats",
        str(repeats),
        "--output",
        str(output),
    ]
    if memory_only:
        command.append("--memory-only")
    if role.startswith("feast-"):
        command = [
            str(FEAST_PYTHON),
            str(HERE / "run_feast.py"),
            "--folder",
            str(folder),
            "--store",
            role.removeprefix("feast-"),
            "--repeats",
            str(repeats),
            "--output",
            str(output),
        ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{role} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _compare(got: Any, reference: Any) -> tuple[bool, str]:
    """Row-for-row equality with the reference (nulls equal); else what differs."""
    import polars as pl

    if got.height != reference.height:
        return False, f"NO: {got.height:,} rows of {reference.height:,}"
    got = got.select(reference.columns).cast(dict(reference.schema), strict=False)
    if got.equals(reference):
        return True, "yes"
    same = pl.all_horizontal(
        got.get_column(c).eq_missing(reference.get_column(c)) for c in reference.columns
    )
    differ = got.height - int(pl.select(same).to_series().sum())
    return False, f"NO: {differ:,} rows differ"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows-scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--roles", default="handwritten,keel,keel-duckdb,keel-recorded", help="which to run"
    )
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args.folder, args.repeats, args.output, args.memory_only)
        return 0

    import polars as pl

    folder = ensure_data(args.rows_scale)
    outputs = Path(tempfile.mkdtemp(prefix="keel-bench-out-"))
    results: dict[str, dict[str, Any]] = {}
    roles = args.roles.split(",")
    for _ in range(args.rounds):  # round-robin, so a busy moment does not hit one tool only
        for role in roles:
            timed = _spawn(role, folder, args.repeats, outputs / f"{role}.parquet", False)
            memory = _spawn(role, folder, 0, outputs / f"{role}-m.parquet", True)
            seen = results.setdefault(role, {})
            for key, value in (("seconds", timed), ("cpu_seconds", timed), ("peak_mb", memory)):
                seen[key] = min(seen.get(key, float("inf")), value[key])
            seen["growth_mb"] = min(seen.get("growth_mb", float("inf")), memory["growth_mb"])
    reference = pl.read_parquet(outputs / "handwritten.parquet")
    status = 0
    base = results["handwritten"]
    print(f"{'tool':<15} {'time (s)':>9} {'x ref':>6} {'CPU (s)':>8} {'x ref':>6} "
          f"{'peak MB':>8} {'x ref':>6} {'growth MB':>10} {'x ref':>6}  equal")  # fmt: skip
    for role, found in results.items():
        got = pl.read_parquet(outputs / f"{role}.parquet")
        equal, shown = _compare(got, reference)
        if role.startswith("keel"):
            status |= 0 if equal else 1
        print(
            f"{role:<15} {found['seconds']:>9.3f} {found['seconds'] / base['seconds']:>6.2f} "
            f"{found['cpu_seconds']:>8.3f} {found['cpu_seconds'] / base['cpu_seconds']:>6.2f} "
            f"{found['peak_mb']:>8.0f} {found['peak_mb'] / base['peak_mb']:>6.2f} "
            f"{found['growth_mb']:>10.0f} {found['growth_mb'] / base['growth_mb']:>6.2f}  "
            f"{shown}"
        )
    rows = reference.height
    expired = reference.get_column("a1").null_count() / rows
    print(f"{rows:,} entity rows; activity features null in {expired:.0%} of them")
    return status


if __name__ == "__main__":
    sys.exit(main())

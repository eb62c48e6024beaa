"""Training-serving skew: ``keel.features.skew_of`` against a hand-written Polars replay
(``join_asof`` per view with the TTL filter, then a null-aware, tolerant comparison of every
feature), on 100k logged requests x 8 features.

Data: the training-set benchmark's views (``bench_training_set.py``: ``activity``, 1M rows x
5 features, TTL 7 days; ``profile``, 200k rows x 3 features, TTL 30 days; 10k applicants over
100 days) and its 100k entity rows as the logged requests (key, lookup ``time``). The served
values are what the online store would have given, with planted skew: most rows exact (the
offline join at the request time), 10 % served from a snapshot one day older (stale where a
newer row arrived that day, expired where the old value passed its TTL), 2 % of entities
missing from the snapshot (null, status ``missing``).

Both sides run in this process, alternating, ``--repeats`` times; the best wall and CPU
(user + sys of the whole process, all threads) of each are reported with their ratio. The
per-feature differing counts of the two must be equal (exit 1 otherwise); Keel also
classifies each difference (stale, missing, expired, computed differently), which the
reference does not, and none may be ``computed differently`` (none was planted).

    .venv/bin/python benchmarks/features/bench_skew.py [--repeats 3] [--rows-scale 1.0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_training_set import (  # noqa: E402  # the sibling benchmark's data
    ACTIVITY_TTL_DAYS,
    PROFILE_TTL_DAYS,
    ensure_data,
)

VIEWS = [
    ("activity.parquet", ["a1", "a2", "a3", "a4", "a5"], ACTIVITY_TTL_DAYS),
    ("profile.parquet", ["income", "accounts", "region"], PROFILE_TTL_DAYS),
]
FEATURES = [f for _, features, _ in VIEWS for f in features]
TOLERANCE = 1e-9


def join_at(folder: Path, requests: Any, at: str, ttl_from: str | None = None) -> Any:
    """The join of every view for ``requests`` as of column ``at``, values past the TTL at
    column ``ttl_from`` (default: ``at``) nulled, rows in order; with ``ttl_from``, also the
    online store's status per view (``ok``, ``expired``, ``missing``) as ``__status_VIEW``."""
    import polars as pl

    ttl_from = ttl_from or at
    out = requests.with_row_index("__row").sort(at)
    for file, features, ttl_days in VIEWS:
        rows = (
            pl.read_parquet(folder / file)
            .select("applicant_id", pl.col("event_time").alias("__event"), *features)
            .sort("__event")
        )
        out = out.join_asof(
            rows,
            left_on=at,
            right_on="__event",
            by="applicant_id",
            strategy="backward",
            check_sortedness=False,  # both sorted by time above
        )
        live = pl.col("__event") >= pl.col(ttl_from) - dt.timedelta(days=ttl_days)
        status = (
            pl.when(pl.col("__event").is_null())
            .then(pl.lit("missing"))
            .when(live)
            .then(pl.lit("ok"))
            .otherwise(pl.lit("expired"))
        )
        out = out.with_columns(
            *(pl.when(live).then(pl.col(c)).alias(c) for c in features),
            status.alias(f"__status_{file.split('.')[0]}"),
        ).drop("__event")
    return out.sort("__row").drop("__row")


def served_log(folder: Path) -> Any:
    """The logged requests with planted skew (seeded), as a prediction log holds them: what
    the online store serves at the request time from a snapshot taken at the request time
    (most rows) or a day before it (10 %: materialization lag), the TTL applied at the request
    time, and 200 applicants absent from the snapshot."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(6)
    requests = pl.read_parquet(folder / "entities.parquet").select(
        "applicant_id", pl.col("timestamp").alias("time")
    )
    lag = pl.Series(rng.uniform(size=requests.height) < 0.10)
    snapshot = requests.with_columns(
        pl.when(lag)
        .then(pl.col("time") - dt.timedelta(days=1))
        .otherwise(pl.col("time"))
        .alias("__snapshot")
    )
    served = join_at(folder, snapshot, "__snapshot", ttl_from="time").drop("__snapshot")
    absent = pl.Series(rng.choice(10_000, 200, replace=False))  # not in the snapshot
    gone = pl.col("applicant_id").is_in(absent.implode())
    views = {name: file.split(".")[0] for file, names, _ in VIEWS for name in names}
    status = pl.struct(
        pl.when(gone).then(pl.lit("missing")).otherwise(pl.col(f"__status_{v}")).alias(name)
        for name, v in views.items()
    ).struct.json_encode()
    return served.select(
        "applicant_id",
        pl.col("time").dt.replace_time_zone("UTC"),
        *(pl.when(gone).then(None).otherwise(pl.col(c)).alias(c) for c in FEATURES),
        status.alias("feature_status"),
    )


def handwritten(folder: Path, served: Any) -> dict[str, int]:
    """The reference: replay the join at the logged times, count differing values."""
    import polars as pl

    asked = served.select("applicant_id", pl.col("time").dt.replace_time_zone(None))
    offline = join_at(folder, asked, "time")
    counts = {}
    for name in FEATURES:
        a, b = served.get_column(name), offline.get_column(name)
        both = a.is_null() & b.is_null()
        if a.dtype.is_numeric():
            x, y = a.cast(pl.Float64), b.cast(pl.Float64)
            same = (x - y).abs() <= y.abs().clip(lower_bound=1.0) * TOLERANCE
        else:
            same = a == b
        counts[name] = int((~(same.fill_null(False) | both)).sum())
    return counts


def keel_skew(definitions: Any, served: Any) -> Any:
    from keel.features import skew_of

    return skew_of(served, "model", definitions=definitions, tolerance=TOLERANCE)


def best(run: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), os.times()
        result = run()
        c1 = os.times()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, (c1.user - c0.user) + (c1.system - c0.system))
    return wall, cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows-scale", type=float, default=1.0)
    args = parser.parse_args()

    import polars as pl

    from keel.features import load_definitions

    folder = ensure_data(args.rows_scale)
    definitions = load_definitions(folder / "features.py")
    served = served_log(folder)
    print(f"{served.height:,} logged requests x {len(FEATURES)} features; load {os.getloadavg()}")
    keel_skew(definitions, served)  # warm: imports, first reads
    handwritten(folder, served)
    results: dict[str, tuple[float, float, Any]] = {}
    for _ in range(args.repeats):  # alternating, so both see the same load
        for role, run in (
            ("handwritten", lambda: handwritten(folder, served)),
            ("keel", lambda: keel_skew(definitions, served)),
        ):
            wall, cpu, result = best(run, 1)
            held = results.get(role)
            if held is None:
                results[role] = (wall, cpu, result)
            else:
                results[role] = (min(held[0], wall), min(held[1], cpu), result)
    ref_wall, ref_cpu, reference = results["handwritten"]
    keel_wall, keel_cpu, report = results["keel"]
    print(f"{'':<12} {'wall s':>8} {'cpu s':>8}")
    print(f"{'handwritten':<12} {ref_wall:>8.3f} {ref_cpu:>8.3f}")
    print(f"{'keel':<12} {keel_wall:>8.3f} {keel_cpu:>8.3f}")
    print(f"keel / handwritten: wall {keel_wall / ref_wall:.2f}x, cpu {keel_cpu / ref_cpu:.2f}x")
    found = {f.feature: f.differ for f in report.features}
    table = pl.DataFrame(
        {
            "feature": FEATURES,
            "reference differ": [reference[f] for f in FEATURES],
            "keel differ": [found[f] for f in FEATURES],
            **{
                r: [report.feature(f).reasons[r] for f in FEATURES]
                for r in report.features[0].reasons
            },
        }
    )
    with pl.Config(tbl_rows=20, tbl_cols=20, tbl_width_chars=160):
        print(table)
    if found != reference:
        print("DIFFERENT: Keel's differing counts are not the reference's")
        return 1
    print("equal: every feature's differing count matches the reference")
    unplanted = sum(report.feature(f).reasons["computed differently"] for f in FEATURES)
    if unplanted:  # the plant is lag and absence only: every difference has a planted cause
        print(f"{unplanted} difference(s) classified 'computed differently': none was planted")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Validating CSV against Parquet holding the same rows, and a large CSV in bounded memory.

``python benchmarks/contracts/bench_csv.py`` writes the benchmark's loans data (1% of rows
broken) as CSV and as Parquet under ``benchmarks/data/`` (by default 900,000 rows: 127 MB of
CSV), validates each file from its path with ``keel.contracts.check_data`` (what
``keel validate`` runs) in a fresh process, and prints time, peak RSS and the failure counts,
which must agree.

``--large-rows 15000000`` also writes a CSV of 2.2 GB and prints the peak RSS of
validating it (run it once by hand; it takes minutes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import DATA_DIR  # noqa: E402


def _files(rows: int, *, parquet: bool) -> tuple[Path, Path | None]:
    """The dirty loans data with ``rows`` rows as CSV (and Parquet), written in chunks."""
    import polars as pl
    from data import SEED, chunk

    csv = DATA_DIR / f"loans_dirty_{rows}.csv"
    pq = DATA_DIR / f"loans_dirty_{rows}_csv.parquet" if parquet else None
    if csv.exists() and (pq is None or pq.exists()):
        return csv, pq
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    step = 2_000_000
    parts = []
    with csv.open("wb") as out:
        for i, start in enumerate(range(0, rows, step)):
            frame = chunk(min(step, rows - start), start=start, seed=SEED + i, dirty=True)
            frame.write_csv(out, include_header=i == 0)
            if pq is not None:
                parts.append(frame)
    if pq is not None:
        pl.concat(parts).write_parquet(pq)
    return csv, pq


def _one(path: str) -> None:
    """Validate one file in this process; print one JSON line."""
    from run_keel import Loan, violations

    from keel.contracts import check_data

    started = time.perf_counter()
    report = check_data(Loan.__contract__, path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = {k: v for k, v in violations(report).items() if v}
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": report.rows, "found": found}))


def _measure(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--one", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=900_000, help="900,000: 127 MB of CSV")
    parser.add_argument("--large-rows", type=int, default=0, help="15000000: 2.2 GB of CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file; best time kept")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one)
        return
    csv, pq = _files(args.rows, parquet=True)
    assert pq is not None
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for label, path in (("parquet", pq), ("csv", csv)):
            run = _measure(path)
            if label not in best or float(run["seconds"]) < float(best[label]["seconds"]):
                best[label] = run
    size = csv.stat().st_size / 1e6
    print(f"{args.rows:,} rows; CSV {size:.0f} MB, Parquet {pq.stat().st_size / 1e6:.0f} MB")
    for label, run in best.items():
        print(f"  {label:8} {float(run['seconds']):7.2f} s  peak {float(run['peak_mb']):7.0f} MB")
    ratio = float(best["csv"]["seconds"]) / float(best["parquet"]["seconds"])
    print(f"  CSV / Parquet: {ratio:.1f}x")
    if best["csv"]["found"] != best["parquet"]["found"]:
        print(f"verdicts differ: {best['csv']['found']} vs {best['parquet']['found']}")
        sys.exit(1)
    print(f"  same failures: {best['csv']['found']}")
    if args.large_rows:
        large, _ = _files(args.large_rows, parquet=False)
        run = _measure(large)
        print(
            f"{args.large_rows:,} rows; CSV {large.stat().st_size / 1e9:.1f} GB: "
            f"{float(run['seconds']):.1f} s, peak {float(run['peak_mb']):.0f} MB"
        )


if __name__ == "__main__":
    main()

"""``keel contract infer`` on wide data: time and peak RSS for 1k, 4k and 10k integer columns.

``python benchmarks/contracts/bench_wide.py`` writes ``benchmarks/data/wide_<N>.parquet``
(N integer columns x 200 rows, written once) and runs ``keel contract infer`` on each in a
fresh process, printing wall time and peak RSS (target: 10,000 columns in under 30 s and
1 GB). ``--columns 1000,2000`` picks the widths, ``--csv`` infers from CSV instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
ROWS = 200


def _file(columns: int, suffix: str) -> Path:
    path = DATA_DIR / f"wide_{columns}{suffix}"
    if not path.exists():
        import numpy as np
        import polars as pl

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(columns)
        frame = pl.DataFrame({f"c{i}": rng.integers(0, 1_000, ROWS) for i in range(columns)})
        frame.write_parquet(path) if suffix == ".parquet" else frame.write_csv(path)
    return path


def _infer(path: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB; Linux reports KB) of ``keel contract infer PATH``, in a child."""
    keel = [sys.executable, "-m", "keel", "contract", "infer", str(path), "-o", os.devnull]
    started = time.perf_counter()
    child = subprocess.Popen(keel, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"keel contract infer {path} failed (status {status})")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--columns", default="1000,4000,10000")
    parser.add_argument("--csv", action="store_true", help="infer from CSV, not Parquet")
    args = parser.parse_args()
    suffix = ".csv" if args.csv else ".parquet"
    print(f"keel contract infer, {ROWS} rows of integers ({suffix[1:]})")
    for columns in (int(c) for c in args.columns.split(",")):
        seconds, peak = _infer(_file(columns, suffix))
        print(f"  {columns:>6,} columns  {seconds:6.1f} s  peak {peak:6.0f} MB")


if __name__ == "__main__":
    main()

"""What every runner shares: the contract's parameters, the check names, memory and timing.

This module imports only the standard library, so every benchmark virtualenv (including the
Great Expectations one, which has no Polars) can use it. Runners import it by path: they
are run as scripts (``python benchmarks/contracts/run_keel.py ...``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent / "data"

# -- the contract, as plain parameters every tool's schema is written from ----------------
STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
TERMS = (12, 24, 36, 48, 60)
EMAIL = r"^[^@\s]+@[^@\s]+$"
AGE = (18, 100)
OPENED = (dt.date(2010, 1, 1), dt.date(2025, 12, 31))
MIN_ROWS = 1_000

# column -> logical type; income is the only nullable column
COLUMNS = {
    "id": "int",
    "age": "int",
    "income": "float",
    "amount": "float",
    "score": "float",
    "state": "str",
    "email": "str",
    "q10": "float",
    "q50": "float",
    "q90": "float",
    "opened": "date",
    "term": "int",
}
NULLABLE = frozenset({"income"})

# The common check names every tool's failures are mapped to. A value is the number of
# failing rows (unique: rows involved in a duplicate), or 0/1 for dataset-level checks.
CHECKS = (
    "columns",
    "dtypes",
    *(f"not_null:{c}" for c in COLUMNS if c not in NULLABLE),
    "unique:id",
    "range:age",
    "range:income",
    "range:amount",
    "range:score",
    "range:opened",
    "isin:state",
    "isin:term",
    "pattern:email",
    "ordered:q10<=q50<=q90",
    "corr:income,amount>=0",
    "rows>=1000",
)


# fraction of rows broken by each kind of violation (disjoint sets of rows): 1.0% in all
BREAKS = {
    "age": 0.0015,  # age below 18 or above 100
    "income": 0.0005,  # negative income
    "amount": 0.0005,  # amount == 0 (must be > 0)
    "score_null": 0.0010,  # null in a non-nullable column
    "state": 0.0010,  # a state outside the allowed set
    "term": 0.0005,  # term 18 (allowed: 12, 24, 36, 48, 60)
    "email": 0.0020,  # no '@', or a space
    "ordered": 0.0015,  # q50 < q10
    "dup": 0.0010,  # the id of another row
    "opened": 0.0005,  # opened before 2010
}


def broken_counts(rows: int) -> dict[str, int]:
    return {kind: int(rows * frac) for kind, frac in BREAKS.items()}


def expected(rows: int, dirty: bool) -> dict[str, int]:
    """The number of failing rows each common check must report on the generated data."""
    k = broken_counts(rows) if dirty else dict.fromkeys(BREAKS, 0)
    out = dict.fromkeys(CHECKS, 0)
    out["not_null:score"] = k["score_null"]
    out["unique:id"] = 2 * k["dup"]
    for column in ("age", "income", "amount", "opened"):
        out[f"range:{column}"] = k[column]
    out["range:score"] = 0
    out["isin:state"] = k["state"]
    out["isin:term"] = k["term"]
    out["pattern:email"] = k["email"]
    out["ordered:q10<=q50<=q90"] = k["ordered"]
    return out


def complete(counts: dict[str, int], unsupported: tuple[str, ...] = ()) -> dict[str, int | None]:
    """Every common check: its count (0 when the tool reported nothing), None if unsupported."""
    unknown = set(counts) - set(CHECKS)
    if unknown:
        raise ValueError(f"not common check names: {sorted(unknown)}")
    return {n: None if n in unsupported else counts.get(n, 0) for n in CHECKS}


def data_path(variant: str, rows: int) -> Path:
    """Where the generated Parquet file of ``variant`` ("clean" or "dirty") lives."""
    return DATA_DIR / f"loans_{variant}_{rows}.parquet"


# -- memory ------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_mb() -> float:
    """The process's peak resident set (VmHWM) since start or the last reset."""
    return _status_kb("VmHWM") / 1024


def rss_parts_mb() -> tuple[float, float]:
    """(anonymous, file-backed) resident memory; mmapped Parquet pages are file-backed."""
    return _status_kb("RssAnon") / 1024, _status_kb("RssFile") / 1024


class Sampler:
    """Samples RssAnon and RssFile every ``interval`` seconds in a thread (their peaks).

    VmHWM counts file pages that Polars maps from a Parquet file it scans; those pages are
    page cache the kernel can drop, so the anonymous peak is reported beside it.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import threading

        self.interval = interval
        self.anon = self.file = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            anon, file = rss_parts_mb()
            self.anon, self.file = max(self.anon, anon), max(self.file, file)
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        anon, file = rss_parts_mb()
        self.anon, self.file = max(self.anon, anon), max(self.file, file)


def cpu_jiffies() -> tuple[int, int]:
    """(busy jiffies of the whole machine, jiffies used by this process and its threads)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    with open("/proc/self/stat") as f:
        after_name = f.read().rsplit(")", 1)[1].split()
    own = int(after_name[11]) + int(after_name[12])  # utime + stime
    return busy, own


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


# -- the runner protocol -------------------------------------------------------------------
def runner_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--variant", choices=("clean", "dirty"), default="clean")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the first")
    parser.add_argument("--path", help="a Parquet file (default: the generated one)")
    parser.add_argument(
        "--streaming", action="store_true", help="scan the file lazily instead of loading it"
    )
    return parser.parse_args()


def measure(
    tool: str,
    args: argparse.Namespace,
    *,
    load: Callable[[Path], Any],
    validate: Callable[[Any], Any],
    violations: Callable[[Any], dict[str, int | None]],
    versions: dict[str, str],
    notes: str = "",
) -> None:
    """Load the data, validate it ``1 + repeat`` times, print one JSON line with the figures.

    The first validation measures memory: VmHWM is reset after loading, so
    ``extra_mb = peak - rss_after_load`` is what validation added on top of the data (a
    sampling thread also records the peak of anonymous memory alone). ``seconds`` is the
    best of all runs (the first, cold one included; it is also reported alone).
    """
    path = Path(args.path) if args.path else data_path(args.variant, args.rows)
    if not path.exists():
        sys.exit(f"{path} is missing: run benchmarks/contracts/data.py first")
    gc.collect()
    rss_start = rss_mb()
    t0 = time.perf_counter()
    data = load(path)
    load_seconds = time.perf_counter() - t0
    gc.collect()
    rss_loaded = rss_mb()
    anon_loaded, _ = rss_parts_mb()
    resettable = reset_peak()
    with Sampler() as sampled:
        t0 = time.perf_counter()
        result = validate(data)
        first = time.perf_counter() - t0
    peak = peak_mb()
    counts = violations(result)
    del result
    times = []
    busy0, own0 = cpu_jiffies()
    wall0 = time.perf_counter()
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = validate(data)
        times.append(time.perf_counter() - t0)
        del result
    busy1, own1 = cpu_jiffies()
    wall = time.perf_counter() - wall0
    capacity = wall * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
    # CPU that other processes used while the timed runs went on: a noisy-neighbour flag
    # (jiffies are 10 ms: meaningless over much less than a second)
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / capacity if wall > 1.0 else None
    out = {
        "tool": tool,
        "variant": args.variant,
        "rows": args.rows,
        "streaming": bool(args.streaming),
        "seconds": min([first, *times]),
        "first_seconds": first,
        "all_seconds": [round(t, 4) for t in times],
        "load_seconds": load_seconds,
        "data_mb": rss_loaded - rss_start,
        "rss_after_load_mb": rss_loaded,
        "peak_mb": peak,
        "extra_mb": peak - rss_loaded if resettable else None,
        "others_cpu": others,
        "anon_peak_mb": sampled.anon,
        "anon_extra_mb": sampled.anon - anon_loaded,
        "file_peak_mb": sampled.file,
        "violations": counts,
        "versions": versions,
        "notes": notes,
    }
    print("RESULT " + json.dumps(out), flush=True)


def versions_of(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "?"
    return found

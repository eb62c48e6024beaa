"""Drift comparison: Keel against Evidently, NannyML, classical tests and a hand-written PSI/JS.

Synthetic 1M-row reference and current sets of 20 columns (see ``data.py``) in three
scenarios: five columns truly shifted; nothing shifted; the five shifts plus tiny harmless
shifts on five other columns. For every tool and scenario: wall time (reading both Parquet
files included, each tool its own way; data generation excluded), the columns it flags, and
whether they are exactly the truly shifted ones.

Keel, the hand-written single-pass binned PSI/JS reference and the classical KS /
chi-square tests run in this process (Keel's ``.venv``), each ``--repeats`` times with the
order of the tools rotated every round (the median is reported); Evidently and NannyML run
in ``.venv-bench-monitor`` (benchmarks/setup.sh), one subprocess per run. ``--only
keel,handwritten`` runs just those (no peers' venv needed). Also measured:
``Profile.merge_all`` of 1,000 window profiles, and with ``--big`` (opt-in: it writes about
5 GB of temporary data) the peak memory of profiling a 50M-row Parquet file by streaming:
once with the bins computed in a separate process and passed in (the profiling process
alone), and once computing them from the 1M-row reference in the same process.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from data import CATEGORICAL, COLUMNS, NUMERIC, SCENARIOS, TRUTH, ensure, write_large  # noqa: E402

PEER_PYTHON = ROOT / ".venv-bench-monitor" / "bin" / "python"


# -- the tools -----------------------------------------------------------------------------


def keel_tool(reference: Path, current: Path) -> list[str]:
    from keel.monitor import compare

    result = compare(reference, current)
    return [r.column for r in result.columns if r.drifted]


def handwritten_tool(reference: Path, current: Path, bins: int = 10) -> list[str]:
    """Single-pass binned PSI (numeric) / JS distance (categorical), fixed 0.1 thresholds.

    All numeric quantiles in one ``select`` (each column sorted once, the deciles gathered),
    then one ``select`` of bin counts per dataset: sums of ``x >= edge`` indicators.
    """
    ref = pl.read_parquet(reference)
    cur = pl.read_parquet(current)
    n = ref.height
    idx = [min(n - 1, int(n * k / bins)) for k in range(1, bins)]
    q = ref.select([pl.col(c).sort().gather(idx).implode() for c in NUMERIC]).row(0)
    edges = {c: sorted(set(v)) for c, v in zip(NUMERIC, q, strict=True)}

    def counts(frame: pl.DataFrame) -> dict[str, np.ndarray]:
        exprs = [pl.len().alias("rows")]
        for c in NUMERIC:
            exprs += [(pl.col(c) >= e).sum().alias(f"{c}|{j}") for j, e in enumerate(edges[c])]
        row = frame.select(exprs).row(0, named=True)
        out = {}
        for c in NUMERIC:
            ge = [row["rows"]] + [row[f"{c}|{j}"] for j in range(len(edges[c]))] + [0]
            out[c] = -np.diff(np.array(ge, dtype=np.float64))
        return out

    ref_counts, cur_counts = counts(ref), counts(cur)
    flagged = []
    for c in NUMERIC:
        p = ref_counts[c] / ref_counts[c].sum() + 1e-4
        r = cur_counts[c] / cur_counts[c].sum() + 1e-4
        if float(np.sum((r - p) * np.log(r / p))) > 0.1:
            flagged.append(c)
    for c in CATEGORICAL:
        a = dict(ref.get_column(c).value_counts().iter_rows())
        b = dict(cur.get_column(c).value_counts().iter_rows())
        levels = sorted(set(a) | set(b))
        p = np.array([a.get(k, 0) for k in levels], dtype=np.float64)
        r = np.array([b.get(k, 0) for k in levels], dtype=np.float64)
        p, r = p / p.sum(), r / r.sum()
        m = (p + r) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.nansum(np.where(p > 0, p * np.log2(p / m), 0.0))
            kl_r = np.nansum(np.where(r > 0, r * np.log2(r / m), 0.0))
        if math.sqrt(max((kl_p + kl_r) / 2, 0.0)) > 0.1:
            flagged.append(c)
    return flagged


def classical_tool(reference: Path, current: Path) -> list[str]:
    """Per-column two-sample KS (numeric) and chi-square (categorical) tests at 5%."""
    from scipy import stats

    ref = pl.read_parquet(reference)
    cur = pl.read_parquet(current)
    flagged = []
    for c in NUMERIC:
        if stats.ks_2samp(ref[c].to_numpy(), cur[c].to_numpy()).pvalue < 0.05:
            flagged.append(c)
    for c in CATEGORICAL:
        a = dict(ref.get_column(c).value_counts().iter_rows())
        b = dict(cur.get_column(c).value_counts().iter_rows())
        levels = sorted(set(a) | set(b))
        table = np.array([[a.get(k, 0) for k in levels], [b.get(k, 0) for k in levels]])
        if stats.chi2_contingency(table).pvalue < 0.05:
            flagged.append(c)
    return flagged


def peer_tool(name: str) -> Run:
    def run(reference: Path, current: Path) -> tuple[float, list[str], float | None]:
        out = subprocess.run(
            [
                str(PEER_PYTHON),
                str(HERE / "run_peers.py"),
                name,
                str(reference),
                str(current),
                ",".join(CATEGORICAL),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        return result["seconds"], result["flagged"], None

    return run


Run = Callable[[Path, Path], tuple[float, list[str], float | None]]


def timed(fn: Callable[[Path, Path], list[str]]) -> Run:
    """(wall seconds, flagged columns, CPU seconds of this process: all its threads)."""

    def run(reference: Path, current: Path) -> tuple[float, list[str], float | None]:
        start, cpu = time.perf_counter(), time.process_time()
        flagged = fn(reference, current)
        return time.perf_counter() - start, flagged, time.process_time() - cpu

    return run


# -- merging and streaming -----------------------------------------------------------------


def bench_merge(
    reference: Path, windows: int, rows: int, repeats: int
) -> tuple[float, float, float]:
    """(median wall and CPU seconds of merge_all over ``windows`` profiles, seconds to make
    them)."""
    from keel.monitor import Profile, profile, reference_bins

    bins = reference_bins(reference)
    frame = pl.read_parquet(reference)
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    profiles = []
    for _ in range(windows):
        offset = int(rng.integers(0, frame.height - rows))
        profiles.append(profile(frame.slice(offset, rows), bins))
    made = time.perf_counter() - start
    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        merged = Profile.merge_all(profiles)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    assert merged.rows == windows * rows
    return statistics.median(times), statistics.median(cpus), made


_BINS_CHILD = """
import json, sys
from keel.monitor import reference_bins
bins = reference_bins(sys.argv[1])
with open(sys.argv[2], "w") as out:
    json.dump({name: b.to_dict() for name, b in bins.items()}, out)
"""

_STREAM_CHILD = """
import json, resource, sys, time
from keel.monitor import Bins, profile, reference_bins
start = time.perf_counter()
if sys.argv[1] == "bins":
    with open(sys.argv[2]) as saved:
        bins = {name: Bins.from_dict(b) for name, b in json.load(saved).items()}
else:
    bins = reference_bins(sys.argv[2])
p = profile(sys.argv[3], bins)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
print(json.dumps({"seconds": time.perf_counter() - start, "rows": p.rows, "peak_gb": peak}))
"""


def bench_stream(folder: Path, reference: Path, rows: int) -> dict[str, tuple[float, float]]:
    """Profile a ``rows``-row Parquet file by streaming, in child processes.

    ``"apart"``: the bins are computed from the 1M-row reference in another process and
    passed in as JSON, so the figure is the profiling process's alone; ``"together"``: the
    same process computes them first (exact quantiles hold the reference in memory). Each
    is (peak RSS of the child in GB, seconds). Also ``"file"``: (GB on disk, rows).
    """
    big = folder / f"stream-{rows}.parquet"
    saved = folder / "stream-bins.json"
    try:
        write_large(big, rows)
        size = big.stat().st_size / 1e9
        subprocess.run([sys.executable, "-c", _BINS_CHILD, str(reference), str(saved)], check=True)
        found: dict[str, tuple[float, float]] = {"file": (size, float(rows))}
        for name, args in (("apart", ["bins", str(saved)]), ("together", ["raw", str(reference)])):
            out = subprocess.run(
                [sys.executable, "-c", _STREAM_CHILD, *args, str(big)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            assert result["rows"] == rows
            found[name] = (result["peak_gb"], result["seconds"])
        return found
    finally:
        big.unlink(missing_ok=True)
        saved.unlink(missing_ok=True)


# -- report --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each in-process tool")
    parser.add_argument("--peer-repeats", type=int, default=1, help="runs of Evidently/NannyML")
    parser.add_argument(
        "--tools",
        "--only",
        default="keel,handwritten,classical,nannyml,evidently",
        help="comma-separated tools to run, e.g. --only keel,handwritten",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--window-rows", type=int, default=1000)
    parser.add_argument(
        "--big", action="store_true", help="also profile a 50M-row file (writes ~5 GB)"
    )
    parser.add_argument("--stream-rows", type=int, default=50_000_000, help="rows with --big")
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "monitor")
    args = parser.parse_args()

    files = ensure(args.data, args.rows)
    tools: dict[str, tuple[str, Run, int]] = {
        "keel": ("Keel `compare`", timed(keel_tool), args.repeats),
        "handwritten": ("hand-written PSI/JS", timed(handwritten_tool), args.repeats),
        "classical": ("KS / chi-square at 5%", timed(classical_tool), args.repeats),
        "nannyml": ("NannyML univariate drift", peer_tool("nannyml"), args.peer_repeats),
        "evidently": ("Evidently DataDriftPreset", peer_tool("evidently"), args.peer_repeats),
    }
    chosen = [t for t in args.tools.split(",") if t]
    scenarios = [s for s in args.scenarios.split(",") if s]
    if not PEER_PYTHON.exists():
        print(f"note: {PEER_PYTHON} missing; skipping Evidently and NannyML", file=sys.stderr)
        chosen = [t for t in chosen if t not in ("nannyml", "evidently")]

    seconds: dict[tuple[str, str], float] = {}
    cpu_seconds: dict[tuple[str, str], float] = {}
    flags: dict[tuple[str, str], list[str]] = {}
    for scenario in scenarios:
        reference, current = files[scenario]
        times: dict[str, list[float]] = {tool: [] for tool in chosen}
        cpus: dict[str, list[float]] = {tool: [] for tool in chosen}
        failed: set[str] = set()
        for round_ in range(max((tools[t][2] for t in chosen), default=0)):
            shift = round_ % len(chosen)  # rotate the order every round
            for tool in chosen[shift:] + chosen[:shift]:
                label, fn, repeats = tools[tool]
                if tool in failed or len(times[tool]) >= repeats:
                    continue
                try:
                    t, flagged, cpu = fn(reference, current)
                except Exception as exc:  # a peer that fails is reported, not fatal
                    print(f"{label} / {scenario}: {exc}", file=sys.stderr)
                    failed.add(tool)
                    continue
                times[tool].append(t)
                if cpu is not None:
                    cpus[tool].append(cpu)
                flags[tool, scenario] = sorted(flagged)
        for tool in chosen:
            if times[tool] and tool not in failed:
                seconds[tool, scenario] = statistics.median(times[tool])
                runs = ", ".join(f"{t:.2f}" for t in times[tool])
                print(f"  {tools[tool][0]} / {scenario}: {runs} s", file=sys.stderr)
                if cpus[tool]:
                    cpu_seconds[tool, scenario] = statistics.median(cpus[tool])
            else:
                flags.pop((tool, scenario), None)

    labels = {k: v[0] for k, v in tools.items()}
    print_times(args.rows, chosen, scenarios, seconds, labels)
    if cpu_seconds:
        print("\nCPU seconds of the process (all threads; less sensitive to other load):\n")
        in_process = [t for t in chosen if any((t, s) in cpu_seconds for s in scenarios)]
        print_times(args.rows, in_process, scenarios, cpu_seconds, labels, heading=False)
    print_flags(chosen, scenarios, flags, labels)
    extras(args, files)


def print_times(
    rows: int,
    chosen: list[str],
    scenarios: list[str],
    seconds: dict[tuple[str, str], float],
    labels: dict[str, str],
    *,
    heading: bool = True,
) -> None:
    if heading:
        print(f"\n### Drift comparison, {rows:,} rows x {len(COLUMNS)} columns per side\n")
    print("| tool | " + " | ".join(scenarios) + " | ÷ Keel |")
    print("|---|" + "---:|" * (len(scenarios) + 1))
    for tool in chosen:
        cells, ratios = [], []
        for s in scenarios:
            if (tool, s) in seconds:
                cells.append(f"{seconds[tool, s]:.2f} s")
                if ("keel", s) in seconds:
                    ratios.append(seconds[tool, s] / seconds["keel", s])
            else:
                cells.append("failed")
        ratio = f"{min(ratios):.1f}-{max(ratios):.1f}x" if ratios else "-"
        print(f"| {labels[tool]} | " + " | ".join(cells) + f" | {ratio} |")


def print_flags(
    chosen: list[str],
    scenarios: list[str],
    flags: dict[tuple[str, str], list[str]],
    labels: dict[str, str],
) -> None:
    print("\n### Columns flagged (truth: " + ", ".join(TRUTH["shift5"]) + " in the shifted ")
    print("scenarios, none otherwise; ✔ = exactly the truth)\n")
    print("| tool | " + " | ".join(scenarios) + " |")
    print("|---|" + "---|" * len(scenarios))
    for tool in chosen:
        cells = []
        for s in scenarios:
            if (tool, s) not in flags:
                cells.append("failed")
                continue
            got, truth = flags[tool, s], sorted(TRUTH[s])
            extra = [c for c in got if c not in truth]
            missed = [c for c in truth if c not in got]
            if not extra and not missed:
                cells.append(f"✔ {len(got)} flagged")
            else:
                parts = []
                if extra:
                    parts.append("false alarms: " + ", ".join(extra))
                if missed:
                    parts.append("missed: " + ", ".join(missed))
                cells.append("✘ " + "; ".join(parts))
        print(f"| {labels[tool]} | " + " | ".join(cells) + " |")


def extras(args: argparse.Namespace, files: dict[str, tuple[Path, Path]]) -> None:
    if args.windows:
        merge, cpu, made = bench_merge(files["none"][0], args.windows, args.window_rows, 5)
        print(f"\n### Merging window profiles\n\n`Profile.merge_all` of {args.windows:,} profiles ")
        print(f"({len(COLUMNS)} columns, {args.window_rows:,}-row windows): {merge * 1000:.1f} ms ")
        print(f"({cpu * 1000:.1f} ms CPU; median of 5; making the {args.windows:,} profiles took ")
        print(f"{made:.1f} s)")

    if args.big:
        free = shutil.disk_usage(args.data).free / 1e9
        need = args.stream_rows * 100 / 1e9
        if free < need + 5:
            print(f"\nskipping the streaming run: {free:.0f} GB free, ~{need:.0f} GB needed")
        else:
            found = bench_stream(args.data, files["none"][0], args.stream_rows)
            size, rows = found["file"]
            (apart, apart_s), (together, together_s) = found["apart"], found["together"]
            print(f"\n### Streaming profile\n\n`profile` of a {int(rows):,}-row Parquet file ")
            print(f"({len(COLUMNS)} columns, {size:.1f} GB), peak RSS of the profiling process:")
            print(f"{apart:.2f} GB ({apart_s:.1f} s) with the bins computed in another process")
            print(f"and passed in; {together:.2f} GB ({together_s:.1f} s) computing them from the")
            print("1M-row reference in the same process first.")


if __name__ == "__main__":
    main()

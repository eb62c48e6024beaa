"""Keel's data contracts against the hand-written Polars query and peer libraries.

    python benchmarks/contracts/bench_contracts.py                  # 10M rows, clean + dirty
    python benchmarks/contracts/bench_contracts.py --streaming      # + the 50M-row file
    python benchmarks/contracts/bench_contracts.py --rows 1000000 --tools keel,hand-written

Each tool runs in its own subprocess and virtualenv (``run_<tool>.py``), loads the Parquet
file into memory, validates it once (the peak memory run, also the warm-up) and then
``--repeat`` times (the best time is reported). The table gives seconds, the ratio to the
hand-written query (the practical limit), how many times slower than Keel each peer is, and
the memory validation added on top of the loaded data. Every tool's failure counts, mapped to
common check names, must equal the counts the generator planted (exit status 1 otherwise).

Needs the virtualenvs of ``benchmarks/setup.sh``. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHECKS, DATA_DIR, data_path, expected

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

VENV = {
    "keel": ROOT / ".venv",
    "bench": ROOT / ".venv-bench",
    "ge": ROOT / ".venv-bench-ge",
}
# tool -> (runner script, virtualenv); Keel and the hand-written query share Keel's venv
TOOLS = {
    "keel": ("run_keel.py", "keel"),
    "hand-written": ("run_handwritten.py", "keel"),
    "pandera-polars": ("run_pandera_polars.py", "bench"),
    "dataframely": ("run_dataframely.py", "bench"),
    "pandera-pandas": ("run_pandera_pandas.py", "bench"),
    "great-expectations": ("run_ge.py", "ge"),
}
SLOW = ("pandera-pandas", "great-expectations")
# the targets: Keel at least this many times faster than each peer
TARGET_SPEEDUP = {
    "pandera-polars": 1.8,
    "dataframely": 1.8,
    "pandera-pandas": 3.0,
    "great-expectations": 30.0,
}
TARGET_VS_HAND = 1.25
BUSY = 0.10  # flag runs during which other processes used more than this share of the CPU
QUIET_WAIT = 600.0  # seconds to wait for a quiet machine before each run
TARGET_EXTRA_MB = 300
TARGET_STREAM_PEAK_MB = 3 * 1024


def python_of(venv: str) -> Path:
    python = VENV[venv] / "bin" / "python"
    if venv == "keel" and not python.exists():  # Keel is installed (editable) there too
        python = VENV["bench"] / "bin" / "python"
    if not python.exists():
        sys.exit(f"{python} is missing: run benchmarks/setup.sh first")
    return python


def run_tool(
    tool: str, variant: str, rows: int, repeat: int, streaming: bool = False
) -> dict[str, Any]:
    script, venv = TOOLS[tool]
    cmd = [str(python_of(venv)), str(HERE / script), "--variant", variant, "--rows", str(rows)]
    cmd += ["--repeat", str(repeat)] + (["--streaming"] if streaming else [])
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        sys.exit(f"{tool} failed (exit {proc.returncode}): {' '.join(cmd)}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["wall_seconds"] = wall
    print(
        f"  {tool:<19} {variant:<5} {rows:>11,} rows  {result['seconds']:8.3f} s"
        f"  (first {result['first_seconds']:.3f} s, runs {result['all_seconds']})"
        f"  extra {fmt_mb(result['extra_mb'])}"
        + (f"  others' CPU {result['others_cpu']:.0%}" if result.get("others_cpu") else ""),
        flush=True,
    )
    return result


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MB"


def ensure_data(rows: list[int], streaming_rows: int, streaming_variants: list[str]) -> None:
    missing = [r for r in rows for v in ("clean", "dirty") if not data_path(v, r).exists()]
    cmd = [str(python_of("keel")), str(HERE / "data.py"), "--rows", *map(str, sorted(set(rows)))]
    to_stream = [v for v in streaming_variants if not data_path(v, streaming_rows).exists()]
    if to_stream:
        cmd += [
            "--streaming-rows",
            str(streaming_rows),
            "--streaming-variants",
            ",".join(to_stream),
        ]
    elif not missing:
        return
    print("generating data:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)


def compare(result: dict[str, Any], want: dict[str, int]) -> list[str]:
    """The common checks where the tool's count differs from the planted violations."""
    got = result["violations"]
    wrong = []
    for name in CHECKS:
        if got.get(name) is None:  # the tool cannot express this check
            continue
        if got[name] != want[name]:
            wrong.append(f"{name}: {got[name]} (expected {want[name]})")
    return wrong


def table(results: list[dict[str, Any]], rows: int) -> list[str]:
    """Markdown table for one variant; peers measured on fewer rows are scaled and starred."""
    by_tool = {(r["tool"], r["rows"]): r for r in results}
    hand = by_tool[("hand-written", rows)]
    keel = by_tool.get(("keel", rows))
    out = [
        "| tool | seconds | first run | ÷ hand-written | ÷ Keel | extra memory | same violations |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r["rows"] != rows and r["tool"] in ("keel", "hand-written"):
            continue  # same-size references for scaled peers, shown in the notes below
        scale = rows / r["rows"]
        seconds = r["seconds"] * scale
        star = "" if scale == 1 else f" * (measured on {r['rows']:,} rows x{scale:g})"
        vs_hand = seconds / hand["seconds"]
        vs_keel = "—" if keel is None or r["tool"] == "keel" else f"{seconds / keel['seconds']:.2f}"
        same = "yes" if not r["mismatches"] else "NO: " + "; ".join(r["mismatches"])
        na = [n for n, v in r["violations"].items() if v is None]
        if na and not r["mismatches"]:
            same += f" ({', '.join(na)}: n/a)"
        out.append(
            f"| {r['tool']}{star} | {seconds:.3f} | {r['first_seconds'] * scale:.3f} | "
            f"{vs_hand:.2f} | {vs_keel} | "
            f"{fmt_mb(r['extra_mb'])} | {same} |"
        )
    return out


def verdicts(results: dict[str, list[dict[str, Any]]], rows: int) -> list[str]:
    lines = []
    for variant, rs in results.items():
        at = {r["tool"]: r for r in rs if r["rows"] == rows}
        same_size = {(r["tool"], r["rows"]): r for r in rs}
        if "keel" not in at or "hand-written" not in at:
            continue
        keel, hand = at["keel"], at["hand-written"]
        ratio = keel["seconds"] / hand["seconds"]
        lines.append(
            f"- [{'met' if ratio <= TARGET_VS_HAND else 'MISSED'}] {variant}: Keel within "
            f"{TARGET_VS_HAND}x of hand-written: {ratio:.2f}x"
        )
        if keel["extra_mb"] is not None:
            ok = keel["extra_mb"] < TARGET_EXTRA_MB
            lines.append(
                f"- [{'met' if ok else 'MISSED'}] {variant}: Keel's extra memory under "
                f"{TARGET_EXTRA_MB} MB: {keel['extra_mb']:.0f} MB"
            )
        for tool, target in TARGET_SPEEDUP.items():
            peer = next((r for r in rs if r["tool"] == tool), None)
            if peer is None:
                continue
            ref = same_size.get(("keel", peer["rows"]), keel)
            speedup = peer["seconds"] / ref["seconds"]
            where = "" if peer["rows"] == rows else f" (both at {peer['rows']:,} rows)"
            lines.append(
                f"- [{'met' if speedup >= target else 'MISSED'}] {variant}: Keel ≥ {target}x "
                f"faster than {tool}: {speedup:.2f}x{where}"
            )
    return lines


def streaming_part(rows: int, variant: str, repeat: int) -> tuple[list[str], list[dict[str, Any]]]:
    print(f"\n== streaming: {rows:,}-row {variant} Parquet file, pl.scan_parquet ==", flush=True)
    results = [run_tool(t, variant, rows, repeat, streaming=True) for t in ("keel", "hand-written")]
    want = expected(rows, dirty=variant == "dirty")
    size = data_path(variant, rows).stat().st_size / 1e9
    out = [
        f"{rows:,} rows, {size:.1f} GB Parquet on disk, {variant}; peak RSS = VmHWM of the "
        "whole process (anonymous memory alone in brackets)",
        "",
        "| tool | seconds | first run | ÷ hand-written | peak RSS | same violations |",
        "|---|---:|---:|---:|---:|---|",
    ]
    hand = results[1]["seconds"]
    ok = True
    for r in results:
        wrong = r["mismatches"] = compare(r, want)
        ok = ok and not wrong
        out.append(
            f"| {r['tool']} | {r['seconds']:.2f} | {r['first_seconds']:.2f} | "
            f"{r['seconds'] / hand:.2f} | {fmt_mb(r['peak_mb'])} ({fmt_mb(r['anon_peak_mb'])}) | "
            f"{'yes' if not wrong else 'NO: ' + '; '.join(wrong)} |"
        )
    peak = results[0]["peak_mb"]
    out += [
        "",
        f"- [{'met' if peak < TARGET_STREAM_PEAK_MB else 'MISSED'}] {variant}: Keel's peak memory "
        f"streaming {rows:,} rows under 3 GB: {peak:,.0f} MB",
    ]
    if not ok:
        out.append("- VIOLATION COUNTS DIFFER (see above)")
    return out, results


def versions(results: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, str] = {}
    for r in results:
        for name, version in r["versions"].items():
            seen.setdefault(name, version)
            if seen[name] != version:
                seen[name] += f" / {version}"
    return [f"{k} {v}" for k, v in sorted(seen.items())]


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds of one tool: the fastest round's figures, the largest memory figures."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    for key in ("extra_mb", "anon_extra_mb", "peak_mb", "anon_peak_mb"):
        values = [r[key] for r in runs if r.get(key) is not None]
        best[key] = max(values) if values else None
    best["rounds"] = [round(r["seconds"], 4) for r in runs]
    return best


def in_memory_part(
    args: argparse.Namespace, variant: str, tools: list[str], slow_rows: int
) -> tuple[list[str], list[dict[str, Any]]]:
    print(f"\n== {variant} data ==", flush=True)
    plan = []
    for tool in tools:
        slow = tool in SLOW
        plan.append(
            (tool, slow_rows if slow else args.rows, args.slow_repeat if slow else args.repeat)
        )
    if slow_rows != args.rows:  # same-size references for the scaled peers
        plan += [(t, slow_rows, args.repeat) for t in ("keel", "hand-written") if t in tools]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):  # round-robin, so a burst of background load hits one round
        for tool, rows, repeat in plan:
            runs.setdefault((tool, rows), []).append(run_tool(tool, variant, rows, repeat))
    results = [best_of(rs) for rs in runs.values()]
    for r in results:
        r["mismatches"] = [
            m
            for run in runs[(r["tool"], r["rows"])]
            for m in compare(run, expected(r["rows"], variant == "dirty"))
        ]
    lines = [f"\n### {variant} data, {args.rows:,} rows\n", *table(results, args.rows)]
    small = [f"{r['tool']} {r['seconds']:.3f} s" for r in results if r["rows"] != args.rows]
    if small:
        lines.append(f"\n\\* scaled linearly; measured at {slow_rows:,} rows: " + ", ".join(small))
    busy = [r["tool"] for r in results if (r.get("others_cpu") or 0) > BUSY]
    if busy:
        lines.append(
            f"\n⚠ other processes used > {BUSY:.0%} of the CPU during the best runs of: "
            + ", ".join(busy)
            + " (their figures are likely too slow)"
        )
    return lines, results


def source_fingerprint() -> str:
    """A short hash of Keel's contracts source: which Keel the figures belong to."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "keel" / "contracts").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    text = digest.hexdigest()[:12]
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "src"], check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return text
    return f"{text} (commit {head}{' + uncommitted changes' if changed else ''})"


def memory_gb() -> float:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--slow-rows",
        type=int,
        default=0,
        help="measure pandera-pandas and Great Expectations on this many rows and scale "
        "their times to --rows (default: --rows)",
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--variants", default="clean,dirty")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after the first")
    parser.add_argument("--slow-repeat", type=int, default=2, help="--repeat for slow peers")
    parser.add_argument(
        "--rounds", type=int, default=2, help="run every tool this many times, round-robin"
    )
    parser.add_argument("--streaming", action="store_true", help="also run the streaming part")
    parser.add_argument("--streaming-only", action="store_true")
    parser.add_argument("--streaming-rows", type=int, default=50_000_000)
    parser.add_argument("--streaming-variants", default="clean", help="clean, dirty or clean,dirty")
    parser.add_argument("--streaming-repeat", type=int, default=1)
    parser.add_argument(
        "--out", default=str(DATA_DIR / "results.json"), help="where to save every figure"
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        sys.exit(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    if "hand-written" not in tools:
        tools.insert(0, "hand-written")  # the reference every ratio needs
    slow_rows = args.slow_rows or args.rows
    rows_needed = [args.rows] + ([slow_rows] if any(t in SLOW for t in tools) else [])
    streaming = args.streaming or args.streaming_only
    stream_variants = [v for v in args.streaming_variants.split(",") if v] if streaming else []
    ensure_data([] if args.streaming_only else rows_needed, args.streaming_rows, stream_variants)

    print(
        f"# Keel contracts benchmark — {dt.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, "
        f"{os.cpu_count()} cores, {memory_gb():.0f} GB, Python {platform.python_version()}, "
        f"Keel source {source_fingerprint()}",
        flush=True,
    )
    report: list[str] = []
    all_results: dict[str, list[dict[str, Any]]] = {}
    if not args.streaming_only:
        for variant in args.variants.split(","):
            lines, all_results[variant] = in_memory_part(args, variant, tools, slow_rows)
            report += lines
        report += ["\n### Targets of the issue\n", *verdicts(all_results, args.rows)]
    for variant in stream_variants:
        lines, all_results[f"streaming-{variant}"] = streaming_part(
            args.streaming_rows, variant, args.streaming_repeat
        )
        report += [f"\n### Streaming, {variant} data\n", *lines]
    failed = any(r["mismatches"] for rs in all_results.values() for r in rs)
    flat = [r for v, rs in all_results.items() if not v.startswith("streaming") for r in rs]
    if flat:
        report += ["\nVersions: " + ", ".join(versions(flat))]
    print("\n".join(report))
    print(
        "\nall tools found the planted violations"
        if not failed
        else "\nSOME TOOL'S VIOLATION COUNTS DIFFER FROM THE PLANTED ONES"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(all_results, indent=1, default=str))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

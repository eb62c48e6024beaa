"""``keel ui`` at scale: cold start, memory, and server time of its pages over 10,000 runs.

Builds a store of N runs (default 10,000), each with 50 params and 50 metrics, through the
public store API, then starts ``keel ui`` as a user does (``python -m keel ui``) and measures:

- cold start: from launching the process to the first answered request (the issue: < 1.5 s);
- resident memory of the server after every page below was served (< 300 MB);
- the runs page (HTML) and ``/api/runs`` first page of 50, newest first (< 300 ms);
- the same, sorted by a metric, and filtered by a metric and a param (< 300 ms);
- comparing 50 runs, page and API (< 1 s);
- the overview (< 300 ms; here over the 10,000-run store, not the demo's).

Each figure is the median of ``--repeat`` requests (after one warm-up) over loopback HTTP,
so it includes the HTTP round trip (about 1 ms); the server's CPU time per request (from
/proc) is printed beside it, the figure that holds on a busy machine. Run with the project's venv:
``.venv/bin/python benchmarks/ui/bench_ui.py``.

Side by side with MLflow: when ``.venv-bench-ui`` exists (``bash benchmarks/setup.sh ui``),
the same runs are logged into MLflow's SQLite store (once, next to Keel's, by
``mlflow_peer.py`` in MLflow's own venv), ``mlflow server`` is started the same way and its
REST search, its web UI's search and its compare page's reads are timed; both sides are
printed together with MLflow ÷ Keel ratios. ``--no-mlflow`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PARAMS = 50
METRICS = 50


def build(root: Path, runs: int) -> list[str]:
    """N finished runs of 50 params and 50 metrics (the last at 3 steps: curves to draw)."""
    from keel.config import init_project
    from keel.store import Metric
    from keel.tracking import open_project

    init_project(root, name="bench-ui")
    store = open_project(root).metadata
    ids = []
    start = time.perf_counter()
    for i in range(runs):
        params = {f"p{k:02d}": (i * 7 + k) % 97 for k in range(PARAMS)}
        params["model"] = ("rf", "lr", "gbm")[i % 3]
        run_id = store.create_run(f"run-{i}", experiment="bench", params=params)
        values = [Metric(f"m{k:02d}", ((i * 31 + k * 17) % 1000) / 1000) for k in range(METRICS)]
        values += [Metric("loss", 1.0 / (s + 1 + i % 10), step=s) for s in range(3)]
        store.log_metrics(run_id, values)
        store.finish_run(run_id, "finished")
        ids.append(run_id)
        if i and i % 2000 == 0:
            print(f"  {i:,} runs logged ({time.perf_counter() - start:.0f} s)", flush=True)
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--store", type=Path, help="reuse (or build once) a project here")
    parser.add_argument("--no-mlflow", action="store_true", help="measure keel ui alone")
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="keel-bench-ui-"))
    if not (root / "keel.toml").is_file():
        root.mkdir(parents=True, exist_ok=True)
        print(f"building {args.runs:,} runs x {PARAMS} params x {METRICS} metrics in {root}")
        t = time.perf_counter()
        build(root, args.runs)
        print(f"  built in {time.perf_counter() - t:.0f} s")
    from keel.tracking import open_project

    store = open_project(root).metadata
    fifty = [r.id for r in store.search_runs(limit=50).runs]
    store.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NO_COLOR": "1"}
    launched = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "ui", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                get(base + "/how")
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("keel ui exited")
                time.sleep(0.01)
        cold = time.perf_counter() - launched
        cold_cpu = cpu_seconds(server.pid)
        compare = "&".join(f"ids={i}" for i in fifty)
        cases = {
            "runs page (HTML), first 50": "/runs",
            "/api/runs, first 50": "/api/runs",
            "runs page sorted by a metric": "/runs?order_by=metrics.m07",
            "/api/runs sorted by a metric": "/api/runs?order_by=metrics.m07&desc=false",
            "/api/runs filtered (metric and param)": (
                "/api/runs?where=metrics.m03+%3E+0.5+and+params.model+%3D+rf&order_by=metrics.m03"
            ),
            "compare 50 runs (HTML)": "/compare?" + compare,
            "/api/compare, 50 runs": "/api/compare?" + compare,
            "overview (HTML)": "/",
            "/api/kpis": "/api/kpis",
        }
        rows = []
        for label, path in cases.items():
            get(base + path)  # warm-up
            used = cpu_seconds(server.pid)
            times = [get(base + path) for _ in range(args.repeat)]
            cpu = (cpu_seconds(server.pid) - used) / args.repeat
            rows.append((label, statistics.median(times) * 1000, cpu * 1000))
        memory = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(10)
    print(f"\nkeel ui over {args.runs:,} runs x {PARAMS} params x {METRICS} metrics (SQLite)")
    print(f"cold start to first answer: {cold * 1000:.0f} ms ({cold_cpu * 1000:.0f} ms of CPU)")
    print(f"resident memory after the pages below: {memory:.0f} MB")
    print(f"load average when it ran: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'request':<42} {'median wall':>12} {'server CPU':>12}")
    for label, ms, cpu in rows:
        print(f"{label:<42} {ms:>9.1f} ms {cpu:>9.1f} ms")
    peer = Path(__file__).resolve().parents[2] / ".venv-bench-ui" / "bin" / "python"
    if args.no_mlflow:
        return
    if not peer.exists():
        print("\nMLflow side skipped: run `bash benchmarks/setup.sh ui` to create .venv-bench-ui")
        return
    keel = {label: (ms, cpu) for label, ms, cpu in rows}
    keel["cold"] = (cold * 1000, cold_cpu * 1000)
    side_by_side(peer, root / "mlflow", args, keel, memory)


# Keel's request, and the MLflow request that answers the same question (mlflow_peer.py)
PAIRS = [
    ("cold start to the first answer", "cold", "cold"),
    ("first 50 runs (JSON API)", "/api/runs, first 50", "first"),
    ("sorted by a metric (JSON API)", "/api/runs sorted by a metric", "sorted"),
    ("filtered by a metric and a param", "/api/runs filtered (metric and param)", "filtered"),
    ("runs page (Keel HTML / MLflow UI search)", "runs page (HTML), first 50", "ui first"),
    ("runs page sorted by a metric", "runs page sorted by a metric", "ui sorted"),
    ("compare 50 runs (page / UI's reads)", "compare 50 runs (HTML)", "compare"),
]


def side_by_side(
    peer: Path,
    folder: Path,
    args: argparse.Namespace,
    keel: dict[str, tuple[float, float]],
    keel_memory: float,
) -> None:
    """Log the same runs into MLflow (once), time ``mlflow server``, print both with ratios."""
    script = str(Path(__file__).with_name("mlflow_peer.py"))
    done = folder / "runs.txt"
    if not done.is_file() or done.read_text() != str(args.runs):
        print(f"\nlogging the same {args.runs:,} runs into MLflow's SQLite store in {folder}")
        subprocess.run([str(peer), script, "build", str(folder), "--runs", str(args.runs)],
                       check=True)  # fmt: skip
    measured = subprocess.run(
        [str(peer), script, "measure", str(folder), "--repeat", str(args.repeat)],
        check=True,
        capture_output=True,
        text=True,
    )
    mlflow = json.loads(measured.stdout.strip().splitlines()[-1])
    found = {k: (v["wall_ms"], v["cpu_ms"]) for k, v in mlflow["requests"].items()}
    found["cold"] = (mlflow["cold_s"] * 1000, mlflow["cold_cpu_s"] * 1000)
    print(f"\nside by side with mlflow server (one worker, SQLite), {args.runs:,} runs")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    head = f"{'question':<42} {'Keel wall':>10} {'MLflow wall':>12} {'ratio':>7}"
    print(f"{head} {'Keel CPU':>10} {'MLflow CPU':>11} {'ratio':>7}")
    for title, ours, theirs in PAIRS:
        (kw, kc), (mw, mc) = keel[ours], found[theirs]
        print(
            f"{title:<42} {kw:>7.0f} ms {mw:>9.0f} ms {mw / kw:>6.1f}x"
            f" {kc:>7.0f} ms {mc:>8.0f} ms {mc / max(kc, 1e-9):>6.1f}x"
        )
    print(
        f"resident memory: Keel {keel_memory:.0f} MB, MLflow {mlflow['rss_mb']:.0f} MB (every"
        f" process of mlflow server) = {mlflow['rss_mb'] / keel_memory:.1f}x"
    )
    print("(ratio: MLflow / Keel; CPU per request is the answering process's user+sys time)")


if __name__ == "__main__":
    main()

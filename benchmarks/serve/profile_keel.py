"""Where `keel serve` spends its time under load: a cProfile of the server, by component.

Starts ``keel serve bench`` under cProfile (pinned to CPU 0, the load generator to CPU 1,
both at niceness -10 like ``bench_serve.py``) in a folder that ``bench_serve.py --keep`` or
``prepare_keel.py`` made, drives it with ``loadgen.py`` for ``--duration`` seconds, stops it
with SIGTERM (the profile is written when uvicorn returns), and prints the server's own CPU
time per component (self time of the functions in each group of modules), then the top
functions (the main thread's: the event loop, where Keel predicts by default; the prediction
log's writes run in a thread and are not in the profile). cProfile slows pure-Python code
more than C code, so read the shares as relative, and compare the throughput under the
profiler with the unprofiled figure.

    .venv/bin/python benchmarks/serve/profile_keel.py WORKDIR [--no-batching] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

# The server's main thread is profiled from SIGUSR1 to SIGUSR2 (the timed window: no
# start-up, no warm-up). uvicorn re-raises SIGTERM after its graceful shutdown: a handler of
# ours turns it into SystemExit, so that the profile is written.
WRAPPER = """
import cProfile, signal, sys
def stop(*_):
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)
out = sys.argv[1]
sys.argv = sys.argv[2:]
from keel.cli import main
profile = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
try:
    main()
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""

# (component, substrings of a function's file): the first match wins
GROUPS = [
    ("keel: input checks", ("keel/contracts/_records",)),
    ("keel: batching", ("keel/serve/_batching",)),
    ("keel: prediction log", ("keel/serve/_logwriter", "keel/monitor/_predlog")),
    ("keel: metrics", ("keel/serve/_metrics", "prometheus_client")),
    ("keel: middleware (ids, tracing, access log)", ("keel/serve/_middleware",)),
    ("keel: request parsing / formats", ("keel/serve/_formats",)),
    ("keel: request parsing / formats", ("keel/serve/_http",)),
    (
        "keel: app (handlers, answer)",
        ("keel/serve/_app", "keel/serve/_routes", "keel/serve/_served"),
    ),
    ("keel: other", ("keel/",)),
    ("model: scikit-learn", ("sklearn/",)),
    ("model: numpy", ("numpy/",)),
    ("polars", ("polars/",)),
    ("tracing: opentelemetry", ("opentelemetry/",)),
    ("logging (stdlib)", ("logging/",)),
    ("uvicorn + httptools (HTTP)", ("uvicorn/", "httptools")),
    ("starlette + fastapi (routing)", ("starlette/", "fastapi/")),
    ("asyncio / uvloop (event loop)", ("asyncio/", "uvloop")),
    ("orjson / json", ("orjson", "json/")),
]


def group_of(filename: str, name: str) -> str:
    for group, needles in GROUPS:
        if any(n in filename for n in needles):
            return group
    if filename == "~":  # a C function: file by its name
        for group, needles in GROUPS:
            if any(n.strip("/") in name for n in needles):
                return group
        return f"C: {name}"
    for marker in ("site-packages/", "python3.11/"):
        if marker in filename:
            return "python: " + filename.split(marker, 1)[1].split("/", 1)[0]
    return "other Python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="folder with keel/ and records.jsonl")
    parser.add_argument("--no-batching", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    work = args.work.resolve()
    out = work / "keel.prof"
    serve = ["keel", "serve", "bench", "--port", str(args.port)]
    if args.no_batching:
        serve.append("--no-batching")
    command = ["nice", "-n", "-10", "taskset", "-c", "0", str(PYTHON), "-c", WRAPPER]
    command += [str(out), *serve]
    with open(work / "profile-server.log", "wb") as log:
        server = subprocess.Popen(
            command, cwd=work / "keel", stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    with contextlib.suppress(OSError):  # no autogroups, or not root: plain niceness only
        Path(f"/proc/{server.pid}/autogroup").write_text("-10")
    url = f"http://127.0.0.1:{args.port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    bodies = "split.jsonl" if args.path == "/invocations" else "records.jsonl"
    load = ["nice", "-n", "-10", str(PYTHON), str(HERE / "loadgen.py"), url + args.path]
    load += ["--bodies", str(work / bodies), "--concurrency", str(args.concurrency)]
    load += ["--warmup", "2", "--duration", str(args.duration), "--cpu", "1"]
    load += ["--watch", str(server.pid)]
    generator = subprocess.Popen(load, stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)  # the generator's warm-up
    os.kill(server.pid, signal.SIGUSR1)
    time.sleep(args.duration)
    os.kill(server.pid, signal.SIGUSR2)
    result = json.loads(generator.communicate()[0])
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    print(
        f"under the profiler: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms,"
        f" errors {result['errors']}, server CPU {result['server_cpu_share']:.2f}"
    )
    stats = pstats.Stats(str(out))
    raw = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    by_group: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_group[group_of(filename, name)] += tottime
        total += tottime
    requests = max(1, result["requests"])
    print(f"\nself time by component (total {total:.1f} s; per request at the measured rate):")
    for group, seconds in sorted(by_group.items(), key=lambda kv: -kv[1])[:30]:
        micro = seconds / requests * 1e6
        print(f"  {group:<48} {seconds:7.2f} s  {seconds / total:6.1%}  {micro:6.1f} µs/request")
    print(f"  ({requests} requests in the window; cProfile's overhead inflates Python code)")
    print()
    stats.sort_stats("tottime").print_stats(args.top)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Two source trees of Keel side by side on the hot paths a refactor must not slow down.

A structural change (issue 13 moved code between packages and gave concepts one owner) is
measured by running the same workloads against the code before and after it, alternating
the order every round so that drift in the machine's load hits both alike. Each workload
runs in a fresh process whose ``PYTHONPATH`` puts one tree's ``src`` first:

validate   ``Schema.validate`` of 1M rows (9 column checks, a cross-column rule, unique)
compare    ``keel.monitor.compare`` of two 1M x 20 Parquet files (drift of every column)
registry   one iteration of run + register + alias move + ``keel.load`` + predict (median of 20)
pipeline   a fully cached ``keel run`` of a 10-step pipeline (the CLI, process start included)
serve      ``keel serve`` of a 20-feature logistic regression, 16 connections, single-row
           ``/predict`` (requests/s and p50 from ``benchmarks/serve/loadgen.py``)

Usage (the ``before`` tree is any checkout, e.g. a git worktree at the older commit)::

    git worktree add /tmp/keel-before <commit>
    .venv/bin/python benchmarks/spine/bench_before_after.py --before /tmp/keel-before

It prints one line per workload: the medians of both trees and the ratio after / before
(for requests/s, before / after, so that above 1.0 always means "after is slower").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PARTS = ("validate", "compare", "registry", "pipeline", "serve")
ROWS = int(os.environ.get("KEEL_BENCH_ROWS", "1000000"))  # smaller for a smoke run


# --------------------------------------------------------------------------- workers


def _loans(path: Path) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    q10 = rng.normal(size=ROWS)
    pl.DataFrame(
        {
            "id": np.arange(ROWS),
            "age": rng.integers(18, 90, ROWS),
            "income": rng.gamma(2.0, 20_000, ROWS),
            "score": rng.random(ROWS),
            "q10": q10,
            "q50": q10 + 1.0,
            "q90": q10 + 2.0,
            "state": rng.choice(["CA", "NY", "TX", "WA"], ROWS),
            "email": [f"user{i}@example.com" for i in range(ROWS)],
            "missing": rng.random(ROWS) < 0.05,
        }
    ).with_columns(income=pl.when(pl.col("missing")).then(None).otherwise(pl.col("income"))).drop(
        "missing"
    ).write_parquet(path)


def work_validate(work: Path) -> dict[str, float]:
    import polars as pl

    import keel

    path = work / "loans.parquet"
    if not path.exists():
        _loans(path)
    frame = pl.read_parquet(path)

    class Loan(keel.Schema):
        id: int = keel.Field(unique=True)
        age: int = keel.Field(ge=18, le=100)
        income: float | None = keel.Field(ge=0)
        score: float = keel.Field(ge=0, le=1)
        q10: float
        q50: float
        q90: float
        state: str = keel.Field(isin=["CA", "NY", "TX", "WA"])
        email: str = keel.Field(pattern=r"^[^@\s]+@[^@\s]+$")

        rules = (keel.ordered(lambda s: (s.q10, s.q50, s.q90)),)

    Loan.validate(frame)  # warm-up: compiled queries, regex engine
    return {"seconds": _best_median(lambda: Loan.validate(frame), 5)}


def work_compare(work: Path) -> dict[str, float]:
    import numpy as np
    import polars as pl

    from keel.monitor import compare

    reference, current = work / "reference.parquet", work / "current.parquet"
    if not current.exists():
        for path, shift in ((reference, 0.0), (current, 0.2)):
            rng = np.random.default_rng(11 if shift else 5)
            columns: dict[str, Any] = {
                f"x{i}": rng.normal(loc=shift if i % 2 else 0.0, size=ROWS) for i in range(16)
            }
            for i in range(4):
                columns[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], ROWS)
            pl.DataFrame(columns).write_parquet(path)
    compare(reference, current)
    return {"seconds": _best_median(lambda: compare(reference, current), 3)}


def work_registry(work: Path) -> dict[str, float]:
    import numpy as np
    import polars as pl
    from sklearn.linear_model import LogisticRegression

    import keel
    from keel.config import init_project
    from keel.registry import set_alias

    folder = Path(tempfile.mkdtemp(dir=work, prefix="registry-"))
    init_project(folder)
    os.chdir(folder)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2_000, 20))
    y = (x[:, 0] + rng.normal(size=2_000) > 0).astype(np.int64)
    model = LogisticRegression().fit(x, y)
    features = type(
        "Features",
        (keel.Schema,),
        {"__annotations__": {f"x{i}": float for i in range(20)}},
    )
    probe = pl.DataFrame({f"x{i}": x[:50, i] for i in range(20)})
    times = []
    for i in range(21):
        start = time.perf_counter()
        with keel.start_run(params={"C": 1.0, "i": i}) as run:
            run.log_metrics({"auc": 0.8, "f1": 0.7})
            registered = keel.register(model, "bench", contract=features, run=run)
        set_alias("bench", "champion", registered.version)
        keel.load("bench@champion").predict(probe)
        if i:  # the first iteration warms caches
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)}


def _best_median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


WORKERS = {"validate": work_validate, "compare": work_compare, "registry": work_registry}


# --------------------------------------------------------------------------- driver


def tree_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), PYTHONDONTWRITEBYTECODE="1")
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b")
    env.update(GIT_COMMITTER_EMAIL="b@b")
    return env


def in_process(part: str, tree: Path, work: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", part, "--work"]
    done = subprocess.run(
        [*command, str(work)], env=tree_env(tree), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{part} failed on {tree}:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def keel_cli(tree: Path, *args: str, cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "keel", *args],
        cwd=cwd, env=tree_env(tree), capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"keel {' '.join(args)} failed on {tree}:\n{done.stdout}{done.stderr}")
    return seconds


def pipeline_project(tree: Path, work: Path) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks" / "pipeline"))
    import projects

    folder = work / f"pipeline-{tree.name}"
    if folder.exists():
        return folder
    folder.mkdir()
    projects.write_input(folder / projects.INPUT, 1000)
    projects.write_keel(folder, "json")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "b"]):
        subprocess.run(command, cwd=folder, env=tree_env(tree), check=True, capture_output=True)
    (folder / ".gitignore").write_text(".keel/\n__pycache__/\n")
    keel_cli(tree, "init", ".", cwd=folder)
    keel_cli(tree, "run", "steps.py:pipe", cwd=folder)
    return folder


def work_pipeline(tree: Path, work: Path) -> dict[str, float]:
    folder = pipeline_project(tree, work)
    times = [keel_cli(tree, "run", "steps.py:pipe", cwd=folder) for _ in range(7)]
    return {"seconds": statistics.median(times)}


def work_serve(tree: Path, work: Path) -> dict[str, float]:
    prepared = work / f"serve-{tree.name}"
    if not prepared.exists():
        prepared.mkdir()
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "serve" / "prepare_keel.py"), str(prepared)],
            env=tree_env(tree), check=True, capture_output=True,
        )  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", "bench", "--port", str(port)],
        cwd=prepared / "keel", env=tree_env(tree),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ready(port, server)
        load = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "serve" / "loadgen.py"),
             f"http://127.0.0.1:{port}/predict", "--bodies", str(prepared / "records.jsonl"),
             "--concurrency", "16", "--warmup", "2", "--duration", "6"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    found = json.loads(load.stdout.strip().splitlines()[-1])
    if found["errors"]:
        raise RuntimeError(f"serve on {tree}: {found['errors']} errors {found['statuses']}")
    return {"rps": found["rps"], "p50_ms": found["p50_ms"]}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("keel serve exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("keel serve was not ready within 120 s")


def measure(part: str, tree: Path, work: Path) -> dict[str, float]:
    if part == "pipeline":
        return work_pipeline(tree, work)
    if part == "serve":
        return work_serve(tree, work)
    return in_process(part, tree, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="the older source tree (a checkout)")
    parser.add_argument("--after", type=Path, default=ROOT, help="the newer tree (this one)")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per part")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.work)))
        return
    if args.before is None:
        parser.error("--before is required")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    work = Path(tempfile.mkdtemp(prefix="keel-before-after-"))
    try:
        run_parts(args.parts.split(","), trees, args.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_parts(parts: list[str], trees: dict[str, Path], rounds: int, work: Path) -> None:
    print(f"{'workload':<10} {'before':>12} {'after':>12} {'after/before':>13}")
    for part in parts:
        found: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for number in range(rounds):
            order = ["before", "after"] if number % 2 == 0 else ["after", "before"]
            for name in order:
                found[name].append(measure(part, trees[name], work))
        key = "rps" if part == "serve" else "seconds"
        before = statistics.median(r[key] for r in found["before"])
        after = statistics.median(r[key] for r in found["after"])
        ratio = before / after if key == "rps" else after / before
        unit = " req/s" if key == "rps" else " s"
        print(f"{part:<10} {before:>10.4g}{unit} {after:>10.4g}{unit} {ratio:>12.3f}x")
        if part == "serve":
            p50 = [statistics.median(r["p50_ms"] for r in found[n]) for n in ("before", "after")]
            print(f"{'  p50':<10} {p50[0]:>9.3g} ms {p50[1]:>9.3g} ms {p50[1] / p50[0]:>12.3f}x")


if __name__ == "__main__":
    main()

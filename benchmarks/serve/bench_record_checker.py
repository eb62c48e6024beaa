"""The request checker's hot path before and after a change (Keel issue 17, unknown fields).

``keel serve`` checks every record with :func:`keel.contracts.record_checker`; a valid
record takes the generated fast path. This script times ``RecordChecker.check`` on one
valid single-record request (the ``/predict`` hot path) and on a record with an unknown
field, for the source tree of a git ref (exported with ``git archive`` to a temporary
folder) and for the working tree, each in its own interpreter, alternating, and prints the
CPU time (user+sys) per check side by side as a ratio.

    PYTHONPATH=src .venv/bin/python benchmarks/serve/bench_record_checker.py --before HEAD~3

Standard library only on this side; the timed side needs Keel's dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMED = """
import json, sys, time
import keel
from keel.contracts import record_checker

class Churn(keel.Schema):
    age: int = keel.Field(ge=0, le=120)
    income: float = keel.Field(ge=0)
    tenure: float = keel.Field(ge=0)

n = int(sys.argv[1])
out = {}
for case, record in (
    ("valid", {"age": 42, "income": 52000.0, "tenure": 8.0}),
    ("extra field", {"age": 42, "income": 52000.0, "tenure": 8.0, "segment": "b2b"}),
):
    for mode in ("reject", "warn"):
        checker = record_checker(Churn.__contract__, mode=mode)
        records = [record]
        best = float("inf")
        for _ in range(5):
            start = time.process_time()  # user+sys CPU of this process
            for _ in range(n):
                checker.check(records)
            best = min(best, time.process_time() - start)
        out[f"{case}, {mode}"] = best / n * 1e6
print(json.dumps(out))
"""


def timed(src: Path, n: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", TIMED, str(n)], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the git ref to compare with")
    parser.add_argument("--checks", type=int, default=100_000, help="checks per timing")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "before.tar"
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", "-o", str(archive), args.before, "src"],
            check=True,
        )
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        sides = {"before": Path(work) / "src", "after": ROOT / "src"}
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for side, src in sides.items():
                runs[side].append(timed(src, args.checks))
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':<24}{'before µs':>12}{'after µs':>12}{'after/before':>14}")
    for case in runs["after"][0]:
        before = min(r[case] for r in runs["before"] if case in r)
        after = min(r[case] for r in runs["after"])
        print(f"{case:<24}{before:>12.3f}{after:>12.3f}{after / before:>13.2f}x")


if __name__ == "__main__":
    main()

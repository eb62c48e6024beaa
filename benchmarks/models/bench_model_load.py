"""Loading a small scikit-learn model, two source trees side by side (issue 16/17 target:
``keel models evaluate``, ``gate`` and ``serve`` of a small model under 1.5 s end to end).

Two workloads, each in a fresh process whose ``PYTHONPATH`` puts one tree's ``src`` first,
alternating the trees every round so that drift in the machine's load hits both alike:

load      ``keel.models.load_model`` of a LogisticRegression package (the imports included)
evaluate  ``keel models evaluate risk/1 --data holdout.parquet --target label --n-boot 0
          --format json`` on 10,000 rows (the CLI, process start included)

Figures are CPU seconds (user + sys of the process) and wall seconds, medians of the rounds;
the machine is shared, so the CPU figures and the ratio after / before are the ones to read.

Usage (the ``before`` tree is any checkout, e.g. ``git archive <commit> src | tar -x -C DIR``)::

    .venv/bin/python benchmarks/models/bench_model_load.py --before /tmp/keel-before --rounds 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ROWS = 10_000

_SETUP = """
from pathlib import Path
import numpy as np, polars as pl, keel
from sklearn.linear_model import LogisticRegression
from keel.config import init_project
from keel.tracking import open_project

class Features(keel.Schema):
    x1: float
    x2: float
    x3: float
    x4: float

root = Path({root!r})
init_project(root, name="bench")
rng = np.random.default_rng(0)
x = rng.normal(size=({rows}, 4))
label = (x[:, 0] - x[:, 1] + rng.normal(scale=0.5, size={rows}) > 0).astype(int)
frame = pl.DataFrame({{"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "x4": x[:, 3], "label": label}})
frame.write_parquet(root / "holdout.parquet")
model = LogisticRegression().fit(x, label)
keel.register(model, "risk", contract=Features, project=open_project(root))
keel.models.save_model(model, root / "pkg", contract=Features)
"""

_LOAD = "import keel.models as m; m.load_model({pkg!r}).predict_proba"


def _child(args: list[str], src: Path, cwd: Path) -> tuple[float, float]:
    """CPU (user + sys) and wall seconds of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])[:200]} failed under {src}:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="tree holding src/keel")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    trees = {"before": opts.before.resolve() / "src", "after": ROOT / "src"}
    with tempfile.TemporaryDirectory(prefix="keel-bench-load-") as tmp:
        root = Path(tmp)
        setup = _SETUP.format(root=str(root), rows=ROWS)
        _child([sys.executable, "-c", setup], trees["after"], root)
        work = {
            "load": [sys.executable, "-c", _LOAD.format(pkg=str(root / "pkg"))],
            "evaluate": [
                *(sys.executable, "-m", "keel", "models", "evaluate", "risk/1"),
                *("--data", "holdout.parquet", "--target", "label", "--n-boot", "0"),
                *("--no-record", "--format", "json"),
            ],
        }
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for name, args in work.items():
            _child(args, trees["after"], root)  # warm the file cache and .pyc files once
            _child(args, trees["before"], root)
            for i in range(opts.rounds):
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                for tree in order:
                    figures.setdefault((name, tree), []).append(_child(args, trees[tree], root))
    print(f"{'workload':<10} {'before cpu':>11} {'after cpu':>10} {'ratio':>6}   "
          f"{'before wall':>11} {'after wall':>10} {'ratio':>6}")  # fmt: skip
    for name in work:
        b = [statistics.median(v) for v in zip(*figures[(name, "before")], strict=True)]
        a = [statistics.median(v) for v in zip(*figures[(name, "after")], strict=True)]
        print(
            f"{name:<10} {b[0]:>10.2f}s {a[0]:>9.2f}s {a[0] / b[0]:>6.2f}   "
            f"{b[1]:>10.2f}s {a[1]:>9.2f}s {a[1] / b[1]:>6.2f}"
        )
    print(f"(medians of {opts.rounds} rounds; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

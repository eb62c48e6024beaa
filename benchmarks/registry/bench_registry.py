"""Registering and loading a model: Keel against MLflow with its local SQLite backend.

One small scikit-learn model (LogisticRegression, 20 features, 1,000 rows) is trained once,
untimed. Then each tool, in a fresh store in a temporary folder, does N times what a
training job and a deployment do: a run with 10 params and 10 metrics, the model logged and
registered as the next version of ``bench``, the alias ``champion`` moved to that version,
and the model loaded back by alias and asked for one prediction (100 rows). One untimed
iteration first (lazy imports, first writes to the new store); medians of the N after it,
each of the four parts timed separately. Every tool runs ``--rounds`` times (each time in a
fresh store, the tools' order rotated, after waiting for a quiet machine, and again, twice at
most, when other processes took over 10% of the CPUs meanwhile); the round with the lowest
median counts.

- Keel: ``keel.start_run(params=...)`` + ``log_metrics``, ``keel.register(model, "bench",
  contract=Features, metrics=...)`` (a ``keel.Schema`` of 20 float columns),
  ``keel.registry.set_alias``, ``keel.load("bench@champion")`` + ``predict``.
- MLflow: ``mlflow.start_run()`` + ``log_params`` + ``log_metrics``,
  ``mlflow.sklearn.log_model(model, name="model", registered_model_name="bench",
  signature=...)``, ``MlflowClient().set_registered_model_alias``,
  ``mlflow.pyfunc.load_model("models:/bench@champion")`` + ``predict``; once with MLflow's
  default requirements inference and once with ``pip_requirements=[...]`` given.

It also counts the subprocesses each tool starts, measures what capturing the environment
costs Keel, and checks that every tool predicts what the model itself predicts.
``--profile`` prints a cProfile of Keel's iterations. Run with the interpreter of
``.venv-bench-store`` (benchmarks/setup.sh).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import distributions, version
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls in the timings

ROOT = Path(__file__).resolve().parent.parent.parent
FEATURES = [f"x{i}" for i in range(20)]
PARTS = ("run", "register", "alias", "load")
BUSY = 0.10  # others' share of the CPUs above which a measurement is repeated
QUIET_WAIT = 60.0  # seconds to wait at most for a quiet machine before each measurement
PART_TITLES = {
    "run": "run + 10 params + 10 metrics",
    "register": "log + register",
    "alias": "set alias",
    "load": "load by alias + predict",
}

# One iteration: the seconds of each part (PARTS order) and the predictions.
Iteration = Callable[[int], tuple[list[float], Any]]


@dataclass
class Measured:
    parts: dict[str, list[float]]  # per timed iteration
    totals: list[float]
    spawned: int  # subprocesses started during the timed iterations
    others: float  # share of the CPUs other processes used meanwhile
    predictions: Any

    def median(self, part: str | None = None) -> float:
        return statistics.median(self.totals if part is None else self.parts[part])


def params(i: int) -> dict[str, Any]:
    return {f"p{k}": k * i for k in range(10)}


def metrics(i: int) -> dict[str, float]:
    return {f"m{k}": k / (i + 1) for k in range(10)}


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit: float = QUIET_WAIT) -> None:
    """Wait (at most ``limit`` s) until other processes use under 10% of the CPUs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = machine_busy()
        time.sleep(1.0)
        if (machine_busy() - before) / (os.cpu_count() or 1) < BUSY:
            return


def own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def counting_spawns() -> Iterator[list[int]]:
    """Count the subprocesses started inside the block (every ``subprocess`` call)."""
    counter = [0]
    original = subprocess.Popen.__init__

    def counted(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        counter[0] += 1
        original(self, *args, **kwargs)

    subprocess.Popen.__init__ = counted  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


def measure(one: Iteration, iterations: int) -> Measured:
    one(0)  # untimed: lazy imports, the new store's first writes
    parts: dict[str, list[float]] = {part: [] for part in PARTS}
    totals = []
    predictions = None
    busy, own, wall = machine_busy(), own_cpu(), time.perf_counter()
    with counting_spawns() as spawned:
        for i in range(1, iterations + 1):
            seconds, predictions = one(i)
            for part, value in zip(PARTS, seconds, strict=True):
                parts[part].append(value)
            totals.append(sum(seconds))
    wall = time.perf_counter() - wall
    others = (machine_busy() - busy - (own_cpu() - own)) / (wall * (os.cpu_count() or 1))
    return Measured(parts, totals, spawned[0], max(0.0, others), predictions)


def features_schema() -> type:
    import keel

    annotations = dict.fromkeys(FEATURES, float)
    return type(keel.Schema)(
        "Features", (keel.Schema,), {"__annotations__": annotations, "__module__": __name__}
    )


def keel_iteration(folder: Path, model: Any, probe: Any) -> Iteration:
    """Keel through its everyday API, in the project folder (the working directory)."""
    import keel
    from keel.config import init_project
    from keel.registry import set_alias

    init_project(folder)
    features = features_schema()

    def one(i: int) -> tuple[list[float], Any]:
        t0 = time.perf_counter()
        with keel.start_run(f"r{i}", params=params(i)) as run:
            run.log_metrics(metrics(i))
            t1 = time.perf_counter()
            registered = keel.register(model, "bench", contract=features, metrics=metrics(i))
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        set_alias("bench", "champion", registered.version)
        t4 = time.perf_counter()
        predicted = keel.load("bench@champion").predict(probe)
        t5 = time.perf_counter()
        return [(t1 - t0) + (t3 - t2), t2 - t1, t4 - t3, t5 - t4], predicted

    return one


def mlflow_iteration(
    folder: Path, model: Any, probe: Any, signature: Any, requirements: list[str] | None
) -> Iteration:
    """MLflow with its SQLite backend for tracking and registry, artifacts in ``folder``."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("bench", artifact_location=(folder / "art").as_uri())
    client = MlflowClient()

    def one(i: int) -> tuple[list[float], Any]:
        t0 = time.perf_counter()
        with mlflow.start_run(experiment_id=experiment, run_name=f"r{i}"):
            mlflow.log_params(params(i))
            mlflow.log_metrics(metrics(i))
            t1 = time.perf_counter()
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="bench",
                signature=signature,
                pip_requirements=requirements,
            )
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        client.set_registered_model_alias("bench", "champion", info.registered_model_version)
        t4 = time.perf_counter()
        predicted = mlflow.pyfunc.load_model("models:/bench@champion").predict(probe)
        t5 = time.perf_counter()
        return [(t1 - t0) + (t3 - t2), t2 - t1, t4 - t3, t5 - t4], predicted

    return one


def mlflow_requirements() -> list[str]:
    """The requirements MLflow recorded for the champion (``requirements.txt``)."""
    import mlflow.pyfunc

    path = mlflow.pyfunc.get_model_dependencies("models:/bench@champion")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def keel_environment(repeat: int = 200) -> dict[str, Any]:
    """What capturing the installed distributions costs Keel: once per process (a scan of
    every distribution's metadata, or the index cached in the user's cache folder), then
    per run and per registered model (the in-process copy)."""
    from keel.models import _package
    from keel.tracking import _run
    from keel.versioning import _site, environment_fingerprint, site_index

    def best(fn: Callable[[], object], times: int) -> float:
        found = []
        for _ in range(times):
            start = time.perf_counter()
            fn()
            found.append(time.perf_counter() - start)
        return min(found)

    def per_run() -> None:
        _run._environment().to_dict()  # start_run: the run's fingerprint
        _package._environment()  # register: the package's requirements

    site_index()  # this process's index (and the cache file), as after the first run
    record = _run._environment().to_dict()
    return {
        "distributions": len(record["packages"]),
        "record_bytes": len(json.dumps(record)),
        "scan": best(_site._scan, 3),
        "cached_index": best(site_index.__wrapped__, 5),
        "fingerprint": best(environment_fingerprint, 5),
        "per_run": best(per_run, repeat),
    }


def profile_keel(model: Any, probe: Any, iterations: int, top: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        one = keel_iteration(folder, model, probe)
        one(0)
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(1, iterations + 1):
            one(i)
        profiler.disable()
        os.chdir(ROOT)
    print(f"\ncProfile of {iterations} Keel iterations (after one untimed), by cumulative time:")
    pstats.Stats(profiler).strip_dirs().sort_stats("cumulative").print_stats(top)


def commit() -> str:
    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    try:
        head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "src")
    except OSError:
        return "unknown"
    return head + (" (src modified)" if dirty else "")


@dataclass
class Workload:
    model: Any
    data: Any
    target: Any
    probe: Any  # the 100 rows every loaded model predicts on
    expected: Any  # what the model itself predicts on them


def workload() -> Workload:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    data = rng.normal(size=(1_000, len(FEATURES)))
    target = (data[:, 0] + 0.5 * data[:, 1] - data[:, 2] > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(data, target)
    probe = data[:100]
    return Workload(model, data, target, probe, model.predict(probe))


def make_tools(names: list[str], work: Workload) -> dict[str, Callable[[Path], Iteration]]:
    """Each tool's iteration, made in a given (fresh) store folder."""
    tools: dict[str, Callable[[Path], Iteration]] = {}
    if "keel" in names:
        tools["keel"] = lambda folder: keel_iteration(folder, work.model, work.probe)
    if {"mlflow", "mlflow-pinned"} & set(names):
        import numpy as np
        import sklearn
        import skops
        from mlflow.models import infer_signature

        signature = infer_signature(work.data, work.target)  # once, like Keel's contract
        pinned = [
            f"mlflow-skinny=={version('mlflow-skinny')}",
            f"scikit-learn=={sklearn.__version__}",
            f"skops=={skops.__version__}",
            f"numpy=={np.__version__}",
        ]
        for name, title, requirements in [
            ("mlflow", "mlflow, inferred requirements", None),
            ("mlflow-pinned", "mlflow, pip_requirements given", pinned),
        ]:
            if name in names:
                tools[title] = lambda folder, r=requirements: mlflow_iteration(
                    folder, work.model, work.probe, signature, r
                )
    return tools


def run_rounds(
    tools: dict[str, Callable[[Path], Iteration]], work: Workload, iterations: int, rounds: int
) -> tuple[dict[str, Measured], dict[str, list[str]]]:
    """Every tool ``rounds`` times, in a fresh store each time, the order rotated; the
    round with the lowest median counts. A measurement during which other processes took
    over 10% of the CPUs is repeated."""
    import numpy as np

    results: dict[str, Measured] = {}
    recorded: dict[str, list[str]] = {}
    order = list(tools)
    for round_ in range(rounds):
        shift = round_ % len(order)
        for name in order[shift:] + order[:shift]:
            for attempt in range(3):  # again (twice at most) if others took > 10% of the CPUs
                wait_quiet()
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    os.chdir(folder)
                    found = measure(tools[name](folder), iterations)
                    if name.startswith("mlflow"):
                        recorded[name] = mlflow_requirements()
                    os.chdir(ROOT)
                if found.others < BUSY or attempt == 2:
                    break
            if not np.array_equal(np.asarray(found.predictions), work.expected):
                raise SystemExit(f"{name} predicted something else than the model itself")
            if name not in results or found.median() < results[name].median():
                results[name] = found
            print(
                f"round {round_ + 1}, {name}: {found.median() * 1000:.1f} ms per iteration "
                f"(others' CPU {found.others:.0%})",
                flush=True,
            )
    return {name: results[name] for name in tools}, recorded


def print_versions() -> None:
    print(
        f"\nMachine: {os.cpu_count()} CPUs, {platform.system()}, Python "
        f"{platform.python_version()}. Keel: commit {commit()}, mlkeel {version('mlkeel')}."
    )
    names = ["mlflow-skinny", "scikit-learn", "skops", "numpy", "pandas", "SQLAlchemy"]
    print("Versions: " + ", ".join(f"{n} {version(n)}" for n in names), end="; ")
    print(f"{len({d.metadata['Name'] for d in distributions()})} distributions installed.")


def print_table(results: dict[str, Measured], iterations: int, rounds: int) -> None:
    keel_median = results["keel"].median()
    print(
        f"\nMedian per iteration ({iterations} iterations after one untimed; the fastest "
        f"of {rounds} rounds), ms:\n"
    )
    heads = " | ".join(PART_TITLES[p] for p in PARTS)
    print(f"| tool | {heads} | total | ÷ Keel |")
    print("|---|" + "---:|" * len(PARTS) + "---:|---:|")
    for name, found in results.items():
        cells = " | ".join(f"{found.median(p) * 1000:.1f}" for p in PARTS)
        print(
            f"| {name} | {cells} | {found.median() * 1000:.1f} | "
            f"{found.median() / keel_median:.1f}x |"
        )
    print("\n| tool | subprocesses per iteration | others' CPU | min total | max total |")
    print("|---|---:|---:|---:|---:|")
    for name, found in results.items():
        print(
            f"| {name} | {found.spawned / iterations:g} | {found.others:.0%} | "
            f"{min(found.totals) * 1000:.1f} ms | {max(found.totals) * 1000:.1f} ms |"
        )
    print()
    for name, found in results.items():
        if name != "keel":
            ratio = found.median() / keel_median
            verdict = "met" if ratio >= 5 else "MISSED"
            print(f"Keel vs {name}: {ratio:.1f}x (target >= 5x: {verdict})")


def print_environment() -> None:
    env = keel_environment()
    print(
        f"\nKeel's environment capture ({env['distributions']} distributions, "
        f"{env['record_bytes']:,} bytes of JSON in each run's fingerprint):\n"
        f"- once per process: {env['cached_index'] * 1000:.2f} ms to read the index cached "
        f"in the user's cache folder, {env['scan'] * 1000:.0f} ms to scan every "
        f"distribution when that cache is stale (after an install); "
        f"{env['fingerprint'] * 1000:.2f} ms to build the fingerprint from the index\n"
        f"- per run and registered model: {env['per_run'] * 1000:.3f} ms "
        "(the in-process copy, serialized); no subprocess"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="the fastest round counts")
    parser.add_argument("--tools", default="keel,mlflow,mlflow-pinned")
    parser.add_argument("--profile", action="store_true", help="cProfile Keel's iterations")
    parser.add_argument("--profile-top", type=int, default=40)
    args = parser.parse_args()
    names = args.tools.split(",")
    if unknown := set(names) - {"keel", "mlflow", "mlflow-pinned"}:
        parser.error(f"unknown tool(s) {', '.join(sorted(unknown))}")

    work = workload()
    results, recorded = run_rounds(make_tools(names, work), work, args.iterations, args.rounds)
    print_versions()
    if "keel" in results:
        print_table(results, args.iterations, args.rounds)
    for name, lines in recorded.items():
        print(f"\n{name}: requirements.txt of the last version: {', '.join(lines)}")
    if "keel" in results:
        print_environment()
    if args.profile:
        profile_keel(work.model, work.probe, args.iterations, args.profile_top)


if __name__ == "__main__":
    sys.exit(main())

"""Pipelines: a fully cached 10-step run through `keel run` against `dvc repro`, and parallelism.

Writes fresh projects under ``benchmarks/data/pipeline/`` (see ``projects.py``), each its own
git repository with everything committed (``--scm none``: no git, ``dvc init --no-scm``),
runs every pipeline once to fill the cache and once more to warm the file cache, then times
fully cached runs through each tool's CLI, alternating the order every round: ``keel run
steps.py:pipe`` (10 steps) and ``steps.py:one`` (the first step alone) against ``dvc repro``
and ``dvc repro load``. The overhead per cached step is (t10 - t1) / 9. Every timed run is
checked to have skipped every step. Then four independent steps of ``--seconds`` each (and
of 0 s, for the fixed costs) run with ``--force '*'`` under ``--workers 1`` and ``--workers
2``. Rounds wait for a quiet machine; a run during which other processes took over 10% of
the CPUs is repeated (twice at most).

Run with the interpreter of ``.venv-bench-store`` (it has Keel and DVC).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import projects

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "benchmarks" / "data" / "pipeline"
BIN = Path(sys.executable).parent
KEEL, DVC = str(BIN / "keel"), str(BIN / "dvc")
BUSY = 0.10  # others' share of the CPUs above which a timing is repeated
QUIET_WAIT = 120.0  # seconds to wait for a quiet machine before each round
Check = Callable[[str], None]  # raises if a run's output shows the wrong work
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def environment(scm: str) -> dict[str, str]:
    env = {**os.environ, **GIT_IDENTITY, "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` in dvc.yaml
    if scm == "none":
        env["GIT_CEILING_DIRECTORIES"] = str(DATA)  # do not find the repository around us
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Seconds and output of ``command`` (stdout, then stderr); raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout + done.stderr


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(limit: float = QUIET_WAIT) -> None:
    """Wait (at most ``limit`` s) until other processes use under 10% of the CPUs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = machine_busy()
        time.sleep(1.0)
        if (machine_busy() - before) / (os.cpu_count() or 1) < BUSY:
            return


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str, float]:
    """Like :func:`run`, re-run (twice at most) while others took > 10% of the CPUs.

    Returns seconds, output and the share of the CPUs other processes used meanwhile.
    """
    for attempt in range(3):
        busy, own = machine_busy(), children_cpu()
        seconds, output = run(command, cwd, env)
        others = (machine_busy() - busy - (children_cpu() - own)) / (
            seconds * (os.cpu_count() or 1)
        )
        if others < BUSY or attempt == 2:
            return seconds, output, max(0.0, others)
        wait_quiet()
    raise AssertionError("unreachable")


def commit(folder: Path, env: dict[str, str], scm: str) -> None:
    if scm == "git":
        run(["git", "add", "-A"], folder, env)
        run(["git", "commit", "-q", "--allow-empty", "-m", "bench"], folder, env)


def make_keel(flavour: str, rows: int, env: dict[str, str], scm: str) -> Path:
    folder = DATA / f"keel-{flavour}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    projects.write_input(folder / projects.INPUT, rows)
    projects.write_keel(folder, flavour)
    if scm == "git":
        run(["git", "init", "-q"], folder, env)
        (folder / ".gitignore").write_text(".keel/\n__pycache__/\n")
    run([KEEL, "init", "."], folder, env)
    commit(folder, env, scm)
    for target in ("pipe", "one"):
        run([KEEL, "run", f"steps.py:{target}"], folder, env)  # fill the cache
    commit(folder, env, scm)
    return folder


def make_dvc(rows: int, env: dict[str, str], scm: str) -> Path:
    folder = DATA / "dvc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    projects.write_input(folder / projects.INPUT, rows)
    projects.write_dvc(folder)
    if scm == "git":
        run(["git", "init", "-q"], folder, env)
        run([DVC, "init", "-q"], folder, env)
    else:
        run([DVC, "init", "-q", "--no-scm"], folder, env)
    commit(folder, env, scm)
    run([DVC, "repro"], folder, env)  # fill the cache
    commit(folder, env, scm)  # dvc.lock and the .gitignore of the outputs
    return folder


def keel_check(steps: int, status: str = "cached") -> Check:
    def check(output: str) -> None:
        report = json.JSONDecoder().raw_decode(output)[0]  # stdout comes first
        statuses = [s["status"] for s in report["steps"]]
        if statuses != [status] * steps:
            raise RuntimeError(f"keel run: expected {steps} x {status}, got {statuses}")

    return check


def dvc_check(steps: int) -> Check:
    def check(output: str) -> None:
        skipped = output.count("didn't change, skipping")
        if skipped != steps or "Running stage" in output:
            raise RuntimeError(f"dvc repro was not fully cached:\n{output}")

    return check


@dataclass(frozen=True)
class Case:
    command: list[str]
    folder: Path
    check: Check | None = None


@dataclass
class Timings:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    others: float = 0.0  # the largest share of the CPUs other processes took during a run

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def step_cost(self, ten: str, one: str) -> float:
        """The median over the rounds of (t10 - t1) / 9."""
        pairs = zip(self.seconds[ten], self.seconds[one], strict=True)
        return statistics.median((a - b) / 9 for a, b in pairs)


def time_cases(cases: dict[str, Case], env: dict[str, str], repeat: int) -> Timings:
    """Each case once untimed (warm caches), then ``repeat`` rounds, alternating the order."""
    for case in cases.values():
        output = run(case.command, case.folder, env)[1]
        if case.check is not None:
            case.check(output)
    timings = Timings({name: [] for name in cases})
    names = list(cases)
    for round_ in range(repeat):
        wait_quiet()
        for name in names if round_ % 2 == 0 else names[::-1]:
            case = cases[name]
            seconds, output, others = measured(case.command, case.folder, env)
            if case.check is not None:
                case.check(output)
            timings.seconds[name].append(seconds)
            timings.others = max(timings.others, others)
    return timings


def cached_cases(keel_folders: dict[str, Path], dvc_folder: Path) -> dict[str, Case]:
    steps = len(projects.STEPS)
    keel_run = [KEEL, "run", "--format", "json"]
    cases = {
        "keel --version": Case([KEEL, "--version"], dvc_folder),
        "dvc --version": Case([DVC, "--version"], dvc_folder),
    }
    for flavour, folder in keel_folders.items():
        cases[f"keel {flavour}, 10 steps"] = Case(
            [*keel_run, "steps.py:pipe"], folder, keel_check(steps)
        )
        cases[f"keel {flavour}, 1 step"] = Case([*keel_run, "steps.py:one"], folder, keel_check(1))
    cases["dvc, 10 stages"] = Case([DVC, "repro"], dvc_folder, dvc_check(steps))
    first = projects.STEPS[0].name
    cases["dvc, 1 stage"] = Case([DVC, "repro", first], dvc_folder, dvc_check(1))
    return cases


def parallel_cases(env: dict[str, str], scm: str, seconds: float) -> dict[str, Case]:
    folder = DATA / "keel-parallel"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    projects.write_parallel(folder)
    if scm == "git":
        run(["git", "init", "-q"], folder, env)
        (folder / ".gitignore").write_text(".keel/\n__pycache__/\n")
    run([KEEL, "init", "."], folder, env)
    commit(folder, env, scm)
    base = [KEEL, "run", "parallel.py:parallel", "--force", "*", "--format", "json"]
    cases = {}
    for sleep in (seconds, 0.0):
        for label, options in PARALLEL_OPTIONS.items():
            command = [*base, "--param", f"seconds={sleep}", *options]
            cases[f"4 x {sleep:g} s, {label}"] = Case(command, folder, keel_check(4, "finished"))
    return cases


PARALLEL_OPTIONS = {
    "--workers 1": ["--workers", "1"],
    "--workers 1 --executor process": ["--workers", "1", "--executor", "process"],
    "--workers 2": ["--workers", "2"],
}


def table_cached(timings: Timings, flavours: list[str]) -> tuple[list[str], dict[str, float]]:
    median = {name: timings.median(name) for name in timings.seconds}
    dvc10 = median["dvc, 10 stages"]
    # per round (the two runs were close in time), then the median over the rounds
    per_step = {"dvc": timings.step_cost("dvc, 10 stages", "dvc, 1 stage")}
    for flavour in flavours:
        tool = f"keel {flavour}"
        per_step[tool] = timings.step_cost(f"{tool}, 10 steps", f"{tool}, 1 step")
    lines = [
        "| cached run (CLI) | median | min | max | dvc 10 stages ÷ this | per cached step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, ts in timings.seconds.items():
        tool = name.split(",")[0]
        step = f"{per_step[tool] * 1000:.1f} ms" if "10 st" in name else ""
        lines.append(
            f"| {name} | {median[name] * 1000:.0f} ms | {min(ts) * 1000:.0f} ms | "
            f"{max(ts) * 1000:.0f} ms | {dvc10 / median[name]:.2f}x | {step} |"
        )
    return lines, per_step


def table_parallel(timings: Timings, seconds: float) -> tuple[list[str], float, float]:
    median = {name: timings.median(name) for name in timings.seconds}
    lines = [
        "| 4 independent steps, `--force '*'` | median | min | max | ÷ `--workers 1` |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ts in timings.seconds.items():
        sleep = name.split(",")[0]
        one = median[f"{sleep}, --workers 1"]
        lines.append(
            f"| `{name}` | {median[name]:.2f} s | {min(ts):.2f} s | {max(ts):.2f} s | "
            f"{median[name] / one:.2f} |"
        )
    w1, w2 = median[f"4 x {seconds:g} s, --workers 1"], median[f"4 x {seconds:g} s, --workers 2"]
    z1, z2 = median["4 x 0 s, --workers 1"], median["4 x 0 s, --workers 2"]
    return lines, w2 / w1, (w2 - z2) / (w1 - z1)


def verdicts(cached: Timings, per_step: dict[str, float], ratio: float | None) -> list[str]:
    dvc10 = cached.median("dvc, 10 stages")
    lines = ["| target | measured | |", "|---|---|---|"]
    for tool, step in per_step.items():
        if tool == "dvc":
            continue
        speedup = dvc10 / cached.median(f"{tool}, 10 steps")
        lines.append(
            f"| {tool}: cached 10 steps ≥ 3x faster than `dvc repro` | {speedup:.2f}x | "
            f"{'met' if speedup >= 3 else '**missed**'} |"
        )
        lines.append(
            f"| {tool}: overhead per cached step < 20 ms | {step * 1000:.1f} ms | "
            f"{'met' if step < 0.020 else '**missed**'} |"
        )
    if ratio is not None:
        lines.append(
            f"| 4 independent steps: `--workers 2` ≈ half of `--workers 1` | {ratio:.2f} | "
            f"{'met' if ratio <= 0.55 else '**missed**'} (≤ 0.55) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows of the input CSV")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds; the median is shown")
    parser.add_argument("--flavours", default="json,frames", help="Keel pipelines: json, frames")
    parser.add_argument("--scm", choices=["git", "none"], default="git")
    parser.add_argument("--seconds", type=float, default=2.0, help="each parallel step's sleep")
    parser.add_argument("--parallel-repeat", type=int, default=3)
    parser.add_argument("--skip-parallel", action="store_true")
    args = parser.parse_args()
    flavours = [f for f in args.flavours.split(",") if f]
    env = environment(args.scm)
    DATA.mkdir(parents=True, exist_ok=True)
    keel_folders = {f: make_keel(f, args.rows, env, args.scm) for f in flavours}
    dvc_folder = make_dvc(args.rows, env, args.scm)
    cached = time_cases(cached_cases(keel_folders, dvc_folder), env, args.repeat)
    commit_id = run(["git", "rev-parse", "--short", "HEAD"], ROOT, env)[1].strip()
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"mlkeel {version('mlkeel')} (commit {commit_id}), dvc {version('dvc')}, "
        f"polars {version('polars')}; "
        f"{'projects in git repositories' if args.scm == 'git' else 'no git'}; "
        f"{args.rows:,} input rows; median of {args.repeat} rounds; "
        f"others' CPU at most {cached.others:.0%}"
    )
    print()
    lines, per_step = table_cached(cached, flavours)
    print("\n".join(lines))
    ratio = None
    if not args.skip_parallel:
        parallel = time_cases(
            parallel_cases(env, args.scm, args.seconds), env, args.parallel_repeat
        )
        lines, ratio, net = table_parallel(parallel, args.seconds)
        print()
        print(f"median of {args.parallel_repeat} rounds; others' CPU at most {parallel.others:.0%}")
        print()
        print("\n".join(lines))
        print()
        print(
            f"`--workers 2` ÷ `--workers 1`: {ratio:.2f} in all, {net:.2f} for the steps alone "
            "(each minus the same run with 0 s steps)"
        )
    print()
    print("\n".join(verdicts(cached, per_step, ratio)))


if __name__ == "__main__":
    main()

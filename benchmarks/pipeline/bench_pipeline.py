"""Pipelines: a fully cached 10-step run through `keel run` against `dvc repro`, and parallelism.

Writes fresh projects under ``benchmarks/data/pipeline/`` (see ``projects.py``), each its own
git repository with everything committed (``--scm none``: no git, ``dvc init --no-scm``),
runs every pipeline once to fill the cache and once more to warm the file cache, then times
fully cached runs through each tool's CLI, alternating the order every round: ``keel run
steps.py:pipe`` (10 steps) and ``steps.py:one`` (the first step alone) against ``dvc repro``
and ``dvc repro load``. The overhead per cached step is (t10 - t1) / 9. Every timed run is
checked to have skipped every step. Then four independent steps of ``--seconds`` each run
with ``--force '*'`` under ``--workers 1`` and ``--workers 2``.

Run with the interpreter of ``.venv-bench-store`` (it has Keel and DVC).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import projects

DATA = Path(__file__).resolve().parent.parent / "data" / "pipeline"
BIN = Path(sys.executable).parent
KEEL, DVC = str(BIN / "keel"), str(BIN / "dvc")
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


def keel_check(steps: int) -> Callable[[str], None]:
    def check(output: str) -> None:
        report = json.JSONDecoder().raw_decode(output)[0]  # stdout comes first
        statuses = [s["status"] for s in report["steps"]]
        if statuses != ["cached"] * steps:
            raise RuntimeError(f"keel run was not fully cached: {statuses}")

    return check


def dvc_check(steps: int) -> Callable[[str], None]:
    def check(output: str) -> None:
        skipped = output.count("didn't change, skipping")
        if skipped != steps or "Running stage" in output:
            raise RuntimeError(f"dvc repro was not fully cached:\n{output}")

    return check


def cached_runs(
    keel_folders: dict[str, Path], dvc_folder: Path, env: dict[str, str], repeat: int
) -> dict[str, list[float]]:
    steps = len(projects.STEPS)
    keel_run = [KEEL, "run", "--format", "json"]
    # name -> (command, folder, check)
    cases: dict[str, tuple[list[str], Path, Callable[[str], None] | None]] = {
        "keel --version": ([KEEL, "--version"], dvc_folder, None),
        "dvc --version": ([DVC, "--version"], dvc_folder, None),
    }
    for flavour, folder in keel_folders.items():
        cases[f"keel {flavour}, 10 steps"] = (
            [*keel_run, "steps.py:pipe"],
            folder,
            keel_check(steps),
        )
        cases[f"keel {flavour}, 1 step"] = ([*keel_run, "steps.py:one"], folder, keel_check(1))
    cases["dvc, 10 stages"] = ([DVC, "repro"], dvc_folder, dvc_check(steps))
    cases["dvc, 1 stage"] = ([DVC, "repro", projects.STEPS[0].name], dvc_folder, dvc_check(1))
    names = list(cases)
    for name in names:  # warm the file cache and Python's bytecode caches, untimed
        command, folder, check = cases[name]
        output = run(command, folder, env)[1]
        if check is not None:
            check(output)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        # alternate the order: forwards, then backwards, and so on
        for name in names if round_ % 2 == 0 else names[::-1]:
            command, folder, check = cases[name]
            seconds, output = run(command, folder, env)
            if check is not None:
                check(output)
            times[name].append(seconds)
    return times


def parallel_runs(
    env: dict[str, str], scm: str, seconds: float, repeat: int
) -> dict[str, list[float]]:
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
    base += ["--param", f"seconds={seconds}"]
    cases = {
        "--workers 1 (in-process)": ["--workers", "1"],
        "--workers 1 --executor process": ["--workers", "1", "--executor", "process"],
        "--workers 2": ["--workers", "2"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(repeat):
        names = list(cases) if round_ % 2 == 0 else list(cases)[::-1]
        for name in names:
            took, output = run([*base, *cases[name]], folder, env)
            report = json.JSONDecoder().raw_decode(output)[0]
            statuses = [s["status"] for s in report["steps"]]
            if statuses != ["finished"] * 4:
                raise RuntimeError(f"{name}: expected 4 steps to run, got {statuses}")
            times[name].append(took)
    return times


def table_cached(times: dict[str, list[float]], flavours: list[str]) -> list[str]:
    median = {name: statistics.median(ts) for name, ts in times.items()}
    dvc10, dvc1 = median["dvc, 10 stages"], median["dvc, 1 stage"]
    lines = [
        "| run | median | min | max | dvc 10 stages ÷ this | per cached step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    per_step = {"dvc": (dvc10 - dvc1) / 9}
    for flavour in flavours:
        ten, one = median[f"keel {flavour}, 10 steps"], median[f"keel {flavour}, 1 step"]
        per_step[f"keel {flavour}"] = (ten - one) / 9
    for name, ts in times.items():
        tool = name.split(",")[0]
        step = f"{per_step[tool] * 1000:.1f} ms" if "10 st" in name and tool in per_step else ""
        lines.append(
            f"| {name} | {median[name] * 1000:.0f} ms | {min(ts) * 1000:.0f} ms | "
            f"{max(ts) * 1000:.0f} ms | {dvc10 / median[name]:.2f}x | {step} |"
        )
    return lines


def table_parallel(times: dict[str, list[float]], seconds: float) -> list[str]:
    median = {name: statistics.median(ts) for name, ts in times.items()}
    one = median["--workers 1 (in-process)"]
    lines = [
        f"| 4 independent steps of {seconds:g} s, `--force '*'` | median | min | max | "
        "÷ `--workers 1` |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ts in times.items():
        lines.append(
            f"| `{name}` | {median[name]:.2f} s | {min(ts):.2f} s | {max(ts):.2f} s | "
            f"{median[name] / one:.2f} |"
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
    times = cached_runs(keel_folders, dvc_folder, env, args.repeat)
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; mlkeel {version('mlkeel')}, "
        f"dvc {version('dvc')}, polars {version('polars')}; projects in {args.scm} "
        f"repositories; {args.rows} input rows; median of {args.repeat} rounds"
    )
    print()
    print("\n".join(table_cached(times, flavours)))
    if not args.skip_parallel:
        par = parallel_runs(env, args.scm, args.seconds, args.parallel_repeat)
        print()
        print("\n".join(table_parallel(par, args.seconds)))


if __name__ == "__main__":
    main()

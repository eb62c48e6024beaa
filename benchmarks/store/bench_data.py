"""Registering a directory: Keel (`keel data add`) against `dvc add`, first and unchanged.

Generates a folder of 1,000 files (2 GB by default) once, then times, each in a fresh
project: registering it, and registering it again unchanged. Run with the interpreter of
``.venv-bench-store`` (it has Keel and DVC).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "store"


def make_data(files: int, total_mb: int) -> Path:
    folder = DATA / f"dir_{files}x{total_mb}mb"
    if folder.exists() and len(list(folder.iterdir())) == files:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    size = total_mb * (1 << 20) // files
    for i in range(files):
        (folder / f"part-{i:05d}.bin").write_bytes(os.urandom(size))
    return folder


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def keel(data: Path, project: Path) -> tuple[float, float]:
    cli = [sys.executable, "-m", "keel"]
    timed([*cli, "init", "."], project)
    add = [*cli, "data", "add", str(data), "--name", "files"]
    return timed(add, project), timed(add, project)


def keel_api(data: Path, project: Path) -> tuple[float, float]:
    """The same through Python (no interpreter start-up and imports per command)."""
    from keel.config import init_project
    from keel.tracking import add_dataset, open_project

    init_project(project)
    store = open_project(project)
    start = time.perf_counter()
    add_dataset(data, "files", project=store)
    first = time.perf_counter() - start
    start = time.perf_counter()
    add_dataset(data, "files", project=store)
    return first, time.perf_counter() - start


def dvc(data: Path, project: Path) -> tuple[float, float]:
    dvc_bin = str(Path(sys.executable).with_name("dvc"))
    target = project / "files"
    shutil.copytree(data, target)  # dvc adds data inside its project
    timed([dvc_bin, "init", "--no-scm", "-q"], project)
    add = [dvc_bin, "add", "files"]
    return timed(add, project), timed(add, project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    args = parser.parse_args()
    data = make_data(args.files, args.mb)
    work = DATA / "work"
    tools = [("keel (CLI)", keel), ("keel (Python API)", keel_api), ("dvc (CLI)", dvc)]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in tools}
    for round_ in range(args.repeat):
        # rotate the order: whoever runs first pays for the disk's write-back of the last
        for name, fn in tools[round_ % len(tools) :] + tools[: round_ % len(tools)]:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            subprocess.run(["sync"], check=False)
            times[name].append(fn(data, work))
    shutil.rmtree(work, ignore_errors=True)
    rows = {
        name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
        for name, ts in times.items()
    }
    first_keel = rows["keel (CLI)"][0]
    print(f"{args.files} files, {args.mb:,} MB, median of {args.repeat} rounds")
    print("| tool | first add | re-add unchanged | first ÷ Keel CLI | first ÷ re-add |")
    print("|---|---:|---:|---:|---:|")
    for name, (first, again) in rows.items():
        print(
            f"| {name} | {first:.2f} s | {again:.2f} s | {first / first_keel:.1f}x | "
            f"{first / again:.0f}x |"
        )


if __name__ == "__main__":
    main()

"""A path argument means the caller's file on every executor, a remote Dask worker too.

A real ``dask scheduler`` and ``dask worker`` run as separate processes in another folder
that holds another ``loans.csv``: a relative path must still name the caller's file (the one
hashed into the cache key and the lineage), and a worker that cannot see the caller's bytes
must fail the step, never run it on other data. Without ``distributed`` these tests skip
locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import keel
from keel.config import init_project
from keel.pipelines import Step, load_pipeline, run_pipeline
from keel.pipelines._execute import StepTask, make_executor, step_ref
from keel.tracking import Project, open_project
from keel.versioning import hash_path

FLOW = '''\
"""A pipeline that reads a relative path, as the docs' examples do."""

from __future__ import annotations

from pathlib import Path

import keel


@keel.step
def count(source: Path) -> dict[str, int]:
    return {"rows": len(source.read_text().splitlines()) - 1}


@keel.pipeline
def loans(source: Path = Path("loans.csv")) -> None:
    count(source)
'''

CALLERS = "id,amount\n1,10\n2,20\n3,30\n4,40\n"  # 4 rows
WORKERS = "id,amount\n9,90\n8,80\n"  # 2 rows, same name, in the worker's folder


def _need_distributed() -> None:
    if importlib.util.find_spec("distributed") is None:
        reason = "distributed is not installed: pip install 'mlkeel[dask]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A scheduler and one worker, both started in a folder with its own loans.csv."""
    _need_distributed()
    elsewhere = tmp_path_factory.mktemp("worker-folder")
    (elsewhere / "loans.csv").write_text(WORKERS)
    info = elsewhere / "scheduler.json"
    source = str(Path(keel.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    scheduler = ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0"]
    worker = ["distributed.cli.dask_worker", "--nthreads", "1", "--no-nanny"]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", *scheduler, "--no-dashboard", "--scheduler-file", str(info)],
            cwd=elsewhere,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, "the dask scheduler did not start in 60 s"
            time.sleep(0.1)
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", *worker, "--no-dashboard", "--scheduler-file", str(info)],
                cwd=elsewhere,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        url = json.loads(info.read_text())["address"]
        _wait_for_worker(url)
        yield url, elsewhere
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_worker(url: str) -> None:
    import distributed

    with distributed.Client(url, timeout="30s") as client:
        client.wait_for_workers(1, timeout=60)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    init_project(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_pipeline adds the file's folder
    monkeypatch.chdir(tmp_path)  # the caller's folder: loans.csv means this one
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "loans.csv").write_text(CALLERS)
    return open_project(tmp_path)


@pytest.mark.slow
def test_a_relative_path_is_the_callers_file_on_a_remote_worker(
    project: Project, cluster: tuple[str, Path]
) -> None:
    address, _ = cluster
    pipeline = load_pipeline(f"{project.config.root / 'flow.py'}:loans")

    remote = run_pipeline(pipeline, executor="dask", address=address, project=project)
    local = run_pipeline(pipeline, project=project)

    assert remote.value("count") == {"rows": 4}  # the caller's file, not the worker's
    assert local.executed == []  # the cache hit is the caller's data, so it is right here
    assert local.value("count") == {"rows": 4}
    (record,) = remote.steps
    (used,) = [i for i in record.inputs if i.kind == "external"]
    assert used.digest == hash_path(project.config.root / "loans.csv").digest
    assert used.detail["path"] == "loans.csv"  # recorded as the pipeline gave it


def _task(project: Project, path: Path, digest: str | None) -> tuple[StepTask, Step]:
    pipeline = load_pipeline(f"{project.config.root / 'flow.py'}:loans")
    step = pipeline.build().check().nodes["count"].step
    task = StepTask(
        pipeline="loans",
        node="count",
        step=step_ref(step),
        inputs={},
        literals={"source": str(path)},
        paths={"source": digest},
        mode="full",
        artifacts_url=project.config.artifacts_url,
        files_dir=str(project.config.state_dir / "pipeline-files"),
    )
    return task, step


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_callers_file_fails_the_step(
    project: Project, cluster: tuple[str, Path], tmp_path: Path
) -> None:
    address, elsewhere = cluster
    digest = hash_path(tmp_path / "loans.csv").digest
    executor = make_executor("dask", 1, address)
    try:
        gone = executor.submit(*_task(project, tmp_path / "gone" / "loans.csv", digest))
        other = executor.submit(*_task(project, elsewhere / "loans.csv", digest))
        unseen = executor.submit(*_task(project, elsewhere / "loans.csv", None))
        same = executor.submit(*_task(project, tmp_path / "loans.csv", digest))
        missing, differing = gone.result(timeout=60), other.result(timeout=60)
        surprise, shared = unseen.result(timeout=60), same.result(timeout=60)
    finally:
        executor.close()

    assert shared.ok, shared.error  # the same bytes at the same path: the step runs
    assert surprise.error_kind == "error"  # the caller had no file there, the worker has one
    assert "expected no file" in (surprise.error or "")

    for outcome, says in ((missing, "cannot see"), (differing, "other data")):
        error = outcome.error or ""
        assert outcome.error_kind == "error", error
        assert outcome.outputs == ()  # the step never ran on the worker's data
        assert says in error
        assert digest[:12] in error  # what the caller hashed, to compare with the worker's

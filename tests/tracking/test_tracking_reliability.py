"""What users rely on when many processes track at once, or one dies mid-write.

The store tests cover the metadata layer; these go through ``keel.start_run`` itself, so
that fingerprinting, batching and artifact logging are part of what is exercised.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

from keel.config import init_project
from keel.store._metadata import MetadataStore

PROCESSES = 8
RUNS = 200


def _track(project: str, url: str, worker: int, barrier: Any, errors: Any) -> None:
    try:
        os.chdir(project)
        os.environ["KEEL_STORE_URL"] = url
        import keel

        barrier.wait(timeout=60)
        for i in range(RUNS):
            with keel.start_run(f"w{worker}-r{i}", params={"worker": worker, "i": i}) as run:
                run.log_metric("loss", 1.0 / (i + 1), step=0)
                run.log_metrics({"auc": worker / 10, "i": float(i)})
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


@pytest.mark.slow
def test_eight_processes_start_runs_at_once_and_every_record_lands(
    store_url: str, tmp_path: Path
) -> None:
    init_project(tmp_path, name="load")
    MetadataStore(store_url).close()  # create the schema first: this test is about tracking
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=_track, args=(str(tmp_path), store_url, w, barrier, errors))
        for w in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    found_errors = []
    while True:
        try:
            found_errors.append(errors.get(timeout=0.1))
        except Empty:
            break
    assert found_errors == []  # in particular, no "database is locked"
    assert [process.exitcode for process in workers] == [0] * PROCESSES
    with MetadataStore(store_url) as store:
        runs = store.list_runs(limit=None)
    assert len(runs) == PROCESSES * RUNS
    by_name = {run.name: run for run in runs}
    for worker in range(PROCESSES):
        for i in range(RUNS):
            run = by_name[f"w{worker}-r{i}"]
            assert run.status == "finished"
            assert run.params == {"worker": worker, "i": i}
            assert run.metrics == {"loss": 1.0 / (i + 1), "auc": worker / 10, "i": float(i)}
            assert "environment" in (run.fingerprint or {})


def test_sigkill_while_a_run_logs_an_artifact_leaves_the_store_consistent(
    tmp_path: Path,
) -> None:
    init_project(tmp_path, name="crash")
    big = tmp_path / "model.bin"
    big.write_bytes(os.urandom(8 << 20))
    code = textwrap.dedent(
        f"""
        import os, time
        os.chdir({str(tmp_path)!r})
        import keel
        from keel.tracking import open_project

        def slow_put(source, target, **kwargs):  # a slow disk
            with open(source, "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 16):
                    dst.write(chunk)
                    dst.flush()
                    time.sleep(0.002)

        with keel.start_run("before") as run:
            run.log_artifact(b"complete", name="done.txt")
        open_project().artifacts.fs.put_file = slow_put
        with keel.start_run("killed") as run:
            print(run.id, flush=True)
            run.log_artifact({str(big)!r}, name="model.bin")
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    killed_id = writer.stdout.readline().strip()
    tmp_dir = tmp_path / ".keel" / "artifacts" / "tmp"
    deadline = time.monotonic() + 20
    while not list(tmp_dir.glob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # well into the copy
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert list(tmp_dir.glob("*.part")), "the writer was killed before it started writing"

    import keel
    from keel.store import hash_file
    from keel.tracking import open_project

    project = open_project(tmp_path)
    runs = {run.name: run for run in project.metadata.list_runs(limit=None)}
    assert runs["before"].status == "finished"
    (done,) = project.metadata.list_artifacts(runs["before"].id)
    assert project.artifacts.get_bytes(done.digest) == b"complete"
    assert runs["killed"].id == killed_id
    assert project.metadata.list_artifacts(killed_id) == []  # nothing half-recorded
    assert not project.artifacts.exists(hash_file(big))  # and no partial bytes under its name
    with keel.start_run("after", project=project) as run:  # the store still works
        ref = run.log_artifact(big, name="model.bin")
    assert project.artifacts.get_bytes(ref.digest) == big.read_bytes()

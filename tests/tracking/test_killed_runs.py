"""A run whose process died is marked ``killed`` by the next opening of the store on its
machine; runs of live processes and of other machines are left ``running``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.config import init_project
from keel.store._metadata import MetadataStore
from keel.store._process import process_gone, this_process

_DOOMED = textwrap.dedent(
    """
    import sys, time
    import keel

    with keel.start_run("doomed") as run:
        print(run.id, flush=True)
        time.sleep(120)
    """
)


def _keel(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_STORE_URL": url}
    command = [sys.executable, "-m", "keel", *args]
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_sigkilled_run_is_shown_killed_by_the_next_command(
    store_url: str, tmp_path: Path
) -> None:
    init_project(tmp_path)
    env = {**os.environ, "KEEL_STORE_URL": store_url}
    doomed = subprocess.Popen(
        [sys.executable, "-c", _DOOMED], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert doomed.stdout is not None
        killed_id = doomed.stdout.readline().strip()
        with MetadataStore(store_url) as store:  # this process is alive: its run stays
            live_id = store.create_run("alive")
            away_id = store.create_run("elsewhere")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        doomed.stdout.close()
    engine = sa.create_engine(store_url)  # not MetadataStore: opening it would mark the runs
    with engine.begin() as conn:  # a run of another machine whose pid is gone here
        conn.execute(
            sa.text("UPDATE runs SET host = 'another-host', pid = :pid WHERE id = :id"),
            {"pid": doomed.pid, "id": away_id},
        )
        running = conn.execute(sa.text("SELECT status FROM runs WHERE id = :id"), {"id": killed_id})
        assert running.scalar_one() == "running"  # nobody finished it
    engine.dispose()

    listed = _keel(tmp_path, store_url, "runs", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    runs = {run["id"]: run for run in json.loads(listed.stdout)}
    assert runs[killed_id]["status"] == "killed"
    assert f"pid {doomed.pid} on {this_process().host}" in runs[killed_id]["error"]
    assert runs[killed_id]["ended_at"] is not None
    assert (runs[live_id]["status"], runs[away_id]["status"]) == ("running", "running")
    assert (runs[live_id]["host"], runs[live_id]["pid"]) == (this_process().host, os.getpid())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process identity is Linux's")
def test_a_reused_pid_or_another_boot_means_gone_another_machine_or_container_does_not() -> None:
    me = this_process()
    assert me.start is not None
    machine, boot, namespace, ticks = me.start.split(":")
    assert not process_gone(me.pid, me.start)
    assert process_gone(me.pid, f"{machine}:{boot}:{namespace}:{int(ticks) + 1}")  # pid reused
    assert process_gone(me.pid, f"{machine}:another-boot:{namespace}:{ticks}")  # rebooted since
    assert not process_gone(me.pid, f"another-machine:{boot}:{namespace}:{ticks}")
    assert not process_gone(4_000_000, f"{machine}:{boot}:4026531999:{ticks}")  # other pid ns
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert process_gone(int(finished.stdout), None)  # no identity recorded: the pid decides

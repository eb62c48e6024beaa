"""keel gc: a dry run by default; only what nothing refers to is removed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.tracking import add_dataset, get_dataset, open_project

runner = CliRunner()


def test_gc_keeps_referenced_and_removes_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    with keel.start_run("r", project=project) as run:
        kept = run.log_artifact(b"logged by a run")
    data = tmp_path / "data.parquet"
    pl.DataFrame({"x": [1, 2]}).write_parquet(data)
    version = add_dataset(data, "d", project=project)
    orphan = project.artifacts.put_bytes(b"nobody refers to me")
    stale = Path(project.artifacts.root) / "tmp" / "crashed.part"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    dry = runner.invoke(app, ["gc", "--format", "json"])
    assert dry.exit_code == 0, dry.output
    found = json.loads(dry.stdout)
    assert found["unreferenced"] == [orphan.digest]
    assert (found["stale_tmp"], found["deleted"]) == (1, False)
    assert project.artifacts.exists(orphan.digest)  # a dry run deletes nothing

    done = runner.invoke(app, ["gc", "--force"])
    assert done.exit_code == 0, done.output
    assert "Deleted 1 unreferenced artifact(s)" in done.stdout
    assert not project.artifacts.exists(orphan.digest)
    assert not stale.exists()
    assert project.artifacts.get_bytes(kept.digest) == b"logged by a run"
    assert version.manifest is not None
    assert project.artifacts.exists(version.manifest)
    restored = tmp_path / "restored.parquet"
    get_dataset("d@1", restored, project=project)
    assert restored.read_bytes() == data.read_bytes()

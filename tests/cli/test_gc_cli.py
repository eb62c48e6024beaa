"""keel gc: a dry run by default; only what nothing refers to is removed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.errors import UsageError
from keel.store import DatasetVersion, MetadataStore
from keel.tracking import (
    GarbageReport,
    Project,
    add_dataset,
    collect_garbage,
    get_dataset,
    open_project,
)

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

    dry = runner.invoke(app, ["gc", "--grace", "0", "--format", "json"])
    assert dry.exit_code == 0, dry.output
    found = json.loads(dry.stdout)
    assert found["unreferenced"] == [orphan.digest]
    assert (found["stale_tmp"], found["deleted"]) == (1, False)
    assert project.artifacts.exists(orphan.digest)  # a dry run deletes nothing

    done = runner.invoke(app, ["gc", "--force", "--grace", "0"])
    assert done.exit_code == 0, done.output
    assert "Deleted 1 unreferenced artifact(s)" in done.stdout
    assert not project.artifacts.exists(orphan.digest)
    assert not stale.exists()
    assert project.artifacts.get_bytes(kept.digest) == b"logged by a run"
    assert version.manifest is not None
    assert project.artifacts.exists(version.manifest)
    restored = tmp_path / "restored.parquet"
    get_dataset("d/1", restored, project=project)
    assert restored.read_bytes() == data.read_bytes()


def _age(store_path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(store_path, (then, then))


def _dataset_objects(project: Project, version: DatasetVersion) -> list[str]:
    assert version.manifest is not None
    listing = json.loads(project.artifacts.get_bytes(version.manifest))
    return [version.manifest, *(item["digest"] for item in listing["files"])]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return open_project(tmp_path)


def _gc_before_recording(
    monkeypatch: pytest.MonkeyPatch, project: Project, **options: Any
) -> list[GarbageReport]:
    """Make every dataset registration run ``keel gc --force`` after its objects are written
    and before its version is recorded: the race of issue 12, made deterministic."""
    reports: list[GarbageReport] = []
    record = MetadataStore.add_dataset_version

    def racing(store: MetadataStore, *args: Any, **kwargs: Any) -> DatasetVersion:
        reports.append(collect_garbage(delete=True, project=project, **options))
        return record(store, *args, **kwargs)

    monkeypatch.setattr(MetadataStore, "add_dataset_version", racing)
    return reports


def test_gc_racing_a_dataset_add_deletes_nothing_it_will_refer_to(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.parquet"
    pl.DataFrame({"x": [1, 2, 3]}).write_parquet(data)
    reports = _gc_before_recording(monkeypatch, project)  # the default grace: an hour
    version = add_dataset(data, "d", project=project)
    assert reports[0].recent == 2
    assert reports[0].unreferenced == ()
    assert all(project.artifacts.exists(d) for d in _dataset_objects(project, version))
    get_dataset("d", tmp_path / "back.parquet", project=project)
    assert (tmp_path / "back.parquet").read_bytes() == data.read_bytes()


def test_an_old_unreferenced_object_re_used_by_an_add_is_not_collected_under_it(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n2\n")
    orphan = project.artifacts.put_file(data)  # stored long ago, by nothing that remains
    _age(project.artifacts.path(orphan.digest), 7200)
    reports = _gc_before_recording(monkeypatch, project)
    add_dataset(data, "d", project=project)  # re-uses the object: its time is refreshed
    assert orphan.digest not in reports[0].unreferenced
    get_dataset("d", tmp_path / "back.csv", project=project)
    assert (tmp_path / "back.csv").read_text() == "x\n1\n2\n"


def test_without_a_grace_the_race_loses_the_objects_and_re_adding_restores_them(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 100)
    (folder / "b.bin").write_bytes(b"b" * 100)
    with monkeypatch.context() as patch:
        reports = _gc_before_recording(patch, project, grace=0)
        version = add_dataset(folder, "imgs", project=project)
    objects = _dataset_objects_unverified(project, version)
    assert sorted(reports[0].unreferenced) == sorted(objects)  # grace 0 deletes fresh garbage
    lost = runner.invoke(app, ["data", "get", "imgs", str(tmp_path / "out")])
    assert lost.exit_code == 2
    assert "keel data add" in lost.stderr

    again = runner.invoke(app, ["data", "add", str(folder), "--name", "imgs"])
    assert again.exit_code == 0, again.output
    assert all(project.artifacts.exists(d) for d in objects)
    assert [v.version for v in project.metadata.list_dataset_versions("imgs")] == [1]
    got = runner.invoke(app, ["data", "get", "imgs", str(tmp_path / "out")])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "out" / "b.bin").read_bytes() == b"b" * 100


def _dataset_objects_unverified(project: Project, version: DatasetVersion) -> list[str]:
    """The objects a version refers to, computed from the listing's bytes as written."""
    from keel.versioning import hash_path

    assert version.manifest is not None
    assert version.uri is not None
    found = hash_path(Path(version.uri))
    return [version.manifest, *(f.digest for f in found.files)]


def test_gc_grace_zero_still_deletes_real_garbage_and_an_hour_keeps_fresh_objects(
    project: Project,
) -> None:
    fresh = project.artifacts.put_bytes(b"written a moment ago")
    old = project.artifacts.put_bytes(b"written two hours ago")
    _age(project.artifacts.path(old.digest), 7200)

    kept = runner.invoke(app, ["gc", "--force", "--format", "json"])
    assert kept.exit_code == 0, kept.output
    report = json.loads(kept.stdout)
    assert report["unreferenced"] == [old.digest]
    assert (report["recent"], report["grace_seconds"]) == (1, 3600.0)
    assert project.artifacts.exists(fresh.digest)
    assert not project.artifacts.exists(old.digest)

    gone = runner.invoke(app, ["gc", "--force", "--grace", "0", "--format", "json"])
    assert json.loads(gone.stdout)["unreferenced"] == [fresh.digest]
    assert not project.artifacts.exists(fresh.digest)


def test_a_bad_grace_is_refused(project: Project) -> None:
    result = runner.invoke(app, ["gc", "--grace", "soon"])
    assert result.exit_code == 2
    assert "--grace 'soon' is not a duration" in result.stderr
    with pytest.raises(UsageError, match="grace period"):
        collect_garbage(grace=-1, project=project)


@pytest.mark.parametrize(("grace", "seconds"), [("15m", 900), ("1w", 604_800), ("250ms", 0.25)])
def test_the_grace_flag_reads_the_one_duration_grammar(
    project: Project, grace: str, seconds: float
) -> None:
    result = runner.invoke(app, ["gc", "--grace", grace, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["grace_seconds"] == seconds
    text = runner.invoke(app, ["gc", "--grace", grace])
    assert f"within the grace period ({grace})" in text.stdout


def test_gc_racing_a_run_artifact_or_a_model_registration_loses_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from keel.store import ModelStore

    reports: list[GarbageReport] = []
    for owner, method in ((MetadataStore, "add_artifact"), (ModelStore, "add_version")):
        record = getattr(owner, method)

        def racing(*args: Any, _record: Any = record, **kwargs: Any) -> Any:
            reports.append(collect_garbage(delete=True, project=project))
            return _record(*args, **kwargs)

        monkeypatch.setattr(owner, method, racing)
    with keel.start_run("r", project=project) as run:
        ref = run.log_artifact(b"weights")
    model = DecisionTreeClassifier(max_depth=1).fit([[0.0], [1.0]], [0, 1])
    keel.register(model, "tree", project=project)
    assert all(report.unreferenced == () for report in reports)
    assert len(reports) == 2
    assert project.artifacts.get_bytes(ref.digest) == b"weights"
    assert keel.load("tree/1", project=project).predict(np.array([[1.0]])).tolist() == [1]

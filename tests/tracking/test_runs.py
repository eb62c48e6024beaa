"""``keel.start_run``: what a user records, and what a failure leaves behind."""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path

import pytest

import keel
from keel.config import init_project
from keel.errors import InputError, UsageError
from keel.tracking import Project, open_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path, name="demo")
    return open_project(tmp_path)


def test_a_run_records_params_metrics_tags_and_artifacts(project: Project, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    with keel.start_run("train", params={"lr": 0.1}, tags={"team": "risk"}, project=project) as run:
        run.log_param("layers", [64, 32])
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"auc": 0.91, "nan_metric": math.nan, "inf_metric": math.inf})
        run.set_tag("stage", "dev")
        ref = run.log_artifact(model)
        run.log_artifact({"threshold": 0.5}, name="config.json")
    stored = project.metadata.get_run(run.id)
    assert stored.status == "finished"
    assert stored.name == "train"
    assert stored.params == {"lr": 0.1, "layers": [64, 32]}
    assert stored.tags == {"team": "risk", "stage": "dev"}
    assert stored.metrics["loss"] == pytest.approx(1 / 3)
    assert math.isnan(stored.metrics["nan_metric"])
    assert stored.metrics["inf_metric"] == math.inf
    assert [m.value for m in project.metadata.metric_history(run.id, "loss")] == pytest.approx(
        [1.0, 0.5, 1 / 3]
    )
    names = {a.name: a.digest for a in project.metadata.list_artifacts(run.id)}
    assert names["model.bin"] == ref.digest
    assert project.artifacts.get_bytes(ref.digest) == b"weights"
    assert json.loads(project.artifacts.get_bytes(names["config.json"])) == {"threshold": 0.5}


def test_every_run_records_its_fingerprint(project: Project) -> None:
    with keel.start_run("fp", seed=7, project=project) as run:
        drawn = random.random()
    random.seed(7)
    assert drawn == random.random()  # seed= seeded the global generator
    fingerprint = project.metadata.get_run(run.id).fingerprint
    assert fingerprint is not None
    assert fingerprint["seed"] == 7
    assert fingerprint["code"]["kind"] == "files"  # tmp_path is not a git work tree
    assert fingerprint["environment"]["packages_digest"]


def test_a_dirty_git_tree_stores_its_diff_as_an_artifact(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (tmp_path / "train.py").write_text("lr = 0.2\n")
    init_project(tmp_path)
    project = open_project(tmp_path)
    with keel.start_run("dirty", project=project) as run:
        pass
    code = project.metadata.get_run(run.id).fingerprint["code"]  # type: ignore[index]
    assert (code["kind"], code["dirty"]) == ("git", True)
    diff = {a.name: a.digest for a in project.metadata.list_artifacts(run.id)}["code.diff"]
    assert diff == code["diff_digest"]
    assert b"+lr = 0.2" in project.artifacts.get_bytes(diff)


def test_an_exception_marks_the_run_failed_with_its_traceback(project: Project) -> None:
    started: list[str] = []

    def train() -> None:
        with keel.start_run("boom", project=project) as run:
            started.append(run.id)
            run.log_metric("before", 1.0)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    stored = project.metadata.get_run(started[0])
    assert stored.status == "failed"
    assert stored.error is not None
    assert "ZeroDivisionError" in stored.error
    assert stored.metrics == {"before": 1.0}  # buffered metrics were not lost


def test_runs_nest(project: Project) -> None:
    with keel.start_run("outer", project=project) as outer:
        assert keel.active_run() is outer
        with keel.start_run("inner", project=project) as inner:
            assert keel.active_run() is inner
        assert keel.active_run() is outer
    assert keel.active_run() is None
    assert project.metadata.get_run(inner.id).parent_id == outer.id


def test_bad_input_is_refused_clearly(project: Project, tmp_path: Path) -> None:
    with keel.start_run("bad", project=project) as run:
        with pytest.raises(UsageError, match="'when'"):
            run.log_params({"when": object()})
        with pytest.raises(UsageError, match="must be a number"):
            run.log_metric("acc", "high")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="no file to log"):
            run.log_artifact(tmp_path / "missing.bin")
        with pytest.raises(UsageError, match="cannot log an object of type set"):
            run.log_artifact({1, 2})
    assert project.metadata.get_run(run.id).status == "finished"


def test_many_metrics_are_written_in_batches(project: Project) -> None:
    with keel.start_run("loop", project=project) as run:
        for step in range(1200):
            run.log_metric("loss", 1 / (step + 1), step=step)
    history = project.metadata.metric_history(run.id, "loss")
    assert len(history) == 1200
    assert history[-1].step == 1199


def test_runs_record_the_dataset_versions_they_read(project: Project, tmp_path: Path) -> None:
    import polars as pl

    from keel.tracking import add_dataset, compare_runs

    data = tmp_path / "d.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(data)
    first = add_dataset(data, "d", project=project)
    with keel.start_run("a", project=project) as a:
        assert a.use_dataset("d").version == 1
    pl.DataFrame({"x": [2]}).write_parquet(data)
    add_dataset(data, "d", project=project)
    with keel.start_run("b", project=project) as b:
        b.use_dataset("d/2")
    store = project.metadata
    run_a, run_b = store.get_run(a.id), store.get_run(b.id)
    assert run_a.fingerprint is not None
    assert run_a.fingerprint["data"] == [{"name": "d", "version": 1, "digest": first.digest}]
    assert compare_runs([run_a, run_b]).differs["data"] is True
    assert compare_runs([run_a, run_a]).differs["data"] is False
    with keel.start_run("c", project=project) as c, pytest.raises(UsageError):
        c.use_dataset("d@two")

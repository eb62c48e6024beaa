"""The registry: immutable versions, aliases with optimistic concurrency, rollback, history,
safe packages verified on load, and models rejected when they cannot predict."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project
from keel.errors import UsageError
from keel.models import ModelPackageError, load_model, save_model
from keel.registry import AliasConflictError, ModelRejectedError, rollback, set_alias
from keel.tracking import Project, open_project


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


def _data(rows: int = 200, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=rows) > 0.5).astype(int)
    return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1]}), y


def _model(c: float = 1.0) -> LogisticRegression:
    frame, y = _data()
    return LogisticRegression(C=c).fit(frame.to_numpy(), y)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    init_project(tmp_path)
    return open_project(tmp_path)


def test_register_then_load_by_version_alias_and_latest(project: Project) -> None:
    model = _model()
    v1 = keel.register(model, "churn", contract=Features, metrics={"auc": 0.8}, project=project)
    v2 = keel.register(_model(0.1), "churn", contract=Features, project=project)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.adapter == "sklearn"
    assert v1.created_by == "ana"
    set_alias("churn", "champion", 1, reason="first", project=project)
    frame, _ = _data(20, seed=1)
    loaded = keel.load("churn@champion", project=project)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame.to_numpy()))
    assert loaded.columns == ("x1", "x2")
    assert loaded.manifest.metrics == {"auc": 0.8}
    assert keel.load("churn/2", project=project).manifest.adapter == "sklearn"
    latest = project.metadata.models.get_version("churn")
    assert latest.version == 2


def test_the_package_is_stored_safely_and_verified(project: Project, tmp_path: Path) -> None:
    keel.register(_model(), "churn", contract=Features, project=project)
    folder = tmp_path / "pkg"
    manifest = save_model(_model(), folder, contract=Features)
    assert not any(name.endswith(".pkl") for name in manifest.files)  # skops, not pickle
    assert "scikit-learn" in manifest.frameworks
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    assert manifest.input_contract is not None
    (file,) = [folder / name for name in manifest.files]
    file.write_bytes(file.read_bytes() + b"tampered")
    with pytest.raises(ModelPackageError, match=f"file {file.name} of model package"):
        load_model(folder)


def test_a_framework_version_change_warns_naming_both(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    save_model(_model(), folder, contract=Features)
    manifest = folder / "keel-model.yaml"
    text = manifest.read_text()
    import sklearn

    manifest.write_text(text.replace(f"scikit-learn: {sklearn.__version__}", "scikit-learn: 0.1.0"))
    with pytest.warns(
        UserWarning, match=rf"saved with scikit-learn 0.1.0; .* {sklearn.__version__}"
    ):
        load_model(folder)


def test_a_model_that_cannot_predict_on_contract_rows_is_rejected(project: Project) -> None:
    class Wide(keel.Schema):
        x1: float
        x2: float
        x3: float

    with pytest.raises(
        ModelRejectedError,
        match="predict failed on contract-shaped data: ValueError: X has 3 features",
    ):
        keel.register(_model(), "churn", contract=Wide, project=project)
    assert project.metadata.models.models() == []  # nothing half-registered


def test_an_alias_to_a_missing_version_is_refused(project: Project) -> None:
    keel.register(_model(), "churn", contract=Features, project=project)
    with pytest.raises(UsageError, match="has no version 7") as caught:
        set_alias("churn", "champion", 7, project=project)
    assert caught.value.hint == "Its versions: 1."
    with pytest.raises(UsageError, match="no model 'chrun'") as missing:
        keel.load("chrun@champion", project=project)
    assert "Did you mean 'churn'?" in str(missing.value.hint)


def test_rollback_returns_to_the_previous_target_and_everything_is_recorded(
    project: Project,
) -> None:
    for c in (1.0, 0.5, 0.1):
        keel.register(_model(c), "churn", contract=Features, project=project)
    set_alias("churn", "champion", 1, project=project)
    set_alias("churn", "champion", 3, reason="better auc", project=project)
    state = rollback("churn", "champion", reason="p99 latency", project=project)
    assert state.version == 1
    events = project.metadata.models.events("churn")
    kinds = [(e.kind, e.version, e.previous_version, e.reason) for e in events]
    assert kinds == [
        ("register", 1, None, None),
        ("register", 2, None, None),
        ("register", 3, None, None),
        ("alias", 1, None, None),
        ("alias", 3, 1, "better auc"),
        ("rollback", 1, 3, "p99 latency"),
    ]
    assert {e.actor for e in events} == {"ana"}


def test_two_moves_from_the_same_revision_one_wins(project: Project) -> None:
    for c in (1.0, 0.5, 0.1):
        keel.register(_model(c), "churn", contract=Features, project=project)
    set_alias("churn", "champion", 1, project=project)
    read = project.metadata.models.alias("churn", "champion")
    set_alias("churn", "champion", 2, expected_revision=read.revision, project=project)
    with pytest.raises(AliasConflictError, match="moved since it was read"):
        set_alias("churn", "champion", 3, expected_revision=read.revision, project=project)
    assert project.metadata.models.alias("churn", "champion").version == 2


def _move(job: tuple[str, str, int, int], barrier: Any, results: Any) -> None:
    url, root, version, revision = job
    os.environ["KEEL_STORE_URL"] = url
    from keel.registry import AliasConflictError, set_alias
    from keel.tracking import open_project

    project = open_project(Path(root))
    barrier.wait(timeout=30)
    try:
        set_alias("churn", "champion", version, expected_revision=revision, project=project)
        results.put("won")
    except AliasConflictError:
        results.put("conflict")


@pytest.mark.slow
def test_concurrent_alias_moves_in_two_processes(store_url: str, tmp_path: Path) -> None:
    init_project(tmp_path)
    os.environ["KEEL_STORE_URL"] = store_url
    try:
        project = open_project(tmp_path)
        for c in (1.0, 0.5, 0.1):
            keel.register(_model(c), "churn", contract=Features, project=project)
        set_alias("churn", "champion", 1, project=project)
        revision = project.metadata.models.alias("churn", "champion").revision
    finally:
        del os.environ["KEEL_STORE_URL"]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(
            target=_move, args=((store_url, str(tmp_path), v, revision), barrier, results)
        )
        for v in (2, 3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(results.get(timeout=5) for _ in workers) == ["conflict", "won"]


def test_registering_inside_a_run_records_lineage(project: Project) -> None:
    with keel.start_run("train", project=project) as run:
        version = keel.register(_model(), "churn", contract=Features, project=project)
    assert version.run_id == run.id
    loaded = keel.load("churn", project=project)
    assert loaded.manifest.lineage["run"] == run.id


def test_models_cli_list_show_history_alias_rollback(project: Project) -> None:
    for c in (1.0, 0.5):
        keel.register(_model(c), "churn", contract=Features, project=project)
    root = project.config.root
    env = {**os.environ, "KEEL_ACTOR": "bo", "NO_COLOR": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keel", "models", *args],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    assert cli("alias", "churn", "champion", "1").returncode == 0
    assert cli("alias", "churn", "champion", "2", "--reason", "retrained").returncode == 0
    done = cli("rollback", "churn", "--reason", "bad canary")
    assert done.returncode == 0, done.stderr
    assert "rolled back to version 1" in done.stdout
    listed = json.loads(cli("list", "--format", "json").stdout)
    assert listed[0]["name"] == "churn"
    assert listed[0]["latest"] == 2
    assert listed[0]["aliases"] == {"champion": 1}
    shown = json.loads(cli("show", "churn@champion", "-f", "json").stdout)
    assert [v["version"] for v in shown] == [1]
    assert shown[0]["aliases"] == ["champion"]
    history = json.loads(cli("history", "churn", "-f", "json").stdout)
    assert [(e["kind"], e["actor"]) for e in history][-3:] == [
        ("alias", "bo"),
        ("alias", "bo"),
        ("rollback", "bo"),
    ]
    assert history[-1]["reason"] == "bad canary"
    bad = cli("alias", "churn", "champion", "9")
    assert bad.returncode == 2
    assert "has no version 9" in bad.stderr


def test_garbage_collection_keeps_every_registered_version(project: Project) -> None:
    from keel.tracking import collect_garbage

    keel.register(_model(), "churn", contract=Features, project=project)
    found = collect_garbage(delete=True, grace=0, project=project)
    assert list(found.unreferenced) == []
    cache = project.config.state_dir / "models"
    if cache.exists():
        import shutil

        shutil.rmtree(cache)  # loading again must fetch every file from the store
    assert keel.load("churn/1", project=project).predict(np.zeros((1, 2))).shape == (1,)


def test_an_edited_local_copy_of_a_manifest_is_fetched_again(project: Project) -> None:
    version = keel.register(_model(), "churn", contract=Features, project=project)
    keel.load("churn/1", project=project)  # cached under .keel/models/<manifest digest>/
    cached = project.config.state_dir / "models" / version.manifest / "keel-model.yaml"
    cached.write_text(cached.read_text().replace("trusted: false", "trusted: true"))
    loaded = keel.load("churn/1", project=project)
    assert loaded.manifest.trusted is False  # the registry's copy, not the edited one


def _cached_model_file(project: Project, ref: str) -> Path:
    found = keel.registry.resolve(ref, project=project)
    folder = project.config.state_dir / "models" / found.manifest
    (file,) = [p for p in folder.iterdir() if p.name != "keel-model.yaml"]
    return file


@pytest.mark.parametrize("damage", ["corrupt", "remove"])
def test_a_damaged_model_cache_entry_is_fetched_again_from_the_store(
    project: Project, damage: str
) -> None:
    model = _model()
    keel.register(model, "churn", contract=Features, project=project)
    keel.load("churn/1", project=project)  # fills the cache
    file = _cached_model_file(project, "churn/1")
    good = file.read_bytes()
    if damage == "corrupt":
        file.write_bytes(good[:-10] + b"0123456789")
    else:
        file.unlink()
    frame, _ = _data(20, seed=1)
    loaded = keel.load("churn/1", project=project)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame.to_numpy()))
    assert file.read_bytes() == good  # the cache is healed


def test_the_cli_loading_a_model_heals_a_corrupted_cache(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from keel.cli import app

    keel.register(_model(), "churn", contract=Features, project=project)
    keel.load("churn/1", project=project)
    file = _cached_model_file(project, "churn/1")
    file.write_bytes(b"not a model")
    frame, y = _data(50, seed=2)
    frame.with_columns(y=pl.Series(y)).write_parquet(tmp_path / "holdout.parquet")
    monkeypatch.chdir(tmp_path)
    args = ["models", "evaluate", "churn/1", "--data", "holdout.parquet", "--target", "y"]
    result = CliRunner().invoke(app, [*args, "--n-boot", "10", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 50
    assert file.read_bytes() != b"not a model"


def test_a_model_damaged_in_the_store_too_is_a_clear_error(project: Project) -> None:
    version = keel.register(_model(), "churn", contract=Features, project=project)
    keel.load("churn/1", project=project)
    _cached_model_file(project, "churn/1").write_bytes(b"cache damaged")
    listing = json.loads(project.artifacts.get_bytes(version.listing))
    (item,) = [i for i in listing["files"] if i["path"] != "keel-model.yaml"]
    Path(project.artifacts.path(item["digest"])).write_bytes(b"store damaged")
    with pytest.raises(ModelPackageError) as info:
        keel.load("churn/1", project=project)
    assert "churn/1 is damaged in the artifact store" in info.value.message
    assert item["digest"] in info.value.message
    assert info.value.hint is not None
    assert "Register the model again" in info.value.hint


def test_a_contract_is_taken_in_any_of_its_forms(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(Features.to_yaml(), encoding="utf-8")
    for given in (Features, Features.__contract__, path, str(path)):
        version = keel.register(_model(), "churn", contract=given, project=project)
        loaded = keel.load(f"churn/{version.version}", project=project)
        assert loaded.input_contract == Features.__contract__  # parsed once, from the manifest
        assert loaded.manifest.input_contract is loaded.input_contract
    count = len(project.metadata.models.versions("churn"))
    with pytest.raises(UsageError, match=r"contract=\{'x1': 'float'\} is not a contract"):
        keel.register(_model(), "churn", contract={"x1": "float"}, project=project)
    with pytest.raises(UsageError, match="output_contract=3 is not a contract"):
        keel.register(_model(), "churn", output_contract=3, project=project)
    assert len(project.metadata.models.versions("churn")) == count  # nothing registered

"""Reference profiles stored with model and dataset versions: read back exactly, inherited
from the training dataset, kept by gc, and compared with exactly as the raw reference data."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project, load_config
from keel.errors import InputError, UsageError
from keel.monitor import (
    Profile,
    compare,
    dataset_reference,
    model_reference,
    profile_reference,
    store_dataset_reference,
    store_model_reference,
)
from keel.monitor._reference import find_reference
from keel.registry import set_alias
from keel.store import ArtifactStore, MetadataStore
from keel.tracking import Project, add_dataset, collect_garbage, start_run


class Features(keel.Schema):
    income: float
    tenure: float


def _data(rows: int, seed: int, *, shift: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["n", "s", "e", "w"], rows, p=[0.4, 0.3, 0.2, 0.1])
    if shift:
        region = rng.choice(["n", "s", "e", "w"], rows, p=[0.1, 0.2, 0.3, 0.4])
    return pl.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows) * (1.5 if shift else 1.0),
            "tenure": rng.uniform(0, 120, rows),
            "region": region,
            "churned": rng.integers(0, 2, rows),
        }
    )


def _same(stored: dict[str, Any], raw: dict[str, Any]) -> None:
    """The same verdicts and flags; scores equal up to float rounding (the two sides' moments
    are summed in a different order)."""
    assert (stored["drifted"], stored["share"]) == (raw["drifted"], raw["share"])
    assert stored["reference_rows"] == raw["reference_rows"]
    assert [(c["column"], c["method"], c["drifted"]) for c in stored["columns"]] == [
        (c["column"], c["method"], c["drifted"]) for c in raw["columns"]
    ]
    for a, b in zip(stored["columns"], raw["columns"], strict=True):
        for key in ("score", "low", "high", "p_value"):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12)


def _model() -> LogisticRegression:
    frame = _data(200, 0)
    x = frame.select("income", "tenure").to_numpy()
    return LogisticRegression().fit(x, frame["churned"].to_numpy())


def _project(root: Path, url: str) -> Project:
    init_project(root)
    config = load_config(root)
    return Project(config, MetadataStore(url), ArtifactStore(config.artifacts_url))


@pytest.fixture
def project(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    opened = _project(tmp_path, sqlite_url)
    yield opened
    opened.metadata.close()


@pytest.fixture
def any_project(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """A project on SQLite, then on PostgreSQL: for what touches the metadata store."""
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    opened = _project(tmp_path, store_url)
    yield opened
    opened.metadata.close()


def _register(project: Project, reference: Any = None) -> int:
    version = keel.register(
        _model(), "churn", contract=Features, sample=_data(8, 9), reference=reference,
        project=project,
    )  # fmt: skip
    return version.version


def test_a_model_reference_is_stored_with_the_version_and_read_back(any_project: Project) -> None:
    project = any_project
    train = _data(5_000, 1)
    _register(project, reference=train)
    stored = model_reference("churn/1", project=project)
    assert isinstance(stored, Profile)
    # the contract's columns, and the model's answers on them (for prediction drift)
    assert list(stored.columns) == ["income", "tenure", "prediction", "score"]
    assert stored.rows == 5_000
    answers = _model().predict_proba(train.select("income", "tenure").to_numpy())[:, 1]
    assert stored.columns["score"].mean == pytest.approx(float(answers.mean()))
    set_alias("churn", "champion", 1, project=project)
    assert model_reference("churn@champion", project=project) == stored
    assert model_reference("churn", project=project) == stored
    again = store_model_reference("churn/1", _data(3_000, 2), project=project)  # replaces it
    assert model_reference("churn/1", project=project) == again
    assert again.rows == 3_000
    kinds = [e.kind for e in keel.registry.history("churn", project=project)]
    assert kinds == ["register", "reference", "alias", "reference"]


def test_an_explicit_contract_or_none_chooses_the_columns(project: Project) -> None:
    keel.register(_model(), "plain", project=project)  # no contract
    everything = store_model_reference("plain", _data(500, 1), project=project)
    assert list(everything.columns) == ["income", "tenure", "region", "churned"]

    class Two(keel.Schema):
        income: float
        tenure: float

    two = store_model_reference("plain/1", _data(500, 1), contract=Two, project=project)
    assert list(two.columns) == ["income", "tenure"]


def test_a_dataset_reference_profiles_the_version_s_own_files(
    any_project: Project, tmp_path: Path
) -> None:
    project = any_project
    path = tmp_path / "train.parquet"
    _data(4_000, 1).write_parquet(path)
    add_dataset(path, "train", profile=False, project=project)
    assert dataset_reference("train/1", project=project) is None  # nothing stored yet
    computed = store_dataset_reference("train/1", project=project)
    assert dataset_reference("train", project=project) == computed
    assert computed == store_dataset_reference("train/1", path, project=project)
    path.unlink()  # gone from where it was added: restored from the artifact store
    assert store_dataset_reference("train/1", project=project) == computed
    record = project.metadata.references.get("dataset", "train", 1)
    assert record is not None
    assert (record.rows, record.source) == (4_000, "data:train/1")


def test_data_added_by_reference_only_must_be_unchanged(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    add_dataset(path, "events", reference_only=True, project=project)
    assert store_dataset_reference("events", project=project).rows == 2
    path.write_text("a,b\n1,x\n2,y\n3,z\n")
    with pytest.raises(InputError, match="changed or gone"):
        store_dataset_reference("events/1", project=project)


def test_a_model_falls_back_to_its_one_training_dataset(
    any_project: Project, tmp_path: Path
) -> None:
    project = any_project
    path = tmp_path / "train.parquet"
    _data(3_000, 1).write_parquet(path)
    add_dataset(path, "train", project=project)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not tabular")
    add_dataset(tmp_path / "notes", "notes", project=project)
    with start_run("train", project=project) as run:
        run.use_dataset("train/1")
        run.use_dataset("notes")  # not tabular: does not count
        _register(project)
    inherited = model_reference("churn/1", project=project)
    assert inherited is not None
    assert list(inherited.columns) == ["income", "tenure"]  # the model's columns
    own = dataset_reference("train/1", project=project)  # computed and stored on first use
    assert own is not None
    assert list(own.columns) == ["income", "tenure", "region", "churned"]
    assert inherited.columns["income"] == own.columns["income"]
    assert project.metadata.references.get("model", "churn", 1) is None  # inherited, not copied
    shown = find_reference("model:churn/1", project=project)
    assert shown is not None
    assert shown.to_dict()["inherited_from"] == "data:train/1"


def test_no_reference_without_exactly_one_tabular_training_dataset(
    project: Project, tmp_path: Path
) -> None:
    for name, seed in (("a", 1), ("b", 2)):
        _data(100, seed).write_parquet(tmp_path / f"{name}.parquet")
        add_dataset(tmp_path / f"{name}.parquet", name, project=project)
    _register(project)  # outside any run
    assert model_reference("churn/1", project=project) is None
    with start_run("train", project=project) as run:
        run.use_dataset("a")
        run.use_dataset("b")
        _register(project)
    assert model_reference("churn/2", project=project) is None  # which one? neither
    _data(100, 3).drop("tenure").write_parquet(tmp_path / "raw.parquet")
    add_dataset(tmp_path / "raw.parquet", "raw", project=project)
    with start_run("train", project=project) as run:
        run.use_dataset("raw")  # not the model's features: no tenure
        _register(project)
    assert model_reference("churn/3", project=project) is None
    with pytest.raises(UsageError, match="has no reference profile") as info:
        compare("model:churn/2", _data(100, 3), project=project)
    assert "keel monitor reference set churn/2" in str(info.value.hint)


def test_gc_keeps_stored_profiles_and_frees_replaced_ones(any_project: Project) -> None:
    project = any_project
    _register(project, reference=_data(1_000, 1))
    first = project.metadata.references.get("model", "churn", 1)
    assert first is not None
    assert first.digest in project.metadata.referenced_digests()
    assert first.digest not in collect_garbage(grace=0, project=project).unreferenced
    store_model_reference("churn/1", _data(1_000, 2), project=project)
    second = project.metadata.references.get("model", "churn", 1)
    assert second is not None
    assert second.digest != first.digest
    report = collect_garbage(delete=True, grace=0, project=project)
    assert report.unreferenced == (first.digest,)  # only the replaced profile is garbage
    assert model_reference("churn/1", project=project) is not None  # still readable


def test_compare_with_a_stored_reference_equals_compare_with_the_raw_data(
    project: Project, tmp_path: Path
) -> None:
    train = _data(20_000, 1)
    _register(project, reference=train)
    set_alias("churn", "champion", 1, project=project)
    path = tmp_path / "train.parquet"
    train.write_parquet(path)
    add_dataset(path, "train", project=project)
    store_dataset_reference("train/1", path, project=project)
    for current in (_data(5_000, 2), _data(5_000, 3, shift=True)):
        raw = compare(train, current, columns=["income", "tenure"]).to_dict()
        for reference in ("model:churn@champion", "model:churn/1"):
            _same(compare(reference, current, project=project).to_dict(), raw)
        everything = compare(train, current).to_dict()
        _same(compare("data:train/1", current, project=project).to_dict(), everything)
    stored = dataset_reference("train", project=project)
    drifted = {r.column for r in compare(stored, current).columns if r.drifted}
    assert drifted == {"income", "region"}


def test_slices_of_the_current_data_are_compared_with_the_whole_reference(
    project: Project, tmp_path: Path
) -> None:
    _data(20_000, 1).write_parquet(tmp_path / "train.parquet")
    add_dataset(tmp_path / "train.parquet", "train", project=project)
    store_dataset_reference("train", project=project)
    current = pl.concat([_data(4_000, 2), _data(4_000, 3, shift=True)]).with_columns(
        batch=pl.Series(["old"] * 4_000 + ["new"] * 4_000)
    )
    result = compare("data:train", current, slice_by="batch", project=project)
    assert set(result.slices) == {"batch=new", "batch=old"}
    assert not any(r.drifted for r in result.slices["batch=old"])
    assert {r.column for r in result.slices["batch=new"] if r.drifted} == {"income", "region"}
    assert result.reference.rows == 20_000  # every slice against the whole reference


def test_errors_name_the_unknown_thing_or_the_missing_columns(
    project: Project, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="no model 'churn'"):
        model_reference("churn", project=project)
    _register(project)
    with pytest.raises(UsageError, match="has no version 7"):
        store_model_reference("churn/7", _data(100, 1), project=project)
    with pytest.raises(UsageError, match="has no version 7"):
        compare("model:churn/7", _data(100, 1), project=project)
    with pytest.raises(UsageError, match="lacks column"):
        store_model_reference("churn/1", _data(100, 1).drop("income"), project=project)
    with pytest.raises(UsageError, match=r"lacks column.*tenure"):
        _register(project, reference=_data(100, 1).drop("tenure"))
    assert [v.version for v in project.metadata.models.versions("churn")] == [1]  # nothing new
    with pytest.raises(UsageError, match="dataset 'nope' is not"):
        dataset_reference("nope/1", project=project)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG")
    add_dataset(tmp_path / "images", "images", project=project)
    with pytest.raises(UsageError, match="not tabular"):
        store_dataset_reference("images", project=project)
    store_model_reference("churn/1", _data(100, 1), project=project)
    with pytest.raises(UsageError, match=r"current data lacks column.*nope"):
        compare("model:churn/1", _data(100, 1), columns=["nope"], project=project)
    with pytest.raises(UsageError, match=r"reference profile lacks column.*region"):
        compare("model:churn/1", _data(100, 1), columns=["region"], project=project)
    record = project.metadata.references.get("model", "churn", 1)
    assert record is not None
    project.artifacts.delete(record.digest)  # e.g. a hand-cleaned artifact store
    with pytest.raises(InputError, match="missing from the artifact store") as info:
        model_reference("churn/1", project=project)
    assert "keel monitor reference set churn/1 DATA" in str(info.value.hint)


def test_keel_register_is_the_registry_s_register() -> None:
    # one function: a parameter added to the registry's register is keel.register's too
    assert keel.register is keel.registry.register
    assert "reference" in inspect.signature(keel.registry.register).parameters


class Tiered(keel.Schema):
    income: float
    tier: keel.Categorical = keel.Field(isin=["1", "2", "3"])


def test_a_model_reference_profiles_each_column_by_the_kind_its_contract_declares(
    project: Project,
) -> None:
    rng = np.random.default_rng(3)
    train = pl.DataFrame(
        {"income": rng.lognormal(10, 0.5, 300), "tier": rng.integers(1, 4, 300)}
    )  # the tiers stored as integer codes: by their storage, a numeric column
    fitted = LogisticRegression().fit(train.to_numpy(), rng.integers(0, 2, 300))
    keel.register(fitted, "tiers", contract=Tiered, reference=train, project=project)
    stored = model_reference("tiers/1", project=project)
    assert stored is not None
    assert stored.columns["tier"].kind == "categorical"  # as the contract declares it
    assert stored.columns["income"].kind == "numeric"
    assert profile_reference(train).columns["tier"].kind == "numeric"  # without a contract

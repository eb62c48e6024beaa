"""``keel.add_dataset``: a dataset version with its reference profile, in one call (what
``keel data add`` does)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import keel
from keel.config import init_project
from keel.monitor import find_reference
from keel.tracking import open_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    init_project(tmp_path)
    return tmp_path


def test_tabular_data_gets_its_reference_profile(project: Path) -> None:
    pl.DataFrame({"income": [1.0, 2.0, 3.0], "region": ["a", "b", "a"]}).write_parquet("t.parquet")
    version = keel.add_dataset("t.parquet", "train")
    stored = find_reference("data:train/1")
    assert version.version == 1
    assert stored is not None
    assert stored.profile.rows == 3
    assert list(stored.profile.columns) == ["income", "region"]
    assert keel.add_dataset("t.parquet", "train").version == 1  # unchanged: profile kept


def test_profile_false_and_non_tabular_data_store_none(project: Path) -> None:
    pl.DataFrame({"x": [1, 2]}).write_parquet("t.parquet")
    keel.add_dataset("t.parquet", "train", profile=False)
    (project / "images").mkdir()
    (project / "images" / "a.png").write_bytes(b"\x89PNG")
    keel.add_dataset("images", "images")
    references = open_project().metadata.references
    assert references.get("dataset", "train", 1) is None
    assert references.get("dataset", "images", 1) is None


def test_a_profile_that_fails_warns_and_the_version_is_recorded(project: Path) -> None:
    pl.DataFrame({"tags": [[1, 2], [3]]}).write_parquet("t.parquet")  # nothing to profile
    recorded = pytest.warns(keel.ProfileWarning, match=r"train/1 was recorded without a reference")
    skipped = pytest.warns(UserWarning, match=r"does not profile its type")
    with recorded, skipped:
        version = keel.add_dataset("t.parquet", "train")
    assert version.version == 1
    assert find_reference("data:train/1") is None


def test_one_add_dataset_in_the_public_api() -> None:
    """One name per concept: the facade and the tracking package hand out the same function."""
    import keel.tracking

    assert keel.add_dataset is keel.tracking.add_dataset
    assert keel.ProfileWarning is keel.tracking.ProfileWarning

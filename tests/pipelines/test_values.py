"""Step values restored from the cache: a file output's name comes from the metadata store, and
a crafted one cannot place the file outside the pipeline's file cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.pipelines._step import Port
from keel.pipelines._values import load_value
from keel.store import ArtifactStore, StepIO, UnsafePathError


@pytest.mark.parametrize("filename", ["../../../evil.pth", "{tmp}/evil.pth", "a/../../../../x"])
def test_a_crafted_file_name_in_the_store_is_refused(tmp_path: Path, filename: str) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    ref = store.put_bytes(b"import os\n")
    files = tmp_path / "state" / "pipeline-files"
    item = StepIO(
        "model", "file", ref.digest, ref.size, {"filename": filename.format(tmp=tmp_path)}
    )
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UnsafePathError, match="names the path"):
        load_value(item, Port("model", "file", Path), store, files, trust=None)
    assert sorted(tmp_path.rglob("*")) == before


def test_an_honest_file_output_is_restored_under_its_name(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    ref = store.put_bytes(b"weights")
    item = StepIO("model", "file", ref.digest, ref.size, {"filename": "model.bin"})
    restored = load_value(item, Port("model", "file", Path), store, tmp_path / "files", trust=None)
    assert restored.name == "model.bin"
    assert restored.read_bytes() == b"weights"
    assert restored.is_relative_to(tmp_path / "files")

"""Stored file listings: one reader and one writer for datasets and models, and a listing that
is not what Keel wrote is refused by name before anything is restored or deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keel.config import init_project
from keel.errors import InputError
from keel.store import ArtifactStore, ListedFile, Listing, read_listing, write_listing
from keel.tracking import add_dataset, collect_garbage, open_project

HINT = "add the data again"


def test_a_listing_reads_back_as_written(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    files = [ListedFile("a/b.csv", "1" * 64, 3), ListedFile("c.csv", "2" * 64, 5)]
    digest = write_listing(store, "directory", files)
    assert read_listing(store, digest, where="w", hint=HINT) == Listing("directory", tuple(files))
    assert write_listing(store, "directory", files) == digest  # same files, same object


def test_a_listing_written_by_an_earlier_keel_still_reads(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    earlier = b'{"files": [{"digest": "ab", "path": "x.parquet", "size": 9}], "kind": "file"}'
    found = read_listing(store, store.put_bytes(earlier).digest, where="w", hint=HINT)
    assert found == Listing("file", (ListedFile("x.parquet", "ab", 9),))


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b"[]",
        b'{"kind": "folder", "files": []}',
        b'{"kind": "model", "files": [{"path": "a"}]}',
        b'{"kind": "model", "files": [{"digest": "ab", "path": 3}]}',
        b'{"kind": "file", "files": []}',
    ],
)
def test_a_listing_keel_did_not_write_is_refused_by_name(tmp_path: Path, stored: bytes) -> None:
    store = ArtifactStore(tmp_path)
    digest = store.put_bytes(stored).digest
    with pytest.raises(InputError) as caught:
        read_listing(store, digest, where="the file listing of dataset loans", hint=HINT)
    assert caught.value.message.startswith("the file listing of dataset loans is not a list")
    assert caught.value.hint == HINT


def test_gc_with_a_damaged_listing_stops_before_deleting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loans.csv").write_text("a,b\n1,2\n")
    version = add_dataset(tmp_path / "loans.csv", "loans")
    project = open_project(tmp_path)
    assert version.manifest is not None
    orphan = project.artifacts.put_bytes(b"nothing refers to this").digest
    os.utime(project.artifacts.path(orphan), (0, 0))  # old enough for any grace
    listing = Path(project.artifacts.path(version.manifest))
    listing.chmod(0o644)
    listing.write_text(json.dumps({"kind": "directory", "files": "everything"}))
    with pytest.raises(InputError, match=version.manifest):  # corrupted: caught by its hash
        collect_garbage(delete=True, grace=0, project=project)
    assert project.artifacts.exists(orphan)

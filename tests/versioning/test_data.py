"""Data fingerprints: file and directory digests, the hash cache, and dataset diffs."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.errors import InputError, UsageError
from keel.store import hash_file as real_hash_file
from keel.versioning import (
    DataFingerprint,
    HashCache,
    _data,
    diff_fingerprints,
    hash_path,
)

PAST_NS = 1_600_000_000 * 10**9  # well outside the cache's racy window


def _write(root: Path, files: dict[str, bytes], *, age: bool = True) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if age:
            os.utime(path, ns=(PAST_NS, PAST_NS))


def _reference(files: dict[str, bytes]) -> str:
    """The directory digest computed independently, with blake3 directly."""
    lines = b"".join(
        rel.encode() + b"\0" + blake3.blake3(files[rel]).hexdigest().encode() + b"\n"
        for rel in sorted(files)
    )
    return blake3.blake3(lines).hexdigest()


DATASET = {
    "train.csv": b"a,b\n1,2\n",
    "test.csv": b"a,b\n3,4\n",
    "images/cat.png": b"\x89PNG" + bytes(range(256)) * 10,
    "images/nested/dog.png": b"woof",
    "empty.txt": b"",
}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the hashing function actually reads."""
    reads: list[Path] = []

    def hash_file(path: Path) -> str:
        reads.append(Path(path))
        return real_hash_file(path)

    monkeypatch.setattr(_data, "hash_file", hash_file)
    return reads


def test_a_file_hashes_to_its_blake3(tmp_path: Path) -> None:
    _write(tmp_path, {"x.bin": b"hello"})
    fp = hash_path(tmp_path / "x.bin")
    assert fp.kind == "file"
    assert fp.digest == blake3.blake3(b"hello").hexdigest()
    assert (fp.size, fp.file_count) == (5, 1)


def test_a_directory_hashes_to_the_reference(tmp_path: Path) -> None:
    _write(tmp_path / "data", DATASET)
    fp = hash_path(tmp_path / "data")
    assert fp.kind == "directory"
    assert fp.digest == _reference(DATASET)
    assert fp.file_count == len(DATASET)
    assert fp.size == sum(len(c) for c in DATASET.values())
    assert {f.path: f.digest for f in fp.files} == {
        rel: blake3.blake3(c).hexdigest() for rel, c in DATASET.items()
    }


def test_large_files_use_the_threaded_hash_and_agree(tmp_path: Path) -> None:
    big = {"big.bin": os.urandom(3 << 20), "small.bin": b"s"}
    _write(tmp_path / "d", big)
    assert hash_path(tmp_path / "d").digest == _reference(big)


def test_creation_order_and_timestamps_do_not_matter(tmp_path: Path) -> None:
    _write(tmp_path / "a", DATASET)
    _write(tmp_path / "b", dict(reversed(DATASET.items())), age=False)
    assert hash_path(tmp_path / "a") == hash_path(tmp_path / "b")


def test_a_changed_file_changes_the_digest(tmp_path: Path) -> None:
    _write(tmp_path / "d", DATASET)
    before = hash_path(tmp_path / "d")
    (tmp_path / "d" / "train.csv").write_bytes(b"a,b\n1,3\n")
    assert hash_path(tmp_path / "d").digest != before.digest


def test_a_renamed_file_changes_the_digest(tmp_path: Path) -> None:
    _write(tmp_path / "d", DATASET)
    before = hash_path(tmp_path / "d")
    (tmp_path / "d" / "test.csv").rename(tmp_path / "d" / "valid.csv")
    assert hash_path(tmp_path / "d").digest != before.digest


def test_parallel_equals_serial(tmp_path: Path) -> None:
    files = {f"part-{i:03}.bin": os.urandom(i * 97) for i in range(60)}
    _write(tmp_path / "d", files)
    serial = hash_path(tmp_path / "d", workers=1)
    assert hash_path(tmp_path / "d", workers=8) == serial
    assert hash_path(tmp_path / "d") == serial
    assert serial.digest == _reference(files)


def test_second_run_reads_nothing(tmp_path: Path, counted: list[Path]) -> None:
    _write(tmp_path / "d", DATASET)
    cache = HashCache(tmp_path / ".keel" / "cache")
    first = hash_path(tmp_path / "d", cache=cache)
    assert (first.cache_hits, len(counted)) == (0, len(DATASET))
    counted.clear()
    second = hash_path(tmp_path / "d", cache=cache)
    assert counted == []
    assert second.cache_hits == second.file_count == len(DATASET)
    assert second == first
    assert cache.path == tmp_path / ".keel" / "cache" / "hashes.db"


def test_cache_is_shared_by_a_new_cache_object(tmp_path: Path, counted: list[Path]) -> None:
    _write(tmp_path / "d", DATASET)
    hash_path(tmp_path / "d", cache=HashCache(tmp_path / "c"))
    counted.clear()
    assert hash_path(tmp_path / "d", cache=HashCache(tmp_path / "c")).cache_hits == len(DATASET)
    assert counted == []


def test_a_touched_file_is_read_again(tmp_path: Path, counted: list[Path]) -> None:
    _write(tmp_path / "d", DATASET)
    cache = HashCache(tmp_path / "c")
    first = hash_path(tmp_path / "d", cache=cache)
    target = tmp_path / "d" / "train.csv"
    target.write_bytes(b"a,b\n9,9\n")  # same size, new content
    os.utime(target, ns=(PAST_NS + 10**9, PAST_NS + 10**9))
    counted.clear()
    second = hash_path(tmp_path / "d", cache=cache)
    assert counted == [target]
    assert second.cache_hits == len(DATASET) - 1
    assert second.digest != first.digest
    assert diff_fingerprints(first, second).changed == ("train.csv",)


def test_files_written_just_now_are_not_cached(tmp_path: Path, counted: list[Path]) -> None:
    _write(tmp_path / "d", {"fresh.csv": b"1"}, age=False)
    cache = HashCache(tmp_path / "c")
    hash_path(tmp_path / "d", cache=cache)
    assert hash_path(tmp_path / "d", cache=cache).cache_hits == 0
    assert len(counted) == 2


def test_single_file_uses_the_cache(tmp_path: Path, counted: list[Path]) -> None:
    _write(tmp_path, {"model.bin": b"weights"})
    cache = HashCache(tmp_path / "c")
    hash_path(tmp_path / "model.bin", cache=cache)
    again = hash_path(tmp_path / "model.bin", cache=cache)
    assert (again.cache_hits, len(counted)) == (1, 1)


def test_the_cache_folder_inside_the_data_is_not_hashed(tmp_path: Path) -> None:
    _write(tmp_path / "d", DATASET)
    cache = HashCache(tmp_path / "d" / ".keel" / "cache")
    first = hash_path(tmp_path / "d", cache=cache)
    assert first.digest == _reference(DATASET)
    assert hash_path(tmp_path / "d", cache=cache).digest == first.digest


def test_a_corrupt_cache_says_to_delete_it(tmp_path: Path) -> None:
    _write(tmp_path / "d", DATASET)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "hashes.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="Delete"):
        hash_path(tmp_path / "d", cache=HashCache(tmp_path / "c"))


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot hash") as info:
        hash_path(tmp_path / "nope")
    assert info.value.hint


def test_a_broken_link_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "gone").symlink_to(tmp_path / "missing")
    with pytest.raises(InputError, match="broken symbolic link"):
        hash_path(tmp_path / "d")


def test_diff_between_dataset_versions(tmp_path: Path) -> None:
    _write(tmp_path / "v1", DATASET)
    v2 = {k: v for k, v in DATASET.items() if k != "test.csv"}
    v2 |= {"train.csv": b"a,b\n0,0\n", "extra/new.csv": b"n\n"}
    _write(tmp_path / "v2", v2)
    diff = diff_fingerprints(hash_path(tmp_path / "v1"), hash_path(tmp_path / "v2"))
    assert diff.to_dict() == {
        "added": ["extra/new.csv"],
        "removed": ["test.csv"],
        "changed": ["train.csv"],
    }
    assert diff
    assert not diff_fingerprints(hash_path(tmp_path / "v1"), hash_path(tmp_path / "v1"))


def test_json_round_trip(tmp_path: Path) -> None:
    _write(tmp_path / "d", DATASET)
    fp = hash_path(tmp_path / "d")
    assert DataFingerprint.from_dict(json.loads(json.dumps(fp.to_dict()))) == fp


_names = st.text(alphabet="abcxyz_-.0123456789", min_size=1, max_size=6).filter(
    lambda s: s not in {".", ".."}
)
_trees = st.dictionaries(
    st.lists(_names, min_size=1, max_size=3).map("/".join),
    st.binary(max_size=64),
    max_size=8,
)


def _valid(tree: dict[str, bytes]) -> bool:
    """No path is both a file and a folder."""
    return not any(other.startswith(rel + "/") for rel in tree for other in tree)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=_trees.filter(_valid), seed=st.randoms())
def test_digest_depends_only_on_path_content_pairs(
    tmp_path_factory: pytest.TempPathFactory, tree: dict[str, bytes], seed: random.Random
) -> None:
    order = list(tree.items())
    seed.shuffle(order)
    first, second = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    _write(first, tree)
    _write(second, dict(order), age=False)
    assert hash_path(first).digest == hash_path(second).digest == _reference(tree)


def test_a_relative_cache_folder_inside_the_data_is_skipped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "d", DATASET)
    monkeypatch.chdir(tmp_path)
    cache = HashCache("d/.keel/cache")
    hash_path("d", cache=cache)
    assert hash_path("d", cache=cache).digest == _reference(DATASET)


def test_zero_workers_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least one worker"):
        hash_path(tmp_path, workers=0)

"""The artifact store: content addressing, atomic writes, verified reads, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.errors import InputError, UsageError
from keel.store import ArtifactStore, hash_bytes, hash_file
from keel.store._artifacts import ArtifactCorruptedError


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(tmp_path / "artifacts")
    return ArtifactStore(f"memory://keel-tests/{tmp_path.name}")


def test_bytes_round_trip_and_are_named_by_their_hash(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"model weights")
    assert ref.digest == hash_bytes(b"model weights")
    assert ref.size == len(b"model weights")
    assert store.get_bytes(ref.digest) == b"model weights"
    assert list(store.digests()) == [ref.digest]


def test_the_same_bytes_are_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 5000)
    first = store.put_file(source)
    second = store.put_bytes(b"x" * 5000)
    third = store.put_stream([b"x" * 2500, b"x" * 2500])
    assert first == second == third
    assert list(store.digests()) == [first.digest]


def test_files_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))  # large enough for the multi-threaded hash
    ref = store.put_file(source)
    assert ref.digest == hash_file(source)
    out = store.get_file(ref.digest, tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == source.read_bytes()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_streamed_hash_equals_one_shot_hash(chunks: list[bytes]) -> None:
    store = ArtifactStore("memory://keel-tests/hypothesis")
    ref = store.put_stream(chunks)
    assert ref.digest == hash_bytes(b"".join(chunks))
    assert store.get_bytes(ref.digest) == b"".join(chunks)


def test_a_tampered_artifact_is_detected_and_named(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    ref = store.put_bytes(b"the real bytes")
    Path(store.path(ref.digest)).write_bytes(b"the fake bytes")
    with pytest.raises(ArtifactCorruptedError) as caught:
        store.get_bytes(ref.digest)
    assert ref.digest in str(caught.value)
    assert store.path(ref.digest) in str(caught.value)
    target = tmp_path / "restored.bin"
    with pytest.raises(ArtifactCorruptedError):
        store.get_file(ref.digest, target)
    assert not target.exists()  # nothing half-written is left behind


def test_missing_artifacts_and_bad_digests(store: ArtifactStore) -> None:
    with pytest.raises(InputError, match="is not in the store"):
        store.get_bytes("0" * 64)
    with pytest.raises(UsageError, match="is not an artifact digest"):
        store.get_bytes("../../etc/passwd")


def test_unknown_scheme_and_missing_implementation() -> None:
    with pytest.raises(UsageError, match="unknown artifact store URL scheme 'xyz'"):
        ArtifactStore("xyz://bucket/keel")


def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ArtifactStore(blocker / "artifacts")
    with pytest.raises(UsageError, match="cannot write to the artifact store") as caught:
        store.put_bytes(b"data")
    assert "KEEL_ARTIFACTS_URL" in str(caught.value)


def test_sigkill_while_writing_leaves_no_partial_artifact(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    code = textwrap.dedent(
        f"""
        import sys, time
        from keel.store import ArtifactStore

        def slow():
            for _ in range(10_000):
                yield b"x" * 65536
                time.sleep(0.001)

        store = ArtifactStore({str(root)!r})
        print("writing", flush=True)
        store.put_stream(slow())
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 10
    while not list((root / "tmp").glob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # well into the write
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    store = ArtifactStore(root)
    assert list(store.digests()) == []  # the partial write is not an artifact
    partial = list((root / "tmp").glob("*.part"))
    assert partial, "the writer was killed before it started writing"
    ref = store.put_bytes(b"after the crash")
    assert store.get_bytes(ref.digest) == b"after the crash"


def test_a_trusted_digest_that_is_wrong_is_caught_on_read(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "data.bin"
    source.write_bytes(b"hashed before it changed")
    digest = hash_file(source)
    source.write_bytes(b"changed before the copy")  # the race put_file(digest=) allows
    ref = store.put_file(source, digest=digest)
    with pytest.raises(ArtifactCorruptedError):
        store.get_bytes(ref.digest)


def _age(store: ArtifactStore, digest: str, seconds: float) -> None:
    """Make an object look ``seconds`` old (memory:// keeps a datetime per object)."""
    then = time.time() - seconds
    if store.is_local:
        os.utime(store.path(digest), (then, then))
    else:
        import datetime as dt

        store.fs.store[
            store.fs._strip_protocol(store.path(digest))
        ].modified = dt.datetime.fromtimestamp(then, tz=dt.UTC)


def test_storing_stored_bytes_again_refreshes_their_time(
    store: ArtifactStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(b"old but re-used")
    _age(store, ref.digest, 7200)
    store.put_bytes(b"old but re-used")
    assert (found := store.stat(ref.digest)) is not None
    assert found[1] > time.time() - 60
    _age(store, ref.digest, 7200)
    file = tmp_path / "same.bin"
    file.write_bytes(b"old but re-used")
    store.put_file(file)
    assert (found := store.stat(ref.digest)) is not None
    assert found[1] > time.time() - 60


def test_delete_unused_spares_objects_written_since_the_cutoff(store: ArtifactStore) -> None:
    old = store.put_bytes(b"old")
    new = store.put_bytes(b"new")
    _age(store, old.digest, 7200)
    cutoff = time.time() - 3600
    assert store.delete_unused(new.digest, older_than=cutoff) is False
    assert store.delete_unused(old.digest, older_than=cutoff) is True
    assert store.exists(new.digest)
    assert not store.exists(old.digest)
    assert store.delete_unused(old.digest, older_than=cutoff) is False  # already gone


def test_an_object_re_used_while_gc_removes_it_is_never_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    ref = store.put_bytes(b"shared")
    rename = os.rename

    def writer_first(source: str, target: str) -> None:  # re-used just before gc's move
        store.put_bytes(b"shared")
        rename(source, target)

    def writer_after(source: str, target: str) -> None:  # re-used just after gc's move
        rename(source, target)
        store.put_bytes(b"shared")

    for race in (writer_first, writer_after):
        _age(store, ref.digest, 7200)
        monkeypatch.setattr(os, "rename", race)
        store.delete_unused(ref.digest, older_than=time.time() - 3600)
        monkeypatch.setattr(os, "rename", rename)
        assert store.get_bytes(ref.digest) == b"shared", race.__name__
    assert not list((tmp_path / "artifacts" / "tmp").iterdir())  # nothing left aside

"""The artifact store: content-addressed, deduplicated, written atomically, verified on read.

Objects live at ``<root>/objects/<2 hex>/<62 hex>``, named by the BLAKE3 digest of their
bytes, so the same bytes are stored once and a name can never point at other bytes. A write
goes to ``<root>/tmp/`` first and is renamed into place only when complete: a crash (even
SIGKILL) leaves at most an invisible temporary file, never a partial artifact. Every read
re-hashes what it reads; bytes that do not match their name raise an error naming the
object, instead of being used.

An object's modification time is when it was last written *or re-used*: storing bytes that
are already stored refreshes it. ``keel gc`` deletes only unreferenced objects older than its
grace period (:meth:`ArtifactStore.delete_unused`), so a write whose metadata is not yet
recorded, even one that re-used an old unreferenced object, is never collected under it.

The root is any fsspec URL: a local folder (the default ``.keel/artifacts``), ``file://``,
``memory://``, or ``s3://``, ``gs://``... when their fsspec package is installed.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from keel.errors import InputError, UsageError
from keel.store._hashing import hash_file
from keel.store._localfs import LocalFS

__all__ = ["ArtifactCorruptedError", "ArtifactRef", "ArtifactStore"]

_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


class ArtifactCorruptedError(InputError):
    """Stored bytes no longer match their content hash."""


@dataclass(frozen=True)
class ArtifactRef:
    """A stored artifact: its BLAKE3 digest (its name) and size in bytes."""

    digest: str
    size: int


class ArtifactStore:
    """Content-addressed storage of bytes under any fsspec URL."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self.url = os.fspath(url)
        self.fs, self.root = _filesystem(self.url)
        self._local = isinstance(self.fs, LocalFS) or _is_fsspec_local(self.fs)

    @property
    def is_local(self) -> bool:
        """Whether the store is a folder on this machine (atomic renames, direct paths)."""
        return self._local

    # -- writing --------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> ArtifactRef:
        """Store ``data``; return its reference (a no-op if the same bytes are stored)."""
        return self.put_stream([data])

    def put_stream(self, chunks: Iterable[bytes]) -> ArtifactRef:
        """Store the concatenated ``chunks``, hashing while writing (one pass, any size)."""
        tmp = self._tmp_path()
        hasher, size = blake3.blake3(), 0
        with self._writing(tmp), self.fs.open(tmp, "wb") as out:
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return self._commit(tmp, hasher.hexdigest(), size)

    def put_file(self, path: str | os.PathLike[str], *, digest: str | None = None) -> ArtifactRef:
        """Store a file's bytes (hashed first: an already stored file is not copied).

        ``digest``, when the caller has just hashed the file, saves hashing it again; reads
        still verify, so a file changed in between is caught, never silently misnamed.
        """
        source = Path(path)
        if not source.is_file():
            raise InputError(f"no file to store at {source}.", hint="Check the path.")
        digest = digest or hash_file(source)
        size = source.stat().st_size
        if self._reuse(self.path(digest)):
            return ArtifactRef(digest, size)
        tmp = self._tmp_path()
        with self._writing(tmp):
            self.fs.put_file(str(source), tmp)
        return self._commit(tmp, digest, size)

    # -- reading --------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def get_bytes(self, digest: str) -> bytes:
        """The stored bytes, verified against ``digest``."""
        return b"".join(self.read_chunks(digest))

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream the stored bytes; raise at the end if they do not match ``digest``."""
        path = self.path(digest)
        hasher = blake3.blake3()
        try:
            handle = self.fs.open(path, "rb")
        except FileNotFoundError:
            raise InputError(
                f"artifact {digest} is not in the store at {self.url}.",
                hint="It may have been removed by keel gc; store it again (keel data add PATH "
                "--name NAME restores an unchanged dataset's missing files).",
            ) from None
        with handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != digest:
            raise ArtifactCorruptedError(
                f"artifact {digest} at {path} is corrupted: its bytes hash to "
                f"{hasher.hexdigest()}.",
                hint=f"Do not use it. Delete {path} and store the artifact again (keel data add "
                "PATH --name NAME restores an unchanged dataset's missing files).",
            )

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Write the verified artifact to ``dest`` (atomically: complete or absent).

        ``dest`` is written as given: a path from a manifest or listing goes through
        :func:`keel.store.safe_join` first. A symbolic link at ``dest`` is replaced, not
        followed."""
        self.path(digest)  # a malformed digest fails before any folder is made
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with part.open("wb") as out:
                for chunk in self.read_chunks(digest):
                    out.write(chunk)
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        return target

    def digests(self) -> Iterator[str]:
        """Every stored digest (temporary files excluded)."""
        base = f"{self.root}/objects"
        if not self.fs.exists(base):
            return
        for path in self.fs.find(base):
            parts = str(path).rstrip("/").split("/")
            digest = parts[-2] + parts[-1]
            if len(digest) == 64 and set(digest) <= _HEX:
                yield digest

    def delete(self, digest: str) -> None:
        path = self.path(digest)
        if self.fs.exists(path):
            self.fs.rm(path)

    def stat(self, digest: str) -> tuple[int, float] | None:
        """``(size, modified)`` of a stored object (Unix time of its last write or re-use);
        ``None`` when it is not stored."""
        path = self.path(digest)
        try:
            if self._local:
                found = os.stat(path)
                return found.st_size, found.st_mtime
            return int(self.fs.size(path)), self.fs.modified(path).timestamp()
        except FileNotFoundError:
            return None

    def delete_unused(self, digest: str, *, older_than: float) -> bool:
        """Delete the object unless it was written or re-used at or after ``older_than`` (Unix
        time); return whether it was deleted.

        On a local store the object is first moved aside and its time checked again, so a
        writer that re-uses it concurrently either refreshed it before the move (it is put
        back) or finds it gone and writes it again: it is never lost under the writer.
        """
        found = self.stat(digest)
        if found is None or found[1] >= older_than:
            return False
        path = self.path(digest)
        if not self._local:  # object stores cannot move atomically: checked just before
            self.fs.rm(path)
            return True
        aside = f"{self.root}/tmp/{uuid.uuid4().hex}.gc"
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):  # (another gc may remove it first)
            if os.stat(aside).st_mtime >= older_than:  # re-used meanwhile: put it back
                os.replace(aside, path)
                return False
            os.remove(aside)
        return True

    def path(self, digest: str) -> str:
        """Where the object named ``digest`` lives."""
        if len(digest) != 64 or not set(digest) <= _HEX:
            raise UsageError(
                f"{digest!r} is not an artifact digest.",
                hint="Digests are 64 lower-case hex characters (BLAKE3).",
            )
        return f"{self.root}/objects/{digest[:2]}/{digest[2:]}"

    # -- internals ------------------------------------------------------------------------
    def _tmp_path(self) -> str:
        return f"{self.root}/tmp/{uuid.uuid4().hex}.part"

    def _writing(self, tmp: str) -> _Writing:
        return _Writing(self, tmp)

    def _reuse(self, final: str) -> bool:
        """Whether ``final`` is stored; if so its time is refreshed (it is in use again)."""
        if not self.fs.exists(final):
            return False
        if self._local:
            try:
                os.utime(final)
            except FileNotFoundError:  # collected between the two calls: write it again
                return False
            return True
        with contextlib.suppress(NotImplementedError, ValueError, OSError):
            self.fs.touch(final, truncate=False)
            return True
        rewrite_metadata = getattr(self.fs, "setxattrs", None)  # s3fs, gcsfs: a copy in place
        if rewrite_metadata is not None:
            with contextlib.suppress(NotImplementedError, ValueError, OSError):
                rewrite_metadata(final, keel_used=str(time.time()))
                return True
        return False  # this filesystem cannot refresh a time: the caller writes it again

    def _commit(self, tmp: str, digest: str, size: int) -> ArtifactRef:
        final = self.path(digest)
        if self._reuse(final):  # the same bytes are already stored: keep one copy
            self.fs.rm(tmp)
            return ArtifactRef(digest, size)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if self._local:
            os.replace(tmp, final)  # atomic on one filesystem
        else:
            self.fs.mv(tmp, final)  # object stores publish an object only once written
        return ArtifactRef(digest, size)


class _Writing:
    """Create the temporary folder; on failure remove the partial file and explain."""

    def __init__(self, store: ArtifactStore, tmp: str) -> None:
        self.store, self.tmp = store, tmp

    def __enter__(self) -> None:
        try:
            self.store.fs.makedirs(self.tmp.rsplit("/", 1)[0], exist_ok=True)
        except OSError as exc:
            raise _unwritable(self.store.url, exc) from exc

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if kind is None:
            return
        if self.store.fs.exists(self.tmp):
            self.store.fs.rm(self.tmp)
        if isinstance(exc, OSError):
            raise _unwritable(self.store.url, exc) from exc


def _unwritable(url: str, exc: OSError) -> UsageError:
    return UsageError(
        f"cannot write to the artifact store at {url}: {exc.strerror or exc}.",
        hint="Make the folder writable, or set [artifacts] url in keel.toml (KEEL_ARTIFACTS_URL).",
    )


def _is_fsspec_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _filesystem(url: str) -> tuple[Any, str]:
    if "://" not in url and "::" not in url:  # a plain folder: no fsspec needed
        return LocalFS(), os.path.abspath(url).rstrip("/") or "/"
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ValueError as exc:
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"unknown artifact store URL scheme {scheme!r} in {url!r}.",
            hint="Use a folder, file://, memory://, s3://, gs:// or another fsspec protocol.",
        ) from exc
    except ImportError as exc:
        raise UsageError(
            f"the artifact store {url!r} needs a package that is not installed: {exc}.",
            hint="Install the fsspec implementation it names (e.g. pip install s3fs).",
        ) from exc
    return fs, str(root).rstrip("/")

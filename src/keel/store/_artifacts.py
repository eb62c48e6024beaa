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
``memory://``, or ``s3://``, ``gs://``... when their fsspec package is installed, opened with
the ``storage_options`` given (``[artifacts.storage_options]`` in ``keel.toml``).

On an object store a write is published by a server-side copy from ``tmp/`` and the removal
of the temporary object, each one object at a time: S3's multi-object ``DeleteObjects``
(what fsspec's ``mv`` and ``rm`` send) needs a ``Content-MD5`` header that botocore 1.36
and later no longer send, which S3-compatible servers such as Swift's s3api refuse. A
failed write removes its temporary object (a multipart upload is aborted); what a crash
leaves under ``tmp/`` is removed by ``keel gc`` once older than an hour. Failures of the
storage client (credentials, endpoint, bucket, permissions) are raised as
:class:`~keel.store.ArtifactStoreError` naming the store and the fix.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from keel.errors import ConfigError, InputError, KeelError, UsageError
from keel.store._hashing import hash_file
from keel.store._localfs import LocalFS
from keel.store._storage_errors import bucket_missing, explain, storage_errors

__all__ = ["ArtifactCorruptedError", "ArtifactRef", "ArtifactStore"]

_CHUNK = 1 << 20
# object stores whose first path segment is a bucket: no folders to make
_BUCKETED = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})
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

    def __init__(
        self, url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.url = os.fspath(url)
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.fs, self.root = _filesystem(self.url, self.storage_options)
        self._local = isinstance(self.fs, LocalFS) or _is_fsspec_local(self.fs)
        protocols = getattr(self.fs, "protocol", ())
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        self._bucketed = bool(set(protocols) & _BUCKETED)
        endpoint = self.storage_options.get("endpoint_url") or (
            self.storage_options.get("client_kwargs") or {}
        ).get("endpoint_url")
        self.where = f"{self.url} (endpoint {endpoint})" if endpoint else self.url
        """The store as error messages name it: its URL, and the endpoint when one is set."""

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
        with self._writing(tmp):
            out = self.fs.open(tmp, "wb")
            try:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            except BaseException:
                _abandon(out)
                raise
            out.close()
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
        with self._guard("store a file"):
            if self._reuse(self.path(digest)):
                return ArtifactRef(digest, size)
        tmp = self._tmp_path()
        with self._writing(tmp):
            self.fs.put_file(str(source), tmp)
        return self._commit(tmp, digest, size)

    # -- reading --------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        with self._guard("look up an artifact"):
            return bool(self.fs.exists(self.path(digest)))

    def get_bytes(self, digest: str) -> bytes:
        """The stored bytes, verified against ``digest``."""
        return b"".join(self.read_chunks(digest))

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream the stored bytes; raise at the end if they do not match ``digest``."""
        path = self.path(digest)
        hasher = blake3.blake3()
        try:
            with self._guard("read an artifact"):
                handle = self.fs.open(path, "rb")
        except FileNotFoundError as exc:
            if not self._local and bucket_missing(exc):
                with self._guard("read an artifact"):
                    raise
            raise InputError(
                f"artifact {digest} is not in the store at {self.url}.",
                hint="It may have been removed by keel gc; store it again (keel data add PATH "
                "--name NAME restores an unchanged dataset's missing files).",
            ) from None
        with handle:
            while True:
                with self._guard("read an artifact"):
                    chunk = handle.read(_CHUNK)
                if not chunk:
                    break
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
        with self._guard("list the artifacts"):
            found = self.fs.find(base) if self.fs.exists(base) else []
        for path in found:
            parts = str(path).rstrip("/").split("/")
            digest = parts[-2] + parts[-1]
            if len(digest) == 64 and set(digest) <= _HEX:
                yield digest

    def delete(self, digest: str) -> None:
        path = self.path(digest)
        with self._guard("delete an artifact"):
            if self.fs.exists(path):
                self._remove(path)

    def stat(self, digest: str) -> tuple[int, float] | None:
        """``(size, modified)`` of a stored object (Unix time of its last write or re-use);
        ``None`` when it is not stored."""
        path = self.path(digest)
        try:
            if self._local:
                found = os.stat(path)
                return found.st_size, found.st_mtime
            with self._guard("read an artifact's time"):
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
            with self._guard("delete an artifact"):
                self._remove(path)
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

    # -- named files beside the objects (logs) ------------------------------------------
    def publish(self, written: str, final: str) -> None:
        """Make the completely written file ``written`` visible as ``final`` (both under the
        store's root), removing ``written``: an atomic rename locally; on an object store a
        server-side copy, then a single-object delete (never ``DeleteObjects``)."""
        with self._guard("publish a file"):
            if self._local:
                os.replace(written, final)
                return
            self.fs.copy(written, final)
        self._discard(written)

    def remove_file(self, path: str) -> None:
        """Delete one file under the store's root (absent already: fine)."""
        with self._guard("delete a file"), contextlib.suppress(FileNotFoundError):
            self._remove(path)

    # -- temporary files ------------------------------------------------------------------
    def stale_temporaries(self, older_than: float) -> list[str]:
        """Temporary files (under ``tmp/``) last written before ``older_than`` (Unix time):
        left by writes that crashed, or whose cleanup failed. A write in progress writes its
        temporary file within seconds, so one older than an hour is garbage."""
        folder = f"{self.root}/tmp"
        stale = []
        with self._guard("list temporary files"):
            found = self.fs.find(folder) if self.fs.exists(folder) else []
            for path in found:
                try:
                    modified = self.fs.modified(path).timestamp()
                except FileNotFoundError:  # finished (or removed) meanwhile
                    continue
                if modified < older_than:
                    stale.append(str(path))
        return stale

    def delete_temporary(self, path: str) -> None:
        """Remove a temporary file listed by :meth:`stale_temporaries` (gone already: fine)."""
        if not path.startswith(f"{self.root}/tmp/"):
            raise UsageError(
                f"{path} is not a temporary file of the artifact store at {self.url}.",
                hint="Pass a path listed by stale_temporaries().",
            )
        with self._guard("delete a temporary file"), contextlib.suppress(FileNotFoundError):
            self._remove(path)

    # -- internals ------------------------------------------------------------------------
    def _tmp_path(self) -> str:
        return f"{self.root}/tmp/{uuid.uuid4().hex}.part"

    def _writing(self, tmp: str) -> _Writing:
        return _Writing(self, tmp)

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        """Storage client failures said as an ArtifactStoreError (object stores only: a
        local folder's errors are the operating system's, already clear)."""
        return nullcontext() if self._local else storage_errors(self.where, doing)

    def _folder(self, path: str) -> None:
        """Make the folder ``path`` goes in, where folders exist. Not on a bucket: object
        stores have no folders, and s3fs's ``makedirs`` creates a missing *bucket*, so a
        misspelled bucket name would be silently created instead of reported."""
        if not self._bucketed:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    def _remove(self, path: str) -> None:
        """Delete one object by a single-object request (``rm_file``): fsspec's ``rm``
        sends S3's ``DeleteObjects``, which S3-compatible servers refuse from botocore
        1.36 on (no ``Content-MD5``)."""
        if self._local:
            self.fs.rm(path)
        else:
            self.fs.rm_file(path)

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
        # s3fs (setxattr), gcsfs (setxattrs): the object is copied onto itself, a new time
        rewrite_metadata = getattr(self.fs, "setxattr", None) or getattr(self.fs, "setxattrs", None)
        if rewrite_metadata is not None:
            with contextlib.suppress(NotImplementedError, ValueError, OSError):
                rewrite_metadata(final, keel_used=str(time.time()))
                self.fs.invalidate_cache(final)  # a listing cached before holds the old time
                return True
        return False  # this filesystem cannot refresh a time: the caller writes it again

    def _commit(self, tmp: str, digest: str, size: int) -> ArtifactRef:
        final = self.path(digest)
        if self._local:
            if self._reuse(final):  # the same bytes are already stored: keep one copy
                self.fs.rm(tmp)
            else:
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                os.replace(tmp, final)  # atomic on one filesystem
            return ArtifactRef(digest, size)
        try:
            with self._guard("store an artifact"):
                if not self._reuse(final):
                    self._folder(final)
                    # a server-side copy publishes the object whole, or not at all
                    self.fs.copy(tmp, final)
        finally:
            self._discard(tmp)
        return ArtifactRef(digest, size)

    def _discard(self, tmp: str) -> None:
        """Remove a temporary object; if that fails too, keel gc removes it later."""
        with contextlib.suppress(Exception):
            self._remove(tmp)


class _Writing:
    """Create the temporary folder; on failure remove the partial file and explain."""

    def __init__(self, store: ArtifactStore, tmp: str) -> None:
        self.store, self.tmp = store, tmp

    def __enter__(self) -> None:
        try:
            with self.store._guard("store an artifact"):
                self.store._folder(self.tmp)
        except OSError as exc:
            raise _unwritable(self.store.url, exc) from exc

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if kind is None:
            return
        if self.store.is_local:
            with contextlib.suppress(OSError):
                if self.store.fs.exists(self.tmp):
                    self.store.fs.rm(self.tmp)
            if isinstance(exc, OSError):
                raise _unwritable(self.store.url, exc) from exc
            return
        self.store._discard(self.tmp)  # on a failing server this may fail too: gc removes it
        if isinstance(exc, Exception) and not isinstance(exc, KeelError):
            translated = explain(exc, self.store.where, "store an artifact")
            if translated is not None:
                raise translated from exc


def _unwritable(url: str, exc: OSError) -> UsageError:
    return UsageError(
        f"cannot write to the artifact store at {url}: {exc.strerror or exc}.",
        hint="Make the folder writable, or set [artifacts] url in keel.toml (KEEL_ARTIFACTS_URL).",
    )


def _abandon(handle: Any) -> None:
    """Close a file being written without publishing it: fsspec's buffered files (S3, GCS...)
    would upload what was buffered on close, so their upload is discarded (a multipart
    upload aborted) instead; other files are closed (their partial file is removed next)."""
    from_fsspec = type(handle).__module__.split(".")[0] not in ("io", "_io", "builtins")
    discard = getattr(handle, "discard", None)
    if from_fsspec and callable(discard) and hasattr(handle, "buffer"):
        with contextlib.suppress(Exception):
            discard()
        handle.closed = True  # closing would flush the (now discarded) buffer
        return
    with contextlib.suppress(Exception):
        handle.close()


def _is_fsspec_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    if "://" not in url and "::" not in url:  # a plain folder: no fsspec needed
        if options:
            raise ConfigError(
                f"storage options were given for the artifact store {url!r}, a local folder.",
                hint="Storage options apply to fsspec URLs (s3://BUCKET/PATH...): set "
                "[artifacts] url too, or remove [artifacts.storage_options].",
            )
        return LocalFS(), os.path.abspath(url).rstrip("/") or "/"
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ValueError as exc:
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"unknown artifact store URL scheme {scheme!r} in {url!r}.",
            hint="Use a folder, file://, memory://, s3://, gs:// or another fsspec protocol.",
        ) from exc
    except ImportError as exc:
        raise UsageError(
            f"the artifact store {url!r} needs a package that is not installed: {exc}.",
            hint="Install the fsspec implementation it names (s3://: pip install 'mlkeel[s3]').",
        ) from exc
    return fs, str(root).rstrip("/")

"""Content hashes of data: a file's BLAKE3, or a directory's digest over its files' digests.

A directory's digest is the BLAKE3 of the lines ``relpath\\0digest\\n``, one per regular
file, sorted by relative posix path; it depends only on the (path, content) pairs, never on
timestamps, permissions or walk order. Files are hashed in parallel threads (BLAKE3 releases
the GIL), and with a :class:`~keel.versioning.HashCache` a file whose size, mtime and inode
have not changed is not read again. Symbolic links to files count as the file they point to;
links to directories are not followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from keel.errors import InputError, UsageError
from keel.store import hash_bytes, hash_file
from keel.versioning._cache import HashCache, signature

__all__ = [
    "DataDiff",
    "DataFingerprint",
    "FileDigest",
    "combine_digests",
    "diff_fingerprints",
    "hash_path",
]


@dataclass(frozen=True)
class FileDigest:
    """One file of a fingerprint: its path (relative, posix), BLAKE3 digest and size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class DataFingerprint:
    """The content identity of a file or directory. ``cache_hits`` is run information only."""

    kind: Literal["file", "directory"]
    digest: str
    size: int
    files: tuple[FileDigest, ...]
    cache_hits: int = field(default=0, compare=False)

    @property
    def file_count(self) -> int:
        """How many files were hashed."""
        return len(self.files)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the digest, sizes and every file (``cache_hits`` left out)."""
        return {
            "kind": self.kind,
            "digest": self.digest,
            "size": self.size,
            "files": {f.path: {"digest": f.digest, "size": f.size} for f in self.files},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataFingerprint:
        """The inverse of :meth:`to_dict`."""
        files = tuple(
            FileDigest(path, entry["digest"], int(entry["size"]))
            for path, entry in sorted(data["files"].items())
        )
        return cls(kind=data["kind"], digest=data["digest"], size=int(data["size"]), files=files)


@dataclass(frozen=True)
class DataDiff:
    """Files added, removed and changed between two fingerprints (relative paths, sorted)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, list[str]]:
        """A JSON-ready dict of the three lists."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


def combine_digests(digests: Mapping[str, str]) -> str:
    """The BLAKE3 of the sorted ``relpath\\0digest\\n`` lines: a directory's digest."""
    lines = (f"{path}\0{digests[path]}\n" for path in sorted(digests))
    return hash_bytes("".join(lines).encode("utf-8", "surrogateescape"))


def diff_fingerprints(old: DataFingerprint, new: DataFingerprint) -> DataDiff:
    """What changed from ``old`` to ``new``, file by file."""
    before = {f.path: f.digest for f in old.files}
    after = {f.path: f.digest for f in new.files}
    return DataDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(p for p in before.keys() & after.keys() if before[p] != after[p])),
    )


def hash_path(
    path: str | os.PathLike[str],
    *,
    cache: HashCache | None = None,
    workers: int | None = None,
) -> DataFingerprint:
    """Fingerprint a file or a directory tree; ``workers=1`` hashes serially."""
    if workers is not None and workers < 1:
        raise UsageError(
            f"hash_path(workers={workers}) needs at least one worker.",
            hint="Pass workers=None for one per core, or workers=1 for serial.",
        )
    root = Path(path).absolute()
    try:
        info = root.stat()
    except OSError as exc:
        raise InputError(
            f"cannot hash {root}: {exc.strerror or exc}.",
            hint="Check the path; relative paths are resolved from the current directory.",
        ) from exc
    if stat.S_ISREG(info.st_mode):
        return _hash_file(root, info, cache)
    if stat.S_ISDIR(info.st_mode):
        return _hash_directory(root, cache, workers)
    raise InputError(
        f"cannot hash {root}: not a regular file or a directory.", hint="Pass a file or folder."
    )


def _hash_file(file: Path, info: os.stat_result, cache: HashCache | None) -> DataFingerprint:
    digests, hits = _digests({file.name: file}, {file.name: info}, cache, workers=1)
    entry = FileDigest(file.name, digests[file.name], info.st_size)
    return DataFingerprint("file", entry.digest, entry.size, (entry,), cache_hits=hits)


def _hash_directory(root: Path, cache: HashCache | None, workers: int | None) -> DataFingerprint:
    paths, stats = _walk(root, skip=cache.path.parent if cache else None)
    digests, hits = _digests(paths, stats, cache, workers)
    files = tuple(FileDigest(rel, digests[rel], stats[rel].st_size) for rel in sorted(paths))
    size = sum(f.size for f in files)
    return DataFingerprint("directory", combine_digests(digests), size, files, cache_hits=hits)


def _walk(root: Path, skip: Path | None) -> tuple[dict[str, Path], dict[str, os.stat_result]]:
    """Every regular file under ``root`` (by relative posix path) and its stat."""
    paths: dict[str, Path] = {}
    stats: dict[str, os.stat_result] = {}
    for folder, dirs, names in os.walk(root, onerror=_raise):
        dirs[:] = [d for d in dirs if skip is None or Path(folder, d) != skip]
        for name in names:
            file = Path(folder, name)
            info = _stat(file)
            if stat.S_ISREG(info.st_mode):
                rel = file.relative_to(root).as_posix()
                paths[rel], stats[rel] = file, info
    return paths, stats


def _digests(
    paths: dict[str, Path],
    stats: dict[str, os.stat_result],
    cache: HashCache | None,
    workers: int | None,
) -> tuple[dict[str, str], int]:
    """Each file's digest (from the cache when its signature matches) and the cache hits."""
    signatures = {str(paths[rel]): signature(stats[rel]) for rel in paths}
    cached = cache.lookup(signatures) if cache else {}
    digests = {rel: cached[str(p)] for rel, p in paths.items() if str(p) in cached}
    missing = [rel for rel in paths if rel not in digests]
    fresh = _hash_many([paths[rel] for rel in missing], workers)
    digests.update(zip(missing, fresh, strict=True))
    if cache is not None and missing:
        cache.store((str(paths[r]), signatures[str(paths[r])], digests[r]) for r in missing)
    return digests, len(paths) - len(missing)


def _hash_many(files: list[Path], workers: int | None) -> list[str]:
    """The digests of ``files``, in order, hashed on ``workers`` threads."""
    if workers == 1 or len(files) <= 1:
        return [_read_digest(f) for f in files]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_read_digest, files))


def _read_digest(file: Path) -> str:
    try:
        return hash_file(file)
    except OSError as exc:
        raise InputError(
            f"cannot read {file}: {exc.strerror or exc}.",
            hint="Check that the file exists and is readable, and is not being rewritten.",
        ) from exc


def _stat(file: Path) -> os.stat_result:
    try:
        return file.stat()
    except OSError as exc:
        raise InputError(
            f"cannot read {file}: {exc.strerror or exc}.",
            hint="A broken symbolic link or a file deleted while hashing; fix or remove it.",
        ) from exc


def _raise(exc: OSError) -> None:
    raise InputError(
        f"cannot list {exc.filename}: {exc.strerror or exc}.",
        hint="Check the folder's permissions.",
    ) from exc

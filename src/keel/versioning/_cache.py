"""A persistent cache of file digests, so unchanged files are not read again (as DVC does).

An entry maps a file's absolute path to its stat signature (size, mtime in ns, inode) and
its BLAKE3 digest; a lookup hits only when the file's current signature is the same. One
row per path, so the cache stays as large as the set of files hashed, not their history.
The store is one SQLite file in WAL mode, opened per call: safe across threads and across
processes of one user. A file modified within :data:`RACY_WINDOW_NS` of being hashed is
not cached, since a second change inside the same timestamp tick would go unseen.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

from keel.errors import InputError

__all__ = ["RACY_WINDOW_NS", "HashCache", "signature"]

RACY_WINDOW_NS = 2_000_000_000  # files younger than this are hashed but not cached
_FILE_NAME = "hashes.db"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hashes "
    "(path TEXT PRIMARY KEY, signature TEXT NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID"
)


def signature(stat: os.stat_result) -> str:
    """What must not change for a cached digest to stay valid: size, mtime (ns), inode."""
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"


class HashCache:
    """File digests kept in ``<folder>/hashes.db`` (the folder is created on first use)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder).absolute() / _FILE_NAME

    def __repr__(self) -> str:
        return f"HashCache({str(self.path.parent)!r})"

    def lookup(self, signatures: Mapping[str, str]) -> dict[str, str]:
        """The cached digest of every path in ``signatures`` whose signature still matches."""
        found: dict[str, str] = {}
        with self._connect() as db:
            for path, sig in signatures.items():
                row = db.execute(
                    "SELECT digest FROM hashes WHERE path = ? AND signature = ?", (path, sig)
                ).fetchone()
                if row is not None:
                    found[path] = row[0]
        return found

    def store(self, entries: Iterable[tuple[str, str, str]], *, now_ns: int | None = None) -> int:
        """Remember ``(path, signature, digest)`` entries; return how many were cached."""
        now = time.time_ns() if now_ns is None else now_ns
        rows = [e for e in entries if now - _mtime_ns(e[1]) >= RACY_WINDOW_NS]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)", rows)
        return len(rows)

    def clear(self) -> None:
        """Forget every entry."""
        with self._connect() as db:
            db.execute("DELETE FROM hashes")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=30.0)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
                with db:  # one transaction: committed on success, rolled back on error
                    yield db
        except (sqlite3.DatabaseError, OSError) as exc:
            raise InputError(
                f"the hash cache at {self.path} cannot be used: {exc}.",
                hint=f"Delete {self.path}; it is only a cache and is rebuilt on the next run.",
            ) from exc


def _mtime_ns(sig: str) -> int:
    return int(sig.split(":")[1])

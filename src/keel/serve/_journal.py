"""A local append-only journal of the log rows a server holds in memory between flushes.

The prediction and feedback logs are written as one Parquet file per flush (every 5 s by
default); the rows in between live in memory. So that a process killed without warning
(SIGKILL, the out-of-memory killer, a pod evicted) loses at most a fraction of a second of
them, :class:`~keel.serve._logwriter.LogWriter` also appends them here every
:data:`JOURNAL_INTERVAL` seconds: one write to the operating system per interval, which a
killed process cannot take back (a power loss can: the journal is not fsync'd).

A journal is a folder of *segments*, one open per process at a time, each holding the rows
of one flush::

    .keel/journal/NAME/<time_ns>-<pid>-<key>.journal

A segment is a sequence of records, each ``<length u32 LE><crc32 u32 LE><payload>``, the
payload a JSON array (:data:`PREDICTIONS`, :data:`FEEDBACK` or :data:`TYPES` and its
items). Reading stops at the first short or damaged record, so a record torn by a kill in
mid-write is dropped and everything before it kept.

The process that writes a segment holds an exclusive ``flock`` on it until the segment's
rows are in the Parquet log and the file is removed; a segment nobody holds belongs to a
dead process and is replayed (:meth:`Journal.orphans`) into the log under its ``key``, which
names the Parquet file: a segment replayed twice, or replayed after its flush had already
written it, writes the same file again, never a second copy of its rows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl

    _FLOCK = True
except ImportError:  # pragma: no cover - not on Windows: no journal there
    _FLOCK = False

__all__ = [
    "FEEDBACK",
    "JOURNAL_INTERVAL",
    "PREDICTIONS",
    "TYPES",
    "Journal",
    "Segment",
    "journal_folder",
]

logger = logging.getLogger("keel.serve")

JOURNAL_INTERVAL = 0.2  # seconds between writes of the buffered rows to the journal
PREDICTIONS = "p"  # ["p", [entry, ...]]: prediction entries, as LogWriter.add buffers them
FEEDBACK = "f"  # ["f", [row, ...]]: feedback rows
TYPES = "t"  # ["t", {column: dtype}]: the input columns' types from then on

_HEADER = struct.Struct("<II")
_SUFFIX = ".journal"


def journal_folder(state_dir: Path, name: str) -> Path:
    """Where the journal of served model ``name`` lives under a project's ``.keel/``."""
    return state_dir / "journal" / name


@dataclass
class Segment:
    """One segment file, locked by this process while ``fd`` is open."""

    path: Path
    key: str
    fd: int
    size: int = 0  # bytes written whole


class Journal:
    """The journal folder of one served model, and this process's open segment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.current: Segment | None = None

    @staticmethod
    def available() -> bool:
        """Whether segments can be locked here (POSIX), without which there is no journal."""
        return _FLOCK

    # -- writing ----------------------------------------------------------------------------
    def write(self, payloads: list[bytes]) -> None:
        """Append records to the open segment (opening one first), in one write."""
        if not payloads:
            return
        if self.current is None:
            self.current = self._open()
        segment = self.current
        data = b"".join(_HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(segment.fd, view) :]
        except OSError:  # a full disk, say: no torn record in front of the next ones
            with contextlib.suppress(OSError):
                os.ftruncate(segment.fd, segment.size)
            raise
        segment.size += len(data)

    def rotate(self) -> Segment | None:
        """Close the open segment for writing and return it (still locked), or None."""
        segment, self.current = self.current, None
        return segment

    def _open(self) -> Segment:
        """A new locked segment: created and locked under a hidden name, then renamed, so
        that no other process can find it unlocked."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = uuid.uuid4().hex
        final = self.folder / f"{time.time_ns()}-{os.getpid()}-{key}{_SUFFIX}"
        hidden = self.folder / f".{final.name}"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(hidden, final)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(hidden)
            raise
        return Segment(final, key, fd)

    # -- reading and removing ---------------------------------------------------------------
    def orphans(self) -> Iterator[Segment]:
        """The segments no live process holds, oldest first, each locked while yielded."""
        if not _FLOCK or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{_SUFFIX}")):
            if path.name.startswith("."):
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # replayed by another process meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live process writes it
                os.close(fd)
                continue
            if os.fstat(fd).st_nlink == 0:  # removed while we waited for it
                os.close(fd)
                continue
            yield Segment(path, path.stem.rsplit("-", 1)[-1], fd)

    @staticmethod
    def read(segment: Segment) -> Iterator[bytes]:
        """The payloads of a segment's whole records; a torn or damaged tail is dropped."""
        data = Path(segment.path).read_bytes()
        at = 0
        while at + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, at)
            payload = data[at + _HEADER.size : at + _HEADER.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                logger.warning(
                    "journal %s: dropped a torn record at byte %d (%d byte(s) after it)",
                    segment.path,
                    at,
                    len(data) - at,
                )
                return
            yield payload
            at += _HEADER.size + length

    @staticmethod
    def release(segment: Segment) -> None:
        """Remove a segment whose rows are in the log, then let go of its lock."""
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(segment.path)
        finally:
            os.close(segment.fd)

    @staticmethod
    def close(segment: Segment) -> None:
        """Let go of a segment's lock and keep its file, for a later replay."""
        os.close(segment.fd)

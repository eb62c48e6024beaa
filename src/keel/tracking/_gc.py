"""``keel gc``: find (and, when asked, delete) artifacts nothing refers to.

Referenced: every run artifact, every dataset manifest, and every file a stored dataset
version's manifest lists. Everything else in the artifact store is garbage, as are
temporary files (under ``tmp/``) older than an hour: left by writes that crashed, or whose
cleanup failed on a failing object store (a write removes its own temporary file). A dry run is the
default: deleting is irreversible.

An unreferenced object written or re-used within the grace period (default an hour) is
kept: an operation in flight (``keel data add``, a model registration, a run logging an
artifact) writes its objects before it records the metadata that refers to them, and may
re-use an old unreferenced object (the store refreshes its time). Such objects are
counted as ``recent``, not deleted. The grace period must exceed the longest such write.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from keel.grammar import Duration, parse_duration
from keel.store import read_listing
from keel.tracking._project import Project, open_project

_ALTERED = "The store's records were altered; nothing was deleted. Re-add the data it lists."

__all__ = ["GRACE_SECONDS", "TMP_GRACE_SECONDS", "GarbageReport", "collect_garbage"]

GRACE_SECONDS = 3600.0
"""Default grace period: unreferenced objects younger than this are never deleted."""

TMP_GRACE_SECONDS = 3600.0
"""Default age past which a temporary file under ``tmp/`` is a crashed write's leftover: a
write in progress keeps one for as long as its upload takes."""


@dataclass(frozen=True)
class GarbageReport:
    """What gc found (and removed, unless it was a dry run)."""

    unreferenced: tuple[str, ...]
    bytes: int
    stale_tmp: int
    referenced: int
    deleted: bool
    recent: int = 0
    """Unreferenced objects kept because they were written or re-used within the grace."""
    grace: float = GRACE_SECONDS

    def to_dict(self) -> dict[str, object]:
        return {
            "unreferenced": list(self.unreferenced),
            "bytes": self.bytes,
            "stale_tmp": self.stale_tmp,
            "referenced": self.referenced,
            "recent": self.recent,
            "grace_seconds": self.grace,
            "deleted": self.deleted,
        }


def collect_garbage(
    *,
    delete: bool = False,
    grace: float | dt.timedelta | Duration | str = GRACE_SECONDS,
    project: Project | None = None,
    tmp_grace: float | dt.timedelta | Duration | str = TMP_GRACE_SECONDS,
) -> GarbageReport:
    """List unreferenced artifacts older than ``grace`` (seconds, a timedelta or a duration
    such as ``"1h"``); remove them (and temporary files older than ``tmp_grace``, left by
    writes that crashed) if ``delete``. Younger unreferenced objects are kept and counted."""
    seconds = parse_duration(grace, where="the gc grace period").seconds
    tmp_seconds = parse_duration(tmp_grace, where="the gc temporary-file grace period").seconds
    project = project or open_project()
    store = project.artifacts
    cutoff = time.time() - seconds
    referenced = _referenced(project)
    old: dict[str, int] = {}
    recent = 0
    for digest in store.digests():
        found = None if digest in referenced else store.stat(digest)
        if found is not None and found[1] >= cutoff:
            recent += 1
        elif found is not None:
            old[digest] = found[0]
    if delete:  # each object's time is checked again as it goes: one re-used meanwhile stays
        removed = {d: size for d, size in old.items() if store.delete_unused(d, older_than=cutoff)}
        recent += len(old) - len(removed)
        old = removed
    stale = store.stale_temporaries(older_than=time.time() - tmp_seconds)
    if delete:
        for path in stale:
            store.delete_temporary(path)
    return GarbageReport(
        tuple(sorted(old)), sum(old.values()), len(stale), len(referenced), delete, recent, seconds
    )


def _referenced(project: Project) -> set[str]:
    """Digests the metadata refers to, and the files of every stored listing."""
    store = project.artifacts
    referenced = project.metadata.referenced_digests()
    for manifest in project.metadata.stored_manifests():
        if store.exists(manifest):
            listing = read_listing(
                store, manifest, where=f"stored listing {manifest}", hint=_ALTERED
            )
            referenced.update(item.digest for item in listing.files)
    return referenced

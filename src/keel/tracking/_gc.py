"""``keel gc``: find (and, when asked, delete) artifacts nothing refers to.

Referenced: every run artifact, every dataset manifest, and every file a stored dataset
version's manifest lists. Everything else in the artifact store is garbage, as are
temporary files of writes that never finished (older than an hour). A dry run is the
default: deleting is irreversible.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from keel.tracking._project import Project, open_project

__all__ = ["GarbageReport", "collect_garbage"]

_STALE_TMP_SECONDS = 3600


@dataclass(frozen=True)
class GarbageReport:
    """What gc found (and removed, unless it was a dry run)."""

    unreferenced: tuple[str, ...]
    bytes: int
    stale_tmp: int
    referenced: int
    deleted: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "unreferenced": list(self.unreferenced),
            "bytes": self.bytes,
            "stale_tmp": self.stale_tmp,
            "referenced": self.referenced,
            "deleted": self.deleted,
        }


def collect_garbage(*, delete: bool = False, project: Project | None = None) -> GarbageReport:
    """List unreferenced artifacts; remove them (and stale temporary files) if ``delete``."""
    project = project or open_project()
    store = project.artifacts
    referenced = project.metadata.referenced_digests()
    for manifest in project.metadata.stored_manifests():
        if store.exists(manifest):
            listing = json.loads(store.get_bytes(manifest))
            referenced.update(item["digest"] for item in listing["files"])
    garbage = tuple(sorted(d for d in store.digests() if d not in referenced))
    size = sum(int(store.fs.size(store.path(d))) for d in garbage)
    stale = _stale_tmp(project)
    if delete:
        for digest in garbage:
            store.delete(digest)
        for path in stale:
            store.fs.rm(path)
    return GarbageReport(garbage, size, len(stale), len(referenced), delete)


def _stale_tmp(project: Project) -> list[str]:
    store = project.artifacts
    folder = f"{store.root}/tmp"
    if not store.fs.exists(folder):
        return []
    cutoff = time.time() - _STALE_TMP_SECONDS
    stale = []
    for path in store.fs.find(folder):
        modified = store.fs.modified(path).timestamp()
        if modified < cutoff:
            stale.append(str(path))
    return stale

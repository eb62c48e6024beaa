"""Stored file listings: which content-addressed objects make up a dataset version or a model
version, and under which relative path each one goes.

A listing is a JSON object ``{"kind": ..., "files": [{"path", "digest", "size"}, ...]}``
stored in the artifact store under its own digest; the metadata store keeps that digest.
This module is the one place that writes and reads the format. Reading checks the shape
only; each path is checked where it is joined to a folder (:func:`keel.store.safe_join`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import InputError

if TYPE_CHECKING:
    from keel.store._artifacts import ArtifactStore

__all__ = ["ListedFile", "Listing", "read_listing", "write_listing"]

KINDS = ("file", "directory", "model")


@dataclass(frozen=True)
class ListedFile:
    """One stored object and the relative path it is restored to."""

    path: str
    digest: str
    size: int | None = None


@dataclass(frozen=True)
class Listing:
    """What a listing holds: ``kind`` (``file``, ``directory`` or ``model``) and its files."""

    kind: str
    files: tuple[ListedFile, ...]


def write_listing(store: ArtifactStore, kind: str, files: list[ListedFile]) -> str:
    """Store the listing of ``files`` and return its digest (the same bytes for the same files)."""
    items = [{"path": f.path, "digest": f.digest, "size": f.size} for f in files]
    return store.put_bytes(
        json.dumps({"kind": kind, "files": items}, sort_keys=True).encode()
    ).digest


def read_listing(store: ArtifactStore, digest: str, *, where: str, hint: str) -> Listing:
    """The listing stored under ``digest``; :class:`InputError` naming ``where`` (with ``hint``)
    when it is not a listing Keel wrote: not JSON, an unknown kind, a file without a string
    path and digest, or a single-file listing with other than one file."""
    try:
        found: Any = json.loads(store.get_bytes(digest))
    except ValueError:
        found = None
    kind = found.get("kind") if isinstance(found, dict) else None
    items = found.get("files") if isinstance(found, dict) else None
    if (
        kind not in KINDS
        or not isinstance(items, list)
        or not all(_is_item(i) for i in items)
        or (kind == "file" and len(items) != 1)
    ):
        raise InputError(f"{where} is not a list of files with their path and digest.", hint=hint)
    files = tuple(ListedFile(i["path"], i["digest"], i.get("size")) for i in items)
    return Listing(str(kind), files)


def _is_item(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("digest"), str)
        and isinstance(item.get("path"), str)
    )

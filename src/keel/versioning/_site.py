"""What is installed: distribution versions and the top-level modules each provides.

Reading every distribution's metadata costs 50-100 ms (``importlib.metadata`` parses each
``METADATA`` and ``RECORD``), which a short CLI command would pay every time. The answer
only changes when something is installed or removed, and that changes the modification
time of a ``sys.path`` folder (a ``*.dist-info`` folder appears, disappears or is renamed).
So the index is kept in the user's cache folder under a key made of ``sys.path`` and those
times; any change to them means a fresh scan. Without a writable cache folder, every
process scans once.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import blake3

__all__ = ["SiteIndex", "site_index"]

_FORMAT = 1


@dataclass(frozen=True)
class SiteIndex:
    """Installed versions (first on ``sys.path`` wins, as for imports), by raw name, and
    the distributions that provide each top-level module."""

    versions: dict[str, str]
    modules: dict[str, list[str]]


@functools.cache
def site_index() -> SiteIndex:
    """The index of this interpreter's installed distributions (cached, see module doc)."""
    key = _key()
    cache = _cache_dir() / f"site-{key}.json" if key else None
    if cache is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            return SiteIndex(data["versions"], data["modules"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    index = _scan()
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(index.__dict__), encoding="utf-8")
            tmp.replace(cache)  # atomic: a reader sees the old file or the whole new one
        except OSError:
            pass  # a read-only home: scan each time
    return index


def _scan() -> SiteIndex:
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and dist.version:
            versions.setdefault(name, dist.version)
    return SiteIndex(versions, {k: list(v) for k, v in metadata.packages_distributions().items()})


def _key() -> str | None:
    """A digest of ``sys.path`` and its folders' modification times (None: not cacheable)."""
    parts = [f"{_FORMAT}", sys.version, sys.prefix]
    for entry in sys.path:
        try:
            stat = os.stat(entry or ".")
        except OSError:
            parts.append(f"{entry}\0-")
            continue
        parts.append(f"{entry}\0{stat.st_mtime_ns}\0{stat.st_ino}")
    return blake3.blake3("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keel"

"""The stores of one Keel project, opened from its configuration."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from keel.config import Config, load_config
from keel.store import ArtifactStore, MetadataStore

__all__ = ["Project", "open_project"]

_LOCK = threading.Lock()
_OPEN: dict[tuple[str, str, str], Project] = {}


@dataclass(frozen=True)
class Project:
    """A project's configuration and its two stores."""

    config: Config
    metadata: MetadataStore
    artifacts: ArtifactStore


def open_project(start: Path | None = None) -> Project:
    """The project around ``start`` (default: the working folder), its stores opened once.

    The configuration is read on every call (a changed ``keel.toml`` or ``KEEL_*`` variable
    takes effect at once); the stores behind the same URLs are opened once per process.
    """
    config = load_config(start)
    options = json.dumps(config.artifacts_options, sort_keys=True, default=str)
    key = (config.store_url, config.artifacts_url, options)
    with _LOCK:
        if key not in _OPEN:
            artifacts = ArtifactStore(config.artifacts_url, config.artifacts_options)
            _OPEN[key] = Project(config, MetadataStore(config.store_url), artifacts)
        opened = _OPEN[key]
    if opened.config != config:
        return Project(config, opened.metadata, opened.artifacts)
    return opened

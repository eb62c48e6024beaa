"""Loading a ``torch.export`` archive (``model.pt2``) without unpickling anything.

``torch.export.load`` unpickles parts of an archive: weights and constants whose config says
``use_pickle`` (with ``torch.load(weights_only=False)``), custom and opaque objects (with
pickle), and a fallback to a full unpickle when a weights-only load fails. A crafted archive
therefore runs code when loaded. Without ``trusted=True`` Keel refuses an archive that declares
any pickled part, and loads the rest with every ``torch.load`` forced to weights-only, so
tensors load and code does not run.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keel.errors import InputError, UsageError

__all__ = ["load_exported"]

_FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_LOCK = threading.Lock()
_SAFE_CONSTANT_PREFIX = "tensor_"  # tensor constants; custom_obj_ and opaque_obj_ are pickles


def load_exported(torch: Any, path: Path, *, trusted: bool) -> Any:
    """The module in the archive at ``path``; pickled parts only when ``trusted``."""
    if trusted:
        return torch.export.load(str(path)).module()
    pickled = pickled_parts(path)
    if pickled:
        raise UsageError(
            f"the PyTorch model in {path.parent} holds pickled parts ({', '.join(pickled[:3])}), "
            "and loading a pickle can run any code.",
            hint="Load it with trusted=True only if you trust whoever wrote the package.",
        )
    with _weights_only():
        return torch.export.load(str(path)).module()


def pickled_parts(path: Path) -> list[str]:
    """The entries of a ``.pt2`` archive that ``torch.export.load`` would unpickle."""
    found: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                folder, _, base = name.rpartition("/")
                if base.endswith(".json") and folder.endswith(("data/weights", "data/constants")):
                    found.extend(_pickled_entries(archive.read(name), name))
                elif folder.endswith("data/constants") and not base.startswith(
                    _SAFE_CONSTANT_PREFIX
                ):
                    found.append(name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"{path} is not a readable torch.export archive: {exc}.",
            hint="Restore the package (keel.load fetches it again from the store).",
        ) from exc
    return found


def _pickled_entries(data: bytes, name: str) -> list[str]:
    try:
        config = json.loads(data).get("config", {})
    except (ValueError, AttributeError):
        return [name]  # a config torch cannot read as plain data: refuse rather than guess
    if not isinstance(config, dict):
        return [name]
    return [
        f"{name}:{key}"
        for key, entry in config.items()
        if not isinstance(entry, dict)
        or entry.get("use_pickle") is not False
        or not str(entry.get("path_name", "")).startswith(("weight_", _SAFE_CONSTANT_PREFIX))
    ]


@contextmanager
def _weights_only() -> Iterator[None]:
    """Every ``torch.load`` in this process is weights-only (tensors, never code) meanwhile."""
    with _LOCK:
        before = os.environ.get(_FORCE)
        os.environ[_FORCE] = "1"
        try:
            yield
        finally:
            if before is None:
                del os.environ[_FORCE]
            else:
                os.environ[_FORCE] = before

"""The environment a run used: the interpreter, the platform and every installed package.

Packages are read from ``importlib.metadata`` (what is importable, not what a lock file
promises), named as PEP 503 normalizes them, and summarized by one BLAKE3 digest of the
sorted ``name==version`` lines, so two environments compare by a single hash and
:meth:`EnvironmentFingerprint.diff` says what differs.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from keel.errors import InputError
from keel.store import hash_bytes
from keel.versioning._site import site_index

__all__ = ["EnvironmentFingerprint", "environment_fingerprint", "normalize_name"]

_INTERPRETER = ("python_version", "python_implementation", "system", "release", "machine")


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 normalizes it: ``Foo_Bar.baz`` is ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class EnvironmentFingerprint:
    """Interpreter, platform and ``(name, version)`` packages, sorted by normalized name."""

    python_version: str
    python_implementation: str
    system: str
    release: str
    machine: str
    packages: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        normalized = tuple(sorted((normalize_name(n), v) for n, v in self.packages))
        object.__setattr__(self, "packages", normalized)

    @cached_property
    def packages_digest(self) -> str:
        """BLAKE3 of the sorted ``name==version`` lines: equal digests, equal packages."""
        return hash_bytes("".join(f"{n}=={v}\n" for n, v in self.packages).encode())

    @property
    def versions(self) -> dict[str, str]:
        """Installed version by normalized package name."""
        return dict(self.packages)

    def diff(self, other: EnvironmentFingerprint) -> dict[str, Any]:
        """What changes from ``self`` to ``other``: packages added, removed, changed, and
        interpreter or platform fields (``{field: [old, new]}``)."""
        old, new = self.versions, other.versions
        return {
            "added": {n: new[n] for n in sorted(new.keys() - old.keys())},
            "removed": {n: old[n] for n in sorted(old.keys() - new.keys())},
            "changed": {
                n: [old[n], new[n]] for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
            },
            "interpreter": {
                k: [getattr(self, k), getattr(other, k)]
                for k in _INTERPRETER
                if getattr(self, k) != getattr(other, k)
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``packages`` maps name to version."""
        data: dict[str, Any] = {k: getattr(self, k) for k in _INTERPRETER}
        data["packages"] = self.versions
        data["packages_digest"] = self.packages_digest
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvironmentFingerprint:
        """The inverse of :meth:`to_dict`; a digest that does not match its packages is an error."""
        made = cls(**{k: data[k] for k in _INTERPRETER}, packages=tuple(data["packages"].items()))
        stored = data.get("packages_digest")
        if stored is not None and stored != made.packages_digest:
            raise InputError(
                "an environment fingerprint's packages_digest does not match its packages.",
                hint="The stored record was edited or truncated; fingerprint it again.",
            )
        return made


def environment_fingerprint() -> EnvironmentFingerprint:
    """Fingerprint the running interpreter, its platform and its installed distributions."""
    uname = platform.uname()
    return EnvironmentFingerprint(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        system=uname.system,
        release=uname.release,
        machine=uname.machine,
        packages=_installed(),
    )


def _installed() -> tuple[tuple[str, str], ...]:
    """Every importable distribution, once: the first on ``sys.path`` wins, as for imports."""
    seen: dict[str, str] = {}
    for name, version in site_index().versions.items():
        seen.setdefault(normalize_name(name), version)
    return tuple(seen.items())

"""References to dataset versions: ``NAME@VERSION``, or ``NAME`` for the latest."""

from __future__ import annotations

from keel.errors import UsageError

__all__ = ["parse_ref"]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"loans@3"`` → ``("loans", 3)``; ``"loans"`` → ``("loans", None)`` (the latest)."""
    name, _, version = ref.partition("@")
    if not version:
        return name, None
    if not version.isdigit():
        raise UsageError(f"{ref!r}: the version must be a number.", hint="Write NAME@3.")
    return name, int(version)

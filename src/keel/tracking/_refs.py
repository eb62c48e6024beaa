"""References to dataset versions: ``NAME@VERSION``, or ``NAME`` for the latest."""

from __future__ import annotations

from keel.store import check_name, parse_version

__all__ = ["parse_ref"]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"loans@3"`` → ``("loans", 3)``; ``"loans"`` → ``("loans", None)`` (the latest).

    The name follows Keel's one naming rule and the version is a number in range
    (:func:`keel.store.check_name`, :func:`keel.store.parse_version`); otherwise
    :class:`keel.store.InvalidNameError`, whose hint states the rule.
    """
    name, at, version = ref.partition("@")
    check_name(name, "dataset")
    if not at:
        return name, None
    return name, parse_version(version, ref)

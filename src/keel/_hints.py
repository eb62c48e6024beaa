"""Resolving a function's annotations, with an error that says how to fix them."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from keel.errors import UsageError

__all__ = ["type_hints"]


def type_hints(fn: Callable[..., Any], where: str) -> dict[str, Any]:
    """``typing.get_type_hints(fn)``; an unresolvable annotation is a :class:`UsageError`."""
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:
        raise UsageError(
            f"{where}: its annotations cannot be resolved: {exc}.",
            hint="Import every type the annotations name at module level (not only under "
            "TYPE_CHECKING).",
        ) from exc

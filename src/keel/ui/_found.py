"""A store lookup's "not in the store" error as the UI's 404 (:class:`NotFoundError`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from keel.errors import UsageError

T = TypeVar("T")

__all__ = ["NotFoundError", "found"]


class NotFoundError(UsageError):
    """The page's object (a run, a model version, a dataset) is not in the store."""


def found(find: Callable[[], T]) -> T:
    """``find()``, its "not in the store" error as a :class:`NotFoundError` (HTTP 404)."""
    try:
        return find()
    except UsageError as error:
        raise NotFoundError(error.message, hint=error.hint) from None

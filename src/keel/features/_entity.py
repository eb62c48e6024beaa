"""``keel.Entity``: what features describe (an applicant, a card), named by typed join keys."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keel.errors import UsageError
from keel.grammar import InvalidNameError, check_name

__all__ = ["KEY_TYPES", "Entity", "defined_at"]

KEY_TYPES: dict[type, str] = {int: "int", str: "str", bool: "bool"}
"""The Python types a join key may have, and how messages name them."""


def defined_at(depth: int = 2) -> str:
    """``file.py:12``: where the caller's caller wrote a definition (for messages)."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def checked_name(name: object, what: str, where: str) -> str:
    """``name`` if it is a valid Keel name (the registry's rule), else a UsageError."""
    if not isinstance(name, str):
        raise UsageError(
            f"{where}: a {what} name must be text, got {type(name).__name__} {name!r}.",
            hint=f'Name the {what}, e.g. name="credit".',
        )
    try:
        check_name(name, what)
    except InvalidNameError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from None
    return name


@dataclass(frozen=True, init=False)
class Entity:
    """What features describe, and the typed keys that identify one of them.

    ``keel.Entity("applicant", keys={"applicant_id": int})``; a composite key lists several
    columns. Key types are ``int``, ``str`` or ``bool``; an entity frame or a feature source
    whose key column has another type is refused with both types named.
    """

    name: str
    keys: tuple[tuple[str, type], ...]
    description: str
    where: str

    def __init__(self, name: str, *, keys: Mapping[str, type], description: str = "") -> None:
        where = defined_at()
        checked_name(name, "entity", where)
        if not keys:
            raise UsageError(
                f"{where}: entity {name!r} needs its join keys with their types.",
                hint=f'keel.Entity("{name}", keys={{"{name}_id": int}})',
            )
        for key, kind in keys.items():
            if kind not in KEY_TYPES:
                raise UsageError(
                    f"{where}: entity {name!r} key {key!r} has type {kind!r}; a join key is "
                    "int, str or bool.",
                    hint=f'keys={{"{key}": int}} (or str)',
                )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "keys", tuple(keys.items()))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "where", where)

    @functools.cached_property  # read on every online lookup; the entity is frozen
    def key_names(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.keys)

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data (part of every view's fingerprint)."""
        return {
            "name": self.name,
            "keys": {key: KEY_TYPES[kind] for key, kind in self.keys},
            "description": self.description,
        }

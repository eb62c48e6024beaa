"""The one grammar for references to datasets and models.

==================  ==========================================================
``NAME``            the latest version
``NAME/3``          version 3
``NAME@champion``   the version an alias points at (models only)
``data:REF``        a dataset reference, where a command accepts both kinds
``model:REF``       a model reference, where a command accepts both kinds
==================  ==========================================================

Names, aliases and versions follow the naming rule of :mod:`keel.grammar._names`. Two
forms are refused with a hint that shows the text to write instead: an alias that looks
like a number (``churn@3`` is written ``churn/3``) and the old dataset version form
(``loans@3`` is written ``loans/3``). Everything that prints a reference prints
``str(Reference)``, so what Keel shows is what Keel reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from keel.grammar._names import (
    _DIGITS,
    _NUMBER,
    InvalidNameError,
    _shown,
    check_alias,
    check_name,
    check_version,
    parse_version,
)

__all__ = ["PREFIXES", "Reference", "ReferenceKind", "parse_reference", "prefix_kind"]

ReferenceKind = Literal["dataset", "model"]
"""What a reference names."""

PREFIXES: dict[str, ReferenceKind] = {"data": "dataset", "model": "model"}
"""The prefix that says which kind a reference names where a command accepts both."""

_PREFIX_OF: dict[ReferenceKind, str] = {kind: prefix for prefix, kind in PREFIXES.items()}
_KINDS = frozenset(get_args(ReferenceKind))


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference to a dataset or model (``kind``; ``None`` when the text did not say):
    ``name`` at ``version``, at the version ``alias`` points at, or (neither) the latest.

    Checked when made: the name, version and alias follow the naming rule, a reference has
    a version or an alias but not both, and a dataset has no alias.
    """

    kind: ReferenceKind | None
    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in _KINDS:
            raise InvalidNameError(
                f"reference kind {self.kind!r} is not one of {sorted(_KINDS)}.",
                hint="Use 'dataset', 'model' or None.",
            )
        check_name(self.name, self.kind or "model or dataset")
        if self.version is not None:
            check_version(self.version)
        if self.alias is None:
            return
        if self.version is not None:
            raise InvalidNameError(
                f"a reference to {_shown(self.name)} has both version {self.version} and "
                f"alias {_shown(self.alias)}.",
                hint=f"Write {self.name}/{self.version} or {self.name}@{self.alias}.",
            )
        if self.kind == "dataset":
            raise _no_dataset_alias(f"{self.name}@{self.alias}", self.name)
        check_alias(self.alias)

    def __str__(self) -> str:
        """The canonical form: ``NAME``, ``NAME/3`` or ``NAME@ALIAS`` (no prefix)."""
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name

    @property
    def qualified(self) -> str:
        """The canonical form with its kind's prefix (``data:loans/3``, ``model:churn``),
        for places that accept both kinds; without a kind, the plain form."""
        if self.kind is None:
            return str(self)
        return f"{_PREFIX_OF[self.kind]}:{self}"


def prefix_kind(text: str) -> ReferenceKind | None:
    """The kind a ``data:`` or ``model:`` prefix of ``text`` names, else ``None``."""
    prefix, colon, _ = text.partition(":")
    return PREFIXES.get(prefix) if colon else None


def parse_reference(
    text: str, *, kind: ReferenceKind | None = None, default: ReferenceKind | None = None
) -> Reference:
    """The :class:`Reference` written as ``text``.

    With ``kind``, ``text`` is a reference to that kind, written without a prefix. Without
    it (where a command accepts both), a ``data:`` or ``model:`` prefix says which, and an
    unprefixed reference is of kind ``default``. A reference that breaks the grammar raises
    :class:`InvalidNameError` (a ``UsageError``) whose hint shows what to write.
    """
    body = text.strip()
    if kind is None:
        found = prefix_kind(body)
        if found is not None:
            kind, body = found, body.partition(":")[2]
        else:
            kind = default
    if "@" in body:
        name, _, alias = body.partition("@")
        check_name(name, kind or "model or dataset")
        return _aliased(text, kind, name, alias)
    name, slash, version = body.partition("/")
    check_name(name, kind or "model or dataset")
    if not slash:
        return Reference(kind, name)
    return Reference(kind, name, parse_version(version, text))


def _aliased(text: str, kind: ReferenceKind | None, name: str, alias: str) -> Reference:
    """``NAME@ALIAS``, refusing the forms that mean a version."""
    if kind == "dataset":
        if _DIGITS.fullmatch(alias):
            raise InvalidNameError(
                f"reference {_shown(text)}: dataset versions are written NAME/3, not NAME@3.",
                hint=f"Write {name}/{alias}.",
            )
        raise _no_dataset_alias(text, name)
    if _NUMBER.fullmatch(alias):
        hint = f"Write {name}/{alias}." if _DIGITS.fullmatch(alias) else None
        raise InvalidNameError(
            f"reference {_shown(text)}: alias {_shown(alias)} looks like a number; "
            "versions are written NAME/3 and an alias must not look like a number.",
            hint=hint or f"Write {name}/3 for version 3, or NAME@ALIAS with a named alias.",
        )
    return Reference(kind, name, alias=alias)


def _no_dataset_alias(text: str, name: str) -> InvalidNameError:
    return InvalidNameError(
        f"reference {_shown(text)}: datasets have no aliases.",
        hint=f"Write {name} for the latest version or {name}/3 for version 3.",
    )

"""Errors of the metadata store (candidates for ``keel.errors`` once the store settles).

::

    KeelError
    ├── UsageError
    │   ├── ConfigError            an unknown store URL scheme or an unusable path
    │   └── StoreVersionError      the database was created by a newer Keel
    └── StoreUnavailableError      the database server cannot be reached
"""

from __future__ import annotations

from keel.errors import KeelError, UsageError

__all__ = ["StoreUnavailableError", "StoreVersionError"]


class StoreUnavailableError(KeelError):
    """The metadata store's database cannot be reached (server down, wrong host or login)."""


class StoreVersionError(UsageError):
    """The metadata store's schema is newer than this Keel knows; it must not be touched."""

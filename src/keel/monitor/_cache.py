"""A memory of window profiles and their drift, so that a report over the same log asks
again only about the windows whose rows changed.

A prediction log only grows by whole files (each written under a temporary name and moved
into place, never rewritten), so a window's rows are named by the files that can hold them
and its bounds: the same files and bounds, the same rows. A window's profile is kept under
that name and the bins it was counted over; its drift under the profile's name, the
reference profile (by digest) and the options of the test. A report that passes a
:class:`ReportCache` (``keel ui`` keeps one per app) profiles and tests only the windows
it has not seen: after a new flush, the newest window; over an unchanged log, none. The
results are those of a report without the cache, bit for bit (the same seeds per column).

Entries are kept least recently used first out, at most ``size`` of each kind.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from keel.monitor._drift import DriftResult
    from keel.monitor._profile_data import Bins, Profile

__all__ = ["ReportCache", "profile_digest"]

T = TypeVar("T")

Drift = tuple[list["DriftResult"], dict[str, Any]] | None


class ReportCache:
    """Window profiles and drift results kept between reports (thread-safe, bounded)."""

    def __init__(self, size: int = 1_000) -> None:
        self.size = size
        self._profiles: OrderedDict[Hashable, Profile] = OrderedDict()
        self._drift: OrderedDict[Hashable, Drift] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._profiles) + len(self._drift)

    def clear(self) -> None:
        with self._lock:
            self._profiles.clear()
            self._drift.clear()

    def profiles(
        self,
        keys: Sequence[Hashable],
        bins: dict[str, Bins],
        compute: Callable[[list[int]], list[Profile]],
    ) -> list[Profile]:
        """The profile of each window named by ``keys`` over ``bins``; ``compute(indices)``
        profiles the windows not kept (all their queries at once)."""
        counted = _bins_key(bins)
        named = [(key, counted) for key in keys]
        found = self._get_all(self._profiles, named)
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            for i, value in zip(missing, compute(missing), strict=True):
                found[i] = value
                self._put(self._profiles, named[i], value)
        return [value for value in found if value is not None]

    def drift(
        self,
        keys: Sequence[Hashable],
        reference: Profile,
        options: tuple[Any, ...],
        compute: Callable[[int], Drift],
    ) -> list[Drift]:
        """The drift of each window named by ``keys`` from ``reference`` (``compute(i)`` for
        those not kept)."""
        digest = profile_digest(reference)
        found: list[Drift] = []
        for i, key in enumerate(keys):
            named = (key, digest, options)
            with self._lock:
                hit = named in self._drift
                if hit:
                    self._drift.move_to_end(named)
                    value = self._drift[named]
                    self.hits += 1
            if not hit:
                value = compute(i)
                self._put(self._drift, named, value)
            found.append(value)
        return found

    def _get_all(self, store: OrderedDict[Hashable, T], keys: Sequence[Hashable]) -> list[T | None]:
        found: list[T | None] = []
        with self._lock:
            for key in keys:
                value = store.get(key)
                if value is not None:
                    store.move_to_end(key)
                    self.hits += 1
                found.append(value)
        return found

    def _put(self, store: OrderedDict[Hashable, T], key: Hashable, value: T) -> None:
        with self._lock:
            self.misses += 1
            store[key] = value
            store.move_to_end(key)
            while len(store) > self.size:
                store.popitem(last=False)


def profile_digest(profile: Profile) -> str:
    """A digest of everything in ``profile`` (two equal profiles, one digest)."""
    text = json.dumps(profile.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bins_key(bins: dict[str, Bins]) -> tuple[tuple[str, Bins], ...]:
    return tuple(bins.items())

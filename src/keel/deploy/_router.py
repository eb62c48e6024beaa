"""Which model answers a request: champion or challenger, and whether to shadow it.

A request with a routing key is placed by a hash of the deployment name and the key
(BLAKE2b, no per-process salt), mapped to one of 10,000 buckets; the challenger gets the
buckets below ``weight * 100``. Every replica computes the same answer, a key keeps its
side for as long as the weight stays put, and raising the weight only moves keys from the
champion to the challenger, never back (a user who saw the new model keeps seeing it).
A request without a key is placed by a random draw at the same weight.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any, Literal

from keel.deploy._spec import DeploySpec

__all__ = ["BUCKETS", "Router", "bucket"]

Role = Literal["champion", "challenger"]
BUCKETS = 10_000


def bucket(name: str, key: str, *, salt: str = "") -> int:
    """The key's bucket in ``[0, BUCKETS)``: the same in every process and on every host."""
    digest = hashlib.blake2b(f"{name}\x00{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """Assigns requests to the champion or the challenger as the spec and the rollout say.

    ``weight`` (percent of traffic to a canary challenger) and ``active`` (a challenger
    version is deployed) are set by the :class:`~keel.deploy._controller.Controller` as the
    rollout progresses; reading them is lock-free.
    """

    def __init__(self, spec: DeploySpec, *, rng: random.Random | None = None) -> None:
        self.spec = spec
        self._rng = rng or random.Random()  # traffic split, not security
        challenger = spec.challenger
        self._mode = challenger.mode if challenger else None
        self._shadow_cut = round(challenger.shadow_fraction * BUCKETS) if challenger else 0
        self._cut = 0
        self._weight = 0.0
        self.active = challenger is not None

    @property
    def weight(self) -> float:
        """The canary's current share of traffic, in percent (0 in shadow mode)."""
        return self._weight if self._mode == "canary" else 0.0

    @weight.setter
    def weight(self, value: float) -> None:
        value = min(100.0, max(0.0, float(value)))
        self._cut = round(value * BUCKETS / 100)
        self._weight = value

    def assign(self, key: str | None) -> Role:
        """``"challenger"`` for the canary's share of keys (sticky), else ``"champion"``."""
        if self._mode != "canary" or not self.active or self._cut == 0:
            return "champion"
        draw = self._rng.randrange(BUCKETS) if key is None else bucket(self.spec.name, key)
        return "challenger" if draw < self._cut else "champion"

    def shadow(self, key: str | None) -> bool:
        """Whether a copy of this request goes to the shadow challenger (shadow mode only)."""
        if self._mode != "shadow" or not self.active:
            return False
        if key is None:
            draw = self._rng.randrange(BUCKETS)
        else:
            draw = bucket(self.spec.name, key, salt="shadow")
        return draw < self._shadow_cut

    def key_for(
        self, headers: Mapping[str, str], record: Mapping[str, Any] | None = None
    ) -> str | None:
        """The routing key of a request: the configured header (case-insensitive), or the
        configured column of its (first) record; ``None`` when absent or not configured."""
        source = self.spec.challenger.key if self.spec.challenger else None
        if source is None:
            return None
        if source.header is not None:
            wanted = source.header.lower()
            return next((v for k, v in headers.items() if k.lower() == wanted), None)
        column = str(source.column)
        if record is None or column not in record:
            return None
        value = record[column]
        return None if value is None else str(value)

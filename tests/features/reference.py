"""A brute-force point-in-time join, written from the documented semantics and nothing else:
the reference every engine is held to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any


def reference_join(
    entities: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    *,
    key: str,
    timestamp: str,
    features: Sequence[str],
    ttl: dt.timedelta | None,
    as_known_at: bool,
) -> list[dict[str, Any]]:
    """For each entity row, the latest row of its key with event time <= T (and created time
    <= T as known at), ties broken by created time (missing = earliest), kept only when its
    event time is >= T - ttl; every value null otherwise."""
    out = []
    lowest = dt.datetime.min
    for entity in entities:
        when = entity[timestamp]
        candidates = [
            r
            for r in rows
            if r[key] is not None
            and r[key] == entity[key]
            and r["event_time"] is not None
            and r["event_time"] <= when
            and not (as_known_at and r.get("created") is not None and r["created"] > when)
        ]
        best = max(
            candidates,
            key=lambda r: (r["event_time"], r.get("created") or lowest),
            default=None,
        )
        if best is not None and ttl is not None and best["event_time"] < when - ttl:
            best = None
        out.append({f: None if best is None else best[f] for f in features})
    return out

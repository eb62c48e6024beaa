"""Routing: deterministic across processes, sticky per key, the configured share of traffic."""

from __future__ import annotations

import random
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from keel.deploy._router import Router, bucket
from keel.deploy._spec import parse_spec

CANARY = parse_spec("challenger: {mode: canary, key: {header: X-User-Id}}", name="churn")
SHADOW = parse_spec("challenger: {mode: shadow, shadowFraction: 0.2}", name="churn")
KEYS = [f"user-{i}" for i in range(10_000)]


def _canary(weight: float) -> Router:
    router = Router(CANARY)
    router.weight = weight
    return router


def test_the_canary_gets_its_weight_of_keys_within_tolerance() -> None:
    for weight in (1, 10, 50, 90):
        router = _canary(weight)
        share = sum(router.assign(k) == "challenger" for k in KEYS) / len(KEYS)
        assert abs(share - weight / 100) < 0.015, (weight, share)
        assert router.weight == weight


def test_requests_without_a_key_are_split_at_the_same_weight() -> None:
    router = Router(CANARY, rng=random.Random(7))
    router.weight = 25
    share = sum(router.assign(None) == "challenger" for _ in range(10_000)) / 10_000
    assert abs(share - 0.25) < 0.02


def test_a_key_is_sticky_and_every_replica_agrees() -> None:
    one, two = _canary(30), _canary(30)
    first = [one.assign(k) for k in KEYS[:2000]]
    assert first == [one.assign(k) for k in KEYS[:2000]]  # sticky
    assert first == [two.assign(k) for k in KEYS[:2000]]  # another replica


def test_the_hash_has_no_per_process_salt() -> None:
    code = (
        "from keel.deploy._router import bucket\n"
        "print([bucket('churn', f'u{i}') for i in range(50)])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {str([bucket("churn", f"u{i}") for i in range(50)]) + "\n"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=2, max_size=5).map(sorted))
def test_raising_the_weight_only_moves_keys_to_the_challenger(weights: list[int]) -> None:
    seen: set[str] = set()
    for weight in weights:
        router = _canary(weight)
        now = {k for k in KEYS[:3000] if router.assign(k) == "challenger"}
        assert seen <= now  # a user who saw the challenger keeps seeing it
        seen = now


def test_nothing_goes_to_an_inactive_challenger_or_at_weight_zero() -> None:
    router = _canary(50)
    router.active = False
    assert {router.assign(k) for k in KEYS[:500]} == {"champion"}
    assert {_canary(0).assign(k) for k in KEYS[:500]} == {"champion"}
    assert {_canary(100).assign(k) for k in KEYS[:500]} == {"challenger"}


def test_shadow_copies_the_configured_fraction_and_routes_everything_to_the_champion() -> None:
    router = Router(SHADOW)
    router.weight = 50  # no meaning in shadow mode
    assert router.weight == 0
    assert {router.assign(k) for k in KEYS[:500]} == {"champion"}
    share = sum(router.shadow(k) for k in KEYS) / len(KEYS)
    assert abs(share - 0.2) < 0.015
    assert [router.shadow(k) for k in KEYS[:500]] == [Router(SHADOW).shadow(k) for k in KEYS[:500]]
    unkeyed = Router(SHADOW, rng=random.Random(3))
    assert abs(sum(unkeyed.shadow(None) for _ in range(10_000)) / 10_000 - 0.2) < 0.02
    assert not any(_canary(50).shadow(k) for k in KEYS[:500])


def test_the_routing_key_comes_from_the_configured_header_or_column() -> None:
    router = Router(CANARY)
    assert router.key_for({"x-user-id": "42"}) == "42"  # headers are case-insensitive
    assert router.key_for({"other": "1"}) is None
    by_column = Router(parse_spec("challenger: {key: {column: customer_id}}", name="churn"))
    assert by_column.key_for({}, {"customer_id": 7, "age": 3}) == "7"
    assert by_column.key_for({}, {"age": 3}) is None
    assert Router(parse_spec("", name="churn")).key_for({"x-user-id": "1"}) is None

"""Micro-batching: concurrent requests share predict calls, every caller gets exactly its own
rows back, a failing request fails alone, and batching can be switched off."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.serve import create_app
from keel.serve._batching import Batcher, Prediction

from ._serving import client, expected, make_project, records


class Doubler:
    """Predicts 2x per row; refuses rows holding -1; records the size of every call."""

    version = 7

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_rows(self, rows: list[list[Any]]) -> Prediction:
        self.calls.append(len(rows))
        if any(row[0] == -1 for row in rows):
            raise ValueError("cannot predict -1")
        return Prediction([2 * row[0] for row in rows], None, self.version)


async def _gather(batcher: Batcher, model: Doubler, requests: list[list[list[Any]]]) -> list[Any]:
    return await asyncio.gather(
        *(batcher.predict(model, rows) for rows in requests), return_exceptions=True
    )


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=30),
    max_batch=st.integers(1, 40),
)
def test_every_request_gets_back_its_own_rows(sizes: list[int], max_batch: int) -> None:
    model = Doubler()
    counter = iter(range(10_000))
    requests = [[[next(counter)] for _ in range(size)] for size in sizes]
    batcher = Batcher(max_batch_size=max_batch, max_wait_ms=5)
    results = asyncio.run(_gather(batcher, model, requests))
    for rows, result in zip(requests, results, strict=True):
        assert result.predictions == [2 * row[0] for row in rows]
        assert result.version == 7
    assert sum(model.calls) == sum(sizes)
    # a batch goes once it reaches the limit: at most the last request's rows beyond it
    assert all(size <= max_batch + max(sizes) - 1 for size in model.calls)


def test_concurrent_requests_are_combined_into_few_calls() -> None:
    model = Doubler()
    batcher = Batcher(max_batch_size=64, max_wait_ms=50)
    results = asyncio.run(_gather(batcher, model, [[[i]] for i in range(40)]))
    assert [r.predictions for r in results] == [[2 * i] for i in range(40)]
    assert len(model.calls) == 1  # all 40 waited in one batch


def test_a_full_batch_goes_at_once() -> None:
    model = Doubler()
    batcher = Batcher(max_batch_size=10, max_wait_ms=10_000)
    results = asyncio.run(_gather(batcher, model, [[[i]] for i in range(30)]))
    assert len(results) == 30
    assert model.calls == [10, 10, 10]


def test_a_failing_request_fails_alone() -> None:
    model = Doubler()
    batcher = Batcher(max_batch_size=64, max_wait_ms=20)
    requests = [[[1]], [[2], [-1]], [[3]]]
    first, bad, last = asyncio.run(_gather(batcher, model, requests))
    assert first.predictions == [2]
    assert isinstance(bad, ValueError)
    assert last.predictions == [6]


def test_batching_off_predicts_each_request_alone() -> None:
    model = Doubler()
    batcher = Batcher(enabled=False)
    results = asyncio.run(_gather(batcher, model, [[[i]] for i in range(5)]))
    assert [r.predictions for r in results] == [[2 * i] for i in range(5)]
    assert model.calls == [1, 1, 1, 1, 1]


def test_in_thread_prediction_gives_the_same_answers() -> None:
    model = Doubler()
    batcher = Batcher(max_batch_size=4, in_thread=True)
    results = asyncio.run(_gather(batcher, model, [[[i]] for i in range(9)]))
    assert [r.predictions for r in results] == [[2 * i] for i in range(9)]


@pytest.mark.parametrize("batching", [True, False])
def test_the_app_batches_concurrent_requests(tmp_path: Path, batching: bool) -> None:
    project = make_project(tmp_path)
    rows = records(32)
    app = create_app("churn", project=project, batching=batching)

    async def main() -> tuple[list[Any], str]:
        async with client(app) as http:
            answers = await asyncio.gather(*(http.post("/predict", json=r) for r in rows))
            return [a.json()["predictions"][0] for a in answers], (await http.get("/metrics")).text

    predictions, metrics = asyncio.run(main())
    assert predictions == expected(project, rows)
    calls = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("keel_batch_size_count")
    )
    if batching:
        assert calls < 32
    else:
        assert calls == 32

"""8 processes log 200 runs each into one store at once; nothing is lost, nothing fails."""

from __future__ import annotations

import multiprocessing
import traceback
from queue import Empty
from typing import Any

import pytest
import sqlalchemy as sa

from keel.store._metadata import MetadataStore

PROCESSES = 8
RUNS = 200
PARAMS = 3
METRICS = 4


def _log_runs(url: str, worker: int, barrier: Any, errors: Any) -> None:
    try:
        store = MetadataStore(url)
        barrier.wait(timeout=60)
        for i in range(RUNS):
            run_id = store.create_run(f"w{worker}-r{i}", experiment="load", tags={"w": str(worker)})
            store.log_params(run_id, {f"p{k}": [worker, i, k] for k in range(PARAMS)})
            store.log_metrics(run_id, [(f"m{k}", float(i), k, 0.0) for k in range(METRICS)])
            store.finish_run(run_id)
        store.close()
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def _drain(queue: Any) -> list[str]:
    found: list[str] = []
    while True:
        try:
            found.append(queue.get(timeout=0.1))
        except Empty:
            return found


@pytest.mark.slow
def test_concurrent_writers_lose_nothing_and_see_no_errors(store_url: str) -> None:
    MetadataStore(store_url).close()  # migrate first: this test is about logging
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=_log_runs, args=(store_url, w, barrier, errors))
        for w in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert _drain(errors) == []
    assert [process.exitcode for process in workers] == [0] * PROCESSES

    engine = sa.create_engine(store_url)
    with engine.connect() as conn:

        def count(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).scalar_one())

        assert count("SELECT count(*) FROM runs WHERE status = 'finished'") == PROCESSES * RUNS
        assert count("SELECT count(DISTINCT name) FROM runs") == PROCESSES * RUNS
        assert count("SELECT count(*) FROM params") == PROCESSES * RUNS * PARAMS
        assert count("SELECT count(*) FROM metrics") == PROCESSES * RUNS * METRICS
        assert count("SELECT count(*) FROM run_tags") == PROCESSES * RUNS
        assert count("SELECT count(*) FROM experiments") == 1
    engine.dispose()

"""Executors: a process pool and Dask give what the local executor gives; failures, timeouts
and retries behave the same wherever a step runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import keel
from keel.config import init_project
from keel.errors import StepFailedError
from keel.pipelines import Pipeline, PipelineResult, load_pipeline, run_pipeline
from keel.tracking import Project, open_project

# Worker processes import steps by module, so the pipelines under test live in a file.
FLOW = '''\
"""Pipelines for the executor tests."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import polars as pl

import keel


class Numbers(keel.Schema):
    x: keel.Column[int]
    y: keel.Column[float]


class Summary:
    """An object output: pickled."""

    def __init__(self, total: float, rows: int) -> None:
        self.total, self.rows = total, rows

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Summary) and (self.total, self.rows) == (other.total, other.rows)


@keel.step
def numbers(n: int) -> keel.Frame[Numbers]:
    return Numbers.validate(pl.DataFrame({"x": list(range(n)), "y": [i / 4 for i in range(n)]}))


@keel.step
def doubled(data: keel.Frame[Numbers]) -> keel.Frame[Numbers]:
    return Numbers.validate(data.to_polars().with_columns(pl.col("y") * 2))


@keel.step
def stats(data: keel.Frame[Numbers]) -> dict[str, float]:
    frame = data.to_polars()
    return {"mean": float(frame["y"].mean()), "max": float(frame["y"].max())}


@keel.step
def summary(data: keel.Frame[Numbers], stats: dict[str, float]) -> Summary:
    return Summary(float(data.to_polars()["y"].sum()) + stats["max"], data.to_polars().height)


@keel.step
def report(summary: Summary, folder: str) -> Path:
    path = Path(folder) / "report.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"rows={summary.rows} total={summary.total}\\n")
    return path


@keel.pipeline
def fan(n: int = 20, folder: str = "out") -> None:
    """numbers feeds two independent branches (doubled, stats) that summary joins."""
    data = numbers(n)
    report(summary(doubled(data), stats(data)), folder)


@keel.step
def slow_a(seconds: float) -> dict[str, float]:
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}


@keel.step
def slow_b(seconds: float) -> dict[str, float]:
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}


@keel.pipeline
def timed(seconds: float = 1.0) -> None:
    slow_a(seconds)
    slow_b(seconds)


@keel.step
def fragile(data: keel.Frame[Numbers], flag: str) -> dict[str, float]:
    if Path(flag).exists():
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-step, as on OOM
    return {"rows": float(data.to_polars().height)}


@keel.step
def after(result: dict[str, float]) -> dict[str, float]:
    return {"rows_twice": result["rows"] * 2}


@keel.pipeline
def crashy(flag: str, n: int = 8) -> None:
    after(fragile(numbers(n), flag))
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    init_project(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_pipeline adds the file's folder
    (tmp_path / "flow.py").write_text(FLOW)
    return open_project(tmp_path)


def flow(project: Project, name: str) -> Pipeline:
    return load_pipeline(f"{project.config.root / 'flow.py'}:{name}")


def digests(result: PipelineResult) -> dict[str, list[str]]:
    return {r.step: [o.digest for o in r.outputs] for r in result.steps}


def fan_params(project: Project) -> dict[str, Any]:
    return {"folder": str(project.config.root / "out")}


@pytest.mark.slow
def test_a_process_pool_gives_the_outputs_of_the_local_executor(project: Project) -> None:
    pipeline = flow(project, "fan")
    local = run_pipeline(pipeline, fan_params(project), project=project)
    pooled = run_pipeline(
        pipeline, fan_params(project), force=["*"], executor="process", workers=2, project=project
    )

    assert sorted(pooled.executed) == ["doubled", "numbers", "report", "stats", "summary"]
    assert digests(pooled) == digests(local)  # frames, JSON, a pickled object and a file
    assert pooled.value("stats") == local.value("stats") == {"mean": 2.375, "max": 4.75}
    assert pooled.value("summary") == local.value("summary")
    assert pooled.value("report").read_text() == "rows=20 total=99.75\n"
    assert project.metadata.get_run(pooled.run_id).status == "finished"


@pytest.mark.slow
def test_independent_steps_overlap_on_two_workers(project: Project) -> None:
    result = run_pipeline(flow(project, "timed"), executor="process", workers=2, project=project)

    a, b = result.value("slow_a"), result.value("slow_b")
    assert max(a["start"], b["start"]) < min(a["end"], b["end"]), (a, b)  # the intervals overlap


@pytest.mark.slow
def test_dask_gives_the_outputs_of_the_local_executor(project: Project) -> None:
    pytest.importorskip("distributed")
    pipeline = flow(project, "fan")
    local = run_pipeline(pipeline, fan_params(project), project=project)
    on_dask = run_pipeline(
        pipeline, fan_params(project), force=["*"], executor="dask", workers=2, project=project
    )

    assert sorted(on_dask.executed) == ["doubled", "numbers", "report", "stats", "summary"]
    assert digests(on_dask) == digests(local)
    assert on_dask.value("summary") == local.value("summary")


@pytest.mark.slow
def test_a_killed_worker_fails_the_run_and_the_next_run_resumes(project: Project) -> None:
    flag = project.config.root / "crash.flag"
    flag.touch()
    pipeline = flow(project, "crashy")
    params = {"flag": str(flag)}

    with pytest.raises(StepFailedError, match=r"step 'fragile' .* was killed") as failed:
        run_pipeline(pipeline, params, executor="process", workers=2, project=project)

    run_id = failed.value.run_id
    assert failed.value.step == "fragile"
    assert project.metadata.get_run(run_id).status == "failed"
    records = {r.step: r for r in project.metadata.pipelines.for_run(run_id)}
    assert {step: r.status for step, r in records.items()} == {
        "numbers": "finished",
        "fragile": "failed",  # recorded as failed; never a cache entry
    }
    assert records["fragile"].outputs == ()
    assert project.metadata.pipelines.cached(records["fragile"].key) is None
    # the lineage server saw the step start before its worker died, then the failure
    fragile = project.metadata.pipelines.events(records["fragile"].id)
    assert [e.event_type for e in fragile] == ["START", "FAIL"]
    assert fragile[0].event_time < fragile[1].event_time
    assert [e.event_type for e in project.metadata.pipelines.events(run_id)] == ["START", "FAIL"]

    flag.unlink()  # the step is fixed
    resumed = run_pipeline(pipeline, params, executor="process", workers=2, project=project)

    assert resumed.cached == ["numbers"]
    assert sorted(resumed.executed) == ["after", "fragile"]
    assert resumed.record("fragile").key == records["fragile"].key
    assert resumed.value("after") == {"rows_twice": 16.0}


# -- steps defined in this module (workers import it by name) --------------------------------
class Numbers(keel.Schema):
    x: keel.Column[int]
    y: keel.Column[float]


@keel.step(timeout=0.5)
def sleepy() -> int:
    time.sleep(5)
    return 1


def count_attempts(counter: str, failures: int) -> int:
    """Add one to the number in ``counter``; fail while it is at most ``failures``."""
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


@keel.step(retries=2, retry_delay=0.01)
def flaky(counter: str) -> int:
    return count_attempts(counter, failures=2)


@keel.step(retries=1, retry_delay=0.01)
def flaky_once(counter: str) -> int:
    return count_attempts(counter, failures=2)


@keel.step
def settings() -> dict[str, int]:
    return {"depth": 3}


@keel.step
def meddle(config: dict[str, int], table: keel.Frame[Numbers]) -> int:
    config["depth"] = 99  # changes its own inputs in place
    table.to_polars()[0, "y"] = 99.0
    return 0


@keel.step
def table() -> keel.Frame[Numbers]:
    return Numbers.validate(pl.DataFrame({"x": [1, 2], "y": [0.5, 1.5]}))


@keel.step
def look(config: dict[str, int], table: keel.Frame[Numbers], after: int) -> list[float]:
    return [float(config["depth"]), float(table.to_polars()["y"][0])]


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_step_changing_its_inputs_in_place_does_not_change_what_others_read(
    project: Project, executor: str
) -> None:
    pipeline = Pipeline("meddling")
    pipeline.add("settings", settings)
    pipeline.add("table", table)
    pipeline.add("meddle", meddle, config=keel.ref("settings"), table=keel.ref("table"))
    pipeline.add(
        "look", look, config=keel.ref("settings"), table=keel.ref("table"), after=keel.ref("meddle")
    )

    result = run_pipeline(pipeline, executor=executor, project=project)

    assert result.value("look") == [3.0, 0.5]
    assert result.value("settings") == {"depth": 3}


def test_a_step_longer_than_its_timeout_fails_quickly(project: Project) -> None:
    pipeline = Pipeline("sleeping")
    pipeline.add("sleepy", sleepy)

    started = time.monotonic()
    with pytest.raises(StepFailedError, match=r"timed out.*timeout of 0\.5 s") as failed:
        run_pipeline(pipeline, project=project)

    assert time.monotonic() - started < 3
    (record,) = project.metadata.pipelines.for_run(failed.value.run_id)
    assert (record.step, record.status, record.attempts) == ("sleepy", "failed", 1)


def test_retries_until_the_step_succeeds(project: Project) -> None:
    counter = project.config.root / "attempts"
    pipeline = Pipeline("retrying")
    pipeline.add("flaky", flaky, counter=str(counter))

    result = run_pipeline(pipeline, project=project)

    assert result.executed == ["flaky"]
    assert result.value("flaky") == 3
    assert result.record("flaky").attempts == 3
    assert counter.read_text() == "3"


def test_a_step_that_fails_more_often_than_it_may_retry_fails(project: Project) -> None:
    counter = project.config.root / "attempts"
    pipeline = Pipeline("retrying")
    pipeline.add("flaky_once", flaky_once, counter=str(counter))

    with pytest.raises(
        StepFailedError, match=r"after 2 attempt\(s\): RuntimeError: attempt 2 failed"
    ) as failed:
        run_pipeline(pipeline, project=project)

    assert counter.read_text() == "2"
    (record,) = project.metadata.pipelines.for_run(failed.value.run_id)
    assert (record.step, record.status, record.attempts) == ("flaky_once", "failed", 2)

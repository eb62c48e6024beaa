"""Wiring is checked before anything runs: every problem found, each naming where it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import keel
from keel.errors import PipelineDefinitionError, UsageError
from keel.pipelines import contract_gaps


class Raw(keel.Schema):
    id: int
    amount: float | None


class Clean(keel.Schema):
    id: int
    amount: float


class Wide(keel.Schema):
    id: int
    amount: float
    score: float


class Texty(keel.Schema):
    id: str
    amount: float


@keel.step
def load(rows: int = 3) -> keel.Frame[Raw]:
    return Raw.validate(pl.DataFrame({"id": list(range(rows)), "amount": [1.0] * rows}))


@keel.step
def clean(raw: keel.Frame[Raw]) -> keel.Frame[Clean]:
    return Clean.validate(raw.to_polars().drop_nulls())


@keel.step
def score(data: keel.Frame[Wide]) -> dict[str, float]:
    return {"mean": float(data.to_polars()["score"].mean() or 0.0)}


@keel.step
def total(data: keel.Frame[Clean], scale: float = 1.0) -> float:
    return float(data.to_polars()["amount"].sum()) * scale


def test_a_traced_pipeline_is_the_graph_of_its_step_calls() -> None:
    @keel.pipeline
    def flow(rows: int = 3, scale: float = 2.0) -> None:
        total(clean(load(rows=rows)), scale=scale)

    graph = flow.check({"rows": 5})
    assert list(graph.nodes) == ["load", "clean", "total"]
    assert graph.order() == ["load", "clean", "total"]
    assert graph.params == {"rows": 5, "scale": 2.0}
    assert graph.upstream("total") == ["clean"]


def test_a_step_called_outside_a_pipeline_is_its_plain_function() -> None:
    frame = load(rows=2)
    assert isinstance(frame, keel.Frame)
    assert total(clean(frame)) == 2.0


def test_a_cycle_is_found_and_named() -> None:
    flow = keel.Pipeline("loop")
    flow.add("a", clean, raw=keel.ref("b"))
    flow.add("b", clean, raw=keel.ref("a"))
    with pytest.raises(PipelineDefinitionError) as caught:
        flow.check()
    assert any("cycle: a -> b -> a" in p for p in caught.value.problems)


def test_a_reference_to_an_unknown_step_is_named_with_a_suggestion() -> None:
    flow = keel.Pipeline("typo")
    flow.add("load", load)
    flow.add("clean", clean, raw=keel.ref("lod"))
    problems = flow.build().problems()
    assert problems == ["step 'clean': input 'raw' reads unknown step 'lod'. Did you mean 'load'?"]


def test_explicit_pipelines_take_parameters_and_report_unknown_inputs() -> None:
    flow = keel.Pipeline("explicit", params={"scale": 1.0})
    flow.add("load", load)
    flow.add("clean", clean, raw=keel.ref("load"))
    flow.add("total", total, data=keel.ref("clean"), scal=keel.param("scale"))
    problems = flow.build().problems()
    assert len(problems) == 1
    assert "step 'total' has no input 'scal'" in problems[0]
    assert "Did you mean 'scale'?" in problems[0]


def test_unbound_and_unknown_inputs_of_traced_calls_are_all_reported() -> None:
    @keel.pipeline
    def broken() -> None:
        clean()  # raw is not given
        total(clean(load()), scael=2.0)

    with pytest.raises(PipelineDefinitionError) as caught:
        broken.check()
    text = str(caught.value)
    assert "step 'clean': input 'raw' is not bound to anything." in text
    assert "step 'total' has no input 'scael'. Did you mean 'scale'?" in text
    assert len(caught.value.problems) == 2


def test_a_column_the_consumer_needs_and_the_producer_does_not_promise() -> None:
    @keel.pipeline
    def flow() -> None:
        score(clean(load()))

    problems = flow.build().problems()
    assert len(problems) == 1
    assert "step 'score'" in problems[0]
    assert "step 'clean' output 'out'" in problems[0]
    assert "column 'score' is required by Wide but not guaranteed by Clean" in problems[0]


def test_type_mismatch_and_nullability_are_gaps_and_widening_is_not() -> None:
    raw, clean_, texty = Raw.__contract__, Clean.__contract__, Texty.__contract__
    assert contract_gaps(clean_, raw) == []  # non-null into nullable is fine
    assert contract_gaps(raw, clean_) == ["column 'amount' may be null in Raw but not in Clean."]
    assert contract_gaps(clean_, texty) == ["column 'id' is int in Clean but str in Texty."]

    class Ints(keel.Schema):
        id: int
        amount: int

    assert contract_gaps(Ints.__contract__, clean_) == []  # int widens to float


def test_data_cannot_be_passed_as_a_literal() -> None:
    @keel.pipeline
    def flow() -> None:
        total(pl.DataFrame({"id": [1], "amount": [1.0]}))

    (problem,) = flow.build().problems()
    assert "input 'data' (Frame[Clean]) is given a literal DataFrame" in problem


def test_parameters_parse_from_the_command_line_with_their_types() -> None:
    @keel.pipeline
    def flow(
        rows: int = 3,
        scale: float = 1.0,
        strict: bool = False,
        path: Path = Path("x.csv"),
        tags: list[str] | None = None,
    ) -> None:
        total(clean(load(rows=rows)), scale=scale)

    values = flow.resolve_params(
        texts={
            "rows": "7",
            "scale": "0.5",
            "strict": "yes",
            "path": "data/in.csv",
            "tags": '["a", "b"]',
        }
    )
    assert values == {
        "rows": 7,
        "scale": 0.5,
        "strict": True,
        "path": Path("data/in.csv"),
        "tags": ["a", "b"],
    }
    with pytest.raises(UsageError, match=r"--param rows=many: 'many' is not a valid int"):
        flow.resolve_params(texts={"rows": "many"})
    with pytest.raises(UsageError, match="has no parameter 'rowz'") as caught:
        flow.resolve_params(texts={"rowz": "1"})
    assert "Did you mean 'rows'?" in str(caught.value.hint)
    with pytest.raises(UsageError, match="must be int, got 'seven'"):
        flow.resolve_params({"rows": "seven"})


def test_a_required_parameter_must_be_given() -> None:
    @keel.pipeline
    def flow(rows: int) -> None:
        clean(load(rows=rows))

    with pytest.raises(UsageError, match=r"needs parameter\(s\) rows") as caught:
        flow.build()
    assert caught.value.hint == "--param rows=..."
    assert flow.check({"rows": 1}).params == {"rows": 1}


def test_steps_must_be_typed() -> None:
    with pytest.raises(UsageError, match="parameter 'x' has no type annotation"):

        @keel.step
        def untyped(x) -> int:  # type: ignore[no-untyped-def]
            return 1

    with pytest.raises(UsageError, match="has no return annotation"):

        @keel.step
        def no_return(x: int):  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(UsageError, match="without a schema"):

        @keel.step
        def bare(x: keel.Frame) -> int:  # type: ignore[type-arg]
            return 1


def test_an_output_has_no_value_while_the_pipeline_is_built() -> None:
    @keel.pipeline
    def flow() -> None:
        if load():  # deciding on data belongs inside a step
            clean(load())

    with pytest.raises(UsageError, match="has no value while the pipeline is being built"):
        flow.build()


def test_keel_check_reports_problems_with_exit_1_and_json(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(
        "import keel, polars as pl\n"
        "from tests.pipelines.test_graph import load, clean, score, total\n"
        "@keel.pipeline\n"
        "def good() -> None:\n    total(clean(load()))\n"
        "@keel.pipeline\n"
        "def bad() -> None:\n    score(clean(load()))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keel", "check", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    good = check("flows.py:good")
    assert good.returncode == 0, good.stderr
    assert "3 step(s) wired" in good.stdout
    bad = check("flows.py:bad", "--format", "json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert report["steps"] == ["load", "clean", "score"]
    assert "column 'score'" in report["problems"][0]
    missing = check("flows.py:nope")
    assert missing.returncode == 2
    assert "'nope' in flows.py is not defined" in missing.stderr

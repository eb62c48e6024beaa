"""Downstream lineage: ``keel.pipelines.lineage_downstream`` and ``keel lineage --downstream``:
from a dataset version, a run, a step or an output down to the model versions registered from
the runs that used it and (``keel.deploy.with_deployments``) the deployments serving them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.deploy import with_deployments
from keel.errors import UsageError
from keel.pipelines import LineageNode, lineage_dot, lineage_downstream, load_pipeline, run_pipeline
from keel.registry import set_alias
from keel.tracking import Project, open_project

FLOW = """\
from pathlib import Path

import polars as pl

import keel


class Raw(keel.Schema):
    id: keel.Column[int]
    score: keel.Column[float]


@keel.step
def ingest(source: Path) -> keel.Frame[Raw]:
    return Raw.validate(pl.read_csv(source))


@keel.step
def scale(raw: keel.Frame[Raw]) -> keel.Frame[Raw]:
    frame = raw.to_polars()
    return Raw.validate(frame.with_columns(score=pl.col("score") / frame["score"].max()))


@keel.step
def summary(scaled: keel.Frame[Raw]) -> dict[str, float]:
    return {"mean": float(scaled.to_polars()["score"].mean())}


@keel.pipeline
def scores(source: Path = Path("scores.csv")) -> None:
    summary(scale(ingest(source)))
"""

SPEC = """\
champion: champion
challenger:
  alias: challenger
  mode: shadow
"""


def fitted() -> LogisticRegression:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(x, np.array([0, 0, 1, 1]))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    init_project(tmp_path)
    (tmp_path / "scores.csv").write_text("id,score\n1,2.0\n2,4.0\n3,8.0\n")
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "scorer.yaml").write_text(SPEC)
    opened = open_project(tmp_path)
    keel.add_dataset(tmp_path / "scores.csv", "scores", project=opened)
    return opened


def walk(node: LineageNode) -> Iterator[LineageNode]:
    yield node
    for child in node.children:
        yield from walk(child)


def labels(node: LineageNode) -> list[tuple[str, str]]:
    return [(n.kind, n.label) for n in walk(node)]


def test_from_a_dataset_version_down_to_the_deployments(project: Project) -> None:
    result = run_pipeline(load_pipeline("flow.py:scores"), project=project)
    first = keel.register(fitted(), "scorer", run=result.run_id, project=project)
    second = keel.register(fitted(), "scorer", run=result.run_id, project=project)
    set_alias("scorer", "champion", first.version, project=project)
    set_alias("scorer", "challenger", second.version, project=project)

    tree = with_deployments(lineage_downstream("scores/1", project=project), project=project)
    assert (tree.kind, tree.label) == ("dataset", "scores/1")
    (run,) = tree.children
    assert (run.kind, run.run_id) == ("run", result.run_id)
    ingest, *models = run.children
    assert labels(ingest) == [
        ("step", "scores.ingest"),
        ("artifact", "ingest.out"),
        ("step", "scores.scale"),
        ("artifact", "scale.out"),
        ("step", "scores.summary"),
        ("artifact", "summary.out"),
    ]
    outputs = result.steps[0].outputs[0].digest
    assert ingest.children[0].digest == outputs  # the bytes the step wrote
    assert [(m.label, m.detail["aliases"]) for m in models] == [
        ("scorer/1", ["champion"]),
        ("scorer/2", ["challenger"]),
    ]
    served = [(d.label, d.detail["role"], d.detail["spec"]) for m in models for d in m.children]
    assert served == [
        ("scorer (champion)", "champion", "deploy/scorer.yaml"),
        ("scorer (challenger)", "challenger", "deploy/scorer.yaml"),
    ]


def test_from_a_step_an_output_and_a_run(project: Project) -> None:
    result = run_pipeline(load_pipeline("flow.py:scores"), project=project)
    step = lineage_downstream(f"{result.run_id[:8]}:scale", project=project)
    assert labels(step)[:3] == [
        ("step", "scores.scale"),
        ("artifact", "scale.out"),
        ("step", "scores.summary"),
    ]
    digest = next(s for s in result.steps if s.step == "scale").outputs[0].digest
    output = lineage_downstream(digest[:12], project=project)
    assert (output.kind, output.digest) == ("artifact", digest)
    assert [c.label for c in output.children] == ["scores.summary"]
    run = lineage_downstream(result.run_id, project=project)
    assert [c.label for c in run.children] == ["scores.ingest"]  # where the run starts
    with pytest.raises(UsageError, match="has no step 'nope'"):
        lineage_downstream(f"{result.run_id}:nope", project=project)
    with pytest.raises(UsageError, match="is not a run"):
        lineage_downstream("zzz", project=project)


def test_a_tracked_run_that_declared_the_data_leads_to_its_model(project: Project) -> None:
    with keel.start_run("train", project=project) as run:
        run.use_dataset("scores/1")
    keel.register(fitted(), "scorer", run=run.id, project=project)
    tree = with_deployments(lineage_downstream("scores/1", project=project), project=project)
    (used,) = tree.children
    assert (used.kind, used.run_id) == ("run", run.id)
    (model,) = used.children  # no steps: a tracked run
    assert (model.label, model.children) == ("scorer/1", [])  # no alias: not deployed


def test_the_cli_prints_the_same_tree_and_a_dot_graph_in_data_order(project: Project) -> None:
    result = run_pipeline(load_pipeline("flow.py:scores"), project=project)
    version = keel.register(fitted(), "scorer", run=result.run_id, project=project)
    set_alias("scorer", "champion", version.version, project=project)
    runner = CliRunner()
    shown = runner.invoke(app, ["lineage", "scores/1", "--downstream", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    expected = with_deployments(lineage_downstream("scores/1", project=project), project=project)
    assert json.loads(shown.stdout) == expected.to_dict()
    dot = runner.invoke(app, ["lineage", "scores/1", "--downstream", "--format", "dot"])
    assert dot.stdout == lineage_dot(expected, downstream=True)
    ids = dict(
        line.strip().split(" [label=")[0:2] for line in dot.stdout.splitlines() if "[label=" in line
    )
    by_label = {label.split('"')[1]: node for node, label in ids.items()}
    data, model = by_label["dataset: scores/1"], by_label["model: scorer/1"]
    assert f"  {data} -> {by_label['run scores (finished)']};" in dot.stdout.splitlines()
    deployment = by_label["deployment: scorer (champion)"]
    assert f"  {model} -> {deployment};" in dot.stdout.splitlines()
    text = runner.invoke(app, ["lineage", "scores/1", "--downstream"])
    assert "model scorer/1" in text.stdout
    assert "deployment scorer (champion)" in text.stdout
    missing = runner.invoke(app, ["lineage", "scores/7", "--downstream"])
    assert missing.exit_code == 2

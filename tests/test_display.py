"""Result objects in a notebook: a short ``repr`` (what it is and its verdict, never a dump
of frames or profiles), ``_repr_html_`` for Jupyter (an embeddable, self-contained fragment
with the headline figures) and ``.to_html()``, the very page the CLI's ``--html`` writes."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.pipelines import lineage_tree, run_pipeline
from keel.registry import evaluate_model, gate
from keel.tracking import Project, compare_runs, open_project

runner = CliRunner()


def _assert_displays(result: Any, *figures: str) -> None:
    """The checks every displayable result must pass."""
    text = repr(result)
    assert text.startswith(f"<{type(result).__name__} ")
    assert len(text.splitlines()) <= 3
    assert len(text) < 400, text
    for dump in ("DataFrame", "Profile(", "shape:", "ColumnProfile"):
        assert dump not in text
    fragment = result._repr_html_()
    assert fragment.startswith('<div class="keel-report">')
    assert "<html" not in fragment
    assert "<body" not in fragment
    assert not re.search(r"(src|href)=[\"']?https?://", fragment)  # no CDN, no network
    # Every style rule is scoped to the report: the notebook's own tables keep their look.
    style = re.search(r"<style>(.*?)</style>", fragment, re.DOTALL)
    assert style is not None
    selectors = re.findall(r"([^{}]+)\{", style.group(1))
    assert all(s.strip().startswith(".keel-report") for sel in selectors for s in sel.split(","))
    page = result.to_html()
    assert page.startswith("<!DOCTYPE html>")
    for figure in figures:
        assert figure in text, (figure, text)
        assert figure in html.unescape(fragment), figure
        assert figure in html.unescape(page), figure


class Loan(keel.Schema):
    id: int = keel.Field(unique=True)
    age: int = keel.Field(ge=18, le=100)


def test_a_contract_report_shows_its_verdict_and_the_failed_check() -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "age": [30, 12, 40, 7]})
    report = Loan.check(frame)
    assert not report.passed
    failed = report.errors[0].name
    _assert_displays(report, "Loan", "4 rows", "FAILED", failed)
    assert f"FAILED 1 of {len(report.checks)} checks" in repr(report)  # only the age range
    assert "age=12" in report._repr_html_()  # a failing example, escaped but readable
    clean = Loan.check(frame.filter(pl.col("age") >= 18))
    _assert_displays(clean, "Loan", "passed")
    assert "FAILED" not in repr(clean)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return open_project(tmp_path)


def _drift_files(root: Path) -> None:
    rng = np.random.default_rng(0)
    pl.DataFrame({"x": rng.normal(0, 1, 800), "y": rng.normal(0, 1, 800)}).write_parquet(
        root / "ref.parquet"
    )
    pl.DataFrame({"x": rng.normal(1.5, 1, 800), "y": rng.normal(0, 1, 800)}).write_parquet(
        root / "cur.parquet"
    )


def test_a_comparison_shows_which_columns_drifted_and_the_cli_writes_its_to_html(
    project: Project,
) -> None:
    root = project.config.root
    _drift_files(root)
    comparison = keel.monitor.compare("ref.parquet", "cur.parquet", project=project)
    assert [c.column for c in comparison.columns if c.drifted] == ["x"]
    _assert_displays(comparison, "drift in 1 of 2 columns", "800 rows")
    done = runner.invoke(
        app, ["monitor", "compare", "ref.parquet", "cur.parquet", "--html", "r.html"]
    )
    assert done.exit_code == 1, done.output
    title = "Drift: cur.parquet against ref.parquet"
    assert (root / "r.html").read_text(encoding="utf-8") == comparison.to_html(title=title)


def _labelled(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=rows) > 0.5).astype(int)
    group = np.where(x[:, 1] > 0.5, "north", "south")
    return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "group": group, "label": y})


class Features(keel.Schema):
    x1: float
    x2: float


@pytest.fixture
def models(project: Project) -> Project:
    train = _labelled(1000, 1)
    for useful in (True, False):
        x = train.select("x1", "x2").to_numpy()
        if not useful:
            x[:, 0] = 0.0
        model = LogisticRegression().fit(x, train["label"].to_numpy())
        keel.register(model, "risk", contract=Features, project=project)
    _labelled(600, 2).write_parquet(project.config.root / "holdout.parquet")
    return project


def test_an_evaluation_shows_its_metrics_and_the_cli_writes_its_to_html(models: Project) -> None:
    root = models.config.root
    _, evaluation = evaluate_model(
        "risk/1", "holdout.parquet", target="label", slices=["group"], n_boot=50,
        record=False, project=models,
    )  # fmt: skip
    auc = f"auc {evaluation.metrics['auc'].value:.4g}"
    _assert_displays(evaluation, "600 rows")
    assert auc in repr(evaluation)
    assert f"{evaluation.metrics['auc'].value:.4g}" in evaluation._repr_html_()
    done = runner.invoke(
        app,
        [
            "models", "evaluate", "risk/1", "--data", "holdout.parquet", "--target", "label",
            "--slice", "group", "--n-boot", "50", "--no-record", "--html", "e.html",
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    title = "risk version 1 on holdout.parquet"
    assert (root / "e.html").read_text(encoding="utf-8") == evaluation.to_html(title=title)


def test_a_gate_result_names_the_failed_checks(models: Project) -> None:
    keel.registry.set_alias("risk", "champion", 1, project=models)
    result = gate("risk", candidate=2, data="holdout.parquet", target="label", project=models)
    assert not result.passed
    failed = result.failures[0].name
    _assert_displays(result, "risk version 2", "champion", "FAILED", failed)


@keel.step
def numbers(n: int = 3) -> list[int]:
    return list(range(n))


@keel.step
def total(values: list[int]) -> int:
    return sum(values)


@keel.pipeline
def summing(n: int = 3) -> None:
    total(numbers(n))


def test_a_pipeline_result_its_lineage_and_a_run_comparison(project: Project) -> None:
    first = run_pipeline(summing, project=project)
    second = run_pipeline(summing, project=project)
    _assert_displays(first, "summing", "2 executed", "0 cached")
    _assert_displays(second, "0 executed", "2 cached")
    assert "total" in first._repr_html_()

    tree = lineage_tree(f"{first.run_id}:total", project=project)
    assert tree.size() >= 2
    _assert_displays(tree, "step", "total", f"{tree.size() - 1} nodes below")
    assert "numbers" in tree._repr_html_()  # the upstream step is in the tree

    with keel.start_run("a", params={"lr": 0.1}, project=project) as a:
        a.log_metric("auc", 0.75)
    with keel.start_run("b", params={"lr": 0.2}, project=project) as b:
        b.log_metric("auc", 0.8)
    runs = compare_runs([project.metadata.get_run(a.id), project.metadata.get_run(b.id)])
    _assert_displays(runs, "2 runs", "params", "auc")
    assert "+0.05" in runs._repr_html_()  # the metric's delta from the first run


def test_a_monitor_report_shows_its_traffic_and_alerts_and_the_cli_writes_its_to_html(
    project: Project,
) -> None:
    from tests.monitor._served import T0, fit, register, traffic, training, write

    root = project.config.root
    model = fit()
    register(project, model)
    write(project, *(traffic(model, hour=h, rows=150, seed=h) for h in range(2)))
    training()[0].write_parquet(root / "train.parquet")
    since, until = T0.isoformat(), (T0 + timedelta(hours=2)).isoformat()
    report = keel.monitor.report(
        "churn", since=since, until=until, reference="train.parquet", project=project
    )
    assert report.rows == 300
    _assert_displays(report, "churn", "300 predictions")
    assert "in 2 of 2 windows of 1h" in repr(report)
    done = runner.invoke(
        app,
        [
            "monitor", "report", "churn", "--since", since, "--until", until,
            "--reference", "train.parquet", "--html", "m.html",
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert (root / "m.html").read_text(encoding="utf-8") == report.to_html()


def test_ipython_shows_a_report_as_html_and_its_plain_text_as_the_short_repr() -> None:
    from IPython.core.formatters import DisplayFormatter

    report = Loan.check(pl.DataFrame({"id": [1, 1], "age": [30, 40]}))
    shown, _ = DisplayFormatter().format(report)  # what a notebook's output cell receives
    assert shown["text/plain"] == repr(report)
    assert shown["text/html"] == report._repr_html_()
    assert "FAILED" in shown["text/html"]

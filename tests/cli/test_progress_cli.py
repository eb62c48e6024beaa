"""Long work shows its progress on a terminal (``keel models evaluate``'s bootstrap: a bar with
the count of resamples), and nothing a script reads: not with ``--format json``, not in a
pipe, where stdout is exactly the JSON document."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import keel
from keel.cli import _output, app
from keel.config import init_project
from keel.models import evaluate
from keel.tracking import open_project


class Features(keel.Schema):
    x1: float
    x2: float


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    init_project(tmp_path)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(3000, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=3000) > 0.5).astype(int)
    frame = pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": y})
    frame.write_parquet(tmp_path / "holdout.parquet")
    model = LogisticRegression().fit(x, y)
    keel.register(model, "risk", contract=Features, project=open_project(tmp_path))
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(here)


_EVALUATE = ["models", "evaluate", "risk/1", "--data", "holdout.parquet", "--target", "label"]


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal (colours, live display), written into a buffer we can read."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    monkeypatch.setattr(_output, "err", console)
    return screen


def test_evaluate_shows_a_bar_with_the_count_on_a_terminal(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _terminal(monkeypatch)
    done = CliRunner().invoke(app, [*_EVALUATE, "--n-boot", "400", "--no-record"])
    assert done.exit_code == 0, done.output
    shown = screen.getvalue()
    assert "Evaluating risk/1 on holdout.parquet" in shown
    assert "400/400" in shown  # the count of resamples, complete


def test_evaluate_json_on_a_terminal_prints_only_the_json(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _terminal(monkeypatch)
    done = CliRunner().invoke(app, [*_EVALUATE, "--n-boot", "400", "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["n_boot"] == 400
    assert screen.getvalue() == ""


def test_evaluate_in_a_pipe_has_no_progress(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "keel", *_EVALUATE, "--n-boot", "200", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "risk"  # stdout is the document, whole
    assert "Evaluating" not in done.stderr
    assert "200/200" not in done.stderr


def test_evaluate_reports_every_resample_of_every_slice() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.clip(y * 0.6 + rng.uniform(0, 0.4, 500), 0, 1)
    seen: list[tuple[int, int]] = []
    evaluate(
        y,
        y_score=score,
        slices={"side": np.where(np.arange(500) % 2 == 0, "even", "odd")},
        n_boot=300,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (900, 900)  # overall and two slices, 300 resamples each
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert {total for _, total in seen} == {900}


@pytest.mark.parametrize(("fmt", "shown"), [("table", True), ("json", False)])
def test_hashing_names_its_phase_on_a_terminal_except_in_json(
    project: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, shown: bool
) -> None:
    screen = _terminal(monkeypatch)
    args = ["data", "add", "holdout.parquet", "--name", "holdout", "--format", fmt]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert ("Hashing holdout.parquet" in screen.getvalue()) is shown
    if fmt == "json":
        assert json.loads(done.stdout)["name"] == "holdout"

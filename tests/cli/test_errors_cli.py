"""Failures point at the user's code: a failed step prints the user's own traceback (Keel's
frames folded) in keel run and keel runs show, hints fit the cause, and error text is printed
literally (brackets are text, not rich markup)."""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project

runner = CliRunner()

HELPERS = """\
def lookup(d: dict[str, int]) -> int:
    return d["missing"]
"""

PIPE = """\
from pathlib import Path

import keel
from errhelpers import lookup


@keel.step
def load(n: int) -> dict[str, int]:
    return {"a": n}


@keel.step
def compute(d: dict[str, int]) -> int:
    return lookup(d)


@keel.step
def count(path: Path) -> int:
    return len(path.read_text())


@keel.step
def strict(n: int) -> int:
    raise ValueError(f"[contracts] and [bold]{n}[/bold] are text")


@keel.pipeline
def flow(n: int = 1) -> None:
    compute(load(n))


@keel.pipeline
def reading(source: Path = Path("numbers.txt")) -> None:
    count(source)


@keel.pipeline
def brackets(n: int = 1) -> None:
    strict(n)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # pipe.py imports errhelpers.py
    monkeypatch.delenv("KEEL_DEBUG", raising=False)
    (tmp_path / "errhelpers.py").write_text(HELPERS)
    (tmp_path / "pipe.py").write_text(PIPE)
    yield tmp_path
    for module in ("errhelpers", "pipe"):  # later tests import their own modules of that name
        sys.modules.pop(module, None)


def _flat(text: str) -> str:
    """The console wraps at 80 columns when not on a terminal: compare words, not lines."""
    return re.sub(r"\s+", " ", text)


def _users_traceback(output: str) -> None:
    """The frames of pipe.py and errhelpers.py with their source lines; none of Keel's."""
    assert 'pipe.py", line 14, in compute' in output
    assert "return lookup(d)" in output
    assert 'errhelpers.py", line 2, in lookup' in output
    assert 'return d["missing"]' in output
    assert "KeyError: 'missing'" in output
    assert re.search(r"… \d+ frames? in keel …", output)
    assert "_execute.py" not in output
    assert "_runner.py" not in output


def test_keel_run_prints_the_users_traceback_with_keels_frames_folded(project: Path) -> None:
    result = runner.invoke(app, ["run", "pipe.py:flow"])
    assert result.exit_code == 1, result.output
    _users_traceback(result.stderr)
    # the traceback comes before the error line, the error line before its hint
    assert result.stderr.index("errhelpers.py") < result.stderr.index("error: step 'compute'")
    assert "Hint:" in result.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_debug_shows_every_frame(project: Path, how: str) -> None:
    args, env = (["--debug"], {}) if how == "option" else ([], {"KEEL_DEBUG": "1"})
    result = runner.invoke(app, [*args, "run", "pipe.py:flow"], env=env)
    assert result.exit_code == 1, result.output
    assert 'errhelpers.py", line 2, in lookup' in result.stderr
    assert "_execute.py" in result.stderr  # Keel's own frames, unfolded
    assert "frames in keel" not in result.stderr
    assert "error: step 'compute'" in result.stderr


def test_debug_shows_the_traceback_of_any_keel_error(project: Path) -> None:
    plain = runner.invoke(app, ["runs", "show", "nope"])
    assert plain.exit_code == 2
    assert "Traceback" not in plain.stderr
    debug = runner.invoke(app, ["--debug", "runs", "show", "nope"])
    assert debug.exit_code == 2
    assert "Traceback (most recent call last):" in debug.stderr
    assert "error:" in debug.stderr


def test_runs_show_keeps_the_users_traceback_of_a_failed_step(project: Path) -> None:
    assert runner.invoke(app, ["run", "pipe.py:flow"]).exit_code == 1
    runs = json.loads(runner.invoke(app, ["runs", "list", "--format", "json"]).stdout)
    run_id = runs[0]["id"]
    shown = runner.invoke(app, ["runs", "show", run_id])
    assert shown.exit_code == 0, shown.output
    cell = re.sub(r"[\s│]+", "", shown.stdout)  # the table cell wraps long paths: no spaces
    for frame in ('pipe.py",line14,incompute', 'errhelpers.py",line2,inlookup', "KeyError"):
        assert frame in cell
    assert "_execute.py" not in shown.stdout
    assert "StepFailedError" in shown.stdout  # what failed the run, after the step's error
    recorded = json.loads(runner.invoke(app, ["runs", "show", run_id, "-f", "json"]).stdout)
    assert 'errhelpers.py", line 2, in lookup' in recorded["error"]  # stored with the run
    assert "_execute.py" in recorded["error"]  # the record is whole; only the view folds
    debug = runner.invoke(app, ["--debug", "runs", "show", run_id])
    assert "_execute.py" in debug.stdout


def test_the_dask_executor_brings_the_users_traceback_back(project: Path) -> None:
    result = runner.invoke(app, ["run", "pipe.py:flow", "--executor", "dask", "--workers", "1"])
    assert result.exit_code == 1, result.output
    _users_traceback(result.stderr)


def test_a_missing_input_file_is_named_in_the_hint(project: Path) -> None:
    result = runner.invoke(app, ["run", "pipe.py:reading"])
    assert result.exit_code == 1, result.output
    hint = _flat(result.stderr.split("Hint:", 1)[1])
    missing = str(project / "numbers.txt")
    assert f"The file {missing} (input 'path' of step 'count') does not exist" in hint
    assert "Fix the step" not in hint
    (project / "numbers.txt").write_text("12")
    assert runner.invoke(app, ["run", "pipe.py:reading"]).exit_code == 0


def test_a_step_error_without_a_known_cause_keeps_the_general_hint(project: Path) -> None:
    result = runner.invoke(app, ["run", "pipe.py:flow"])
    assert "Fix the step and run the pipeline again" in _flat(result.stderr)


def test_brackets_in_messages_names_and_paths_are_printed_literally(project: Path) -> None:
    raised = runner.invoke(app, ["run", "pipe.py:brackets"])
    assert raised.exit_code == 1
    flat = _flat(raised.stderr)
    assert "ValueError: [contracts] and [bold]1[/bold] are text" in flat  # traceback and error
    assert flat.count("[contracts] and [bold]1[/bold] are text") == 2
    # a path with brackets in an error message and its hint
    missing = runner.invoke(app, ["validate", "contracts[v2]/loan.yaml", "loans.csv"])
    assert missing.exit_code == 2
    assert "the contract file contracts[v2]/loan.yaml does not exist" in _flat(missing.stderr)
    (project / "c[1].yaml").write_text("x: 1\n")
    invalid = runner.invoke(app, ["validate", "c[1].yaml", "loans.csv"])
    assert invalid.exit_code == 2
    assert "c[1].yaml:1: x: unknown key" in invalid.stderr
    # a name the user typed, echoed in the error
    unknown = runner.invoke(app, ["runs", "show", "[red]abc"])
    assert unknown.exit_code == 2
    assert "[red]abc" in unknown.stderr, unknown.stderr


def test_runs_show_prints_params_with_brackets_literally(project: Path) -> None:
    from keel.tracking import start_run

    with start_run("bracketed", params={"columns": "[a]", "note": "[bold]x[/bold]"}):
        pass
    runs = json.loads(runner.invoke(app, ["runs", "list", "--format", "json"]).stdout)
    shown = runner.invoke(app, ["runs", "show", runs[0]["id"]])
    assert "'columns': '[a]'" in shown.stdout
    assert "'note': '[bold]x[/bold]'" in shown.stdout


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on (127.0.0.1), as a running server's would be."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_serve_on_a_port_in_use_fails_before_loading_any_model(
    project: Path, taken_port: int
) -> None:
    # no model 'churn' is registered: the port is checked first, so that is not what it says
    result = runner.invoke(app, ["serve", "churn", "--port", str(taken_port)])
    assert result.exit_code == 2, result.output
    said = _flat(result.stderr)
    assert f"port {taken_port} on 127.0.0.1 is already in use by another process" in said
    assert f"Hint: Stop what listens there (lsof -i :{taken_port} names it)" in said
    assert "--port" in said.split("Hint:", 1)[1]
    assert "no model" not in said
    assert "serving" not in result.output


def test_serve_checks_the_port_on_the_host_it_was_given(project: Path, taken_port: int) -> None:
    # the same port on another local address is free: the check passes, the model lookup runs
    other_host = runner.invoke(
        app, ["serve", "churn", "--host", "127.0.0.2", "--port", str(taken_port)]
    )
    assert other_host.exit_code == 2, other_host.output
    assert "no model 'churn'" in other_host.stderr
    unknown = runner.invoke(app, ["serve", "churn", "--host", "no-such-host.invalid"])
    assert unknown.exit_code == 2
    assert "the host 'no-such-host.invalid' cannot be resolved" in _flat(unknown.stderr)


def test_an_error_reaches_a_pipe_whole_not_wrapped_at_80_columns(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "project"
    deep.mkdir(parents=True)
    init_project(deep, name="shop")
    done = runner.invoke(app, ["init", str(deep)])
    assert done.exit_code == 2
    first = done.stderr.splitlines()[0]  # a log or CI output greps for the whole message
    assert first.startswith("error: ")
    assert f"{deep / 'keel.toml'} already exists" in first

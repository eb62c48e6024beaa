"""Folding Keel's own frames out of a traceback, wherever Keel and the user's code live."""

from __future__ import annotations

from pathlib import Path

import keel
from keel._traceback import chain_text, fold_traceback, format_error, is_keel_file
from keel.errors import StepFailedError

KEEL = Path(keel.__file__).resolve().parent


def _frame(path: str | Path, line: int, name: str, source: str) -> str:
    return f'  File "{path}", line {line}, in {name}\n    {source}\n    ^^^^^^^^\n'


def test_keel_frames_fold_into_one_line_and_the_users_frames_stay() -> None:
    text = (
        "Traceback (most recent call last):\n"
        + _frame(KEEL / "pipelines" / "_execute.py", 157, "execute", "result = run()")
        + _frame(KEEL / "pipelines" / "_execute.py", 233, "_call", "return fn(**kwargs)")
        + _frame("/home/ana/project/pipe.py", 11, "compute", "return lookup(d)")
        + _frame("/home/ana/project/helpers.py", 2, "lookup", 'return d["missing"]')
        + "KeyError: 'missing'\n"
    )
    folded = fold_traceback(text)
    assert folded == (
        "Traceback (most recent call last):\n"
        "  … 2 frames in keel …\n"
        + _frame("/home/ana/project/pipe.py", 11, "compute", "return lookup(d)")
        + _frame("/home/ana/project/helpers.py", 2, "lookup", 'return d["missing"]')
        + "KeyError: 'missing'\n"
    )


def test_a_keel_call_inside_the_users_code_is_folded_after_the_users_line() -> None:
    text = (
        "Traceback (most recent call last):\n"
        + _frame("/p/pipe.py", 5, "train", "keel.load('churn')")
        + _frame(KEEL / "registry" / "_load.py", 40, "load", "raise UsageError(...)")
        + "keel.errors.UsageError: no model 'churn'\n"
    )
    assert fold_traceback(text).splitlines()[1:5] == [
        '  File "/p/pipe.py", line 5, in train',
        "    keel.load('churn')",
        "    ^^^^^^^^",
        "  … 1 frame in keel …",
    ]


def test_keel_installed_elsewhere_is_recognised_and_a_users_keel_folder_is_not() -> None:
    # a Dask worker on another machine: Keel in its own site-packages
    assert is_keel_file("/opt/venv/lib/python3.11/site-packages/keel/pipelines/_execute.py")
    assert is_keel_file(str(KEEL / "errors.py"))
    # a project that happens to live in a folder called keel is the user's code
    assert not is_keel_file("/home/ana/keel/pipe.py")
    assert not is_keel_file("/home/ana/project/pipelines/_execute.py")


def test_a_traceback_of_keel_frames_only_keeps_its_exception() -> None:
    def fail() -> None:
        raise ValueError("bad [value]")

    try:
        fail()
    except ValueError as exc:
        cause = format_error(exc)  # formatted where it happened (a worker)
    keel_only = (
        "Traceback (most recent call last):\n"
        + _frame(KEEL / "pipelines" / "_runner.py", 220, "run_pipeline", "raise failure")
        + "keel.errors.StepFailedError: step 'x' failed\nHint: fix it\n"
    )
    chained = cause + "\nThe above exception was the direct cause of the following exception:"
    folded = fold_traceback(chained + "\n\n" + keel_only)
    assert "in fail" in folded  # this test's frames are the user's code here
    assert "ValueError: bad [value]" in folded
    assert folded.endswith(
        "The above exception was the direct cause of the following exception:\n\n"
        "keel.errors.StepFailedError: step 'x' failed\nHint: fix it\n"
    )


def test_chain_text_reads_like_pythons_own_chaining() -> None:
    try:
        raise StepFailedError("step 'x' failed", step="x", run_id="r")
    except StepFailedError as exc:
        text = chain_text("Traceback (most recent call last):\nKeyError: 'k'\n", exc)
    assert text.startswith("Traceback (most recent call last):\nKeyError: 'k'\n\nThe above")
    assert "keel.errors.StepFailedError: step 'x' failed" in text

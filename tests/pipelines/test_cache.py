"""The cache: unchanged steps are skipped, every miss is explained, bad hits are not used.

These run ``keel run`` as a user does (a fresh process per run), editing the project's files
between runs, since what invalidates a step is a change on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from keel.config import init_project
from keel.pipelines._runner import explain_change
from keel.tracking import collect_garbage, open_project

HELPERS = """\
def scale(values, factor):
    return [v * factor for v in values]
"""

FLOW = """\
from pathlib import Path

import keel
from helpers import scale


@keel.step
def read(source: Path) -> list[float]:
    return [float(x) for x in source.read_text().split()]


@keel.step
def scaled(values: list[float], factor: float = 2.0) -> list[float]:
    return scale(values, factor)


@keel.step
def counted(values: list[float]) -> int:
    return len(values)


@keel.step
def summed(values: list[float]) -> dict[str, float]:
    return {"total": sum(values)}


@keel.pipeline
def flow(source: Path = Path("numbers.txt"), factor: float = 2.0) -> None:
    values = read(source)
    counted(values)
    summed(scaled(values, factor=factor))
"""


def _project(root: Path) -> Path:
    init_project(root)
    (root / "helpers.py").write_text(HELPERS)
    (root / "flow.py").write_text(FLOW)
    (root / "numbers.txt").write_text("1 2 3\n")
    return root


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "keel", "run", "flow.py:flow", "--format", "json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _statuses(result: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["status"] for s in result["steps"]}


def _why(result: dict[str, Any], step: str) -> str:
    return next(str(s["explanation"]) for s in result["steps"] if s["step"] == step)


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_an_unchanged_pipeline_is_fully_cached(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _run(root)
    assert set(_statuses(first).values()) == {"finished"}
    assert _why(first, "read") == "read ran: no earlier run"
    second = _run(root)
    assert set(_statuses(second).values()) == {"cached"}
    digests = {s["step"]: s["outputs"] for s in first["steps"]}
    assert {s["step"]: s["outputs"] for s in second["steps"]} == digests


def test_editing_a_helper_in_another_file_reruns_only_the_steps_that_use_it(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path)
    _run(root)
    _touch(root / "helpers.py", HELPERS.replace("v * factor", "v * factor + 1"))
    again = _run(root)
    assert _statuses(again) == {
        "read": "cached",
        "counted": "cached",
        "scaled": "finished",
        "summed": "finished",
    }
    assert _why(again, "scaled") == "scaled re-ran: helpers.py changed"
    assert _why(again, "summed") == "summed re-ran: input values changed"


def test_equal_upstream_bytes_keep_downstream_cached(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    _touch(root / "helpers.py", HELPERS.replace("v * factor", "factor * v"))
    again = _run(root)
    assert _statuses(again)["scaled"] == "finished"
    assert _statuses(again)["summed"] == "cached"  # same values in, same key


def test_a_parameter_change_is_explained(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    again = _run(root, "--param", "factor=3")
    assert _why(again, "scaled") == "scaled re-ran: param factor changed (2.0 -> 3.0)"
    assert _statuses(again)["read"] == "cached"


def test_changed_data_under_the_same_path_reruns_its_reader(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    _touch(root / "numbers.txt", "1 2 3 4\n")
    again = _run(root)
    assert _why(again, "read") == "read re-ran: data at numbers.txt changed"
    assert set(_statuses(again).values()) == {"finished"}


def test_another_file_param_is_named_as_the_param_change_not_as_changed_data(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path)
    _run(root)
    (root / "other.txt").write_text("5 6\n")
    again = _run(root, "--param", "source=other.txt")
    assert _why(again, "read") == (
        'read re-ran: param source changed ("numbers.txt" -> "other.txt"), and the data differs'
    )


def test_a_copy_under_another_path_says_only_the_param_changed(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    (root / "copy.txt").write_bytes((root / "numbers.txt").read_bytes())
    again = _run(root, "--param", "source=copy.txt")
    assert _why(again, "read") == (
        'read re-ran: param source changed ("numbers.txt" -> "copy.txt"), same content'
    )


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ({"path": "a", "digest": "1"}, {"path": "a", "digest": "2"}, "data at a changed"),
        ({"path": "a", "digest": "1"}, {"path": "b", "digest": "1"}, "param p changed"),
        ({"path": "a", "digest": "1"}, 3, 'param p changed ("a" -> 3)'),
        (None, {"path": "b", "digest": "1"}, 'param p changed (null -> "b")'),
    ],
)
def test_each_kind_of_param_change_names_its_cause(before: Any, after: Any, said: str) -> None:
    (reason,) = explain_change({"params": {"p": before}}, {"params": {"p": after}})
    assert reason.startswith(said)
    assert "data at" not in reason or before["path"] == after["path"]


def test_force_reruns_a_step_and_what_depends_on_it(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    again = _run(root, "--force", "scaled")
    assert _statuses(again) == {
        "read": "cached",
        "counted": "cached",
        "scaled": "finished",
        "summed": "finished",
    }
    assert _why(again, "summed") == "summed re-ran: forced (--force)"


def test_a_corrupted_or_missing_cached_output_is_not_used(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _run(root)
    counted = next(s for s in first["steps"] if s["step"] == "counted")
    digest = counted["outputs"][0]["digest"]
    stored = Path(open_project(root).artifacts.path(digest))
    stored.write_bytes(b"99")
    again = _run(root)
    assert _why(again, "counted") == "counted re-ran: cached output 'out' is corrupted"
    stored.unlink()
    third = _run(root)
    assert "is missing from the artifact store" in _why(third, "counted")


def test_two_machines_sharing_a_store_share_the_cache(tmp_path: Path) -> None:
    store = tmp_path / "shared"
    env = {
        "KEEL_STORE_URL": f"sqlite:///{store / 'keel.db'}",
        "KEEL_ARTIFACTS_URL": str(store / "artifacts"),
    }
    first = _project(tmp_path / "laptop")
    second = _project(tmp_path / "server")
    assert set(_statuses(_run(first, env=env)).values()) == {"finished"}
    assert set(_statuses(_run(second, env=env)).values()) == {"cached"}


def test_garbage_collection_keeps_the_pipeline_cache(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _run(root)
    found = collect_garbage(delete=True, grace=0, project=open_project(root))
    assert list(found.unreferenced) == []
    assert set(_statuses(_run(root)).values()) == {"cached"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"code": {"a.py:f": "1"}}, {"code": {"a.py:f": "2"}}, ["a.py changed"]),
        (
            {"code": {"a.py:f": "1", "b.py": "1"}},
            {"code": {"a.py:f": "1", "b.py": "2", "c.py:g": "3"}},
            ["b.py, c.py changed"],
        ),
        (
            {"environment": {"python": "3.11", "scikit-learn": "1.5.0"}},
            {"environment": {"python": "3.11", "scikit-learn": "1.6.1"}},
            ["scikit-learn 1.5.0 -> 1.6.1"],
        ),
        ({"environment": {}}, {"environment": {"xgboost": "2.1"}}, ["xgboost absent -> 2.1"]),
        (
            {"contracts": {"mode": "full"}},
            {"contracts": {"mode": "off"}},
            ["a contract or the contract mode changed"],
        ),
        ({"format": 1}, {"format": 2}, ["Keel's cache format changed"]),
        ({"params": {"n": 1}}, {"params": {"n": 1}}, []),
    ],
)
def test_misses_are_explained_part_by_part(
    old: dict[str, Any], new: dict[str, Any], expected: list[str]
) -> None:
    assert explain_change(old, new) == expected


def test_a_step_with_caching_off_always_runs(tmp_path: Path) -> None:
    root = _project(tmp_path)
    flow = FLOW.replace("@keel.step\ndef counted", "@keel.step(cache=False)\ndef counted")
    (root / "flow.py").write_text(textwrap.dedent(flow))
    _run(root)
    again = _run(root)
    assert _statuses(again)["counted"] == "finished"
    assert _why(again, "counted") == "counted ran: caching is off for this step"

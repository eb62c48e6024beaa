"""Journey 2, the README's pipeline: run, cached re-run, a parameter change, lineage."""

from __future__ import annotations

import re

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance._readme import blocks
from tests.acceptance._readme import shell as readme_shell
from tests.acceptance.conftest import Shell

scenarios("first_pipeline.feature")

SUMMARY = re.compile(r"(\d+) step\(s\) ran, (\d+) cached")


@given("the README's pipeline saved as flow.py")
def flow_py(shell: Shell) -> None:
    (code,) = blocks("first-pipeline", "python")
    (shell.cwd / "flow.py").write_text(code.code)


@when("I run the README's first-pipeline commands, RUN_ID being the newest run")
def run_commands(shell: Shell) -> None:
    for line in readme_commands():
        if "RUN_ID" not in line:
            shell.run(line)
            continue
        newest = shell.json("keel runs list --format json")[0]["id"]
        shell.run(line.replace("RUN_ID", newest))


def readme_commands() -> list[str]:
    return readme_shell("first-pipeline")


def _runs(shell: Shell) -> list[str]:
    return [r.stdout + r.stderr for r in shell.results if r.args[-1].startswith("keel run ")]


@then(parsers.parse("run {n:d} ran {ran:d} steps and took {cached:d} from the cache"))
def run_summary(shell: Shell, n: int, ran: int, cached: int) -> None:
    found = SUMMARY.search(_runs(shell)[n - 1])
    assert found is not None, shell.transcript()
    assert (int(found[1]), int(found[2])) == (ran, cached), shell.transcript()


@then(parsers.parse("the runs' means are {a:g}, {b:g} and {c:g}"))
def means(shell: Shell, a: float, b: float, c: float) -> None:
    runs = shell.json("keel runs list --format json")[::-1]  # oldest first
    assert [r["metrics"]["mean.mean"] for r in runs] == pytest.approx([a, b, c], abs=1e-3)


@then(parsers.parse("the lineage of the newest run reaches the file {name} through step {step}"))
def lineage(shell: Shell, name: str, step: str) -> None:
    (tree,) = [r.stdout for r in shell.results if r.args[-1].startswith("keel lineage ")]
    assert step in tree, tree
    assert re.search(rf"file {re.escape(name)}\b", tree), tree

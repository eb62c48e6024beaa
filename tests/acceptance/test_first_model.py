"""Journey 3, the README's model commands: register, evaluate, gate, serve, curl, rollback."""

from __future__ import annotations

import json
import time
from typing import Any

from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance import _churn
from tests.acceptance._readme import shell as readme_shell
from tests.acceptance.conftest import Served, Shell, free_port, start_server

scenarios("first_model.feature")

README_PORT = "8080"


@given(
    "churn-v1 learned from shuffled labels, churn-v2 from the real signal, and held-out "
    "customers in holdout.csv"
)
def packages(shell: Shell) -> None:
    train = _churn.customers(3000, seed=0)
    _churn.save(_churn.fit(train, shuffled=True), shell.cwd / "churn-v1")
    _churn.save(_churn.fit(train), shell.cwd / "churn-v2")
    _churn.customers(1000, seed=1).write_csv(shell.cwd / "holdout.csv")


@given("deploy/churn.yaml rolls a challenger out as a canary: 10% of the traffic, then a pause")
def deploy_spec(shell: Shell) -> None:
    (shell.cwd / "deploy").mkdir()
    (shell.cwd / "deploy" / "churn.yaml").write_text(
        "challenger:\n"
        "  alias: challenger\n"
        "  mode: canary\n"
        "  steps:\n"
        "    - setWeight: 10\n"
        "    - pause: {duration: 1h}\n"
    )


def follow(shell: Shell, servers: list[Served], journey: str) -> None:
    """Runs ``journey``'s README commands in order: ``keel serve`` in the background and
    every ``localhost:8080`` on a free port instead."""
    port = str(free_port())
    for line in readme_shell(journey):
        line = line.replace(README_PORT, port)  # noqa: PLW2901  # the README's port, made free
        if line.startswith("keel serve "):
            servers.append(start_server(shell, line, int(port)))
        elif line.startswith(("keel models gate ", "keel deploy status ")):
            shell.run(f"{line} --format json")
        else:
            shell.run(line)


@when("I run the README's first-model commands, serving on a free port")
def run_commands(shell: Shell, servers: list[Served]) -> None:
    follow(shell, servers, "first-model")


def _output(shell: Shell, starts: str) -> str:
    (out,) = [r.stdout for r in shell.results if r.args[-1].startswith(starts)]
    return out


@then("the gate promoted version 2 over version 1 on a higher AUC")
def gate_promoted(shell: Shell) -> None:
    gate = json.loads(_output(shell, "keel models gate "))
    assert gate["passed"] is True, gate
    events = shell.json("keel models history churn --format json")
    (recorded,) = [e["detail"] for e in events if e["kind"] == "gate"]
    (auc,) = [c["data"] for c in recorded["checks"] if c["name"] == "auc.min_delta"]
    assert recorded["baseline"] == 1
    assert auc["candidate"] > auc["baseline"], auc


@then("the README's curl was answered by version 2 with a probability of churn")
def curl_answer(shell: Shell) -> None:
    answer = json.loads(_output(shell, "curl "))
    assert "version" in answer, answer  # not an error (a 415 once)
    assert answer["version"] == 2, answer
    assert answer["predictions"][0] in (0, 1), answer
    (probabilities,) = answer["probabilities"]
    assert abs(sum(probabilities) - 1) < 1e-9, answer


@then(
    parsers.parse(
        "after the rollback the running server answers with version 1 within {s:d} seconds"
    )
)
def follows_rollback(shell: Shell, s: int) -> None:
    curl = next(r.args[-1] for r in shell.results if r.args[-1].startswith("curl "))
    deadline = time.monotonic() + s
    answer: Any = None
    while time.monotonic() < deadline:
        answer = json.loads(shell.ok(curl).stdout)
        if answer["version"] == 1:
            return
        time.sleep(0.5)
    raise AssertionError(f"still served after the rollback: {answer}")


@then("the history shows the promotion to 2, the rollback to 1 and the challenger at 2")
def history(shell: Shell) -> None:
    events = shell.json("keel models history churn --format json")
    moves = [(e["kind"], e["alias"], e["version"], e["previous_version"]) for e in events]
    assert ("promote", "champion", 2, 1) in moves, moves
    assert ("rollback", "champion", 1, 2) in moves, moves
    assert moves.index(("promote", "champion", 2, 1)) < moves.index(("rollback", "champion", 1, 2))
    assert moves[-1] == ("alias", "challenger", 2, None), moves


@then("the deploy status shows the canary of version 2 against version 1 at 10% of the traffic")
def canary(shell: Shell) -> None:
    status = json.loads(_output(shell, "keel deploy status "))
    rollout = status["rollout"]
    assert status["file"] == "deploy/churn.yaml", status
    assert rollout["active"] is True, rollout
    assert (rollout["champion_version"], rollout["challenger_version"]) == (1, 2), rollout
    assert (rollout["step"], rollout["weight"]) == (1, 10.0), rollout

"""Journey 5, the README's feature store: definitions, a point-in-time training set,
materialization, an online lookup, a model registered with its feature service, served by
key, and skew between what it served and the point-in-time join."""

from __future__ import annotations

import datetime as dt
import json
import sys

import polars as pl
from pytest_bdd import parsers, scenarios, then, when

from tests.acceptance._readme import blocks, command
from tests.acceptance._readme import shell as readme_shell
from tests.acceptance.conftest import Served, Shell, free_port, start_server, stop

scenarios("first_features.feature")

README_PORT = "8080"


@when("I run the README's first-features Python in it")
def run_python(shell: Shell) -> None:
    (code,) = blocks("first-features", "python")
    (shell.cwd.parent / "first_features.py").write_text(code.code)
    shell.ok(f"{sys.executable} ../first_features.py")


@when("I run the README's first-features commands, serving on a free port")
def run_commands(shell: Shell, servers: list[Served]) -> None:
    """The README's lines in order: ``keel serve`` in the background on a free port (stopped
    after the curl, so that the prediction log is flushed before ``keel features skew``)."""
    port = str(free_port())
    for line in readme_shell("first-features"):
        line = line.replace(README_PORT, port)  # noqa: PLW2901  # the README's port, made free
        if line.startswith("keel serve "):
            servers.append(start_server(shell, line, int(port)))
        elif line.startswith("keel features skew "):
            for served in servers:
                stop(served)  # as a user's Ctrl-C: the log is written on the way out
            shell.run(f"{line} --format json")
        else:
            shell.run(line)


def _output(shell: Shell, starts: str) -> str:
    (out,) = [r.stdout for r in shell.results if r.args[-1].startswith(starts)]
    return out


@then(
    parsers.parse(
        "the training set gave applicant 1 the score {one:g} and applicant 2 the score {two:g}"
    )
)
def training_set(shell: Shell, one: float, two: float) -> None:
    assert "-> train.parquet" in _output(shell, "keel features training-set "), shell.transcript()
    train = pl.read_parquet(shell.cwd / "train.parquet")
    assert train.columns == ["applicant_id", "timestamp", "defaulted", "credit_score"]
    assert train.select("applicant_id", "credit_score").rows() == [(1, one), (2, two)]


@then(parsers.parse("the online store gave applicant 1 the score {score:g}"))
def online(shell: Shell, score: float) -> None:
    got = json.loads(_output(shell, "keel features get "))
    assert got["features"] == ["credit_score"], got
    assert got["rows"] == [{"applicant_id": 1, "credit_score": score}], got
    assert got["status"] == [{"bureau": "found"}], got
    (done,) = got["materializations"]
    assert (done["view"], done["rows"]) == ("bureau", 2), done


@then(parsers.parse("the model {name} version {version:d} names the feature service {service}"))
def registered(shell: Shell, name: str, version: int, service: str) -> None:
    versions = shell.json(f"keel models show {name} --format json")
    (shown,) = [v for v in versions if v["version"] == version]
    assert shown["feature_service"] == service, versions


@then(
    parsers.parse(
        "the README's curl sent only the applicant's id and was answered by version {version:d}"
    )
)
def curl_answer(shell: Shell, version: int) -> None:
    curl = next(r.args[-1] for r in shell.results if r.args[-1].startswith("curl "))
    assert "credit_score" not in curl, curl  # the features are looked up, never sent
    answer = json.loads(_output(shell, "curl "))
    assert answer.get("version") == version, answer
    assert answer["predictions"][0] in (0, 1), answer


@then("the skew report replayed that request: credit_score served as the join gives it, exit 0")
def skew(shell: Shell) -> None:
    (done,) = [r for r in shell.results if r.args[-1].startswith("keel features skew ")]
    assert done.returncode == 0, shell.transcript()
    report = json.loads(done.stdout)
    assert (report["model"], report["services"], report["versions"]) == ("loans", ["scoring"], [1])
    assert (report["rows"], report["passed"], report["skewed"]) == (1, True, []), report
    (feature,) = report["features"]
    assert (feature["feature"], feature["view"]) == ("credit_score", "bureau"), feature
    assert (feature["rows"], feature["differ"]) == (1, 0), feature


@when(
    parsers.parse("a new report of applicant 1 (score {score:g}) arrives that nobody materializes")
)
def late_report(shell: Shell, score: float) -> None:
    bureau = shell.cwd / "bureau.parquet"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive times are UTC, as the data's
    late = pl.DataFrame({"applicant_id": [1], "event_time": [now], "credit_score": [score]})
    pl.concat([pl.read_parquet(bureau), late], how="vertical_relaxed").write_parquet(bureau)


@when("the README's server answers the README's curl again, then stops, and skew runs again")
def serve_again(shell: Shell, servers: list[Served]) -> None:
    port = str(free_port())
    served = start_server(
        shell, command("first-features", "keel serve ").replace(README_PORT, port), int(port)
    )
    servers.append(served)
    shell.ok(command("first-features", "curl ").replace(README_PORT, port))
    stop(served)
    shell.run(f"{command('first-features', 'keel features skew ')} --format json")


@then(
    parsers.parse(
        "that skew exits {code:d}, naming credit_score stale on {n:d} of the {rows:d} served rows"
    )
)
def skew_again(shell: Shell, code: int, n: int, rows: int) -> None:
    done = shell.last
    assert done.returncode == code, shell.transcript()
    report = json.loads(done.stdout)
    assert (report["rows"], report["passed"], report["skewed"]) == (rows, False, ["credit_score"])
    (feature,) = report["features"]
    assert (feature["differ"], feature["reasons"]["stale"]) == (n, n), feature
    (example,) = feature["examples"]
    assert (example["served"], example["offline"], example["reason"]) == (540.0, 480.0, "stale")

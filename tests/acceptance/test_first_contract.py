"""Journey 1, the README's quickstart commands: infer a contract, validate, register data."""

from __future__ import annotations

import json
import shutil

import polars as pl
import yaml
from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance._readme import command
from tests.acceptance._readme import shell as readme_shell
from tests.acceptance.conftest import REPO, Shell

scenarios("first_contract.feature")

SAMPLE = "examples/demo/data/loans_sample.csv"


@given("the demo's loan sample where the README reads it")
def loan_sample(shell: Shell) -> None:
    assert SAMPLE in command("first-contract", "keel validate")
    (shell.cwd / SAMPLE).parent.mkdir(parents=True)
    shutil.copy(REPO / SAMPLE, shell.cwd / SAMPLE)


@when("I run the README's first-contract commands")
def run_quickstart(shell: Shell) -> None:
    for line in readme_shell("first-contract"):
        shell.run(line)


@then("contract.yaml describes every column of the loan sample")
def contract_describes_sample(shell: Shell) -> None:
    contract = yaml.safe_load((shell.cwd / "contract.yaml").read_text())
    columns = contract["columns"]
    names = [c["name"] for c in columns] if isinstance(columns, list) else list(columns)
    assert names == pl.read_csv(shell.cwd / SAMPLE).columns


@then(parsers.parse('the loan sample is registered as dataset "{name}"'))
def registered(shell: Shell, name: str) -> None:
    datasets = shell.json(f"keel data list {name} --format json")
    assert [d["name"] for d in datasets] == [name], datasets


@when(parsers.parse("a copy of the loan sample has an age of {age:d} in one row"))
def broken_copy(shell: Shell, age: int) -> None:
    frame = pl.read_csv(shell.cwd / SAMPLE)
    row = pl.int_range(pl.len()) == 3
    frame = frame.with_columns(age=pl.when(row).then(age).otherwise(pl.col("age")))
    frame.write_csv(shell.cwd / "broken.csv")


@when("I validate the copy the way the README validates the sample")
def validate_copy(shell: Shell) -> None:
    line = command("first-contract", "keel validate").replace(SAMPLE, "broken.csv")
    shell.run(f"{line} --format json")


@then(parsers.parse('the failed check is on column "{column}", for {rows:d} row'))
def failed_check(shell: Shell, column: str, rows: int) -> None:
    report = json.loads(shell.last.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [(c["columns"], c["failures"]) for c in failed] == [([column], rows)], failed
    assert report["passed"] is False

"""keel contract infer proposes allowed sets and readable, outward bounds (issue 17)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.contracts import checked_data, read_contract

runner = CliRunner()


def test_infer_proposes_categories_and_outward_bounds_that_accept_tomorrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    draw = random.Random(7)
    rows = 300
    pl.DataFrame(
        {
            "income": [draw.uniform(10, 12_345.678) for _ in range(rows)],
            "score": [draw.random() for _ in range(rows)],
            "age": [draw.randint(18, 90) for _ in range(rows)],
            "region": [draw.choice(["north", "south", "east"]) for _ in range(rows)],
            "email": [f"user{i}@example.com" for i in range(rows)],
        }
    ).write_csv("loans.csv")

    result = runner.invoke(app, ["contract", "infer", "loans.csv", "-o", "contract.yaml"])

    assert result.exit_code == 0, result.output
    text = Path("contract.yaml").read_text()
    contract = read_contract("contract.yaml")
    assert contract.column("region").isin == ("east", "north", "south")
    assert contract.column("email").isin is None  # 300 distinct values: not a category
    assert (contract.column("income").ge, contract.column("income").le) == (0.0, 13000.0)
    assert (contract.column("score").ge, contract.column("score").le) == (0.0, 1.0)
    assert (contract.column("age").ge, contract.column("age").le) == (18, 90)
    assert "income: {type: float, ge: 0.0, le: 13000.0, finite: true}" in text
    tomorrow = pl.DataFrame(
        {
            "income": [12_400.0],
            "score": [0.9995],
            "age": [90],
            "region": ["east"],
            "email": ["new@example.com"],
        }
    )
    assert checked_data(contract, tomorrow)[0].passed
    assert checked_data(contract, "loans.csv")[0].passed

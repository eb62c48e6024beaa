"""The contract as one spine: one coercer from what users pass (``as_contract``), one
fingerprint, one kind per column and one type table per outside type system."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel
from keel.contracts import (
    ColumnSpec,
    Contract,
    DType,
    arrow_type,
    as_contract,
    contract_from_dict,
    contract_to_dict,
    dump_yaml,
    polars_type,
    to_json_schema,
    type_map,
)
from keel.errors import KeelError, UsageError
from tests.contracts.strategies import contracts

SRC = str(Path(keel.__file__).parents[1])


class Loan(keel.Schema):
    id: int = keel.Field(unique=True)
    amount: decimal.Decimal = keel.Field(ge=0)
    state: keel.Categorical = keel.Field(isin=["CA", "NY"])
    note: str | None
    opened: dt.date


# -- as_contract -------------------------------------------------------------------------------
def test_every_accepted_form_gives_the_same_contract(tmp_path: Path) -> None:
    contract = Loan.__contract__
    yaml_file = tmp_path / "loan.yaml"
    yaml_file.write_text(dump_yaml(contract), encoding="utf-8")
    json_file = tmp_path / "loan.json"
    json_file.write_text(json.dumps(contract_to_dict(contract)), encoding="utf-8")
    module = tmp_path / "loan_schemas.py"
    module.write_text(
        textwrap.dedent(
            """
            import datetime as dt
            import decimal

            import keel


            class Loan(keel.Schema):
                id: int = keel.Field(unique=True)
                amount: decimal.Decimal = keel.Field(ge=0)
                state: keel.Categorical = keel.Field(isin=["CA", "NY"])
                note: str | None
                opened: dt.date
            """
        ),
        encoding="utf-8",
    )
    forms: list[Any] = [Loan, contract, yaml_file, str(yaml_file), json_file, f"{module}:Loan"]
    assert all(as_contract(form) == contract for form in forms)
    assert as_contract(contract) is contract  # nothing rebuilt
    assert as_contract(Loan) is Loan.__contract__


@pytest.mark.parametrize("value", [42, {"columns": {}}, keel.Schema, object(), ["a.yaml"]])
def test_anything_else_is_refused_naming_the_value_and_the_accepted_forms(value: Any) -> None:
    with pytest.raises(UsageError) as caught:
        as_contract(value, what="output_contract")
    message = caught.value.message
    assert f"output_contract={value!r}" in message
    assert "keel.Schema class, a Contract, a contract.yaml/.json path" in message
    assert caught.value.hint


def test_a_reference_that_names_no_schema_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="neither a contract file nor a Python reference"):
        as_contract("loan")
    with pytest.raises(KeelError, match="no Python file"):
        as_contract(f"{tmp_path / 'absent.py'}:Loan")


# -- the fingerprint ---------------------------------------------------------------------------
def _reordered(data: dict[str, Any]) -> dict[str, Any]:
    """The same file form with every mapping's keys in reverse order (column order kept)."""
    out = {k: data[k] for k in reversed(list(data))}
    out["columns"] = {
        name: {k: spec[k] for k in reversed(list(spec))} for name, spec in data["columns"].items()
    }
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_equal_contracts_have_equal_fingerprints(contract: Contract) -> None:
    rebuilt = contract_from_dict(_reordered(contract_to_dict(contract)))
    assert rebuilt.columns == contract.columns  # (expression rules have no == to compare by)
    assert contract_to_dict(rebuilt) == contract_to_dict(contract)
    assert rebuilt.fingerprint == contract.fingerprint
    assert len(contract.fingerprint) == 64
    int(contract.fingerprint, 16)  # hex


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts(), st.data())
def test_a_changed_column_or_rule_changes_the_fingerprint(
    contract: Contract, data: st.DataObject
) -> None:
    changed = [
        replace(contract, strict=not contract.strict),
        replace(contract, rules=(*contract.rules, keel.rows(min=7))),
        replace(contract, columns=(*contract.columns, ColumnSpec(name="新", dtype=DType.INT))),
    ]
    if contract.columns:
        i = data.draw(st.integers(0, len(contract.columns) - 1))
        column = contract.columns[i]
        columns = list(contract.columns)
        columns[i] = replace(column, nullable=not column.nullable)
        changed.append(replace(contract, columns=tuple(columns)))
        columns[i] = replace(column, severity="warn" if column.severity == "error" else "error")
        changed.append(replace(contract, columns=tuple(columns)))
    if contract.rules:
        first = contract.rules[0]
        rules = (replace(first, name=f"{first.name or ''}!"), *contract.rules[1:])
        changed.append(replace(contract, rules=rules))
    prints = [contract.fingerprint, *(c.fingerprint for c in changed)]
    assert len(set(prints)) == len(prints)


def test_the_fingerprint_is_the_same_in_another_process() -> None:
    code = textwrap.dedent(
        """
        from tests.contracts.test_spine import Loan
        print(Loan.__contract__.fingerprint)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.getcwd()])}
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == Loan.__contract__.fingerprint


# -- kinds -------------------------------------------------------------------------------------
def test_each_column_has_one_kind_by_its_declared_type() -> None:
    kinds = {c.name: c.kind for c in Loan.__contract__.columns}
    assert kinds == {
        "id": "numeric",
        "amount": "numeric",
        "state": "categorical",
        "note": "text",
        "opened": "datetime",
    }
    assert {ColumnSpec(name="x", dtype=d).kind for d in DType} == {
        "numeric",
        "categorical",
        "datetime",
        "text",
    }


# -- one type table ----------------------------------------------------------------------------
def test_every_type_has_a_form_in_every_type_system() -> None:
    for dtype in DType:
        mapped = type_map(dtype)
        assert mapped.json
        assert mapped.mlflow
        assert pl.Series([], dtype=polars_type(dtype)).to_arrow().type == arrow_type(dtype)


def test_json_schema_reads_its_types_from_the_table() -> None:
    properties = to_json_schema(Loan.__contract__)["properties"]
    for spec in Loan.__contract__.columns:
        mapped = type_map(spec.dtype)
        types = properties[spec.name]["type"]
        types = [types] if isinstance(types, str) else types
        assert types[: len(mapped.json)] == list(mapped.json)
        assert properties[spec.name].get("format") == mapped.json_format

"""Contracts as YAML and JSON files: the documented format, round trips, and every error."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import textwrap
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

import keel
from keel.contracts import Contract, DType, checked_data
from keel.contracts._yaml import (
    contract_from_dict,
    contract_to_dict,
    dump_yaml,
    load_yaml,
    read_contract,
)
from keel.errors import ContractDefinitionError, ContractFileError, InputError
from tests.contracts.strategies import contracts

DOCUMENTED = """\
keel: 1
name: Loan
description: Loans we book.
version: "3"
strict: false
columns:
  id: {type: int, unique: true}
  income: {type: float, nullable: true, ge: 0, description: "yearly, USD"}
  amount: {type: float}
  state: {type: categorical, isin: [CA, NY]}
  email: {type: str, pattern: "^[^@\\\\s]+@[^@\\\\s]+$", severity: warn, mostly: 0.99}
  opened: {type: date, ge: "2020-01-01"}
  q10: float
  q50: float
  q90: float
  total: float
  price: float
  qty: int
  a: str
  b: str
  zip: str
  ts: datetime
rules:
  - {rule: ordered, columns: [q10, q50, q90]}
  - {rule: correlated, columns: [income, amount], min: 0.0}
  - {rule: rows, min: 1000}
  - {rule: expression, expr: "abs(total - price * qty) <= 0.01", name: total_matches}
  - {rule: close, left: total, right: "price * qty", abs_tol: 0.01}
  - {rule: unique, columns: [a, b]}
  - {rule: functional_dependency, key: [zip], value: state}
  - {rule: null_fraction, column: income, max: 0.05}
  - {rule: fresh, column: ts, max_age: 7d}
  - {rule: aggregate, expr: "mean(amount) < 50000"}
"""

HEAD = "keel: 1\nname: Loan\ncolumns:\n  id: {type: int}\n"  # lines 1-4


class Loan(keel.Schema):
    """Loans we book."""

    id: keel.Column[int] = keel.Field(unique=True)
    income: keel.Column[float | None] = keel.Field(ge=0, description="yearly, USD")
    state: keel.Column[keel.Categorical] = keel.Field(isin=["CA", "NY"])
    opened: keel.Column[dt.date] = keel.Field(ge=dt.date(2020, 1, 1))
    amount: keel.Column[decimal.Decimal] = keel.Field(le=decimal.Decimal("1e6"))
    q10: keel.Column[float]
    q90: keel.Column[float]

    rules = (keel.ordered("q10", "q90"), keel.rows(min=1))


def error(text: str) -> ContractDefinitionError:
    with pytest.raises(ContractDefinitionError) as info:
        load_yaml(text, "contract.yaml")
    return info.value


# -- the documented format ---------------------------------------------------------------
def test_the_documented_example_loads() -> None:
    contract = load_yaml(DOCUMENTED)
    assert contract.name == "Loan"
    assert contract.description == "Loans we book."
    assert contract.version == "3"
    assert not contract.strict
    income = contract.column("income")
    assert (income.dtype, income.nullable, income.ge) == (DType.FLOAT, True, 0)
    assert income.description == "yearly, USD"
    assert contract.column("state").isin == ("CA", "NY")
    assert contract.column("email").pattern == r"^[^@\s]+@[^@\s]+$"
    assert contract.column("email").severity == "warn"
    assert contract.column("opened").ge == dt.date(2020, 1, 1)
    assert contract.column("q10").dtype is DType.FLOAT  # the shorthand `q10: float`
    kinds = [rule.kind for rule in contract.rules]
    assert kinds == [
        "ordered",
        "correlated",
        "rows",
        "expression",
        "close",
        "unique",
        "functional_dependency",
        "null_fraction",
        "fresh",
        "aggregate",
    ]
    assert contract.rules[3].label == "total_matches"
    assert contract.rules[8].params() == {"column": "ts", "max_age": "1w"}


def test_dump_writes_the_documented_layout() -> None:
    assert dump_yaml(Loan.__contract__) == textwrap.dedent(
        """\
        keel: 1
        name: Loan
        description: Loans we book.
        columns:
          id: {type: int, unique: true}
          income: {type: float, nullable: true, ge: 0, description: 'yearly, USD'}
          state: {type: categorical, isin: [CA, NY]}
          opened: {type: date, ge: '2020-01-01'}
          amount: {type: decimal, le: 1E+6}
          q10: {type: float}
          q90: {type: float}
        rules:
          - {rule: ordered, columns: [q10, q90]}
          - {rule: rows, min: 1}
        """
    )


def test_schema_to_yaml_is_dump_yaml() -> None:
    assert Loan.to_yaml() == dump_yaml(Loan.__contract__)


def test_dict_form_is_json_safe_and_omits_defaults() -> None:
    data = contract_to_dict(Loan.__contract__)
    assert json.loads(json.dumps(data)) == data
    assert data["columns"]["q10"] == {"type": "float"}
    assert data["columns"]["opened"] == {"type": "date", "ge": "2020-01-01"}
    assert "strict" not in data
    assert "version" not in data


def test_long_and_multiline_values_are_written_one_key_per_line() -> None:
    contract = Contract(
        name="x",
        columns=(
            keel.contracts.ColumnSpec(name="note", dtype=DType.STR, description="a\nb"),
            keel.contracts.ColumnSpec(name="code", dtype=DType.STR, isin=tuple("ABCDEFGH" * 8)),
        ),
        description="first line\n\nsecond paragraph\n",
    )
    text = dump_yaml(contract)
    assert "description: |\n  first line\n\n  second paragraph\n" in text
    assert "  note:\n    type: str\n    description: |-\n      a\n      b\n" in text
    assert "  code:\n    type: str\n    isin: [A, B," in text
    assert contract_to_dict(load_yaml(text)) == contract_to_dict(contract)


def test_values_that_yaml_would_misread_are_quoted() -> None:
    contract = Contract(
        name="yes",
        columns=(keel.contracts.ColumnSpec(name="no", dtype=DType.STR, isin=("NO", "1", "null")),),
        version="1.10",
    )
    text = dump_yaml(contract)
    assert load_yaml(text) == contract


# -- values by column type ---------------------------------------------------------------
def test_bounds_are_parsed_by_column_type() -> None:
    contract = load_yaml(
        HEAD
        + textwrap.indent(
            textwrap.dedent(
                """\
                d1: {type: date, ge: 2020-01-01, le: "2021-06-30"}
                t1: {type: datetime, ge: 2020-01-01, lt: "2020-01-02T08:30:00+01:00"}
                m1: {type: decimal, ge: "0.01", le: 100}
                f1: {type: float, gt: 1e-5, isin: [0.5, 1]}
                """
            ),
            "  ",
        )
    )
    assert contract.column("d1").ge == dt.date(2020, 1, 1)
    assert contract.column("d1").le == dt.date(2021, 6, 30)
    assert contract.column("t1").ge == dt.datetime(2020, 1, 1)
    tz = dt.timezone(dt.timedelta(hours=1))
    assert contract.column("t1").lt == dt.datetime(2020, 1, 2, 8, 30, tzinfo=tz)
    assert contract.column("m1").ge == decimal.Decimal("0.01")
    assert contract.column("m1").le == 100
    assert contract.column("f1").gt == 1e-5  # YAML 1.1 reads 1e-5 as text
    assert contract.column("f1").isin == (0.5, 1)


def test_unique_rule_without_columns_covers_every_column() -> None:
    contract = load_yaml(HEAD + "  b: str\nrules:\n  - {rule: unique}\n")
    assert contract.rules[0].columns == ("id", "b")


def test_rule_options_are_read() -> None:
    text = HEAD + "  b: int\nrules:\n  - {rule: ordered, columns: [id, b], strict: true, "
    text += "name: increasing, severity: warn, mostly: 0.9}\n"
    (rule,) = load_yaml(text).rules
    assert (rule.label, rule.severity, rule.mostly) == ("increasing", "warn", 0.9)
    assert rule.params() == {"columns": ["id", "b"], "strict": True}


def test_a_loaded_contract_validates_data() -> None:
    contract = load_yaml(
        "keel: 1\nname: T\ncolumns:\n  id: {type: int, ge: 1}\n"
        "  state: {type: str, isin: [CA]}\nrules:\n  - {rule: rows, min: 2}\n"
    )
    report, _ = checked_data(contract, pl.DataFrame({"id": [1, 0], "state": ["CA", "NY"]}))
    failed = {check.name for check in report.errors}
    assert failed == {"id: >= 1", "state: in {'CA'}"}


# -- round trips -------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_dict_yaml_and_json_round_trips_preserve_the_contract(contract: Contract) -> None:
    data = contract_to_dict(contract)
    assert contract_from_dict(data).columns == contract.columns
    assert contract_to_dict(contract_from_dict(data)) == data
    assert contract_to_dict(load_yaml(dump_yaml(contract))) == data
    assert contract_to_dict(contract_from_dict(json.loads(json.dumps(data)))) == data


def test_round_trip_equality_without_expression_rules() -> None:
    # ExpressionRule, Close and Aggregate hold Expr trees, whose == builds an expression;
    # every other rule compares as plain data
    contract = Loan.__contract__
    assert contract_from_dict(contract_to_dict(contract)) == contract
    assert load_yaml(dump_yaml(contract)) == contract


def test_odd_durations_survive_the_round_trip() -> None:
    contract = Contract(
        name="t",
        columns=(keel.contracts.ColumnSpec(name="ts", dtype=DType.DATETIME),),
        rules=(
            keel.fresh("ts", dt.timedelta(days=1, seconds=1)),
            keel.fresh("ts", dt.timedelta(milliseconds=1500)),
        ),
    )
    data = contract_to_dict(contract)
    assert [r["max_age"] for r in data["rules"]] == ["86401s", "1.5s"]
    assert load_yaml(dump_yaml(contract)) == contract


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("15m", dt.timedelta(minutes=15)),
        ("1w", dt.timedelta(weeks=1)),
        ("250ms", dt.timedelta(milliseconds=250)),
    ],
)
def test_fresh_reads_the_one_duration_grammar(text: str, age: dt.timedelta) -> None:
    assert keel.fresh("ts", text).params() == {"column": "ts", "max_age": text}
    head = "keel: 1\nname: t\ncolumns:\n  ts: datetime\nrules:\n"
    loaded = load_yaml(head + f"  - {{rule: fresh, column: ts, max_age: {text}}}\n")
    assert loaded.rules[0] == keel.fresh("ts", age)


# -- files -------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_read_contract_by_extension(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"loan{suffix}"
    data = contract_to_dict(Loan.__contract__)
    path.write_text(json.dumps(data) if suffix == ".json" else dump_yaml(Loan.__contract__))
    assert read_contract(path) == Loan.__contract__
    assert read_contract(str(path)) == Loan.__contract__


def test_read_contract_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"contract file .*nope\.yaml does not exist") as info:
        read_contract(tmp_path / "nope.yaml")
    assert info.value.hint is not None
    assert "Check the path" in info.value.hint


def test_read_contract_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "loan.toml"
    path.write_text("")
    with pytest.raises(InputError, match=r"unsupported extension '\.toml'"):
        read_contract(path)


def test_read_contract_folder(tmp_path: Path) -> None:
    path = tmp_path / "loan.yaml"
    path.mkdir()
    with pytest.raises(InputError, match="cannot read the contract file"):
        read_contract(path)


def test_json_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "loan.json"
    path.write_text('{\n "keel": 1,\n "name": "x",\n "columns": {"id": {"type": "integer"}}\n}')
    with pytest.raises(
        ContractDefinitionError, match=r"loan\.json:4: columns\.id\.type: unknown type"
    ):
        read_contract(path)
    path.write_text('{\n "keel": 1,\n "name": "x"\n "columns": {}\n}')
    with pytest.raises(ContractDefinitionError, match=r"loan\.json:4: invalid JSON"):
        read_contract(path)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "loan.yaml"
    path.write_text(HEAD + "  x: {type: int, uniqe: true}\n")
    with pytest.raises(
        ContractDefinitionError, match=r"loan\.yaml:5: columns\.x\.uniqe: unknown key"
    ):
        read_contract(path)


# -- errors: what, where (line) and how to fix -------------------------------------------
@pytest.mark.parametrize(
    ("tail", "message", "hint"),
    [
        (
            "  x: {type: int, uniqe: true}\n",
            "contract.yaml:5: columns.x.uniqe: unknown key (did you mean 'unique'?)",
            "",
        ),
        (
            "  x: {type: int, ge: abc}\n",
            "contract.yaml:5: columns.x.ge: 'abc' is not a valid int",
            "Write a whole number",
        ),
        (
            "  x: {type: integer}\n",
            "contract.yaml:5: columns.x.type: unknown type 'integer' (did you mean",
            "allowed names",
        ),
        (
            "  x: {type: int, nullable: 'yes'}\n",
            "contract.yaml:5: columns.x.nullable: must be true or false, got text",
            "Write nullable: true or nullable: false",
        ),
        (
            "  x: {type: str, pattern: '(ab'}\n",
            "contract.yaml:5: columns.x: invalid regular expression '(ab': missing",
            "Fix the pattern",
        ),
        (
            "  x: {type: str, pattern: '(?=a)b'}\n",
            "contract.yaml:5: columns.x: the pattern '(?=a)b' uses look-around (at",
            "Keel patterns are RE2 syntax with ASCII classes",
        ),
        (
            "  x: {type: str, ge: 3}\n",
            "contract.yaml:5: columns.x: bounds ['ge'] do not apply to type str",
            "isin",
        ),
        (
            "  x:\n    type: int\n    min_length: 3\n",
            "contract.yaml:5: columns.x: pattern and length checks apply to strings,",
            "Declare the column as str",
        ),
        (
            "  x: {type: date, ge: 'June 1st'}\n",
            "contract.yaml:5: columns.x.ge: 'June 1st' is not a valid date",
            "ISO date",
        ),
        (
            "  x: {type: datetime, le: tomorrow}\n",
            "contract.yaml:5: columns.x.le: 'tomorrow' is not a valid datetime",
            "ISO datetime",
        ),
        (
            "  x: {type: decimal, le: 'ten'}\n",
            "contract.yaml:5: columns.x.le: 'ten' is not a valid decimal",
            "'0.01'",
        ),
        (
            "  country: {type: str, isin: [US, NO]}\n",
            "contract.yaml:5: columns.country.isin[1]: False is not a valid str",
            "Quote it",
        ),
        (
            "  x: {type: int, isin: 3}\n",
            "contract.yaml:5: columns.x.isin: must be a list, got 3",
            "isin: [a, b]",
        ),
        (
            "  x: {type: str, severity: warning}\n",
            "contract.yaml:5: columns.x.severity: must be 'error' or 'warn', got",
            "severity: warn",
        ),
        (
            "  x: {type: str, mostly: 2}\n",
            "contract.yaml:5: columns.x.mostly: must be a fraction in (0, 1], got 2",
            "mostly: 0.99",
        ),
        (
            "  x: {type: str, min_length: 1.5}\n",
            "contract.yaml:5: columns.x.min_length: must be a whole number, got 1.5",
            "min_length: 10",
        ),
        (
            "  x: {nullable: true}\n",
            "contract.yaml:5: columns.x: missing the required key 'type'",
            "Add type: ...",
        ),
        (
            "  x:\n",
            "contract.yaml:5: columns.x: must be a mapping such as {type: int}",
            "types: int, float",
        ),
        (
            "  id: {type: str}\n",
            "contract.yaml:5: columns.id: duplicate key; YAML would silently keep",
            "Keep one of the two",
        ),
        (
            "  yes: {type: bool}\n",
            "contract.yaml:5: columns.True: the column name True is not text",
            "Quote it",
        ),
        (
            "colums: {}\n",
            "contract.yaml:5: colums: unknown key (did you mean 'columns'?)",
            "",
        ),
        ("strict: 1\n", "contract.yaml:5: strict: must be true or false, got 1", ""),
        ("version: 1.1\n", "contract.yaml:5: version: must be text, got 1.1", ""),
        ("rules: {a: 1}\n", "contract.yaml:5: rules: must be a list, got a mapping", ""),
    ],
)
def test_column_and_top_level_errors(tail: str, message: str, hint: str) -> None:
    exc = error(HEAD + tail)
    assert exc.message.startswith(message), exc.message
    assert hint in (exc.hint or "")


@pytest.mark.parametrize(
    ("rules", "message", "hint"),
    [
        (
            "  - {rule: ordered, columns: [id, incme]}\n",
            "contract.yaml:7: rules[0].columns[1]: the rule uses column 'incme', which the "
            "contract does not declare",
            "Did you mean 'income'?",
        ),
        (
            "  - rule: functional_dependency\n    key: id\n    value: stat\n",
            "contract.yaml:9: rules[0].value: the rule uses column 'stat', which the",
            "Known: id, income",
        ),
        (
            "  - {rule: expression, expr: 'id < incme'}\n",
            "contract.yaml:7: rules[0].expr: in the expression 'id < incme': no",
            "Did you mean 'income'?",
        ),
        (
            "  - rule: expression\n    expr: 'id <'\n",
            "contract.yaml:8: rules[0].expr: the expression 'id <' is not valid:",
            "Write it like Python",
        ),
        (
            "  - {rule: aggregate, expr: 'id < 3'}\n",
            "contract.yaml:7: rules[0]: the rule id < 3 is row-level: every column",
            "keel.expression",
        ),
        (
            "  - {rule: orderd, columns: [id, income]}\n",
            "contract.yaml:7: rules[0].rule: unknown rule 'orderd' (did you mean",
            "every rule",
        ),
        (
            "  - {columns: [id, income]}\n",
            "contract.yaml:7: rules[0]: missing the required key 'rule'",
            "Add rule: ...",
        ),
        (
            "  - {rule: rows, min: 3, mostly: 0.5}\n",
            "contract.yaml:7: rules[0].mostly: unknown key",
            "",
        ),
        ("  - {rule: rows}\n", "contract.yaml:7: rules[0]: rows() needs min= or max=", "min="),
        (
            "  - {rule: rows, min: many}\n",
            "contract.yaml:7: rules[0].min: must be a whole number, got text 'many'",
            "",
        ),
        (
            "  - {rule: ordered}\n",
            "contract.yaml:7: rules[0]: missing the required key 'columns'",
            "",
        ),
        (
            "  - {rule: correlated, columns: [id], min: 0}\n",
            "contract.yaml:7: rules[0].columns: must name exactly two columns, got 1",
            "",
        ),
        (
            "  - {rule: correlated, columns: [id, income], min: 2}\n",
            "contract.yaml:7: rules[0]: correlation bounds must lie in [-1, 1], got 2",
            "",
        ),
        (
            "  - {rule: fresh, column: id, max_age: 7 days}\n",
            "contract.yaml:7: rules[0]: max_age '7 days' is not a duration",
            "7d",
        ),
        (
            "  - [rows, 1]\n",
            "contract.yaml:7: rules[0]: must be a mapping such as {rule: rows",
            "Rules: ",
        ),
        (
            "  - {rule: rows, min: 1, severity: fatal}\n",
            "contract.yaml:7: rules[0].severity: must be 'error' or 'warn', got text",
            "",
        ),
    ],
)
def test_rule_errors(rules: str, message: str, hint: str) -> None:
    exc = error(HEAD + "  income: float\nrules:\n" + rules)
    assert exc.message.startswith(message), exc.message
    assert hint in (exc.hint or "")


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("", "contract.yaml: the contract is empty", "keel: 1"),
        ("# only a comment\n", "contract.yaml: the contract is empty", "keel: 1"),
        (
            "- a\n- b\n",
            "contract.yaml:1: a contract must be a mapping of keys, got a list",
            "keel: 1",
        ),
        (
            "name: x\ncolumns: {}\n",
            "contract.yaml:1: missing the format version key 'keel'",
            "keel: 1",
        ),
        (
            "keel: 2\nname: x\ncolumns: {}\n",
            "contract.yaml:1: keel: unknown contract format version keel: 2; this",
            "pip install -U mlkeel",
        ),
        ("keel: 1\ncolumns: {}\n", "contract.yaml:1: missing the required key 'name'", ""),
        ("keel: 1\nname: x\n", "contract.yaml:1: missing the required key 'columns'", ""),
        (
            HEAD + "  x: {type: int\n",
            "contract.yaml:6: invalid YAML: did not find expected ',' or '}' (while",
            "Indent with spaces",
        ),
        (
            HEAD + "\tx: int\n",
            "contract.yaml:5: invalid YAML: found character that cannot start any",
            "",
        ),
        (
            HEAD + "  x: {type: date, ge: 2020-13-01}\n",
            "contract.yaml:5: columns.x.ge: '2020-13-01' is not a valid date (month",
            "YYYY-MM-DD",
        ),
        (
            HEAD + "  x: !!python/object/apply:os.system [ls]\n",
            "contract.yaml:5: columns.x: the tag '!!python/object/apply:os.system'",
            "no tags",
        ),
        (
            HEAD + "---\nkeel: 1\n",
            "contract.yaml:5: invalid YAML: but found another document (expected a",
            "---",
        ),
    ],
)
def test_file_level_errors(text: str, message: str, hint: str) -> None:
    exc = error(text)
    assert exc.message.startswith(message), exc.message
    assert hint in (exc.hint or "")


def test_errors_without_a_file_name_the_key() -> None:
    data = {"keel": 1, "name": "x", "columns": {"id": {"type": "int", "uniqe": True}}}
    with pytest.raises(ContractDefinitionError, match=r"^<dict>: columns\.id\.uniqe: unknown key"):
        contract_from_dict(data)


def test_error_lines_come_from_the_given_map() -> None:
    data = {"keel": 1, "name": "x", "columns": {"id": {"type": "int", "ge": "abc"}}}
    lines: dict[tuple[str | int, ...], int] = {("columns", "id"): 10, ("columns", "id", "ge"): 12}
    with pytest.raises(ContractDefinitionError, match=r"^spec\.yaml:12: columns\.id\.ge: 'abc'"):
        contract_from_dict(data, "spec.yaml", lines)


def test_every_mistake_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "loan.yaml"
    path.write_text(
        HEAD
        + "  x: {type: int, uniqe: true}\n"  # line 5
        + "  y: {type: strr}\n"  # line 6
        + "rules:\n"
        + "  - {rule: ordered, columns: [id, q]}\n"  # line 8
    )
    with pytest.raises(ContractFileError) as caught:
        read_contract(path)
    error = caught.value
    assert isinstance(error, ContractDefinitionError)  # what callers catch today
    assert [(p.line, p.key) for p in error.problems] == [
        (5, "columns.x.uniqe"),
        (6, "columns.y.type"),
        (8, "rules[0].columns[1]"),
    ]
    assert error.message.startswith(f"{path} is not a valid contract (3 problems):")
    assert f"{path}:6: columns.y.type: unknown type 'strr' (did you mean 'str'?)" in error.message


def test_a_key_given_twice_and_a_tag_are_refused_with_their_lines() -> None:
    text = HEAD + "  x: int\n  x: str\n  y: !!python/name:os.system int\n"
    found = error(text)
    assert isinstance(found, ContractFileError)
    assert [(p.line, p.key) for p in found.problems] == [(6, "columns.x"), (7, "columns.y")]
    assert "duplicate key" in found.problems[0].message
    assert "'!!python/name:os.system' is not allowed" in found.problems[1].message


def test_json_reports_a_key_given_twice(tmp_path: Path) -> None:
    path = tmp_path / "contract.json"
    path.write_text('{\n "keel": 1,\n "name": "x",\n "name": "y",\n "columns": {}\n}')
    with pytest.raises(ContractFileError, match=r"contract\.json:4: name: duplicate key"):
        read_contract(path)

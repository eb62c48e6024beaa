"""Diffing contract versions: each kind of change, classified breaking or compatible."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from rich.console import Console

from keel.contracts import Contract
from keel.contracts._diff import Change, ContractDiff, diff_contracts
from keel.contracts._yaml import dump_yaml, load_yaml
from tests.contracts.strategies import contracts


def contract(columns: str = "  x: int\n", rules: str = "", top: str = "") -> Contract:
    text = f"keel: 1\nname: T\n{top}columns:\n{columns}"
    return load_yaml(text + (f"rules:\n{rules}" if rules else ""))


def column_change(old: str, new: str) -> list[tuple[str, bool]]:
    diff = diff_contracts(contract(f"  x: {old}\n"), contract(f"  x: {new}\n"))
    assert all(c.target == "x" for c in diff.changes)
    return [(c.kind, c.breaking) for c in diff.changes]


def test_identical_contracts_have_no_changes() -> None:
    diff = diff_contracts(contract(), contract())
    assert diff.changes == ()
    assert not diff.breaking
    assert str(diff) == "no changes"
    assert diff.to_dict() == {"breaking": False, "changes": []}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{type: int}", "{type: str}", [("type_changed", True)]),
        ("{type: int}", "{type: float}", [("type_changed", False)]),
        ("{type: float}", "{type: int}", [("type_changed", True)]),
        ("{type: str}", "{type: categorical}", [("type_changed", False)]),
        ("{type: int, nullable: true}", "{type: int}", [("nullable_removed", True)]),
        ("{type: int}", "{type: int, nullable: true}", [("nullable_added", False)]),
        ("{type: int}", "{type: int, ge: 0}", [("range_narrowed", True)]),
        ("{type: int, ge: 0}", "{type: int}", [("range_widened", False)]),
        ("{type: int, ge: 0}", "{type: int, ge: 1}", [("range_narrowed", True)]),
        ("{type: int, ge: 1}", "{type: int, ge: 0}", [("range_widened", False)]),
        ("{type: int, ge: 0}", "{type: int, gt: 0}", [("range_narrowed", True)]),
        ("{type: int, gt: 0}", "{type: int, ge: 0}", [("range_widened", False)]),
        ("{type: int, le: 9}", "{type: int, le: 8}", [("range_narrowed", True)]),
        ("{type: int, lt: 9}", "{type: int, le: 9}", [("range_widened", False)]),
        (
            "{type: int, ge: 0, le: 9}",
            "{type: int, gt: -1, lt: 10}",
            [("range_widened", False)] * 2,
        ),
        ("{type: float, ge: 0}", "{type: float, ge: 0.0}", []),
        (
            "{type: date, ge: 2020-01-01}",
            "{type: date, ge: 2021-01-01}",
            [("range_narrowed", True)],
        ),
        ("{type: str}", "{type: str, isin: [a]}", [("isin_narrowed", True)]),
        ("{type: str, isin: [a]}", "{type: str}", [("isin_widened", False)]),
        ("{type: str, isin: [a, b]}", "{type: str, isin: [a]}", [("isin_narrowed", True)]),
        ("{type: str, isin: [a]}", "{type: str, isin: [a, b]}", [("isin_widened", False)]),
        ("{type: str, isin: [a, b]}", "{type: str, isin: [b, a]}", []),
        ("{type: str}", "{type: str, notin: [a]}", [("notin_extended", True)]),
        ("{type: str, notin: [a, b]}", "{type: str, notin: [a]}", [("notin_reduced", False)]),
        ("{type: str}", "{type: str, pattern: ^a}", [("pattern_added", True)]),
        ("{type: str, pattern: ^a}", "{type: str, pattern: ^b}", [("pattern_changed", True)]),
        ("{type: str, pattern: ^a}", "{type: str}", [("pattern_removed", False)]),
        ("{type: str}", "{type: str, min_length: 1}", [("length_narrowed", True)]),
        ("{type: str, max_length: 5}", "{type: str, max_length: 9}", [("length_widened", False)]),
        ("{type: str, max_length: 5}", "{type: str, max_length: 4}", [("length_narrowed", True)]),
        ("{type: int}", "{type: int, unique: true}", [("unique_added", True)]),
        ("{type: int, unique: true}", "{type: int}", [("unique_removed", False)]),
        ("{type: float}", "{type: float, finite: true}", [("finite_added", True)]),
        ("{type: float, finite: true}", "{type: float}", [("finite_removed", False)]),
        ("{type: int, severity: warn}", "{type: int}", [("severity_raised", True)]),
        ("{type: int}", "{type: int, severity: warn}", [("severity_lowered", False)]),
        ("{type: int, mostly: 0.9}", "{type: int, mostly: 0.95}", [("mostly_raised", True)]),
        ("{type: int, mostly: 0.9}", "{type: int}", [("mostly_raised", True)]),
        ("{type: int}", "{type: int, mostly: 0.9}", [("mostly_lowered", False)]),
        ("{type: int}", "{type: int, description: id}", [("description_changed", False)]),
        ("{type: int}", "{type: int, attribute: x_}", [("attribute_changed", False)]),
    ],
)
def test_column_changes(old: str, new: str, expected: list[tuple[str, bool]]) -> None:
    assert column_change(old, new) == expected


def test_a_type_change_between_unrelated_types_compares_bounds_as_new() -> None:
    changes = column_change("{type: int, ge: 0}", "{type: date, ge: 2020-01-01}")
    assert changes == [("type_changed", True), ("range_narrowed", True)]


def test_messages_say_what_changed() -> None:
    diff = diff_contracts(
        contract("  x: {type: int, ge: 0}\n  s: {type: str, isin: [a, b]}\n"),
        contract("  x: {type: int, gt: 0}\n  s: {type: str, isin: [a, c]}\n"),
    )
    assert [c.message for c in diff.changes] == [
        "lower bound >= 0 → > 0",
        "values no longer allowed: 'b'; values now allowed: 'c'",
    ]


def test_added_and_removed_columns_are_breaking() -> None:
    diff = diff_contracts(contract("  a: int\n  b: int\n"), contract("  b: int\n  c: int\n"))
    assert diff.changes == (
        Change("column_removed", "a", True, "column 'a' was removed"),
        Change("column_added", "c", True, "column 'c' was added; existing data lacks it"),
    )
    assert diff.breaking


def test_contract_level_changes() -> None:
    old = contract(top="strict: false\n")
    new = load_yaml(
        "keel: 1\nname: U\nversion: '2'\ndescription: new\nstrict: true\ncolumns:\n  x: int\n"
    )
    kinds = [(c.kind, c.target, c.breaking) for c in diff_contracts(old, new).changes]
    assert kinds == [
        ("name_changed", "contract", False),
        ("version_changed", "contract", False),
        ("description_changed", "contract", False),
        ("strict_enabled", "contract", True),
    ]
    (back,) = diff_contracts(new.with_strict(True), new.with_strict(False)).changes
    assert (back.kind, back.breaking) == ("strict_disabled", False)


def test_info_changes_are_labelled() -> None:
    diff = diff_contracts(contract("  x: int\n"), contract("  x: {type: int, description: d}\n"))
    assert [c.impact for c in diff.changes] == ["info"]
    diff = diff_contracts(contract("  x: int\n"), contract("  x: float\n"))
    assert [c.impact for c in diff.changes] == ["compatible"]


COLUMNS = "  a: int\n  b: int\n"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("", "  - {rule: rows, min: 1}\n", [("rule_added", "1 <= rows", True)]),
        ("  - {rule: rows, min: 1}\n", "", [("rule_removed", "1 <= rows", False)]),
        (
            "  - {rule: rows, min: 10}\n",
            "  - {rule: rows, min: 5}\n",
            [("rule_changed", "5 <= rows", True)],
        ),
        (
            "  - {rule: expression, expr: 'a < b', name: r}\n",
            "  - {rule: expression, expr: 'a <= b', name: r}\n",
            [("rule_changed", "r", True)],
        ),
        (
            "  - {rule: ordered, columns: [a, b]}\n",
            "  - {rule: ordered, columns: [a, b], severity: warn}\n",
            [("severity_lowered", "a <= b", False)],
        ),
        (
            "  - {rule: ordered, columns: [a, b], severity: warn}\n",
            "  - {rule: ordered, columns: [a, b], mostly: 0.5}\n",
            [("severity_raised", "a <= b", True), ("mostly_lowered", "a <= b", False)],
        ),
        (
            "  - {rule: ordered, columns: [a, b]}\n",
            "  - {rule: ordered, columns: [a, b], strict: true}\n",
            [("rule_changed", "a < b", True)],
        ),
        (
            "  - {rule: unique, columns: [a]}\n  - {rule: unique, columns: [b]}\n",
            "  - {rule: unique, columns: [b]}\n  - {rule: unique, columns: [a]}\n",
            [],
        ),
        (
            "  - {rule: fresh, column: a, max_age: 1d}\n",
            "  - {rule: fresh, column: a, max_age: 86401s}\n",
            [("rule_changed", "a: newest within 86401s", True)],
        ),
    ],
)
def test_rule_changes(old: str, new: str, expected: list[tuple[str, str, bool]]) -> None:
    diff = diff_contracts(contract(COLUMNS, old), contract(COLUMNS, new))
    assert [(c.kind, c.target, c.breaking) for c in diff.changes] == expected


def test_rule_change_message_lists_the_changed_arguments() -> None:
    old = contract(COLUMNS, "  - {rule: rows, min: 10}\n")
    new = contract(COLUMNS, "  - {rule: rows, min: 5, max: 9}\n")
    (change,) = diff_contracts(old, new).changes
    assert change.message == "rule changed: min: 10 → 5; max: None → 9"


def test_to_dict_is_json() -> None:
    diff = diff_contracts(contract("  x: int\n"), contract("  x: str\n"))
    data = json.loads(json.dumps(diff.to_dict()))
    assert data == {
        "breaking": True,
        "changes": [
            {"kind": "type_changed", "target": "x", "breaking": True, "message": "type int → str"}
        ],
    }


def test_renders_as_a_table() -> None:
    console = Console(record=True, width=120)
    console.print(diff_contracts(contract("  x: int\n  y: int\n"), contract("  x: float\n")))
    text = console.export_text()
    assert "2 change(s): 1 breaking" in text
    assert "column_removed" in text
    assert "type int → float (a widening)" in text
    console.print(ContractDiff(()))
    assert "No changes." in console.export_text()


def test_str_lists_changes() -> None:
    diff = diff_contracts(contract("  x: int\n"), contract("  x: str\n"))
    assert str(diff) == "[breaking] x: type int → str"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_a_contract_and_its_yaml_copy_do_not_differ(c: Contract) -> None:
    assert diff_contracts(c, load_yaml(dump_yaml(c))).changes == ()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts(), contracts())
def test_any_two_contracts_diff_without_error(a: Contract, b: Contract) -> None:
    diff = diff_contracts(a, b)
    assert json.loads(json.dumps(diff.to_dict(), default=str))["breaking"] == diff.breaking
    if set(a.column_names) != set(b.column_names):
        assert diff.breaking

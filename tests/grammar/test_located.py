"""The located reader: plain data with the line of every key, refusals while reading, and
a Reader that reports every problem of a file at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from keel.errors import InvalidFileError, UsageError
from keel.grammar import Reader, read_toml, read_yaml


def test_every_key_and_list_item_has_its_line_and_column() -> None:
    doc = read_yaml("a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": [{"e": 2}]}}
    where = {path: (loc.line, loc.column) for path, loc in doc.locations.items()}
    assert where[("a",)] == (1, 1)
    assert where[("b", "c")] == (3, 3)
    assert where[("b", "c", 1)] == (3, 10)
    assert where[("b", "d", 0, "e")] == (5, 7)
    assert str(doc.locate(("b", "c", 7, "nothing"))) == "f.yaml:3"  # nearest located ancestor


def test_a_key_given_twice_is_a_problem_at_the_second() -> None:
    doc = read_yaml("a: 1\nb: {x: 1}\na: 2\nb: {x: 2, x: 3}\n", "f.yaml")
    found = [(p.line, p.key, p.message) for p in doc.problems]
    assert found == [
        (3, "a", "duplicate key; YAML would silently keep the last"),
        (4, "b", "duplicate key; YAML would silently keep the last"),
        (4, "b.x", "duplicate key; YAML would silently keep the last"),
    ]


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!python/object/apply:os.system [ls]\n", "!!python/object/apply:os.system"),
        ("a: !!python/name:os.system ''\n", "!!python/name:os.system"),
        ("a: !custom {x: 1}\n", "!custom"),
        ("a: !!set {x, y}\n", "!!set"),
    ],
)
def test_tags_that_construct_objects_are_refused_with_their_line(text: str, tag: str) -> None:
    doc = read_yaml("ok: 1\n" + text, "f.yaml")
    assert doc.data["a"] is None  # nothing was constructed
    (problem,) = doc.problems
    assert (problem.line, problem.key) == (2, "a")
    assert f"the tag {tag!r} is not allowed" in problem.message


def test_an_impossible_date_is_a_problem_not_a_crash() -> None:
    doc = read_yaml("when: 2020-13-01\nok: 2020-01-31\n", "f.yaml")
    assert doc.data["ok"] == dt.date(2020, 1, 31)
    (problem,) = doc.problems
    assert (problem.line, problem.key) == (1, "when")
    assert "YYYY-MM-DD" in problem.hint


def test_merge_keys_and_aliases_read_as_yaml_reads_them() -> None:
    text = "base: &b {x: 1, y: 2}\nmore: {<<: *b, y: 3}\nsame: *b\n"
    assert read_yaml(text).data == yaml.safe_load(text)


def test_a_syntax_error_stops_reading_with_its_line() -> None:
    with pytest.raises(InvalidFileError) as caught:
        read_yaml("a: 1\nb: [1, 2\n", "f.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert str(caught.value).startswith("f.yaml:3: invalid YAML:")
    with pytest.raises(InvalidFileError, match="one YAML document"):
        read_yaml("a: 1\n---\nb: 2\n", "f.yaml")


def _read(text: str) -> dict[str, Any]:
    """A tiny schema: name (text), size (integer 1-10), mode (fast or slow), live (bool)."""
    doc = read_yaml(text, "spec.yaml")
    reader = Reader(doc, what="spec")
    data = reader.mapping(doc.data, (), ("name", "size", "mode", "live")) or {}
    out = {
        "name": reader.text(data, "name", (), "x"),
        "size": reader.number(data, "size", (), 1, low=1, high=10, integer=True),
        "mode": reader.choice(data, "mode", (), ("fast", "slow"), "fast"),
        "live": reader.boolean(data, "live", (), True),
    }
    reader.finish()
    return out


def test_the_reader_reports_every_problem_at_once_in_file_order() -> None:
    with pytest.raises(InvalidFileError) as caught:
        _read("name: ''\nsize: 11\nmode: fsat\nlive: maybe\nsiez: 3\nname: b\n")
    error = caught.value
    assert isinstance(error, UsageError)  # the CLI maps it to exit 2
    assert [str(p) for p in error.problems] == [
        "spec.yaml:2: size: expected an integer >= 1 and <= 10; got 11",
        "spec.yaml:3: mode: 'fsat' is not allowed (did you mean 'fast'?); allowed: fast, slow",
        "spec.yaml:4: live: expected true or false; got text 'maybe'; allowed: true, false",
        "spec.yaml:5: siez: unknown key (did you mean 'size'?); allowed: name, size, mode, live",
        "spec.yaml:6: name: duplicate key; YAML would silently keep the last",
    ]
    assert error.message.startswith("spec.yaml is not a valid spec (5 problems):\n")
    assert all(str(p) in error.message for p in error.problems)


def test_one_problem_reads_as_one_line_with_its_hint() -> None:
    with pytest.raises(InvalidFileError) as caught:
        _read("size: 1e3\n")
    assert (
        caught.value.message
        == "spec.yaml:1: size: expected an integer >= 1 and <= 10; got text '1e3'"
    )
    assert caught.value.hint == "YAML reads 1e-2 as text: write 0.01 or 1.0e-2."
    assert _read("name: a\nsize: 3\nmode: slow\nlive: false\n") == {
        "name": "a",
        "size": 3,
        "mode": "slow",
        "live": False,
    }


def test_toml_keys_have_lines_and_duplicates_are_refused() -> None:
    text = '# settings\n[store]\nurl = "x"\n  trusted = true\n\n[contracts]\nexamples = 3\n'
    doc = read_toml(text, "keel.toml")
    assert doc.data == {"store": {"url": "x", "trusted": True}, "contracts": {"examples": 3}}
    lines = {path: loc.line for path, loc in doc.locations.items()}
    assert lines[("store",)] == 2
    assert lines[("store", "trusted")] == 4
    assert lines[("contracts", "examples")] == 7
    with pytest.raises(InvalidFileError) as caught:
        read_toml("[a]\nx = 1\nx = 2\n", "keel.toml")
    assert caught.value.problems[0].line == 3
    assert str(caught.value).startswith("keel.toml:3: invalid TOML: Cannot overwrite a value")


def test_toml_multiline_strings_do_not_read_as_keys() -> None:
    text = '[project]\nname = """\nfake = 1\n"""\n[store]\nurl = "u"\n'
    lines = {path: loc.line for path, loc in read_toml(text).locations.items()}
    assert ("project", "fake") not in lines
    assert lines[("project", "name")] == 2
    assert lines[("store", "url")] == 6


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.dates(),
)
_KEYS = st.text(min_size=1, max_size=8)
_PLAIN = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


@given(_PLAIN)
def test_plain_documents_read_as_the_safe_loader_reads_them(data: Any) -> None:
    text = yaml.safe_dump({"root": data}, allow_unicode=True)
    doc = read_yaml(text)
    assert doc.problems == []
    assert doc.data == yaml.safe_load(text)

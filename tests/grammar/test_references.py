"""One grammar for references: ``NAME`` (the latest), ``NAME/3`` (a version), ``NAME@ALIAS``
(models), and ``data:`` / ``model:`` where both kinds fit.

What Keel prints is what it reads: ``parse_reference(str(ref)) == ref`` for every valid
reference. The two forms that mean a version but are written as an alias (``loans@3`` for a
dataset, ``churn@3`` for a model) are refused with a hint that shows the text to write.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.errors import UsageError
from keel.grammar import (
    NAME_RULE,
    VERSION_LIMIT,
    InvalidNameError,
    Reference,
    ReferenceKind,
    check_alias,
    check_name,
    parse_reference,
    prefix_kind,
)


def _valid(check: object, text: str) -> bool:
    try:
        check(text)  # type: ignore[operator]
    except InvalidNameError:
        return False
    return True


_chars = st.characters(exclude_categories=("C", "Z"), exclude_characters="/\\@*?[]") | (
    st.sampled_from(" :.-_0123456789")
)
names = st.text(_chars, min_size=1, max_size=20).filter(lambda t: _valid(check_name, t))
aliases = st.text(_chars, min_size=1, max_size=20).filter(lambda t: _valid(check_alias, t))
versions = st.integers(min_value=1, max_value=VERSION_LIMIT)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    kind: ReferenceKind | None = draw(st.sampled_from(["dataset", "model", None]))
    name = draw(names)
    if kind is None:  # without a kind, a leading data: or model: reads as the prefix
        name = draw(names.filter(lambda t: prefix_kind(t) is None))
    shape = draw(st.sampled_from(["latest", "version", "alias"]))
    if shape == "version":
        return Reference(kind, name, draw(versions))
    if shape == "alias" and kind != "dataset":
        return Reference(kind, name, alias=draw(aliases))
    return Reference(kind, name)


@given(references())
def test_a_printed_reference_reads_back_as_itself(ref: Reference) -> None:
    assert parse_reference(str(ref), kind=ref.kind) == ref
    assert parse_reference(ref.qualified) == ref
    assert parse_reference(f"  {ref}\n", kind=ref.kind) == ref  # surrounding space is not part


@given(st.text(max_size=30), st.sampled_from(["dataset", "model", None]))
def test_any_text_parses_or_is_refused_with_a_hint(text: str, kind: ReferenceKind | None) -> None:
    try:
        ref = parse_reference(text, kind=kind)
    except InvalidNameError as exc:
        assert exc.hint  # noqa: PT017  # hypothesis decides which branch runs
    else:
        assert parse_reference(ref.qualified) == ref


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("loans", "dataset", Reference("dataset", "loans")),
        ("loans/3", "dataset", Reference("dataset", "loans", 3)),
        ("churn", "model", Reference("model", "churn")),
        ("churn/2", "model", Reference("model", "churn", 2)),
        ("churn@champion", "model", Reference("model", "churn", alias="champion")),
        (f"churn/{VERSION_LIMIT}", "model", Reference("model", "churn", VERSION_LIMIT)),
        ("Données/1", "dataset", Reference("dataset", "Données", 1)),
        ("data:x", "dataset", Reference("dataset", "data:x")),  # a kind given: no prefix read
        ("data:loans/2", None, Reference("dataset", "loans", 2)),
        ("model:churn@champion", None, Reference("model", "churn", alias="champion")),
        ("churn@champion", None, Reference(None, "churn", alias="champion")),
    ],
)
def test_references_parse(text: str, kind: ReferenceKind | None, expected: Reference) -> None:
    assert parse_reference(text, kind=kind) == expected


def test_an_unprefixed_reference_takes_the_default_kind() -> None:
    assert parse_reference("churn/3", default="model") == Reference("model", "churn", 3)
    assert parse_reference("data:loans", default="model") == Reference("dataset", "loans")


def test_the_canonical_forms() -> None:
    assert str(Reference("dataset", "loans", 3)) == "loans/3"
    assert Reference("dataset", "loans", 3).qualified == "data:loans/3"
    assert Reference("model", "churn", alias="champion").qualified == "model:churn@champion"
    assert Reference(None, "churn").qualified == "churn"


def test_the_old_dataset_version_form_names_the_new_one() -> None:
    with pytest.raises(InvalidNameError, match="dataset versions are written NAME/3") as caught:
        parse_reference("loans@3", kind="dataset")
    assert caught.value.hint == "Write loans/3."
    assert isinstance(caught.value, UsageError)


def test_a_dataset_has_no_alias() -> None:
    with pytest.raises(InvalidNameError, match="datasets have no aliases") as caught:
        parse_reference("loans@latest", kind="dataset")
    assert "loans/3" in str(caught.value.hint)
    with pytest.raises(InvalidNameError, match="datasets have no aliases"):
        Reference("dataset", "loans", alias="latest")
    with pytest.raises(InvalidNameError, match="datasets have no aliases"):
        parse_reference("data:loans@latest")


@pytest.mark.parametrize("kind", ["model", None])
def test_a_numeric_alias_is_refused_naming_the_version_form(kind: ReferenceKind | None) -> None:
    with pytest.raises(InvalidNameError, match="looks like a number") as caught:
        parse_reference("churn@3", kind=kind)
    assert caught.value.hint == "Write churn/3."
    for number in ("1.5", "-1", "1e3"):
        with pytest.raises(InvalidNameError, match="looks like a number") as caught:
            parse_reference(f"churn@{number}", kind=kind)
        assert "churn/3" in str(caught.value.hint)


@pytest.mark.parametrize(
    ("text", "kind", "said"),
    [
        ("", "model", "it is empty"),
        ("loans/", "dataset", "not a whole number"),
        ("loans/0", "dataset", "out of range"),
        ("loans/-1", "dataset", "not a whole number"),
        ("loans/1e30", "dataset", "not a whole number"),
        ("loans/99999999999999999999", "dataset", "out of range"),
        ("loans/" + "9" * 5000, "dataset", "out of range"),
        ("loans/\u00b2", "dataset", "not a whole number"),
        ("a/b/1", "dataset", "not a whole number"),
        ("rtl\u202e/1", "dataset", "U+202E"),
        ("churn@a@b", "model", "contains '@'"),
        ("churn@a/b", "model", "contains '/'"),
        ("churn/2@x", "model", "contains '/'"),
        ("a\\b/1", "model", "contains '\\\\'"),
        ("churn@", "model", "it is empty"),
        ("@champion", "model", "it is empty"),
        ("data:", None, "it is empty"),
    ],
)
def test_a_broken_reference_is_refused(text: str, kind: ReferenceKind | None, said: str) -> None:
    with pytest.raises(InvalidNameError, match=re.escape(said)) as caught:
        parse_reference(text, kind=kind)
    assert caught.value.hint


def test_a_bad_name_states_the_rule() -> None:
    with pytest.raises(InvalidNameError) as caught:
        parse_reference("x*/1", kind="dataset")
    assert caught.value.hint == NAME_RULE


def test_a_reference_is_checked_when_made() -> None:
    with pytest.raises(InvalidNameError, match="both version 2 and alias"):
        Reference("model", "churn", 2, "champion")
    with pytest.raises(InvalidNameError, match="out of range"):
        Reference("model", "churn", 0)
    with pytest.raises(InvalidNameError, match="looks like a number"):
        Reference("model", "churn", alias="7")
    with pytest.raises(InvalidNameError, match="reference kind"):
        Reference("table", "churn")  # type: ignore[arg-type]


def test_prefix_kind() -> None:
    assert prefix_kind("data:loans/3") == "dataset"
    assert prefix_kind("model:churn") == "model"
    assert prefix_kind("churn") is None
    assert prefix_kind("s3:bucket") is None

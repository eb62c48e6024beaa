"""One naming rule for datasets, models, aliases, experiments and steps, on every backend.

A name that breaks the rule is refused with :class:`InvalidNameError` (its hint states the
rule) before it reaches the database, so SQLite and PostgreSQL refuse the same names the same
way; a name that follows it round-trips unchanged. Version numbers beyond what the columns
hold are refused the same way, never an ``OverflowError`` or a database error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel
from keel.grammar import (
    NAME_LIMIT,
    NAME_RULE,
    VERSION_LIMIT,
    InvalidNameError,
    check_alias,
    check_name,
    check_version,
    parse_version,
)
from keel.store import MetadataStore
from keel.store._metadata_schema import KEY_LENGTH

D1, D2 = "1" * 64, "2" * 64
BAD = [
    "",
    ".",
    "..",
    "a/b",
    "a\\b",
    "loans@3",
    "x*",
    "what?",
    "[a]",
    "nul\x00byte",
    "new\nline",
    "tab\there",
    "esc\x1b[31m",
    "rtl\u202eexe.txt",  # right-to-left override
    "zero\u200bwidth",
    "iso\u2066late",
    " padded",
    "padded ",
    "nbsp\u00a0",
    "x" * (NAME_LIMIT + 1),
]
GOOD = [
    "loans",
    "churn-model_v2.1",
    "Données clients",
    "訓練データ",
    "a b",
    "x" * NAME_LIMIT,
    "a:b",
]
HUGE = [0, -1, VERSION_LIMIT + 1, 2**63, 10**20, 10**400]


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(store_url) as opened:
        yield opened


def test_the_limit_is_below_every_name_column() -> None:
    assert NAME_LIMIT < KEY_LENGTH


@given(st.text(max_size=NAME_LIMIT + 20))
def test_a_name_is_accepted_exactly_when_it_follows_the_rule(name: str) -> None:
    try:
        assert check_name(name) == name
    except InvalidNameError as exc:
        assert exc.hint == NAME_RULE  # noqa: PT017  # hypothesis decides which branch runs
        assert (
            not 0 < len(name) <= NAME_LIMIT
            or name in (".", "..")
            or name != name.strip()
            or any(c in "/\\@*?[]" or not c.isprintable() for c in name)
        )
    else:
        assert 0 < len(name) <= NAME_LIMIT
        assert name not in (".", "..")
        assert name.isprintable()
        assert not set(name) & set("/\\@*?[]")


@given(st.integers() | st.floats(allow_nan=True) | st.text())
def test_a_version_is_a_whole_number_in_range(value: object) -> None:
    inside = isinstance(value, int) and 1 <= value <= VERSION_LIMIT
    try:
        assert check_version(value) == value
    except InvalidNameError:
        assert not inside
    else:
        assert inside


@given(st.text(min_size=1, max_size=40))
def test_parsing_a_version_never_raises_anything_else(text: str) -> None:
    try:
        number = parse_version(text)
    except InvalidNameError:
        return
    assert text.isascii()
    assert text.isdigit()
    assert number == int(text)


@pytest.mark.parametrize("alias", ["3", "-1", "1.5", "1e30", ".5", "+7"])
def test_an_alias_must_not_look_like_a_number(alias: str) -> None:
    with pytest.raises(InvalidNameError, match="looks like a number") as caught:
        check_alias(alias)
    assert NAME_RULE in str(caught.value.hint)


def test_every_store_refuses_a_bad_name_the_same_way(store: MetadataStore) -> None:
    for name in BAD:
        with pytest.raises(InvalidNameError):
            store.add_dataset_version(name, D1, stored=True)
        with pytest.raises(InvalidNameError):
            store.models.add_version(name, manifest=D1, listing=D2, adapter="sk", actor="ana")
        with pytest.raises(InvalidNameError):
            store.create_run("r", experiment=name)
    assert store.list_runs() == []
    assert store.models.models() == []


def test_every_store_keeps_a_good_name_unchanged(store: MetadataStore) -> None:
    for name in GOOD:
        assert store.add_dataset_version(name, D1, stored=True).name == name
        assert store.get_dataset_version(name).name == name
        model = store.models.add_version(name, manifest=D1, listing=D2, adapter="sk", actor="a")
        assert store.models.get_version(name, model.version).name == name
        run = store.create_run("r", experiment=name)
        assert [r.id for r in store.list_runs(experiment=name)] == [run]


def test_every_store_refuses_versions_beyond_its_columns(store: MetadataStore) -> None:
    store.add_dataset_version("loans", D1, stored=True)
    store.models.add_version("churn", manifest=D1, listing=D2, adapter="sk", actor="ana")
    for version in HUGE:
        _refuse_version(store, version)


def _refuse_version(store: MetadataStore, version: int) -> None:
    with pytest.raises(InvalidNameError, match="out of range"):
        store.get_dataset_version("loans", version)
    with pytest.raises(InvalidNameError, match="out of range"):
        store.models.get_version("churn", version)
    with pytest.raises(InvalidNameError, match="out of range"):
        store.models.move_alias("churn", "champion", version, actor="ana")
    with pytest.raises(InvalidNameError, match="out of range"):
        store.references.put("model", "churn", version, digest=D1, rows=1, columns=[], actor="a")


def test_bad_aliases_are_refused_by_every_store(store: MetadataStore) -> None:
    store.models.add_version("churn", manifest=D1, listing=D2, adapter="sk", actor="ana")
    for alias in ["3", "a/b", "x\u202e", "", "y" * (NAME_LIMIT + 1)]:
        with pytest.raises(InvalidNameError):
            store.models.move_alias("churn", alias, 1, actor="ana")
    assert store.models.aliases("churn") == {}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=NAME_LIMIT))
def test_any_name_the_rule_accepts_round_trips(store: MetadataStore, name: str) -> None:
    try:
        check_name(name)
    except InvalidNameError:
        with pytest.raises(InvalidNameError):
            store.add_dataset_version(name, D1, stored=True)
        return
    assert store.add_dataset_version(name, D1, stored=True).name == name
    assert store.list_dataset_versions(name)[-1].name == name


def test_step_and_pipeline_names_follow_the_rule() -> None:
    @keel.step
    def one() -> int:
        return 1

    flow = keel.Pipeline("flow")
    with pytest.raises(InvalidNameError):
        flow.add("../escape", one)
    with pytest.raises(InvalidNameError):
        keel.Pipeline("bad\u202ename")
    flow.add("ok step", one)

"""A plain alias move is last-writer-wins under concurrency; a move that names the revision
it read fails with a message that says where the alias is now."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from keel.config import init_project
from keel.registry import AliasConflictError, history, set_alias
from keel.tracking import Project, open_project

DIGEST = "0" * 64
MOVERS = 8
MOVES = 5


@pytest.fixture
def project(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_STORE_URL", store_url)
    init_project(tmp_path)
    project = open_project(tmp_path)
    for _ in range(MOVERS):
        project.metadata.models.add_version(
            "churn", manifest=DIGEST, listing=DIGEST, adapter="sklearn", actor="ana"
        )
    return project


def _move_concurrently(project: Project, first: bool) -> list[BaseException]:
    """MOVERS threads each move champion MOVES times (to their own version), at once."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(MOVERS)

    def mover(version: int) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(MOVES):
                set_alias("churn", "champion", version, project=project)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    if not first:
        set_alias("churn", "champion", 1, project=project)
    threads = [threading.Thread(target=mover, args=(v,)) for v in range(1, MOVERS + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.parametrize("first", [True, False], ids=["new-alias", "existing-alias"])
def test_concurrent_plain_moves_all_land_last_writer_wins(project: Project, first: bool) -> None:
    errors = _move_concurrently(project, first)
    assert errors == []
    moves = [e for e in history("churn", project=project) if e.alias == "champion"]
    expected = MOVERS * MOVES + (0 if first else 1)
    assert len(moves) == expected
    # one chain: each move starts where the one before it left the alias
    assert moves[0].previous_version is None
    for before, after in itertools.pairwise(moves):
        assert after.previous_version == before.version
    state = project.metadata.models.alias("churn", "champion")
    assert state.version == moves[-1].version
    assert state.version in range(1, MOVERS + 1)
    assert state.revision == expected


def test_a_move_at_a_stale_revision_names_the_current_one(project: Project) -> None:
    set_alias("churn", "champion", 1, project=project)
    read = project.metadata.models.alias("churn", "champion")
    set_alias("churn", "champion", 2, project=project)  # someone else, meanwhile
    with pytest.raises(AliasConflictError) as caught:
        set_alias("churn", "champion", 3, expected_revision=read.revision, project=project)
    message = caught.value.message
    assert f"read at revision {read.revision}" in message
    assert f"version 2 (revision {read.revision + 1})" in message
    assert caught.value.hint
    assert project.metadata.models.alias("churn", "champion").version == 2

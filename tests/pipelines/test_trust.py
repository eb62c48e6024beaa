"""A pickle planted in a shared store never runs: cached objects need this project's seal.

The attacker here can write both stores (a shared PostgreSQL/S3 pair, say) but not the
project's own ``.keel/secret``. They store a pickle whose ``__reduce__`` writes a marker file
and point a step's cache entry at it, as they would by hand. ``keel run`` must re-run the
step instead of unpickling it, unless ``keel.toml`` says every writer of the store is trusted.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from keel.config import init_project, load_config
from keel.errors import ConfigError
from keel.pipelines._step import Port
from keel.pipelines._values import load_value
from keel.store import ObjectTrust, StepIO, UntrustedObjectError
from keel.store._metadata_schema import step_io, step_runs
from keel.tracking import open_project

FLOW = """\
import keel


@keel.step
def make() -> set[int]:
    return {1, 2, 3}


@keel.step
def size(values: set[int]) -> int:
    return len(values)


@keel.pipeline
def flow() -> None:
    size(make())
"""


class _Payload:
    """Unpickling this runs ``code``: what an attacker stores."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (self.code,))


def _project(root: Path, store: Path | None = None, *, trusted: bool = False) -> Path:
    init_project(root)
    if store is not None:
        text = (root / "keel.toml").read_text()
        text = text.replace(
            '# url = "sqlite:///.keel/keel.db"', f'url = "sqlite:///{store / "keel.db"}"'
        ).replace('# url = ".keel/artifacts"', f'url = "{store / "artifacts"}"')
        (root / "keel.toml").write_text(text)
    if trusted:
        text = (root / "keel.toml").read_text().replace("trusted = false", "trusted = true")
        (root / "keel.toml").write_text(text)
    (root / "flow.py").write_text(FLOW)
    return root


def _run(root: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "keel", "run", "flow.py:flow", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {}


def _step(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in result["steps"] if s["step"] == name)


def _poison(root: Path, marker: Path, *, seal: str | None = None) -> str:
    """Store a pickle that writes ``marker`` and make every cached ``make`` output point at it."""
    project = open_project(root)
    data = pickle.dumps(_Payload(f"open({str(marker)!r}, 'w').write('ran')"))
    ref = project.artifacts.put_bytes(data)
    engine = sa.create_engine(project.config.store_url)
    with engine.begin() as conn:
        made = sa.select(step_runs.c.id).where(step_runs.c.step == "make")
        rows = conn.execute(
            sa.select(step_io.c.id, step_io.c.detail).where(
                step_io.c.step_run_id.in_(made), step_io.c.direction == "out"
            )
        ).all()
        assert rows
        for row in rows:
            detail = {**(row.detail or {}), "type": "builtins.set"}
            if seal is not None:
                detail["seal"] = seal
            conn.execute(
                step_io.update()
                .where(step_io.c.id == row.id)
                .values(digest=ref.digest, size=ref.size, detail=detail)
            )
    engine.dispose()
    return ref.digest


def test_a_poisoned_cache_entry_is_never_unpickled_and_the_step_reruns(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    code, first = _run(root)
    assert code == 0
    legit_seal = None
    with sa.create_engine(open_project(root).config.store_url).connect() as conn:
        details = conn.execute(sa.select(step_io.c.detail).where(step_io.c.kind == "object"))
        legit_seal = next(d for (d,) in details)["seal"]
    marker = tmp_path / "marker"
    for seal in (None, legit_seal, "0" * 64):  # none, another digest's, a forged one
        _poison(root, marker, seal=seal)
        code, again = _run(root)
        assert code == 0
        assert not marker.exists()
        make = _step(again, "make")
        assert make["status"] == "finished"
        assert "make re-ran: cached output 'out' is not trusted" in make["explanation"]
        assert make["outputs"] == _step(first, "make")["outputs"]  # the real value again
        assert _step(again, "size")["status"] == "cached"  # same bytes as before
    code, settled = _run(root)
    assert _step(settled, "make")["status"] == "cached"  # the re-run sealed it


def test_a_store_marked_trusted_uses_the_entry(tmp_path: Path) -> None:
    root = _project(tmp_path / "project", trusted=True)
    assert _run(root)[0] == 0
    marker = tmp_path / "marker"
    _poison(root, marker)
    code, _ = _run(root)
    assert marker.read_text() == "ran"  # the owner vouched for every writer: the entry is used
    assert code == 1  # and size(None) fails on the planted value


def test_another_project_sharing_the_store_without_the_key_does_not_unpickle(
    tmp_path: Path,
) -> None:
    store = tmp_path / "shared"
    laptop = _project(tmp_path / "laptop", store)
    server = _project(tmp_path / "server", store)
    assert _run(laptop)[0] == 0
    marker = tmp_path / "marker"
    _poison(laptop, marker, seal=None)
    code, result = _run(server)
    assert code == 0
    assert not marker.exists()
    assert "is not trusted" in _step(result, "make")["explanation"]
    # the laptop's own sealed copy is not the server's either: keys differ per project
    assert _run(server)[1]["steps"][0]["status"] == "cached"
    code, result = _run(laptop)
    assert "its seal does not match" in _step(result, "make")["explanation"]


def test_projects_sharing_a_signing_key_share_cached_objects(tmp_path: Path) -> None:
    store = tmp_path / "shared"
    env = {"KEEL_SIGNING_KEY": "k" * 40}
    laptop = _project(tmp_path / "laptop", store)
    server = _project(tmp_path / "server", store)
    assert _run(laptop, env)[0] == 0
    code, result = _run(server, env)
    assert code == 0
    assert {s["status"] for s in result["steps"]} == {"cached"}
    assert not (server / ".keel" / "secret").exists()  # the shared key, not a local one


def test_the_local_key_is_private_and_stable(tmp_path: Path) -> None:
    init_project(tmp_path)
    config = load_config(tmp_path, env={})
    first = ObjectTrust.of(config, env={})
    secret = tmp_path / ".keel" / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert ObjectTrust.of(config, env={}).key == first.key
    assert "key" not in repr(first).replace("keel", "")  # never printed


def test_a_short_shared_key_is_refused(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    with pytest.raises(ConfigError, match="at least 32"):
        ObjectTrust.of(config, env={"KEEL_SIGNING_KEY": "short"})


def test_loading_an_unsealed_object_raises_with_a_hint(tmp_path: Path) -> None:
    init_project(tmp_path)
    project = open_project(tmp_path)
    ref = project.artifacts.put_bytes(pickle.dumps({1, 2}))
    item = StepIO("out", "object", ref.digest, ref.size, {})
    port = Port("out", "object", set)
    trust = ObjectTrust.of(project.config, env={})
    with pytest.raises(UntrustedObjectError) as caught:
        load_value(item, port, project.artifacts, tmp_path, trust=trust)
    assert "trusted = true" in str(caught.value.hint)
    assert load_value(trust.sealed(item), port, project.artifacts, tmp_path, trust=trust) == {1, 2}
    marked = ObjectTrust(trust.key, trusted=True)
    assert load_value(item, port, project.artifacts, tmp_path, trust=marked) == {1, 2}
    frame_item = StepIO("out", "json", project.artifacts.put_bytes(b"[1]").digest, 3, {})
    assert trust.problem(frame_item) is None  # only pickles need a seal

"""``keel serve`` on the command line: unusable input exits 2 with a hint before anything
listens; a missing ``serve`` extra names the pip command."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli._app import app

from ._serving import make_project


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_serving_an_unknown_model_exits_2(project_dir: Path) -> None:
    done = CliRunner().invoke(app, ["serve", "nothing", "--port", "1"])
    assert done.exit_code == 2
    assert "nothing" in done.output


@pytest.mark.parametrize("flag", ["--log-flush", "--timeout", "--header-timeout"])
def test_a_bad_duration_flag_exits_2(project_dir: Path, flag: str) -> None:
    done = CliRunner().invoke(app, ["serve", "churn", flag, "often"])
    assert done.exit_code == 2
    assert f"{flag} 'often' is not a duration" in done.output


@pytest.mark.parametrize("flag", ["--timeout", "--header-timeout"])
def test_a_zero_timeout_is_refused(project_dir: Path, flag: str) -> None:
    done = CliRunner().invoke(app, ["serve", "churn", flag, "0s"])
    assert done.exit_code == 2
    assert f"{flag} '0s' is out of range; expected longer than 0s" in done.output
    assert "30s, 15m, 1.5h, 7d, 1w or 250ms" in done.output


def test_without_the_serve_extra_the_hint_names_it(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with socket.socket() as probe:  # a free port: the port is checked before the import
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = CliRunner().invoke(app, ["serve", "churn", "--port", str(port)])
    assert done.exit_code == 2
    assert "pip install 'mlkeel[serve]'" in done.output


def test_create_app_without_fastapi_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import keel.serve
    from keel.errors import MissingDependencyError

    monkeypatch.delitem(keel.serve.__dict__, "create_app", raising=False)
    monkeypatch.delitem(sys.modules, "keel.serve._app", raising=False)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(MissingDependencyError, match=r"mlkeel\[serve\]"):
        keel.serve.create_app  # noqa: B018  # the attribute access imports FastAPI


def test_serving_collects_the_youngest_generation_less_often() -> None:
    import gc

    from keel.serve._server import _settle_memory

    saved = gc.get_threshold()
    try:
        _settle_memory()
        assert gc.get_threshold() == (10_000, *saved[1:])
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()

"""Code fingerprints: git state with its uncommitted diff, or a hash of the source files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from keel.errors import InputError
from keel.store import ArtifactStore, hash_bytes
from keel.versioning import CodeFingerprint, code_fingerprint
from tests.versioning.conftest import run_git


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _replay(repo: Path, fp: CodeFingerprint, where: Path) -> Path:
    """Check out ``fp.commit`` elsewhere and apply ``fp.diff``: the code as it was."""
    run_git(where.parent, "clone", "-q", str(repo), where.name)
    run_git(where, "checkout", "-q", "--detach", str(fp.commit))
    patch = where.parent / "run.patch"
    patch.write_bytes(fp.diff)
    if fp.diff:
        run_git(where, "apply", "--whitespace=nowarn", str(patch))
    return where


def test_clean_repo(repo: Path) -> None:
    fp = code_fingerprint(repo)
    assert fp.kind == "git"
    assert fp.commit == run_git(repo, "rev-parse", "HEAD")
    assert fp.branch == "main"
    assert not fp.dirty
    assert fp.diff == b""
    assert fp.diff_digest == hash_bytes(b"")


def test_subdirectory_fingerprints_the_whole_repository(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "train.py").write_text("print('changed')\n")
    fp = code_fingerprint(repo / "src")
    assert fp.dirty
    assert b"print('changed')" in fp.diff


def test_modified_tracked_file_is_dirty_and_in_the_diff(repo: Path) -> None:
    clean = code_fingerprint(repo)
    (repo / "train.py").write_text("print('train harder')\n")
    fp = code_fingerprint(repo)
    assert fp.dirty
    assert fp.commit == clean.commit
    assert b"+print('train harder')" in fp.diff
    assert fp.diff_digest == hash_bytes(fp.diff)
    assert fp.digest != clean.digest


def test_staged_changes_count(repo: Path) -> None:
    (repo / "params.yaml").write_text("lr: 0.2\n")
    run_git(repo, "add", "params.yaml")
    assert b"+lr: 0.2" in code_fingerprint(repo).diff


def test_untracked_text_files_are_in_the_diff_ignored_ones_are_not(repo: Path) -> None:
    (repo / "features.py").write_text("X = 1\n")
    (repo / "data").mkdir()
    (repo / "data" / "big.csv").write_text("a,b\n1,2\n")
    (repo / "run.log").write_text("noise\n")
    fp = code_fingerprint(repo)
    assert fp.dirty
    assert b"+++ b/features.py" in fp.diff
    assert b"+X = 1" in fp.diff
    assert b"big.csv" not in fp.diff
    assert b"noise" not in fp.diff


def test_untracked_binary_files_are_named_not_copied(repo: Path) -> None:
    (repo / "weights.bin").write_bytes(b"\0\1\2")
    fp = code_fingerprint(repo)
    assert fp.dirty
    assert fp.untracked_skipped == ("weights.bin",)
    assert b"weights.bin" not in fp.diff


def test_the_diff_replays_the_working_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "params.yaml").unlink()
    (repo / "pkg").mkdir()
    (repo / "pkg" / "no newline.py").write_text("A = 1")
    (repo / "pkg" / "empty.txt").write_text("")
    (repo / "pkg" / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (repo / "pkg" / "caf\u00e9.py").write_text("B = 2\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    fp = code_fingerprint(repo)
    replayed = _replay(repo, fp, tmp_path / "replay")
    assert _files(replayed) == _files(repo)
    assert os.access(replayed / "run.sh", os.X_OK)


def test_the_diff_is_stored_under_its_digest(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    fp = code_fingerprint(repo)
    ref = ArtifactStore(tmp_path / "artifacts").put_bytes(fp.diff)
    assert ref.digest == fp.diff_digest


def test_detached_head_has_no_branch(repo: Path) -> None:
    commit = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "checkout", "-q", "--detach", commit)
    fp = code_fingerprint(repo)
    assert fp.commit == commit
    assert fp.branch is None
    assert not fp.dirty


def test_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    run_git(root, "init", "-q")
    (root / "staged.py").write_text("S = 1\n")
    run_git(root, "add", "staged.py")
    (root / "loose.py").write_text("L = 1\n")
    fp = code_fingerprint(root)
    assert fp.kind == "git"
    assert fp.commit is None
    assert fp.branch == "main"
    assert fp.dirty
    assert b"+S = 1" in fp.diff
    assert b"+L = 1" in fp.diff


def test_outside_git_hashes_the_source_files(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "model.py").write_text("M = 1\n")
    (root / "keel.toml").write_text("[store]\n")
    for skipped in (".venv/lib/x.py", ".keel/y.py", "pkg/__pycache__/m.py", "node_modules/z.txt"):
        (root / skipped).parent.mkdir(parents=True, exist_ok=True)
        (root / skipped).write_text("ignored\n")
    (root / "env" / "pyvenv.cfg").parent.mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "image.png").write_bytes(b"\x89PNG")
    fp = code_fingerprint(root)
    assert fp.kind == "files"
    assert fp.commit is None
    assert fp.dirty
    assert fp.source_files == 2
    expected = "".join(
        f"{rel}\0{hash_bytes((root / rel).read_bytes())}\n" for rel in ["keel.toml", "pkg/model.py"]
    )
    assert fp.source_digest == hash_bytes(expected.encode())
    assert fp.digest == fp.source_digest
    (root / ".venv" / "lib" / "x.py").write_text("still ignored\n")
    (root / "image.png").write_bytes(b"other")
    assert code_fingerprint(root) == fp
    (root / "pkg" / "model.py").write_text("M = 2\n")
    assert code_fingerprint(root).source_digest != fp.source_digest


def test_missing_git_falls_back_to_files(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert shutil.which("git") is None
    fp = code_fingerprint(repo)
    assert fp.kind == "files"
    assert fp.source_files == 2  # train.py, params.yaml; .gitignore is hidden-named, not a source


def test_missing_root_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        code_fingerprint(tmp_path / "nowhere")


def test_json_round_trip(repo: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    fp = code_fingerprint(repo)
    back = CodeFingerprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert back == fp
    assert back.diff == b""
    assert back.digest == fp.digest

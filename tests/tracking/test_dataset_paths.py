"""``keel data get`` writes inside DEST and nowhere else: a crafted listing naming a path out of
DEST is refused, naming it; an existing DEST is refused unless --force; and even with --force
no symbolic link is followed and no special file (device, FIFO, socket) is replaced."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.errors import UsageError
from keel.tracking import Project, add_dataset, get_dataset, open_project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """``events``: a folder (part-0.parquet, sub/part-1.parquet); ``one``: a CSV file."""
    root = tmp_path / "proj"
    root.mkdir()
    init_project(root)
    monkeypatch.chdir(root)
    project = open_project(root)
    data = root / "events"
    (data / "sub").mkdir(parents=True)
    pl.DataFrame({"id": [1, 2]}).write_parquet(data / "part-0.parquet")
    pl.DataFrame({"id": [3]}).write_parquet(data / "sub" / "part-1.parquet")
    add_dataset(data, "events", project=project)
    (root / "one.csv").write_text("id\n1\n2\n")
    add_dataset(root / "one.csv", "one", project=project)
    return project


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` with its bytes (a file), its target (a link) or its kind."""
    found: dict[str, bytes | str] = {}
    for path in root.rglob("*"):
        if path.name.startswith("keel.db"):
            continue
        mode = path.lstat().st_mode
        key = path.relative_to(root).as_posix()
        found[key] = (
            path.read_bytes()
            if stat.S_ISREG(mode)
            else f"-> {os.readlink(path)}"
            if stat.S_ISLNK(mode)
            else stat.filemode(mode)[0]
        )
    return found


def _get(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "get", *args])
    assert "Traceback" not in result.output
    return result.exit_code, "".join(result.output.split())  # the terminal folds long lines


def _craft(project: Project, kind: str, entries: list[str]) -> None:
    """Record ``evil`` 1 by writing the stores directly: a listing naming ``entries``."""
    payload = project.artifacts.put_bytes(b"import os; os.system('touch /tmp/keel-pwned')\n")
    files = [{"path": e, "digest": payload.digest, "size": payload.size} for e in entries]
    listing = project.artifacts.put_bytes(json.dumps({"kind": kind, "files": files}).encode())
    project.metadata.add_dataset_version(
        "evil", payload.digest, stored=True, manifest=listing.digest, files=len(files)
    )


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        ("directory", "../outside/evil.pth"),
        ("directory", "sub/../../outside/evil.pth"),
        ("directory", "{tmp}/outside/evil.pth"),
        ("directory", "..\\outside\\evil.pth"),
        ("file", "../outside/evil.pth"),
    ],
)
def test_a_crafted_listing_cannot_write_outside_dest(
    project: Project, tmp_path: Path, kind: str, entry: str
) -> None:
    entry = entry.format(tmp=tmp_path)
    entries = ["fine.txt", entry] if kind == "directory" else [entry]
    _craft(project, kind, entries)
    dest = tmp_path / "dest"
    dest.mkdir()  # a file version goes into an existing folder under its listed name
    before = _tree(tmp_path)

    code, said = _get("evil/1", str(dest))

    assert code == 2
    assert "".join(repr(entry).split()) in said
    assert _tree(tmp_path) == before  # not even fine.txt: every path is checked first


def test_an_existing_file_is_kept_unless_force(project: Project, tmp_path: Path) -> None:
    dest = tmp_path / "mine.csv"
    dest.write_text("my own work\n")
    code, said = _get("one/1", str(dest))
    assert code == 2
    assert "alreadyexists" in said
    assert "--force" in said
    assert dest.read_text() == "my own work\n"
    with pytest.raises(UsageError, match="already exists"):
        get_dataset("one/1", dest, project=project)

    assert _get("one/1", str(dest), "--force")[0] == 0
    assert dest.read_text() == "id\n1\n2\n"


def test_a_folder_with_contents_is_kept_unless_force(project: Project, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    (dest / "sub" / "part-1.parquet").write_bytes(b"older")
    before = _tree(dest)
    code, said = _get("events/1", str(dest))
    assert (code, "notempty" in said, "--force" in said) == (2, True, True)
    assert _tree(dest) == before

    assert _get("events/1", str(dest), "--force")[0] == 0
    assert pl.read_parquet(dest / "sub" / "part-1.parquet")["id"].to_list() == [3]
    assert pl.read_parquet(dest / "part-0.parquet")["id"].to_list() == [1, 2]
    assert (dest / "notes.txt").read_text() == "mine"  # not listed: left alone
    assert get_dataset("events/1", tmp_path / "new", project=project) == tmp_path / "new"


@pytest.mark.parametrize("link", ["part-0.parquet", "sub"])
def test_force_never_follows_a_link_out_of_dest(
    project: Project, tmp_path: Path, link: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "part-0.parquet").write_text("precious")
    (outside / "part-1.parquet").write_text("precious too")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / link).symlink_to(outside / link if link != "sub" else outside)
    before = _tree(tmp_path)

    code, said = _get("events/1", str(dest), "--force")

    assert code == 2
    assert f"symboliclink'{link}'" in said
    assert _tree(tmp_path) == before  # the outside files, the link, DEST: all as they were


def test_force_never_replaces_a_link_given_as_dest(project: Project, tmp_path: Path) -> None:
    (tmp_path / "precious.csv").write_text("precious")
    dest = tmp_path / "link.csv"
    dest.symlink_to(tmp_path / "precious.csv")
    code, said = _get("one/1", str(dest), "--force")
    assert (code, "symboliclink" in said) == (2, True)
    assert dest.is_symlink()
    assert (tmp_path / "precious.csv").read_text() == "precious"


def test_a_special_file_is_never_replaced(project: Project, tmp_path: Path) -> None:
    """A FIFO stands in for /dev/null, which Keel, run as root, once replaced."""
    device = tmp_path / "device"
    os.mkfifo(device)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.mkfifo(dest / "part-0.parquet")
    for args in (["one/1", str(device)], ["events/1", str(dest)]):
        for force in ([], ["--force"]):
            code, said = _get(*args, *force)
            assert code == 2, (args, force)
            assert "specialfile" in said or "notempty" in said
    assert stat.S_ISFIFO(device.lstat().st_mode)
    assert stat.S_ISFIFO((dest / "part-0.parquet").lstat().st_mode)
    assert sorted(os.listdir(dest)) == ["part-0.parquet"]  # sub/part-1 was not written either


def test_add_refuses_a_file_name_that_could_not_be_restored(
    project: Project, tmp_path: Path
) -> None:
    data = tmp_path / "odd"
    data.mkdir()
    (data / "a\\b.csv").write_text("id\n1\n")
    result = runner.invoke(app, ["data", "add", str(data), "--name", "odd"])
    assert result.exit_code == 2, result.output
    assert "backslash" in result.output
    assert project.metadata.list_dataset_versions("odd") == []

"""The one path rule: a path from a manifest, listing or store names a file inside its folder,
reached without following a symbolic link, or it is refused, named, before any use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keel.errors import InputError
from keel.store import UnsafePathError, check_relative_path, safe_join

BAD = {
    "../evil.pth": "'..' part",
    "a/../../evil.pth": "'..' part",
    "link/../../../../venv/lib/python3.11/site-packages/evil.pth": "'..' part",
    "/etc/passwd": "absolute",
    "//server/share/x": "absolute",
    "C:/Windows/x.dll": "drive",
    "c:evil": "drive",
    "\\\\server\\share\\x": "backslash",
    "a\\..\\..\\x": "backslash",
    "a/\x00b": "control character",
    "a/b\nc": "control character",
    "a/\x85b": "control character",
    "./a": "'.' part",
    "a//b": "empty part",
    "a/": "empty part",
    "": "empty",
}


@pytest.mark.parametrize(("entry", "reason"), BAD.items())
def test_an_unsafe_path_is_refused_naming_it_and_why(entry: str, reason: str) -> None:
    with pytest.raises(UnsafePathError) as caught:
        check_relative_path(entry, where="listing L")
    assert isinstance(caught.value, InputError)  # the CLI exits 2
    assert caught.value.entry == entry
    assert caught.value.message.startswith(f"listing L names the path {entry!r}")
    assert reason in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize("entry", [None, 3, ["a"]])
def test_a_path_that_is_not_text_is_refused(entry: object) -> None:
    with pytest.raises(UnsafePathError, match="not text"):
        check_relative_path(entry, where="listing L")


@pytest.mark.parametrize(
    "entry", ["model.skops", "a/b/c.parquet", "date=2024-01-01/part 0.parquet", "x..y", ".hidden"]
)
def test_ordinary_relative_paths_pass(entry: str, tmp_path: Path) -> None:
    assert check_relative_path(entry, where="w") == entry
    assert safe_join(tmp_path, entry, where="w") == tmp_path / entry


def test_a_symbolic_link_on_the_way_is_refused_wherever_it_is(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "dir").symlink_to(outside)
    (root / "file").symlink_to(outside / "secret")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    for entry, link in [("a/dir/secret", "a/dir"), ("file", "file"), ("dangling/x", "dangling")]:
        with pytest.raises(UnsafePathError, match=f"symbolic link {link!r}") as caught:
            safe_join(root, entry, where="w")
        assert caught.value.entry == entry


def test_the_root_itself_may_be_a_link_and_missing_parts_are_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    assert safe_join(linked, "new/sub/file", where="w") == linked / "new" / "sub" / "file"
    (real / "plain").write_text("x")  # a regular file where a folder would go: not a link
    assert safe_join(linked, "plain/x", where="w") == linked / "plain" / "x"
    assert os.listdir(real) == ["plain"]  # checking writes nothing

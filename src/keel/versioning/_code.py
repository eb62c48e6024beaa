"""The code a run used: a git commit plus the uncommitted diff, or a hash of the source files.

Inside a git work tree the fingerprint is the commit, the branch (``None`` when HEAD is
detached), a dirty flag and the uncommitted diff as a patch: ``git diff HEAD`` (against the
empty tree before the first commit) followed by a "new file" patch for every untracked,
non-ignored text file, which ``git diff HEAD`` alone would miss. The patch applies with
``git apply`` on a checkout of the commit; the fingerprint keeps its BLAKE3 digest, and the
caller stores the bytes as an artifact (the artifact store names them by that same digest).

Outside git, or where git is not installed, the fingerprint is one BLAKE3 digest over the
sorted relative paths and contents of the project's source files.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from keel.errors import InputError
from keel.store import hash_bytes, hash_file
from keel.versioning._data import combine_digests

__all__ = ["CodeFingerprint", "code_fingerprint"]

_GIT_TIMEOUT = 30.0  # seconds; `git diff` on a huge work tree is the slow case
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's tree with no entries
_MAX_UNTRACKED = 1 << 20  # untracked files above this size are named, not copied
_BINARY_PROBE = 8000  # git's heuristic: a NUL byte in the first 8000 bytes means binary
_SOURCE_SUFFIXES = frozenset({".py", ".toml", ".yaml", ".yml", ".cfg", ".txt"})
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
# Variables that would point git at another repository than the one holding ``root``.
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX")


@dataclass(frozen=True)
class CodeFingerprint:
    """The code behind a run. ``diff`` is kept out of JSON: store it as an artifact.

    ``dirty`` is true whenever the code cannot be recovered from ``commit`` alone: uncommitted
    changes, untracked files, no commit yet, or no git at all (``kind="files"``).
    """

    kind: Literal["git", "files"]
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    diff_digest: str | None = None
    untracked_skipped: tuple[str, ...] = ()  # untracked binary or large files, named only
    source_digest: str | None = None
    source_files: int = 0
    diff: bytes = field(default=b"", repr=False, compare=False)

    @property
    def digest(self) -> str:
        """One BLAKE3 digest identifying this code (commit + diff, or the source files)."""
        if self.kind == "files":
            return self.source_digest or hash_bytes(b"")
        skipped = "\n".join(self.untracked_skipped)
        return hash_bytes(f"git\0{self.commit}\0{self.diff_digest}\0{skipped}".encode())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the diff bytes; ``diff_digest`` names them)."""
        return {
            "kind": self.kind,
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "diff_digest": self.diff_digest,
            "untracked_skipped": list(self.untracked_skipped),
            "source_digest": self.source_digest,
            "source_files": self.source_files,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeFingerprint:
        """The inverse of :meth:`to_dict` (``diff`` comes back empty)."""
        return cls(
            kind=data["kind"],
            commit=data.get("commit"),
            branch=data.get("branch"),
            dirty=bool(data.get("dirty", False)),
            diff_digest=data.get("diff_digest"),
            untracked_skipped=tuple(data.get("untracked_skipped", ())),
            source_digest=data.get("source_digest"),
            source_files=int(data.get("source_files", 0)),
        )


def code_fingerprint(root: str | os.PathLike[str] = ".") -> CodeFingerprint:
    """Fingerprint the code at ``root``: git state if it is in a work tree, else its sources."""
    folder = Path(root).resolve()
    if not folder.is_dir():
        raise InputError(
            f"cannot fingerprint code at {folder}: not a directory.",
            hint="Pass the project root (the folder holding your code).",
        )
    toplevel = _git_toplevel(folder)
    return _from_git(toplevel) if toplevel is not None else _from_files(folder)


# -- git ------------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """Run git in ``cwd``; ``None`` when git is not installed. Never raises on exit codes."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # reading must not take the index lock from the user
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, timeout=_GIT_TIMEOUT, check=False
        )
    except OSError:
        return None
    except subprocess.TimeoutExpired as exc:
        raise InputError(
            f"git {' '.join(args)} took longer than {_GIT_TIMEOUT:.0f} s in {cwd}.",
            hint="Add large generated or data folders to .gitignore.",
        ) from exc


def _git_out(cwd: Path, *args: str) -> str | None:
    """Git's stripped stdout, or ``None`` if git is missing or the command failed."""
    done = _git(cwd, *args)
    if done is None or done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "surrogateescape").strip()


@functools.lru_cache(maxsize=64)
def _git_toplevel(folder: Path) -> Path | None:
    """The repository around ``folder`` (asked of git once per folder and process)."""
    top = _git_out(folder, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def _from_git(top: Path) -> CodeFingerprint:
    commit = _git_out(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    branch = _git_out(top, "symbolic-ref", "--quiet", "--short", "HEAD")
    tracked = _tracked_diff(top, commit or _EMPTY_TREE)
    untracked, skipped = _untracked_patch(top)
    diff = tracked + untracked
    return CodeFingerprint(
        kind="git",
        commit=commit,
        branch=branch or None,
        dirty=commit is None or bool(diff) or bool(skipped),
        diff_digest=hash_bytes(diff),
        untracked_skipped=skipped,
        diff=diff,
    )


def _tracked_diff(top: Path, base: str) -> bytes:
    """``git diff <base>`` as a binary-safe patch, whatever the user's diff settings."""
    args = ("--no-pager", "-c", "core.quotePath=true", "diff", "--binary", "--no-color")
    options = ("--no-ext-diff", "--no-textconv", "--no-renames", "--src-prefix=a/")
    done = _git(top, *args, *options, "--dst-prefix=b/", base, "--")
    if done is None or done.returncode != 0:
        message = b"" if done is None else done.stderr
        raise InputError(
            f"git diff failed in {top}: {message.decode(errors='replace').strip()}",
            hint="Run `git status` there to see what git reports.",
        )
    return done.stdout


def _untracked_patch(top: Path) -> tuple[bytes, tuple[str, ...]]:
    """A patch adding each untracked text file, and the names of those left out."""
    done = _git(top, "ls-files", "-z", "--others", "--exclude-standard")
    names = sorted(n for n in (done.stdout if done else b"").split(b"\0") if n)
    patches: list[bytes] = []
    skipped: list[str] = []
    for name in names:
        path = top / os.fsdecode(name)
        content = _text_content(path)
        if content is None:
            skipped.append(os.fsdecode(name))
        else:
            patches.append(_new_file_patch(name, content, os.access(path, os.X_OK)))
    return b"".join(patches), tuple(skipped)


def _text_content(path: Path) -> bytes | None:
    """The file's bytes if it is a small text file, else ``None``."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_UNTRACKED:
            return None
        content = path.read_bytes()
    except OSError:
        return None
    return None if b"\0" in content[:_BINARY_PROBE] else content


def _new_file_patch(name: bytes, content: bytes, executable: bool) -> bytes:
    """A git-style patch creating ``name`` with ``content`` (what ``git apply`` expects)."""
    a, b = _quote(b"a/" + name), _quote(b"b/" + name)
    mode = b"100755" if executable else b"100644"
    head = b"diff --git %s %s\nnew file mode %s\n" % (a, b, mode)
    if not content:
        return head
    lines = content.split(b"\n")
    complete = lines[-1] == b""
    if complete:
        lines.pop()
    body = b"".join(b"+" + line + b"\n" for line in lines)
    tail = b"" if complete else b"\\ No newline at end of file\n"
    return head + b"--- /dev/null\n+++ %s\n@@ -0,0 +1,%d @@\n" % (b, len(lines)) + body + tail


def _quote(path: bytes) -> bytes:
    """Quote a path as git does when it holds quotes, backslashes, controls or non-ASCII."""
    if all(0x20 <= c < 0x7F and c not in b'"\\' for c in path):
        return path
    escapes = {0x22: b'\\"', 0x5C: b"\\\\", 0x09: b"\\t", 0x0A: b"\\n"}
    out = b"".join(escapes.get(c, bytes([c]) if 0x20 <= c < 0x7F else b"\\%03o" % c) for c in path)
    return b'"' + out + b'"'


# -- outside git ----------------------------------------------------------------------------
def _from_files(root: Path) -> CodeFingerprint:
    digests = {rel: hash_file(root / rel) for rel in _source_files(root)}
    return CodeFingerprint(
        kind="files",
        dirty=True,
        source_digest=combine_digests(digests),
        source_files=len(digests),
    )


def _source_files(root: Path) -> list[str]:
    """Relative posix paths of the project's source files, skipping tooling folders."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not _skipped_dir(Path(folder, d))]
        for name in files:
            path = Path(folder, name)
            if path.suffix in _SOURCE_SUFFIXES and path.is_file():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def _skipped_dir(path: Path) -> bool:
    """Hidden folders (.git, .keel, .venv...), caches, and virtualenvs under any name."""
    name = path.name
    return name.startswith(".") or name in _SKIPPED_DIRS or (path / "pyvenv.cfg").exists()

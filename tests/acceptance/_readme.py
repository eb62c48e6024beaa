"""The README's own snippets, found by the ``<!-- journey: NAME -->`` marker above a fenced
block, so that a scenario runs what the README says and a README edit is tested."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"<!-- journey: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Block:
    journey: str
    language: str
    code: str

    def commands(self) -> list[str]:
        """The block's command lines, trailing ``# comments`` removed."""
        lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in self.code.splitlines()]
        return [line for line in lines if line and not line.startswith("#")]


def _optional(journey: str) -> list[Block]:
    return [
        Block(name, lang, code)
        for name, lang, code in _BLOCK.findall(README.read_text())
        if name == journey
    ]


def blocks(journey: str, language: str) -> list[Block]:
    """The README's blocks of ``language`` marked for ``journey``, in reading order."""
    found = [b for b in _optional(journey) if b.language == language]
    assert found, f"README.md has no ```{language} block marked <!-- journey: {journey} -->"
    return found


def shell(journey: str) -> list[str]:
    """Every command of ``journey``'s shell (``sh`` or ``bash``) blocks, in reading order."""
    found = [b for b in _optional(journey) if b.language in ("bash", "sh")]
    assert found, f"README.md has no shell block marked <!-- journey: {journey} -->"
    return [c for b in found for c in b.commands()]


def command(journey: str, starts: str) -> str:
    """The one command of ``journey``'s shell blocks that starts with ``starts``."""
    lines = [c for c in shell(journey) if c.startswith(starts)]
    assert len(lines) == 1, f"README.md's {journey} journey has {len(lines)} `{starts}` lines"
    return lines[0]

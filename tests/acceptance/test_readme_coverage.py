"""Every README command runs somewhere: a shell block is marked for a journey that a feature
file runs, or is listed here with the reason it is not (a README snippet that no scenario
runs is a defect, so the list is short and each entry says where else it is held)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.acceptance._readme import README

HERE = Path(__file__).parent
FENCE = re.compile(r"(?:<!-- journey: ([\w-]+) -->\n)?```(\w+)\n(.*?)```", re.DOTALL)

NOT_A_JOURNEY = {
    # the Makefile targets: running `make test` inside `make test` would recurse
    "make demo",
    # keel ui and keel kpis: held by tests/ui (the app, its export and the KPIs' exit codes)
    "keel ui",
}


def _shell_blocks() -> list[tuple[str | None, str]]:
    return [
        (journey or None, code)
        for journey, lang, code in FENCE.findall(README.read_text())
        if lang in ("sh", "bash")
    ]


def test_every_readme_shell_block_is_a_journey_or_says_why_not() -> None:
    unmarked = [
        code
        for journey, code in _shell_blocks()
        if journey is None and not any(code.startswith(known) for known in NOT_A_JOURNEY)
    ]
    assert unmarked == [], "mark these README blocks <!-- journey: NAME --> and run them"


def test_every_marked_journey_is_run_by_a_scenario() -> None:
    journeys = {journey for journey, _ in _shell_blocks() if journey is not None}
    bound = " ".join(p.read_text() for p in HERE.glob("test_*.py"))
    assert journeys == {
        "first-contract",
        "first-pipeline",
        "first-model",
        "first-drift",
        "first-features",
    }
    for journey in journeys:
        assert f'"{journey}"' in bound, f"no scenario runs the README's {journey} journey"

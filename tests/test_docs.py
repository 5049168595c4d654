"""The architecture page's transitions table says exactly what jobs.lifecycle allows."""

from __future__ import annotations

import re
from pathlib import Path

from jobs.lifecycle import TRANSITIONS
from jobs.models import JobStatus

ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
MARKER = "<!-- transitions table: keep in step with jobs.lifecycle.TRANSITIONS -->"


def documented_transitions() -> dict[str, set[str]]:
    text = ARCHITECTURE.read_text()
    table = text[text.index(MARKER) :].split("\n\n", 1)[0]
    moves: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            moves[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+)`", cells[1]))
    return moves


def test_the_documented_transitions_table_matches_the_code() -> None:
    in_code = {
        source.value: {target.value for target in targets}
        for source, targets in TRANSITIONS.items()
    }
    documented = documented_transitions()

    assert set(documented) == {status.value for status in JobStatus}
    assert documented == in_code

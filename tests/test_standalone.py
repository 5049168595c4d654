"""The repository stands alone: no tracked file points at documents that live outside it.

A person who clones the repository has only what is in it, so the docs, code, tests and
settings may not send them to sibling folders, to design or style documents kept
elsewhere, or to numbered tickets they cannot open.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Built from parts so this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            re.escape("../" + "shared"),
            r"\b" + "DESIGN" + r"\.md\b",
            r"\b" + "STYLE" + r"\.md\b",
            r"\b" + "issue" + r" #?\d+",
        ]
    ),
    re.IGNORECASE,
)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        if path.is_file() and b"\0" not in path.read_bytes()[:4096]:
            files.append(path)
    return files


def test_no_file_points_outside_the_repository() -> None:
    files = tracked_text_files()
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]

    assert len(files) > 100  # the listing really covers the repository
    assert found == []


def test_the_pattern_catches_each_kind_of_reference() -> None:
    lines = [
        "see ../" + "shared/",
        "see the " + "DES" + "IGN.md page",
        "as " + "STY" + "LE.md says",
        "measured in " + "iss" + "ue 4's notes",
        "fixed in " + "Iss" + "ue #12",
    ]
    assert [bool(OUTSIDE.search(line)) for line in lines] == [True] * 5
    assert not OUTSIDE.search("docs/architecture.md and CONTRIBUTING.md")

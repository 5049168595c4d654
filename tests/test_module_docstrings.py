"""Every module opens with a docstring that says what it is for (migrations aside)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_has_a_docstring() -> None:
    names = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    modules = [name for name in names if "/migrations/" not in name]
    missing = [
        name for name in modules if not ast.get_docstring(ast.parse((ROOT / name).read_text()))
    ]

    assert len(modules) > 100
    assert missing == []

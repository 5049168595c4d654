"""Every name a bench or script imports from the project exists: a refactor breaks none unseen.

The benchmarks (`bench/`) and the fuzz driver (`scripts/`) are not run by the test suite
(they take minutes), and most of their imports sit inside functions (Django must be set
up first), so a moved or renamed name would only show when someone next runs them. This
reads each module's imports and checks them against the code.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"bench", "couriers", "jobs", "marketplace", "payments", "tests"}
BENCH_FILES = sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))


def project_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for each import of a project module in ``path``, at any depth."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PROJECT_PACKAGES:
                found.extend((node.lineno, node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.split(".")[0] in PROJECT_PACKAGES
            )
    return found


def test_the_benches_are_found() -> None:
    names = {path.stem for path in BENCH_FILES}
    assert {"dispatch", "api", "ingest", "fanout", "match"} <= names
    assert project_imports(ROOT / "bench" / "dispatch.py"), "dispatch.py imports the project"


@pytest.mark.parametrize("path", BENCH_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_project_name_a_bench_imports_exists(path: Path) -> None:
    missing = []
    for line, module_name, name in project_imports(path):
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            missing.append(f"{path.parent.name}/{path.name}:{line}: import {module_name}: {error}")
            continue
        if name is None or name == "*" or hasattr(module, name):
            continue
        try:
            importlib.import_module(f"{module_name}.{name}")
        except ImportError:
            missing.append(f"{path.parent.name}/{path.name}:{line}: {module_name} has no {name}")
    assert not missing, "\n".join(missing)

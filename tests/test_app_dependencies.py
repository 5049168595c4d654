"""Apps depend one way: marketplace ← couriers ← jobs ← payments ← demo, never the reverse.

Every import statement of every module is read from its syntax tree, including imports
inside functions (a deferred import is still a dependency). The project's URL and ASGI
routing (``marketplace/urls.py``, ``marketplace/asgi.py``) are the only exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# app -> the apps it must never import
FORBIDDEN = {
    "marketplace": {"couriers", "jobs", "payments"},
    "couriers": {"jobs", "payments"},
    "jobs": {"payments"},
}
ROUTING_MODULES = {"marketplace/urls.py", "marketplace/asgi.py"}


def imported_apps(source: str) -> set[str]:
    """Top-level package names of every absolute import in ``source``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ROUTING_MODULES:
            continue
        for other in sorted(imported_apps(path.read_text()) & FORBIDDEN[app]):
            found.append(f"{relative} imports {other}")
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_no_app_imports_an_app_above_it(app: str) -> None:
    assert (ROOT / app / "__init__.py").exists()
    assert violations(app) == []


def test_the_check_sees_every_kind_of_import() -> None:
    source = """
import jobs
import jobs.models as job_models
from jobs.dispatch import offers_withdraw
from . import sibling
from couriers.models import Courier

def later():
    from payments.models import Charge
"""
    assert imported_apps(source) == {"jobs", "couriers", "payments"}

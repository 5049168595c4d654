"""scripts/check_pins.py: the virtualenv equals the pins, and the pins are whole per Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = (ROOT / "requirements.txt").read_text()
DEV = (ROOT / "requirements-dev.txt").read_text()


def check(tmp_path: Path, *, runtime: str = RUNTIME, dev: str = DEV) -> subprocess.CompletedProcess:
    (tmp_path / "requirements.txt").write_text(runtime)
    (tmp_path / "requirements-dev.txt").write_text(dev)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_pins.py"), "requirements-dev.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def without_line(text: str, start: str) -> str:
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(start)]
    assert len(kept) == len(lines) - 1, f"no single line starts with {start!r}"
    return "".join(kept)


def test_the_project_pins_match_this_virtualenv_and_are_whole(tmp_path: Path) -> None:
    result = check(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_dependency_only_an_older_python_needs_must_be_pinned(tmp_path: Path) -> None:
    result = check(tmp_path, runtime=without_line(RUNTIME, "async-timeout=="))

    assert result.returncode == 1
    assert (
        "async-timeout is not pinned for Python 3.11.2: redis needs "
        'async-timeout>=4.0.3 ; python_full_version < "3.11.3"'
    ) in result.stderr
    assert "3.12" not in result.stderr  # only the Pythons that need it are named


def test_an_installed_package_without_a_pin_is_named(tmp_path: Path) -> None:
    result = check(tmp_path, dev=without_line(DEV, "sortedcontainers=="))

    assert result.returncode == 1
    assert (
        "sortedcontainers==2.4.0 is installed but not pinned: add it to requirements-dev.txt"
    ) in result.stderr
    # hypothesis declares it, so the walk over dependencies names it too.
    assert "sortedcontainers is not pinned for Python 3.12.0: hypothesis needs" in result.stderr


def test_a_pin_at_another_version_is_named(tmp_path: Path) -> None:
    dev = DEV.replace("sortedcontainers==2.4.0", "sortedcontainers==2.3.0")
    result = check(tmp_path, dev=dev)

    assert result.returncode == 1
    assert "sortedcontainers is installed at 2.4.0 but pinned at 2.3.0" in result.stderr


def test_a_pin_that_is_not_exact_is_refused(tmp_path: Path) -> None:
    dev = DEV.replace("sortedcontainers==2.4.0", "sortedcontainers>=2.4")
    result = check(tmp_path, dev=dev)

    assert result.returncode == 1
    assert "'sortedcontainers>=2.4' is not an exact pin" in result.stderr


def test_a_pinned_package_that_is_missing_is_named(tmp_path: Path) -> None:
    result = check(tmp_path, dev=DEV + "six==1.17.0\n")

    assert result.returncode == 1
    assert "six==1.17.0 is pinned (requirements-dev.txt:" in result.stderr
    assert "but not installed" in result.stderr

"""Check that the virtualenv holds exactly the pinned packages, and that the pins are whole.

Run by ``./dev test`` before pytest (``python scripts/check_pins.py requirements-dev.txt``).
Two checks, each naming the package and the fix:

1. Installed = pinned, for this interpreter: every pin whose environment marker applies is
   installed at exactly its version, and nothing else is installed (pip, setuptools and
   wheel aside: the virtualenv's own tools).
2. The pins are closed for every supported Python: walking each pinned package's declared
   dependencies (from the installed metadata, markers evaluated for each supported
   version and the extras asked for) finds only pinned names. This catches a dependency
   that only another Python pulls in, e.g. redis needs async-timeout below 3.11.3.

Only the standard library and ``packaging`` (pinned in requirements-dev.txt) are used.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The Pythons the README supports, by the versions markers are written against: Debian
# 12's 3.11.2 is below redis' "python_full_version < 3.11.3" line, so both sides count.
SUPPORTED_PYTHONS = ["3.11.2", "3.11.3", "3.12.0", "3.13.0"]
VENV_TOOLS = {"pip", "setuptools", "wheel"}


@dataclass
class Pin:
    name: str
    version: str
    extras: set[str]
    marker: Marker | None
    source: str

    def applies(self, env: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(env)


@dataclass
class Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def read_pins(path: Path, problems: Problems) -> list[Pin]:
    pins: list[Pin] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            pins += read_pins(path.parent / line[3:].strip(), problems)
            continue
        where = f"{path.name}:{number}"
        try:
            requirement = Requirement(line)
        except ValueError as exc:
            problems.add(f"{where}: cannot read {line!r}: {exc}")
            continue
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            problems.add(f"{where}: {line!r} is not an exact pin; write {requirement.name}==X.Y.Z")
            continue
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                specifiers[0].version,
                set(requirement.extras),
                requirement.marker,
                where,
            )
        )
    return pins


def python_environment(version: str) -> dict[str, str]:
    env = dict(default_environment())
    env["python_full_version"] = version
    env["python_version"] = ".".join(version.split(".")[:2])
    return env


def installed() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[canonicalize_name(name)] = dist.version
    return found


def check_installed(pins: list[Pin], problems: Problems, requirements: str) -> None:
    env = python_environment(".".join(map(str, sys.version_info[:3])))
    wanted = {pin.name: pin for pin in pins if pin.applies(env)}
    have = installed()
    for name, pin in sorted(wanted.items()):
        if name not in have:
            problems.add(f"{name}=={pin.version} is pinned ({pin.source}) but not installed")
        elif have[name] != pin.version:
            problems.add(
                f"{name} is installed at {have[name]} but pinned at {pin.version} ({pin.source})"
            )
    for name in sorted(set(have) - set(wanted) - VENV_TOOLS):
        problems.add(
            f"{name}=={have[name]} is installed but not pinned: add it to {requirements} "
            "(or requirements.txt if the app needs it at runtime), or uninstall it"
        )


def dependencies(name: str) -> list[Requirement]:
    try:
        return [Requirement(text) for text in metadata.requires(name) or []]
    except metadata.PackageNotFoundError:
        return []  # pinned for another Python only: its metadata is not here to walk


def check_closed(pins: list[Pin], problems: Problems) -> None:
    for version in SUPPORTED_PYTHONS:
        env = python_environment(version)
        pinned = {pin.name: pin for pin in pins if pin.applies(env)}
        queue = [(pin.name, set(pin.extras)) for pin in pinned.values()]
        seen: set[tuple[str, frozenset[str]]] = set()
        while queue:
            name, extras = queue.pop()
            if (name, frozenset(extras)) in seen:
                continue
            seen.add((name, frozenset(extras)))
            for requirement in dependencies(name):
                marker = requirement.marker
                needed = marker is None or any(
                    marker.evaluate({**env, "extra": extra}) for extra in (extras or {""})
                )
                if not needed:
                    continue
                child = canonicalize_name(requirement.name)
                if child not in pinned:
                    condition = f" ; {marker}" if marker else ""
                    problems.add(
                        f"{child} is not pinned for Python {version}: {name} needs "
                        f"{requirement.name}{requirement.specifier}{condition}; pin it, e.g. "
                        f'"{requirement.name}==X.Y.Z ; python_full_version == \\"{version}\\""'
                        " with the marker that fits"
                    )
                    continue
                queue.append((child, set(requirement.extras)))


def main(argv: list[str]) -> int:
    requirements = argv[1] if len(argv) > 1 else "requirements-dev.txt"
    problems = Problems()
    pins = read_pins(Path(requirements), problems)
    names = [pin.name for pin in pins if pin.marker is None]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add(f"{name} is pinned twice without markers")
    check_installed(pins, problems, requirements)
    check_closed(pins, problems)
    if problems.lines:
        print("ERROR: the installed packages do not match the pins:", file=sys.stderr)
        for line in dict.fromkeys(problems.lines):
            print(f"  - {line}", file=sys.stderr)
        print(
            "Fix requirements.txt / requirements-dev.txt (every package and every dependency "
            "it pulls in, exact versions), then run ./dev test again (it reinstalls).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

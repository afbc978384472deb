"""The two locks: requirements-run.lock (what `make run` installs) is requirements.lock cut
down to serving, pin for pin and hash for hash, so the two cannot drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)")
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
DEVELOPMENT_ONLY = {
    "pytest",
    "schemathesis",
    "hypothesis",
    "replicate",
    "playwright",
    "ruff",
    "mypy",
    "openapi-python-client",
    "openapi-spec-validator",
    "uv",
}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Each pinned package: its version and the hashes that follow its pin."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    current: str | None = None
    hashes: dict[str, set[str]] = {}
    for line in (REPO / name).read_text().splitlines():
        if found := PIN.match(line):
            current = normal(found.group(1))
            pins[current] = (found.group(2), frozenset())
            hashes[current] = set()
        elif current is not None and (digest := HASH.search(line)):
            hashes[current].add(digest.group(1))
    return {name: (version, frozenset(hashes[name])) for name, (version, _) in pins.items()}


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        found = PIN.match(requirement)
        assert found, f"{requirement} is not pinned with =="
        pins[normal(found.group(1))] = found.group(2)
    return pins


def test_every_runtime_pin_is_the_full_locks_pin() -> None:
    runtime, full = read_lock("requirements-run.lock"), read_lock("requirements.lock")
    assert runtime, "requirements-run.lock pins nothing"
    for name, (version, hashes) in runtime.items():
        assert name in full, f"{name} is in requirements-run.lock but not requirements.lock"
        assert version == full[name][0], (
            f"{name}: {version} in requirements-run.lock, {full[name][0]} in requirements.lock"
        )
        assert hashes, f"{name} has no hash in requirements-run.lock"
        assert hashes == full[name][1], f"{name}: the two locks' hashes differ"


def test_the_runtime_lock_holds_the_runtime_dependencies_and_no_development_tool() -> None:
    project = pyproject()
    runtime = read_lock("requirements-run.lock")
    declared = project["project"]["dependencies"]  # type: ignore[index]
    build = project["dependency-groups"]["build"]  # type: ignore[index]
    for name, version in requirement_pins([*declared, *build]).items():
        assert name in runtime, f"{name} (pyproject.toml) is missing from requirements-run.lock"
        assert runtime[name][0] == version, f"{name}: pyproject.toml says {version}"
    assert set(read_lock("requirements.lock")) >= DEVELOPMENT_ONLY
    assert not DEVELOPMENT_ONLY & set(runtime)

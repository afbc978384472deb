"""The committed generated_client/ is exactly what the generator makes from the spec today.

When this fails, run ``make generate`` and commit the result.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import pytest

from contract_tests.support.constants import REPO

REPO_ROOT = REPO
COMMITTED = REPO_ROOT / "generated_client"
SCRIPT = REPO_ROOT / "scripts" / "generate_client.py"

#: Made by installing, importing, building or type-checking the client, never by the generator.
IGNORED_ANYWHERE = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})
IGNORED_AT_TOP = frozenset({".pdm-build", "build", "dist"})
IGNORED_SUFFIXES = (".pyc", ".egg-info")
MAX_DIFF_LINES = 40

EXPECTED_MODELS = (
    "Prediction",
    "PredictionRequest",
    "ImagenInput",
    "Problem",
    "InvalidField",
    "PredictionPage",
    "PredictionUrls",
    "PredictionMetrics",
)


class _GeneratorScript(Protocol):
    def regenerate(self, dest: Path) -> None: ...


def _load_script() -> _GeneratorScript:
    spec = importlib.util.spec_from_file_location("generate_client_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(_GeneratorScript, module)


def _files(root: Path) -> dict[str, bytes]:
    """Every generated file under ``root`` by relative POSIX path, build leftovers skipped."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in IGNORED_AT_TOP or any(
            part in IGNORED_ANYWHERE or part.endswith(IGNORED_SUFFIXES) for part in relative.parts
        ):
            continue
        if path.is_file():
            found[relative.as_posix()] = path.read_bytes()
    return found


def _diff(name: str, committed: bytes, fresh: bytes) -> str:
    try:
        old, new = committed.decode().splitlines(), fresh.decode().splitlines()
    except UnicodeDecodeError:
        return f"  (binary file, {len(committed)} -> {len(fresh)} bytes)"
    lines = list(
        difflib.unified_diff(old, new, f"committed/{name}", f"fresh/{name}", n=1, lineterm="")
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines"]
    return "\n".join(f"  {line}" for line in lines)


def describe_differences(committed: dict[str, bytes], fresh: dict[str, bytes]) -> list[str]:
    """One readable entry per file that is missing, extra or changed."""
    problems: list[str] = []
    for name in sorted(committed.keys() | fresh.keys()):
        if name not in committed:
            problems.append(f"missing from generated_client/: {name}")
        elif name not in fresh:
            problems.append(f"stale in generated_client/ (no longer generated): {name}")
        elif committed[name] != fresh[name]:
            problems.append(f"differs: {name}\n{_diff(name, committed[name], fresh[name])}")
    return problems


@pytest.fixture(scope="module")
def fresh_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("fresh") / "generated_client"
    _load_script().regenerate(dest)
    return dest


def test_committed_client_matches_a_fresh_generation(fresh_client: Path) -> None:
    assert COMMITTED.is_dir(), "generated_client/ is missing; run `make generate`"
    problems = describe_differences(_files(COMMITTED), _files(fresh_client))
    if problems:
        pytest.fail(
            "generated_client/ is not what the generator makes from openapi/openapi.yaml "
            "(run `make generate` and commit the result):\n" + "\n".join(problems),
            pytrace=False,
        )


def test_fresh_client_is_a_pdm_project(fresh_client: Path) -> None:
    pyproject = (fresh_client / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "imagen-4-ultra-client"' in pyproject
    assert 'build-backend = "pdm.backend"' in pyproject
    assert (fresh_client / "imagen_client" / "py.typed").is_file()


def test_describe_differences_names_each_kind_of_difference() -> None:
    committed = {"same.py": b"x\n", "changed.py": b"a\nb\n", "stale.py": b""}
    fresh = {"same.py": b"x\n", "changed.py": b"a\nc\n", "new.py": b""}
    problems = describe_differences(committed, fresh)
    assert [problem.splitlines()[0] for problem in problems] == [
        "differs: changed.py",
        "missing from generated_client/: new.py",
        "stale in generated_client/ (no longer generated): stale.py",
    ]
    assert "  -b" in problems[0]
    assert "  +c" in problems[0]


def test_package_exports_the_clients() -> None:
    package = importlib.import_module("imagen_client")
    assert set(getattr(package, "__all__", ())) >= {"AuthenticatedClient", "Client"}
    for name in ("AuthenticatedClient", "Client"):
        assert isinstance(getattr(package, name), type), name


@pytest.mark.parametrize("name", EXPECTED_MODELS)
def test_models_are_importable(name: str) -> None:
    models = importlib.import_module("imagen_client.models")
    assert name in getattr(models, "__all__", ())
    assert isinstance(getattr(models, name), type), name


def test_path_parameter_types_have_short_names() -> None:
    from imagen_client.models import ModelName, ModelOwner
    from imagen_client.models.model_name import check_model_name
    from imagen_client.models.model_owner import check_model_owner

    owner: ModelOwner = check_model_owner("google")
    name: ModelName = check_model_name("imagen-4-ultra")
    assert (owner, name) == ("google", "imagen-4-ultra")

"""Regenerate the typed client from openapi/openapi.yaml.

Usage: python scripts/generate_client.py DEST

Runs openapi-python-client (with openapi/client-generator.yaml, pdm metadata) into a
fresh temporary directory, fails on any generator error or warning, then replaces
DEST entirely with the output, so files the generator no longer writes do not survive.
The tools are taken from the running interpreter's environment (its scripts directory
goes first on PATH, since the generator's post-hooks call ``ruff`` by name).

contract_tests/contract/test_generated_client_fresh.py imports this file and calls
:func:`regenerate` to check that the committed client is up to date.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

__all__ = ["CONFIG", "REPO_ROOT", "SPEC", "GenerationError", "generate", "main", "regenerate"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC = Path("openapi/openapi.yaml")
CONFIG = Path("openapi/client-generator.yaml")
GENERATOR = "openapi-python-client"


class GenerationError(RuntimeError):
    """The generator failed, warned, or DEST cannot be replaced safely."""


def _tool_env(bin_dir: Path) -> dict[str, str]:
    """The environment for the generator: our tools first, and nothing that varies output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUFF_")}
    env["PATH"] = os.pathsep.join(filter(None, [str(bin_dir), env.get("PATH")]))
    # The ruff post-hooks run inside the output directory; keep their cache out of it.
    env["RUFF_NO_CACHE"] = "true"
    env["PYTHONHASHSEED"] = "0"
    return env


def generate(output: Path) -> None:
    """Run the generator into ``output``, which must not exist yet."""
    bin_dir = Path(sysconfig.get_path("scripts"))
    generator = bin_dir / GENERATOR
    if not generator.is_file():
        raise GenerationError(f"{generator} not found; install the dev dependencies first")
    command = [
        str(generator),
        "generate",
        "--path",
        str(SPEC),
        "--config",
        str(CONFIG),
        "--meta",
        "pdm",
        "--output-path",
        str(output),
        "--fail-on-warning",
    ]
    result = subprocess.run(  # noqa: S603 -- fixed argument list, no shell
        command,
        cwd=REPO_ROOT,
        env=_tool_env(bin_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    # The generator prints its errors and warnings on stderr, and nothing else there.
    if result.returncode != 0 or result.stderr.strip():
        raise GenerationError(
            f"{GENERATOR} failed (exit status {result.returncode}): {' '.join(command)}\n"
            f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
        )
    if not (output / "pyproject.toml").is_file():
        raise GenerationError(f"{GENERATOR} exited 0 but wrote no {output / 'pyproject.toml'}")


def _check_replaceable(dest: Path) -> None:
    """Refuse to delete anything that cannot be an earlier generated client."""
    resolved = dest.resolve()
    if resolved == REPO_ROOT or resolved in REPO_ROOT.parents:
        raise GenerationError(f"refusing to replace {dest}: it contains the repository")
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise GenerationError(f"refusing to replace {dest}: not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "pyproject.toml").is_file():
        raise GenerationError(
            f"refusing to replace {dest}: not empty and has no pyproject.toml, "
            "so it does not look like a generated client"
        )


def regenerate(dest: Path) -> None:
    """Generate the client and make ``dest`` exactly the generator's output."""
    _check_replaceable(dest)
    with tempfile.TemporaryDirectory(prefix="imagen-client-") as tmp:
        output = Path(tmp) / "client"
        generate(output)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(output, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dest", type=Path, help="directory to replace with the generated client")
    args = parser.parse_args(argv)
    dest: Path = args.dest
    try:
        regenerate(dest)
    except GenerationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"generated {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

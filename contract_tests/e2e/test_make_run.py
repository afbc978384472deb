"""`make run` serves where HOST/PORT or IMAGEN_MOCK_HOST/IMAGEN_MOCK_PORT say.

The Makefile is run for real against the virtualenv these tests run in (``VENV=`` points
make at it, ``-o`` keeps make from reinstalling it), so nothing is installed here."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from contract_tests.support.servers import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
VENV = sys.prefix
START_SECONDS = 30.0


def make_run(*extra: str) -> list[str]:
    return ["make", "-s", "-o", f"{VENV}/.runtime", f"VENV={VENV}", "run", *extra]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IMAGEN_MOCK_") and k not in {"HOST", "PORT", "MAKEFLAGS"}
    }
    return env | extra


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The command in its own process group (output in ``log``), ended with everything
    it started."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def first_answer(process: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run ended with {process.returncode}: {log.read_text()}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"nothing answered at {url} within {START_SECONDS} s: {log.read_text()}")


def test_make_run_serves_on_imagen_mock_port(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "make-run.log"
    with running(make_run(), clean_env(IMAGEN_MOCK_PORT=str(port)), log) as process:
        answer = first_answer(process, f"http://127.0.0.1:{port}/openapi.yaml", log)
    assert answer.status_code == 200
    assert answer.text.startswith("openapi: 3.1")


def test_make_run_port_on_the_command_line_wins(tmp_path: Path) -> None:
    port, unused, log = free_port(), free_port(), tmp_path / "make-run.log"
    env = clean_env(IMAGEN_MOCK_PORT=str(unused))
    with running(make_run(f"PORT={port}", "HOST=127.0.0.1"), env, log) as process:
        answer = first_answer(process, f"http://127.0.0.1:{port}/openapi.yaml", log)
    assert answer.status_code == 200


def test_make_run_passes_host_and_port_only_when_given() -> None:
    def recipe(*extra: str) -> list[str]:
        done = subprocess.run(
            ["make", "-n", *make_run(*extra)[1:]],
            cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        command = shlex.split(done.stdout)
        assert command[0] == f"{VENV}/bin/imagen-mock"
        return command[1:]

    assert recipe() == ["serve"]
    assert recipe("PORT=9002") == ["serve", "--port", "9002"]
    assert recipe("HOST=127.0.0.2") == ["serve", "--host", "127.0.0.2"]


#: The README's schemathesis line, run by hand against ``make run``.
README_COMMAND = re.compile(r"^\$ (schemathesis run openapi/openapi\.yaml .*)$", re.MULTILINE)


def test_the_readme_schemathesis_command_finds_nothing(tmp_path: Path) -> None:
    found = README_COMMAND.findall((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "the README shows the command once"
    command = shlex.split(found[0])
    url = command.index("--url") + 1
    assert command[url] == "http://127.0.0.1:8000/v1"
    port, log = free_port(), tmp_path / "make-run.log"
    command[url] = f"http://127.0.0.1:{port}/v1"
    command[0] = f"{VENV}/bin/schemathesis"  # what an activated .venv finds
    with running(make_run(f"PORT={port}"), clean_env(), log) as process:
        first_answer(process, f"http://127.0.0.1:{port}/openapi.yaml", log)
        done = subprocess.run(
            command, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=1200,
            check=False,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "No issues found" in output, output[-4000:]

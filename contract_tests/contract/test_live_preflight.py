"""`make contract` and `make drift` check their arguments and reach the base URL once
before anything runs: each bad argument or unreachable host is one line on stderr and
exit code 2, never a traceback. Real subprocesses, against loopback stand-ins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contract_tests.support.servers import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKEN = "r8_preflight_stand_in_token"
TOOLS = {"contract": ("contract_tests.live", "--base-url"), "drift": ("contract_tests.drift", "--live")}  # fmt: skip


def run_tool(
    tool: str, url: str, args: list[str], tmp_path: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    module, url_option = TOOLS[tool]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "REPLICATE_"))}
    env |= {"REPLICATE_API_TOKEN": TOKEN} if env_extra is None else env_extra
    return subprocess.run(
        [sys.executable, "-m", module, url_option, url, "--out", str(tmp_path / "out"), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def assert_refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {done.stderr}"
    for fragment in fragments:
        assert fragment in lines[0]
    assert done.stdout == ""
    assert TOKEN not in output


def not_pem(tmp_path: Path) -> str:
    path = tmp_path / "not-a-ca.pem"
    path.write_text("this is not a certificate\n")
    return str(path)


CASES = {
    "missing URL": ("", [], "BASE_URL not set"),
    "no scheme": ("api.replicate.com/v1", [], "is not an http(s) URL with a host"),
    "not http": ("ftp://api.replicate.com/v1", [], "is not an http(s) URL with a host"),
    "port out of range": ("https://127.0.0.1:99999/v1", [], "outside 1-65535"),
    "negative budget": ("https://127.0.0.1:9/v1", ["--budget", "-1"], "cannot be negative"),
    "negative budget, dry run": ("https://127.0.0.1:9/v1", ["--budget", "-1", "--dry-run"], "cannot be negative"),
    "budget not a number": ("https://127.0.0.1:9/v1", ["--budget", "two"], "invalid int value"),
    "missing CA file": ("https://127.0.0.1:9/v1", ["--ca-file", "/nonexistent/ca.pem"], "/nonexistent/ca.pem does not exist"),
    "DNS failure": ("https://nonexistent.invalid/v1", [], "cannot reach https://nonexistent.invalid/v1/predictions"),
}  # fmt: skip


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("case", CASES)
def test_bad_argument_is_one_line(tool: str, case: str, tmp_path: Path) -> None:
    url, args, expected = CASES[case]
    assert_refused(run_tool(tool, url, args, tmp_path), expected)


@pytest.mark.parametrize("tool", TOOLS)
def test_ca_file_that_is_not_pem(tool: str, tmp_path: Path) -> None:
    done = run_tool(tool, "https://127.0.0.1:9/v1", ["--ca-file", not_pem(tmp_path)], tmp_path)
    assert_refused(done, "not-a-ca.pem holds no PEM certificate")


@pytest.mark.parametrize("tool", TOOLS)
def test_closed_port(tool: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert_refused(run_tool(tool, url, [], tmp_path), f"cannot reach {url}/predictions")


@pytest.mark.parametrize("tool", TOOLS)
def test_missing_token(tool: str, tmp_path: Path) -> None:
    done = run_tool(tool, "https://127.0.0.1:9/v1", [], tmp_path, env_extra={})
    assert_refused(done, "REPLICATE_API_TOKEN not set", f"make {tool} BASE_URL=")


@pytest.mark.parametrize("tool", TOOLS)
def test_negative_budget_from_the_environment(tool: str, tmp_path: Path) -> None:
    env = {"REPLICATE_API_TOKEN": TOKEN, "IMAGEN_CONTRACT_BUDGET": "-1"}
    done = run_tool(tool, "https://127.0.0.1:9/v1", [], tmp_path, env_extra=env)
    assert_refused(done, "the budget cannot be negative")


@pytest.mark.parametrize("tool", TOOLS)
def test_host_that_never_answers_times_out_in_seconds(tool: str, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        started = time.monotonic()
        done = run_tool(tool, url, [], tmp_path)
        elapsed = time.monotonic() - started
    assert_refused(done, f"cannot reach {url}/predictions: no answer within 5 s")
    assert elapsed < 20


class Recorder(BaseHTTPRequestHandler):
    """Answers every request 401 with Replicate's body, and records what it was sent."""

    seen: list[tuple[str, str, bool]]

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path, "Authorization" in self.headers))
        body = b'{"title":"Unauthenticated","detail":"You did not pass an authentication token","status":401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[tuple[str, list[tuple[str, str, bool]]]]:
    seen: list[tuple[str, str, bool]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_any_http_answer_counts_as_reachable_and_the_first_request_is_a_tokenless_get(
    tmp_path: Path,
) -> None:
    with recording_server() as (root, seen):
        done = run_tool(
            "drift", f"{root}/v1", ["--mock", f"{root}/mock/v1", "--budget", "0"], tmp_path
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "refusing" not in output
    assert seen[:2] == [("GET", "/v1/predictions", False), ("GET", "/mock/v1/predictions", False)]
    assert (tmp_path / "out" / "drift.json").exists()

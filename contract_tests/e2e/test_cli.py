"""``imagen-mock serve``: documented options, environment settings, and a real server."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from contract_tests.support.constants import REPO
from contract_tests.support.servers import BIN, START_TIMEOUT, free_port, run_mock, stop
from mock_server.serving import cli
from mock_server.serving.cli import main, parse_settings

CREATE = "/v1/models/google/imagen-4-ultra/predictions"
#: Every option, its variable and the default ``--help`` shows for it.
OPTIONS = {
    "--host": ("IMAGEN_MOCK_HOST", "127.0.0.1"),
    "--port": ("IMAGEN_MOCK_PORT", "8000"),
    "--threads": ("IMAGEN_MOCK_THREADS", "1024"),
    "--workers": ("IMAGEN_MOCK_WORKERS", "1"),
    "--tls": ("IMAGEN_MOCK_TLS", "(off)"),
    "--ca-file": ("IMAGEN_MOCK_CA_FILE", "(unset)"),
    "--access-log": ("IMAGEN_MOCK_ACCESS_LOG", "(off)"),
    "--drain-seconds": ("IMAGEN_MOCK_DRAIN_SECONDS", "10.0"),
    "--header-timeout-seconds": ("IMAGEN_MOCK_HEADER_TIMEOUT_SECONDS", "10.0"),
    "--token": ("IMAGEN_MOCK_TOKEN", "(unset)"),
    "--accept-any-token": ("IMAGEN_MOCK_ACCEPT_ANY_TOKEN", "(off)"),
    "--enforce-rate-limits": ("IMAGEN_MOCK_ENFORCE_RATE_LIMITS", "(off)"),
    "--wait-timeout-status": ("IMAGEN_MOCK_WAIT_TIMEOUT_STATUS", "201"),
    "--location-header": ("IMAGEN_MOCK_LOCATION_HEADER", "(off)"),
    "--metrics-total-time": ("IMAGEN_MOCK_METRICS_TOTAL_TIME", "(off)"),
    "--starting-seconds": ("IMAGEN_MOCK_STARTING_SECONDS", "1.0"),
    "--processing-seconds": ("IMAGEN_MOCK_PROCESSING_SECONDS", "3.0"),
    "--recording": ("IMAGEN_MOCK_RECORDING", "(unset)"),
    "--retention-seconds": ("IMAGEN_MOCK_RETENTION_SECONDS", "3600.0"),
    "--record-ttl-seconds": ("IMAGEN_MOCK_RECORD_TTL_SECONDS", "86400.0"),
    "--trusted-proxies": ("IMAGEN_MOCK_TRUSTED_PROXIES", "0"),
    "--max-body-bytes": ("IMAGEN_MOCK_MAX_BODY_BYTES", "1048576"),
    "--webhook-secret": ("IMAGEN_MOCK_WEBHOOK_SECRET", "(unset)"),
    "--webhook-allowed-hosts": ("IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,::1,localhost"),
    "--webhook-max-attempts": ("IMAGEN_MOCK_WEBHOOK_MAX_ATTEMPTS", "5"),
    "--webhook-backoff-seconds": ("IMAGEN_MOCK_WEBHOOK_BACKOFF_SECONDS", "0.5"),
    "--webhook-max-backoff-seconds": ("IMAGEN_MOCK_WEBHOOK_MAX_BACKOFF_SECONDS", "30.0"),
    "--webhook-timeout-seconds": ("IMAGEN_MOCK_WEBHOOK_TIMEOUT_SECONDS", "5.0"),
    "--webhook-log-limit": ("IMAGEN_MOCK_WEBHOOK_LOG_LIMIT", "10000"),
    "--journal-limit": ("IMAGEN_MOCK_JOURNAL_LIMIT", "1000"),
    "--faults": ("IMAGEN_MOCK_FAULTS", "(none)"),
    "--seed": ("IMAGEN_MOCK_SEED", "(unset)"),
    "--redis-url": ("IMAGEN_MOCK_REDIS_URL", "(unset)"),
    "--redis-prefix": ("IMAGEN_MOCK_REDIS_PREFIX", "imagen-mock:"),
    "--data-dir": ("IMAGEN_MOCK_DATA_DIR", "(unset)"),
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without IMAGEN_MOCK_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEN_MOCK_")}
    return {**env, **extra}


def serve_until_exit(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``imagen-mock serve ARGS``, which is expected to refuse and exit; its exit code,
    stdout and stderr. It runs in its own process group: if it serves after all, it is
    killed whole after 30 s (and the test fails on its exit code)."""
    process = subprocess.Popen(
        [str(BIN / "imagen-mock"), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(**(env or {})),
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return process.returncode, out, err


@pytest.fixture
def no_mock_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IMAGEN_MOCK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to reach Redis or to serve (TLS certificates, granian)."""
    started: list[str] = []

    def redis_answers(url: str) -> bool:
        started.append("redis")
        return True

    monkeypatch.setattr(cli, "_run", lambda settings: started.append("serve"))
    monkeypatch.setattr(cli, "_redis_answers", redis_answers)
    return started


def test_help_documents_every_option_variable_and_default() -> None:
    done = subprocess.run(
        [str(BIN / "imagen-mock"), "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        timeout=60,
    )
    squeezed = "".join(done.stdout.split())  # click wraps lines, even inside a default
    options = [name for name in done.stdout.split() if name.startswith("--") and name != "--help"]
    assert sorted(set(options) - {"--redis-url,", "--tls,"}) == sorted(OPTIONS)
    for flag, (variable, default) in OPTIONS.items():
        assert flag in done.stdout
        assert f"[envvar:{variable};default:{default}]" in squeezed, flag


def test_readme_lists_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for flag, (variable, _) in OPTIONS.items():
        assert flag in readme
        assert variable in readme


def test_environment_sets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_MOCK_PORT", "9123")
    monkeypatch.setenv("IMAGEN_MOCK_TOKEN", "pinned")
    monkeypatch.setenv("IMAGEN_MOCK_TLS", "true")
    monkeypatch.setenv("IMAGEN_MOCK_PROCESSING_SECONDS", "0.5")
    settings = parse_settings([])
    assert (settings.port, settings.token, settings.tls, settings.processing_seconds) == (
        9123,
        "pinned",
        True,
        0.5,
    )
    assert parse_settings(["--port", "9000"]).port == 9000


def test_ca_file_needs_tls(capsys: pytest.CaptureFixture[str], no_mock_variables: None) -> None:
    assert main(["serve", "--ca-file", "/tmp/ca.pem"]) == 2
    assert "--ca-file needs --tls" in capsys.readouterr().err


# --- bad values: one line, exit 2, nothing started ---------------------------------------

BAD_FLAGS = [
    (["--starting-seconds", "-1"], "--starting-seconds must be from 0 to 31536000"),
    (["--processing-seconds", "-1"], "--processing-seconds must be from 0 to 31536000"),
    (["--retention-seconds", "-1"], "--retention-seconds must be from 0"),
    (["--record-ttl-seconds", "0"], "--record-ttl-seconds must be above 0"),
    (["--port", "0"], "--port must be from 1 to 65535 (got 0)"),
    (["--port", "99999"], "--port must be from 1 to 65535 (got 99999)"),
    (["--port", "http"], "--port must be a whole number (got 'http')"),
    (["--max-body-bytes", "-5"], "--max-body-bytes must be at least 1 (got -5)"),
    (["--threads", "0"], "--threads must be from 1 to 65536 (got 0)"),
    (["--workers", "0"], "--workers must be from 1 to 256 (got 0)"),
    (["--workers", "2"], "--workers above 1 needs --data-dir or --redis-url"),
    (["--trusted-proxies", "-1"], "--trusted-proxies must be at least 0"),
    (["--webhook-max-attempts", "0"], "--webhook-max-attempts must be at least 1"),
    (["--faults", "429:2"], "--faults must be a KIND:RATE,... list"),
    (["--faults", "teapot:0.1"], "--faults must be a KIND:RATE,... list"),
    (["--webhook-secret", "whsec_not base64"], "--webhook-secret must be a webhook secret"),
    (["--recording", "/no/such/exchanges-live.json"], "--recording must be a readable"),
    (["--ca-file", "/tmp/ca.pem"], "--ca-file needs --tls"),
    (["--tls", "--ca-file", "/no/such/dir/ca.pem"], "--ca-file must be in an existing directory"),
    (["--redis-url", "localhost:6379"], "--redis-url must be a redis://"),
    (["--seed", "lucky"], "--seed must be a whole number"),
    (["--bogus"], "No such option '--bogus'"),
    (["--port"], "Option '--port' requires an argument"),
]


def assert_one_line_refusal(err: str, expected: str) -> None:
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("imagen-mock: ")
    assert expected in err


@pytest.mark.parametrize(("args", "expected"), BAD_FLAGS)
def test_a_bad_flag_is_refused_before_anything_starts(
    args: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
    no_mock_variables: None,
    nothing_starts: list[str],
) -> None:
    assert main(["serve", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_refusal(err, expected)
    assert nothing_starts == []


BAD_VARIABLES = [
    ("STARTING_SECONDS", "-1", "--starting-seconds (from IMAGEN_MOCK_STARTING_SECONDS) must be"),
    ("PROCESSING_SECONDS", "-1", "--processing-seconds (from IMAGEN_MOCK_PROCESSING_SECONDS)"),
    ("PORT", "0", "--port (from IMAGEN_MOCK_PORT) must be from 1 to 65535 (got 0)"),
    ("PORT", "99999", "--port (from IMAGEN_MOCK_PORT) must be from 1 to 65535 (got 99999)"),
    ("MAX_BODY_BYTES", "-5", "--max-body-bytes (from IMAGEN_MOCK_MAX_BODY_BYTES) must be at"),
    ("THREADS", "0", "--threads (from IMAGEN_MOCK_THREADS) must be from 1 to 65536"),
    ("WORKERS", "0", "--workers (from IMAGEN_MOCK_WORKERS) must be from 1 to 256"),
    ("FAULTS", "429:2", "--faults (from IMAGEN_MOCK_FAULTS) must be a KIND:RATE,... list"),
    ("WEBHOOK_SECRET", "whsec_!", "--webhook-secret (from IMAGEN_MOCK_WEBHOOK_SECRET) must be"),
    ("RECORDING", "/no/such.json", "--recording (from IMAGEN_MOCK_RECORDING) must be a readable"),
    ("CA_FILE", "/tmp/ca.pem", "--ca-file (from IMAGEN_MOCK_CA_FILE) needs --tls"),
    ("TLS", "maybe", "IMAGEN_MOCK_TLS"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD_VARIABLES)
def test_a_bad_variable_is_refused_before_anything_starts(
    name: str,
    value: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_mock_variables: None,
    nothing_starts: list[str],
) -> None:
    monkeypatch.setenv(f"IMAGEN_MOCK_{name}", value)
    assert main(["serve"]) == 2
    assert_one_line_refusal(capsys.readouterr().err, expected)
    assert nothing_starts == []


def test_a_flag_wins_over_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, no_mock_variables: None, nothing_starts: list[str]
) -> None:
    monkeypatch.setenv("IMAGEN_MOCK_PORT", "99999")
    assert main(["serve", "--port", "8123"]) == 0
    assert nothing_starts == ["serve"]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--port", "99999"], {}, "imagen-mock: --port must be from 1 to 65535 (got 99999)"),
        (["--starting-seconds", "-1"], {}, "--starting-seconds must be from 0 to 31536000"),
        (["--recording", "/no/such/exchanges-live.json"], {}, "--recording must be a readable"),
        (["--bogus"], {}, "No such option '--bogus'"),
        ([], {"IMAGEN_MOCK_MAX_BODY_BYTES": "-5"}, "(from IMAGEN_MOCK_MAX_BODY_BYTES) must be"),
        ([], {"IMAGEN_MOCK_WORKERS": "0"}, "--workers (from IMAGEN_MOCK_WORKERS) must be"),
    ],
)
def test_the_command_refuses_in_one_line(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    code, out, err = serve_until_exit(args, env)
    assert code == 2
    assert out == ""
    assert_one_line_refusal(err, expected)


@pytest.mark.slow
def test_the_port_variable_chooses_the_port() -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "imagen-mock"), "serve"],
        env=clean_env(IMAGEN_MOCK_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, "imagen-mock exited"
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/openapi.yaml", timeout=1.0)
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"nothing answered on port {port}"
                time.sleep(0.05)
            else:
                break
        assert answer.status_code == 200
        assert "openapi:" in answer.text
    finally:
        stop(server)
        if server.stderr is not None:
            server.stderr.close()


@pytest.mark.slow
def test_a_port_already_served_is_refused_in_one_line() -> None:
    with run_mock() as first:
        port = int(first.root.rsplit(":", 1)[1])
        code, out, err = serve_until_exit(["--port", str(port)])
        assert code == 1
        assert out == ""
        assert err.splitlines() == [
            f"imagen-mock: cannot serve on 127.0.0.1:{port}: the address is already in use"
        ]
        # The first server still has the port to itself.
        assert httpx.get(f"{first.root}/openapi.yaml").status_code == 200


@pytest.mark.slow
def test_pinned_token_and_starts_quickly() -> None:
    started = time.monotonic()
    with run_mock(["--token", "only-this"]) as mock:
        startup = time.monotonic() - started
        ok = httpx.get(f"{mock.api}/predictions", headers={"Authorization": "Bearer only-this"})
        wrong = httpx.get(f"{mock.api}/predictions", headers={"Authorization": "Bearer other"})
    assert ok.status_code == 200
    assert wrong.status_code == 401
    assert startup < 15, "generous bound; the real figure is in the benchmark"


@pytest.mark.slow
def test_waiting_requests_do_not_block_others() -> None:
    args = ["--starting-seconds", "0", "--processing-seconds", "3"]
    with run_mock(args) as mock:
        auth = {"Authorization": "Bearer r8_t"}

        def hold() -> httpx.Response:
            return httpx.post(
                mock.api + CREATE.removeprefix("/v1"),
                json={"input": {"prompt": "x"}},
                headers={**auth, "Prefer": "wait=10"},
                timeout=30,
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            held = [pool.submit(hold) for _ in range(8)]
            time.sleep(0.5)
            quick_started = time.monotonic()
            quick = httpx.get(f"{mock.api}/predictions", headers=auth, timeout=5)
            quick_took = time.monotonic() - quick_started
            results = [future.result() for future in held]
    assert quick.status_code == 200
    assert quick_took < 2.0, "a list request waited behind held requests"
    assert all(r.status_code == 201 for r in results)
    assert all(r.json()["status"] == "succeeded" for r in results)
    assert all(r.headers["Preference-Applied"] == "wait=10" for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("slowed_by", ["header", "rule"])
def test_slowed_requests_do_not_block_others(slowed_by: str) -> None:
    with run_mock([]) as mock:
        auth = {"Authorization": "Bearer r8_t"}
        created = httpx.post(
            mock.api + CREATE.removeprefix("/v1"), json={"input": {"prompt": "x"}}, headers=auth
        )
        url = f"{mock.api}/predictions/{created.json()['id']}"
        slow = {**auth, "X-Mock-Latency-Ms": "2000"} if slowed_by == "header" else auth
        if slowed_by == "rule":
            rule = {"match": {"route": "get"}, "latency_ms": 2000}
            added = httpx.post(f"{mock.root}/_mock/rules", json=rule, headers=auth)
            assert added.status_code == 201
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            slowed = [pool.submit(httpx.get, url, headers=slow, timeout=10) for _ in range(4)]
            time.sleep(0.3)
            quick_started = time.monotonic()
            quick = httpx.get(f"{mock.api}/predictions", headers=auth, timeout=5)
            quick_took = time.monotonic() - quick_started
            results = [future.result() for future in slowed]
    assert quick.status_code == 200
    assert quick_took < 1.0, "a list request waited behind slowed requests"
    assert all(r.status_code == 200 for r in results)


SLOW_APP = """
import os, time
from flask import Flask

def make_app():
    open(os.environ["BUILDING_FLAG"], "w").close()
    time.sleep(2)
    return Flask("slow")
"""

SERVE_SLOW_APP = """
import sys
from mock_server.serving.server import serve_target

serve_target("slow_app:make_app", host="127.0.0.1", port=int(sys.argv[1]), threads=4)
"""


@pytest.mark.slow
def test_a_stop_signal_while_a_worker_is_built_still_stops_the_server(tmp_path: Path) -> None:
    """A worker is forked with its server's signal handlers and granian sets its own only
    once the app is built; a SIGTERM in between used to be lost, and the server then
    waited for that worker forever."""
    (tmp_path / "slow_app.py").write_text(SLOW_APP, encoding="utf-8")
    flag = tmp_path / "building"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BUILDING_FLAG": str(flag)}
    command = [str(BIN / "python"), "-c", SERVE_SLOW_APP, str(free_port())]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert time.monotonic() < deadline, "the worker never started building the app"
            assert server.poll() is None
            time.sleep(0.02)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) is not None
    finally:
        if server.poll() is None:
            for child in Path(f"/proc/{server.pid}/task").glob("*/children"):
                for pid in child.read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            server.kill()
            server.wait()

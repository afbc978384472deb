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

from contract_tests.servers import BIN, free_port, run_mock
from mock_server.serving.cli import main, parse_settings

CREATE = "/v1/models/google/imagen-4-ultra/predictions"
OPTIONS = {
    "--host": "IMAGEN_MOCK_HOST",
    "--port": "IMAGEN_MOCK_PORT",
    "--token": "IMAGEN_MOCK_TOKEN",
    "--starting-seconds": "IMAGEN_MOCK_STARTING_SECONDS",
    "--processing-seconds": "IMAGEN_MOCK_PROCESSING_SECONDS",
    "--recording": "IMAGEN_MOCK_RECORDING",
    "--retention-seconds": "IMAGEN_MOCK_RETENTION_SECONDS",
    "--record-ttl-seconds": "IMAGEN_MOCK_RECORD_TTL_SECONDS",
    "--threads": "IMAGEN_MOCK_THREADS",
    "--tls": "IMAGEN_MOCK_TLS",
    "--ca-file": "IMAGEN_MOCK_CA_FILE",
    "--webhook-secret": "IMAGEN_MOCK_WEBHOOK_SECRET",
    "--webhook-allowed-hosts": "IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS",
    "--faults": "IMAGEN_MOCK_FAULTS",
    "--seed": "IMAGEN_MOCK_SEED",
    "--trusted-proxies": "IMAGEN_MOCK_TRUSTED_PROXIES",
    "--max-body-bytes": "IMAGEN_MOCK_MAX_BODY_BYTES",
    "--access-log": "IMAGEN_MOCK_ACCESS_LOG",
}


def test_help_documents_every_option_and_variable() -> None:
    done = subprocess.run(
        [str(BIN / "imagen-mock"), "serve", "--help"], capture_output=True, text=True, check=True
    )
    flat = " ".join(done.stdout.split())
    for flag, variable in OPTIONS.items():
        assert flag in flat
        assert variable in flat


def test_readme_lists_every_variable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for variable in OPTIONS.values():
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


def test_ca_file_needs_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--ca-file", "/tmp/ca.pem"]) == 2
    assert "--ca-file needs --tls" in capsys.readouterr().err


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
        auth = {"Authorization": "Bearer t"}

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
    assert all(r.headers["Preference-Applied"] == "wait" for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("slowed_by", ["header", "rule"])
def test_slowed_requests_do_not_block_others(slowed_by: str) -> None:
    with run_mock([]) as mock:
        auth = {"Authorization": "Bearer t"}
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
from mock_server.serving.server import serve

serve({}, host="127.0.0.1", port=int(sys.argv[1]), threads=4, target="slow_app:make_app")
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

"""``imagen-mock serve`` as a real server: a pinned token, held and slowed requests that
block no others, and a stop signal while a worker is still being built."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from contract_tests.support.constants import CREATE
from contract_tests.support.servers import BIN, free_port, run_mock


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

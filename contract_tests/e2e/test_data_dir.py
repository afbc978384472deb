"""``imagen-mock serve --data-dir``: real server processes stopped (SIGTERM, SIGKILL) and
started again on the same directory; two workers sharing it; a second server refused."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.support.constants import CREATE
from contract_tests.support.servers import BIN, RunningMock, free_port, run_mock

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer r8_testtoken123"}
SLOW = ["--starting-seconds", "0.2", "--processing-seconds", "60"]


def create(mock: RunningMock, **body: Any) -> dict[str, Any]:
    doc = {"input": {"prompt": "a lighthouse at dawn"}, **body}
    answer = httpx.post(mock.api + CREATE.removeprefix("/v1"), json=doc, headers=AUTH, timeout=30)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def get(mock: RunningMock, prediction_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{mock.api}/predictions/{prediction_id}", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def secret(mock: RunningMock) -> str:
    answer = httpx.get(f"{mock.api}/webhooks/default/secret", headers=AUTH, timeout=10)
    key: str = answer.json()["key"]
    return key


def offset(mock: RunningMock) -> float:
    answer = httpx.get(f"{mock.root}/_mock/clock", headers=AUTH, timeout=10)
    value: float = answer.json()["offset_seconds"]
    return value


def test_a_sigterm_restart_on_the_same_directory_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--data-dir", str(data), *SLOW]
    with run_mock(args) as first:
        running = create(first)
        canceled = create(first)
        httpx.post(f"{first.api}/predictions/{canceled['id']}/cancel", headers=AUTH, timeout=10)
        httpx.post(f"{first.root}/_mock/clock", json={"advance_seconds": 30}, headers=AUTH)
        before = {pid: get(first, pid) for pid in (running["id"], canceled["id"])}
        listed = httpx.get(f"{first.api}/predictions", headers=AUTH, timeout=10).json()
        key = secret(first)
    assert first.process.returncode == 0
    with run_mock(args) as second:
        after = {pid: get(second, pid) for pid in before}
        assert secret(second) == key
        assert offset(second) == 30
        del after[canceled["id"]]["urls"], before[canceled["id"]]["urls"]  # another port
        assert after[canceled["id"]] == before[canceled["id"]]
        assert after[running["id"]]["status"] == "processing"  # 30 s into 60 on the same clock
        assert after[running["id"]]["started_at"] == before[running["id"]]["started_at"]
        again = httpx.get(f"{second.api}/predictions", headers=AUTH, timeout=10).json()
        assert [p["id"] for p in again["results"]] == [p["id"] for p in listed["results"]]
        httpx.post(f"{second.root}/_mock/clock", json={"advance_seconds": 60}, headers=AUTH)
        assert get(second, running["id"])["status"] == "succeeded"
    # Readable with SQLite's own tools.
    with sqlite3.connect(data / "predictions.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 2


@contextmanager
def own_group(args: list[str]) -> Iterator[tuple[RunningMock, subprocess.Popen[bytes]]]:
    """A server in a process group of its own (so all its processes can be killed)."""
    port = free_port()
    command = [str(BIN / "imagen-mock"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEN_MOCK_")}
    process = subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "exited while starting"
            assert time.monotonic() < deadline, "did not start in time"
            try:
                httpx.get(f"{root}/openapi.yaml", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield RunningMock(root=root, ca_file=None, process=process), process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_what_was_answered_before_a_sigkill_is_still_there(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--data-dir", str(data), "--workers", "2", *SLOW]
    with own_group(args) as (first, process):
        made = [create(first) for _ in range(20)]
        key = secret(first)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with run_mock(args) as second:
        assert [get(second, p["id"])["id"] for p in made] == [p["id"] for p in made]
        assert secret(second) == key


def test_a_second_server_on_the_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_mock(["--data-dir", str(data)]) as first:
        second = subprocess.run(
            [str(BIN / "imagen-mock"), "serve", "--port", str(free_port()), "--data-dir", str(data)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert lines == [
            f"imagen-mock: cannot use --data-dir {data}: "
            f"another server (pid {first.process.pid}) is using it"
        ]
        create(first)  # the first one serves on


def test_two_workers_share_predictions_cancels_clock_and_reset(tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path / "data"), "--workers", "2", *SLOW]
    with run_mock(args) as mock:
        made = [create(mock) for _ in range(10)]
        # Each poll is a new connection: the two workers take turns at random.
        for prediction in made:
            assert {get(mock, prediction["id"])["id"] for _ in range(4)} == {prediction["id"]}
        # Held creates (Prefer: wait) on either worker answer at once when another cancels.
        count = 6
        started = threading.Barrier(count + 1)

        def held_create(_: int) -> tuple[float, str]:
            with httpx.Client(timeout=30) as client:
                started.wait()
                began = time.monotonic()
                answer = client.post(
                    mock.api + CREATE.removeprefix("/v1"),
                    json={"input": {"prompt": "held"}},
                    headers={**AUTH, "Prefer": "wait=60"},
                )
                return time.monotonic() - began, answer.json()["status"]

        with ThreadPoolExecutor(count) as pool:
            waits = [pool.submit(held_create, n) for n in range(count)]
            started.wait()
            listed: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while len(listed) < count and time.monotonic() < deadline:
                page = httpx.get(f"{mock.api}/predictions", headers=AUTH, timeout=10).json()
                listed = [p for p in page["results"] if p["input"]["prompt"] == "held"]
            assert len(listed) == count
            for prediction in listed:
                answer = httpx.post(
                    f"{mock.api}/predictions/{prediction['id']}/cancel", headers=AUTH, timeout=10
                )
                assert answer.json()["status"] == "canceled"
            results = [future.result(timeout=30) for future in waits]
        assert all(status == "canceled" for _, status in results), results
        assert max(seconds for seconds, _ in results) < 5, results  # not the 60 s wait
        # A clock move is seen by every later request, on either worker.
        httpx.post(f"{mock.root}/_mock/clock", json={"advance_seconds": 100}, headers=AUTH)
        assert {offset(mock) for _ in range(8)} == {100}
        assert {get(mock, made[-1]["id"])["status"] for _ in range(8)} == {"succeeded"}
        # A reset is seen by every later request, on either worker.
        assert httpx.post(f"{mock.root}/_mock/reset", headers=AUTH).status_code == 204
        for _ in range(8):
            answer = httpx.get(f"{mock.api}/predictions/{made[-1]['id']}", headers=AUTH)
            assert answer.status_code == 404

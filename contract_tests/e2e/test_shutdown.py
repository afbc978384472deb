"""Stopping a real server: SIGTERM or SIGINT with event streams and held waits open."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from contract_tests.support.servers import RunningMock, run_mock

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer r8_shutdown"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
STREAMS = 20
HELD = 3
#: The server's drain bound is 10 s; a clean stop takes well under a second here.
STOP_BOUND_SECONDS = 10.0
#: Predictions that stay 'starting' for the whole test.
LONG = ["--starting-seconds", "300", "--processing-seconds", "300"]


class Clients:
    """Streams and held waits open on one server, and how each one ended."""

    def __init__(self, mock: RunningMock) -> None:
        self.mock = mock
        self.ended: list[str] = []
        self.opened = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _record(self, outcome: str) -> None:
        with self._lock:
            self.ended.append(outcome)

    def _stream(self, url: str) -> None:
        try:
            with httpx.stream("GET", url, timeout=60) as response:
                lines = response.iter_lines()
                next(lines)  # the ": open" comment: the stream is open
                self.opened.release()
                for _ in lines:
                    pass
            self._record("stream ended")
        except httpx.HTTPError as error:
            self._record(f"stream broke: {error!r}")

    def _held(self) -> None:
        try:
            response = httpx.post(
                self.mock.root + CREATE,
                json={"input": {"prompt": "held"}},
                headers={**AUTH, "Prefer": "wait=60"},
                timeout=60,
            )
            self._record(f"held {response.status_code} {response.json()['status']}")
        except httpx.HTTPError as error:
            self._record(f"held broke: {error!r}")

    def open(self, streams: int, held: int) -> None:
        created = httpx.post(
            self.mock.root + CREATE, json={"input": {"prompt": "streamed"}}, headers=AUTH
        ).json()
        for _ in range(streams):
            self._start(self._stream, created["urls"]["stream"])
        for _ in range(streams):
            assert self.opened.acquire(timeout=20), "a stream did not open"
        for _ in range(held):
            self._start(self._held)
        _wait_for_held(self.mock, held)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(20)


def _wait_for_held(mock: RunningMock, count: int) -> None:
    """Until ``count`` held creates are stored (each is listed once it is held)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = httpx.get(mock.root + "/v1/predictions", headers=AUTH).json()
        if sum(item["input"].get("prompt") == "held" for item in page["results"]) >= count:
            time.sleep(0.2)  # listed once stored: give the handler time to start its wait
            return
        time.sleep(0.05)
    raise AssertionError("the held creates were not stored")


def _stop_and_time(mock: RunningMock, signum: int) -> tuple[int | None, float]:
    started = time.monotonic()
    mock.process.send_signal(signum)
    try:
        code = mock.process.wait(timeout=STOP_BOUND_SECONDS + 10)
    except Exception:
        return None, time.monotonic() - started
    return code, time.monotonic() - started


@pytest.fixture(params=["memory", "redis-2-workers"])
def server(request: pytest.FixtureRequest) -> Iterator[RunningMock]:
    args = list(LONG)
    if request.param != "memory":
        url = request.getfixturevalue("redis_url")
        prefix = f"shutdown-{uuid.uuid4().hex}:"
        args += ["--workers", "2", "--redis-url", url, "--redis-prefix", prefix]
    with run_mock(args) as mock:
        yield mock


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_answers_held_requests_ends_streams_and_exits_promptly(
    server: RunningMock, signum: int
) -> None:
    clients = Clients(server)
    clients.open(STREAMS, HELD)
    code, took = _stop_and_time(server, signum)
    clients.join()
    assert code == 0, f"exit code {code} after {took:.1f} s"
    assert took < STOP_BOUND_SECONDS, f"took {took:.1f} s to stop"
    # Every stream ended as a whole response, every held create answered with the
    # prediction as it stood: nothing was cut off.
    assert sorted(clients.ended) == sorted(
        ["stream ended"] * STREAMS + ["held 201 starting"] * HELD
    ), clients.ended

"""A stalled Redis (SIGSTOP) under a real ``imagen-mock serve --redis-url``: requests that
need no Redis answer as usual while one that needs it is stuck, those that need it get
503 with ``Retry-After`` within the store's timeout, and all is well after SIGCONT."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.redis_server import run_redis
from contract_tests.support.servers import RunningMock, run_mock
from mock_server.storage.replicas import SOCKET_TIMEOUT_SECONDS

#: Bound on every wait of the test.
BOUND = 30.0
#: Routes that need no Redis, with their status.
FREE = (("/openapi.yaml", 200), ("/v1/webhooks/default/secret", 200), ("/nowhere", 404))


@pytest.fixture
def stalled_setup(tmp_path: Path) -> Iterator[tuple[RunningMock, int, str, str]]:
    """A redis-server of this test, a mock on it, a prediction still running and one
    canceled and polled; yields (mock, redis-server's pid, the running one's id, the
    canceled one's id). redis-server is always resumed."""
    with run_redis(tmp_path) as url:
        client = redis.Redis.from_url(url)
        pid = int(client.info("server")["process_id"])
        client.close()
        try:
            with run_mock(["--redis-url", url, "--processing-seconds", "600"]) as mock:
                reply = httpx.post(mock.root + CREATE, headers=AUTH,
                                   json={"input": {"prompt": "stall"}}, timeout=BOUND)  # fmt: skip
                assert reply.status_code == 201, reply.text
                ended = httpx.post(mock.root + CREATE, headers=AUTH,
                                   json={"input": {"prompt": "ended"}}, timeout=BOUND)  # fmt: skip
                canceled = httpx.post(ended.json()["urls"]["cancel"], headers=AUTH, timeout=BOUND)
                assert canceled.json()["status"] == "canceled", canceled.text
                polled = httpx.get(ended.json()["urls"]["get"], headers=AUTH, timeout=BOUND)
                assert polled.json()["status"] == "canceled", polled.text  # now kept locally
                yield mock, pid, reply.json()["id"], ended.json()["id"]
        finally:
            os.kill(pid, signal.SIGCONT)


def test_a_redis_stall_holds_up_only_the_requests_that_need_redis(
    stalled_setup: tuple[RunningMock, int, str, str],
) -> None:
    mock, pid, prediction, ended = stalled_setup
    poll = f"{mock.api}/predictions/{prediction}"
    stuck: dict[str, object] = {}
    answered = threading.Event()

    def stuck_poll() -> None:
        started = time.monotonic()
        try:
            reply = httpx.get(poll, headers=AUTH, timeout=BOUND)
            stuck["status"] = reply.status_code
            stuck["retry_after"] = reply.headers.get("Retry-After")
        except httpx.HTTPError as error:
            stuck["status"] = repr(error)
        stuck["seconds"] = time.monotonic() - started
        answered.set()

    os.kill(pid, signal.SIGSTOP)
    try:
        poller = threading.Thread(target=stuck_poll, daemon=True)
        poller.start()
        time.sleep(0.2)  # the poll has reached the stalled Redis
        free_answered_while_stuck = 0
        with httpx.Client(timeout=BOUND) as client:
            for path, status in FREE * 3:
                reply = client.get(mock.root + path, headers=AUTH)
                assert reply.status_code == status, (path, reply.text)
                free_answered_while_stuck += not answered.is_set()
            # A poll of an ended prediction is answered from the local copy, no Redis.
            kept = client.get(f"{mock.api}/predictions/{ended}", headers=AUTH)
            assert (kept.status_code, kept.json()["status"]) == (200, "canceled"), kept.text
            assert kept.headers["ratelimit-remaining"], kept.headers
            assert not answered.is_set(), stuck
            # Every one of them came back while the poll was still waiting on Redis.
            assert free_answered_while_stuck == len(FREE) * 3, stuck
            assert answered.wait(SOCKET_TIMEOUT_SECONDS + 5), "the stuck poll never answered"
            assert stuck["status"] == 503, stuck
            assert stuck["retry_after"], stuck
            # Once Redis is known away, requests that need it are answered 503 at once
            # (well within the store's timeout), still with Retry-After.
            for _ in range(3):
                started = time.monotonic()
                reply = client.get(poll, headers=AUTH)
                seconds = time.monotonic() - started
                assert reply.status_code == 503, reply.text
                assert reply.headers.get("Retry-After"), reply.headers
                assert reply.headers["content-type"].startswith("application/problem+json")
                assert seconds < SOCKET_TIMEOUT_SECONDS / 2, seconds
            for path, status in FREE:
                assert client.get(mock.root + path, headers=AUTH).status_code == status
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + BOUND
    while httpx.get(poll, headers=AUTH, timeout=BOUND).status_code != 200:
        assert time.monotonic() < deadline, "the mock did not use Redis again after SIGCONT"
        time.sleep(0.05)

"""Replicas of ``imagen-mock serve`` on a real redis-server that loses its data: they keep
one webhook secret and one clock, and a replica joining meanwhile adopts them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.redis_server import run_redis
from contract_tests.support.servers import RunningMock, run_mock

pytestmark = pytest.mark.slow


def secret_of(mock: RunningMock) -> str:
    reply = httpx.get(f"{mock.api}/webhooks/default/secret", headers=AUTH, timeout=10)
    key: str = reply.json()["key"]
    return key


def offset_of(mock: RunningMock) -> float:
    reply = httpx.get(f"{mock.root}/_mock/clock", headers=AUTH, timeout=10)
    offset: float = reply.json()["offset_seconds"]
    return offset


def test_replicas_keep_one_secret_and_clock_when_redis_loses_its_data(tmp_path: Path) -> None:
    with run_redis(tmp_path) as url:
        args = ["--redis-url", url, "--redis-prefix", "lost:"]
        with run_mock(args) as first, run_mock(args) as second:
            moved = httpx.post(
                f"{first.root}/_mock/clock", json={"advance_seconds": 100}, headers=AUTH
            )
            assert moved.status_code == 200
            secret = secret_of(first)
            assert secret_of(second) == secret
            client = redis.Redis.from_url(url)
            try:
                client.flushall()
            finally:
                client.close()
            with run_mock(args) as third:
                assert {secret_of(mock) for mock in (first, second, third)} == {secret}
                assert {offset_of(mock) for mock in (first, second, third)} == {100.0}
                made = httpx.post(
                    third.api + CREATE.removeprefix("/v1"),
                    json={"input": {"prompt": "after the loss"}},
                    headers=AUTH,
                    timeout=10,
                )
                assert made.status_code == 201

"""Fixtures of the end-to-end tests, each set up once per session: a redis-server, and a
real ``imagen-mock serve --tls`` process.

``redis_url`` is one server for the whole session; ``redis_client`` and ``redis_prefix``
give each test its own client and its own key prefix, so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from contract_tests.support.redis_server import run_redis
from contract_tests.support.servers import RunningMock, run_mock


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a throwaway redis-server (skipped, or failed under CI, without the binary)."""
    with run_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's server, closed after the test."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture(scope="session")
def tls_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMock]:
    """A real ``imagen-mock serve --tls`` process with short phases."""
    tmp = tmp_path_factory.mktemp("tls")
    args = ["--starting-seconds", "0.2", "--processing-seconds", "0.3"]
    with run_mock(args, tls=True, tmp=tmp) as running:
        yield running

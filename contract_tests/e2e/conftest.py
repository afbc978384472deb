"""Fixtures for tests that need Redis: import them into the test module.

``redis_url`` is one server for the whole session; ``redis_client`` and ``redis_prefix``
give each test its own client and its own key prefix, so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from contract_tests.redis_server import run_redis


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

"""The quick lane on Redis (:mod:`mock_server.http.quick_poll`): it answers polls of
records held in this process (ended predictions) as the route does, and passes on
every poll that would need a round trip, and every poll when rate limits are counted
in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from contract_tests.support.apps import close_app
from contract_tests.support.constants import AUTH, TOKEN
from contract_tests.support.lanes import Lanes, compare
from contract_tests.support.redis_server import run_redis
from mock_server import FakeClock, create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with run_redis(tmp_path) as url:
        yield url


def _app(url: str, clock: FakeClock, **config: object) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "MOCK_REDIS_URL": url,
            "MOCK_CLOCK": clock,
            "MOCK_TOKEN": TOKEN,
            "MOCK_STARTING_SECONDS": 1.0,
            "MOCK_PROCESSING_SECONDS": 3.0,
            **config,
        }
    )


def test_on_redis_only_polls_of_ended_predictions_take_the_lane(
    redis_url: str, clock: FakeClock
) -> None:
    app = _app(redis_url, clock)
    try:
        lanes = Lanes(app)
        prediction = lanes.create()
        path = f"/v1/predictions/{prediction}"
        before = lanes.passed_on
        assert lanes.quick(path, headers=AUTH).json["status"] == "starting"  # type: ignore[index]
        assert lanes.passed_on == before + 1  # a running prediction is read from Redis
        clock.advance(5.0)
        assert lanes.quick(path, headers=AUTH).json["status"] == "succeeded"  # type: ignore[index]
        answer = compare(lanes, path, headers=AUTH)  # held here once read ended
        assert answer.json["status"] == "succeeded"  # type: ignore[index]
    finally:
        close_app(app)


def test_with_rate_limits_counted_in_redis_every_poll_goes_on_to_the_route(
    redis_url: str, clock: FakeClock
) -> None:
    app = _app(redis_url, clock, MOCK_ENFORCE_RATE_LIMITS=True)
    try:
        lanes = Lanes(app)
        prediction = lanes.create()
        clock.advance(5.0)
        path = f"/v1/predictions/{prediction}"
        before = lanes.passed_on
        for _ in range(2):  # the second of an ended one, held here
            answer = lanes.quick(path, headers=AUTH)
            assert answer.status_code == 200, answer.data
        assert lanes.passed_on == before + 2
    finally:
        close_app(app)

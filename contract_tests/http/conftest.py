"""Fixtures of the in-process HTTP tests: an app whose webhooks go to a recording transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.hooks import SECRET, Recorder, dispatcher_of
from mock_server import FakeClock, create_app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def hook_app(clock: FakeClock, recorder: Recorder) -> Iterator[Flask]:
    """A mock on a fake clock whose deliveries go to ``recorder``; drive it with ``pump``."""
    app = create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_STARTING_SECONDS": 1.0,
            "MOCK_PROCESSING_SECONDS": 3.0,
            "MOCK_WEBHOOK_SECRET": SECRET,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(recorder),
        }
    )
    yield app
    dispatcher_of(app).close()


@pytest.fixture
def hook_client(hook_app: Flask) -> FlaskClient:
    return hook_app.test_client()

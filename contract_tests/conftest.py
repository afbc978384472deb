"""Shared fixtures: an app on a fake clock, its test client, and auth headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.servers import RunningMock, run_mock
from mock_server import FakeClock, create_app

TOKEN = "r8_test_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "openapi" / "openapi.yaml"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    """A mock whose predictions start after 1 s and run for 3 s of fake time."""
    return create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_STARTING_SECONDS": 1.0,
            "MOCK_PROCESSING_SECONDS": 3.0,
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def tls_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMock]:
    """A real ``imagen-mock serve --tls`` process with short phases."""
    tmp = tmp_path_factory.mktemp("tls")
    args = ["--starting-seconds", "0.2", "--processing-seconds", "0.3"]
    with run_mock(args, tls=True, tmp=tmp) as running:
        yield running

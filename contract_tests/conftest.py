"""Fixtures every layer shares (an app on a fake clock and its test client), and the
layer markers: each test is marked by the folder it lives in.

| folder | marker | what its tests start |
|---|---|---|
| ``unit/`` | ``unit`` | nothing: pure logic on a fake clock, no sockets |
| ``http/`` | ``http`` | the Flask app in-process (test client, or a werkzeug thread on loopback) |
| ``e2e/`` | ``e2e`` | real processes: ``imagen-mock serve``, redis-server, the official clients, a browser |
| ``contract/``, ``live/`` | ``contract`` | schemathesis, the generated client, the live suite and drift |

``make test-fast`` runs ``unit`` and ``http``; ``make test`` runs everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mock_server import FakeClock, create_app

HERE: Final = Path(__file__).resolve().parent
LAYERS: Final = {
    "unit": "unit",
    "http": "http",
    "e2e": "e2e",
    "contract": "contract",
    "live": "contract",
}


def layer_of(path: Path) -> str | None:
    """The layer marker of a test file under ``contract_tests/``, None outside a layer folder."""
    parts = path.resolve().relative_to(HERE).parts
    return LAYERS.get(parts[0]) if len(parts) > 1 else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer; a test file outside the layer folders is an error."""
    strays: set[str] = set()
    for item in items:
        try:
            layer = layer_of(item.path)
        except ValueError:  # not under contract_tests/ (a pytester run, say)
            continue
        if layer is None:
            strays.add(str(item.path.relative_to(HERE.parent)))
            continue
        item.add_marker(getattr(pytest.mark, layer))
    if strays:
        folders = ", ".join(f"{name}/" for name in LAYERS)
        raise pytest.UsageError(
            f"test files outside a layer folder ({folders}): {', '.join(sorted(strays))}"
        )


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

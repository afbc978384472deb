"""Webhooks through the app in-process: a recording transport and a create with a webhook.

Nothing here reaches beyond the process: deliveries go to an ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE
from mock_server.http import context
from mock_server.http.app import new_webhook_secret
from mock_server.webhooks.delivery import WebhookDispatcher

SECRET = new_webhook_secret()
HOOK = "http://127.0.0.1:9/hook"


def dispatcher_of(app: Flask) -> WebhookDispatcher:
    """The app's webhook dispatcher (every app made by ``create_app`` has one)."""
    state = context.state(app)
    assert state.webhooks is not None
    return state.webhooks


class Recorder:
    """An ``httpx.MockTransport`` handler that answers 200 and keeps the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


def create(
    client: FlaskClient,
    path: str = CREATE,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """Create a prediction whose webhook is :data:`HOOK`; its JSON (a 201 is asserted)."""
    response = client.post(
        path,
        headers={**AUTH, **(headers or {})},
        json={"input": {"prompt": "a lighthouse at dawn"}, "webhook": HOOK, **body},
    )
    assert response.status_code == 201, response.data
    created: dict[str, Any] = response.get_json()
    return created

"""Webhooks through the API: the Flask test client on a fake clock, then a real
``imagen-mock serve`` delivering to a receiver on 127.0.0.1.

Nothing here reaches beyond 127.0.0.1: the in-process deliveries go to an
``httpx.MockTransport``, and hosts outside the allow-list are never contacted.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from replicate.webhook import Webhooks, WebhookSigningSecret

from contract_tests.conftest import AUTH, CREATE
from contract_tests.servers import RunningMock, run_mock
from mock_server import FakeClock, create_app
from mock_server.http import api
from mock_server.http.app import new_webhook_secret
from mock_server.serving.cli import main, parse_settings
from mock_server.webhooks.delivery import WebhookDispatcher

SECRET = new_webhook_secret()
HOOK = "http://127.0.0.1:9/hook"
T = TypeVar("T")


def dispatcher_of(app: Flask) -> WebhookDispatcher:
    state = api.state(app)
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


def create(
    client: FlaskClient,
    path: str = CREATE,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    response = client.post(
        path,
        headers={**AUTH, **(headers or {})},
        json={"input": {"prompt": "a lighthouse at dawn"}, "webhook": HOOK, **body},
    )
    assert response.status_code == 201, response.data
    created: dict[str, Any] = response.get_json()
    return created


def settle(app: Flask, clock: FakeClock) -> None:
    """Pump deliveries, moving the fake clock to each due time, until none are pending."""
    dispatcher = dispatcher_of(app)
    for _ in range(100):
        dispatcher.pump()
        due = dispatcher.next_due()
        if due is None:
            return
        clock.advance(max(due - clock.now(), 0.0))
    raise AssertionError("deliveries did not settle")


# --- validation of the create body ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://localhost/hook", "localhost:8000/hook", "javascript:alert(1)", "file:///etc/passwd"],
)
def test_a_webhook_that_is_not_http_is_a_422(client: FlaskClient, url: str) -> None:
    response = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}, "webhook": url})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = response.get_json()["invalid_fields"]
    assert [(item["type"], item["field"]) for item in fields] == [("pattern", "webhook")]


@pytest.mark.parametrize(
    ("events", "kind"), [(["finished"], "enum"), (["start", "start"], "unique")]
)
def test_a_bad_events_filter_is_a_422(client: FlaskClient, events: list[str], kind: str) -> None:
    response = client.post(
        CREATE,
        headers=AUTH,
        json={"input": {"prompt": "x"}, "webhook": HOOK, "webhook_events_filter": events},
    )
    assert response.status_code == 422
    assert response.get_json()["invalid_fields"][0]["type"] == kind


# --- deliveries through the API -------------------------------------------------------


def test_the_lifecycle_is_delivered_signed_with_this_servers_urls(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(hook_client, "/replicate/v1/models/google/imagen-4-ultra/predictions")
    assert recorder.requests == [], "nothing is sent from the request itself"
    settle(hook_app, clock)
    bodies = recorder.bodies()
    assert [body["status"] for body in bodies] == ["processing"] * 4 + ["succeeded"] * 3
    assert all(body["id"] == created["id"] for body in bodies)
    assert bodies[-1]["urls"] == created["urls"]
    assert bodies[-1]["urls"]["get"].startswith("http://localhost/replicate/v1/predictions/")
    assert bodies[-1]["output"] == f"http://localhost/delivery/{created['id']}/output.jpg"
    served = hook_client.get("/v1/webhooks/default/secret", headers=AUTH).get_json()["key"]
    assert served == SECRET
    for request in recorder.requests:
        Webhooks.validate(
            headers=dict(request.headers),
            body=request.content.decode(),
            secret=WebhookSigningSecret(key=served),
        )
    events = [a["event"] for a in deliveries(hook_client, prediction_id=created["id"])]
    assert events == ["start", "logs", "logs", "logs", "logs", "output", "completed"]


def test_the_events_filter_is_applied(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    create(hook_client, webhook_events_filter=["start", "completed"])
    create(hook_client, webhook_events_filter=[])
    settle(hook_app, clock)
    assert [body["status"] for body in recorder.bodies()] == ["processing", "succeeded"]


def test_a_cancel_through_the_api_delivers_completed_canceled(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(hook_client)
    clock.advance(2.0)
    canceled = hook_client.post(f"/v1/predictions/{created['id']}/cancel", headers=AUTH)
    assert canceled.get_json()["status"] == "canceled"
    settle(hook_app, clock)
    final = recorder.bodies()[-1]
    assert final["status"] == "canceled"
    assert final["completed_at"] == canceled.get_json()["completed_at"]
    last = deliveries(hook_client, prediction_id=created["id"])[-1]
    assert (last["event"], json.loads(last["request"]["body"])["status"]) == (
        "completed",
        "canceled",
    )


def test_a_cancel_after_deadline_delivers_completed_aborted(recorder: Recorder) -> None:
    clock = FakeClock()
    app = create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_STARTING_SECONDS": 10.0,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(recorder),
        }
    )
    try:
        create(app.test_client(), headers={"Cancel-After": "5s"})
        settle(app, clock)
    finally:
        dispatcher_of(app).close()
    assert [body["status"] for body in recorder.bodies()] == ["aborted"]


def test_hosts_outside_the_allow_list_are_logged_not_contacted(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(
        hook_client, webhook="https://example.com/hook", webhook_events_filter=["completed"]
    )
    settle(hook_app, clock)
    assert recorder.requests == []
    [attempt] = deliveries(hook_client, prediction_id=created["id"])
    assert attempt["delivered"] is False
    assert attempt["status_code"] is None
    assert attempt["retry_at"] is None
    assert attempt["error"] == "host 'example.com' is not in the allowed webhook hosts"


def test_requests_are_not_held_by_a_slow_receiver() -> None:
    """With a real clock the thread delivers; a receiver that hangs blocks no request."""
    release = threading.Event()
    reached = threading.Event()

    def hang(request: httpx.Request) -> httpx.Response:
        reached.set()
        release.wait(5)
        return httpx.Response(200)

    app = create_app(
        {
            "TESTING": True,
            "MOCK_STARTING_SECONDS": 0.0,
            "MOCK_PROCESSING_SECONDS": 0.0,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(hang),
        }
    )
    client = app.test_client()
    try:
        assert not dispatcher_of(app).is_running()
        created = create(client)
        assert dispatcher_of(app).is_running()
        assert reached.wait(5), "the thread did not deliver"
        started = time.monotonic()
        assert client.get(f"/v1/predictions/{created['id']}", headers=AUTH).status_code == 200
        create(client)
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        dispatcher_of(app).close()
    assert not dispatcher_of(app).is_running()


# --- the admin API --------------------------------------------------------------------


def deliveries(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    response = client.get("/_mock/webhooks/deliveries", headers=AUTH, query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    results: list[dict[str, Any]] = response.get_json()["results"]
    return results


def test_admin_lists_filters_and_clears(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock
) -> None:
    first = create(hook_client, webhook_events_filter=["start", "completed"])
    second = create(hook_client, webhook_events_filter=["completed"])
    settle(hook_app, clock)
    everything = deliveries(hook_client)
    assert [(a["prediction_id"], a["event"]) for a in everything] == [
        (first["id"], "start"),
        (first["id"], "completed"),
        (second["id"], "completed"),
    ]
    attempt = everything[0]
    assert set(attempt) == {
        "prediction_id",
        "event",
        "webhook_id",
        "url",
        "attempt",
        "attempted_at",
        "delivered",
        "status_code",
        "error",
        "retry_at",
        "request",
    }
    assert (attempt["url"], attempt["attempt"], attempt["status_code"]) == (HOOK, 1, 200)
    assert attempt["request"]["headers"]["webhook-id"] == attempt["webhook_id"]
    assert json.loads(attempt["request"]["body"])["id"] == first["id"]
    assert len(deliveries(hook_client, prediction_id=second["id"])) == 1
    assert len(deliveries(hook_client, event="completed")) == 2
    assert deliveries(hook_client, prediction_id="nope") == []
    cleared = hook_client.delete("/_mock/webhooks/deliveries", headers=AUTH)
    assert (cleared.status_code, cleared.data) == (204, b"")
    assert deliveries(hook_client) == []


def test_admin_errors_are_problems(hook_client: FlaskClient) -> None:
    missing = hook_client.get("/_mock/webhooks/deliveries")
    assert (missing.status_code, missing.mimetype) == (401, "application/problem+json")
    assert missing.get_json()["detail"] == "You did not pass an authentication token"
    bad = hook_client.get("/_mock/webhooks/deliveries?event=finished", headers=AUTH)
    assert bad.status_code == 422
    assert bad.get_json()["invalid_fields"][0]["field"] == "event"
    wrong_method = hook_client.post("/_mock/webhooks/deliveries", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_admin_takes_the_pinned_token() -> None:
    app = create_app({"TESTING": True, "MOCK_TOKEN": "only-this", "MOCK_CLOCK": FakeClock()})
    client = app.test_client()
    wrong = client.get("/_mock/webhooks/deliveries", headers=AUTH)
    assert wrong.status_code == 401
    good = client.get("/_mock/webhooks/deliveries", headers={"Authorization": "Bearer only-this"})
    assert good.get_json() == {"results": []}


def test_a_malformed_pinned_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_app({"MOCK_WEBHOOK_SECRET": "not-a-secret"})


# --- the command line -----------------------------------------------------------------


def test_cli_webhook_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for text in (
        "--webhook-secret",
        "IMAGEN_MOCK_WEBHOOK_SECRET",
        "--webhook-allowed-hosts",
        "IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS",
    ):
        assert text in help_text
    monkeypatch.delenv("IMAGEN_MOCK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS", raising=False)
    defaults = parse_settings([])
    assert (defaults.webhook_secret, defaults.webhook_allowed_hosts) == (
        None,
        frozenset({"localhost", "127.0.0.1", "::1"}),
    )
    monkeypatch.setenv("IMAGEN_MOCK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS", "*")
    from_env = parse_settings([])
    assert (from_env.webhook_secret, from_env.webhook_allowed_hosts) == (SECRET, frozenset({"*"}))


def test_cli_refuses_a_malformed_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--webhook-secret", "whsec_not base64"]) == 2
    err = capsys.readouterr().err
    assert "--webhook-secret" in err
    assert len(err.splitlines()) == 1


# --- end to end: a real server and a receiver on 127.0.0.1 ----------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float


class LocalReceiver:
    """An HTTP server on a free 127.0.0.1 port that records POSTs.

    ``script[path]`` lists the statuses to answer on that path, in turn (then 200);
    302 answers carry ``Location: /target``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.script: dict[str, list[int]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    owner.received.append(
                        Received(self.path, dict(self.headers), body.decode(), time.monotonic())
                    )
                    steps = owner.script.get(self.path, [])
                    status = steps.pop(0) if steps else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", owner.url("/target"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if item.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def wait_for(check: Callable[[], T | None], seconds: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {seconds} s")


def at_least(count: int, fetch: Callable[[], list[T]]) -> Callable[[], list[T] | None]:
    """A check for :func:`wait_for`: what ``fetch`` returns once it has ``count`` items."""

    def check() -> list[T] | None:
        items = fetch()
        return items if len(items) >= count else None

    return check


@pytest.fixture(scope="module")
def receiver() -> Iterator[LocalReceiver]:
    made = LocalReceiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hook_mock() -> Iterator[RunningMock]:
    args = [
        "--starting-seconds",
        "0.2",
        "--processing-seconds",
        "1.0",
        "--webhook-secret",
        SECRET,
    ]
    with run_mock(args) as running:
        yield running


def e2e_create(mock: RunningMock, webhook: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{mock.api}/models/google/imagen-4-ultra/predictions",
        headers=AUTH,
        json={"input": {"prompt": "a red fox"}, "webhook": webhook, **body},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def e2e_deliveries(mock: RunningMock, prediction_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{mock.root}/_mock/webhooks/deliveries",
        params={"prediction_id": prediction_id},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def terminal(items: list[Received]) -> list[Received] | None:
    done = [item for item in items if json.loads(item.body)["status"] != "processing"]
    return items if done else None


@pytest.mark.slow
def test_e2e_events_arrive_in_order_and_validate(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    created = e2e_create(hook_mock, receiver.url("/order"))
    got = wait_for(lambda: terminal(receiver.at("/order")))
    log = wait_for(at_least(6, lambda: e2e_deliveries(hook_mock, created["id"])))
    event_of = {entry["webhook_id"]: entry["event"] for entry in log}
    arrived = [event_of[item.headers["webhook-id"]] for item in receiver.at("/order")]
    assert arrived == ["start", "logs", "logs", "logs", "output", "completed"]
    assert all(entry["delivered"] and entry["attempt"] == 1 for entry in log)
    key = httpx.get(f"{hook_mock.api}/webhooks/default/secret", headers=AUTH).json()["key"]
    assert key == SECRET
    for item in receiver.at("/order"):
        Webhooks.validate(
            headers=item.headers, body=item.body, secret=WebhookSigningSecret(key=key)
        )
        assert abs(int(item.headers["webhook-timestamp"]) - time.time()) < 60
    final = json.loads(got[-1].body)
    assert final["status"] == "succeeded"
    assert final["urls"]["get"] == f"{hook_mock.api}/predictions/{created['id']}"
    assert final["output"] == f"{hook_mock.root}/delivery/{created['id']}/output.jpg"


@pytest.mark.slow
def test_e2e_a_failing_receiver_gets_retries_with_one_webhook_id(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    with receiver.lock:
        receiver.script["/flaky"] = [500, 500]
    created = e2e_create(hook_mock, receiver.url("/flaky"), webhook_events_filter=["completed"])
    got = wait_for(at_least(3, lambda: receiver.at("/flaky")))
    assert len({item.headers["webhook-id"] for item in got}) == 1
    assert len({item.body for item in got}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[0] >= 0.4
    assert gaps[1] >= 0.9
    log = wait_for(at_least(3, lambda: e2e_deliveries(hook_mock, created["id"])))
    assert [(e["attempt"], e["status_code"], e["delivered"]) for e in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    time.sleep(0.3)
    assert len(receiver.at("/flaky")) == 3, "a delivered event is not sent again"


@pytest.mark.slow
def test_e2e_a_redirect_is_not_followed(hook_mock: RunningMock, receiver: LocalReceiver) -> None:
    with receiver.lock:
        receiver.script["/moved"] = [302, 302]
    created = e2e_create(hook_mock, receiver.url("/moved"), webhook_events_filter=["completed"])
    log = wait_for(at_least(2, lambda: e2e_deliveries(hook_mock, created["id"])))
    assert [(e["status_code"], e["delivered"]) for e in log[:2]] == [(302, False), (302, False)]
    assert log[0]["error"] == "HTTP 302; redirects are not followed"
    assert log[0]["webhook_id"] == log[1]["webhook_id"]
    assert receiver.at("/target") == []


@pytest.mark.slow
def test_e2e_a_cancel_delivers_completed_canceled(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    created = e2e_create(hook_mock, receiver.url("/cancel"))
    canceled = httpx.post(
        f"{hook_mock.api}/predictions/{created['id']}/cancel", headers=AUTH, timeout=10
    )
    assert canceled.json()["status"] == "canceled"
    got = wait_for(lambda: terminal(receiver.at("/cancel")))
    assert json.loads(got[-1].body)["status"] == "canceled"
    log = wait_for(lambda: e2e_deliveries(hook_mock, created["id"]))
    assert log[-1]["event"] == "completed"


@pytest.mark.slow
def test_e2e_other_hosts_are_refused(hook_mock: RunningMock) -> None:
    created = e2e_create(
        hook_mock, "http://webhook.invalid/hook", webhook_events_filter=["completed"]
    )
    log = wait_for(lambda: e2e_deliveries(hook_mock, created["id"]))
    assert log[0]["error"] == "host 'webhook.invalid' is not in the allowed webhook hosts"
    assert log[0]["status_code"] is None

"""The quick lane (:mod:`mock_server.http.quick_poll`) answers a plain poll exactly as
Flask's route does, and leaves every other request to that route untouched.

Each comparison sends one request twice to one app, on a fake clock: once to the app
(the lane first) and once straight to Flask's ``wsgi_app`` behind the lane. A spy on
that ``wsgi_app`` tells which requests the lane passed on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from contract_tests.support.apps import close_app
from contract_tests.support.constants import AUTH, CREATE, TOKEN
from contract_tests.support.lanes import Lanes, compare
from mock_server import FakeClock, create_app
from mock_server.http import context

pytestmark = pytest.mark.http


@pytest.fixture(params=["memory", "data-dir"])
def lanes(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Lanes]:
    config: dict[str, Any] = {
        "TESTING": True,
        "MOCK_CLOCK": clock,
        "MOCK_TOKEN": TOKEN,
        "MOCK_STARTING_SECONDS": 1.0,
        "MOCK_PROCESSING_SECONDS": 3.0,
    }
    if request.param == "data-dir":
        config["MOCK_DATA_DIR"] = tmp_path / "data"
    app = create_app(config)
    yield Lanes(app)
    close_app(app)


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_a_poll_in_each_state_is_answered_as_the_route_answers_it(
    lanes: Lanes, clock: FakeClock, prefix: str
) -> None:
    prediction = lanes.create(prefix)
    seen = []
    for step in (0.0, 2.0, 5.0):  # starting, processing, succeeded
        clock.advance(step)
        answer = compare(lanes, f"{prefix}/predictions/{prediction}", headers=AUTH)
        seen.append(answer.json["status"])  # type: ignore[index]
        assert answer.json["urls"]["get"] == f"http://localhost{prefix}/predictions/{prediction}"  # type: ignore[index]
    assert seen == ["starting", "processing", "succeeded"]


def test_a_poll_with_a_query_and_other_headers_is_answered_as_the_route_answers_it(
    lanes: Lanes,
) -> None:
    prediction = lanes.create()
    headers = {**AUTH, "User-Agent": "replicate-python/1.0.7", "Accept": "*/*"}
    compare(
        lanes,
        f"/v1/predictions/{prediction}",
        query_string="a=1&b=two",
        headers=headers,
        base_url="http://mock.example:8000",
    )


_OTHERS: dict[str, tuple[str, dict[str, Any], int]] = {
    "unknown id": ("/v1/predictions/nosuchprediction00000000000", {"headers": AUTH}, 404),
    "no token": ("/v1/predictions/{id}", {}, 401),
    "wrong token": ("/v1/predictions/{id}", {"headers": {"Authorization": "Bearer r8_no"}}, 401),
    "scenario header": (
        "/v1/predictions/{id}",
        {"headers": {**AUTH, "X-Mock-Fault": "503"}},
        503,
    ),
    "id not shaped like Replicate's": ("/v1/predictions/NoSuch", {"headers": AUTH}, 404),
    "trailing slash": ("/v1/predictions/{id}/", {"headers": AUTH}, 404),
    "head": ("/v1/predictions/{id}", {"method": "HEAD", "headers": AUTH}, 200),
    "a body": ("/v1/predictions/{id}", {"headers": AUTH, "data": b"{}"}, 200),
    "an empty body": (
        "/v1/predictions/{id}",
        {"headers": AUTH, "environ_overrides": {"CONTENT_LENGTH": "0"}},
        200,
    ),
    "an upgrade": ("/v1/predictions/{id}", {"headers": {**AUTH, "Upgrade": "h2c"}}, 200),
    "a websocket scheme": (
        "/v1/predictions/{id}",
        {"headers": AUTH, "environ_overrides": {"wsgi.url_scheme": "ws"}},
        400,
    ),
    "a host Flask refuses": (
        "/v1/predictions/{id}",
        {"headers": {**AUTH, "Host": "bad..host"}},
        400,
    ),
}


@pytest.mark.parametrize("case", list(_OTHERS))
def test_every_other_request_goes_on_to_the_route_untouched(lanes: Lanes, case: str) -> None:
    prediction = lanes.create()
    path, kwargs, status = _OTHERS[case]
    path = path.format(id=prediction)
    lanes.passed_on_to_route(path, status, **kwargs)
    entries = context.observer(lanes.app).journal.entries()  # type: ignore[union-attr]
    assert sum(entry.path == path for entry in entries) == 1  # journaled once, by the route


def test_a_request_passed_on_was_not_counted_by_the_lane(lanes: Lanes) -> None:
    prediction = lanes.create()
    first = int(
        lanes.quick(f"/v1/predictions/{prediction}", headers=AUTH).headers["ratelimit-remaining"]
    )
    assert (
        lanes.quick("/v1/predictions/nosuchprediction00000000000", headers=AUTH).status_code == 404
    )
    after = int(
        lanes.quick(f"/v1/predictions/{prediction}", headers=AUTH).headers["ratelimit-remaining"]
    )
    assert after == first - 2  # the 404 (counted by the route) and this poll


def test_with_a_rule_set_every_poll_goes_on_to_the_route(lanes: Lanes) -> None:
    prediction = lanes.create()
    rule = {"match": {"route": "get"}, "fault": "500", "times": 1}
    assert lanes.quick("/_mock/rules", headers=AUTH, method="POST", json=rule).status_code == 201
    lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 500, headers=AUTH)
    # The rule is used up, but still set until deleted: polls still go to the route.
    lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 200, headers=AUTH)


def test_a_read_that_fails_goes_on_to_the_route(
    lanes: Lanes, monkeypatch: pytest.MonkeyPatch
) -> None:
    prediction = lanes.create()
    store = context.state(lanes.app).service.store
    real_get = store.get
    calls = []

    def fail_once(prediction_id: str) -> Any:
        calls.append(prediction_id)
        if len(calls) == 1:
            raise OSError("disk gone")
        return real_get(prediction_id)

    monkeypatch.setattr(store, "get", fail_once)
    lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 200, headers=AUTH)  # read again
    assert calls == [prediction, prediction]


def test_past_an_enforced_limit_the_route_answers_429(clock: FakeClock) -> None:
    app = create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_TOKEN": TOKEN,
            "MOCK_ENFORCE_RATE_LIMITS": True,
        }
    )
    lanes = Lanes(app)
    prediction = lanes.create()
    statuses = [
        lanes.quick(f"/v1/predictions/{prediction}", headers=AUTH).status_code for _ in range(3000)
    ]
    assert statuses == [200] * 3000  # 3000 a minute (creates are counted apart)
    lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 429, headers=AUTH)
    assert lanes.last_entry()["status"] == 429
    assert lanes.requests_total(429) == 1


def _app(clock: FakeClock, **config: Any) -> Lanes:
    return Lanes(create_app({"TESTING": True, "MOCK_CLOCK": clock, "MOCK_TOKEN": TOKEN, **config}))


def test_with_global_faults_every_poll_goes_on_to_the_route(clock: FakeClock) -> None:
    lanes = _app(clock, MOCK_FAULTS="500:0.5", MOCK_SEED=1)
    prediction = None
    while prediction is None:  # the faults hit creates too
        made = lanes.quick(CREATE, json={"input": {"prompt": "a fox"}}, headers=AUTH, method="POST")
        prediction = made.json["id"] if made.status_code == 201 else None  # type: ignore[index]
    before = lanes.passed_on
    path = f"/v1/predictions/{prediction}"
    statuses = {lanes.quick(path, headers=AUTH).status_code for _ in range(20)}
    assert statuses == {200, 500}
    assert lanes.passed_on == before + 20


def test_a_chunked_poll_goes_on_to_the_route(lanes: Lanes) -> None:
    prediction = lanes.create()
    environ = EnvironBuilder(
        f"/v1/predictions/{prediction}", headers=[*AUTH.items(), ("Transfer-Encoding", "chunked")]
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True
    started: list[str] = []
    before = lanes.passed_on
    start: Any = lambda status, headers, *_: started.append(status)  # noqa: E731
    b"".join(lanes.app.wsgi_app(environ, start))
    assert lanes.passed_on == before + 1
    assert started == ["200 OK"]


def test_with_trusted_hosts_set_every_poll_goes_on_to_the_route(clock: FakeClock) -> None:
    lanes = _app(clock, TRUSTED_HOSTS=["only.example"])
    body = {"input": {"prompt": "a fox"}}
    trusted = "http://only.example"
    made = lanes.quick(CREATE, json=body, headers=AUTH, method="POST", base_url=trusted)
    assert made.status_code == 201, made.data
    path = f"/v1/predictions/{made.json['id']}"  # type: ignore[index]
    lanes.passed_on_to_route(path, 200, headers=AUTH, base_url=trusted)
    lanes.passed_on_to_route(path, 400, headers=AUTH)  # localhost: Flask refuses the host


def test_a_request_whose_journal_capture_fails_is_counted_not_journaled(
    lanes: Lanes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mock_server.http import gate

    prediction = lanes.create()
    journal = context.observer(lanes.app).journal
    assert journal is not None
    kept, counted = len(journal.entries()), lanes.requests_total(200)

    def broken(*_: object) -> None:
        raise RuntimeError("capture broke")

    monkeypatch.setattr(gate, "_answer_parts", broken)
    answer = lanes.flask(f"/v1/predictions/{prediction}", headers=AUTH)
    assert answer.status_code == 200
    assert lanes.requests_total(200) == counted + 1
    assert len(journal.entries()) == kept


@pytest.mark.parametrize(
    ("forwarded", "route_status"),
    [
        ({"X-Forwarded-Host": "api.example", "X-Forwarded-Proto": "https"}, None),
        ({"X-Forwarded-Proto": "ws"}, 400),
        ({"X-Forwarded-Prefix": "/mock"}, 200),
    ],
)
def test_behind_a_trusted_proxy(
    clock: FakeClock, forwarded: dict[str, str], route_status: int | None
) -> None:
    """Answered by the lane (``route_status`` None) or by the route, with that status."""
    lanes = _app(clock, MOCK_TRUSTED_PROXIES=1)
    prediction = lanes.create()
    path = f"/v1/predictions/{prediction}"
    if route_status is None:
        answer = compare(lanes, path, headers={**AUTH, **forwarded})
        assert answer.json["urls"]["get"] == f"https://api.example{path}"  # type: ignore[index]
    else:
        lanes.passed_on_to_route(path, route_status, headers={**AUTH, **forwarded})


def test_with_the_journal_off_the_lane_still_counts_each_poll(clock: FakeClock) -> None:
    lanes = _app(clock, MOCK_JOURNAL_LIMIT=0)
    prediction = lanes.create()
    before, counted = lanes.passed_on, lanes.requests_total(200)
    assert lanes.quick(f"/v1/predictions/{prediction}", headers=AUTH).status_code == 200
    assert (lanes.passed_on, lanes.requests_total(200)) == (before, counted + 1)


def test_a_record_past_its_ttl_goes_on_to_the_route(clock: FakeClock) -> None:
    lanes = _app(clock, MOCK_RECORD_TTL_SECONDS=60.0)
    prediction = lanes.create()
    clock.advance(61.0)
    lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 404, headers=AUTH)


def test_a_screen_whose_check_fails_leaves_the_request_to_the_route(
    lanes: Lanes, monkeypatch: pytest.MonkeyPatch
) -> None:
    prediction = lanes.create()
    (screen,) = context.state(lanes.app).screens

    def broken(environ: dict[str, Any]) -> bool:
        raise OSError("rules unreadable")

    monkeypatch.setattr(type(screen), "idle", lambda self, environ: broken(environ))
    answer = lanes.passed_on_to_route(f"/v1/predictions/{prediction}", 500, headers=AUTH)
    assert answer.json["title"]  # type: ignore[index]


def test_the_state_is_read_per_request(lanes: Lanes) -> None:
    from dataclasses import replace

    from flask import Response

    prediction = lanes.create()
    mock = context.state(lanes.app)

    def teapot(environ: dict[str, Any]) -> Response:
        return Response(status=418)

    lanes.app.extensions[context.EXTENSION] = replace(mock, screens=(*mock.screens, teapot))
    try:
        answer = lanes.quick(f"/v1/predictions/{prediction}", headers=AUTH)
    finally:
        lanes.app.extensions[context.EXTENSION] = mock
    assert answer.status_code == 418

"""Both lanes of one app side by side: the quick lane (:mod:`mock_server.http.quick_poll`)
and Flask's route behind it, and the check that they answer a request alike."""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client, TestResponse

from contract_tests.support.constants import AUTH, CREATE
from mock_server.http import context
from mock_server.http.quick_poll import QuickPolls

__all__ = ["Lanes", "compare"]


class Lanes:
    """One app, reached through the lane (:meth:`quick`) or past it (:meth:`flask`)."""

    def __init__(self, app: Flask) -> None:
        outer = app.wsgi_app  # the lane, or a ProxyFix (--trusted-proxies) in front of it
        lane = outer.app if isinstance(outer, ProxyFix) else outer
        assert isinstance(lane, QuickPolls), "the quick lane is not installed"
        self.app = app
        self.passed_on = 0
        inner = lane.inner

        def spy(environ: dict[str, Any], start_response: Any) -> Any:
            self.passed_on += 1
            return inner(environ, start_response)

        lane.inner = spy
        self._quick = app.test_client()
        past: Any = inner
        if isinstance(outer, ProxyFix):  # the same proxy in front of Flask alone
            past = copy.copy(outer)
            past.app = inner
        self._flask = Client(past, TestResponse)

    def quick(self, path: str, **kwargs: Any) -> TestResponse:
        return self._quick.open(path, **kwargs)

    def passed_on_to_route(self, path: str, status: int, **kwargs: Any) -> TestResponse:
        """Send ``path`` to the app; assert the lane passed it on to Flask and the route
        answered ``status``; the answer."""
        before = self.passed_on
        answer = self._quick.open(path, **kwargs)
        assert self.passed_on == before + 1, f"the lane answered {path} itself"
        assert answer.status_code == status, answer.data
        return answer

    def flask(self, path: str, **kwargs: Any) -> TestResponse:
        return self._flask.open(path, environ_base=self._quick.environ_base, **kwargs)

    def create(self, prefix: str = "/v1") -> str:
        answer = self._quick.post(
            prefix + CREATE.removeprefix("/v1"), json={"input": {"prompt": "a fox"}}, headers=AUTH
        )
        assert answer.status_code == 201, answer.data
        return str(answer.json["id"])  # type: ignore[index]

    def last_entry(self) -> dict[str, Any]:
        journal = context.observer(self.app).journal
        assert journal is not None
        return journal.entries()[-1].as_dict()

    def requests_total(self, status: int) -> float:
        text = self._flask.get("/metrics").get_data(as_text=True)  # not through the spy
        sample = f'imagen_mock_requests_total{{route="get",status="{status}"}} '
        for line in text.splitlines():
            if line.startswith(sample):
                return float(line.removeprefix(sample))
        return 0.0


def _without_remaining(headers: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """The headers but ``ratelimit-remaining`` (one less on the second request), and it."""
    kept = [(name, value) for name, value in headers if name != "ratelimit-remaining"]
    (remaining,) = (int(value) for name, value in headers if name == "ratelimit-remaining")
    return kept, remaining


def _same_entry(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Two journal entries of the same request alike, but for what must differ."""
    for entry in (first, second):
        del entry["id"], entry["duration_ms"]
        entry["response_headers"], _ = _without_remaining(
            [(name, value) for name, value in entry["response_headers"]]
        )
    assert first == second


def compare(lanes: Lanes, path: str, **kwargs: Any) -> TestResponse:
    """Send ``path`` through the lane, then past it; assert the lane answered it itself,
    the two answers and their journal entries alike, each counted once in the metrics
    and against the token; the lane's answer."""
    before, counted = lanes.passed_on, lanes.requests_total(200)
    quick = lanes.quick(path, **kwargs)
    assert lanes.passed_on == before, f"the lane passed {path} on to Flask"
    assert lanes.requests_total(200) == counted + 1
    quick_entry = lanes.last_entry()
    flask = lanes.flask(path, **kwargs)
    assert lanes.requests_total(200) == counted + 2
    flask_entry = lanes.last_entry()
    assert (quick.status, quick.get_data()) == (flask.status, flask.get_data())
    quick_headers, quick_left = _without_remaining(list(quick.headers.items()))
    flask_headers, flask_left = _without_remaining(list(flask.headers.items()))
    assert quick_headers == flask_headers
    assert flask_left == quick_left - 1  # each counted once against the token
    _same_entry(quick_entry, flask_entry)
    return quick

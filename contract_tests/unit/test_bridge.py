"""The RSGI-to-WSGI bridge, driven with stand-ins for granian's scope and protocol."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request

from mock_server.serving.bridge import WSGIBridge
from mock_server.serving.environ import environ_for
from mock_server.serving.server import may_be_held


class FakeHeaders:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def __contains__(self, key: str) -> bool:
        return any(name == key for name, _ in self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def get(self, key: str, default: Any = None) -> Any:
        return next((value for name, value in self._items if name == key), default)


@dataclass
class FakeScope:
    path: str = "/"
    method: str = "GET"
    query_string: str = ""
    header_items: list[tuple[str, str]] = field(default_factory=list)
    proto: str = "http"
    http_version: str = "1.1"
    server: str = "127.0.0.1:8000"
    client: str = "127.0.0.1:50000"
    scheme: str = "http"

    @property
    def headers(self) -> FakeHeaders:
        return FakeHeaders(self.header_items)


class FakeTransport:
    def __init__(self, sent: list[bytes]) -> None:
        self._sent = sent

    async def send_bytes(self, data: bytes) -> None:
        self._sent.append(data)


class FakeProto:
    """Records the answer; the body arrives in ``chunks``."""

    def __init__(self, chunks: list[bytes] | None = None) -> None:
        self._chunks = chunks or []
        self.read: list[bytes] = []
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: bytes | None = None
        self.streamed: list[bytes] | None = None

    async def __call__(self) -> bytes:
        self.read = list(self._chunks)
        return b"".join(self._chunks)

    def __aiter__(self) -> FakeProto:
        self._iter = iter(self._chunks)
        return self

    async def __anext__(self) -> bytes:
        chunk = next(self._iter, None)
        if chunk is None:
            raise StopAsyncIteration
        self.read.append(chunk)
        return chunk

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> FakeTransport:
        self.status, self.headers, self.streamed = status, headers, []
        return FakeTransport(self.streamed)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def make_app() -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100

    @app.route("/echo", methods=["GET", "POST"])
    def echo() -> dict[str, Any]:
        return {
            "body": request.get_data(as_text=True),
            "path": request.path,
            "args": dict(request.args),
            "thread": threading.current_thread().name,
            "agent": request.headers.get("User-Agent"),
            "forwarded": request.headers.get("X-Forwarded-For"),
            "remote": request.remote_addr,
        }

    @app.get("/stream")
    def stream() -> Response:
        def events() -> Iterator[bytes]:
            yield b"one\n"
            yield b""
            yield b"two\n"

        return Response(events(), mimetype="text/plain")

    @app.get("/broken")
    def broken() -> Response:
        def body() -> Iterator[bytes]:
            yield from ()
            raise ConnectionAbortedError("gone")

        response = Response(body(), mimetype="application/json")
        response.headers["Content-Length"] = "10"
        return response

    return app


def run(bridge: WSGIBridge, scope: FakeScope, proto: FakeProto) -> FakeProto:
    async def main() -> None:
        await bridge.__rsgi__(scope, proto)  # type: ignore[arg-type]

    asyncio.run(main())
    return proto


@pytest.fixture
def bridge() -> Iterator[WSGIBridge]:
    held = WSGIBridge(
        make_app(),
        offload=lambda environ: environ["PATH_INFO"] == "/stream" or "HTTP_PREFER" in environ,
        threads=2,
        max_body_bytes=100,
    )
    yield held
    loop = asyncio.new_event_loop()
    held.__rsgi_del__(loop)
    loop.close()


def test_a_stopping_worker_drains_its_held_requests() -> None:
    """Granian ends the worker's loop, then calls ``__rsgi_del__``: the bridge tells the
    app (``on_stop``), runs the loop again until the held request has answered, and
    only then returns."""
    release = threading.Event()
    entered = threading.Event()
    app = Flask(__name__)

    @app.get("/held")
    def held_request() -> dict[str, str]:
        entered.set()
        assert release.wait(10), "on_stop was not called"
        return {"answered": "after the stop"}

    bridge = WSGIBridge(app, offload=lambda environ: True, threads=2, on_stop=release.set)
    proto = FakeProto()
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(bridge.__rsgi__(FakeScope("/held"), proto))  # type: ignore[arg-type]
        loop.run_until_complete(loop.run_in_executor(None, entered.wait, 10))
        status_before_the_stop = proto.status
        assert status_before_the_stop is None  # held in the pool; the loop stops, as granian's does
        bridge.__rsgi_del__(loop)
        assert task.done()
        assert proto.status == 200
        assert proto.body is not None
        assert b"after the stop" in proto.body
    finally:
        loop.close()


def test_a_drained_worker_calls_on_end_after_its_last_answer() -> None:
    """``on_end`` (the journal writes what it still has queued) runs once the held
    request has answered, so the entry of that last answer is written too."""
    order: list[str] = []
    release = threading.Event()
    entered = threading.Event()
    app = Flask(__name__)

    @app.get("/held")
    def held_request() -> dict[str, str]:
        entered.set()
        assert release.wait(10), "on_stop was not called"
        order.append("answered")
        return {"answered": "yes"}

    bridge = WSGIBridge(
        app,
        offload=lambda environ: True,
        threads=2,
        on_stop=release.set,
        on_end=lambda: order.append("ended"),
    )
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(bridge.__rsgi__(FakeScope("/held"), FakeProto()))  # type: ignore[arg-type]
        loop.run_until_complete(loop.run_in_executor(None, entered.wait, 10))
        bridge.__rsgi_del__(loop)
        assert task.done()
        assert order == ["answered", "ended"]
    finally:
        loop.close()


def test_a_quick_request_runs_on_the_loop_thread(bridge: WSGIBridge) -> None:
    scope = FakeScope("/echo", "POST", "a=1&b=%20", [("content-length", "5")])
    proto = run(bridge, scope, FakeProto([b"he", b"llo"]))
    assert proto.status == 200
    assert proto.body is not None
    doc = Response(proto.body).get_json(force=True)
    assert doc["body"] == "hello"
    assert doc["args"] == {"a": "1", "b": " "}
    assert doc["thread"] == threading.current_thread().name  # asyncio.run's loop: this thread


class SlowBodyProto(FakeProto):
    """A client still sending its body when the worker stops."""

    async def __call__(self) -> bytes:
        await asyncio.sleep(0.05)
        return await super().__call__()


def test_a_stopping_worker_finishes_a_quick_request_still_reading_its_body() -> None:
    bridge = WSGIBridge(make_app(), offload=lambda environ: False, threads=1, drain_seconds=5)
    proto = SlowBodyProto([b"hello"])
    scope = FakeScope("/echo", "POST", header_items=[("content-length", "5")])
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(bridge.__rsgi__(scope, proto))  # type: ignore[arg-type]
        loop.run_until_complete(asyncio.sleep(0))  # it starts, and waits for its body
        assert not task.done()
        bridge.__rsgi_del__(loop)  # the loop had stopped: the drain runs it to its answer
        assert task.done()
        assert proto.status == 200
    finally:
        loop.close()


class StalledBodyProto(FakeProto):
    """A client that sent part of its body, then nothing, and stays connected."""

    async def __call__(self) -> bytes:
        await asyncio.Event().wait()  # never set
        raise AssertionError("unreachable")


def test_a_stop_answers_503_to_bodies_that_stall_and_finishes_those_that_arrive() -> None:
    """granian waits for every connection before the worker's loop ends, so the bridge
    cannot wait for ``__rsgi_del__``: from the stop signal (``stopping``), a body still
    arriving after the grace is given up on and its request answered 503, while one that
    arrives within the grace is answered as usual. ``on_stop`` is called once."""
    stops: list[str] = []
    bridge = WSGIBridge(
        make_app(),
        offload=lambda environ: False,
        threads=1,
        drain_seconds=0.2,  # the grace is at most the drain bound
        on_stop=lambda: stops.append("stop"),
    )
    scope = FakeScope("/echo", "POST", header_items=[("content-length", "5")])
    stalled, slow = StalledBodyProto([b"hello"]), SlowBodyProto([b"hello"])
    loop = asyncio.new_event_loop()
    try:
        bridge.__rsgi_init__(loop)
        tasks = [loop.create_task(bridge.__rsgi__(scope, p)) for p in (stalled, slow)]  # type: ignore[arg-type]
        loop.run_until_complete(asyncio.sleep(0))  # both start, and wait for their bodies
        bridge.stopping()
        bridge.stopping()
        loop.run_until_complete(asyncio.wait_for(asyncio.gather(*tasks), timeout=5))
        assert stops == ["stop"]
        assert slow.status == 200
        assert stalled.status == 503
        assert stalled.header("connection") == "close"
        assert stalled.body is not None
        assert Response(stalled.body).get_json(force=True)["status"] == 503
        # A body that only starts arriving once the grace is over gets the grace too.
        late = StalledBodyProto([b"hello"])
        started = loop.time()
        waiting = loop.create_task(bridge.__rsgi__(scope, late))  # type: ignore[arg-type]
        loop.run_until_complete(asyncio.wait({waiting}, timeout=3))
        assert waiting.done(), "a body that started after the grace was waited for still"
        assert late.status == 503
        assert loop.time() - started >= 0.2
        bridge.__rsgi_del__(loop)
        assert stops == ["stop"]
    finally:
        loop.close()


class RecordingConnections:
    """A :class:`~mock_server.serving.connections.ConnectionCloser` that records its calls."""

    def __init__(self) -> None:
        self.noted = 0
        self.spared: list[set[int]] = []
        self.all_closed = 0

    def note_listeners(self) -> None:
        self.noted += 1

    def close(self, spared: Collection[int]) -> int:
        self.spared.append(set(spared))
        return 1

    def close_all(self) -> int:
        self.all_closed += 1
        return 1


def test_a_stop_closes_heads_still_arriving_after_the_grace_but_spares_requests() -> None:
    """The listeners are noted at the stop signal (granian closes them after it); once
    the grace is over, connections still sending a request head are closed, sparing the
    clients whose requests are in flight (a stalled body, about to be answered 503) or
    were answered since the stop (their answers may still be on their way). A client
    answered before the stop is not spared: granian already ends its connection."""
    heads = RecordingConnections()
    bridge = WSGIBridge(
        make_app(), offload=lambda environ: False, threads=1, drain_seconds=0.2, connections=heads
    )
    loop = asyncio.new_event_loop()
    try:
        bridge.__rsgi_init__(loop)
        before = FakeScope("/echo", client="127.0.0.1:4001")
        loop.run_until_complete(bridge.__rsgi__(before, FakeProto()))  # type: ignore[arg-type]
        length = [("content-length", "5")]
        posted = FakeScope("/echo", "POST", header_items=length, client="[::1]:4002")
        stalled = StalledBodyProto([b"hello"])
        waiting = loop.create_task(bridge.__rsgi__(posted, stalled))  # type: ignore[arg-type]
        loop.run_until_complete(asyncio.sleep(0))  # it waits for its body
        bridge.stopping()
        assert heads.noted == 1
        after = FakeScope("/echo", client="127.0.0.1:4003")
        loop.run_until_complete(bridge.__rsgi__(after, FakeProto()))  # type: ignore[arg-type]
        assert (heads.spared, heads.all_closed) == ([], 0)  # the grace is not over yet
        loop.run_until_complete(asyncio.wait_for(waiting, timeout=5))
        assert stalled.status == 503
        assert heads.spared == [{4002, 4003}]
        bridge.__rsgi_del__(loop)
        assert (heads.noted, len(heads.spared)) == (1, 1)
    finally:
        loop.close()


def test_a_request_that_may_be_held_runs_in_the_pool(bridge: WSGIBridge) -> None:
    proto = run(bridge, FakeScope("/echo", header_items=[("prefer", "wait")]), FakeProto())
    assert proto.status == 200
    assert proto.body is not None
    assert Response(proto.body).get_json(force=True)["thread"].startswith("held")


def test_a_streamed_body_is_sent_chunk_by_chunk(bridge: WSGIBridge) -> None:
    proto = run(bridge, FakeScope("/stream"), FakeProto())
    assert proto.status == 200
    assert proto.streamed == [b"one\n", b"two\n"]
    assert proto.body is None


@pytest.mark.parametrize("held", [False, True])
def test_a_body_that_fails_is_cut_short(bridge: WSGIBridge, held: bool) -> None:
    headers = [("prefer", "wait")] if held else []
    proto = run(bridge, FakeScope("/broken", header_items=headers), FakeProto())
    assert proto.body is None  # never a complete response
    assert proto.streamed == [b""]
    promised = proto.header("content-length")
    assert promised is not None
    assert int(promised) > 0


def test_a_declared_oversized_body_is_refused_unread(bridge: WSGIBridge) -> None:
    scope = FakeScope("/echo", "POST", header_items=[("content-length", "101")])
    proto = run(bridge, scope, FakeProto([b"x" * 101]))
    assert proto.status == 413
    assert proto.read == []


def test_a_chunked_oversized_body_is_read_only_past_the_limit(bridge: WSGIBridge) -> None:
    scope = FakeScope("/echo", "POST", header_items=[("transfer-encoding", "chunked")])
    chunks = [b"x" * 60] * 5
    proto = run(bridge, scope, FakeProto(chunks))
    assert proto.status == 413
    assert len(proto.read) == 2  # 120 bytes: enough to know, the rest left unread


def test_a_chunked_body_within_the_limit_is_read_whole(bridge: WSGIBridge) -> None:
    scope = FakeScope("/echo", "POST", header_items=[("transfer-encoding", "chunked")])
    proto = run(bridge, scope, FakeProto([b"ab", b"cd"]))
    assert proto.status == 200
    assert proto.body is not None
    assert Response(proto.body).get_json(force=True)["body"] == "abcd"


def test_an_app_that_raises_gets_a_problem() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("broken")

    bridge = WSGIBridge(app, offload=lambda environ: False, threads=1)
    proto = run(bridge, FakeScope("/"), FakeProto())
    assert proto.status == 500
    assert proto.header("content-type") == "application/problem+json"
    assert proto.body is not None
    assert b'"status":500' in proto.body


def test_environ_follows_pep_3333() -> None:
    scope = FakeScope(
        "/v1/caf\u00e9",
        "POST",
        "q=1",
        [
            ("host", "example.test"),
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("x_forwarded_for", "6.6.6.6"),
        ],
        server="[::1]:8443",
        client="[::1]:40000",
        scheme="https",
    )
    environ = environ_for(scope, b"{}")  # type: ignore[arg-type]
    assert environ["PATH_INFO"] == "/v1/caf\u00c3\u00a9"  # UTF-8 bytes read as Latin-1
    assert environ["QUERY_STRING"] == "q=1"
    assert environ["SERVER_NAME"] == "::1"
    assert environ["SERVER_PORT"] == "8443"
    assert environ["REMOTE_ADDR"] == "::1"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"
    assert environ["HTTP_HOST"] == "example.test"
    assert environ["HTTP_X_A"] == "1,2"
    assert "HTTP_X_FORWARDED_FOR" not in environ  # a header spelled with _ is dropped
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["wsgi.input"].read() == b"{}"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"


@pytest.mark.parametrize(
    ("path", "headers", "held"),
    [
        ("/v1/predictions", [], False),
        ("/v1/models/google/imagen-4-ultra/predictions", [("prefer", "wait=5")], True),
        ("/stream/abc", [], True),
        ("/_mock/reset", [], True),
        ("/metrics", [], True),  # waits for the other workers to write their tallies
        ("/p/abc", [], False),
        ("/delivery/abc/output.jpg", [], True),
        ("/v1/predictions", [("x-mock-latency-ms", "100")], True),
    ],
)
def test_which_requests_the_mock_may_hold(
    path: str, headers: list[tuple[str, str]], held: bool
) -> None:
    environ = environ_for(FakeScope(path, header_items=headers), b"")  # type: ignore[arg-type]
    assert may_be_held(environ) is held


def test_every_request_is_held_while_the_mock_has_rules() -> None:
    from mock_server.http.app import create_app
    from mock_server.serving.server import _offload_for

    app = create_app({"MOCK_TOKEN": None})
    offload = _offload_for(app)
    environ = environ_for(FakeScope("/v1/predictions"), b"")  # type: ignore[arg-type]
    assert offload(environ) is False
    added = app.test_client().post(
        "/_mock/rules", json={"latency_ms": 10}, headers={"Authorization": "Bearer r8_t"}
    )
    assert added.status_code == 201
    assert offload(environ) is True
    app.extensions["imagen_mock"].webhooks.close()

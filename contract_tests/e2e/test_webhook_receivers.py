"""Webhook deliveries on the system clock, to slow and dead receivers on 127.0.0.1.

A dispatcher with its own threads sends to servers run by these tests: one that accepts
connections and never answers, one that answers after a pause. A dead receiver delays
only its own deliveries; one prediction's deliveries stay in order while several go out
at once; nothing is rescanned while nothing is due. Every server and thread started here
is stopped, and every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from mock_server.config import Settings
from mock_server.domain.clock import SystemClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.service import PredictionService
from mock_server.http.app import new_webhook_secret
from mock_server.storage.memory import InMemoryStore
from mock_server.webhooks.delivery import MAX_PER_RECEIVER, WebhookDispatcher
from mock_server.webhooks.planning import event_filter, plan

SECRET = new_webhook_secret()


class DeadReceiver:
    """Accepts connections on 127.0.0.1 and holds them without answering, until closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.held: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/dead"

    def accepted(self) -> int:
        with self.lock:
            return len(self.held)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.held.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()
        with self.lock:
            for conn in self.held:
                conn.close()


@dataclass(frozen=True)
class Arrival:
    webhook_id: str
    prediction_id: str
    arrived: float
    answered: float
    status: int


class SlowReceiver:
    """An HTTP server on 127.0.0.1 answering after ``pause`` seconds (500 to the first
    request of each prediction with ``fail_first``, else 200); it records each request's
    arrival and answer times and how many requests it held at once."""

    def __init__(self, pause: float = 0.0, *, fail_first: bool = False) -> None:
        self.pause = pause
        self.fail_first = fail_first
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        self.inside = 0
        self.most_inside = 0
        self.changed = threading.Condition(self.lock)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.enter()
                time.sleep(owner.pause)
                # counted as answered before the answer leaves, so that the sender's next
                # request cannot seem to overlap this one
                answered = time.monotonic()
                prediction_id = json.loads(body)["id"]
                status = owner.leave(self.headers["webhook-id"], prediction_id, arrived, answered)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)

    def leave(self, webhook_id: str, prediction_id: str, arrived: float, answered: float) -> int:
        """Record a request; the status to answer."""
        with self.changed:
            self.inside -= 1
            seen = any(item.prediction_id == prediction_id for item in self.arrivals)
            status = 500 if self.fail_first and not seen else 200
            self.arrivals.append(Arrival(webhook_id, prediction_id, arrived, answered, status))
            self.changed.notify_all()
            return status

    def wait_for(self, done: Callable[[list[Arrival]], bool], seconds: float) -> bool:
        """Wait (at most ``seconds``) until ``done(arrivals)`` holds; say whether it did."""
        with self.changed:
            return self.changed.wait_for(lambda: done(self.arrivals), timeout=seconds)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Mock:
    """A store, a dispatcher on the system clock, and services creating predictions."""

    def __init__(self, store: InMemoryStore | None = None, **options: Any) -> None:
        self.store = store or InMemoryStore()
        self.clock = SystemClock()
        settings = dataclasses.replace(Settings().webhooks(), **options.pop("settings", {}))
        self.dispatcher = WebhookDispatcher(
            store=self.store, clock=self.clock, secret=SECRET, settings=settings, **options
        )

    def create(
        self, url: str, *, starting: float, processing: float, events: list[str] | None = None
    ) -> PredictionRecord:
        service = PredictionService(
            store=self.store,
            clock=self.clock,
            starting_seconds=starting,
            processing_seconds=processing,
            retention_seconds=3600.0,
            record_ttl_seconds=86400.0,
            listener=self.dispatcher,
        )
        extra: dict[str, Any] = {"webhook": url}
        if events is not None:
            extra["webhook_events_filter"] = events
        return service.create({"prompt": "a lighthouse at dawn"}, extra)


@pytest.fixture
def dead() -> Iterator[DeadReceiver]:
    receiver = DeadReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def live() -> Iterator[SlowReceiver]:
    receiver = SlowReceiver()
    yield receiver
    receiver.close()


def test_a_dead_receiver_does_not_delay_another_receivers_deliveries(
    dead: DeadReceiver, live: SlowReceiver
) -> None:
    mock = Mock(settings={"timeout_seconds": 60.0, "max_attempts": 1})
    try:
        for _ in range(2 * MAX_PER_RECEIVER):  # each one's "start" is held for 60 s
            mock.create(dead.url, starting=0.2, processing=0.3)
        begun = time.monotonic()
        mine = mock.create(live.url, starting=0.2, processing=0.3, events=["completed"])
        # its completed is due 0.5 s after the create; the dead receiver holds its
        # connections for the whole test
        arrived = live.wait_for(lambda got: len(got) == 1, seconds=3.0)
        lag = time.monotonic() - begun
        assert arrived, (
            f"the live receiver got nothing within 3 s (dead one holds {dead.accepted()})"
        )
        assert live.arrivals[0].prediction_id == mine.id
        assert lag < 3.0
        # the dead receiver holds as many connections as one receiver may have, no more
        assert dead.accepted() == MAX_PER_RECEIVER
    finally:
        dead.close()  # the held POSTs fail at once, so close() need not wait them out
        mock.dispatcher.close()
    assert not mock.dispatcher.is_running()


def arrivals_of(receivers: list[SlowReceiver], prediction_id: str) -> list[Arrival]:
    """The requests of one prediction, in the order they arrived."""
    found = [a for r in receivers for a in r.arrivals if a.prediction_id == prediction_id]
    return sorted(found, key=lambda arrival: arrival.arrived)


def all_answered(mock: Mock, expected: dict[SlowReceiver, int]) -> None:
    """Wait until each receiver has answered its expected number of requests and the
    dispatcher has logged them all."""
    for receiver, count in expected.items():
        assert receiver.wait_for(functools.partial(_at_least, count), seconds=30.0)
    deadline = time.monotonic() + 5.0  # the last answers are being logged
    total = sum(expected.values())
    while len(mock.dispatcher.attempts()) < total and time.monotonic() < deadline:
        time.sleep(0.01)


def _at_least(count: int, got: list[Arrival]) -> bool:
    return len(got) >= count


def requests_per_receiver(
    made: list[tuple[SlowReceiver, PredictionRecord]], extra: int = 0
) -> dict[SlowReceiver, int]:
    """How many requests each receiver gets: one per planned delivery, and ``extra`` more
    per prediction."""
    counts: dict[SlowReceiver, int] = {}
    for receiver, record in made:
        counts[receiver] = counts.get(receiver, 0) + len(plan(record, event_filter(None))) + extra
    return counts


def test_one_predictions_deliveries_keep_their_order_while_others_go_concurrently() -> None:
    # Each prediction's first request fails; its retry comes due while later deliveries
    # of that prediction are still being sent, with senders and room to spare: it waits
    # for that prediction's turn to end.
    receivers = [SlowReceiver(pause=0.3, fail_first=True) for _ in range(2)]
    mock = Mock(max_per_receiver=4, settings={"backoff_seconds": 0.1})
    try:
        sent = [
            (receivers[n % 2], mock.create(receivers[n % 2].url, starting=0.1, processing=0.6))
            for n in range(6)
        ]
        made = [record for _, record in sent]
        expected = {record.id: plan(record, event_filter(None)) for record in made}
        all_answered(mock, requests_per_receiver(sent, extra=1))  # and a retry each
        events = {attempt.webhook_id: attempt.event for attempt in mock.dispatcher.attempts()}
        for record in made:
            arrivals = arrivals_of(receivers, record.id)
            firsts = list(dict.fromkeys(arrival.webhook_id for arrival in arrivals))
            assert [events[webhook_id] for webhook_id in firsts] == [
                item.event for item in expected[record.id]
            ]
            assert [arrival.status for arrival in arrivals].count(500) == 1
            for before, after in itertools.pairwise(arrivals):
                assert after.arrived >= before.answered  # one at a time per prediction
        assert all(receiver.most_inside >= 2 for receiver in receivers)  # concurrent
        assert all(a.delivered for a in mock.dispatcher.attempts() if a.attempt == 2)
    finally:
        mock.dispatcher.close()
        for receiver in receivers:
            receiver.close()


def test_deliveries_stay_within_the_per_receiver_and_overall_limits() -> None:
    receivers = [SlowReceiver(pause=0.1) for _ in range(3)]
    mock = Mock(max_senders=4, max_per_receiver=2)
    try:
        sent = [
            (receivers[n % 3], mock.create(receivers[n % 3].url, starting=0.1, processing=0.6))
            for n in range(9)
        ]
        all_answered(mock, requests_per_receiver(sent))
        assert all(1 <= receiver.most_inside <= 2 for receiver in receivers)
        assert max(receiver.most_inside for receiver in receivers) == 2
        everywhere = _most_at_once([a for receiver in receivers for a in receiver.arrivals])
        assert 3 <= everywhere <= 4
    finally:
        mock.dispatcher.close()
        for receiver in receivers:
            receiver.close()


def _most_at_once(arrivals: list[Arrival]) -> int:
    """The most requests being answered at one moment."""
    edges = sorted(
        [(arrival.arrived, 1) for arrival in arrivals]
        + [(arrival.answered, -1) for arrival in arrivals]
    )
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


class CountingStore(InMemoryStore):
    """Counts the reads of each record."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    def get(self, prediction_id: str) -> PredictionRecord | None:
        self.reads[prediction_id] = self.reads.get(prediction_id, 0) + 1
        return super().get(prediction_id)


def test_nothing_is_rescanned_while_nothing_is_due() -> None:
    failed = threading.Event()
    arrived = threading.Event()

    def receive(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/failing":
            failed.set()
            return httpx.Response(500)
        arrived.set()
        return httpx.Response(200)

    store = CountingStore()
    mock = Mock(store, settings={"backoff_seconds": 60.0}, transport=httpx.MockTransport(receive))
    try:
        later = mock.create(
            "http://127.0.0.1:9/ok", starting=1.0, processing=1.5, events=["completed"]
        )
        mock.create(
            "http://127.0.0.1:9/failing", starting=0.1, processing=0.2, events=["completed"]
        )
        waiting = [
            mock.create("http://127.0.0.1:9/ok", starting=600.0, processing=1.0).id
            for _ in range(200)
        ]
        assert failed.wait(5.0)  # its retry is due in 60 s
        wakeups = mock.dispatcher.wakeups
        assert arrived.wait(5.0)  # "later" completes 2.5 s after it was created
        assert mock.dispatcher.attempts(later.id)[0].delivered
        # the timer thread woke for the one timer that came due, and nothing else
        assert mock.dispatcher.wakeups - wakeups <= 2
        # the predictions not yet due were never read (a rescan would read each of them)
        assert sum(store.reads.get(prediction_id, 0) for prediction_id in waiting) == 0
        assert store.reads[later.id] == 1
    finally:
        mock.dispatcher.close()

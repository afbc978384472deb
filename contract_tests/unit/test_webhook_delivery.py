"""Webhook planning, throttling, retries, backoff, the allow-list, the per-receiver queues
and log lines, on a fake clock.

No test here opens a socket: deliveries go to an ``httpx.MockTransport``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from replicate.webhook import Webhooks, WebhookSigningSecret

from mock_server.config import SettingError, Settings
from mock_server.domain import lifecycle, rendering
from mock_server.domain.clock import FakeClock, SystemClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.service import PredictionService
from mock_server.http.app import new_webhook_secret
from mock_server.storage.memory import InMemoryStore
from mock_server.webhooks import signing
from mock_server.webhooks.delivery import WebhookDispatcher
from mock_server.webhooks.due import STORE_RETRY_SECONDS
from mock_server.webhooks.planning import (
    THROTTLE_SECONDS,
    Planned,
    WebhookSettings,
    _throttle,
    event_filter,
    parse_hosts,
    plan,
)
from mock_server.webhooks.queues import ReceiverQueues
from mock_server.webhooks.sending import receiver_of

T0 = 1_000_000.0
HOOK = "http://127.0.0.1:9/hook"
LINKS = Links(api="https://mock.test/replicate/v1", root="https://mock.test")
SECRET = new_webhook_secret()
Handler = Callable[[httpx.Request], httpx.Response]


def record(
    prompt: str = "a red fox", *, starting: float = 1.0, processing: float = 3.0
) -> PredictionRecord:
    return lifecycle.new_record(
        {"prompt": prompt},
        now=T0,
        starting_seconds=starting,
        processing_seconds=processing,
        retention_seconds=3600.0,
    )


def offsets(planned: list[Planned]) -> list[tuple[float, str]]:
    return [(round(item.at - T0, 6), item.event) for item in planned]


ALL = event_filter(None)


# --- which deliveries, when -------------------------------------------------------------


def test_a_full_run_gets_every_event_in_order() -> None:
    assert offsets(plan(record(), ALL)) == [
        (1.0, "start"),
        (1.0, "logs"),
        (1.5, "logs"),  # the 1.15 s line, coalesced to the end of the window
        (4.0, "logs"),
        (4.0, "output"),
        (4.0, "completed"),
    ]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["completed"], ["completed"]),
        (["start", "output"], ["start", "output"]),
        (["output", "start"], ["start", "output"]),
        (["logs"], ["logs"] * 3),
        ([], []),
        ("completed", []),  # not a list: the schema refuses it before it gets here
    ],
)
def test_the_filter_selects_events(events: Any, expected: list[str]) -> None:
    assert [item.event for item in plan(record(), event_filter(events))] == expected


def test_the_default_filter_is_all_four_events() -> None:
    assert event_filter(None) == {"start", "output", "logs", "completed"}
    assert event_filter(["logs", "bogus"]) == {"logs"}


def test_logs_are_throttled_and_coalesced_before_completed() -> None:
    quick = record(processing=0.4)  # lines at +0, +0.02, +0.2 and +0.4 of the run
    assert offsets(plan(quick, ALL)) == [
        (1.0, "start"),
        (1.0, "logs"),
        # the later lines fall in the window; completed (at 1.4) carries them
        (1.4, "output"),
        (1.4, "completed"),
    ]
    # without completed, the coalesced delivery comes at the end of the window
    assert offsets(plan(quick, event_filter(["logs"]))) == [(1.0, "logs"), (1.5, "logs")]


def test_throttle_windows() -> None:
    assert _throttle([0.0, 0.1, 0.2, 0.6, 1.5]) == [0.0, 0.5, 1.0, 1.5]
    assert _throttle([0.0, 0.0, 0.0]) == [0.0, 0.5]
    assert _throttle([]) == []


@given(st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), max_size=30))
def test_throttle_keeps_every_change_within_one_window(times: list[float]) -> None:
    sent = _throttle(times)
    assert all(b - a >= THROTTLE_SECONDS - 1e-6 for a, b in itertools.pairwise(sent))
    for at in times:  # each change is shown by a delivery no later than one window after it
        assert any(at - 1e-6 <= when <= at + THROTTLE_SECONDS + 1e-6 for when in sent)


def test_a_cancel_drops_later_events_and_moves_completed() -> None:
    canceled = lifecycle.cancel(record(), T0 + 2.0)
    assert offsets(plan(canceled, ALL)) == [
        (1.0, "start"),
        (1.0, "logs"),
        (1.5, "logs"),
        (2.0, "completed"),
    ]
    before_start = lifecycle.cancel(record(), T0 + 0.5)
    assert offsets(plan(before_start, ALL)) == [(0.5, "completed")]


def test_a_deadline_before_the_start_aborts_with_only_completed() -> None:
    late = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=10,
        processing_seconds=3,
        cancel_after=5,
        retention_seconds=3600.0,
    )
    assert offsets(plan(late, ALL)) == [(5.0, "completed")]
    assert lifecycle.status_at(late, T0 + 5) == "aborted"


def test_a_blocked_prompt_has_no_output_event() -> None:
    assert [item.event for item in plan(record("nsfw"), ALL)][-2:] == ["logs", "completed"]


# --- settings and the allow-list ------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_and_attempts_are_bounded() -> None:
    settings = webhook_settings()
    assert [settings.retry_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, None]
    capped = webhook_settings(max_attempts=10, backoff_seconds=1, max_backoff_seconds=5)
    assert [capped.retry_delay(n) for n in range(1, 11)] == [1, 2, 4, 5, 5, 5, 5, 5, 5, None]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "https://LOCALHOST.:8443/hook",
        "http://127.0.0.1:5000/",
        "http://[::1]:8000/x?y=1",
    ],
)
def test_loopback_is_allowed_by_default(url: str) -> None:
    assert webhook_settings().refusal(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://api.replicate.com/",
        "http://10.0.0.1/",
        "http://127.0.0.2/",
        "http://localhost.example.com/",
        "http://0.0.0.0/",
        "http://user@169.254.169.254/latest",
    ],
)
def test_other_hosts_are_refused_by_default(url: str) -> None:
    refusal = webhook_settings().refusal(url)
    assert refusal is not None
    assert "not in the allowed webhook hosts" in refusal
    assert webhook_settings(allowed_hosts=frozenset({"*"})).refusal(url) is None


def test_unusable_urls_are_refused() -> None:
    settings = webhook_settings(allowed_hosts=frozenset({"*"}))
    assert settings.refusal("ftp://localhost/x") == "not an absolute http(s) URL"
    assert settings.refusal("http:///nohost") is not None
    assert (settings.refusal("http://[::1/") or "").startswith("invalid URL")


def test_settings_from_the_mock_settings() -> None:
    settings = Settings.from_mapping(
        {
            "webhook_allowed_hosts": " receiver.test , [::1],",
            "webhook_max_attempts": "3",
            "webhook_backoff_seconds": 0.1,
        }
    ).webhooks(background=False)
    assert settings.allowed_hosts == {"receiver.test", "::1"}
    assert (settings.max_attempts, settings.backoff_seconds) == (3, 0.1)
    assert settings.background is False
    assert parse_hosts(["*"]) == {"*"}
    with pytest.raises(SettingError, match="at least 1"):
        Settings(webhook_max_attempts=0)
    with pytest.raises(SettingError, match="above 0"):
        Settings(webhook_timeout_seconds=0)


# --- the dispatcher -------------------------------------------------------------------


class Receiver:
    """Answers with scripted responses (then 200) and records what it got."""

    def __init__(self, *script: Handler | int) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, int):
            return httpx.Response(step)
        return step(request)


def webhook_settings(**changes: Any) -> WebhookSettings:
    """The mock's default delivery settings, with ``changes``."""
    return dataclasses.replace(Settings().webhooks(), **changes)


class Harness:
    def __init__(
        self, receiver: Receiver, store: InMemoryStore | None = None, **settings: Any
    ) -> None:
        self.clock = FakeClock(T0)
        self.receiver = receiver
        self.store = store or InMemoryStore()
        self.dispatcher = WebhookDispatcher(
            store=self.store,
            clock=self.clock,
            secret=SECRET,
            settings=webhook_settings(**settings),
            transport=httpx.MockTransport(receiver),
        )
        self.service = PredictionService(
            store=self.store,
            clock=self.clock,
            starting_seconds=1.0,
            processing_seconds=3.0,
            listener=self.dispatcher,
            retention_seconds=3600.0,
            record_ttl_seconds=86400.0,
        )

    def create(self, url: str = HOOK, **extra: Any) -> PredictionRecord:
        return self.service.create({"prompt": "a red fox"}, {"webhook": url, **extra})

    def run_until_idle(self, limit: int = 50) -> None:
        for _ in range(limit):
            self.dispatcher.pump()
            due = self.dispatcher.next_due()
            if due is None:
                return
            self.clock.advance(max(due - self.clock.now(), 0.0))
        raise AssertionError("deliveries did not settle")


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness(Receiver())
    yield made
    made.dispatcher.close()


def test_deliveries_go_out_when_due_signed_with_bodies_of_that_moment(harness: Harness) -> None:
    created = harness.create()
    assert harness.dispatcher.pump() == []
    assert harness.dispatcher.next_due() == T0 + 1.0
    harness.clock.advance(1.0)
    first = harness.dispatcher.pump()
    assert [a.event for a in first] == ["start", "logs"]
    harness.run_until_idle()
    got = harness.receiver.requests
    assert len(got) == 6
    bodies = [json.loads(request.content) for request in got]
    assert [body["status"] for body in bodies] == ["processing"] * 3 + ["succeeded"] * 3
    assert bodies[0]["id"] == created.id
    for body in bodies:  # as real deliveries: the prediction, then the create's two fields
        assert list(body)[-2:] == ["webhook", "webhook_events_filter"]
        assert body["webhook"] == HOOK
        assert body["webhook_events_filter"] == ["start", "output", "logs", "completed"]
    assert bodies[0]["urls"]["get"] == f"http://localhost/v1/predictions/{created.id}"
    assert bodies[-1]["output"] == f"http://localhost/delivery/{created.id}/output.jpg"
    for request in got:
        body = request.content.decode()
        assert request.headers["content-type"] == "application/json"
        assert signing.verify(SECRET, dict(request.headers), body)
        Webhooks.validate(
            headers=dict(request.headers), body=body, secret=WebhookSigningSecret(key=SECRET)
        )
    assert len({request.headers["webhook-id"] for request in got}) == 6
    assert harness.dispatcher.next_due() is None


def test_bodies_use_the_creating_requests_links(harness: Harness) -> None:
    created = harness.create(links=LINKS, webhook_events_filter=["start"])
    harness.run_until_idle()
    body = json.loads(harness.receiver.requests[0].content)
    assert body["urls"]["cancel"] == f"{LINKS.api}/predictions/{created.id}/cancel"
    assert body["webhook_events_filter"] == ["start"]  # the create's own filter


def test_failures_are_retried_with_backoff_and_the_same_webhook_id() -> None:
    harness = Harness(Receiver(500, 503))
    harness.create(webhook_events_filter=["completed"])
    harness.clock.advance(4.0)
    first = harness.dispatcher.pump()
    assert [(a.attempt, a.status_code, a.error) for a in first] == [(1, 500, "HTTP 500")]
    assert first[0].retry_at == T0 + 4.5
    harness.clock.advance(0.49)
    assert harness.dispatcher.pump() == []
    harness.clock.advance(0.01)
    second = harness.dispatcher.pump()
    assert [(a.attempt, a.status_code) for a in second] == [(2, 503)]
    assert second[0].retry_at == T0 + 5.5
    harness.clock.advance(1.0)
    third = harness.dispatcher.pump()
    assert [(a.attempt, a.status_code, a.delivered, a.retry_at) for a in third] == [
        (3, 200, True, None)
    ]
    ids = {request.headers["webhook-id"] for request in harness.receiver.requests}
    assert len(harness.receiver.requests) == 3
    assert ids == {first[0].webhook_id}
    assert harness.receiver.requests[0].content == harness.receiver.requests[2].content
    assert harness.dispatcher.next_due() is None
    harness.dispatcher.close()


def test_attempts_stop_at_the_limit() -> None:
    harness = Harness(Receiver(*[500] * 10), max_attempts=4)
    harness.create(webhook_events_filter=["completed"])
    harness.run_until_idle()
    attempts = harness.dispatcher.attempts()
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    gaps = [round(b.attempted_at - a.attempted_at, 6) for a, b in itertools.pairwise(attempts)]
    assert gaps == [0.5, 1.0, 2.0]
    assert attempts[-1].retry_at is None
    harness.dispatcher.close()


def test_redirects_are_failures_and_are_not_followed() -> None:
    moved = httpx.Response(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    harness = Harness(Receiver(lambda request: moved), max_attempts=1)
    harness.create(webhook_events_filter=["completed"])
    harness.run_until_idle()
    [attempt] = harness.dispatcher.attempts()
    assert attempt.status_code == 302
    assert attempt.error == "HTTP 302; redirects are not followed"
    assert [request.url.path for request in harness.receiver.requests] == ["/hook"]
    harness.dispatcher.close()


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("too slow", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_timeouts_and_refused_connections_are_retried() -> None:
    harness = Harness(Receiver(timeout, refused), timeout_seconds=2.0)
    harness.create(webhook_events_filter=["completed"])
    harness.run_until_idle()
    attempts = harness.dispatcher.attempts()
    assert [a.status_code for a in attempts] == [None, None, 200]
    assert attempts[0].error is not None
    assert attempts[0].error.startswith("timed out after 2 s")
    assert attempts[1].error == "ConnectError: [Errno 111] Connection refused"
    assert len({a.webhook_id for a in attempts}) == 1
    harness.dispatcher.close()


def test_hosts_outside_the_allow_list_are_never_contacted(harness: Harness) -> None:
    harness.create("https://example.com/hook", webhook_events_filter=["start", "completed"])
    harness.run_until_idle()
    attempts = harness.dispatcher.attempts()
    assert harness.receiver.requests == []
    assert [(a.event, a.attempt, a.status_code, a.retry_at) for a in attempts] == [
        ("start", 1, None, None),
        ("completed", 1, None, None),
    ]
    assert all("not in the allowed webhook hosts" in (a.error or "") for a in attempts)
    assert all(a.headers["webhook-signature"].startswith("v1,") for a in attempts)


def test_a_star_allows_any_host() -> None:
    harness = Harness(Receiver(), allowed_hosts=frozenset({"*"}))
    harness.create("https://receiver.example/hook", webhook_events_filter=["completed"])
    harness.run_until_idle()
    assert [str(request.url) for request in harness.receiver.requests] == [
        "https://receiver.example/hook"
    ]
    harness.dispatcher.close()


def test_a_cancel_sends_completed_with_the_canceled_prediction(harness: Harness) -> None:
    created = harness.create()
    harness.clock.advance(2.0)
    harness.service.cancel(created.id)
    harness.run_until_idle()
    attempts = harness.dispatcher.attempts(created.id)
    assert [a.event for a in attempts] == ["start", "logs", "logs", "completed"]
    final = json.loads(attempts[-1].body)
    assert final["status"] == "canceled"
    assert final["output"] is None
    assert harness.clock.now() == T0 + 2.0


def test_a_deadline_sends_completed_with_the_aborted_prediction(harness: Harness) -> None:
    slow = PredictionService(
        store=harness.store,
        clock=harness.clock,
        starting_seconds=10,
        processing_seconds=3,
        listener=harness.dispatcher,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    created = slow.create({"prompt": "x"}, {"webhook": HOOK}, cancel_after=5)
    harness.run_until_idle()
    [attempt] = harness.dispatcher.attempts(created.id)
    assert (attempt.event, json.loads(attempt.body)["status"]) == ("completed", "aborted")
    assert attempt.attempted_at == T0 + 5


def test_predictions_without_a_webhook_or_forgotten_are_not_followed(harness: Harness) -> None:
    harness.service.create({"prompt": "x"})
    assert harness.dispatcher.next_due() is None
    created = harness.create()
    assert harness.dispatcher.next_due() == T0 + 1.0
    harness.store.purge(created.created_at + 1)
    assert harness.dispatcher.next_due() is None
    harness.clock.advance(10)
    assert harness.dispatcher.pump() == []


def test_the_log_filters_clears_and_is_bounded() -> None:
    harness = Harness(Receiver(), log_limit=3)
    first = harness.create()
    second = harness.create(webhook_events_filter=["completed"])
    harness.run_until_idle()
    kept = harness.dispatcher.attempts()
    assert len(kept) == 3
    assert [a.event for a in harness.dispatcher.attempts(second.id)] == ["completed"]
    assert [a.prediction_id for a in harness.dispatcher.attempts(event="output")] == [first.id]
    assert kept[0].as_dict()["attempted_at"] == rendering.format_time(T0 + 4)
    harness.dispatcher.clear()
    assert harness.dispatcher.attempts() == []
    harness.dispatcher.close()


def test_close_stops_everything(harness: Harness) -> None:
    harness.create()
    harness.dispatcher.close()
    harness.dispatcher.close()
    harness.clock.advance(10)
    assert harness.dispatcher.pump() == []
    harness.create()
    assert not harness.dispatcher.is_running()


def test_the_thread_starts_with_the_first_webhook_and_stops_on_close() -> None:
    receiver = Receiver()
    store = InMemoryStore()
    clock = SystemClock()
    dispatcher = WebhookDispatcher(
        store=store,
        clock=clock,
        secret=SECRET,
        settings=webhook_settings(),
        transport=httpx.MockTransport(receiver),
    )
    service = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0,
        processing_seconds=0,
        listener=dispatcher,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    try:
        service.create({"prompt": "no webhook"})
        assert not dispatcher.is_running()
        service.create({"prompt": "x"}, {"webhook": HOOK, "webhook_events_filter": ["completed"]})
        assert dispatcher.is_running()
        deadline = time.monotonic() + 5
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(receiver.requests) == 1
    finally:
        dispatcher.close()
    assert not dispatcher.is_running()


def test_a_fake_clock_means_no_thread_unless_asked(harness: Harness) -> None:
    harness.create()
    assert not harness.dispatcher.is_running()
    with pytest.raises(ValueError, match="secret"):
        WebhookDispatcher(
            store=InMemoryStore(), clock=FakeClock(), secret="whsec_!", settings=webhook_settings()
        )


def test_an_attempt_in_flight_during_a_reset_is_neither_logged_nor_retried() -> None:
    holder: list[Harness] = []

    def reset_meanwhile(request: httpx.Request) -> httpx.Response:
        holder[0].dispatcher.reset()  # /_mock/reset arrives while the POST is out
        return httpx.Response(500)

    harness = Harness(Receiver(reset_meanwhile))
    holder.append(harness)
    harness.create(webhook_events_filter=["completed"])
    harness.clock.advance(4.0)
    [attempt] = harness.dispatcher.pump()
    assert attempt.error == "HTTP 500"  # it was made, and would have earned a retry
    assert harness.dispatcher.attempts() == []
    assert harness.dispatcher.next_due() is None
    harness.dispatcher.close()


# --- per-receiver queues, log lines, an unreachable store -----------------------------


def test_receiver_queues_take_in_turn_within_each_receivers_limit() -> None:
    queues: ReceiverQueues[str] = ReceiverQueues(limit=2)
    for item in ["a1", "a2", "a3", "a4"]:
        queues.put("a", item)
    queues.put("b", "b1")
    taken = [queues.take() for _ in range(4)]
    assert taken == [("a", "a1"), ("b", "b1"), ("a", "a2"), None]  # a is at its limit
    assert (queues.out("a"), queues.waiting()) == (2, 2)
    queues.done("a")
    assert queues.take() == ("a", "a3")
    assert queues.take() is None
    assert queues.drain() == ["a4"]
    assert queues.waiting() == 0
    with pytest.raises(ValueError, match="at least 1"):
        ReceiverQueues(limit=0)


def test_receiver_of_names_scheme_host_and_port() -> None:
    assert receiver_of("http://127.0.0.1:8080/a?b") == "http://127.0.0.1:8080"
    assert receiver_of("https://LocalHost./x") == "https://localhost:443"
    assert receiver_of("http://[::1]/") == "http://::1:80"
    assert receiver_of("http://[::1/") == "http://[::1/"  # does not parse: itself


def test_a_failed_attempt_is_one_log_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(Receiver(refused, timeout, 500), max_attempts=3)
    harness.create(webhook_events_filter=["completed"])
    harness.create("https://example.com/hook", webhook_events_filter=["completed"])
    with caplog.at_level(logging.INFO, logger="mock_server.webhooks"):
        harness.run_until_idle()
    attempts = harness.dispatcher.attempts()
    failed = [attempt for attempt in attempts if not attempt.delivered]
    assert len(failed) == 4  # three to the failing receiver, one refused host
    lines = [record for record in caplog.records if record.name.startswith("mock_server.webhooks")]
    assert len(lines) == len(failed)
    assert all(record.exc_info is None and "\n" not in record.getMessage() for record in lines)
    assert [record.levelname for record in lines] == ["INFO", "WARNING", "INFO", "WARNING"]
    assert "giving up" in lines[-1].getMessage()
    assert "next attempt in 0.5 s" in lines[0].getMessage()
    assert "not in the allowed webhook hosts" in lines[1].getMessage()
    harness.dispatcher.close()


class FlakyStore(InMemoryStore):
    """Raises a Redis connection error on reads while ``down``."""

    down = False

    def get(self, prediction_id: str) -> PredictionRecord | None:
        if self.down:
            raise redis.ConnectionError("Error 111 connecting to localhost:6379")
        return super().get(prediction_id)


def test_an_unreachable_store_logs_once_and_deliveries_resume(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    harness = Harness(Receiver(), store)
    created = harness.create(webhook_events_filter=["completed"])
    store.down = True
    with caplog.at_level(logging.INFO, logger="mock_server.webhooks"):
        harness.clock.advance(4.0)
        for _ in range(5):
            assert harness.dispatcher.pump() == []
            assert harness.dispatcher.next_due() == harness.clock.now() + STORE_RETRY_SECONDS
            harness.clock.advance(STORE_RETRY_SECONDS)
        store.down = False
        [attempt] = harness.dispatcher.pump()
    assert (attempt.prediction_id, attempt.event, attempt.delivered) == (
        created.id,
        "completed",
        True,
    )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "store cannot be reached (ConnectionError" in messages[0]
    assert "store answers again" in messages[1]
    assert all(record.exc_info is None for record in caplog.records)
    harness.dispatcher.close()


def test_a_cancel_while_a_predictions_deliveries_are_out_is_not_lost() -> None:
    holder: list[Harness] = []
    created: list[PredictionRecord] = []

    def cancel_meanwhile(request: httpx.Request) -> httpx.Response:
        holder[0].service.cancel(created[0].id)  # arrives while "start" is being sent
        return httpx.Response(200)

    harness = Harness(Receiver(cancel_meanwhile))
    holder.append(harness)
    created.append(harness.create(webhook_events_filter=["start", "completed"]))
    harness.clock.advance(1.0)
    assert [a.event for a in harness.dispatcher.pump()] == ["start"]
    assert harness.dispatcher.next_due() == harness.clock.now()  # the cancel is due now
    [completed] = harness.dispatcher.pump()
    assert completed.event == "completed"
    assert json.loads(completed.body)["status"] == "canceled"
    assert harness.dispatcher.next_due() is None
    harness.dispatcher.close()


def test_a_bad_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WebhookDispatcher(
            store=InMemoryStore(),
            clock=FakeClock(),
            secret=SECRET,
            settings=webhook_settings(),
            max_senders=0,
        )
    with pytest.raises(ValueError, match="at least 1"):
        WebhookDispatcher(
            store=InMemoryStore(),
            clock=FakeClock(),
            secret=SECRET,
            settings=webhook_settings(),
            max_per_receiver=0,
        )


def test_after_a_cancel_only_the_pending_retry_is_due() -> None:
    harness = Harness(Receiver(500), backoff_seconds=10.0)
    created = harness.create(webhook_events_filter=["start", "completed"])
    harness.clock.advance(1.0)
    [start] = harness.dispatcher.pump()
    assert (start.event, start.retry_at) == ("start", T0 + 11.0)
    harness.clock.advance(1.0)
    harness.service.cancel(created.id)
    [completed] = harness.dispatcher.pump()
    assert (completed.event, json.loads(completed.body)["status"]) == ("completed", "canceled")
    assert harness.dispatcher.next_due() == T0 + 11.0  # not the completed planned for T0 + 4
    harness.clock.advance(9.0)
    [retry] = harness.dispatcher.pump()
    assert (retry.event, retry.attempt, retry.delivered) == ("start", 2, True)
    assert harness.dispatcher.next_due() is None
    harness.dispatcher.close()

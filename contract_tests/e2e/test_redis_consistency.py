"""Consistency of the stores under races and faults, against a real redis-server: a
cancel never changes a prediction a reader has shown ended, a create that failed on a
stalled Redis is not stored later, and Redis going away is logged once, not per request."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from contract_tests.support.redis_server import run_redis
from mock_server.domain import lifecycle
from mock_server.domain.clock import AdjustableClock, Clock, FakeClock
from mock_server.domain.service import PredictionService
from mock_server.domain.store import Store
from mock_server.storage.encoding import decode
from mock_server.storage.memory import InMemoryStore
from mock_server.storage.reachability import REDIS
from mock_server.storage.redis_store import RedisStore

BOUND = 10.0


@pytest.fixture
def clients(redis_url: str) -> Iterator[Callable[..., redis.Redis]]:
    """Makes clients of the session's server, closed after the test."""
    made: list[redis.Redis] = []

    def make(**options: Any) -> redis.Redis:
        client = redis.Redis.from_url(redis_url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def services(
    kind: str, clock: Clock, make_client: Callable[..., redis.Redis], prefix: str
) -> tuple[PredictionService, PredictionService, Callable[[str], lifecycle.PredictionRecord]]:
    """Two services on one store (two replicas on one Redis, or one process's memory),
    and a way to read a record as the store now holds it (no local cache)."""
    if kind == "memory":
        shared = InMemoryStore()
        stores: tuple[Store, Store] = (shared, shared)

        def stored(prediction_id: str) -> lifecycle.PredictionRecord:
            record = shared.get(prediction_id)
            assert record is not None
            return record
    else:
        stores = (
            RedisStore(make_client(), clock=clock, prefix=prefix),
            RedisStore(make_client(), clock=clock, prefix=prefix),
        )
        raw_client = make_client()

        def stored(prediction_id: str) -> lifecycle.PredictionRecord:
            raw = raw_client.get(f"{prefix}rec:{prediction_id}")
            assert raw is not None
            return decode(raw)

    one, two = (
        PredictionService(
            store=store,
            clock=clock,
            starting_seconds=1.0,
            processing_seconds=3.0,
            retention_seconds=3600.0,
            record_ttl_seconds=86400.0,
        )
        for store in stores
    )
    return one, two, stored


def shown(service: PredictionService, prediction_id: str) -> str:
    """The status a reader shows: its time taken before its read, as the handlers do."""
    now = service.clock.now()
    record = service.get(prediction_id)
    assert record is not None
    return lifecycle.status_at(record, now)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_cancel_that_reaches_the_store_after_a_reader_showed_the_end_changes_nothing(
    kind: str,
    clients: Callable[..., redis.Redis],
    redis_prefix: str,
) -> None:
    clock = FakeClock()
    canceler, reader, stored = services(kind, clock, clients, redis_prefix)
    record = canceler.create({"prompt": "a cat"})
    clock.advance(3.9)  # 0.1 s before its natural end
    assert shown(reader, record.id) == "processing"
    store = canceler.store
    read = store.get
    seen: list[str] = []
    hooked = [True]

    def late_get(prediction_id: str) -> lifecycle.PredictionRecord | None:
        """The cancel's read, then the end comes and the other replica shows it."""
        found = read(prediction_id)
        if hooked.pop() if hooked else False:
            clock.advance(0.2)
            seen.append(shown(reader, prediction_id))
        return found

    store.get = late_get  # type: ignore[method-assign]
    answered = canceler.cancel(record.id)
    assert seen == ["succeeded"]
    assert answered is not None
    assert lifecycle.status_at(answered, clock.now()) == "succeeded"
    assert stored(record.id).canceled_at is None
    assert shown(reader, record.id) == "succeeded"
    clock.advance(10)
    assert shown(canceler, record.id) == shown(reader, record.id) == "succeeded"


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_cancel_before_the_end_still_cancels(
    kind: str,
    clients: Callable[..., redis.Redis],
    redis_prefix: str,
) -> None:
    clock = FakeClock()
    canceler, reader, stored = services(kind, clock, clients, redis_prefix)
    record = canceler.create({"prompt": "a cat"})
    clock.advance(2.0)
    canceled = canceler.cancel(record.id)
    assert canceled is not None
    assert canceled.canceled_at == clock.now()
    assert stored(record.id) == canceled
    clock.advance(0.5)
    assert shown(reader, record.id) == "canceled"
    again = canceler.cancel(record.id)
    assert again == canceled  # an ended prediction is left as it is


def server_timed_store(
    make_client: Callable[..., redis.Redis], prefix: str, offset: float
) -> tuple[RedisStore, AdjustableClock]:
    """A store timing cancels by Redis, on a real clock moved ``offset`` s like the shared one."""
    clock = AdjustableClock()
    store = RedisStore(make_client(), clock=clock, prefix=prefix, server_time=True)
    shared = store.shared.share("whsec_dGVzdA==", offset)
    clock.advance_to(shared.offset_seconds)
    return store, clock


def test_a_server_timed_cancel_takes_redis_time_plus_the_shared_offset(
    clients: Callable[..., redis.Redis],
    redis_prefix: str,
) -> None:
    store, clock = server_timed_store(clients, redis_prefix, 1000.0)
    service = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0.0,
        processing_seconds=60.0,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    record = service.create({"prompt": "a cat"})
    before = clock.now()
    canceled = service.cancel(record.id)
    after = clock.now()
    assert canceled is not None
    assert canceled.canceled_at is not None
    assert before - 0.05 <= canceled.canceled_at <= after + 0.05  # the offset is counted


def test_a_server_timed_cancel_sent_after_the_end_changes_nothing(
    clients: Callable[..., redis.Redis],
    redis_prefix: str,
) -> None:
    store, clock = server_timed_store(clients, redis_prefix, 1000.0)
    canceler = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0.0,
        processing_seconds=0.3,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    reader = PredictionService(
        store=RedisStore(clients(), clock=clock, prefix=redis_prefix),
        clock=clock,
        starting_seconds=0.0,
        processing_seconds=0.3,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    record = canceler.create({"prompt": "a cat"})
    script = store._cancel_script
    seen: list[str] = []

    def delayed(**arguments: Any) -> Any:
        """The script is on its way while the end comes and the other replica shows it."""
        deadline = time.monotonic() + BOUND
        while clock.now() < lifecycle.ends_at(record) + 0.02 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(shown(reader, record.id))
        return script(**arguments)

    store._cancel_script = delayed  # type: ignore[assignment]
    answered = canceler.cancel(record.id)
    assert seen == ["succeeded"]
    assert answered is not None
    assert answered.canceled_at is None
    assert shown(reader, record.id) == shown(canceler, record.id) == "succeeded"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test alone (it is stopped, flushed or restarted)."""
    with run_redis(tmp_path) as url:
        yield url


def _evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_a_create_whose_answer_is_lost_in_a_stall_is_not_stored_later(own_redis: str) -> None:
    observer = redis.Redis.from_url(own_redis)
    client = redis.Redis.from_url(own_redis, socket_timeout=0.5)
    clock = FakeClock()
    store = RedisStore(client, clock=clock, prefix="stall:")
    try:
        store.add(lifecycle.new_record({"prompt": "x"}, now=clock.now(), starting_seconds=1,
                                       processing_seconds=1, retention_seconds=3600.0))  # fmt: skip
        pid = int(observer.info("server")["process_id"])
        calls = _evalsha_calls(observer)
        record = lifecycle.new_record(
            {"prompt": "stalled"},
            now=clock.now(),
            starting_seconds=1,
            processing_seconds=1,
            retention_seconds=3600.0,
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(redis.TimeoutError):  # answered 503 by the handler
                store.add_while(record, lambda: "response")
            time.sleep(0.5)  # the stall outlasts the deadline the create carried
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + BOUND
        while _evalsha_calls(observer) <= calls:  # until Redis has run the delayed script
            assert time.monotonic() < deadline, "Redis never ran the delayed create"
            time.sleep(0.02)
        assert observer.get(f"stall:rec:{record.id}") is None
        assert observer.zcard("stall:index") == 1
        assert store.get(record.id) is None
    finally:
        store.close()
        client.close()
        observer.close()


def test_a_retried_create_that_had_run_is_answered_as_stored(
    clients: Callable[..., redis.Redis],
    redis_prefix: str,
) -> None:
    store = RedisStore(clients(socket_timeout=5.0), clock=FakeClock(), prefix=redis_prefix)
    record = lifecycle.new_record(
        {"prompt": "x"},
        now=time.time(),
        starting_seconds=1,
        processing_seconds=1,
        retention_seconds=3600.0,
    )
    keys, args = store._creates.arguments(record)
    assert store._creates.script(keys=keys, args=args) == 0  # the first attempt ran...
    assert store._creates.script(keys=keys, args=args) == -3  # ...its retry knows it
    with pytest.raises(KeyError):
        store.add(record)  # another create of the same record is still refused
    assert store.get(record.id) == record


def test_redis_away_under_requests_is_logged_once_and_its_return_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mock_server.http import context
    from mock_server.http.app import create_app
    from mock_server.storage import replicas

    monkeypatch.setattr(replicas, "SOCKET_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(replicas, "POOL_TIMEOUT_SECONDS", 0.5)
    REDIS.answered()  # whatever an earlier test left
    caplog.set_level(logging.INFO)
    caplog.clear()
    with run_redis(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        app = create_app({"MOCK_REDIS_URL": url})
    state = context.state(app)
    try:
        client = app.test_client()
        headers = {"Authorization": "Bearer r8_t"}
        answers = []
        for _ in range(30):  # a trickle of requests while Redis is away
            answers.append(client.get("/v1/predictions/abc", headers=headers).status_code)
            time.sleep(0.05)
        assert set(answers) == {503}
        with run_redis(tmp_path, port=port):
            deadline = time.monotonic() + BOUND
            while client.get("/v1/predictions/abc", headers=headers).status_code != 404:
                assert time.monotonic() < deadline, "the mock did not use Redis again"
                time.sleep(0.05)
            while REDIS.down:
                assert time.monotonic() < deadline, "Redis's return was not noticed"
                time.sleep(0.05)
            mine = [r for r in caplog.records if r.name.startswith("mock_server")]
            assert not [r for r in mine if r.exc_info], "a traceback for an expected condition"
            lines = [r.getMessage() for r in mine if r.levelno >= logging.WARNING]
            assert sum("unreachable" in line for line in lines) == 1, lines
            assert sum("reachable again" in line for line in lines) == 1, lines
            assert len(lines) <= 3, lines  # the two, and that the shared state was restored
    finally:
        if state.webhooks is not None:
            state.webhooks.close()
        if state.replicas is not None:
            state.replicas.close()

"""Store and service: ordering, cursors, cancel and waiting, on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from mock_server.domain.changes import ChangeSignal
from mock_server.domain.clock import AdjustableClock, FakeClock, SystemClock
from mock_server.domain.events import follow
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.purging import BackgroundPurger
from mock_server.domain.service import (
    InvalidCursorError,
    PredictionService,
    decode_cursor,
    encode_cursor,
)
from mock_server.domain.store import sort_key
from mock_server.storage.memory import InMemoryStore


@pytest.fixture
def service(clock: FakeClock) -> PredictionService:
    return PredictionService(
        store=InMemoryStore(),
        clock=clock,
        starting_seconds=1.0,
        processing_seconds=3.0,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )


def test_pages_are_newest_first_and_chain(service: PredictionService, clock: FakeClock) -> None:
    ids = []
    for n in range(250):
        ids.append(service.create({"prompt": f"p{n}"}).id)
        clock.advance(0.01)
    first, _ = service.page(None)
    assert [r.id for r in first.records] == ids[::-1][:100]
    assert first.newer is None
    assert first.older is not None
    second, _ = service.page(encode_cursor(before=first.older))
    assert [r.id for r in second.records] == ids[::-1][100:200]
    third, _ = service.page(encode_cursor(before=second.older))
    assert [r.id for r in third.records] == ids[::-1][200:]
    assert third.older is None
    assert third.newer is not None
    back, _ = service.page(encode_cursor(after=third.newer))
    assert [r.id for r in back.records] == [r.id for r in second.records]


def test_page_filters_by_creation_time(service: PredictionService, clock: FakeClock) -> None:
    start = clock.now()
    made = []
    for _ in range(5):
        made.append(service.create({"prompt": "x"}).id)
        clock.advance(10)
    page, _ = service.page(None, created_after=start + 10, created_before=start + 40)
    assert [r.id for r in page.records] == made[1:4][::-1]


@pytest.mark.parametrize("cursor", ["", "!!", "e30", "eyJiIjotMX0", "eyJ4IjoxfQ", "bm90IGpzb24"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(before=7)) == (7, None)
    assert decode_cursor(encode_cursor(after=0)) == (None, 0)


def test_cancel_unknown_is_none(service: PredictionService) -> None:
    assert service.cancel("nope") is None


def test_wait_returns_when_the_prediction_ends(
    service: PredictionService, clock: FakeClock
) -> None:
    record = service.create({"prompt": "x"})
    start = clock.now()
    waited, ended = service.wait(record.id, 60)
    assert ended
    assert clock.now() - start == pytest.approx(4.0)
    assert waited.id == record.id


def test_wait_gives_up_after_its_limit(service: PredictionService, clock: FakeClock) -> None:
    record = service.create({"prompt": "x"})
    start = clock.now()
    _, ended = service.wait(record.id, 2)
    assert not ended
    assert clock.now() - start == pytest.approx(2.0)


class CancellingClock(FakeClock):
    """A fake clock that cancels a prediction once ``at`` seconds have passed."""

    def __init__(self, at: float) -> None:
        super().__init__(start=0.0)
        self.at = at
        self.cancel: Callable[[], object] = lambda: None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.now() >= self.at:
            self.cancel()


def test_wait_notices_a_cancel() -> None:
    clock = CancellingClock(at=5.0)
    slow = PredictionService(
        store=InMemoryStore(),
        clock=clock,
        starting_seconds=0,
        processing_seconds=1e6,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    record = slow.create({"prompt": "x"})
    clock.cancel = lambda: slow.cancel(record.id)
    waited, ended = slow.wait(record.id, 60)
    assert ended
    assert waited.canceled_at == pytest.approx(5.0, abs=0.1)
    assert clock.now() < 6.0


def test_store_rejects_duplicate_ids(service: PredictionService) -> None:
    record = service.create({"prompt": "x"})
    with pytest.raises(KeyError):
        service.store.add(record)


def test_create_answered_answers_for_the_stored_record_before_listeners_hear(
    clock: FakeClock,
) -> None:
    events: list[tuple[str, str]] = []
    store = InMemoryStore()

    class Listener:
        def created(self, record: PredictionRecord) -> None:
            assert store.get(record.id) == record
            events.append(("told", record.id))

        def changed(self, record: PredictionRecord) -> None:
            raise AssertionError("nothing changed")

    def answer(record: PredictionRecord) -> str:
        events.append(("answered", record.id))
        return f"created {record.id}"

    service = PredictionService(
        store=store, clock=clock, starting_seconds=1.0, processing_seconds=3.0,
        listener=Listener(), retention_seconds=3600.0, record_ttl_seconds=86400.0
    )  # fmt: skip
    answered = service.create_answered(answer, {"prompt": "x"}, {"webhook": "https://h/x"})
    [record] = store.page(limit=10).records
    assert answered == f"created {record.id}"
    assert record.extra == {"webhook": "https://h/x"}
    assert events == [("answered", record.id), ("told", record.id)]


def test_old_records_are_dropped_and_cursors_survive(clock: FakeClock) -> None:
    service = PredictionService(
        store=InMemoryStore(),
        clock=clock,
        starting_seconds=0,
        processing_seconds=0,
        retention_seconds=3600.0,
        record_ttl_seconds=100,
    )
    created = clock.now()
    first = [service.create({"prompt": f"old {n}"}).id for n in range(3)]
    page, _ = service.page(None)
    clock.advance(150)
    fresh = service.create({"prompt": "new"}).id
    assert all(service.get(pid) is None for pid in first)
    assert all(service.store.get(pid) is None for pid in first), "purged by the new create"
    assert service.get(fresh) is not None
    assert page.newer is None
    # A cursor at a purged record (the third, inserted third) still leads on.
    newer, _ = service.page(encode_cursor(after=sort_key(created, 2)))
    assert [r.id for r in newer.records] == [fresh]


def test_expired_records_are_hidden_before_the_next_purge(clock: FakeClock) -> None:
    service = PredictionService(
        store=InMemoryStore(), clock=clock, starting_seconds=0, processing_seconds=0,
        retention_seconds=3600.0, record_ttl_seconds=100,
    )  # fmt: skip
    record = service.create({"prompt": "x"})
    clock.advance(101)
    assert service.get(record.id) is None
    assert service.cancel(record.id) is None
    assert service.page(None)[0].records == []
    assert service.store.get(record.id) is not None, "still stored until a create purges it"


class CountingStore(InMemoryStore):
    """Counts purges."""

    def __init__(self) -> None:
        super().__init__()
        self.purges = 0

    def purge(self, created_before: float) -> int:
        self.purges += 1
        return super().purge(created_before)


def test_creates_purge_at_most_once_a_second(clock: FakeClock) -> None:
    store = CountingStore()
    service = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0,
        processing_seconds=0,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    for _ in range(10):
        service.create({"prompt": "x"})
        clock.advance(0.09)
    assert store.purges == 1
    clock.advance(0.2)
    service.create({"prompt": "x"})
    assert store.purges == 2


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    return thread, results


def test_a_stop_answers_a_held_wait_with_the_prediction_as_it_stands() -> None:
    changes = ChangeSignal()
    service = PredictionService(
        store=InMemoryStore(),
        clock=SystemClock(),
        starting_seconds=300,
        processing_seconds=300,
        changes=changes,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    record = service.create({"prompt": "held"})
    waiting = changes.generation
    thread, results = _in_thread(lambda: service.wait(record.id, 60))
    changes.stop()
    thread.join(10)
    assert not thread.is_alive(), "the wait outlived the stop"
    assert results == [(record, False)]
    assert changes.generation > waiting
    # Once stopping, a new wait does not sleep at all.
    again, more = _in_thread(lambda: service.wait(record.id, 60))
    again.join(10)
    assert more == [(record, False)]


def test_a_stop_ends_an_event_stream_that_waits_for_its_next_event() -> None:
    changes = ChangeSignal()
    clock = SystemClock()
    service = PredictionService(
        store=InMemoryStore(),
        clock=clock,
        starting_seconds=300,
        processing_seconds=300,
        changes=changes,
        retention_seconds=3600.0,
        record_ttl_seconds=86400.0,
    )
    record = service.create({"prompt": "streamed"})
    body = follow(lambda: service.get(record.id), clock, "http://mock", changes=changes)
    thread, results = _in_thread(lambda: list(body))
    changes.stop()
    thread.join(10)
    assert not thread.is_alive(), "the stream outlived the stop"
    assert results == [[]]  # nothing had happened yet: it ended without an event


class _SlowPurgeStore(InMemoryStore):
    """A store whose purge waits until it is let go, and says when one dropped records."""

    def __init__(self) -> None:
        super().__init__()
        self.let_go = threading.Event()
        self.purged = threading.Event()

    def purge(self, created_before: float) -> int:
        assert self.let_go.wait(10), "the purge was never let go"
        dropped = super().purge(created_before)
        if dropped:
            self.purged.set()
        return dropped


def test_a_purge_runs_off_the_request_path(clock: FakeClock) -> None:
    store = _SlowPurgeStore()
    purger = BackgroundPurger(store)
    service = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0,
        processing_seconds=0,
        record_ttl_seconds=100,
        purger=purger.request,
        retention_seconds=3600.0,
    )
    old = service.create({"prompt": "old"}).id
    clock.advance(150)
    thread, created = _in_thread(lambda: service.create({"prompt": "new"}).id)
    thread.join(5)
    assert created, "the create waited for the purge"
    assert store.get(old) is not None  # not purged yet: the purge is still held
    store.let_go.set()
    assert store.purged.wait(5)
    assert store.get(old) is None
    assert purger.purged >= 1


def test_a_held_latency_ends_when_the_server_stops_or_the_clock_moves() -> None:
    changes = ChangeSignal()
    clock = AdjustableClock()
    clock.on_advance(changes.notify)
    moved, moved_result = _in_thread(lambda: changes.hold(clock, 60))
    for _ in range(100):  # whenever the hold began, a move of its 60 s ends it
        clock.advance(60)
        moved.join(0.1)
        if not moved.is_alive():
            break
    assert not moved.is_alive(), "clock moves did not end the hold"
    stopped, _ = _in_thread(lambda: changes.hold(clock, 60))
    changes.stop()
    stopped.join(10)
    assert not stopped.is_alive(), "the stop did not end the hold"
    assert moved_result == [None]

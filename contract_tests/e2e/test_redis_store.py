"""The Redis and SQLite stores against the in-memory one, the Redis store's cache and codec,
the shared secret, the bus."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest
import redis

from contract_tests.support.servers import free_port
from mock_server.domain import lifecycle
from mock_server.domain.clock import FakeClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.store import Store
from mock_server.storage.bus import RedisBus
from mock_server.storage.encoding import decode as _decode
from mock_server.storage.encoding import encode as _encode
from mock_server.storage.memory import InMemoryStore
from mock_server.storage.redis_store import RedisStore
from mock_server.storage.shared_state import shared_secret
from mock_server.storage.sqlite_store import SqliteStore

WAIT = 5.0


def make(clock: FakeClock, prompt: str = "a cat", **changes: object) -> PredictionRecord:
    """A new record created now: starts after 1 s and runs 3 s."""
    record = lifecycle.new_record(
        {"prompt": prompt, "aspect_ratio": "16:9"},
        now=clock.now(),
        starting_seconds=1.0,
        processing_seconds=3.0,
        retention_seconds=3600.0,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def add_spaced(store: Store, clock: FakeClock, count: int, step: float = 10.0) -> list[str]:
    """Add ``count`` records ``step`` seconds apart; their ids, oldest first."""
    ids = []
    for n in range(count):
        record = make(clock, f"p{n}")
        store.add(record)
        ids.append(record.id)
        clock.advance(step)
    return ids


def ids_of(page_records: list[PredictionRecord]) -> list[str]:
    return [record.id for record in page_records]


def newest_position(store: Store) -> int:
    """Position of the newest record (there must be at least two)."""
    page = store.page(limit=1)
    assert page.older is not None
    return page.older


class ClientStore(RedisStore):
    """A RedisStore that keeps its client at hand, for going behind the store's back."""

    def __init__(self, client: redis.Redis, *, clock: FakeClock, prefix: str, cache_size: int):
        super().__init__(client, clock=clock, prefix=prefix, cache_size=cache_size)
        self.raw = client


class MakeStore(Protocol):
    def __call__(self, *, cache_size: int = 4096) -> ClientStore: ...


@pytest.fixture
def make_redis_store(
    redis_url: str,
    redis_prefix: str,
    clock: FakeClock,
) -> Iterator[MakeStore]:
    """Makes stores on the test's prefix (so they share records), each with its own client."""
    made: list[ClientStore] = []

    def make_store(*, cache_size: int = 4096) -> ClientStore:
        client = redis.Redis.from_url(redis_url)
        try:
            store = ClientStore(client, clock=clock, prefix=redis_prefix, cache_size=cache_size)
        except BaseException:
            client.close()
            raise
        made.append(store)
        return store

    yield make_store
    for store in made:
        store.raw.close()


@pytest.fixture
def make_sqlite_store(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[[], SqliteStore]]:
    """Makes SQLite stores on the test's directory (so they share records)."""
    made: list[SqliteStore] = []

    def make_store() -> SqliteStore:
        made.append(SqliteStore(tmp_path / "data", clock=clock))
        return made[-1]

    yield make_store
    for store in made:
        store.close()


@pytest.fixture(params=["memory", "redis", "sqlite"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    if request.param == "sqlite":
        make: Callable[[], SqliteStore] = request.getfixturevalue("make_sqlite_store")
        return make()
    make_store: MakeStore = request.getfixturevalue("make_redis_store")
    return make_store()


# --- both stores ------------------------------------------------------------------------


def test_add_then_get(store: Store, clock: FakeClock) -> None:
    record = make(clock)
    store.add(record)
    assert store.get(record.id) == record
    assert store.get("unknown") is None


def test_duplicate_add_raises_and_keeps_the_first(store: Store, clock: FakeClock) -> None:
    record = make(clock)
    store.add(record)
    with pytest.raises(KeyError):
        store.add(replace(record, seed=record.seed + 1))
    assert store.get(record.id) == record
    assert ids_of(store.page(limit=10).records) == [record.id]


def test_add_while_stores_and_answers_what_meanwhile_made(store: Store, clock: FakeClock) -> None:
    record = make(clock)
    calls: list[str] = []

    def meanwhile() -> str:
        calls.append("meanwhile")
        return "answer"

    assert store.add_while(record, meanwhile) == "answer"
    assert calls == ["meanwhile"]
    assert store.get(record.id) == record
    assert ids_of(store.page(limit=10).records) == [record.id]


def test_add_while_refuses_a_duplicate_and_keeps_the_first(store: Store, clock: FakeClock) -> None:
    record = make(clock)
    store.add(record)
    with pytest.raises(KeyError):
        store.add_while(replace(record, seed=record.seed + 1), lambda: "answer")
    assert store.get(record.id) == record


def test_update_replaces_the_record(store: Store, clock: FakeClock) -> None:
    record = make(clock)
    store.add(record)
    updated = store.update(record.id, lambda r: lifecycle.cancel(r, clock.now()))
    assert updated is not None
    assert updated.canceled_at == clock.now()
    assert store.get(record.id) == updated


def test_update_of_unknown_id_is_none(store: Store) -> None:
    calls: list[PredictionRecord] = []

    def change(record: PredictionRecord) -> PredictionRecord:
        calls.append(record)
        return record

    assert store.update("unknown", change) is None
    assert calls == []


def test_concurrent_updates_lose_nothing(store: Store, clock: FakeClock) -> None:
    record = make(clock, extra={"n": 0})
    store.add(record)
    threads, rounds = 8, 25

    def bump(current: PredictionRecord) -> PredictionRecord:
        return lifecycle.replace_extra(current, {"n": current.extra["n"] + 1})

    def work() -> None:
        for _ in range(rounds):
            store.update(record.id, bump)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    final = store.get(record.id)
    assert final is not None
    assert final.extra["n"] == threads * rounds


def test_pages_are_newest_first_and_chain(store: Store, clock: FakeClock) -> None:
    ids = add_spaced(store, clock, 7)
    first = store.page(limit=3)
    assert ids_of(first.records) == ids[::-1][:3]
    assert first.newer is None
    assert first.older is not None
    second = store.page(limit=3, before=first.older)
    assert ids_of(second.records) == ids[::-1][3:6]
    assert second.older is not None
    assert second.newer is not None
    third = store.page(limit=3, before=second.older)
    assert ids_of(third.records) == ids[:1]
    assert third.older is None
    assert third.newer is not None
    back = store.page(limit=3, after=third.newer)
    assert ids_of(back.records) == ids_of(second.records)
    assert back.newer == second.newer
    assert back.older == second.older
    top = store.page(limit=3, after=second.newer)
    assert ids_of(top.records) == ids_of(first.records)
    assert top.newer is None


def test_after_wins_over_before(store: Store, clock: FakeClock) -> None:
    ids = add_spaced(store, clock, 4)
    third = store.page(limit=2).older  # position of the third record
    assert third is not None
    page = store.page(limit=10, before=third, after=third - 1)
    assert ids_of(page.records) == ids[:1:-1]


def test_empty_pages_have_no_neighbours(store: Store, clock: FakeClock) -> None:
    assert store.page(limit=10) == store.page(limit=10, before=5)
    empty = store.page(limit=10)
    assert (empty.records, empty.older, empty.newer) == ([], None, None)
    add_spaced(store, clock, 2)
    zero = store.page(limit=0)
    assert (zero.records, zero.older, zero.newer) == ([], None, None)
    whole = store.page(limit=2)
    assert (whole.older, whole.newer) == (None, None)


def test_page_filters_by_creation_time(store: Store, clock: FakeClock) -> None:
    start = clock.now()
    ids = add_spaced(store, clock, 6)
    after, before = start + 10, start + 40
    everything = store.page(limit=10, created_after=after, created_before=before)
    assert ids_of(everything.records) == ids[1:4][::-1]
    assert (everything.older, everything.newer) == (None, None)
    newest = store.page(limit=2, created_after=after, created_before=before)
    assert ids_of(newest.records) == [ids[3], ids[2]]
    assert newest.newer is None  # newer records exist, but none in the window
    assert newest.older is not None
    rest = store.page(limit=2, before=newest.older, created_after=after, created_before=before)
    assert ids_of(rest.records) == [ids[1]]
    assert rest.older is None
    assert rest.newer is not None
    assert ids_of(store.page(limit=10, created_after=start + 50).records) == [ids[5]]
    assert ids_of(store.page(limit=10, created_before=start + 10).records) == [ids[0]]


def test_a_sparse_filter_is_found_across_batches(store: Store, clock: FakeClock) -> None:
    start = clock.now()
    ids = add_spaced(store, clock, 250, step=1.0)
    page = store.page(limit=2, created_before=start + 3)
    assert ids_of(page.records) == [ids[2], ids[1]]
    assert page.older is not None
    assert page.newer is None
    later = store.page(limit=1, after=page.older, created_after=start + 245)
    assert ids_of(later.records) == [ids[245]]
    assert later.newer is not None
    assert later.older is None


def test_records_created_at_one_instant_keep_their_insertion_order(
    store: Store, clock: FakeClock
) -> None:
    ids = []
    for n in range(5):
        record = make(clock, f"same{n}")
        store.add(record)
        ids.append(record.id)
    first = store.page(limit=2)
    assert ids_of(first.records) == [ids[4], ids[3]]
    assert first.older is not None
    rest = store.page(limit=10, before=first.older)
    assert ids_of(rest.records) == [ids[2], ids[1], ids[0]]


class _CountingDict(dict[str, PredictionRecord]):
    """A dict that counts the records read out of it."""

    reads = 0

    def __getitem__(self, key: str) -> PredictionRecord:
        type(self).reads += 1
        return super().__getitem__(key)


def test_a_memory_page_reads_only_the_records_it_returns(clock: FakeClock) -> None:
    store = InMemoryStore()
    start = clock.now()
    ids = add_spaced(store, clock, 5000, step=1.0)
    store._by_id = _CountingDict(store._by_id)
    _CountingDict.reads = 0
    narrow = store.page(limit=3, created_after=start + 10, created_before=start + 12)
    assert ids_of(narrow.records) == [ids[11], ids[10]]
    first = store.page(limit=100)
    assert first.older is not None
    deep = store.page(limit=100, before=first.older - 1 - (4000 << 40))
    assert len(deep.records) == 100
    purged = store.purge(start + 4990)
    assert purged == 4990
    # Two records, a page of 100 and one of 100 read; the purge reads none of the rest.
    assert _CountingDict.reads == 202


def test_a_redis_page_costs_the_same_commands_at_any_size(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store = make_redis_store(cache_size=0)
    start = clock.now()
    ids = add_spaced(store, clock, 3000, step=1.0)

    def commands(action: Callable[[], object]) -> int:
        def calls() -> int:
            stats = store.raw.info("commandstats")
            return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

        before = calls()
        action()
        return calls() - before

    # Windows at the old end, in the middle and a cursor deep into the store: the index
    # read, one look past the page's edge, and one MGET of the records, whatever the size.
    oldest = commands(lambda: store.page(limit=2, created_before=start + 3))
    middle = commands(
        lambda: store.page(limit=5, created_after=start + 1500, created_before=start + 1510)
    )
    page = store.page(limit=2, created_before=start + 3)
    assert ids_of(page.records) == [ids[2], ids[1]]
    assert page.older is not None
    deep = commands(lambda: store.page(limit=10, after=page.older))
    assert (oldest, middle, deep) == (3, 3, 3)


def test_purge_drops_only_older_records_and_keeps_positions(store: Store, clock: FakeClock) -> None:
    start = clock.now()
    ids = add_spaced(store, clock, 5)
    cursor = store.page(limit=2).older  # before it: ids[2], ids[1], ids[0]
    assert cursor is not None
    assert store.purge(start + 20) == 2  # created exactly at the cut-off stays
    assert store.get(ids[0]) is None
    assert store.get(ids[1]) is None
    assert store.get(ids[2]) is not None
    older = store.page(limit=10, before=cursor)
    assert ids_of(older.records) == [ids[2]]
    assert older.older is None
    assert ids_of(store.page(limit=10).records) == ids[:1:-1]
    assert store.purge(start) == 0


def test_clear_drops_everything_and_positions_stay_unused(store: Store, clock: FakeClock) -> None:
    ids = add_spaced(store, clock, 3)
    last = newest_position(store)
    assert store.clear() == 3
    assert all(store.get(pid) is None for pid in ids)
    assert store.page(limit=10).records == []
    assert store.clear() == 0
    fresh = add_spaced(store, clock, 2)
    assert newest_position(store) > last
    assert ids_of(store.page(limit=10, after=last).records) == fresh[::-1]
    assert store.page(limit=10, before=last + 1).records == []


def test_positions_grow_after_purge(store: Store, clock: FakeClock) -> None:
    add_spaced(store, clock, 3)
    last = newest_position(store)
    assert store.purge(clock.now()) == 3
    fresh = add_spaced(store, clock, 2)
    assert ids_of(store.page(limit=10, after=last).records) == fresh[::-1]


# --- Redis and SQLite: the same answers as the in-memory store -------------------------------


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
@pytest.mark.parametrize("seed", range(3))
def test_pages_match_the_in_memory_store(
    request: pytest.FixtureRequest, clock: FakeClock, seed: int, kind: str
) -> None:
    """Random adds, purges and clears, then random pages: both stores answer alike."""
    rng = random.Random(seed)
    make_shared: Callable[[], Store] = request.getfixturevalue(f"make_{kind}_store")
    memory, shared = InMemoryStore(), make_shared()
    start = clock.now()
    pages = added = 0
    for _ in range(300):
        roll = rng.random()
        if roll < 0.72:
            record = make(clock)
            memory.add(record)
            shared.add(record)
            added += 1
            clock.advance(rng.choice([0.0, 0.5, 1.0]))
        elif roll < 0.77:
            cut = clock.now() - rng.uniform(10, 100)
            assert shared.purge(cut) == memory.purge(cut)
        elif roll < 0.78:
            assert shared.clear() == memory.clear()
        else:
            span = clock.now() - start + 1
            limit = rng.choice([0, 1, 2, 5, 30, 150])
            before = rng.choice([None, rng.randrange(added + 1)])
            after = rng.choice([None, None, rng.randrange(added + 1)])
            low = start + rng.uniform(0, span)
            created_after = rng.choice([None, low])
            created_before = rng.choice([None, low + rng.uniform(0, span)])
            answers = [
                store.page(
                    limit=limit,
                    before=before,
                    after=after,
                    created_after=created_after,
                    created_before=created_before,
                )
                for store in (shared, memory)
            ]
            got, want = ((ids_of(a.records), a.older, a.newer) for a in answers)
            assert got == want, (limit, before, after, created_after, created_before)
            pages += bool(want[0])
    assert pages > 25  # most pages had records to compare


# --- Redis only: codec ------------------------------------------------------------------


def full_record(clock: FakeClock) -> PredictionRecord:
    """A record with every field set away from its default."""
    return PredictionRecord(
        id=lifecycle.new_prediction_id(),
        input={
            "prompt": "ünïcödé \u2603 and a long prompt well past thirty-two characters",
            "aspect_ratio": "4:3",
            "n": 3,
            "ratio": 0.1,
            "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
            "nothing": None,
        },
        created_at=clock.now() + 0.000_123,
        starting_seconds=0.3,
        processing_seconds=1e-7,
        seed=2**31 - 1,
        blocked=True,
        canceled_at=clock.now() + 1 / 3,
        deadline=clock.now() + 2.7182818284590455,
        retention_seconds=0.0,
        model="someone/else",
        source="web",
        extra={
            "webhook": "https://example.com/hook",
            "webhook_events_filter": ["start", "completed"],
            "links": Links(api="https://h/replicate/v1", root="https://h"),
            "n": 7,
        },
        failure="boom",
        outcome="fail",
        log_lines=("first", "", "third \u00e9"),
    )


def test_codec_round_trips_every_field(clock: FakeClock) -> None:
    record = full_record(clock)
    encoded = _encode(record)
    assert b'": ' not in encoded  # compact separators
    assert "ü".encode() in encoded  # and no \u escapes
    decoded = _decode(encoded)
    assert decoded == record
    assert type(decoded.log_lines) is tuple
    assert isinstance(decoded.extra["links"], Links)
    assert decoded.input["aspect_ratio"] is sys.intern("4:3")
    plain = make(clock)
    assert _decode(_encode(plain)) == plain


def test_codec_round_trips_a_lone_surrogate(clock: FakeClock) -> None:
    record = lifecycle.replace_extra(make(clock), {"note": "half a pair: \ud800"})
    record = replace(record, input={"prompt": "odd \udfff text"})
    encoded = _encode(record)
    encoded.decode()  # valid UTF-8: the surrogates are escaped
    assert _decode(encoded) == record


def test_codec_refuses_foreign_data() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        _decode(b"[1, 2]")
    with pytest.raises(ValueError, match="not an encoded prediction record"):
        _decode(b'{"id": "x"}')


def test_records_with_every_field_survive_the_store(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    writer, reader = make_redis_store(), make_redis_store()
    record = full_record(clock)
    writer.add(record)
    assert reader.get(record.id) == record


# --- Redis only: shared by several stores -----------------------------------------------


def test_two_stores_on_one_server_share_records(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    one, two = make_redis_store(), make_redis_store()
    first = make(clock, "one")
    one.add(first)
    clock.advance(1)
    second = make(clock, "two")
    two.add(second)
    assert two.get(first.id) == first
    assert one.get(second.id) == second
    assert ids_of(one.page(limit=10).records) == [second.id, first.id]
    with pytest.raises(KeyError):
        two.add(first)
    two.update(first.id, lambda r: lifecycle.cancel(r, clock.now()))
    seen = one.get(first.id)
    assert seen is not None
    assert seen.canceled_at == clock.now()


def test_stores_with_other_prefixes_are_apart(
    make_redis_store: MakeStore,
    redis_url: str,
    clock: FakeClock,
) -> None:
    mine = make_redis_store()
    record = make(clock)
    mine.add(record)
    other = RedisStore.from_url(redis_url, clock=clock, prefix=mine.prefix + "other:")
    try:
        assert other.get(record.id) is None
        assert other.page(limit=10).records == []
        assert other.clear() == 0
    finally:
        other.close()
    assert mine.get(record.id) == record


# --- Redis only: a write overlapped with other work --------------------------------------


def test_add_while_reloads_a_script_redis_lost(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store = make_redis_store()
    store.add(make(clock, "first"))  # the script is loaded...
    store.raw.script_flush()  # ...and forgotten, as after a restart
    record = make(clock, "second")
    assert store.add_while(record, lambda: "answer") == "answer"
    assert store.get(record.id) == record
    assert len(store.page(limit=10).records) == 2


def test_a_failing_meanwhile_leaves_no_stray_answer_behind(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    """The script's answer is unread when ``meanwhile`` raises: the connection must not
    go back to the pool with it, or the next command would read it as its own."""
    store = make_redis_store()
    stored = make(clock, "stored")
    store.add(stored)
    clock.advance(1)  # still running: get reads Redis, not the cache

    def fail() -> None:
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError, match="rendering failed"):
        store.add_while(make(clock, "unanswered"), fail)
    for _ in range(3):
        assert store.get(stored.id) == stored
    after = make(clock, "after")
    assert store.add_while(after, lambda: "answer") == "answer"
    assert store.get(after.id) == after


def store_with_writer(
    make_redis_store: MakeStore, clock: FakeClock
) -> tuple[ClientStore, redis.connection.Connection]:
    """A store that has made one create, and so holds its write connection."""
    store = make_redis_store()
    store.add_while(make(clock, "first"), lambda: None)
    writer = store._creates.writes.connection
    assert writer is not None
    return store, writer


def test_add_while_gets_past_a_connection_redis_closed(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store, writer = store_with_writer(make_redis_store, clock)
    writer.send_command("CLIENT", "ID")  # type: ignore[no-untyped-call]
    writer_id = writer.read_response()
    assert store.raw.client_kill_filter(_id=str(writer_id))  # as when Redis restarts
    record = make(clock, "second")
    assert store.add_while(record, lambda: "answer") == "answer"
    assert store.get(record.id) == record


def refuse_one_evalsha(monkeypatch: pytest.MonkeyPatch, error: redis.RedisError) -> list[str]:
    """Make the next EVALSHA sent on any connection fail with ``error`` (the connection is
    dropped first, as redis-py does on a failed send); the list empties once it has."""
    real = redis.connection.AbstractConnection.send_command
    pending = ["EVALSHA"]

    def send(self: redis.connection.AbstractConnection, *args: object, **kwargs: object) -> None:
        if pending and args[0] == pending[0]:
            pending.pop()
            self.disconnect()  # type: ignore[no-untyped-call]
            raise error
        real(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_command", send)
    return pending


def test_a_refused_send_gives_the_writer_back(
    make_redis_store: MakeStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_redis_store()
    refuse_one_evalsha(monkeypatch, redis.ResponseError("NOAUTH Authentication required"))
    with pytest.raises(redis.ResponseError):
        store.add_while(make(clock, "refused"), lambda: None)
    assert not store._creates.writes.lock.locked()
    record = make(clock, "accepted")
    store.add_while(record, lambda: None)
    assert store.get(record.id) == record


def test_a_writer_from_before_a_fork_is_not_used(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store, inherited = store_with_writer(make_redis_store, clock)
    inherited.pid = -1  # as if this process were a fork of the one that connected
    record = make(clock, "child")
    store.add_while(record, lambda: None)
    assert store._creates.writes.connection is not inherited
    assert store.get(record.id) == record


def test_close_gives_the_writer_back_to_the_pool(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store = make_redis_store()
    store.add_while(make(clock), lambda: None)
    pool = store.raw.connection_pool
    assert isinstance(pool, redis.ConnectionPool)
    assert store._creates.writes.connection in pool._in_use_connections
    store.close()
    assert store._creates.writes.connection is None
    assert not pool._in_use_connections


def test_add_while_from_many_threads_at_once(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    records = [make(clock, f"p{n}") for n in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda r: store.add_while(r, lambda: r.id), records))
    assert answers == [record.id for record in records]
    assert all(store.get(record.id) == record for record in records)
    assert len(store.page(limit=500).records) == len(records)


def test_add_while_falls_back_to_add_when_the_command_cannot_be_sent(
    make_redis_store: MakeStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_redis_store()
    pending = refuse_one_evalsha(monkeypatch, redis.ConnectionError("connection reset"))
    record = make(clock)
    assert store.add_while(record, lambda: "answer") == "answer"
    assert pending == []
    assert store.get(record.id) == record


def test_add_while_without_redis_is_a_redis_error(clock: FakeClock) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", clock=clock)
    called: list[bool] = []
    try:
        with pytest.raises(redis.ConnectionError):
            store.add_while(make(clock), lambda: called.append(True))
    finally:
        store.close()
    assert called == []


# --- Redis only: the cache of ended records ---------------------------------------------


def get_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    calls = stats.get("cmdstat_get", {}).get("calls", 0)
    assert isinstance(calls, int)
    return calls


def test_an_ended_record_is_cached(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    record = make(clock)
    store.add(record)
    clock.advance(4)
    first = store.get(record.id)
    assert first == record
    before = get_calls(store.raw)
    assert store.get(record.id) is first
    assert get_calls(store.raw) == before
    store.raw.delete(f"{store.prefix}rec:{record.id}")
    assert store.get(record.id) is first


def test_a_running_record_is_always_read_again(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    one, two = make_redis_store(), make_redis_store()
    record = make(clock)
    one.add(record)
    clock.advance(2)
    assert one.get(record.id) is not one.get(record.id)
    two.update(record.id, lambda r: lifecycle.cancel(r, clock.now()))
    canceled = one.get(record.id)
    assert canceled is not None
    assert canceled.canceled_at == clock.now()
    assert one.get(record.id) is canceled  # canceled means ended: now it is cached


def test_a_record_is_cached_once_the_clock_passes_its_end(
    make_redis_store: MakeStore, clock: FakeClock
) -> None:
    store = make_redis_store()
    record = make(clock)
    store.add(record)
    assert store.get(record.id) is not store.get(record.id)
    clock.advance(lifecycle.ends_at(record) - clock.now())
    assert store.get(record.id) is store.get(record.id)


def test_pages_fill_the_cache(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    ids = add_spaced(store, clock, 3)
    listed = store.page(limit=10).records
    assert [store.get(pid) for pid in ids[::-1]] == listed
    assert all(store.get(r.id) is r for r in listed)
    assert all(a is b for a, b in zip(store.page(limit=10).records, listed, strict=True))


def test_forget_drops_one_cached_record(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    ids = add_spaced(store, clock, 2)
    for pid in ids:
        assert store.get(pid) is not None
        store.raw.delete(f"{store.prefix}rec:{pid}")
    store.forget(ids[0])
    assert store.get(ids[0]) is None
    assert store.get(ids[1]) is not None
    store.forget_all()
    assert store.get(ids[1]) is None


def test_the_cache_is_bounded(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store(cache_size=2)
    ids = add_spaced(store, clock, 3)
    for pid in ids:
        assert store.get(pid) is not None
    store.raw.delete(*(f"{store.prefix}rec:{pid}" for pid in ids))
    assert store.get(ids[0]) is None  # the least recently used went
    assert store.get(ids[1]) is not None
    assert store.get(ids[2]) is not None


def test_no_cache_with_size_zero(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store(cache_size=0)
    [pid] = add_spaced(store, clock, 1)
    assert store.get(pid) is not store.get(pid)
    with pytest.raises(ValueError, match="cache_size"):
        make_redis_store(cache_size=-1)


def test_purge_and_clear_drop_cached_records(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    start = clock.now()
    ids = add_spaced(store, clock, 3)
    assert all(store.get(pid) is not None for pid in ids)
    assert store.purge(start + 5) == 1
    assert store.get(ids[0]) is None
    assert store.get(ids[1]) is not None
    assert store.clear() == 2
    assert store.get(ids[1]) is None
    assert store.get(ids[2]) is None


def test_update_drops_its_cached_record(make_redis_store: MakeStore, clock: FakeClock) -> None:
    store = make_redis_store()
    [pid] = add_spaced(store, clock, 1)
    cached = store.get(pid)
    assert cached is not None
    store.update(pid, lambda r: lifecycle.replace_extra(r, {"seen": True}))
    fresh = store.get(pid)
    assert fresh is not None
    assert fresh.extra == {"seen": True}


# --- the shared webhook secret ----------------------------------------------------------


def test_shared_secret_keeps_the_first(
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    assert shared_secret(redis_client, redis_prefix, "first") == "first"
    assert shared_secret(redis_client, redis_prefix, "second") == "first"
    assert shared_secret(redis_client, redis_prefix + "x:", "third") == "third"
    assert (
        shared_secret(redis_client, redis_prefix, "chosen", pin=True) == "chosen"
    )  # --webhook-secret
    assert shared_secret(redis_client, redis_prefix, "later") == "chosen"


# --- the bus ----------------------------------------------------------------------------


class Inbox:
    """Collects events from a bus's thread; ``wait`` until ``count`` arrived."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[dict[str, object]] = []
        self.fail_on = fail_on
        self._arrived = threading.Condition()

    def __call__(self, event: dict[str, object]) -> None:
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        if event.get("kind") == self.fail_on:
            raise RuntimeError("handler failure")

    def wait(self, count: int) -> list[dict[str, object]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.events) >= count, WAIT)
            return list(self.events)


def subscribers(client: redis.Redis, channel: str, *, until: int) -> int:
    """How many subscribe to ``channel``, once that is ``until`` or :data:`WAIT` has passed."""
    deadline = time.monotonic() + WAIT
    while (count := int(client.pubsub_numsub(channel)[0][1])) != until:
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return count


@pytest.fixture
def buses(
    redis_client: redis.Redis,
    redis_prefix: str,
) -> Iterator[tuple[RedisBus, RedisBus]]:
    one = RedisBus(redis_client, channel=f"{redis_prefix}events")
    two = RedisBus(redis_client, channel=f"{redis_prefix}events")
    yield one, two
    one.close()
    two.close()


def test_events_reach_other_buses_only(buses: tuple[RedisBus, RedisBus]) -> None:
    one, two = buses
    assert one.origin != two.origin
    inbox_one, inbox_two = Inbox(), Inbox()
    one.listen(inbox_one)
    two.listen(inbox_two)
    one.publish({"kind": "changed", "id": "abc"})
    two.publish({"kind": "clock", "offset_seconds": 1.5})
    assert inbox_two.wait(1) == [{"kind": "changed", "id": "abc", "origin": one.origin}]
    assert inbox_one.wait(1) == [{"kind": "clock", "offset_seconds": 1.5, "origin": two.origin}]
    one.publish({"kind": "reset"})  # a marker: had one's own events come back, they'd be here
    assert inbox_two.wait(2)[1]["kind"] == "reset"
    two.publish({"kind": "reset"})
    assert [event["kind"] for event in inbox_one.wait(2)] == ["clock", "reset"]


def test_a_failing_handler_does_not_stop_delivery(
    buses: tuple[RedisBus, RedisBus],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender, receiver = buses
    inbox = Inbox(fail_on="changed")
    receiver.listen(inbox)
    sender.publish({"kind": "changed", "id": "x"})
    redis_client.publish(receiver.channel, b"not json")
    sender.publish({"kind": "reset"})
    assert [event["kind"] for event in inbox.wait(2)] == ["changed", "reset"]
    messages = [record.getMessage() for record in caplog.records]
    assert any(text.startswith("the handler of") for text in messages), messages
    assert any("not JSON" in text for text in messages), messages
    assert not any("retrying" in text for text in messages), messages  # the thread never broke


def test_close_is_idempotent_and_stops_delivery(
    buses: tuple[RedisBus, RedisBus],
    redis_client: redis.Redis,
) -> None:
    sender, receiver = buses
    inbox = Inbox()
    receiver.listen(inbox)
    with pytest.raises(RuntimeError, match="already listening"):
        receiver.listen(inbox)
    assert redis_client.pubsub_numsub(receiver.channel)[0][1] == 1
    receiver.close()
    receiver.close()
    assert subscribers(redis_client, receiver.channel, until=0) == 0
    sender.publish({"kind": "reset"})
    with pytest.raises(RuntimeError, match="closed"):
        receiver.listen(inbox)
    assert inbox.events == []
    never_listened = RedisBus(redis_client, channel=receiver.channel)
    never_listened.close()
    never_listened.close()


def test_publish_counts_receivers_and_a_lost_connection_asks_for_a_resync(
    buses: tuple[RedisBus, RedisBus],
    redis_client: redis.Redis,
) -> None:
    sender, receiver = buses
    inbox = Inbox()
    receiver.listen(inbox)
    assert sender.publish({"kind": "changed", "id": "x"}) == 1
    assert inbox.wait(1)[0]["kind"] == "changed"
    redis_client.client_kill_filter(_type="pubsub")  # the receiver's subscription drops
    kinds = [event["kind"] for event in inbox.wait(2)]
    assert kinds[1] == "resync"
    assert subscribers(redis_client, receiver.channel, until=1) == 1  # subscribed again
    sender.publish({"kind": "reset"})
    assert "reset" in [event["kind"] for event in inbox.wait(3)]

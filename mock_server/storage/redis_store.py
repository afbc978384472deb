"""A :class:`~mock_server.domain.store.Store` in Redis, so several mock processes share predictions.

Keys, all under one prefix (``imagen-mock:`` unless told otherwise):

``{prefix}rec:{id}``
    the record, as compact JSON;
``{prefix}order``
    sorted set of ids scored by position (insertion number, from ``{prefix}seq``);
``{prefix}created``
    sorted set of ids scored by ``created_at``;
``{prefix}seq``
    the last position handed out; never reset, so cursors stay meaningful.

A record that has ended can never change again (a cancel leaves an ended prediction
as it is and clocks only move forward), so :meth:`RedisStore.get` keeps such records
in a small local cache; records still running are always read from Redis. "Ended" is
judged by this replica's clock, which the replicas keep equal (a clock move is
confirmed by every replica before it is answered). Another
replica's reset reaches this one through :meth:`RedisStore.forget_all`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from itertools import islice
from typing import Any, Final, TypeVar

import redis
from redis.client import Pipeline
from redis.connection import Connection
from redis.exceptions import NoScriptError

from mock_server.domain import lifecycle
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import Links, PredictionRecord
from mock_server.domain.store import Page

__all__ = ["DEFAULT_PREFIX", "RedisStore", "shared_secret"]

DEFAULT_PREFIX: Final = "imagen-mock:"
#: Ids per DEL / ZREM command when purging or clearing.
_CHUNK: Final = 1000
#: Order-set entries fetched per round trip when a creation-time filter thins them out.
_FILTERED_BATCH: Final = 100
_FIELDS: Final = frozenset(field.name for field in dataclasses.fields(PredictionRecord))
#: Key of the encoded record holding the ``extra`` values that are :class:`Links`.
_LINKS_KEY: Final = "$links"

T = TypeVar("T")

# Atomically: refuse a known id, take the next position, store the record and index it.
_ADD_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return -1
end
local position = redis.call('INCR', KEYS[2]) - 1
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], position, ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return position
"""


class RedisStore:
    """Prediction records in Redis, shared by every store with the same server and prefix.

    Thread-safe. Each method is one or a few Redis round trips; :meth:`add`,
    :meth:`update`, :meth:`purge` and :meth:`clear` are atomic, while :meth:`page`
    reads in batches (a record deleted meanwhile is left out of the page).

    Unlike :class:`~mock_server.storage.memory.InMemoryStore`, which purges from the oldest
    insertion until it meets a newer record, :meth:`purge` drops every record created
    before the cut-off; the two agree whenever records are added in creation order.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        clock: Clock,
        prefix: str = DEFAULT_PREFIX,
        cache_size: int = 4096,
    ) -> None:
        """Use ``client`` (either ``decode_responses`` setting works); ``clock`` decides
        which records have ended and so may be cached (at most ``cache_size``).

        Raises:
            ValueError: if ``cache_size`` is negative.
        """
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._order = f"{prefix}order"
        self._created = f"{prefix}created"
        self._seq = f"{prefix}seq"
        self._add_script = client.register_script(_ADD_SCRIPT)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, PredictionRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget, so a slow read cannot re-cache
        self._owns_client = False
        self._writer: Connection | None = None  # kept out of the pool; see add_while
        self._writer_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock,
        prefix: str = DEFAULT_PREFIX,
        cache_size: int = 4096,
    ) -> RedisStore:
        """A store with its own client for ``url`` (``redis://host:port/db``); :meth:`close`
        closes that client.

        Raises:
            ValueError: if the URL is not a Redis URL or ``cache_size`` is negative.
        """
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        store = cls(
            redis.Redis.from_url(url, decode_responses=False),
            clock=clock,
            prefix=prefix,
            cache_size=cache_size,
        )
        store._owns_client = True
        return store

    @property
    def client(self) -> redis.Redis:
        """The Redis client (for a :class:`~mock_server.storage.bus.RedisBus` or
        :func:`shared_secret`)."""
        return self._client

    @property
    def prefix(self) -> str:
        """The prefix of every key this store uses."""
        return self._prefix

    def close(self) -> None:
        """Give back the connection kept for writes, and close the client if
        :meth:`from_url` made it (a client passed in is left open)."""
        with self._writer_lock:  # the writer goes back to the pool it came from
            if self._writer is not None:
                self._writer.disconnect()  # type: ignore[no-untyped-call]
                self._client.connection_pool.release(self._writer)
                self._writer = None
        if self._owns_client:
            self._client.close()

    def add(self, record: PredictionRecord) -> None:
        """Store a new record at the next position.

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached or refuses.
        """
        keys, args = self._add_arguments(record)
        _check_added(self._add_script(keys=keys, args=args), record.id)

    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        """Store a new record as :meth:`add` does, computing ``meanwhile()`` during the
        round trip: the script is sent, ``meanwhile()`` runs, and only then is Redis's
        answer read. A create renders its response this way while Redis stores it, and
        seldom has to sleep on the answer.

        A command that could not be sent falls back to :meth:`add`, with the client's
        retries. One that was sent is not retried: it may have run.

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached or refuses.
            Exception: whatever ``meanwhile`` raises (the record may then be stored).
        """
        keys, args = self._add_arguments(record)
        connection = self._take_writer()
        try:
            connection.send_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._add_script.sha, len(keys), *keys, *args
            )
        except (redis.ConnectionError, redis.TimeoutError):  # not sent; it was disconnected
            self._give_back(connection)
            self.add(record)
            return meanwhile()
        except BaseException:  # refused on (re)connecting, or interrupted: unusable
            connection.disconnect()  # type: ignore[no-untyped-call]
            self._give_back(connection)
            raise
        position: object = None
        try:
            result = meanwhile()
            with suppress(NoScriptError):  # Redis lost its scripts (restart, flush): none ran
                position = connection.read_response()
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]  # its answer may yet come
            raise
        finally:
            self._give_back(connection)
        if position is None:
            position = self._add_script(keys=keys, args=args)  # loads the script again
        _check_added(position, record.id)
        return result

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record with this id, or None; an ended record may come from the cache.

        Raises:
            redis.RedisError: if Redis cannot be reached.
            ValueError: if Redis holds something other than an encoded record there.
        """
        with self._lock:
            cached = self._cache.get(prediction_id)
            if cached is not None:
                self._cache.move_to_end(prediction_id)
                return cached
            generation = self._generation
        raw = self._client.get(self._key(prediction_id))
        if raw is None:
            return None
        record = _decode(raw)
        self._remember(record, generation)
        return record

    def update(
        self, prediction_id: str, change: Callable[[PredictionRecord], PredictionRecord]
    ) -> PredictionRecord | None:
        """Atomically replace a record by ``change(record)``; None if there is no such id.

        ``change`` may be called more than once: it is retried whenever another
        client changed the record in between.

        Raises:
            TypeError: if the new record holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached.
            ValueError: if Redis holds something other than an encoded record there.
            Exception: whatever ``change`` raises (the record is then left as it was).
        """
        key = self._key(prediction_id)
        result: list[PredictionRecord] = []

        def attempt(pipe: Pipeline) -> None:
            result.clear()
            raw = pipe.get(key)
            if raw is None:
                return
            updated = change(_decode(raw))
            pipe.multi()
            pipe.set(key, _encode(updated), xx=True)
            pipe.zadd(self._created, {prediction_id: updated.created_at}, xx=True)
            result.append(updated)

        self._client.transaction(attempt, key)
        self.forget(prediction_id)
        return result[0] if result else None

    def page(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        """Up to ``limit`` records newest first, older than position ``before`` or
        newer than position ``after``, created in ``[created_after, created_before)``.

        ``after`` wins when both cursors are given; a ``limit`` below 1 gives an empty page.

        Raises:
            redis.RedisError: if Redis cannot be reached.
            ValueError: if Redis holds something other than an encoded record there.
        """
        if limit < 1:
            return Page(records=[], older=None, newer=None)
        window = (created_after, created_before)
        if after is not None:
            found = list(islice(self._scan(after, False, window, limit + 1), limit + 1))
            chosen = found[:limit][::-1]
            has_newer = len(found) > limit
            has_older = bool(chosen) and self._any(chosen[-1][1], True, window)
        else:
            found = list(islice(self._scan(before, True, window, limit + 1), limit + 1))
            chosen = found[:limit]
            has_older = len(found) > limit
            has_newer = bool(chosen) and self._any(chosen[0][1], False, window)
        if not chosen:
            return Page(records=[], older=None, newer=None)
        loaded = self._load([prediction_id for prediction_id, _ in chosen])
        return Page(
            records=[record for record in loaded if record is not None],
            older=chosen[-1][1] if has_older else None,
            newer=chosen[0][1] if has_newer else None,
        )

    def purge(self, created_before: float) -> int:
        """Drop every record created before ``created_before``; return how many went.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        ids = _members(self._client.zrangebyscore(self._created, "-inf", f"({created_before!r}"))
        if not ids:
            return 0
        dropped = self._drop(ids, count_from=self._created)
        self._forget_many(ids)
        return dropped

    def clear(self) -> int:
        """Drop every record; return how many went. Positions handed out stay unused.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        ids = _members(self._client.zrange(self._order, 0, -1))
        dropped = self._drop(ids, count_from=self._order) if ids else 0
        self.forget_all()
        return dropped

    def forget(self, prediction_id: str) -> None:
        """Drop this record from the local cache (another replica changed or removed it)."""
        self._forget_many([prediction_id])

    def forget_all(self) -> None:
        """Empty the local cache (another replica dropped records)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def _take_writer(self) -> Connection:
        """A connection for :meth:`add_while`: the store's own writer if no other thread
        holds it (a worker's creates mostly come from one thread), else one from the
        pool. Skipping the pool saves about 15-40 µs per create.

        Raises:
            redis.RedisError: if a connection cannot be had.
        """
        if not self._writer_lock.acquire(blocking=False):
            return self._client.connection_pool.get_connection()
        try:
            if self._writer is not None and self._writer.pid != os.getpid():
                self._writer = None  # inherited through a fork: its socket is the parent's
            if self._writer is None:
                self._writer = self._client.connection_pool.get_connection()
            elif _stale(self._writer):
                self._writer.disconnect()  # type: ignore[no-untyped-call]  # sends reconnect
        except BaseException:
            self._writer_lock.release()
            raise
        return self._writer

    def _give_back(self, connection: Connection) -> None:
        if connection is self._writer:
            self._writer_lock.release()
        else:
            self._client.connection_pool.release(connection)

    def _key(self, prediction_id: str) -> str:
        return f"{self._prefix}rec:{prediction_id}"

    def _add_arguments(self, record: PredictionRecord) -> tuple[list[str], list[bytes | str]]:
        """The keys and arguments of :data:`_ADD_SCRIPT` for ``record``.

        Raises:
            TypeError: if the record holds a value JSON cannot carry.
        """
        keys = [self._key(record.id), self._seq, self._order, self._created]
        return keys, [_encode(record), record.id, repr(record.created_at)]

    def _forget_many(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for prediction_id in ids:
                self._cache.pop(prediction_id, None)

    def _remember(self, record: PredictionRecord, generation: int) -> None:
        """Cache ``record`` if it has ended and nothing was forgotten since it was read."""
        if self._cache_size == 0 or lifecycle.ends_at(record) > self._clock.now():
            return
        with self._lock:
            if generation != self._generation:
                return
            self._cache[record.id] = record
            self._cache.move_to_end(record.id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _load(self, ids: Sequence[str]) -> list[PredictionRecord | None]:
        """The records with these ids, in order, from the cache or one MGET; None if gone."""
        with self._lock:
            found: list[PredictionRecord | None] = [self._cache.get(pid) for pid in ids]
            generation = self._generation
        missing = [index for index, record in enumerate(found) if record is None]
        if missing:
            raws = self._client.mget([self._key(ids[index]) for index in missing])
            for index, raw in zip(missing, raws, strict=True):
                if raw is not None:
                    record = _decode(raw)
                    self._remember(record, generation)
                    found[index] = record
        return found

    def _scan(
        self,
        bound: int | None,
        descending: bool,
        window: tuple[float | None, float | None],
        batch: int,
    ) -> Iterator[tuple[str, int]]:
        """``(id, position)`` of records past position ``bound`` (exclusive; None: from the
        newest or oldest end), created in ``window``, fetched ``batch`` at a time."""
        filtering = window != (None, None)
        if filtering:
            batch = max(batch, _FILTERED_BATCH)
        while True:
            edge = "+inf" if descending else "-inf"
            start = edge if bound is None else f"({bound}"
            if descending:
                rows = self._client.zrevrangebyscore(
                    self._order, start, "-inf", start=0, num=batch, withscores=True
                )
            else:
                rows = self._client.zrangebyscore(
                    self._order, start, "+inf", start=0, num=batch, withscores=True
                )
            if not rows:
                return
            entries = _positions(rows)
            if filtering:
                created = self._client.zmscore(self._created, [pid for pid, _ in entries])
                for entry, created_at in zip(entries, created, strict=True):
                    if created_at is not None and _created_in(created_at, window):
                        yield entry
            else:
                yield from entries
            if len(rows) < batch:
                return
            bound = entries[-1][1]

    def _any(self, bound: int, descending: bool, window: tuple[float | None, float | None]) -> bool:
        """Whether a record in ``window`` lies past position ``bound``."""
        return next(self._scan(bound, descending, window, 1), None) is not None

    def _drop(self, ids: Sequence[str], *, count_from: str) -> int:
        """Delete these records in one transaction; how many were still in ``count_from``."""
        with self._client.pipeline(transaction=True) as pipe:
            counted = []
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                pipe.delete(*(self._key(pid) for pid in chunk))
                for name in (self._order, self._created):
                    pipe.zrem(name, *chunk)
                    if name == count_from:
                        counted.append(len(pipe.command_stack) - 1)
            results = pipe.execute()
        return sum(int(results[index]) for index in counted)


def shared_secret(client: redis.Redis, prefix: str, candidate: str, *, pin: bool = False) -> str:
    """The webhook signing secret every replica uses: ``candidate`` if none was stored
    under ``{prefix}webhook-secret`` yet (it is then stored), else the stored one. With
    ``pin`` (a secret the operator chose), ``candidate`` replaces any stored one.

    Raises:
        redis.RedisError: if Redis cannot be reached.
    """
    key = f"{prefix}webhook-secret"
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, candidate, nx=not pin)
        pipe.get(key)
        stored = pipe.execute()[1]
    if not isinstance(stored, bytes | str):
        raise redis.ResponseError(f"{key} holds no string")
    return _text(stored)


def _created_in(created_at: float, window: tuple[float | None, float | None]) -> bool:
    after, before = window
    if after is not None and created_at < after:
        return False
    return before is None or created_at < before


def _members(reply: object) -> list[str]:
    """Members of a sorted-set range reply without scores."""
    assert isinstance(reply, list)
    return [_text(member) for member in reply]


def _positions(reply: object) -> list[tuple[str, int]]:
    """``(member, score)`` pairs of a sorted-set range reply with scores."""
    assert isinstance(reply, list)
    return [(_text(member), int(score)) for member, score in reply]


def _stale(connection: Connection) -> bool:
    """Whether a connection idle between commands has something to read: a reply left
    unread, or the end of a socket Redis closed (it restarted, or dropped the client)."""
    try:
        return bool(connection.can_read())
    except (redis.ConnectionError, redis.TimeoutError):
        return True


def _check_added(position: object, prediction_id: str) -> None:
    """Raise KeyError if :data:`_ADD_SCRIPT` answered that the id was already taken."""
    if position == -1:
        raise KeyError(f"duplicate prediction id {prediction_id}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(record: PredictionRecord) -> bytes:
    """The record as compact JSON; :class:`Links` in ``extra`` go under ``$links``.

    Raises:
        TypeError: if the record holds a value JSON cannot carry.
    """
    data: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    links = {key: value for key, value in record.extra.items() if isinstance(value, Links)}
    if links:
        data["extra"] = {key: value for key, value in record.extra.items() if key not in links}
        data[_LINKS_KEY] = {key: [value.api, value.root] for key, value in links.items()}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _decode(raw: bytes | str) -> PredictionRecord:
    """The record :func:`_encode` wrote, equal to the original.

    Raises:
        ValueError: if ``raw`` is not an encoded record.
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an encoded prediction record is a JSON object")
    fields = {name: value for name, value in data.items() if name in _FIELDS}
    extra = dict(fields.get("extra", {}))
    for key, (api, root) in data.get(_LINKS_KEY, {}).items():
        extra[key] = Links(api=api, root=root)
    fields["extra"] = extra
    fields["input"] = lifecycle._shared_strings(fields.get("input", {}))
    fields["log_lines"] = tuple(fields.get("log_lines", ()))
    try:
        return PredictionRecord(**fields)
    except TypeError as error:
        raise ValueError(f"not an encoded prediction record: {error}") from error

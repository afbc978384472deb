"""A :class:`~mock_server.domain.store.Store` in Redis, so several mock processes share predictions.

Keys, all under one prefix (``imagen-mock:`` unless told otherwise):

``{prefix}rec:{id}``
    the record, as compact JSON;
``{prefix}index``
    the records in list order: a sorted set whose members all score 0 and sort by
    their text, ``<sort key as 24 hex digits>:<id>`` (see
    :func:`~mock_server.domain.store.sort_key`); pages, windows and purges are ranges
    of it (``ZRANGE ... BYLEX``), so they cost the same at any size;
``{prefix}seq``
    the last insertion number handed out; never reset, so cursors stay meaningful.

``{prefix}webhook-secret``, ``{prefix}clock-offset``, ``{prefix}epoch``
    what the replicas share besides records (:mod:`mock_server.storage.shared_state`).

A cancel and a create each run as one Lua script (:mod:`mock_server.storage.redis_scripts`
says why: a cancel decides its time inside Redis, so a prediction shown ended never
changes; a create carries a deadline, so one answered 503 is not stored later). Creates
are sent by :mod:`~mock_server.storage.redis_writer`; pages and purges are ranges of the
index (:mod:`~mock_server.storage.redis_index`).

Ended records are kept in a small local cache (:mod:`mock_server.storage.record_cache`);
records still running are always read from Redis. Another replica's reset reaches this
one through :meth:`RedisStore.forget_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Final, TypeVar

import redis
from redis.client import Pipeline

from mock_server.domain import lifecycle
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.store import Page
from mock_server.storage import redis_scripts as scripts
from mock_server.storage.encoding import cancel_tail, decode, encode, id_of, key_of, members
from mock_server.storage.reachability import REDIS, Breaker, guarded
from mock_server.storage.record_cache import RecordCache
from mock_server.storage.redis_index import drop, drop_before, read_page
from mock_server.storage.redis_writer import CreateWriter
from mock_server.storage.shared_state import SharedState

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

DEFAULT_PREFIX: Final = "imagen-mock:"
#: How often a cancel reads the record again when it changed in between.
_CANCEL_ATTEMPTS: Final = 8

T = TypeVar("T")


class RedisStore:
    """Prediction records in Redis, shared by every store with the same server and prefix.

    Thread-safe. Each method is one or a few Redis round trips; :meth:`add`,
    :meth:`update`, :meth:`purge` and :meth:`clear` are atomic, while :meth:`page`
    reads the index, then the records (a record deleted meanwhile is left out).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        clock: Clock,
        prefix: str = DEFAULT_PREFIX,
        cache_size: int = 4096,
        server_time: bool = False,
    ) -> None:
        """Use ``client`` (either ``decode_responses`` setting works); ``clock`` decides
        which records have ended and so may be cached (at most ``cache_size``).

        With ``server_time`` (replicas on the real clock) a cancel is timed by Redis's
        ``TIME`` plus the shared clock offset, inside the script; else by ``clock``
        just before the script is sent (a fake clock moves only when told to).

        Raises:
            ValueError: if ``cache_size`` is negative.
        """
        self._cache = RecordCache(cache_size)
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._index = f"{prefix}index"
        self._seq = f"{prefix}seq"
        self._cancel_script = client.register_script(scripts.CANCEL)
        self._server_time = server_time
        self.shared = SharedState(client, prefix)
        """The secret, clock offset and marker the replicas share."""
        self.on_shared_state_lost: Callable[[], object] | None = None
        """Called when a cancel finds the shared state gone (Redis lost its data), to
        store it again before the cancel is retried."""
        self._owns_client = False
        self._creates = CreateWriter(client, self._key, self._seq, self._index)
        self.breaker: Breaker | None = None
        """When set, Redis commands fail at once while Redis is known not to answer
        (:class:`~mock_server.storage.reachability.Breaker`); a served mock sets it."""

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
        :func:`~mock_server.storage.shared_state.shared_secret`)."""
        return self._client

    @property
    def prefix(self) -> str:
        """The prefix of every key this store uses."""
        return self._prefix

    def close(self) -> None:
        """Give back the connection kept for writes, and close the client if
        :meth:`from_url` made it (a client passed in is left open)."""
        if self.breaker is not None:
            self.breaker.close()
        self._creates.close()
        if self._owns_client:
            self._client.close()

    @guarded
    def add(self, record: PredictionRecord) -> None:
        """Store a new record at the next position.

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached or refuses.
        """
        self._creates.add(record)

    @guarded
    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        """Store a new record as :meth:`add` does, computing ``meanwhile()`` during the
        round trip: the script is sent, ``meanwhile()`` runs, and only then is Redis's
        answer read. A create renders its response this way while Redis stores it, and
        seldom has to sleep on the answer.

        A command that could not be sent falls back to :meth:`add`, with the client's
        retries. One that was sent is not retried: it may have run. If its answer does
        not come in time, the deadline it carries keeps Redis from storing the record
        later (see :mod:`~mock_server.storage.redis_scripts`).

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
            CreateTooLateError: if Redis ran the script past its deadline (nothing stored).
            redis.RedisError: if Redis cannot be reached or refuses.
            Exception: whatever ``meanwhile`` raises (the record may then be stored).
        """
        return self._creates.add_while(record, meanwhile, self.add)

    def holds(self, prediction_id: str) -> bool:
        """Whether :meth:`get` of this id would answer from the local cache, without Redis."""
        return self._cache.holds(prediction_id)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record with this id, or None; an ended record may come from the cache.

        Raises:
            redis.RedisError: if Redis cannot be reached.
            ValueError: if Redis holds something other than an encoded record there.
        """
        cached = self._cache.get(prediction_id)
        if cached is not None:
            return cached
        return self._read(prediction_id)

    @guarded
    def _read(self, prediction_id: str) -> PredictionRecord | None:
        generation = self._cache.generation
        read_at = self._clock.now()  # before the read: see RecordCache.remember
        raw = self._client.get(self._key(prediction_id))
        REDIS.answered()
        if raw is None:
            return None
        record = decode(raw)
        self._cache.remember(record, generation, read_at)
        return record

    @guarded
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
            current = decode(raw)
            updated = change(current)
            if updated.created_at != current.created_at or updated.id != current.id:
                raise ValueError("an update keeps a record's id and creation time")
            pipe.multi()
            pipe.set(key, encode(updated), xx=True)
            result.append(updated)

        self._client.transaction(attempt, key)
        self.forget(prediction_id)
        return result[0] if result else None

    @guarded
    def cancel(self, prediction_id: str, now: Callable[[], float]) -> PredictionRecord | None:
        """Atomically cancel the prediction, leaving an ended one as it is; None if there
        is no such id. The cancel time is taken inside the script (Redis ``TIME`` plus
        the shared offset) with ``server_time``, else ``now()`` just before it is sent.

        Raises:
            redis.RedisError: if Redis cannot be reached, or the record keeps changing.
            ValueError: if Redis holds something other than an encoded record there.
        """
        key = self._key(prediction_id)
        keys = [key, self.shared.offset_key, self.shared.epoch_key]
        for _ in range(_CANCEL_ATTEMPTS):
            raw = self._client.get(key)
            if raw is None:
                self.forget(prediction_id)
                return None
            record = decode(raw)
            at = "" if self._server_time else repr(float(now()))
            args = [raw, repr(lifecycle.ends_at(record)), cancel_tail(record), at]
            answer = self._cancel_script(keys=keys, args=args)
            if isinstance(answer, bytes | str):
                self.forget(prediction_id)
                return replace(record, canceled_at=float(answer))
            if answer == scripts.CANCEL_ENDED:
                return record
            if answer == scripts.CANCEL_GONE:
                self.forget(prediction_id)
                return None
            if answer == scripts.CANCEL_LOST:
                if self.on_shared_state_lost is None:
                    raise redis.ResponseError("the shared clock offset is gone from Redis")
                self.on_shared_state_lost()
        raise redis.ResponseError(f"prediction {prediction_id} kept changing during a cancel")

    @guarded
    def page(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        """As :meth:`~mock_server.domain.store.Store.page` says: two ranged reads of the
        index (:func:`~mock_server.storage.redis_index.read_page`), then one MGET.

        Raises:
            redis.RedisError: if Redis cannot be reached.
            ValueError: if Redis holds something other than an encoded record there.
        """
        chosen, has_older, has_newer = read_page(
            self._client,
            self._index,
            limit=limit,
            before=before,
            after=after,
            window=(created_after, created_before),
        )
        if not chosen:
            return Page(records=[], older=None, newer=None)
        loaded = self._load([id_of(member) for member in chosen])
        return Page(
            records=[record for record in loaded if record is not None],
            older=key_of(chosen[-1]) if has_older else None,
            newer=key_of(chosen[0]) if has_newer else None,
        )

    @guarded
    def purge(self, created_before: float) -> int:
        """Drop every record created before ``created_before``; return how many went.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        return drop_before(self._client, self._index, self._key, created_before, self._forget_many)

    @guarded
    def clear(self) -> int:
        """Drop every record; return how many went. Positions handed out stay unused.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        entries = members(self._client.zrange(self._index, 0, -1))
        dropped = drop(self._client, self._index, self._key, entries) if entries else 0
        self.forget_all()
        return dropped

    def forget(self, prediction_id: str) -> None:
        """Drop this record from the local cache (another replica changed or removed it)."""
        self._cache.forget([prediction_id])

    def forget_all(self) -> None:
        """Empty the local cache (another replica dropped records)."""
        self._cache.forget_all()

    def ping(self) -> None:
        """Return once Redis answers ``PING``.

        Raises:
            redis.RedisError: if it does not.
        """
        self.client.ping()

    def _key(self, prediction_id: str) -> str:
        return f"{self._prefix}rec:{prediction_id}"

    def _forget_many(self, ids: Iterable[str]) -> None:
        self._cache.forget(ids)

    def _load(self, ids: Sequence[str]) -> list[PredictionRecord | None]:
        """The records with these ids, in order, from the cache or one MGET; None if gone."""
        found, generation = self._cache.get_many(ids)
        missing = [index for index, record in enumerate(found) if record is None]
        if missing:
            read_at = self._clock.now()  # before the read: see RecordCache.remember
            raws = self._client.mget([self._key(ids[index]) for index in missing])
            for index, raw in zip(missing, raws, strict=True):
                if raw is not None:
                    record = decode(raw)
                    self._cache.remember(record, generation, read_at)
                    found[index] = record
        return found

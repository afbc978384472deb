"""The Redis store's index: reading a page off it in two ranged reads, whatever its size,
and dropping records with their entries.

The index is one sorted set whose entries sort by text as by sort key
(:mod:`mock_server.storage.encoding`), so a page, a creation-time window, a cursor and
the records a purge drops are all ``ZRANGE ... BYLEX`` ranges with a ``LIMIT``:
O(log N + page) in Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

import redis

from mock_server.domain.store import SEQUENCE_BITS, key_range, micros
from mock_server.storage.encoding import id_of, index_member_prefix, lex_range, members

__all__ = ["drop", "drop_before", "read_page"]

#: Ids per DEL / ZREM command when purging or clearing.
_CHUNK: Final = 1000


def read_page(
    client: redis.Redis,
    index: str,
    *,
    limit: int,
    before: int | None,
    after: int | None,
    window: tuple[float | None, float | None],
) -> tuple[list[str], bool, bool]:
    """The index entries of a page, newest first, and whether older and newer entries
    lie in the window beyond it. ``after`` wins over ``before``; a ``limit`` below 1
    gives nothing.

    Raises:
        redis.RedisError: if Redis cannot be reached.
    """
    if limit < 1:
        return [], False, False
    created_after, created_before = window
    floor, ceiling = lex_range(
        *key_range(
            before=None, after=None, created_after=created_after, created_before=created_before
        )
    )
    low, high = lex_range(
        *key_range(
            before=before, after=after, created_after=created_after, created_before=created_before
        )
    )
    if after is not None:  # the oldest ``limit`` above ``after``, then newest first
        found = members(client.zrangebylex(index, low, high, 0, limit + 1))
        chosen = found[:limit][::-1]
        has_newer = len(found) > limit
        has_older = bool(chosen) and bool(
            client.zrevrangebylex(index, f"({chosen[-1]}", floor, 0, 1)
        )
    else:
        found = members(client.zrevrangebylex(index, high, low, 0, limit + 1))
        chosen = found[:limit]
        has_older = len(found) > limit
        has_newer = bool(chosen) and bool(client.zrangebylex(index, f"({chosen[0]}", ceiling, 0, 1))
    return chosen, has_older, has_newer


def drop_before(
    client: redis.Redis,
    index: str,
    key: Callable[[str], str],
    created_before: float,
    forget: Callable[[Iterable[str]], None],
) -> int:
    """Drop every record created before ``created_before`` with its entry, a batch at a
    time (so Redis serves the others in between), telling ``forget`` the ids of each
    batch; return how many entries went.

    Raises:
        redis.RedisError: if Redis cannot be reached.
    """
    cut = f"({index_member_prefix(micros(created_before) << SEQUENCE_BITS)}"
    dropped = 0
    while True:
        entries = members(client.zrangebylex(index, "-", cut, 0, _CHUNK))
        if entries:
            dropped += drop(client, index, key, entries)
            forget(id_of(entry) for entry in entries)
        if len(entries) < _CHUNK:
            return dropped


def drop(client: redis.Redis, index: str, key: Callable[[str], str], entries: Sequence[str]) -> int:
    """Delete the records of these index entries (each at ``key(id)``) and the entries,
    in one transaction; return how many entries were still in the index.

    Raises:
        redis.RedisError: if Redis cannot be reached.
    """
    with client.pipeline(transaction=True) as pipe:
        for start in range(0, len(entries), _CHUNK):
            chunk = entries[start : start + _CHUNK]
            pipe.delete(*(key(id_of(entry)) for entry in chunk))
            pipe.zrem(index, *chunk)
        results = pipe.execute()
    return sum(int(count) for count in results[1::2])

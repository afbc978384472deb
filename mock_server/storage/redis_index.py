"""Reading a page off the Redis store's index: two ranged reads, whatever its size.

The index is one sorted set whose entries sort by text as by sort key
(:mod:`mock_server.storage.encoding`), so a page, a creation-time window and a cursor
are all ``ZRANGE ... BYLEX`` ranges with a ``LIMIT``: O(log N + page) in Redis.
"""

from __future__ import annotations

import redis

from mock_server.domain.store import key_range
from mock_server.storage.encoding import lex_range, members

__all__ = ["read_page"]


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

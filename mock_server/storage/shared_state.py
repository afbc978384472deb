"""What replicas sharing one Redis must agree on besides the records."""

from __future__ import annotations

import redis

from mock_server.storage.encoding import text

__all__ = ["shared_secret"]


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
    return text(stored)

"""What replicas sharing one Redis must agree on besides the records: the webhook
signing secret and the clock offset, and a marker that they are there.

Keys, under the store's prefix:

``{prefix}webhook-secret``
    the secret every replica signs webhooks with; the first one stored wins;
``{prefix}clock-offset``
    how far the mock clock has been moved in total (absent: not at all);
``{prefix}epoch``
    a random id written with the other two. Redis losing its data (``FLUSHALL``, a
    restart without persistence) takes it away: a running replica that finds it gone
    stores its secret and offset again (:meth:`SharedState.share`: the secret only if
    none is stored, the offset only if it is further), so the replicas go on with one
    secret and one clock instead of each new one starting its own. A replica that
    starts while the marker is gone but other replicas listen on the event channel
    waits a moment for them to do so, and adopts what they stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis

from mock_server.storage import redis_scripts
from mock_server.storage.encoding import text

__all__ = ["Shared", "SharedState", "shared_secret"]


@dataclass(frozen=True, slots=True)
class Shared:
    """The shared values as stored."""

    secret: str
    """The webhook signing secret."""
    offset_seconds: float
    """The clock offset."""
    epoch: str
    """The marker's id."""


class SharedState:
    """The shared secret, clock offset and marker of one prefix. Thread-safe."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self.epoch_key = f"{prefix}epoch"
        self.secret_key = f"{prefix}webhook-secret"
        self.offset_key = f"{prefix}clock-offset"
        self._share = client.register_script(redis_scripts.SHARE)

    def epoch(self) -> str | None:
        """The marker's id; None if Redis lost the shared state (or none was stored yet).

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        raw = self._client.get(self.epoch_key)
        return None if raw is None else text(raw)

    def share(self, secret: str, offset_seconds: float, *, pin: bool = False) -> Shared:
        """Store ``secret`` unless one is (with ``pin``, in any case), raise the offset to
        ``offset_seconds`` if it is below, mark the state present; return what is stored.

        Raises:
            redis.RedisError: if Redis cannot be reached or the keys hold something else.
        """
        reply = self._share(
            keys=[self.epoch_key, self.secret_key, self.offset_key],
            args=[secret, "1" if pin else "0", repr(float(offset_seconds)), secrets.token_hex(8)],
        )
        if not isinstance(reply, list) or len(reply) != 3:
            raise redis.ResponseError(f"unexpected answer {reply!r} when sharing state")
        stored_secret, offset, epoch = (text(value) for value in reply)
        try:
            return Shared(secret=stored_secret, offset_seconds=float(offset), epoch=epoch)
        except ValueError:
            raise redis.ResponseError(f"{self.offset_key} holds no number") from None


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

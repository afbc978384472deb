"""Where records live: the in-process store, the Redis store shared by replicas (with
its message bus and the replica bookkeeping on top), and the cache of rendered bodies."""

from mock_server.storage.body_cache import BodyCache
from mock_server.storage.memory import InMemoryStore
from mock_server.storage.redis_store import DEFAULT_PREFIX, RedisStore
from mock_server.storage.replicas import Replicas, connect

__all__ = ["DEFAULT_PREFIX", "BodyCache", "InMemoryStore", "RedisStore", "Replicas", "connect"]

"""Which API requests a shared store can answer from local copies, without a round trip.

On Redis or a data directory the server runs requests that touch predictions in a pool
thread, so that one waiting on the store holds up no other. A poll of a prediction that
has ended is the exception: its record never changes again, the store keeps a local copy
of it (:class:`~mock_server.domain.store.LocalCopies`), and its answer needs nothing the
process does not hold, so it is answered where it arrived, without a thread's hand-off.

The check and the read are two steps: a record dropped from the cache between them (a
reset, a resync after Redis lost its data, the cache's own eviction, all rare and
within microseconds) is read from the store on the loop that once, bounded by the
store's timeout and breaker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from mock_server.domain.ratelimit import MemoryRates
from mock_server.domain.store import LocalCopies
from mock_server.http.context import PREFIXES, MockState

__all__ = ["local_reads"]

#: Where one prediction is read, under each mount of the API.
_ONE_PREDICTION: Final = tuple(prefix + "/predictions/" for prefix in PREFIXES.values())


def local_reads(mock: MockState) -> Callable[[Mapping[str, Any]], bool] | None:
    """What tells whether a request is a ``GET`` of one prediction whose record the store
    holds locally; None if no request can be (the store keeps no local copies, or rate
    limits are counted in Redis, a round trip on every request)."""
    store = mock.service.store
    holds = getattr(store, "holds", None)
    if holds is None or not isinstance(mock.rates, MemoryRates):
        return None
    copies = cast(LocalCopies, store)

    def answered_locally(environ: Mapping[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") != "GET":
            return False
        path: str = environ.get("PATH_INFO", "")
        for prefix in _ONE_PREDICTION:
            if path.startswith(prefix):
                prediction_id = path[len(prefix) :]
                return "/" not in prediction_id and copies.holds(prediction_id)
        return False

    return answered_locally

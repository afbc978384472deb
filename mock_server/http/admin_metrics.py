"""Prometheus metrics of the mock, through the official client (``prometheus_client``).

One :class:`Metrics` per app, on a registry of its own (apps built side by side in one
process, as tests do, count apart). With several worker processes every worker writes
its values to files in the directory named by ``PROMETHEUS_MULTIPROC_DIR`` and a scrape,
whichever worker answers it, adds them up (the client's multiprocess mode): the server
makes that directory for the run and removes it when it stops (:func:`metrics_directory`).
The client is imported only when an app is built, in the worker, after the variable is
set: it chooses how to keep values when it is first imported.

Requests are many, so each is first added to a tally of this process (a few list and
dict writes under a lock: the client's own counter and histogram take several
microseconds a request, written through to a file in multiprocess mode); the tally is
moved into the client's metrics when they are read (:meth:`Metrics.flush`: a scrape
asks every worker to, as a journal read does). A worker killed with SIGKILL loses the
requests it had not yet moved; one that stops moves them first.

============================================  ==================================================
``imagen_mock_requests_total``                predictions API requests by ``route`` and ``status``
``imagen_mock_request_duration_seconds``      their latency, a histogram by ``route``
``imagen_mock_predictions_created_total``     predictions created
``imagen_mock_predictions_ended_total``       predictions ended, by final ``status``
``imagen_mock_webhook_deliveries_total``      webhook attempts the receiver took (2xx), by ``event``
``imagen_mock_webhook_failures_total``        webhook attempts that failed, by ``event``
``imagen_mock_held_connections``              held ``Prefer: wait`` requests and open event
                                              streams now (summed over live workers)
============================================  ==================================================
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mock_server.webhooks.planning import Attempt

__all__ = ["CONTENT_TYPE", "MULTIPROCESS_VARIABLE", "Metrics", "metrics_directory"]

#: The variable that puts the client in multiprocess mode, naming its directory.
MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
#: The text exposition format's media type (version 0.0.4), as the client writes it.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Latency buckets (seconds): the mock answers in well under a millisecond to seconds
#: (held requests).
BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: The ``route`` label of a request that matched no route.
NO_ROUTE: Final = "none"


class _Tally:
    """Requests answered since the last move into the client's metrics, by route and status."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)
        """Requests by the first bucket that holds them (the last: above every bound)."""


class Metrics:
    """The app's counters, histogram and gauge."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROCESS_VARIABLE))
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._moving = threading.Lock()  # one flush at a time, so a read sees whole moves
        self._tallies: dict[tuple[str, int], _Tally] = {}
        self._created = 0
        registry = self.registry
        self.requests = Counter(
            "imagen_mock_requests",
            "Predictions API requests, by route and status.",
            ["route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "imagen_mock_request_duration_seconds",
            "Time from a predictions API request's arrival to its answer, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.created = Counter(
            "imagen_mock_predictions_created", "Predictions created.", registry=registry
        )
        self.ended = Counter(
            "imagen_mock_predictions_ended",
            "Predictions ended, by final status.",
            ["status"],
            registry=registry,
        )
        self.deliveries = Counter(
            "imagen_mock_webhook_deliveries",
            "Webhook attempts the receiver accepted (2xx), by event.",
            ["event"],
            registry=registry,
        )
        self.failures = Counter(
            "imagen_mock_webhook_failures",
            "Webhook attempts that failed (refused, no answer, not 2xx), by event.",
            ["event"],
            registry=registry,
        )
        self.held = Gauge(
            "imagen_mock_held_connections",
            "Held 'Prefer: wait' requests and open event streams now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def answered(self, route: str | None, status: int, seconds: float) -> None:
        """Count one predictions API request (in the tally: see the module)."""
        key = (route or NO_ROUTE, status)
        bucket = bisect_left(BUCKETS, seconds)  # the first bound >= seconds ("le")
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            tally.count += 1
            tally.seconds += seconds
            tally.buckets[bucket] += 1
            if route == "create" and status in (201, 202):
                self._created += 1

    def flush(self) -> None:
        """Move the tally of requests into the client's metrics (written to this
        process's file in multiprocess mode)."""
        with self._moving:  # a flush under way is finished before another reads
            with self._lock:
                tallies, self._tallies = self._tallies, {}
                created, self._created = self._created, 0
            for (route, status), tally in tallies.items():
                self.requests.labels(route, str(status)).inc(tally.count)
                _add_observations(self.latency.labels(route), tally)
            if created:
                self.created.inc(created)

    def ended_as(self, status: str) -> None:
        self.ended.labels(status).inc()

    def attempted(self, attempt: Attempt) -> None:
        """Count one webhook attempt (the dispatcher's ``on_attempt``)."""
        counter = self.failures if attempt.error is not None else self.deliveries
        counter.labels(attempt.event).inc()

    def exposition(self) -> bytes:
        """Every metric in the text format: this process's, or with several workers all
        of theirs added up."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        self.flush()
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def _add_observations(histogram: Any, tally: _Tally) -> None:
    """Add a tally's requests to one labelled latency histogram of the client.

    The client observes one value at a time; this adds many to the same values it keeps
    (its ``_sum`` and one ``_buckets`` value per bound, not cumulative), which
    ``contract_tests/unit/test_metrics_tally.py`` checks against one-by-one
    observations.
    """
    histogram._sum.inc(tally.seconds)
    for value, count in zip(histogram._buckets, tally.buckets, strict=True):
        if count:
            value.inc(count)


@contextmanager
def metrics_directory(workers: int) -> Iterator[str | None]:
    """With several workers, a fresh directory for their metric files, named in
    :data:`MULTIPROCESS_VARIABLE` for the block and removed after it; else nothing."""
    if workers <= 1:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="imagen-mock-metrics-")
    previous = os.environ.get(MULTIPROCESS_VARIABLE)
    os.environ[MULTIPROCESS_VARIABLE] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_VARIABLE] = previous
        shutil.rmtree(directory, ignore_errors=True)

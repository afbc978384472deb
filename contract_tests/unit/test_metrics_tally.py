"""The request metrics kept in a tally and moved into the Prometheus client when read
match what the client shows when every request is observed one by one."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mock_server.http.admin_metrics import BUCKETS, Metrics

#: Latencies on, between and past the bounds, by route and status.
ANSWERS = [
    ("get", 200, 0.0005),  # on a bound: counted in it ("le")
    ("get", 200, 0.0004),
    ("get", 200, 0.0049),
    ("get", 404, 0.07),
    ("create", 201, 0.003),
    ("create", 201, 12.0),  # past every bound: +Inf only
    (None, 404, 0.0001),
    ("list", 200, 10),
]


def one_by_one(answers: list[tuple[str | None, int, float]]) -> bytes:
    """What the client shows when each request is observed as it comes."""
    registry = CollectorRegistry()
    requests = Counter("imagen_mock_requests", "", ["route", "status"], registry=registry)
    latency = Histogram(
        "imagen_mock_request_duration_seconds", "", ["route"], buckets=BUCKETS, registry=registry
    )
    for route, status, seconds in answers:
        requests.labels(route or "none", str(status)).inc()
        latency.labels(route or "none").observe(seconds)
    return generate_latest(registry)


def samples(exposition: bytes, *names: str) -> list[tuple[str, float]]:
    """The exposition's samples of these metrics (no comments, no creation times), values
    rounded (sums added in another order differ in their last digits)."""
    found = []
    for line in exposition.decode().splitlines():
        if line.startswith(names) and "_created" not in line:
            name, _, value = line.rpartition(" ")
            found.append((name, round(float(value), 9)))
    return sorted(found)


NAMES = ("imagen_mock_requests_total", "imagen_mock_request_duration_seconds")


def test_a_tally_read_shows_what_one_by_one_observations_show() -> None:
    metrics = Metrics()
    for answer in ANSWERS:
        metrics.answered(*answer)
    assert samples(metrics.exposition(), *NAMES) == samples(one_by_one(ANSWERS), *NAMES)


def test_tallies_moved_in_several_reads_add_up() -> None:
    answers = [
        (random.choice(["get", "create", None]), random.choice([200, 201, 404]), random.random())
        for _ in range(500)
    ]
    metrics = Metrics()
    for number, answer in enumerate(answers):
        metrics.answered(*answer)
        if number % 97 == 0:
            metrics.exposition()  # a scrape in between moves what was tallied so far
    assert samples(metrics.exposition(), *NAMES) == samples(one_by_one(answers), *NAMES)


def test_creates_are_counted_when_read() -> None:
    metrics = Metrics()
    metrics.answered("create", 201, 0.01)
    metrics.answered("create", 202, 0.01)
    metrics.answered("create", 422, 0.01)
    assert "imagen_mock_predictions_created_total 2.0" in metrics.exposition().decode()

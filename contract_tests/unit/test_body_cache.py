"""Rendered bodies are reused only while the rendering cannot change; the signal and clock
moves that end held waits."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.domain import lifecycle, rendering
from mock_server.domain.clock import MAX_OFFSET_SECONDS, AdjustableClock, FakeClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.service import ChangeSignal
from mock_server.storage.body_cache import BodyCache

LINKS = Links(api="https://mock.test/v1", root="https://mock.test")
OTHER = Links(api="https://other.test/replicate/v1", root="https://other.test")
T0 = 1_000_000.0


def record(**changes: float) -> PredictionRecord:
    made = lifecycle.new_record(
        {"prompt": "a fox"}, now=T0, starting_seconds=1.0, processing_seconds=3.0,
        retention_seconds=60.0,
    )  # fmt: skip
    return lifecycle.cancel(made, changes["cancel_at"]) if "cancel_at" in changes else made


def dump(rec: PredictionRecord, now: float, links: Links) -> bytes:
    return json.dumps(rendering.render(rec, now, links)).encode()


class Counting:
    """A renderer that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rec: PredictionRecord, now: float, links: Links) -> bytes:
        self.calls += 1
        return dump(rec, now, links)


@settings(max_examples=300, deadline=None)
@given(
    now=st.floats(min_value=T0 - 1, max_value=T0 + 100),
    later=st.floats(min_value=0, max_value=100),
    cancel=st.none() | st.floats(min_value=T0, max_value=T0 + 5),
    stop=st.none() | st.floats(min_value=T0, max_value=T0 + 5),
    failure=st.sampled_from([None, "blocked", "E1000: the model failed"]),
    logs=st.sampled_from([(), ("one", "two", "three", "four", "five")]),
)
def test_rendering_is_constant_within_a_stable_span(
    now: float,
    later: float,
    cancel: float | None,
    stop: float | None,
    failure: str | None,
    logs: tuple[str, ...],
) -> None:
    rec = replace(
        record() if cancel is None else record(cancel_at=cancel),
        deadline=stop,
        blocked=failure == "blocked",
        failure=failure if failure not in {None, "blocked"} else None,
        log_lines=logs,
    )
    lo, hi = lifecycle.stable_span(rec, now)
    assert lo <= now < hi
    for moment in (lo, now, (now + min(hi, now + later)) / 2):
        if lo <= moment < hi:
            assert rendering.render(rec, moment, LINKS) == rendering.render(rec, now, LINKS)
    if hi != float("inf"):
        assert rendering.render(rec, hi, LINKS) != rendering.render(rec, now, LINKS) or (
            hi in {lifecycle.started_at(rec)}  # a start cut off by a stop changes nothing
        )


def test_spans_end_where_the_rendering_changes() -> None:
    rec = record()
    _, hi = lifecycle.stable_span(rec, T0 + 0.5)
    assert hi == lifecycle.started_at(rec)
    assert rendering.render(rec, hi, LINKS) != rendering.render(rec, T0 + 0.5, LINKS)
    _, hi = lifecycle.stable_span(rec, T0 + 10)  # ended: stable until the data goes
    assert hi == lifecycle.data_removed_at(rec)
    assert lifecycle.stable_span(rec, hi + 1)[1] == float("inf")


def test_a_poll_within_the_span_reuses_the_body() -> None:
    cache, render = BodyCache(), Counting()
    rec = record()
    first = cache.body(rec, T0 + 10, LINKS, render)
    again = cache.body(rec, T0 + 20, LINKS, render)
    assert again is first
    assert render.calls == 1


def test_a_new_span_another_record_or_other_urls_render_again() -> None:
    cache, render = BodyCache(), Counting()
    rec = record()
    cache.body(rec, T0 + 10, LINKS, render)
    removed = cache.body(rec, lifecycle.data_removed_at(rec) + 1, LINKS, render)
    assert json.loads(removed)["data_removed"] is True
    cancelled = record(cancel_at=T0 + 2)
    assert json.loads(cache.body(cancelled, T0 + 10, LINKS, render))["status"] == "canceled"
    assert b"other.test" in cache.body(rec, T0 + 10, OTHER, render)
    assert render.calls == 4


def test_the_cache_stays_within_its_size() -> None:
    cache, render = BodyCache(size=16), Counting()
    records = [record() for _ in range(100)]
    for rec in records:
        cache.body(rec, T0 + 10, LINKS, render)
    assert 1 <= len(cache) <= 16
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least 1"):
        BodyCache(size=0)


def test_change_signal_wakes_a_waiter_at_once() -> None:
    signal = ChangeSignal()
    seen = signal.generation
    woke = threading.Event()

    def waiter() -> None:
        signal.wait(seen, 30)
        woke.set()

    thread = threading.Thread(target=waiter)
    started = time.monotonic()
    thread.start()
    time.sleep(0.2)  # asleep in wait() by now, so only notify() can end it early
    signal.notify()
    assert woke.wait(5)
    thread.join(5)
    assert time.monotonic() - started < 5


def test_change_signal_does_not_sleep_past_a_missed_notify() -> None:
    signal = ChangeSignal()
    seen = signal.generation
    signal.notify()  # happened between reading the record and waiting
    started = time.monotonic()
    signal.wait(seen, 30)
    assert time.monotonic() - started < 1
    started = time.monotonic()
    signal.wait(signal.generation, 0.05)  # nothing new: sleeps its time out
    assert time.monotonic() - started >= 0.04


@pytest.mark.parametrize("make", [FakeClock, AdjustableClock])
def test_advance_to_moves_forward_to_a_total_and_never_back(make: type[FakeClock]) -> None:
    clock = make()
    start = clock.now()
    clock.advance_to(30)
    assert clock.offset_seconds == 30
    clock.advance_to(10)  # already further: stays
    assert clock.offset_seconds == 30
    assert clock.now() - start >= 30
    with pytest.raises(ValueError, match="more than"):
        clock.advance_to(MAX_OFFSET_SECONDS + 1)

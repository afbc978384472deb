"""Held ``Prefer: wait`` creates under a real ``imagen-mock serve`` hold no thread each:
a server with 4 threads for held requests holds 200 waits at once, answers the API and
the admin API meanwhile, and answers every wait in full (status, headers, journal,
metrics) when its prediction ends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.servers import run_mock

#: Bound on every wait of the test.
BOUND = 60.0
#: The server's bound on threads for held requests, and the waits held: many more.
THREADS = 4
HELD = 200
#: Each probe of the API or the admin API while the waits are held must answer within
#: this (generous: the machine may be busy; a queued request would wait for minutes).
PROMPT_SECONDS = 2.0


async def _sample(client: httpx.AsyncClient, root: str, name: str) -> float:
    text = (await client.get(f"{root}/metrics")).text
    for line in text.splitlines():
        found, _, value = line.rpartition(" ")
        if found == name:
            return float(value)
    return 0.0


async def _until_held(client: httpx.AsyncClient, root: str, count: int) -> None:
    """Until the server holds ``count`` requests at once (its gauge of held requests)."""
    deadline = time.monotonic() + BOUND / 2
    seen = 0.0
    while seen < count:
        assert time.monotonic() < deadline, f"only {seen:g} of {count} waits held at once"
        await asyncio.sleep(0.1)
        seen = await _sample(client, root, "imagen_mock_held_connections")


async def _probe(client: httpx.AsyncClient, root: str, prediction: str) -> list[float]:
    """GET a prediction and the admin clock in turn: how long each took (seconds)."""
    took = []
    for _ in range(10):
        for url in (f"{root}/v1/predictions/{prediction}", f"{root}/_mock/clock"):
            started = time.monotonic()
            reply = await client.get(url, headers=AUTH)
            took.append(time.monotonic() - started)
            assert reply.status_code == 200, reply.text
    return took


async def _hold_and_end(root: str, beside: str) -> tuple[list[httpx.Response], list[float]]:
    limits = httpx.Limits(max_connections=HELD + 10)
    async with (
        httpx.AsyncClient(timeout=BOUND, limits=limits) as held,
        httpx.AsyncClient(timeout=BOUND) as probes,
    ):
        waits = [
            asyncio.ensure_future(
                held.post(
                    root + CREATE,
                    headers={**AUTH, "Prefer": "wait=60"},
                    json={"input": {"prompt": f"held {number}"}},
                )
            )
            for number in range(HELD)
        ]
        try:
            await _until_held(probes, root, HELD)
            took = await _probe(probes, root, beside)
            assert not any(wait.done() for wait in waits), "a wait ended before its prediction"
            # The predictions end (the clock moves past them): every wait is woken.
            moved = await probes.post(
                f"{root}/_mock/clock", headers=AUTH, json={"advance_seconds": 900}
            )
            assert moved.status_code == 200, moved.text
            answers = await asyncio.wait_for(asyncio.gather(*waits), BOUND)
        finally:
            for wait in waits:
                wait.cancel()
        return answers, took


def _journal(root: str) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{root}/_mock/requests", params={"route": "create"}, headers=AUTH, timeout=BOUND
    )
    assert listed.status_code == 200, listed.text
    results: list[dict[str, Any]] = listed.json()["results"]
    return results


def test_many_more_held_waits_than_threads_are_held_at_once_and_answered_in_full() -> None:
    args = ["--threads", str(THREADS), "--starting-seconds", "300", "--processing-seconds", "1"]
    with run_mock(args) as mock:
        beside = httpx.post(mock.root + CREATE, headers=AUTH,
                            json={"input": {"prompt": "beside"}}, timeout=BOUND).json()["id"]  # fmt: skip
        answers, took = asyncio.run(_hold_and_end(mock.root, beside))

        assert max(took) < PROMPT_SECONDS, sorted(took)[-3:]
        assert [answer.status_code for answer in answers] == [201] * HELD
        for answer in answers:
            assert answer.json()["status"] == "succeeded", answer.text
            assert answer.headers["Preference-Applied"] == "wait=60"
            assert "ratelimit-remaining" in answer.headers
        ids = {answer.json()["id"] for answer in answers}
        assert len(ids) == HELD

        entries = [entry for entry in _journal(mock.root) if entry["prediction_id"] in ids]
        assert len(entries) == HELD
        assert {entry["status"] for entry in entries} == {201}
        for entry in entries:
            named = {name.lower(): value for name, value in entry["response_headers"]}
            assert named["preference-applied"] == "wait=60", named
            assert "ratelimit-remaining" in named, named
            assert '"status":"succeeded"' in entry["response_body"]
            assert entry["body"] is not None
            assert "held" in entry["body"]
        # Journaled when answered: each took at least the time until the clock moved.
        assert min(entry["duration_ms"] for entry in entries) >= 1000 * sum(took)
        metrics = httpx.get(mock.root + "/metrics", timeout=BOUND).text
        assert f'imagen_mock_requests_total{{route="create",status="201"}} {HELD + 1}' in metrics
        assert "imagen_mock_held_connections 0" in metrics

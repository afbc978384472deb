"""A soak: thousands of mixed concurrent requests against ``imagen-mock serve``, with zero
errors and zero lost predictions (every id created can be read back)."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from contract_tests.support.servers import RunningMock, run_mock

pytestmark = pytest.mark.slow
WORKERS = 8
OPERATIONS = 300
AUTH = {"Authorization": "Bearer r8_soak"}


@pytest.fixture(scope="module", params=["in-memory", "redis, 2 workers"])
def mock(request: pytest.FixtureRequest) -> Iterator[RunningMock]:
    """The embedded default, and two worker processes sharing a real redis-server."""
    args = ["--threads", "32", "--starting-seconds", "0.05", "--processing-seconds", "0.2"]
    if request.param != "in-memory":
        url = request.getfixturevalue("redis_url")
        args += [
            "--workers",
            "2",
            "--redis-url",
            url,
            "--redis-prefix",
            f"soak-{uuid.uuid4().hex}:",
        ]
    with run_mock(args) as m:
        yield m


def test_mixed_load_loses_nothing(mock: RunningMock) -> None:
    created: list[str] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[str] = []
        with httpx.Client(base_url=mock.api, headers=AUTH, timeout=30) as http:
            for _ in range(OPERATIONS):
                choice = rng.random()
                if choice < 0.35 or not mine:
                    response = http.post(
                        "/models/google/imagen-4-ultra/predictions",
                        json={"input": {"prompt": f"soak {seed}", "aspect_ratio": "4:3"}},
                    )
                    if response.status_code == 201:
                        mine.append(response.json()["id"])
                elif choice < 0.7:
                    response = http.get(f"/predictions/{rng.choice(mine)}")
                elif choice < 0.8:
                    response = http.post(f"/predictions/{rng.choice(mine)}/cancel")
                elif choice < 0.9:
                    response = http.get("/predictions")
                else:
                    with http.stream("GET", f"{mock.root}/stream/{rng.choice(mine)}") as stream:
                        body = b"".join(stream.iter_bytes())
                        response = stream
                    assert b"event: done" in body
                with lock:
                    outcomes[f"{response.request.method} {response.status_code}"] += 1
        with lock:
            created.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert sum(outcomes.values()) == WORKERS * OPERATIONS
    assert all(key.endswith((" 200", " 201")) for key in outcomes), outcomes
    assert len(created) == len(set(created))
    with httpx.Client(base_url=mock.api, headers=AUTH, timeout=30) as http:
        missing = [pid for pid in created if http.get(f"/predictions/{pid}").status_code != 200]
    assert missing == [], f"{len(missing)} predictions were lost"

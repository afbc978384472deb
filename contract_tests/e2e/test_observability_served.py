"""The journal, HAR export, health, readiness and metrics of real ``imagen-mock serve``
processes: two workers sharing a redis-server (one journal, metrics added up across
workers), and readiness going to 503 when Redis goes away."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
import redis

from contract_tests.support.apps import close_app
from contract_tests.support.redis_server import run_redis
from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.unit.test_journal import entry
from mock_server import FakeClock, create_app
from mock_server.storage.redis_journal import RedisJournal

pytestmark = pytest.mark.slow

TOKEN = "r8_testtoken123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
HAR_SCHEMA = Path(__file__).parents[1] / "support" / "har-1.2.schema.json"
CREATES = 12


def _metrics_dirs(under: Path | None = None) -> set[str]:
    root = under or Path(tempfile.gettempdir())
    return {str(path) for path in root.glob("imagen-mock-metrics-*")}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMock]:
    """Two workers on one redis-server."""
    with run_redis(tmp_path_factory.mktemp("redis-observe")) as url:
        args = ["--workers", "2", "--redis-url", url, "--token", TOKEN]
        args += ["--starting-seconds", "0.3", "--processing-seconds", "0.7"]
        with run_mock(args) as running:
            yield running


def sample(root: str, name: str) -> float:
    text = httpx.get(f"{root}/metrics", timeout=5).text
    for line in text.splitlines():
        found, _, value = line.rpartition(" ")
        if found == name:
            return float(value)
    return 0.0


def test_the_workers_share_one_journal_and_add_up_their_metrics(shared: RunningMock) -> None:
    ids = []
    for number in range(CREATES):  # a new connection each: the kernel spreads them
        answer = httpx.post(
            shared.api + CREATE.removeprefix("/v1"),
            json={"input": {"prompt": f"poster {number}", "aspect_ratio": "16:9"}},
            headers={**AUTH, "Connection": "close"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    for prediction in ids:
        httpx.get(f"{shared.api}/predictions/{prediction}", headers={**AUTH, "Connection": "close"})

    for _ in range(4):  # whichever worker answers, the counts are the sums (read
        # first: each worker keeps its counts until a scrape or a journal read asks)
        assert (
            sample(shared.root, 'imagen_mock_requests_total{route="create",status="201"}')
            == CREATES
        )
        assert (
            sample(shared.root, 'imagen_mock_requests_total{route="get",status="200"}') == CREATES
        )
        assert sample(shared.root, "imagen_mock_predictions_created_total") == CREATES

    for _ in range(4):  # whichever worker answers, the journal is the same
        listed = httpx.get(
            f"{shared.root}/_mock/requests", params={"route": "create"}, headers=AUTH
        )
        assert [entry["prediction_id"] for entry in listed.json()["results"]] == ids
    assert TOKEN not in listed.text

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # each ends 1 s after its create
        ended = sample(shared.root, 'imagen_mock_predictions_ended_total{status="succeeded"}')
        if ended == CREATES:
            break
        time.sleep(0.2)
    assert ended == CREATES

    har = httpx.get(f"{shared.root}/_mock/requests.har", headers=AUTH)
    assert har.status_code == 200
    doc = har.json()
    jsonschema.validate(doc, json.loads(HAR_SCHEMA.read_text()))
    assert len(doc["log"]["entries"]) >= 2 * CREATES
    assert doc["log"]["entries"][0]["request"]["url"].startswith(shared.root + "/v1/")


def test_held_requests_show_in_the_gauge(shared: RunningMock) -> None:
    answers: list[int] = []

    def held() -> None:
        answer = httpx.post(
            shared.api + CREATE.removeprefix("/v1"),
            json={"input": {"prompt": "held"}},
            headers={**AUTH, "Prefer": "wait=10", "X-Mock-Scenario": "stuck"},
            timeout=30,
        )
        answers.append(answer.status_code)

    thread = threading.Thread(target=held)
    thread.start()
    deadline = time.monotonic() + 10
    seen = 0.0
    while time.monotonic() < deadline and not seen:
        seen = sample(shared.root, "imagen_mock_held_connections")
        time.sleep(0.05)
    assert seen == 1
    thread.join(20)
    assert answers == [201]  # a wait that ran out: 201, as recorded
    assert sample(shared.root, "imagen_mock_held_connections") == 0


def test_health_ready_and_metrics_need_no_token_and_are_not_journaled(
    shared: RunningMock,
) -> None:
    httpx.delete(f"{shared.root}/_mock/requests", headers=AUTH)
    before = sample(shared.root, 'imagen_mock_requests_total{route="none",status="200"}')
    for path in ("/_mock/health", "/_mock/ready", "/metrics"):
        assert httpx.get(shared.root + path).status_code == 200
    listed = httpx.get(f"{shared.root}/_mock/requests", headers=AUTH).json()
    assert listed == {"results": []}
    assert sample(shared.root, 'imagen_mock_requests_total{route="none",status="200"}') == before


def test_ready_turns_503_when_redis_goes_away(tmp_path: Path) -> None:
    with run_redis(tmp_path) as url, run_mock(["--redis-url", url, "--token", TOKEN]) as mock:
        assert httpx.get(f"{mock.root}/_mock/ready").status_code == 200
        _shut_down(url)
        answer = httpx.get(f"{mock.root}/_mock/ready", timeout=10)
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["status"] == 503
        assert httpx.get(f"{mock.root}/_mock/health").status_code == 200


def _shut_down(url: str) -> None:
    """Stop the redis-server at ``url`` (its fixture then finds it gone)."""
    client = redis.Redis.from_url(url)
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    finally:
        client.close()


def test_the_metrics_directory_is_removed_when_the_server_stops(tmp_path: Path) -> None:
    own_tmp = tmp_path / "tmp"  # the server's TMPDIR: no other process writes there
    own_tmp.mkdir()
    with run_redis(tmp_path) as url:
        with run_mock(["--workers", "2", "--redis-url", url], env={"TMPDIR": str(own_tmp)}) as mock:
            assert len(_metrics_dirs(own_tmp)) == 1
            assert httpx.get(f"{mock.root}/metrics").status_code == 200
        assert not _metrics_dirs(own_tmp)


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningMock, ...]]:
    """Two servers (one worker each) on one redis-server: which one answers is chosen."""
    with run_redis(tmp_path_factory.mktemp("redis-replicas")) as url:
        args = ["--redis-url", url, "--token", TOKEN, "--redis-prefix", "journal-read:"]
        with run_mock(args) as first, run_mock(args) as second:
            yield first, second


def _created(mock: RunningMock, prompt: str) -> str:
    answer = httpx.post(
        mock.api + CREATE.removeprefix("/v1"),
        json={"input": {"prompt": prompt}},
        headers=AUTH,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    prediction_id: str = answer.json()["id"]
    return prediction_id


def _journaled(mock: RunningMock, **query: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{mock.root}/_mock/requests", params=query, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, object]] = answer.json()["results"]
    return results


def test_a_read_through_one_replica_sees_a_request_the_other_just_answered(
    two_replicas: tuple[RunningMock, ...],
) -> None:
    first, second = two_replicas
    for number in range(20):
        writer, reader = (first, second) if number % 2 else (second, first)
        made = _created(writer, f"poster {number}")
        seen = _journaled(reader, prediction_id=made)
        assert [entry["route"] for entry in seen] == ["create"], number


def test_two_workers_on_a_data_dir_share_the_journal_and_keep_it(tmp_path: Path) -> None:
    args = ["--workers", "2", "--data-dir", str(tmp_path / "data"), "--token", TOKEN]
    with run_mock(args) as mock:
        ids = []
        for number in range(CREATES):  # a new connection each: the kernel spreads them
            answer = httpx.post(
                mock.api + CREATE.removeprefix("/v1"),
                json={"input": {"prompt": f"poster {number}"}},
                headers={**AUTH, "Connection": "close"},
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
            seen = _journaled(mock, prediction_id=ids[-1])  # right after, any worker
            assert [entry["route"] for entry in seen] == ["create"], number
        for _ in range(4):  # whichever worker answers, the journal is the same
            listed = _journaled(mock, route="create")
            assert [entry["prediction_id"] for entry in listed] == ids
        assert TOKEN not in json.dumps(listed)
    with run_mock(args) as restarted:  # kept across a restart on the same directory
        assert [e["prediction_id"] for e in _journaled(restarted, route="create")] == ids
        assert httpx.delete(f"{restarted.root}/_mock/requests", headers=AUTH).status_code == 204
        assert _journaled(restarted) == []


def test_a_journal_read_on_redis_has_the_other_replica_flush_first(tmp_path: Path) -> None:
    """An entry is written only when flushed, so a read through the second app finds the
    first app's request only if it asked the first to flush."""
    with run_redis(tmp_path) as url:
        apps = [
            create_app({"MOCK_REDIS_URL": url, "MOCK_CLOCK": FakeClock(), "MOCK_TOKEN": TOKEN})
            for _ in range(2)
        ]
        try:
            first, second = (app.test_client() for app in apps)
            made = first.post(CREATE, json={"input": {"prompt": "x"}}, headers=AUTH)
            assert made.status_code == 201
            assert redis.Redis.from_url(url).zcard("imagen-mock:requests") == 0  # queued
            seen = second.get("/_mock/requests", headers=AUTH).get_json()["results"]
            assert [entry["prediction_id"] for entry in seen] == [made.get_json()["id"]]
        finally:
            for app in apps:
                close_app(app)


def test_the_redis_journal_keeps_the_entries_that_arrived_last_whatever_order_they_come(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Replicas write their batches when asked, so an older batch may come last: the
    sorted set still keeps the newest ``limit`` and reads oldest first."""
    journal = RedisJournal(redis_client, prefix=redis_prefix, limit=3)
    journal.append_many([entry(number) for number in range(2, 5)])
    journal.append_many([entry(number) for number in range(2)])
    assert [item.id for item in journal.entries()] == ["req_2", "req_3", "req_4"]
    journal.clear()
    assert journal.entries() == []

"""The event stream against a real ``imagen-mock serve``: the official client's ``stream``,
and held streams that do not block other requests."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.official_client import run_client
from contract_tests.support.servers import RunningMock, run_mock
from mock_server.domain.safety import SAFETY_ERROR

STREAM_SCRIPT = """
import io, json, replicate
from PIL import Image
events = list(replicate.stream("google/imagen-4-ultra", input={"prompt": "a lighthouse"}))
out = [e for e in events if e.event.value == "output"][0].data
print(json.dumps({"events": [e.event.value for e in events], "ids": [e.id for e in events],
                  "url": out.url, "size": list(Image.open(io.BytesIO(out.read())).size)}))
"""

PREDICTION_STREAM_SCRIPT = """
import json, replicate
p = replicate.predictions.create(model="google/imagen-4-ultra", input={"prompt": "a boat"})
events = list(p.stream())
p.reload()
out = events[-2].data
print(json.dumps({"events": [e.event.value for e in events], "output": out.url,
                  "is_file": type(out).__name__ == "FileOutput", "status": p.status,
                  "expected": p.output}))
"""

FAILED_SCRIPT = """
import json, replicate
try:
    list(replicate.stream("google/imagen-4-ultra", input={"prompt": "gore"}))
except RuntimeError as exc:
    print(json.dumps({"raised": json.loads(str(exc))}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("base", ["", "/replicate"])
def test_official_client_stream(tls_mock: RunningMock, base: str) -> None:
    result = run_client(tls_mock, base, STREAM_SCRIPT)
    assert result["events"] == ["logs"] * 3 + ["output", "done"]
    assert result["ids"] == [str(n) for n in range(5)]
    assert result["url"].startswith(tls_mock.root + "/delivery/")
    assert result["size"] == [1024, 1024]


@pytest.mark.slow
def test_official_client_prediction_stream(tls_mock: RunningMock) -> None:
    result = run_client(tls_mock, "", PREDICTION_STREAM_SCRIPT)
    assert result["events"][-2:] == ["output", "done"]
    assert result["status"] == "succeeded"
    assert result["output"] == result["expected"]
    assert result["is_file"]


@pytest.mark.slow
def test_official_client_stream_of_failed_prediction(tls_mock: RunningMock) -> None:
    result = run_client(tls_mock, "", FAILED_SCRIPT)
    assert result == {"raised": {"detail": SAFETY_ERROR}}


@pytest.mark.slow
def test_held_streams_do_not_block_other_requests() -> None:
    args = ["--threads", "4", "--starting-seconds", "0.2", "--processing-seconds", "3"]
    with run_mock(args) as mock, httpx.Client(base_url=mock.root, headers=AUTH) as http:
        created = http.post(CREATE, json={"input": {"prompt": "x"}}).json()
        received: list[list[str]] = []
        ready = threading.Barrier(3, timeout=10)

        def hold() -> None:
            with httpx.stream("GET", created["urls"]["stream"], timeout=10) as response:
                lines = response.iter_lines()
                seen = [next(lines)]
                ready.wait()
                seen.extend(lines)
                received.append(seen)

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for holder in holders:
            holder.start()
        ready.wait()
        started = time.monotonic()
        during = http.get(f"/v1/predictions/{created['id']}", timeout=5).json()
        assert time.monotonic() - started < 1.0
        assert during["status"] in {"starting", "processing"}
        for holder in holders:
            holder.join(timeout=10)
            assert not holder.is_alive()
        assert len(received) == 2
        for seen in received:
            assert seen[:3] == [": open", "", "event: logs"]
            assert seen[-4:] == ["event: done", "id: 4", "data: {}", ""]

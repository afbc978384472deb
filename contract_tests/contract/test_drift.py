"""The drift report: unit checks of the comparison, and a run against a stand-in for
the live API that differs from the mock in known ways; the report must find exactly those."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from contract_tests.drift import __main__ as drift
from contract_tests.drift.compare import (
    BOTH_IN_SPEC,
    LIVE_VIOLATES,
    ONLY_LIVE,
    compare,
    shape,
)
from contract_tests.drift.probes import Exchange
from mock_server import create_app
from mock_server.contract.spec import load_spec
from mock_server.serving.server import serve_in_thread

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def exchange(
    status: int, body: Any, probe: str = "p", operation: str = "getPrediction"
) -> Exchange:
    return Exchange(probe, operation, status, {}, body, 0.01)


def test_shape_names_types_and_formats() -> None:
    body = {"a": None, "b": "2025-07-30T03:28:46.805Z", "c": "https://x/y", "d": [{"e": 1.5}]}
    assert shape(body) == {
        "a": "null",
        "b": "string(date-time)",
        "c": "string(uri)",
        "d": "array",
        "d[]": "object",
        "d[].e": "number",
    }


def test_only_live_fields_and_undocumented_status() -> None:
    spec = load_spec()
    problem = {"detail": "x does not exist", "status": 404}
    found = compare(
        [exchange(404, {**problem, "extra": 1}), exchange(410, problem, probe="q")],
        [exchange(404, problem), exchange(404, problem, probe="q")],
        spec,
    )
    assert [(d.probe, d.aspect, d.where, d.kind) for d in found] == [
        ("p", "field", "extra", ONLY_LIVE),
        ("q", "status", "(status)", LIVE_VIOLATES),
    ]


def test_identical_answers_have_no_drift() -> None:
    body = {"detail": "x", "status": 404}
    assert compare([exchange(404, body)], [exchange(404, body)], load_spec()) == []


def drifted(app: WsgiApp) -> WsgiApp:
    """The stand-in's differences: no ``logs`` field, 410 for unknown ids, slow lists."""

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if method == "GET" and path == "/v1/predictions/driftprobe0000000000000000":
            start_response("410 Gone", [("Content-Type", "application/problem+json")])
            return [b'{"detail":"Prediction driftprobe0000000000000000 is gone","status":410}']
        if method == "GET" and path == "/v1/predictions":
            time.sleep(1.0)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        if dict(headers).get("Content-Type") == "application/json" and body:
            doc = json.loads(body)
            for item in [doc, *doc.get("results", [])]:
                item.pop("logs", None)
            body = json.dumps(doc).encode()
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapper


@contextmanager
def serve(app: WsgiApp) -> Iterator[str]:
    with serve_in_thread(app) as root:
        yield f"{root}/v1"


def test_report_finds_exactly_the_injected_differences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {"MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0}
    with serve(drifted(create_app(config).wsgi_app)) as live, serve(create_app(config)) as mock:
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_secretstandin")
        code = drift.main(["--live", live, "--mock", mock, "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "drift.json").read_text())
    found = {(d["probe"], d["aspect"], d["where"], d["kind"]) for d in report["differences"]}
    missing_logs = {
        (probe, "field", where, BOTH_IN_SPEC)
        for probe, where in [
            ("create and wait", "logs"),
            ("create and wait (final)", "logs"),
            ("get the created prediction", "logs"),
            ("list predictions", "results[].logs"),
        ]
    }
    assert found == {
        *missing_logs,
        ("get unknown id", "status", "(status)", LIVE_VIOLATES),
        *(
            (probe, "latency", "seconds", BOTH_IN_SPEC)
            for probe in ("list without token", "list with a wrong token", "list predictions")
        ),
    }
    out = capsys.readouterr().out
    assert "billed predictions created on live: 1 (budget 2)" in out
    assert "r8_secretstandin" not in out
    assert "r8_secretstandin" not in (tmp_path / "exchanges-live.json").read_text()
    assert "| live violates the spec | 1 |" in (tmp_path / "drift.md").read_text()


def test_budget_zero_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0}
    live_app = create_app(config)
    with serve(live_app) as live, serve(create_app(config)) as mock:
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_x")
        assert (
            drift.main(["--live", live, "--mock", mock, "--out", str(tmp_path), "--budget", "0"])
            == 0
        )
    listed = live_app.test_client().get("/v1/predictions", headers={"Authorization": "Bearer r8_x"})
    assert listed.get_json()["results"] == []


def test_refuses_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    assert drift.main(["--live", "http://127.0.0.1:9/v1", "--mock", "http://127.0.0.1:9/v1"]) == 2

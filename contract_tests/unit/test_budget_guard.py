"""The live run's budget guard on an httpx transport, against an in-memory target that
accepts every create (``httpx.MockTransport``: no sockets)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from contract_tests.support.budget import (
    BILLED,
    BudgetSpentError,
    Ledger,
    cancel_url,
    is_create,
    report,
)
from contract_tests.support.budget_transports import GuardedTransport

BASE = "https://reseller.test/replicate/v1"
CREATE = f"{BASE}/models/google/imagen-4-ultra/predictions"
AUTH = {"Authorization": "Bearer r8_unit"}


class Lax:
    """Answers every create 201 (or ``create_status``), every cancel 200 ``canceled``."""

    def __init__(self, create_status: int = 201) -> None:
        self.create_status = create_status
        self.seen: list[tuple[str, str, str | None]] = []
        self.count = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path.endswith("/cancel"):
            return httpx.Response(200, json={"id": request.url.path.split("/")[-2], "status": "canceled"})  # fmt: skip
        self.count += 1
        pid = f"p{self.count}"
        body = {"id": pid, "status": "starting",
                "urls": {"cancel": f"https://api.replicate.com/v1/predictions/{pid}/cancel"}}  # fmt: skip
        return httpx.Response(self.create_status, json=body)

    def creates(self) -> list[str]:
        return [path for method, path, _ in self.seen if not path.endswith("/cancel")]

    def cancels(self) -> list[str]:
        return [path for method, path, _ in self.seen if path.endswith("/cancel")]


def client(ledger: Ledger, target: Lax) -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(ledger, httpx.MockTransport(target)))


def test_unexpected_creates_are_billed_canceled_and_capped(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 2)
    target = Lax()
    with client(ledger, target) as http:
        bodies: list[dict[str, object]] = [{"input": {}}, {"input": {"prompt": "x"}, "model": "m"}]
        for body in bodies:
            assert http.post(CREATE, json=body, headers=AUTH).status_code == 201
        with pytest.raises(BudgetSpentError, match="budget of 2 billed create"):
            http.post(CREATE, json={"input": {"prompt": "x", "aspect_ratio": "2:1"}}, headers=AUTH)
        with pytest.raises(BudgetSpentError):
            http.post(CREATE, json={"input": {"prompt": "x"}}, headers=AUTH, extensions={BILLED: "planned"})  # fmt: skip
        assert http.get(f"{BASE}/predictions").status_code == 201  # reads are never held back
    assert len(target.creates()) == 2 + 1, "two creates and the one GET reached the target"
    # canceled on the create's own origin and prefix, with the create's token
    assert target.cancels() == ["/replicate/v1/predictions/p1/cancel", "/replicate/v1/predictions/p2/cancel"]  # fmt: skip
    assert all(auth == AUTH["Authorization"] for _, _, auth in target.seen if auth is not None)
    state = ledger.state()
    assert state.billed == 2
    assert state.in_flight == 0
    assert [(c.id, c.expected, c.cancel_status, c.status_after_cancel) for c in state.created] == [
        ("p1", False, 200, "canceled"),
        ("p2", False, 200, "canceled"),
    ]
    assert len(state.refused) == 2
    printed = report(state)
    assert (
        "budget: 2 billed create(s) of 2 allowed; 2 unexpected; 2 refused before sending" in printed
    )
    assert (
        "created p1 HTTP 201 status=starting UNEXPECTED canceled: HTTP 200, status=canceled"
        in printed
    )
    assert printed.count("refused (not sent) POST /replicate/v1/models/google/imagen-4-ultra/predictions") == 2  # fmt: skip


def test_a_planned_create_is_billed_and_left_running(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 1)
    target = Lax()
    with client(ledger, target) as http:
        http.post(CREATE, json={"input": {"prompt": "x"}}, extensions={BILLED: "the lifecycle"})
    assert target.cancels() == []
    (created,) = ledger.state().created
    assert created.expected
    assert created.label == "the lifecycle"
    assert "billed as planned (the lifecycle)" in report(ledger.state())


def test_refused_creates_free_their_slot(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 1)
    with client(ledger, Lax(create_status=422)) as http:
        for _ in range(3):
            assert http.post(CREATE, json={"input": {}}).status_code == 422
    state = ledger.state()
    assert (state.billed, state.in_flight, state.refused) == (0, 0, [])


def test_a_create_without_an_answer_counts_as_billed(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 1)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with httpx.Client(transport=GuardedTransport(ledger, httpx.MockTransport(drop))) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post(CREATE, json={"input": {"prompt": "x"}})
        with pytest.raises(BudgetSpentError):
            http.post(CREATE, json={"input": {"prompt": "x"}})
    (created,) = ledger.state().created
    assert created.http_status is None
    assert "no answer" in created.note


def test_a_create_that_never_connected_frees_its_slot(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 1)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=GuardedTransport(ledger, httpx.MockTransport(refuse))) as http:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                http.post(CREATE, json={"input": {"prompt": "x"}})
    state = ledger.state()
    assert (state.billed, state.in_flight, state.refused) == (0, 0, [])


def test_budget_zero_sends_no_create_at_all(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "ledger.json", 0)
    target = Lax(create_status=422)
    with client(ledger, target) as http:
        for path in ("/predictions", "/models/a/b/predictions", "/deployments/a/b/predictions"):
            with pytest.raises(BudgetSpentError):
                http.post(BASE + path, json={"input": {}})
        assert http.post(f"{BASE}/predictions/x/cancel").status_code == 200
    assert target.creates() == []


def test_two_ledger_handles_share_one_budget(tmp_path: Path) -> None:
    """What a second process sees: the same file, the same count."""
    path = tmp_path / "ledger.json"
    Ledger.create(path, 1)
    with client(Ledger(path), Lax()) as first:
        first.post(CREATE, json={"input": {}})
    with client(Ledger(path), Lax()) as second, pytest.raises(BudgetSpentError):
        second.post(CREATE, json={"input": {}})
    assert json.loads(path.read_text())["created"][0]["id"] == "p1"


@pytest.mark.parametrize(
    ("method", "path", "creates"),
    [
        ("POST", "/v1/predictions", True),
        ("POST", "/replicate/v1/models/google/imagen-4-ultra/predictions/", True),
        ("post", "/v1/models/o/m/versions/v/trainings", True),
        ("POST", "/v1/predictions/abc/cancel", False),
        ("GET", "/v1/predictions", False),
        ("POST", "/v1/files", False),
    ],
)
def test_what_counts_as_a_create(method: str, path: str, creates: bool) -> None:
    assert is_create(method, path) is creates


def test_cancel_url_prefers_the_answer_on_the_same_origin() -> None:
    same = {"id": "abc", "urls": {"cancel": "https://reseller.test/x/predictions/abc/cancel"}}
    assert cancel_url(CREATE, same) == "https://reseller.test/x/predictions/abc/cancel"
    foreign = {"id": "abc", "urls": {"cancel": "https://api.replicate.com/v1/predictions/abc/cancel"}}  # fmt: skip
    assert cancel_url(CREATE, foreign) == f"{BASE}/predictions/abc/cancel"
    assert cancel_url(f"{BASE}/predictions", {"id": "abc"}) == f"{BASE}/predictions/abc/cancel"
    assert cancel_url(CREATE, {"status": "starting"}) is None

"""The official Python client talks to the mock through Prism holding Replicate's own
published description (its two known defects corrected): a whole session, zero violations.

    replicate.Client --> prism proxy <corrected spec> http://127.0.0.1:<mock> --> imagen-mock serve

Every answer that passes Prism carries its findings in ``sl-violations``; an httpx
response hook on the client's own HTTP client collects them. The published description
documents no error answers (no 404, no 422), so on the two calls built to fail Prism can
only warn that their status is undocumented; that warning, there, is the one finding
allowed. Anything else fails the test, each finding listed with route, place and message.
Prism missing is an error, not a skip: ``make test`` installs it (``make install``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from replicate.client import Client
from replicate.exceptions import ReplicateError

from contract_tests.support.prism import Violation, prism_proxy, violations_of
from contract_tests.support.published_spec import write_corrected
from contract_tests.support.servers import run_mock

pytestmark = pytest.mark.slow
MODEL = "google/imagen-4-ultra"
TOKEN = "r8_prismsession0123456789abcdef"
UNDOCUMENTED_STATUS = "Unable to match the returned status code"


class Session:
    """Everything Prism answered during the session."""

    def __init__(self, prism_root: str) -> None:
        self.prism = httpx.URL(prism_root)
        self.exchanges: list[httpx.Response] = []

    def hook(self, response: httpx.Response) -> None:
        if (response.url.host, response.url.port) == (self.prism.host, self.prism.port):
            self.exchanges.append(response)

    def violations(self) -> list[Violation]:
        found = []
        for response in self.exchanges:
            for violation in violations_of(response):
                expected_failure = response.status_code in {404, 422}
                allowed = (
                    expected_failure
                    and violation.severity == "Warning"
                    and (violation.message.startswith(UNDOCUMENTED_STATUS))
                )
                if not allowed:
                    found.append(violation)
        return found


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The session driven through Prism, run once; what Prism answered."""
    tmp = tmp_path_factory.mktemp("prism")
    spec = write_corrected(tmp / "replicate-corrected.json")
    args = ["--starting-seconds", "0.3", "--processing-seconds", "0.6"]
    with run_mock(args) as mock, prism_proxy(spec, mock.root, tmp / "prism.log") as root:
        recorded = Session(root)
        client = Client(api_token=TOKEN, base_url=root, event_hooks={"response": [recorded.hook]})
        client.poll_interval = 0.1
        try:
            drive(client)
        finally:
            client._client.close()
        yield recorded


def drive(client: Client) -> None:
    """A realistic session: run (create and wait), create without wait, get, poll, list,
    cancel, a timed wait, a streamed create, the webhook secret, a 422 and a 404."""
    output = client.run(MODEL, input={"prompt": "a lighthouse at dawn", "aspect_ratio": "16:9"})
    assert isinstance(output, str)
    assert output.endswith(".jpg")
    timed = client.models.predictions.create(MODEL, input={"prompt": "a red boat"}, wait=5)
    assert timed.status in {"starting", "processing", "succeeded"}
    later = client.predictions.create(model=MODEL, input={"prompt": "a quiet harbour"})
    created_status = later.status
    assert created_status == "starting"
    assert client.predictions.get(later.id).id == later.id
    later.wait()
    assert str(later.status) == "succeeded"
    doomed = client.predictions.create(model=MODEL, input={"prompt": "never mind"})
    assert client.predictions.cancel(doomed.id).status == "canceled"
    listed = client.predictions.list()
    assert {later.id, doomed.id} <= {p.id for p in listed.results}
    streamed = client.predictions.create(model=MODEL, input={"prompt": "a kite"}, stream=True)
    events = [event.event.value for event in streamed.stream()]
    assert events
    assert events[-1] == "done"
    assert client.webhooks.default.secret().key.startswith("whsec_")
    with pytest.raises(ReplicateError) as bad:
        client.predictions.create(model=MODEL, input={"prompt": "x", "aspect_ratio": "2:1"})
    assert bad.value.status == 422
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("doesnotexist0000000000000a")
    assert missing.value.status == 404


def test_the_session_went_through_prism(session: Session) -> None:
    routes = {(r.request.method, r.request.url.path.split("/")[2]) for r in session.exchanges}
    assert {("POST", "models"), ("GET", "predictions"), ("POST", "predictions"),
            ("GET", "webhooks")} <= routes  # fmt: skip
    assert len(session.exchanges) >= 12
    statuses = {r.status_code for r in session.exchanges}
    assert {200, 201, 404, 422} <= statuses
    # Prism validated each answer: its CORS headers are on every one of them
    assert all("access-control-allow-origin" in r.headers for r in session.exchanges)


def test_zero_violations_of_the_published_description(session: Session) -> None:
    found = session.violations()
    calls = len(session.exchanges)
    listing = "\n".join(f"  {violation}" for violation in found)
    assert not found, f"{len(found)} violation(s) in {calls} calls through Prism:\n{listing}"

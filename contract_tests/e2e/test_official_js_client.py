"""The official JavaScript client (npm ``replicate`` 1.4.0) against ``imagen-mock serve --tls``.

Runs where Node.js and the project's ``tools/node_modules`` are present (``make install``
puts them there) and skips, saying so, where they are not.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from contract_tests.support.constants import REPO
from contract_tests.support.servers import RunningMock

SCRIPT = Path(__file__).resolve().parent / "js" / "official_client.cjs"
NODE_MODULES = REPO / "tools" / "node_modules"
NODE = shutil.which("node")


def node_missing() -> str | None:
    if NODE is None:
        return "Node.js is not installed: run `make install` (scripts/install-node-tools.sh)"
    if not (NODE_MODULES / "replicate").is_dir():
        return "npm package replicate is missing: run `make install` to fill tools/node_modules"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(node_missing() is not None, reason=node_missing() or ""),
]


def run_js(mock: RunningMock, scenario: str, **args: Any) -> dict[str, Any]:
    env = {
        **os.environ,
        "NODE_PATH": str(NODE_MODULES),
        "NODE_EXTRA_CA_CERTS": str(mock.ca_file),
        "REPLICATE_API_TOKEN": "r8_jstoken",
        "IMAGEN_MOCK_BASE_URL": mock.api,
    }
    done = subprocess.run(
        [str(NODE), str(SCRIPT), scenario, json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("fmt", "pil", "ratio", "size"),
    [("jpg", "JPEG", "9:16", (768, 1408)), ("png", "PNG", "1:1", (1024, 1024))],
)
def test_run_returns_the_image(
    tls_mock: RunningMock, tmp_path: Path, fmt: str, pil: str, ratio: str, size: tuple[int, int]
) -> None:
    path = tmp_path / f"out.{fmt}"
    input_ = {"prompt": "a paper boat", "output_format": fmt, "aspect_ratio": ratio}
    result = run_js(tls_mock, "run", input=input_, path=str(path))
    assert result["url"].startswith(tls_mock.root + "/delivery/")
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.format == pil
    assert image.size == size


def test_failing_prediction_throws(tls_mock: RunningMock) -> None:
    result = run_js(tls_mock, "fail", input={"prompt": "gore"})
    assert result == {
        "threw": True,
        "message": "Prediction failed: The input or output was flagged as sensitive. (E005)",
    }


def test_cancel(tls_mock: RunningMock) -> None:
    result = run_js(tls_mock, "cancel", input={"prompt": "slow"})
    assert result == {"created": "starting", "canceled": "canceled", "again": "canceled"}


def test_validate_webhook_accepts_the_mocks_deliveries(tls_mock: RunningMock) -> None:
    ssl_context = ssl.create_default_context(cafile=str(tls_mock.ca_file))
    auth = {"Authorization": "Bearer r8_jstoken"}
    with httpx.Client(base_url=tls_mock.root, verify=ssl_context, headers=auth) as http:
        # Nothing listens on port 9 of loopback: the attempt is still signed and recorded.
        created = http.post(
            "/v1/models/google/imagen-4-ultra/predictions",
            json={"input": {"prompt": "x"}, "webhook": "http://127.0.0.1:9/hook",
                  "webhook_events_filter": ["completed"]},
        ).json()  # fmt: skip
        secret = http.get("/v1/webhooks/default/secret").json()["key"]
        attempts: list[dict[str, Any]] = []
        for _ in range(100):
            attempts = http.get(
                "/_mock/webhooks/deliveries", params={"prediction_id": created["id"]}
            ).json()["results"]
            if attempts:
                break
            time.sleep(0.05)
    assert attempts, "the mock recorded no delivery attempt"
    request = attempts[0]["request"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    result = run_js(
        tls_mock,
        "webhook",
        id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        signature=headers["webhook-signature"],
        body=request["body"],
        secret=secret,
    )
    assert result == {"valid": True, "tampered": False}

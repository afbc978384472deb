"""The official ``replicate`` Python client, unchanged, against ``imagen-mock serve --tls``.

Each scenario runs in a fresh interpreter configured only through the environment
(``REPLICATE_BASE_URL``, ``REPLICATE_API_TOKEN``, ``SSL_CERT_FILE``), the way an
application would be pointed at the mock.
"""

from __future__ import annotations

import pytest

from contract_tests.support.official_client import run_client
from contract_tests.support.servers import RunningMock

pytestmark = pytest.mark.slow

RUN_SCRIPT = """
import io, json, replicate
from PIL import Image
from replicate.helpers import FileOutput
out = replicate.run("google/imagen-4-ultra", input={
    "prompt": "a lighthouse at dawn", "aspect_ratio": ASPECT, "output_format": FORMAT})
data = out.read()
image = Image.open(io.BytesIO(data))
print(json.dumps({"type": type(out).__name__, "is_file": isinstance(out, FileOutput),
                  "url": out.url, "format": image.format, "size": list(image.size)}))
"""

CANCEL_SCRIPT = """
import json, replicate
p = replicate.predictions.create(model="google/imagen-4-ultra", input={"prompt": "slow"})
c = replicate.predictions.cancel(p.id)
again = replicate.predictions.get(p.id)
listed = [x.id for x in replicate.predictions.list().results]
print(json.dumps({"created": p.status, "canceled": c.status, "again": again.status,
                  "output": again.output, "listed_first": listed[0] == p.id}))
"""

BLOCKED_SCRIPT = """
import json, replicate
from replicate.exceptions import ModelError
try:
    replicate.run("google/imagen-4-ultra", input={"prompt": "a knife",
                  "safety_filter_level": "block_low_and_above"})
except ModelError as exc:
    print(json.dumps({"raised": "ModelError", "message": str(exc),
                      "status": exc.prediction.status}))
else:
    print(json.dumps({"raised": None}))
"""

ASYNC_SCRIPT = """
import asyncio, io, json, replicate
from PIL import Image

async def main():
    outputs = await asyncio.gather(*(
        replicate.async_run("google/imagen-4-ultra", input={"prompt": f"boat {n}"})
        for n in range(3)))
    sizes = []
    for out in outputs:
        sizes.append(list(Image.open(io.BytesIO(await out.aread())).size))
    print(json.dumps({"sizes": sizes, "distinct": len({o.url for o in outputs})}))

asyncio.run(main())
"""

ERROR_SCRIPT = """
import json, replicate
from replicate.exceptions import ReplicateError
try:
    replicate.predictions.get("doesnotexist")
except ReplicateError as exc:
    print(json.dumps({"status": exc.status, "detail": exc.detail}))
"""


@pytest.mark.parametrize("base", ["", "/replicate"])
@pytest.mark.parametrize(
    ("aspect", "fmt", "pil", "size"),
    [("16:9", "jpg", "JPEG", [1408, 768]), ("3:4", "png", "PNG", [896, 1280])],
)
def test_run_returns_a_file_output_image(
    tls_mock: RunningMock, base: str, aspect: str, fmt: str, pil: str, size: list[int]
) -> None:
    result = run_client(tls_mock, base, RUN_SCRIPT, ASPECT=aspect, FORMAT=fmt)
    assert result["is_file"], result
    assert result["url"].startswith(tls_mock.root + "/delivery/")
    assert result["format"] == pil
    assert result["size"] == size


@pytest.mark.parametrize("base", ["", "/replicate"])
def test_create_cancel_get_list(tls_mock: RunningMock, base: str) -> None:
    result = run_client(tls_mock, base, CANCEL_SCRIPT)
    assert result == {
        "created": "starting",
        "canceled": "canceled",
        "again": "canceled",
        "output": None,
        "listed_first": True,
    }


def test_safety_block_raises_model_error(tls_mock: RunningMock) -> None:
    result = run_client(tls_mock, "/replicate", BLOCKED_SCRIPT)
    assert result == {
        "raised": "ModelError",
        "message": "The input or output was flagged as sensitive. (E005)",
        "status": "failed",
    }


def test_problem_details_reach_replicate_error(tls_mock: RunningMock) -> None:
    result = run_client(tls_mock, "", ERROR_SCRIPT)
    assert result == {"status": 404, "detail": "Prediction doesnotexist does not exist"}


def test_async_run_in_parallel(tls_mock: RunningMock) -> None:
    result = run_client(tls_mock, "/replicate", ASYNC_SCRIPT)
    assert result == {"sizes": [[1024, 1024]] * 3, "distinct": 3}

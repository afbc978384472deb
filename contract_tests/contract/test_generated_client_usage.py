"""The generated client drives the Flask mock, in process through ``httpx.WSGITransport``.

Every test runs against both base URLs the mock serves (``/v1`` and ``/replicate/v1``).
Time only moves when a test advances the fake clock; nothing sleeps.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, Final, TypeVar, cast

import httpx
import pytest
from flask import Flask
from imagen_client import AuthenticatedClient, Client
from imagen_client.api.predictions import (
    cancel_prediction,
    create_prediction,
    get_prediction,
    list_predictions,
)
from imagen_client.models import (
    AspectRatio,
    ImagenInput,
    InvalidField,
    OutputFormat,
    Prediction,
    PredictionMetrics,
    PredictionPage,
    PredictionRequest,
    PredictionUrls,
    Problem,
)
from imagen_client.types import Response, Unset
from PIL import Image

from mock_server import create_app
from mock_server.domain.clock import FakeClock

HOST: Final = "http://mock.test"
PREFIXES: Final = ("/v1", "/replicate/v1")
TOKEN: Final = "r8_t"
PROBLEM_JSON: Final = "application/problem+json"
TERMINAL: Final = frozenset({"succeeded", "failed", "canceled", "aborted"})
#: Imagen 4's 1K pixel sizes, as the mock renders them.
SIZES: Final[dict[AspectRatio, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "16:9": (1408, 768),
    "9:16": (768, 1408),
    "4:3": (1280, 896),
    "3:4": (896, 1280),
}
PIL_FORMATS: Final[dict[OutputFormat, str]] = {"jpg": "JPEG", "png": "PNG"}
MEDIA_TYPES: Final[dict[OutputFormat, str]] = {"jpg": "image/jpeg", "png": "image/png"}
#: Fake seconds between two polls, and how many polls a prediction gets to end.
POLL_STEP: Final = 0.5
MAX_POLLS: Final = 40
ASPECT_RATIO_ENUM_ERROR: Final = (
    'aspect_ratio must be one of the following: "1:1", "9:16", "16:9", "3:4", "4:3"'
)

ApiClient = AuthenticatedClient | Client
Parsed = TypeVar("Parsed")


def connect(app: Flask, base_url: str, token: str | None) -> ApiClient:
    """A generated client whose requests go straight into ``app``.

    The client's own httpx client is replaced (the generated README's way of customising
    transport), so the Authorization header is set here rather than by AuthenticatedClient.
    """
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url=base_url, headers=headers)
    client: ApiClient = (
        Client(base_url=base_url)
        if token is None
        else AuthenticatedClient(base_url=base_url, token=token)
    )
    return client.set_httpx_client(http)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that stands still until the test calls ``advance``."""
    return FakeClock()


@pytest.fixture
def instant_app() -> Flask:
    """A mock whose predictions have succeeded by the time they are read."""
    return create_app({"MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0})


@pytest.fixture
def clocked_app(fake_clock: FakeClock) -> Flask:
    """A mock whose predictions start after 1 s and run for 3 s of ``fake_clock`` time."""
    return create_app(
        {"MOCK_CLOCK": fake_clock, "MOCK_STARTING_SECONDS": 1, "MOCK_PROCESSING_SECONDS": 3}
    )


@pytest.fixture
def pinned_token_app() -> Flask:
    """A mock that accepts only the Bearer token ``secret``."""
    return create_app(
        {"MOCK_TOKEN": "secret", "MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0}
    )


@pytest.fixture(params=PREFIXES, ids=["v1", "replicate-v1"])
def base_url(request: pytest.FixtureRequest) -> str:
    prefix: str = request.param
    return HOST + prefix


@pytest.fixture
def api(instant_app: Flask, base_url: str) -> Iterator[ApiClient]:
    """A generated client of a mock whose predictions succeed at once."""
    with connect(instant_app, base_url, TOKEN) as client:
        yield client


@pytest.fixture
def clocked_api(clocked_app: Flask, base_url: str) -> Iterator[ApiClient]:
    """A generated client of a mock whose predictions move with ``fake_clock``."""
    with connect(clocked_app, base_url, TOKEN) as client:
        yield client


def expect(response: Response[Any], status: HTTPStatus, kind: type[Parsed]) -> Parsed:
    """The parsed body, after checking the status code and the parsed type."""
    assert response.status_code == status, (
        f"expected {status.value}, got {response.status_code.value}: {response.content!r}"
    )
    assert isinstance(response.parsed, kind), f"expected a {kind.__name__}, got {response.parsed!r}"
    return response.parsed


def expect_problem(response: Response[Any], status: HTTPStatus) -> Problem:
    problem = expect(response, status, Problem)
    assert response.headers["content-type"] == PROBLEM_JSON
    assert problem.status == status.value
    assert problem.detail
    return problem


def create(client: ApiClient, imagen_input: ImagenInput) -> Prediction:
    """Create a prediction (no ``Prefer: wait``) and check the 201 answer's framing."""
    response = create_prediction.sync_detailed(
        "google", "imagen-4-ultra", client=client, body=PredictionRequest(input_=imagen_input)
    )
    prediction = expect(response, HTTPStatus.CREATED, Prediction)
    assert "Location" not in response.headers  # as no recorded real create has one
    assert response.headers["ratelimit-remaining"].isdigit()
    assert isinstance(prediction.started_at, Unset)  # no key before it exists
    return prediction


def get(client: ApiClient, prediction_id: str) -> Prediction:
    return expect(
        get_prediction.sync_detailed(prediction_id, client=client), HTTPStatus.OK, Prediction
    )


def poll(
    client: ApiClient,
    prediction_id: str,
    clock: FakeClock,
    until: Callable[[Prediction], bool],
) -> tuple[Prediction, list[str]]:
    """Read the prediction, advancing the clock between reads, until ``until`` holds.

    Returns the last read and the distinct statuses seen, in order.
    """
    seen: list[str] = []
    for _ in range(MAX_POLLS):
        prediction = get(client, prediction_id)
        if not seen or seen[-1] != prediction.status:
            seen.append(prediction.status)
        if until(prediction):
            return prediction, seen
        clock.advance(POLL_STEP)
    pytest.fail(f"prediction {prediction_id} never got there in {MAX_POLLS} polls: {seen}")


def is_terminal(prediction: Prediction) -> bool:
    return prediction.status in TERMINAL


def fetch(client: ApiClient, url: str) -> httpx.Response:
    """GET an absolute URL (such as an output) through the same transport."""
    return client.get_httpx_client().get(url)


def check_image(
    response: httpx.Response, output_format: OutputFormat, size: tuple[int, int]
) -> None:
    assert response.status_code == HTTPStatus.OK, response.content[:200]
    assert response.headers["content-type"] == MEDIA_TYPES[output_format]
    with Image.open(io.BytesIO(response.content)) as image:
        image.load()
        assert image.format == PIL_FORMATS[output_format]
        assert image.size == size


def test_create_poll_until_succeeded_and_fetch_the_image(
    clocked_api: ApiClient, fake_clock: FakeClock, base_url: str
) -> None:
    prompt = "a lighthouse on a cliff at dawn"
    created = create(
        clocked_api,
        ImagenInput(
            prompt=prompt,
            aspect_ratio="16:9",
            output_format="jpg",
            safety_filter_level="block_only_high",
        ),
    )
    assert created.status == "starting"
    assert created.output is None
    assert created.error is None
    assert created.model == "google/imagen-4-ultra"
    assert created.version == "hidden"
    assert created.input_.prompt == prompt
    assert created.input_.aspect_ratio == "16:9"
    assert created.input_.output_format == "jpg"
    assert isinstance(created.urls, PredictionUrls)
    assert created.urls.get == f"{base_url}/predictions/{created.id}"
    assert created.urls.cancel == f"{base_url}/predictions/{created.id}/cancel"

    done, seen = poll(clocked_api, created.id, fake_clock, is_terminal)

    assert seen == ["starting", "processing", "succeeded"]
    assert done.id == created.id
    assert done.error is None
    assert isinstance(done.output, str)
    assert done.output.startswith(f"{HOST}/"), "the output is an absolute URL of the server"
    assert done.started_at is not None
    assert done.completed_at is not None
    assert not isinstance(done.started_at, Unset)
    assert not isinstance(done.completed_at, Unset)
    assert done.created_at <= done.started_at <= done.completed_at
    assert isinstance(done.metrics, PredictionMetrics)
    assert done.metrics.image_count == 1
    check_image(fetch(clocked_api, done.output), "jpg", SIZES["16:9"])


@pytest.mark.parametrize("output_format", sorted(PIL_FORMATS))
@pytest.mark.parametrize("aspect_ratio", list(SIZES))
def test_output_has_the_requested_format_and_size(
    api: ApiClient, aspect_ratio: AspectRatio, output_format: OutputFormat
) -> None:
    created = create(
        api,
        ImagenInput(
            prompt=f"a {aspect_ratio} {output_format} test card",
            aspect_ratio=aspect_ratio,
            output_format=output_format,
        ),
    )
    done = get(api, created.id)
    assert done.status == "succeeded"
    assert isinstance(done.output, str)
    assert done.output.endswith(f".{output_format}")
    check_image(fetch(api, done.output), output_format, SIZES[aspect_ratio])


def test_omitted_inputs_take_their_defaults(api: ApiClient) -> None:
    created = create(api, ImagenInput(prompt="a lighthouse on a cliff at dawn"))
    assert isinstance(created.input_.aspect_ratio, Unset), "input is echoed exactly as sent"
    assert isinstance(created.input_.output_format, Unset), "input is echoed exactly as sent"
    done = get(api, created.id)
    assert done.status == "succeeded"
    assert isinstance(done.output, str)
    check_image(fetch(api, done.output), "jpg", SIZES["1:1"])


def test_cancel_a_running_prediction(clocked_api: ApiClient, fake_clock: FakeClock) -> None:
    created = create(clocked_api, ImagenInput(prompt="a slow painting of the sea"))
    running, _ = poll(clocked_api, created.id, fake_clock, lambda p: p.status == "processing")
    assert running.output is None

    canceled = expect(
        cancel_prediction.sync_detailed(created.id, client=clocked_api),
        HTTPStatus.OK,
        Prediction,
    )
    assert canceled.id == created.id
    assert canceled.status == "canceled"
    assert canceled.output is None
    assert canceled.completed_at is not None

    fake_clock.advance(60)
    later = get(clocked_api, created.id)
    assert later.status == "canceled"
    assert later.output is None
    assert later.completed_at == canceled.completed_at


def test_cancel_an_ended_prediction_leaves_it_unchanged(api: ApiClient) -> None:
    created = create(api, ImagenInput(prompt="a finished drawing"))
    done = get(api, created.id)
    assert done.status == "succeeded"
    after = expect(
        cancel_prediction.sync_detailed(created.id, client=api), HTTPStatus.OK, Prediction
    )
    assert after.status == "succeeded"
    assert after.output == done.output
    assert after.completed_at == done.completed_at


def test_list_has_the_created_predictions_newest_first(api: ApiClient) -> None:
    ids = [create(api, ImagenInput(prompt=f"picture number {n}")).id for n in range(3)]
    page = expect(list_predictions.sync_detailed(client=api), HTTPStatus.OK, PredictionPage)
    assert [prediction.id for prediction in page.results] == ids[::-1]
    assert page.next_ is None
    assert page.previous is None
    assert all(isinstance(prediction, Prediction) for prediction in page.results)


def test_plain_sync_call_returns_the_model(api: ApiClient) -> None:
    created = create(api, ImagenInput(prompt="a red bicycle"))
    prediction = get_prediction.sync(created.id, client=api)
    assert isinstance(prediction, Prediction)
    assert prediction.id == created.id


Operation = Callable[[ApiClient], Response[Any]]
OPERATIONS: Final[dict[str, Operation]] = {
    "create": lambda api: create_prediction.sync_detailed(
        "google", "imagen-4-ultra", client=api, body=PredictionRequest(ImagenInput(prompt="x"))
    ),
    "get": lambda api: get_prediction.sync_detailed("anything", client=api),
    "cancel": lambda api: cancel_prediction.sync_detailed("anything", client=api),
    "list": lambda api: list_predictions.sync_detailed(client=api),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_missing_token_is_401(pinned_token_app: Flask, base_url: str, operation: str) -> None:
    with connect(pinned_token_app, base_url, None) as api:
        problem = expect_problem(OPERATIONS[operation](api), HTTPStatus.UNAUTHORIZED)
    assert problem.title == "Unauthenticated"
    assert problem.detail == "You did not pass an authentication token"
    assert problem.to_dict() == {
        "title": "Unauthenticated",
        "detail": "You did not pass an authentication token",
        "status": 401,
    }


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_wrong_token_is_401(pinned_token_app: Flask, base_url: str, operation: str) -> None:
    with connect(pinned_token_app, base_url, "not-the-secret") as api:
        problem = expect_problem(OPERATIONS[operation](api), HTTPStatus.UNAUTHORIZED)
    assert problem.title == "Unauthenticated"
    assert isinstance(problem.invalid_fields, Unset)


def test_pinned_token_is_accepted(pinned_token_app: Flask, base_url: str) -> None:
    with connect(pinned_token_app, base_url, "secret") as api:
        created = create(api, ImagenInput(prompt="a key in a lock"))
        assert get(api, created.id).status == "succeeded"


@pytest.mark.parametrize("operation", ["get", "cancel"])
def test_unknown_prediction_is_404(api: ApiClient, operation: str) -> None:
    problem = expect_problem(OPERATIONS[operation](api), HTTPStatus.NOT_FOUND)
    assert "anything" in problem.detail
    assert problem.to_dict() == {"detail": problem.detail, "status": 404}, "no title, no extras"


def test_bad_aspect_ratio_is_422_with_invalid_fields(api: ApiClient) -> None:
    bad_input = ImagenInput(prompt="a square circle", aspect_ratio=cast(AspectRatio, "2:1"))
    response = create_prediction.sync_detailed(
        "google", "imagen-4-ultra", client=api, body=PredictionRequest(input_=bad_input)
    )
    problem = expect_problem(response, HTTPStatus.UNPROCESSABLE_ENTITY)
    assert problem.title == "Input validation failed"
    assert problem.detail == f"- input.aspect_ratio: {ASPECT_RATIO_ENUM_ERROR}\n"
    assert problem.invalid_fields == [
        InvalidField(type_="enum", field="input.aspect_ratio", description=ASPECT_RATIO_ENUM_ERROR)
    ]
    listing = expect(list_predictions.sync_detailed(client=api), HTTPStatus.OK, PredictionPage)
    assert listing.results == [], "a rejected request creates no prediction"

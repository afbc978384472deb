"""Every error path through the Flask test client: problem JSON, never a 500."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import redis
from flask import Flask, Response
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE, TOKEN
from mock_server import create_app
from mock_server.config import SettingError
from mock_server.http import context, settings_of
from mock_server.storage.memory import InMemoryStore

PROBLEM = "application/problem+json"


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == PROBLEM, response.data
    body: dict[str, Any] = json.loads(response.data)
    assert body["status"] == response.status_code
    return body


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/predictions"),
        ("GET", "/predictions/x"),
        ("POST", "/predictions/x/cancel"),
        ("POST", "/models/google/imagen-4-ultra/predictions"),
    ],
)
def test_no_token_is_401_everywhere(
    client: FlaskClient, prefix: str, method: str, path: str
) -> None:
    response = client.open(prefix + path, method=method)
    assert response.status_code == 401
    assert response.data == (
        b'{"title":"Unauthenticated","detail":"You did not pass an authentication token",'
        b'"status":401}'
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz"])
def test_malformed_token_is_401_invalid(client: FlaskClient, header: str) -> None:
    response = client.get("/v1/predictions", headers={"Authorization": header})
    assert problem(response)["detail"] == "You did not pass a valid authentication token"


@pytest.mark.parametrize("token", ["r8_x", "r8_0123456789abcdefghijABCDEFGHIJ0123456"])
def test_tokens_shaped_like_replicates_are_accepted_by_default(
    client: FlaskClient, token: str
) -> None:
    answer = client.get("/v1/predictions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


@pytest.mark.parametrize("token", ["anything", "r8_", "r8_with_underscores", "r9_abc", "R8_abc"])
def test_other_tokens_are_refused_by_default(client: FlaskClient, token: str) -> None:
    answer = client.get("/v1/predictions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.get_data() == (
        b'{"title":"Unauthenticated","detail":"You did not pass a valid authentication token",'
        b'"status":401}'
    )


def test_accept_any_token_accepts_any() -> None:
    client = create_app({"MOCK_ACCEPT_ANY_TOKEN": True}).test_client()
    answer = client.get("/v1/predictions", headers={"Authorization": "Bearer anything"})
    assert answer.status_code == 200
    assert client.get("/v1/predictions").status_code == 401  # a token is still needed


def test_accept_any_token_and_a_pinned_token_do_not_go_together() -> None:
    with pytest.raises(SettingError, match="MOCK_ACCEPT_ANY_TOKEN cannot be used with --token"):
        create_app({"MOCK_ACCEPT_ANY_TOKEN": True, "MOCK_TOKEN": TOKEN})


def test_pinned_token() -> None:
    client = create_app({"MOCK_TOKEN": TOKEN}).test_client()
    assert client.get("/v1/predictions", headers=AUTH).status_code == 200
    wrong = client.get("/v1/predictions", headers={"Authorization": "Bearer other"})
    assert wrong.status_code == 401
    assert problem(wrong)["detail"] == "You did not pass a valid authentication token"


def test_screens_run_on_authenticated_api_requests_only(app: Flask) -> None:
    seen: list[str] = []

    def screen(environ: dict[str, Any]) -> Response | None:
        seen.append(environ["PATH_INFO"])
        return Response("screened", status=418) if "HTTP_X_STOP" in environ else None

    mock = context.state(app)  # frozen: a copy with one more screen takes its place
    app.extensions[context.EXTENSION] = replace(mock, screens=(*mock.screens, screen))
    client = app.test_client()
    assert client.get("/v1/predictions", headers={"X-Stop": "1"}).status_code == 401
    assert client.get("/openapi.yaml", headers={**AUTH, "X-Stop": "1"}).status_code == 200
    assert seen == []  # not before authentication, never outside the API
    stopped = client.get("/replicate/v1/predictions", headers={**AUTH, "X-Stop": "1"})
    assert (stopped.status_code, stopped.text) == (418, "screened")
    assert client.get("/v1/predictions", headers=AUTH).status_code == 200
    assert seen == ["/replicate/v1/predictions", "/v1/predictions"]


def test_unknown_prediction_is_404(client: FlaskClient) -> None:
    for response in (
        client.get("/v1/predictions/doesnotexist", headers=AUTH),
        client.post("/v1/predictions/doesnotexist/cancel", headers=AUTH),
    ):
        assert response.status_code == 404
        assert problem(response) == {
            "detail": "Prediction doesnotexist does not exist",
            "status": 404,
        }


def test_unknown_model_is_404(client: FlaskClient) -> None:
    response = client.post(
        "/v1/models/google/imagen-3/predictions", headers=AUTH, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 404
    assert problem(response)["detail"] == "Model google/imagen-3 does not exist"


@pytest.mark.parametrize(
    "path", ["/nothing", "/v1/predictions/a/b/c", "/v1/../etc/passwd", "/v2/predictions"]
)
def test_unknown_route_is_404_problem(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404
    assert problem(response)["title"] == "Not found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/predictions", "GET, HEAD, OPTIONS"),
        ("GET", CREATE, "OPTIONS, POST"),
        ("PUT", "/replicate/v1/predictions/abc", "GET, HEAD, OPTIONS"),
        ("GET", "/v1/predictions/abc/cancel", "OPTIONS, POST"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = client.open(path, method=method, headers=AUTH)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert problem(response)["title"] == "Method not allowed"


def test_oversized_body_is_413() -> None:
    client = create_app({"MAX_CONTENT_LENGTH": 1000}).test_client()
    body = json.dumps({"input": {"prompt": "x" * 2000}})
    response = client.post(CREATE, headers=AUTH, data=body, content_type="application/json")
    assert response.status_code == 413
    assert "1000 bytes" in problem(response)["detail"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    response = client.post(
        CREATE, headers=AUTH, data='{"input": {"prompt": "x"}}', content_type=content_type
    )
    assert response.status_code == 415
    assert problem(response)["title"] == "Unsupported media type"


def test_json_with_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        CREATE,
        headers=AUTH,
        data='{"input": {"prompt": "x"}}',
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "data",
    [b"{", b"", b"\xff\xfe{}", b'{"input": NaN}', b"[" * 100_000 + b"]" * 100_000, b"{'a': 1}"],
)
def test_unparsable_body_is_400(client: FlaskClient, data: bytes) -> None:
    app_client = create_app({"MAX_CONTENT_LENGTH": 1_000_000}).test_client()
    response = app_client.post(CREATE, headers=AUTH, data=data, content_type="application/json")
    assert response.status_code == 400
    assert problem(response)["title"] == "Invalid JSON"


def test_invalid_input_is_422_with_lines(client: FlaskClient) -> None:
    response = client.post(
        CREATE, headers=AUTH, json={"input": {"aspect_ratio": "2:1"}, "model": "x"}
    )
    assert response.status_code == 422
    body = problem(response)
    assert body["title"] == "Input validation failed"
    assert body["detail"].splitlines() == [
        "- Additional property model is not allowed",
        "- input: prompt is required",
        '- input.aspect_ratio: aspect_ratio must be one of the following: "1:1", "9:16", '
        '"16:9", "3:4", "4:3"',
    ]
    assert [f["type"] for f in body["invalid_fields"]] == [
        "additional_property_not_allowed",
        "required",
        "enum",
    ]


def test_bad_prefer_header_is_422(client: FlaskClient) -> None:
    response = client.post(
        CREATE, headers={**AUTH, "Prefer": "wait=120"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 422
    assert problem(response)["invalid_fields"][0]["field"] == "Prefer"


def test_bad_list_query_is_422(client: FlaskClient) -> None:
    response = client.get("/v1/predictions?created_after=last%20week", headers=AUTH)
    assert response.status_code == 422
    assert problem(response)["invalid_fields"][0]["field"] == "created_after"


def test_invalid_cursor_is_404(client: FlaskClient) -> None:
    response = client.get("/v1/predictions?cursor=bogus", headers=AUTH)
    assert problem(response) == {"detail": "Invalid cursor", "status": 404}


def test_output_of_unfinished_prediction_is_404(client: FlaskClient) -> None:
    created = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}}).get_json()
    assert client.get(f"/delivery/{created['id']}/output.jpg").status_code == 404


def test_unexpected_errors_become_problem_500() -> None:
    app = create_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert problem(response)["title"] == "Internal error"


def test_app_factory_applies_test_config(app: Flask) -> None:
    assert settings_of(app).starting_seconds == 1.0
    assert app.testing


class UnreachableStore(InMemoryStore):
    """A shared store whose server has gone away."""

    def get(self, prediction_id: str) -> None:
        raise redis.ConnectionError("Connection refused")


def test_a_store_outage_is_a_503_problem_not_a_500() -> None:
    app = create_app({"TESTING": True, "MOCK_STORE": UnreachableStore()})
    response = app.test_client().get("/v1/predictions/abc", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert problem(response)["title"] == "Service unavailable"


def test_no_view_or_hook_is_async(app: Flask) -> None:
    """The app calls views and hooks as they are (no async support), so none may be async."""
    import inspect

    hooks = [
        *app.view_functions.values(),
        *(f for funcs in app.before_request_funcs.values() for f in funcs),
        *(f for funcs in app.after_request_funcs.values() for f in funcs),
        *(f for funcs in app.teardown_request_funcs.values() for f in funcs),
        *(f for handlers in app.error_handler_spec.values() for codes in handlers.values()
          for f in codes.values()),
    ]  # fmt: skip
    assert len(hooks) > 20
    assert not [f for f in hooks if inspect.iscoroutinefunction(f)]


def test_no_request_opens_a_session(app: Flask) -> None:
    """The mock keeps no sessions: every request shares the one null session (none is
    made per request), which refuses writes, and no answer sets a cookie."""
    import flask

    seen = []
    for _ in range(2):
        with app.test_request_context("/v1/predictions"):
            seen.append(flask.session._get_current_object())  # type: ignore[attr-defined]
    assert seen[0] is seen[1]
    with pytest.raises(RuntimeError):
        seen[0]["user"] = "x"
    response = app.test_client().get("/v1/predictions", headers=AUTH)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers

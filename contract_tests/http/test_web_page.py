"""The web page at ``urls.web`` and the list at ``/p`` over the Flask test client
(``e2e/test_browser.py`` opens them in a real headless Chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE
from mock_server import FakeClock
from mock_server.domain.safety import SAFETY_ERROR

XSS = "<script>alert(1)</script>"


def create(client: FlaskClient, prompt: str = XSS, **input_: Any) -> dict[str, Any]:
    response = client.post(CREATE, headers=AUTH, json={"input": {"prompt": prompt, **input_}})
    assert response.status_code == 201, response.data
    body: dict[str, Any] = response.get_json()
    return body


def page_of(client: FlaskClient, prediction: dict[str, Any]) -> str:
    response = client.get(prediction["urls"]["web"])
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, element_id
    return found.group(1)


def test_prompt_is_escaped_and_only_our_nonced_script_runs(client: FlaskClient) -> None:
    created = create(client)
    response = client.get(created["urls"]["web"])
    html = response.get_data(as_text=True)
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    nonce = re.search(r"script-src 'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce
    assert re.findall(r"<script[^>]*>", html) == [f'<script nonce="{nonce.group(1)}">']
    assert text_of(html, "status") == "starting"
    assert 'id="output" alt="Output image" hidden' in html


def test_page_follows_the_lifecycle(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client, "a red fox", aspect_ratio="16:9")
    clock.advance(2.5)
    html = page_of(client, created)
    assert text_of(html, "status") == "processing"
    assert "Generating image..." in html
    clock.advance(2.0)
    done = client.get(created["urls"]["get"], headers=AUTH).get_json()
    html = page_of(client, created)
    assert text_of(html, "status") == "succeeded"
    assert f'<img id="output" alt="Output image" src="{done["output"]}">' in html
    assert text_of(html, "completed_at") == done["completed_at"]
    assert text_of(html, "predict_time") == f"{done['metrics']['predict_time']:.2f} s"
    assert text_of(html, "total_time") == "4.00 s"  # the page shows it, whatever the API does
    assert 'data-terminal="true"' in html


def test_failed_prediction_shows_the_error(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client, "gore")
    clock.advance(5)
    html = page_of(client, created)
    assert text_of(html, "status") == "failed"
    assert text_of(html, "error") == SAFETY_ERROR


def test_canceled_and_removed_predictions_say_so(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client)
    assert text_of(page_of(client, created), "no-output") == "No output yet."
    clock.advance(2)
    client.post(created["urls"]["cancel"], headers=AUTH)
    html = page_of(client, created)
    assert text_of(html, "status") == "canceled"
    assert text_of(html, "no-output") == "No output."
    clock.advance(3600)
    html = page_of(client, created)
    assert text_of(html, "no-output") == "Input, output and logs were removed."
    assert "&lt;script&gt;" not in html


def test_json_endpoint_is_the_api_view_without_a_token(
    client: FlaskClient, clock: FakeClock
) -> None:
    created = create(client)
    clock.advance(1.5)
    data = client.get(f"/p/{created['id']}/json")
    assert data.status_code == 200
    assert data.get_json() == client.get(created["urls"]["get"], headers=AUTH).get_json()
    missing = client.get("/p/nope/json")
    assert missing.status_code == 404
    assert missing.get_json() == {"detail": "Prediction nope does not exist", "status": 404}


def test_unknown_prediction_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/p/%3Cb%3Enope%3C%3Cb%3E")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Prediction &lt;b&gt;nope&lt;&lt;b&gt; does not exist" in html
    assert "<b>nope" not in html


@pytest.mark.parametrize("path", ["/p", "/p/"])
def test_index_lists_newest_first_with_links(client: FlaskClient, path: str) -> None:
    assert "No predictions yet." in client.get(path).get_data(as_text=True)
    first, second = create(client, "first"), create(client, XSS)
    html = client.get(path).get_data(as_text=True)
    links = re.findall(r'<a href="(/p/[a-z0-9]+)">', html)
    assert links == [f"/p/{second['id']}", f"/p/{first['id']}"]
    assert XSS not in html
    assert "&lt;script&gt;" in html

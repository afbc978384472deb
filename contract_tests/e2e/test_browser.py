"""The web page at ``urls.web`` in a real headless Chromium, driven by Playwright against
``imagen-mock serve``: it follows a prediction to its image without reloading, and shows
the prompt as text without running it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Dialog, expect, sync_playwright

from contract_tests.support.browser import chromium, require_chromium
from contract_tests.support.constants import AUTH, CREATE, REPO
from contract_tests.support.servers import run_mock

XSS = "<script>alert(1)</script>"
SCREENSHOT = REPO / "artifacts" / "web-page.png"


@pytest.mark.slow
def test_browser_watches_a_prediction_succeed() -> None:
    require_chromium()
    args = ["--starting-seconds", "0.5", "--processing-seconds", "1.5"]
    with run_mock(args) as mock, sync_playwright() as playwright, chromium(playwright) as context:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        dialogs: list[str] = []

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        created = httpx.post(
            mock.root + CREATE, headers=AUTH, json={"input": {"prompt": XSS}}, timeout=5
        ).json()
        page.goto(created["urls"]["web"], timeout=10_000)
        assert page.locator("#status").inner_text() in {"starting", "processing"}
        page.evaluate("window.__notReloaded = true")
        expect(page.locator("#status")).to_have_text("succeeded", timeout=15_000)
        page.wait_for_function(
            "() => { const i = document.getElementById('output');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )
        assert page.evaluate("document.getElementById('output').naturalWidth") == 1024
        assert page.evaluate("window.__notReloaded === true")
        expect(page.get_by_text(XSS, exact=True)).to_be_visible()
        logs = page.locator("#logs").inner_text()
        assert re.search(r"Generated image in 1\.[0-4]\d seconds", logs), logs
        assert page.locator("#completed_at").inner_text().endswith("Z")
        assert page.locator("#total_time").inner_text() == "2.00 s"
        assert len(requested) > 2  # the page, its image, and at least one poll
        assert all(url.startswith(mock.root + "/") for url in requested), requested
        assert dialogs == []
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

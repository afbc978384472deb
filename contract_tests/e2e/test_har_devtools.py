"""A HAR exported by ``imagen-mock serve`` (``GET /_mock/requests.har``) opens in a real
browser's developer tools: Chromium's own DevTools front end, served by the browser on its
remote-debugging port, imports the file through the Network panel's "Import HAR file"
button, as a user does, and lists the requests it holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect, sync_playwright

from contract_tests.support.browser import chromium, require_chromium
from contract_tests.support.constants import AUTH, CREATE, REPO, TOKEN
from contract_tests.support.servers import free_port, run_mock

SCREENSHOT = REPO / "artifacts" / "har-devtools.png"
FAILED = "Failed to load HAR file"
ROWS = "tr.data-grid-data-grid-node"
WAIT = 10_000  # ms, for any one thing DevTools shows


class Run(NamedTuple):
    har: dict[str, Any]
    """The mock's ``/_mock/requests.har``, parsed."""
    prediction: str
    """The id of the prediction the run created."""


@pytest.fixture(scope="module")
def run() -> Run:
    """The HAR of a run: a create, a get of it, a get of an unknown prediction (404) and a
    create without a prompt (422), each with a bearer token."""
    require_chromium()
    with run_mock() as mock:
        created = httpx.post(
            mock.root + CREATE, headers=AUTH, json={"input": {"prompt": "a red fox"}}, timeout=5
        )
        assert created.status_code == 201
        prediction = created.json()["id"]
        assert httpx.get(created.json()["urls"]["get"], headers=AUTH, timeout=5).is_success
        assert httpx.get(f"{mock.api}/predictions/nope", headers=AUTH, timeout=5).status_code == 404
        invalid = httpx.post(mock.root + CREATE, headers=AUTH, json={"input": {}}, timeout=5)
        assert invalid.status_code == 422
        answer = httpx.get(mock.root + "/_mock/requests.har", headers=AUTH, timeout=5)
    answer.raise_for_status()
    return Run(har=answer.json(), prediction=prediction)


@pytest.fixture
def devtools() -> Iterator[tuple[BrowserContext, int]]:
    """Chromium serving its DevTools front end on a free remote-debugging port."""
    require_chromium()
    port = free_port()
    size: ViewportSize = {"width": 1400, "height": 800}
    with (
        sync_playwright() as playwright,
        chromium(playwright, f"--remote-debugging-port={port}", viewport=size) as context,
    ):
        yield context, port


def network_panel(context: BrowserContext, port: int) -> Page:
    """DevTools, inspecting the blank page the browser starts with, opened at its Network
    panel as a user does."""
    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
    [target] = [t["id"] for t in targets if t["type"] == "page"]
    page = context.new_page()
    ws = f"127.0.0.1:{port}/devtools/page/{target}"
    page.goto(f"http://127.0.0.1:{port}/devtools/inspector.html?ws={ws}", timeout=WAIT)
    # A remote front end shows a screencast of the page beside its panels, which pushes
    # the Network tab into the overflow menu; a user turns it off to see the tabs.
    page.get_by_role("button", name="Toggle screencast").click(timeout=WAIT)
    tab = page.get_by_role("tab", name="Network", exact=True)
    tab.click(timeout=WAIT)
    expect(tab).to_have_attribute("aria-selected", "true", timeout=WAIT)
    return page


def import_har(page: Page, path: Path) -> list[str]:
    """Choose ``path`` in the file chooser the "Import HAR file" button opens, wait until
    DevTools lists requests or reports a failure, and return the failures it reports."""
    with page.expect_file_chooser(timeout=WAIT) as chooser:
        page.get_by_role("button", name="Import HAR file…", exact=True).click(timeout=WAIT)
    chooser.value.set_files(path)
    failures = page.get_by_text(FAILED)
    expect(page.locator(ROWS).or_(failures).first).to_be_visible(timeout=WAIT)
    return failures.all_inner_texts()


def rows(page: Page) -> list[list[str]]:
    """The Network panel's request list, row by row: name, status, type."""
    cells = page.locator(ROWS).evaluate_all(
        "rows => rows.map(r => Array.from(r.querySelectorAll('td'), td => td.innerText.trim()))"
    )
    return [[name, status, kind] for name, status, kind, *_ in cells]


@pytest.mark.slow
def test_a_har_of_a_run_opens_in_chromium_devtools(
    run: Run, devtools: tuple[BrowserContext, int], tmp_path: Path
) -> None:
    path = tmp_path / "run.har"
    path.write_text(json.dumps(run.har))
    page = network_panel(*devtools)
    assert import_har(page, path) == []
    listed = page.locator(ROWS)
    expect(listed).to_have_count(4, timeout=WAIT)
    assert rows(page) == [
        ["predictions", "201", "fetch"],
        [run.prediction, "200", "fetch"],
        ["nope", "404", "fetch"],
        ["predictions", "422", "fetch"],
    ]
    expect(page.get_by_text("4 requests", exact=True)).to_be_visible(timeout=WAIT)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    listed.first.locator("td").first.click(timeout=WAIT)  # the create's name: its details
    expect(page.get_by_text("Bearer ***", exact=True)).to_be_visible(timeout=WAIT)
    # DevTools renders only the view on show: look for the token in each one opened
    expect(page.get_by_text(TOKEN)).to_have_count(0)
    page.get_by_role("tab", name="Payload", exact=True).click(timeout=WAIT)
    expect(page.get_by_text("a red fox").first).to_be_visible(timeout=WAIT)
    expect(page.get_by_text(TOKEN)).to_have_count(0)


@pytest.mark.slow
def test_devtools_reports_a_broken_har(
    run: Run, devtools: tuple[BrowserContext, int], tmp_path: Path
) -> None:
    """The check above can fail: DevTools refuses an entry without a valid start time,
    says so in its console, and lists nothing."""
    broken = json.loads(json.dumps(run.har))
    broken["log"]["entries"][1]["startedDateTime"] = "yesterday"
    path = tmp_path / "broken.har"
    path.write_text(json.dumps(broken))
    page = network_panel(*devtools)
    failures = import_har(page, path)
    assert len(failures) == 1, failures
    assert "date" in failures[0].lower(), failures  # DevTools: "... Invalid date format"
    expect(page.locator(ROWS)).to_have_count(0)

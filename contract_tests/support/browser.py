"""Debian's Chromium (``scripts/install-browser.sh``), headless under Playwright, for the
end-to-end tests that need a real browser."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import BrowserContext, Playwright, ViewportSize

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip the calling test when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser.sh (as root)")


@contextmanager
def chromium(
    playwright: Playwright, *args: str, viewport: ViewportSize | None = None
) -> Iterator[BrowserContext]:
    """Chromium with ``args`` added to ``CHROMIUM_ARGS``, on a fresh profile in a
    temporary directory, closed and removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as user_data_dir:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir,
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, *args],
            headless=True,
            viewport=viewport,
        )
        try:
            yield context
        finally:
            context.close()

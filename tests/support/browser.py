"""Debian's Chromium driven by Playwright, as the browser tests use it; screenshots for the
README only when asked (HOVER_UPDATE_SCREENSHOTS=1), so a test run leaves docs/ alone."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHROMIUM = os.environ.get("HOVER_CHROMIUM", "/usr/bin/chromium")
UPDATE_SCREENSHOTS = os.environ.get("HOVER_UPDATE_SCREENSHOTS") == "1"
# No network beyond this machine: background services of Chromium would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save the page as docs/<name> when screenshots are asked for."""
    if UPDATE_SCREENSHOTS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / name), full_page=full_page)

"""Debian's Chromium driven by Playwright, as the UI tests use it; screenshots for the README
are written to docs/ only when asked (HOVER_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHROMIUM = os.environ.get("HOVER_CHROMIUM", "/usr/bin/chromium")
UPDATE_SCREENSHOTS = os.environ.get("HOVER_UPDATE_SCREENSHOTS") == "1"
# No network beyond this machine: background services of Chromium would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    if UPDATE_SCREENSHOTS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / name), full_page=full_page)

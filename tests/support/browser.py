"""Debian's Chromium driven by Playwright for Python: what the `browser` fixture (in
tests/conftest.py) starts, and page helpers.

Screenshots go to docs/screenshots/ with `UPDATE_SCREENSHOTS=1` (the docs show those),
else to a temporary folder, so a test run leaves the checkout as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "router-screenshots"
)
WAIT_MS = 10_000  # the longest any step may take before the test fails
DESKTOP, PHONE = (1280, 800), (390, 844)


def playwright() -> Any:
    return pytest.importorskip("playwright.sync_api")


def open_page(browser: Any, width: int, height: int, **options: Any) -> tuple[Any, Any, list[str]]:
    """A fresh context (empty sessionStorage) and page; the list collects console errors."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    playwright().expect.set_options(timeout=WAIT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def type_secret(page: Any, selector: str, value: str) -> None:
    """Type a key or token the way a person does (the page stores it on `change`)."""
    page.fill(selector, value)
    page.dispatch_event(selector, "change")


def shoot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def overflow(page: Any) -> dict[str, Any]:
    """What sticks out sideways: the page's scroll width past the viewport, and every
    visible button, link, input or select that is not wholly within it."""
    result: dict[str, Any] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const node of document.querySelectorAll('button, a, input, select, textarea')) {
            const box = node.getBoundingClientRect();
            if (!box.width || !box.height || node.closest('[hidden]')) continue;
            if (box.left < -0.5 || box.right > width + 0.5) {
              out.push(`${node.tagName.toLowerCase()}#${node.id}` +
                `[${node.textContent.trim().slice(0, 20)}] ${box.left}-${box.right}`);
            }
          }
          return {scroll: document.documentElement.scrollWidth, width, outside: out};
        }"""
    )
    return result

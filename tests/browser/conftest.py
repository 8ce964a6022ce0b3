"""Fixtures of the real-browser tests: a live Tandem on a seeded SQLite file, and Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright (``playwright install``
is never run). Without it the tests are skipped — unless ``CI`` is set, where a missing
browser is a failure (``.ci/run`` installs it).

Every page a test visits goes through :func:`tests.browser.axe.assert_accessible`
(axe-core, WCAG 2.1 A/AA, no violation allowed) and is screenshotted into
``test-output/screenshots/<test>/`` (``$TANDEM_SCREENSHOTS`` overrides the folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lti import migrate
from tests.browser.axe import assert_accessible, screenshot
from tests.browser.live_server import dev_app, seed, serve

__all__ = ["assert_accessible"]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """Tandem with the dev platform on a migrated, seeded SQLite file; yields (app, base)."""
    folder = tmp_path_factory.mktemp("browser-db")
    app = dev_app(f"sqlite:///{folder / 'tandem.db'}")
    app.instance_path = str(folder / "instance")
    migrate.upgrade(app)
    seed(app)
    with serve(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1400}, locale="en-GB")
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shot() -> Any:
    """``shot(page, name)``: a full-page screenshot for this test (path printed, returned)."""

    def _shot(page: Any, name: str) -> Path:
        return screenshot(page, name)

    return _shot

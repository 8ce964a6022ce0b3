"""A real browser launches Tandem inside the development platform's iframe.

Chromium opens ``/dev/platform``, clicks a persona's launch button, and the whole LTI 1.3
flow runs in the iframe — OIDC login (with Tandem's cookie check inside frames), the
platform's authorization answer, the auto-submitted id_token — until Tandem's page shows.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from playwright.sync_api import expect

TIMEOUT = 20_000  # ms: a generous bound, not a timed assertion


def open_course(page: Any, base: str) -> Any:
    page.goto(f"{base}/dev/platform")
    expect(page.get_by_role("heading", name="Development LTI platform")).to_be_visible()
    return page.frame_locator('iframe[title="Tandem"]')


def test_junior_launch_reaches_the_participant_page(
    live_site: tuple[Flask, str], page: Any, shot: Any
) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Launch as junior").click()
    participant = frame.get_by_test_id("participant-page")
    expect(participant).to_be_visible(timeout=TIMEOUT)
    expect(frame.get_by_role("heading", name="My tandem", level=1)).to_be_visible()
    shot(page, "junior-my-tandem")


def test_coordinator_launch_reaches_the_dashboard(
    live_site: tuple[Flask, str], page: Any, shot: Any
) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Launch as coordinator").click()
    expect(frame.get_by_test_id("coordinator-page")).to_be_visible(timeout=TIMEOUT)
    shot(page, "coordinator-dashboard")


def test_german_senior_launch(live_site: tuple[Flask, str], page: Any, shot: Any) -> None:
    _app, base = live_site
    open_course(page, base)
    page.get_by_label("Language of the launches").select_option("de")
    page.get_by_role("button", name="Apply").click()
    frame = page.frame_locator('iframe[title="Tandem"]')
    page.get_by_role("button", name="Launch as senior").click()
    expect(frame.get_by_test_id("participant-page")).to_be_visible(timeout=TIMEOUT)
    expect(frame.locator("html")).to_have_attribute("lang", "de")
    shot(page, "senior-german")


def test_coordinator_adds_an_activity_by_deep_linking(
    live_site: tuple[Flask, str], page: Any, shot: Any
) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Add a Tandem activity (deep linking)").click()
    frame.get_by_label("Reverse mentoring: my tandem").check()
    frame.get_by_role("button", name="Add to the course").click()
    expect(frame.get_by_role("heading", name="Activities added to the course")).to_be_visible(
        timeout=TIMEOUT
    )
    shot(page, "deep-linking-returned")
    page.reload()
    opener = re.compile(r"^Open Reverse mentoring: my tandem.* as junior$")
    page.get_by_role("button", name=opener).first.click()
    expect(frame.get_by_test_id("participant-page")).to_be_visible(timeout=TIMEOUT)

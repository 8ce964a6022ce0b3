"""A real browser launches Tandem inside the development platform's iframe.

Chromium opens ``/dev/platform``, clicks a persona's launch button, and the whole LTI 1.3
flow runs in the iframe — OIDC login (with Tandem's cookie check inside frames), the
platform's authorization answer, the auto-submitted id_token — until Tandem's page shows.

Every page reached is checked with axe-core (WCAG 2.1 A/AA, :func:`assert_accessible`)
and screenshotted into ``test-output/screenshots/<test>/``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from playwright.sync_api import expect

from tests.browser.axe import assert_accessible

TIMEOUT = 20_000  # ms: a generous bound, not a timed assertion
FRAME = 'iframe[title="Tandem"]'
PHONE = {"width": 375, "height": 740}


def open_course(page: Any, base: str, *, query: str = "") -> Any:
    page.goto(f"{base}/dev/platform{query}")
    expect(page.get_by_role("heading", name="Development LTI platform")).to_be_visible()
    assert_accessible(page, "course-page")
    return page.frame_locator(FRAME)


def tandem_frame(page: Any) -> Any:
    """The Tandem iframe's Frame (for its URL)."""
    return page.locator(FRAME).element_handle().content_frame()


def fits_the_screen(window: Any) -> bool:
    """No sideways scrolling of the whole page (wide tables scroll in their own box)."""
    return bool(
        window.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def walk_nav(page: Any, who: str) -> list[str]:
    """Open every link of the navs on Tandem's current page inside the iframe; check each.

    Returns the paths visited (the header's nav and any in-page nav, e.g. a dashboard's).
    """
    frame = tandem_frame(page)
    hrefs = frame.eval_on_selector_all(
        "nav a[href^='/']", "links => [...new Set(links.map(a => a.getAttribute('href')))]"
    )
    assert hrefs, "Tandem's page has no nav links"
    base = frame.url.split("/app/", 1)[0]
    for href in hrefs:
        response = frame.goto(base + href)
        assert response is not None, href
        assert response.status == 200, href
        expect(page.frame_locator(FRAME).get_by_role("heading", level=1)).to_have_count(1)
        slug = re.sub(r"[^a-z0-9]+", "-", href.removeprefix("/app").lower()).strip("-")
        assert_accessible(page, f"{who}-{slug or 'home'}")
    return hrefs


def test_junior_launch_reaches_the_participant_page(
    live_site: tuple[Flask, str], page: Any
) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Launch as junior").click()
    participant = frame.get_by_test_id("participant-page")
    expect(participant).to_be_visible(timeout=TIMEOUT)
    expect(frame.get_by_role("heading", name="My tandem", level=1)).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("lang", "en")
    assert_accessible(page, "junior-my-tandem")
    walk_nav(page, "junior")


def test_coordinator_launch_reaches_the_dashboard(live_site: tuple[Flask, str], page: Any) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Launch as coordinator").click()
    expect(frame.get_by_test_id("coordinator-page")).to_be_visible(timeout=TIMEOUT)
    assert_accessible(page, "coordinator-dashboard")
    hrefs = walk_nav(page, "coordinator")
    assert any(h.endswith("/dashboard") for h in hrefs)


def test_german_senior_launch(live_site: tuple[Flask, str], page: Any) -> None:
    _app, base = live_site
    open_course(page, base)
    page.get_by_label("Language of the launches").select_option("de")
    page.get_by_role("button", name="Apply").click()
    frame = page.frame_locator(FRAME)
    page.get_by_role("button", name="Launch as senior").click()
    expect(frame.get_by_test_id("participant-page")).to_be_visible(timeout=TIMEOUT)
    expect(frame.locator("html")).to_have_attribute("lang", re.compile(r"^de\b"))
    expect(frame.get_by_role("heading", name="Mein Tandem", level=1)).to_be_visible()
    expect(frame.get_by_role("navigation", name="Tandem-Seiten")).to_be_visible()
    expect(frame.get_by_role("link", name="Meine Programme")).to_be_visible()
    assert_accessible(page, "senior-german")
    walk_nav(page, "senior-de")


def test_coordinator_adds_an_activity_by_deep_linking(
    live_site: tuple[Flask, str], page: Any
) -> None:
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Add a Tandem activity (deep linking)").click()
    expect(frame.get_by_role("heading", name="Add Tandem activities to this course")).to_be_visible(
        timeout=TIMEOUT
    )
    assert_accessible(page, "deep-link-picker")
    frame.get_by_label("Reverse mentoring: my tandem").check()
    frame.get_by_role("button", name="Add to the course").click()
    expect(frame.get_by_role("heading", name="Activities added to the course")).to_be_visible(
        timeout=TIMEOUT
    )
    assert_accessible(page, "deep-linking-returned")
    page.reload()
    linked = page.locator("li", has_text="Reverse mentoring: my tandem")
    linked.get_by_role("button", name=re.compile(r"\bas junior\b")).first.click()
    expect(frame.get_by_test_id("participant-page")).to_be_visible(timeout=TIMEOUT)
    assert_accessible(page, "deep-linked-my-tandem")


def test_tandem_in_a_new_window_on_a_phone(live_site: tuple[Flask, str], page: Any) -> None:
    """The launched page also works on its own (a new window), at a phone's width."""
    _app, base = live_site
    frame = open_course(page, base)
    page.get_by_role("button", name="Launch as junior").click()
    expect(frame.get_by_test_id("participant-page")).to_be_visible(timeout=TIMEOUT)
    url = tandem_frame(page).url

    window = page.context.new_page()  # same browser session, top level: a new window
    window.set_viewport_size(PHONE)
    window.goto(url)
    expect(window.get_by_role("heading", name="My tandem", level=1)).to_be_visible()
    assert window.evaluate("() => window.top === window")

    assert fits_the_screen(window)
    # The header's nav wraps onto several rows and every link is a comfortable tap target.
    boxes = [a.bounding_box() for a in window.locator("header nav a").all()]
    assert len(boxes) >= 5
    assert all(b is not None and b["width"] >= 24 and b["height"] >= 24 for b in boxes), boxes
    assert len({round(b["y"]) for b in boxes if b}) > 1, "the nav should wrap on a phone"
    assert all(b and b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes)

    # Keyboard: the first Tab reaches the skip link, which is then visible and leads to main.
    window.keyboard.press("Tab")
    skip = window.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    assert_accessible(window, "phone-my-tandem")
    window.keyboard.press("Enter")
    assert window.evaluate("() => location.hash") == "#main"

    # Every page of the nav, on the phone.
    hrefs = window.eval_on_selector_all(
        "header nav a", "links => links.map(a => a.getAttribute('href'))"
    )
    for href in hrefs:
        response = window.goto(base + href)
        assert response is not None, href
        assert response.status == 200, href
        assert fits_the_screen(window), href
        slug = re.sub(r"[^a-z0-9]+", "-", href.removeprefix("/app").lower()).strip("-")
        assert_accessible(window, f"phone-{slug or 'home'}")

    # A table wider than the phone scrolls in its box, which the keyboard can reach.
    window.evaluate(
        """() => {
          const wrap = document.createElement("div");
          wrap.className = "table-wrap";
          wrap.innerHTML = '<table><caption>Wide table</caption><tbody><tr><th scope="row">'
            + 'Row</th><td style="min-width: 60rem">wide</td></tr></tbody></table>';
          document.querySelector("main").append(wrap);
          window.dispatchEvent(new Event("resize"));
        }"""
    )
    wide = window.get_by_role("region", name="Wide table")
    expect(wide).to_have_attribute("tabindex", "0")
    assert fits_the_screen(window)
    assert_accessible(window, "phone-wide-table")


def test_error_page_without_a_session_follows_the_browser_language(
    live_site: tuple[Flask, str], browser: Any
) -> None:
    _app, base = live_site
    for locale, title in (
        ("de-DE", "Bitte öffnen Sie Tandem aus Ihrem Kurs"),
        ("en-GB", "Please open Tandem from your course"),
    ):
        context = browser.new_context(viewport={"width": 1024, "height": 800}, locale=locale)
        try:
            window = context.new_page()
            response = window.goto(f"{base}/app/")
            assert response is not None
            assert response.status == 401
            expect(window.get_by_role("heading", name=title, level=1)).to_be_visible()
            expect(window.locator("html")).to_have_attribute("lang", locale[:2])
            assert_accessible(window, f"no-session-{locale}")
        finally:
            context.close()

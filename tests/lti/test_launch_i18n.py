"""Launch, session and error messages follow the browser's language (issue 7).

A refused launch has no session yet, so its page speaks the browser's ``Accept-Language``
(German for ``de-DE``); English stays exactly as the negative launch suite expects. The
values put into translated messages (a claim, an exception's text) are escaped on the
page. pylti1p3's cookie check page gets the page's language and a title; activities
translate when read, as plain strings (link titles sent to the platform, JSON storage).

German texts that are not yet in the compiled catalogue are checked through
:func:`german_or_english`: the page must show the catalogue's German once the entry is
there, and the English source until then (never a key, never a mix).
"""

from __future__ import annotations

import gettext
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask, render_template
from sqlalchemy.orm import Session

from lti import activities
from lti.db import get_engine
from lti.dynreg import _error_page
from lti.i18n import _
from lti.launch import LaunchRefused
from plugin.models import Organization
from plugin.services import programs
from tests.lti.launch_kit import (
    AUTH_URL,
    ISSUER,
    LAUNCH_URL,
    ROLE_INSTRUCTOR,
    Platform,
    page_text,
    running_platform,
)

C = "https://purl.imsglobal.org/spec/lti/claim/"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MO = (
    Path(__file__).resolve().parents[2]
    / "lti"
    / "translations"
    / "de"
    / "LC_MESSAGES"
    / "messages.mo"
)
GERMAN = "de-DE,de;q=0.9,en;q=0.5"


@pytest.fixture(scope="module")
def catalogue() -> dict[Any, str]:
    """The compiled German catalogue the app loads."""
    with MO.open("rb") as fh:
        return dict(gettext.GNUTranslations(fh)._catalog)  # type: ignore[attr-defined]


def german_or_english(
    catalogue: dict[Any, str], msgid: str, **values: Any
) -> tuple[str, str | None]:
    """The text a German page shows for ``msgid``, and the German (None until merged)."""
    german = catalogue.get(msgid)
    if german:
        return (german % values if values else german), german
    return (msgid % values if values else msgid), None


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    with running_platform(app) as p:
        yield p


def html_lang(text: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', text)
    assert found, text[:300]
    return found.group(1)


def alert(text: str) -> str:
    """The message of an error page (for assertion output)."""
    found = re.search(r'<p role="alert">(.*?)</p>', text, re.S)
    return found.group(1) if found else text[:300]


def h1(text: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", text, re.S)
    assert found, text[:300]
    return found.group(1).strip()


# --------------------------------------------------------------------------- refused launches


def test_a_refused_launch_speaks_german_to_a_german_browser(
    platform: Platform, catalogue: dict[Any, str]
) -> None:
    login = platform.login()
    platform.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = GERMAN
    resp = platform.post_launch(platform.sign(platform.claims(login.nonce or "")), None)
    assert resp.status_code == 400
    text = page_text(resp)
    assert html_lang(text) == "de"
    assert h1(text) == "Tandem konnte nicht geöffnet werden"
    assert "Fehlercode: 400" in text
    shown, german = german_or_english(
        catalogue, "The launch has no 'state'. Open Tandem again from the course."
    )
    assert shown in text
    if german is not None:
        assert "Open Tandem again" not in text


def test_a_refused_launch_stays_english_for_an_english_browser(platform: Platform) -> None:
    login = platform.login()
    platform.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB,en;q=0.8"
    resp = platform.post_launch(platform.sign(platform.claims(login.nonce or "")), None)
    assert resp.status_code == 400
    text = page_text(resp)
    assert html_lang(text) == "en"
    assert h1(text) == "Tandem could not be opened"
    assert "The launch has no 'state'. Open Tandem again from the course." in text
    assert "Error code: 400" in text


@pytest.mark.parametrize(
    ("accept", "lang", "title"),
    [(GERMAN, "de", "Aufruf abgelaufen"), ("en", "en", "Launch expired")],
)
def test_a_replayed_launch_names_its_title_in_the_browser_language(
    platform: Platform, accept: str, lang: str, title: str
) -> None:
    login = platform.login()
    token = platform.sign(platform.claims(login.nonce or ""))
    assert platform.post_launch(token, login.state).status_code == 303
    platform.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept
    again = platform.post_launch(token, login.state)
    assert again.status_code == 401
    assert html_lang(again.text) == lang
    assert h1(again.text) == title


def test_a_value_in_a_translated_message_is_escaped(platform: Platform) -> None:
    """A claim echoed into a message (``%(message_type)s``) cannot inject markup."""
    resp = platform.launch(**{C + "message_type": '<script>alert("x")</script>'})
    assert resp.status_code == 400
    raw = resp.get_data(as_text=True)
    assert "<script>alert" not in raw
    assert "&lt;script&gt;alert(" in raw
    assert "Tandem does not handle '<script>alert(\"x\")</script>' launches" in page_text(resp)


def test_launch_refused_keeps_plain_strings_and_escapes_on_the_page(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        exc = LaunchRefused(
            _("The id_token is not valid: %(reason)s.", reason="<b>bad</b> & worse"), code=401
        )
        assert type(exc.description) is str
        assert type(exc.name) is str
        html = render_template("error.html", status=401, error=exc.name, message=exc.description)
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in html
    assert "<b>bad</b>" not in html
    assert html_lang(html) == "de"
    assert h1(html) == "Tandem konnte nicht geöffnet werden"  # the default title


def test_a_title_outside_a_request_is_english() -> None:
    assert LaunchRefused("x").name == "Launch refused"


# --------------------------------------------------------------------------- cookies, session


@pytest.mark.parametrize(("accept", "lang"), [(GERMAN, "de"), ("en", "en")])
def test_the_cookie_check_page_has_the_language_and_a_title(
    platform: Platform, catalogue: dict[Any, str], accept: str, lang: str
) -> None:
    resp = platform.client.post(
        "/lti/login",
        data={
            "iss": ISSUER,
            "login_hint": "42",
            "target_link_uri": LAUNCH_URL,
            "client_id": "tandem-client-1",
        },
        headers={"Sec-Fetch-Dest": "iframe", "Accept-Language": accept},
    )
    assert resp.status_code == 200
    raw = resp.get_data(as_text=True)
    assert f'<html lang="{lang}">' in raw
    assert "<title></title>" not in raw
    opening = german_or_english(catalogue, "Opening Tandem…")[0] if lang == "de" else None
    assert f"<title>{opening or 'Opening Tandem…'}</title>" in raw
    link = "Tandem in einem neuen Fenster öffnen" if lang == "de" else "Open Tandem in a new window"
    assert f'id="lti1p3-new-tab-link">{link}</a>' in raw
    assert AUTH_URL not in raw  # only the check page: no redirect yet


def test_the_new_window_page_for_a_dropped_cookie_is_german(
    platform: Platform, app: Flask, catalogue: dict[Any, str]
) -> None:
    login = platform.login()
    token = platform.sign(platform.claims(login.nonce or ""))
    other_browser = app.test_client()
    resp = other_browser.post(
        "/lti/launch",
        data={"id_token": token, "state": login.state},
        headers={"Accept-Language": GERMAN},
    )
    assert resp.status_code == 401
    text = page_text(resp)
    assert html_lang(text) == "de"
    assert h1(text) == "Tandem in einem neuen Fenster öffnen"
    shown, _german = german_or_english(
        catalogue,
        "Your browser did not keep the cookie Tandem sets while opening inside the course "
        "page (third-party cookies are blocked). Open Tandem in a new window.",
    )
    assert shown in text


def test_no_session_in_german_and_english(client: Any, catalogue: dict[Any, str]) -> None:
    msgid = (
        "Your Tandem session has ended or was never started. Open Tandem again from your "
        "course page."
    )
    german = client.get("/app/", headers={"Accept-Language": GERMAN})
    assert german.status_code == 401
    assert german_or_english(catalogue, msgid)[0] in page_text(german)
    english = client.get("/app/", headers={"Accept-Language": "en"})
    assert msgid in page_text(english)


# --------------------------------------------------------------------------- error pages


def test_werkzeug_stock_texts_become_tandem_sentences_on_pages(
    client: Any, catalogue: dict[Any, str]
) -> None:
    english = client.get("/nothing-here", headers={"Accept-Language": "en"})
    assert english.status_code == 404
    assert "There is no page at this address." in english.text
    assert "requested URL was not found" not in english.text
    german = client.get("/nothing-here", headers={"Accept-Language": GERMAN})
    assert german_or_english(catalogue, "There is no page at this address.")[0] in german.text
    api = client.get("/api/nothing", headers={"Accept-Language": GERMAN})
    assert api.status_code == 404
    assert api.json["error"] == "Not Found"
    assert "requested URL was not found" in api.json["message"]  # API text stays stable


def test_an_unexpected_error_says_so_in_the_browser_language(
    app: Flask, catalogue: dict[Any, str]
) -> None:
    def boom() -> str:
        raise RuntimeError("secret detail")

    app.add_url_rule("/_test/boom", view_func=boom)
    client = app.test_client()
    english = client.get("/_test/boom", headers={"Accept-Language": "en"})
    assert english.status_code == 500
    assert "Something went wrong on our side." in english.text
    assert "secret detail" not in english.text
    german = client.get("/_test/boom", headers={"Accept-Language": GERMAN})
    assert german.status_code == 500
    assert html_lang(german.text) == "de"
    assert h1(german.text) == "Etwas ist schiefgelaufen"
    shown = german_or_english(catalogue, "Something went wrong on our side.")[0]
    assert shown in german.text


def test_a_dynamic_registration_error_page_follows_the_browser(
    app: Flask, catalogue: dict[Any, str]
) -> None:
    hint = (
        "Ask a Tandem administrator for a new registration URL "
        "(tandem lti registration-url --org …). Each URL registers one platform."
    )
    with app.test_request_context("/", headers={"Accept-Language": GERMAN}):
        german = _error_page(404, "<unknown> token").get_data(as_text=True)
    assert html_lang(german) == "de"
    assert h1(german) == "Tandem konnte nicht registriert werden"
    assert german_or_english(catalogue, hint)[0] in german
    assert "&lt;unknown&gt; token" in german
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        english = _error_page(404, "x").get_data(as_text=True)
    assert hint in english


# --------------------------------------------------------------------------- start page


def test_the_start_page_in_german_and_english(client: Any) -> None:
    english = client.get("/", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert html_lang(english.text) == "en"
    assert "Tandem runs <strong>reverse-mentoring programs</strong>" in english.text
    assert "<code>http://127.0.0.1:5000/lti/login</code>" in english.text
    assert '<th scope="col">Purpose</th>' in english.text
    assert '<a href="http://127.0.0.1:5000/lti/config.json">config.json</a>' in english.text
    german = client.get("/", headers={"Accept-Language": GERMAN})
    assert html_lang(german.text) == "de"
    assert "<h1>Tandem</h1>" in german.text
    assert '<a href="http://127.0.0.1:5000/healthz">' in german.text


# --------------------------------------------------------------------------- activities


def test_activities_translate_when_read_and_stay_plain_strings(
    app: Flask, catalogue: dict[Any, str]
) -> None:
    my_tandem = activities.by_key("my_tandem")
    assert my_tandem is not None
    assert my_tandem.title == "Reverse mentoring: my tandem"  # no request: English
    with app.test_request_context("/", headers={"Accept-Language": GERMAN}):
        title = my_tandem.title
        assert type(title) is str
        assert type(my_tandem.description) is str
        json.dumps({"title": title})  # storable (the dev platform keeps it as JSON)
    assert title == german_or_english(catalogue, "Reverse mentoring: my tandem")[0]


def _program(app: Flask, org_id: int) -> int:
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        org = session.get(Organization, org_id)
        assert org is not None
        program = programs.create_program(
            session,
            org=org,
            name="RM <2026>",
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
            actor="test",
        )
        session.commit()
        return program.id


def test_a_german_content_selection_picks_and_sends_german_titles(
    platform: Platform, app: Flask, catalogue: dict[Any, str]
) -> None:
    program_id = _program(app, platform.org_id)
    claims = {
        C + "message_type": "LtiDeepLinkingRequest",
        C + "roles": [ROLE_INSTRUCTOR],
        C + "resource_link": None,
        C + "launch_presentation": {"document_target": "iframe", "locale": "de-DE"},
        DL_SETTINGS: {
            "deep_link_return_url": ISSUER + "/mod/lti/contentitem_return.php",
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe", "window"],
            "accept_multiple": True,
        },
    }
    picker = platform.launch(**claims)
    assert picker.status_code == 200, alert(picker.text)
    assert html_lang(picker.text) == "de-DE"  # the launch's locale
    title = german_or_english(catalogue, "Reverse mentoring: my tandem")[0]
    assert f"<strong>{title}</strong>" in picker.text
    assert "RM &lt;2026&gt;" in picker.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', picker.text)
    assert csrf
    answer = platform.client.post(
        "/lti/deep-link",
        data={"csrf_token": csrf.group(1), "program": str(program_id), "activity": "my_tandem"},
    )
    assert answer.status_code == 200, alert(answer.text)
    token = re.search(r'name="JWT" value="([^"]+)"', answer.text)
    assert token
    items = jwt.decode(token.group(1), options={"verify_signature": False})[
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
    ]
    assert [i["title"] for i in items] == [f"{title} (RM <2026>)"]
    label = german_or_english(
        catalogue, "Reverse mentoring completion: %(program)s", program="RM <2026>"
    )[0]
    assert items[0]["lineItem"]["label"] == label


def test_deep_link_errors_are_translated(
    platform: Platform, app: Flask, catalogue: dict[Any, str]
) -> None:
    """Refusals of the picker form (no program chosen) come through ``_``, in German."""
    _program(app, platform.org_id)
    picker = platform.launch(
        **{
            C + "message_type": "LtiDeepLinkingRequest",
            C + "roles": [ROLE_INSTRUCTOR],
            C + "resource_link": None,
            C + "launch_presentation": {"locale": "de"},
            DL_SETTINGS: {
                "deep_link_return_url": ISSUER + "/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window"],
            },
        }
    )
    assert picker.status_code == 200, alert(picker.text)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', picker.text)
    assert csrf
    refused = platform.client.post("/lti/deep-link", data={"csrf_token": csrf.group(1)})
    assert refused.status_code == 400
    assert html_lang(refused.text) == "de"
    shown = german_or_english(catalogue, "Choose a program for the activities.")[0]
    assert shown in page_text(refused)
    bad_csrf = platform.client.post("/lti/deep-link", data={"csrf_token": "forged"})
    assert bad_csrf.status_code == 400
    assert h1(bad_csrf.text) == catalogue["The request could not be processed"]
    form_expired = (
        "This form has expired or did not come from Tandem. Reload the page and try again."
    )
    assert german_or_english(catalogue, form_expired)[0] in page_text(bad_csrf)

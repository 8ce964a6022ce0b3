"""The LTI launch: a Moodle-like platform logs a user in and Tandem opens their page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti.db import get_engine
from plugin import models
from tests.lti.launch_kit import (
    CLIENT_ID,
    LAUNCH_URL,
    ROLE_INSTRUCTOR,
    Platform,
    row_counts,
    running_platform,
)


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    with running_platform(app) as p:
        yield p


def _rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context(), Session(get_engine(app)) as session:
        return list(session.scalars(select(model)))


def test_login_redirects_to_the_platform_with_our_launch_url(platform: Platform) -> None:
    result = platform.login()
    assert result.status == 302
    assert result.redirect_uri == LAUNCH_URL
    assert result.params["client_id"] == CLIENT_ID
    assert result.params["scope"] == "openid"
    assert result.params["response_type"] == "id_token"
    assert result.params["response_mode"] == "form_post"
    assert result.params["prompt"] == "none"
    assert result.params["login_hint"] == "42"
    assert result.params["lti_message_hint"] == "hint-1"


def test_learner_launch_creates_person_link_and_session(platform: Platform, app: Flask) -> None:
    resp = platform.launch()
    assert resp.status_code == 303, resp.get_data(as_text=True)
    assert resp.headers["Location"].endswith("/app/")
    people = _rows(app, models.Person)
    assert [(p.given_name, p.family_name, p.email) for p in people] == [
        ("Jana", "Junior", "jana.junior@acme.example")
    ]
    identities = _rows(app, models.PersonIdentity)
    assert [(i.source.startswith("lti:"), i.external_id) for i in identities] == [(True, "42")]
    links = _rows(app, models.LtiLink)
    assert len(links) == 1
    assert links[0].resource_link_id == "rl-1"
    assert links[0].activity == "my_tandem"
    assert links[0].lineitem_url
    assert links[0].memberships_url
    assert "tandem_session" in resp.headers.get("Set-Cookie", "") or any(
        "tandem_session" in h for h in resp.headers.getlist("Set-Cookie")
    )


def test_second_launch_reuses_the_person(platform: Platform, app: Flask) -> None:
    assert platform.launch().status_code == 303
    assert platform.launch().status_code == 303
    assert len(_rows(app, models.Person)) == 1


def test_replayed_launch_is_refused_and_writes_nothing(platform: Platform, app: Flask) -> None:
    result = platform.login()
    token = platform.sign(platform.claims(result.nonce or ""))
    assert platform.post_launch(token, result.state).status_code == 303
    before = row_counts(app)
    again = platform.post_launch(token, result.state)
    assert again.status_code == 401
    assert row_counts(app) == before


def test_instructor_gets_coordinator_role(platform: Platform, app: Flask) -> None:
    resp = platform.launch(**{"https://purl.imsglobal.org/spec/lti/claim/roles": [ROLE_INSTRUCTOR]})
    assert resp.status_code == 303


def test_a_browser_that_dropped_the_state_cookie_is_offered_a_new_window(
    platform: Platform, app: Flask
) -> None:
    result = platform.login()
    token = platform.sign(platform.claims(result.nonce or ""))
    before = row_counts(app)
    other_browser = app.test_client()
    resp = other_browser.post("/lti/launch", data={"id_token": token, "state": result.state})
    assert resp.status_code == 401
    page = resp.get_data(as_text=True)
    assert "new window" in page
    assert "lti1p3_new_window=1" in page
    assert "login_hint=42" in page
    assert row_counts(app) == before


def test_forged_kids_cannot_make_tandem_flood_the_platform(platform: Platform) -> None:
    assert platform.launch().status_code == 303
    assert platform.jwks_calls == 1
    for _ in range(3):
        result = platform.login()
        token = platform.sign(platform.claims(result.nonce or ""), kid="forged")
        assert platform.post_launch(token, result.state).status_code == 401
    assert platform.jwks_calls == 2  # one refetch, then throttled

"""End to end against an independent platform: ``lti1p3platform`` 0.1.8 (tests/lti/e2e_platform.py).

Tandem is registered by hand with the CLI (``tandem lti add-platform``) and the platform
is configured from Tandem's ``/lti/config.json``, as an admin would. Then the browser
(both apps' test clients) runs the real flows — OIDC login, signed id_token, deep
linking — and Tandem's server-to-server calls (JWKS, client-credentials token, NRPS, AGS)
reach the platform through ``responses`` callbacks, while the platform fetches Tandem's
JWKS the same way to verify what Tandem signs.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin

import jwt
import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti.db import get_engine
from plugin import models
from tests.lti.e2e_platform import (
    AUTH_URL,
    CLIENT_ID,
    COURSE_ID,
    DEEP_LINK_RETURN_URL,
    DEPLOYMENT_ID,
    ISSUER,
    JWKS_URL,
    LINEITEMS_URL,
    MEMBERSHIPS_URL,
    NEXT_CURSOR,
    TOKEN_URL,
    Browser,
    HttpRouter,
    Page,
    PlatformState,
    create_platform_app,
    new_key_pair,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
C = "https://purl.imsglobal.org/spec/lti/claim/"
#: One held session of 30 minutes completes (so the AGS test needs one session).
RULE = {"min_sessions": 1, "min_minutes": 30, "require_post_assessment": False}


@contextmanager
def db(app: Flask) -> Iterator[Session]:
    """A committed session on Tandem's database."""
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        yield session
        session.commit()


def cli(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class E2E:
    """Tandem, the platform, the wire between them and one user's browser."""

    app: Flask
    base: str
    state: PlatformState
    router: HttpRouter
    browser: Browser
    program_id: int
    registration_id: int

    def start(self, user: str, link: str) -> Page:
        """Click a course link: the platform's login initiation up to its launch form."""
        query = urlencode({"user": user, "link": link})
        page = self.browser.open(f"{ISSUER}/course/launch?{query}")
        assert page.status == 200, (page.status, page.text[:600], self.state.errors)
        assert page.url.startswith(AUTH_URL)
        return page

    def launch(self, user: str, link: str) -> Page:
        """The whole launch; returns Tandem's answer to the id_token (not followed)."""
        answer = self.browser.submit(self.start(user, link), follow=False)
        assert answer.url == self.base + "/lti/launch"
        return answer

    def open(self, path: str, **kwargs: Any) -> Page:
        return self.browser.open(urljoin(self.base, path), **kwargs)

    def person(self, user_id: str) -> models.Person | None:
        with db(self.app) as session:
            return session.scalar(
                select(models.Person)
                .join(models.PersonIdentity)
                .where(
                    models.PersonIdentity.source == f"lti:{self.registration_id}",
                    models.PersonIdentity.external_id == user_id,
                )
            )


@pytest.fixture
def e2e(app: Flask, runner: FlaskCliRunner) -> Iterator[E2E]:
    base = str(app.config["BASE_URL"]).rstrip("/")
    assert base == "http://127.0.0.1:5000"
    cli(runner, "orgs", "create", "acme", "--name", "Acme AG")
    out = cli(
        runner,
        "programs", "create", "--org", "acme", "--name", "Reverse Mentoring 2026",
        "--starts", "2026-03-01", "--ends", "2026-09-01", "--open",
        "--completion", json.dumps(RULE),
    )  # fmt: skip
    program_id = int(re.search(r"created program (\d+)", out).group(1))  # type: ignore[union-attr]
    out = cli(
        runner,
        "lti", "add-platform", "--org", "acme", "--issuer", ISSUER, "--client-id", CLIENT_ID,
        "--auth-url", AUTH_URL, "--token-url", TOKEN_URL, "--jwks-url", JWKS_URL,
        "--deployment-id", DEPLOYMENT_ID,
    )  # fmt: skip
    assert f"approved deployments: {DEPLOYMENT_ID}" in out
    registration_id = int(re.search(r"added platform (\d+)", out).group(1))  # type: ignore[union-attr]

    private_pem, public_pem = new_key_pair()
    state = PlatformState(private_pem, public_pem)
    platform_app = create_platform_app(state)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        router = HttpRouter(mock)
        router.route(base, app)
        router.route(ISSUER, platform_app)
        # The platform admin copies Tandem's configuration (Moodle: "configure a tool
        # manually"): login URL, redirection URI, keyset URL and deep-linking URL.
        state.tool = requests.get(base + "/lti/config.json", timeout=5).json()
        assert state.tool["redirect_uris"] == [base + "/lti/launch"]
        browser = Browser({base: app, ISSUER: platform_app})
        yield E2E(app, base, state, router, browser, program_id, registration_id)
    assert state.errors == []


def calls_to(e2e: E2E, url: str) -> int:
    return sum(1 for _, called in e2e.router.calls if called == url)


# --------------------------------------------------------------------------- launches


def test_manual_registration_then_learner_launch_opens_my_tandem(e2e: E2E) -> None:
    link = e2e.state.add_link(
        "rl-my-tandem",
        title="My tandem",
        custom={"activity": "my_tandem", "program": str(e2e.program_id)},
        graded=True,
    )
    answer = e2e.launch("u-lena", "rl-my-tandem")
    assert answer.status == 303, answer.text[:600]
    assert answer.headers["Location"] == f"/app/programs/{e2e.program_id}/me"
    assert "tandem_session=" in answer.headers.get("Set-Cookie", "")
    landing = e2e.open(answer.headers["Location"])
    assert landing.status == 200, landing.text[:600]

    # What Tandem verified: the platform's id_token, signed with the key of its JWKS.
    (claims,) = e2e.state.id_tokens
    assert claims[C + "deployment_id"] == DEPLOYMENT_ID
    assert claims["azp"] == CLIENT_ID
    assert calls_to(e2e, JWKS_URL) == 1

    person = e2e.person("u-lena")
    assert person is not None
    assert (person.given_name, person.family_name, person.email) == (
        "Lena",
        "Learner",
        "lena.learner@acme.example",
    )
    with db(e2e.app) as session:
        (row,) = session.scalars(select(models.LtiLink)).all()
    assert (row.resource_link_id, row.activity, row.program_id) == (
        "rl-my-tandem",
        "my_tandem",
        e2e.program_id,
    )
    assert row.context_id == COURSE_ID
    assert row.lineitem_url == link.lineitem
    assert row.lineitems_url == LINEITEMS_URL
    assert row.memberships_url == MEMBERSHIPS_URL

    # A second click reuses the person and the cached platform keys.
    again = e2e.launch("u-lena", "rl-my-tandem")
    assert again.status == 303
    assert calls_to(e2e, JWKS_URL) == 1
    with db(e2e.app) as session:
        assert len(session.scalars(select(models.Person)).all()) == 1


def test_instructor_launch_is_a_coordinator(e2e: E2E) -> None:
    e2e.state.add_link(
        "rl-dashboard",
        title="Coordinator dashboard",
        custom={"activity": "dashboard", "program": str(e2e.program_id)},
    )
    answer = e2e.launch("u-ivo", "rl-dashboard")
    assert answer.status == 303, answer.text[:600]
    assert answer.headers["Location"] == f"/app/programs/{e2e.program_id}/dashboard"
    landing = e2e.open(answer.headers["Location"])
    assert landing.status == 200, landing.text[:600]
    person = e2e.person("u-ivo")
    assert person is not None
    with db(e2e.app) as session:
        coordinators = session.scalars(
            select(models.ProgramCoordinator.person_id).where(
                models.ProgramCoordinator.program_id == e2e.program_id
            )
        ).all()
    assert coordinators == [person.id]


# --------------------------------------------------------------------------- deep linking


def test_deep_linking_round_trip(e2e: E2E) -> None:
    picker = e2e.browser.submit(e2e.start("u-ivo", "deep-link"))
    assert picker.status == 200, picker.text[:600]
    assert picker.url == e2e.base + "/lti/launch"
    (claims,) = e2e.state.id_tokens
    assert claims[C + "message_type"] == "LtiDeepLinkingRequest"
    form = picker.form()
    assert form.action.endswith("/lti/deep-link")
    assert form.value("csrf_token")
    assert str(e2e.program_id) in form.choices["program"]
    assert {"my_tandem", "sessions", "dashboard"} <= set(form.choices["activity"])

    # Without the session's CSRF token the picker's answer is refused.
    forged = e2e.open(
        "/lti/deep-link",
        method="POST",
        data=[("program", str(e2e.program_id)), ("activity", "my_tandem")],
    )
    assert forged.status == 400

    answer = e2e.browser.submit(
        picker,
        set_fields={"program": str(e2e.program_id), "activity": ["my_tandem", "sessions"]},
    )
    assert answer.status == 200, answer.text[:600]
    back = answer.form()
    assert (back.action, back.method) == (DEEP_LINK_RETURN_URL, "post")
    assert [name for name, _ in back.fields] == ["JWT"]

    done = e2e.browser.submit(answer)  # the platform validates it with its own helper
    assert done.status == 200, (done.text[:600], e2e.state.errors)
    assert "2 activities added" in done.text
    (response,) = e2e.state.deep_link_responses
    body = response["claims"]
    assert body["iss"] == CLIENT_ID
    assert body["aud"] in (ISSUER, [ISSUER])
    assert body[C + "deployment_id"] == DEPLOYMENT_ID
    assert body[C + "message_type"] == "LtiDeepLinkingResponse"
    assert body["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == {"placement": "section-3"}
    assert calls_to(e2e, e2e.base + "/lti/jwks") >= 1

    items = {item["custom"]["activity"]: item for item in response["items"]}
    assert set(items) == {"my_tandem", "sessions"}
    for item in items.values():
        assert item["type"] == "ltiResourceLink"
        assert item["url"] == e2e.base + "/lti/launch"
        assert item["custom"]["program"] == str(e2e.program_id)
    line_item = items["my_tandem"]["lineItem"]
    assert line_item["scoreMaximum"] == 100
    assert line_item["resourceId"] == f"tandem-program-{e2e.program_id}"
    assert "lineItem" not in items["sessions"]

    # The platform placed the links; a learner opens the graded one.
    placed = next(k for k, v in e2e.state.links.items() if v.custom["activity"] == "my_tandem")
    answer = e2e.launch("u-lena", placed)
    assert answer.status == 303, answer.text[:600]
    assert answer.headers["Location"] == f"/app/programs/{e2e.program_id}/me"
    with db(e2e.app) as session:
        row = session.scalar(
            select(models.LtiLink).where(models.LtiLink.resource_link_id == placed)
        )
    assert row is not None
    assert row.lineitem_url == e2e.state.links[placed].lineitem


# --------------------------------------------------------------------------- NRPS


def test_roster_import_reads_every_page(e2e: E2E) -> None:
    e2e.state.add_link(
        "rl-dashboard",
        title="Coordinator dashboard",
        custom={"activity": "dashboard", "program": str(e2e.program_id)},
    )
    answer = e2e.launch("u-ivo", "rl-dashboard")
    assert answer.status == 303, answer.text[:600]
    dashboard = e2e.open(answer.headers["Location"])
    assert dashboard.status == 200, dashboard.text[:600]
    url = f"/app/programs/{e2e.program_id}/roster-import"
    assert dashboard.form(url).value("csrf_token")

    refused = e2e.open(url, method="POST", data=[("csrf_token", "forged")])
    assert refused.status == 400
    assert e2e.state.roster_requests == []

    page = e2e.browser.submit(dashboard, action_suffix=url)
    assert page.status == 200, (page.text[:800], e2e.state.errors)

    # Both pages, the second by the platform's next URL exactly as sent (mixed case).
    assert e2e.state.roster_requests == [
        MEMBERSHIPS_URL,
        f"{MEMBERSHIPS_URL}?page=2&Cursor={NEXT_CURSOR}",
    ]
    (token,) = e2e.state.token_requests
    assert NRPS_SCOPE in token["requested"]
    assert NRPS_SCOPE in token["granted"]
    assert token["assertion_type"] == ASSERTION_TYPE
    assertion = token["assertion"]
    assert assertion["iss"] == assertion["sub"] == CLIENT_ID
    assert assertion["aud"] in (TOKEN_URL, [TOKEN_URL])

    with db(e2e.app) as session:
        invited = session.scalars(
            select(models.PersonIdentity.external_id)
            .join(
                models.ProgramInvitation,
                models.ProgramInvitation.person_id == models.PersonIdentity.person_id,
            )
            .where(
                models.ProgramInvitation.program_id == e2e.program_id,
                models.PersonIdentity.source == f"lti:{e2e.registration_id}",
            )
        ).all()
        sources = set(session.scalars(select(models.ProgramInvitation.source)).all())
    # Learners are invited; the teacher is not, nor the inactive member.
    assert sorted(invited) == ["u-lena", "u-max", "u-nora"]
    assert len(sources) == 1
    assert next(iter(sources)).startswith("nrps:")
    assert e2e.person("u-omar") is None

    # Importing again changes nothing.
    again = e2e.browser.submit(dashboard, action_suffix=url)
    assert again.status == 200
    with db(e2e.app) as session:
        assert len(session.scalars(select(models.ProgramInvitation)).all()) == 3


# --------------------------------------------------------------------------- AGS


def _ags_sink_missing() -> bool:
    try:
        return importlib.util.find_spec("connectors.lti_ags") is None
    except ModuleNotFoundError:  # pragma: no cover
        return True


@pytest.mark.skipif(
    _ags_sink_missing(), reason="the AGS sink (connectors/lti_ags) is not built yet"
)
def test_completion_reaches_the_platform_gradebook(e2e: E2E) -> None:
    from lti.cli_outbox import build_worker
    from plugin.services import completions, enrollments

    link = e2e.state.add_link(
        "rl-my-tandem",
        title="My tandem",
        custom={"activity": "my_tandem", "program": str(e2e.program_id)},
        graded=True,
    )
    assert link.lineitem
    assert e2e.launch("u-lena", "rl-my-tandem").status == 303
    lena = e2e.person("u-lena")
    assert lena is not None

    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with db(e2e.app) as session:
        program = session.get_one(models.Program, e2e.program_id)
        mentee = models.Person(
            org_id=program.org_id, given_name="Sam", family_name="Senior", email="sam@acme.example"
        )
        session.add(mentee)
        session.flush()
        person = session.get_one(models.Person, lena.id)
        mine = enrollments.enroll(
            session,
            program=program,
            person=person,
            role="mentor",
            consent=True,
            languages=["en"],
            actor="test",
        )
        theirs = enrollments.enroll(
            session,
            program=program,
            person=mentee,
            role="mentee",
            consent=True,
            languages=["en"],
            actor="test",
        )
        tandem = models.Tandem(
            org_id=program.org_id,
            program_id=program.id,
            status=models.TandemStatus.ACTIVE,
            score=1.0,
            approved_by="test",
            approved_at=t0,
            status_changed_at=t0,
            activated_at=t0,
        )
        for who, enrollment in ((person, mine), (mentee, theirs)):
            tandem.members.append(
                models.TandemMember(
                    org_id=program.org_id,
                    enrollment_id=enrollment.id,
                    person_id=who.id,
                    role=enrollment.role,
                    accepted_at=t0,
                    confidentiality_accepted_at=t0,
                )
            )
        session.add(tandem)
        session.flush()
        session.add(
            models.MentoringSession(
                org_id=program.org_id,
                tandem_id=tandem.id,
                status=models.SessionStatus.HELD,
                scheduled_at=t0,
                held_at=t0,
                minutes=60,
            )
        )
        session.flush()
        status = completions.evaluate_enrollment(session, mine.id, now=t0)
        assert status.met
    with db(e2e.app) as session:
        queued = session.scalars(
            select(models.OutboxMessage).where(
                models.OutboxMessage.target == f"lms-{e2e.registration_id}"
            )
        ).all()
    assert [m.kind for m in queued if m.kind == "completion"] == ["completion"]

    worker = build_worker(e2e.app)
    for _ in range(5):
        if not worker.run_once().claimed:
            break

    posts = [score for item, score in e2e.state.score_posts if item == link.lineitem]
    completed = [s for s in posts if s.get("activityProgress") == "Completed"]
    assert len(completed) == 1, (posts, e2e.state.errors)
    (score,) = completed
    assert score["userId"] == "u-lena"
    assert score["gradingProgress"] == "FullyGraded"
    assert (score["scoreGiven"], score["scoreMaximum"]) == (100, 100)
    assert score["timestamp"]
    with db(e2e.app) as session:
        states = {
            m.kind: m.status.value
            for m in session.scalars(
                select(models.OutboxMessage).where(
                    models.OutboxMessage.target == f"lms-{e2e.registration_id}"
                )
            )
        }
    assert states.get("completion") == "delivered"
    (token,) = {json.dumps(t["granted"]) for t in e2e.state.token_requests}
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in json.loads(token)


def test_the_platform_refuses_what_it_should(e2e: E2E) -> None:
    """The peer is strict where it matters, so the round trips above prove something."""
    e2e.state.add_link("rl-x", title="x", custom={"activity": "my_tandem"})
    # A redirect_uri Tandem never registered is refused by the authorization endpoint.
    page = e2e.browser.open(
        AUTH_URL
        + "?"
        + urlencode(
            {
                "scope": "openid",
                "response_type": "id_token",
                "response_mode": "form_post",
                "prompt": "none",
                "client_id": CLIENT_ID,
                "redirect_uri": "https://evil.example.org/launch",
                "login_hint": "u-lena",
                "lti_message_hint": "rl-x",
                "state": "s",
                "nonce": "n",
            }
        )
    )
    assert page.status == 400
    assert "redirect_uri" in page.text
    e2e.state.errors.clear()
    # A deep-linking response not signed by Tandem's key is refused.
    forged = jwt.encode(
        {"iss": CLIENT_ID, "aud": ISSUER, C + "message_type": "LtiDeepLinkingResponse"},
        new_key_pair()[0],
        algorithm="RS256",
        headers={"kid": "not-tandems"},
    )
    refused = e2e.browser.open(DEEP_LINK_RETURN_URL, method="POST", data=[("JWT", forged)])
    assert refused.status == 400
    e2e.state.errors.clear()

"""The pages a launch lands on: who sees what, through a real browser session.

A session is started by a test-only route that calls :func:`lti.web_session.start`, as
a validated launch would. The data is built with the tracking builders in a session
that commits for real (the ``app`` fixture wipes the database after each test).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti import pages
from plugin.models import (
    AuditEvent,
    LtiLink,
    LtiRegistration,
    ProgramInvitation,
    Skill,
    SkillCategory,
)
from plugin.services import alerts, assessments, sessions, tandems
from tests.lti.web_login import install_test_login
from tests.plugin.tracking import conftest as tracking

# The tracking builders (a running program, tandems in any state), reused as fixtures.
world = tracking.world
make_pair = tracking.make_pair
T0 = tracking.T0

HELD_AT = T0 + timedelta(days=7)
NEXT_AT = T0 + timedelta(days=30)
PAGE_NOW = T0 + timedelta(days=10)
NOTES_A = "NOTES-A the senior now uses the team wiki"
NOTES_B = "NOTES-B nobody else may read this"
COMMENT_A = "COMMENT-A loved the live demo"
PRIVATE_COMMENT = "PRIVATE-COMMENT only for me"
WHY_EN = "Topic fit: Given1 offers AI tools (level 4), which Given2 wants to learn"
WHY_DE = "Themen-Passung: Given1 bietet AI tools (Stufe 4), das Given2 lernen möchte"
GOAL = "Use the AI assistant for weekly reports"

PAGES = ("program_overview", "my_tandem", "sessions", "self_assessment", "feedback", "dashboard")


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    """Overrides the rolled-back session: the app reads committed rows only."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def login(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``login(person, role, locale=…, link=…)`` starts a session as a launch would."""
    monkeypatch.setattr(pages, "_now", lambda: PAGE_NOW)
    return install_test_login(app, client, default_role="participant")


@dataclass
class Scene:
    world: Any
    a: Any  # the tandem under test
    b: Any  # another tandem of the same program
    held_id: int


@pytest.fixture
def scene(db_session: Session, world: Any, make_pair: Any) -> Scene:
    db_session.add(
        Skill(org_id=world.org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY)
    )
    a = make_pair()
    b = make_pair()
    a.tandem.explanation = {"en": [WHY_EN], "de": [WHY_DE], "pairs": []}
    db_session.flush()
    held = sessions.plan_session(
        db_session, a.mentor_actor, a.tandem.id, scheduled_at=HELD_AT, planned_minutes=60, now=T0
    )
    sessions.hold_session(db_session, a.mentor_actor, held.id, minutes=60, now=HELD_AT)
    sessions.set_notes(db_session, a.mentee_actor, held.id, text=NOTES_A, now=HELD_AT)
    sessions.give_feedback(
        db_session,
        a.mentee_actor,
        held.id,
        rating=5,
        comment=COMMENT_A,
        shared_with_partner=True,
        now=HELD_AT,
    )
    sessions.give_feedback(
        db_session,
        a.mentor_actor,
        held.id,
        rating=2,
        comment=PRIVATE_COMMENT,
        safety_pulse=4,
        now=HELD_AT,
    )
    sessions.plan_session(
        db_session, a.mentee_actor, a.tandem.id, scheduled_at=NEXT_AT, topic="Prompting", now=T0
    )
    tandems.add_goal(db_session, a.mentor_actor, a.tandem.id, title=GOAL, now=T0)
    held_b = sessions.log_session(
        db_session, b.mentor_actor, b.tandem.id, held_at=HELD_AT, minutes=45, now=HELD_AT
    )
    sessions.set_notes(db_session, b.mentor_actor, held_b.id, text=NOTES_B, now=HELD_AT)
    # Tandem b has held nothing since day 7: a stalled alert by day 70.
    alerts.scan_program(db_session, world.program.id, now=T0 + timedelta(days=70))
    db_session.commit()
    return Scene(world, a, b, held.id)


def url(page: str, program_id: int) -> str:
    suffix = {
        "program_overview": "",
        "my_tandem": "/me",
        "sessions": "/sessions",
        "self_assessment": "/self-assessment",
        "feedback": "/feedback",
        "dashboard": "/dashboard",
    }[page]
    return f"/app/programs/{program_id}{suffix}"


def h1s(html: str) -> list[str]:
    return re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("page", [p for p in PAGES if p != "dashboard"])
def test_each_participant_page_renders_for_a_member(
    client: Any, login: Any, scene: Scene, page: str
) -> None:
    login(scene.a.mentor)
    res = client.get(url(page, scene.world.program.id))
    assert res.status_code == 200, res.text
    html = res.text
    assert len(h1s(html)) == 1
    assert '<html lang="en">' in html
    assert 'aria-current="page"' in html
    assert res.headers["Cache-Control"] == "private, no-store"


def test_home_lists_enrolled_program_with_role_and_tandem_status(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentor)
    html = client.get("/app/").text
    assert scene.world.program.name in html
    assert "Junior (mentor)" in html
    assert "Active" in html
    assert f'href="/app/programs/{scene.world.program.id}/me"' in html


def test_participant_page_shows_partner_explanation_progress_and_next_session(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentor)
    html = client.get(url("my_tandem", scene.world.program.id)).text
    assert '<main id="main" data-testid="participant-page">' in html
    assert h1s(html) == ["My tandem"]
    mentee = scene.a.mentee
    assert f"{mentee.given_name} {mentee.family_name}" in html
    assert "Senior (mentee)" in html
    assert WHY_EN in html
    assert "1 of 6 sessions of at least 30 minutes" in html
    assert 'value="1"' in html  # the <progress> bar
    assert "Time together: 60 minutes" in html
    assert "the post-assessment" in html  # what is still missing
    assert "Prompting" in html  # the next planned session's topic
    assert "1 April 2026" in html  # ... and its date (T0 + 30 days)
    assert "This month's theme: Developer experience" in html  # month 1 of the default plan
    assert "Theme: New tools" in html  # the next session's, in month 2
    assert GOAL in html


def test_participant_page_in_german_uses_german_dates_and_explanation(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentee, locale="de-DE")
    html = client.get(url("my_tandem", scene.world.program.id)).text
    assert '<html lang="de-DE">' in html
    assert WHY_DE in html
    assert "1. April 2026" in html


def test_sessions_page_shows_my_notes_and_feedback_page_my_feedback(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentor)
    pid = scene.world.program.id
    sessions_html = client.get(url("sessions", pid)).text
    assert NOTES_A in sessions_html
    assert "Prompting" in sessions_html
    feedback_html = client.get(url("feedback", pid)).text
    assert PRIVATE_COMMENT in feedback_html  # my own, unshared comment
    assert COMMENT_A in feedback_html  # shared by my partner
    assert "Rating: 2 of 5" in feedback_html
    assert "Rating: 5 of 5" not in feedback_html  # never the partner's rating


def test_partner_sees_shared_comment_but_not_my_private_one(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentee)
    html = client.get(url("feedback", scene.world.program.id)).text
    assert COMMENT_A in html
    assert PRIVATE_COMMENT not in html
    assert "Rating: 2 of 5" not in html


def test_member_of_another_tandem_sees_neither_my_tandem_nor_my_notes(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.b.mentor)
    pid = scene.world.program.id
    a_names = [f"{p.given_name} {p.family_name}" for p in (scene.a.mentor, scene.a.mentee)]
    for page in ("my_tandem", "sessions", "feedback", "self_assessment"):
        html = client.get(url(page, pid)).text
        for secret in (*a_names, NOTES_A, COMMENT_A, PRIVATE_COMMENT, WHY_EN, GOAL):
            assert secret not in html, (page, secret)
    assert NOTES_B in client.get(url("sessions", pid)).text


def test_self_assessment_shows_status_and_skills(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    assessments.submit_assessment(
        db_session,
        scene.a.mentor_actor,
        scene.world.program.id,
        kind="pre",
        answers={"AI": 2},
        now=T0,
    )
    db_session.commit()
    login(scene.a.mentor)
    html = client.get(url("self_assessment", scene.world.program.id)).text
    assert "Submitted on 2 March 2026" in html
    assert "AI tools" in html
    assert re.search(r"AI tools</th>\s*<td class=\"num\">2</td>", html)


def test_program_overview_shows_program_and_my_enrollment(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentee)
    html = client.get(url("program_overview", scene.world.program.id)).text
    assert h1s(html) == [scene.world.program.name]
    assert "One-to-one" in html
    assert "1 March 2026 – 1 September 2026" in html
    assert "Developer experience" in html  # theme plan
    assert "What is said in the tandem stays there." in html
    assert "Enrolled as Senior (mentee)" in html


# --------------------------------------------------------------------------- not enrolled


def test_not_enrolled_participant_page_explains_and_links_to_overview(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.world.outsider)
    pid = scene.world.program.id
    res = client.get(url("my_tandem", pid))
    assert res.status_code == 200
    assert '<main id="main" data-testid="participant-page">' in res.text
    assert "You are not taking part in this program" in res.text
    assert f'href="/app/programs/{pid}"' in res.text
    for page in ("sessions", "feedback", "self_assessment"):
        other = client.get(url(page, pid))
        assert other.status_code == 200
        assert "You are not taking part in this program" in other.text


def test_home_empty_state_and_invitation(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.world.outsider)
    assert "Nothing here yet" in client.get("/app/").text
    db_session.add(
        ProgramInvitation(
            org_id=scene.world.org.id,
            program_id=scene.world.program.id,
            person_id=scene.world.outsider.id,
            source="nrps:1",
            invited_by="test",
        )
    )
    db_session.commit()
    html = client.get("/app/").text
    assert "Programs I am invited to" in html
    assert "Nothing here yet" not in html
    overview = client.get(url("program_overview", scene.world.program.id)).text
    assert "You were invited to this program" in overview


# --------------------------------------------------------------------------- coordinators


def test_coordinator_dashboard_shows_aggregates_and_alerts_only(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.world.coordinator, "coordinator")
    res = client.get(url("dashboard", scene.world.program.id))
    assert res.status_code == 200, res.text
    html = res.text
    assert '<main id="main" data-testid="coordinator-page">' in html
    assert h1s(html) == ["Coordinator dashboard"]
    assert re.search(r"Junior \(mentor\)</th><td class=\"num\">2</td>", html)
    assert re.search(r"Active</th><td class=\"num\">2</td>", html)
    assert f"Tandem {scene.b.tandem.id} has held no session" in html
    assert "Completions recorded: 0" in html
    for secret in (NOTES_A, NOTES_B, COMMENT_A, PRIVATE_COMMENT, GOAL):
        assert secret not in html
    assert "Import the course roster" not in html  # no link with a roster URL
    assert 'href="/app/programs/' in html
    assert ">Dashboard<" in html
    assert db_session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "program.tandems_viewed")
    )


def test_coordinator_dashboard_in_german_has_german_alerts(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.world.coordinator, "coordinator", locale="de")
    html = client.get(url("dashboard", scene.world.program.id)).text
    assert '<html lang="de">' in html
    assert f"Tandem {scene.b.tandem.id} hat seit" in html


def test_coordinator_home_lists_coordinated_programs(client: Any, login: Any, scene: Scene) -> None:
    login(scene.world.coordinator, "coordinator")
    html = client.get("/app/").text
    assert "Programs I coordinate" in html
    assert f'href="/app/programs/{scene.world.program.id}/dashboard"' in html


def test_participant_gets_a_clean_403_on_the_dashboard(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.a.mentor)
    res = client.get(url("dashboard", scene.world.program.id))
    assert res.status_code == 403
    assert "coordinator" in res.text
    assert len(h1s(res.text)) == 1
    assert NOTES_A not in res.text


def test_participant_launched_as_coordinator_of_another_program_gets_403(
    client: Any, login: Any, scene: Scene
) -> None:
    # A coordinator role from the launch does not make the person this program's coordinator.
    login(scene.a.mentor, "coordinator")
    assert client.get(url("dashboard", scene.world.program.id)).status_code == 403
    # ... but their own tandem (as a member) is still theirs, notes included.
    assert NOTES_A in client.get(url("sessions", scene.world.program.id)).text


def _link(db: Session, org_id: int, memberships_url: str | None) -> LtiLink:
    reg = db.scalar(select(LtiRegistration).where(LtiRegistration.org_id == org_id))
    if reg is None:
        reg = LtiRegistration(
            org_id=org_id,
            name="Moodle",
            issuer="https://moodle.example",
            client_id="abc",
            auth_login_url="https://moodle.example/auth",
            auth_token_url="https://moodle.example/token",
            jwks_url="https://moodle.example/jwks",
            created_by="test",
        )
        db.add(reg)
        db.flush()
    link = LtiLink(
        org_id=org_id,
        registration_id=reg.id,
        deployment_id="1",
        resource_link_id=f"rl-{memberships_url}",
        memberships_url=memberships_url,
    )
    db.add(link)
    db.commit()
    return link


def test_roster_form_only_with_a_roster_url(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    org_id, pid = scene.world.org.id, scene.world.program.id
    with_roster = _link(db_session, org_id, "https://moodle.example/nrps/1")
    without = _link(db_session, org_id, None)

    login(scene.world.coordinator, "coordinator", link=without.id)
    assert "Import the course roster" not in client.get(url("dashboard", pid)).text

    login(scene.world.coordinator, "coordinator", link=with_roster.id)
    html = client.get(url("dashboard", pid)).text
    assert "Import the course roster" in html
    assert f'action="/app/programs/{pid}/roster-import"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    assert len(token.group(1)) > 20


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("page", PAGES)
def test_no_session_gets_401(client: Any, scene: Scene, page: str) -> None:
    res = client.get(url(page, scene.world.program.id))
    assert res.status_code == 401
    assert "Open Tandem again from your course page" in res.text
    assert "<nav" not in res.text


def test_no_session_home_gets_401(client: Any, app: Flask) -> None:
    assert client.get("/app/").status_code == 401


@pytest.mark.parametrize("page", PAGES)
def test_program_of_another_organization_is_404(
    client: Any,
    login: Any,
    scene: Scene,
    make_org: Any,
    make_program: Any,
    db_session: Session,
    page: str,
) -> None:
    other = make_program(make_org("other", "Other AG"), name="Their program")
    db_session.commit()
    login(scene.world.coordinator, "coordinator")
    res = client.get(url(page, other.id))
    assert res.status_code == 404
    assert "Their program" not in res.text


def test_unknown_program_is_404(client: Any, login: Any, scene: Scene) -> None:
    login(scene.a.mentor)
    assert client.get(url("my_tandem", 999_999)).status_code == 404


def test_names_are_escaped(
    client: Any, login: Any, scene: Scene, make_pair: Any, make_person: Any, db_session: Session
) -> None:
    mentee = make_person(
        scene.world.org, given_name="Zoë <b>", family_name="O'Neil & Co", job_level=9
    )
    pair = make_pair(mentee=mentee)
    db_session.commit()
    login(pair.mentor)
    html = client.get(url("my_tandem", scene.world.program.id)).text
    assert "Tandem with Zoë &lt;b&gt; O&#39;Neil &amp; Co</h2>" in html
    assert "<b>" not in html

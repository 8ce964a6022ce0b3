"""The participant's forms: enrol, withdraw, start a tandem, sessions, feedback, goals,
assessments, survey and progress — each through a real browser session.

A session is started by a test-only route that calls :func:`lti.web_session.start`, as a
validated launch would; the data is built with the tracking builders in a session that
commits for real (the ``app`` fixture wipes the database after each test). The pages'
clock is :data:`PAGE_NOW`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from lti import pages, web_session
from plugin.models import (
    Action,
    Assessment,
    Completion,
    Consent,
    Enrollment,
    EnrollmentStatus,
    Feedback,
    Goal,
    MentoringSession,
    Person,
    ProgramInvitation,
    SessionStatus,
    Skill,
    SkillCategory,
    SurveyAnswer,
    Tandem,
    TandemStatus,
)
from plugin.services import programs, sessions, tandems
from tests.lti.web_login import install_test_login
from tests.plugin.tracking import conftest as tracking

world = tracking.world
make_pair = tracking.make_pair
T0 = tracking.T0

PAGE_NOW = T0 + timedelta(days=10)  # 2026-03-12 09:00 UTC
NOTES_B = "NOTES-B only tandem b may read this"
BERLIN = "Europe/Berlin"


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
    """``login(person, role, locale=…)`` starts a session as a launch would."""
    monkeypatch.setattr(pages, "_now", lambda: PAGE_NOW)
    return install_test_login(app, client, default_role="participant")


@dataclass
class Scene:
    world: Any
    a: Any  # an active tandem; its junior lives in Berlin
    b: Any  # another active tandem of the same program
    skills: list[Skill]
    b_session_id: int

    @property
    def pid(self) -> int:
        return int(self.world.program.id)


@pytest.fixture
def scene(db_session: Session, world: Any, make_pair: Any, make_person: Any) -> Scene:
    skills = [
        Skill(org_id=world.org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY),
        Skill(
            org_id=world.org.id,
            code="SOCIAL",
            name="Social media",
            name_de="Soziale Medien",
            category=SkillCategory.TECHNOLOGY,
        ),
    ]
    db_session.add_all(skills)
    db_session.flush()
    mentor = make_person(world.org, job_level=2, department="IT", time_zone=BERLIN)
    a = make_pair(mentor=mentor)
    b = make_pair()
    held_b = sessions.log_session(
        db_session, b.mentor_actor, b.tandem.id, held_at=T0, minutes=45, now=T0
    )
    sessions.set_notes(db_session, b.mentor_actor, held_b.id, text=NOTES_B, now=T0)
    db_session.commit()
    return Scene(world, a, b, skills, held_b.id)


def token_of(client: Any) -> str:
    """The CSRF token of the client's session (as the pages put it in every form)."""
    cookie = client.get_cookie(web_session.COOKIE)
    assert cookie is not None
    headers = {"Cookie": f"{web_session.COOKIE}={cookie.value}"}
    with client.application.test_request_context(headers=headers):
        ws = web_session.current()
        assert ws is not None
        return ws.csrf


def post(client: Any, url: str, data: dict[str, Any], *, token: bool = True) -> Any:
    body = dict(data)
    if token:
        body["csrf_token"] = token_of(client)
    return client.post(url, data=body)


def h1s(html: str) -> list[str]:
    return re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)


def error_beside(html: str, field: str) -> str:
    found = re.search(
        rf'<span class="field-error" id="error-{re.escape(field)}">(.*?)</span>', html
    )
    assert found, f"no error beside {field}"
    return found.group(1)


def count(db: Session, model: Any, *where: Any) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def base(scene: Scene) -> str:
    return f"/app/programs/{scene.pid}"


# --------------------------------------------------------------------------- enrol


def enrol_data(scene: Scene, **over: Any) -> dict[str, Any]:
    ai, social = scene.skills
    data: dict[str, Any] = {
        "consent": "1",
        "consent_version": scene.world.program.confidentiality_version,
        "role": "mentor",
        "capacity": "2",
        f"offered_{ai.id}": "4",
        f"offered_{social.id}": "",
        "languages": ["de", "en"],
        "other_languages": "fi",
        "weekdays": ["tue", "thu"],
        "hours": "9-12",
        "mode": "remote",
        "availability_note": "Not in August",
        "avoid": scene.a.mentee.email,
        "prefer": "",
    }
    data.update(over)
    return data


def test_enrol_page_renders_the_form(client: Any, login: Any, scene: Scene) -> None:
    login(scene.world.outsider)
    res = client.get(f"{base(scene)}/enrol")
    assert res.status_code == 200, res.text
    html = res.text
    assert len(h1s(html)) == 1
    assert '<main id="main" data-testid="enrol-page">' in html
    assert "What is said in the tandem stays there." in html
    for name in ("consent", "role", "capacity", "languages", "weekdays", "hours", "avoid"):
        assert f'id="field-{name}' in html, name
    assert "AI tools" in html
    assert 'name="csrf_token"' in html
    assert res.headers["Cache-Control"] == "private, no-store"
    # Every input has a label.
    for input_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html):
        assert f'for="{input_id}"' in html, input_id


def test_enrol_as_junior_records_everything_and_redirects(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    outsider = scene.world.outsider
    login(outsider)
    res = post(client, f"{base(scene)}/enrol", enrol_data(scene))
    assert res.status_code == 303, res.text
    assert res.headers["Location"].endswith(f"{base(scene)}/enrolment?done=enrolled")
    db_session.expire_all()
    e = db_session.scalars(select(Enrollment).where(Enrollment.person_id == outsider.id)).one()
    assert e.role.value == "mentor"
    assert e.topics_offered == {"AI": 4}
    assert e.topics_wanted == {}
    assert e.capacity == 2
    assert e.languages == ["de", "en", "fi"]
    assert e.availability == {
        "weekdays": ["tue", "thu"],
        "hours": "09-12",
        "mode": "remote",
        "note": "Not in August",
    }
    assert e.avoid_person_ids == [scene.a.mentee.id]
    assert e.consent_version == scene.world.program.confidentiality_version
    assert count(db_session, Consent, Consent.person_id == outsider.id) == 1
    page = client.get(res.headers["Location"]).text
    assert 'role="status"' in page
    assert "You are enrolled. Thank you for taking part!" in page
    assert "AI tools (level 4)" in page
    assert f"{scene.a.mentee.given_name} {scene.a.mentee.family_name}" in page


def test_enrol_errors_are_shown_beside_the_fields_and_nothing_is_written(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.world.outsider)
    data = enrol_data(scene, consent="", role="", hours="25-9", avoid="nobody@nowhere.example")
    res = post(client, f"{base(scene)}/enrol", data)
    assert res.status_code == 400
    html = res.text
    assert "please confirm that you agree" in error_beside(html, "consent")
    assert "junior or a senior" in error_beside(html, "role")
    assert "09-12" in error_beside(html, "hours")
    assert 'aria-invalid="true"' in html
    assert 'href="#field-consent"' in html  # the error summary links to the field
    assert count(db_session, Enrollment, Enrollment.person_id == scene.world.outsider.id) == 0
    # The second round: the schema passes, the people and topics do not.
    ai = scene.skills[0]
    data = enrol_data(scene, avoid="nobody@nowhere.example", **{f"offered_{ai.id}": ""})
    html = post(client, f"{base(scene)}/enrol", data).text
    assert "nobody@nowhere.example" in error_beside(html, "avoid")
    assert "at least one topic you can share" in html
    assert 'id="field-topics_offered"' in html
    assert count(db_session, Enrollment, Enrollment.person_id == scene.world.outsider.id) == 0


def test_senior_needs_wanted_topics_and_can_enrol(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.world.outsider)
    social = scene.skills[1]
    data = enrol_data(scene, role="mentee", capacity="3", avoid="")
    res = post(client, f"{base(scene)}/enrol", data)
    assert res.status_code == 400
    assert "at least one topic you want to learn" in res.text
    data[f"wanted_{social.id}"] = "5"
    assert post(client, f"{base(scene)}/enrol", data).status_code == 303
    e = db_session.scalars(
        select(Enrollment).where(Enrollment.person_id == scene.world.outsider.id)
    ).one()
    assert (e.role.value, e.topics_wanted, e.topics_offered, e.capacity) == (
        "mentee",
        {"SOCIAL": 5},
        {},
        1,
    )


def test_enrol_when_already_enrolled_is_refused(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    # One role per person in a one_to_one program.
    login(scene.a.mentor)
    assert "You are already enrolled in this program." in client.get(f"{base(scene)}/enrol").text
    data = enrol_data(scene, role="mentee", avoid="", **{f"wanted_{scene.skills[0].id}": "3"})
    res = post(client, f"{base(scene)}/enrol", data)
    assert res.status_code == 409
    assert 'data-testid="refusal"' in res.text
    assert "You are already enrolled in this program." in res.text
    assert count(db_session, Enrollment, Enrollment.person_id == scene.a.mentor.id) == 1


def test_enrol_refused_by_the_core_shows_its_reason(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    outsider = db_session.get(Person, scene.world.outsider.id)
    assert outsider is not None
    outsider.active = False
    db_session.commit()
    login(outsider)
    res = post(client, f"{base(scene)}/enrol", enrol_data(scene, avoid=""))
    assert res.status_code == 409
    assert "an inactive person cannot enrol" in res.text
    assert 'data-testid="refusal"' in res.text
    assert count(db_session, Enrollment, Enrollment.person_id == outsider.id) == 0


def test_enrol_with_a_stale_agreement_version_is_refused(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.world.outsider)
    res = post(client, f"{base(scene)}/enrol", enrol_data(scene, consent_version="0", avoid=""))
    assert res.status_code == 400
    assert "current version" in error_beside(res.text, "consent")
    assert count(db_session, Enrollment, Enrollment.person_id == scene.world.outsider.id) == 0


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_post_without_the_right_csrf_token_is_refused(
    client: Any, login: Any, scene: Scene, db_session: Session, token: str
) -> None:
    login(scene.world.outsider)
    data = enrol_data(scene, avoid="")
    if token == "wrong":
        data["csrf_token"] = "not-the-token"
    res = post(client, f"{base(scene)}/enrol", data, token=False)
    assert res.status_code == 400
    assert "did not come from Tandem" in res.text
    assert count(db_session, Enrollment, Enrollment.person_id == scene.world.outsider.id) == 0


def test_enrol_in_another_organizations_program_is_404(
    client: Any, login: Any, scene: Scene, make_org: Any, make_program: Any, db_session: Session
) -> None:
    other = make_program(make_org("other", "Other AG"), name="Their program")
    db_session.commit()
    login(scene.world.outsider)
    assert client.get(f"/app/programs/{other.id}/enrol").status_code == 404
    res = post(client, f"/app/programs/{other.id}/enrol", enrol_data(scene))
    assert res.status_code == 404
    assert "Their program" not in res.text


def test_no_session_gets_401(client: Any, scene: Scene) -> None:
    for url in ("/enrol", "/progress", f"/sessions/{scene.b_session_id}"):
        assert client.get(base(scene) + url).status_code == 401


def test_enrol_page_in_german(client: Any, login: Any, scene: Scene) -> None:
    login(scene.world.outsider, locale="de-DE")
    html = client.get(f"{base(scene)}/enrol").text
    assert '<html lang="de-DE">' in html
    assert "Soziale Medien" in html  # the skill's German name


def test_overview_and_home_link_to_enrolment(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    db_session.add(
        ProgramInvitation(
            org_id=scene.world.org.id,
            program_id=scene.pid,
            person_id=scene.world.outsider.id,
            source="nrps:1",
            invited_by="test",
        )
    )
    db_session.commit()
    login(scene.world.outsider)
    assert f'href="{base(scene)}/enrol"' in client.get(base(scene)).text
    assert f'href="{base(scene)}/enrol"' in client.get("/app/").text


# --------------------------------------------------------------------------- withdraw


def test_withdraw_explains_confirms_and_ends_the_tandem(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    a = scene.a
    login(a.mentee)
    url = f"{base(scene)}/enrolment/{a.mentee_enrollment.id}/withdraw"
    html = client.get(f"{base(scene)}/enrolment").text
    assert f'href="{url}"' in html
    page = client.get(url)
    assert page.status_code == 200
    assert "Your tandem ends early" in page.text
    assert "nobody's fault" in page.text
    res = post(client, url, {})
    assert res.status_code == 400
    assert "want to withdraw" in error_beside(res.text, "confirm")
    res = post(client, url, {"confirm": "1"})
    assert res.status_code == 303
    db_session.expire_all()
    enrollment = db_session.get(Enrollment, a.mentee_enrollment.id)
    assert enrollment is not None
    assert enrollment.status is EnrollmentStatus.WITHDRAWN
    tandem = db_session.get(Tandem, a.tandem.id)
    assert tandem is not None
    assert (tandem.status, tandem.no_fault) == (TandemStatus.DISSOLVED, True)
    assert "You have withdrawn from the program." in client.get(res.headers["Location"]).text
    # Again: already withdrawn, the page says so and the core refuses a second POST.
    assert "You withdrew from this program on" in client.get(url).text
    assert post(client, url, {"confirm": "1"}).status_code == 409


def test_withdrawing_someone_elses_enrollment_is_403(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.b.mentor)
    url = f"{base(scene)}/enrolment/{scene.a.mentee_enrollment.id}/withdraw"
    assert client.get(url).status_code == 403
    assert post(client, url, {"confirm": "1"}).status_code == 403
    assert count(db_session, Enrollment, Enrollment.status == EnrollmentStatus.WITHDRAWN) == 0


# --------------------------------------------------------------------------- tandem start


def test_respond_accept_and_decline(
    client: Any, login: Any, scene: Scene, make_pair: Any, db_session: Session
) -> None:
    proposed = make_pair("proposed")
    db_session.commit()
    url = f"{base(scene)}/tandems/{proposed.tandem.id}"
    login(proposed.mentor)
    html = client.get(url).text
    assert 'data-testid="respond"' in html
    assert f'href="{url}"' in client.get(f"{base(scene)}/me").text
    res = post(client, f"{url}/respond", {})
    assert res.status_code == 400
    assert "accept or decline" in error_beside(res.text, "decision")
    res = post(client, f"{url}/respond", {"decision": "accept"})
    assert res.status_code == 303
    assert "You accepted the match." in client.get(res.headers["Location"]).text
    # The partner declines: a reason is needed.
    login(proposed.mentee)
    res = post(client, f"{url}/respond", {"decision": "decline"})
    assert res.status_code == 400
    assert "why you decline" in error_beside(res.text, "reason")
    assert (
        post(client, f"{url}/respond", {"decision": "decline", "reason": "Too busy"}).status_code
        == 303
    )
    db_session.expire_all()
    tandem = db_session.get(Tandem, proposed.tandem.id)
    assert tandem is not None
    assert tandem.status is TandemStatus.REJECTED
    # Answering twice: the core's refusal is shown.
    res = post(client, f"{url}/respond", {"decision": "accept"})
    assert res.status_code == 409
    assert "cannot be accepted or declined" in res.text


def test_unapproved_proposal_hides_the_partner_and_takes_no_answer(
    client: Any, login: Any, scene: Scene, make_pair: Any, db_session: Session
) -> None:
    draft = make_pair("proposed", approved=False)
    db_session.commit()
    url = f"{base(scene)}/tandems/{draft.tandem.id}"
    login(draft.mentor)
    html = client.get(url).text
    assert "have not confirmed this match yet" in html
    assert f"{draft.mentee.given_name} {draft.mentee.family_name}" not in html
    res = post(client, f"{url}/respond", {"decision": "accept"})
    assert res.status_code == 409
    assert 'data-testid="refusal"' in res.text
    assert "waiting for a coordinator to approve" in res.text


def test_confidentiality_and_kickoff_activate_the_tandem(
    client: Any, login: Any, scene: Scene, make_pair: Any, db_session: Session
) -> None:
    pair = make_pair("accepted")
    db_session.commit()
    url = f"{base(scene)}/tandems/{pair.tandem.id}"
    for person in (pair.mentor, pair.mentee):
        login(person)
        res = post(client, f"{url}/confidentiality", {"version": "1"})
        assert res.status_code == 400
        assert "accept the confidentiality agreement" in error_beside(res.text, "accept")
        version = scene.world.program.confidentiality_version
        res = post(client, f"{url}/confidentiality", {"accept": "1", "version": version})
        assert res.status_code == 303
    res = post(client, f"{url}/kickoff", {"expectations": "", "meeting_mode": "owl"})
    assert res.status_code == 400
    assert error_beside(res.text, "expectations")
    assert "how you will meet" in error_beside(res.text, "meeting_mode")
    data = {
        "expectations": "Honest feedback, monthly",
        "meeting_mode": "video",
        "goals": "Use AI for reports\nPost on the intranet",
    }
    res = post(client, f"{url}/kickoff", data)
    assert res.status_code == 303
    db_session.expire_all()
    tandem = db_session.get(Tandem, pair.tandem.id)
    assert tandem is not None
    assert tandem.status is TandemStatus.ACTIVE
    assert count(db_session, Goal, Goal.tandem_id == pair.tandem.id) == 2
    html = client.get(res.headers["Location"]).text
    assert "Your kick-off is recorded." in html
    assert "Honest feedback, monthly" in html
    assert f'href="{url}/sessions/new"' in html


def test_another_tandems_pages_are_403(client: Any, login: Any, scene: Scene) -> None:
    login(scene.b.mentor)
    a = scene.a.tandem.id
    for url in (f"/tandems/{a}", f"/tandems/{a}/goals", f"/tandems/{a}/sessions/new"):
        res = client.get(base(scene) + url)
        assert res.status_code == 403, url
        assert len(h1s(res.text)) == 1
    assert (
        post(client, f"{base(scene)}/tandems/{a}/kickoff", {"expectations": "x"}).status_code == 403
    )


def test_tandem_of_another_organization_is_404(
    client: Any, login: Any, scene: Scene, make_org: Any, make_person: Any, db_session: Session
) -> None:
    other = make_org("other", "Other AG")
    stranger = make_person(other)
    db_session.commit()
    login(stranger)
    # The program is not theirs (404) — and neither is the tandem behind it.
    assert client.get(f"{base(scene)}/tandems/{scene.a.tandem.id}").status_code == 404
    assert client.get(f"{base(scene)}/sessions/{scene.b_session_id}").status_code == 404


def test_tandem_of_another_program_is_404(
    client: Any, login: Any, scene: Scene, make_program: Any, make_pair: Any, db_session: Session
) -> None:
    second = make_program(scene.world.org, name="Second program")
    pair = make_pair(program=second)
    db_session.commit()
    login(pair.mentor)
    assert client.get(f"{base(scene)}/tandems/{pair.tandem.id}").status_code == 404


# --------------------------------------------------------------------------- sessions


def test_plan_a_session_in_the_persons_time_zone(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    a = scene.a
    login(a.mentor)
    url = f"{base(scene)}/tandems/{a.tandem.id}"
    page = client.get(f"{url}/sessions/new").text
    assert "Times are in your time zone: Europe/Berlin." in page
    data = {"scheduled_at": "2026-03-20T14:30", "planned_minutes": "45", "topic": "Prompting"}
    res = post(client, f"{url}/sessions/plan", data)
    assert res.status_code == 303, res.text
    row = db_session.scalars(
        select(MentoringSession).where(MentoringSession.tandem_id == a.tandem.id)
    ).one()
    assert row.scheduled_at == datetime(2026, 3, 20, 13, 30, tzinfo=UTC)  # CET = UTC+1
    assert (row.planned_minutes, row.topic, row.status) == (45, "Prompting", SessionStatus.PLANNED)
    assert res.headers["Location"].endswith(f"/sessions/{row.id}?done=planned")
    html = client.get(res.headers["Location"]).text
    assert "The session is planned." in html
    assert "20 March 2026, 14:30 CET" in html


def test_plan_errors(client: Any, login: Any, scene: Scene, db_session: Session) -> None:
    a = scene.a
    login(a.mentor)
    url = f"{base(scene)}/tandems/{a.tandem.id}/sessions/plan"
    res = post(client, url, {"scheduled_at": "", "planned_minutes": "0"})
    assert res.status_code == 400
    assert "date and time" in error_beside(res.text, "scheduled_at")
    assert "1 to 480" in error_beside(res.text, "planned_minutes")
    # Clocks jump from 02:00 to 03:00 in Berlin on 29 March 2026.
    res = post(client, url, {"scheduled_at": "2026-03-29T02:30"})
    assert res.status_code == 400
    assert "does not exist in your time zone" in error_beside(res.text, "scheduled_at")
    # Outside the program: the core's reason beside the field.
    res = post(client, url, {"scheduled_at": "2027-01-10T10:00"})
    assert res.status_code == 400
    assert "outside program" in error_beside(res.text, "scheduled_at")
    assert count(db_session, MentoringSession, MentoringSession.tandem_id == a.tandem.id) == 0


def test_log_hold_and_cancel_sessions(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    a = scene.a
    login(a.mentee)
    url = f"{base(scene)}/tandems/{a.tandem.id}/sessions"
    res = post(client, f"{url}/log", {"held_at": "2026-03-05T10:00"})
    assert res.status_code == 400
    assert "how many minutes" in error_beside(res.text, "minutes")
    res = post(client, f"{url}/log", {"held_at": "2026-03-05T10:00", "minutes": "50"})
    assert res.status_code == 303
    logged = db_session.scalars(
        select(MentoringSession).where(MentoringSession.tandem_id == a.tandem.id)
    ).one()
    assert (logged.status, logged.minutes) == (SessionStatus.HELD, 50)
    # Plan two, hold one, cancel the other.
    for when in ("2026-03-10T10:00", "2026-04-10T10:00"):
        assert post(client, f"{url}/plan", {"scheduled_at": when}).status_code == 303
    db_session.expire_all()
    past, future = db_session.scalars(
        select(MentoringSession)
        .where(MentoringSession.status == SessionStatus.PLANNED)
        .order_by(MentoringSession.scheduled_at)
    ).all()
    session_url = f"{base(scene)}/sessions"
    html = client.get(f"{session_url}/{past.id}").text
    assert 'value="2026-03-10T10:00"' in html  # held_at defaults to the planned time
    res = post(client, f"{session_url}/{past.id}/hold", {"minutes": "40", "held_topic": "Teams"})
    assert res.status_code == 303
    assert "Please give your feedback below." in client.get(res.headers["Location"]).text
    res = post(client, f"{session_url}/{future.id}/cancel", {"reason": ""})
    assert res.status_code == 400
    assert "only your tandem sees it" in error_beside(res.text, "reason")
    res = post(client, f"{session_url}/{future.id}/cancel", {"reason": "Travelling"})
    assert res.status_code == 303
    db_session.expire_all()
    assert db_session.get(MentoringSession, past.id).status is SessionStatus.HELD  # type: ignore[union-attr]
    cancelled = db_session.get(MentoringSession, future.id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.cancel_reason) == (SessionStatus.CANCELLED, "Travelling")
    # Holding a cancelled session: the core refuses, and the form is gone from the page.
    res = post(client, f"{session_url}/{future.id}/hold", {"minutes": "40"})
    assert res.status_code == 409
    assert "only a planned session can be marked held" in res.text
    log = client.get(f"{base(scene)}/sessions").text
    assert f'href="{session_url}/{future.id}"' in log


def test_notes_are_for_the_tandem_only(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    url = f"{base(scene)}/sessions/{scene.b_session_id}"
    login(scene.b.mentee)
    assert NOTES_B in client.get(url).text
    res = post(client, f"{url}/notes", {"notes": "We will try the wiki."})
    assert res.status_code == 303
    db_session.expire_all()
    row = db_session.get(MentoringSession, scene.b_session_id)
    assert row is not None
    assert row.private_notes == "We will try the wiki."
    # A member of another tandem: 403 on reading and on writing; nothing changes.
    login(scene.a.mentor)
    res = client.get(url)
    assert res.status_code == 403
    assert "We will try the wiki." not in res.text
    assert len(h1s(res.text)) == 1
    assert post(client, f"{url}/notes", {"notes": "overwritten"}).status_code == 403
    db_session.expire_all()
    assert db_session.get(MentoringSession, scene.b_session_id).private_notes == (  # type: ignore[union-attr]
        "We will try the wiki."
    )


def test_session_of_another_organization_is_404(
    client: Any, login: Any, scene: Scene, make_org: Any, make_person: Any, db_session: Session
) -> None:
    login(scene.a.mentor)
    assert client.get(f"{base(scene)}/sessions/999999").status_code == 404


def test_feedback_once_with_pulse_for_the_junior(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    url = f"{base(scene)}/sessions/{scene.b_session_id}"
    login(scene.b.mentor)
    html = client.get(url).text
    assert 'id="field-safety_pulse"' in html
    res = post(client, f"{url}/feedback", {"rating": "9"})
    assert res.status_code == 400
    assert "from 1 to 5" in error_beside(res.text, "rating")
    data = {"rating": "4", "safety_pulse": "5", "comment": "Great demo", "shared": "1"}
    res = post(client, f"{url}/feedback", data)
    assert res.status_code == 303
    assert "Thank you for your feedback." in client.get(res.headers["Location"]).text
    fb = db_session.scalars(select(Feedback).where(Feedback.session_id == scene.b_session_id)).one()
    assert (fb.rating, fb.safety_pulse, fb.comment, fb.shared_with_partner) == (
        4,
        5,
        "Great demo",
        True,
    )
    assert 'id="field-rating"' not in client.get(url).text  # once per person and session
    res = post(client, f"{url}/feedback", {"rating": "5"})
    assert res.status_code == 409
    assert "feedback is given once" in res.text
    # The senior: no pulse question; sees the shared comment, never the rating.
    login(scene.b.mentee)
    html = client.get(url).text
    assert 'id="field-safety_pulse"' not in html
    assert "Great demo" in html
    assert "Rating: 4 of 5" not in html
    res = post(client, f"{url}/feedback", {"rating": "3", "safety_pulse": "2"})
    assert res.status_code == 400  # a crafted POST: the senior's form has no pulse
    assert "the safety pulse is the junior" in res.text
    # The feedback page links to the form.
    assert f'href="{url}#feedback-title"' in client.get(f"{base(scene)}/feedback").text


def test_feedback_on_a_planned_session_is_refused(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    planned = sessions.plan_session(
        db_session,
        scene.a.mentor_actor,
        scene.a.tandem.id,
        scheduled_at=T0 + timedelta(days=20),
        now=T0,
    )
    db_session.commit()
    login(scene.a.mentor)
    res = post(client, f"{base(scene)}/sessions/{planned.id}/feedback", {"rating": "4"})
    assert res.status_code == 409
    assert "feedback opens once it has been held" in res.text


# --------------------------------------------------------------------------- goals


def test_goals_and_actions(client: Any, login: Any, scene: Scene, db_session: Session) -> None:
    a = scene.a
    url = f"{base(scene)}/tandems/{a.tandem.id}"
    login(a.mentor)
    assert f'href="{url}/goals"' in client.get(f"{base(scene)}/me").text
    res = post(client, f"{url}/goals", {"title": ""})
    assert res.status_code == 400
    assert "name the goal" in error_beside(res.text, "title")
    data = {"title": "Weekly AI report", "due_on": "2026-06-30"}
    assert post(client, f"{url}/goals", data).status_code == 303
    res = post(client, f"{url}/goals", {"title": "weekly ai REPORT"})
    assert res.status_code == 400
    assert "already has a goal" in error_beside(res.text, "title")
    goal = db_session.scalars(select(Goal).where(Goal.tandem_id == a.tandem.id)).one()
    res = post(client, f"{url}/goals/{goal.id}/status", {"status": "met"})
    assert res.status_code == 303
    db_session.expire_all()
    assert db_session.get(Goal, goal.id).status.value == "met"  # type: ignore[union-attr]
    # The junior does not log actions: no form, and the core refuses a POST.
    html = client.get(f"{url}/goals").text
    assert "Your senior logs the actions" in html
    res = post(client, f"{url}/actions", {"action_description": "x", "taken_on": "2026-03-10"})
    assert res.status_code == 403
    assert "only the senior" in res.text
    # The senior logs one, credited to the junior.
    login(a.mentee)
    res = post(client, f"{url}/actions", {"action_description": "", "taken_on": "soon"})
    assert res.status_code == 400
    assert error_beside(res.text, "action_description")
    assert "2026-06-30" in error_beside(res.text, "taken_on")
    data = {"action_description": "I post weekly on the intranet", "taken_on": "2026-03-11"}
    res = post(client, f"{url}/actions", data)
    assert res.status_code == 303
    action = db_session.scalars(select(Action).where(Action.tandem_id == a.tandem.id)).one()
    assert (action.senior_id, action.credited_mentor_id) == (a.mentee.id, a.mentor.id)
    html = client.get(res.headers["Location"]).text
    assert "I post weekly on the intranet" in html
    assert f"{a.mentor.given_name} {a.mentor.family_name}" in html


def test_goal_of_another_tandem_is_403(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    goal = tandems.add_goal(
        db_session, scene.b.mentor_actor, scene.b.tandem.id, title="B's goal", now=T0
    )
    db_session.commit()
    login(scene.a.mentor)
    url = f"{base(scene)}/tandems/{scene.a.tandem.id}/goals/{goal.id}/status"
    assert post(client, url, {"status": "dropped"}).status_code == 403
    db_session.expire_all()
    assert db_session.get(Goal, goal.id).status.value == "open"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- assessments


def levels(scene: Scene, ai: str = "2", social: str = "3") -> dict[str, str]:
    first, second = scene.skills
    return {f"level_{first.id}": ai, f"level_{second.id}": social}


def test_pre_assessment_once(client: Any, login: Any, scene: Scene, db_session: Session) -> None:
    login(scene.a.mentor)
    url = f"{base(scene)}/self-assessment/pre"
    assert f'href="{url}"' in client.get(f"{base(scene)}/self-assessment").text
    html = client.get(url).text
    assert len(h1s(html)) == 1
    assert f'id="field-level_{scene.skills[0].id}"' in html
    res = post(client, url, {f"level_{scene.skills[0].id}": "2"})
    assert res.status_code == 400
    assert "level from 1 to 5" in error_beside(res.text, f"level_{scene.skills[1].id}")
    assert count(db_session, Assessment) == 0
    res = post(client, url, levels(scene))
    assert res.status_code == 303
    assert count(db_session, Assessment) == 1
    html = client.get(res.headers["Location"]).text
    assert "Your self-assessment is submitted." in html
    assert "Submitted on 12 March 2026" in html
    res = post(client, url, levels(scene))
    assert res.status_code == 409
    assert "already submitted" in res.text
    assert count(db_session, Assessment) == 1


def test_assessment_not_open_shows_the_core_reason(client: Any, login: Any, scene: Scene) -> None:
    login(scene.a.mentor)
    html = client.get(f"{base(scene)}/self-assessment/follow_up").text
    assert "This self-assessment is not open for you at the moment." in html
    assert "comes after the post-assessment" in html
    login(scene.world.outsider)
    assert (
        "You are not taking part in this program"
        in client.get(f"{base(scene)}/self-assessment/pre").text
    )
    assert post(client, f"{base(scene)}/self-assessment/pre", levels(scene)).status_code == 403


def test_survey(client: Any, login: Any, scene: Scene, db_session: Session) -> None:
    login(scene.a.mentee)
    url = f"{base(scene)}/survey"
    assert f'href="{url}"' in client.get(f"{base(scene)}/self-assessment").text
    res = post(client, url, {"satisfaction": "4"})
    assert res.status_code == 400
    assert "yes or no" in error_beside(res.text, "relationship_formed")
    data = {
        "satisfaction": "4",
        "relationship_formed": "yes",
        "would_continue": "no",
        "would_do_again": "yes",
        "comment": "Good",
    }
    res = post(client, url, data)
    assert res.status_code == 303
    answer = db_session.scalars(select(SurveyAnswer)).one()
    assert (answer.satisfaction, answer.relationship_formed, answer.would_continue) == (
        4,
        True,
        False,
    )
    assert "Thank you for answering the survey." in client.get(res.headers["Location"]).text
    assert post(client, url, data).status_code == 409


# --------------------------------------------------------------------------- progress


def test_progress_until_completion(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    a = scene.a
    programs.update_program(
        db_session,
        scene.world.program,
        actor="test",
        changes={
            "completion_rule": {
                "min_sessions": 2,
                "min_minutes": 45,
                "require_post_assessment": True,
            }
        },
    )
    sessions.log_session(
        db_session, a.mentor_actor, a.tandem.id, held_at=T0, minutes=60, now=PAGE_NOW
    )
    sessions.log_session(
        db_session,
        a.mentor_actor,
        a.tandem.id,
        held_at=T0 + timedelta(days=1),
        minutes=30,
        now=PAGE_NOW,
    )
    db_session.commit()
    login(a.mentor)
    url = f"{base(scene)}/progress"
    html = client.get(url).text
    assert "1 of 2 sessions of at least 45 minutes" in html
    assert "90 minutes (1.5 hours)" in html
    assert "1 more session of at least 45 minutes" in html
    login(a.mentor, locale="de")
    german = client.get(url).text
    assert "90 Minuten (1,5 Stunden)" in german
    login(a.mentor)
    assert "the post-assessment" in html
    assert f'href="{base(scene)}/self-assessment/post"' in html
    # A third session and the post-assessment complete the program.
    sessions.log_session(
        db_session,
        a.mentor_actor,
        a.tandem.id,
        held_at=T0 + timedelta(days=2),
        minutes=50,
        now=PAGE_NOW,
    )
    db_session.commit()
    res = post(client, f"{base(scene)}/self-assessment/post", levels(scene, "4", "4"))
    assert res.status_code == 303
    assert count(db_session, Completion) == 1
    html = client.get(url).text
    assert "You completed the program on 12 March 2026." in html
    assert "Still missing" not in html


def test_progress_in_german_and_not_enrolled(client: Any, login: Any, scene: Scene) -> None:
    login(scene.a.mentor, locale="de")
    res = client.get(f"{base(scene)}/progress")
    assert res.status_code == 200
    assert '<html lang="de">' in res.text
    login(scene.world.outsider)
    assert "You are not taking part in this program" in client.get(f"{base(scene)}/progress").text


# --------------------------------------------------------------------------- markup


def check_markup(html: str) -> None:
    """One h1, unique ids, every control labelled, no positive tabindex, tables wrapped."""
    assert len(h1s(html)) == 1
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for control in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in control:
            continue
        found = re.search(r'\sid="([^"]+)"', control)
        assert found, control
        assert f'<label for="{found.group(1)}"' in html, control
    assert not re.search(r'tabindex="[1-9]', html)
    assert html.count("<table") == html.count('<div class="table-wrap">')
    for ref in re.findall(r'aria-(?:describedby|labelledby)="([^"]+)"', html):
        for target in ref.split():
            assert f'id="{target}"' in html, target


def test_every_page_is_well_formed(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    a = scene.a
    planned = sessions.plan_session(
        db_session, a.mentor_actor, a.tandem.id, scheduled_at=T0 + timedelta(days=20), now=T0
    )
    held = sessions.log_session(
        db_session, a.mentor_actor, a.tandem.id, held_at=T0, minutes=50, now=T0
    )
    tandems.add_goal(db_session, a.mentor_actor, a.tandem.id, title="A goal", now=T0)
    db_session.commit()
    urls = [
        "/enrol",
        "/enrolment",
        f"/tandems/{a.tandem.id}",
        f"/tandems/{a.tandem.id}/sessions/new",
        f"/sessions/{planned.id}",
        f"/sessions/{held.id}",
        f"/tandems/{a.tandem.id}/goals",
        "/self-assessment/pre",
        "/survey",
        "/progress",
    ]
    for person, enrollment in ((a.mentor, a.mentor_enrollment), (a.mentee, a.mentee_enrollment)):
        login(person)
        for url in [*urls, f"/enrolment/{enrollment.id}/withdraw"]:
            res = client.get(base(scene) + url)
            assert res.status_code == 200, (url, res.text)
            check_markup(res.text)
    # Pages re-rendered with errors keep the same guarantees.
    for url, data in (
        (f"/sessions/{planned.id}/hold", {"minutes": "x", "held_at": "soon"}),
        (f"/sessions/{held.id}/feedback", {"rating": "7"}),
        (f"/tandems/{a.tandem.id}/goals", {"title": ""}),
        (f"/tandems/{a.tandem.id}/actions", {"taken_on": "x"}),
        ("/survey", {}),
    ):
        res = post(client, base(scene) + url, data)
        assert res.status_code == 400, url
        check_markup(res.text)
        assert 'role="alert"' in res.text
    login(scene.world.outsider)
    check_markup(client.get(f"{base(scene)}/enrol").text)
    res = post(client, f"{base(scene)}/enrol", {"role": "mentee", "hours": "x"})
    assert res.status_code == 400
    check_markup(res.text)

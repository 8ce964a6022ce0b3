"""The coordinator's pages: programs, enrollments and invitations, matching, follow-up,
the outcome report and the write-back status — through a real browser session.

A session is started by a test-only route that calls :func:`lti.web_session.start`, as a
validated launch would, and answers with the session's CSRF token. The data is built with
the tracking builders in a session that commits for real (the ``app`` fixture wipes the
database after each test). The pages' clock is :data:`PAGE_NOW`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from lti import pages, pages_coordinator
from plugin.models import (
    AlertStatus,
    AuditEvent,
    Connection,
    ConnectionKind,
    LtiLink,
    LtiRegistration,
    MatchRun,
    MatchRunStatus,
    OutboxMessage,
    OutboxStatus,
    PersonIdentity,
    Program,
    ProgramCoordinator,
    ProgramInvitation,
    ProgramStatus,
    Skill,
    SkillCategory,
    Tandem,
    TandemStatus,
)
from plugin.services import alerts, enrollments, programs, sessions
from tests.lti.web_login import install_test_login
from tests.plugin.tracking import conftest as tracking

world = tracking.world
make_pair = tracking.make_pair
T0 = tracking.T0

PAGE_NOW = T0 + timedelta(days=10)  # 2026-03-12 09:00 UTC
BASE = "/app/coordinate"


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    """Overrides the rolled-back session: the app reads committed rows only."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture(autouse=True)
def _committed_world(db_session: Session, world: Any) -> None:
    """The program, its coordinator and an outsider, committed for the app to read."""
    db_session.commit()


@pytest.fixture
def login(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``login(person, role, locale=…, link=…)`` starts a session; returns its CSRF token."""
    monkeypatch.setattr(pages, "_now", lambda: PAGE_NOW)
    monkeypatch.setattr(pages_coordinator, "_now", lambda: PAGE_NOW)
    return install_test_login(app, client, default_role="coordinator")


@pytest.fixture
def catalogue(db_session: Session, world: Any) -> list[Skill]:
    rows = [
        Skill(org_id=world.org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY),
        Skill(
            org_id=world.org.id,
            code="SOCIAL",
            name="Social media",
            name_de="Soziale Medien",
            category=SkillCategory.TECHNOLOGY,
        ),
    ]
    db_session.add_all(rows)
    db_session.commit()
    return rows


def h1s(html: str) -> list[str]:
    return re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)


def count(db: Session, model: type, *where: Any) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def program_form(token: str, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token,
        "name": "Digital Leaders 2027",
        "description": "Juniors show seniors the tools they use.",
        "format": "one_to_one",
        "starts_on": "2027-01-01",
        "ends_on": "2027-07-01",
        "cadence_days": "30",
        "min_session_minutes": "45",
        "target_sessions": "6",
        "require_senior_consent": "1",
        "confidentiality_text": "What is said in the tandem stays there.",
        "theme_1": "New tools",
        "theme_2": "Team culture",
        "objective": "most_matched",
        "weight_topic_fit": "0.5",
        "weight_cross_department": "0,2",
        "weight_seniority_gap": "0.1",
        "weight_shared_language": "0.1",
        "weight_timezone": "0.1",
        "weight_preference": "0.1",
        "weight_previous_pairing_penalty": "0.3",
        "max_timezone_hours": "3",
        "band_min": "2",
        "band_max": "12",
        "seniors_min": "1",
        "seniors_max": "2",
        "juniors_min": "3",
        "juniors_max": "4",
        "min_sessions": "5",
        "min_minutes": "40",
        "require_post_assessment": "1",
        "assessment_skills": ["AI"],
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


# --------------------------------------------------------------------------- access


COORDINATOR_PAGES = (
    "",
    "/edit",
    "/enrollments",
    "/enrollments/hris",
    "/matching",
    "/follow-up",
    "/report",
    "/report.csv",
    "/report.json",
    "/writeback",
)


def test_no_session_gets_401(client: Any, world: Any) -> None:
    assert client.get(f"{BASE}/").status_code == 401
    assert client.get(f"{BASE}/programs/{world.program.id}/matching").status_code == 401


def test_participant_gets_403_on_every_program_page(client: Any, login: Any, world: Any) -> None:
    login(world.outsider, "participant")
    for page in COORDINATOR_PAGES:
        res = client.get(f"{BASE}/programs/{world.program.id}{page}")
        assert res.status_code == 403, page
        assert "for program coordinators" in res.text


def test_participant_cannot_list_or_create_programs(
    client: Any, login: Any, world: Any, db_session: Session
) -> None:
    token = login(world.outsider, "participant")
    assert client.get(f"{BASE}/").status_code == 403
    assert client.get(f"{BASE}/programs/new").status_code == 403
    res = client.post(f"{BASE}/programs/new", data=program_form(token))
    assert res.status_code == 403
    assert count(db_session, Program) == 1


def test_program_of_another_organization_is_404(
    client: Any, login: Any, world: Any, make_org: Any, make_program: Any, db_session: Session
) -> None:
    other = make_program(make_org("other", "Other AG"), name="Their program")
    db_session.commit()
    login(world.coordinator)
    for page in COORDINATOR_PAGES:
        res = client.get(f"{BASE}/programs/{other.id}{page}")
        assert res.status_code == 404, page
        assert "Their program" not in res.text


def test_coordinator_of_another_program_gets_403(
    client: Any, login: Any, world: Any, make_program: Any, db_session: Session
) -> None:
    theirs = make_program(world.org, name="Not mine")
    db_session.commit()
    login(world.coordinator)
    res = client.get(f"{BASE}/programs/{theirs.id}/matching")
    assert res.status_code == 403
    assert "You do not coordinate this program" in res.text
    assert "Not mine" not in client.get(f"{BASE}/").text


def test_unknown_program_is_404(client: Any, login: Any, world: Any) -> None:
    login(world.coordinator)
    assert client.get(f"{BASE}/programs/999999").status_code == 404


# --------------------------------------------------------------------------- programs


def test_programs_page_lists_coordinated_programs_with_counts(
    client: Any, login: Any, world: Any, make_pair: Any, db_session: Session
) -> None:
    make_pair()
    db_session.commit()
    login(world.coordinator)
    res = client.get(f"{BASE}/")
    assert res.status_code == 200
    html = res.text
    assert h1s(html) == ["Programs you coordinate"]
    assert f'href="{BASE}/programs/{world.program.id}"' in html
    assert world.program.name in html
    assert "Running" in html
    assert '<td class="num">2</td>' in html  # two people enrolled
    assert res.headers["Cache-Control"] == "private, no-store"


def test_create_program_makes_a_draft_the_creator_coordinates(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    form_page = client.get(f"{BASE}/programs/new")
    assert form_page.status_code == 200
    assert h1s(form_page.text) == ["Create a program"]
    assert '<label for="field-name">Name' in form_page.text
    assert 'id="field-assessment_skills-1"' in form_page.text

    res = client.post(f"{BASE}/programs/new", data=program_form(token))
    assert res.status_code == 303
    program = db_session.scalar(select(Program).where(Program.name == "Digital Leaders 2027"))
    assert program is not None
    assert res.headers["Location"].endswith(f"{BASE}/programs/{program.id}?done=created")
    assert program.status is ProgramStatus.DRAFT
    assert program.theme_plan == [
        {"month": 1, "theme": "New tools"},
        {"month": 2, "theme": "Team culture"},
    ]
    assert program.matching_settings["objective"] == "most_matched"
    assert program.matching_settings["weights"]["cross_department"] == pytest.approx(0.2)
    assert program.matching_settings["max_timezone_hours"] == pytest.approx(3.0)
    assert program.completion_rule == {
        "min_sessions": 5,
        "min_minutes": 40,
        "require_post_assessment": True,
    }
    assert program.assessment_skills == ["AI"]
    assert program.min_session_minutes == 45
    assert (
        count(
            db_session,
            ProgramCoordinator,
            ProgramCoordinator.program_id == program.id,
            ProgramCoordinator.person_id == world.coordinator.id,
        )
        == 1
    )
    page = client.get(res.headers["Location"])
    assert page.status_code == 200
    assert "The program was created in preparation" in page.text
    assert 'role="status"' in page.text


def test_create_program_without_themes_gets_the_default_themes(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    res = client.post(f"{BASE}/programs/new", data=program_form(token, theme_1="", theme_2=""))
    assert res.status_code == 303
    program = db_session.scalar(select(Program).where(Program.name == "Digital Leaders 2027"))
    assert program is not None
    assert [t["theme"] for t in program.theme_plan][:2] == ["Developer experience", "New tools"]


def test_a_german_coordinator_gets_the_default_themes_in_german(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator, locale="de-DE")
    res = client.post(f"{BASE}/programs/new", data=program_form(token, theme_1="", theme_2=""))
    assert res.status_code == 303
    program = db_session.scalar(select(Program).where(Program.name == "Digital Leaders 2027"))
    assert program is not None
    assert [t["theme"] for t in program.theme_plan][:2] == [
        "Developer Experience",
        "Neue Werkzeuge",
    ]


INVALID_PROGRAM_FORMS = [
    {
        "name": ("", "“Name” is required."),
        "weight_topic_fit": ("11", "“Topic fit” must be a number from 0 to 10."),
        "cadence_days": ("abc", "“Cadence in days” must be a whole number."),
        "band_min": ("9", None),
        "band_max": ("3", "“Largest grade gap (senior minus junior)” must not be below"),
        "theme_9": ("Too late", "Month 9: the program has only 6 months"),
        "assessment_skills": (["NOPE"], "Choose skills from your organization"),
        "max_timezone_hours": ("25", "must be a number from 0 to 24."),
    },
    {
        "starts_on": ("1.1.2027", "“Starts on” must be a date (YYYY-MM-DD)."),
        "juniors_min": ("5", "“Juniors per group, at least” must be a whole number from 3 to 4."),
        "confidentiality_text": ("x" * 20_001, "may have at most 20000 characters."),
    },
    {"ends_on": ("2026-12-01", "The program must end after it starts.")},
]


@pytest.mark.parametrize("bad", INVALID_PROGRAM_FORMS)
def test_invalid_program_form_shows_each_error_beside_its_field_and_writes_nothing(
    client: Any,
    login: Any,
    world: Any,
    catalogue: Any,
    db_session: Session,
    bad: dict[str, tuple[Any, str | None]],
) -> None:
    token = login(world.coordinator)
    values = {name: value for name, (value, _message) in bad.items()}
    res = client.post(f"{BASE}/programs/new", data=program_form(token, **values))
    assert res.status_code == 400
    html = res.text
    for field, (_value, message) in bad.items():
        if message is None:
            continue
        assert f'id="error-{field}"' in html, field
        assert message in html, field
        assert f'href="#field-{field}"' in html, field
    assert 'aria-invalid="true"' in html
    assert count(db_session, Program) == 1


def test_cross_field_errors_show_together_with_field_errors(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    form = program_form(token, name="", ends_on="2026-12-01", juniors_min="4", juniors_max="3")
    res = client.post(f"{BASE}/programs/new", data=form)
    assert res.status_code == 400
    for field in ("name", "ends_on", "juniors_max"):
        assert f'id="error-{field}"' in res.text
    assert count(db_session, Program) == 1


def test_duplicate_program_name_is_refused_by_the_core_beside_the_name(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    res = client.post(f"{BASE}/programs/new", data=program_form(token, name=world.program.name))
    assert res.status_code == 409
    assert 'id="error-name"' in res.text
    assert "A program with this name already exists" in res.text
    assert count(db_session, Program) == 1


def test_post_without_or_with_a_wrong_csrf_token_is_refused(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    missing = program_form(token)
    del missing["csrf_token"]
    assert client.post(f"{BASE}/programs/new", data=missing).status_code == 400
    wrong = program_form("forged")
    res = client.post(f"{BASE}/programs/new", data=wrong)
    assert res.status_code == 400
    assert "did not come from Tandem" in res.text
    res = client.post(f"{BASE}/programs/{world.program.id}/status", data={"status": "matching"})
    assert res.status_code == 400
    assert count(db_session, Program) == 1
    db_session.refresh(world.program)
    assert world.program.status is ProgramStatus.ENROLLING


def test_edit_program_prefills_and_saves_a_new_agreement_version(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    page = client.get(f"{BASE}/programs/{world.program.id}/edit")
    assert page.status_code == 200
    assert f'value="{world.program.name}"' in page.text
    assert 'value="2026-03-01"' in page.text
    version = world.program.confidentiality_version
    form = program_form(
        token,
        name="Reverse Mentoring 2026 (renamed)",
        starts_on="2026-03-01",
        ends_on="2026-09-01",
        confidentiality_text="A new agreement.",
    )
    res = client.post(f"{BASE}/programs/{world.program.id}/edit", data=form)
    assert res.status_code == 303
    assert res.headers["Location"].endswith("?done=updated")
    db_session.refresh(world.program)
    assert world.program.name == "Reverse Mentoring 2026 (renamed)"
    assert world.program.confidentiality_version == str(int(version) + 1)
    assert world.program.matching_settings["objective"] == "most_matched"


def test_saving_an_unchanged_agreement_keeps_its_version(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    world.program.confidentiality_text = "Line one.\nLine two."
    db_session.commit()
    token = login(world.coordinator)
    version = world.program.confidentiality_version
    form = program_form(
        token,
        name=world.program.name,
        starts_on="2026-03-01",
        ends_on="2026-09-01",
        confidentiality_text="Line one.\r\nLine two.\r\n",
    )
    res = client.post(f"{BASE}/programs/{world.program.id}/edit", data=form)
    assert res.status_code == 303
    db_session.refresh(world.program)
    assert world.program.confidentiality_version == version


def test_edit_program_with_errors_changes_nothing(
    client: Any, login: Any, world: Any, catalogue: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    form = program_form(token, name="Changed", ends_on="2020-01-01")
    res = client.post(f"{BASE}/programs/{world.program.id}/edit", data=form)
    assert res.status_code == 400
    assert 'aria-invalid="true"' in res.text
    db_session.refresh(world.program)
    assert world.program.name == "Reverse Mentoring 2026"


def test_format_change_after_enrolment_is_refused(
    client: Any, login: Any, world: Any, make_pair: Any, catalogue: Any, db_session: Session
) -> None:
    make_pair(running=False)
    db_session.commit()
    token = login(world.coordinator)
    form = program_form(
        token,
        name=world.program.name,
        format="group",
        starts_on="2026-03-01",
        ends_on="2026-09-01",
    )
    res = client.post(f"{BASE}/programs/{world.program.id}/edit", data=form)
    assert res.status_code == 409
    assert "The format cannot change once people have enrolled." in res.text
    db_session.refresh(world.program)
    assert world.program.format.value == "one_to_one"


def test_status_transitions_and_the_cores_refusals(
    client: Any, login: Any, world: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    url = f"{BASE}/programs/{world.program.id}/status"
    page = client.get(f"{BASE}/programs/{world.program.id}")
    assert "Close enrolment and start matching" in page.text
    assert "Close the program" in page.text

    res = client.post(url, data={"csrf_token": token, "status": "running"})
    assert res.status_code == 409
    assert "A program cannot go from “Open for enrolment” to “Running”." in res.text

    res = client.post(url, data={"csrf_token": token, "status": "closed"})
    assert res.status_code == 400
    assert 'id="error-confirm"' in res.text

    res = client.post(url, data={"csrf_token": token, "status": "matching"})
    assert res.status_code == 303
    db_session.refresh(world.program)
    assert world.program.status is ProgramStatus.MATCHING

    res = client.post(url, data={"csrf_token": token, "status": "closed", "confirm": "1"})
    assert res.status_code == 409  # matching → closed is not a move the core allows
    res = client.post(url, data={"csrf_token": token, "status": "enrolling"})
    assert res.status_code == 303
    res = client.post(url, data={"csrf_token": token, "status": "closed", "confirm": "1"})
    assert res.status_code == 303
    db_session.refresh(world.program)
    assert world.program.status is ProgramStatus.CLOSED
    assert "The program is closed" in client.get(f"{BASE}/programs/{world.program.id}").text


def test_start_running_after_the_end_date_shows_the_cores_refusal(
    client: Any, login: Any, world: Any, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs.set_program_status(db_session, world.program, "matching", actor="t")
    db_session.commit()
    token = login(world.coordinator)
    monkeypatch.setattr(pages_coordinator, "_now", lambda: T0 + timedelta(days=400))
    res = client.post(
        f"{BASE}/programs/{world.program.id}/status",
        data={"csrf_token": token, "status": "running"},
    )
    assert res.status_code == 409
    assert "it cannot start running" in res.text
    db_session.refresh(world.program)
    assert world.program.status is ProgramStatus.MATCHING


# --------------------------------------------------------------------------- enrollments


@pytest.fixture
def hr(db_session: Session, world: Any, make_person: Any) -> dict[str, Any]:
    """A SuccessFactors connection with four synced people in two departments."""
    connection = Connection(
        org_id=world.org.id, kind=ConnectionKind.SUCCESSFACTORS, name="sf", settings={}
    )
    db_session.add(connection)
    db_session.flush()
    people = {
        "ana": make_person(world.org, given_name="Ana", department="IT", division="Tech"),
        "ben": make_person(world.org, given_name="Ben", department="IT", division="Tech"),
        "cem": make_person(world.org, given_name="Cem", department="Sales", division="Ops"),
        "dora": make_person(
            world.org, given_name="Dora", department="Sales", division="Ops", active=False
        ),
    }
    for i, person in enumerate(people.values()):
        db_session.add(
            PersonIdentity(
                org_id=world.org.id,
                person_id=person.id,
                source=f"successfactors:{connection.id}",
                external_id=f"E{100 + i}",
            )
        )
    db_session.commit()
    return {"connection": connection, **people}


def test_enrollments_page_lists_people_invitations_and_ways_to_invite(
    client: Any, login: Any, world: Any, make_pair: Any, hr: Any, db_session: Session
) -> None:
    pair = make_pair()
    db_session.add(
        ProgramInvitation(
            org_id=world.org.id,
            program_id=world.program.id,
            person_id=hr["ana"].id,
            source="hris",
            invited_by="t",
        )
    )
    db_session.commit()
    login(world.coordinator)
    html = client.get(f"{BASE}/programs/{world.program.id}/enrollments").text
    assert h1s(html) == ["Enrolments"]
    assert pair.mentor.given_name in html
    assert "Junior (mentor)" in html
    assert "Ana" in html
    assert "HR system" in html
    assert "All or nothing" in html
    assert 'enctype="multipart/form-data"' in html
    assert f'href="{BASE}/programs/{world.program.id}/enrollments/hris"' in html
    assert "This launch carries no course roster" in html


def test_roster_import_form_points_at_the_nrps_import(
    client: Any, login: Any, world: Any, db_session: Session
) -> None:
    reg = LtiRegistration(
        org_id=world.org.id,
        name="Moodle",
        issuer="https://moodle.example",
        client_id="abc",
        auth_login_url="https://moodle.example/auth",
        auth_token_url="https://moodle.example/token",
        jwks_url="https://moodle.example/jwks",
        created_by="test",
    )
    db_session.add(reg)
    db_session.flush()
    link = LtiLink(
        org_id=world.org.id,
        registration_id=reg.id,
        deployment_id="1",
        resource_link_id="rl-1",
        memberships_url="https://moodle.example/nrps/1",
    )
    db_session.add(link)
    db_session.commit()
    login(world.coordinator, link=link.id)
    html = client.get(f"{BASE}/programs/{world.program.id}/enrollments").text
    assert f'action="/app/programs/{world.program.id}/roster-import"' in html
    assert "Import the course roster" in html


def test_hris_page_filters_by_department_and_search(
    client: Any, login: Any, world: Any, hr: Any
) -> None:
    login(world.coordinator)
    url = f"{BASE}/programs/{world.program.id}/enrollments/hris"
    html = client.get(url, query_string={"department": "IT"}).text
    assert "2 people found" in html
    assert "Ana" in html
    assert "Ben" in html
    assert "Cem" not in html
    assert "E100" in html  # the employee id of the connection
    html = client.get(url, query_string={"q": "E102"}).text
    assert "1 person found" in html
    assert "Cem" in html
    html = client.get(url).text
    assert "Dora" not in html  # inactive people are never listed
    assert world.outsider.given_name not in html  # not synced from the HR system
    assert '<option value="Sales">' in html


def test_invite_selected_people_from_the_hris(
    client: Any,
    login: Any,
    world: Any,
    hr: Any,
    make_person: Any,
    make_org: Any,
    db_session: Session,
) -> None:
    stranger = make_person(make_org("other", "Other AG"))
    enrollments.enroll(
        db_session,
        program=world.program,
        person=hr["ben"],
        role="mentor",
        consent=True,
        actor="t",
    )
    db_session.commit()
    token = login(world.coordinator)
    res = client.post(
        f"{BASE}/programs/{world.program.id}/enrollments/hris",
        data={
            "csrf_token": token,
            "scope": "selected",
            "person_ids": [str(hr["ana"].id), str(hr["ben"].id), str(stranger.id)],
        },
    )
    assert res.status_code == 303
    assert "done=invited" in res.headers["Location"]
    invited = db_session.scalars(
        select(ProgramInvitation).where(ProgramInvitation.program_id == world.program.id)
    ).all()
    assert [(i.person_id, i.source) for i in invited] == [(hr["ana"].id, "hris")]
    notice = client.get(res.headers["Location"]).text
    assert "1 person invited. Already invited: 0. Already enrolled: 1." in notice
    assert db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "program.people_invited")
    )


def test_invite_everyone_the_filter_finds(
    client: Any, login: Any, world: Any, hr: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    res = client.post(
        f"{BASE}/programs/{world.program.id}/enrollments/hris",
        data={"csrf_token": token, "scope": "all", "department": "Sales"},
    )
    assert res.status_code == 303
    ids = set(
        db_session.scalars(
            select(ProgramInvitation.person_id).where(
                ProgramInvitation.program_id == world.program.id
            )
        )
    )
    assert ids == {hr["cem"].id}


def test_invite_nobody_selected_is_an_error(
    client: Any, login: Any, world: Any, hr: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    res = client.post(
        f"{BASE}/programs/{world.program.id}/enrollments/hris",
        data={"csrf_token": token, "scope": "selected", "department": "IT"},
    )
    assert res.status_code == 400
    assert "Select at least one person." in res.text
    assert 'id="error-person_ids"' in res.text
    assert count(db_session, ProgramInvitation) == 0


def upload(client: Any, program_id: int, token: str, text: str, name: str = "people.csv") -> Any:
    return client.post(
        f"{BASE}/programs/{program_id}/enrollments/csv",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode("utf-8")), name)},
        content_type="multipart/form-data",
    )


def test_csv_upload_invites_by_email_and_employee_id(
    client: Any, login: Any, world: Any, hr: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    text = (
        "email;employee_id\n"
        f"{hr['ana'].email.upper()};\n"
        ";E102\n"
        "\n"
        f"{hr['ana'].email};E100\n"  # the same person again: counted once
    )
    res = upload(client, world.program.id, token, text)
    assert res.status_code == 303, res.text
    assert "invited=2" in res.headers["Location"]
    rows = db_session.scalars(
        select(ProgramInvitation).where(ProgramInvitation.program_id == world.program.id)
    ).all()
    assert {(i.person_id, i.source) for i in rows} == {
        (hr["ana"].id, "csv"),
        (hr["cem"].id, "csv"),
    }


def test_csv_upload_with_a_bad_row_lists_every_problem_and_imports_nothing(
    client: Any, login: Any, world: Any, hr: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    text = (
        "Name,Email,Employee ID\n"
        f"Ana,{hr['ana'].email},\n"
        "Nobody,nobody@example.com,\n"
        "Broken,not-an-address,\n"
        f"Dora,{hr['dora'].email},\n"
        ",,\n"
        "Mixed,{email},E102\n".format(email=hr["ben"].email)
        + "Empty,,\n"
    )
    res = upload(client, world.program.id, token, text)
    assert res.status_code == 400
    html = res.text
    assert "Nothing was imported" in html
    assert 'id="error-file"' in html
    table = html.split('data-testid="csv-problems"', 1)[1]
    assert '<th scope="row" class="num">3</th>' in table
    assert "Nobody in your organization has this e-mail address." in table
    assert '<th scope="row" class="num">4</th>' in table
    assert "This is not a valid e-mail address." in table
    assert "This person is no longer active in the HR data." in table
    assert "belong to different people" in table
    assert '<th scope="row" class="num">8</th>' in table
    assert "Enter an e-mail address or an employee id." in table
    assert '<th scope="row" class="num">2</th>' not in table  # Ana's row is fine
    assert count(db_session, ProgramInvitation) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "Choose a CSV file to upload."),
        ("name,department\nAna,IT\n", "The first row must name the columns"),
        ("email\n", "The file has no rows below its header."),
        ("", "The file is empty."),
    ],
)
def test_csv_file_level_errors(
    client: Any, login: Any, world: Any, db_session: Session, text: str | None, message: str
) -> None:
    token = login(world.coordinator)
    if text is None:
        res = client.post(
            f"{BASE}/programs/{world.program.id}/enrollments/csv",
            data={"csrf_token": token},
            content_type="multipart/form-data",
        )
    else:
        res = upload(client, world.program.id, token, text)
    assert res.status_code == 400
    assert message in res.text
    assert 'aria-invalid="true"' in res.text
    assert count(db_session, ProgramInvitation) == 0


# --------------------------------------------------------------------------- matching


@pytest.fixture
def cohort(db_session: Session, world: Any, catalogue: Any, make_person: Any) -> dict[str, Any]:
    """Two juniors, two seniors, and a senior who shares no language with anyone."""
    people: dict[str, Any] = {}
    for key in ("j1", "j2"):
        people[key] = make_person(world.org, given_name=key.upper(), job_level=2, department="IT")
        enrollments.enroll(
            db_session,
            program=world.program,
            person=people[key],
            role="mentor",
            consent=True,
            topics_offered={"AI": 5, "SOCIAL": 3},
            actor="t",
        )
    for key in ("s1", "s2"):
        people[key] = make_person(
            world.org, given_name=key.upper(), job_level=9, department="Sales"
        )
        enrollments.enroll(
            db_session,
            program=world.program,
            person=people[key],
            role="mentee",
            consent=True,
            topics_wanted={"AI": 4},
            actor="t",
        )
    people["fr"] = make_person(
        world.org, given_name="Francois", job_level=9, department="Board", languages=["fr"]
    )
    enrollments.enroll(
        db_session,
        program=world.program,
        person=people["fr"],
        role="mentee",
        consent=True,
        topics_wanted={"SOCIAL": 4},
        actor="t",
    )
    db_session.commit()
    return people


def proposals(db: Session, program: Program) -> list[Tandem]:
    return list(
        db.scalars(
            select(Tandem)
            .where(Tandem.program_id == program.id, Tandem.status == TandemStatus.PROPOSED)
            .order_by(Tandem.id)
        ).unique()
    )


def test_run_matching_shows_proposals_explanations_and_unmatched_reasons(
    client: Any, login: Any, world: Any, cohort: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    page = client.get(f"{BASE}/programs/{world.program.id}/matching")
    assert page.status_code == 200
    assert 'role="status" id="run-progress"' in page.text
    assert "Large programs take up to a minute" in page.text

    res = client.post(
        f"{BASE}/programs/{world.program.id}/matching/run",
        data={"csrf_token": token, "objective": "most_matched"},
    )
    assert res.status_code == 303
    html = client.get(res.headers["Location"]).text
    found = proposals(db_session, world.program)
    assert len(found) == 2
    assert "Matching finished" in html
    assert html.count('data-testid="proposal"') == 2
    assert "Most people matched first" in html
    assert "Why they were matched:" in html
    assert found[0].explanation["en"][0] in html
    unmatched = html.split('data-testid="unmatched"', 1)[1]
    assert "Francois" in unmatched
    assert "Senior (mentee)" in unmatched
    db_session.refresh(world.program)
    assert world.program.status is ProgramStatus.MATCHING


def test_matching_in_german_shows_german_explanations(
    client: Any, login: Any, world: Any, cohort: Any, db_session: Session
) -> None:
    token = login(world.coordinator, locale="de-DE")
    client.post(
        f"{BASE}/programs/{world.program.id}/matching/run",
        data={"csrf_token": token, "objective": "best_total"},
    )
    html = client.get(f"{BASE}/programs/{world.program.id}/matching").text
    assert '<html lang="de-DE">' in html
    tandem = proposals(db_session, world.program)[0]
    assert tandem.explanation["de"][0] in html


def test_run_matching_refusals(
    client: Any, login: Any, world: Any, catalogue: Any, make_program: Any, db_session: Session
) -> None:
    draft = make_program(world.org, name="Draft", status=None)
    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id,
            program_id=draft.id,
            person_id=world.coordinator.id,
            added_by="t",
        )
    )
    db_session.commit()
    token = login(world.coordinator)
    res = client.post(
        f"{BASE}/programs/{draft.id}/matching/run",
        data={"csrf_token": token, "objective": "best_total"},
    )
    assert res.status_code == 409
    assert "it is “In preparation”" in res.text
    res = client.post(
        f"{BASE}/programs/{world.program.id}/matching/run",
        data={"csrf_token": token, "objective": "best_total"},
    )
    assert res.status_code == 400  # MatchError: nobody enrolled
    assert "There is nobody to match yet" in res.text
    res = client.post(
        f"{BASE}/programs/{world.program.id}/matching/run",
        data={"csrf_token": token, "objective": "random"},
    )
    assert res.status_code == 400
    assert "Choose one of the options for “Objective”." in res.text
    assert count(db_session, MatchRun) == 0


def run(client: Any, program: Program, token: str) -> None:
    res = client.post(
        f"{BASE}/programs/{program.id}/matching/run",
        data={"csrf_token": token, "objective": "best_total"},
    )
    assert res.status_code == 303


def test_accept_lock_reject_and_unlock_a_proposal(
    client: Any, login: Any, world: Any, cohort: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    run(client, world.program, token)
    first, second = proposals(db_session, world.program)
    base = f"{BASE}/programs/{world.program.id}/matching/tandems"

    res = client.post(f"{base}/{first.id}/accept", data={"csrf_token": token})
    assert res.status_code == 303
    db_session.refresh(first)
    assert first.approved_at is not None
    res = client.post(f"{base}/{first.id}/accept", data={"csrf_token": token})
    assert res.status_code == 409
    assert "is already approved" in res.text

    assert client.post(f"{base}/{second.id}/lock", data={"csrf_token": token}).status_code == 303
    db_session.refresh(second)
    assert second.locked is True
    res = client.post(f"{base}/{second.id}/reject", data={"csrf_token": token})
    assert res.status_code == 409
    assert "unlock it before rejecting it" in res.text
    assert client.post(f"{base}/{second.id}/unlock", data={"csrf_token": token}).status_code == 303
    assert client.post(f"{base}/{second.id}/reject", data={"csrf_token": token}).status_code == 303
    db_session.refresh(second)
    assert second.status is TandemStatus.REJECTED
    assert client.post(f"{base}/{second.id}/explode", data={"csrf_token": token}).status_code == 404


def test_swap_exchanges_members_and_publish_approves_the_run(
    client: Any, login: Any, world: Any, cohort: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    run(client, world.program, token)
    first, second = proposals(db_session, world.program)
    before = {t.id: sorted(m.person_id for m in t.members) for t in (first, second)}
    url = f"{BASE}/programs/{world.program.id}/matching/swap"
    res = client.post(
        url, data={"csrf_token": token, "first": first.id, "second": first.id, "role": "mentee"}
    )
    assert res.status_code == 400
    assert "Choose two different tandems." in res.text
    res = client.post(
        url, data={"csrf_token": token, "first": first.id, "second": second.id, "role": "mentee"}
    )
    assert res.status_code == 303
    db_session.expire_all()
    after = {
        t.id: sorted(m.person_id for m in db_session.get(Tandem, t.id).members)  # type: ignore[union-attr]
        for t in (first, second)
    }
    assert after != before

    latest = db_session.scalar(select(MatchRun).where(MatchRun.program_id == world.program.id))
    assert latest is not None
    res = client.post(
        f"{BASE}/programs/{world.program.id}/matching/runs/{latest.id}/publish",
        data={"csrf_token": token},
    )
    assert res.status_code == 303
    db_session.expire_all()
    assert db_session.get(MatchRun, latest.id).status is MatchRunStatus.APPROVED  # type: ignore[union-attr]
    assert all(t.approved_at is not None for t in proposals(db_session, world.program))
    res = client.post(
        f"{BASE}/programs/{world.program.id}/matching/runs/{latest.id}/publish",
        data={"csrf_token": token},
    )
    assert res.status_code == 409
    assert "“Published”" in res.text


def test_tandem_of_another_program_is_404(
    client: Any, login: Any, world: Any, make_program: Any, make_pair: Any, db_session: Session
) -> None:
    other = make_program(world.org, name="Other program")
    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id,
            program_id=other.id,
            person_id=world.coordinator.id,
            added_by="t",
        )
    )
    pair = make_pair("proposed", approved=False, running=False)
    db_session.commit()
    token = login(world.coordinator)
    res = client.post(
        f"{BASE}/programs/{other.id}/matching/tandems/{pair.tandem.id}/accept",
        data={"csrf_token": token},
    )
    assert res.status_code == 404
    db_session.refresh(pair.tandem)
    assert pair.tandem.approved_at is None


# --------------------------------------------------------------------------- follow-up


@pytest.fixture
def running(db_session: Session, world: Any, make_pair: Any) -> Any:
    """Two active tandems; one held a session, one planned and cancelled; a stalled alert."""
    a = make_pair()
    b = make_pair()
    sessions.log_session(
        db_session,
        a.mentor_actor,
        a.tandem.id,
        held_at=T0 + timedelta(days=7),
        minutes=60,
        now=T0 + timedelta(days=7),
    )
    planned = sessions.plan_session(
        db_session, b.mentee_actor, b.tandem.id, scheduled_at=T0 + timedelta(days=40), now=T0
    )
    sessions.cancel_session(
        db_session, b.mentee_actor, planned.id, reason="PRIVATE travel", now=T0 + timedelta(days=8)
    )
    alerts.scan_program(db_session, world.program.id, now=T0 + timedelta(days=70))
    db_session.commit()
    return a, b


def test_follow_up_shows_alerts_sessions_per_month_and_cancellations(
    client: Any, login: Any, world: Any, running: Any
) -> None:
    _a, b = running
    login(world.coordinator)
    html = client.get(f"{BASE}/programs/{world.program.id}/follow-up").text
    assert h1s(html) == ["Follow-up"]
    assert f"Tandem {b.tandem.id} has held no session" in html
    assert b.mentor.given_name in html
    table = html.split('data-testid="sessions-table"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">March 2026</th>' in table
    assert '<th scope="row">April 2026</th>' in table
    assert 'role="img"' in html
    assert 'id="chart-sessions-title"' in html
    assert "1 session was cancelled: 0 by juniors and 1 by seniors." in html
    assert "PRIVATE travel" not in html


def test_handle_an_alert_and_the_refused_move(
    client: Any, login: Any, world: Any, running: Any, db_session: Session
) -> None:
    token = login(world.coordinator)
    alert = alerts.list_alerts(db_session, world.coordinator_actor, program_id=world.program.id)[0]
    url = f"{BASE}/programs/{world.program.id}/follow-up/alerts/{alert.id}"
    res = client.post(url, data={"csrf_token": token, "status": "acknowledged", "note": "Called"})
    assert res.status_code == 303
    db_session.refresh(alert)
    assert alert.status is AlertStatus.ACKNOWLEDGED
    assert alert.note == "Called"
    res = client.post(url, data={"csrf_token": token, "status": "acknowledged"})
    assert res.status_code == 409
    assert "it cannot become “Acknowledged”" in res.text
    res = client.post(url, data={"csrf_token": token, "status": "resolved", "note": "x" * 2001})
    assert res.status_code == 400
    assert 'id="error-note-' in res.text
    db_session.refresh(alert)
    assert alert.status is AlertStatus.ACKNOWLEDGED
    html = client.get(
        f"{BASE}/programs/{world.program.id}/follow-up", query_string={"alerts": "acknowledged"}
    ).text
    assert "Note: Called" in html


# --------------------------------------------------------------------------- report


def feedback_from(db: Session, pairs: list[Any], day: int) -> None:
    for pair in pairs:
        held = sessions.log_session(
            db,
            pair.mentor_actor,
            pair.tandem.id,
            held_at=T0 + timedelta(days=day),
            minutes=60,
            now=T0 + timedelta(days=day),
        )
        for actor, rating in ((pair.mentor_actor, 4), (pair.mentee_actor, 5)):
            sessions.give_feedback(db, actor, held.id, rating=rating, now=T0 + timedelta(days=day))


def test_report_page_has_accessible_charts_tables_and_suppression(
    client: Any, login: Any, world: Any, make_pair: Any, catalogue: Any, db_session: Session
) -> None:
    world.program.assessment_skills = ["AI"]
    pairs = [make_pair() for _ in range(3)]
    feedback_from(db_session, pairs, 5)  # six authors in March: shown
    feedback_from(db_session, pairs[:1], 35)  # two authors in April: withheld
    db_session.commit()
    login(world.coordinator)
    res = client.get(f"{BASE}/programs/{world.program.id}/report")
    assert res.status_code == 200
    html = res.text
    assert h1s(html) == ["Outcome report"]
    for chart in ("chart-skills", "chart-trend", "chart-funnel"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html
    assert html.count('role="img"') == 3
    skills = html.split('data-testid="skills-table"', 1)[1].split("</table>", 1)[0]
    assert "AI tools" in skills
    assert "withheld (fewer than 5)" in skills
    trend = html.split('data-testid="trend-table"', 1)[1].split("</table>", 1)[0]
    march = trend.split("March 2026", 1)[1].split("</tr>", 1)[0]
    assert "4.5" in march
    assert ">6<" in march
    april = trend.split("April 2026", 1)[1].split("</tr>", 1)[0]
    assert "withheld (fewer than 5)" in april
    funnel = html.split('data-testid="funnel-table"', 1)[1].split("</table>", 1)[0]
    assert "Enrolled" in funnel
    assert "Completed" in funnel
    assert f'href="{BASE}/programs/{world.program.id}/report.csv"' in html
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "report.generated"))


def test_report_exports_csv_and_json(
    client: Any, login: Any, world: Any, make_pair: Any, db_session: Session
) -> None:
    make_pair()
    db_session.commit()
    login(world.coordinator)
    res = client.get(f"{BASE}/programs/{world.program.id}/report.csv")
    assert res.status_code == 200
    assert res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert list(rows[0]) == ["level", "metric", "role", "skill", "value", "n", "suppressed"]
    enrolled = next(r for r in rows if r["metric"] == "enrolled.active" and r["role"] == "mentor")
    assert enrolled["value"] == ""
    assert enrolled["suppressed"] == "true"
    res = client.get(f"{BASE}/programs/{world.program.id}/report.json")
    assert res.status_code == 200
    body = json.loads(res.text)
    assert body["program"]["id"] == world.program.id
    assert set(body) >= {"reaction", "learning", "behaviour", "results", "process"}


def test_report_page_in_german(
    client: Any, login: Any, world: Any, make_pair: Any, db_session: Session
) -> None:
    make_pair()
    db_session.commit()
    login(world.coordinator, locale="de")
    html = client.get(f"{BASE}/programs/{world.program.id}/report").text
    assert '<html lang="de">' in html
    assert "März 2026" in html


# --------------------------------------------------------------------------- write-back


@pytest.fixture
def messages(
    db_session: Session, world: Any, make_pair: Any, make_program: Any
) -> dict[str, OutboxMessage]:
    pair = make_pair()
    other = make_program(world.org, name="Other program")

    def message(key: str, program_id: int, status: OutboxStatus, **kw: Any) -> OutboxMessage:
        row = OutboxMessage(
            org_id=world.org.id,
            kind="completion",
            target="successfactors",
            idempotency_key=f"completion:p{program_id}:e{key}:successfactors",
            payload={
                "program": {"id": program_id, "name": "x"},
                "person": {"id": pair.mentor.id, "email": "SECRET-MAIL@example.com"},
            },
            program_id=program_id,
            status=status,
            **kw,
        )
        db_session.add(row)
        return row

    rows = {
        "dead": message(
            "1",
            world.program.id,
            OutboxStatus.DEAD,
            attempts=8,
            last_error="ConnectorAuthError: token=*** refused",
        ),
        "delivered": message(
            "2",
            world.program.id,
            OutboxStatus.DELIVERED,
            attempts=1,
            delivered_at=T0 + timedelta(days=1),
        ),
        "theirs": message("3", other.id, OutboxStatus.DEAD, attempts=8, last_error="THEIRS"),
    }
    progress = OutboxMessage(
        org_id=world.org.id,
        kind="progress",
        target="moodle",
        idempotency_key=f"progress:p{world.program.id}:e9:h1:moodle",
        payload={"program_id": world.program.id, "person_id": pair.mentee.id, "percent": 20},
        program_id=world.program.id,
        status=OutboxStatus.PENDING,
    )
    db_session.add(progress)
    db_session.commit()
    rows["progress"] = progress
    return rows


def test_writeback_page_shows_the_programs_messages_without_payloads(
    client: Any, login: Any, world: Any, messages: dict[str, OutboxMessage]
) -> None:
    login(world.coordinator)
    html = client.get(f"{BASE}/programs/{world.program.id}/writeback").text
    assert h1s(html) == ["Write-back"]
    assert "3 messages for this program" in html
    assert "ConnectorAuthError: token=*** refused" in html
    assert "THEIRS" not in html
    assert "SECRET-MAIL" not in html
    assert "Progress" in html
    assert "Completion" in html
    assert f"/writeback/{messages['dead'].id}/retry" in html
    assert f"/writeback/{messages['delivered'].id}/retry" not in html
    dead_only = client.get(
        f"{BASE}/programs/{world.program.id}/writeback", query_string={"status": "dead"}
    ).text
    assert "Messages: Failed" in dead_only
    assert "Learning hours" not in dead_only


def test_retry_a_dead_message_of_the_program(
    client: Any, login: Any, world: Any, messages: dict[str, OutboxMessage], db_session: Session
) -> None:
    token = login(world.coordinator)
    base = f"{BASE}/programs/{world.program.id}/writeback"
    res = client.post(f"{base}/{messages['dead'].id}/retry", data={"csrf_token": token})
    assert res.status_code == 303
    db_session.refresh(messages["dead"])
    assert messages["dead"].status is OutboxStatus.PENDING
    assert messages["dead"].attempts == 0
    res = client.post(f"{base}/{messages['delivered'].id}/retry", data={"csrf_token": token})
    assert res.status_code == 409
    assert "Only failed messages can be sent again" in res.text
    res = client.post(f"{base}/{messages['theirs'].id}/retry", data={"csrf_token": token})
    assert res.status_code == 404
    db_session.refresh(messages["theirs"])
    assert messages["theirs"].status is OutboxStatus.DEAD
    assert client.post(f"{base}/{messages['dead'].id}/retry").status_code == 400


# --------------------------------------------------------------------------- pages


def test_every_page_renders_with_one_h1_and_the_program_navigation(
    client: Any, login: Any, world: Any, hr: Any, make_pair: Any, db_session: Session
) -> None:
    make_pair()
    db_session.commit()
    login(world.coordinator)
    for page in (p for p in COORDINATOR_PAGES if "." not in p):
        res = client.get(f"{BASE}/programs/{world.program.id}{page}")
        assert res.status_code == 200, res.text
        html = res.text
        assert len(h1s(html)) == 1, page
        assert 'aria-label="Program administration"' in html
        assert 'aria-current="page"' in html
        assert '<html lang="en">' in html


def test_pages_render_in_german(client: Any, login: Any, world: Any) -> None:
    login(world.coordinator, locale="de")
    for page in (f"{BASE}/", f"{BASE}/programs/new", f"{BASE}/programs/{world.program.id}"):
        res = client.get(page)
        assert res.status_code == 200
        assert '<html lang="de">' in res.text


def test_dashboard_links_to_the_coordinator_pages(client: Any, login: Any, world: Any) -> None:
    login(world.coordinator)
    html = client.get(f"/app/programs/{world.program.id}/dashboard").text
    assert f'href="{BASE}/programs/{world.program.id}"' in html
    assert f'href="{BASE}/programs/{world.program.id}/matching"' in html

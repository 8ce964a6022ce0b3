"""``tandem tandems …`` and ``tandem coordinators …`` through the CLI runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import (
    Action,
    AuditEvent,
    Goal,
    Person,
    Program,
    ProgramCoordinator,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, organizations, programs

AGREEMENT = "What is said in the tandem stays in the tandem."


@dataclass
class Seed:
    program: int
    tandem: int
    junior: int
    senior: int
    coordinator: int
    outsider: int


def seed(app: Flask, *, status: str = "proposed", running: bool = True) -> Seed:
    """One program with a coordinator and one approved tandem in ``status``."""
    with app.app_context():
        s = get_session()
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        people = [
            Person(org_id=org.id, given_name=g, family_name=f, job_level=lvl, languages=["en"])
            for g, f, lvl in (
                ("Jana", "Junior", 2),
                ("Sven", "Senior", 9),
                ("Cora", "Coordinator", 8),
                ("Otto", "Outsider", 4),
            )
        ]
        s.add_all(people)
        s.flush()
        junior, senior, coordinator, outsider = people
        program = programs.create_program(
            s,
            org=org,
            name="RM",
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
            confidentiality_text=AGREEMENT,
            actor="t",
        )
        programs.set_program_status(s, program, "enrolling", actor="t")
        enrolled = [
            enrollments.enroll(s, program=program, person=p, role=r, consent=True, actor="t")
            for p, r in ((junior, "mentor"), (senior, "mentee"))
        ]
        s.add(
            ProgramCoordinator(
                org_id=org.id, program_id=program.id, person_id=coordinator.id, added_by="t"
            )
        )
        now = datetime(2026, 3, 2, 9, tzinfo=UTC)
        tandem = Tandem(
            org_id=org.id,
            program_id=program.id,
            status=TandemStatus(status),
            approved_by="t",
            approved_at=now,
            status_changed_at=now,
        )
        for e in enrolled:
            tandem.members.append(
                TandemMember(
                    org_id=org.id,
                    enrollment_id=e.id,
                    person_id=e.person_id,
                    role=e.role,
                    accepted_at=None if status == "proposed" else now,
                )
            )
        s.add(tandem)
        if running:
            for step in ("matching", "running"):
                programs.set_program_status(s, program, step, actor="t")
        s.commit()
        return Seed(program.id, tandem.id, junior.id, senior.id, coordinator.id, outsider.id)


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def status_of(app: Flask, tandem_id: int) -> str:
    with app.app_context():
        tandem = get_session().get(Tandem, tandem_id)
        assert tandem is not None
        return tandem.status.value


def run(runner: FlaskCliRunner, *args: Any) -> Any:
    return runner.invoke(args=[str(a) for a in args])


def ok(runner: FlaskCliRunner, *args: Any) -> str:
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    return str(result.output)


def refused(runner: FlaskCliRunner, app: Flask, *args: Any) -> str:
    """Run a command that must fail with exit 1 and write nothing."""
    before = (count(app, AuditEvent), count(app, Goal), count(app, Action))
    result = run(runner, *args)
    assert result.exit_code == 1, result.output
    assert "Error: " in result.output
    assert (count(app, AuditEvent), count(app, Goal), count(app, Action)) == before
    return str(result.output)


def test_a_tandem_from_consent_to_completion(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    t = s.tandem
    assert "tandem" in ok(runner, "tandems", "respond", t, "--as", s.junior, "--accept")
    out = ok(runner, "tandems", "respond", t, "--as", s.senior, "--accept")
    assert f"tandem {t} is accepted" in out

    out = ok(runner, "tandems", "confidentiality", t, "--as", s.junior, "--version", "1")
    assert out.index(AGREEMENT) < out.index("accepted version 1")
    ok(runner, "tandems", "confidentiality", t, "--as", s.senior)
    out = ok(
        runner, "tandems", "kickoff", t, "--as", s.senior, "--expectations", "Learn AI tools",
        "--mode", "video", "--goal", "Use Copilot weekly", "--goal", "Post on LinkedIn",
    )  # fmt: skip
    assert f"tandem {t} is active" in out

    out = ok(runner, "tandems", "goal-add", t, "--as", s.junior, "--title", "Retro", "--due",
             "2026-12-31")  # fmt: skip
    goal_id = int(out.split()[1])
    assert "is met" in ok(runner, "tandems", "goal-status", goal_id, "met", "--as", s.senior)
    out = ok(runner, "tandems", "action", t, "--as", s.senior, "--description",
             "Team uses AI summaries", "--on", "2026-03-10")  # fmt: skip
    assert f"credited to person {s.junior}" in out

    member = ok(runner, "tandems", "show", t, "--as", s.junior)
    assert "Sven Senior" in member
    assert "Learn AI tools" in member
    assert "Use Copilot weekly" in member
    assert "Team uses AI summaries" in member
    assert "next for you: nothing" in member

    coord = ok(runner, "tandems", "show", t, "--coordinator", s.coordinator)
    assert "Jana Junior" in coord
    assert "Learn AI tools" not in coord
    assert "Use Copilot weekly" not in coord
    assert "met 1" in coord

    overview = ok(runner, "tandems", "list", "--program", s.program)
    assert f"{t}\tactive" in overview
    assert "goals 1/3 met · actions 1" in overview
    mine = ok(runner, "tandems", "list", "--program", s.program, "--as", s.senior)
    assert "with Jana Junior (mentor)" in mine

    out = ok(runner, "tandems", "complete", t, "--coordinator", s.coordinator)
    assert f"tandem {t} is completed" in out
    with app.app_context():
        actions = set(get_session().scalars(select(AuditEvent.action)))
    assert {
        "tandem.consented",
        "tandem.accepted",
        "tandem.activated",
        "tandem.completed",
        "tandem.viewed",
        "program.tandems_viewed",
    } <= actions


def test_json_output(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    view = json.loads(ok(runner, "tandems", "show", s.tandem, "--as", s.junior, "--json"))
    assert view["id"] == s.tandem
    assert view["you"]["role"] == "mentor"
    rows = json.loads(ok(runner, "tandems", "list", "--program", s.program, "--json"))
    assert [r["id"] for r in rows] == [s.tandem]


def test_decline_needs_a_reason(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    out = refused(runner, app, "tandems", "respond", s.tandem, "--as", s.junior, "--decline")
    assert "a reason for declining is required (reason)" in out
    assert status_of(app, s.tandem) == "proposed"
    ok(runner, "tandems", "respond", s.tandem, "--as", s.junior, "--decline", "--reason", "Busy")
    assert status_of(app, s.tandem) == "rejected"


def test_respond_needs_an_answer(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    out = refused(runner, app, "tandems", "respond", s.tandem, "--as", s.junior)
    assert "say --accept or --decline" in out


def test_as_and_coordinator_exclude_each_other(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    out = refused(
        runner, app, "tandems", "complete", s.tandem, "--as", s.junior,
        "--coordinator", s.coordinator,
    )  # fmt: skip
    assert "either --as or --coordinator" in out
    assert status_of(app, s.tandem) == "active"


def test_member_dissolves_without_fault(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    out = ok(
        runner, "tandems", "dissolve", s.tandem, "--as", s.senior, "--reason", "New role",
        "--no-fault",
    )  # fmt: skip
    assert f"tandem {s.tandem} is dissolved (no fault)" in out
    coord = ok(runner, "tandems", "show", s.tandem)
    assert "New role" in coord  # the operator (admin) sees the reason
    member = ok(runner, "tandems", "show", s.tandem, "--as", s.junior)
    assert "New role" not in member


def test_invalid_transition_is_refused(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    out = refused(runner, app, "tandems", "complete", s.tandem)
    assert f"tandem {s.tandem} is proposed; it cannot be completed" in out
    assert status_of(app, s.tandem) == "proposed"


def test_outsider_cannot_see_a_tandem(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    out = refused(runner, app, "tandems", "show", s.tandem, "--as", s.outsider)
    assert "visible only to its members" in out


def test_participant_cannot_list_the_program(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    out = refused(runner, app, "tandems", "list", "--program", s.program, "--coordinator",
                  s.outsider)  # fmt: skip
    assert "only a coordinator" in out


def test_kickoff_mode_is_checked(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="accepted")
    out = refused(
        runner, app, "tandems", "kickoff", s.tandem, "--as", s.junior, "--expectations", "E",
        "--mode", "fax",
    )  # fmt: skip
    assert "unknown meeting mode 'fax'" in out


def test_action_in_the_future_is_refused(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="active")
    out = refused(
        runner, app, "tandems", "action", s.tandem, "--as", s.senior, "--description", "D",
        "--on", "2999-01-01",
    )  # fmt: skip
    assert "is in the future" in out


def test_activate_command(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app, status="accepted", running=False)
    ok(runner, "tandems", "confidentiality", s.tandem, "--as", s.junior)
    ok(runner, "tandems", "confidentiality", s.tandem, "--as", s.senior)
    ok(runner, "tandems", "kickoff", s.tandem, "--as", s.junior, "--expectations", "E", "--mode",
       "hybrid")  # fmt: skip
    assert status_of(app, s.tandem) == "accepted"
    with app.app_context():
        program = get_session().get(Program, s.program)
        assert program is not None
        for step in ("matching", "running"):
            programs.set_program_status(get_session(), program, step, actor="t")
        get_session().commit()
    # Starting the program activated it; the command finds nothing left to do.
    assert status_of(app, s.tandem) == "active"
    assert "0 tandem(s) activated" in ok(runner, "tandems", "activate", "--program", s.program)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tandems", "show", "999"], "tandem 999 not found"),
        (["tandems", "respond", "999", "--as", "1", "--accept"], "tandem 999 not found"),
        (["tandems", "goal-status", "999", "met", "--as", "1"], "goal 999 not found"),
        (["tandems", "list", "--program", "999"], "program 999 not found"),
        (["coordinators", "list", "--program", "999"], "program 999 not found"),
    ],
)
def test_unknown_ids(runner: FlaskCliRunner, app: Flask, args: list[str], message: str) -> None:
    out = refused(runner, app, *args)
    assert message in out


def test_coordinators_add_list_remove(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    assert "Cora Coordinator" in ok(runner, "coordinators", "list", "--program", s.program)
    ok(runner, "coordinators", "add", "--program", s.program, s.outsider)
    listed = ok(runner, "coordinators", "list", "--program", s.program)
    assert "Otto Outsider" in listed
    out = refused(runner, app, "coordinators", "add", "--program", s.program, s.outsider)
    assert "already coordinates" in out
    ok(runner, "coordinators", "remove", "--program", s.program, s.outsider)
    out = refused(runner, app, "coordinators", "remove", "--program", s.program, s.outsider)
    assert "does not coordinate" in out
    data = json.loads(ok(runner, "coordinators", "list", "--program", s.program, "--json"))
    assert [d["person_id"] for d in data] == [s.coordinator]


def test_a_participant_cannot_add_coordinators(runner: FlaskCliRunner, app: Flask) -> None:
    s = seed(app)
    out = refused(
        runner, app, "coordinators", "add", "--program", s.program, s.outsider,
        "--coordinator", s.junior,
    )  # fmt: skip
    assert "only a coordinator" in out

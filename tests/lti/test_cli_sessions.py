from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import (
    Alert,
    AlertStatus,
    AuditEvent,
    EnrollmentRole,
    Feedback,
    MentoringSession,
    Person,
    ProgramCoordinator,
    SessionStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, organizations, programs

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Seed:
    org_id: int
    program_id: int
    tandem_id: int
    junior: int
    senior: int
    coordinator: int
    outsider: int


def _person(s: Any, org_id: int, name: str, level: int) -> Person:
    person = Person(
        org_id=org_id, given_name=name, family_name="X", job_level=level, languages=["en"]
    )
    s.add(person)
    s.flush()
    return person


def seed(app: Flask) -> Seed:
    with app.app_context():
        s = get_session()
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        program = programs.create_program(
            s,
            org=org,
            name="RM",
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
            actor="t",
        )
        programs.set_program_status(s, program, "enrolling", actor="t")
        junior = _person(s, org.id, "Jan", 2)
        senior = _person(s, org.id, "Sabine", 9)
        coordinator = _person(s, org.id, "Cora", 8)
        outsider = _person(s, org.id, "Otto", 3)
        s.add(
            ProgramCoordinator(
                org_id=org.id, program_id=program.id, person_id=coordinator.id, added_by="t"
            )
        )
        tandem = Tandem(
            org_id=org.id,
            program_id=program.id,
            status=TandemStatus.ACTIVE,
            activated_at=T0,
            status_changed_at=T0,
        )
        for person, role in ((junior, EnrollmentRole.MENTOR), (senior, EnrollmentRole.MENTEE)):
            e = enrollments.enroll(
                s, program=program, person=person, role=role, consent=True, actor="t"
            )
            tandem.members.append(
                TandemMember(
                    org_id=org.id,
                    enrollment_id=e.id,
                    person_id=person.id,
                    role=role,
                    accepted_at=T0,
                    confidentiality_accepted_at=T0,
                )
            )
        s.add(tandem)
        s.flush()
        for step in ("matching", "running"):
            programs.set_program_status(s, program, step, actor="t")
        s.commit()
        return Seed(
            org.id, program.id, tandem.id, junior.id, senior.id, coordinator.id, outsider.id
        )


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def only_session(app: Flask) -> MentoringSession:
    with app.app_context():
        return get_session().scalars(select(MentoringSession)).one()


@pytest.fixture
def world(app: Flask) -> Seed:
    return seed(app)


def run(runner: FlaskCliRunner, *args: Any) -> Any:
    return runner.invoke(args=[str(a) for a in args])


def plan(runner: FlaskCliRunner, world: Seed, at: str = "2026-03-09 09:00", *extra: Any) -> int:
    result = run(
        runner, "sessions", "plan", world.tandem_id, "--as", world.junior, "--at", at, *extra
    )
    assert result.exit_code == 0, result.output
    return int(result.output.split()[1].rstrip(":"))


def test_plan_hold_and_list(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    result = run(
        runner,
        "sessions",
        "plan",
        world.tandem_id,
        "--as",
        world.junior,
        "--at",
        "2026-03-09 10:00+01:00",
        "--minutes",
        60,
        "--topic",
        "Prompting",
    )
    assert result.exit_code == 0, result.output
    assert "planned: tandem" in result.output
    assert "2026-03-09 09:00 UTC for 60 min · theme: Developer experience" in result.output
    row = only_session(app)
    assert row.scheduled_at == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    held = run(runner, "sessions", "hold", row.id, "--as", world.senior, "--minutes", 55)
    assert held.exit_code == 0, held.output
    assert f"Session {row.id} held: 55 min on 2026-03-09 09:00 UTC" in held.output
    listed = run(runner, "sessions", "list", world.tandem_id, "--as", world.junior)
    assert listed.exit_code == 0, listed.output
    assert "held · 55 min · theme: Developer experience · topic: Prompting" in listed.output
    assert "awaiting my feedback" in listed.output


def test_times_without_an_offset_are_utc(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    plan(runner, world, "2026-03-09T14:30")
    assert only_session(app).scheduled_at == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-03-09", "next monday", "2026-13-01 10:00"])
def test_bad_times_are_refused(runner: FlaskCliRunner, app: Flask, world: Seed, bad: str) -> None:
    result = run(runner, "sessions", "plan", world.tandem_id, "--as", world.junior, "--at", bad)
    assert result.exit_code == 2
    assert "is not a time" in result.output
    assert count(app, MentoringSession) == 0


def test_log_a_session(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    result = run(
        runner,
        "sessions",
        "log",
        world.tandem_id,
        "--as",
        world.senior,
        "--at",
        "2026-04-02 15:00",
        "--minutes",
        45,
        "--topic",
        "Teams",
    )
    assert result.exit_code == 0, result.output
    assert "45 min on 2026-04-02 15:00 UTC · theme: New tools" in result.output
    assert only_session(app).status is SessionStatus.HELD


def test_cancel_twice_by_the_senior_alerts(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    first = plan(runner, world, "2026-03-09 09:00")
    second = plan(runner, world, "2026-03-16 09:00")
    one = run(runner, "sessions", "cancel", first, "--as", world.senior, "--reason", "Board")
    assert one.exit_code == 0, one.output
    assert "cancelled by the mentee" in one.output
    assert "alerted" not in one.output
    two = run(runner, "sessions", "cancel", second, "--as", world.senior, "--reason", "Travel")
    assert two.exit_code == 0, two.output
    assert "coordinators were alerted" in two.output
    assert count(app, Alert) == 1


def test_cancel_needs_a_reason(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    sid = plan(runner, world)
    result = run(runner, "sessions", "cancel", sid, "--as", world.senior, "--reason", " ")
    assert result.exit_code == 1
    assert "reason is required (reason)" in result.output
    assert only_session(app).status is SessionStatus.PLANNED


def test_notes_set_show_and_clear(
    runner: FlaskCliRunner, app: Flask, world: Seed, tmp_path: Path
) -> None:
    sid = plan(runner, world)
    empty = run(runner, "sessions", "notes", sid, "--as", world.junior)
    assert empty.exit_code == 0
    assert "has no notes" in empty.output
    saved = run(runner, "sessions", "notes", sid, "--as", world.junior, "--set", "Read the doc")
    assert saved.exit_code == 0, saved.output
    assert "saved (12 characters)" in saved.output
    shown = run(runner, "sessions", "notes", sid, "--as", world.senior)
    assert shown.output.strip() == "Read the doc"
    source = tmp_path / "notes.txt"
    source.write_text("From a file\nsecond line\n", "utf-8")
    from_file = run(runner, "sessions", "notes", sid, "--as", world.senior, "--file", source)
    assert from_file.exit_code == 0, from_file.output
    assert run(runner, "sessions", "notes", sid, "--as", world.junior).output == (
        "From a file\nsecond line\n"
    )
    cleared = run(runner, "sessions", "notes", sid, "--as", world.junior, "--set", "")
    assert "cleared" in cleared.output
    assert only_session(app).private_notes is None


def test_notes_set_and_file_together_is_a_usage_error(
    runner: FlaskCliRunner, world: Seed, tmp_path: Path
) -> None:
    sid = plan(runner, world)
    source = tmp_path / "n.txt"
    source.write_text("x", "utf-8")
    result = run(
        runner, "sessions", "notes", sid, "--as", world.junior, "--set", "a", "--file", source
    )
    assert result.exit_code == 2
    assert "not both" in result.output


def test_notes_are_refused_to_outsiders(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    sid = plan(runner, world)
    run(runner, "sessions", "notes", sid, "--as", world.junior, "--set", "SECRET")
    for person in (world.outsider, world.coordinator):
        result = run(runner, "sessions", "notes", sid, "--as", person)
        assert result.exit_code == 1
        assert f"only the members of tandem {world.tandem_id}" in result.output
        assert "SECRET" not in result.output
        wrote = run(runner, "sessions", "notes", sid, "--as", person, "--set", "hacked")
        assert wrote.exit_code == 1
    assert only_session(app).private_notes == "SECRET"


def test_feedback(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    sid = plan(runner, world)
    run(runner, "sessions", "hold", sid, "--as", world.junior, "--minutes", 60)
    result = run(
        runner,
        "sessions",
        "feedback",
        sid,
        "--as",
        world.junior,
        "--rating",
        4,
        "--comment",
        "Open and curious",
        "--pulse",
        5,
        "--share",
    )
    assert result.exit_code == 0, result.output
    assert "rating 4/5 (comment shared with the partner)" in result.output
    senior_view = run(runner, "sessions", "list", world.tandem_id, "--as", world.senior)
    assert "the mentor wrote: Open and curious" in senior_view.output
    assert "pulse" not in senior_view.output
    again = run(runner, "sessions", "feedback", sid, "--as", world.junior, "--rating", 3)
    assert again.exit_code == 1
    assert "already gave feedback" in again.output
    assert count(app, Feedback) == 1


def test_a_senior_pulse_is_refused(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    sid = plan(runner, world)
    run(runner, "sessions", "hold", sid, "--as", world.junior, "--minutes", 60)
    result = run(
        runner, "sessions", "feedback", sid, "--as", world.senior, "--rating", 4, "--pulse", 3
    )
    assert result.exit_code == 1
    assert "(safety_pulse)" in result.output
    assert count(app, Feedback) == 0


def test_list_as_coordinator_and_admin_hides_private_fields(
    runner: FlaskCliRunner, world: Seed
) -> None:
    sid = plan(runner, world)
    run(runner, "sessions", "notes", sid, "--as", world.junior, "--set", "SECRET")
    run(runner, "sessions", "cancel", sid, "--as", world.senior, "--reason", "PRIVATE")
    for who in (["--coordinator", world.coordinator], []):
        result = run(runner, "sessions", "list", world.tandem_id, *who, "--json")
        assert result.exit_code == 0, result.output
        [view] = json.loads(result.output)
        assert view["cancelled_by_role"] == "mentee"
        assert "notes" not in view
        assert "SECRET" not in result.output
        assert "PRIVATE" not in result.output
    member = run(runner, "sessions", "list", world.tandem_id, "--as", world.senior)
    assert "reason: PRIVATE" in member.output
    assert "notes: SECRET" in member.output


def test_list_as_member_and_coordinator_is_a_usage_error(
    runner: FlaskCliRunner, world: Seed
) -> None:
    result = run(
        runner, "sessions", "list", world.tandem_id, "--as", world.junior, "--coordinator", 1
    )
    assert result.exit_code == 2


def test_list_refused_to_outsiders(runner: FlaskCliRunner, world: Seed) -> None:
    result = run(runner, "sessions", "list", world.tandem_id, "--as", world.outsider)
    assert result.exit_code == 1
    assert "only the members" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sessions", "plan", "999", "--as", "1", "--at", "2026-03-09 09:00"], "tandem 999"),
        (["sessions", "hold", "999", "--as", "1", "--minutes", "30"], "session 999 not found"),
        (["sessions", "cancel", "999", "--as", "1", "--reason", "x"], "session 999 not found"),
        (["sessions", "notes", "999", "--as", "1"], "session 999 not found"),
        (["sessions", "feedback", "999", "--as", "1", "--rating", "3"], "session 999 not found"),
        (["sessions", "list", "999"], "tandem 999 not found"),
        (["alerts", "ack", "999"], "alert 999 not found"),
        (["alerts", "scan", "--program", "999"], "program 999 not found"),
        (["alerts", "list", "--program", "999"], "program 999 not found"),
        (["alerts", "list", "--org", "ghost"], "ghost"),
    ],
)
def test_unknown_ids(runner: FlaskCliRunner, world: Seed, args: list[str], message: str) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert message in result.output


def test_plan_with_bad_minutes_changes_nothing(
    runner: FlaskCliRunner, app: Flask, world: Seed
) -> None:
    result = run(
        runner,
        "sessions",
        "plan",
        world.tandem_id,
        "--as",
        world.junior,
        "--at",
        "2026-03-09 09:00",
        "--minutes",
        0,
    )
    assert result.exit_code == 1
    assert "planned_minutes must be a whole number from 1 to 480" in result.output
    assert count(app, MentoringSession) == 0


# --------------------------------------------------------------------------- alerts


def test_scan_list_ack_resolve(runner: FlaskCliRunner, app: Flask, world: Seed) -> None:
    # The tandem has been active since 2 March 2026 without a session: by 20 April it stalled.
    scanned = run(runner, "alerts", "scan", "--as-of", "2026-04-20 09:00")
    assert scanned.exit_code == 0, scanned.output
    assert "1 alert(s) raised" in scanned.output
    assert "alerts: 1/1" in scanned.output  # progress on stderr (mixed into output)
    again = run(
        runner, "alerts", "scan", "--program", world.program_id, "--as-of", "2026-04-21 09:00"
    )
    assert again.exit_code == 0, again.output
    assert f"program {world.program_id}: 0 alert(s) raised" in again.output
    with app.app_context():
        alert_id = get_session().scalars(select(Alert.id)).one()

    listed = run(runner, "alerts", "list", "--coordinator", world.coordinator)
    assert listed.exit_code == 0, listed.output
    assert f"[{alert_id}] open · stalled · program {world.program_id}" in listed.output
    assert f"Tandem {world.tandem_id} has held no session" in listed.output
    german = run(runner, "alerts", "list", "--org", "acme", "--lang", "de")
    assert f"Tandem {world.tandem_id} hat seit dem Start" in german.output

    ack = run(runner, "alerts", "ack", alert_id, "--coordinator", world.coordinator, "--note", "Hi")
    assert ack.exit_code == 0, ack.output
    assert f"Alert {alert_id} acknowledged by" in ack.output
    assert "no open alerts" in run(runner, "alerts", "list").output
    acked = run(runner, "alerts", "list", "--status", "acknowledged", "--json")
    [row] = json.loads(acked.output)
    assert row["note"] == "Hi"
    assert row["status"] == "acknowledged"

    done = run(runner, "alerts", "resolve", alert_id)
    assert done.exit_code == 0, done.output
    twice = run(runner, "alerts", "resolve", alert_id)
    assert twice.exit_code == 1
    assert "is resolved; it cannot become resolved" in twice.output
    with app.app_context():
        s = get_session()
        alert = s.get(Alert, alert_id)
        assert alert is not None
        assert alert.status is AlertStatus.RESOLVED
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "alert")
        ).all()
    assert actions == ["alert.acknowledged", "alert.resolved"]


def test_participants_cannot_list_or_handle_alerts(
    runner: FlaskCliRunner, app: Flask, world: Seed
) -> None:
    run(runner, "alerts", "scan", "--as-of", "2026-04-20 09:00")
    result = run(runner, "alerts", "list", "--coordinator", world.outsider)
    assert result.exit_code == 0  # not a coordinator of anything: nothing to see
    assert "no open alerts" in result.output
    with app.app_context():
        alert_id = get_session().scalars(select(Alert.id)).one()
    refused = run(runner, "alerts", "resolve", alert_id, "--coordinator", world.outsider)
    assert refused.exit_code == 1
    assert f"only a coordinator of program {world.program_id}" in refused.output


def test_alerts_list_needs_an_org_when_there_are_several(
    runner: FlaskCliRunner, app: Flask, world: Seed
) -> None:
    with app.app_context():
        s = get_session()
        organizations.create_organization(s, slug="beta", name="Beta", actor="t")
        s.commit()
    result = run(runner, "alerts", "list")
    assert result.exit_code == 1
    assert "say which organization with --org" in result.output
    assert run(runner, "alerts", "list", "--org", "beta").output.strip() == "no open alerts"

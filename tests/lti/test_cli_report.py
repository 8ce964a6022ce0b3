from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import (
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
from plugin.services.report import CSV_FIELDS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Seeded:
    program_id: int
    coordinator_id: int
    mentor_id: int


def _seed(app: Flask, *, tandems: int = 5) -> Seeded:
    with app.app_context():
        s = get_session()
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        program = programs.create_program(
            s,
            org=org,
            actor="t",
            name="RM 2026",
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
        )
        programs.set_program_status(s, program, "enrolling", actor="t")

        def person(level: int, n: int) -> Person:
            row = Person(
                org_id=org.id,
                given_name=f"G{n}",
                family_name=f"F{n}",
                job_level=level,
                hire_date=date(2020, 1, 1),
                languages=["en"],
            )
            s.add(row)
            s.flush()
            return row

        coordinator = person(8, 0)
        s.add(
            ProgramCoordinator(
                org_id=org.id, program_id=program.id, person_id=coordinator.id, added_by="t"
            )
        )
        first_mentor = 0
        for i in range(tandems):
            mentor, mentee = person(2, 2 * i + 1), person(9, 2 * i + 2)
            first_mentor = first_mentor or mentor.id
            tandem = Tandem(
                org_id=org.id,
                program_id=program.id,
                status=TandemStatus.ACTIVE,
                approved_by="t",
                approved_at=T0,
                activated_at=T0,
                status_changed_at=T0,
            )
            for who, role in ((mentor, EnrollmentRole.MENTOR), (mentee, EnrollmentRole.MENTEE)):
                e = enrollments.enroll(
                    s, program=program, person=who, role=role, consent=True, actor="t"
                )
                tandem.members.append(
                    TandemMember(
                        org_id=org.id,
                        enrollment_id=e.id,
                        person_id=who.id,
                        role=role,
                        accepted_at=T0,
                        confidentiality_accepted_at=T0,
                    )
                )
            s.add(tandem)
            s.flush()
            held = MentoringSession(
                org_id=org.id,
                tandem_id=tandem.id,
                status=SessionStatus.HELD,
                scheduled_at=T0 + timedelta(days=7),
                held_at=T0 + timedelta(days=7),
                minutes=60,
            )
            s.add(held)
            s.flush()
            s.add(
                Feedback(
                    org_id=org.id,
                    session_id=held.id,
                    author_id=mentor.id,
                    role=EnrollmentRole.MENTOR,
                    rating=4,
                    comment="private words",
                    safety_pulse=5,
                )
            )
        s.commit()
        return Seeded(program.id, coordinator.id, first_mentor)


def audits(app: Flask) -> int:
    with app.app_context():
        stmt = select(func.count()).select_from(AuditEvent)
        return get_session().scalar(stmt.where(AuditEvent.action == "report.generated")) or 0


def test_json_report_to_stdout(runner: FlaskCliRunner, app: Flask) -> None:
    seeded = _seed(app)
    result = runner.invoke(args=["report", "--program", str(seeded.program_id)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["program"]["id"] == seeded.program_id
    assert data["process"]["sessions"]["held"] == {"value": 5, "n": 5, "suppressed": False}
    assert data["reaction"]["ratings"]["mentor"]["mean"]["value"] == 4.0
    assert "private words" not in result.output
    assert set(data["definitions"]["reaction.ratings.mean"]) == {"en", "de"}
    assert audits(app) == 1


def test_csv_report_has_one_row_per_figure(runner: FlaskCliRunner, app: Flask) -> None:
    seeded = _seed(app)
    result = runner.invoke(args=["report", "--program", str(seeded.program_id), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert tuple(rows[0]) == CSV_FIELDS
    held = next(r for r in rows if r["metric"] == "sessions.held")
    assert held == {
        "level": "process",
        "metric": "sessions.held",
        "role": "",
        "skill": "",
        "value": "5",
        "n": "5",
        "suppressed": "false",
    }
    follow_up = next(r for r in rows if r["metric"] == "overall.follow_up_gain_mean")
    assert follow_up["value"] == ""
    assert follow_up["suppressed"] == "true"
    assert {r["role"] for r in rows} == {"", "mentor", "mentee"}


def test_report_to_a_file_with_an_as_of_day(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    seeded = _seed(app)
    out = tmp_path / "report.json"
    result = runner.invoke(
        args=[
            "report",
            "--program",
            str(seeded.program_id),
            "--output",
            str(out),
            "--as-of",
            "2026-12-31",
            "--org",
            "acme",
        ]
    )
    assert result.exit_code == 0, result.output
    assert f"report of program {seeded.program_id} written to {out} (json)" in result.output
    data = json.loads(out.read_text("utf-8"))
    assert data["program"]["as_of"] == "2026-12-31"
    assert data["results"]["as_of"] == "2026-12-31"
    assert data["results"]["participant_retention"]["value"] == 1.0


def test_report_as_a_coordinator(runner: FlaskCliRunner, app: Flask) -> None:
    seeded = _seed(app)
    args = ["report", "--program", str(seeded.program_id), "--coordinator"]
    result = runner.invoke(args=[*args, str(seeded.coordinator_id)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        event = get_session().scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        assert event.action == "report.generated"
        assert event.actor.endswith(f"as person:{seeded.coordinator_id}")


def test_a_participant_cannot_get_the_report(runner: FlaskCliRunner, app: Flask) -> None:
    seeded = _seed(app)
    result = runner.invoke(
        args=["report", "--program", str(seeded.program_id), "--coordinator", str(seeded.mentor_id)]
    )
    assert result.exit_code == 1
    assert f"only a coordinator of program {seeded.program_id}" in result.output
    assert audits(app) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--program", "999999"], "program 999999 not found"),
        (["--org", "other"], "program"),
        (["--org", "nowhere"], "nowhere"),
    ],
)
def test_unknown_program_or_organization(
    runner: FlaskCliRunner, app: Flask, args: list[str], message: str
) -> None:
    seeded = _seed(app)
    with app.app_context():
        organizations.create_organization(get_session(), slug="other", name="O", actor="t")
        get_session().commit()
    base = [] if "--program" in args else ["--program", str(seeded.program_id)]
    result = runner.invoke(args=["report", *base, *args])
    assert result.exit_code == 1
    assert message in result.output
    assert audits(app) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "xml"),
        (["--as-of", "31.12.2026"], "31.12.2026"),
        ([], "--program"),
    ],
)
def test_bad_options(runner: FlaskCliRunner, app: Flask, args: list[str], message: str) -> None:
    seeded = _seed(app, tandems=1)
    base = ["--program", str(seeded.program_id)] if args else []
    result = runner.invoke(args=["report", *base, *args])
    assert result.exit_code == 2
    assert message in result.output
    assert audits(app) == 0


def test_unwritable_output_is_a_clear_error(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    seeded = _seed(app, tandems=1)
    target = tmp_path / "missing-dir" / "report.csv"
    result = runner.invoke(
        args=["report", "--program", str(seeded.program_id), "--output", str(target)]
    )
    assert result.exit_code != 0
    assert "report.csv" in result.output
    assert audits(app) == 0

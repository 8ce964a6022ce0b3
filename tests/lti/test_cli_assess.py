from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import (
    Assessment,
    AuditEvent,
    Completion,
    EnrollmentRole,
    MentoringSession,
    OutboxMessage,
    Person,
    ProgramCoordinator,
    SessionStatus,
    Skill,
    SkillCategory,
    SurveyAnswer,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, organizations, programs, writeback

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANSWERS = '{"AI": 2, "DEI": 3}'


@dataclass
class Ids:
    program: int
    mentor: int
    mentee: int
    coordinator: int
    outsider: int


def _seed(app: Flask, *, sessions: int = 2) -> Ids:
    with app.app_context():
        s = get_session()
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        s.add_all(
            [
                Skill(org_id=org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY),
                Skill(
                    org_id=org.id,
                    code="DEI",
                    name="Diversity",
                    name_de="Vielfalt",
                    category=SkillCategory.CULTURE_DIVERSITY,
                ),
            ]
        )
        people = [
            Person(org_id=org.id, given_name=g, family_name="Test", email=f"{g}@x.test")
            for g in ("Mia", "Sam", "Cora", "Otto")
        ]
        s.add_all(people)
        s.flush()
        mentor, mentee, coordinator, outsider = people
        program = programs.create_program(
            s,
            org=org,
            name="RM",
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
            completion_rule={"min_sessions": 2, "min_minutes": 30},
            actor="t",
        )
        programs.set_program_status(s, program, "enrolling", actor="t")
        enr = {
            p.id: enrollments.enroll(
                s, program=program, person=p, role=role, consent=True, actor="t", languages=["en"]
            )
            for p, role in ((mentor, EnrollmentRole.MENTOR), (mentee, EnrollmentRole.MENTEE))
        }
        for step in ("matching", "running"):
            programs.set_program_status(s, program, step, actor="t")
        tandem = Tandem(
            org_id=org.id,
            program_id=program.id,
            status=TandemStatus.ACTIVE,
            activated_at=T0,
            status_changed_at=T0,
        )
        for p in (mentor, mentee):
            tandem.members.append(
                TandemMember(
                    org_id=org.id,
                    enrollment_id=enr[p.id].id,
                    person_id=p.id,
                    role=enr[p.id].role,
                    accepted_at=T0,
                    confidentiality_accepted_at=T0,
                )
            )
        s.add(tandem)
        s.flush()
        for i in range(sessions):
            when = T0 + timedelta(days=30 * i)
            s.add(
                MentoringSession(
                    org_id=org.id,
                    tandem_id=tandem.id,
                    status=SessionStatus.HELD,
                    scheduled_at=when,
                    held_at=when,
                    minutes=60,
                )
            )
        s.add(
            ProgramCoordinator(
                org_id=org.id, program_id=program.id, person_id=coordinator.id, added_by="t"
            )
        )
        writeback.add_target(s, org_id=org.id, name="lms", sink="journal", actor="t")
        s.commit()
        return Ids(program.id, mentor.id, mentee.id, coordinator.id, outsider.id)


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def ids(app: Flask) -> Ids:
    return _seed(app)


def submit(runner: FlaskCliRunner, ids: Ids, person: int, kind: str, *extra: str) -> Result:
    return runner.invoke(
        args=[
            "assessments",
            "submit",
            "--program",
            str(ids.program),
            "--as",
            str(person),
            "--kind",
            kind,
            *extra,
        ]
    )


# --------------------------------------------------------------------------- assessments


def test_skills_lists_the_program_skills(runner: FlaskCliRunner, ids: Ids) -> None:
    result = runner.invoke(args=["assessments", "skills", "--program", str(ids.program)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "AI\tAI tools\tAI tools\ttechnology",
        "DEI\tDiversity\tVielfalt\tculture_diversity",
    ]
    as_json = runner.invoke(
        args=["assessments", "skills", "--program", str(ids.program), "--json", "--org", "acme"]
    )
    assert [s["code"] for s in json.loads(as_json.output)] == ["AI", "DEI"]


def test_submit_pre_then_post_shows_gains_and_completion(
    runner: FlaskCliRunner, app: Flask, ids: Ids
) -> None:
    pre = submit(runner, ids, ids.mentee, "pre", "--answers", ANSWERS)
    assert pre.exit_code == 0, pre.output
    assert "pre-assessment" in pre.output
    assert "AI 2 · DEI 3" in pre.output
    post = submit(runner, ids, ids.mentee, "post", "--answers", '{"AI": 4, "DEI": 3}')
    assert post.exit_code == 0, post.output
    assert "gains since the pre-assessment: AI +2 · DEI 0" in post.output
    assert "completed on" in post.output
    assert count(app, Completion) == 1
    assert count(app, OutboxMessage) == 3  # completion, hours, skill gain to the one target


def test_submit_reads_an_answers_file(
    runner: FlaskCliRunner, app: Flask, ids: Ids, tmp_path: Path
) -> None:
    f = tmp_path / "answers.json"
    f.write_text(ANSWERS, "utf-8")
    result = submit(runner, ids, ids.mentor, "pre", "--answers-file", str(f))
    assert result.exit_code == 0, result.output
    assert count(app, Assessment) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "either --answers JSON or --answers-file"),
        (["--answers", "{oops"], "not valid JSON"),
        (["--answers", '{"AI": 2, "AI": 3, "DEI": 1}'], "skill AI is answered twice"),
        (["--answers", '{"AI": 2}'], "missing: DEI"),
        (["--answers", '{"AI": 2, "DEI": 9}'], "level of DEI must be a whole number"),
        (["--answers", '{"AI": 2, "DEI": 1, "X": 1}'], "unknown skill code(s) for this program: X"),
    ],
)
def test_submit_refuses_bad_answers(
    runner: FlaskCliRunner, app: Flask, ids: Ids, extra: list[str], message: str
) -> None:
    result = submit(runner, ids, ids.mentor, "pre", *extra)
    assert result.exit_code != 0
    assert message in result.output
    assert count(app, Assessment) == 0


def test_submit_twice_is_refused(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    assert submit(runner, ids, ids.mentor, "pre", "--answers", ANSWERS).exit_code == 0
    again = submit(runner, ids, ids.mentor, "pre", "--answers", ANSWERS)
    assert again.exit_code == 1
    assert "already submitted on" in again.output
    assert count(app, Assessment) == 1


def test_submit_by_someone_not_enrolled_is_refused(
    runner: FlaskCliRunner, app: Flask, ids: Ids
) -> None:
    result = submit(runner, ids, ids.outsider, "pre", "--answers", ANSWERS)
    assert result.exit_code == 1
    assert f"person {ids.outsider} is not enrolled" in result.output
    assert count(app, Assessment) == 0


def test_unknown_program_is_reported(runner: FlaskCliRunner, ids: Ids) -> None:
    result = runner.invoke(
        args=["assessments", "show", "--program", "999999", "--as", str(ids.mentor)]
    )
    assert result.exit_code == 1
    assert "program 999999 not found" in result.output


def test_show_lists_own_answers_and_what_is_open(runner: FlaskCliRunner, ids: Ids) -> None:
    submit(runner, ids, ids.mentor, "pre", "--answers", ANSWERS)
    result = runner.invoke(
        args=["assessments", "show", "--program", str(ids.program), "--as", str(ids.mentor)]
    )
    assert result.exit_code == 0, result.output
    assert "As mentor" in result.output
    assert "submitted" in result.output
    assert "open now: post" in result.output
    assert "survey: open" in result.output
    as_json = runner.invoke(
        args=[
            "assessments",
            "show",
            "--program",
            str(ids.program),
            "--as",
            str(ids.mentee),
            "--json",
        ]
    )
    data = json.loads(as_json.output)
    assert data["enrollments"][0]["role"] == "mentee"
    assert data["enrollments"][0]["assessments"] == {}  # the mentor's answers are not shown


def test_survey_is_recorded_once(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    args = [
        "assessments",
        "survey",
        "--program",
        str(ids.program),
        "--as",
        str(ids.mentor),
        "--satisfaction",
        "5",
        "--relationship",
        "--no-continue",
        "--again",
        "--comment",
        "Great.",
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "survey" in result.output
    with app.app_context():
        row = get_session().scalars(select(SurveyAnswer)).one()
        assert (row.satisfaction, row.relationship_formed, row.would_continue) == (5, True, False)
        assert row.would_do_again is True
    again = runner.invoke(args=args)
    assert again.exit_code == 1
    assert "already submitted" in again.output


def test_survey_needs_every_yes_or_no(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    result = runner.invoke(
        args=[
            "assessments",
            "survey",
            "--program",
            str(ids.program),
            "--as",
            str(ids.mentor),
            "--satisfaction",
            "4",
            "--relationship",
            "--again",
        ]
    )
    assert result.exit_code == 2
    assert "say --continue or --no-continue" in result.output
    assert count(app, SurveyAnswer) == 0


def test_survey_refuses_a_bad_satisfaction(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    result = runner.invoke(
        args=[
            "assessments",
            "survey",
            "--program",
            str(ids.program),
            "--as",
            str(ids.mentor),
            "--satisfaction",
            "7",
            "--relationship",
            "--continue",
            "--again",
        ]
    )
    assert result.exit_code == 1
    assert "satisfaction must be a whole number from 1 to 5" in result.output
    assert count(app, SurveyAnswer) == 0


# --------------------------------------------------------------------------- completions


def test_evaluate_lists_and_status(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    submit(runner, ids, ids.mentor, "post", "--answers", ANSWERS)
    submit(runner, ids, ids.mentee, "post", "--answers", ANSWERS)
    result = runner.invoke(
        args=[
            "completions",
            "evaluate",
            "--program",
            str(ids.program),
            "--coordinator",
            str(ids.coordinator),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "2 enrollments evaluated" in result.output
    assert "2 already completed" in result.output
    assert "completions: 2/2 (100%)" in result.stderr
    with app.app_context():
        event = (
            get_session()
            .scalars(select(AuditEvent).where(AuditEvent.action == "completions.evaluated"))
            .one()
        )
        assert event.actor.endswith(f"as person:{ids.coordinator}")

    listed = runner.invoke(args=["completions", "list", "--program", str(ids.program), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {r["person_id"] for r in rows} == {ids.mentor, ids.mentee}
    assert {r["hours"] for r in rows} == {2.0}
    text = runner.invoke(args=["completions", "list", "--program", str(ids.program)])
    assert "Mia Test\tmentor\t2 sessions\t2 h" in text.output

    status = runner.invoke(
        args=["completions", "status", "--program", str(ids.program), "--as", str(ids.mentee)]
    )
    assert status.exit_code == 0, status.output
    assert "(mentee)" in status.output
    assert "completed on" in status.output


def test_status_shows_what_is_missing(runner: FlaskCliRunner, ids: Ids) -> None:
    result = runner.invoke(
        args=[
            "completions",
            "status",
            "--program",
            str(ids.program),
            "--as",
            str(ids.mentor),
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["met"] is False
    assert data["missing"] == ["the post-assessment"]
    assert data["minutes"] == 120


def test_participants_cannot_evaluate_or_list(runner: FlaskCliRunner, app: Flask, ids: Ids) -> None:
    events = count(app, AuditEvent)
    for command in ("evaluate", "list"):
        result = runner.invoke(
            args=[
                "completions",
                command,
                "--program",
                str(ids.program),
                "--coordinator",
                str(ids.mentor),
            ]
        )
        assert result.exit_code == 1
        assert f"only a coordinator of program {ids.program}" in result.output
    assert count(app, Completion) == 0
    assert count(app, AuditEvent) == events

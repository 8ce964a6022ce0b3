from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, NotFound, ValidationError
from plugin.models import Organization, Program, ProgramStatus
from plugin.services import enrollments, programs

BASE: dict[str, Any] = {
    "name": "RM 2026",
    "format": "one_to_one",
    "starts_on": date(2026, 3, 1),
    "ends_on": date(2026, 9, 1),
}


def create(session: Session, org: Organization, **kw: Any) -> Program:
    return programs.create_program(session, org=org, actor="t", **{**BASE, **kw})


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Program)) or 0


def test_defaults(db_session: Session, org: Organization) -> None:
    p = create(db_session, org)
    assert p.status is ProgramStatus.DRAFT
    assert [t["theme"] for t in p.theme_plan][:2] == ["Developer experience", "New tools"]
    assert len(p.theme_plan) == 6
    assert p.completion_rule == {
        "min_sessions": 6,
        "min_minutes": 30,
        "require_post_assessment": True,
    }
    assert p.matching_settings["objective"] == "best_total"


def test_theme_plan_cut_to_program_length(db_session: Session, org: Organization) -> None:
    p = create(db_session, org, ends_on=date(2026, 5, 1))
    assert len(p.theme_plan) == 2


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"ends_on": date(2026, 2, 1)}, "end after it starts"),
        ({"ends_on": date(2026, 3, 1)}, "end after it starts"),
        ({"ends_on": date(2030, 3, 1)}, "three years"),
        ({"format": "circle"}, "unknown program format"),
        ({"name": ""}, "name"),
        ({"cadence_days": 0}, "cadence_days"),
        ({"min_session_minutes": 1}, "min_session_minutes"),
        ({"target_sessions": True}, "target_sessions"),
        ({"theme_plan": [{"month": 9, "theme": "X"}]}, "month"),
        ({"theme_plan": [{"month": 1, "theme": "X"}, {"month": 1, "theme": "Y"}]}, "twice"),
        ({"theme_plan": [{"month": 1, "topic": "X"}]}, "theme_plan"),
        ({"matching_settings": {"objective": "fastest"}}, "objective"),
        ({"matching_settings": {"weights": {"charisma": 1}}}, "unknown weight"),
        ({"matching_settings": {"weights": {"topic_fit": -1}}}, "weights.topic_fit"),
        ({"matching_settings": {"weights": {"topic_fit": float("nan")}}}, "weights.topic_fit"),
        ({"matching_settings": {"max_timezone_hours": 30}}, "max_timezone_hours"),
        ({"matching_settings": {"seniority_band": {"min": 5, "max": 2}}}, "above max"),
        ({"matching_settings": {"group": {"juniors_per_group": [2, 4]}}}, "juniors_per_group"),
        ({"matching_settings": {"colour": 1}}, "unknown matching setting"),
        ({"completion_rule": {"min_sessions": 0}}, "min_sessions"),
        ({"completion_rule": {"require_post_assessment": "yes"}}, "true or false"),
        ({"completion_rule": {"hours": 3}}, "unknown completion rule"),
    ],
)
def test_bad_input_writes_nothing(
    db_session: Session, org: Organization, changes: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        create(db_session, org, **changes)
    assert count(db_session) == 0


def test_duplicate_name_per_org_only(db_session: Session, make_org: Any) -> None:
    a, b = make_org("a", "A"), make_org("b", "B")
    create(db_session, a)
    create(db_session, b)  # same name, other org: fine
    with pytest.raises(ConflictError, match="already exists"):
        create(db_session, a)
    assert count(db_session) == 2


def test_settings_merge_over_defaults(db_session: Session, org: Organization) -> None:
    p = create(
        db_session,
        org,
        matching_settings={"weights": {"topic_fit": 2}, "max_timezone_hours": 3},
    )
    assert p.matching_settings["weights"]["topic_fit"] == 2.0
    assert p.matching_settings["weights"]["cross_department"] == 0.15
    assert p.matching_settings["max_timezone_hours"] == 3.0


def test_status_lifecycle(db_session: Session, org: Organization) -> None:
    p = create(db_session, org)
    for status in ("enrolling", "matching", "enrolling", "matching", "running", "closed"):
        programs.set_program_status(db_session, p, status, actor="t")
        assert p.status.value == status


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), "running"),
        ((), "matching"),
        (("enrolling",), "running"),
        (("enrolling", "matching", "running"), "enrolling"),
        (("closed",), "enrolling"),
        (("enrolling", "matching", "running", "closed"), "running"),
    ],
)
def test_illegal_transitions(
    db_session: Session, org: Organization, path: tuple[str, ...], bad: str
) -> None:
    p = create(db_session, org)
    for status in path:
        programs.set_program_status(db_session, p, status, actor="t")
    before = p.status
    with pytest.raises(ConflictError, match="cannot go from"):
        programs.set_program_status(db_session, p, bad, actor="t")
    assert p.status is before


def test_unknown_status(db_session: Session, org: Organization) -> None:
    p = create(db_session, org)
    with pytest.raises(ValidationError, match="unknown program status"):
        programs.set_program_status(db_session, p, "paused", actor="t")


def test_cannot_start_after_end(db_session: Session, org: Organization) -> None:
    p = create(db_session, org)
    programs.set_program_status(db_session, p, "enrolling", actor="t")
    programs.set_program_status(db_session, p, "matching", actor="t")
    with pytest.raises(ConflictError, match="ended on"):
        programs.set_program_status(db_session, p, "running", actor="t", today=date(2026, 10, 1))
    assert p.status is ProgramStatus.MATCHING


def test_update_rules(db_session: Session, org: Organization, make_person: Any) -> None:
    p = create(db_session, org)
    programs.update_program(db_session, p, actor="t", changes={"target_sessions": 8})
    assert p.target_sessions == 8
    with pytest.raises(ValidationError, match="cannot edit"):
        programs.update_program(db_session, p, actor="t", changes={"status": "closed"})
    with pytest.raises(ValidationError, match="end after"):
        programs.update_program(db_session, p, actor="t", changes={"ends_on": date(2026, 1, 1)})
    assert p.ends_on == date(2026, 9, 1)
    programs.update_program(db_session, p, actor="t", changes={"confidentiality_text": "New"})
    assert p.confidentiality_version == "2"
    programs.set_program_status(db_session, p, "enrolling", actor="t")
    enrollments.enroll(
        db_session, program=p, person=make_person(org), role="mentor", consent=True, actor="t"
    )
    with pytest.raises(ConflictError, match="format cannot change"):
        programs.update_program(db_session, p, actor="t", changes={"format": "group"})
    programs.set_program_status(db_session, p, "closed", actor="t")
    with pytest.raises(ConflictError, match="closed program"):
        programs.update_program(db_session, p, actor="t", changes={"target_sessions": 3})


def test_get_program_scoped(db_session: Session, make_org: Any) -> None:
    a, b = make_org("a", "A"), make_org("b", "B")
    p = create(db_session, a)
    assert programs.get_program(db_session, org_id=a.id, program_id=p.id) is p
    with pytest.raises(NotFound):
        programs.get_program(db_session, org_id=b.id, program_id=p.id)
    assert programs.list_programs(db_session, org_id=b.id) == []


def test_assessment_skills_are_checked_against_the_catalogue(
    db_session: Session, org: Organization, skills: Any
) -> None:
    program = programs.create_program(
        db_session,
        org=org,
        name="Assessed",
        format="one_to_one",
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 9, 1),
        assessment_skills=["AI", "DEI", "AI"],
        actor="t",
    )
    assert program.assessment_skills == ["AI", "DEI"]
    with pytest.raises(ValidationError, match="unknown skill code"):
        programs.update_program(
            db_session, program, actor="t", changes={"assessment_skills": ["AI", "NOPE"]}
        )
    assert program.assessment_skills == ["AI", "DEI"]
    with pytest.raises(ValidationError, match="list of skill codes"):
        programs.update_program(db_session, program, actor="t", changes={"assessment_skills": "AI"})
    programs.update_program(db_session, program, actor="t", changes={"assessment_skills": []})
    assert program.assessment_skills == []

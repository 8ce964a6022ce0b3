from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, TrackingError, ValidationError
from plugin.models import (
    Assessment,
    AssessmentAnswer,
    Completion,
    MentoringSession,
    PersonSkill,
    SessionStatus,
    Skill,
    SkillSource,
    TandemStatus,
)
from plugin.services import assessments, enrollments, organizations, programs
from tests.plugin.tracking.conftest import T0

ANSWERS = {"AI": 2, "DEI": 3, "SOCIAL": 1}


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def submit(session: Session, actor: Actor, program_id: int, kind: str, **kw: Any) -> Assessment:
    kw.setdefault("answers", ANSWERS)
    kw.setdefault("now", T0)
    return assessments.submit_assessment(session, actor, program_id, kind=kind, **kw)


@pytest.fixture
def catalogue(skills: list[Skill]) -> list[Skill]:
    return skills


# --------------------------------------------------------------------------- skills


def test_program_skills_default_to_the_whole_catalogue_by_code(
    db_session: Session, world: Any, catalogue: list[Skill]
) -> None:
    codes = [s.code for s in assessments.program_skills(db_session, world.program)]
    assert codes == ["AI", "DEI", "SOCIAL"]


def test_program_skills_follow_the_program_list(
    db_session: Session, world: Any, catalogue: list[Skill]
) -> None:
    programs.update_program(
        db_session, world.program, actor="t", changes={"assessment_skills": ["SOCIAL", "AI"]}
    )
    codes = [s.code for s in assessments.program_skills(db_session, world.program)]
    assert codes == ["AI", "SOCIAL"]


# --------------------------------------------------------------------------- pre


def test_pre_is_written_with_one_answer_per_skill(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    a = submit(db_session, pair.mentor_actor, world.program.id, "pre")
    assert a.kind.value == "pre"
    assert a.enrollment_id == pair.mentor_enrollment.id
    assert a.submitted_at == T0
    assert assessments.assessment_levels(db_session, a.id) == ANSWERS
    # A pre-assessment is a starting point, not a skill level for matching or the HRIS.
    assert count(db_session, PersonSkill) == 0


def test_pre_is_open_while_enrolling_before_any_tandem(
    db_session: Session, world: Any, make_person: Any, catalogue: list[Skill]
) -> None:
    person = make_person(world.org)
    enrollments.enroll(
        db_session, program=world.program, person=person, role="mentee", consent=True, actor="t"
    )
    actor = Actor.participant(world.org.id, person.id)
    a = submit(db_session, actor, world.program.id, "pre")
    assert a.id is not None


def test_pre_is_refused_when_the_program_is_closed(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    with pytest.raises(TrackingError, match=r"enrolling, matching or running; .* is closed"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre")
    assert count(db_session, Assessment) == 0


def test_pre_is_refused_after_the_post(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    submit(db_session, pair.mentor_actor, world.program.id, "post")
    with pytest.raises(TrackingError, match="pre-assessment is closed: your post-assessment"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre")
    assert count(db_session, Assessment) == 1


def test_the_same_kind_is_submitted_once(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    submit(db_session, pair.mentor_actor, world.program.id, "pre")
    with pytest.raises(TrackingError, match="already submitted on 2026-03-02"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre", now=T0 + timedelta(days=1))
    assert count(db_session, Assessment) == 1
    assert count(db_session, AssessmentAnswer) == 3


def test_each_member_submits_their_own(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    a = submit(db_session, pair.mentor_actor, world.program.id, "pre")
    b = submit(db_session, pair.mentee_actor, world.program.id, "pre")
    assert {a.enrollment_id, b.enrollment_id} == {
        pair.mentor_enrollment.id,
        pair.mentee_enrollment.id,
    }


# --------------------------------------------------------------------------- post


def test_post_is_refused_before_the_program_runs(
    db_session: Session, world: Any, make_pair: Any, catalogue: list[Skill]
) -> None:
    p = make_pair("active", running=False)
    with pytest.raises(TrackingError, match="opens when the program is running or closed"):
        submit(db_session, p.mentor_actor, world.program.id, "post")
    assert count(db_session, Assessment) == 0


def test_post_needs_a_tandem_that_became_active(
    db_session: Session, world: Any, make_pair: Any, catalogue: list[Skill]
) -> None:
    p = make_pair("accepted")
    with pytest.raises(TrackingError, match="for people who were in an active tandem"):
        submit(db_session, p.mentee_actor, world.program.id, "post")
    assert count(db_session, Assessment) == 0


def test_post_is_allowed_after_a_dissolved_active_tandem(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    pair.tandem.status = TandemStatus.DISSOLVED
    db_session.flush()
    a = submit(db_session, pair.mentee_actor, world.program.id, "post")
    assert a.kind.value == "post"


def test_post_is_allowed_when_the_program_closed(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    assert submit(db_session, pair.mentee_actor, world.program.id, "post").id is not None


def test_post_records_program_assessment_levels(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    by_code = {s.code: s for s in catalogue}
    db_session.add(
        PersonSkill(
            org_id=world.org.id,
            person_id=pair.mentee.id,
            skill_id=by_code["AI"].id,
            level=1,
            source=SkillSource.PROGRAM_ASSESSMENT,
            assessed_on=date(2025, 1, 1),
        )
    )
    db_session.flush()
    later = T0 + timedelta(days=170)
    submit(db_session, pair.mentee_actor, world.program.id, "post", now=later)
    rows = db_session.scalars(
        select(PersonSkill).where(
            PersonSkill.person_id == pair.mentee.id,
            PersonSkill.source == SkillSource.PROGRAM_ASSESSMENT,
        )
    ).all()
    levels = {r.skill_id: (r.level, r.assessed_on) for r in rows}
    assert levels == {
        by_code["AI"].id: (2, later.date()),
        by_code["DEI"].id: (3, later.date()),
        by_code["SOCIAL"].id: (1, later.date()),
    }


def test_post_never_overwrites_a_newer_level(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    ai = next(s for s in catalogue if s.code == "AI")
    newer = PersonSkill(
        org_id=world.org.id,
        person_id=pair.mentee.id,
        skill_id=ai.id,
        level=5,
        source=SkillSource.PROGRAM_ASSESSMENT,
        assessed_on=date(2027, 1, 1),
    )
    db_session.add(newer)
    db_session.flush()
    submit(db_session, pair.mentee_actor, world.program.id, "post")
    assert (newer.level, newer.assessed_on) == (5, date(2027, 1, 1))


def test_post_evaluates_completion_in_the_same_transaction(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    for i in range(6):
        db_session.add(
            MentoringSession(
                org_id=world.org.id,
                tandem_id=pair.tandem.id,
                status=SessionStatus.HELD,
                scheduled_at=T0 + timedelta(days=30 * i),
                held_at=T0 + timedelta(days=30 * i),
                minutes=60,
            )
        )
    db_session.flush()
    assert count(db_session, Completion) == 0
    later = T0 + timedelta(days=175)
    submit(db_session, pair.mentor_actor, world.program.id, "post", now=later)
    completion = db_session.scalars(select(Completion)).one()
    assert completion.enrollment_id == pair.mentor_enrollment.id
    assert completion.completed_at == later
    assert completion.minutes == 360


# --------------------------------------------------------------------------- follow-up


def test_follow_up_comes_after_the_post(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(TrackingError, match="comes after the post-assessment"):
        submit(db_session, pair.mentee_actor, world.program.id, "follow_up")
    assert count(db_session, Assessment) == 0


def test_follow_up_after_the_post_when_closed(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    submit(db_session, pair.mentee_actor, world.program.id, "post")
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    later = T0 + timedelta(days=300)
    a = submit(
        db_session,
        pair.mentee_actor,
        world.program.id,
        "follow_up",
        answers={"AI": 5, "DEI": 4, "SOCIAL": 2},
        now=later,
    )
    assert a.kind.value == "follow_up"
    ai = next(s for s in catalogue if s.code == "AI")
    level = db_session.scalars(
        select(PersonSkill.level).where(
            PersonSkill.person_id == pair.mentee.id, PersonSkill.skill_id == ai.id
        )
    ).one()
    assert level == 5


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"AI": 2, "DEI": 3}, "missing: SOCIAL"),
        ({**ANSWERS, "COBOL": 3, "ZZ": 1}, "unknown skill code\\(s\\) for this program: COBOL, ZZ"),
        ({**ANSWERS, "AI": True}, "level of AI must be a whole number from 1 to 5"),
        ({**ANSWERS, "AI": 0}, "level of AI must be a whole number from 1 to 5"),
        ({**ANSWERS, "DEI": 6}, "level of DEI"),
        ({**ANSWERS, "SOCIAL": 2.5}, "level of SOCIAL"),
        ({**ANSWERS, "SOCIAL": "3"}, "level of SOCIAL"),
        ([2, 3, 1], "answers must map each skill code"),
    ],
)
def test_bad_answers_are_refused(
    db_session: Session,
    world: Any,
    pair: Any,
    catalogue: list[Skill],
    answers: Any,
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        submit(db_session, pair.mentor_actor, world.program.id, "pre", answers=answers)
    assert info.value.field == "answers"
    assert count(db_session, Assessment) == 0
    assert count(db_session, AssessmentAnswer) == 0


def test_only_the_program_skills_are_answered(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    programs.update_program(
        db_session, world.program, actor="t", changes={"assessment_skills": ["AI"]}
    )
    with pytest.raises(ValidationError, match="for this program: DEI, SOCIAL; it assesses AI"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre")
    a = submit(db_session, pair.mentor_actor, world.program.id, "pre", answers={"AI": 4})
    assert assessments.assessment_levels(db_session, a.id) == {"AI": 4}


def test_unknown_kind_is_refused(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(ValidationError, match="choose pre, post or follow_up"):
        submit(db_session, pair.mentor_actor, world.program.id, "mid")
    assert count(db_session, Assessment) == 0


def test_an_empty_catalogue_is_reported(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(TrackingError, match="no skills to assess"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre", answers={})
    assert count(db_session, Assessment) == 0


# --------------------------------------------------------------------------- who


def test_a_person_not_enrolled_is_refused(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(PermissionDenied, match="is not enrolled in program"):
        submit(db_session, world.outsider_actor, world.program.id, "pre")
    assert count(db_session, Assessment) == 0


def test_an_actor_who_is_nobody_is_refused(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(PermissionDenied, match="say which person acts"):
        submit(db_session, world.admin, world.program.id, "pre")


def test_a_program_of_another_org_is_not_found(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    other = organizations.create_organization(db_session, slug="other", name="O", actor="t")
    stranger = Actor.participant(other.id, pair.mentor.id)
    with pytest.raises(NotFound, match=f"program {world.program.id} not found"):
        submit(db_session, stranger, world.program.id, "pre")
    assert count(db_session, Assessment) == 0


def test_a_withdrawn_enrollment_takes_no_answers(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    enrollments.withdraw(db_session, pair.mentor_enrollment, actor="t", now=T0)
    with pytest.raises(TrackingError, match="was withdrawn on 2026-03-02"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre")
    assert count(db_session, Assessment) == 0


def test_two_enrollments_need_a_role(
    db_session: Session, world: Any, make_program: Any, make_person: Any, catalogue: list[Skill]
) -> None:
    bi = make_program(world.org, name="Peer pairs", format="bidirectional")
    person = make_person(world.org)
    for role in ("mentor", "mentee"):
        enrollments.enroll(
            db_session, program=bi, person=person, role=role, consent=True, actor="t"
        )
    actor = Actor.participant(world.org.id, person.id)
    with pytest.raises(ValidationError, match="as mentor and mentee; say which role"):
        submit(db_session, actor, bi.id, "pre")
    assert count(db_session, Assessment) == 0
    a = submit(db_session, actor, bi.id, "pre", role="mentee")
    b = submit(db_session, actor, bi.id, "pre", role="mentor")
    assert a.enrollment_id != b.enrollment_id


def test_an_unknown_role_is_refused(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(ValidationError, match="unknown role 'boss'"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre", role="boss")


def test_the_wrong_role_is_refused(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(PermissionDenied, match=r"not enrolled in program .* as mentee"):
        submit(db_session, pair.mentor_actor, world.program.id, "pre", role="mentee")


# --------------------------------------------------------------------------- gains


def test_skill_gains_are_post_minus_pre(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    e = pair.mentee_enrollment.id
    submit(db_session, pair.mentee_actor, world.program.id, "pre")
    assert assessments.skill_gains(db_session, e) == {}
    submit(
        db_session,
        pair.mentee_actor,
        world.program.id,
        "post",
        answers={"AI": 4, "DEI": 3, "SOCIAL": 3},
    )
    assert assessments.skill_gains(db_session, e) == {"AI": 2, "DEI": 0, "SOCIAL": 2}
    assert assessments.follow_up_gains(db_session, e) == {}
    submit(
        db_session,
        pair.mentee_actor,
        world.program.id,
        "follow_up",
        answers={"AI": 3, "DEI": 5, "SOCIAL": 1},
    )
    assert assessments.follow_up_gains(db_session, e) == {"AI": 1, "DEI": 2, "SOCIAL": 0}


def test_gains_cover_only_skills_in_both(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    submit(db_session, pair.mentee_actor, world.program.id, "pre")
    programs.update_program(
        db_session, world.program, actor="t", changes={"assessment_skills": ["AI", "DEI"]}
    )
    submit(db_session, pair.mentee_actor, world.program.id, "post", answers={"AI": 5, "DEI": 1})
    assert assessments.skill_gains(db_session, pair.mentee_enrollment.id) == {"AI": 3, "DEI": -2}


def test_gains_need_a_pre(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    submit(db_session, pair.mentee_actor, world.program.id, "post")
    assert assessments.skill_gains(db_session, pair.mentee_enrollment.id) == {}


# --------------------------------------------------------------------------- reading


def test_my_assessments_shows_own_answers_and_what_is_open(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    catalogue[0].name_de = "KI-Werkzeuge"
    submit(db_session, pair.mentor_actor, world.program.id, "pre")
    partner = {"AI": 1, "DEI": 1, "SOCIAL": 1}
    submit(db_session, pair.mentee_actor, world.program.id, "pre", answers=partner)
    data = assessments.my_assessments(db_session, pair.mentor_actor, world.program.id)
    assert [s["code"] for s in data["skills"]] == ["AI", "DEI", "SOCIAL"]
    assert data["skills"][0]["name_de"] == "KI-Werkzeuge"
    assert data["skills"][1]["name_de"] == "Diversity"
    (mine,) = data["enrollments"]
    assert mine["enrollment_id"] == pair.mentor_enrollment.id
    assert mine["assessments"]["pre"]["answers"] == ANSWERS
    assert mine["open"] == ["post"]
    assert "comes after the post-assessment" in mine["not_open"]["follow_up"]
    assert mine["survey"] is None
    assert mine["survey_open"] is True


def test_my_assessments_is_for_participants_only(
    db_session: Session, world: Any, pair: Any, catalogue: list[Skill]
) -> None:
    with pytest.raises(PermissionDenied, match="not enrolled"):
        assessments.my_assessments(db_session, world.outsider_actor, world.program.id)
    with pytest.raises(PermissionDenied, match="say which person acts"):
        assessments.my_assessments(db_session, world.admin, world.program.id)

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, TrackingError, ValidationError
from plugin.models import SurveyAnswer, TandemStatus
from plugin.services import assessments, enrollments, organizations, programs
from tests.plugin.tracking.conftest import T0

GOOD: dict[str, Any] = {
    "satisfaction": 4,
    "relationship_formed": True,
    "would_continue": False,
    "would_do_again": True,
}


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SurveyAnswer)) or 0


def answer(session: Session, actor: Actor, program_id: int, **kw: Any) -> SurveyAnswer:
    values = {**GOOD, "now": T0 + timedelta(days=170), **kw}
    return assessments.submit_survey(session, actor, program_id, **values)


def test_survey_is_recorded(db_session: Session, world: Any, pair: Any) -> None:
    s = answer(db_session, pair.mentee_actor, world.program.id, comment="  Eye-opening.  ")
    assert s.enrollment_id == pair.mentee_enrollment.id
    assert s.program_id == world.program.id
    assert (s.satisfaction, s.relationship_formed, s.would_continue, s.would_do_again) == (
        4,
        True,
        False,
        True,
    )
    assert s.comment == "Eye-opening."
    assert s.submitted_at == T0 + timedelta(days=170)


def test_a_blank_comment_is_no_comment(db_session: Session, world: Any, pair: Any) -> None:
    assert answer(db_session, pair.mentor_actor, world.program.id, comment="   ").comment is None


def test_survey_is_answered_once(db_session: Session, world: Any, pair: Any) -> None:
    answer(db_session, pair.mentor_actor, world.program.id)
    with pytest.raises(TrackingError, match="already submitted on 2026-08-19"):
        answer(db_session, pair.mentor_actor, world.program.id, satisfaction=1)
    assert count(db_session) == 1
    assert db_session.scalars(select(SurveyAnswer.satisfaction)).one() == 4


def test_both_members_answer_their_own(db_session: Session, world: Any, pair: Any) -> None:
    answer(db_session, pair.mentor_actor, world.program.id)
    answer(db_session, pair.mentee_actor, world.program.id)
    assert count(db_session) == 2


def test_survey_is_refused_before_the_program_runs(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("active", running=False)
    with pytest.raises(TrackingError, match=r"opens when the program is running; .* is enrolling"):
        answer(db_session, p.mentor_actor, world.program.id)
    assert count(db_session) == 0


def test_survey_is_open_after_the_program_closed(
    db_session: Session, world: Any, pair: Any
) -> None:
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    assert answer(db_session, pair.mentor_actor, world.program.id).id is not None


def test_survey_needs_a_tandem_that_became_active(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    with pytest.raises(TrackingError, match="for people who were in an active tandem"):
        answer(db_session, p.mentor_actor, world.program.id)
    assert count(db_session) == 0


def test_survey_after_a_dissolved_tandem(db_session: Session, world: Any, pair: Any) -> None:
    pair.tandem.status = TandemStatus.DISSOLVED
    db_session.flush()
    assert answer(db_session, pair.mentor_actor, world.program.id).id is not None


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"satisfaction": 0}, "satisfaction", "from 1 to 5, not 0"),
        ({"satisfaction": 6}, "satisfaction", "from 1 to 5, not 6"),
        ({"satisfaction": True}, "satisfaction", "from 1 to 5, not True"),
        ({"satisfaction": "5"}, "satisfaction", "from 1 to 5, not '5'"),
        ({"satisfaction": 4.0}, "satisfaction", "from 1 to 5"),
        ({"relationship_formed": "yes"}, "relationship_formed", "true or false"),
        ({"would_continue": 1}, "would_continue", "true or false"),
        ({"would_do_again": None}, "would_do_again", "true or false"),
        ({"comment": "x" * 4001}, "comment", "4001 characters; at most 4000"),
        ({"comment": 42}, "comment", "must be text"),
    ],
)
def test_bad_values_are_refused(
    db_session: Session, world: Any, pair: Any, values: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        answer(db_session, pair.mentor_actor, world.program.id, **values)
    assert info.value.field == field
    assert count(db_session) == 0


def test_a_comment_of_4000_characters_is_fine(db_session: Session, world: Any, pair: Any) -> None:
    s = answer(db_session, pair.mentor_actor, world.program.id, comment="x" * 4000)
    assert s.comment is not None
    assert len(s.comment) == 4000


def test_a_person_not_enrolled_is_refused(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(PermissionDenied, match="not enrolled"):
        answer(db_session, world.outsider_actor, world.program.id)
    with pytest.raises(PermissionDenied, match="say which person"):
        answer(db_session, world.admin, world.program.id)
    assert count(db_session) == 0


def test_a_withdrawn_enrollment_is_refused(db_session: Session, world: Any, pair: Any) -> None:
    enrollments.withdraw(db_session, pair.mentee_enrollment, actor="t", now=T0)
    with pytest.raises(TrackingError, match="withdrawn"):
        answer(db_session, pair.mentee_actor, world.program.id)
    assert count(db_session) == 0


def test_a_program_of_another_org_is_not_found(db_session: Session, world: Any, pair: Any) -> None:
    other = organizations.create_organization(db_session, slug="else", name="E", actor="t")
    with pytest.raises(NotFound):
        answer(db_session, Actor.participant(other.id, pair.mentor.id), world.program.id)
    assert count(db_session) == 0


def test_my_assessments_shows_only_my_survey(db_session: Session, world: Any, pair: Any) -> None:
    answer(db_session, pair.mentee_actor, world.program.id, comment="private to me")
    mentor_view = assessments.my_assessments(db_session, pair.mentor_actor, world.program.id)
    mentee_view = assessments.my_assessments(db_session, pair.mentee_actor, world.program.id)
    assert mentor_view["enrollments"][0]["survey"] is None
    assert mentor_view["enrollments"][0]["survey_open"] is True
    assert "private to me" not in str(mentor_view)
    mine = mentee_view["enrollments"][0]
    assert mine["survey"]["comment"] == "private to me"
    assert mine["survey_open"] is False
    assert mine["survey_not_open"] is None

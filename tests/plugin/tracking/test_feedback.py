from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, NotFound, PermissionDenied, TrackingError, ValidationError
from plugin.models import Alert, EnrollmentRole, Feedback, MentoringSession
from plugin.services import sessions
from tests.plugin.tracking.conftest import T0

AT = T0 + timedelta(days=7)
AFTER = AT + timedelta(hours=2)


def rows(db: Session) -> tuple[int, int]:
    feedback = db.scalar(select(func.count()).select_from(Feedback)) or 0
    alerts = db.scalar(select(func.count()).select_from(Alert)) or 0
    return feedback, alerts


@pytest.fixture
def held(db_session: Session, pair: Any) -> MentoringSession:
    row = sessions.plan_session(
        db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT, now=T0
    )
    return sessions.hold_session(db_session, pair.mentor_actor, row.id, minutes=60, now=AFTER)


def test_junior_gives_feedback_with_a_pulse(db_session: Session, pair: Any, held: Any) -> None:
    fb = sessions.give_feedback(
        db_session,
        pair.mentor_actor,
        held.id,
        rating=4,
        comment="  Good questions. ",
        safety_pulse=5,
        shared_with_partner=True,
        now=AFTER,
    )
    assert fb.role is EnrollmentRole.MENTOR
    assert fb.author_id == pair.mentor.id
    assert fb.rating == 4
    assert fb.comment == "Good questions."
    assert fb.safety_pulse == 5
    assert fb.shared_with_partner is True
    assert fb.created_at == AFTER


def test_both_sides_give_feedback(db_session: Session, pair: Any, held: Any) -> None:
    sessions.give_feedback(db_session, pair.mentor_actor, held.id, rating=5, now=AFTER)
    senior = sessions.give_feedback(db_session, pair.mentee_actor, held.id, rating=3, now=AFTER)
    assert senior.role is EnrollmentRole.MENTEE
    assert senior.safety_pulse is None
    assert rows(db_session) == (2, 0)


def test_junior_may_skip_the_pulse(db_session: Session, pair: Any, held: Any) -> None:
    fb = sessions.give_feedback(db_session, pair.mentor_actor, held.id, rating=4, now=AFTER)
    assert fb.safety_pulse is None


def test_a_senior_gives_no_pulse(db_session: Session, pair: Any, held: Any) -> None:
    with pytest.raises(ValidationError, match="junior") as err:
        sessions.give_feedback(
            db_session, pair.mentee_actor, held.id, rating=4, safety_pulse=4, now=AFTER
        )
    assert err.value.field == "safety_pulse"
    assert rows(db_session) == (0, 0)


def test_no_pulse_in_bidirectional_programs(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    peers = make_program(world.org, name="Peers", format="bidirectional")
    pair = make_pair(program=peers)
    row = sessions.plan_session(
        db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT, now=T0
    )
    sessions.hold_session(db_session, pair.mentor_actor, row.id, minutes=60, now=AFTER)
    with pytest.raises(ValidationError, match="bidirectional"):
        sessions.give_feedback(
            db_session, pair.mentor_actor, row.id, rating=4, safety_pulse=3, now=AFTER
        )
    assert sessions.give_feedback(db_session, pair.mentor_actor, row.id, rating=4, now=AFTER).id


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"rating": 0}, "rating", "1 to 5"),
        ({"rating": 6}, "rating", "1 to 5"),
        ({"rating": True}, "rating", "1 to 5"),
        ({"rating": 4.5}, "rating", "1 to 5"),
        ({"rating": "5"}, "rating", "1 to 5"),
        ({"safety_pulse": 0}, "safety_pulse", "1 to 5"),
        ({"safety_pulse": 6}, "safety_pulse", "1 to 5"),
        ({"safety_pulse": False}, "safety_pulse", "1 to 5"),
        ({"comment": "c" * 4001}, "comment", "at most 4000"),
        ({"shared_with_partner": "yes"}, "shared", "true or false"),
    ],
)
def test_feedback_refuses_bad_input(
    db_session: Session, pair: Any, held: Any, kw: dict[str, Any], field: str, message: str
) -> None:
    args: dict[str, Any] = {"rating": 4, **kw}
    with pytest.raises(ValidationError, match=message) as err:
        sessions.give_feedback(db_session, pair.mentor_actor, held.id, now=AFTER, **args)
    assert err.value.field == field
    assert rows(db_session) == (0, 0)


def test_feedback_once_per_member_and_session(db_session: Session, pair: Any, held: Any) -> None:
    sessions.give_feedback(db_session, pair.mentor_actor, held.id, rating=4, now=AFTER)
    with pytest.raises(ConflictError, match="already gave feedback"):
        sessions.give_feedback(db_session, pair.mentor_actor, held.id, rating=2, now=AFTER)
    assert rows(db_session) == (1, 0)


@pytest.mark.parametrize("outcome", ["planned", "cancelled"])
def test_feedback_only_after_the_session_is_held(
    db_session: Session, pair: Any, outcome: str
) -> None:
    row = sessions.plan_session(
        db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT, now=T0
    )
    if outcome == "cancelled":
        sessions.cancel_session(db_session, pair.mentor_actor, row.id, reason="ill", now=T0)
    with pytest.raises(TrackingError, match=f"is {outcome}; feedback opens once"):
        sessions.give_feedback(db_session, pair.mentor_actor, row.id, rating=4, now=AFTER)
    assert rows(db_session) == (0, 0)


@pytest.mark.parametrize("who", ["outsider_actor", "coordinator_actor", "admin"])
def test_feedback_only_from_members(db_session: Session, world: Any, held: Any, who: str) -> None:
    with pytest.raises(PermissionDenied):
        sessions.give_feedback(db_session, getattr(world, who), held.id, rating=4, now=AFTER)
    assert rows(db_session) == (0, 0)


def test_feedback_from_another_tandem_is_refused(
    db_session: Session, held: Any, make_pair: Any
) -> None:
    other = make_pair()
    with pytest.raises(PermissionDenied, match=f"tandem {held.tandem_id}"):
        sessions.give_feedback(db_session, other.mentor_actor, held.id, rating=4, now=AFTER)
    assert rows(db_session) == (0, 0)


def test_feedback_on_an_unknown_session(db_session: Session, pair: Any) -> None:
    with pytest.raises(NotFound, match="session 777777 not found"):
        sessions.give_feedback(db_session, pair.mentor_actor, 777_777, rating=4, now=AFTER)


def test_low_pulse_raises_an_alert(db_session: Session, pair: Any, held: Any) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=2, safety_pulse=2, now=AFTER
    )
    assert rows(db_session) == (1, 1)


def test_pulse_of_three_raises_nothing(db_session: Session, pair: Any, held: Any) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=3, safety_pulse=3, now=AFTER
    )
    assert rows(db_session) == (1, 0)


# --------------------------------------------------------------------------- who sees what


def test_member_sees_own_feedback_in_full(db_session: Session, pair: Any, held: Any) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=2, comment="mine", safety_pulse=3, now=AFTER
    )
    [view] = sessions.list_sessions(db_session, pair.mentor_actor, pair.tandem.id)
    assert view["my_feedback"]["rating"] == 2
    assert view["my_feedback"]["safety_pulse"] == 3
    assert view["my_feedback"]["comment"] == "mine"
    assert view["awaiting_my_feedback"] is False


def test_partner_sees_a_shared_comment_but_never_rating_or_pulse(
    db_session: Session, pair: Any, held: Any
) -> None:
    sessions.give_feedback(
        db_session,
        pair.mentor_actor,
        held.id,
        rating=1,
        comment="Please listen more",
        safety_pulse=1,
        shared_with_partner=True,
        now=AFTER,
    )
    [view] = sessions.list_sessions(db_session, pair.mentee_actor, pair.tandem.id)
    assert view["my_feedback"] is None
    assert view["partner_comments"] == [{"role": "mentor", "comment": "Please listen more"}]
    feedback = sessions.list_feedback(db_session, pair.mentee_actor, held.id)
    assert feedback == [{"mine": False, "role": "mentor", "comment": "Please listen more"}]
    assert "rating" not in repr(view["partner_comments"])
    assert "safety_pulse" not in repr(feedback)


def test_partner_does_not_see_an_unshared_comment(
    db_session: Session, pair: Any, held: Any
) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=4, comment="private", now=AFTER
    )
    [view] = sessions.list_sessions(db_session, pair.mentee_actor, pair.tandem.id)
    assert view["partner_comments"] == []
    assert sessions.list_feedback(db_session, pair.mentee_actor, held.id) == [
        {"mine": False, "role": "mentor", "comment": None}
    ]


def test_list_feedback_shows_the_author_everything(
    db_session: Session, pair: Any, held: Any
) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=4, comment="c", safety_pulse=4, now=AFTER
    )
    [mine] = sessions.list_feedback(db_session, pair.mentor_actor, held.id)
    assert mine["mine"] is True
    assert mine["rating"] == 4
    assert mine["safety_pulse"] == 4
    assert mine["given_at"] == AFTER


def test_coordinators_see_only_who_gave_feedback(
    db_session: Session, world: Any, pair: Any, held: Any
) -> None:
    sessions.give_feedback(
        db_session, pair.mentor_actor, held.id, rating=1, comment="secret words", now=AFTER
    )
    sessions.give_feedback(db_session, pair.mentee_actor, held.id, rating=5, now=AFTER)
    for actor in (world.coordinator_actor, world.admin):
        assert sessions.list_feedback(db_session, actor, held.id) == [
            {"role": "mentor"},
            {"role": "mentee"},
        ]
        [view] = sessions.list_sessions(db_session, actor, pair.tandem.id)
        assert view["feedback_count"] == 2
        assert "secret words" not in repr(view)


def test_list_feedback_refused_to_outsiders(db_session: Session, world: Any, held: Any) -> None:
    with pytest.raises(PermissionDenied):
        sessions.list_feedback(db_session, world.outsider_actor, held.id)

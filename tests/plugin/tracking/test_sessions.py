from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, NotFound, PermissionDenied, TrackingError, ValidationError
from plugin.models import (
    AuditEvent,
    Completion,
    EnrollmentRole,
    MentoringSession,
    Program,
    ProgramStatus,
    SessionStatus,
    TandemStatus,
)
from plugin.services import organizations, programs, sessions
from tests.plugin.tracking.conftest import T0

AT = T0 + timedelta(days=7)  # 2026-03-09 09:00 UTC, inside month 1 of the program
LATER = T0 + timedelta(days=30)


def state(db: Session) -> list[tuple[Any, ...]]:
    rows = db.scalars(select(MentoringSession).order_by(MentoringSession.id)).all()
    audits = db.scalar(select(func.count()).select_from(AuditEvent))
    return [
        (
            r.id,
            r.status,
            r.scheduled_at,
            r.held_at,
            r.minutes,
            r.topic,
            r.theme,
            r.cancel_reason,
            r.private_notes,
        )
        for r in rows
    ] + [("audit", audits)]


@pytest.fixture
def p(db_session: Session, pair: Any) -> Any:
    return pair


@pytest.fixture
def plan(db_session: Session, pair: Any) -> Any:
    """Plan a session of ``pair`` (as its junior) at ``at``."""

    def _plan(_pair: Any = None, at: datetime = AT, **kw: Any) -> MentoringSession:
        who = _pair or pair
        return sessions.plan_session(
            db_session, who.mentor_actor, who.tandem.id, scheduled_at=at, **kw
        )

    return _plan


# --------------------------------------------------------------------------- themes


def test_theme_for_maps_program_months(world: Any) -> None:
    program = world.program  # 2026-03-01 .. 2026-09-01 with the six default themes
    assert sessions.theme_for(program, date(2026, 3, 1)) == "Developer experience"
    assert sessions.theme_for(program, date(2026, 3, 31)) == "Developer experience"
    assert sessions.theme_for(program, date(2026, 4, 1)) == "New tools"
    assert sessions.theme_for(program, date(2026, 8, 31)) == "Retrospective"


def test_theme_for_is_none_outside_the_plan(world: Any) -> None:
    program = world.program
    assert sessions.theme_for(program, date(2026, 2, 28)) is None
    assert sessions.theme_for(program, date(2026, 9, 1)) is None  # month 7: not planned
    assert sessions.theme_for(program, date(2026, 9, 2)) is None


def test_theme_for_months_start_mid_month_and_clamp() -> None:
    program = Program(
        starts_on=date(2026, 1, 31),
        ends_on=date(2026, 5, 31),
        theme_plan=[{"month": 1, "theme": "A"}, {"month": 2, "theme": "B"}],
    )
    assert sessions.theme_for(program, date(2026, 2, 27)) == "A"
    assert sessions.theme_for(program, date(2026, 2, 28)) == "B"  # Jan 31 + 1 month
    assert sessions.theme_for(program, date(2026, 3, 30)) == "B"
    assert sessions.theme_for(program, date(2026, 3, 31)) is None  # month 3 has no theme


def test_theme_for_takes_a_datetime_at_its_utc_date(world: Any) -> None:
    late = datetime(2026, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 31 Mar 22:30 UTC
    assert sessions.theme_for(world.program, late) == "Developer experience"


# --------------------------------------------------------------------------- plan


def test_plan_session(p: Any, plan: Any) -> None:
    row = plan(p, planned_minutes=60, topic="  Prompting basics ", now=T0)
    assert row.status is SessionStatus.PLANNED
    assert row.scheduled_at == AT
    assert row.planned_minutes == 60
    assert row.topic == "Prompting basics"
    assert row.theme == "Developer experience"
    assert row.created_at == T0
    assert row.updated_at == T0


def test_plan_session_normalises_to_utc(p: Any, plan: Any) -> None:
    local = datetime(2026, 4, 6, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    row = plan(p, local, now=T0)
    assert row.scheduled_at == datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
    assert row.theme == "New tools"


def test_plan_session_by_the_senior(p: Any, db_session: Session) -> None:
    row = sessions.plan_session(db_session, p.mentee_actor, p.tandem.id, scheduled_at=AT, now=T0)
    assert row.tandem_id == p.tandem.id


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"scheduled_at": datetime(2026, 3, 9, 9, 0)}, "scheduled_at", "time zone"),  # noqa: DTZ001
        ({"scheduled_at": "2026-03-09"}, "scheduled_at", "date and time"),
        ({"scheduled_at": datetime(2026, 2, 28, 23, 0, tzinfo=UTC)}, "scheduled_at", "outside"),
        ({"scheduled_at": datetime(2026, 9, 2, 0, 0, tzinfo=UTC)}, "scheduled_at", "outside"),
        ({"planned_minutes": 0}, "planned_minutes", "1 to 480"),
        ({"planned_minutes": 481}, "planned_minutes", "1 to 480"),
        ({"planned_minutes": True}, "planned_minutes", "1 to 480"),
        ({"planned_minutes": 30.5}, "planned_minutes", "1 to 480"),
        ({"topic": "x" * 201}, "topic", "at most 200"),
        ({"topic": 7}, "topic", "text"),
    ],
)
def test_plan_session_refuses_bad_input(
    p: Any, db_session: Session, kw: dict[str, Any], field: str, message: str
) -> None:
    args: dict[str, Any] = {"scheduled_at": AT, **kw}
    before = state(db_session)
    with pytest.raises(ValidationError, match=message) as err:
        sessions.plan_session(db_session, p.mentor_actor, p.tandem.id, now=T0, **args)
    assert err.value.field == field
    assert state(db_session) == before


def test_plan_session_on_the_last_day_is_inside(p: Any, plan: Any) -> None:
    row = plan(p, datetime(2026, 9, 1, 23, 59, tzinfo=UTC), now=T0)
    assert row.theme is None  # month 7 is not in the plan


def test_plan_two_sessions_at_the_same_time_conflicts(
    p: Any, db_session: Session, plan: Any
) -> None:
    first = plan(p, now=T0)
    before = state(db_session)
    with pytest.raises(ConflictError, match=f"already has session {first.id}") as err:
        plan(p, AT.astimezone(timezone(timedelta(hours=1))), now=T0)
    assert err.value.field == "scheduled_at"
    assert state(db_session) == before


def test_plan_at_the_time_of_a_cancelled_session_is_allowed(
    p: Any, plan: Any, db_session: Session
) -> None:
    first = plan(p, now=T0)
    sessions.cancel_session(db_session, p.mentor_actor, first.id, reason="ill", now=T0)
    assert plan(p, now=T0).id != first.id


def test_other_tandems_may_meet_at_the_same_time(
    p: Any, make_pair: Any, plan: Any, db_session: Session
) -> None:
    other = make_pair()
    plan(p, now=T0)
    row = sessions.plan_session(
        db_session, other.mentor_actor, other.tandem.id, scheduled_at=AT, now=T0
    )
    assert row.tandem_id == other.tandem.id


@pytest.mark.parametrize("status", ["proposed", "accepted", "completed", "dissolved"])
def test_plan_needs_an_active_tandem(db_session: Session, make_pair: Any, status: str) -> None:
    pair = make_pair(status)
    with pytest.raises(TrackingError, match=f"tandem {pair.tandem.id} is {status}"):
        sessions.plan_session(
            db_session, pair.mentor_actor, pair.tandem.id, scheduled_at=AT, now=T0
        )
    assert db_session.scalar(select(func.count()).select_from(MentoringSession)) == 0


def test_plan_refused_when_the_program_is_closed(
    db_session: Session, p: Any, world: Any, plan: Any
) -> None:
    programs.set_program_status(db_session, world.program, ProgramStatus.CLOSED, actor="t")
    # Closing completed the tandem; nothing more can be planned in it.
    with pytest.raises(TrackingError, match="completed"):
        plan(p, now=T0)


@pytest.mark.parametrize("who", ["outsider_actor", "coordinator_actor", "admin"])
def test_plan_only_by_members(db_session: Session, p: Any, world: Any, who: str) -> None:
    actor = getattr(world, who)
    before = state(db_session)
    with pytest.raises(PermissionDenied, match=f"only the members of tandem {p.tandem.id}"):
        sessions.plan_session(db_session, actor, p.tandem.id, scheduled_at=AT, now=T0)
    assert state(db_session) == before


def test_a_member_acting_as_coordinator_may_not_plan(db_session: Session, p: Any) -> None:
    as_coordinator = Actor.coordinator(p.mentor.org_id, p.mentor.id)
    with pytest.raises(PermissionDenied, match="coordinator or admin"):
        sessions.plan_session(db_session, as_coordinator, p.tandem.id, scheduled_at=AT, now=T0)


def test_plan_unknown_tandem_is_not_found(db_session: Session, p: Any) -> None:
    with pytest.raises(NotFound, match="tandem 999999 not found"):
        sessions.plan_session(db_session, p.mentor_actor, 999_999, scheduled_at=AT, now=T0)


def test_plan_in_another_organization_is_not_found(
    db_session: Session, p: Any, make_person: Any
) -> None:
    other = organizations.create_organization(db_session, slug="other", name="O", actor="t")
    stranger = make_person(other)
    actor = Actor.participant(other.id, stranger.id)
    with pytest.raises(NotFound, match=f"tandem {p.tandem.id} not found"):
        sessions.plan_session(db_session, actor, p.tandem.id, scheduled_at=AT, now=T0)


# --------------------------------------------------------------------------- hold


def test_hold_session_defaults_to_the_planned_time(p: Any, plan: Any, db_session: Session) -> None:
    row = plan(p, topic="Prompts", now=T0)
    now = AT + timedelta(hours=3)
    held = sessions.hold_session(db_session, p.mentee_actor, row.id, minutes=55, now=now)
    assert held.status is SessionStatus.HELD
    assert held.held_at == AT
    assert held.minutes == 55
    assert held.topic == "Prompts"
    assert held.updated_at == now


def test_hold_before_the_planned_time_records_now(p: Any, plan: Any, db_session: Session) -> None:
    row = plan(p, now=T0)
    early = AT - timedelta(hours=5)
    held = sessions.hold_session(db_session, p.mentor_actor, row.id, minutes=30, now=early)
    assert held.held_at == early


def test_hold_with_a_given_time_and_topic_updates_the_theme(
    p: Any, plan: Any, db_session: Session
) -> None:
    row = plan(p, datetime(2026, 3, 30, 9, 0, tzinfo=UTC), topic="Plan", now=T0)
    when = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)
    held = sessions.hold_session(
        db_session,
        p.mentor_actor,
        row.id,
        minutes=60,
        held_at=when,
        topic="Actual",
        now=when + timedelta(hours=2),
    )
    assert held.held_at == when
    assert held.topic == "Actual"
    assert held.theme == "New tools"


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"minutes": 0}, "minutes", "1 to 480"),
        ({"minutes": 481}, "minutes", "1 to 480"),
        ({"minutes": "60"}, "minutes", "1 to 480"),
        ({"held_at": AT + timedelta(days=40)}, "held_at", "in the future"),
        ({"held_at": datetime(2026, 2, 27, tzinfo=UTC)}, "held_at", "outside"),
        ({"held_at": datetime(2026, 3, 9, 9)}, "held_at", "time zone"),  # noqa: DTZ001
        ({"topic": "y" * 201}, "topic", "at most 200"),
    ],
)
def test_hold_refuses_bad_input(
    p: Any, db_session: Session, kw: dict[str, Any], field: str, message: str, plan: Any
) -> None:
    row = plan(p, now=T0)
    args: dict[str, Any] = {"minutes": 60, **kw}
    before = state(db_session)
    with pytest.raises(ValidationError, match=message) as err:
        sessions.hold_session(db_session, p.mentor_actor, row.id, now=LATER, **args)
    assert err.value.field == field
    assert state(db_session) == before


def test_hold_twice_conflicts(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    sessions.hold_session(db_session, p.mentor_actor, row.id, minutes=60, now=LATER)
    before = state(db_session)
    with pytest.raises(ConflictError, match=f"session {row.id} is already held"):
        sessions.hold_session(db_session, p.mentee_actor, row.id, minutes=30, now=LATER)
    assert state(db_session) == before


def test_hold_a_cancelled_session_conflicts(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    sessions.cancel_session(db_session, p.mentee_actor, row.id, reason="Board meeting", now=T0)
    before = state(db_session)
    with pytest.raises(ConflictError, match="already cancelled"):
        sessions.hold_session(db_session, p.mentor_actor, row.id, minutes=60, now=LATER)
    assert state(db_session) == before


def test_hold_needs_an_active_tandem(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    p.tandem.status = TandemStatus.COMPLETED
    db_session.flush()
    before = state(db_session)
    with pytest.raises(TrackingError, match="is completed"):
        sessions.hold_session(db_session, p.mentor_actor, row.id, minutes=60, now=LATER)
    assert state(db_session) == before


def test_hold_by_a_non_member_is_refused(
    p: Any, world: Any, db_session: Session, plan: Any
) -> None:
    row = plan(p, now=T0)
    with pytest.raises(PermissionDenied):
        sessions.hold_session(db_session, world.outsider_actor, row.id, minutes=60, now=LATER)
    assert row.status is SessionStatus.PLANNED


def test_hold_unknown_session_is_not_found(p: Any, db_session: Session) -> None:
    with pytest.raises(NotFound, match="session 424242 not found"):
        sessions.hold_session(db_session, p.mentor_actor, 424_242, minutes=60, now=LATER)


# --------------------------------------------------------------------------- log


def test_log_session(p: Any, db_session: Session) -> None:
    when = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
    row = sessions.log_session(
        db_session,
        p.mentee_actor,
        p.tandem.id,
        held_at=when,
        minutes=45,
        topic="Teams",
        now=when + timedelta(hours=1),
    )
    assert row.status is SessionStatus.HELD
    assert row.scheduled_at == when
    assert row.held_at == when
    assert row.minutes == 45
    assert row.theme == "Team culture"
    assert row.planned_minutes is None


def test_log_in_the_future_is_refused(p: Any, db_session: Session) -> None:
    before = state(db_session)
    with pytest.raises(ValidationError, match="in the future") as err:
        sessions.log_session(
            db_session, p.mentor_actor, p.tandem.id, held_at=LATER, minutes=60, now=AT
        )
    assert err.value.field == "held_at"
    assert state(db_session) == before


def test_log_at_the_time_of_a_planned_session_conflicts(
    p: Any, db_session: Session, plan: Any
) -> None:
    row = plan(p, now=T0)
    before = state(db_session)
    with pytest.raises(ConflictError, match=f"session {row.id} .*hold that one instead"):
        sessions.log_session(
            db_session, p.mentor_actor, p.tandem.id, held_at=AT, minutes=60, now=LATER
        )
    assert state(db_session) == before


def test_log_twice_at_the_same_time_conflicts(p: Any, db_session: Session) -> None:
    sessions.log_session(db_session, p.mentor_actor, p.tandem.id, held_at=AT, minutes=60, now=LATER)
    before = state(db_session)
    with pytest.raises(ConflictError, match="already has session"):
        sessions.log_session(
            db_session, p.mentee_actor, p.tandem.id, held_at=AT, minutes=60, now=LATER
        )
    assert state(db_session) == before


def test_log_needs_an_active_tandem(db_session: Session, make_pair: Any) -> None:
    pair = make_pair("accepted")
    with pytest.raises(TrackingError, match="is accepted"):
        sessions.log_session(
            db_session, pair.mentor_actor, pair.tandem.id, held_at=AT, minutes=60, now=LATER
        )


def test_log_by_a_non_member_is_refused(p: Any, world: Any, db_session: Session) -> None:
    with pytest.raises(PermissionDenied):
        sessions.log_session(
            db_session, world.coordinator_actor, p.tandem.id, held_at=AT, minutes=60, now=LATER
        )
    assert db_session.scalar(select(func.count()).select_from(MentoringSession)) == 0


# --------------------------------------------------------------------------- cancel


def test_cancel_session_records_who_in_which_role_and_why(
    p: Any, plan: Any, db_session: Session
) -> None:
    row = plan(p, now=T0)
    done = sessions.cancel_session(
        db_session,
        p.mentee_actor,
        row.id,
        reason="  Board meeting moved ",
        now=AT - timedelta(days=1),
    )
    assert done.status is SessionStatus.CANCELLED
    assert done.cancelled_by_id == p.mentee.id
    assert done.cancelled_by_role is EnrollmentRole.MENTEE
    assert done.cancel_reason == "Board meeting moved"
    assert done.updated_at == AT - timedelta(days=1)


def test_cancel_by_the_junior_records_the_mentor_role(
    p: Any, plan: Any, db_session: Session
) -> None:
    row = plan(p, now=T0)
    done = sessions.cancel_session(db_session, p.mentor_actor, row.id, reason="Exam", now=T0)
    assert done.cancelled_by_role is EnrollmentRole.MENTOR


@pytest.mark.parametrize(
    ("reason", "message"),
    [(None, "reason is required"), ("   ", "reason is required"), ("r" * 2001, "at most 2000")],
)
def test_cancel_needs_a_reason(
    p: Any, db_session: Session, reason: str | None, message: str, plan: Any
) -> None:
    row = plan(p, now=T0)
    before = state(db_session)
    with pytest.raises(ValidationError, match=message) as err:
        sessions.cancel_session(db_session, p.mentor_actor, row.id, reason=reason, now=T0)  # type: ignore[arg-type]
    assert err.value.field == "reason"
    assert state(db_session) == before


def test_cancel_a_held_session_conflicts(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    sessions.hold_session(db_session, p.mentor_actor, row.id, minutes=60, now=LATER)
    before = state(db_session)
    with pytest.raises(ConflictError, match="already held; only a planned session"):
        sessions.cancel_session(db_session, p.mentee_actor, row.id, reason="oops", now=LATER)
    assert state(db_session) == before


def test_cancel_twice_conflicts(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    sessions.cancel_session(db_session, p.mentee_actor, row.id, reason="a", now=T0)
    before = state(db_session)
    with pytest.raises(ConflictError, match="already cancelled"):
        sessions.cancel_session(db_session, p.mentor_actor, row.id, reason="b", now=T0)
    assert state(db_session) == before


def test_cancel_needs_an_active_tandem(p: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    p.tandem.status = TandemStatus.DISSOLVED
    db_session.flush()
    with pytest.raises(TrackingError, match="is dissolved"):
        sessions.cancel_session(db_session, p.mentor_actor, row.id, reason="x", now=T0)
    assert row.status is SessionStatus.PLANNED


def test_cancel_by_a_coordinator_is_refused(
    p: Any, world: Any, db_session: Session, plan: Any
) -> None:
    row = plan(p, now=T0)
    with pytest.raises(PermissionDenied):
        sessions.cancel_session(db_session, world.coordinator_actor, row.id, reason="x", now=T0)
    assert row.status is SessionStatus.PLANNED


def test_close_planned_sessions_when_a_tandem_ends(p: Any, db_session: Session, plan: Any) -> None:
    a = plan(p, now=T0)
    b = plan(p, LATER, now=T0)
    sessions.hold_session(db_session, p.mentor_actor, a.id, minutes=60, now=LATER)
    p.tandem.status = TandemStatus.COMPLETED
    closed = sessions.close_planned_sessions(db_session, p.tandem, now=LATER + timedelta(days=1))
    assert [r.id for r in closed] == [b.id]
    assert b.status is SessionStatus.CANCELLED
    assert b.cancelled_by_role is None
    assert b.cancel_reason == "The tandem ended (completed)."
    assert a.status is SessionStatus.HELD


# --------------------------------------------------------------------------- views


def test_list_sessions_for_a_member(p: Any, db_session: Session, plan: Any) -> None:
    a = plan(p, LATER, topic="Later", now=T0)
    b = plan(p, now=T0)
    sessions.cancel_session(db_session, p.mentee_actor, a.id, reason="Travel", now=T0)
    sessions.hold_session(db_session, p.mentor_actor, b.id, minutes=60, now=LATER)
    sessions.set_notes(db_session, p.mentor_actor, b.id, text="Our notes", now=LATER)
    rows = sessions.list_sessions(db_session, p.mentee_actor, p.tandem.id)
    assert [r["id"] for r in rows] == [b.id, a.id]  # by scheduled time
    assert rows[0]["notes"] == "Our notes"
    assert rows[0]["awaiting_my_feedback"] is True
    assert rows[1]["cancel_reason"] == "Travel"
    assert rows[1]["cancelled_by_role"] == "mentee"
    assert rows[1]["cancelled_by_id"] == p.mentee.id


def test_list_sessions_for_a_coordinator_leaves_out_private_fields(
    p: Any, world: Any, db_session: Session, plan: Any
) -> None:
    a = plan(p, LATER, now=T0)
    sessions.cancel_session(db_session, p.mentee_actor, a.id, reason="Travel", now=T0)
    for actor in (world.coordinator_actor, world.admin):
        rows = sessions.list_sessions(db_session, actor, p.tandem.id)
        assert rows[0]["cancelled_by_role"] == "mentee"
        assert rows[0]["feedback_count"] == 0
        for private in ("notes", "cancel_reason", "my_feedback", "partner_comments"):
            assert private not in rows[0]
        assert "cancelled_by_id" not in rows[0]


def test_list_sessions_refused_to_others(p: Any, world: Any, db_session: Session) -> None:
    with pytest.raises(PermissionDenied):
        sessions.list_sessions(db_session, world.outsider_actor, p.tandem.id)


def test_list_sessions_refused_to_a_coordinator_of_another_program(
    p: Any, world: Any, db_session: Session, make_program: Any, make_person: Any
) -> None:
    other = make_program(world.org, name="Other program")
    boss = make_person(world.org)
    from plugin.models import ProgramCoordinator

    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id, program_id=other.id, person_id=boss.id, added_by="t"
        )
    )
    db_session.flush()
    with pytest.raises(PermissionDenied, match=f"coordinators of program {world.program.id}"):
        sessions.list_sessions(db_session, Actor.coordinator(world.org.id, boss.id), p.tandem.id)


def test_session_view_matches_the_list(p: Any, world: Any, db_session: Session, plan: Any) -> None:
    row = plan(p, now=T0)
    listed = sessions.list_sessions(db_session, p.mentor_actor, p.tandem.id)[0]
    assert sessions.session_view(db_session, p.mentor_actor, row.id) == listed
    coord = sessions.list_sessions(db_session, world.coordinator_actor, p.tandem.id)[0]
    assert sessions.session_view(db_session, world.coordinator_actor, row.id) == coord


def test_session_counts(p: Any, make_pair: Any, db_session: Session, plan: Any) -> None:
    other = make_pair()
    a, b, c = plan(p, now=T0), plan(p, LATER, now=T0), plan(p, LATER + timedelta(days=1), now=T0)
    sessions.hold_session(db_session, p.mentor_actor, a.id, minutes=60, now=LATER)
    sessions.cancel_session(db_session, p.mentor_actor, b.id, reason="x", now=T0)
    sessions.log_session(
        db_session,
        p.mentor_actor,
        p.tandem.id,
        held_at=AT + timedelta(days=2),
        minutes=40,
        now=LATER,
    )
    counts = sessions.session_counts(db_session, [p.tandem.id, other.tandem.id])
    assert counts[p.tandem.id] == {"planned": 1, "held": 2, "cancelled": 1, "minutes_held": 100}
    assert counts[other.tandem.id] == {"planned": 0, "held": 0, "cancelled": 0, "minutes_held": 0}
    assert c.status is SessionStatus.PLANNED
    assert sessions.session_counts(db_session, []) == {}


def _one_session_rule(db_session: Session, world: Any) -> None:
    world.program.completion_rule = {
        "min_sessions": 1,
        "min_minutes": 30,
        "require_post_assessment": False,
    }
    db_session.flush()


def _completions(db_session: Session) -> int:
    return db_session.scalar(select(func.count(Completion.id))) or 0


def test_a_logged_session_can_complete_its_members(db_session: Session, p: Any, world: Any) -> None:
    _one_session_rule(db_session, world)
    sessions.log_session(db_session, p.mentor_actor, p.tandem.id, held_at=AT, minutes=45, now=AT)
    assert _completions(db_session) == 2


def test_a_held_session_can_complete_its_members_but_planning_cannot(
    db_session: Session, p: Any, world: Any
) -> None:
    _one_session_rule(db_session, world)
    row = sessions.plan_session(db_session, p.mentor_actor, p.tandem.id, scheduled_at=AT, now=T0)
    assert _completions(db_session) == 0
    sessions.hold_session(db_session, p.mentee_actor, row.id, minutes=45, now=AT)
    assert _completions(db_session) == 2

"""Goals (with status) and the actions log (what the senior changed, credited to the junior)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from plugin.models import (
    Action,
    AuditEvent,
    EnrollmentRole,
    Goal,
    GoalStatus,
    Program,
    TandemMember,
)
from plugin.services import enrollments, tandems
from tests.plugin.tracking.conftest import T0

LATER = T0 + timedelta(days=10)


def rows(session: Session) -> tuple[int, int, int]:
    """Goals, actions and audit events: a refused action adds none."""
    session.flush()

    def count(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return count(Goal), count(Action), count(AuditEvent)


def add_member(session: Session, pair: Any, person: Any, role: EnrollmentRole) -> None:
    """Make the pair a group: one more member in ``role``."""
    prog = session.get(Program, pair.tandem.program_id)
    enrollment = enrollments.enroll(
        session, program=prog, person=person, role=role, consent=True, actor="t"
    )
    pair.tandem.members.append(
        TandemMember(
            org_id=pair.tandem.org_id,
            enrollment_id=enrollment.id,
            person_id=person.id,
            role=role,
            accepted_at=T0,
            confidentiality_accepted_at=T0,
        )
    )
    session.flush()


# --------------------------------------------------------------------------- goals


def test_member_adds_a_goal(db_session: Session, pair: Any) -> None:
    goal = tandems.add_goal(
        db_session,
        pair.mentor_actor,
        pair.tandem.id,
        title="  Run a retro with the team  ",
        description="Once a month.",
        due_on=date(2026, 6, 30),
        now=T0,
    )
    assert goal.title == "Run a retro with the team"
    assert goal.description == "Once a month."
    assert goal.owner_id == pair.mentor.id
    assert goal.status is GoalStatus.OPEN
    assert goal.due_on == date(2026, 6, 30)
    assert goal.created_at == T0
    assert goal.updated_at == T0


def test_goal_can_be_added_while_accepted(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    goal = tandems.add_goal(db_session, p.mentee_actor, p.tandem.id, title="Learn Teams")
    assert goal.tandem_id == p.tandem.id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": ""}, "title is required"),
        ({"title": "x" * 301}, "at most 300"),
        ({"description": "x" * 4001}, "at most 4000"),
        ({"due_on": date(2026, 3, 1)}, "is in the past"),
        ({"due_on": T0}, "must be a date"),
    ],
)
def test_goal_input_is_validated(
    db_session: Session, pair: Any, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"title": "Fine", **kwargs}
    before = rows(db_session)
    with pytest.raises(ValidationError, match=message):
        tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, now=T0, **args)
    assert rows(db_session) == before


def test_goal_titles_are_unique_in_a_tandem(db_session: Session, pair: Any) -> None:
    tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="Use Copilot")
    before = rows(db_session)
    with pytest.raises(ValidationError, match="already has a goal"):
        tandems.add_goal(db_session, pair.mentee_actor, pair.tandem.id, title="use copilot")
    assert rows(db_session) == before


def test_goals_per_tandem_are_limited(db_session: Session, pair: Any) -> None:
    for i in range(tandems.MAX_GOALS_PER_TANDEM):
        tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title=f"Goal {i}")
    before = rows(db_session)
    with pytest.raises(ValidationError, match="at most 30"):
        tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="One too many")
    assert rows(db_session) == before


@pytest.mark.parametrize("status", ["proposed", "completed", "dissolved", "rejected"])
def test_goals_need_an_accepted_or_active_tandem(
    db_session: Session, make_pair: Any, status: str
) -> None:
    p = make_pair(status)
    before = rows(db_session)
    with pytest.raises(ConflictError, match=f"is {status}"):
        tandems.add_goal(db_session, p.mentor_actor, p.tandem.id, title="Too late")
    assert rows(db_session) == before


@pytest.mark.parametrize("who", ["coordinator_actor", "admin", "outsider_actor"])
def test_only_members_add_goals(db_session: Session, world: Any, pair: Any, who: str) -> None:
    before = rows(db_session)
    with pytest.raises(PermissionDenied):
        tandems.add_goal(db_session, getattr(world, who), pair.tandem.id, title="Nope")
    assert rows(db_session) == before


def test_withdrawn_member_adds_no_goals(db_session: Session, pair: Any) -> None:
    enrollments.withdraw(db_session, pair.mentee_enrollment, actor="t", now=T0)
    before = rows(db_session)
    # Withdrawing ended the pair (no fault); nothing more can be written to it.
    assert pair.tandem.status.value == "dissolved"
    with pytest.raises(ConflictError, match="dissolved"):
        tandems.add_goal(db_session, pair.mentee_actor, pair.tandem.id, title="Anything")
    assert rows(db_session) == before


def test_goal_status_moves_any_way_while_the_tandem_runs(db_session: Session, pair: Any) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G", now=T0)
    for i, status in enumerate(["in_progress", "met", "open", "dropped"], start=1):
        moment = T0 + timedelta(days=i)
        tandems.set_goal_status(db_session, pair.mentee_actor, goal.id, status=status, now=moment)
        assert goal.status is GoalStatus(status)
        assert goal.updated_at == moment


def test_same_goal_status_is_a_no_op(db_session: Session, pair: Any) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G", now=T0)
    tandems.set_goal_status(db_session, pair.mentor_actor, goal.id, status="open", now=LATER)
    assert goal.updated_at == T0


def test_unknown_goal_status_is_refused(db_session: Session, pair: Any) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G")
    with pytest.raises(ValidationError, match="unknown goal status 'done'; choose one of open"):
        tandems.set_goal_status(db_session, pair.mentor_actor, goal.id, status="done")
    assert goal.status is GoalStatus.OPEN


def test_goals_of_a_completed_tandem_are_read_only(db_session: Session, pair: Any) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G")
    tandems.complete_tandem(db_session, pair.mentor_actor, pair.tandem.id)
    with pytest.raises(ConflictError, match="is completed"):
        tandems.set_goal_status(db_session, pair.mentor_actor, goal.id, status="met")
    db_session.refresh(goal)
    assert goal.status is GoalStatus.OPEN


@pytest.mark.parametrize("who", ["coordinator_actor", "outsider_actor"])
def test_only_members_change_goal_status(
    db_session: Session, world: Any, pair: Any, who: str
) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G")
    with pytest.raises(PermissionDenied):
        tandems.set_goal_status(db_session, getattr(world, who), goal.id, status="met")
    db_session.refresh(goal)
    assert goal.status is GoalStatus.OPEN


def test_goal_of_another_organization_is_not_found(
    db_session: Session, pair: Any, make_org: Any
) -> None:
    goal = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="G")
    other = make_org("globex", "Globex")
    stranger = Actor.participant(other.id, pair.mentor.id)
    with pytest.raises(NotFound, match=f"goal {goal.id} not found"):
        tandems.set_goal_status(db_session, stranger, goal.id, status="met")
    with pytest.raises(NotFound, match="goal 987654 not found"):
        tandems.set_goal_status(db_session, pair.mentor_actor, 987654, status="met")


def test_members_list_goals(db_session: Session, pair: Any, make_pair: Any) -> None:
    a = tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="A")
    b = tandems.add_goal(db_session, pair.mentee_actor, pair.tandem.id, title="B")
    other = make_pair("active")
    tandems.add_goal(db_session, other.mentor_actor, other.tandem.id, title="Not yours")
    assert list(tandems.list_goals(db_session, pair.mentee_actor, pair.tandem.id)) == [a, b]


@pytest.mark.parametrize("who", ["coordinator_actor", "admin", "outsider_actor"])
def test_only_members_read_goals(db_session: Session, world: Any, pair: Any, who: str) -> None:
    with pytest.raises(PermissionDenied):
        tandems.list_goals(db_session, getattr(world, who), pair.tandem.id)


# --------------------------------------------------------------------------- actions


def test_senior_logs_an_action_credited_to_the_junior(db_session: Session, pair: Any) -> None:
    action = tandems.log_action(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        description="  Our team now runs async stand-ups.  ",
        taken_on=date(2026, 3, 10),
        now=LATER,
    )
    assert action.description == "Our team now runs async stand-ups."
    assert action.senior_id == pair.mentee.id
    assert action.credited_mentor_id == pair.mentor.id
    assert action.taken_on == date(2026, 3, 10)
    assert action.created_at == LATER


def test_junior_does_not_log_actions(db_session: Session, pair: Any) -> None:
    before = rows(db_session)
    with pytest.raises(PermissionDenied, match="only the senior"):
        tandems.log_action(
            db_session, pair.mentor_actor, pair.tandem.id, description="D", taken_on=T0.date()
        )
    assert rows(db_session) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"description": ""}, "description is required"),
        ({"description": "x" * 2001}, "at most 2000"),
        ({"taken_on": LATER.date() + timedelta(days=1)}, "is in the future"),
        ({"taken_on": date(2026, 2, 28)}, "before the program started on 2026-03-01"),
        ({"taken_on": T0}, "must be a date"),
    ],
)
def test_action_input_is_validated(
    db_session: Session, pair: Any, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"description": "Fine", "taken_on": T0.date(), **kwargs}
    before = rows(db_session)
    with pytest.raises(ValidationError, match=message):
        tandems.log_action(db_session, pair.mentee_actor, pair.tandem.id, now=LATER, **args)
    assert rows(db_session) == before


@pytest.mark.parametrize("credit", ["mentee", "outsider"])
def test_credit_goes_to_a_junior_of_the_tandem(
    db_session: Session, world: Any, pair: Any, credit: str
) -> None:
    person = pair.mentee if credit == "mentee" else world.outsider
    before = rows(db_session)
    with pytest.raises(ValidationError, match=f"person {person.id} cannot be credited"):
        tandems.log_action(
            db_session,
            pair.mentee_actor,
            pair.tandem.id,
            description="D",
            taken_on=T0.date(),
            credited_mentor_id=person.id,
            now=LATER,
        )
    assert rows(db_session) == before


def test_group_tandem_needs_the_junior_to_credit(
    db_session: Session, world: Any, make_person: Any, pair: Any
) -> None:
    second = make_person(world.org, job_level=2)
    add_member(db_session, pair, second, EnrollmentRole.MENTOR)
    before = rows(db_session)
    with pytest.raises(ValidationError, match="several juniors"):
        tandems.log_action(
            db_session, pair.mentee_actor, pair.tandem.id, description="D", taken_on=T0.date(),
            now=LATER,
        )  # fmt: skip
    assert rows(db_session) == before
    action = tandems.log_action(
        db_session, pair.mentee_actor, pair.tandem.id, description="D", taken_on=T0.date(),
        credited_mentor_id=second.id, now=LATER,
    )  # fmt: skip
    assert action.credited_mentor_id == second.id


def test_bidirectional_peers_credit_each_other(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    program = make_program(world.org, name="Peers", format="bidirectional")
    p = make_pair("active", program=program)
    action = tandems.log_action(
        db_session, p.mentor_actor, p.tandem.id, description="D", taken_on=T0.date(), now=LATER
    )
    assert action.senior_id == p.mentor.id
    assert action.credited_mentor_id == p.mentee.id


@pytest.mark.parametrize("status", ["proposed", "completed", "dissolved"])
def test_actions_need_an_accepted_or_active_tandem(
    db_session: Session, make_pair: Any, status: str
) -> None:
    p = make_pair(status)
    before = rows(db_session)
    with pytest.raises(ConflictError, match=f"is {status}"):
        tandems.log_action(
            db_session, p.mentee_actor, p.tandem.id, description="D", taken_on=T0.date()
        )
    assert rows(db_session) == before


@pytest.mark.parametrize("who", ["coordinator_actor", "admin", "outsider_actor"])
def test_only_the_senior_member_logs(db_session: Session, world: Any, pair: Any, who: str) -> None:
    with pytest.raises(PermissionDenied):
        tandems.log_action(
            db_session, getattr(world, who), pair.tandem.id, description="D", taken_on=T0.date()
        )


def test_members_list_actions_by_date(db_session: Session, pair: Any) -> None:
    late = tandems.log_action(
        db_session, pair.mentee_actor, pair.tandem.id, description="B",
        taken_on=date(2026, 3, 9), now=LATER,
    )  # fmt: skip
    early = tandems.log_action(
        db_session, pair.mentee_actor, pair.tandem.id, description="A",
        taken_on=date(2026, 3, 5), now=LATER,
    )  # fmt: skip
    assert list(tandems.list_actions(db_session, pair.mentor_actor, pair.tandem.id)) == [
        early,
        late,
    ]


@pytest.mark.parametrize("who", ["coordinator_actor", "admin", "outsider_actor"])
def test_only_members_read_actions(db_session: Session, world: Any, pair: Any, who: str) -> None:
    with pytest.raises(PermissionDenied):
        tandems.list_actions(db_session, getattr(world, who), pair.tandem.id)

"""The tandem lifecycle: consent, confidentiality, kick-off, activation, endings, views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from plugin.models import (
    Action,
    AuditEvent,
    Consent,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Goal,
    GoalStatus,
    Program,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, programs, tandems
from tests.plugin.tracking.conftest import T0

LATER = T0 + timedelta(days=3)


def snapshot(session: Session, tandem: Tandem) -> tuple[Any, ...]:
    """Everything a refused action must leave as it was."""
    session.flush()
    session.expire_all()
    row = session.get(Tandem, tandem.id)
    assert row is not None
    members = tuple(
        (m.person_id, m.accepted_at, m.declined_at, m.confidentiality_accepted_at)
        for m in row.members
    )

    def count(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return (
        row.status,
        row.status_changed_at,
        row.activated_at,
        row.ended_at,
        dict(row.kickoff),
        row.dissolved_reason,
        row.no_fault,
        members,
        count(Goal),
        count(Action),
        count(Consent),
        count(AuditEvent),
    )


def events(session: Session, action: str, tandem: Tandem) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action,
                AuditEvent.object_type == "tandem",
                AuditEvent.object_id == str(tandem.id),
            )
        )
    )


def other_program(
    db_session: Session, world: Any, make_program: Any, name: str, **kw: Any
) -> Program:
    program: Program = make_program(world.org, name=name, **kw)
    return program


def make_ready(session: Session, pair: Any, *, now: Any = T0) -> None:
    """Both members accept the agreement and the kick-off is recorded."""
    tandems.accept_confidentiality(session, pair.mentor_actor, pair.tandem.id, now=now)
    tandems.accept_confidentiality(session, pair.mentee_actor, pair.tandem.id, now=now)
    tandems.record_kickoff(
        session,
        pair.mentor_actor,
        pair.tandem.id,
        expectations="Honest feedback both ways.",
        meeting_mode="video",
        now=now,
    )


# --------------------------------------------------------------------------- loading


def test_members_coordinators_and_admins_load_a_tandem(
    db_session: Session, world: Any, pair: Any
) -> None:
    for actor in (pair.mentor_actor, pair.mentee_actor, world.coordinator_actor, world.admin):
        assert tandems.get_tandem_for(db_session, actor, pair.tandem.id) is pair.tandem


def test_outsider_cannot_load_a_tandem(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(PermissionDenied, match="visible only to its members"):
        tandems.get_tandem_for(db_session, world.outsider_actor, pair.tandem.id)


def test_coordinator_of_another_program_cannot_load_a_tandem(
    db_session: Session, world: Any, pair: Any
) -> None:
    stranger = Actor.coordinator(world.org.id, world.outsider.id)
    with pytest.raises(PermissionDenied):
        tandems.get_tandem_for(db_session, stranger, pair.tandem.id)


def test_other_organization_sees_not_found(db_session: Session, pair: Any, make_org: Any) -> None:
    other = make_org("globex", "Globex")
    with pytest.raises(NotFound, match=f"tandem {pair.tandem.id} not found"):
        tandems.get_tandem_for(db_session, Actor.admin(other.id, "cli:x"), pair.tandem.id)


def test_missing_tandem_is_not_found(db_session: Session, world: Any) -> None:
    with pytest.raises(NotFound, match="tandem 987654 not found"):
        tandems.get_tandem_for(db_session, world.admin, 987654)


# --------------------------------------------------------------------------- respond


def test_both_members_accept_and_the_tandem_is_accepted(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("proposed")
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert p.tandem.status is TandemStatus.PROPOSED
    tandems.respond(db_session, p.mentee_actor, p.tandem.id, accept=True, now=LATER)
    assert p.tandem.status is TandemStatus.ACCEPTED
    assert p.tandem.status_changed_at == LATER
    assert [m.accepted_at for m in p.tandem.members] == [T0, LATER]
    assert len(events(db_session, "tandem.consented", p.tandem)) == 2
    assert len(events(db_session, "tandem.accepted", p.tandem)) == 1


def test_respond_waits_for_coordinator_approval(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed", approved=False)
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match="waiting for a coordinator to approve the proposal"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert snapshot(db_session, p.tandem) == before


def test_coordinator_cannot_respond_for_a_member(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("proposed")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(PermissionDenied, match="only the members"):
        tandems.respond(db_session, world.coordinator_actor, p.tandem.id, accept=True)
    assert snapshot(db_session, p.tandem) == before


def test_responding_twice_is_refused(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match="already accepted"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=False, reason="No.")
    assert snapshot(db_session, p.tandem) == before


def test_withdrawn_member_cannot_respond(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    enrollments.withdraw(db_session, p.mentor_enrollment, actor="t", now=T0)
    before = snapshot(db_session, p.tandem)
    # Withdrawing rejected the proposal at once (no fault).
    assert p.tandem.status is TandemStatus.REJECTED
    with pytest.raises(ConflictError, match="rejected"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert snapshot(db_session, p.tandem) == before


def test_partner_who_withdrew_ends_the_proposal(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    tandems.respond(db_session, p.mentee_actor, p.tandem.id, accept=True, now=T0)
    enrollments.withdraw(db_session, p.mentee_enrollment, actor="t", now=T0)
    assert p.tandem.status is TandemStatus.REJECTED
    assert p.tandem.no_fault is True
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match="rejected"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert snapshot(db_session, p.tandem) == before


def test_partner_who_withdrew_blocks_a_group_acceptance_check(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("proposed")
    tandems.respond(db_session, p.mentee_actor, p.tandem.id, accept=True, now=T0)
    # Withdrawn without the lifecycle hook (a row-level change, e.g. an import).
    p.mentee_enrollment.status = EnrollmentStatus.WITHDRAWN
    db_session.flush()
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match=f"person {p.mentee.id} withdrew"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert snapshot(db_session, p.tandem) == before


def test_senior_consent_not_required_accepts_on_the_juniors_word(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    program = other_program(
        db_session, world, make_program, "No senior consent", require_senior_consent=False
    )
    p = make_pair("proposed", program=program)
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert p.tandem.status is TandemStatus.ACCEPTED
    senior = next(m for m in p.tandem.members if m.role is EnrollmentRole.MENTEE)
    assert senior.accepted_at is None


def test_senior_consent_not_required_is_still_recorded_when_given(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    program = other_program(
        db_session, world, make_program, "No senior consent", require_senior_consent=False
    )
    p = make_pair("proposed", program=program)
    tandems.respond(db_session, p.mentee_actor, p.tandem.id, accept=True, now=T0)
    assert p.tandem.status is TandemStatus.PROPOSED  # the junior has not answered yet
    senior = next(m for m in p.tandem.members if m.role is EnrollmentRole.MENTEE)
    assert senior.accepted_at == T0
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=LATER)
    assert p.tandem.status is TandemStatus.ACCEPTED


def test_senior_consent_required_waits_for_the_senior(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    assert p.tandem.status is TandemStatus.PROPOSED


def test_declining_rejects_the_proposal_without_fault(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    tandems.respond(
        db_session, p.mentee_actor, p.tandem.id, accept=False, reason="Bad timing.", now=LATER
    )
    assert p.tandem.status is TandemStatus.REJECTED
    assert p.tandem.status_changed_at == LATER
    assert p.tandem.dissolved_reason == "Bad timing."
    assert p.tandem.dissolved_by == p.mentee_actor.label
    assert p.tandem.no_fault is True
    senior = next(m for m in p.tandem.members if m.role is EnrollmentRole.MENTEE)
    assert senior.declined_at == LATER
    (event,) = events(db_session, "tandem.declined", p.tandem)
    assert "Bad timing." not in str(event.details)


@pytest.mark.parametrize(("reason", "message"), [(None, "required"), ("  ", "required")])
def test_declining_needs_a_reason(
    db_session: Session, make_pair: Any, reason: str | None, message: str
) -> None:
    p = make_pair("proposed")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ValidationError, match=message):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=False, reason=reason)
    assert snapshot(db_session, p.tandem) == before


def test_declining_reason_has_a_limit(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ValidationError, match="at most 2000"):
        tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=False, reason="x" * 2001)
    assert snapshot(db_session, p.tandem) == before


def test_one_to_one_refuses_a_second_accepted_tandem(db_session: Session, make_pair: Any) -> None:
    first = make_pair("accepted")
    second = make_pair("proposed", mentee=first.mentee)
    before = snapshot(db_session, second.tandem)
    with pytest.raises(ConflictError, match=f"already has tandem {first.tandem.id}"):
        tandems.respond(db_session, second.mentee_actor, second.tandem.id, accept=True)
    assert snapshot(db_session, second.tandem) == before


def test_one_to_one_rechecks_the_partner_on_the_last_acceptance(
    db_session: Session, make_pair: Any
) -> None:
    second = make_pair("proposed")
    tandems.respond(db_session, second.mentor_actor, second.tandem.id, accept=True, now=T0)
    # Meanwhile the junior's other tandem got accepted.
    first = make_pair("active", mentor=second.mentor)
    before = snapshot(db_session, second.tandem)
    with pytest.raises(ConflictError, match=f"person {second.mentor.id} already has tandem"):
        tandems.respond(db_session, second.mentee_actor, second.tandem.id, accept=True)
    assert first.tandem.id != second.tandem.id
    assert snapshot(db_session, second.tandem) == before


def test_one_to_one_allows_as_many_tandems_as_the_junior_offered(
    db_session: Session, world: Any, make_person: Any, make_pair: Any
) -> None:
    junior = make_person(world.org, job_level=2)
    enrollments.enroll(
        db_session, program=world.program, person=junior, role="mentor", consent=True,
        capacity=2, actor="t",
    )  # fmt: skip
    make_pair("active", mentor=junior)
    second = make_pair("proposed", mentor=junior)
    tandems.respond(db_session, second.mentor_actor, second.tandem.id, accept=True)
    tandems.respond(db_session, second.mentee_actor, second.tandem.id, accept=True)
    assert second.tandem.status is TandemStatus.ACCEPTED
    third = make_pair("proposed", mentor=junior)
    with pytest.raises(ConflictError, match="allows 2 tandems per person"):
        tandems.respond(db_session, third.mentor_actor, third.tandem.id, accept=True)


def test_group_programs_have_no_one_to_one_rule(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    program = other_program(db_session, world, make_program, "Circles", format="group")
    first = make_pair("active", program=program)
    second = make_pair("proposed", program=program, mentee=first.mentee)
    tandems.respond(db_session, second.mentee_actor, second.tandem.id, accept=True)
    assert second.tandem.members[1].accepted_at is not None


# --------------------------------------------------------------------------- confidentiality


def test_accepting_confidentiality_records_a_consent(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, version="1", now=T0)
    mentor = p.tandem.members[0]
    assert mentor.confidentiality_accepted_at == T0
    consent = db_session.scalars(
        select(Consent).where(
            Consent.person_id == p.mentor.id, Consent.purpose == "confidentiality"
        )
    ).one()
    assert consent.program_id == world.program.id
    assert consent.version == world.program.confidentiality_version
    assert consent.given_at == T0
    assert p.tandem.status is TandemStatus.ACCEPTED  # the partner and the kick-off are missing


def test_confidentiality_version_must_be_current(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ValidationError, match="current version is 1"):
        tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, version="0")
    assert snapshot(db_session, p.tandem) == before


def test_confidentiality_again_is_a_no_op(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, now=T0)
    before = snapshot(db_session, p.tandem)
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, now=LATER)
    assert snapshot(db_session, p.tandem) == before


def test_confidentiality_on_an_active_tandem_is_a_no_op(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("active")
    before = snapshot(db_session, p.tandem)
    tandems.accept_confidentiality(db_session, p.mentee_actor, p.tandem.id, now=LATER)
    assert snapshot(db_session, p.tandem) == before


def test_a_new_agreement_text_needs_a_new_acceptance(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, now=T0)
    programs.update_program(
        db_session, world.program, actor="t", changes={"confidentiality_text": "New text."}
    )
    view = tandems.tandem_view(db_session, p.mentor_actor, p.tandem.id)
    assert "accept_confidentiality" in view["next"]
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id, version="2", now=LATER)
    versions = db_session.scalars(
        select(Consent.version).where(
            Consent.person_id == p.mentor.id, Consent.purpose == "confidentiality"
        )
    ).all()
    assert sorted(versions) == ["1", "2"]
    assert p.tandem.members[0].confidentiality_accepted_at == LATER


def test_confidentiality_before_acceptance_is_refused(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match="is proposed"):
        tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id)
    assert snapshot(db_session, p.tandem) == before


def test_confidentiality_is_for_members_only(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(PermissionDenied):
        tandems.accept_confidentiality(db_session, world.coordinator_actor, p.tandem.id)
    assert snapshot(db_session, p.tandem) == before


# --------------------------------------------------------------------------- kick-off


def test_kickoff_is_recorded_with_goals(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    tandems.record_kickoff(
        db_session,
        p.mentee_actor,
        p.tandem.id,
        expectations="  Learn AI tools.  ",
        meeting_mode="in_person",
        goals=["Use Copilot weekly", "Post on LinkedIn", "use copilot WEEKLY"],
        now=T0,
    )
    assert p.tandem.kickoff == {
        "expectations": "Learn AI tools.",
        "meeting_mode": "in_person",
        "recorded_by": p.mentee.id,
        "recorded_at": T0.isoformat(),
    }
    goals = db_session.scalars(select(Goal).where(Goal.tandem_id == p.tandem.id)).all()
    assert [g.title for g in goals] == ["Use Copilot weekly", "Post on LinkedIn"]
    assert {g.owner_id for g in goals} == {p.mentee.id}
    assert {g.status for g in goals} == {GoalStatus.OPEN}
    assert {g.created_at for g in goals} == {T0}
    assert len(events(db_session, "tandem.kickoff_recorded", p.tandem)) == 1


def test_kickoff_update_by_the_partner_adds_only_new_goals(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("accepted")
    tandems.record_kickoff(
        db_session, p.mentee_actor, p.tandem.id, expectations="A", meeting_mode="video",
        goals=["One"], now=T0,
    )  # fmt: skip
    tandems.record_kickoff(
        db_session, p.mentor_actor, p.tandem.id, expectations="B", meeting_mode="phone",
        goals=["one", "Two"], now=LATER,
    )  # fmt: skip
    assert p.tandem.kickoff["expectations"] == "B"
    assert p.tandem.kickoff["meeting_mode"] == "phone"
    assert p.tandem.kickoff["recorded_by"] == p.mentor.id
    titles = db_session.scalars(select(Goal.title).where(Goal.tandem_id == p.tandem.id)).all()
    assert sorted(titles) == ["One", "Two"]
    assert len(events(db_session, "tandem.kickoff_updated", p.tandem)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expectations": ""}, "expectations is required"),
        ({"expectations": "x" * 4001}, "at most 4000"),
        ({"meeting_mode": "carrier pigeon"}, "unknown meeting mode"),
        ({"goals": [f"G{i}" for i in range(11)]}, "at most 10"),
        ({"goals": ["ok", ""]}, "goal 2 is required"),
        ({"goals": ["x" * 301]}, "at most 300"),
        ({"goals": "one goal"}, "list of goal titles"),
    ],
)
def test_kickoff_input_is_validated(
    db_session: Session, make_pair: Any, kwargs: dict[str, Any], message: str
) -> None:
    p = make_pair("accepted")
    args: dict[str, Any] = {"expectations": "Fine.", "meeting_mode": "video", **kwargs}
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ValidationError, match=message):
        tandems.record_kickoff(db_session, p.mentor_actor, p.tandem.id, **args)
    assert snapshot(db_session, p.tandem) == before


def test_kickoff_goal_total_is_limited(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    for batch in range(3):
        tandems.record_kickoff(
            db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video",
            goals=[f"Goal {batch}-{i}" for i in range(10)],
        )  # fmt: skip
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ValidationError, match="at most 30"):
        tandems.record_kickoff(
            db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video",
            goals=["One more"],
        )  # fmt: skip
    assert snapshot(db_session, p.tandem) == before


@pytest.mark.parametrize("status", ["proposed", "completed", "dissolved", "rejected"])
def test_kickoff_needs_an_accepted_or_active_tandem(
    db_session: Session, make_pair: Any, status: str
) -> None:
    p = make_pair(status)
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match=f"is {status}"):
        tandems.record_kickoff(
            db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video"
        )
    assert snapshot(db_session, p.tandem) == before


def test_kickoff_is_for_members_only(db_session: Session, world: Any, make_pair: Any) -> None:
    p = make_pair("accepted")
    with pytest.raises(PermissionDenied):
        tandems.record_kickoff(
            db_session, world.admin, p.tandem.id, expectations="E", meeting_mode="video"
        )


def test_kickoff_in_a_closed_program_is_refused(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    # Closing dissolved the accepted tandem that never started (no fault).
    assert p.tandem.status is TandemStatus.DISSOLVED
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match="dissolved"):
        tandems.record_kickoff(
            db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video"
        )
    assert snapshot(db_session, p.tandem) == before


# --------------------------------------------------------------------------- activation


def test_tandem_activates_when_everything_is_in_place(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    make_ready(db_session, p, now=LATER)
    assert p.tandem.status is TandemStatus.ACTIVE
    assert p.tandem.activated_at == LATER
    assert p.tandem.status_changed_at == LATER
    (event,) = events(db_session, "tandem.activated", p.tandem)
    assert event.created_at == LATER  # the injected clock, for the audit log too


def test_no_activation_without_the_kickoff(db_session: Session, make_pair: Any) -> None:
    p = make_pair("accepted")
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id)
    tandems.accept_confidentiality(db_session, p.mentee_actor, p.tandem.id)
    assert p.tandem.status is TandemStatus.ACCEPTED
    view = tandems.tandem_view(db_session, p.mentor_actor, p.tandem.id)
    assert view["waiting_for"] == ["kickoff"]
    assert view["next"] == ["kickoff"]


def test_no_activation_without_everyones_confidentiality(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("accepted")
    tandems.accept_confidentiality(db_session, p.mentor_actor, p.tandem.id)
    tandems.record_kickoff(
        db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video"
    )
    assert p.tandem.status is TandemStatus.ACCEPTED
    view = tandems.tandem_view(db_session, p.mentee_actor, p.tandem.id)
    assert view["waiting_for"] == [f"confidentiality:{p.mentee.id}"]
    assert view["next"] == ["accept_confidentiality"]


def test_activation_waits_for_the_program_to_run(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted", running=False)
    make_ready(db_session, p)
    assert p.tandem.status is TandemStatus.ACCEPTED
    assert tandems.activate_ready(db_session, world.program.id, actor="lead") == 0
    programs.set_program_status(db_session, world.program, "matching", actor="t")
    # Starting the program activates every ready tandem, at the moment it starts.
    programs.set_program_status(db_session, world.program, "running", actor="lead", now=LATER)
    assert p.tandem.status is TandemStatus.ACTIVE
    assert p.tandem.activated_at == LATER
    (event,) = events(db_session, "tandem.activated", p.tandem)
    assert event.actor == "lead"
    assert tandems.activate_ready(db_session, world.program.id, actor="lead", now=LATER) == 0


def test_activate_ready_skips_tandems_that_are_not_ready(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    ready = make_pair("accepted")
    waiting = make_pair("accepted")
    tandems.accept_confidentiality(db_session, ready.mentor_actor, ready.tandem.id)
    tandems.accept_confidentiality(db_session, ready.mentee_actor, ready.tandem.id)
    ready.tandem.kickoff = {"expectations": "E", "meeting_mode": "video"}
    db_session.flush()
    assert tandems.activate_ready(db_session, world.program.id, actor="lead") == 1
    assert ready.tandem.status is TandemStatus.ACTIVE
    assert waiting.tandem.status is TandemStatus.ACCEPTED


def test_activation_rechecks_one_active_tandem_per_person(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    first = make_pair("active")
    # Built by hand (e.g. data from before the rule): accepted while the senior is busy.
    second = make_pair("accepted", mentee=first.mentee)
    for m in second.tandem.members:
        m.confidentiality_accepted_at = T0
    second.tandem.kickoff = {"expectations": "E", "meeting_mode": "video"}
    db_session.flush()
    assert tandems.activate_ready(db_session, world.program.id, actor="lead") == 0
    assert second.tandem.status is TandemStatus.ACCEPTED


def test_activate_ready_of_a_missing_program(db_session: Session) -> None:
    with pytest.raises(NotFound, match="program 987654 not found"):
        tandems.activate_ready(db_session, 987654, actor="lead")


# --------------------------------------------------------------------------- endings


def test_member_completes_an_active_tandem(db_session: Session, pair: Any) -> None:
    tandems.complete_tandem(db_session, pair.mentee_actor, pair.tandem.id, now=LATER)
    assert pair.tandem.status is TandemStatus.COMPLETED
    assert pair.tandem.ended_at == LATER
    assert pair.tandem.status_changed_at == LATER
    (event,) = events(db_session, "tandem.completed", pair.tandem)
    assert event.details["by"] == "member"


def test_coordinator_completes_an_active_tandem(db_session: Session, world: Any, pair: Any) -> None:
    tandems.complete_tandem(db_session, world.coordinator_actor, pair.tandem.id, now=LATER)
    assert pair.tandem.status is TandemStatus.COMPLETED
    (event,) = events(db_session, "tandem.completed", pair.tandem)
    assert event.actor == world.coordinator_actor.label
    assert event.details["by"] == "coordinator"


def test_outsider_cannot_complete(db_session: Session, world: Any, pair: Any) -> None:
    before = snapshot(db_session, pair.tandem)
    with pytest.raises(PermissionDenied):
        tandems.complete_tandem(db_session, world.outsider_actor, pair.tandem.id)
    assert snapshot(db_session, pair.tandem) == before


def test_member_dissolves_with_no_fault(db_session: Session, pair: Any) -> None:
    tandems.dissolve_tandem(
        db_session,
        pair.mentor_actor,
        pair.tandem.id,
        reason="I moved to another team.",
        no_fault=True,
        now=LATER,
    )
    assert pair.tandem.status is TandemStatus.DISSOLVED
    assert pair.tandem.dissolved_reason == "I moved to another team."
    assert pair.tandem.dissolved_by == pair.mentor_actor.label
    assert pair.tandem.no_fault is True
    assert pair.tandem.ended_at == LATER
    (event,) = events(db_session, "tandem.dissolved", pair.tandem)
    assert event.details == {"from": "active", "to": "dissolved", "no_fault": True, "by": "member"}


def test_coordinator_dissolves_an_accepted_tandem(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    tandems.dissolve_tandem(db_session, world.coordinator_actor, p.tandem.id, reason="Reorg")
    assert p.tandem.status is TandemStatus.DISSOLVED
    assert p.tandem.no_fault is False
    assert p.tandem.dissolved_by == world.coordinator_actor.label


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_dissolving_needs_a_reason(db_session: Session, pair: Any, reason: str) -> None:
    before = snapshot(db_session, pair.tandem)
    with pytest.raises(ValidationError, match="reason"):
        tandems.dissolve_tandem(db_session, pair.mentor_actor, pair.tandem.id, reason=reason)
    assert snapshot(db_session, pair.tandem) == before


def test_dissolving_a_proposal_points_to_decline_or_reject(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("proposed")
    before = snapshot(db_session, p.tandem)
    with pytest.raises(ConflictError, match=r"declines it .* or a coordinator rejects it"):
        tandems.dissolve_tandem(db_session, p.mentor_actor, p.tandem.id, reason="No")
    assert snapshot(db_session, p.tandem) == before


INVALID = [
    ("proposed", "complete"),
    ("accepted", "complete"),
    ("completed", "complete"),
    ("dissolved", "complete"),
    ("rejected", "complete"),
    ("completed", "dissolve"),
    ("dissolved", "dissolve"),
    ("rejected", "dissolve"),
    ("accepted", "respond"),
    ("active", "respond"),
    ("completed", "respond"),
    ("dissolved", "respond"),
    ("rejected", "respond"),
    ("completed", "confidentiality"),
    ("dissolved", "confidentiality"),
    ("rejected", "confidentiality"),
]


@pytest.mark.parametrize(("status", "move"), INVALID)
def test_invalid_transition_is_refused_and_changes_nothing(
    db_session: Session, make_pair: Any, status: str, move: str
) -> None:
    p = make_pair(status)
    actor, tid = p.mentor_actor, p.tandem.id
    before = snapshot(db_session, p.tandem)
    moves: dict[str, Callable[[], Any]] = {
        "complete": lambda: tandems.complete_tandem(db_session, actor, tid),
        "dissolve": lambda: tandems.dissolve_tandem(db_session, actor, tid, reason="Why not"),
        "respond": lambda: tandems.respond(db_session, actor, tid, accept=True),
        "confidentiality": lambda: tandems.accept_confidentiality(db_session, actor, tid),
    }
    pattern = rf"tandem {tid} is {status}; it cannot .* From {status}"
    with pytest.raises(ConflictError, match=pattern):
        moves[move]()
    assert snapshot(db_session, p.tandem) == before


def test_refusal_names_the_allowed_moves(db_session: Session, make_pair: Any) -> None:
    p = make_pair("completed")
    with pytest.raises(ConflictError, match="completed is final and read-only") as info:
        tandems.dissolve_tandem(db_session, p.mentor_actor, p.tandem.id, reason="R")
    assert info.value.field == "status"


def test_close_out_settles_every_open_tandem(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    active = make_pair("active")
    accepted = make_pair("accepted")
    proposed = make_pair("proposed")
    done = make_pair("completed")
    counts = tandems.close_out(db_session, world.program.id, actor="lead", now=LATER)
    assert counts == {"completed": 1, "dissolved": 1, "rejected": 1}
    assert active.tandem.status is TandemStatus.COMPLETED
    assert active.tandem.ended_at == LATER
    assert accepted.tandem.status is TandemStatus.DISSOLVED
    assert accepted.tandem.no_fault is True
    assert accepted.tandem.dissolved_reason == "program closed"
    assert accepted.tandem.dissolved_by == "lead"
    assert proposed.tandem.status is TandemStatus.REJECTED
    assert proposed.tandem.no_fault is True
    assert done.tandem.status_changed_at == T0  # untouched
    assert len(events(db_session, "tandem.dissolved", accepted.tandem)) == 1
    assert tandems.close_out(db_session, world.program.id, actor="lead") == {
        "completed": 0,
        "dissolved": 0,
        "rejected": 0,
    }


def test_close_out_of_a_missing_program(db_session: Session) -> None:
    with pytest.raises(NotFound):
        tandems.close_out(db_session, 987654, actor="lead")


# --------------------------------------------------------------------------- views


def test_my_tandems_lists_own_tandems_without_unapproved_proposals(
    db_session: Session, world: Any, make_program: Any, make_pair: Any
) -> None:
    a = make_pair("active")
    b = make_pair("proposed", approved=False, mentor=a.mentor)
    c = make_pair("proposed", mentor=a.mentor)
    make_pair("active")  # somebody else's
    other = other_program(db_session, world, make_program, "Second round")
    d = make_pair("accepted", program=other, mentor=a.mentor)
    mine = tandems.my_tandems(db_session, a.mentor_actor)
    assert [t.id for t in mine] == [d.tandem.id, c.tandem.id, a.tandem.id]
    assert b.tandem.id not in [t.id for t in mine]
    by_program = tandems.my_tandems(db_session, a.mentor_actor, program_id=world.program.id)
    assert [t.id for t in by_program] == [c.tandem.id, a.tandem.id]


def test_my_tandems_needs_a_person(db_session: Session, world: Any) -> None:
    with pytest.raises(PermissionDenied, match="say which person"):
        tandems.my_tandems(db_session, world.admin)


def test_member_view_shows_everything_the_member_needs(
    db_session: Session, world: Any, pair: Any
) -> None:
    tandems.add_goal(db_session, pair.mentee_actor, pair.tandem.id, title="Use Copilot", now=T0)
    tandems.log_action(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        description="Team uses a shared AI prompt library.",
        taken_on=T0.date(),
        now=T0,
    )
    view = tandems.tandem_view(db_session, pair.mentee_actor, pair.tandem.id)
    assert view["status"] == "active"
    assert view["program"]["id"] == world.program.id
    assert view["you"] == {"person_id": pair.mentee.id, "role": "mentee"}
    assert {(m["name"], m["role"]) for m in view["members"]} == {
        (pair.mentor.full_name, "mentor"),
        (pair.mentee.full_name, "mentee"),
    }
    assert view["kickoff"]["expectations"].startswith("Learn the new tools")
    assert [g["title"] for g in view["goals"]] == ["Use Copilot"]
    assert view["actions"][0]["credited_mentor_id"] == pair.mentor.id
    assert view["confidentiality"]["text"] == world.program.confidentiality_text
    assert view["confidentiality"]["accepted"] is True
    assert view["next"] == []
    assert "dissolved_reason" not in view


def test_member_view_of_an_approved_proposal_asks_to_respond(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("proposed")
    view = tandems.tandem_view(db_session, p.mentor_actor, p.tandem.id)
    assert view["next"] == ["respond"]
    assert len(view["members"]) == 2


def test_member_view_of_an_unapproved_proposal_hides_the_partner(
    db_session: Session, make_pair: Any
) -> None:
    p = make_pair("proposed", approved=False)
    view = tandems.tandem_view(db_session, p.mentor_actor, p.tandem.id)
    assert [m["person_id"] for m in view["members"]] == [p.mentor.id]
    assert view["next"] == []


def test_members_never_see_the_dissolution_reason(db_session: Session, pair: Any) -> None:
    tandems.dissolve_tandem(
        db_session, pair.mentor_actor, pair.tandem.id, reason="I do not feel safe."
    )
    view = tandems.tandem_view(db_session, pair.mentee_actor, pair.tandem.id)
    assert "I do not feel safe." not in str(view)
    assert view["status"] == "dissolved"


def test_coordinator_view_has_counts_not_free_text(
    db_session: Session, world: Any, pair: Any
) -> None:
    tandems.add_goal(db_session, pair.mentor_actor, pair.tandem.id, title="Secret goal title")
    goal = tandems.add_goal(db_session, pair.mentee_actor, pair.tandem.id, title="Another")
    tandems.set_goal_status(db_session, pair.mentee_actor, goal.id, status="met")
    tandems.log_action(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        description="Private action text",
        taken_on=T0.date(),
        now=T0,
    )
    view = tandems.tandem_view(db_session, world.coordinator_actor, pair.tandem.id)
    text = str(view)
    assert "Learn the new tools" not in text
    assert "Secret goal title" not in text
    assert "Private action text" not in text
    assert view["goals_by_status"] == {"open": 1, "in_progress": 0, "met": 1, "dropped": 0}
    assert view["actions"] == 1
    assert view["kickoff"] == {
        "recorded": True,
        "meeting_mode": "video",
        "recorded_at": T0.isoformat(),
    }
    assert {m["name"] for m in view["members"]} == {pair.mentor.full_name, pair.mentee.full_name}
    assert len(events(db_session, "tandem.viewed", pair.tandem)) == 1


def test_coordinator_view_shows_the_dissolution_reason(
    db_session: Session, world: Any, pair: Any
) -> None:
    tandems.dissolve_tandem(db_session, pair.mentor_actor, pair.tandem.id, reason="Reorg")
    view = tandems.tandem_view(db_session, world.coordinator_actor, pair.tandem.id)
    assert view["dissolved"] is True
    assert view["dissolved_reason"] == "Reorg"


def test_outsider_cannot_view_a_tandem(db_session: Session, world: Any, pair: Any) -> None:
    before = snapshot(db_session, pair.tandem)
    with pytest.raises(PermissionDenied):
        tandems.tandem_view(db_session, world.outsider_actor, pair.tandem.id)
    assert snapshot(db_session, pair.tandem) == before


def test_program_tandems_for_coordinators(db_session: Session, world: Any, make_pair: Any) -> None:
    a = make_pair("active")
    b = make_pair("dissolved")
    b.tandem.no_fault = True
    tandems.add_goal(db_session, a.mentor_actor, a.tandem.id, title="Hidden title")
    rows = tandems.program_tandems(db_session, world.coordinator_actor, world.program.id)
    assert [r["id"] for r in rows] == [a.tandem.id, b.tandem.id]
    first, second = rows
    assert first["status"] == "active"
    assert first["goals_by_status"]["open"] == 1
    assert first["actions"] == 0
    assert first["kickoff_recorded"] is True
    assert first["activated_at"] == T0.isoformat()
    assert {m["role"] for m in first["members"]} == {"mentor", "mentee"}
    assert all(m["confidentiality_accepted"] for m in first["members"])
    assert second["dissolved"] is True
    assert second["no_fault"] is True
    assert "Hidden title" not in str(rows)
    audited = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "program.tandems_viewed")
    ).all()
    assert len(audited) == 1


def test_program_tandems_refuses_participants(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(PermissionDenied, match="only a coordinator"):
        tandems.program_tandems(db_session, pair.mentor_actor, world.program.id)


def test_program_tandems_of_another_organization(
    db_session: Session, world: Any, make_org: Any
) -> None:
    other = make_org("globex", "Globex")
    with pytest.raises(NotFound):
        tandems.program_tandems(db_session, Actor.admin(other.id, "x"), world.program.id)


# --------------------------------------------------------------------------- withdrawal


def add_member(
    session: Session, pair: Any, person: Any, role: EnrollmentRole, *, ready: bool = True
) -> TandemMember:
    """Make the pair a group: one more member in ``role``."""
    program = session.get(Program, pair.tandem.program_id)
    enrollment = enrollments.enroll(
        session, program=program, person=person, role=role, consent=True, actor="t"
    )
    member = TandemMember(
        org_id=pair.tandem.org_id,
        enrollment_id=enrollment.id,
        person_id=person.id,
        role=role,
        accepted_at=T0 if ready else None,
        confidentiality_accepted_at=T0 if ready else None,
    )
    pair.tandem.members.append(member)
    session.flush()
    return member


def test_withdrawal_dissolves_a_pair_without_fault(db_session: Session, pair: Any) -> None:
    enrollments.withdraw(db_session, pair.mentee_enrollment, actor="t", now=LATER)
    # withdraw() settled it; settling again finds nothing left to do.
    counts = tandems.settle_withdrawal(db_session, pair.mentee_enrollment.id, actor="t", now=LATER)
    assert counts == {"dissolved": 0, "rejected": 0, "kept": 0}
    assert pair.tandem.status is TandemStatus.DISSOLVED
    assert pair.tandem.no_fault is True
    assert pair.tandem.dissolved_reason == "participant withdrew"
    assert pair.tandem.ended_at == LATER
    (event,) = events(db_session, "tandem.dissolved", pair.tandem)
    assert event.details["cause"] == "participant_withdrew"


def test_withdrawal_rejects_a_proposal(db_session: Session, make_pair: Any) -> None:
    p = make_pair("proposed")
    enrollments.withdraw(db_session, p.mentor_enrollment, actor="t", now=LATER)
    assert p.tandem.status is TandemStatus.REJECTED
    assert p.tandem.ended_at is None


def test_withdrawal_leaves_finished_tandems_alone(db_session: Session, make_pair: Any) -> None:
    p = make_pair("completed")
    enrollments.withdraw(db_session, p.mentor_enrollment, actor="t", now=LATER)
    counts = tandems.settle_withdrawal(db_session, p.mentor_enrollment.id, actor="t")
    assert counts == {"dissolved": 0, "rejected": 0, "kept": 0}
    assert p.tandem.status is TandemStatus.COMPLETED


def test_group_carries_on_and_activates_without_the_withdrawn_junior(
    db_session: Session, world: Any, make_person: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    for actor in (p.mentor_actor, p.mentee_actor):
        tandems.accept_confidentiality(db_session, actor, p.tandem.id, now=T0)
    late = add_member(
        db_session, p, make_person(world.org, job_level=2), EnrollmentRole.MENTOR, ready=False
    )
    tandems.record_kickoff(
        db_session, p.mentor_actor, p.tandem.id, expectations="E", meeting_mode="video", now=T0
    )
    assert p.tandem.status is TandemStatus.ACCEPTED  # the third member has not accepted yet
    enrollment = db_session.get(Enrollment, late.enrollment_id)
    enrollments.withdraw(db_session, enrollment, actor="t", now=LATER)
    counts = tandems.settle_withdrawal(db_session, late.enrollment_id, actor="t", now=LATER)
    assert counts == {"dissolved": 0, "rejected": 0, "kept": 1}
    assert p.tandem.status is TandemStatus.ACTIVE
    assert p.tandem.activated_at == LATER
    view = tandems.tandem_view(db_session, world.coordinator_actor, p.tandem.id)
    assert [m["withdrawn"] for m in view["members"]] == [False, False, True]


def test_group_proposal_is_accepted_without_the_withdrawn_junior(
    db_session: Session, world: Any, make_person: Any, make_pair: Any
) -> None:
    p = make_pair("proposed")
    late = add_member(
        db_session, p, make_person(world.org, job_level=2), EnrollmentRole.MENTOR, ready=False
    )
    enrollment = db_session.get(Enrollment, late.enrollment_id)
    enrollments.withdraw(db_session, enrollment, actor="t", now=T0)
    tandems.respond(db_session, p.mentor_actor, p.tandem.id, accept=True, now=T0)
    tandems.respond(db_session, p.mentee_actor, p.tandem.id, accept=True, now=T0)
    assert p.tandem.status is TandemStatus.ACCEPTED


def test_only_a_withdrawn_enrollment_is_settled(db_session: Session, pair: Any) -> None:
    before = snapshot(db_session, pair.tandem)
    with pytest.raises(ConflictError, match="is active; only a withdrawn enrollment"):
        tandems.settle_withdrawal(db_session, pair.mentor_enrollment.id, actor="t")
    assert snapshot(db_session, pair.tandem) == before
    with pytest.raises(NotFound, match="enrollment 987654 not found"):
        tandems.settle_withdrawal(db_session, 987654, actor="t")

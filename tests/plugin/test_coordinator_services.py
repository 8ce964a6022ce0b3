"""Core services behind the coordinator pages: invitations, per-month aggregates, write-back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from plugin.models import (
    AuditEvent,
    EnrollmentRole,
    Feedback,
    MentoringSession,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Program,
    ProgramCoordinator,
    ProgramInvitation,
    ProgramStatus,
    SessionStatus,
    Tandem,
    TandemStatus,
)
from plugin.services import enrollments, outbox, report, roster, writeback

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def program(make_program: Any, org: Organization) -> Program:
    return make_program(org)  # type: ignore[no-any-return]


@pytest.fixture
def coordinator(
    db_session: Session, make_person: Any, org: Organization, program: Program
) -> Actor:
    person = make_person(org)
    db_session.add(
        ProgramCoordinator(org_id=org.id, program_id=program.id, person_id=person.id, added_by="t")
    )
    db_session.flush()
    return Actor.coordinator(org.id, person.id)


@pytest.fixture
def stranger(make_person: Any, org: Organization) -> Actor:
    """A coordinator, but of no program of ours."""
    return Actor.coordinator(org.id, make_person(org).id)


# --------------------------------------------------------------------------- invitations


def test_invite_people_counts_each_case_and_audits(
    db_session: Session,
    org: Organization,
    make_org: Any,
    make_person: Any,
    program: Program,
    coordinator: Actor,
) -> None:
    fresh, enrolled, earlier, inactive, erased = (make_person(org) for _ in range(5))
    inactive.active = False
    erased.erased_at = NOW
    other_org = make_person(make_org("o2"))
    enrollments.enroll(
        db_session,
        program=program,
        person=enrolled,
        role=EnrollmentRole.MENTOR,
        consent=True,
        actor="t",
    )
    roster.invite_people(
        db_session, coordinator, program_id=program.id, person_ids=[earlier.id], source="csv"
    )
    result = roster.invite_people(
        db_session,
        coordinator,
        program_id=program.id,
        person_ids=[
            fresh.id,
            fresh.id,
            enrolled.id,
            earlier.id,
            inactive.id,
            erased.id,
            other_org.id,
            999_999,
        ],
        source="hris",
    )
    assert result.as_dict() == {
        "invited": 1,
        "already_invited": 1,
        "already_enrolled": 1,
        "unavailable": 4,
    }
    rows = db_session.scalars(
        select(ProgramInvitation).where(ProgramInvitation.program_id == program.id)
    ).all()
    assert sorted((r.person_id, r.source) for r in rows) == sorted(
        [(earlier.id, "csv"), (fresh.id, "hris")]
    )
    assert all(r.invited_by == coordinator.label for r in rows)
    event = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "program.people_invited")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.object_id == str(program.id)
    assert event.details == {"source": "hris", **result.as_dict()}


def test_invite_people_many_ids_are_chunked(
    db_session: Session, org: Organization, make_person: Any, program: Program, coordinator: Actor
) -> None:
    people = [make_person(org) for _ in range(3)]
    ids = [p.id for p in people] + list(range(10**6, 10**6 + 1200))
    result = roster.invite_people(
        db_session, coordinator, program_id=program.id, person_ids=ids, source="csv"
    )
    assert (result.invited, result.unavailable) == (3, 1200)


def test_invite_people_refusals(
    db_session: Session,
    org: Organization,
    make_person: Any,
    make_program: Any,
    program: Program,
    coordinator: Actor,
    stranger: Actor,
) -> None:
    person = make_person(org)
    with pytest.raises(PermissionDenied):
        roster.invite_people(
            db_session, stranger, program_id=program.id, person_ids=[person.id], source="csv"
        )
    participant = Actor.participant(org.id, person.id)
    with pytest.raises(PermissionDenied):
        roster.invite_people(
            db_session, participant, program_id=program.id, person_ids=[person.id], source="csv"
        )
    with pytest.raises(NotFound):
        roster.invite_people(
            db_session, coordinator, program_id=999_999, person_ids=[person.id], source="csv"
        )
    program.status = ProgramStatus.CLOSED
    db_session.flush()
    with pytest.raises(ConflictError) as exc:
        roster.invite_people(
            db_session, coordinator, program_id=program.id, person_ids=[person.id], source="csv"
        )
    assert exc.value.field == "program"
    assert db_session.scalars(select(ProgramInvitation)).all() == []
    admin = Actor.admin(org.id, "cli:t")
    other = make_program(org, name="Other")
    assert (
        roster.invite_people(
            db_session, admin, program_id=other.id, person_ids=[person.id], source="csv"
        ).invited
        == 1
    )


# --------------------------------------------------------------------------- per month


def _tandem(db_session: Session, program: Program) -> Tandem:
    tandem = Tandem(
        org_id=program.org_id, program_id=program.id, status=TandemStatus.ACTIVE, score=1.0
    )
    db_session.add(tandem)
    db_session.flush()
    return tandem


def _session(
    db_session: Session,
    tandem: Tandem,
    status: SessionStatus,
    scheduled_at: datetime,
    *,
    held_at: datetime | None = None,
    cancelled_by: EnrollmentRole | None = None,
) -> MentoringSession:
    row = MentoringSession(
        org_id=tandem.org_id,
        tandem_id=tandem.id,
        status=status,
        scheduled_at=scheduled_at,
        held_at=held_at,
        cancelled_by_role=cancelled_by,
    )
    db_session.add(row)
    db_session.flush()
    return row


def test_sessions_by_month_spans_the_program_and_counts_each_kind(
    db_session: Session, program: Program, coordinator: Actor
) -> None:
    tandem = _tandem(db_session, program)
    # Scheduled in March, held in April: counts in April.
    _session(
        db_session,
        tandem,
        SessionStatus.HELD,
        datetime(2026, 3, 30, tzinfo=UTC),
        held_at=datetime(2026, 4, 2, tzinfo=UTC),
    )
    _session(db_session, tandem, SessionStatus.PLANNED, datetime(2026, 6, 20, tzinfo=UTC))
    _session(
        db_session,
        tandem,
        SessionStatus.CANCELLED,
        datetime(2026, 5, 3, tzinfo=UTC),
        cancelled_by=EnrollmentRole.MENTOR,
    )
    _session(
        db_session,
        tandem,
        SessionStatus.CANCELLED,
        datetime(2026, 5, 4, tzinfo=UTC),
        cancelled_by=EnrollmentRole.MENTEE,
    )
    _session(db_session, tandem, SessionStatus.CANCELLED, datetime(2026, 5, 5, tzinfo=UTC))
    months = report.sessions_by_month(db_session, coordinator, program_id=program.id, now=NOW)
    assert [(m["year"], m["month"]) for m in months] == [(2026, m) for m in (3, 4, 5, 6)]
    by = {m["month"]: m for m in months}
    assert by[3]["held"] == 0
    assert by[4]["held"] == 1
    assert by[6]["planned"] == 1
    assert (by[5]["cancelled_mentor"], by[5]["cancelled_mentee"], by[5]["closed"]) == (1, 1, 1)
    # Before the start: only the first month; a session after "today" widens the span.
    early = datetime(2026, 1, 1, tzinfo=UTC)
    assert [
        m["month"]
        for m in report.sessions_by_month(db_session, coordinator, program_id=program.id, now=early)
    ] == [3, 4, 5, 6]


def test_feedback_trend_withholds_months_under_the_minimum_group(
    db_session: Session, org: Organization, make_person: Any, program: Program, coordinator: Actor
) -> None:
    tandem = _tandem(db_session, program)
    authors = [make_person(org) for _ in range(report.MIN_GROUP)]
    april = _session(
        db_session,
        tandem,
        SessionStatus.HELD,
        datetime(2026, 4, 1, tzinfo=UTC),
        held_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    may = _session(
        db_session,
        tandem,
        SessionStatus.HELD,
        datetime(2026, 5, 1, tzinfo=UTC),
        held_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    for i, author in enumerate(authors):  # April: five authors, ratings 1..5 → 3.0
        db_session.add(
            Feedback(
                org_id=org.id,
                session_id=april.id,
                author_id=author.id,
                role=EnrollmentRole.MENTOR,
                rating=i + 1,
            )
        )
    for author in authors[:2]:  # May: two authors only
        db_session.add(
            Feedback(
                org_id=org.id,
                session_id=may.id,
                author_id=author.id,
                role=EnrollmentRole.MENTEE,
                rating=5,
            )
        )
    db_session.flush()
    trend = report.feedback_trend(db_session, coordinator, program_id=program.id, now=NOW)
    by = {m["month"]: m for m in trend}
    assert by[4] == {"year": 2026, "month": 4, "mean": 3.0, "count": 5, "n": 5, "suppressed": False}
    assert by[5] == {
        "year": 2026,
        "month": 5,
        "mean": None,
        "count": None,
        "n": 2,
        "suppressed": True,
    }
    assert by[3] == {
        "year": 2026,
        "month": 3,
        "mean": None,
        "count": None,
        "n": 0,
        "suppressed": False,
    }


def test_aggregates_refuse_strangers_and_other_programs(
    db_session: Session, make_org: Any, program: Program, stranger: Actor
) -> None:
    for fn in (report.sessions_by_month, report.feedback_trend):
        with pytest.raises(PermissionDenied):
            fn(db_session, stranger, program_id=program.id, now=NOW)
        with pytest.raises(NotFound):
            fn(db_session, stranger, program_id=999_999, now=NOW)
        other = make_org(f"x{fn.__name__[:3]}")
        with pytest.raises(NotFound):
            fn(db_session, Actor.admin(other.id, "t"), program_id=program.id, now=NOW)


# --------------------------------------------------------------------------- write-back


@pytest.fixture
def messages(
    db_session: Session, org: Organization, make_program: Any, program: Program
) -> dict[str, OutboxMessage]:
    writeback.add_target(
        db_session,
        org_id=org.id,
        name="rec",
        sink="recording",
        kinds=["completion", "progress"],
        actor="t",
    )
    other = make_program(org, name="Other")
    bodies: dict[str, tuple[str, dict[str, Any], int | None]] = {
        "completion": (
            "completion",
            {"program": {"id": program.id}, "person": {"id": 1}},
            program.id,
        ),
        "progress": ("progress", {"program_id": program.id, "person_id": 1}, program.id),
        "other": ("completion", {"program": {"id": other.id}}, other.id),
        "none": ("completion", {"enrollment_id": 3}, None),
    }
    out = {}
    for name, (kind, payload, program_id) in bodies.items():
        (m,) = writeback.enqueue(
            db_session,
            org_id=org.id,
            kind=kind,
            subject=f"s:{name}",
            payload=payload,
            program_id=program_id,
        )
        out[name] = m
    db_session.flush()
    return out


def test_list_program_messages_filters_by_program(
    db_session: Session,
    org: Organization,
    program: Program,
    coordinator: Actor,
    stranger: Actor,
    messages: dict[str, OutboxMessage],
) -> None:
    found = outbox.list_program_messages(db_session, coordinator, program_id=program.id)
    assert [m.id for m in found] == sorted(
        [messages["completion"].id, messages["progress"].id], reverse=True
    )
    messages["progress"].status = OutboxStatus.DEAD
    db_session.flush()
    dead = outbox.list_program_messages(
        db_session, coordinator, program_id=program.id, status="dead"
    )
    assert [m.id for m in dead] == [messages["progress"].id]
    assert (
        len(outbox.list_program_messages(db_session, coordinator, program_id=program.id, limit=1))
        == 1
    )
    admin = Actor.admin(org.id, "cli:t")
    assert len(outbox.list_program_messages(db_session, admin, program_id=program.id)) == 2
    with pytest.raises(PermissionDenied):
        outbox.list_program_messages(db_session, stranger, program_id=program.id)
    with pytest.raises(NotFound):
        outbox.list_program_messages(db_session, coordinator, program_id=999_999)
    with pytest.raises(ValidationError):
        outbox.list_program_messages(db_session, coordinator, program_id=program.id, limit=0)
    with pytest.raises(ValidationError):
        outbox.list_program_messages(db_session, coordinator, program_id=program.id, status="lost")
    # The admin-wide list stays admin only.
    with pytest.raises(PermissionDenied):
        outbox.list_messages(db_session, coordinator)


def test_a_coordinator_reads_and_retries_only_their_programs_messages(
    db_session: Session,
    org: Organization,
    program: Program,
    coordinator: Actor,
    stranger: Actor,
    messages: dict[str, OutboxMessage],
) -> None:
    for m in messages.values():
        m.status = OutboxStatus.DEAD
    db_session.flush()
    mine = messages["progress"]
    assert mine.program_id == program.id
    assert messages["completion"].program_id == program.id
    assert messages["none"].program_id is None
    assert outbox.get_message(db_session, coordinator, mine.id).id == mine.id
    retried = outbox.retry(db_session, coordinator, mine.id, now=NOW)
    assert (retried.status, retried.attempts) == (OutboxStatus.PENDING, 0)
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "outbox.retried")
    ).one()
    assert event.actor == coordinator.label
    for name in ("other", "none"):
        with pytest.raises(PermissionDenied) as exc:
            outbox.retry(db_session, coordinator, messages[name].id, now=NOW)
        assert "personal" not in str(exc.value)
        with pytest.raises(PermissionDenied):
            outbox.get_message(db_session, coordinator, messages[name].id)
    with pytest.raises(PermissionDenied):
        outbox.retry(db_session, stranger, messages["completion"].id, now=NOW)
    participant = Actor.participant(org.id, 1)
    with pytest.raises(PermissionDenied):
        outbox.get_message(db_session, participant, messages["completion"].id)
    with pytest.raises(NotFound):
        outbox.retry(db_session, coordinator, 999_999, now=NOW)
    admin = Actor.admin(org.id, "cli:t")
    assert outbox.retry(db_session, admin, messages["none"].id, now=NOW).status is (
        OutboxStatus.PENDING
    )
    with pytest.raises(PermissionDenied):
        outbox.retry_dead(db_session, coordinator)

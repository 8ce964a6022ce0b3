"""A running program of synced people, for the end-to-end write-back tests.

Used by ``tests/test_sync_e2e.py`` (our fake SuccessFactors) and ``tests/judge_sf``
(the independent one): after a sync, pair the organization's first active people into
active tandems with six 60-minute sessions held each, so evaluating an enrollment
completes it and queues its write-back.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti.db import get_engine
from plugin.models import (
    EnrollmentRole,
    MentoringSession,
    Person,
    SessionStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, organizations, programs

SESSIONS = 6


def running_program(
    app: Flask,
    *,
    org_slug: str,
    name: str,
    pairs: int,
    start: datetime,
    days_apart: int,
    actor: str,
) -> list[tuple[int, int]]:
    """A running one-to-one program with ``pairs`` active tandems of the organization's
    first active people, each with :data:`SESSIONS` sessions held ``days_apart`` days
    apart from ``start``; returns (mentor, mentee) enrollment ids per tandem."""
    with Session(get_engine(app)) as s:
        org = organizations.get_organization(s, org_slug)
        program = programs.create_program(
            s,
            org=org,
            name=name,
            format="one_to_one",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 9, 1),
            completion_rule={
                "min_sessions": SESSIONS,
                "min_minutes": 30,
                "require_post_assessment": False,
            },
            actor=actor,
        )
        programs.set_program_status(s, program, "enrolling", actor=actor)
        people = s.scalars(
            select(Person)
            .where(Person.org_id == org.id, Person.active.is_(True))
            .order_by(Person.id)
            .limit(pairs * 2)
        ).all()
        out: list[tuple[int, int]] = []
        for k in range(pairs):
            duo = (people[2 * k], people[2 * k + 1])
            enrolled = [
                enrollments.enroll(
                    s,
                    program=program,
                    person=p,
                    role=role,
                    consent=True,
                    languages=["en"],
                    actor=actor,
                )
                for p, role in zip(duo, (EnrollmentRole.MENTOR, EnrollmentRole.MENTEE), strict=True)
            ]
            tandem = Tandem(
                org_id=org.id,
                program_id=program.id,
                status=TandemStatus.ACTIVE,
                score=1.0,
                approved_by=actor,
                approved_at=start,
                status_changed_at=start,
                activated_at=start,
                kickoff={"expectations": "Learn", "meeting_mode": "video"},
            )
            for p, e in zip(duo, enrolled, strict=True):
                tandem.members.append(
                    TandemMember(
                        org_id=org.id,
                        enrollment_id=e.id,
                        person_id=p.id,
                        role=e.role,
                        accepted_at=start,
                        confidentiality_accepted_at=start,
                    )
                )
            s.add(tandem)
            s.flush()
            for i in range(SESSIONS):
                when = start + timedelta(days=days_apart * i + 1)
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
            out.append((enrolled[0].id, enrolled[1].id))
        for step in ("matching", "running"):
            programs.set_program_status(s, program, step, actor=actor)
        s.commit()
        return out

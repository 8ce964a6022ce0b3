"""Builders for tracking tests: a running program with tandems in any lifecycle state.

The tandems are built from rows (not through the lifecycle services) so each service
can be tested from the state it starts in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.models import (
    Enrollment,
    EnrollmentRole,
    Organization,
    Person,
    Program,
    ProgramCoordinator,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import enrollments, programs

#: A moment inside the default test program (2026-03-01 .. 2026-09-01).
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """One organization with a running program, a coordinator and an outsider."""

    org: Organization
    program: Program
    coordinator: Person
    outsider: Person
    admin: Actor
    coordinator_actor: Actor
    outsider_actor: Actor
    tandems: list[Pair] = field(default_factory=list)


@dataclass
class Pair:
    """A one-to-one tandem with its two people and their actors."""

    tandem: Tandem
    mentor: Person
    mentee: Person
    mentor_enrollment: Enrollment
    mentee_enrollment: Enrollment

    @property
    def mentor_actor(self) -> Actor:
        return Actor.participant(self.mentor.org_id, self.mentor.id)

    @property
    def mentee_actor(self) -> Actor:
        return Actor.participant(self.mentee.org_id, self.mentee.id)


@pytest.fixture
def world(db_session: Session, org: Organization, make_person: Any, make_program: Any) -> World:
    program = make_program(org, confidentiality_text="What is said in the tandem stays there.")
    coordinator = make_person(org, given_name="Cora", family_name="Coordinator", job_level=8)
    outsider = make_person(org, given_name="Otto", family_name="Outsider")
    db_session.add(
        ProgramCoordinator(
            org_id=org.id, program_id=program.id, person_id=coordinator.id, added_by="test"
        )
    )
    db_session.flush()
    return World(
        org=org,
        program=program,
        coordinator=coordinator,
        outsider=outsider,
        admin=Actor.admin(org.id, "cli:test"),
        coordinator_actor=Actor.coordinator(org.id, coordinator.id),
        outsider_actor=Actor.participant(org.id, outsider.id),
    )


@pytest.fixture
def make_pair(db_session: Session, world: World, make_person: Any) -> Any:
    """Build a tandem in ``status``; ``running=True`` moves the program to running first.

    ``accepted``: both members consented. ``active``: also kick-off recorded and the
    confidentiality agreement accepted by both, activated at :data:`T0`.
    """

    def _make(
        status: str = "active",
        *,
        approved: bool = True,
        running: bool = True,
        program: Program | None = None,
        mentor: Person | None = None,
        mentee: Person | None = None,
    ) -> Pair:
        prog = program or world.program
        mentor = mentor or make_person(world.org, job_level=2, department="IT")
        mentee = mentee or make_person(world.org, job_level=9, department="Sales")
        enr = []
        for person, role in ((mentor, EnrollmentRole.MENTOR), (mentee, EnrollmentRole.MENTEE)):
            existing = (
                db_session.query(Enrollment)
                .filter_by(program_id=prog.id, person_id=person.id)
                .first()
            )
            enr.append(
                existing
                or enrollments.enroll(
                    db_session, program=prog, person=person, role=role, consent=True, actor="t"
                )
            )
        state = TandemStatus(status)
        tandem = Tandem(
            org_id=prog.org_id,
            program_id=prog.id,
            status=state,
            score=1.0,
            approved_by="test" if approved else None,
            approved_at=T0 if approved else None,
            status_changed_at=T0,
        )
        consented = state in (TandemStatus.ACCEPTED, TandemStatus.ACTIVE, TandemStatus.COMPLETED)
        active = state in (TandemStatus.ACTIVE, TandemStatus.COMPLETED)
        if active:
            tandem.kickoff = {
                "expectations": "Learn the new tools; give honest feedback.",
                "meeting_mode": "video",
                "recorded_by": mentor.id,
                "recorded_at": T0.isoformat(),
            }
            tandem.activated_at = T0
        for person, e in ((mentor, enr[0]), (mentee, enr[1])):
            tandem.members.append(
                TandemMember(
                    org_id=prog.org_id,
                    enrollment_id=e.id,
                    person_id=person.id,
                    role=e.role,
                    accepted_at=T0 if consented else None,
                    confidentiality_accepted_at=T0 if active else None,
                )
            )
        db_session.add(tandem)
        db_session.flush()
        if running and prog.status.value != "running":
            for step in ("matching", "running"):
                if prog.status.value != "running":
                    programs.set_program_status(db_session, prog, step, actor="test")
        pair = Pair(tandem, mentor, mentee, enr[0], enr[1])
        world.tandems.append(pair)
        return pair

    return _make


@pytest.fixture
def pair(make_pair: Any) -> Pair:
    """One active tandem in the running program."""
    return make_pair()

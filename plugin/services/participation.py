"""A person's own place in the organization's programs: enrollments, invitations, programs.

Read-only questions the pages ask about the acting person (never about someone else):
which programs they are enrolled in, invited to (e.g. from a course roster) or coordinate.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor, coordinated_program_ids, require_person
from plugin.models import Enrollment, Program, ProgramInvitation

__all__ = ["coordinated_programs", "invitation", "invited_programs", "own_enrollments"]


def own_enrollments(
    session: Session, actor: Actor, program_id: int | None = None
) -> list[Enrollment]:
    """The actor's enrollments (active and withdrawn), optionally in one program."""
    person_id = require_person(actor)
    stmt = select(Enrollment).where(
        Enrollment.org_id == actor.org_id, Enrollment.person_id == person_id
    )
    if program_id is not None:
        stmt = stmt.where(Enrollment.program_id == program_id)
    return list(session.scalars(stmt.order_by(Enrollment.id)).unique())


def invitation(session: Session, actor: Actor, program_id: int) -> ProgramInvitation | None:
    """The actor's invitation to a program, if any."""
    person_id = require_person(actor)
    return session.scalar(
        select(ProgramInvitation).where(
            ProgramInvitation.org_id == actor.org_id,
            ProgramInvitation.program_id == program_id,
            ProgramInvitation.person_id == person_id,
        )
    )


def invited_programs(session: Session, actor: Actor) -> list[Program]:
    """The programs the actor is invited to, in the order of the invitations."""
    person_id = require_person(actor)
    stmt = (
        select(Program)
        .join(ProgramInvitation, ProgramInvitation.program_id == Program.id)
        .where(
            ProgramInvitation.org_id == actor.org_id,
            ProgramInvitation.person_id == person_id,
        )
        .order_by(ProgramInvitation.id)
    )
    return list(session.scalars(stmt))


def coordinated_programs(session: Session, actor: Actor) -> Sequence[Program]:
    """The programs the actor coordinates (every program for an admin), newest first."""
    ids = coordinated_program_ids(session, actor)
    stmt = select(Program).where(Program.org_id == actor.org_id)
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(Program.id.in_(sorted(ids)))
    return session.scalars(stmt.order_by(Program.starts_on.desc(), Program.id)).all()

"""Program coordinators: who sees a program's aggregates and receives its alerts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor, require_coordinator, require_org
from plugin.errors import N_, ConflictError, NotFound
from plugin.models import Person, Program, ProgramCoordinator
from plugin.services import audit

__all__ = ["add_coordinator", "coordinator_ids", "list_coordinators", "remove_coordinator"]


def coordinator_ids(session: Session, program: Program) -> list[int]:
    """Person ids of the program's coordinators, in the order they were added."""
    stmt = (
        select(ProgramCoordinator.person_id)
        .where(ProgramCoordinator.program_id == program.id)
        .order_by(ProgramCoordinator.id)
    )
    return list(session.scalars(stmt))


def list_coordinators(session: Session, actor: Actor, program: Program) -> Sequence[Person]:
    """The program's coordinators (visible to its coordinators).

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    require_org(actor, program.org_id, "program")
    require_coordinator(session, actor, program.id)
    stmt = (
        select(Person)
        .join(ProgramCoordinator, ProgramCoordinator.person_id == Person.id)
        .where(ProgramCoordinator.program_id == program.id)
        .order_by(ProgramCoordinator.id)
    )
    return session.scalars(stmt).all()


def add_coordinator(
    session: Session, actor: Actor, program: Program, *, person_id: int
) -> ProgramCoordinator:
    """Make a person a coordinator of the program (audited).

    Raises:
        PermissionDenied: The actor does not coordinate the program.
        NotFound: No such person in the organization.
        ConflictError: The person is inactive or already a coordinator.
    """
    require_org(actor, program.org_id, "program")
    require_coordinator(session, actor, program.id)
    person = session.get(Person, person_id)
    if person is None or person.org_id != program.org_id:
        raise NotFound(N_("person %(person)s not found"), field="person", person=person_id)
    if not person.active:
        raise ConflictError(N_("person %(person)s is inactive"), field="person", person=person_id)
    if person_id in coordinator_ids(session, program):
        raise ConflictError(
            N_("person %(person)s already coordinates program %(program)s"),
            field="person",
            person=person_id,
            program=program.id,
        )
    row = ProgramCoordinator(
        org_id=program.org_id, program_id=program.id, person_id=person_id, added_by=actor.label
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="coordinator.added",
        object_type="program",
        object_id=program.id,
        details={"person_id": person_id},
    )
    return row


def remove_coordinator(session: Session, actor: Actor, program: Program, *, person_id: int) -> None:
    """Remove a coordinator from the program (audited).

    Raises:
        PermissionDenied: The actor does not coordinate the program.
        NotFound: The person is not a coordinator of the program.
    """
    require_org(actor, program.org_id, "program")
    require_coordinator(session, actor, program.id)
    row = session.scalars(
        select(ProgramCoordinator).where(
            ProgramCoordinator.program_id == program.id, ProgramCoordinator.person_id == person_id
        )
    ).first()
    if row is None:
        raise NotFound(
            N_("person %(person)s does not coordinate program %(program)s"),
            field="person",
            person=person_id,
            program=program.id,
        )
    session.delete(row)
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="coordinator.removed",
        object_type="program",
        object_id=program.id,
        details={"person_id": person_id},
    )

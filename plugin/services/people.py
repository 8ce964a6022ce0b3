"""People: lookups, the org chart of one organization, and the export."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from plugin import orgchart
from plugin.db import utcnow
from plugin.errors import N_, NotFound, ValidationError
from plugin.models import Person
from plugin.services import audit

__all__ = [
    "EXPORT_FIELDS",
    "count_people",
    "get_person",
    "in_same_chain",
    "iter_export_rows",
    "management_chain",
    "manager_map",
    "record_departure",
    "tree_check",
]

EXPORT_FIELDS = (
    "id",
    "identities",
    "given_name",
    "family_name",
    "email",
    "department",
    "division",
    "location",
    "job_title",
    "manager_id",
    "active",
    "left_on",
)


def get_person(session: Session, *, org_id: int, person_id: int) -> Person:
    """A person of this organization.

    Raises:
        NotFound: No such person in this organization.
    """
    person = session.get(Person, person_id)
    if person is None or person.org_id != org_id:
        raise NotFound(
            N_("person %(person)s not found in this organization"), field="person", person=person_id
        )
    return person


def record_departure(
    session: Session,
    *,
    org_id: int,
    person_id: int,
    left_on: date,
    actor: str,
    today: date | None = None,
) -> Person:
    """Record that a person leaves (or left) the company, as the HRIS reports it.

    The person stays, with their last day in ``left_on``, so programs keep their figures
    (retention, completions); they are inactive from the day after ``left_on``.

    Raises:
        NotFound: No such person in this organization.
        ValidationError: ``left_on`` is before the person was hired.
    """
    person = get_person(session, org_id=org_id, person_id=person_id)
    if person.hire_date is not None and left_on < person.hire_date:
        raise ValidationError(
            N_("the last day (%(last)s) is before the hire date (%(hired)s)"),
            field="left_on",
            last=str(left_on),
            hired=str(person.hire_date),
        )
    today = today or utcnow().date()
    person.left_on = left_on
    person.active = left_on >= today
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="person.departure_recorded",
        object_type="person",
        object_id=person.id,
        details={"left_on": left_on.isoformat()},
    )
    return person


def count_people(session: Session, *, org_id: int) -> int:
    """How many people the organization has (active or not)."""
    return session.scalar(select(func.count(Person.id)).where(Person.org_id == org_id)) or 0


def manager_map(session: Session, *, org_id: int) -> dict[int, int | None]:
    """``{person_id: manager_id}`` for the whole organization, in one query."""
    rows = session.execute(
        select(Person.id, Person.manager_id).where(Person.org_id == org_id)
    ).all()
    return {pid: mid for pid, mid in rows}


def management_chain(session: Session, *, org_id: int, person_id: int) -> list[int]:
    """Ids of the person's managers at every level, nearest first (cycle-safe)."""
    get_person(session, org_id=org_id, person_id=person_id)
    return orgchart.chain_of(person_id, manager_map(session, org_id=org_id))


def in_same_chain(session: Session, *, org_id: int, a: int, b: int) -> bool:
    """True if A is in B's management chain or B in A's, at any depth."""
    get_person(session, org_id=org_id, person_id=a)
    get_person(session, org_id=org_id, person_id=b)
    return orgchart.in_same_chain(a, b, manager_map(session, org_id=org_id))


def tree_check(session: Session, *, org_id: int) -> orgchart.TreeCheck:
    """Whether the organization's manager links form one tree without cycles."""
    return orgchart.check_tree(manager_map(session, org_id=org_id))


def iter_export_rows(
    session: Session, *, org_id: int, batch_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Stream one dict per person (fields :data:`EXPORT_FIELDS`), ordered by id.

    Memory stays flat: people are read in keyset-paged batches with their identities.
    """
    last_id = 0
    while True:
        stmt = (
            select(Person)
            .where(Person.org_id == org_id, Person.id > last_id)
            .order_by(Person.id)
            .limit(batch_size)
            .options(selectinload(Person.identities))
        )
        batch: Sequence[Person] = session.scalars(stmt).all()
        if not batch:
            return
        for p in batch:
            yield {
                "id": p.id,
                "identities": [
                    {"source": i.source, "external_id": i.external_id} for i in p.identities
                ],
                "given_name": p.given_name,
                "family_name": p.family_name,
                "email": p.email,
                "department": p.department,
                "division": p.division,
                "location": p.location,
                "job_title": p.job_title,
                "manager_id": p.manager_id,
                "active": p.active,
                "left_on": p.left_on.isoformat() if p.left_on else None,
            }
        last_id = batch[-1].id
        # Forget the batch so a 100k-person export does not grow the identity map.
        for p in batch:
            session.expunge(p)

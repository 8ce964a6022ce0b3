from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from plugin.errors import NotFound, ValidationError
from plugin.models import AuditEvent, Organization
from plugin.services import people


def test_departure_keeps_the_person_and_sets_the_last_day(
    db_session: Session, org: Organization, make_person: Any
) -> None:
    person = make_person(org, hire_date=date(2020, 1, 1))
    people.record_departure(
        db_session,
        org_id=org.id,
        person_id=person.id,
        left_on=date(2026, 5, 31),
        actor="t",
        today=date(2026, 6, 1),
    )
    assert person.left_on == date(2026, 5, 31)
    assert person.active is False
    event = db_session.query(AuditEvent).filter_by(action="person.departure_recorded").one()
    assert event.details == {"left_on": "2026-05-31"}


def test_announced_departure_stays_active_until_the_last_day(
    db_session: Session, org: Organization, make_person: Any
) -> None:
    person = make_person(org)
    people.record_departure(
        db_session,
        org_id=org.id,
        person_id=person.id,
        left_on=date(2026, 12, 31),
        actor="t",
        today=date(2026, 11, 1),
    )
    assert person.active is True


def test_departure_before_hire_is_refused(
    db_session: Session, org: Organization, make_person: Any
) -> None:
    person = make_person(org, hire_date=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="before the hire date"):
        people.record_departure(
            db_session, org_id=org.id, person_id=person.id, left_on=date(2023, 1, 1), actor="t"
        )
    assert person.left_on is None
    assert person.active is True


def test_departure_of_someone_elsewhere_is_not_found(
    db_session: Session, make_org: Any, make_person: Any
) -> None:
    other = make_person(make_org("other", "Other AG"))
    mine = make_org("mine", "Mine AG")
    with pytest.raises(NotFound):
        people.record_departure(
            db_session, org_id=mine.id, person_id=other.id, left_on=date(2026, 1, 1), actor="t"
        )

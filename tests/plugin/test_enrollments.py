from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, NotFound, ValidationError
from plugin.models import (
    Consent,
    Enrollment,
    EnrollmentStatus,
    Organization,
    Person,
    Program,
)
from plugin.services import enrollments, programs


def enroll(session: Session, program: Program, person: Person, **kw: Any) -> Enrollment:
    fields: dict[str, Any] = {"role": "mentor", "consent": True, "actor": "t"}
    fields.update(kw)
    return enrollments.enroll(session, program=program, person=person, **fields)


def n_enrollments(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Enrollment)) or 0


@pytest.fixture
def program(make_program: Any, org: Organization, skills: Any) -> Program:
    return make_program(org)


def test_enrol_records_consent(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person = make_person(org)
    e = enroll(db_session, program, person, topics_offered={"AI": 4}, capacity=2)
    assert e.consent_at is not None
    assert e.consent_version == program.confidentiality_version
    assert e.languages == ["de", "en"]  # taken from the person
    consent = db_session.scalars(select(Consent)).one()
    assert (consent.purpose, consent.person_id, consent.program_id) == (
        "participation",
        person.id,
        program.id,
    )


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"consent": False}, ValidationError, "consent"),
        ({"capacity": 0}, ValidationError, "at least 1"),
        ({"capacity": -3}, ValidationError, "at least 1"),
        ({"capacity": 11}, ValidationError, "at most"),
        ({"role": "mentee", "capacity": 2}, ValidationError, "exactly one junior"),
        ({"role": "coach"}, ValidationError, "unknown role"),
        ({"topics_offered": {"COBOL": 3}}, ValidationError, "unknown topic"),
        ({"topics_offered": {"AI": 6}}, ValidationError, "1–5"),
        ({"languages": ["german"]}, ValidationError, "ISO 639-1"),
        ({"avoid_person_ids": [999999]}, ValidationError, "unknown person"),
        ({"availability": {"weekdays": ["someday"]}}, ValidationError, "weekdays"),
        ({"consent_version": "0"}, ValidationError, "version"),
    ],
)
def test_bad_input_writes_nothing(
    db_session: Session,
    org: Organization,
    program: Program,
    make_person: Any,
    kw: dict[str, Any],
    exc: type[Exception],
    match: str,
) -> None:
    person = make_person(org)
    with pytest.raises(exc, match=match):
        enroll(db_session, program, person, **kw)
    assert n_enrollments(db_session) == 0
    assert db_session.scalar(select(func.count()).select_from(Consent)) == 0


def test_avoid_self_and_overlap(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person, other = make_person(org), make_person(org)
    with pytest.raises(ValidationError, match="themself"):
        enroll(db_session, program, person, avoid_person_ids=[person.id])
    with pytest.raises(ValidationError, match="both avoided and preferred"):
        enroll(
            db_session, program, person, avoid_person_ids=[other.id], prefer_person_ids=[other.id]
        )


def test_duplicate_enrollment(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person = make_person(org)
    enroll(db_session, program, person)
    with pytest.raises(ConflictError, match="already enrolled"):
        enroll(db_session, program, person)
    assert n_enrollments(db_session) == 1


def test_one_role_per_person_in_one_to_one(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person = make_person(org)
    enroll(db_session, program, person, role="mentee")
    with pytest.raises(ConflictError, match="one role per person"):
        enroll(db_session, program, person, role="mentor")
    assert n_enrollments(db_session) == 1


def test_both_roles_allowed_in_bidirectional(
    db_session: Session, org: Organization, make_program: Any, make_person: Any
) -> None:
    program = make_program(org, name="Peers", format="bidirectional")
    person = make_person(org)
    enroll(db_session, program, person, role="mentee")
    enroll(db_session, program, person, role="mentor")
    assert n_enrollments(db_session) == 2


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_no_enrollment_in_draft_or_closed_program(
    db_session: Session, org: Organization, make_program: Any, make_person: Any, status: str
) -> None:
    program = make_program(org, status=None)
    if status == "closed":
        programs.set_program_status(db_session, program, "closed", actor="t")
    with pytest.raises(ConflictError, match=status if status == "closed" else "draft"):
        enroll(db_session, program, make_person(org))
    assert n_enrollments(db_session) == 0


def test_inactive_person_and_other_org(
    db_session: Session, org: Organization, program: Program, make_person: Any, make_org: Any
) -> None:
    with pytest.raises(ConflictError, match="inactive"):
        enroll(db_session, program, make_person(org, active=False))
    stranger = make_person(make_org("other", "Other"))
    with pytest.raises(NotFound):
        enroll(db_session, program, stranger)
    assert n_enrollments(db_session) == 0


def test_withdraw_and_reenrol(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person = make_person(org)
    e = enroll(db_session, program, person)
    enrollments.withdraw(db_session, e, actor="t")
    assert e.status is EnrollmentStatus.WITHDRAWN
    assert db_session.scalars(select(Consent)).one().withdrawn_at is not None
    with pytest.raises(ConflictError, match="already withdrawn"):
        enrollments.withdraw(db_session, e, actor="t")
    # Withdrawn rows stay for the aggregates but are not listed as active.
    assert enrollments.list_enrollments(db_session, program=program) == []
    assert len(enrollments.list_enrollments(db_session, program=program, active_only=False)) == 1
    again = enroll(db_session, program, person)
    assert again.id == e.id
    assert again.status is EnrollmentStatus.ACTIVE
    assert db_session.scalar(select(func.count()).select_from(Consent)) == 2


def test_withdrawn_mentee_may_switch_role(
    db_session: Session, org: Organization, program: Program, make_person: Any
) -> None:
    person = make_person(org)
    e = enroll(db_session, program, person, role="mentee")
    enrollments.withdraw(db_session, e, actor="t")
    enroll(db_session, program, person, role="mentor")
    assert n_enrollments(db_session) == 2

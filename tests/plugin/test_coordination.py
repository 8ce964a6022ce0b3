"""Read models behind the coordinator pages (plugin.services.coordination)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import PermissionDenied
from plugin.models import (
    Organization,
    Person,
    PersonIdentity,
    Program,
    ProgramCoordinator,
)
from plugin.services import coordination, enrollments, roster
from plugin.services.coordination import HrisQuery, RowProblem

SOURCE = "successfactors:1"


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


def synced(db_session: Session, person: Person, external_id: str, source: str = SOURCE) -> Person:
    db_session.add(
        PersonIdentity(
            org_id=person.org_id, person_id=person.id, source=source, external_id=external_id
        )
    )
    db_session.flush()
    return person


# --------------------------------------------------------------------------- HRIS people


def test_hris_search_filters_and_marks_state(
    db_session: Session, make_person: Any, org: Organization, program: Program, coordinator: Actor
) -> None:
    ada = synced(db_session, make_person(org, family_name="Ada", department="IT"), "E1")
    bea = synced(db_session, make_person(org, family_name="Bea", division="Ops"), "E2")
    synced(db_session, make_person(org, family_name="Gone", active=False), "E3")
    synced(db_session, make_person(org, family_name="Other"), "E4", source="workday:9")
    make_person(org, family_name="Unsynced")
    enrollments.enroll(
        db_session, program=program, person=bea, role="mentor", consent=True, actor="t"
    )
    roster.invite_people(
        db_session, coordinator, program_id=program.id, person_ids=[ada.id], source="hris"
    )

    page = coordination.search_hris_people(
        db_session, coordinator, program=program, query=HrisQuery(sources=[SOURCE]), limit=10
    )
    assert [p.id for p in page.people] == [ada.id, bea.id]
    assert page.total == 2
    assert page.employee_ids == {ada.id: "E1", bea.id: "E2"}
    assert page.enrolled == {bea.id}
    assert page.invited == {ada.id}

    limited = coordination.search_hris_people(
        db_session, coordinator, program=program, query=HrisQuery(sources=[SOURCE]), limit=1
    )
    assert ([p.id for p in limited.people], limited.total) == ([ada.id], 2)

    def ids(**kw: Any) -> list[int]:
        query = HrisQuery(sources=[SOURCE], **kw)
        return coordination.hris_person_ids(db_session, coordinator, program=program, query=query)

    assert ids(q="E2") == [bea.id]  # exact employee id
    assert ids(q="ad") == [ada.id]  # part of a name, any case
    assert ids(department="IT", division="Ops") == [bea.id]
    assert ids(fresh=True) == []  # one invited, one enrolled
    assert ids(q="100%_") == []  # LIKE wildcards are literal
    assert (
        coordination.hris_person_ids(
            db_session, coordinator, program=program, query=HrisQuery(sources=[])
        )
        == []
    )
    assert (
        coordination.count_hris_people(
            db_session, coordinator, program=program, query=HrisQuery(sources=[SOURCE], q="a")
        )
        == 2
    )
    assert coordination.hris_facets(db_session, coordinator, sources=[SOURCE]) == (
        ["IT"],
        ["Ops"],
    )


def test_pickable_keeps_order_and_drops_what_the_page_could_not_list(
    db_session: Session, make_person: Any, org: Organization, program: Program, coordinator: Actor
) -> None:
    a = synced(db_session, make_person(org), "A")
    b = synced(db_session, make_person(org), "B")
    unsynced = make_person(org)
    picked = [b.id, unsynced.id, a.id, b.id, 999_999]
    assert coordination.pickable_person_ids(
        db_session, coordinator, program=program, sources=[SOURCE], person_ids=picked
    ) == [b.id, a.id]


def test_reads_refuse_a_program_the_actor_does_not_coordinate(
    db_session: Session, program: Program, stranger: Actor
) -> None:
    query = HrisQuery(sources=[SOURCE])
    with pytest.raises(PermissionDenied):
        coordination.search_hris_people(
            db_session, stranger, program=program, query=query, limit=10
        )
    with pytest.raises(PermissionDenied):
        coordination.hris_person_ids(db_session, stranger, program=program, query=query)
    with pytest.raises(PermissionDenied):
        coordination.list_invitations(db_session, stranger, program=program)
    with pytest.raises(PermissionDenied):
        coordination.enrolled_count(db_session, stranger, program=program)
    assert coordination.program_counts(db_session, stranger, program_ids=[program.id]) == (
        coordination.ProgramCounts()
    )


# --------------------------------------------------------------------------- CSV rows


def test_resolve_rows_gives_a_person_or_a_reason(
    db_session: Session, make_person: Any, make_org: Any, org: Organization, coordinator: Actor
) -> None:
    ada = synced(db_session, make_person(org, email="Ada@Example.com"), "E1")
    bea = synced(db_session, make_person(org, email="bea@example.com"), "E2")
    make_person(org, email="twin@example.com")
    make_person(org, email="twin@example.com")
    synced(db_session, make_person(org, email="old@example.com", active=False), "E9")
    lti_only = make_person(org)
    synced(db_session, lti_only, "E7", source="lti:issuer")
    other = make_org(slug="other", name="Other")
    make_person(other, email="far@example.com")

    rows = [
        (2, "ada@example.com", ""),
        (3, "", "E2"),
        (4, "", ""),
        (5, "not-an-address", ""),
        (6, "far@example.com", ""),
        (7, "", "E7"),
        (8, "ada@example.com", "E2"),
        (9, "twin@example.com", ""),
        (10, "old@example.com", ""),
        (11, "ADA@example.com", "E1"),
    ]
    got = coordination.resolve_rows(db_session, coordinator, rows=rows)
    assert [(r.line, r.value, r.person_id, r.problem) for r in got] == [
        (2, "ada@example.com", ada.id, None),
        (3, "E2", bea.id, None),
        (4, "", None, RowProblem.MISSING),
        (5, "not-an-address", None, RowProblem.INVALID_EMAIL),
        (6, "far@example.com", None, RowProblem.UNKNOWN_EMAIL),
        (7, "E7", None, RowProblem.UNKNOWN_EMPLOYEE),
        (8, "ada@example.com", None, RowProblem.MISMATCH),
        (9, "twin@example.com", None, RowProblem.AMBIGUOUS),
        (10, "old@example.com", None, RowProblem.INACTIVE),
        (11, "ADA@example.com", ada.id, RowProblem.DUPLICATE),
    ]


# --------------------------------------------------------------------------- counts and lists


def test_counts_invitations_and_names(
    db_session: Session,
    make_person: Any,
    make_program: Any,
    org: Organization,
    program: Program,
    coordinator: Actor,
) -> None:
    a, b, c = make_person(org), make_person(org), make_person(org)
    enrollments.enroll(
        db_session, program=program, person=a, role="mentor", consent=True, actor="t"
    )
    enrollments.enroll(
        db_session, program=program, person=b, role="mentee", consent=True, actor="t"
    )
    roster.invite_people(
        db_session, coordinator, program_id=program.id, person_ids=[c.id], source="csv"
    )
    elsewhere = make_program(org, name="Not ours")

    counts = coordination.program_counts(
        db_session, coordinator, program_ids=[program.id, elsewhere.id]
    )
    assert dict(counts.enrolled) == {program.id: 2}
    assert dict(counts.tandems) == {}
    admin = Actor.admin(org.id, "cli:test")
    assert coordination.enrolled_count(db_session, admin, program=program) == 2
    invitations = coordination.list_invitations(db_session, coordinator, program=program)
    assert [(inv.person_id, person.id) for inv, person in invitations] == [(c.id, c.id)]
    assert coordination.program_tandems(db_session, coordinator, program=program) == []
    assert coordination.tandem_status_by_enrollment(db_session, coordinator, program=program) == {}
    assert coordination.person_names(db_session, coordinator, person_ids=[a.id, a.id, 999]) == {
        a.id: f"{a.given_name} {a.family_name}"
    }
    assert coordination.roster_available(db_session, coordinator, link_id=None) is False

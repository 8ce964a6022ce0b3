"""What a validated launch means: roles, person linking by the org's rule, links, roster."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor, ActorRole
from plugin.errors import ConflictError, PermissionDenied, ValidationError
from plugin.models import (
    EnrollmentRole,
    LtiLink,
    Organization,
    PersonIdentity,
    ProgramCoordinator,
    ProgramInvitation,
)
from plugin.services import enrollments, organizations, participation, roster
from plugin.services import lti_registrations as regs
from plugin.services.lti_launches import (
    CLAIM,
    accept_launch,
    link_person,
    record_link,
    role_for,
)

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LIS + "membership#Learner"], ActorRole.PARTICIPANT),
        ([], ActorRole.PARTICIPANT),
        (None, ActorRole.PARTICIPANT),
        ([LIS + "membership#Instructor"], ActorRole.COORDINATOR),
        ([LIS + "membership/Instructor#TeachingAssistant"], ActorRole.COORDINATOR),
        ([LIS + "membership#Administrator"], ActorRole.COORDINATOR),
        (["Administrator"], ActorRole.COORDINATOR),
        ([LIS + "institution/person#Instructor"], ActorRole.COORDINATOR),
        ([LIS + "membership#ContentDeveloper"], ActorRole.COORDINATOR),
        (["Instructor"], ActorRole.COORDINATOR),
        ([LIS + "membership#Mentor", LIS + "membership#Learner"], ActorRole.PARTICIPANT),
        ([LIS + "institution/person#Student"], ActorRole.PARTICIPANT),
        ([LIS + "institution/person#Administrator"], ActorRole.ADMIN),
        ([LIS + "system/person#Administrator"], ActorRole.ADMIN),
        ([LIS + "system/person#SysAdmin"], ActorRole.ADMIN),
        ([" " + LIS + "system/person#SysAdmin "], ActorRole.ADMIN),
        (["https://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin"], ActorRole.ADMIN),
        (["urn:lti:instrole:ims/lis/Administrator"], ActorRole.ADMIN),
        (["urn:lti:sysrole:ims/lis/SysAdmin"], ActorRole.ADMIN),
        # The highest role wins, wherever it is in the list.
        (
            [LIS + "membership#Instructor", LIS + "institution/person#Administrator"],
            ActorRole.ADMIN,
        ),
        ([LIS + "institution/person#Administrator", LIS + "membership#Learner"], ActorRole.ADMIN),
        ([LIS + "membership#Learner", LIS + "membership#Instructor"], ActorRole.COORDINATOR),
        # Look-alikes are not admin roles.
        ([LIS + "system/person#User"], ActorRole.PARTICIPANT),
        ([LIS + "institution/person#Administrator/x"], ActorRole.PARTICIPANT),
        (["http://example.com/institution/person#Administrator"], ActorRole.COORDINATOR),
        ([42, None, LIS + "system/person#SysAdmin"], ActorRole.ADMIN),
    ],
)
def test_roles_map_to_admin_coordinator_or_participant(roles: Any, expected: ActorRole) -> None:
    assert role_for(roles) is expected


@pytest.fixture
def registration(db_session: Session, org: Organization) -> Any:
    return regs.add_platform(
        db_session,
        org_id=org.id,
        issuer="https://lms.example.org",
        client_id="c1",
        auth_login_url="https://lms.example.org/auth",
        auth_token_url="https://lms.example.org/token",
        jwks_url="https://lms.example.org/jwks",
        deployment_ids=["1"],
        actor="test",
    )


def claims(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sub": "u-1",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "Ada@Example.com",
        CLAIM["roles"]: [LIS + "membership#Learner"],
        CLAIM["resource_link"]: {"id": "rl-9", "title": "My tandem"},
        CLAIM["context"]: {"id": "c-1", "title": "Course"},
    }
    body.update(kw)
    return body


def test_email_rule_links_an_existing_person_case_insensitively(
    db_session: Session, org: Organization, make_person: Any, registration: Any
) -> None:
    ada = make_person(org, email="ada@example.com")
    person, created = link_person(
        db_session, org=org, registration_id=registration.id, claims=claims()
    )
    assert (person.id, created) == (ada.id, False)
    identity = db_session.scalars(
        select(PersonIdentity).where(PersonIdentity.source == f"lti:{registration.id}")
    ).one()
    assert identity.external_id == "u-1"
    # Next time the identity links, even if the e-mail changed.
    again, _ = link_person(
        db_session,
        org=org,
        registration_id=registration.id,
        claims=claims(email="new@example.com"),
    )
    assert again.id == ada.id


def test_sourcedid_rule_links_by_employee_id(
    db_session: Session, org: Organization, make_person: Any, registration: Any
) -> None:
    organizations.set_identity_link_rule(db_session, org=org, rule="sourcedid", actor="t")
    emp = make_person(org, email="someone@example.com")
    db_session.add(
        PersonIdentity(
            org_id=org.id, person_id=emp.id, source="successfactors:1", external_id="E-77"
        )
    )
    db_session.flush()
    person, created = link_person(
        db_session,
        org=org,
        registration_id=registration.id,
        claims=claims(**{CLAIM["lis"]: {"person_sourcedid": "E-77"}}),
    )
    assert (person.id, created) == (emp.id, False)


def test_unmatched_user_becomes_a_new_person(
    db_session: Session, org: Organization, registration: Any
) -> None:
    person, created = link_person(
        db_session, org=org, registration_id=registration.id, claims=claims()
    )
    assert created
    assert (person.given_name, person.family_name, person.email) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
    )


def test_two_people_with_the_same_email_are_refused(
    db_session: Session, org: Organization, make_person: Any, registration: Any
) -> None:
    make_person(org, email="ada@example.com")
    make_person(org, email="ADA@example.com")
    with pytest.raises(ConflictError):
        link_person(db_session, org=org, registration_id=registration.id, claims=claims())


def test_a_person_who_left_is_refused(
    db_session: Session, org: Organization, make_person: Any, registration: Any
) -> None:
    make_person(org, email="ada@example.com", active=False)
    with pytest.raises(PermissionDenied):
        link_person(db_session, org=org, registration_id=registration.id, claims=claims())


def test_a_launch_without_sub_is_refused(
    db_session: Session, org: Organization, registration: Any
) -> None:
    with pytest.raises(ValidationError):
        link_person(db_session, org=org, registration_id=registration.id, claims=claims(sub=""))


def test_unknown_link_rule_is_refused(db_session: Session, org: Organization) -> None:
    with pytest.raises(ValidationError):
        organizations.set_identity_link_rule(db_session, org=org, rule="name", actor="t")


def test_an_instructor_launching_a_program_link_becomes_its_coordinator(
    db_session: Session, org: Organization, make_program: Any, registration: Any
) -> None:
    program = make_program(org)
    body = claims(
        **{
            CLAIM["roles"]: [LIS + "membership#Instructor"],
            CLAIM["custom"]: {"activity": "dashboard", "program": str(program.id)},
        }
    )
    accepted = accept_launch(
        db_session, registration=registration, deployment_id="1", claims=body, activity="dashboard"
    )
    assert accepted.role is ActorRole.COORDINATOR
    assert accepted.became_coordinator
    assert accepted.program is not None
    assert db_session.scalars(select(ProgramCoordinator.person_id)).all() == [accepted.person.id]
    again = accept_launch(
        db_session, registration=registration, deployment_id="1", claims=body, activity="dashboard"
    )
    assert not again.became_coordinator


def test_an_institution_admin_launch_is_an_hr_admin_who_coordinates_every_program(
    db_session: Session, org: Organization, make_program: Any, registration: Any
) -> None:
    program = make_program(org)
    body = claims(
        **{
            CLAIM["roles"]: [
                LIS + "membership#Instructor",
                LIS + "institution/person#Administrator",
            ],
            CLAIM["custom"]: {"activity": "dashboard", "program": str(program.id)},
        }
    )
    accepted = accept_launch(
        db_session, registration=registration, deployment_id="1", claims=body, activity="dashboard"
    )
    assert accepted.role is ActorRole.ADMIN
    # Not listed as one program's coordinator: an admin coordinates all of them.
    assert not accepted.became_coordinator
    assert db_session.scalars(select(ProgramCoordinator.person_id)).all() == []
    admin = Actor.admin(org.id, "lti:test", person_id=accepted.person.id)
    assert [p.id for p in participation.coordinated_programs(db_session, admin)] == [program.id]


def test_a_program_of_another_org_is_ignored(
    db_session: Session, make_org: Any, org: Organization, make_program: Any, registration: Any
) -> None:
    other = make_program(make_org(slug="other-org"))
    body = claims(**{CLAIM["custom"]: {"activity": "program", "program": str(other.id)}})
    accepted = accept_launch(
        db_session, registration=registration, deployment_id="1", claims=body, activity="program"
    )
    assert accepted.program is None
    assert accepted.link is not None
    assert accepted.link.program_id is None


def test_record_link_refreshes_but_keeps_a_known_line_item(
    db_session: Session, org: Organization, registration: Any
) -> None:
    ags = CLAIM["ags"]
    first = claims(**{ags: {"lineitem": "https://lms.example.org/li/1", "scope": ["a"]}})
    link = record_link(
        db_session,
        org_id=org.id,
        registration_id=registration.id,
        deployment_id="1",
        claims=first,
        activity="my_tandem",
        program_id=None,
    )
    assert link is not None
    assert link.lineitem_url == "https://lms.example.org/li/1"
    second = claims(**{ags: {"lineitems": "https://lms.example.org/li", "scope": ["b"]}})
    record_link(
        db_session,
        org_id=org.id,
        registration_id=registration.id,
        deployment_id="1",
        claims=second,
        activity="my_tandem",
        program_id=None,
    )
    (row,) = db_session.scalars(select(LtiLink)).all()
    assert row.lineitem_url == "https://lms.example.org/li/1"
    assert row.lineitems_url == "https://lms.example.org/li"
    assert row.ags_scopes == ["b"]


def member(n: int, role: str = "Learner", **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user_id": f"u-{n}",
        "roles": [LIS + "membership#" + role],
        "status": "Active",
        "given_name": f"G{n}",
        "family_name": f"F{n}",
        "email": f"m{n}@example.com",
    }
    data.update(kw)
    return data


def test_roster_import_invites_learners_once(
    db_session: Session,
    org: Organization,
    make_person: Any,
    make_program: Any,
    registration: Any,
    skills: Any,
) -> None:
    program = make_program(org)
    enrolled = make_person(org, email="m3@example.com")
    enrollments.enroll(
        db_session,
        program=program,
        person=enrolled,
        role=EnrollmentRole.MENTOR,
        consent=True,
        topics_offered={"AI": 4},
        actor="t",
    )
    admin = Actor.admin(org.id, "test-admin")
    members = [
        member(1),
        member(2),
        member(3),
        member(4, role="Instructor"),
        member(5, status="Inactive"),
    ]
    result = roster.import_roster(
        db_session,
        admin,
        program_id=program.id,
        registration_id=registration.id,
        members=members,
        source="nrps:1",
    )
    assert (result.seen, result.invited, result.already_enrolled, result.teachers) == (5, 2, 1, 1)
    assert result.inactive == 1
    assert result.people_created == 3
    again = roster.import_roster(
        db_session,
        admin,
        program_id=program.id,
        registration_id=registration.id,
        members=members,
        source="nrps:1",
    )
    assert (again.invited, again.already_invited, again.people_created) == (0, 2, 0)
    assert len(db_session.scalars(select(ProgramInvitation)).all()) == 2


def test_roster_import_needs_a_coordinator(
    db_session: Session, org: Organization, make_person: Any, make_program: Any, registration: Any
) -> None:
    program = make_program(org)
    someone = make_person(org)
    with pytest.raises(PermissionDenied):
        roster.import_roster(
            db_session,
            Actor.participant(org.id, someone.id),
            program_id=program.id,
            registration_id=registration.id,
            members=[member(1)],
            source="nrps:1",
        )


def test_participation_lists_only_the_actors_own_invitations_and_programs(
    db_session: Session,
    org: Organization,
    make_person: Any,
    make_program: Any,
    registration: Any,
    skills: Any,
) -> None:
    program = make_program(org)
    admin = Actor.admin(org.id, "test-admin")
    roster.import_roster(
        db_session,
        admin,
        program_id=program.id,
        registration_id=registration.id,
        members=[member(1), member(2)],
        source="nrps:1",
    )
    first = db_session.scalars(
        select(PersonIdentity).where(PersonIdentity.external_id == "u-1")
    ).one()
    me = Actor.participant(org.id, first.person_id)
    assert [p.id for p in participation.invited_programs(db_session, me)] == [program.id]
    assert participation.invitation(db_session, me, program.id) is not None
    assert participation.own_enrollments(db_session, me) == []
    assert participation.coordinated_programs(db_session, me) == []
    assert [p.id for p in participation.coordinated_programs(db_session, admin)] == [program.id]

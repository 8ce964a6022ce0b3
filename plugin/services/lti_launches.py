"""What a validated LTI launch means for Tandem: who it is, in which role, from which link.

The web layer validates the launch (signature, nonce, deployment …) and hands the
decoded claims to :func:`accept_launch`, which

* maps the LTI roles to a Tandem role: institution or system Administrator (SysAdmin)
  → admin (the organization's HR admin); Instructor, Administrator or ContentDeveloper
  of the course (full URIs or short names) → coordinator; anything else (Learner, an
  empty list) → participant;
* links the LTI user to a person of the registration's organization: first by an earlier
  link (identity ``lti:<registration id>`` = ``sub``), then by the organization's rule —
  ``email`` (the e-mail claim equals the person's e-mail, ignoring case) or ``sourcedid``
  (``lis.person_sourcedid`` equals the person's HRIS employee id) — and otherwise creates
  a person from the launch's name and e-mail;
* records the resource link (:class:`plugin.models.LtiLink`): course, title, the activity
  and program from its custom parameters, the AGS line item(s) and NRPS roster URL;
* makes an instructor launching a link bound to a program one of its coordinators
  (audited, once).

Nothing here talks HTTP; everything is written in the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.access import Actor, ActorRole
from plugin.errors import N_, ConflictError, PermissionDenied, ValidationError
from plugin.models import (
    LtiLink,
    LtiRegistration,
    Organization,
    Person,
    PersonIdentity,
    Program,
    ProgramCoordinator,
)
from plugin.services import audit
from plugin.services.coordinators import add_coordinator

__all__ = [
    "ADMIN_ROLES",
    "CLAIM",
    "COORDINATOR_ROLES",
    "AcceptedLaunch",
    "accept_launch",
    "identity_source",
    "link_person",
    "record_link",
    "role_for",
]

#: Claim names of LTI 1.3 (core, AGS, NRPS, DL).
CLAIM = {
    "roles": "https://purl.imsglobal.org/spec/lti/claim/roles",
    "context": "https://purl.imsglobal.org/spec/lti/claim/context",
    "resource_link": "https://purl.imsglobal.org/spec/lti/claim/resource_link",
    "custom": "https://purl.imsglobal.org/spec/lti/claim/custom",
    "lis": "https://purl.imsglobal.org/spec/lti/claim/lis",
    "deployment_id": "https://purl.imsglobal.org/spec/lti/claim/deployment_id",
    "launch_presentation": "https://purl.imsglobal.org/spec/lti/claim/launch_presentation",
    "ags": "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint",
    "nrps": "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice",
}

#: LIS role names that make a launch a coordinator's (the part after ``#`` or the last ``/``).
COORDINATOR_ROLES = frozenset({"Instructor", "Administrator", "ContentDeveloper"})
#: Institution and system roles that make a launch an HR admin's (organization level),
#: as LTI 1.3 full URIs (``http`` or ``https``) or LTI 1.1 URNs; the short name
#: ``Administrator`` is a context (course) role and stays a coordinator's.
ADMIN_ROLES = frozenset(
    {
        "purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
        "purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
        "purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin",
        "urn:lti:instrole:ims/lis/Administrator",
        "urn:lti:sysrole:ims/lis/Administrator",
        "urn:lti:sysrole:ims/lis/SysAdmin",
    }
)

_MAX_NAME = 120


def identity_source(registration_id: int) -> str:
    """The identity source of users of one platform registration: ``lti:<id>``."""
    return f"lti:{registration_id}"


def _role_name(role: str) -> str:
    """``http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor`` → ``Instructor``.

    Sub-roles (``membership/Instructor#TeachingAssistant``) keep their principal role.
    """
    if "#" in role:
        base, name = role.rsplit("#", 1)
        if "/membership/" in base:  # a sub-role: membership/Instructor#TeachingAssistant
            return base.rsplit("/", 1)[1]
        return name
    return role.rsplit("/", 1)[-1]


def _is_admin_role(role: str) -> bool:
    for scheme in ("http://", "https://"):
        if role.startswith(scheme):
            return role[len(scheme) :] in ADMIN_ROLES
    return role in ADMIN_ROLES


def role_for(roles: Sequence[str] | None) -> ActorRole:
    """The Tandem role of a launch's LTI roles; the highest one wins.

    Institution or system Administrator (or SysAdmin) → admin (an HR admin of the
    organization, who may also do whatever a coordinator does); Instructor,
    Administrator or ContentDeveloper of the course → coordinator; anything else →
    participant.
    """
    found = ActorRole.PARTICIPANT
    for role in roles or ():
        if not isinstance(role, str):
            continue
        role = role.strip()
        if _is_admin_role(role):
            return ActorRole.ADMIN
        if _role_name(role) in COORDINATOR_ROLES:
            found = ActorRole.COORDINATOR
    return found


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value[:limit] or None


def _names(claims: Mapping[str, Any]) -> tuple[str, str]:
    given = _text(claims.get("given_name"), _MAX_NAME)
    family = _text(claims.get("family_name"), _MAX_NAME)
    if given and family:
        return given, family
    full = _text(claims.get("name"), 2 * _MAX_NAME)
    if full:
        first, _, rest = full.partition(" ")
        return (given or first)[:_MAX_NAME], (family or rest or first)[:_MAX_NAME]
    return given or "LMS", family or "user"


def _email(claims: Mapping[str, Any]) -> str | None:
    email = _text(claims.get("email"), 254)
    if email and "@" in email:
        return email.lower()
    return None


def _sourcedid(claims: Mapping[str, Any]) -> str | None:
    lis = claims.get(CLAIM["lis"])
    value = lis.get("person_sourcedid") if isinstance(lis, Mapping) else None
    if not value:
        custom = claims.get(CLAIM["custom"])
        value = custom.get("person_sourcedid") if isinstance(custom, Mapping) else None
        # An unsubstituted Moodle variable arrives literally.
        if isinstance(value, str) and value.startswith("$"):
            value = None
    return _text(value, 255)


def _usable(person: Person | None) -> Person | None:
    if person is None:
        return None
    if person.erased_at is not None or not person.active:
        raise PermissionDenied(
            N_(
                "Your HR record is no longer active, so Tandem cannot open your programs. "
                "Ask your HR team if this is a mistake."
            ),
            field="person",
        )
    return person


def _by_rule(session: Session, org: Organization, claims: Mapping[str, Any]) -> Person | None:
    if org.identity_link_rule == "sourcedid":
        sourcedid = _sourcedid(claims)
        if not sourcedid:
            return None
        ids = (
            select(PersonIdentity.person_id)
            .where(
                PersonIdentity.org_id == org.id,
                PersonIdentity.external_id == sourcedid,
                ~PersonIdentity.source.startswith("lti:"),
            )
            .scalar_subquery()
        )
        rows = session.scalars(select(Person).where(Person.id.in_(ids))).all()
    else:
        email = _email(claims)
        if not email:
            return None
        rows = session.scalars(
            select(Person).where(Person.org_id == org.id, func.lower(Person.email) == email)
        ).all()
    if len(rows) > 1:
        raise ConflictError(
            N_(
                "More than one person in your organization matches your LMS account, so "
                "Tandem cannot tell which one you are. Ask your HR team to fix the duplicate "
                "record."
            ),
            field="person",
        )
    return _usable(rows[0]) if rows else None


# Built once (every launch runs them).
_LINKED_PERSON = (
    select(Person)
    .join(PersonIdentity, PersonIdentity.person_id == Person.id)
    .where(
        PersonIdentity.org_id == bindparam("org_id"),
        PersonIdentity.source == bindparam("source"),
        PersonIdentity.external_id == bindparam("external_id"),
    )
)
_LINK = select(LtiLink).where(
    LtiLink.registration_id == bindparam("registration_id"),
    LtiLink.resource_link_id == bindparam("resource_link_id"),
)


def link_person(
    session: Session, *, org: Organization, registration_id: int, claims: Mapping[str, Any]
) -> tuple[Person, bool]:
    """The person behind a launch's ``sub``: linked before, matched by rule, or created.

    Returns:
        The person and whether it was created by this launch.

    Raises:
        ValidationError: The launch has no ``sub`` (an anonymous launch).
        PermissionDenied: The matching person has left or was erased.
        ConflictError: Several people match the organization's rule.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
        raise ValidationError(
            N_(
                "This launch does not say who you are (no 'sub' claim), so Tandem cannot open "
                "your tandem. Launch Tandem from the course while logged in."
            ),
            field="sub",
        )
    source = identity_source(registration_id)
    linked = session.scalar(
        _LINKED_PERSON, {"org_id": org.id, "source": source, "external_id": sub}
    )
    if linked is not None:
        person = _usable(linked)
        assert person is not None  # noqa: S101 (for the type checker)
        return person, False

    created = False
    person = _by_rule(session, org, claims)
    if person is None:
        given, family = _names(claims)
        person = Person(org_id=org.id, given_name=given, family_name=family, email=_email(claims))
        session.add(person)
        session.flush()
        created = True
    # One statement, no savepoint: a concurrent first launch of the same user may have
    # linked it already, which is just as good.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(PersonIdentity)
        .values(org_id=org.id, person_id=person.id, source=source, external_id=sub)
        .on_conflict_do_nothing()
    )
    return person, created


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)][:20]
    return []


def _url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 1000:
        return value
    return None


def record_link(
    session: Session,
    *,
    org_id: int,
    registration_id: int,
    deployment_id: str,
    claims: Mapping[str, Any],
    activity: str | None,
    program_id: int | None,
) -> LtiLink | None:
    """Create or refresh the :class:`LtiLink` of a resource-link launch (None without one)."""
    resource_link = claims.get(CLAIM["resource_link"])
    rl_id = resource_link.get("id") if isinstance(resource_link, Mapping) else None
    if not isinstance(rl_id, str) or not rl_id or len(rl_id) > 255:
        return None
    context = claims.get(CLAIM["context"])
    context = context if isinstance(context, Mapping) else {}
    ags = claims.get(CLAIM["ags"])
    ags = ags if isinstance(ags, Mapping) else {}
    nrps = claims.get(CLAIM["nrps"])
    nrps = nrps if isinstance(nrps, Mapping) else {}
    values: dict[str, Any] = {
        "deployment_id": deployment_id,
        "context_id": _text(context.get("id"), 255),
        "context_title": _text(context.get("title") or context.get("label"), 500),
        "title": _text(resource_link.get("title"), 500),  # type: ignore[union-attr]
        "activity": activity,
        "program_id": program_id,
        "lineitem_url": _url(ags.get("lineitem")),
        "lineitems_url": _url(ags.get("lineitems")),
        "ags_scopes": _str_list(ags.get("scope")),
        "memberships_url": _url(nrps.get("context_memberships_url")),
    }
    link = session.scalar(_LINK, {"registration_id": registration_id, "resource_link_id": rl_id})
    if link is None:
        try:
            with session.begin_nested():
                link = LtiLink(
                    org_id=org_id, registration_id=registration_id, resource_link_id=rl_id
                )
                for key, value in values.items():
                    setattr(link, key, value)
                session.add(link)
            return link
        except IntegrityError:  # pragma: no cover - a concurrent first launch of the link
            link = session.scalar(
                select(LtiLink).where(
                    LtiLink.registration_id == registration_id, LtiLink.resource_link_id == rl_id
                )
            )
            if link is None:
                raise
    # A link's line item, once found or created by the AGS sink, is kept when the platform
    # does not send one (Moodle's "grade sync only" mode still does).
    if values["lineitem_url"] is None:
        values.pop("lineitem_url")
    for key, value in values.items():
        if getattr(link, key) != value:
            setattr(link, key, value)
    return link


@dataclass(frozen=True, slots=True)
class AcceptedLaunch:
    """The outcome of :func:`accept_launch`."""

    person: Person
    person_created: bool
    role: ActorRole
    link: LtiLink | None
    program: Program | None
    became_coordinator: bool


def _program(session: Session, org_id: int, value: Any) -> Program | None:
    if isinstance(value, int):
        program_id = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        program_id = int(value.strip())
    else:
        return None
    program = session.get(Program, program_id)
    if program is None or program.org_id != org_id:
        return None
    return program


def accept_launch(
    session: Session,
    *,
    registration: LtiRegistration,
    deployment_id: str,
    claims: Mapping[str, Any],
    activity: str | None,
) -> AcceptedLaunch:
    """Link the user, record the link and grant coordinator rights for a validated launch.

    Args:
        session: The request's unit of work.
        registration: The registration the launch was validated against.
        deployment_id: Its (approved) deployment.
        claims: The decoded id_token.
        activity: The activity key from the custom parameters, already checked by the
            caller against the catalogue (None when absent or unknown).
    """
    org = session.get(Organization, registration.org_id)
    if org is None:  # pragma: no cover - FK
        raise ValidationError(N_("the registration's organization is gone"), field="org")
    roles = claims.get(CLAIM["roles"])
    role = role_for(roles if isinstance(roles, list) else [])
    person, created = link_person(session, org=org, registration_id=registration.id, claims=claims)
    custom = claims.get(CLAIM["custom"])
    program = (
        _program(session, org.id, custom.get("program")) if isinstance(custom, Mapping) else None
    )
    link = record_link(
        session,
        org_id=org.id,
        registration_id=registration.id,
        deployment_id=deployment_id,
        claims=claims,
        activity=activity,
        program_id=program.id if program else None,
    )
    if program is None and link is not None and link.program_id is not None:
        program = session.get(Program, link.program_id)

    became = False
    if role is ActorRole.COORDINATOR and program is not None:
        exists = session.scalar(
            select(ProgramCoordinator.id).where(
                ProgramCoordinator.program_id == program.id,
                ProgramCoordinator.person_id == person.id,
            )
        )
        if exists is None:
            platform = Actor.admin(org.id, f"lti:registration:{registration.id}")
            add_coordinator(session, platform, program, person_id=person.id)
            became = True
    if created:
        audit.record(
            session,
            org_id=org.id,
            actor=f"lti:registration:{registration.id}",
            action="person.created_from_launch",
            object_type="person",
            object_id=person.id,
            details={"rule": org.identity_link_rule},
        )
    return AcceptedLaunch(
        person=person,
        person_created=created,
        role=role,
        link=link,
        program=program,
        became_coordinator=became,
    )

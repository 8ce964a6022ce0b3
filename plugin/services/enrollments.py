"""Enrollments: a person joins a program as mentor (junior) or mentee (senior).

Rules: participation is voluntary, so consent is required and recorded (what, when,
which version of the program's agreement); capacity is at least 1 (a senior in a
one_to_one program gets exactly one junior); a person holds one role in a one_to_one
program; nobody enrols in a draft or closed program; inactive people cannot enrol.
Withdrawing ends participation but keeps the rows the program's aggregates count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.errors import N_, ConflictError, NotFound, ValidationError, word
from plugin.models import (
    Consent,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Person,
    Program,
    ProgramFormat,
    ProgramStatus,
    Skill,
)
from plugin.services import audit

__all__ = ["MAX_CAPACITY", "enroll", "get_enrollment", "list_enrollments", "withdraw"]

MAX_CAPACITY = 10
OPEN_STATUSES = frozenset({ProgramStatus.ENROLLING, ProgramStatus.MATCHING, ProgramStatus.RUNNING})
_LANG_RE = re.compile(r"^[a-z]{2}$")
_AVAILABILITY_KEYS = frozenset({"weekdays", "hours", "mode", "note"})
_WEEKDAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def _parse_role(value: EnrollmentRole | str) -> EnrollmentRole:
    try:
        return EnrollmentRole(value)
    except ValueError:
        raise ValidationError(
            N_("unknown role %(role)s; choose mentor (junior) or mentee (senior)"),
            field="role",
            role=repr(value),
        ) from None


def _topics(
    session: Session, org_id: int, topics: Mapping[str, int] | None, field: str
) -> dict[str, int]:
    if not topics:
        return {}
    if not isinstance(topics, Mapping):
        raise ValidationError(
            N_("%(name)s must map topic codes to levels 1–5"), field=field, name=field
        )
    known = set(
        session.scalars(
            select(Skill.code).where(Skill.org_id == org_id, Skill.code.in_(list(topics)))
        )
    )
    out: dict[str, int] = {}
    for code, level in topics.items():
        if code not in known:
            raise ValidationError(
                N_("%(name)s: unknown topic %(topic)s"), field=field, name=field, topic=repr(code)
            )
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise ValidationError(
                N_("%(name)s: level of %(topic)s must be 1–5"),
                field=field,
                name=field,
                topic=repr(code),
            )
        out[code] = level
    return out


def _people_ids(
    session: Session, org_id: int, ids: Sequence[int] | None, self_id: int, field: str
) -> list[int]:
    if not ids:
        return []
    wanted = set()
    for pid in ids:
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise ValidationError(N_("%(name)s must list person ids"), field=field, name=field)
        if pid == self_id:
            raise ValidationError(
                N_("%(name)s cannot name the person themself"), field=field, name=field
            )
        wanted.add(pid)
    found = set(
        session.scalars(select(Person.id).where(Person.org_id == org_id, Person.id.in_(wanted)))
    )
    missing = sorted(wanted - found)
    if missing:
        raise ValidationError(
            N_("%(name)s: unknown person id(s) %(ids)s"),
            field=field,
            name=field,
            ids=", ".join(map(str, missing)),
        )
    return sorted(wanted)


def _languages(languages: Sequence[str] | None, person: Person) -> list[str]:
    langs = list(languages) if languages else list(person.languages or [])
    for lang in langs:
        if not isinstance(lang, str) or not _LANG_RE.match(lang):
            raise ValidationError(
                N_("language %(language)s must be a two-letter ISO 639-1 code such as 'de'"),
                field="languages",
                language=repr(lang),
            )
    if not langs:
        raise ValidationError(N_("at least one language is needed for matching"), field="languages")
    return sorted(set(langs))


def _availability(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if not value:
        return {}
    if not isinstance(value, Mapping) or set(value) - _AVAILABILITY_KEYS:
        raise ValidationError(
            N_("availability may hold weekdays, hours, mode and note"), field="availability"
        )
    days = value.get("weekdays", [])
    if not isinstance(days, list) or set(days) - _WEEKDAYS:
        raise ValidationError(N_("availability.weekdays must be mon … sun"), field="availability")
    if value.get("mode") not in (None, "remote", "in_person", "hybrid"):
        raise ValidationError(
            N_("availability.mode must be remote, in_person or hybrid"), field="availability"
        )
    return dict(value)


def enroll(
    session: Session,
    *,
    program: Program,
    person: Person,
    role: EnrollmentRole | str,
    consent: bool,
    consent_version: str | None = None,
    topics_offered: Mapping[str, int] | None = None,
    topics_wanted: Mapping[str, int] | None = None,
    capacity: int = 1,
    languages: Sequence[str] | None = None,
    availability: Mapping[str, Any] | None = None,
    avoid_person_ids: Sequence[int] | None = None,
    prefer_person_ids: Sequence[int] | None = None,
    actor: str,
    now: datetime | None = None,
) -> Enrollment:
    """Enrol a person. Every rule is checked before anything is written.

    A person who withdrew earlier may enrol again in the same role: the enrollment is
    re-activated with the new consent.

    Raises:
        ValidationError: Missing consent, bad capacity, topics, languages or people.
        ConflictError: Program not open, person inactive, already enrolled, or a second
            role in a one_to_one program.
    """
    now = now or utcnow()
    role = _parse_role(role)
    if person.org_id != program.org_id:
        raise NotFound(N_("person not found in this organization"), field="person")
    if consent is not True:
        raise ValidationError(
            N_("participation is voluntary: consent to the program agreement is required"),
            field="consent",
        )
    version = consent_version or program.confidentiality_version
    if version != program.confidentiality_version:
        raise ValidationError(
            N_(
                "consent was given to agreement version %(given)s, but the program's current "
                "version is %(current)s"
            ),
            field="consent_version",
            given=version,
            current=program.confidentiality_version,
        )
    if program.status not in OPEN_STATUSES:
        raise ConflictError(
            N_("program %(program)s is still a draft; nobody can enrol")
            if program.status is ProgramStatus.DRAFT
            else N_("program %(program)s is closed; nobody can enrol"),
            field="program",
            program=repr(program.name),
        )
    if not person.active or person.erased_at is not None:
        raise ConflictError(N_("an inactive person cannot enrol"), field="person")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValidationError(N_("capacity must be a whole number of at least 1"), field="capacity")
    if capacity > MAX_CAPACITY:
        raise ValidationError(
            N_("capacity may be at most %(max)s"), field="capacity", max=MAX_CAPACITY
        )
    if (
        role is EnrollmentRole.MENTEE
        and program.format is ProgramFormat.ONE_TO_ONE
        and capacity != 1
    ):
        raise ValidationError(
            N_("in a one_to_one program a senior (mentee) has exactly one junior; capacity is 1"),
            field="capacity",
        )
    offered = _topics(session, program.org_id, topics_offered, "topics_offered")
    wanted = _topics(session, program.org_id, topics_wanted, "topics_wanted")
    langs = _languages(languages, person)
    avail = _availability(availability)
    avoid = _people_ids(session, program.org_id, avoid_person_ids, person.id, "avoid_person_ids")
    prefer = _people_ids(session, program.org_id, prefer_person_ids, person.id, "prefer_person_ids")
    if set(avoid) & set(prefer):
        raise ValidationError(N_("a person cannot be both avoided and preferred"), field="prefer")

    existing = session.scalars(
        select(Enrollment).where(
            Enrollment.program_id == program.id, Enrollment.person_id == person.id
        )
    ).all()
    same_role = next((e for e in existing if e.role is role), None)
    if same_role is not None and same_role.status is EnrollmentStatus.ACTIVE:
        raise ConflictError(
            N_("%(person)s is already enrolled in this program as %(role)s"),
            field="person",
            person=person.full_name,
            role=word(role),
        )
    if program.format is ProgramFormat.ONE_TO_ONE:
        other = [e for e in existing if e.role is not role and e.status is EnrollmentStatus.ACTIVE]
        if other:
            raise ConflictError(
                N_(
                    "%(person)s is enrolled as %(role)s; a one_to_one program allows one role "
                    "per person"
                ),
                field="role",
                person=person.full_name,
                role=word(other[0].role),
            )

    enrollment = same_role or Enrollment(
        org_id=program.org_id, program_id=program.id, person_id=person.id, role=role
    )
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.consent_at = now
    enrollment.consent_version = version
    enrollment.withdrawn_at = None
    enrollment.topics_offered = offered
    enrollment.topics_wanted = wanted
    enrollment.capacity = capacity
    enrollment.languages = langs
    enrollment.availability = avail
    enrollment.avoid_person_ids = avoid
    enrollment.prefer_person_ids = prefer
    session.add(enrollment)
    session.add(
        Consent(
            org_id=program.org_id,
            person_id=person.id,
            program_id=program.id,
            purpose="participation",
            version=version,
            given_at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor,
        action="enrollment.reactivated" if same_role is not None else "enrollment.created",
        object_type="enrollment",
        object_id=enrollment.id,
        details={"program_id": program.id, "role": role.value},
    )
    return enrollment


def get_enrollment(session: Session, *, org_id: int, enrollment_id: int) -> Enrollment:
    """An enrollment of this organization.

    Raises:
        NotFound: No such enrollment in this organization.
    """
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.org_id != org_id:
        raise NotFound(
            N_("enrollment %(enrollment)s not found"), field="enrollment", enrollment=enrollment_id
        )
    return enrollment


def list_enrollments(
    session: Session,
    *,
    program: Program,
    role: EnrollmentRole | None = None,
    active_only: bool = True,
) -> Sequence[Enrollment]:
    """The program's enrollments, by id."""
    stmt = select(Enrollment).where(Enrollment.program_id == program.id)
    if role is not None:
        stmt = stmt.where(Enrollment.role == role)
    if active_only:
        stmt = stmt.where(Enrollment.status == EnrollmentStatus.ACTIVE)
    return session.scalars(stmt.order_by(Enrollment.id)).unique().all()


def withdraw(
    session: Session, enrollment: Enrollment, *, actor: str, now: datetime | None = None
) -> Enrollment:
    """Withdraw consent: participation ends, aggregate figures keep their rows.

    Raises:
        ConflictError: The enrollment is already withdrawn.
    """
    if enrollment.status is EnrollmentStatus.WITHDRAWN:
        raise ConflictError(N_("this enrollment is already withdrawn"), field="enrollment")
    now = now or utcnow()
    enrollment.status = EnrollmentStatus.WITHDRAWN
    enrollment.withdrawn_at = now
    for consent in session.scalars(
        select(Consent).where(
            Consent.person_id == enrollment.person_id,
            Consent.program_id == enrollment.program_id,
            Consent.withdrawn_at.is_(None),
        )
    ):
        consent.withdrawn_at = now
    session.flush()
    audit.record(
        session,
        org_id=enrollment.org_id,
        actor=actor,
        action="enrollment.withdrawn",
        object_type="enrollment",
        object_id=enrollment.id,
        details={"program_id": enrollment.program_id},
    )
    # Participation ends: pairs the person leaves end no-fault; viable groups carry on.
    from plugin.services import tandems  # the tracking services build on this module

    tandems.settle_withdrawal(session, enrollment.id, actor=actor, now=now)
    return enrollment

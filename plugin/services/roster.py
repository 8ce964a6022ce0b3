"""Importing a course roster (LTI NRPS) into a program: people linked, invitations sent.

A coordinator imports the members of the course they launched from. Each active member
with a learner role is linked to a person of the organization — by an earlier LTI link,
else by the organization's rule (e-mail or employee id), else created — and **invited**
to the program. Nobody is enrolled: taking part is voluntary, so invited people enrol
themselves, with their consent. Teachers of the course are linked but not invited;
inactive members are skipped. Importing the same roster again changes nothing.

The web layer fetches the roster (all pages); this module only writes.

:func:`invite_people` invites people already known to the organization (picked from the
HRIS people list or read from a CSV file) under the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor, ActorRole, require_coordinator, require_org
from plugin.errors import N_, ConflictError, NotFound, PluginError, Refusal
from plugin.models import (
    Enrollment,
    EnrollmentStatus,
    Organization,
    Person,
    Program,
    ProgramInvitation,
    ProgramStatus,
)
from plugin.services import audit
from plugin.services.lti_launches import CLAIM, link_person, role_for

__all__ = ["Invitations", "RosterImport", "import_roster", "invite_people"]

_ACTIVE = "http://www.imsglobal.org/spec/lti-nrps/v2p0#status/Active"

# Ids per ``IN (…)``: well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_CHUNK = 500


@dataclass
class RosterImport:
    """What an import did (counts, and each skipped member's reason).

    Each problem is a :class:`~plugin.errors.Refusal`: English text (the JSON, the CLI) that
    pages show in their language.
    """

    seen: int = 0
    people_created: int = 0
    invited: int = 0
    already_invited: int = 0
    already_enrolled: int = 0
    teachers: int = 0
    inactive: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON (problems last)."""
        return {
            "seen": self.seen,
            "people_created": self.people_created,
            "invited": self.invited,
            "already_invited": self.already_invited,
            "already_enrolled": self.already_enrolled,
            "teachers": self.teachers,
            "inactive": self.inactive,
            "problems": list(self.problems),
        }


@dataclass
class Invitations:
    """What inviting a list of known people did (each person counted once)."""

    invited: int = 0
    already_invited: int = 0
    already_enrolled: int = 0
    unavailable: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as plain JSON."""
        return {
            "invited": self.invited,
            "already_invited": self.already_invited,
            "already_enrolled": self.already_enrolled,
            "unavailable": self.unavailable,
        }


def _open_program(session: Session, actor: Actor, program_id: int) -> Program:
    """The program, if the actor coordinates it and it still takes invitations."""
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(N_("program %(program)s not found"), field="program", program=program_id)
    require_org(actor, program.org_id, "program")
    require_coordinator(session, actor, program.id)
    if program.status is ProgramStatus.CLOSED:
        raise ConflictError(N_("the program is closed; nobody can be invited"), field="program")
    return program


def _program_people(session: Session, program_id: int) -> tuple[set[int], set[int]]:
    """The program's active enrollees and the people already invited to it."""
    enrolled = set(
        session.scalars(
            select(Enrollment.person_id).where(
                Enrollment.program_id == program_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
    )
    invited = set(
        session.scalars(
            select(ProgramInvitation.person_id).where(ProgramInvitation.program_id == program_id)
        )
    )
    return enrolled, invited


def invite_people(
    session: Session,
    actor: Actor,
    *,
    program_id: int,
    person_ids: Iterable[int],
    source: str,
) -> Invitations:
    """Invite people of the organization to the program (audited); nobody is enrolled.

    The same rules as :func:`import_roster`: active enrollees and earlier invitations are
    counted, not repeated; people who are inactive, erased or of another organization are
    counted as unavailable and not invited. A person listed twice counts once.

    Args:
        session: The unit of work (flushed, not committed).
        actor: A coordinator of the program (or an organization admin).
        program_id: The program to invite to.
        person_ids: The people to invite.
        source: Recorded on each invitation and in the audit event, e.g. ``hris`` or
            ``csv``.

    Returns:
        The counts; the audit event ``program.people_invited`` carries them too.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
        ConflictError: The program is closed.
    """
    program = _open_program(session, actor, program_id)
    wanted = list(dict.fromkeys(person_ids))
    usable: set[int] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        usable.update(
            session.scalars(
                select(Person.id).where(
                    Person.org_id == program.org_id,
                    Person.id.in_(wanted[start : start + _IN_CHUNK]),
                    Person.active.is_(True),
                    Person.erased_at.is_(None),
                )
            )
        )
    enrolled, invited = _program_people(session, program.id)
    result = Invitations()
    for person_id in wanted:
        if person_id not in usable:
            result.unavailable += 1
        elif person_id in enrolled:
            result.already_enrolled += 1
        elif person_id in invited:
            result.already_invited += 1
        else:
            session.add(
                ProgramInvitation(
                    org_id=program.org_id,
                    program_id=program.id,
                    person_id=person_id,
                    source=source[:120],
                    invited_by=actor.label,
                )
            )
            invited.add(person_id)
            result.invited += 1
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="program.people_invited",
        object_type="program",
        object_id=program.id,
        details={"source": source[:120], **result.as_dict()},
    )
    return result


def _claims(member: Mapping[str, Any]) -> dict[str, Any]:
    """An NRPS member as the claims :func:`link_person` reads."""
    claims: dict[str, Any] = {
        "sub": member.get("user_id"),
        "email": member.get("email"),
        "name": member.get("name"),
        "given_name": member.get("given_name"),
        "family_name": member.get("family_name"),
    }
    sourcedid = member.get("lis_person_sourcedid")
    if sourcedid:
        claims[CLAIM["lis"]] = {"person_sourcedid": sourcedid}
    return claims


def import_roster(
    session: Session,
    actor: Actor,
    *,
    program_id: int,
    registration_id: int,
    members: Iterable[Mapping[str, Any]],
    source: str,
) -> RosterImport:
    """Link every member and invite the learners to the program (audited).

    Args:
        session: The unit of work.
        actor: A coordinator of the program.
        program_id: The program to invite to.
        registration_id: The platform registration the roster comes from.
        members: NRPS members (``user_id``, ``roles``, ``status``, names, ``email``,
            ``lis_person_sourcedid``).
        source: Recorded on each invitation, e.g. ``nrps:<link id>``.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
        ConflictError: The program is closed.
    """
    program = _open_program(session, actor, program_id)
    org = session.get(Organization, program.org_id)
    assert org is not None  # noqa: S101 (FK)

    enrolled, invited = _program_people(session, program.id)
    result = RosterImport()
    for member in members:
        result.seen += 1
        if not isinstance(member, Mapping):
            result.problems.append(
                Refusal(N_("member %(member)s: not an object"), member=result.seen)
            )
            continue
        status = member.get("status", _ACTIVE)
        if isinstance(status, str) and not status.endswith("Active"):
            result.inactive += 1
            continue
        roles = member.get("roles")
        role_list = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
        try:
            with session.begin_nested():
                person, created = link_person(
                    session, org=org, registration_id=registration_id, claims=_claims(member)
                )
        except PluginError as exc:
            # The error's template and values, not the error: no traceback kept alive.
            problem = Refusal(exc.template, **exc.params)
            result.problems.append(
                Refusal(N_("member %(member)s: %(problem)s"), member=result.seen, problem=problem)
            )
            continue
        result.people_created += int(created)
        if role_for(role_list) is ActorRole.COORDINATOR:
            result.teachers += 1
            continue
        if person.id in enrolled:
            result.already_enrolled += 1
            continue
        if person.id in invited:
            result.already_invited += 1
            continue
        session.add(
            ProgramInvitation(
                org_id=program.org_id,
                program_id=program.id,
                person_id=person.id,
                source=source[:120],
                source_role=(role_list[0][:255] if role_list else None),
                invited_by=actor.label,
            )
        )
        invited.add(person.id)
        result.invited += 1
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="roster.imported",
        object_type="program",
        object_id=program.id,
        details={k: v for k, v in result.as_dict().items() if k != "problems"},
    )
    return result

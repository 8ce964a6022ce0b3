"""Who is acting, and what they may see: access rules enforced in the services.

Every tracking service takes an :class:`Actor`. The web layer builds one from the LTI
launch (Instructor/Administrator → coordinator, Learner → participant), the CLI from its
options; a role is never taken from a request parameter.

* A **participant** reads and writes only the tandems they are a member of; a tandem's
  private notes are visible to its members only.
* A **coordinator** coordinates the programs they are listed for
  (:class:`plugin.models.ProgramCoordinator`): they see aggregates and alerts, act on
  tandems (dissolve, complete), and every such action is audited. They never see private
  notes, individual ratings, safety pulses or free-text answers.
* An **admin** (an HR admin, the operator at the CLI) coordinates every program of the
  organization.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.errors import N_, PermissionDenied
from plugin.models import ProgramCoordinator, Tandem, TandemMember

__all__ = [
    "Actor",
    "ActorRole",
    "coordinated_program_ids",
    "is_coordinator",
    "member_of",
    "require_coordinator",
    "require_member",
    "require_org",
    "require_person",
]


class ActorRole(enum.StrEnum):
    """What an actor is allowed to do."""

    PARTICIPANT = "participant"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting in one organization.

    Attributes:
        org_id: The organization they act in; nothing outside it is visible.
        role: Participant, coordinator or admin.
        label: How the audit log names them (``cli:alice``, ``lti:<sub>``, ``person:12``).
        person_id: The person they are, if any (an admin at the CLI may be nobody).
    """

    org_id: int
    role: ActorRole
    label: str
    person_id: int | None = None

    @classmethod
    def participant(cls, org_id: int, person_id: int, *, label: str | None = None) -> Actor:
        """A mentor or mentee acting for themselves."""
        return cls(org_id, ActorRole.PARTICIPANT, label or f"person:{person_id}", person_id)

    @classmethod
    def coordinator(cls, org_id: int, person_id: int, *, label: str | None = None) -> Actor:
        """A coordinator of the programs they are listed for."""
        return cls(org_id, ActorRole.COORDINATOR, label or f"person:{person_id}", person_id)

    @classmethod
    def admin(cls, org_id: int, label: str, *, person_id: int | None = None) -> Actor:
        """An organization-wide administrator (coordinates every program)."""
        return cls(org_id, ActorRole.ADMIN, label, person_id)


#: The refusal per kind of object, whole sentences so that each translates as one.
_OTHER_ORG = {
    "object": N_("this object belongs to another organization"),
    "program": N_("this program belongs to another organization"),
}


def require_org(actor: Actor, org_id: int, what: str = "object") -> None:
    """Refuse anything from another organization (reported as not found elsewhere).

    Raises:
        PermissionDenied: ``org_id`` is not the actor's organization.
    """
    if actor.org_id != org_id:
        template = _OTHER_ORG.get(what)
        if template is not None:
            raise PermissionDenied(template, field=what)
        raise PermissionDenied(
            N_("this %(what)s belongs to another organization"), field=what, what=what
        )


def require_person(actor: Actor) -> int:
    """The actor's person id.

    Raises:
        PermissionDenied: The actor is nobody in particular (e.g. an admin at the CLI).
    """
    if actor.person_id is None:
        raise PermissionDenied(
            N_("this action is for a participant; say which person acts"), field="person"
        )
    return actor.person_id


def coordinated_program_ids(session: Session, actor: Actor) -> set[int] | None:
    """Programs the actor coordinates; ``None`` means every program (an admin)."""
    if actor.role is ActorRole.ADMIN:
        return None
    if actor.role is not ActorRole.COORDINATOR or actor.person_id is None:
        return set()
    stmt = select(ProgramCoordinator.program_id).where(
        ProgramCoordinator.org_id == actor.org_id,
        ProgramCoordinator.person_id == actor.person_id,
    )
    return set(session.scalars(stmt))


def is_coordinator(session: Session, actor: Actor, program_id: int) -> bool:
    """Whether the actor coordinates this program."""
    ids = coordinated_program_ids(session, actor)
    return ids is None or program_id in ids


def require_coordinator(session: Session, actor: Actor, program_id: int) -> None:
    """Only a coordinator of this program (or an admin) may go on.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    if not is_coordinator(session, actor, program_id):
        raise PermissionDenied(
            N_("only a coordinator of program %(program)s may do this"),
            field="program",
            program=program_id,
        )


def member_of(tandem: Tandem, actor: Actor) -> TandemMember | None:
    """The actor's membership of the tandem, if they are a member."""
    if actor.person_id is None or actor.org_id != tandem.org_id:
        return None
    for member in tandem.members:
        if member.person_id == actor.person_id:
            return member
    return None


def require_member(tandem: Tandem, actor: Actor) -> TandemMember:
    """Only the tandem's own members may go on.

    Raises:
        PermissionDenied: The actor is not a member of this tandem.
    """
    member = member_of(tandem, actor)
    if member is None:
        raise PermissionDenied(
            N_("only the members of tandem %(tandem)s may do this"),
            field="tandem",
            tandem=tandem.id,
        )
    return member

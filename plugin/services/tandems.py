"""The tandem lifecycle, kick-off, goals and the actions log.

A tandem moves along::

    proposed ──(every required member consents)──▶ accepted ──(activation)──▶ active
        │                                             │                         │
        └─(a member declines)─▶ rejected              └──▶ dissolved ◀──────────┤
                                                                                 └──▶ completed

* **proposed → accepted**: once a coordinator approved the proposal
  (:func:`plugin.services.matching.accept_tandem` / ``approve_run``), each member consents
  (:func:`respond`). A senior's (mentee's) consent is waited for only when the program
  requires it. A member who declines ends the proposal (``rejected``, no fault) and both
  are free for the next match run.
* **accepted → active** (:func:`activate_ready`, and automatically after each step): the
  program is running, the kick-off is recorded (:func:`record_kickoff`) and every member
  accepted the program's current confidentiality agreement (:func:`accept_confidentiality`).
* **active → completed** (:func:`complete_tandem`) by a member or a coordinator;
  **accepted | active → dissolved** (:func:`dissolve_tandem`) with a reason, possibly as a
  no-fault closure. :func:`close_out` settles every tandem when a program closes;
  :func:`settle_withdrawal` ends the tandems a withdrawn participant leaves without a
  junior or a senior (no fault: withdrawing consent is never held against anyone).

In a ``one_to_one`` program a person is in at most one accepted or active tandem — a
junior who offered a capacity of *n* seniors in at most *n* (each a separate pair).

Access (DESIGN §5, §6): members read and write their own tandem; coordinators of the
program (and admins) read it without the members' free text, complete or dissolve it, and
every coordinator action — reads of one tandem or of the program's list included — is
audited. A dissolution reason is for coordinators only: members never see it (a junior's
reason may be about safety).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin import validation
from plugin.access import Actor, is_coordinator, member_of, require_person
from plugin.db import utcnow
from plugin.errors import (
    N_,
    Msg,
    NotFound,
    PermissionDenied,
    Refusal,
    TrackingError,
    ValidationError,
    word,
    words,
)
from plugin.models import (
    Action,
    Consent,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Goal,
    GoalStatus,
    Person,
    Program,
    ProgramFormat,
    ProgramStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import audit, completions, sessions

__all__ = [
    "ALLOWED_MOVES",
    "CONFIDENTIALITY_PURPOSE",
    "MAX_GOALS_PER_CALL",
    "MAX_GOALS_PER_TANDEM",
    "MEETING_MODES",
    "PROGRAM_CLOSED_REASON",
    "WITHDRAWAL_REASON",
    "accept_confidentiality",
    "activate_ready",
    "add_goal",
    "close_out",
    "complete_tandem",
    "dissolve_tandem",
    "get_tandem_for",
    "list_actions",
    "list_goals",
    "log_action",
    "my_tandems",
    "program_tandems",
    "record_kickoff",
    "respond",
    "set_goal_status",
    "settle_withdrawal",
    "tandem_view",
]

#: How members may meet.
MEETING_MODES = ("in_person", "video", "phone", "hybrid")
#: ``Consent.purpose`` of a confidentiality agreement acceptance.
CONFIDENTIALITY_PURPOSE = "confidentiality"
#: The reason :func:`close_out` records.
PROGRAM_CLOSED_REASON = "program closed"
#: The reason :func:`settle_withdrawal` records.
WITHDRAWAL_REASON = "participant withdrew"
MAX_GOALS_PER_CALL = 10
MAX_GOALS_PER_TANDEM = 30
MAX_REASON = 2000
MAX_EXPECTATIONS = 4000
MAX_GOAL_TITLE = 300
MAX_GOAL_DESCRIPTION = 4000
MAX_ACTION = 2000

#: What can happen next from each status (used in every refusal).
ALLOWED_MOVES: dict[TandemStatus, Msg] = {
    TandemStatus.PROPOSED: Msg(
        N_(
            "members accept or decline (respond) once a coordinator approved the proposal; "
            "a coordinator may reject it"
        )
    ),
    TandemStatus.ACCEPTED: Msg(
        N_(
            "members accept the confidentiality agreement and record the kick-off (then it "
            "becomes active when the program runs); it can be dissolved"
        )
    ),
    TandemStatus.ACTIVE: Msg(N_("it can be completed or dissolved")),
    TandemStatus.COMPLETED: Msg(N_("nothing (completed is final and read-only)")),
    TandemStatus.DISSOLVED: Msg(N_("nothing (dissolved is final and read-only)")),
    TandemStatus.REJECTED: Msg(
        N_("nothing (rejected is final; the members wait for the next match run)")
    ),
}

_WORKING = (TandemStatus.ACCEPTED, TandemStatus.ACTIVE)
_FINAL = (TandemStatus.COMPLETED, TandemStatus.DISSOLVED, TandemStatus.REJECTED)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Access:
    tandem: Tandem
    program: Program
    member: TandemMember | None
    coordinator: bool


@dataclass(frozen=True)
class _MemberAccess:
    tandem: Tandem
    program: Program
    member: TandemMember


def _refuse(tandem: Tandem, cannot: str) -> TrackingError:
    """The refusal of a move the tandem's status forbids.

    ``cannot`` is the whole message (one per move, so that each translates as one) with
    the placeholders ``%(tandem)s``, ``%(status)s`` and ``%(moves)s`` (what can happen
    next, from :data:`ALLOWED_MOVES`).
    """
    status = tandem.status
    return TrackingError(
        cannot,
        field="status",
        tandem=tandem.id,
        status=word(status),
        moves=ALLOWED_MOVES[status],
    )


def _load(session: Session, actor: Actor, tandem_id: int) -> _Access:
    tandem = session.get(Tandem, tandem_id)
    if tandem is None or tandem.org_id != actor.org_id:
        raise NotFound(N_("tandem %(tandem)s not found"), field="tandem", tandem=tandem_id)
    program = session.get(Program, tandem.program_id)
    if program is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound(
            N_("program %(program)s not found"), field="program", program=tandem.program_id
        )
    member = member_of(tandem, actor)
    coordinator = is_coordinator(session, actor, tandem.program_id)
    if member is None and not coordinator:
        raise PermissionDenied(
            N_(
                "tandem %(tandem)s is visible only to its members and the coordinators of "
                "program %(program)s"
            ),
            field="tandem",
            tandem=tandem_id,
            program=tandem.program_id,
        )
    return _Access(tandem, program, member, coordinator)


def _load_as_member(session: Session, actor: Actor, tandem_id: int, refusal: str) -> _MemberAccess:
    """The tandem, for one of its members only.

    ``refusal`` is what a coordinator is told (one message per action, so that each
    translates as one), with the placeholder ``%(tandem)s``.
    """
    access = _load(session, actor, tandem_id)
    if access.member is None:
        raise PermissionDenied(refusal, field="tandem", tandem=tandem_id)
    return _MemberAccess(access.tandem, access.program, access.member)


def _enrollment(session: Session, member: TandemMember) -> Enrollment:
    enrollment = session.get(Enrollment, member.enrollment_id)
    if enrollment is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound(
            N_("enrollment %(enrollment)s not found"),
            field="enrollment",
            enrollment=member.enrollment_id,
        )
    return enrollment


def _require_enrolled(session: Session, member: TandemMember) -> Enrollment:
    enrollment = _enrollment(session, member)
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        raise TrackingError(
            N_(
                "person %(person)s withdrew from program %(program)s; a withdrawn participant "
                "takes no further part in the tandem"
            ),
            field="enrollment",
            person=member.person_id,
            program=enrollment.program_id,
        )
    return enrollment


def _require_open_program(program: Program) -> None:
    if program.status is ProgramStatus.CLOSED:
        raise TrackingError(
            N_("program %(program)s is closed; its tandems are read-only"),
            field="program",
            program=program.id,
        )


def _require_working(tandem: Tandem, cannot: str) -> None:
    """Refuse unless the tandem is accepted or active (``cannot``: see :func:`_refuse`)."""
    if tandem.status not in _WORKING:
        raise _refuse(tandem, cannot)


def _text(
    value: Any,
    field: str,
    max_len: int,
    *,
    what: str | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    return validation.required_text(
        value, field=field, limit=max_len, what=what, message=message, params=params
    )


#: How messages name the members' text and date fields (the English is the field's name).
_LABELS: dict[str, Msg] = {
    name: name
    for name in (
        Msg(N_("expectations")),
        Msg(N_("title")),
        Msg(N_("description")),
        Msg(N_("due_on")),
        Msg(N_("taken_on")),
    )
}


def _day(value: Any, field: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError(
            N_("%(name)s must be a date (YYYY-MM-DD)"), field=field, name=_LABELS.get(field, field)
        )
    return value


def _audit(
    session: Session,
    actor: Actor | str,
    tandem: Tandem,
    action: str,
    details: dict[str, Any] | None = None,
    *,
    now: datetime | None,
) -> None:
    audit.record(
        session,
        org_id=tandem.org_id,
        actor=actor if isinstance(actor, str) else actor.label,
        action=action,
        object_type="tandem",
        object_id=tandem.id,
        details=details,
        now=now,
    )


_ConsentRows = dict[int, list[tuple[str, datetime | None]]]


def _confidentiality_consents(
    session: Session, program: Program, person_ids: Iterable[int] | None = None
) -> _ConsentRows:
    """Confidentiality consents (version, withdrawn_at) per person in the program."""
    stmt = select(Consent.person_id, Consent.version, Consent.withdrawn_at).where(
        Consent.org_id == program.org_id,
        Consent.program_id == program.id,
        Consent.purpose == CONFIDENTIALITY_PURPOSE,
    )
    if person_ids is not None:
        stmt = stmt.where(Consent.person_id.in_(set(person_ids)))
    out: _ConsentRows = {}
    for person_id, version, withdrawn_at in session.execute(stmt):
        out.setdefault(person_id, []).append((version, withdrawn_at))
    return out


def _accepted_current(member: TandemMember, program: Program, consents: _ConsentRows) -> bool:
    """Whether the member accepted the program's *current* agreement.

    A member whose acceptance is on record as a :class:`Consent` must have a
    non-withdrawn one for the current version (a new text needs a new acceptance).
    """
    if member.confidentiality_accepted_at is None:
        return False
    rows = consents.get(member.person_id)
    if not rows:
        return True
    return any(v == program.confidentiality_version and w is None for v, w in rows)


def _confidentiality_ok(session: Session, member: TandemMember, program: Program) -> bool:
    consents = _confidentiality_consents(session, program, [member.person_id])
    return _accepted_current(member, program, consents)


def _capacity(enrollment: Enrollment) -> int:
    return enrollment.capacity if enrollment.role is EnrollmentRole.MENTOR else 1


def _busy_elsewhere(
    session: Session, tandem: Tandem, program: Program, member: TandemMember
) -> list[int]:
    """Other accepted/active tandems that fill the member's places in a one_to_one program.

    Returns their ids when the member has no place left (empty: the member is free).
    """
    if program.format is not ProgramFormat.ONE_TO_ONE:
        return []
    others = list(
        session.scalars(
            select(Tandem.id)
            .join(TandemMember, TandemMember.tandem_id == Tandem.id)
            .where(
                Tandem.program_id == program.id,
                Tandem.id != tandem.id,
                Tandem.status.in_(list(_WORKING)),
                TandemMember.person_id == member.person_id,
            )
            .order_by(Tandem.id)
        )
    )
    if len(others) < _capacity(_enrollment(session, member)):
        return []
    return others


def _one_to_one_refusal(person_id: int, others: list[int], capacity: int) -> TrackingError:
    listed = ", ".join(str(i) for i in others)
    if capacity == 1:
        return TrackingError(
            N_(
                "person %(person)s already has tandem %(tandems)s accepted or active in this "
                "one_to_one program, which allows one tandem per person; dissolve or complete "
                "it first"
            ),
            field="tandem",
            person=person_id,
            tandems=listed,
        )
    return TrackingError(
        N_(
            "person %(person)s already has tandem %(tandems)s accepted or active in this "
            "one_to_one program, which allows %(capacity)s tandems per person; dissolve or "
            "complete it first"
        ),
        field="tandem",
        person=person_id,
        tandems=listed,
        capacity=capacity,
    )


def _required(member: TandemMember, program: Program) -> bool:
    return program.require_senior_consent or member.role is not EnrollmentRole.MENTEE


def _withdrawn(session: Session, tandem: Tandem) -> set[int]:
    """Person ids of members whose enrollment was withdrawn."""
    ids = [m.enrollment_id for m in tandem.members]
    if not ids:
        return set()
    gone = set(
        session.scalars(
            select(Enrollment.id).where(
                Enrollment.id.in_(ids), Enrollment.status == EnrollmentStatus.WITHDRAWN
            )
        )
    )
    return {m.person_id for m in tandem.members if m.enrollment_id in gone}


def _viable(tandem: Tandem, withdrawn: set[int]) -> bool:
    """At least one junior and one senior are still taking part."""
    roles = {m.role for m in tandem.members if m.person_id not in withdrawn}
    return {EnrollmentRole.MENTOR, EnrollmentRole.MENTEE} <= roles


def _waiting_for(session: Session, tandem: Tandem, program: Program) -> list[str]:
    """What still stands between an accepted tandem and activation."""
    waiting: list[str] = []
    withdrawn = _withdrawn(session, tandem)
    if program.status is not ProgramStatus.RUNNING:
        waiting.append("program_start")
    if not tandem.kickoff.get("expectations"):
        waiting.append("kickoff")
    consents = _confidentiality_consents(session, program, [m.person_id for m in tandem.members])
    for m in tandem.members:
        if m.person_id not in withdrawn and not _accepted_current(m, program, consents):
            waiting.append(f"confidentiality:{m.person_id}")
    if not _viable(tandem, withdrawn):
        waiting.append("members")
    return waiting


def _try_activate(
    session: Session, tandem: Tandem, program: Program, *, actor: str, now: datetime
) -> bool:
    """Activate an accepted tandem whose conditions are all met; ``True`` if it did."""
    if tandem.status is not TandemStatus.ACCEPTED or _waiting_for(session, tandem, program):
        return False
    withdrawn = _withdrawn(session, tandem)
    for m in tandem.members:
        if m.person_id not in withdrawn and _busy_elsewhere(session, tandem, program, m):
            return False
    tandem.status = TandemStatus.ACTIVE
    tandem.activated_at = now
    tandem.status_changed_at = now
    session.flush()
    _audit(
        session,
        actor,
        tandem,
        "tandem.activated",
        {"from": TandemStatus.ACCEPTED.value, "to": TandemStatus.ACTIVE.value},
        now=now,
    )
    return True


def _by_role(access: _Access) -> str:
    return "member" if access.member is not None else "coordinator"


# --------------------------------------------------------------------------- loading


def get_tandem_for(session: Session, actor: Actor, tandem_id: int) -> Tandem:
    """Load a tandem the actor may see: its members, its program's coordinators, admins.

    Args:
        session: The unit of work.
        actor: Who asks.
        tandem_id: The tandem.

    Raises:
        NotFound: No such tandem in the actor's organization.
        PermissionDenied: The actor is neither a member nor a coordinator of its program.
    """
    return _load(session, actor, tandem_id).tandem


# --------------------------------------------------------------------------- consent


def respond(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    accept: bool,
    reason: str | None = None,
    now: datetime | None = None,
) -> Tandem:
    """A member consents to, or declines, an approved proposal.

    When every required member has accepted, the tandem becomes ``accepted``. Required
    are all members, except seniors (mentees) when the program does not require senior
    consent (their acceptance is then recorded if given, but not waited for). Declining
    ends the proposal: ``rejected``, no fault, both free for the next match run.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem.
        tandem_id: The tandem.
        accept: ``True`` to consent, ``False`` to decline.
        reason: Why the member declines (required when declining, 1–2000 characters).
        now: The moment of the answer (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member.
        TrackingError: The tandem is not proposed, not yet approved, the member already
            responded or withdrew, or (one_to_one) already has an accepted/active tandem.
        ValidationError: Declining without a reason, or a reason that is too long.
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may accept or decline it; coordinators "
            "see the tandem's status and counts"
        ),
    )
    tandem, program, member = access.tandem, access.program, access.member
    if tandem.status is not TandemStatus.PROPOSED:
        raise _refuse(
            tandem,
            N_(
                "tandem %(tandem)s is %(status)s; it cannot be accepted or declined any more. "
                "From %(status)s: %(moves)s"
            ),
        )
    if tandem.approved_at is None:
        raise TrackingError(
            N_(
                "tandem %(tandem)s is waiting for a coordinator to approve the proposal; "
                "members respond after approval"
            ),
            field="tandem",
            tandem=tandem.id,
        )
    _require_open_program(program)
    if member.accepted_at is not None or member.declined_at is not None:
        raise TrackingError(
            N_(
                "person %(person)s already accepted tandem %(tandem)s; an answer cannot be "
                "given twice"
            )
            if member.accepted_at is not None
            else N_(
                "person %(person)s already declined tandem %(tandem)s; an answer cannot be "
                "given twice"
            ),
            field="accept",
            person=member.person_id,
            tandem=tandem.id,
        )
    _require_enrolled(session, member)
    now = now or utcnow()
    if not accept:
        text = _text(
            reason,
            "reason",
            MAX_REASON,
            what=Msg(N_("a reason for declining")),
            message=N_("a reason for declining is required"),
        )
        member.declined_at = now
        tandem.status = TandemStatus.REJECTED
        tandem.status_changed_at = now
        tandem.dissolved_reason = text
        tandem.dissolved_by = actor.label
        tandem.no_fault = True
        session.flush()
        _audit(
            session,
            actor,
            tandem,
            "tandem.declined",
            {"role": member.role.value, "from": "proposed", "to": "rejected", "no_fault": True},
            now=now,
        )
        return tandem

    others = _busy_elsewhere(session, tandem, program, member)
    if others:
        raise _one_to_one_refusal(member.person_id, others, _capacity(_enrollment(session, member)))
    withdrawn = _withdrawn(session, tandem)
    becomes_accepted = all(
        m is member or m.accepted_at is not None
        for m in tandem.members
        if m is member or (_required(m, program) and m.person_id not in withdrawn)
    )
    if becomes_accepted:
        if not _viable(tandem, withdrawn):
            raise TrackingError(
                N_(
                    "tandem %(tandem)s cannot be accepted: person %(people)s withdrew from the "
                    "program and no junior or no senior is left; a coordinator rejects it"
                ),
                field="tandem",
                tandem=tandem.id,
                people=", ".join(str(i) for i in sorted(withdrawn)),
            )
        # The partners' places are re-checked too: they consented before this answer.
        for m in tandem.members:
            if m is member or m.person_id in withdrawn:
                continue
            busy = _busy_elsewhere(session, tandem, program, m)
            if busy:
                raise _one_to_one_refusal(m.person_id, busy, _capacity(_enrollment(session, m)))
    member.accepted_at = now
    session.flush()
    _audit(session, actor, tandem, "tandem.consented", {"role": member.role.value}, now=now)
    if becomes_accepted:
        tandem.status = TandemStatus.ACCEPTED
        tandem.status_changed_at = now
        session.flush()
        _audit(
            session,
            actor,
            tandem,
            "tandem.accepted",
            {"from": "proposed", "to": "accepted", "program_id": program.id},
            now=now,
        )
    return tandem


def accept_confidentiality(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    version: str | None = None,
    now: datetime | None = None,
) -> Tandem:
    """A member accepts the program's confidentiality agreement (then activation is tried).

    Records ``TandemMember.confidentiality_accepted_at`` and a :class:`Consent`
    (purpose ``confidentiality``, the agreement's version). Accepting the current version
    again changes nothing.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem.
        tandem_id: The tandem.
        version: The version the member read; must be the program's current one.
        now: The moment of acceptance (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member.
        ValidationError: ``version`` is not the program's current version.
        TrackingError: The tandem is not accepted or active, the program is closed, or
            the member withdrew.
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may accept its confidentiality agreement; "
            "coordinators see the tandem's status and counts"
        ),
    )
    tandem, program, member = access.tandem, access.program, access.member
    _require_working(
        tandem,
        N_(
            "tandem %(tandem)s is %(status)s; it cannot take a confidentiality acceptance. "
            "From %(status)s: %(moves)s"
        ),
    )
    _require_open_program(program)
    _require_enrolled(session, member)
    current = program.confidentiality_version
    if version is not None and str(version) != current:
        raise ValidationError(
            N_(
                "version %(version)s of the confidentiality agreement is not current; the "
                "program's current version is %(current)s"
            ),
            field="version",
            version=str(version),
            current=current,
        )
    now = now or utcnow()
    if not _confidentiality_ok(session, member, program):
        member.confidentiality_accepted_at = now
        existing = session.scalars(
            select(Consent).where(
                Consent.org_id == program.org_id,
                Consent.person_id == member.person_id,
                Consent.program_id == program.id,
                Consent.purpose == CONFIDENTIALITY_PURPOSE,
                Consent.version == current,
                Consent.withdrawn_at.is_(None),
            )
        ).first()
        if existing is None:
            session.add(
                Consent(
                    org_id=program.org_id,
                    person_id=member.person_id,
                    program_id=program.id,
                    purpose=CONFIDENTIALITY_PURPOSE,
                    version=current,
                    given_at=now,
                )
            )
        session.flush()
        _audit(
            session,
            actor,
            tandem,
            "tandem.confidentiality_accepted",
            {"role": member.role.value, "version": current},
            now=now,
        )
    _try_activate(session, tandem, program, actor=actor.label, now=now)
    return tandem


# --------------------------------------------------------------------------- kick-off


def _goal_titles(goals: Sequence[str]) -> list[str]:
    if isinstance(goals, str) or not isinstance(goals, Sequence):
        raise ValidationError(N_("goals must be a list of goal titles"), field="goals")
    if len(goals) > MAX_GOALS_PER_CALL:
        raise ValidationError(
            N_("%(count)s goals given; at most %(max)s at a time"),
            field="goals",
            count=len(goals),
            max=MAX_GOALS_PER_CALL,
        )
    titles: list[str] = []
    for i, goal in enumerate(goals, start=1):
        title = _text(
            goal,
            "goals",
            MAX_GOAL_TITLE,
            what=Refusal(N_("goal %(index)s"), index=i),
            message=N_("goal %(index)s is required"),
            params={"index": i},
        )
        if title.casefold() not in {t.casefold() for t in titles}:
            titles.append(title)
    return titles


def _existing_titles(session: Session, tandem: Tandem) -> list[str]:
    return list(session.scalars(select(Goal.title).where(Goal.tandem_id == tandem.id)))


def _check_goal_room(existing: int, adding: int) -> None:
    if existing + adding > MAX_GOALS_PER_TANDEM:
        raise ValidationError(
            N_("the tandem has %(count)s goals; at most %(max)s are allowed (drop or reuse one)"),
            field="goals",
            count=existing,
            max=MAX_GOALS_PER_TANDEM,
        )


def record_kickoff(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    expectations: str,
    meeting_mode: str,
    goals: Sequence[str] = (),
    now: datetime | None = None,
) -> Tandem:
    """Record (or update) the kick-off: expectations, meeting mode and first goals.

    A later call by either member replaces expectations and mode and adds the goals not
    already there (same title, ignoring case). Then activation is tried.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem.
        tandem_id: The tandem.
        expectations: What both expect of the relationship (1–4000 characters).
        meeting_mode: One of :data:`MEETING_MODES`.
        goals: Up to 10 goal titles (1–300 characters each), owned by the actor.
        now: The moment of the kick-off (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member.
        ValidationError: Bad expectations, mode or goals.
        TrackingError: The tandem is not accepted or active, the program is closed, or the
            member withdrew.
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may record its kick-off; coordinators see "
            "the tandem's status and counts"
        ),
    )
    tandem, program, member = access.tandem, access.program, access.member
    _require_working(
        tandem,
        N_(
            "tandem %(tandem)s is %(status)s; it cannot record a kick-off. "
            "From %(status)s: %(moves)s"
        ),
    )
    _require_open_program(program)
    _require_enrolled(session, member)
    text = _text(expectations, "expectations", MAX_EXPECTATIONS, what=_LABELS["expectations"])
    if meeting_mode not in MEETING_MODES:
        raise ValidationError(
            N_("unknown meeting mode %(mode)s; choose one of %(modes)s"),
            field="meeting_mode",
            mode=repr(meeting_mode),
            modes=words(MEETING_MODES),
        )
    titles = _goal_titles(goals)
    existing = _existing_titles(session, tandem)
    known = {t.casefold() for t in existing}
    new_titles = [t for t in titles if t.casefold() not in known]
    _check_goal_room(len(existing), len(new_titles))
    now = now or utcnow()
    update = bool(tandem.kickoff.get("expectations"))
    tandem.kickoff = {
        "expectations": text,
        "meeting_mode": meeting_mode,
        "recorded_by": member.person_id,
        "recorded_at": now.isoformat(),
    }
    for title in new_titles:
        session.add(
            Goal(
                org_id=tandem.org_id,
                tandem_id=tandem.id,
                owner_id=member.person_id,
                title=title,
                status=GoalStatus.OPEN,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    _audit(
        session,
        actor,
        tandem,
        "tandem.kickoff_updated" if update else "tandem.kickoff_recorded",
        {"meeting_mode": meeting_mode, "goals_added": len(new_titles)},
        now=now,
    )
    _try_activate(session, tandem, program, actor=actor.label, now=now)
    return tandem


def activate_ready(
    session: Session, program_id: int, *, actor: str, now: datetime | None = None
) -> int:
    """Activate every accepted tandem of a running program that is ready.

    Ready: kick-off recorded, every member accepted the current confidentiality
    agreement and is still enrolled, and (one_to_one) no member is already at capacity.
    The lead calls this when a program moves to ``running``.

    Args:
        session: The unit of work (only flushed).
        program_id: The program.
        actor: Who triggers it, for the audit log.
        now: The moment of activation (default: now).

    Returns:
        How many tandems were activated (0 when the program is not running).

    Raises:
        NotFound: No such program.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(N_("program %(program)s not found"), field="program", program=program_id)
    if program.status is not ProgramStatus.RUNNING:
        return 0
    now = now or utcnow()
    tandems = session.scalars(
        select(Tandem)
        .where(Tandem.program_id == program.id, Tandem.status == TandemStatus.ACCEPTED)
        .order_by(Tandem.id)
    ).all()
    return sum(_try_activate(session, t, program, actor=actor, now=now) for t in tandems)


# --------------------------------------------------------------------------- endings


def _ended(session: Session, tandem: Tandem, *, now: datetime, by: str) -> None:
    """What follows a tandem's end, in the same transaction.

    Its still-planned sessions are cancelled (by nobody: the tandem ended), and a
    completed tandem's members are evaluated against the completion rule.
    """
    sessions.close_planned_sessions(session, tandem, now=now)
    if tandem.status is TandemStatus.COMPLETED:
        for member in tandem.members:
            completions.evaluate_enrollment(session, member.enrollment_id, now=now, by=by)


def complete_tandem(
    session: Session, actor: Actor, tandem_id: int, *, now: datetime | None = None
) -> Tandem:
    """Complete an active tandem (a member or a coordinator; audited).

    Args:
        session: The unit of work (only flushed).
        actor: A member, or a coordinator of the program.
        tandem_id: The tandem.
        now: The moment of completion (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: Neither a member nor a coordinator.
        TrackingError: The tandem is not active.
    """
    access = _load(session, actor, tandem_id)
    tandem = access.tandem
    if tandem.status is not TandemStatus.ACTIVE:
        raise _refuse(
            tandem,
            N_(
                "tandem %(tandem)s is %(status)s; it cannot be completed (only an active "
                "tandem can). From %(status)s: %(moves)s"
            ),
        )
    now = now or utcnow()
    tandem.status = TandemStatus.COMPLETED
    tandem.ended_at = now
    tandem.status_changed_at = now
    session.flush()
    _ended(session, tandem, now=now, by=actor.label)
    _audit(
        session,
        actor,
        tandem,
        "tandem.completed",
        {"from": "active", "to": "completed", "by": _by_role(access)},
        now=now,
    )
    return tandem


def dissolve_tandem(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    reason: str,
    no_fault: bool = False,
    now: datetime | None = None,
) -> Tandem:
    """Dissolve an accepted or active tandem, with a reason (a member or a coordinator).

    The reason is kept for the program's coordinators; it is never shown to the members
    and never written to the audit log.

    Args:
        session: The unit of work (only flushed).
        actor: A member, or a coordinator of the program.
        tandem_id: The tandem.
        reason: Why (1–2000 characters).
        no_fault: A no-fault closure (nobody is to blame, e.g. a reorganisation).
        now: The moment of dissolution (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: Neither a member nor a coordinator.
        TrackingError: The tandem is proposed (decline or reject it instead) or final.
        ValidationError: No reason, or one that is too long.
    """
    access = _load(session, actor, tandem_id)
    tandem = access.tandem
    if tandem.status is TandemStatus.PROPOSED:
        raise TrackingError(
            N_(
                "tandem %(tandem)s is proposed; it cannot be dissolved. A member declines it "
                "(respond) or a coordinator rejects it instead"
            ),
            field="status",
            tandem=tandem.id,
        )
    _require_working(
        tandem,
        N_("tandem %(tandem)s is %(status)s; it cannot be dissolved. From %(status)s: %(moves)s"),
    )
    text = _text(
        reason,
        "reason",
        MAX_REASON,
        what=Msg(N_("a reason for dissolving")),
        message=N_("a reason for dissolving is required"),
    )
    now = now or utcnow()
    old = tandem.status
    tandem.status = TandemStatus.DISSOLVED
    tandem.dissolved_reason = text
    tandem.dissolved_by = actor.label
    tandem.no_fault = bool(no_fault)
    tandem.ended_at = now
    tandem.status_changed_at = now
    session.flush()
    _ended(session, tandem, now=now, by=actor.label)
    _audit(
        session,
        actor,
        tandem,
        "tandem.dissolved",
        {
            "from": old.value,
            "to": "dissolved",
            "no_fault": bool(no_fault),
            "by": _by_role(access),
        },
        now=now,
    )
    return tandem


def close_out(
    session: Session, program_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, int]:
    """Settle every open tandem of a program that closes.

    Active tandems are completed; accepted ones dissolved and proposed ones rejected, both
    as no-fault closures with the reason ``program closed``. Each change is audited.

    Args:
        session: The unit of work (only flushed).
        program_id: The program.
        actor: Who closes the program, for the audit log.
        now: The moment of closing (default: now).

    Returns:
        Counts ``{"completed": n, "dissolved": n, "rejected": n}``.

    Raises:
        NotFound: No such program.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(N_("program %(program)s not found"), field="program", program=program_id)
    now = now or utcnow()
    counts = {"completed": 0, "dissolved": 0, "rejected": 0}
    tandems = session.scalars(
        select(Tandem)
        .where(
            Tandem.program_id == program.id,
            Tandem.status.in_([TandemStatus.PROPOSED, TandemStatus.ACCEPTED, TandemStatus.ACTIVE]),
        )
        .order_by(Tandem.id)
    ).all()
    for tandem in tandems:
        if tandem.status is not TandemStatus.ACTIVE:
            ended = _end_without_fault(
                session,
                tandem,
                reason=PROGRAM_CLOSED_REASON,
                cause="program_closed",
                actor=actor,
                now=now,
            )
            counts[ended.value] += 1
            continue
        tandem.status = TandemStatus.COMPLETED
        tandem.ended_at = now
        tandem.status_changed_at = now
        counts["completed"] += 1
        session.flush()
        _ended(session, tandem, now=now, by=actor)
        _audit(
            session,
            actor,
            tandem,
            "tandem.completed",
            {"from": "active", "to": "completed", "cause": "program_closed"},
            now=now,
        )
    return counts


def _end_without_fault(
    session: Session, tandem: Tandem, *, reason: str, cause: str, actor: str, now: datetime
) -> TandemStatus:
    """End a tandem nobody is to blame for: proposed → rejected, otherwise dissolved."""
    old = tandem.status
    tandem.status = (
        TandemStatus.REJECTED if old is TandemStatus.PROPOSED else TandemStatus.DISSOLVED
    )
    tandem.dissolved_reason = reason
    tandem.dissolved_by = actor
    tandem.no_fault = True
    tandem.status_changed_at = now
    if old is not TandemStatus.PROPOSED:
        tandem.ended_at = now
    session.flush()
    _ended(session, tandem, now=now, by=actor)
    _audit(
        session,
        actor,
        tandem,
        f"tandem.{tandem.status.value}",
        {"from": old.value, "to": tandem.status.value, "cause": cause},
        now=now,
    )
    return tandem.status


def settle_withdrawal(
    session: Session, enrollment_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, int]:
    """End the tandems a withdrawal leaves without a junior or a senior (DESIGN §6).

    Called when an enrollment is withdrawn. A pair ends: proposed → rejected, accepted or
    active → dissolved, both as no-fault closures with the reason ``participant
    withdrew`` (withdrawing consent is never held against anyone). A group that still has
    a junior and a senior carries on without the person (an accepted one may now be
    ready and is activated). The rows stay, so the program's figures keep them.

    Args:
        session: The unit of work (only flushed).
        enrollment_id: The withdrawn enrollment.
        actor: Who withdrew it, for the audit log.
        now: The moment (default: now).

    Returns:
        Counts ``{"dissolved": n, "rejected": n, "kept": n}``.

    Raises:
        NotFound: No such enrollment.
        TrackingError: The enrollment is not withdrawn.
    """
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(
            N_("enrollment %(enrollment)s not found"), field="enrollment", enrollment=enrollment_id
        )
    if enrollment.status is not EnrollmentStatus.WITHDRAWN:
        raise TrackingError(
            N_(
                "enrollment %(enrollment)s is %(status)s; only a withdrawn enrollment ends "
                "its tandems"
            ),
            field="enrollment",
            enrollment=enrollment_id,
            status=word(enrollment.status),
        )
    program = session.get(Program, enrollment.program_id)
    if program is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound(
            N_("program %(program)s not found"), field="program", program=enrollment.program_id
        )
    now = now or utcnow()
    counts = {"dissolved": 0, "rejected": 0, "kept": 0}
    affected = session.scalars(
        select(Tandem)
        .join(TandemMember, TandemMember.tandem_id == Tandem.id)
        .where(
            TandemMember.enrollment_id == enrollment.id,
            Tandem.status.in_([TandemStatus.PROPOSED, TandemStatus.ACCEPTED, TandemStatus.ACTIVE]),
        )
        .order_by(Tandem.id)
    ).all()
    for tandem in affected:
        if _viable(tandem, _withdrawn(session, tandem)):
            counts["kept"] += 1
            _try_activate(session, tandem, program, actor=actor, now=now)
            continue
        ended = _end_without_fault(
            session,
            tandem,
            reason=WITHDRAWAL_REASON,
            cause="participant_withdrew",
            actor=actor,
            now=now,
        )
        counts[ended.value] += 1
    return counts


# --------------------------------------------------------------------------- goals


def _load_goal(session: Session, actor: Actor, goal_id: int) -> tuple[Goal, _MemberAccess]:
    goal = session.get(Goal, goal_id)
    if goal is None or goal.org_id != actor.org_id:
        raise NotFound(N_("goal %(goal)s not found"), field="goal", goal=goal_id)
    return goal, _load_as_member(
        session,
        actor,
        goal.tandem_id,
        N_(
            "only the members of tandem %(tandem)s may change its goals; coordinators see the "
            "tandem's status and counts"
        ),
    )


def add_goal(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    title: str,
    description: str | None = None,
    due_on: date | None = None,
    now: datetime | None = None,
) -> Goal:
    """A member adds a goal to their accepted or active tandem.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem (the goal's owner).
        tandem_id: The tandem.
        title: The goal (1–300 characters; unique in the tandem, ignoring case).
        description: More detail (up to 4000 characters).
        due_on: When it should be met; not in the past.
        now: The moment (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member.
        ValidationError: Bad title, description or due date, or too many goals.
        TrackingError: The tandem is not accepted or active, or the program is closed.
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may add goals; coordinators see the "
            "tandem's status and counts"
        ),
    )
    tandem, program, member = access.tandem, access.program, access.member
    _require_working(
        tandem,
        N_("tandem %(tandem)s is %(status)s; it cannot take new goals. From %(status)s: %(moves)s"),
    )
    _require_open_program(program)
    _require_enrolled(session, member)
    text = _text(title, "title", MAX_GOAL_TITLE, what=_LABELS["title"])
    detail = validation.text(
        description,
        field="description",
        limit=MAX_GOAL_DESCRIPTION,
        what=_LABELS["description"],
    )
    now = now or utcnow()
    if due_on is not None:
        due_on = _day(due_on, "due_on")
        if due_on < now.date():
            raise ValidationError(
                N_("the due date %(due)s is in the past (today is %(today)s)"),
                field="due_on",
                due=due_on.isoformat(),
                today=now.date().isoformat(),
            )
    existing = _existing_titles(session, tandem)
    if text.casefold() in {t.casefold() for t in existing}:
        raise ValidationError(
            N_("the tandem already has a goal %(title)s"), field="title", title=repr(text)
        )
    _check_goal_room(len(existing), 1)
    goal = Goal(
        org_id=tandem.org_id,
        tandem_id=tandem.id,
        owner_id=member.person_id,
        title=text,
        description=detail,
        status=GoalStatus.OPEN,
        due_on=due_on,
        created_at=now,
        updated_at=now,
    )
    session.add(goal)
    session.flush()
    return goal


def set_goal_status(
    session: Session,
    actor: Actor,
    goal_id: int,
    *,
    status: GoalStatus | str,
    now: datetime | None = None,
) -> Goal:
    """A member moves a goal to open, in_progress, met or dropped.

    Any move is allowed while the tandem is accepted or active; goals of completed,
    dissolved or rejected tandems are read-only.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the goal's tandem.
        goal_id: The goal.
        status: The new status.
        now: The moment (default: now).

    Raises:
        NotFound: No such goal in the organization.
        PermissionDenied: The actor is not a member of the goal's tandem.
        ValidationError: Unknown status.
        TrackingError: The tandem is not accepted or active, or the program is closed.
    """
    goal, access = _load_goal(session, actor, goal_id)
    member = access.member
    try:
        new = GoalStatus(status)
    except ValueError:
        raise ValidationError(
            N_("unknown goal status %(status)s; choose one of %(statuses)s"),
            field="status",
            status=repr(status),
            statuses=words(GoalStatus),
        ) from None
    _require_working(
        access.tandem,
        N_(
            "tandem %(tandem)s is %(status)s; it cannot change its goals. "
            "From %(status)s: %(moves)s"
        ),
    )
    _require_open_program(access.program)
    _require_enrolled(session, member)
    if goal.status is new:
        return goal
    goal.status = new
    goal.updated_at = now or utcnow()
    session.flush()
    return goal


def list_goals(session: Session, actor: Actor, tandem_id: int) -> Sequence[Goal]:
    """The tandem's goals, oldest first (members only: titles are the members' words).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member (coordinators see counts in
            :func:`tandem_view` and :func:`program_tandems`).
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may read its goals; coordinators see the "
            "tandem's status and counts"
        ),
    )
    return session.scalars(
        select(Goal).where(Goal.tandem_id == access.tandem.id).order_by(Goal.id)
    ).all()


# --------------------------------------------------------------------------- actions


def log_action(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    description: str,
    taken_on: date,
    credited_mentor_id: int | None = None,
    now: datetime | None = None,
) -> Action:
    """The senior logs something they changed, credited to the junior who prompted it.

    In a bidirectional program either peer logs, credited to the other.

    Args:
        session: The unit of work (only flushed).
        actor: The senior (mentee) member; in a bidirectional program either member.
        tandem_id: The tandem.
        description: What changed (1–2000 characters).
        taken_on: When; not in the future and not before the program started.
        credited_mentor_id: The junior to credit; defaults to the only possible one and
            is required when the tandem has several.
        now: The moment (default: now).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member, or not the senior.
        ValidationError: Bad description, date or credited person.
        TrackingError: The tandem is not accepted or active, or the program is closed.
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may log actions; coordinators see the "
            "tandem's status and counts"
        ),
    )
    tandem, program, member = access.tandem, access.program, access.member
    peers = program.format is ProgramFormat.BIDIRECTIONAL
    if not peers and member.role is not EnrollmentRole.MENTEE:
        raise PermissionDenied(
            N_(
                "only the senior (mentee) logs what they changed; the action is then credited "
                "to the junior"
            ),
            field="person",
        )
    _require_working(
        tandem,
        N_(
            "tandem %(tandem)s is %(status)s; it cannot take new actions. "
            "From %(status)s: %(moves)s"
        ),
    )
    _require_open_program(program)
    _require_enrolled(session, member)
    text = _text(description, "description", MAX_ACTION, what=_LABELS["description"])
    now = now or utcnow()
    day = _day(taken_on, "taken_on")
    if day > now.date():
        raise ValidationError(
            N_("taken_on %(day)s is in the future (today is %(today)s)"),
            field="taken_on",
            day=day.isoformat(),
            today=now.date().isoformat(),
        )
    if day < program.starts_on:
        raise ValidationError(
            N_("taken_on %(day)s is before the program started on %(start)s"),
            field="taken_on",
            day=day.isoformat(),
            start=program.starts_on.isoformat(),
        )
    candidates = [
        m.person_id
        for m in tandem.members
        if m.person_id != member.person_id and (peers or m.role is EnrollmentRole.MENTOR)
    ]
    if credited_mentor_id is None:
        if len(candidates) != 1:
            raise ValidationError(
                N_("the tandem has several juniors (%(juniors)s); say which one to credit"),
                field="credited_mentor_id",
                juniors=", ".join(str(i) for i in candidates),
            )
        credited_mentor_id = candidates[0]
    elif credited_mentor_id not in candidates:
        raise ValidationError(
            N_("person %(person)s cannot be credited: the credit goes to another member")
            if peers
            else N_(
                "person %(person)s cannot be credited: the credit goes to a junior (mentor) "
                "of the tandem"
            ),
            field="credited_mentor_id",
            person=credited_mentor_id,
        )
    action = Action(
        org_id=tandem.org_id,
        tandem_id=tandem.id,
        senior_id=member.person_id,
        credited_mentor_id=credited_mentor_id,
        description=text,
        taken_on=day,
        created_at=now,
    )
    session.add(action)
    session.flush()
    return action


def list_actions(session: Session, actor: Actor, tandem_id: int) -> Sequence[Action]:
    """The tandem's actions log, oldest first (members only).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: The actor is not a member (coordinators see counts).
    """
    access = _load_as_member(
        session,
        actor,
        tandem_id,
        N_(
            "only the members of tandem %(tandem)s may read its actions log; coordinators see "
            "the tandem's status and counts"
        ),
    )
    return session.scalars(
        select(Action)
        .where(Action.tandem_id == access.tandem.id)
        .order_by(Action.taken_on, Action.id)
    ).all()


# --------------------------------------------------------------------------- views


def my_tandems(
    session: Session, actor: Actor, *, program_id: int | None = None
) -> Sequence[Tandem]:
    """The tandems the actor is a member of, newest first.

    Proposals a coordinator has not approved yet are not shown: they may still change.

    Raises:
        PermissionDenied: The actor is nobody in particular.
    """
    person_id = require_person(actor)
    stmt = (
        select(Tandem)
        .join(TandemMember, TandemMember.tandem_id == Tandem.id)
        .where(
            Tandem.org_id == actor.org_id,
            TandemMember.person_id == person_id,
            (Tandem.status != TandemStatus.PROPOSED) | Tandem.approved_at.is_not(None),
        )
        .order_by(Tandem.id.desc())
    )
    if program_id is not None:
        stmt = stmt.where(Tandem.program_id == program_id)
    return session.scalars(stmt).unique().all()


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.id, Person.given_name, Person.family_name).where(Person.id.in_(wanted))
    )
    return {pid: f"{given} {family}" for pid, given, family in rows}


def _goal_counts(session: Session, tandem_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {t: {s.value: 0 for s in GoalStatus} for t in tandem_ids}
    if not tandem_ids:
        return counts
    rows = session.execute(
        select(Goal.tandem_id, Goal.status, func.count())
        .where(Goal.tandem_id.in_(tandem_ids))
        .group_by(Goal.tandem_id, Goal.status)
    )
    for tandem_id, status, n in rows:
        counts[tandem_id][GoalStatus(status).value] = n
    return counts


def _action_counts(session: Session, tandem_ids: Sequence[int]) -> Counter[int]:
    if not tandem_ids:
        return Counter()
    rows = session.execute(
        select(Action.tandem_id, func.count())
        .where(Action.tandem_id.in_(tandem_ids))
        .group_by(Action.tandem_id)
    )
    return Counter({tandem_id: n for tandem_id, n in rows})


def _members_json(
    session: Session, tandem: Tandem, program: Program, names: dict[int, str]
) -> list[dict[str, Any]]:
    withdrawn = _withdrawn(session, tandem)
    return [
        {
            "person_id": m.person_id,
            "name": names.get(m.person_id, f"person {m.person_id}"),
            "role": m.role.value,
            "consent_required": _required(m, program),
            "accepted": m.accepted_at is not None,
            "declined": m.declined_at is not None,
            "confidentiality_accepted": _confidentiality_ok(session, m, program),
            "withdrawn": m.person_id in withdrawn,
        }
        for m in tandem.members
    ]


def _next_steps(
    session: Session, tandem: Tandem, program: Program, member: TandemMember
) -> list[str]:
    steps: list[str] = []
    if tandem.status is TandemStatus.PROPOSED:
        if tandem.approved_at is not None and member.accepted_at is None:
            steps.append("respond")
    elif tandem.status in _WORKING:
        if not _confidentiality_ok(session, member, program):
            steps.append("accept_confidentiality")
        if not tandem.kickoff.get("expectations"):
            steps.append("kickoff")
    return steps


def tandem_view(session: Session, actor: Actor, tandem_id: int) -> dict[str, Any]:
    """Everything about one tandem the actor may see, ready for a page or JSON.

    A member sees the partners, kick-off, goals, actions, the confidentiality agreement
    and what they still have to do (``next``: ``respond``, ``accept_confidentiality``,
    ``kickoff``). A coordinator sees status, dates, names, flags, the dissolution reason
    and counts — no kick-off expectations, goal titles or actions (their reading is
    audited).

    Raises:
        NotFound: No such tandem in the organization.
        PermissionDenied: Neither a member nor a coordinator.
    """
    access = _load(session, actor, tandem_id)
    tandem, program, member = access.tandem, access.program, access.member
    names = _names(session, [m.person_id for m in tandem.members])
    view: dict[str, Any] = {
        "id": tandem.id,
        "program": {
            "id": program.id,
            "name": program.name,
            "format": program.format.value,
            "status": program.status.value,
            "starts_on": _iso(program.starts_on),
            "ends_on": _iso(program.ends_on),
        },
        "status": tandem.status.value,
        "approved": tandem.approved_at is not None,
        "status_changed_at": _iso(tandem.status_changed_at),
        "activated_at": _iso(tandem.activated_at),
        "ended_at": _iso(tandem.ended_at),
        "no_fault": tandem.no_fault,
        "members": _members_json(session, tandem, program, names),
        "waiting_for": (
            _waiting_for(session, tandem, program) if tandem.status is TandemStatus.ACCEPTED else []
        ),
    }
    if member is not None:
        if tandem.status is TandemStatus.PROPOSED and tandem.approved_at is None:
            # A proposal nobody approved may still change: the partner is not shown yet.
            view["members"] = [m for m in view["members"] if m["person_id"] == member.person_id]
        goals = list_goals(session, actor, tandem.id)
        actions = list_actions(session, actor, tandem.id)
        view.update(
            {
                "you": {"person_id": member.person_id, "role": member.role.value},
                "kickoff": dict(tandem.kickoff) or None,
                "goals": [
                    {
                        "id": g.id,
                        "title": g.title,
                        "description": g.description,
                        "status": g.status.value,
                        "due_on": _iso(g.due_on),
                        "owner_id": g.owner_id,
                    }
                    for g in goals
                ],
                "actions": [
                    {
                        "id": a.id,
                        "description": a.description,
                        "taken_on": _iso(a.taken_on),
                        "senior_id": a.senior_id,
                        "credited_mentor_id": a.credited_mentor_id,
                    }
                    for a in actions
                ],
                "confidentiality": {
                    "text": program.confidentiality_text,
                    "version": program.confidentiality_version,
                    "accepted": _confidentiality_ok(session, member, program),
                },
                "next": _next_steps(session, tandem, program, member),
            }
        )
        return view
    view.update(
        {
            "score": tandem.score,
            "flags": dict(tandem.flags or {}),
            "kickoff": {
                "recorded": bool(tandem.kickoff.get("expectations")),
                "meeting_mode": tandem.kickoff.get("meeting_mode"),
                "recorded_at": tandem.kickoff.get("recorded_at"),
            },
            "goals_by_status": _goal_counts(session, [tandem.id])[tandem.id],
            "actions": _action_counts(session, [tandem.id])[tandem.id],
            "confidentiality": {"version": program.confidentiality_version},
            "dissolved": tandem.status is TandemStatus.DISSOLVED,
            "dissolved_reason": tandem.dissolved_reason,
            "dissolved_by": tandem.dissolved_by,
        }
    )
    _audit(session, actor, tandem, "tandem.viewed", {"program_id": program.id}, now=None)
    return view


def program_tandems(session: Session, actor: Actor, program_id: int) -> list[dict[str, Any]]:
    """A coordinator's overview of a program's tandems (no free text; audited).

    Per tandem: id, status, approval, members' names and roles, consent and
    confidentiality flags, dates, goals by status, the number of actions, and whether it
    was dissolved (and with no fault).

    Raises:
        NotFound: No such program in the organization.
        PermissionDenied: The actor does not coordinate the program.
    """
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(N_("program %(program)s not found"), field="program", program=program_id)
    if not is_coordinator(session, actor, program.id):
        raise PermissionDenied(
            N_("only a coordinator of program %(program)s sees its tandems"),
            field="program",
            program=program.id,
        )
    tandems = session.scalars(
        select(Tandem).where(Tandem.program_id == program.id).order_by(Tandem.id)
    ).all()
    ids = [t.id for t in tandems]
    goals = _goal_counts(session, ids)
    actions = _action_counts(session, ids)
    names = _names(session, [m.person_id for t in tandems for m in t.members])
    consents = _confidentiality_consents(session, program)
    rows = [
        {
            "id": t.id,
            "status": t.status.value,
            "approved": t.approved_at is not None,
            "locked": t.locked,
            "members": [
                {
                    "person_id": m.person_id,
                    "name": names.get(m.person_id, f"person {m.person_id}"),
                    "role": m.role.value,
                    "accepted": m.accepted_at is not None,
                    "confidentiality_accepted": _accepted_current(m, program, consents),
                }
                for m in t.members
            ],
            "kickoff_recorded": bool(t.kickoff.get("expectations")),
            "activated_at": _iso(t.activated_at),
            "ended_at": _iso(t.ended_at),
            "status_changed_at": _iso(t.status_changed_at),
            "goals_by_status": goals[t.id],
            "actions": actions[t.id],
            "dissolved": t.status is TandemStatus.DISSOLVED,
            "no_fault": t.no_fault,
            "flagged": bool(t.flags.get("broken_rules")),
        }
        for t in tandems
    ]
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="program.tandems_viewed",
        object_type="program",
        object_id=program.id,
        details={"tandems": len(rows)},
    )
    return rows

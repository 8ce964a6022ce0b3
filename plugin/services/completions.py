"""Completion by the program's rule, and the write-back messages it produces.

A program's ``completion_rule`` is ``{"min_sessions", "min_minutes",
"require_post_assessment"}`` (see :func:`plugin.services.programs.validate_completion_rule`).
An enrollment completes when its tandems (those that became active) have held at least
``min_sessions`` sessions of at least ``min_minutes`` minutes each and, if required, it
submitted its post-assessment. Shorter sessions do not count toward the rule, but their
minutes count as hours.

:func:`evaluate_enrollment` records the :class:`plugin.models.Completion` and, in the
same transaction, writes the outbox messages for it through
:func:`plugin.services.writeback.enqueue` — one per active target accepting the kind:

=============  ==========================================  ==================================
kind           subject                                     when
=============  ==========================================  ==================================
completion     ``p{program}:e{enrollment}``                once, when the rule is first met
hours          ``p{program}:e{enrollment}:m{minutes}``     for every new total of held minutes
skill_gain     ``p{program}:e{enrollment}:a{post}``        once pre and post exist
skill_gain     ``p{program}:e{enrollment}:f{follow_up}``   once pre and follow-up exist
progress       ``p{program}:e{enrollment}:h{held}``        not complete yet, for every new
                                                           count of held sessions that count
=============  ==========================================  ==================================

``progress`` goes only to targets that accept it by name (the LMS gradebook's "in
progress"; see :mod:`plugin.services.writeback`). Completion, progress and skill-gain
messages carry the time of their event, the same on every re-evaluation and delivery
retry — ``completed_at`` (the completion's recorded time), ``at`` (the evaluation that saw
the new count of sessions), ``assessed_at`` — so a target that orders updates by time
(LTI AGS ``timestamp``) never takes a re-delivery for a newer event.

Evaluation is idempotent: a completion is never recorded twice, the same hours total is
never sent twice, and evaluating again with nothing new writes nothing. Every payload
but progress carries the program, enrollment, role and person (with their identities in
every source), so each sink can address the person in its own system; progress carries
the program, enrollment and person ids, the held and target sessions, and the percentage.
A target added later receives the current state (completion, current hours, gains,
progress) at the next evaluation.

A withdrawn enrollment is not completed; a completion it already has stays, unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from plugin.access import Actor, require_coordinator
from plugin.db import utcnow
from plugin.errors import N_, NotFound, TrackingError, word
from plugin.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentKind,
    Completion,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    MentoringSession,
    OutboxMessage,
    Program,
    ProgramStatus,
    SessionStatus,
    Skill,
    Tandem,
    TandemMember,
    TandemStatus,
    WritebackTarget,
)
from plugin.services import assessments, audit, programs, writeback

__all__ = [
    "CompletionStatus",
    "completion_status",
    "evaluate_enrollment",
    "evaluate_program",
    "list_completions",
    "my_completion",
]

_ACTIVATED = (TandemStatus.ACTIVE, TandemStatus.COMPLETED, TandemStatus.DISSOLVED)
_EVALUATED_STATUSES = frozenset({ProgramStatus.RUNNING, ProgramStatus.CLOSED})


@dataclass
class CompletionStatus:
    """Where an enrollment stands against its program's completion rule.

    Attributes:
        enrollment_id: The enrollment.
        met: Whether it completed (a recorded completion) or meets the rule now.
        sessions_held: Held sessions that count: at least ``min_minutes`` long.
        sessions_needed: The rule's ``min_sessions``.
        minutes: All held minutes, short sessions included (the hours written back).
        post_assessment: Whether the post-assessment was submitted.
        missing: What is still missing, in words, e.g. ``"2 more sessions of at least
            45 minutes"`` or ``"the post-assessment"``; empty when met.
        completion: The recorded completion, if any.
        program_id: The program.
        role: ``mentor`` or ``mentee``.
        min_minutes: The rule's minimum length of a session that counts.
        post_required: Whether the rule requires the post-assessment.
        withdrawn: Whether the enrollment was withdrawn.
    """

    enrollment_id: int
    met: bool
    sessions_held: int
    sessions_needed: int
    minutes: int
    post_assessment: bool
    missing: list[str] = field(default_factory=list)
    completion: Completion | None = None
    program_id: int = 0
    role: str = ""
    min_minutes: int = 0
    post_required: bool = True
    withdrawn: bool = False

    @property
    def hours(self) -> float:
        """Held time in hours, rounded to two decimals."""
        return round(self.minutes / 60, 2)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (the completion as its id, date and recorded figures)."""
        done = self.completion
        return {
            "enrollment_id": self.enrollment_id,
            "program_id": self.program_id,
            "role": self.role,
            "met": self.met,
            "sessions_held": self.sessions_held,
            "sessions_needed": self.sessions_needed,
            "min_minutes": self.min_minutes,
            "minutes": self.minutes,
            "hours": self.hours,
            "post_assessment": self.post_assessment,
            "post_required": self.post_required,
            "withdrawn": self.withdrawn,
            "missing": list(self.missing),
            "completion": None
            if done is None
            else {
                "id": done.id,
                "completed_at": done.completed_at.isoformat(),
                "sessions_held": done.sessions_held,
                "minutes": done.minutes,
            },
        }


# --------------------------------------------------------------------------- reading


def _enrollment(session: Session, enrollment_id: int) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(
            N_("enrollment %(enrollment)s not found"), field="enrollment", enrollment=enrollment_id
        )
    return enrollment


def _rule(program: Program) -> dict[str, Any]:
    """The program's rule with the program's defaults filled in."""
    return programs.validate_completion_rule(
        program.completion_rule,
        target_sessions=program.target_sessions,
        min_session_minutes=program.min_session_minutes,
    )


def _held_minutes(session: Session, enrollment_id: int) -> list[int]:
    """Minutes of every held session of the enrollment's activated tandems."""
    stmt = (
        select(MentoringSession.minutes)
        .join(Tandem, Tandem.id == MentoringSession.tandem_id)
        .join(TandemMember, TandemMember.tandem_id == Tandem.id)
        .where(
            TandemMember.enrollment_id == enrollment_id,
            MentoringSession.status == SessionStatus.HELD,
            Tandem.activated_at.is_not(None),
            Tandem.status.in_(_ACTIVATED),
        )
    )
    return [m or 0 for m in session.scalars(stmt)]


def _completion(session: Session, enrollment_id: int) -> Completion | None:
    return session.scalars(
        select(Completion).where(Completion.enrollment_id == enrollment_id)
    ).first()


def _has_post(session: Session, enrollment_id: int) -> bool:
    stmt = select(Assessment.id).where(
        Assessment.enrollment_id == enrollment_id, Assessment.kind == AssessmentKind.POST
    )
    return session.scalar(stmt.limit(1)) is not None


def _status(session: Session, enrollment: Enrollment, program: Program) -> CompletionStatus:
    rule = _rule(program)
    min_minutes: int = rule["min_minutes"]
    needed: int = rule["min_sessions"]
    held = _held_minutes(session, enrollment.id)
    qualifying = sum(1 for m in held if m >= min_minutes)
    post = _has_post(session, enrollment.id)
    completion = _completion(session, enrollment.id)
    withdrawn = enrollment.status is EnrollmentStatus.WITHDRAWN
    missing: list[str] = []
    if qualifying < needed:
        more = needed - qualifying
        missing.append(
            f"{more} more session{'s' if more != 1 else ''} of at least {min_minutes} minutes"
        )
    if rule["require_post_assessment"] and not post:
        missing.append(N_("the post-assessment"))
    if withdrawn:
        when = enrollment.withdrawn_at.date().isoformat() if enrollment.withdrawn_at else "?"
        missing.append(f"an active enrollment (withdrawn on {when})")
    met = completion is not None or not missing
    return CompletionStatus(
        enrollment_id=enrollment.id,
        met=met,
        sessions_held=qualifying,
        sessions_needed=needed,
        minutes=sum(held),
        post_assessment=post,
        missing=[] if completion is not None else missing,
        completion=completion,
        program_id=program.id,
        role=enrollment.role.value,
        min_minutes=min_minutes,
        post_required=bool(rule["require_post_assessment"]),
        withdrawn=withdrawn,
    )


def completion_status(session: Session, enrollment_id: int) -> CompletionStatus:
    """Where an enrollment stands against its program's rule (reads only).

    Held sessions are those of the tandems the enrollment is a member of that became
    active (never a rejected proposal).

    Raises:
        NotFound: No such enrollment.
    """
    enrollment = _enrollment(session, enrollment_id)
    program = session.get_one(Program, enrollment.program_id)
    return _status(session, enrollment, program)


# --------------------------------------------------------------------------- payloads


def _base_payload(program: Program, enrollment: Enrollment) -> dict[str, Any]:
    person = enrollment.person
    return {
        "program": {
            "id": program.id,
            "name": program.name,
            "starts_on": program.starts_on.isoformat(),
            "ends_on": program.ends_on.isoformat(),
        },
        "enrollment_id": enrollment.id,
        "role": enrollment.role.value,
        "person": {
            "id": person.id,
            "email": person.email,
            "identities": {i.source: i.external_id for i in person.identities},
        },
    }


def _completion_payload(
    program: Program, enrollment: Enrollment, completion: Completion
) -> dict[str, Any]:
    return {
        **_base_payload(program, enrollment),
        "completed_at": completion.completed_at.isoformat(),
        "sessions_held": completion.sessions_held,
        "minutes": completion.minutes,
        "rule": dict(completion.rule),
    }


def _hours_payload(
    program: Program, enrollment: Enrollment, completion: Completion
) -> dict[str, Any]:
    return {
        **_base_payload(program, enrollment),
        "minutes": completion.minutes,
        "hours": round(completion.minutes / 60, 2),
        "sessions_held": completion.sessions_held,
    }


def _progress_payload(
    program: Program, enrollment: Enrollment, status: CompletionStatus, now: datetime
) -> dict[str, Any]:
    held, target = status.sessions_held, max(status.sessions_needed, 1)
    return {
        "enrollment_id": enrollment.id,
        "person_id": enrollment.person_id,
        "program_id": program.id,
        "held_sessions": held,
        "target_sessions": status.sessions_needed,
        # Never 100 before the completion itself (e.g. all sessions, no post-assessment).
        "percent": max(0, min(99, held * 100 // target)),
        "at": now.isoformat(),
    }


def _levels(session: Session, assessment_id: int) -> dict[int, int]:
    stmt = select(AssessmentAnswer.skill_id, AssessmentAnswer.level).where(
        AssessmentAnswer.assessment_id == assessment_id
    )
    return {skill_id: level for skill_id, level in session.execute(stmt)}


def _gain_payload(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    pre: Assessment,
    later: Assessment,
) -> dict[str, Any] | None:
    before, after = _levels(session, pre.id), _levels(session, later.id)
    common = [skill_id for skill_id in before if skill_id in after]
    if not common:
        return None
    skills = session.scalars(
        select(Skill)
        .where(Skill.id.in_(common))
        .options(selectinload(Skill.identities))
        .order_by(Skill.code)
    ).all()
    return {
        **_base_payload(program, enrollment),
        "assessment_id": later.id,
        "kind": later.kind.value,
        "pre_assessment_id": pre.id,
        "assessed_at": later.submitted_at.isoformat(),
        "gains": [
            {
                "skill": s.code,
                "name": s.name,
                "pre": before[s.id],
                "post": after[s.id],
                "gain": after[s.id] - before[s.id],
                "identities": {i.source: i.external_id for i in s.identities},
            }
            for s in skills
        ],
    }


# --------------------------------------------------------------------------- writing


def _send(
    session: Session,
    *,
    org_id: int,
    kind: str,
    subject: str,
    payload: Callable[[], dict[str, Any] | None],
    targets: Sequence[WritebackTarget],
    program_id: int,
    now: datetime,
) -> int:
    """Enqueue one event for the targets that lack it; returns the messages written."""
    expected = {
        writeback.idempotency_key(kind, subject, t.name) for t in targets if kind in t.kinds
    }
    if not expected:
        return 0
    present = set(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.org_id == org_id, OutboxMessage.idempotency_key.in_(expected)
            )
        )
    )
    missing = expected - present
    if not missing:
        return 0
    body = payload()
    if body is None:
        return 0
    written = 0
    for message in writeback.enqueue(
        session,
        org_id=org_id,
        kind=kind,
        subject=subject,
        payload=body,
        program_id=program_id,
        now=now,
    ):
        if message.idempotency_key in missing:
            written += 1
    return written


def _write_back(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    completion: Completion,
    *,
    targets: Sequence[WritebackTarget],
    now: datetime,
) -> int:
    base = f"p{program.id}:e{enrollment.id}"
    org_id = program.org_id
    written = _send(
        session,
        org_id=org_id,
        kind="completion",
        subject=base,
        payload=lambda: _completion_payload(program, enrollment, completion),
        targets=targets,
        program_id=program.id,
        now=now,
    )
    written += _send(
        session,
        org_id=org_id,
        kind="hours",
        subject=f"{base}:m{completion.minutes}",
        payload=lambda: _hours_payload(program, enrollment, completion),
        targets=targets,
        program_id=program.id,
        now=now,
    )
    found = {
        a.kind: a
        for a in session.scalars(
            select(Assessment).where(Assessment.enrollment_id == enrollment.id)
        )
    }
    pre = found.get(AssessmentKind.PRE)
    if pre is not None:
        for kind, letter in ((AssessmentKind.POST, "a"), (AssessmentKind.FOLLOW_UP, "f")):
            later = found.get(kind)
            if later is None:
                continue
            written += _send(
                session,
                org_id=org_id,
                kind="skill_gain",
                subject=f"{base}:{letter}{later.id}",
                payload=functools.partial(_gain_payload, session, program, enrollment, pre, later),
                targets=targets,
                program_id=program.id,
                now=now,
            )
    if written:
        session.flush()
    return written


def _write_progress(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    status: CompletionStatus,
    *,
    targets: Sequence[WritebackTarget],
    now: datetime,
) -> int:
    """One ``progress`` message per new count of held sessions (targets that accept it)."""
    if status.sessions_held < 1:
        return 0
    written = _send(
        session,
        org_id=program.org_id,
        kind=writeback.PROGRESS,
        subject=f"p{program.id}:e{enrollment.id}:h{status.sessions_held}",
        payload=lambda: _progress_payload(program, enrollment, status, now),
        targets=targets,
        program_id=program.id,
        now=now,
    )
    if written:
        session.flush()
    return written


def _audit(
    session: Session,
    *,
    org_id: int,
    by: str,
    action: str,
    object_type: str,
    object_id: int,
    details: dict[str, Any],
    now: datetime,
) -> None:
    event = audit.record(
        session,
        org_id=org_id,
        actor=by,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details,
    )
    event.created_at = now


def _evaluate(
    session: Session,
    enrollment: Enrollment,
    program: Program,
    *,
    now: datetime,
    by: str,
    targets: Sequence[WritebackTarget],
) -> tuple[CompletionStatus, str, int]:
    """Evaluate one enrollment: (status, outcome, messages written)."""
    status = _status(session, enrollment, program)
    if status.withdrawn:
        return status, "withdrawn", 0
    completion = status.completion
    if completion is None:
        if not status.met:
            written = _write_progress(
                session, program, enrollment, status, targets=targets, now=now
            )
            return status, "not_met", written
        completion = Completion(
            org_id=program.org_id,
            program_id=program.id,
            enrollment_id=enrollment.id,
            completed_at=now,
            sessions_held=status.sessions_held,
            minutes=status.minutes,
            rule=_rule(program),
            updated_at=now,
        )
        session.add(completion)
        session.flush()
        outcome = "completed_now"
        _audit(
            session,
            org_id=program.org_id,
            by=by,
            action="completion.recorded",
            object_type="completion",
            object_id=completion.id,
            details={
                "program_id": program.id,
                "enrollment_id": enrollment.id,
                "sessions_held": completion.sessions_held,
                "minutes": completion.minutes,
            },
            now=now,
        )
    else:
        outcome = "already_completed"
        if (completion.minutes, completion.sessions_held) != (status.minutes, status.sessions_held):
            before = completion.minutes
            completion.minutes = status.minutes
            completion.sessions_held = status.sessions_held
            completion.updated_at = now
            session.flush()
            _audit(
                session,
                org_id=program.org_id,
                by=by,
                action="completion.hours_updated",
                object_type="completion",
                object_id=completion.id,
                details={
                    "program_id": program.id,
                    "enrollment_id": enrollment.id,
                    "minutes_before": before,
                    "minutes": completion.minutes,
                    "sessions_held": completion.sessions_held,
                },
                now=now,
            )
    written = _write_back(session, program, enrollment, completion, targets=targets, now=now)
    status.completion, status.met, status.missing = completion, True, []
    return status, outcome, written


def evaluate_enrollment(
    session: Session, enrollment_id: int, *, now: datetime | None = None, by: str = "system"
) -> CompletionStatus:
    """Record the enrollment's completion if its rule is met, with its write-back messages.

    If the rule is met and there is no completion yet, the completion is recorded and
    the ``completion``, ``hours`` and (pre and post submitted) ``skill_gain`` messages are
    written in the same transaction. If a completion exists, it is never recorded again:
    a new total of held minutes updates it and writes a new ``hours`` message; a post or
    follow-up assessment that arrived since writes its ``skill_gain`` message. Not
    complete yet but with held sessions that count: a ``progress`` message for each new
    count, to targets that accept progress. Nothing new, nothing written. A withdrawn
    enrollment is left as it is.

    Args:
        session: The unit of work (flushed, not committed).
        enrollment_id: The enrollment.
        now: The current time (default: the clock).
        by: Who caused the evaluation, for the audit log.

    Raises:
        NotFound: No such enrollment.
    """
    enrollment = _enrollment(session, enrollment_id)
    program = session.get_one(Program, enrollment.program_id)
    targets = writeback.list_targets(session, org_id=program.org_id, active_only=True)
    status, _outcome, _written = _evaluate(
        session, enrollment, program, now=now or utcnow(), by=by, targets=targets
    )
    return status


def evaluate_program(
    session: Session,
    actor: Actor,
    program_id: int,
    *,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Evaluate every active enrollment of a program (coordinators and admins; audited).

    Withdrawn enrollments are not evaluated: they keep what they have.

    Args:
        session: The unit of work (flushed, not committed).
        actor: A coordinator of the program, or an admin.
        program_id: The program.
        now: The current time (default: the clock).
        progress: Called as ``progress("completions", done, total)``.

    Returns:
        Counts: ``evaluated``, ``completed_now``, ``already_completed``, ``not_met``,
        ``withdrawn`` (skipped) and ``messages_written``.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
        TrackingError: The program is not running or closed.
    """
    program = assessments.get_program(session, actor, program_id)
    require_coordinator(session, actor, program.id)
    if program.status not in _EVALUATED_STATUSES:
        raise TrackingError(
            N_(
                "completions are evaluated while the program runs or after it closed; program "
                "%(program)s is %(status)s"
            ),
            field="program",
            program=program.id,
            status=word(program.status),
        )
    now = now or utcnow()
    rows = session.scalars(
        select(Enrollment).where(Enrollment.program_id == program.id).order_by(Enrollment.id)
    ).unique()
    active, withdrawn = [], 0
    for enrollment in rows:
        if enrollment.status is EnrollmentStatus.ACTIVE:
            active.append(enrollment)
        else:
            withdrawn += 1
    counts = {
        "evaluated": 0,
        "completed_now": 0,
        "already_completed": 0,
        "not_met": 0,
        "withdrawn": withdrawn,
        "messages_written": 0,
    }
    targets = writeback.list_targets(session, org_id=program.org_id, active_only=True)
    total = len(active)
    if progress is not None:
        progress("completions", 0, total)
    for done, enrollment in enumerate(active, start=1):
        _, outcome, written = _evaluate(
            session, enrollment, program, now=now, by=actor.label, targets=targets
        )
        counts["evaluated"] += 1
        counts[outcome] += 1
        counts["messages_written"] += written
        if progress is not None:
            progress("completions", done, total)
    _audit(
        session,
        org_id=program.org_id,
        by=actor.label,
        action="completions.evaluated",
        object_type="program",
        object_id=program.id,
        details=dict(counts),
        now=now,
    )
    return counts


def list_completions(session: Session, actor: Actor, program_id: int) -> Sequence[Completion]:
    """The program's completions, oldest first (coordinators and admins; audited).

    A completion carries the enrollment, date, held sessions and minutes — no
    assessment answers, ratings or survey answers.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
    """
    program = assessments.get_program(session, actor, program_id)
    require_coordinator(session, actor, program.id)
    rows = session.scalars(
        select(Completion)
        .where(Completion.program_id == program.id)
        .order_by(Completion.completed_at, Completion.id)
    ).all()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor.label,
        action="completions.listed",
        object_type="program",
        object_id=program.id,
        details={"count": len(rows)},
    )
    return rows


def my_completion(
    session: Session,
    actor: Actor,
    program_id: int,
    *,
    role: EnrollmentRole | str | None = None,
) -> CompletionStatus:
    """The actor's own completion status in a program (reads only).

    Args:
        session: The unit of work.
        actor: The participant.
        program_id: The program.
        role: ``mentor`` or ``mentee``, needed only with two enrollments.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor is not enrolled in the program.
        ValidationError: Two enrollments and no role given.
    """
    program = assessments.get_program(session, actor, program_id)
    enrollment = assessments.own_enrollment(session, actor, program, role=role, active_only=False)
    return _status(session, enrollment, program)

"""Mentoring sessions, their private notes, and two-way feedback.

A tandem's members plan sessions, mark them held (or log one that was never planned),
cancel them (who, in which role, why), keep private notes and give feedback afterwards.
Every session carries the program's monthly theme for the date it takes place.

Access (DESIGN §5, §6):

* Only the tandem's members, acting as participants, plan, hold, log, cancel, keep
  notes and give feedback. Nobody else ever reads the private notes — not the program's
  coordinators, not an admin, not the members of another tandem.
* Members see their own feedback in full and the partner's comment only where the
  partner chose to share it; never the partner's rating or safety pulse.
* Coordinators of the program see the sessions without notes, feedback or cancel
  reasons: dates, minutes, themes and topics, who cancelled by role, and counts.

Alerts for the program's coordinators (a senior who cancels twice in a row, a junior's
low safety pulse) are raised here as the events happen; see :mod:`plugin.services.alerts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from plugin import validation
from plugin.access import Actor, ActorRole, is_coordinator, member_of
from plugin.db import utcnow
from plugin.errors import (
    N_,
    ConflictError,
    NotFound,
    PermissionDenied,
    TrackingError,
    ValidationError,
    word,
)
from plugin.models import (
    EnrollmentRole,
    Feedback,
    MentoringSession,
    Program,
    ProgramFormat,
    ProgramStatus,
    SessionStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import alerts, completions

__all__ = [
    "MAX_COMMENT",
    "MAX_MINUTES",
    "MAX_NOTES",
    "MAX_REASON",
    "MAX_TOPIC",
    "cancel_session",
    "close_planned_sessions",
    "get_notes",
    "give_feedback",
    "hold_session",
    "list_feedback",
    "list_sessions",
    "log_session",
    "plan_session",
    "program_window",
    "session_counts",
    "session_view",
    "set_notes",
    "theme_for",
]

#: The longest session that can be planned or recorded (a full working day).
MAX_MINUTES = 480
MAX_TOPIC = 200
MAX_REASON = 2000
MAX_NOTES = 20_000
MAX_COMMENT = 4000

# Refusals are whole sentences per action, so that each translates as one.

#: Per action: (the actor is not acting as a participant, the actor is not a member).
_MEMBERS_ONLY: dict[str, tuple[str, str]] = {
    "plan": (
        N_(
            "only the members of tandem %(tandem)s may plan its sessions; a coordinator or "
            "admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may plan its sessions"),
    ),
    "record": (
        N_(
            "only the members of tandem %(tandem)s may record its sessions; a coordinator or "
            "admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may record its sessions"),
    ),
    "cancel": (
        N_(
            "only the members of tandem %(tandem)s may cancel its sessions; a coordinator or "
            "admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may cancel its sessions"),
    ),
    "write_notes": (
        N_(
            "only the members of tandem %(tandem)s may write the private notes of its "
            "sessions; a coordinator or admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may write the private notes of its sessions"),
    ),
    "read_notes": (
        N_(
            "only the members of tandem %(tandem)s may read the private notes of its "
            "sessions; a coordinator or admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may read the private notes of its sessions"),
    ),
    "give_feedback": (
        N_(
            "only the members of tandem %(tandem)s may give feedback on its sessions; a "
            "coordinator or admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may give feedback on its sessions"),
    ),
    "list": (
        N_(
            "only the members of tandem %(tandem)s may list its sessions; a coordinator or "
            "admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may list its sessions"),
    ),
    "see": (
        N_(
            "only the members of tandem %(tandem)s may see its sessions; a coordinator or "
            "admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may see its sessions"),
    ),
    "see_feedback": (
        N_(
            "only the members of tandem %(tandem)s may see feedback on its sessions; a "
            "coordinator or admin may not, whatever program they run"
        ),
        N_("only the members of tandem %(tandem)s may see feedback on its sessions"),
    ),
}
#: Per reading action: neither a member nor a coordinator of the program.
_READERS_ONLY: dict[str, str] = {
    "list": N_(
        "only the members of tandem %(tandem)s and the coordinators of program %(program)s "
        "may list its sessions"
    ),
    "see": N_(
        "only the members of tandem %(tandem)s and the coordinators of program %(program)s "
        "may see its sessions"
    ),
    "see_feedback": N_(
        "only the members of tandem %(tandem)s and the coordinators of program %(program)s "
        "may see feedback on its sessions"
    ),
}
#: Per change: (the tandem is not active, the program is closed).
_NOT_RUNNING: dict[str, tuple[str, str]] = {
    "plan": (
        N_(
            "tandem %(tandem)s is %(status)s; sessions can be planned only while it is active "
            "(after both members accepted and the kick-off was recorded)"
        ),
        N_("program %(program)s is closed; its sessions can no longer be planned"),
    ),
    "hold": (
        N_(
            "tandem %(tandem)s is %(status)s; sessions can be held only while it is active "
            "(after both members accepted and the kick-off was recorded)"
        ),
        N_("program %(program)s is closed; its sessions can no longer be held"),
    ),
    "log": (
        N_(
            "tandem %(tandem)s is %(status)s; sessions can be recorded only while it is active "
            "(after both members accepted and the kick-off was recorded)"
        ),
        N_("program %(program)s is closed; its sessions can no longer be recorded"),
    ),
    "cancel": (
        N_(
            "tandem %(tandem)s is %(status)s; sessions can be cancelled only while it is "
            "active (after both members accepted and the kick-off was recorded)"
        ),
        N_("program %(program)s is closed; its sessions can no longer be cancelled"),
    ),
}


# --------------------------------------------------------------------------- themes


def _add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has at least 28 days")  # pragma: no cover


def theme_for(program: Program, when: date) -> str | None:
    """The program's monthly theme on a date.

    Month 1 is the calendar-month window starting at ``program.starts_on``; month *n*
    covers ``starts_on + (n - 1) months`` up to (not including) ``starts_on + n months``.
    A datetime is taken at its UTC date.

    Args:
        program: The program with its ``theme_plan`` (``[{"month": 1, "theme": ...}]``).
        when: The date (or datetime) of the session.

    Returns:
        The theme, or ``None`` before the program, after it, or in a month the plan
        leaves empty.
    """
    if isinstance(when, datetime):
        when = when.astimezone(UTC).date() if when.tzinfo is not None else when.date()
    start = program.starts_on
    if when < start or when > program.ends_on:
        return None
    offset = (when.year - start.year) * 12 + when.month - start.month
    if _add_months(start, offset) > when:
        offset -= 1
    month = offset + 1
    for item in program.theme_plan or ():
        if item.get("month") == month:
            theme = item.get("theme")
            return theme if isinstance(theme, str) else None
    return None


def program_window(program: Program) -> tuple[datetime, datetime]:
    """The program's time window in UTC: ``starts_on`` 00:00 up to the end of ``ends_on``.

    Returns:
        ``(start, end)`` with ``end`` exclusive (midnight after ``ends_on``).
    """
    start = datetime.combine(program.starts_on, time.min, tzinfo=UTC)
    end = datetime.combine(program.ends_on + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


# --------------------------------------------------------------------------- input


def _aware(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(N_("%(name)s must be a date and time"), field=field, name=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            N_("%(name)s must carry a time zone (e.g. 2026-03-02T09:00+00:00); got %(value)s"),
            field=field,
            name=field,
            value=str(value),
        )
    return value.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _in_program(program: Program, moment: datetime, field: str) -> None:
    start, end = program_window(program)
    if not start <= moment < end:
        raise ValidationError(
            N_(
                "%(name)s %(moment)s is outside program %(program)s, which runs from "
                "%(start)s 00:00 to %(end)s 23:59 UTC"
            ),
            field=field,
            name=field,
            moment=_fmt(moment),
            program=program.id,
            start=str(program.starts_on),
            end=str(program.ends_on),
        )


# --------------------------------------------------------------------------- loading


def _tandem(session: Session, actor: Actor, tandem_id: int) -> Tandem:
    tandem = session.get(Tandem, tandem_id)
    if tandem is None or tandem.org_id != actor.org_id:
        raise NotFound(N_("tandem %(tandem)s not found"), field="tandem", tandem=tandem_id)
    return tandem


def _session(session: Session, actor: Actor, session_id: int) -> tuple[MentoringSession, Tandem]:
    row = session.get(MentoringSession, session_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound(N_("session %(session)s not found"), field="session", session=session_id)
    tandem = session.get(Tandem, row.tandem_id)
    if tandem is None:  # pragma: no cover - the foreign key cascades
        raise NotFound(N_("session %(session)s not found"), field="session", session=session_id)
    return row, tandem


def _program(session: Session, tandem: Tandem) -> Program:
    program = session.get(Program, tandem.program_id)
    if program is None:  # pragma: no cover - the foreign key cascades
        raise NotFound(
            N_("program %(program)s not found"), field="program", program=tandem.program_id
        )
    return program


def _member(tandem: Tandem, actor: Actor, action: str) -> TandemMember:
    """The acting member; coordinators and admins act on sessions never, whoever they are.

    ``action`` is a key of :data:`_MEMBERS_ONLY` (what the refusal says is refused).
    """
    not_staff, not_member = _MEMBERS_ONLY[action]
    if actor.role is not ActorRole.PARTICIPANT:
        raise PermissionDenied(not_staff, field="tandem", tandem=tandem.id)
    member = member_of(tandem, actor)
    if member is None:
        raise PermissionDenied(not_member, field="tandem", tandem=tandem.id)
    return member


def _require_running(tandem: Tandem, program: Program, change: str) -> None:
    """``change`` is a key of :data:`_NOT_RUNNING`."""
    not_active, closed = _NOT_RUNNING[change]
    if tandem.status is not TandemStatus.ACTIVE:
        raise TrackingError(
            not_active, field="tandem", tandem=tandem.id, status=word(tandem.status)
        )
    if program.status is ProgramStatus.CLOSED:
        raise TrackingError(closed, field="program", program=program.id)


def _clash(
    session: Session, tandem_id: int, moment: datetime, *, exclude: int | None = None
) -> MentoringSession | None:
    """A planned or held session of the tandem at exactly this time."""
    stmt = select(MentoringSession).where(
        MentoringSession.tandem_id == tandem_id,
        MentoringSession.status != SessionStatus.CANCELLED,
        or_(MentoringSession.scheduled_at == moment, MentoringSession.held_at == moment),
    )
    if exclude is not None:
        stmt = stmt.where(MentoringSession.id != exclude)
    return session.scalars(stmt.order_by(MentoringSession.id)).first()


def _refuse_clash(clash: MentoringSession | None, tandem: Tandem, moment: datetime) -> None:
    if clash is None:
        return
    template = (
        N_(
            "tandem %(tandem)s already has session %(session)s (%(status)s) at %(moment)s; "
            "hold that one instead"
        )
        if clash.status is SessionStatus.PLANNED
        else N_("tandem %(tandem)s already has session %(session)s (%(status)s) at %(moment)s")
    )
    raise ConflictError(
        template,
        field="scheduled_at",
        tandem=tandem.id,
        session=clash.id,
        status=word(clash.status),
        moment=_fmt(moment),
    )


# --------------------------------------------------------------------------- lifecycle


def plan_session(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    scheduled_at: datetime,
    planned_minutes: int | None = None,
    topic: str | None = None,
    now: datetime | None = None,
) -> MentoringSession:
    """Plan a session of an active tandem; its theme comes from the program's plan.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        tandem_id: The tandem.
        scheduled_at: When it takes place (timezone-aware, inside the program's dates).
        planned_minutes: Its planned length, 1–480.
        topic: What the members want to talk about (≤ 200 characters).
        now: The current time (default: the clock).

    Returns:
        The planned session.

    Raises:
        NotFound: No such tandem in the actor's organization.
        PermissionDenied: The actor is not a member acting as a participant.
        ValidationError: A bad time, length or topic.
        TrackingError: The tandem is not active or the program is closed.
        ConflictError: The tandem already has a session at exactly that time.
    """
    now = now if now is not None else utcnow()
    tandem = _tandem(session, actor, tandem_id)
    _member(tandem, actor, "plan")
    program = _program(session, tandem)
    when = _aware(scheduled_at, "scheduled_at")
    minutes = (
        None
        if planned_minutes is None
        else validation.whole_number(planned_minutes, 1, MAX_MINUTES, field="planned_minutes")
    )
    text = validation.text(topic, field="topic", limit=MAX_TOPIC)
    _require_running(tandem, program, "plan")
    _in_program(program, when, "scheduled_at")
    _refuse_clash(_clash(session, tandem.id, when), tandem, when)
    row = MentoringSession(
        org_id=tandem.org_id,
        tandem_id=tandem.id,
        status=SessionStatus.PLANNED,
        scheduled_at=when,
        planned_minutes=minutes,
        theme=theme_for(program, when),
        topic=text,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _count_towards_completion(
    session: Session, tandem: Tandem, actor: Actor, now: datetime
) -> None:
    """A held session may complete its members (and always changes their hours)."""
    for member in tandem.members:
        completions.evaluate_enrollment(session, member.enrollment_id, now=now, by=actor.label)


def _held_at(row: MentoringSession, held_at: datetime | None, now: datetime) -> datetime:
    if held_at is not None:
        return _aware(held_at, "held_at")
    return row.scheduled_at if row.scheduled_at <= now else now


def _check_held_at(program: Program, tandem: Tandem, moment: datetime, now: datetime) -> None:
    if moment > now:
        raise ValidationError(
            N_(
                "held_at %(moment)s is in the future (now is %(now)s); a session is "
                "recorded as held once it took place"
            ),
            field="held_at",
            moment=_fmt(moment),
            now=_fmt(now),
        )
    _in_program(program, moment, "held_at")


def hold_session(
    session: Session,
    actor: Actor,
    mentoring_session_id: int,
    *,
    minutes: int,
    held_at: datetime | None = None,
    topic: str | None = None,
    now: datetime | None = None,
) -> MentoringSession:
    """Mark a planned session as held.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        mentoring_session_id: The planned session.
        minutes: How long it lasted, 1–480.
        held_at: When it took place; defaults to the planned time if that has passed,
            else now. Never in the future, inside the program's dates.
        topic: The topic actually discussed (≤ 200 characters); keeps the planned one
            when omitted.
        now: The current time (default: the clock).

    Returns:
        The held session (its theme follows the date it was held).

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: The actor is not a member acting as a participant.
        ValidationError: Bad minutes, time or topic.
        TrackingError: The tandem is not active or the program is closed.
        ConflictError: The session is already held or was cancelled.
    """
    now = now if now is not None else utcnow()
    row, tandem = _session(session, actor, mentoring_session_id)
    _member(tandem, actor, "record")
    program = _program(session, tandem)
    length = validation.whole_number(minutes, 1, MAX_MINUTES, field="minutes")
    text = validation.text(topic, field="topic", limit=MAX_TOPIC)
    _require_running(tandem, program, "hold")
    if row.status is not SessionStatus.PLANNED:
        raise ConflictError(
            N_(
                "session %(session)s is already %(status)s (%(when)s); only a planned "
                "session can be marked held — log a new one instead"
            ),
            field="session",
            session=row.id,
            status=word(row.status),
            when=_fmt(row.held_at or row.scheduled_at),
        )
    moment = _held_at(row, held_at, now)
    _check_held_at(program, tandem, moment, now)
    _refuse_clash(_clash(session, tandem.id, moment, exclude=row.id), tandem, moment)
    row.status = SessionStatus.HELD
    row.held_at = moment
    row.minutes = length
    row.theme = theme_for(program, moment)
    if text is not None:
        row.topic = text
    row.updated_at = now
    session.flush()
    _count_towards_completion(session, tandem, actor, now)
    return row


def log_session(
    session: Session,
    actor: Actor,
    tandem_id: int,
    *,
    held_at: datetime,
    minutes: int,
    topic: str | None = None,
    now: datetime | None = None,
) -> MentoringSession:
    """Record a session that took place without being planned.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        tandem_id: The tandem.
        held_at: When it took place (timezone-aware, not in the future, inside the
            program's dates).
        minutes: How long it lasted, 1–480.
        topic: What was discussed (≤ 200 characters).
        now: The current time (default: the clock).

    Returns:
        The held session (``scheduled_at`` = ``held_at``).

    Raises:
        NotFound: No such tandem in the actor's organization.
        PermissionDenied: The actor is not a member acting as a participant.
        ValidationError: Bad time, minutes or topic.
        TrackingError: The tandem is not active or the program is closed.
        ConflictError: The tandem already has a session at exactly that time.
    """
    now = now if now is not None else utcnow()
    tandem = _tandem(session, actor, tandem_id)
    _member(tandem, actor, "record")
    program = _program(session, tandem)
    moment = _aware(held_at, "held_at")
    length = validation.whole_number(minutes, 1, MAX_MINUTES, field="minutes")
    text = validation.text(topic, field="topic", limit=MAX_TOPIC)
    _require_running(tandem, program, "log")
    _check_held_at(program, tandem, moment, now)
    _refuse_clash(_clash(session, tandem.id, moment), tandem, moment)
    row = MentoringSession(
        org_id=tandem.org_id,
        tandem_id=tandem.id,
        status=SessionStatus.HELD,
        scheduled_at=moment,
        held_at=moment,
        minutes=length,
        theme=theme_for(program, moment),
        topic=text,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _count_towards_completion(session, tandem, actor, now)
    return row


def cancel_session(
    session: Session,
    actor: Actor,
    mentoring_session_id: int,
    *,
    reason: str,
    now: datetime | None = None,
) -> MentoringSession:
    """Cancel a planned session, recording who cancelled, in which role, and why.

    The reason is visible to the tandem's members only. A senior who cancels twice in
    a row raises an alert for the program's coordinators.

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        mentoring_session_id: The planned session.
        reason: Why (1–2000 characters).
        now: The current time (default: the clock).

    Returns:
        The cancelled session.

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: The actor is not a member acting as a participant.
        ValidationError: No reason, or one that is too long.
        TrackingError: The tandem is not active or the program is closed.
        ConflictError: The session is already held or cancelled.
    """
    now = now if now is not None else utcnow()
    row, tandem = _session(session, actor, mentoring_session_id)
    member = _member(tandem, actor, "cancel")
    program = _program(session, tandem)
    text = validation.required_text(reason, field="reason", limit=MAX_REASON)
    _require_running(tandem, program, "cancel")
    if row.status is not SessionStatus.PLANNED:
        raise ConflictError(
            N_(
                "session %(session)s is already %(status)s; only a planned session can be cancelled"
            ),
            field="session",
            session=row.id,
            status=word(row.status),
        )
    row.status = SessionStatus.CANCELLED
    row.cancelled_by_id = member.person_id
    row.cancelled_by_role = member.role
    row.cancel_reason = text
    row.updated_at = now
    session.flush()
    alerts.check_senior_cancellations(session, tandem, now=now)
    return row


def close_planned_sessions(
    session: Session, tandem: Tandem, *, now: datetime | None = None
) -> list[MentoringSession]:
    """Cancel the sessions still planned when a tandem ends (completed or dissolved).

    For the tandem lifecycle to call in the same transaction as the status change.
    Nobody cancelled them in person, so no one is recorded as cancelling and no
    cancellation alert can follow; the reason says the tandem ended.

    Returns:
        The sessions it cancelled.
    """
    now = now if now is not None else utcnow()
    rows = session.scalars(
        select(MentoringSession)
        .where(
            MentoringSession.tandem_id == tandem.id,
            MentoringSession.status == SessionStatus.PLANNED,
        )
        .order_by(MentoringSession.scheduled_at, MentoringSession.id)
    ).all()
    for row in rows:
        row.status = SessionStatus.CANCELLED
        row.cancel_reason = f"The tandem ended ({tandem.status.value})."
        row.updated_at = now
    session.flush()
    return list(rows)


# --------------------------------------------------------------------------- notes


def set_notes(
    session: Session,
    actor: Actor,
    mentoring_session_id: int,
    *,
    text: str,
    now: datetime | None = None,
) -> None:
    """Write the session's private notes (visible to the tandem's members only).

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        mentoring_session_id: The session (planned, held or cancelled).
        text: The notes (≤ 20000 characters); an empty string clears them.
        now: The current time (default: the clock).

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: The actor is not one of the tandem's members (coordinators
            and admins included).
        ValidationError: The notes are not text or too long.
    """
    now = now if now is not None else utcnow()
    row, tandem = _session(session, actor, mentoring_session_id)
    _member(tandem, actor, "write_notes")
    row.private_notes = validation.text(text, field="notes", limit=MAX_NOTES, required=False)
    row.updated_at = now
    session.flush()


def get_notes(session: Session, actor: Actor, mentoring_session_id: int) -> str | None:
    """Read the session's private notes.

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: The actor is not one of the tandem's members (coordinators
            and admins included).
    """
    row, tandem = _session(session, actor, mentoring_session_id)
    _member(tandem, actor, "read_notes")
    return row.private_notes


# --------------------------------------------------------------------------- feedback


def give_feedback(
    session: Session,
    actor: Actor,
    mentoring_session_id: int,
    *,
    rating: int,
    comment: str | None = None,
    safety_pulse: int | None = None,
    shared_with_partner: bool = False,
    now: datetime | None = None,
) -> Feedback:
    """Give one member's feedback on a held session (two-way: both sides give their own).

    Args:
        session: The unit of work (only flushed).
        actor: A member of the tandem, acting as a participant.
        mentoring_session_id: The held session.
        rating: How the session went, 1–5.
        comment: Free text (≤ 4000 characters); the partner sees it only if shared.
        safety_pulse: The junior's psychological safety, 1–5 (juniors only, and not in
            bidirectional programs). 2 or lower alerts the program's coordinators,
            never the senior.
        shared_with_partner: Show the comment (never the rating or pulse) to the partner.
        now: The current time (default: the clock).

    Returns:
        The feedback.

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: The actor is not a member acting as a participant.
        ValidationError: Bad rating, comment or pulse, or a pulse from a senior.
        TrackingError: The session has not been held.
        ConflictError: The member already gave feedback on this session.
    """
    now = now if now is not None else utcnow()
    row, tandem = _session(session, actor, mentoring_session_id)
    member = _member(tandem, actor, "give_feedback")
    program = _program(session, tandem)
    score = validation.whole_number(rating, 1, 5, field="rating")
    text = validation.text(comment, field="comment", limit=MAX_COMMENT)
    if not isinstance(shared_with_partner, bool):
        raise ValidationError(N_("shared_with_partner must be true or false"), field="shared")
    pulse: int | None = None
    if safety_pulse is not None:
        if program.format is ProgramFormat.BIDIRECTIONAL:
            raise ValidationError(
                N_(
                    "program %(program)s is bidirectional (peers teach each other); it has no "
                    "safety pulse"
                ),
                field="safety_pulse",
                program=program.id,
            )
        if member.role is not EnrollmentRole.MENTOR:
            raise ValidationError(
                N_(
                    "the safety pulse is the junior's (mentor's) to give; a senior (mentee) "
                    "gives a rating and a comment only"
                ),
                field="safety_pulse",
            )
        pulse = validation.whole_number(safety_pulse, 1, 5, field="safety_pulse")
    if row.status is not SessionStatus.HELD:
        raise TrackingError(
            N_("session %(session)s is %(status)s; feedback opens once it has been held"),
            field="session",
            session=row.id,
            status=word(row.status),
        )
    existing = session.scalars(
        select(Feedback.id).where(
            Feedback.session_id == row.id, Feedback.author_id == member.person_id
        )
    ).first()
    if existing is not None:
        raise ConflictError(
            N_(
                "you already gave feedback on session %(session)s; feedback is given once per "
                "member and session"
            ),
            field="session",
            session=row.id,
        )
    feedback = Feedback(
        org_id=row.org_id,
        session_id=row.id,
        author_id=member.person_id,
        role=member.role,
        rating=score,
        comment=text,
        safety_pulse=pulse,
        shared_with_partner=shared_with_partner,
        created_at=now,
    )
    session.add(feedback)
    session.flush()
    alerts.check_low_safety(session, feedback, now=now)
    return feedback


# --------------------------------------------------------------------------- views


def _base_view(row: MentoringSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "tandem_id": row.tandem_id,
        "status": row.status.value,
        "scheduled_at": row.scheduled_at,
        "held_at": row.held_at,
        "planned_minutes": row.planned_minutes,
        "minutes": row.minutes,
        "theme": row.theme,
        "topic": row.topic,
        "cancelled_by_role": None if row.cancelled_by_role is None else row.cancelled_by_role.value,
    }


def _member_view(
    row: MentoringSession, member: TandemMember, feedback: Sequence[Feedback]
) -> dict[str, Any]:
    view = _base_view(row)
    mine = next((f for f in feedback if f.author_id == member.person_id), None)
    view.update(
        {
            "cancelled_by_id": row.cancelled_by_id,
            "cancel_reason": row.cancel_reason,
            "notes": row.private_notes,
            "my_feedback": None
            if mine is None
            else {
                "rating": mine.rating,
                "comment": mine.comment,
                "safety_pulse": mine.safety_pulse,
                "shared_with_partner": mine.shared_with_partner,
                "given_at": mine.created_at,
            },
            # The partner's comment only where they shared it; never a rating or pulse.
            "partner_comments": [
                {"role": f.role.value, "comment": f.comment}
                for f in feedback
                if f.author_id != member.person_id and f.shared_with_partner and f.comment
            ],
            "awaiting_my_feedback": row.status is SessionStatus.HELD and mine is None,
        }
    )
    return view


def _coordinator_view(row: MentoringSession, feedback: Sequence[Feedback]) -> dict[str, Any]:
    view = _base_view(row)
    view["feedback_count"] = len(feedback)
    return view


def _feedback_by_session(session: Session, session_ids: Sequence[int]) -> dict[int, list[Feedback]]:
    out: dict[int, list[Feedback]] = {i: [] for i in session_ids}
    if not session_ids:
        return out
    rows = session.scalars(
        select(Feedback).where(Feedback.session_id.in_(session_ids)).order_by(Feedback.id)
    )
    for f in rows:
        out[f.session_id].append(f)
    return out


def _reader(session: Session, actor: Actor, tandem: Tandem, action: str) -> TandemMember | None:
    """The reading member, ``None`` for a coordinator of the program; else refused.

    ``action`` is a key of :data:`_READERS_ONLY` (and of :data:`_MEMBERS_ONLY`).
    """
    if actor.role is ActorRole.PARTICIPANT:
        return _member(tandem, actor, action)
    if is_coordinator(session, actor, tandem.program_id):
        return None
    raise PermissionDenied(
        _READERS_ONLY[action], field="tandem", tandem=tandem.id, program=tandem.program_id
    )


def list_sessions(session: Session, actor: Actor, tandem_id: int) -> list[dict[str, Any]]:
    """A tandem's sessions, oldest first, as each reader may see them.

    Members see everything: notes, cancel reasons, their own feedback in full and the
    partner's comment where shared (never the partner's rating or pulse). Coordinators
    of the program (and admins) get the same list without notes, feedback or cancel
    reasons: dates, minutes, themes, topics, who cancelled by role, and feedback counts.

    Raises:
        NotFound: No such tandem in the actor's organization.
        PermissionDenied: Anyone else.
    """
    tandem = _tandem(session, actor, tandem_id)
    member = _reader(session, actor, tandem, "list")
    rows = session.scalars(
        select(MentoringSession)
        .where(MentoringSession.tandem_id == tandem.id)
        .order_by(MentoringSession.scheduled_at, MentoringSession.id)
    ).all()
    feedback = _feedback_by_session(session, [r.id for r in rows])
    if member is None:
        return [_coordinator_view(r, feedback[r.id]) for r in rows]
    return [_member_view(r, member, feedback[r.id]) for r in rows]


def session_view(session: Session, actor: Actor, mentoring_session_id: int) -> dict[str, Any]:
    """One session as the reader may see it (the same shape as :func:`list_sessions`).

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: Neither a member nor a coordinator of the program.
    """
    row, tandem = _session(session, actor, mentoring_session_id)
    member = _reader(session, actor, tandem, "see")
    feedback = _feedback_by_session(session, [row.id])[row.id]
    if member is None:
        return _coordinator_view(row, feedback)
    return _member_view(row, member, feedback)


def list_feedback(
    session: Session, actor: Actor, mentoring_session_id: int
) -> list[dict[str, Any]]:
    """The feedback on one session, as the reader may see it.

    A member gets their own feedback in full (``mine`` true) and, for each partner who
    gave feedback, the role and the comment only if it was shared. A coordinator gets
    which roles gave feedback, nothing else.

    Raises:
        NotFound: No such session in the actor's organization.
        PermissionDenied: Neither a member nor a coordinator of the program.
    """
    row, tandem = _session(session, actor, mentoring_session_id)
    member = _reader(session, actor, tandem, "see_feedback")
    out: list[dict[str, Any]] = []
    for f in _feedback_by_session(session, [row.id])[row.id]:
        if member is not None and f.author_id == member.person_id:
            out.append(
                {
                    "mine": True,
                    "role": f.role.value,
                    "rating": f.rating,
                    "comment": f.comment,
                    "safety_pulse": f.safety_pulse,
                    "shared_with_partner": f.shared_with_partner,
                    "given_at": f.created_at,
                }
            )
        elif member is not None:
            shared = f.comment if f.shared_with_partner else None
            out.append({"mine": False, "role": f.role.value, "comment": shared})
        else:
            out.append({"role": f.role.value})
    return out


def session_counts(session: Session, tandem_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Planned, held and cancelled sessions and minutes held, per tandem (for overviews).

    Every id asked for is in the result (zeros when a tandem has no sessions). Only
    counts: nothing private.
    """
    out = {tid: {"planned": 0, "held": 0, "cancelled": 0, "minutes_held": 0} for tid in tandem_ids}
    if not out:
        return out
    rows = session.execute(
        select(
            MentoringSession.tandem_id,
            MentoringSession.status,
            func.count(MentoringSession.id),
            func.coalesce(func.sum(MentoringSession.minutes), 0),
        )
        .where(MentoringSession.tandem_id.in_(list(out)))
        .group_by(MentoringSession.tandem_id, MentoringSession.status)
    )
    for tandem_id, status, count, minutes in rows:
        status = SessionStatus(status)
        out[tandem_id][status.value] = int(count)
        if status is SessionStatus.HELD:
            out[tandem_id]["minutes_held"] = int(minutes or 0)
    return out

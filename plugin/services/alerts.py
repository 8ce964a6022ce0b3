"""Alerts for a program's coordinators: stalled tandems, cancelling seniors, unsafe juniors.

Three causes (mentoring.md §4: the first failure of reverse mentoring is executives
cancelling; the junior's psychological safety must be watched):

* ``stalled`` — an active tandem with no held session for more than 1.5 × the
  program's cadence, counted from the last held session (or from activation when
  there is none). Raised by :func:`scan_program` / :func:`scan_all`, which the worker
  runs periodically.
* ``senior_cancellations`` — the tandem's last two sessions that were not merely
  planned were both cancelled by the same senior (mentee). Raised when it happens.
* ``low_safety`` — a junior's safety pulse of 2 or lower. Raised when it is given.

Each alert is addressed to the program's coordinators at the moment it is raised,
except any coordinator who is a member of the tandem concerned: a senior who also
coordinates never hears what their junior said about safety. Each has a ``dedup_key``
(unique per organization), so one cause raises one alert however often it is checked,
and ``details`` with non-personal facts only (ids, dates, counts — never a pulse,
comment, note or cancel reason). Alerts concern a tandem only while it is accepted or
active.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin import validation
from plugin.access import Actor, ActorRole, coordinated_program_ids, require_coordinator
from plugin.db import utcnow
from plugin.errors import (
    N_,
    ConflictError,
    Msg,
    NotFound,
    PermissionDenied,
    ValidationError,
    word,
    words,
)
from plugin.models import (
    Alert,
    AlertKind,
    AlertStatus,
    EnrollmentRole,
    Feedback,
    MentoringSession,
    Program,
    ProgramStatus,
    SessionStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import audit
from plugin.services.coordinators import coordinator_ids

__all__ = [
    "LOW_SAFETY_MAX",
    "STALL_FACTOR",
    "alert_message",
    "check_low_safety",
    "check_senior_cancellations",
    "check_stalled",
    "get_alert",
    "handle_alert",
    "list_alerts",
    "scan_all",
    "scan_program",
]

#: A tandem stalls after this many cadences without a held session.
STALL_FACTOR = 1.5
#: A safety pulse at or below this alerts the coordinators.
LOW_SAFETY_MAX = 2
#: Tandems alerts may concern.
WATCHED = frozenset({TandemStatus.ACCEPTED, TandemStatus.ACTIVE})
MAX_NOTE = 2000

Progress = Callable[[str, int, int], None]

_NO_PROGRAM = N_("program %(program)s not found")

_NEXT: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED}),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.RESOLVED}),
    AlertStatus.RESOLVED: frozenset(),
}


# --------------------------------------------------------------------------- raising


def _raise(
    session: Session,
    *,
    program: Program,
    tandem: Tandem,
    kind: AlertKind,
    person_id: int | None,
    dedup_key: str,
    details: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """Insert the alert unless its cause was already alerted; ``None`` if it was."""
    seen = session.scalars(
        select(Alert.id).where(Alert.org_id == program.org_id, Alert.dedup_key == dedup_key)
    ).first()
    if seen is not None:
        return None
    members = {m.person_id for m in tandem.members}
    alert = Alert(
        org_id=program.org_id,
        program_id=program.id,
        tandem_id=tandem.id,
        person_id=person_id,
        kind=kind,
        status=AlertStatus.OPEN,
        dedup_key=dedup_key,
        details=details,
        recipients=[p for p in coordinator_ids(session, program) if p not in members],
        raised_at=now,
    )
    try:
        # Another worker may raise the same alert concurrently: the unique dedup key
        # lets exactly one insert win, the other rolls back only this savepoint.
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert


def _program_of(session: Session, tandem: Tandem) -> Program:
    program = session.get(Program, tandem.program_id)
    if program is None:  # pragma: no cover - the foreign key cascades
        raise NotFound(_NO_PROGRAM, field="program", program=tandem.program_id)
    return program


def check_stalled(
    session: Session, tandem: Tandem, *, program: Program, now: datetime | None = None
) -> Alert | None:
    """Raise ``stalled`` if an active tandem held no session for over 1.5 × the cadence.

    The gap counts from the last held session, or from activation if none was held; the
    alert is keyed on that anchor, so a tandem that recovers and stalls again raises a
    new alert. Nothing is checked outside the program's dates.

    Returns:
        The new alert, or ``None`` (not stalled, not active, or already alerted).
    """
    now = now if now is not None else utcnow()
    if tandem.status is not TandemStatus.ACTIVE or program.status is ProgramStatus.CLOSED:
        return None
    starts = datetime.combine(program.starts_on, datetime.min.time(), tzinfo=UTC)
    ends = datetime.combine(program.ends_on + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    if not starts <= now < ends:
        return None
    last = session.execute(
        select(MentoringSession.id, MentoringSession.held_at)
        .where(
            MentoringSession.tandem_id == tandem.id,
            MentoringSession.status == SessionStatus.HELD,
            MentoringSession.held_at.is_not(None),
        )
        .order_by(MentoringSession.held_at.desc(), MentoringSession.id.desc())
        .limit(1)
    ).first()
    anchor = last.held_at if last is not None else tandem.activated_at
    if anchor is None:
        return None
    anchor = anchor.astimezone(UTC)
    if now - anchor <= timedelta(days=STALL_FACTOR * program.cadence_days):
        return None
    return _raise(
        session,
        program=program,
        tandem=tandem,
        kind=AlertKind.STALLED,
        person_id=None,
        dedup_key=f"stalled:t{tandem.id}:{anchor:%Y%m%dT%H%M%S%f}",
        details={
            "tandem_id": tandem.id,
            "days_without_session": (now - anchor).days,
            "cadence_days": program.cadence_days,
            "since": anchor.date().isoformat(),
            "anchor": "last_session" if last is not None else "activation",
            "last_session_id": None if last is None else last.id,
        },
        now=now,
    )


def check_senior_cancellations(
    session: Session, tandem: Tandem, *, now: datetime | None = None
) -> Alert | None:
    """Raise ``senior_cancellations`` when the same senior cancelled twice in a row.

    "In a row" looks at the tandem's sessions that are held or cancelled, by
    ``scheduled_at``: the latest two must both be cancelled by the same member in the
    mentee (senior) role. One alert per streak: a third cancellation in the same
    streak raises nothing new; a held session ends the streak.

    Returns:
        The new alert, or ``None``.
    """
    now = now if now is not None else utcnow()
    if tandem.status not in WATCHED:
        return None
    rows = session.scalars(
        select(MentoringSession)
        .where(
            MentoringSession.tandem_id == tandem.id,
            MentoringSession.status != SessionStatus.PLANNED,
        )
        .order_by(MentoringSession.scheduled_at.desc(), MentoringSession.id.desc())
    ).all()
    streak: list[MentoringSession] = []
    for row in rows:
        if (
            row.status is not SessionStatus.CANCELLED
            or row.cancelled_by_role is not EnrollmentRole.MENTEE
            or row.cancelled_by_id is None
            or (streak and row.cancelled_by_id != streak[0].cancelled_by_id)
        ):
            break
        streak.append(row)
    if len(streak) < 2:
        return None
    first, latest = streak[-1], streak[0]
    return _raise(
        session,
        program=_program_of(session, tandem),
        tandem=tandem,
        kind=AlertKind.SENIOR_CANCELLATIONS,
        person_id=latest.cancelled_by_id,
        dedup_key=f"senior_cancellations:t{tandem.id}:s{first.id}",
        details={
            "tandem_id": tandem.id,
            "cancellations": len(streak),
            "session_ids": [r.id for r in reversed(streak)],
            "last_scheduled_on": latest.scheduled_at.astimezone(UTC).date().isoformat(),
        },
        now=now,
    )


def check_low_safety(
    session: Session, feedback: Feedback, *, now: datetime | None = None
) -> Alert | None:
    """Raise ``low_safety`` for a junior's pulse of 2 or lower (one alert per feedback).

    The alert says that the pulse was low, not what it was, and carries no comment.

    Returns:
        The new alert, or ``None``.
    """
    now = now if now is not None else utcnow()
    if (
        feedback.safety_pulse is None
        or feedback.safety_pulse > LOW_SAFETY_MAX
        or feedback.role is not EnrollmentRole.MENTOR
    ):
        return None
    row = session.get(MentoringSession, feedback.session_id)
    tandem = None if row is None else session.get(Tandem, row.tandem_id)
    if row is None or tandem is None or tandem.status not in WATCHED:
        return None
    held = row.held_at or row.scheduled_at
    return _raise(
        session,
        program=_program_of(session, tandem),
        tandem=tandem,
        kind=AlertKind.LOW_SAFETY,
        person_id=feedback.author_id,
        dedup_key=f"low_safety:f{feedback.id}",
        details={
            "tandem_id": tandem.id,
            "session_id": row.id,
            "session_on": held.astimezone(UTC).date().isoformat(),
        },
        now=now,
    )


def scan_program(session: Session, program_id: int, *, now: datetime | None = None) -> list[Alert]:
    """Check every accepted or active tandem of a program; raise what is due.

    Raises ``stalled`` alerts, and re-checks senior cancellations (idempotent), so an
    alert missed for any reason is raised on the next scan.

    Args:
        session: The unit of work (only flushed).
        program_id: The program.
        now: The current time (default: the clock).

    Returns:
        The alerts raised by this scan (none that existed before).

    Raises:
        NotFound: No such program.
    """
    now = now if now is not None else utcnow()
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(_NO_PROGRAM, field="program", program=program_id)
    tandems = session.scalars(
        select(Tandem)
        .where(Tandem.program_id == program.id, Tandem.status.in_(list(WATCHED)))
        .order_by(Tandem.id)
    ).all()
    raised: list[Alert] = []
    for tandem in tandems:
        for alert in (
            check_stalled(session, tandem, program=program, now=now),
            check_senior_cancellations(session, tandem, now=now),
        ):
            if alert is not None:
                raised.append(alert)
    return raised


def scan_all(
    session: Session, *, now: datetime | None = None, progress: Progress | None = None
) -> int:
    """Scan every running program of every organization (the worker's periodic job).

    Args:
        session: The unit of work (only flushed).
        now: The current time (default: the clock).
        progress: Called with ``("alerts", done, total)`` after each program.

    Returns:
        How many alerts were raised.
    """
    now = now if now is not None else utcnow()
    ids = session.scalars(
        select(Program.id).where(Program.status == ProgramStatus.RUNNING).order_by(Program.id)
    ).all()
    total = 0
    for done, program_id in enumerate(ids, start=1):
        total += len(scan_program(session, program_id, now=now))
        if progress is not None:
            progress("alerts", done, len(ids))
    return total


# --------------------------------------------------------------------------- reading


def _parse_status(status: str | None) -> AlertStatus | None:
    if status is None or status == "all":
        return None
    try:
        return AlertStatus(status)
    except ValueError:
        raise ValidationError(
            N_("unknown alert status %(status)s; choose one of %(choices)s"),
            field="status",
            status=repr(status),
            choices=words([*AlertStatus, Msg(N_("all"))]),
        ) from None


def _refuse_participant(actor: Actor) -> None:
    if actor.role is ActorRole.PARTICIPANT:
        raise PermissionDenied(
            N_("alerts are for the program's coordinators; a participant may not see them"),
            field="alert",
        )


def _own_tandem_ids(session: Session, actor: Actor) -> set[int]:
    """Tandems the actor is a member of: alerts about them are not theirs to see."""
    if actor.person_id is None:
        return set()
    return set(
        session.scalars(
            select(TandemMember.tandem_id).where(
                TandemMember.org_id == actor.org_id, TandemMember.person_id == actor.person_id
            )
        )
    )


def list_alerts(
    session: Session,
    actor: Actor,
    *,
    program_id: int | None = None,
    status: str | None = "open",
) -> Sequence[Alert]:
    """Alerts of one program, or of every program the actor coordinates; newest first.

    A coordinator never sees alerts about a tandem they are a member of.

    Args:
        session: The unit of work.
        actor: A coordinator (of the program) or an admin.
        program_id: One program; all the actor coordinates when omitted.
        status: ``open`` (default), ``acknowledged``, ``resolved``, or ``all`` / ``None``.

    Raises:
        PermissionDenied: A participant, or a coordinator of other programs.
        NotFound: No such program in the actor's organization.
        ValidationError: Unknown status.
    """
    _refuse_participant(actor)
    wanted = _parse_status(status)
    stmt = select(Alert).where(Alert.org_id == actor.org_id)
    if program_id is not None:
        program = session.get(Program, program_id)
        if program is None or program.org_id != actor.org_id:
            raise NotFound(_NO_PROGRAM, field="program", program=program_id)
        require_coordinator(session, actor, program.id)
        stmt = stmt.where(Alert.program_id == program.id)
    else:
        ids = coordinated_program_ids(session, actor)
        if ids is not None:
            if not ids:
                return []
            stmt = stmt.where(Alert.program_id.in_(sorted(ids)))
    if wanted is not None:
        stmt = stmt.where(Alert.status == wanted)
    own = _own_tandem_ids(session, actor)
    if own:
        stmt = stmt.where(
            func.coalesce(Alert.tandem_id, 0).not_in(sorted(own)),
        )
    return session.scalars(stmt.order_by(Alert.raised_at.desc(), Alert.id.desc())).all()


def get_alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    """One alert, for a coordinator of its program (or an admin).

    Raises:
        NotFound: No such alert in the actor's organization.
        PermissionDenied: A participant, a coordinator of another program, or a
            member of the tandem the alert is about.
    """
    _refuse_participant(actor)
    alert = session.get(Alert, alert_id)
    if alert is None or alert.org_id != actor.org_id:
        raise NotFound(N_("alert %(alert)s not found"), field="alert", alert=alert_id)
    require_coordinator(session, actor, alert.program_id)
    if alert.tandem_id is not None and alert.tandem_id in _own_tandem_ids(session, actor):
        raise PermissionDenied(
            N_(
                "alert %(alert)s concerns tandem %(tandem)s, of which you are a member; "
                "another coordinator must handle it"
            ),
            field="alert",
            alert=alert.id,
            tandem=alert.tandem_id,
        )
    return alert


def handle_alert(
    session: Session,
    actor: Actor,
    alert_id: int,
    *,
    status: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Acknowledge or resolve an alert (open → acknowledged → resolved; open → resolved).

    Audited as ``alert.acknowledged`` / ``alert.resolved`` (the note is not copied into
    the audit log).

    Args:
        session: The unit of work (only flushed).
        actor: A coordinator of the alert's program, or an admin.
        alert_id: The alert.
        status: ``acknowledged`` or ``resolved``.
        note: What was done (≤ 2000 characters); replaces an earlier note.
        now: The current time (default: the clock).

    Returns:
        The alert.

    Raises:
        NotFound: No such alert in the actor's organization.
        PermissionDenied: Not a coordinator of the program, or a member of its tandem.
        ValidationError: Unknown status or a note that is too long.
        ConflictError: The move is not allowed from the alert's current status.
    """
    now = now if now is not None else utcnow()
    alert = get_alert(session, actor, alert_id)
    if status not in (AlertStatus.ACKNOWLEDGED.value, AlertStatus.RESOLVED.value):
        raise ValidationError(
            N_("unknown alert action %(action)s; choose acknowledged or resolved"),
            field="status",
            action=repr(status),
        )
    new = AlertStatus(status)
    text = validation.text(note, field="note", limit=MAX_NOTE)
    old = alert.status
    if new not in _NEXT[old]:
        allowed = words(sorted(_NEXT[old]))
        raise ConflictError(
            N_("alert %(alert)s is %(old)s; it cannot become %(new)s (allowed: %(allowed)s)")
            if allowed
            else N_(
                "alert %(alert)s is %(old)s; it cannot become %(new)s "
                "(allowed: nothing (resolved is final))"
            ),
            field="status",
            alert=alert.id,
            old=word(old),
            new=word(new),
            allowed=allowed,
        )
    alert.status = new
    alert.handled_by = actor.label
    alert.handled_at = now
    if text is not None:
        alert.note = text
    session.flush()
    audit.record(
        session,
        org_id=alert.org_id,
        actor=actor.label,
        action=f"alert.{new.value}",
        object_type="alert",
        object_id=alert.id,
        details={
            "program_id": alert.program_id,
            "tandem_id": alert.tandem_id,
            "kind": alert.kind.value,
            "from": old.value,
            "to": new.value,
        },
    )
    return alert


# --------------------------------------------------------------------------- messages


def _de_date(iso: str | None) -> str:
    if not iso:
        return "?"
    year, month, day = iso.split("-")
    return f"{day}.{month}.{year}"


def alert_message(alert: Alert, lang: str = "en") -> str:
    """A sentence for a coordinator, in English (``en``) or German (``de``).

    Built from the alert's ids, dates and counts only — never from anything a
    participant wrote.

    Raises:
        ValidationError: Another language.
    """
    if lang not in ("en", "de"):
        raise ValidationError(
            N_("unknown language %(language)s; choose en or de"), field="lang", language=repr(lang)
        )
    d = alert.details or {}
    tandem = alert.tandem_id if alert.tandem_id is not None else d.get("tandem_id", "?")
    if alert.kind is AlertKind.STALLED:
        days, cadence = d.get("days_without_session", "?"), d.get("cadence_days", "?")
        if d.get("anchor") == "activation":
            if lang == "de":
                return (
                    f"Tandem {tandem} hat seit dem Start vor {days} Tagen noch keine Sitzung "
                    f"abgehalten (Rhythmus: {cadence} Tage)."
                )
            return (
                f"Tandem {tandem} has held no session in the {days} days since it started "
                f"(cadence {cadence} days)."
            )
        if lang == "de":
            return (
                f"Tandem {tandem} hat seit {days} Tagen keine Sitzung abgehalten "
                f"(Rhythmus: {cadence} Tage)."
            )
        return f"Tandem {tandem} has held no session for {days} days (cadence {cadence} days)."
    if alert.kind is AlertKind.SENIOR_CANCELLATIONS:
        count, last = d.get("cancellations", 2), d.get("last_scheduled_on")
        if lang == "de":
            return (
                f"In Tandem {tandem} hat die Senior-Seite {count} Sitzungen in Folge abgesagt "
                f"(zuletzt die vom {_de_date(last)})."
            )
        return (
            f"The senior in tandem {tandem} cancelled {count} sessions in a row "
            f"(the last one planned for {last})."
        )
    on = d.get("session_on")
    if lang == "de":
        return (
            f"In Tandem {tandem} hat die Junior-Seite nach der Sitzung vom {_de_date(on)} "
            "eine geringe psychologische Sicherheit gemeldet."
        )
    return (
        f"The junior in tandem {tandem} reported low psychological safety after the "
        f"session on {on}."
    )

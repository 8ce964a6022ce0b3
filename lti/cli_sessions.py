"""``tandem sessions …`` and ``tandem alerts …``.

Participant commands name the member they act for with ``--as PERSON_ID``; the
organization is the tandem's. Times are given as ``YYYY-MM-DD HH:MM`` in UTC, or in
ISO 8601 with an offset (``2026-03-02T10:00+01:00``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lti.cli import Progress, handle_errors
from lti.cli_common import as_coordinator, as_participant, echo_json, find
from lti.db import commit, get_session
from plugin.access import Actor
from plugin.errors import NotFound, ValidationError
from plugin.models import Alert, MentoringSession, Organization, Person, Program, Tandem
from plugin.services import alerts, organizations, sessions

__all__ = ["alerts_group", "sessions_group"]

TIME_HELP = "YYYY-MM-DD HH:MM in UTC, or ISO 8601 with an offset (2026-03-02T10:00+01:00)"


class UtcTime(click.ParamType[datetime, Any]):
    """A date and time; without an offset it is taken as UTC."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """Parse ``value`` into an aware datetime."""
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if ":" not in text:
                raise ValueError("no time of day")
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not a time; use {TIME_HELP}", param, ctx)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


UTC_TIME = UtcTime()


def _fmt(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _theme(row: MentoringSession) -> str:
    return f" · theme: {row.theme}" if row.theme else ""


@click.group("sessions")
def sessions_group() -> None:
    """Mentoring sessions: plan, hold, cancel, notes, feedback."""


@sessions_group.command("plan")
@click.argument("tandem_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="The member who plans.")
@click.option("--at", "at", type=UTC_TIME, required=True, help=f"When: {TIME_HELP}.")
@click.option("--minutes", type=int, help="Planned length in minutes (1–480).")
@click.option("--topic", help="What to talk about (up to 200 characters).")
@with_appcontext
@handle_errors
def sessions_plan(
    tandem_id: int, person_id: int, at: datetime, minutes: int | None, topic: str | None
) -> None:
    """Plan a session of an active tandem (the theme comes from the program's plan)."""
    tandem = find(Tandem, tandem_id, "tandem")
    row = sessions.plan_session(
        get_session(),
        as_participant(tandem.org_id, person_id),
        tandem.id,
        scheduled_at=at,
        planned_minutes=minutes,
        topic=topic,
    )
    commit()
    length = f" for {row.planned_minutes} min" if row.planned_minutes else ""
    click.echo(
        f"Session {row.id} planned: tandem {tandem.id}, {_fmt(row.scheduled_at)}{length}"
        f"{_theme(row)}"
    )


@sessions_group.command("hold")
@click.argument("session_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="The member who records it.")
@click.option("--minutes", type=int, required=True, help="How long it lasted (1–480).")
@click.option("--at", "at", type=UTC_TIME, help=f"When it took place: {TIME_HELP}.")
@click.option("--topic", help="The topic actually discussed.")
@with_appcontext
@handle_errors
def sessions_hold(
    session_id: int, person_id: int, minutes: int, at: datetime | None, topic: str | None
) -> None:
    """Mark a planned session as held (at its planned time unless --at says otherwise)."""
    meeting = find(MentoringSession, session_id, "session")
    row = sessions.hold_session(
        get_session(),
        as_participant(meeting.org_id, person_id),
        meeting.id,
        minutes=minutes,
        held_at=at,
        topic=topic,
    )
    commit()
    click.echo(f"Session {row.id} held: {row.minutes} min on {_fmt(row.held_at)}{_theme(row)}")


@sessions_group.command("log")
@click.argument("tandem_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="The member who records it.")
@click.option("--at", "at", type=UTC_TIME, required=True, help=f"When it took place: {TIME_HELP}.")
@click.option("--minutes", type=int, required=True, help="How long it lasted (1–480).")
@click.option("--topic", help="What was discussed.")
@with_appcontext
@handle_errors
def sessions_log(
    tandem_id: int, person_id: int, at: datetime, minutes: int, topic: str | None
) -> None:
    """Record a session that took place without being planned."""
    tandem = find(Tandem, tandem_id, "tandem")
    row = sessions.log_session(
        get_session(),
        as_participant(tandem.org_id, person_id),
        tandem.id,
        held_at=at,
        minutes=minutes,
        topic=topic,
    )
    commit()
    click.echo(
        f"Session {row.id} logged: tandem {tandem.id}, {row.minutes} min on {_fmt(row.held_at)}"
        f"{_theme(row)}"
    )


@sessions_group.command("cancel")
@click.argument("session_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="The member who cancels.")
@click.option("--reason", required=True, help="Why (seen by the tandem's members only).")
@with_appcontext
@handle_errors
def sessions_cancel(session_id: int, person_id: int, reason: str) -> None:
    """Cancel a planned session."""
    meeting = find(MentoringSession, session_id, "session")
    s = get_session()
    before = set(s.scalars(select(Alert.id).where(Alert.tandem_id == meeting.tandem_id)))
    row = sessions.cancel_session(
        s, as_participant(meeting.org_id, person_id), meeting.id, reason=reason
    )
    raised = set(s.scalars(select(Alert.id).where(Alert.tandem_id == meeting.tandem_id))) - before
    commit()
    role = row.cancelled_by_role.value if row.cancelled_by_role else "?"
    click.echo(f"Session {row.id} cancelled by the {role}.")
    if raised:
        click.echo("  The program's coordinators were alerted: repeated cancellations.")


@sessions_group.command("notes")
@click.argument("session_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="A member of the tandem.")
@click.option("--set", "text", help="Replace the notes with TEXT ('' clears them).")
@click.option(
    "--file", "source", type=click.File("r", encoding="utf-8"), help="Read the notes from F."
)
@with_appcontext
@handle_errors
def sessions_notes(
    session_id: int, person_id: int, text: str | None, source: TextIO | None
) -> None:
    """Show or set a session's private notes (the tandem's members only)."""
    if text is not None and source is not None:
        raise click.UsageError("give the notes with --set or --file, not both")
    meeting = find(MentoringSession, session_id, "session")
    actor = as_participant(meeting.org_id, person_id)
    s = get_session()
    if text is None and source is None:
        notes = sessions.get_notes(s, actor, meeting.id)
        click.echo(notes if notes is not None else f"(session {meeting.id} has no notes)")
        return
    content = text if text is not None else source.read() if source is not None else ""
    sessions.set_notes(s, actor, meeting.id, text=content)
    commit()
    stored = sessions.get_notes(s, actor, meeting.id)
    if stored is None:
        click.echo(f"Notes of session {meeting.id} cleared.")
    else:
        click.echo(f"Notes of session {meeting.id} saved ({len(stored)} characters).")


@sessions_group.command("feedback")
@click.argument("session_id", type=int)
@click.option("--as", "person_id", type=int, required=True, help="The member giving feedback.")
@click.option("--rating", type=int, required=True, help="How it went, 1–5.")
@click.option("--comment", help="A comment (private unless --share).")
@click.option("--pulse", type=int, help="The junior's psychological-safety pulse, 1–5.")
@click.option(
    "--share", is_flag=True, help="Show the comment (never rating or pulse) to the partner."
)
@with_appcontext
@handle_errors
def sessions_feedback(
    session_id: int,
    person_id: int,
    rating: int,
    comment: str | None,
    pulse: int | None,
    share: bool,
) -> None:
    """Give feedback on a held session (each member once)."""
    meeting = find(MentoringSession, session_id, "session")
    fb = sessions.give_feedback(
        get_session(),
        as_participant(meeting.org_id, person_id),
        meeting.id,
        rating=rating,
        comment=comment,
        safety_pulse=pulse,
        shared_with_partner=share,
    )
    commit()
    shared = " (comment shared with the partner)" if fb.shared_with_partner and fb.comment else ""
    click.echo(f"Feedback on session {meeting.id} recorded: rating {fb.rating}/5{shared}.")


def _session_line(view: dict[str, Any]) -> str:
    when = view["held_at"] or view["scheduled_at"]
    length = view["minutes"] or view["planned_minutes"]
    parts = [f"[{view['id']}] {_fmt(when)}", view["status"]]
    if length:
        parts.append(f"{length} min")
    if view["theme"]:
        parts.append(f"theme: {view['theme']}")
    if view["topic"]:
        parts.append(f"topic: {view['topic']}")
    if view["cancelled_by_role"]:
        parts.append(f"cancelled by the {view['cancelled_by_role']}")
    return " · ".join(parts)


@sessions_group.command("list")
@click.argument("tandem_id", type=int)
@click.option("--as", "person_id", type=int, help="Read as this member (notes and feedback).")
@click.option("--coordinator", "coordinator_id", type=int, help="Read as this coordinator.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def sessions_list(
    tandem_id: int, person_id: int | None, coordinator_id: int | None, as_json: bool
) -> None:
    """List a tandem's sessions, as a member, a coordinator, or (by default) an admin.

    Coordinators and admins never see notes, feedback or cancel reasons.
    """
    if person_id is not None and coordinator_id is not None:
        raise click.UsageError("read either --as a member or as --coordinator, not both")
    tandem = find(Tandem, tandem_id, "tandem")
    actor = (
        as_participant(tandem.org_id, person_id)
        if person_id is not None
        else as_coordinator(tandem.org_id, coordinator_id)
    )
    views = sessions.list_sessions(get_session(), actor, tandem.id)
    if as_json:
        echo_json(views)
        return
    if not views:
        click.echo(f"Tandem {tandem.id} has no sessions yet.")
        return
    for view in views:
        click.echo(_session_line(view))
        if "notes" not in view:
            if view["feedback_count"]:
                click.echo(f"    feedback given: {view['feedback_count']}")
            continue
        if view["cancel_reason"]:
            click.echo(f"    reason: {view['cancel_reason']}")
        if view["notes"]:
            click.echo(f"    notes: {view['notes']}")
        mine = view["my_feedback"]
        if mine is not None:
            pulse = f", safety pulse {mine['safety_pulse']}/5" if mine["safety_pulse"] else ""
            click.echo(f"    my feedback: {mine['rating']}/5{pulse}")
        elif view["awaiting_my_feedback"]:
            click.echo("    awaiting my feedback")
        for partner in view["partner_comments"]:
            click.echo(f"    the {partner['role']} wrote: {partner['comment']}")


# --------------------------------------------------------------------------- alerts


@click.group("alerts")
def alerts_group() -> None:
    """Alerts for program coordinators."""


def _org_id(org_slug: str | None, program_id: int | None, coordinator_id: int | None) -> int:
    s = get_session()
    if org_slug:
        return organizations.get_organization(s, org_slug).id
    if program_id is not None:
        program = s.get(Program, program_id)
        if program is None:
            raise NotFound(f"program {program_id} not found", field="program")
        return program.org_id
    if coordinator_id is not None:
        person = s.get(Person, coordinator_id)
        if person is None:
            raise NotFound(f"person {coordinator_id} not found", field="coordinator")
        return person.org_id
    ids = s.scalars(select(Organization.id).order_by(Organization.id).limit(2)).all()
    if len(ids) != 1:
        raise ValidationError(
            "say which organization with --org" if ids else "no organizations yet", field="org"
        )
    return ids[0]


def _alert_line(alert: Alert, lang: str) -> str:
    return (
        f"[{alert.id}] {alert.status.value} · {alert.kind.value} · program {alert.program_id} · "
        f"raised {_fmt(alert.raised_at)}\n    {alerts.alert_message(alert, lang)}"
    )


@alerts_group.command("list")
@click.option("--program", "program_id", type=int, help="One program (default: all).")
@click.option("--org", "org_slug", help="Organization slug.")
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "resolved", "all"]),
    default="open",
    show_default=True,
)
@click.option("--coordinator", "coordinator_id", type=int, help="List as this coordinator.")
@click.option("--lang", type=click.Choice(["en", "de"]), default="en", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def alerts_list(
    program_id: int | None,
    org_slug: str | None,
    status: str,
    coordinator_id: int | None,
    lang: str,
    as_json: bool,
) -> None:
    """List alerts, newest first (as an admin unless --coordinator is given)."""
    actor = as_coordinator(_org_id(org_slug, program_id, coordinator_id), coordinator_id)
    rows = alerts.list_alerts(get_session(), actor, program_id=program_id, status=status)
    if as_json:
        echo_json(
            [
                {
                    "id": a.id,
                    "program_id": a.program_id,
                    "tandem_id": a.tandem_id,
                    "person_id": a.person_id,
                    "kind": a.kind.value,
                    "status": a.status.value,
                    "message": alerts.alert_message(a, lang),
                    "details": a.details,
                    "recipients": a.recipients,
                    "raised_at": a.raised_at,
                    "handled_by": a.handled_by,
                    "handled_at": a.handled_at,
                    "note": a.note,
                }
                for a in rows
            ]
        )
        return
    if not rows:
        click.echo(f"no {'' if status == 'all' else status + ' '}alerts")
        return
    for alert in rows:
        click.echo(_alert_line(alert, lang))
        if alert.note:
            click.echo(f"    note ({alert.handled_by}): {alert.note}")


@alerts_group.command("scan")
@click.option("--program", "program_id", type=int, help="One program (default: every running one).")
@click.option(
    "--as-of",
    "as_of",
    type=UTC_TIME,
    help=f"Check as of this time instead of now (e.g. to replay a simulated program): {TIME_HELP}.",
)
@with_appcontext
@handle_errors
def alerts_scan(program_id: int | None, as_of: datetime | None) -> None:
    """Raise the alerts that are due (stalled tandems, missed cancellation streaks)."""
    s = get_session()
    if program_id is not None:
        raised = alerts.scan_program(s, program_id, now=as_of)
        commit()
        click.echo(f"program {program_id}: {len(raised)} alert(s) raised")
        for alert in raised:
            click.echo(_alert_line(alert, "en"))
        return
    count = alerts.scan_all(s, now=as_of, progress=Progress())
    commit()
    click.echo(f"{count} alert(s) raised across every running program")


def _handle(alert_id: int, status: str, note: str | None, coordinator_id: int | None) -> None:
    s = get_session()
    row = s.get(Alert, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} not found", field="alert")
    actor: Actor = as_coordinator(row.org_id, coordinator_id)
    alert = alerts.handle_alert(s, actor, row.id, status=status, note=note)
    commit()
    click.echo(f"Alert {alert.id} {alert.status.value} by {alert.handled_by}.")


@alerts_group.command("ack")
@click.argument("alert_id", type=int)
@click.option("--note", help="What you are doing about it.")
@click.option("--coordinator", "coordinator_id", type=int, help="Act as this coordinator.")
@with_appcontext
@handle_errors
def alerts_ack(alert_id: int, note: str | None, coordinator_id: int | None) -> None:
    """Acknowledge an open alert (audited)."""
    _handle(alert_id, "acknowledged", note, coordinator_id)


@alerts_group.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--note", help="What was done.")
@click.option("--coordinator", "coordinator_id", type=int, help="Act as this coordinator.")
@with_appcontext
@handle_errors
def alerts_resolve(alert_id: int, note: str | None, coordinator_id: int | None) -> None:
    """Resolve an open or acknowledged alert (audited)."""
    _handle(alert_id, "resolved", note, coordinator_id)

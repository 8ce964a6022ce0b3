"""The pages a launch lands on: read-only views over the core's services.

Every page starts with :func:`lti.web_session.require` (no session → 401), looks the
program up in the session's organization (another organization's program → 404) and
reads through the services with an actor built from the session, so the services decide
who sees what (a participant's dashboard → 403, private notes only to members).

The pages about one's own participation (my tandem, sessions, self-assessment,
feedback) act as the session's person in the participant role, also when the launch
gave coordinator rights: a teacher who takes part in a program sees their own tandem as
a member does, never less and never more. The dashboard acts with the launch's role.

User-facing strings go through :func:`_` (a pass-through for now) so that real
translations can be dropped in later; dates and alert sentences already follow the
session's locale (``de…`` → German).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, g, render_template
from sqlalchemy.orm import Session

from lti import web_session
from lti.db import get_session
from lti.i18n import _, ngettext
from lti.web_session import WebSession
from plugin.access import Actor, coordinated_program_ids
from plugin.errors import PermissionDenied
from plugin.models import (
    EnrollmentRole,
    EnrollmentStatus,
    LtiLink,
    Person,
    Program,
    SessionStatus,
    Tandem,
    TandemStatus,
)
from plugin.services import (
    alerts,
    assessments,
    completions,
    enrollments,
    participation,
    programs,
    sessions,
    tandems,
)

__all__ = ["bp", "html_lang", "missing_texts", "page_language"]

bp = Blueprint("pages", __name__, url_prefix="/app")

_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
_SUMMARY_CHARS = 280
_FINAL = (TandemStatus.COMPLETED, TandemStatus.DISSOLVED, TandemStatus.REJECTED)

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}


# --------------------------------------------------------------------------- i18n


def page_language(locale: str | None) -> str:
    """The language of dates and alert sentences: ``de`` for a German locale, else ``en``."""
    return "de" if (locale or "").lower().startswith("de") else "en"


def html_lang() -> str:
    """The ``<html lang>`` of the current page: the session's locale, ``en`` without one.

    Reads only a session already loaded in this request (never the database), so error
    pages can call it safely.
    """
    ws: WebSession | None = g.get("tandem_web_session")
    tag = (ws.locale if ws else "en").replace("_", "-")
    return tag if _LANG_TAG.match(tag) else "en"


def _now() -> datetime:
    """The current time (a seam for tests)."""
    return datetime.now(UTC)


def _zone(person: Person | None) -> ZoneInfo:
    name = person.time_zone if person is not None else None
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def _fmt_date(value: date | datetime | str | None, lang: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        value = value.date()
    month = _MONTHS[lang][value.month - 1]
    if lang == "de":
        return f"{value.day}. {month} {value.year}"
    return f"{value.day} {month} {value.year}"


def _fmt_datetime(value: datetime | None, lang: str, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone)
    return f"{_fmt_date(local, lang)}, {local:%H:%M} {local.tzname() or ''}".rstrip()


# --------------------------------------------------------------------------- labels


def role_label(role: str | EnrollmentRole | None) -> str:
    """A person's role in words."""
    value = getattr(role, "value", role)
    if value == EnrollmentRole.MENTOR.value:
        return _("Junior (mentor)")
    if value == EnrollmentRole.MENTEE.value:
        return _("Senior (mentee)")
    return str(value or "")


def program_status_label(status: str) -> str:
    """A program's status in words."""
    return {
        "draft": _("In preparation"),
        "enrolling": _("Open for enrolment"),
        "matching": _("Matching in progress"),
        "running": _("Running"),
        "closed": _("Closed"),
    }.get(status, status)


def format_label(fmt: str) -> str:
    """A program's format in words."""
    return {
        "one_to_one": _("One-to-one: one junior mentors one senior"),
        "group": _("Group: three or four juniors with one or two seniors"),
        "bidirectional": _("Bidirectional: peers who teach each other"),
        "project": _("Project: a tandem works on a shared deliverable"),
    }.get(fmt, fmt)


def tandem_status_label(status: str) -> str:
    """A tandem's status in words."""
    return {
        "proposed": _("Proposed"),
        "accepted": _("Accepted"),
        "active": _("Active"),
        "completed": _("Completed"),
        "dissolved": _("Ended early"),
        "rejected": _("Declined"),
    }.get(status, status)


def session_status_label(status: str) -> str:
    """A mentoring session's status in words."""
    return {"planned": _("Planned"), "held": _("Held"), "cancelled": _("Cancelled")}.get(
        status, status
    )


def goal_status_label(status: str) -> str:
    """A goal's status in words."""
    return {
        "open": _("Open"),
        "in_progress": _("In progress"),
        "met": _("Met"),
        "dropped": _("Dropped"),
    }.get(status, status)


def enrollment_status_label(status: str) -> str:
    """An enrollment's status in words."""
    return {"active": _("Taking part"), "withdrawn": _("Withdrawn")}.get(status, status)


def _tandem_status_text(view: Mapping[str, Any]) -> str:
    status = view["status"]
    if status == TandemStatus.PROPOSED.value:
        return _("You have been matched. The tandem starts once everyone has accepted.")
    if status == TandemStatus.ACCEPTED.value:
        return _("Everyone accepted. The tandem becomes active once nothing is missing.")
    if status == TandemStatus.ACTIVE.value:
        return _("Your tandem is active: meet regularly and log your sessions.")
    if status == TandemStatus.COMPLETED.value:
        return _("Your tandem has completed. Thank you for taking part!")
    if status == TandemStatus.DISSOLVED.value:
        if view.get("no_fault"):
            return _("Your tandem ended early, through no fault of its members.")
        return _("Your tandem ended early.")
    return _("This match was declined.")


def _waiting_texts(view: Mapping[str, Any], me: int) -> list[str]:
    names = {m["person_id"]: m["name"] for m in view.get("members", [])}
    out: list[str] = []
    for item in view.get("waiting_for", []):
        if item == "program_start":
            out.append(_("the program to start"))
        elif item == "kickoff":
            out.append(_("the kick-off meeting to be recorded"))
        elif item == "members":
            out.append(_("a partner: someone has withdrawn"))
        elif item.startswith("confidentiality:"):
            pid = int(item.split(":", 1)[1]) if item.split(":", 1)[1].isdigit() else None
            if pid == me:
                out.append(_("you to accept the confidentiality agreement"))
            else:
                name = names.get(pid, _("a partner")) if pid is not None else _("a partner")
                out.append(_("%(name)s to accept the confidentiality agreement", name=name))
        else:
            out.append(item)
    return out


def _next_step_texts(steps: Iterable[str]) -> list[str]:
    texts = {
        "respond": _("Accept or decline the proposed match."),
        "accept_confidentiality": _("Accept the program's confidentiality agreement."),
        "kickoff": _("Hold your kick-off meeting and record your expectations."),
    }
    return [texts.get(s, s) for s in steps]


def _summary(text: str) -> str:
    first = text.strip().split("\n\n", 1)[0].strip()
    if len(first) <= _SUMMARY_CHARS:
        return first
    cut = first[:_SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


# --------------------------------------------------------------------------- helpers


def _participant(ws: WebSession) -> Actor:
    """The session's person acting for themselves (see the module docstring)."""
    return Actor.participant(ws.org_id, ws.person_id, label=f"lti:person:{ws.person_id}")


def _program(ws: WebSession, program_id: int) -> Program:
    return programs.get_program(get_session(), org_id=ws.org_id, program_id=program_id)


def _coordinates(db: Session, ws: WebSession, program_id: int) -> bool:
    if not ws.is_coordinator:
        return False
    ids = coordinated_program_ids(db, ws.actor())
    return ids is None or program_id in ids


def _my_tandems(db: Session, actor: Actor, program_id: int) -> list[Tandem]:
    rows = list(tandems.my_tandems(db, actor, program_id=program_id))
    # Working tandems first, then the ones that ended; newest first within each.
    return sorted(rows, key=lambda t: t.status in _FINAL)


def _render(template: str, ws: WebSession, **context: Any) -> str:
    db = get_session()
    person = db.get(Person, ws.person_id)
    lang = page_language(ws.locale)
    zone = _zone(person)

    def fmt_date(value: Any) -> str:
        return _fmt_date(value, lang)

    def fmt_datetime(value: Any) -> str:
        return _fmt_datetime(value, lang, zone)

    return render_template(
        template,
        ws=ws,
        lang=lang,
        fmt_date=fmt_date,
        fmt_datetime=fmt_datetime,
        role_label=role_label,
        program_status_label=program_status_label,
        format_label=format_label,
        tandem_status_label=tandem_status_label,
        session_status_label=session_status_label,
        goal_status_label=goal_status_label,
        enrollment_status_label=enrollment_status_label,
        **context,
    )


@bp.app_context_processor
def _i18n_helpers() -> dict[str, Any]:
    # App-wide: base.html (also used by error pages) calls it; `_` comes from Flask-Babel.
    return {"html_lang": html_lang}


@bp.after_request
def _no_store(response: Response) -> Response:
    # Personal pages: never kept by a shared cache or the browser's back-forward cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- pages


@bp.get("/")
def home() -> str:
    """The person's programs: enrolled, invited and coordinated."""
    ws = web_session.require()
    db = get_session()
    actor = _participant(ws)
    latest: dict[int, Tandem] = {}
    for t in tandems.my_tandems(db, actor):
        latest.setdefault(t.program_id, t)
    enrolled: list[dict[str, Any]] = []
    seen: set[int] = set()
    for e in participation.own_enrollments(db, _participant(ws)):
        program = db.get(Program, e.program_id)
        if program is None:  # pragma: no cover - the foreign key cascades
            continue
        seen.add(program.id)
        tandem = latest.get(program.id)
        enrolled.append(
            {
                "program": program,
                "role": e.role.value,
                "status": e.status.value,
                "tandem_status": tandem.status.value if tandem is not None else None,
            }
        )
    invited = [p for p in participation.invited_programs(db, actor) if p.id not in seen]
    coordinated = participation.coordinated_programs(db, ws.actor()) if ws.is_coordinator else []
    return _render(
        "pages/home.html",
        ws,
        enrolled=enrolled,
        invited=invited,
        coordinated=coordinated,
    )


@bp.get("/programs/<int(max=2147483647):program_id>")
def program_overview(program_id: int) -> str:
    """What the program is, and where the person stands in it."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    today = _now().date()
    return _render(
        "pages/program_overview.html",
        ws,
        program=program,
        themes=sorted(
            (t for t in program.theme_plan or () if isinstance(t, Mapping)),
            key=lambda t: t.get("month", 0),
        ),
        current_theme=sessions.theme_for(program, today),
        confidentiality_summary=_summary(program.confidentiality_text or ""),
        my_enrollments=participation.own_enrollments(db, _participant(ws), program.id),
        invitation=participation.invitation(db, _participant(ws), program.id),
        coordinates=_coordinates(db, ws, program.id),
    )


def missing_texts(status: completions.CompletionStatus) -> list[str]:
    """What is still missing for completion, in the page's language.

    The core's ``status.missing`` is English prose; the pages say it from the figures.
    """
    if status.completion is not None:
        return []
    out: list[str] = []
    more = max(status.sessions_needed - status.sessions_held, 0)
    if more:
        out.append(
            ngettext(
                "%(num)d more session of at least %(minutes)s minutes",
                "%(num)d more sessions of at least %(minutes)s minutes",
                more,
                minutes=status.min_minutes,
            )
        )
    if status.post_required and not status.post_assessment:
        out.append(_("the post-assessment"))
    if status.withdrawn:
        out.append(_("an active enrolment (you withdrew)"))
    return out


def _progress(db: Session, actor: Actor, program_id: int, role: str) -> dict[str, Any]:
    status = completions.my_completion(db, actor, program_id, role=role)
    return {**status.as_dict(), "missing": missing_texts(status)}


@bp.get("/programs/<int(max=2147483647):program_id>/me")
def my_tandem(program_id: int) -> str:
    """The participant page: partners, why we were matched, what is next, my progress."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    actor = _participant(ws)
    lang = page_language(ws.locale)
    now = _now()
    mine = participation.own_enrollments(db, _participant(ws), program.id)
    cards: list[dict[str, Any]] = []
    in_tandem_roles: set[str] = set()
    for t in _my_tandems(db, actor, program.id):
        view = tandems.tandem_view(db, actor, t.id)
        me = view["you"]["person_id"]
        in_tandem_roles.add(view["you"]["role"])
        shows_partners = t.status is not TandemStatus.PROPOSED or t.approved_at is not None
        explanation = (t.explanation or {}) if shows_partners else {}
        why = list(explanation.get(lang) or explanation.get("en") or [])
        upcoming = [
            s
            for s in sessions.list_sessions(db, actor, t.id)
            if s["status"] == SessionStatus.PLANNED.value and s["scheduled_at"] >= now
        ]
        cards.append(
            {
                "view": view,
                "partners": [m for m in view["members"] if m["person_id"] != me],
                "why": why,
                "status_text": _tandem_status_text(view),
                "waiting": _waiting_texts(view, me),
                "next_steps": _next_step_texts(view.get("next", [])),
                "next_session": min(upcoming, key=lambda s: s["scheduled_at"], default=None),
                "progress": _progress(db, actor, program.id, view["you"]["role"]),
                "goals": view.get("goals", []),
            }
        )
    # Enrolled but not (yet) in a tandem in that role: progress still counts.
    waiting_enrollments = [
        {"enrollment": e, "progress": _progress(db, actor, program.id, e.role.value)}
        for e in mine
        if e.role.value not in in_tandem_roles
    ]
    return _render(
        "pages/my_tandem.html",
        ws,
        program=program,
        cards=cards,
        enrolled=bool(mine),
        waiting_enrollments=waiting_enrollments,
        theme=sessions.theme_for(program, now.date()),
        invitation=None if mine else participation.invitation(db, _participant(ws), program.id),
        coordinates=_coordinates(db, ws, program.id),
    )


@bp.get("/programs/<int(max=2147483647):program_id>/sessions", endpoint="sessions")
def sessions_page(program_id: int) -> str:
    """The session log of the person's tandem(s), private notes included (members only)."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    actor = _participant(ws)
    logs = []
    for t in _my_tandems(db, actor, program.id):
        view = tandems.tandem_view(db, actor, t.id)
        me = view["you"]["person_id"]
        logs.append(
            {
                "view": view,
                "partners": [m for m in view["members"] if m["person_id"] != me],
                "sessions": sessions.list_sessions(db, actor, t.id),
            }
        )
    return _render(
        "pages/sessions.html",
        ws,
        program=program,
        logs=logs,
        enrolled=bool(participation.own_enrollments(db, _participant(ws), program.id)),
        coordinates=_coordinates(db, ws, program.id),
    )


@bp.get("/programs/<int(max=2147483647):program_id>/self-assessment")
def self_assessment(program_id: int) -> str:
    """The status of the person's pre/post assessments, and the program's skills."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    actor = _participant(ws)
    data: dict[str, Any] | None
    try:
        data = assessments.my_assessments(db, actor, program.id)
    except PermissionDenied:  # not enrolled: explained on the page
        data = None
    skills = (
        data["skills"]
        if data is not None
        else [
            {"code": s.code, "name": s.name, "name_de": s.name_de or s.name}
            for s in assessments.program_skills(db, program)
        ]
    )
    return _render(
        "pages/self_assessment.html",
        ws,
        program=program,
        data=data,
        skills=skills,
        kinds=("pre", "post", "follow_up"),
        coordinates=_coordinates(db, ws, program.id),
    )


@bp.get("/programs/<int(max=2147483647):program_id>/feedback")
def feedback(program_id: int) -> str:
    """Feedback the person gave on held sessions, and what partners shared with them."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    actor = _participant(ws)
    logs = []
    for t in _my_tandems(db, actor, program.id):
        view = tandems.tandem_view(db, actor, t.id)
        me = view["you"]["person_id"]
        held = [
            s
            for s in sessions.list_sessions(db, actor, t.id)
            if s["status"] == SessionStatus.HELD.value
        ]
        rows = []
        for s in held:
            entries = sessions.list_feedback(db, actor, s["id"])
            rows.append(
                {
                    "session": s,
                    "mine": next((f for f in entries if f.get("mine")), None),
                    "shared": [f for f in entries if not f.get("mine") and f.get("comment")],
                }
            )
        logs.append(
            {
                "view": view,
                "partners": [m for m in view["members"] if m["person_id"] != me],
                "rows": rows,
            }
        )
    return _render(
        "pages/feedback.html",
        ws,
        program=program,
        logs=logs,
        enrolled=bool(participation.own_enrollments(db, _participant(ws), program.id)),
        coordinates=_coordinates(db, ws, program.id),
    )


def _count_by(values: Iterable[str], keys: Sequence[str]) -> dict[str, int]:
    counted = Counter(values)
    return {k: counted.get(k, 0) for k in keys}


@bp.get("/programs/<int(max=2147483647):program_id>/dashboard")
def dashboard(program_id: int) -> str:
    """The coordinator dashboard: aggregates and alerts only, never anything private."""
    ws = web_session.require()
    db = get_session()
    program = _program(ws, program_id)
    actor = ws.actor()
    lang = page_language(ws.locale)
    # Access checks first: a participant or another program's coordinator gets 403 here.
    rows = tandems.program_tandems(db, actor, program.id)
    open_alerts = alerts.list_alerts(db, actor, program_id=program.id, status="open")
    done = completions.list_completions(db, actor, program.id)
    people = enrollments.list_enrollments(db, program=program, active_only=False)
    roles = [r.value for r in EnrollmentRole]
    by_role = {
        role: {
            "active": sum(
                1 for e in people if e.role.value == role and e.status is EnrollmentStatus.ACTIVE
            ),
            "withdrawn": sum(
                1 for e in people if e.role.value == role and e.status is EnrollmentStatus.WITHDRAWN
            ),
        }
        for role in roles
    }
    # Names only (the coordinator sees them in the tandem overview too), to place an alert.
    names = {r["id"]: [m["name"] for m in r["members"]] for r in rows}
    link = db.get(LtiLink, ws.link_id) if ws.link_id is not None else None
    roster_available = bool(link is not None and link.org_id == ws.org_id and link.memberships_url)
    return _render(
        "pages/dashboard.html",
        ws,
        program=program,
        by_role=by_role,
        enrolled_total=sum(v["active"] for v in by_role.values()),
        tandem_counts=_count_by((r["status"] for r in rows), [s.value for s in TandemStatus]),
        tandems_total=len(rows),
        flagged=sum(1 for r in rows if r["flagged"]),
        alerts=[
            {
                "alert": a,
                "message": alerts.alert_message(a, lang),
                "raised_at": a.raised_at,
                "members": names.get(a.tandem_id, []) if a.tandem_id is not None else [],
            }
            for a in open_alerts
        ],
        completions=len(done),
        roster_available=roster_available,
    )

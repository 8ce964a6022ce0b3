"""Coordinator pages: programs, enrollments, matching, follow-up, report, write-back.

Every page is for a web session with coordinator rights (``ws.is_coordinator``: the
launch's Instructor/Administrator roles); a participant gets 403. A program page also
requires coordinating that program (:func:`plugin.access.is_coordinator`); a program of
another organization, or one that does not exist, is 404. Creating a program makes its
creator one of its coordinators.

The views parse (marshmallow, :mod:`lti.forms`, CSRF first), call the core's services and
render; a POST that succeeds redirects (303) to a page that shows a notice
(``?done=<key>``). A form with errors is shown again with status 400 and each error
beside its field; a refusal of the core shows its message with its status (403/404/409).
The request's database session commits only after a response below 400, so an error
writes nothing.

Invitations from the HRIS and from a CSV file go through
:func:`plugin.services.roster.invite_people` (never enrolling anybody: people enrol
themselves, with their consent); the feedback trend and sessions per month come from
:func:`plugin.services.report.feedback_trend` and :func:`~plugin.services.report.sessions_by_month`
(ratings withheld for months with fewer than :data:`plugin.services.report.MIN_GROUP`
authors); the write-back page lists the program's messages with
:func:`plugin.services.outbox.list_program_messages`. Payloads (personal data) are never
shown; a coordinator retries only a message of their own program.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from flask import Blueprint, Response, redirect, request, url_for
from flask_babel import format_decimal, format_percent
from marshmallow import ValidationError as SchemaError
from marshmallow import fields, validate, validates_schema
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as WerkzeugResponse

from lti import pages, web_session
from lti.db import get_session
from lti.forms import Form, FormSchema, parse
from lti.i18n import _, current_language, error_text, ngettext
from lti.web_session import WebSession
from plugin.access import Actor, is_coordinator
from plugin.errors import (
    ConflictError,
    MatchError,
    NotFound,
    PermissionDenied,
    PluginError,
)
from plugin.models import (
    AlertStatus,
    Connection,
    EnrollmentRole,
    EnrollmentStatus,
    MatchRunStatus,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Program,
    ProgramFormat,
    ProgramStatus,
    Tandem,
    TandemStatus,
)
from plugin.services import (
    alerts,
    connections,
    coordination,
    coordinators,
    enrollments,
    matching,
    outbox,
    participation,
    programs,
    report,
    roster,
)

__all__ = ["bp"]

bp = Blueprint("coordinator", __name__, url_prefix="/app/coordinate")

_ID = "int(max=2147483647)"

#: Theme inputs the program form carries (a program lasts at most three years).
THEME_FIELDS = 37
#: Theme inputs shown for a new program.
THEME_ROWS_NEW = 12
#: Scoring weights, in the order the form shows them.
WEIGHTS = (
    "topic_fit",
    "cross_department",
    "seniority_gap",
    "shared_language",
    "timezone",
    "preference",
    "previous_pairing_penalty",
)
#: A CSV upload may have at most this many bytes and rows.
MAX_CSV_BYTES = 1_000_000
MAX_CSV_ROWS = 5000
#: People listed at once on the HRIS page; invited at once with "all matching".
HRIS_PAGE = 200
MAX_INVITE = 5000
#: Outbox messages per status searched for a program's messages (the service's maximum).
OUTBOX_WINDOW = 1000

_EMAIL_HEADERS = frozenset({"email", "e-mail", "e_mail", "mail", "email address"})
_EMPLOYEE_HEADERS = frozenset(
    {"employee_id", "employee id", "employeeid", "personalnummer", "user_id", "userid"}
)
_CSV_INJECTION = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------- labels


def _objective_label(value: str) -> str:
    return {
        "best_total": _("Best total score"),
        "most_matched": _("Most people matched first"),
    }.get(value, value)


def _weight_labels() -> dict[str, tuple[str, str]]:
    return {
        "topic_fit": (
            _("Topic fit"),
            _("What the junior offers against what the senior wants to learn."),
        ),
        "cross_department": (
            _("Different departments"),
            _("Pairs from different departments score higher."),
        ),
        "seniority_gap": (
            _("Seniority gap"),
            _("A larger grade gap within the allowed band scores higher."),
        ),
        "shared_language": (_("Shared language"), _("More languages in common score higher.")),
        "timezone": (_("Time zones"), _("Closer time zones score higher.")),
        "preference": (_("Preferences"), _("People someone asked to be paired with.")),
        "previous_pairing_penalty": (
            _("Penalty for earlier pairs"),
            _("Lowers the score of people who were paired before."),
        ),
    }


def _rule_label(rule: str) -> str:
    return {
        "different_org": _("Different organization"),
        "avoid": _("Someone asked not to be paired"),
        "management_chain": _("Same management chain"),
        "seniority_band": _("Outside the seniority band"),
        "no_shared_language": _("No shared language"),
        "timezone": _("Time zones too far apart"),
    }.get(rule, rule)


def _unmatched_reason_label(reason: str) -> str:
    return {
        "no_candidates": _("Every possible partner is ruled out by a hard rule."),
        "only_negative": _("Every remaining partner scores zero or less."),
        "capacity": _("Suitable partners are at capacity."),
        "partners_taken": _("Every suitable partner was matched with someone else."),
        "group_not_formed": _("No complete group could be formed."),
        "not_selected": _("The solver stopped before finding a place."),
    }.get(reason, reason)


def _stage_label(stage: str) -> str:
    return {
        "encode": _("preparing"),
        "score": _("scoring"),
        "solve": _("solving"),
        "price": _("checking"),
        "explain": _("explaining"),
    }.get(stage, stage)


def _run_status_label(status: str) -> str:
    return {
        "succeeded": _("Ready for review"),
        "failed": _("Failed"),
        "approved": _("Published"),
        "discarded": _("Replaced by a later run"),
    }.get(status, status)


def _alert_status_label(status: str) -> str:
    return {
        "open": _("Open"),
        "acknowledged": _("Acknowledged"),
        "resolved": _("Resolved"),
    }.get(status, status)


def _alert_kind_label(kind: str) -> str:
    return {
        "stalled": _("No sessions"),
        "senior_cancellations": _("Repeated cancellations"),
        "low_safety": _("Low psychological safety"),
    }.get(kind, kind)


def _outbox_status_label(status: str) -> str:
    return {
        "pending": _("Pending"),
        "delivering": _("Being delivered"),
        "delivered": _("Delivered"),
        "dead": _("Failed"),
    }.get(status, status)


def _outbox_kind_label(kind: str) -> str:
    return {
        "completion": _("Completion"),
        "hours": _("Learning hours"),
        "skill_gain": _("Skill gain"),
        "progress": _("Progress"),
    }.get(kind, kind)


def _invitation_source_label(source: str) -> str:
    if source.startswith("nrps:"):
        return _("Course roster")
    return {"hris": _("HR system"), "csv": _("CSV upload")}.get(source, source)


def _transition_label(status: ProgramStatus, current: ProgramStatus) -> str:
    if status is ProgramStatus.ENROLLING:
        if current is ProgramStatus.MATCHING:
            return _("Reopen enrolment")
        return _("Open enrolment")
    return {
        ProgramStatus.MATCHING: _("Close enrolment and start matching"),
        ProgramStatus.RUNNING: _("Start the program"),
        ProgramStatus.CLOSED: _("Close the program"),
    }.get(status, status.value)


def _connection_label(connection: Connection) -> str:
    kind = {
        "successfactors": "SAP SuccessFactors",
        "workday": "Workday",
        "moodle": "Moodle",
    }.get(connection.kind.value, connection.kind.value)
    return f"{kind} · {connection.name}"


def _notice(done: str | None, args: Mapping[str, Any]) -> str | None:
    if not done:
        return None

    def count(name: str) -> int:
        try:
            return max(0, int(args.get(name, 0)))
        except (TypeError, ValueError):
            return 0

    if done == "invited":
        invited = ngettext("%(num)d person invited.", "%(num)d people invited.", count("invited"))
        rest = _(
            "Already invited: %(again)s. Already enrolled: %(enrolled)s. Not available "
            "(inactive or unknown): %(unavailable)s. Invited people decide themselves whether "
            "to enrol.",
            again=count("already_invited"),
            enrolled=count("already_enrolled"),
            unavailable=count("unavailable"),
        )
        return f"{invited} {rest}"
    texts = {
        "created": _("The program was created in preparation. You coordinate it."),
        "updated": _("The program was saved."),
        "status": _("The program's status was changed."),
        "matched": _("Matching finished. Review the proposals below, then publish them."),
        "accepted": _("The proposal was approved."),
        "rejected": _("The proposal was rejected; its members are free for the next run."),
        "locked": _("The tandem is locked: re-runs keep it."),
        "unlocked": _("The tandem is unlocked."),
        "swapped": _("The two proposals exchanged members and were scored again."),
        "published": _(
            "The proposals were published. Their members are now asked to accept the match."
        ),
        "alert": _("The alert was updated."),
        "retried": _("The message will be sent again shortly."),
    }
    return texts.get(done)


# --------------------------------------------------------------------------- formatting


def _now() -> datetime:
    """The current time (a seam for tests)."""
    return datetime.now(UTC)


def _num(value: float | int | None, places: int = 2) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "#" * places if places else "")
    return str(format_decimal(value, format=pattern))


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    return str(format_percent(value, format="#,##0 %"))


def _month_label(year: int, month: int) -> str:
    name = pages._MONTHS[current_language()][month - 1]
    return f"{name} {year}"


def _program_months(starts_on: date, ends_on: date) -> int:
    """Calendar months a program touches (the core's rule for theme plans)."""
    months = (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month
    return max(1, months + (1 if ends_on.day > starts_on.day else 0))


# --------------------------------------------------------------------------- access


def _coordinator(ws: WebSession) -> Actor:
    if not ws.is_coordinator:
        raise PermissionDenied(
            _(
                "These pages are for program coordinators. Open Tandem from a course in "
                "which you teach or administer."
            )
        )
    return ws.actor()


def _load(program_id: int) -> tuple[WebSession, Session, Actor, Program]:
    """The session, database, actor and a program the actor coordinates."""
    ws = web_session.require()
    actor = _coordinator(ws)
    db = get_session()
    try:
        program = programs.get_program(db, org_id=ws.org_id, program_id=program_id)
    except NotFound:
        raise NotFound(_("This program does not exist in your organization.")) from None
    if not is_coordinator(db, actor, program.id):
        raise PermissionDenied(
            _("You do not coordinate this program. Ask one of its coordinators to add you.")
        )
    return ws, db, actor, program


def _done(endpoint: str, key: str, **values: Any) -> WerkzeugResponse:
    return redirect(url_for(endpoint, done=key, **values), code=303)


def _render(template: str, ws: WebSession, *, status: int = 200, **context: Any) -> Any:
    html = pages._render(
        template,
        ws,
        notice=_notice(request.args.get("done"), request.args),
        num=_num,
        pct=_pct,
        objective_label=_objective_label,
        rule_label=_rule_label,
        run_status_label=_run_status_label,
        alert_status_label=_alert_status_label,
        alert_kind_label=_alert_kind_label,
        outbox_status_label=_outbox_status_label,
        outbox_kind_label=_outbox_kind_label,
        invitation_source_label=_invitation_source_label,
        unmatched_reason_label=_unmatched_reason_label,
        **context,
    )
    return (html, status) if status != 200 else html


def _add_error(form: Form, name: str, message: str) -> None:
    form.errors.setdefault(name, []).append(message)
    form.data = {}


def _fail(
    form: Form,
    exc: PluginError,
    *,
    aliases: Mapping[str | None, str] | None = None,
    messages: Mapping[tuple[type[PluginError], str | None], str] | None = None,
) -> int:
    """Show a refusal of the core on its field (translated where the page knows the case)."""
    text = error_text(exc)
    for (kind, name), message in (messages or {}).items():
        if isinstance(exc, kind) and exc.field == name:
            text = message
            break
    target = (aliases or {}).get(exc.field, exc.field or "_form")
    known = set(form.values) | set((aliases or {}).values())
    _add_error(form, target if target in known else "_form", text)
    return exc.status_code


# --------------------------------------------------------------------------- form fields


def _msgs(label: str | None = None, **extra: str) -> dict[str, Any]:
    required = _("“%(field)s” is required.", field=label) if label else _("This field is required.")
    return {
        "required": required,
        "null": required,
        "invalid": _("“%(field)s” is not valid.", field=label)
        if label
        else _("Enter a valid value."),
        **extra,
    }


def _text(
    *, required: bool = False, max_len: int = 200, label: str | None = None
) -> fields.Field[Any]:
    error = (
        _("“%(field)s” may have at most %(max)s characters.", field=label, max=max_len)
        if label
        else _("Use at most %(max)s characters.", max=max_len)
    )
    return fields.String(
        required=required,
        validate=validate.Length(max=max_len, error=error),
        error_messages=_msgs(label),
    )


def _whole(
    lo: int, hi: int, *, required: bool = True, label: str | None = None
) -> fields.Field[Any]:
    if label:
        invalid = _("“%(field)s” must be a whole number.", field=label)
        out_of_range = _(
            "“%(field)s” must be a whole number from %(min)s to %(max)s.",
            field=label,
            min=lo,
            max=hi,
        )
    else:
        invalid = _("Enter a whole number.")
        out_of_range = _("Enter a whole number from %(min)s to %(max)s.", min=lo, max=hi)
    return fields.Integer(
        required=required,
        validate=validate.Range(min=lo, max=hi, error=out_of_range),
        error_messages=_msgs(label, invalid=invalid),
    )


class _Decimal(fields.Float):
    """A number typed with a decimal point or comma (``0,5`` in German)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().replace(",", ".")
        return super()._deserialize(value, attr, data, **kwargs)


def _decimal(lo: float, hi: float, *, required: bool = True, label: str) -> fields.Field[Any]:
    invalid = _("“%(field)s” must be a number.", field=label)
    return _Decimal(
        required=required,
        allow_nan=False,
        validate=validate.Range(
            min=lo,
            max=hi,
            error=_(
                "“%(field)s” must be a number from %(min)s to %(max)s.",
                field=label,
                min=_num(lo),
                max=_num(hi),
            ),
        ),
        error_messages=_msgs(label, invalid=invalid, special=invalid),
    )


def _choice(
    choices: Sequence[str], *, required: bool = True, label: str | None = None
) -> fields.Field[Any]:
    error = (
        _("Choose one of the options for “%(field)s”.", field=label)
        if label
        else _("Choose one of the options.")
    )
    return fields.String(
        required=required,
        validate=validate.OneOf(list(choices), error=error),
        error_messages=_msgs(label),
    )


def _day(*, required: bool = True, label: str) -> fields.Field[Any]:
    return fields.Date(
        required=required,
        error_messages=_msgs(
            label, invalid=_("“%(field)s” must be a date (YYYY-MM-DD).", field=label)
        ),
    )


def _flag() -> fields.Field[Any]:
    return fields.Boolean(load_default=False, error_messages=_msgs())


def _schema(
    declared: Mapping[str, fields.Field[Any]], base: type[FormSchema] = FormSchema
) -> FormSchema:
    """A schema built per request, so that its messages follow the page's language."""
    generated = base.from_dict(dict(declared), name="CoordinatorForm")
    return cast(FormSchema, generated())


def _parse(schema: FormSchema) -> Form:
    """Check the CSRF token and load the posted form; a list item's error goes on the list."""
    form = parse(schema, request.form)
    for key in list(form.errors):
        base, dot, rest = key.partition(".")
        if dot and rest.isdigit():
            merged = form.errors.setdefault(base, [])
            merged.extend(m for m in form.errors.pop(key) if m not in merged)
    return form


def _csrf_only() -> FormSchema:
    return _schema({})


# --------------------------------------------------------------------------- programs


def _skill_options(db: Session, org_id: int) -> list[tuple[str, str]]:
    lang = current_language()
    rows = coordination.list_skills(db, org_id=org_id)
    return [(s.code, (s.name_de or s.name) if lang == "de" else s.name) for s in rows]


def _program_schema(skill_codes: Sequence[str]) -> FormSchema:
    labels = _program_labels()
    declared: dict[str, fields.Field[Any]] = {
        "name": _text(required=True, max_len=200, label=labels["name"]),
        "description": _text(max_len=10_000, label=labels["description"]),
        "format": _choice([f.value for f in ProgramFormat], label=labels["format"]),
        "starts_on": _day(label=labels["starts_on"]),
        "ends_on": _day(label=labels["ends_on"]),
        "cadence_days": _whole(1, 365, label=labels["cadence_days"]),
        "min_session_minutes": _whole(5, 480, label=labels["min_session_minutes"]),
        "target_sessions": _whole(1, 100, label=labels["target_sessions"]),
        "require_senior_consent": _flag(),
        "confidentiality_text": _text(max_len=20_000, label=labels["confidentiality_text"]),
        "objective": _choice(["best_total", "most_matched"], label=labels["objective"]),
        "max_timezone_hours": _decimal(0, 24, required=False, label=labels["max_timezone_hours"]),
        "band_min": _whole(0, 30, label=labels["band_min"]),
        "band_max": _whole(0, 30, label=labels["band_max"]),
        "seniors_min": _whole(1, 2, label=labels["seniors_min"]),
        "seniors_max": _whole(1, 2, label=labels["seniors_max"]),
        "juniors_min": _whole(3, 4, label=labels["juniors_min"]),
        "juniors_max": _whole(3, 4, label=labels["juniors_max"]),
        "min_sessions": _whole(1, 100, required=False, label=labels["min_sessions"]),
        "min_minutes": _whole(1, 480, required=False, label=labels["min_minutes"]),
        "require_post_assessment": _flag(),
        "assessment_skills": fields.List(
            fields.String(
                validate=validate.OneOf(
                    list(skill_codes), error=_("Choose skills from your organization's catalogue.")
                )
            ),
            load_default=list,
        ),
    }
    for key in WEIGHTS:
        declared[f"weight_{key}"] = _decimal(0, 10, label=labels[f"weight_{key}"])
    for month in range(1, THEME_FIELDS + 1):
        declared[f"theme_{month}"] = _text(max_len=200, label=labels[f"theme_{month}"])
    return _schema(declared, _ProgramSchema)


def _program_labels() -> dict[str, str]:
    """The program form's labels (the template shows them; errors name them)."""
    labels = {
        "name": _("Name"),
        "description": _("Description"),
        "format": _("Format"),
        "starts_on": _("Starts on"),
        "ends_on": _("Ends on"),
        "cadence_days": _("Cadence in days"),
        "min_session_minutes": _("Minimum session length in minutes"),
        "target_sessions": _("Target number of sessions"),
        "require_senior_consent": _("Seniors must also accept a proposed match"),
        "confidentiality_text": _("Agreement text"),
        "objective": _("Objective"),
        "max_timezone_hours": _("Largest time-zone difference in hours"),
        "band_min": _("Smallest grade gap (senior minus junior)"),
        "band_max": _("Largest grade gap (senior minus junior)"),
        "seniors_min": _("Seniors per group, at least"),
        "seniors_max": _("Seniors per group, at most"),
        "juniors_min": _("Juniors per group, at least"),
        "juniors_max": _("Juniors per group, at most"),
        "min_sessions": _("Sessions held, at least"),
        "min_minutes": _("Minutes per session that count, at least"),
        "require_post_assessment": _("The post-assessment must be submitted"),
        "assessment_skills": _("Skills both roles assess before and after"),
    }
    for key, (label, _hint) in _weight_labels().items():
        labels[f"weight_{key}"] = label
    for month in range(1, THEME_FIELDS + 1):
        labels[f"theme_{month}"] = _("Month %(n)s", n=month)
    return labels


def _program_cross_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Checks across fields, on the fields that loaded (so they show with the others)."""
    labels = _program_labels()
    errors: dict[str, list[str]] = {}
    starts, ends = data.get("starts_on"), data.get("ends_on")
    if isinstance(starts, date) and isinstance(ends, date):
        if ends <= starts:
            errors["ends_on"] = [_("The program must end after it starts.")]
        elif (ends - starts).days > programs.MAX_PROGRAM_DAYS:
            errors["ends_on"] = [_("A program may last at most three years.")]
        else:
            months = _program_months(starts, ends)
            for month in range(months + 1, THEME_FIELDS + 1):
                if (data.get(f"theme_{month}") or "").strip():
                    errors[f"theme_{month}"] = [
                        _(
                            "%(field)s: the program has only %(months)s months; remove this "
                            "theme or change the dates.",
                            field=labels[f"theme_{month}"],
                            months=months,
                        )
                    ]
    for low, high in (
        ("band_min", "band_max"),
        ("seniors_min", "seniors_max"),
        ("juniors_min", "juniors_max"),
    ):
        if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
            errors[high] = [
                _("“%(high)s” must not be below “%(low)s”.", high=labels[high], low=labels[low])
            ]
    return errors


class _ProgramSchema(FormSchema):
    """The program form; cross-field checks run even when other fields have errors."""

    @validates_schema(skip_on_field_errors=False)
    def _cross_fields(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors = _program_cross_errors(data)
        if errors:
            raise SchemaError(errors)


def _lines(text: str | None) -> str:
    """A textarea's text with the browser's CRLF line ends as LF, without outer blanks."""
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _program_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """The program form as the core's keyword arguments."""
    plan = [
        {"month": month, "theme": data[f"theme_{month}"].strip()}
        for month in range(1, THEME_FIELDS + 1)
        if (data.get(f"theme_{month}") or "").strip()
    ]
    return {
        "name": data["name"].strip(),
        "description": _lines(data.get("description")),
        "format": data["format"],
        "starts_on": data["starts_on"],
        "ends_on": data["ends_on"],
        "cadence_days": data["cadence_days"],
        "min_session_minutes": data["min_session_minutes"],
        "target_sessions": data["target_sessions"],
        "require_senior_consent": bool(data.get("require_senior_consent")),
        "confidentiality_text": _lines(data.get("confidentiality_text")),
        "theme_plan": plan,
        "matching_settings": {
            "objective": data["objective"],
            "weights": {key: data[f"weight_{key}"] for key in WEIGHTS},
            "max_timezone_hours": data.get("max_timezone_hours"),
            "seniority_band": {"min": data["band_min"], "max": data["band_max"]},
            "group": {
                "seniors_per_group": [data["seniors_min"], data["seniors_max"]],
                "juniors_per_group": [data["juniors_min"], data["juniors_max"]],
            },
        },
        "completion_rule": {
            "min_sessions": data.get("min_sessions") or data["target_sessions"],
            "min_minutes": data.get("min_minutes") or data["min_session_minutes"],
            "require_post_assessment": bool(data.get("require_post_assessment")),
        },
        "assessment_skills": list(data.get("assessment_skills") or []),
    }


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _program_values(program: Program | None) -> dict[str, Any]:
    """What the program form shows before anything was sent."""
    settings = programs.validate_matching_settings(
        program.matching_settings if program is not None else None
    )
    values: dict[str, Any] = {
        "objective": settings["objective"],
        "max_timezone_hours": _plain(settings["max_timezone_hours"]),
        "band_min": _plain(settings["seniority_band"]["min"]),
        "band_max": _plain(settings["seniority_band"]["max"]),
        "seniors_min": _plain(settings["group"]["seniors_per_group"][0]),
        "seniors_max": _plain(settings["group"]["seniors_per_group"][1]),
        "juniors_min": _plain(settings["group"]["juniors_per_group"][0]),
        "juniors_max": _plain(settings["group"]["juniors_per_group"][1]),
    }
    for key in WEIGHTS:
        values[f"weight_{key}"] = _plain(settings["weights"][key])
    if program is None:
        values.update(
            {
                "format": ProgramFormat.ONE_TO_ONE.value,
                "cadence_days": "30",
                "min_session_minutes": "45",
                "target_sessions": "6",
                "require_senior_consent": "1",
                "require_post_assessment": "1",
                "assessment_skills": [],
            }
        )
        return values
    rule = programs.validate_completion_rule(
        program.completion_rule or None,
        target_sessions=program.target_sessions,
        min_session_minutes=program.min_session_minutes,
    )
    values.update(
        {
            "name": program.name,
            "description": program.description,
            "format": program.format.value,
            "starts_on": program.starts_on.isoformat(),
            "ends_on": program.ends_on.isoformat(),
            "cadence_days": _plain(program.cadence_days),
            "min_session_minutes": _plain(program.min_session_minutes),
            "target_sessions": _plain(program.target_sessions),
            "require_senior_consent": "1" if program.require_senior_consent else "",
            "confidentiality_text": program.confidentiality_text,
            "min_sessions": _plain(rule["min_sessions"]),
            "min_minutes": _plain(rule["min_minutes"]),
            "require_post_assessment": "1" if rule["require_post_assessment"] else "",
            "assessment_skills": list(program.assessment_skills or []),
        }
    )
    for item in program.theme_plan or []:
        if isinstance(item, Mapping) and isinstance(item.get("month"), int):
            values[f"theme_{item['month']}"] = item.get("theme", "")
    return values


_PROGRAM_ALIASES: dict[str | None, str] = {
    **{f"weights.{key}": f"weight_{key}" for key in WEIGHTS},
    "seniority_band.min": "band_min",
    "seniority_band.max": "band_max",
    "group.seniors_per_group[0]": "seniors_min",
    "group.seniors_per_group[1]": "seniors_max",
    "group.juniors_per_group[0]": "juniors_min",
    "group.juniors_per_group[1]": "juniors_max",
    "matching_settings": "objective",
    "completion_rule": "min_sessions",
    "completion_rule.min_sessions": "min_sessions",
    "completion_rule.min_minutes": "min_minutes",
    "theme_plan": "theme_plan",
    "assessment_skills": "assessment_skills",
}


def _program_refusals() -> dict[tuple[type[PluginError], str | None], str]:
    return {
        (ConflictError, "name"): _("A program with this name already exists in your organization."),
        (ConflictError, None): _("The format cannot change once people have enrolled."),
        (ConflictError, "starts_on"): _("The start date of a running program cannot change."),
    }


def _form_context(
    db: Session, ws: WebSession, program: Program | None, form: Form
) -> dict[str, Any]:
    if program is not None:
        months = _program_months(program.starts_on, program.ends_on)
        rows = max(months, THEME_ROWS_NEW)
    else:
        rows = THEME_ROWS_NEW
    shown = max(
        [rows]
        + [
            m
            for m in range(1, THEME_FIELDS + 1)
            if form.value(f"theme_{m}") or form.error(f"theme_{m}")
        ]
    )
    return {
        "program": program,
        "form": form,
        "labels": _program_labels(),
        "theme_rows": range(1, min(shown, THEME_FIELDS) + 1),
        "skill_options": _skill_options(db, ws.org_id),
        "weights": [(key, *_weight_labels()[key]) for key in WEIGHTS],
        "formats": [(f.value, pages.format_label(f.value)) for f in ProgramFormat],
        "objectives": [(o, _objective_label(o)) for o in ("best_total", "most_matched")],
        "enrolled": bool(program is not None and _enrolled_count(db, ws.actor(), program)),
    }


def _enrolled_count(db: Session, actor: Actor, program: Program) -> int:
    return coordination.enrolled_count(db, actor, program=program)


@bp.get("/")
def programs_page() -> Any:
    """The programs the coordinator coordinates, with their state at a glance."""
    ws = web_session.require()
    actor = _coordinator(ws)
    db = get_session()
    rows = list(participation.coordinated_programs(db, actor))
    counts = coordination.program_counts(db, actor, program_ids=[p.id for p in rows])
    open_alerts = Counter(a.program_id for a in alerts.list_alerts(db, actor, status="open"))
    return _render(
        "pages/coordinator/programs.html",
        ws,
        rows=[
            {
                "program": p,
                "enrolled": counts.enrolled[p.id],
                "tandems": counts.tandems[p.id],
                "alerts": open_alerts[p.id],
            }
            for p in rows
        ],
    )


@bp.route("/programs/new", methods=["GET", "POST"])
def new_program() -> Any:
    """Create a program (in preparation); its creator becomes one of its coordinators."""
    ws = web_session.require()
    actor = _coordinator(ws)
    db = get_session()
    if request.method == "GET":
        form = Form(values=_program_values(None))
        return _render(
            "pages/coordinator/program_form.html", ws, **_form_context(db, ws, None, form)
        )
    skills = [code for code, _label in _skill_options(db, ws.org_id)]
    form = _parse(_program_schema(skills))
    if not form.ok:
        return _render(
            "pages/coordinator/program_form.html",
            ws,
            status=400,
            **_form_context(db, ws, None, form),
        )
    changes = _program_changes(form.data)
    if not changes["theme_plan"]:
        changes["theme_plan"] = None  # the default themes, cut to the program's length
    org = db.get(Organization, ws.org_id)
    if org is None:  # pragma: no cover - the session's organization exists
        raise NotFound(_("Your organization no longer exists."))
    try:
        program = programs.create_program(
            db,
            org=org,
            actor=actor.label,
            default_themes=[_(theme) for theme in programs.DEFAULT_THEMES],
            **changes,
        )
        # The creator coordinates what they created (granted as the launch platform does).
        coordinators.add_coordinator(
            db,
            Actor.admin(ws.org_id, actor.label, person_id=ws.person_id),
            program,
            person_id=ws.person_id,
        )
    except PluginError as exc:
        status = _fail(form, exc, aliases=_PROGRAM_ALIASES, messages=_program_refusals())
        return _render(
            "pages/coordinator/program_form.html",
            ws,
            status=status,
            **_form_context(db, ws, None, form),
        )
    return _done("coordinator.program_page", "created", program_id=program.id)


@bp.route(f"/programs/<{_ID}:program_id>/edit", methods=["GET", "POST"])
def edit_program(program_id: int) -> Any:
    """Edit a program's settings (not once it is closed)."""
    ws, db, actor, program = _load(program_id)
    if request.method == "GET":
        form = Form(values=_program_values(program))
        return _render(
            "pages/coordinator/program_form.html", ws, **_form_context(db, ws, program, form)
        )
    skills = [code for code, _label in _skill_options(db, ws.org_id)]
    form = _parse(_program_schema(skills))
    if form.ok and program.status is ProgramStatus.CLOSED:
        _add_error(form, "_form", _("A closed program cannot be edited."))
        return _render(
            "pages/coordinator/program_form.html",
            ws,
            status=409,
            **_form_context(db, ws, program, form),
        )
    if not form.ok:
        return _render(
            "pages/coordinator/program_form.html",
            ws,
            status=400,
            **_form_context(db, ws, program, form),
        )
    changes = _program_changes(form.data)
    if changes["confidentiality_text"] == _lines(program.confidentiality_text):
        # Unchanged: no new version of the agreement for members to accept again.
        del changes["confidentiality_text"]
    try:
        programs.update_program(db, program, actor=actor.label, changes=changes)
    except PluginError as exc:
        status = _fail(form, exc, aliases=_PROGRAM_ALIASES, messages=_program_refusals())
        return _render(
            "pages/coordinator/program_form.html",
            ws,
            status=status,
            **_form_context(db, ws, program, form),
        )
    return _done("coordinator.program_page", "updated", program_id=program.id)


def _program_page(
    ws: WebSession,
    db: Session,
    actor: Actor,
    program: Program,
    *,
    form: Form | None = None,
    status: int = 200,
) -> Any:
    themes = sorted(
        (t for t in program.theme_plan or () if isinstance(t, Mapping)),
        key=lambda t: t.get("month", 0),
    )
    settings = programs.validate_matching_settings(program.matching_settings)
    rule = programs.validate_completion_rule(
        program.completion_rule or None,
        target_sessions=program.target_sessions,
        min_session_minutes=program.min_session_minutes,
    )
    skills = dict(_skill_options(db, ws.org_id))
    return _render(
        "pages/coordinator/program.html",
        ws,
        status=status,
        program=program,
        themes=themes,
        settings=settings,
        weights=[(_weight_labels()[k][0], settings["weights"][k]) for k in WEIGHTS],
        rule=rule,
        skills=[skills.get(code, code) for code in program.assessment_skills or []],
        coordinators=coordinators.list_coordinators(db, actor, program),
        transitions=[
            (s.value, _transition_label(s, program.status))
            for s in sorted(programs.TRANSITIONS[program.status], key=_STATUS_ORDER.index)
        ],
        form=form,
        enrolled=_enrolled_count(db, actor, program),
    )


_STATUS_ORDER = list(ProgramStatus)


@bp.get(f"/programs/<{_ID}:program_id>")
def program_page(program_id: int) -> Any:
    """One program: its settings, its coordinators, and its status transitions."""
    ws, db, actor, program = _load(program_id)
    return _program_page(ws, db, actor, program)


@bp.post(f"/programs/<{_ID}:program_id>/status")
def program_status(program_id: int) -> Any:
    """Move the program along draft → enrolling → matching → running → closed."""
    ws, db, actor, program = _load(program_id)
    form = _parse(
        _schema(
            {
                "status": _choice([s.value for s in ProgramStatus]),
                "confirm": _flag(),
            }
        )
    )
    if form.ok:
        new = ProgramStatus(form.data["status"])
        if new is not program.status and new not in programs.TRANSITIONS[program.status]:
            _add_error(
                form,
                "_form",
                _(
                    "A program cannot go from “%(old)s” to “%(new)s”.",
                    old=pages.program_status_label(program.status.value),
                    new=pages.program_status_label(new.value),
                ),
            )
            return _program_page(ws, db, actor, program, form=form, status=409)
        if new is ProgramStatus.CLOSED and not form.data["confirm"]:
            _add_error(
                form,
                "confirm",
                _("Confirm that you want to close the program: closing is final."),
            )
    if not form.ok:
        return _program_page(ws, db, actor, program, form=form, status=400)
    try:
        programs.set_program_status(db, program, form.data["status"], actor=actor.label, now=_now())
    except PluginError as exc:
        status = _fail(
            form,
            exc,
            aliases={"status": "_form"},
            messages={
                (ConflictError, "status"): _(
                    "The program ended on %(date)s; it cannot start running. Change its end "
                    "date first.",
                    date=pages._fmt_date(program.ends_on, current_language()),
                )
            },
        )
        return _program_page(ws, db, actor, program, form=form, status=status)
    return _done("coordinator.program_page", "status", program_id=program.id)


# --------------------------------------------------------------------------- invitations


def _invite_refusals() -> dict[tuple[type[PluginError], str | None], str]:
    return {
        (ConflictError, "program"): _("The program is closed; nobody can be invited."),
    }


def _hris_connections(db: Session, org_id: int) -> list[Connection]:
    return connections.list_connections(db, org_id=org_id)


def _source(connection: Connection) -> str:
    return f"{connection.kind.value}:{connection.id}"


@dataclass
class _HrisFilter:
    connection: Connection | None
    sources: list[str]
    department: str
    division: str
    q: str
    fresh: bool


def _hris_filter(db: Session, org_id: int, values: Mapping[str, Any]) -> _HrisFilter:
    available = _hris_connections(db, org_id)
    chosen: Connection | None = None
    raw = str(values.get("connection") or "")
    if raw.isdigit():
        chosen = next((c for c in available if c.id == int(raw)), None)
    sources = [_source(chosen)] if chosen is not None else [_source(c) for c in available]
    return _HrisFilter(
        connection=chosen,
        sources=sources,
        department=str(values.get("department") or "").strip()[:120],
        division=str(values.get("division") or "").strip()[:120],
        q=str(values.get("q") or "").strip()[:200],
        fresh=str(values.get("fresh") or "") in ("1", "true", "on"),
    )


def _hris_query(flt: _HrisFilter) -> coordination.HrisQuery:
    return coordination.HrisQuery(
        sources=flt.sources,
        department=flt.department,
        division=flt.division,
        q=flt.q,
        fresh=flt.fresh,
    )


def _roster_available(db: Session, ws: WebSession) -> bool:
    return coordination.roster_available(db, ws.actor(), link_id=ws.link_id)


@dataclass
class _RowProblem:
    row: int
    value: str
    message: str


@dataclass
class _CsvOutcome:
    person_ids: list[int] = field(default_factory=list)
    problems: list[_RowProblem] = field(default_factory=list)
    rows: int = 0
    duplicates: int = 0
    file_error: str | None = None


def _row_problem_label(problem: coordination.RowProblem) -> str:
    labels = {
        coordination.RowProblem.MISSING: _("Enter an e-mail address or an employee id."),
        coordination.RowProblem.INVALID_EMAIL: _("This is not a valid e-mail address."),
        coordination.RowProblem.UNKNOWN_EMAIL: _(
            "Nobody in your organization has this e-mail address."
        ),
        coordination.RowProblem.UNKNOWN_EMPLOYEE: _(
            "No person of your HR data has this employee id."
        ),
        coordination.RowProblem.MISMATCH: _(
            "The e-mail address and the employee id belong to different people."
        ),
        coordination.RowProblem.AMBIGUOUS: _(
            "Several people match this row. Add the employee id to tell them apart."
        ),
        coordination.RowProblem.INACTIVE: _("This person is no longer active in the HR data."),
    }
    return labels[problem]


def _read_csv(db: Session, actor: Actor, upload: FileStorage | None) -> _CsvOutcome:
    """Resolve every row of an uploaded CSV file to a person, or say why it cannot be."""
    out = _CsvOutcome()
    if upload is None or not upload.filename:
        out.file_error = _("Choose a CSV file to upload.")
        return out
    raw = upload.stream.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        out.file_error = _("The file is larger than 1 MB. Split it into smaller files.")
        return out
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            out.file_error = _("The file is not a text file. Save it as CSV (UTF-8).")
            return out
    if "\x00" in text:
        out.file_error = _("The file is not a text file. Save it as CSV (UTF-8).")
        return out
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    if not header_line:
        out.file_error = _("The file is empty.")
        return out
    delimiter = max((";", ",", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    email_col: int | None = None
    id_col: int | None = None
    wanted: list[tuple[int, str, str]] = []
    try:
        for row in reader:
            line = reader.line_num
            if header is None:
                if not any(cell.strip() for cell in row):
                    continue
                header = [cell.strip().lower() for cell in row]
                email_col = next((i for i, h in enumerate(header) if h in _EMAIL_HEADERS), None)
                id_col = next((i for i, h in enumerate(header) if h in _EMPLOYEE_HEADERS), None)
                if email_col is None and id_col is None:
                    out.file_error = _(
                        "The first row must name the columns: “email” and/or “employee_id”."
                    )
                    return out
                continue
            if not any(cell.strip() for cell in row):
                continue
            out.rows += 1
            if out.rows > MAX_CSV_ROWS:
                out.file_error = _(
                    "The file has more than %(max)s rows. Split it into smaller files.",
                    max=MAX_CSV_ROWS,
                )
                return out
            email = row[email_col].strip() if email_col is not None and email_col < len(row) else ""
            employee = row[id_col].strip() if id_col is not None and id_col < len(row) else ""
            wanted.append((line, email, employee))
    except csv.Error:
        out.file_error = _("The file is not valid CSV (check the quotes).")
        return out
    if not wanted:
        out.file_error = _("The file has no rows below its header.")
        return out

    for resolved in coordination.resolve_rows(db, actor, rows=wanted):
        if resolved.problem is coordination.RowProblem.DUPLICATE:
            out.duplicates += 1
        elif resolved.problem is not None:
            out.problems.append(
                _RowProblem(resolved.line, resolved.value, _row_problem_label(resolved.problem))
            )
        elif resolved.person_id is not None:
            out.person_ids.append(resolved.person_id)
    return out


def _enrollments_page(
    ws: WebSession,
    db: Session,
    program: Program,
    *,
    csv_form: Form | None = None,
    csv_outcome: _CsvOutcome | None = None,
    status: int = 200,
) -> Any:
    people = enrollments.list_enrollments(db, program=program, active_only=False)
    actor = ws.actor()
    in_tandem = coordination.tandem_status_by_enrollment(db, actor, program=program)
    invitations = coordination.list_invitations(db, actor, program=program)
    enrolled_people = {e.person_id for e in people if e.status is EnrollmentStatus.ACTIVE}
    counts = Counter((e.role.value, e.status.value) for e in people)
    return _render(
        "pages/coordinator/enrollments.html",
        ws,
        status=status,
        program=program,
        people=people,
        in_tandem=in_tandem,
        counts=counts,
        invitations=[
            {"invitation": inv, "person": person, "enrolled": person.id in enrolled_people}
            for inv, person in invitations
        ],
        roster_available=_roster_available(db, ws),
        hris_available=bool(_hris_connections(db, ws.org_id)),
        csv_form=csv_form,
        csv_outcome=csv_outcome,
        max_rows=MAX_CSV_ROWS,
    )


@bp.get(f"/programs/<{_ID}:program_id>/enrollments")
def enrollments_page(program_id: int) -> Any:
    """Who is enrolled and invited, and the three ways to invite people."""
    ws, db, _actor, program = _load(program_id)
    return _enrollments_page(ws, db, program)


@bp.post(f"/programs/<{_ID}:program_id>/enrollments/csv")
def invite_csv(program_id: int) -> Any:
    """Invite the people of an uploaded CSV file: all rows, or nothing when one is wrong."""
    ws, db, actor, program = _load(program_id)
    form = _parse(_csrf_only())
    outcome = _read_csv(db, actor, request.files.get("file"))
    if outcome.file_error:
        _add_error(form, "file", outcome.file_error)
    elif outcome.problems:
        _add_error(
            form,
            "file",
            ngettext(
                "%(num)d row cannot be used. Nothing was imported: correct the row listed "
                "below and upload the file again.",
                "%(num)d rows cannot be used. Nothing was imported: correct the rows listed "
                "below and upload the file again.",
                len(outcome.problems),
            ),
        )
    if not form.ok:
        return _enrollments_page(ws, db, program, csv_form=form, csv_outcome=outcome, status=400)
    try:
        result = roster.invite_people(
            db, actor, program_id=program.id, person_ids=outcome.person_ids, source="csv"
        )
    except PluginError as exc:
        status = _fail(form, exc, aliases={"program": "file"}, messages=_invite_refusals())
        return _enrollments_page(ws, db, program, csv_form=form, csv_outcome=outcome, status=status)
    return _done(
        "coordinator.enrollments_page", "invited", program_id=program.id, **result.as_dict()
    )


def _hris_page(
    ws: WebSession,
    db: Session,
    program: Program,
    values: Mapping[str, Any],
    *,
    form: Form | None = None,
    status: int = 200,
) -> Any:
    flt = _hris_filter(db, ws.org_id, values)
    available = _hris_connections(db, ws.org_id)
    actor = ws.actor()
    found = coordination.HrisPage()
    departments: list[str] = []
    divisions: list[str] = []
    if available:
        found = coordination.search_hris_people(
            db, actor, program=program, query=_hris_query(flt), limit=HRIS_PAGE
        )
        departments, divisions = coordination.hris_facets(db, actor, sources=flt.sources)
    return _render(
        "pages/coordinator/hris.html",
        ws,
        status=status,
        program=program,
        connections=[(c.id, _connection_label(c)) for c in available],
        flt=flt,
        departments=departments,
        divisions=divisions,
        people=found.people,
        total=found.total,
        page_size=HRIS_PAGE,
        max_invite=MAX_INVITE,
        employee_ids=found.employee_ids,
        enrolled=found.enrolled,
        invited=found.invited,
        form=form,
    )


@bp.get(f"/programs/<{_ID}:program_id>/enrollments/hris")
def hris_page(program_id: int) -> Any:
    """Pick people synced from the HR system (by department, division or search)."""
    ws, db, _actor, program = _load(program_id)
    return _hris_page(ws, db, program, request.args)


@bp.post(f"/programs/<{_ID}:program_id>/enrollments/hris")
def invite_hris(program_id: int) -> Any:
    """Invite the people picked on the HRIS page, or everyone the filter finds."""
    ws, db, actor, program = _load(program_id)
    form = _parse(
        _schema(
            {
                "person_ids": fields.List(
                    fields.Integer(error_messages=_msgs(invalid=_("Choose people from the list."))),
                    load_default=list,
                ),
                "scope": _choice(["selected", "all"]),
                "connection": _text(max_len=12),
                "department": _text(max_len=120),
                "division": _text(max_len=120),
                "q": _text(max_len=200),
                "fresh": _text(max_len=5),
            }
        )
    )
    ids: list[int] = []
    if form.ok:
        flt = _hris_filter(db, ws.org_id, form.data)
        if form.data["scope"] == "all":
            query = _hris_query(flt)
            total = coordination.count_hris_people(db, actor, program=program, query=query)
            if total > MAX_INVITE:
                _add_error(
                    form,
                    "_form",
                    _(
                        "The filter finds %(count)s people; invite at most %(max)s at once. "
                        "Narrow the filter.",
                        count=total,
                        max=MAX_INVITE,
                    ),
                )
            else:
                ids = coordination.hris_person_ids(db, actor, program=program, query=query)
        else:
            picked = list(dict.fromkeys(form.data["person_ids"]))
            if not picked:
                _add_error(form, "person_ids", _("Select at least one person."))
            else:
                # Only people the page could have listed (synced, active, this organization).
                ids = coordination.pickable_person_ids(
                    db, actor, program=program, sources=flt.sources, person_ids=picked
                )
                if not ids:
                    _add_error(form, "person_ids", _("Choose people from the list."))
    if not form.ok:
        return _hris_page(ws, db, program, form.values, form=form, status=400)
    try:
        result = roster.invite_people(
            db, actor, program_id=program.id, person_ids=ids, source="hris"
        )
    except PluginError as exc:
        status = _fail(form, exc, messages=_invite_refusals())
        return _hris_page(ws, db, program, form.values, form=form, status=status)
    return _done(
        "coordinator.enrollments_page", "invited", program_id=program.id, **result.as_dict()
    )


# --------------------------------------------------------------------------- matching


def _person_names(db: Session, ws: WebSession, ids: Iterable[int]) -> dict[int, str]:
    return coordination.person_names(db, ws.actor(), person_ids=ids)


def _matching_page(
    ws: WebSession,
    db: Session,
    program: Program,
    *,
    form: Form | None = None,
    form_for: str | None = None,
    status: int = 200,
) -> Any:
    lang = current_language()
    runs = list(matching.list_runs(db, program=program))
    latest = runs[0] if runs else None
    rows = coordination.program_tandems(db, ws.actor(), program=program)
    unmatched = list((latest.result or {}).get("unmatched", [])) if latest is not None else []
    names = _person_names(
        db,
        ws,
        [m.person_id for t in rows for m in t.members] + [u["person_id"] for u in unmatched],
    )

    def view(t: Tandem) -> dict[str, Any]:
        explanation = t.explanation or {}
        return {
            "tandem": t,
            "juniors": [
                names.get(m.person_id, "?") for m in t.members if m.role is EnrollmentRole.MENTOR
            ],
            "seniors": [
                names.get(m.person_id, "?") for m in t.members if m.role is EnrollmentRole.MENTEE
            ],
            "why": list(explanation.get(lang) or explanation.get("en") or []),
            "broken": [
                b.get(lang) or b.get("en") or _rule_label(str(b.get("rule", "")))
                for b in (t.flags or {}).get("broken_rules", [])
                if isinstance(b, Mapping)
            ],
        }

    proposals = [view(t) for t in rows if t.status is TandemStatus.PROPOSED]
    stats = (latest.result or {}).get("stats", {}) if latest is not None else {}
    timings = (latest.result or {}).get("timings", {}) if latest is not None else {}
    settings = programs.validate_matching_settings(program.matching_settings)
    swappable = [p for p in proposals if not p["tandem"].locked]
    return _render(
        "pages/coordinator/matching.html",
        ws,
        status=status,
        program=program,
        runnable=program.status in matching.RUNNABLE,
        runs=runs,
        latest=latest,
        publishable=latest is not None and latest.status is MatchRunStatus.SUCCEEDED,
        stats=stats,
        removed=[
            (_rule_label(rule), n)
            for rule, n in sorted((stats.get("removed_by_rule") or {}).items())
            if n
        ],
        timings=[(_stage_label(stage), seconds) for stage, seconds in timings.items()],
        proposals=proposals,
        kept=[view(t) for t in rows if t.status is not TandemStatus.PROPOSED],
        unmatched=[
            {
                "name": names.get(u["person_id"], "?"),
                "role": u.get("role"),
                "reason": (u.get("explanation") or {}).get(lang)
                or (u.get("explanation") or {}).get("en")
                or _unmatched_reason_label(str(u.get("reason", ""))),
            }
            for u in unmatched
        ],
        swap_options=[
            (
                str(p["tandem"].id),
                _(
                    "Tandem %(id)s: %(juniors)s with %(seniors)s",
                    id=p["tandem"].id,
                    juniors=", ".join(p["juniors"]),
                    seniors=", ".join(p["seniors"]),
                ),
            )
            for p in swappable
        ],
        objective=settings["objective"],
        objectives=[(o, _objective_label(o)) for o in ("best_total", "most_matched")],
        form=form,
        form_for=form_for,
    )


@bp.get(f"/programs/<{_ID}:program_id>/matching")
def matching_page(program_id: int) -> Any:
    """Run matching, review proposals and unmatched people, and publish."""
    ws, db, _actor, program = _load(program_id)
    return _matching_page(ws, db, program)


@bp.post(f"/programs/<{_ID}:program_id>/matching/run")
def run_matching(program_id: int) -> Any:
    """Run the solver with the chosen objective (synchronous; large programs take a while)."""
    ws, db, actor, program = _load(program_id)
    form = _parse(
        _schema({"objective": _choice(["best_total", "most_matched"], label=_("Objective"))})
    )
    if form.ok and program.status not in matching.RUNNABLE:
        _add_error(
            form,
            "_form",
            _(
                "Matching needs the program to be open for enrolment, matching or running; "
                "it is “%(status)s”.",
                status=pages.program_status_label(program.status.value),
            ),
        )
        return _matching_page(ws, db, program, form=form, form_for="run", status=409)
    if not form.ok:
        return _matching_page(ws, db, program, form=form, form_for="run", status=400)
    try:
        matching.run_matching(db, program, actor=actor.label, objective=form.data["objective"])
    except PluginError as exc:
        status = _fail(
            form,
            exc,
            messages={
                (MatchError, "program"): _(
                    "There is nobody to match yet: matching needs juniors (mentors) and "
                    "seniors (mentees) enrolled."
                )
            },
        )
        return _matching_page(ws, db, program, form=form, form_for="run", status=status)
    return _done("coordinator.matching_page", "matched", program_id=program.id)


def _program_tandem(db: Session, ws: WebSession, program: Program, tandem_id: int) -> Tandem:
    try:
        tandem = matching.get_tandem(db, org_id=ws.org_id, tandem_id=tandem_id)
    except NotFound:
        tandem = None
    if tandem is None or tandem.program_id != program.id:
        raise NotFound(_("This tandem does not exist in this program."))
    return tandem


_TANDEM_ACTIONS = ("accept", "reject", "lock", "unlock")


@bp.post(f"/programs/<{_ID}:program_id>/matching/tandems/<{_ID}:tandem_id>/<action>")
def tandem_action(program_id: int, tandem_id: int, action: str) -> Any:
    """Approve, reject, lock or unlock one proposal."""
    ws, db, actor, program = _load(program_id)
    if action not in _TANDEM_ACTIONS:
        raise NotFound(_("This page does not exist."))
    form = _parse(_csrf_only())
    tandem = _program_tandem(db, ws, program, tandem_id)
    refusal: str | None = None
    if action in ("accept", "reject") and tandem.status is not TandemStatus.PROPOSED:
        refusal = _(
            "Tandem %(id)s is no longer a proposal (it is “%(status)s”).",
            id=tandem.id,
            status=pages.tandem_status_label(tandem.status.value),
        )
    elif action == "accept" and tandem.approved_at is not None:
        refusal = _("Tandem %(id)s is already approved.", id=tandem.id)
    elif action == "reject" and tandem.locked:
        refusal = _("Tandem %(id)s is locked; unlock it before rejecting it.", id=tandem.id)
    if refusal:
        _add_error(form, "_form", refusal)
        return _matching_page(ws, db, program, form=form, form_for=f"t{tandem.id}", status=409)
    try:
        if action == "accept":
            matching.accept_tandem(db, tandem, actor=actor.label, now=_now())
        elif action == "reject":
            matching.reject_tandem(db, tandem, actor=actor.label)
        else:
            matching.set_lock(db, tandem, locked=action == "lock", actor=actor.label)
    except PluginError as exc:
        status = _fail(form, exc)
        return _matching_page(ws, db, program, form=form, form_for=f"t{tandem.id}", status=status)
    done = {"accept": "accepted", "reject": "rejected", "lock": "locked", "unlock": "unlocked"}
    return _done("coordinator.matching_page", done[action], program_id=program.id)


@bp.post(f"/programs/<{_ID}:program_id>/matching/swap")
def swap(program_id: int) -> Any:
    """Exchange the seniors (or juniors) of two proposals; the hard rules are checked again."""
    ws, db, actor, program = _load(program_id)
    form = _parse(
        _schema(
            {
                "first": _whole(1, 2_147_483_647, label=_("First tandem")),
                "second": _whole(1, 2_147_483_647, label=_("Second tandem")),
                "role": _choice(["mentee", "mentor"], label=_("Exchange")),
            }
        )
    )
    if form.ok and form.data["first"] == form.data["second"]:
        _add_error(form, "second", _("Choose two different tandems."))
    if not form.ok:
        return _matching_page(ws, db, program, form=form, form_for="swap", status=400)
    first = _program_tandem(db, ws, program, form.data["first"])
    second = _program_tandem(db, ws, program, form.data["second"])
    for name, t in (("first", first), ("second", second)):
        if t.status is not TandemStatus.PROPOSED or t.locked:
            _add_error(
                form,
                name,
                _("Only proposals that are not locked can exchange members."),
            )
    if not form.ok:
        return _matching_page(ws, db, program, form=form, form_for="swap", status=409)
    try:
        matching.swap_tandems(db, first, second, actor=actor.label, role=form.data["role"])
    except PluginError as exc:
        status = _fail(form, exc, aliases={"tandem": "_form", "role": "role"})
        return _matching_page(ws, db, program, form=form, form_for="swap", status=status)
    return _done("coordinator.matching_page", "swapped", program_id=program.id)


@bp.post(f"/programs/<{_ID}:program_id>/matching/runs/<{_ID}:run_id>/publish")
def publish(program_id: int, run_id: int) -> Any:
    """Approve every still-proposed tandem of the run: its members are asked to accept."""
    ws, db, actor, program = _load(program_id)
    form = _parse(_csrf_only())
    try:
        run = matching.get_run(db, org_id=ws.org_id, run_id=run_id)
    except NotFound:
        run = None
    if run is None or run.program_id != program.id:
        raise NotFound(_("This match run does not exist in this program."))
    if run.status is not MatchRunStatus.SUCCEEDED:
        _add_error(
            form,
            "_form",
            _(
                "Only the latest run that is ready for review can be published; this one is "
                "“%(status)s”.",
                status=_run_status_label(run.status.value),
            ),
        )
        return _matching_page(ws, db, program, form=form, form_for="publish", status=409)
    try:
        matching.approve_run(db, run, actor=actor.label, now=_now())
    except PluginError as exc:
        status = _fail(form, exc)
        return _matching_page(ws, db, program, form=form, form_for="publish", status=status)
    return _done("coordinator.matching_page", "published", program_id=program.id)


# --------------------------------------------------------------------------- follow-up


def _labelled(months: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**m, "label": _month_label(m["year"], m["month"])} for m in months]


def _follow_up_page(
    ws: WebSession,
    db: Session,
    actor: Actor,
    program: Program,
    *,
    form: Form | None = None,
    form_for: int | None = None,
    status: int = 200,
) -> Any:
    lang = current_language()
    wanted = request.args.get("alerts", "open")
    if wanted not in ("open", "acknowledged", "resolved", "all"):
        wanted = "open"
    if form_for is not None:
        wanted = "all"  # a refused form is shown on its alert, whatever its status
    rows = alerts.list_alerts(db, actor, program_id=program.id, status=wanted)
    tandem_ids = {a.tandem_id for a in rows if a.tandem_id is not None}
    members: dict[int, list[str]] = {}
    if tandem_ids:
        found = coordination.tandems_by_id(db, actor, program=program, tandem_ids=tandem_ids)
        names = _person_names(db, ws, [m.person_id for t in found for m in t.members])
        members = {t.id: [names.get(m.person_id, "?") for m in t.members] for t in found}
    months = _labelled(report.sessions_by_month(db, actor, program_id=program.id, now=_now()))
    totals = {
        key: sum(m[key] for m in months)
        for key in ("held", "planned", "cancelled_mentor", "cancelled_mentee", "closed")
    }
    return _render(
        "pages/coordinator/follow_up.html",
        ws,
        status=status,
        program=program,
        alerts=[
            {
                "alert": a,
                "message": alerts.alert_message(a, lang),
                "members": members.get(a.tandem_id, []) if a.tandem_id is not None else [],
                "next": [
                    s.value
                    for s in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)
                    if (a.status is AlertStatus.OPEN)
                    or (a.status is AlertStatus.ACKNOWLEDGED and s is AlertStatus.RESOLVED)
                ],
            }
            for a in rows
        ],
        alert_filter=wanted,
        months=months,
        totals=totals,
        chart=_sessions_chart(months),
        form=form,
        form_for=form_for,
    )


@bp.get(f"/programs/<{_ID}:program_id>/follow-up")
def follow_up_page(program_id: int) -> Any:
    """Alerts to handle, sessions per month, and cancellations."""
    ws, db, actor, program = _load(program_id)
    return _follow_up_page(ws, db, actor, program)


@bp.post(f"/programs/<{_ID}:program_id>/follow-up/alerts/<{_ID}:alert_id>")
def handle_alert(program_id: int, alert_id: int) -> Any:
    """Acknowledge or resolve an alert, with a note on what was done."""
    ws, db, actor, program = _load(program_id)
    form = _parse(
        _schema(
            {
                "status": _choice(
                    [AlertStatus.ACKNOWLEDGED.value, AlertStatus.RESOLVED.value],
                    label=_("Mark as"),
                ),
                "note": _text(max_len=alerts.MAX_NOTE, label=_("What was done (optional)")),
            }
        )
    )
    try:
        alert = alerts.get_alert(db, actor, alert_id)
    except NotFound:
        alert = None
    if alert is None or alert.program_id != program.id:
        raise NotFound(_("This alert does not exist in this program."))
    if form.ok:
        allowed = {
            AlertStatus.OPEN: {"acknowledged", "resolved"},
            AlertStatus.ACKNOWLEDGED: {"resolved"},
            AlertStatus.RESOLVED: set(),
        }[alert.status]
        if form.data["status"] not in allowed:
            _add_error(
                form,
                "status",
                _(
                    "This alert is “%(status)s”; it cannot become “%(new)s”.",
                    status=_alert_status_label(alert.status.value),
                    new=_alert_status_label(form.data["status"]),
                ),
            )
            return _follow_up_page(ws, db, actor, program, form=form, form_for=alert.id, status=409)
    if not form.ok:
        return _follow_up_page(ws, db, actor, program, form=form, form_for=alert.id, status=400)
    try:
        alerts.handle_alert(
            db,
            actor,
            alert.id,
            status=form.data["status"],
            note=(form.data.get("note") or "").strip() or None,
            now=_now(),
        )
    except PluginError as exc:
        status = _fail(form, exc)
        return _follow_up_page(ws, db, actor, program, form=form, form_for=alert.id, status=status)
    return _done("coordinator.follow_up_page", "alert", program_id=program.id)


# --------------------------------------------------------------------------- charts


@dataclass
class _Bar:
    value: float | None
    text: str
    series: int


@dataclass
class _Row:
    label: str
    bars: list[_Bar]


def _chart(
    rows: Sequence[_Row],
    *,
    max_value: float,
    ticks: Sequence[float],
    series: Sequence[str],
    title: str,
    desc: str,
    chart_id: str,
) -> dict[str, Any]:
    """Geometry of a horizontal bar chart (one label row, then one bar per series)."""
    width, left, right = 640, 16, 150
    bar_h, gap, label_h, top = 18, 4, 22, 12
    plot = width - left - right
    y = top
    items: list[dict[str, Any]] = []
    for row in rows:
        items.append({"kind": "label", "y": y + 15, "text": row.label})
        y += label_h
        for bar in row.bars:
            length = 0.0
            if bar.value is not None and max_value > 0:
                length = max(0.0, min(1.0, bar.value / max_value)) * plot
            items.append(
                {
                    "kind": "bar",
                    "y": y,
                    "w": round(length, 1),
                    "h": bar_h,
                    "series": bar.series,
                    "text": bar.text,
                    "tx": round(left + length + 6, 1),
                    "empty": bar.value is None,
                }
            )
            y += bar_h + gap
        y += 8
    height = y + 24
    return {
        "id": chart_id,
        "title": title,
        "desc": desc,
        "width": width,
        "height": height,
        "left": left,
        "plot": plot,
        "items": items,
        "series": list(series),
        "ticks": [
            {"x": round(left + (t / max_value) * plot, 1), "text": _num(t, 1)}
            for t in ticks
            if max_value > 0
        ],
        "axis_y": height - 20,
    }


def _figure_text(figure: Mapping[str, Any] | None, *, places: int = 2) -> str:
    if not figure:
        return "–"
    if figure.get("suppressed"):
        return _("withheld (fewer than %(min)s)", min=report.MIN_GROUP)
    if figure.get("value") is None:
        return _("no data")
    return _num(figure["value"], places)


def _skill_chart(learning: Mapping[str, Any]) -> dict[str, Any]:
    lang = current_language()
    rows: list[_Row] = []
    for skill in learning.get("skills", []):
        name = (
            (skill.get("name_de") if lang == "de" else None) or skill.get("name") or skill["code"]
        )
        for role in report.ROLES:
            figures = skill["by_role"][role]
            rows.append(
                _Row(
                    _("%(skill)s · %(role)s", skill=name, role=pages.role_label(role)),
                    [
                        _Bar(
                            figures["pre_mean"]["value"],
                            _("before: %(value)s", value=_figure_text(figures["pre_mean"])),
                            0,
                        ),
                        _Bar(
                            figures["post_mean"]["value"],
                            _("after: %(value)s", value=_figure_text(figures["post_mean"])),
                            1,
                        ),
                    ],
                )
            )
    return _chart(
        rows,
        max_value=5,
        ticks=[1, 2, 3, 4, 5],
        series=[_("Before (pre-assessment)"), _("After (post-assessment)")],
        title=_("Self-assessed level per skill and role, before and after"),
        desc=_(
            "Mean level from 1 to 5 for each skill, for juniors and seniors, before and after "
            "the program. Groups under %(min)s people are withheld. The table below has the "
            "same figures.",
            min=report.MIN_GROUP,
        ),
        chart_id="chart-skills",
    )


def _trend_chart(trend: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rows = [
        _Row(
            m["label"],
            [
                _Bar(
                    m["mean"],
                    _("withheld (fewer than %(min)s)", min=report.MIN_GROUP)
                    if m["suppressed"]
                    else (_num(m["mean"]) if m["mean"] is not None else _("no feedback")),
                    0,
                )
            ],
        )
        for m in trend
    ]
    return _chart(
        rows,
        max_value=5,
        ticks=[1, 2, 3, 4, 5],
        series=[_("Mean session rating")],
        title=_("Session feedback per month"),
        desc=_(
            "Mean rating from 1 to 5 of the feedback on sessions of each month. Months with "
            "feedback from fewer than %(min)s people are withheld. The table below has the "
            "same figures.",
            min=report.MIN_GROUP,
        ),
        chart_id="chart-trend",
    )


def _funnel(rep: Mapping[str, Any]) -> list[dict[str, Any]]:
    process, learning = rep["process"], rep["learning"]
    out: list[dict[str, Any]] = []
    for role in report.ROLES:
        enrolled = process["enrolled"][role]["active"]
        stages = [
            (_("Enrolled"), enrolled),
            (_("Matched"), process["matched"][role]["count"]),
            (_("Post-assessment done"), learning["assessments"][role]["post"]),
            (_("Completed"), process["completions"]["by_role"][role]["count"]),
        ]
        base = enrolled.get("value") if not enrolled.get("suppressed") else None
        out.append(
            {
                "role": role,
                "stages": [
                    {
                        "label": label,
                        "figure": figure,
                        "text": _figure_text(figure, places=0),
                        "share": (
                            figure["value"] / base
                            if base and figure.get("value") is not None
                            else None
                        ),
                    }
                    for label, figure in stages
                ],
            }
        )
    return out


def _funnel_chart(funnel: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rows: list[_Row] = []
    top = 0.0
    for item in funnel:
        bars = []
        for i, stage in enumerate(item["stages"]):
            value = stage["figure"].get("value")
            if value is not None:
                top = max(top, float(value))
            text = stage["text"]
            if stage["share"] is not None and i:
                text = _("%(count)s (%(share)s)", count=text, share=_pct(stage["share"]))
            bars.append(_Bar(value, f"{stage['label']}: {text}", min(i, 3)))
        rows.append(_Row(pages.role_label(item["role"]), bars))
    top = max(top, 1.0)
    step = max(1, math.ceil(top / 5))
    return _chart(
        rows,
        max_value=step * 5,
        ticks=[step * i for i in range(6)],
        series=[_("Enrolled"), _("Matched"), _("Post-assessment done"), _("Completed")],
        title=_("Completion funnel per role"),
        desc=_(
            "How many people of each role enrolled, were matched, submitted the "
            "post-assessment and completed. Groups under %(min)s people are withheld. The "
            "table below has the same figures.",
            min=report.MIN_GROUP,
        ),
        chart_id="chart-funnel",
    )


def _sessions_chart(months: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rows = []
    top = 1
    for m in months:
        cancelled = m["cancelled_mentor"] + m["cancelled_mentee"]
        top = max(top, m["held"], m["planned"], cancelled)
        rows.append(
            _Row(
                m["label"],
                [
                    _Bar(m["held"], _("held: %(count)s", count=m["held"]), 0),
                    _Bar(m["planned"], _("planned: %(count)s", count=m["planned"]), 1),
                    _Bar(cancelled, _("cancelled: %(count)s", count=cancelled), 2),
                ],
            )
        )
    step = max(1, math.ceil(top / 5))
    return _chart(
        rows,
        max_value=step * 5,
        ticks=[step * i for i in range(6)],
        series=[_("Held"), _("Planned"), _("Cancelled")],
        title=_("Sessions per month"),
        desc=_(
            "Held, planned and cancelled sessions of the program's tandems per month. The "
            "table below has the same figures."
        ),
        chart_id="chart-sessions",
    )


# --------------------------------------------------------------------------- report


def _report_context(db: Session, actor: Actor, program: Program) -> dict[str, Any]:
    rep = report.build_report(db, actor, program.id, now=_now())
    lang = current_language()
    funnel = _funnel(rep)
    trend = _labelled(report.feedback_trend(db, actor, program_id=program.id, now=_now()))
    skills_table = []
    for skill in rep["learning"].get("skills", []):
        name = (
            (skill.get("name_de") if lang == "de" else None) or skill.get("name") or skill["code"]
        )
        for role in report.ROLES:
            f = skill["by_role"][role]
            skills_table.append(
                {
                    "skill": name,
                    "role": role,
                    "pre": _figure_text(f["pre_mean"]),
                    "post": _figure_text(f["post_mean"]),
                    "gain": _figure_text(f["gain_mean"]),
                    "n": f["gain_mean"]["n"],
                }
            )
    rows = report.report_rows(rep)
    definitions = rep["definitions"]
    return {
        "rep": rep,
        "skills_chart": _skill_chart(rep["learning"]),
        "skills_table": skills_table,
        "trend": trend,
        "trend_chart": _trend_chart(trend),
        "funnel": funnel,
        "funnel_chart": _funnel_chart(funnel),
        "figure_text": _figure_text,
        "rows": [
            {
                **row,
                "text": _figure_text(row),
                "definition": (definitions.get(f"{row['level']}.{row['metric']}") or {}).get(
                    lang, ""
                ),
            }
            for row in rows
        ],
        "min_group": report.MIN_GROUP,
    }


@bp.get(f"/programs/<{_ID}:program_id>/report")
def report_page(program_id: int) -> Any:
    """The outcome report with charts (SVG and tables) and the exports."""
    ws, db, actor, program = _load(program_id)
    return _render(
        "pages/coordinator/report.html", ws, program=program, **_report_context(db, actor, program)
    )


def _safe_cell(value: Any) -> Any:
    # A spreadsheet must not run a cell as a formula (CSV injection).
    if isinstance(value, str) and value.startswith(_CSV_INJECTION):
        return "'" + value
    return value


@bp.get(f"/programs/<{_ID}:program_id>/report.csv")
def report_csv(program_id: int) -> Response:
    """The report's figures as CSV rows (level, metric, role, skill, value, n, suppressed)."""
    _ws, db, actor, program = _load(program_id)
    rows = report.report_rows(report.build_report(db, actor, program.id, now=_now()))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(report.CSV_FIELDS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        # The same rows as ``tandem report --format csv``.
        cells = {k: "" if row[k] is None else row[k] for k in report.CSV_FIELDS}
        cells["suppressed"] = "true" if row["suppressed"] else "false"
        writer.writerow({k: _safe_cell(v) for k, v in cells.items()})
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="tandem-report-{program.id}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get(f"/programs/<{_ID}:program_id>/report.json")
def report_json(program_id: int) -> Response:
    """The whole report as JSON (the same figures, with definitions)."""
    _ws, db, actor, program = _load(program_id)
    rep = report.build_report(db, actor, program.id, now=_now())
    return Response(
        json.dumps(rep, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="tandem-report-{program.id}.json"',
            "Cache-Control": "private, no-store",
        },
    )


# --------------------------------------------------------------------------- write-back


def _payload_person(message: OutboxMessage) -> int | None:
    payload = message.payload or {}
    person = payload.get("person")
    if isinstance(person, Mapping) and isinstance(person.get("id"), int):
        return int(person["id"])
    value = payload.get("person_id")
    return value if isinstance(value, int) else None


def _program_messages(
    db: Session, actor: Actor, program: Program
) -> tuple[list[OutboxMessage], bool]:
    """The program's outbox messages, newest first, and whether the window was full."""
    found: list[OutboxMessage] = []
    full = False
    for status in OutboxStatus:
        batch = outbox.list_program_messages(
            db, actor, program_id=program.id, status=status, limit=OUTBOX_WINDOW
        )
        full = full or len(batch) >= OUTBOX_WINDOW
        found.extend(batch)
    found.sort(key=lambda m: m.id, reverse=True)
    return found, full


def _writeback_page(
    ws: WebSession,
    db: Session,
    program: Program,
    *,
    form: Form | None = None,
    form_for: int | None = None,
    status: int = 200,
) -> Any:
    messages, full = _program_messages(db, ws.actor(), program)
    counts = Counter(m.status.value for m in messages)
    wanted = request.args.get("status", "")
    if wanted not in {s.value for s in OutboxStatus}:
        wanted = ""
    shown = [m for m in messages if not wanted or m.status.value == wanted]
    names = _person_names(db, ws, [p for m in shown if (p := _payload_person(m)) is not None])
    return _render(
        "pages/coordinator/writeback.html",
        ws,
        status=status,
        program=program,
        counts={s.value: counts[s.value] for s in OutboxStatus},
        total=len(messages),
        window_full=full,
        window=OUTBOX_WINDOW,
        status_filter=wanted,
        rows=[
            {
                "message": m,
                "person": names.get(p, "?") if (p := _payload_person(m)) is not None else "–",
            }
            for m in shown
        ],
        form=form,
        form_for=form_for,
    )


@bp.get(f"/programs/<{_ID}:program_id>/writeback")
def writeback_page(program_id: int) -> Any:
    """Write-back of the program's completions, hours and skill gains: delivered or not."""
    ws, db, _actor, program = _load(program_id)
    return _writeback_page(ws, db, program)


@bp.post(f"/programs/<{_ID}:program_id>/writeback/<{_ID}:message_id>/retry")
def retry_message(program_id: int, message_id: int) -> Any:
    """Send a failed message of the program again, with a fresh set of attempts."""
    ws, db, actor, program = _load(program_id)
    form = _parse(_csrf_only())
    try:
        message: OutboxMessage | None = outbox.get_message(db, actor, message_id)
    except (NotFound, PermissionDenied):
        message = None
    if message is None or message.program_id != program.id:
        raise NotFound(_("This message does not exist in this program."))
    if message.status is not OutboxStatus.DEAD:
        _add_error(
            form,
            "_form",
            _(
                "Only failed messages can be sent again; this one is “%(status)s”.",
                status=_outbox_status_label(message.status.value),
            ),
        )
        return _writeback_page(ws, db, program, form=form, form_for=message.id, status=409)
    try:
        outbox.retry(db, actor, message.id, now=_now())
    except PluginError as exc:
        status = _fail(form, exc)
        return _writeback_page(ws, db, program, form=form, form_for=message.id, status=status)
    return _done("coordinator.writeback_page", "retried", program_id=program.id)


@bp.after_request
def _no_store(response: Response) -> Response:
    # Pages about people: never kept by a shared cache or the back-forward cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response

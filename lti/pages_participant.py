"""Participant pages: enrol, start a tandem, sessions, feedback, goals, assessments, progress.

The read-only pages of :mod:`lti.pages` show where a person stands; the pages here let
them act. Every POST follows the same path (see :mod:`lti.forms`):

1. :func:`lti.forms.parse` checks the CSRF token, then a marshmallow schema validates the
   input (errors beside the fields, status 400, nothing written);
2. the core service is called with the session's person acting as a participant
   (:func:`lti.pages._participant`) — the services decide what is allowed. A refusal
   of the input (400) is shown beside its field; a refusal of the domain (403, 404, 409:
   already done, not open, not yours) above the page, with the service's status;
3. on success the browser is redirected (303) to a GET page whose ``?done=<key>`` becomes
   a translated notice.

Access: a program of another organization or an unknown id is 404; another tandem's
tandem, session, notes or goals is 403 (the services raise
:class:`plugin.errors.PermissionDenied`); an id of the right organization but another
program than the URL's is 404. Times are entered and shown in the person's time zone and
stored in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, redirect, request, url_for
from marshmallow import ValidationError as SchemaError
from marshmallow import fields, validates_schema
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from lti import pages, web_session
from lti.db import get_session
from lti.forms import Form, FormSchema, parse
from lti.i18n import _, error_text, lazy_gettext
from lti.web_session import WebSession
from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, PluginError
from plugin.models import (
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Goal,
    Person,
    Program,
    ProgramFormat,
    ProgramStatus,
    Skill,
    Tandem,
    TandemStatus,
)
from plugin.services import (
    assessments,
    completions,
    enrollments,
    participation,
    sessions,
    tandems,
)

__all__ = ["bp"]

bp = Blueprint("participant", __name__, url_prefix="/app")

_ID = "int(max=2147483647)"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MODES = ("remote", "hybrid", "in_person")
#: Languages offered as checkboxes (ISO 639-1); a person's other languages are added.
_LANGUAGES = ("de", "en", "fr", "es", "it", "nl", "pl", "pt", "cs", "tr", "sv", "da")
_LANG_CODE = re.compile(r"^[a-z]{2}$")
_HOURS = re.compile(r"^(\d{1,2})(?::00)?\s*[-–]\s*(\d{1,2})(?::00)?$")
_EMAIL_SPLIT = re.compile(r"[\s,;]+")
_MAX_PEOPLE = 10
_MAX_NOTE = 500
_MAX_EMAILS_TEXT = 3000


# --------------------------------------------------------------------------- labels


def _role_option_labels() -> list[tuple[str, str]]:
    return [
        (EnrollmentRole.MENTOR.value, _("Junior (mentor): I share what I know")),
        (EnrollmentRole.MENTEE.value, _("Senior (mentee): I want to learn")),
    ]


def _weekday_labels() -> dict[str, str]:
    return {
        "mon": _("Monday"),
        "tue": _("Tuesday"),
        "wed": _("Wednesday"),
        "thu": _("Thursday"),
        "fri": _("Friday"),
        "sat": _("Saturday"),
        "sun": _("Sunday"),
    }


def _mode_labels() -> dict[str, str]:
    return {
        "remote": _("Remote (video or phone)"),
        "hybrid": _("Hybrid (sometimes in person)"),
        "in_person": _("In person"),
    }


def _meeting_mode_labels() -> dict[str, str]:
    return {
        "in_person": _("In person"),
        "video": _("Video call"),
        "phone": _("Phone"),
        "hybrid": _("Hybrid"),
    }


def _language_labels() -> dict[str, str]:
    return {
        "de": _("German"),
        "en": _("English"),
        "fr": _("French"),
        "es": _("Spanish"),
        "it": _("Italian"),
        "nl": _("Dutch"),
        "pl": _("Polish"),
        "pt": _("Portuguese"),
        "cs": _("Czech"),
        "tr": _("Turkish"),
        "sv": _("Swedish"),
        "da": _("Danish"),
    }


def _level_labels() -> dict[int, str]:
    """What a self-assessed level 1–5 means."""
    return {
        1: _("1 – new to it"),
        2: _("2 – basic"),
        3: _("3 – comfortable"),
        4: _("4 – advanced"),
        5: _("5 – could teach it"),
    }


def _want_labels() -> dict[int, str]:
    """How much a senior wants a topic, 1–5."""
    return {
        1: _("1 – nice to have"),
        2: _("2 – of some interest"),
        3: _("3 – interested"),
        4: _("4 – very interested"),
        5: _("5 – top priority"),
    }


def _kind_labels() -> dict[str, str]:
    return {
        "pre": _("Before the program (pre)"),
        "post": _("After the program (post)"),
        "follow_up": _("Follow-up"),
    }


def _goal_status_options() -> list[tuple[str, str]]:
    return [(s, pages.goal_status_label(s)) for s in ("open", "in_progress", "met", "dropped")]


def _notice(done: str | None) -> str | None:
    """The notice shown after a successful form (``?done=<key>``)."""
    if not done:
        return None
    return {
        "enrolled": _("You are enrolled. Thank you for taking part!"),
        "withdrawn": _("You have withdrawn from the program. Thank you for having taken part."),
        "accepted": _("You accepted the match."),
        "declined": _(
            "You declined the match. You stay enrolled and can be matched in the next round."
        ),
        "confidentiality": _("You accepted the confidentiality agreement."),
        "kickoff": _("Your kick-off is recorded."),
        "planned": _("The session is planned."),
        "logged": _("The session is recorded as held."),
        "held": _("The session is recorded as held. Please give your feedback below."),
        "cancelled": _("The session is cancelled."),
        "notes": _("Your notes are saved."),
        "feedback": _("Thank you for your feedback."),
        "goal_added": _("The goal is added."),
        "goal_status": _("The goal's status is changed."),
        "action": _("The action is logged."),
        "assessment": _("Your self-assessment is submitted. Thank you!"),
        "survey": _("Thank you for answering the survey."),
    }.get(done)


# --------------------------------------------------------------------------- form base


def _check(ok: Callable[[Any], bool], message: Any) -> Callable[[Any], None]:
    """A marshmallow validator raising ``message`` (translated when it fails)."""

    def validator(value: Any) -> None:
        if not ok(value):
            raise SchemaError(str(message))

    return validator


class _Form(FormSchema):
    """A page form whose field messages are in the page's language.

    Fields declare their own messages with :func:`lazy_gettext`; marshmallow's English
    defaults are replaced by generic translated ones. Built per request, so every lazy
    text is turned into the request's language here (``lti.forms`` expects strings).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        generic = {
            "required": _("Please fill in this field."),
            "null": _("Please fill in this field."),
            "invalid": _("This value is not valid."),
            "validator_failed": _("This value is not valid."),
        }
        for declared in self.fields.values():
            defaults: dict[str, Any] = {}
            for klass in reversed(type(declared).__mro__):
                defaults.update(getattr(klass, "default_error_messages", {}))
            messages: dict[str, Any] = {}
            for key, message in declared.error_messages.items():
                if key in generic and isinstance(message, str) and defaults.get(key) == message:
                    message = generic[key]
                messages[key] = str(message)
            declared.error_messages = messages
            inner = getattr(declared, "inner", None)
            if inner is not None:
                inner.error_messages = {
                    k: str(generic.get(k, v)) for k, v in inner.error_messages.items()
                }


class _LocalDateTime(fields.Field):  # type: ignore[type-arg]
    """A ``datetime-local`` value (``2026-03-05T14:30``), naive: the view adds the zone."""

    default_error_messages = {"invalid": "Not a valid date and time."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.make_error("invalid") from None


def _codes(text: str | None) -> list[str]:
    """Language codes typed into a text field (``fr, pl``)."""
    return [c.strip().lower() for c in _EMAIL_SPLIT.split(text or "") if c.strip()]


def _int(
    lo: int,
    hi: int,
    *,
    required: bool = False,
    invalid: Any = None,
    out_of_range: Any = None,
    load_default: Any = None,
) -> fields.Integer:
    messages = {"invalid": invalid or lazy_gettext("Enter a whole number.")}
    if required:
        messages["required"] = invalid or lazy_gettext("Enter a whole number.")
    message = out_of_range or lazy_gettext(
        "Enter a whole number from %(lo)s to %(hi)s.", lo=lo, hi=hi
    )
    kwargs: dict[str, Any] = {"required": required}
    if not required:
        kwargs["load_default"] = load_default
    return fields.Integer(
        strict=False,
        validate=_check(lambda v: lo <= v <= hi, message),
        error_messages=messages,
        **kwargs,
    )


def _text(limit: int, *, required: bool = False, message: Any = None) -> fields.String:
    too_long = lazy_gettext("Please keep it under %(limit)s characters.", limit=limit)
    messages = {"required": message} if message is not None else {}
    kwargs: dict[str, Any] = {"required": required}
    if not required:
        kwargs["load_default"] = None
    return fields.String(
        validate=_check(lambda v: len(v.strip()) <= limit, too_long),
        error_messages=messages,
        **kwargs,
    )


def _choice(
    options: Sequence[str], *, required: bool = False, message: Any = None
) -> fields.String:
    text = message or lazy_gettext("Please choose one of the options.")
    kwargs: dict[str, Any] = {"required": required}
    if not required:
        kwargs["load_default"] = None
    return fields.String(
        validate=_check(lambda v: v in options, text),
        error_messages={"required": text},
        **kwargs,
    )


def _flag() -> fields.Boolean:
    return fields.Boolean(load_default=False)


def _must(message: Any) -> fields.Boolean:
    """A checkbox that has to be ticked (a confirmation, a consent)."""
    return fields.Boolean(
        required=True,
        validate=_check(bool, message),
        error_messages={"required": message, "invalid": message},
    )


def _fail(form: Form, exc: PluginError, aliases: Mapping[str, str] | None = None) -> Form:
    """Show a service's refusal beside its field (``aliases`` maps core → form names)."""
    name = (aliases or {}).get(exc.field or "", exc.field or "")
    if name in form.values or name in (aliases or {}).values():
        form.errors.setdefault(name, []).append(error_text(exc))
        form.data = {}
        return form
    return form.fail(exc)


def _refused(db: Session, form: Form, exc: PluginError, **aliases: str) -> tuple[int, Form | None]:
    """Forget the half-done work and say why the service refused.

    Bad input (400) is shown on the form, beside its field. A refusal of the domain
    (403, 404, 409: already done, not open, not yours) is about the state, not the
    input: it is shown above the page, which shows the current state without the form.

    Returns:
        The response status, and the form to show again (None: show the page as it is).
    """
    db.rollback()
    if exc.status_code == 400:
        return exc.status_code, _fail(form, exc, aliases)
    g.participant_refusal = error_text(exc)
    return exc.status_code, None


def _done(endpoint: str, key: str, **values: Any) -> WerkzeugResponse:
    """Post/Redirect/Get: 303 to a page that shows the notice for ``key``."""
    return redirect(url_for(endpoint, done=key, **values), code=303)


# --------------------------------------------------------------------------- schemas


class _WithdrawForm(_Form):
    confirm = _must(lazy_gettext("Please confirm that you want to withdraw from the program."))


class _RespondForm(_Form):
    decision = _choice(
        ("accept", "decline"),
        required=True,
        message=lazy_gettext("Please choose whether you accept or decline the match."),
    )
    reason = _text(tandems.MAX_REASON)

    @validates_schema
    def _reason_when_declining(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("decision") == "decline" and not (data.get("reason") or "").strip():
            raise SchemaError(_("Please tell the coordinators briefly why you decline."), "reason")


class _ConfidentialityForm(_Form):
    accept = _must(lazy_gettext("Please confirm that you accept the confidentiality agreement."))
    version = fields.String(load_default=None)


class _KickoffForm(_Form):
    expectations = _text(
        tandems.MAX_EXPECTATIONS,
        required=True,
        message=lazy_gettext("Please describe what you both expect of the tandem."),
    )
    meeting_mode = _choice(
        tandems.MEETING_MODES,
        required=True,
        message=lazy_gettext("Please choose how you will meet."),
    )
    goals = _text(tandems.MAX_GOALS_PER_CALL * (tandems.MAX_GOAL_TITLE + 2))

    @validates_schema
    def _goal_lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        lines = [g.strip() for g in (data.get("goals") or "").splitlines() if g.strip()]
        if len(lines) > tandems.MAX_GOALS_PER_CALL:
            raise SchemaError(
                _("Please list at most %(count)s goals.", count=tandems.MAX_GOALS_PER_CALL),
                "goals",
            )
        if any(len(g) > tandems.MAX_GOAL_TITLE for g in lines):
            raise SchemaError(
                _(
                    "Please keep each goal under %(limit)s characters.",
                    limit=tandems.MAX_GOAL_TITLE,
                ),
                "goals",
            )


def _when(message: Any) -> _LocalDateTime:
    return _LocalDateTime(required=True, error_messages={"required": message, "invalid": message})


class _PlanForm(_Form):
    scheduled_at = _when(lazy_gettext("Enter the date and time of the session."))
    planned_minutes = _int(1, sessions.MAX_MINUTES)
    topic = _text(sessions.MAX_TOPIC)


class _LogForm(_Form):
    held_at = _when(lazy_gettext("Enter when the session took place."))
    minutes = _int(
        1,
        sessions.MAX_MINUTES,
        required=True,
        invalid=lazy_gettext("Enter how many minutes the session lasted."),
    )
    held_topic = _text(sessions.MAX_TOPIC)


class _HoldForm(_Form):
    minutes = _int(
        1,
        sessions.MAX_MINUTES,
        required=True,
        invalid=lazy_gettext("Enter how many minutes the session lasted."),
    )
    held_at = _LocalDateTime(
        load_default=None,
        error_messages={"invalid": lazy_gettext("Enter when the session took place.")},
    )
    held_topic = _text(sessions.MAX_TOPIC)


class _CancelForm(_Form):
    reason = _text(
        sessions.MAX_REASON,
        required=True,
        message=lazy_gettext("Please give a reason; only your tandem sees it."),
    )


class _NotesForm(_Form):
    notes = fields.String(
        load_default="",
        validate=_check(
            lambda v: len(v.strip()) <= sessions.MAX_NOTES,
            lazy_gettext("Please keep it under %(limit)s characters.", limit=sessions.MAX_NOTES),
        ),
    )


class _FeedbackForm(_Form):
    rating = _int(
        1,
        5,
        required=True,
        invalid=lazy_gettext("Please rate the session from 1 to 5."),
        out_of_range=lazy_gettext("Please rate the session from 1 to 5."),
    )
    safety_pulse = _int(1, 5, out_of_range=lazy_gettext("Please choose a value from 1 to 5."))
    comment = _text(sessions.MAX_COMMENT)
    shared = _flag()


class _GoalForm(_Form):
    title = _text(
        tandems.MAX_GOAL_TITLE,
        required=True,
        message=lazy_gettext("Please name the goal."),
    )
    description = _text(tandems.MAX_GOAL_DESCRIPTION)
    due_on = fields.Date(
        load_default=None,
        error_messages={"invalid": lazy_gettext("Enter a date such as 2026-06-30.")},
    )


class _GoalStatusForm(_Form):
    status = _choice(
        ("open", "in_progress", "met", "dropped"),
        required=True,
        message=lazy_gettext("Please choose a status."),
    )


class _ActionForm(_Form):
    action_description = _text(
        tandems.MAX_ACTION,
        required=True,
        message=lazy_gettext("Please describe what you changed."),
    )
    taken_on = fields.Date(
        required=True,
        error_messages={
            "required": lazy_gettext("Enter the date of the change."),
            "invalid": lazy_gettext("Enter a date such as 2026-06-30."),
        },
    )
    credited_mentor_id = _int(1, 2147483647)


class _SurveyForm(_Form):
    satisfaction = _int(
        1,
        5,
        required=True,
        invalid=lazy_gettext("Please choose how satisfied you are, from 1 to 5."),
        out_of_range=lazy_gettext("Please choose how satisfied you are, from 1 to 5."),
    )
    relationship_formed = _choice(
        ("yes", "no"), required=True, message=lazy_gettext("Please answer yes or no.")
    )
    would_continue = _choice(
        ("yes", "no"), required=True, message=lazy_gettext("Please answer yes or no.")
    )
    would_do_again = _choice(
        ("yes", "no"), required=True, message=lazy_gettext("Please answer yes or no.")
    )
    comment = _text(assessments.MAX_SURVEY_COMMENT)
    role = fields.String(load_default=None)


def _assessment_form(skills: Sequence[Skill]) -> _Form:
    message = lazy_gettext("Please choose a level from 1 to 5.")
    declared: dict[str, Any] = {
        f"level_{s.id}": _int(1, 5, required=True, invalid=message, out_of_range=message)
        for s in skills
    }
    declared["role"] = fields.String(load_default=None)
    generated = _Form.from_dict(declared, name="AssessmentForm")
    return cast("_Form", generated())


def _enrol_form(skills: Sequence[Skill]) -> _Form:
    level = lazy_gettext("Please choose a level from 1 to 5.")
    declared: dict[str, Any] = {
        "role": _choice(
            [r.value for r in EnrollmentRole],
            required=True,
            message=lazy_gettext("Please choose whether you take part as a junior or a senior."),
        ),
        "consent": _must(
            lazy_gettext(
                "Taking part is voluntary: please confirm that you agree to the "
                "program's agreement."
            )
        ),
        "consent_version": fields.String(load_default=None),
        "capacity": _int(
            1,
            enrollments.MAX_CAPACITY,
            load_default=1,
            out_of_range=lazy_gettext(
                "Enter a number of tandems from 1 to %(max)s.", max=enrollments.MAX_CAPACITY
            ),
        ),
        "languages": fields.List(fields.String(), load_default=list),
        "other_languages": _text(100),
        "weekdays": fields.List(
            fields.String(
                validate=_check(
                    lambda v: v in _WEEKDAYS, lazy_gettext("Please choose days of the week.")
                )
            ),
            load_default=list,
        ),
        "hours": _text(20),
        "mode": _choice(_MODES),
        "availability_note": _text(_MAX_NOTE),
        "avoid": _text(_MAX_EMAILS_TEXT),
        "prefer": _text(_MAX_EMAILS_TEXT),
    }
    for s in skills:
        declared[f"offered_{s.id}"] = _int(1, 5, invalid=level, out_of_range=level)
        declared[f"wanted_{s.id}"] = _int(1, 5, invalid=level, out_of_range=level)

    class EnrolForm(_Form):
        @validates_schema(skip_on_field_errors=False)
        def _whole_form(self, data: dict[str, Any], **kwargs: Any) -> None:
            errors: dict[str, list[str]] = {}
            other = _codes(data.get("other_languages"))
            bad = [c for c in other if not _LANG_CODE.match(c)]
            if bad:
                errors["other_languages"] = [
                    _(
                        "Use two-letter language codes such as fr or pl, not %(codes)s.",
                        codes=", ".join(bad),
                    )
                ]
            if not data.get("languages") and not other:
                errors["languages"] = [_("Please choose at least one language you can meet in.")]
            if any(not _LANG_CODE.match(c) for c in data.get("languages") or []):
                errors["languages"] = [_("Please choose languages from the list.")]
            hours = (data.get("hours") or "").strip()
            if hours:
                found = _HOURS.match(hours)
                if not found or not 0 <= int(found[1]) < int(found[2]) <= 24:
                    errors["hours"] = [
                        _("Enter a time window such as 09-12 (from 9 to 12 o'clock).")
                    ]
            if errors:
                raise SchemaError(errors)

    generated = EnrolForm.from_dict(declared, name="EnrolForm")
    return cast("_Form", generated())


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    # One clock for the read pages and these forms (tests move it in lti.pages).
    return pages._now()


def _context() -> tuple[WebSession, Session, Actor]:
    ws = web_session.require()
    return ws, get_session(), pages._participant(ws)


def _zone(db: Session, ws: WebSession) -> ZoneInfo:
    return pages._zone(db.get(Person, ws.person_id))


def _local_input(value: datetime | None, zone: ZoneInfo) -> str:
    """A UTC moment as a ``datetime-local`` value in the person's zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _to_utc(value: datetime, zone: ZoneInfo) -> datetime | None:
    """A local wall-clock time in ``zone`` as UTC; None if the clocks skip that time."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        return None
    return local.astimezone(UTC)


def _localize(form: Form, name: str, zone: ZoneInfo) -> datetime | None:
    """The form's local time ``name`` in UTC; records an error when it does not exist."""
    value = form.data.get(name)
    if value is None:
        return None
    moment = _to_utc(value, zone)
    if moment is None:
        form.errors.setdefault(name, []).append(
            _("This time does not exist in your time zone (the clocks change). Choose another.")
        )
        form.data = {}
    return moment


def _program_skills(db: Session, program: Program) -> list[Skill]:
    return assessments.program_skills(db, program)


def _skill_name(skill: Skill | Mapping[str, Any], lang: str) -> str:
    if isinstance(skill, Mapping):
        return str(skill.get("name_de") if lang == "de" else skill.get("name"))
    return (skill.name_de or skill.name) if lang == "de" else skill.name


def _tandem(db: Session, actor: Actor, program: Program, tandem_id: int) -> dict[str, Any]:
    """A tandem of the program as its member sees it (403 for others, 404 elsewhere)."""
    view = tandems.tandem_view(db, actor, tandem_id)
    if view["program"]["id"] != program.id:
        raise NotFound(f"tandem {tandem_id} not found in this program", field="tandem")
    return view


def _partners(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    me = view["you"]["person_id"]
    return [m for m in view["members"] if m["person_id"] != me]


def _session(db: Session, actor: Actor, program: Program, session_id: int) -> dict[str, Any]:
    """One session as its tandem's member sees it (403 for others, 404 elsewhere)."""
    row = sessions.session_view(db, actor, session_id)
    tandem = tandems.get_tandem_for(db, actor, row["tandem_id"])
    if tandem.program_id != program.id:
        raise NotFound(f"session {session_id} not found in this program", field="session")
    return row


def _own_enrollment(
    db: Session, ws: WebSession, program: Program, enrollment_id: int
) -> Enrollment:
    enrollment = enrollments.get_enrollment(db, org_id=ws.org_id, enrollment_id=enrollment_id)
    if enrollment.program_id != program.id:
        raise NotFound(f"enrollment {enrollment_id} not found in this program", field="enrollment")
    if enrollment.person_id != ws.person_id:
        raise PermissionDenied("this enrolment is someone else's", field="enrollment")
    return enrollment


def _names(db: Session, org_id: int, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = db.execute(
        select(Person.id, Person.given_name, Person.family_name).where(
            Person.org_id == org_id, Person.id.in_(wanted)
        )
    )
    return {pid: f"{given} {family}" for pid, given, family in rows}


def _open_roles(program: Program, mine: Sequence[Enrollment]) -> list[str]:
    """The roles the person may still enrol in (one role per person in one_to_one)."""
    active = {e.role.value for e in mine if e.status is EnrollmentStatus.ACTIVE}
    if program.format is ProgramFormat.ONE_TO_ONE and active:
        return []
    return [r.value for r in EnrollmentRole if r.value not in active]


def _render(template: str, ws: WebSession, **context: Any) -> str:
    return pages._render(
        template,
        ws,
        notice=_notice(request.args.get("done")),
        refusal=g.get("participant_refusal"),
        level_labels=_level_labels(),
        want_labels=_want_labels(),
        kind_labels=_kind_labels(),
        meeting_mode_labels=_meeting_mode_labels(),
        **context,
    )


@bp.after_request
def _no_store(response: Response) -> Response:
    # Personal pages and forms: never kept by a shared cache or the back-forward cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- enrol


def _people_by_email(db: Session, ws: WebSession, form: Form, name: str) -> list[int] | None:
    """Colleagues named by email in field ``name`` (None and an error when one is unknown)."""
    text = (form.data.get(name) or "").strip().lower()
    emails = sorted({e for e in _EMAIL_SPLIT.split(text) if e})
    if not emails:
        return []
    if len(emails) > _MAX_PEOPLE:
        form.errors[name] = [_("Please name at most %(count)s people.", count=_MAX_PEOPLE)]
        return None
    bad = [e for e in emails if "@" not in e]
    if bad:
        form.errors[name] = [
            _("Enter email addresses, one per line; not an address: %(text)s", text=bad[0])
        ]
        return None
    rows = db.execute(
        select(Person.id, func.lower(Person.email)).where(
            Person.org_id == ws.org_id, func.lower(Person.email).in_(emails)
        )
    ).all()
    found = {email: pid for pid, email in rows}
    missing = [e for e in emails if e not in found]
    if missing:
        form.errors[name] = [
            _("We found no colleague with the email address %(email)s.", email=missing[0])
        ]
        return None
    ids = sorted(set(found.values()))
    if ws.person_id in ids:
        form.errors[name] = [_("Please do not name yourself.")]
        return None
    return ids


def _topics(form: Form, skills: Sequence[Skill], prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in skills:
        level = form.data.get(f"{prefix}_{s.id}")
        if level is not None:
            out[s.code] = int(level)
    return out


def _enrol_page(ws: WebSession, db: Session, program: Program, form: Form | None = None) -> str:
    actor = pages._participant(ws)
    person = db.get(Person, ws.person_id)
    mine = participation.own_enrollments(db, actor, program.id)
    roles = _open_roles(program, mine)
    known = _language_labels()
    own_langs = list(person.languages or []) if person is not None else []
    language_options = [(code, known[code]) for code in _LANGUAGES] + [
        (code, code) for code in own_langs if code not in known and _LANG_CODE.match(code)
    ]
    lang = pages.page_language(ws.locale)
    skills = _program_skills(db, program)
    return _render(
        "pages/participant/enrol.html",
        ws,
        program=program,
        form=form,
        open_for_enrolment=program.status in enrollments.OPEN_STATUSES,
        roles=[(v, label) for v, label in _role_option_labels() if v in roles],
        already=[e for e in mine if e.status is EnrollmentStatus.ACTIVE],
        skills=[{"id": s.id, "code": s.code, "name": _skill_name(s, lang)} for s in skills],
        language_options=language_options,
        default_languages=[c for c in own_langs if _LANG_CODE.match(c)] or [lang],
        weekday_options=list(_weekday_labels().items()),
        mode_options=[("", _("No preference")), *_mode_labels().items()],
        bidirectional=program.format is ProgramFormat.BIDIRECTIONAL,
        offered_options=[("", _("Not offered"))]
        + [(str(i), label) for i, label in _level_labels().items()],
        wanted_options=[("", _("Not wanted"))]
        + [(str(i), label) for i, label in _want_labels().items()],
        max_capacity=enrollments.MAX_CAPACITY,
        invitation=participation.invitation(db, actor, program.id),
    )


@bp.route(f"/programs/<{_ID}:program_id>/enrol", methods=["GET", "POST"])
def enrol(program_id: int) -> Any:
    """Enrol in a program: consent, role, topics with levels, languages, availability."""
    ws, db, _actor = _context()
    program = pages._program(ws, program_id)
    if request.method == "GET":
        return _enrol_page(ws, db, program)
    skills = _program_skills(db, program)
    form = parse(_enrol_form(skills), request.form)
    mine = participation.own_enrollments(db, pages._participant(ws), program.id)
    if program.status not in enrollments.OPEN_STATUSES or not _open_roles(program, mine):
        # Nothing to fill in: the page says why (closed, or already enrolled).
        g.participant_refusal = (
            _("You are already enrolled in this program.")
            if program.status in enrollments.OPEN_STATUSES
            else _("Enrolment is not open for this program at the moment.")
        )
        return _enrol_page(ws, db, program), 409
    if not form.ok:
        return _enrol_page(ws, db, program, form), 400
    role = str(form.data["role"])
    offered = _topics(form, skills, "offered")
    wanted = _topics(form, skills, "wanted")
    both = program.format is ProgramFormat.BIDIRECTIONAL
    if skills and role == EnrollmentRole.MENTOR.value and not offered:
        form.errors["topics_offered"] = [_("Please choose at least one topic you can share.")]
    if skills and role == EnrollmentRole.MENTEE.value and not wanted:
        form.errors["topics_wanted"] = [_("Please choose at least one topic you want to learn.")]
    avoid = _people_by_email(db, ws, form, "avoid")
    prefer = _people_by_email(db, ws, form, "prefer")
    if avoid and prefer and set(avoid) & set(prefer):
        form.errors["prefer"] = [_("Nobody can be both avoided and preferred.")]
    if form.errors:
        form.data = {}
        return _enrol_page(ws, db, program, form), 400
    person = db.get(Person, ws.person_id)
    if person is None:  # pragma: no cover - a session's person is never deleted
        raise NotFound("person not found", field="person")
    other = _codes(form.data.get("other_languages"))
    availability: dict[str, Any] = {}
    if form.data.get("weekdays"):
        availability["weekdays"] = [d for d in _WEEKDAYS if d in form.data["weekdays"]]
    hours = _HOURS.match((form.data.get("hours") or "").strip())
    if hours:
        availability["hours"] = f"{int(hours[1]):02d}-{int(hours[2]):02d}"
    if form.data.get("mode"):
        availability["mode"] = form.data["mode"]
    note = (form.data.get("availability_note") or "").strip()
    if note:
        availability["note"] = note
    try:
        enrollments.enroll(
            db,
            program=program,
            person=person,
            role=role,
            consent=bool(form.data.get("consent")),
            consent_version=form.data.get("consent_version"),
            topics_offered=offered if role == EnrollmentRole.MENTOR.value or both else None,
            topics_wanted=wanted if role == EnrollmentRole.MENTEE.value or both else None,
            # Juniors may mentor several seniors; a senior takes part in one tandem.
            capacity=int(form.data.get("capacity") or 1) if role == "mentor" else 1,
            languages=sorted({*form.data.get("languages", []), *other}),
            availability=availability,
            avoid_person_ids=avoid,
            prefer_person_ids=prefer,
            actor=f"lti:person:{ws.person_id}",
            now=_now(),
        )
    except PluginError as exc:
        status, shown = _refused(
            db,
            form,
            exc,
            consent_version="consent",
            topics_offered="topics_offered",
            topics_wanted="topics_wanted",
            avoid_person_ids="avoid",
            prefer_person_ids="prefer",
            availability="hours",
            person="_form",
        )
        return _enrol_page(ws, db, pages._program(ws, program_id), shown), status
    return _done("participant.enrolment", "enrolled", program_id=program.id)


@bp.get(f"/programs/<{_ID}:program_id>/enrolment")
def enrolment(program_id: int) -> str:
    """The person's enrolments in the program: what they told it, and how to withdraw."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    mine = participation.own_enrollments(db, actor, program.id)
    lang = pages.page_language(ws.locale)
    skill_names = {s.code: _skill_name(s, lang) for s in _program_skills(db, program)}
    people = _names(
        db, ws.org_id, [p for e in mine for p in (*e.avoid_person_ids, *e.prefer_person_ids)]
    )
    return _render(
        "pages/participant/enrolment.html",
        ws,
        program=program,
        mine=mine,
        skill_names=skill_names,
        people=people,
        language_labels=_language_labels(),
        weekday_labels=_weekday_labels(),
        mode_labels=_mode_labels(),
        open_roles=_open_roles(program, mine)
        if program.status in enrollments.OPEN_STATUSES
        else [],
    )


def _withdraw_page(
    ws: WebSession,
    db: Session,
    program: Program,
    enrollment: Enrollment,
    form: Form | None = None,
) -> str:
    actor = pages._participant(ws)
    in_tandem = [
        t
        for t in tandems.my_tandems(db, actor, program_id=program.id)
        if t.status in (TandemStatus.PROPOSED, TandemStatus.ACCEPTED, TandemStatus.ACTIVE)
        and any(m.enrollment_id == enrollment.id for m in t.members)
    ]
    return _render(
        "pages/participant/withdraw.html",
        ws,
        program=program,
        enrollment=enrollment,
        form=form,
        in_tandem=bool(in_tandem),
        group=program.format is ProgramFormat.GROUP,
    )


@bp.route(
    f"/programs/<{_ID}:program_id>/enrolment/<{_ID}:enrollment_id>/withdraw",
    methods=["GET", "POST"],
)
def withdraw(program_id: int, enrollment_id: int) -> Any:
    """Withdraw consent after a confirmation that explains what happens."""
    ws, db, _actor = _context()
    program = pages._program(ws, program_id)
    enrollment = _own_enrollment(db, ws, program, enrollment_id)
    if request.method == "GET":
        return _withdraw_page(ws, db, program, enrollment)
    form = parse(_WithdrawForm(), request.form)
    if not form.ok:
        return _withdraw_page(ws, db, program, enrollment, form), 400
    try:
        enrollments.withdraw(db, enrollment, actor=f"lti:person:{ws.person_id}", now=_now())
    except PluginError as exc:
        status, shown = _refused(db, form, exc, enrollment="_form")
        program = pages._program(ws, program_id)
        enrollment = _own_enrollment(db, ws, program, enrollment_id)
        return _withdraw_page(ws, db, program, enrollment, shown), status
    return _done("participant.enrolment", "withdrawn", program_id=program.id)


# --------------------------------------------------------------------------- tandem start


def _tandem_page(
    ws: WebSession,
    db: Session,
    program: Program,
    tandem_id: int,
    forms: Mapping[str, Form | None] | None = None,
) -> str:
    actor = pages._participant(ws)
    view = _tandem(db, actor, program, tandem_id)
    lang = pages.page_language(ws.locale)
    me = view["you"]["person_id"]
    approved = view["status"] != TandemStatus.PROPOSED.value or view.get("approved")
    explanation = (db.get_one(Tandem, tandem_id).explanation or {}) if approved else {}
    kickoff = view.get("kickoff") or {}
    forms = dict(forms or {})
    return _render(
        "pages/participant/tandem.html",
        ws,
        program=program,
        view=view,
        partners=_partners(view),
        why=list(explanation.get(lang) or explanation.get("en") or []),
        status_text=pages._tandem_status_text(view),
        waiting=pages._waiting_texts(view, me),
        next_steps=view.get("next", []),
        answered=any(m["person_id"] == me and m["accepted"] for m in view["members"]),
        working=view["status"] in (TandemStatus.ACCEPTED.value, TandemStatus.ACTIVE.value),
        active=view["status"] == TandemStatus.ACTIVE.value,
        kickoff=kickoff,
        theme=sessions.theme_for(program, _now().date()),
        respond_form=forms.get("respond"),
        confidentiality_form=forms.get("confidentiality"),
        kickoff_form=forms.get("kickoff"),
        meeting_modes=list(_meeting_mode_labels().items()),
    )


@bp.get(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>")
def tandem(program_id: int, tandem_id: int) -> str:
    """Start a tandem: respond to the match, accept confidentiality, record the kick-off."""
    ws, db, _actor = _context()
    return _tandem_page(ws, db, pages._program(ws, program_id), tandem_id)


def _tandem_post(
    program_id: int,
    tandem_id: int,
    key: str,
    schema: type[_Form],
    act: Callable[[Session, Actor, Form], str],
    **aliases: str,
) -> Any:
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    _tandem(db, actor, program, tandem_id)  # 403/404 before the form is read
    form = parse(schema(), request.form)  # built once the session sets the language
    if not form.ok:
        return _tandem_page(ws, db, program, tandem_id, {key: form}), 400
    try:
        done = act(db, actor, form)
    except PluginError as exc:
        status, shown = _refused(db, form, exc, **aliases)
        return _tandem_page(ws, db, pages._program(ws, program_id), tandem_id, {key: shown}), status
    return _done("participant.tandem", done, program_id=program.id, tandem_id=tandem_id)


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/respond")
def respond(program_id: int, tandem_id: int) -> Any:
    """Accept or decline a proposed match."""

    def act(db: Session, actor: Actor, form: Form) -> str:
        accept = form.data["decision"] == "accept"
        tandems.respond(
            db, actor, tandem_id, accept=accept, reason=form.data.get("reason"), now=_now()
        )
        return "accepted" if accept else "declined"

    return _tandem_post(
        program_id, tandem_id, "respond", _RespondForm, act, accept="decision", status="decision"
    )


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/confidentiality")
def confidentiality(program_id: int, tandem_id: int) -> Any:
    """Accept the program's confidentiality agreement (the version read)."""

    def act(db: Session, actor: Actor, form: Form) -> str:
        tandems.accept_confidentiality(
            db, actor, tandem_id, version=form.data.get("version"), now=_now()
        )
        return "confidentiality"

    return _tandem_post(
        program_id,
        tandem_id,
        "confidentiality",
        _ConfidentialityForm,
        act,
        version="accept",
        status="accept",
    )


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/kickoff")
def kickoff(program_id: int, tandem_id: int) -> Any:
    """Record (or update) the kick-off: expectations, how to meet, first goals."""

    def act(db: Session, actor: Actor, form: Form) -> str:
        goals = [g.strip() for g in (form.data.get("goals") or "").splitlines() if g.strip()]
        tandems.record_kickoff(
            db,
            actor,
            tandem_id,
            expectations=form.data["expectations"],
            meeting_mode=form.data["meeting_mode"],
            goals=goals,
            now=_now(),
        )
        return "kickoff"

    return _tandem_post(program_id, tandem_id, "kickoff", _KickoffForm, act, status="_form")


# --------------------------------------------------------------------------- sessions


def _new_session_page(
    ws: WebSession,
    db: Session,
    program: Program,
    tandem_id: int,
    forms: Mapping[str, Form | None] | None = None,
) -> str:
    actor = pages._participant(ws)
    view = _tandem(db, actor, program, tandem_id)
    zone = _zone(db, ws)
    now = _now()
    return _render(
        "pages/participant/new_session.html",
        ws,
        program=program,
        view=view,
        partners=_partners(view),
        active=view["status"] == TandemStatus.ACTIVE.value,
        zone_name=str(zone.key),
        theme=sessions.theme_for(program, now.date()),
        plan_form=(forms or {}).get("plan"),
        log_form=(forms or {}).get("log"),
        now_local=_local_input(now, zone),
        window_start=program.starts_on.isoformat() + "T00:00",
        window_end=program.ends_on.isoformat() + "T23:59",
        max_minutes=sessions.MAX_MINUTES,
    )


@bp.get(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/sessions/new")
def new_session(program_id: int, tandem_id: int) -> str:
    """Plan a session, or log one that took place without being planned."""
    ws, db, _actor = _context()
    return _new_session_page(ws, db, pages._program(ws, program_id), tandem_id)


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/sessions/plan")
def plan_session(program_id: int, tandem_id: int) -> Any:
    """Plan a session at a local date and time."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    _tandem(db, actor, program, tandem_id)
    form = parse(_PlanForm(), request.form)
    when = _localize(form, "scheduled_at", _zone(db, ws)) if form.ok else None
    if not form.ok or when is None:
        return _new_session_page(ws, db, program, tandem_id, {"plan": form}), 400
    try:
        row = sessions.plan_session(
            db,
            actor,
            tandem_id,
            scheduled_at=when,
            planned_minutes=form.data.get("planned_minutes"),
            topic=form.data.get("topic"),
            now=_now(),
        )
    except PluginError as exc:
        status, shown = _refused(db, form, exc, tandem="_form", program="_form")
        page = _new_session_page(ws, db, pages._program(ws, program_id), tandem_id, {"plan": shown})
        return page, status
    return _done("participant.session", "planned", program_id=program.id, session_id=row.id)


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/sessions/log")
def log_session(program_id: int, tandem_id: int) -> Any:
    """Log a session that took place without being planned."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    _tandem(db, actor, program, tandem_id)
    form = parse(_LogForm(), request.form)
    when = _localize(form, "held_at", _zone(db, ws)) if form.ok else None
    if not form.ok or when is None:
        return _new_session_page(ws, db, program, tandem_id, {"log": form}), 400
    try:
        row = sessions.log_session(
            db,
            actor,
            tandem_id,
            held_at=when,
            minutes=form.data["minutes"],
            topic=form.data.get("held_topic"),
            now=_now(),
        )
    except PluginError as exc:
        status, shown = _refused(
            db, form, exc, topic="held_topic", scheduled_at="held_at", tandem="_form"
        )
        page = _new_session_page(ws, db, pages._program(ws, program_id), tandem_id, {"log": shown})
        return page, status
    return _done("participant.session", "logged", program_id=program.id, session_id=row.id)


def _session_page(
    ws: WebSession,
    db: Session,
    program: Program,
    session_id: int,
    forms: Mapping[str, Form | None] | None = None,
) -> str:
    actor = pages._participant(ws)
    row = _session(db, actor, program, session_id)
    view = _tandem(db, actor, program, row["tandem_id"])
    zone = _zone(db, ws)
    notes = sessions.get_notes(db, actor, session_id)
    me = view["you"]
    pulse = (
        me["role"] == EnrollmentRole.MENTOR.value
        and program.format is not ProgramFormat.BIDIRECTIONAL
    )
    now = _now()
    scheduled = row["scheduled_at"]
    return _render(
        "pages/participant/session.html",
        ws,
        program=program,
        s=row,
        view=view,
        partners=_partners(view),
        notes=notes or "",
        active=view["status"] == TandemStatus.ACTIVE.value,
        zone_name=str(zone.key),
        held_at_default=_local_input(scheduled if scheduled <= now else now, zone),
        pulse=pulse,
        hold_form=(forms or {}).get("hold"),
        cancel_form=(forms or {}).get("cancel"),
        notes_form=(forms or {}).get("notes"),
        feedback_form=(forms or {}).get("feedback"),
        max_minutes=sessions.MAX_MINUTES,
        rating_options=[(str(i), str(i)) for i in range(1, 6)],
        rating_labels={
            1: _("1 – not helpful"),
            2: _("2 – somewhat helpful"),
            3: _("3 – helpful"),
            4: _("4 – very helpful"),
            5: _("5 – excellent"),
        },
        pulse_labels={
            1: _("1 – I did not feel safe to speak openly"),
            2: _("2 – I held back a lot"),
            3: _("3 – mostly open"),
            4: _("4 – open"),
            5: _("5 – completely safe to say anything"),
        },
    )


@bp.get(f"/programs/<{_ID}:program_id>/sessions/<{_ID}:session_id>")
def session(program_id: int, session_id: int) -> str:
    """One session: record it as held, cancel it, keep notes, give feedback."""
    ws, db, _actor = _context()
    return _session_page(ws, db, pages._program(ws, program_id), session_id)


def _session_post(
    program_id: int,
    session_id: int,
    key: str,
    schema: type[_Form],
    act: Callable[[Session, Actor, Form, ZoneInfo], str | None],
    **aliases: str,
) -> Any:
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    _session(db, actor, program, session_id)  # 403/404 before the form is read
    form = parse(schema(), request.form)  # built once the session sets the language
    done: str | None = None
    if form.ok:
        try:
            done = act(db, actor, form, _zone(db, ws))
        except PluginError as exc:
            status, shown = _refused(db, form, exc, **aliases)
            page = _session_page(ws, db, pages._program(ws, program_id), session_id, {key: shown})
            return page, status
    if done is None:
        return _session_page(ws, db, program, session_id, {key: form}), 400
    return _done("participant.session", done, program_id=program.id, session_id=session_id)


@bp.post(f"/programs/<{_ID}:program_id>/sessions/<{_ID}:session_id>/hold")
def hold_session(program_id: int, session_id: int) -> Any:
    """Record a planned session as held (minutes, when, the topic discussed)."""

    def act(db: Session, actor: Actor, form: Form, zone: ZoneInfo) -> str | None:
        when = _localize(form, "held_at", zone) if form.data.get("held_at") else None
        if not form.ok:
            return None
        sessions.hold_session(
            db,
            actor,
            session_id,
            minutes=form.data["minutes"],
            held_at=when,
            topic=form.data.get("held_topic"),
            now=_now(),
        )
        return "held"

    return _session_post(
        program_id,
        session_id,
        "hold",
        _HoldForm,
        act,
        topic="held_topic",
        scheduled_at="held_at",
        session="_form",
    )


@bp.post(f"/programs/<{_ID}:program_id>/sessions/<{_ID}:session_id>/cancel")
def cancel_session(program_id: int, session_id: int) -> Any:
    """Cancel a planned session, with a reason only the tandem sees."""

    def act(db: Session, actor: Actor, form: Form, zone: ZoneInfo) -> str:
        sessions.cancel_session(db, actor, session_id, reason=form.data["reason"], now=_now())
        return "cancelled"

    return _session_post(program_id, session_id, "cancel", _CancelForm, act, session="_form")


@bp.post(f"/programs/<{_ID}:program_id>/sessions/<{_ID}:session_id>/notes")
def session_notes(program_id: int, session_id: int) -> Any:
    """Save the session's private notes (the tandem's members only)."""

    def act(db: Session, actor: Actor, form: Form, zone: ZoneInfo) -> str:
        sessions.set_notes(db, actor, session_id, text=form.data.get("notes") or "", now=_now())
        return "notes"

    return _session_post(program_id, session_id, "notes", _NotesForm, act)


@bp.post(f"/programs/<{_ID}:program_id>/sessions/<{_ID}:session_id>/feedback")
def give_feedback(program_id: int, session_id: int) -> Any:
    """Give feedback on a held session, once (rating, pulse for the junior, comment)."""

    def act(db: Session, actor: Actor, form: Form, zone: ZoneInfo) -> str:
        sessions.give_feedback(
            db,
            actor,
            session_id,
            rating=form.data["rating"],
            comment=form.data.get("comment"),
            safety_pulse=form.data.get("safety_pulse"),
            shared_with_partner=bool(form.data.get("shared")),
            now=_now(),
        )
        return "feedback"

    return _session_post(program_id, session_id, "feedback", _FeedbackForm, act, session="_form")


# --------------------------------------------------------------------------- goals


def _goals_page(
    ws: WebSession,
    db: Session,
    program: Program,
    tandem_id: int,
    forms: Mapping[str, Form | None] | None = None,
    failed_goal: int | None = None,
) -> str:
    actor = pages._participant(ws)
    view = _tandem(db, actor, program, tandem_id)
    me = view["you"]
    names = {m["person_id"]: m["name"] for m in view["members"]}
    peers = program.format is ProgramFormat.BIDIRECTIONAL
    logs_actions = peers or me["role"] == EnrollmentRole.MENTEE.value
    credit_options = [
        (str(m["person_id"]), m["name"])
        for m in view["members"]
        if m["person_id"] != me["person_id"]
        and not m.get("withdrawn")
        and (peers or m["role"] == EnrollmentRole.MENTOR.value)
    ]
    return _render(
        "pages/participant/goals.html",
        ws,
        program=program,
        view=view,
        partners=_partners(view),
        names=names,
        working=view["status"] in (TandemStatus.ACCEPTED.value, TandemStatus.ACTIVE.value)
        and program.status is not ProgramStatus.CLOSED,
        logs_actions=logs_actions,
        credit_options=credit_options,
        goal_form=(forms or {}).get("goal"),
        status_form=(forms or {}).get("status"),
        action_form=(forms or {}).get("action"),
        failed_goal=failed_goal,
        goal_status_options=_goal_status_options(),
        today=_now().date().isoformat(),
    )


@bp.get(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/goals")
def goals(program_id: int, tandem_id: int) -> str:
    """The tandem's goals and the senior's actions log."""
    ws, db, _actor = _context()
    return _goals_page(ws, db, pages._program(ws, program_id), tandem_id)


def _goals_post(
    program_id: int,
    tandem_id: int,
    key: str,
    schema: type[_Form],
    act: Callable[[Session, Actor, Form], str],
    failed_goal: int | None = None,
    **aliases: str,
) -> Any:
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    _tandem(db, actor, program, tandem_id)
    form = parse(schema(), request.form)  # built once the session sets the language
    if not form.ok:
        return _goals_page(ws, db, program, tandem_id, {key: form}, failed_goal), 400
    try:
        done = act(db, actor, form)
    except PluginError as exc:
        status, shown = _refused(db, form, exc, **aliases)
        page = _goals_page(
            ws, db, pages._program(ws, program_id), tandem_id, {key: shown}, failed_goal
        )
        return page, status
    return _done("participant.goals", done, program_id=program.id, tandem_id=tandem_id)


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/goals")
def add_goal(program_id: int, tandem_id: int) -> Any:
    """Add a goal to the tandem."""

    def act(db: Session, actor: Actor, form: Form) -> str:
        tandems.add_goal(
            db,
            actor,
            tandem_id,
            title=form.data["title"],
            description=form.data.get("description"),
            due_on=form.data.get("due_on"),
            now=_now(),
        )
        return "goal_added"

    return _goals_post(program_id, tandem_id, "goal", _GoalForm, act, goals="title", status="_form")


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/goals/<{_ID}:goal_id>/status")
def goal_status(program_id: int, tandem_id: int, goal_id: int) -> Any:
    """Move a goal to open, in progress, met or dropped."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    view = _tandem(db, actor, program, tandem_id)
    if goal_id not in {g["id"] for g in view.get("goals", [])}:
        goal = db.get(Goal, goal_id)
        if goal is not None and goal.org_id == ws.org_id:
            tandems.get_tandem_for(db, actor, goal.tandem_id)  # someone else's tandem: 403
        raise NotFound(f"goal {goal_id} not found in this tandem", field="goal")

    def act(db: Session, actor: Actor, form: Form) -> str:
        tandems.set_goal_status(db, actor, goal_id, status=form.data["status"], now=_now())
        return "goal_status"

    return _goals_post(program_id, tandem_id, "status", _GoalStatusForm, act, failed_goal=goal_id)


@bp.post(f"/programs/<{_ID}:program_id>/tandems/<{_ID}:tandem_id>/actions")
def log_action(program_id: int, tandem_id: int) -> Any:
    """The senior logs a change they made, credited to the junior."""

    def act(db: Session, actor: Actor, form: Form) -> str:
        tandems.log_action(
            db,
            actor,
            tandem_id,
            description=form.data["action_description"],
            taken_on=form.data["taken_on"],
            credited_mentor_id=form.data.get("credited_mentor_id"),
            now=_now(),
        )
        return "action"

    return _goals_post(
        program_id,
        tandem_id,
        "action",
        _ActionForm,
        act,
        description="action_description",
        person="_form",
        status="_form",
    )


# --------------------------------------------------------------------------- assessments


def _pick(entries: Sequence[Mapping[str, Any]], role: str | None) -> Mapping[str, Any] | None:
    """The enrollment entry for ``role``; the only (or only active) one without a role."""
    if role:
        return next((e for e in entries if e["role"] == role), None)
    if len(entries) == 1:
        return entries[0]
    active = [e for e in entries if e["status"] == EnrollmentStatus.ACTIVE.value]
    return active[0] if len(active) == 1 else None


def _my_assessments(db: Session, actor: Actor, program: Program) -> dict[str, Any] | None:
    try:
        return assessments.my_assessments(db, actor, program.id)
    except PermissionDenied:  # not enrolled: the page explains
        return None


def _assessment_page(
    ws: WebSession, db: Session, program: Program, kind: str, form: Form | None = None
) -> str:
    actor = pages._participant(ws)
    data = _my_assessments(db, actor, program)
    role = request.values.get("role") or None
    entry = _pick(data["enrollments"], role) if data else None
    skills = _program_skills(db, program)
    lang = pages.page_language(ws.locale)
    return _render(
        "pages/participant/assessment.html",
        ws,
        program=program,
        kind=kind,
        data=data,
        entry=entry,
        choose_role=bool(data) and entry is None,
        skills=[{"id": s.id, "code": s.code, "name": _skill_name(s, lang)} for s in skills],
        form=form,
        level_options=[(str(i), label) for i, label in _level_labels().items()],
    )


@bp.route(
    f"/programs/<{_ID}:program_id>/self-assessment/<any(pre, post, follow_up):kind>",
    methods=["GET", "POST"],
)
def assessment(program_id: int, kind: str) -> Any:
    """Fill in the pre, post or follow-up self-assessment (every program skill, 1–5)."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    if request.method == "GET":
        return _assessment_page(ws, db, program, kind)
    skills = _program_skills(db, program)
    form = parse(_assessment_form(skills), request.form)
    if not form.ok:
        return _assessment_page(ws, db, program, kind, form), 400
    answers = {s.code: form.data[f"level_{s.id}"] for s in skills}
    try:
        assessments.submit_assessment(
            db,
            actor,
            program.id,
            kind=kind,
            answers=answers,
            role=form.data.get("role"),
            now=_now(),
        )
    except PluginError as exc:
        status, shown = _refused(db, form, exc, kind="_form", answers="_form")
        return _assessment_page(ws, db, pages._program(ws, program_id), kind, shown), status
    role = form.data.get("role")
    return _done(
        "participant.assessment",
        "assessment",
        program_id=program.id,
        kind=kind,
        **({"role": role} if role else {}),
    )


def _survey_page(ws: WebSession, db: Session, program: Program, form: Form | None = None) -> str:
    actor = pages._participant(ws)
    data = _my_assessments(db, actor, program)
    role = request.values.get("role") or None
    entry = _pick(data["enrollments"], role) if data else None
    return _render(
        "pages/participant/survey.html",
        ws,
        program=program,
        data=data,
        entry=entry,
        choose_role=bool(data) and entry is None,
        form=form,
        satisfaction_options=[
            ("1", _("1 – very unsatisfied")),
            ("2", _("2 – unsatisfied")),
            ("3", _("3 – neither")),
            ("4", _("4 – satisfied")),
            ("5", _("5 – very satisfied")),
        ],
        yes_no=[("yes", _("Yes")), ("no", _("No"))],
    )


@bp.route(f"/programs/<{_ID}:program_id>/survey", methods=["GET", "POST"])
def survey(program_id: int) -> Any:
    """Answer the end-of-program survey, once."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    if request.method == "GET":
        return _survey_page(ws, db, program)
    form = parse(_SurveyForm(), request.form)
    if not form.ok:
        return _survey_page(ws, db, program, form), 400
    try:
        assessments.submit_survey(
            db,
            actor,
            program.id,
            satisfaction=form.data["satisfaction"],
            relationship_formed=form.data["relationship_formed"] == "yes",
            would_continue=form.data["would_continue"] == "yes",
            would_do_again=form.data["would_do_again"] == "yes",
            comment=form.data.get("comment"),
            role=form.data.get("role"),
            now=_now(),
        )
    except PluginError as exc:
        status, shown = _refused(db, form, exc, survey="_form")
        return _survey_page(ws, db, pages._program(ws, program_id), shown), status
    role = form.data.get("role")
    return _done(
        "participant.survey", "survey", program_id=program.id, **({"role": role} if role else {})
    )


# --------------------------------------------------------------------------- progress


@bp.get(f"/programs/<{_ID}:program_id>/progress")
def progress(program_id: int) -> str:
    """My progress toward completion: sessions held vs needed, minutes, post-assessment."""
    ws, db, actor = _context()
    program = pages._program(ws, program_id)
    mine = participation.own_enrollments(db, actor, program.id)
    data = _my_assessments(db, actor, program)
    open_post = {
        e["role"] for e in (data or {}).get("enrollments", []) if "post" in e.get("open", [])
    }
    rows = []
    for e in mine:
        status = completions.my_completion(db, actor, program.id, role=e.role.value)
        rows.append(
            {
                "enrollment": e,
                "status": status,
                "missing": pages.missing_texts(status),
                "post_open": e.role.value in open_post,
                "percent": 100
                if status.met
                else min(99, status.sessions_held * 100 // max(status.sessions_needed, 1)),
            }
        )
    return _render(
        "pages/participant/progress.html",
        ws,
        program=program,
        rows=rows,
        many=len(mine) > 1,
        invitation=None if mine else participation.invitation(db, actor, program.id),
        coordinates=pages._coordinates(db, ws, program.id),
    )

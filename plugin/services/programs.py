"""Programs: creation, editing, and the date and status rules.

Status moves only along::

    draft → enrolling ⇄ matching → running → closed
    draft → closed, enrolling → closed           (a program cancelled before it ran)

``closed`` is final. A program cannot start running after its end date, and its
format cannot change once people have enrolled.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.errors import N_, ConflictError, NotFound, ValidationError, word, words
from plugin.models import (
    Enrollment,
    Organization,
    Program,
    ProgramFormat,
    ProgramStatus,
    Skill,
)
from plugin.services import audit
from plugin.validation import whole_number

__all__ = [
    "DEFAULT_MATCHING_SETTINGS",
    "DEFAULT_THEMES",
    "TRANSITIONS",
    "create_program",
    "get_program",
    "list_programs",
    "set_program_status",
    "update_program",
    "validate_assessment_skills",
    "validate_completion_rule",
    "validate_matching_settings",
    "validate_theme_plan",
]

MAX_PROGRAM_DAYS = 3 * 366

#: The monthly themes of a program created without a plan (marked for translation: a
#: page creating a program passes them in its language, see ``default_themes``).
DEFAULT_THEMES = (
    N_("Developer experience"),
    N_("New tools"),
    N_("Team culture"),
    N_("Onboarding"),
    N_("Career expectations"),
    N_("Retrospective"),
)

DEFAULT_MATCHING_SETTINGS: dict[str, Any] = {
    "objective": "best_total",
    "weights": {
        "topic_fit": 0.45,
        "cross_department": 0.15,
        "seniority_gap": 0.1,
        "shared_language": 0.1,
        "timezone": 0.1,
        "preference": 0.1,
        "previous_pairing_penalty": 0.3,
    },
    "max_timezone_hours": None,
    "seniority_band": {"min": 2, "max": 12},
    "group": {"seniors_per_group": [1, 2], "juniors_per_group": [3, 4]},
}

TRANSITIONS: dict[ProgramStatus, frozenset[ProgramStatus]] = {
    ProgramStatus.DRAFT: frozenset({ProgramStatus.ENROLLING, ProgramStatus.CLOSED}),
    ProgramStatus.ENROLLING: frozenset({ProgramStatus.MATCHING, ProgramStatus.CLOSED}),
    ProgramStatus.MATCHING: frozenset({ProgramStatus.ENROLLING, ProgramStatus.RUNNING}),
    ProgramStatus.RUNNING: frozenset({ProgramStatus.CLOSED}),
    ProgramStatus.CLOSED: frozenset(),
}

_EDITABLE = frozenset(
    {
        "name",
        "description",
        "format",
        "starts_on",
        "ends_on",
        "cadence_days",
        "min_session_minutes",
        "target_sessions",
        "theme_plan",
        "matching_settings",
        "completion_rule",
        "confidentiality_text",
        "require_senior_consent",
        "assessment_skills",
    }
)


def _int_in(value: Any, lo: int, hi: int, field: str) -> int:
    return whole_number(value, lo, hi, field=field)


def _number(value: Any, lo: float, hi: float, field: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ValidationError(
            N_("%(name)s must be a number from %(lo)s to %(hi)s"),
            field=field,
            name=field,
            lo=f"{lo:g}",
            hi=f"{hi:g}",
        )
    return float(value)


def _parse_format(value: ProgramFormat | str) -> ProgramFormat:
    try:
        return ProgramFormat(value)
    except ValueError:
        raise ValidationError(
            N_("unknown program format %(format)s; choose one of %(choices)s"),
            field="format",
            format=repr(value),
            choices=words(ProgramFormat),
        ) from None


def _parse_status(value: ProgramStatus | str) -> ProgramStatus:
    try:
        return ProgramStatus(value)
    except ValueError:
        raise ValidationError(
            N_("unknown program status %(status)s; choose one of %(choices)s"),
            field="status",
            status=repr(value),
            choices=words(ProgramStatus),
        ) from None


def _months(starts_on: date, ends_on: date) -> int:
    """Calendar months the program touches (1 Mar → 1 May is two; → 15 May is three)."""
    months = (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month
    return max(1, months + (1 if ends_on.day > starts_on.day else 0))


def validate_theme_plan(
    plan: Sequence[Mapping[str, Any]] | None,
    *,
    starts_on: date,
    ends_on: date,
    default_themes: Sequence[str] = DEFAULT_THEMES,
) -> list[dict[str, Any]]:
    """A monthly theme plan: ``[{"month": 1, "theme": "New tools"}, ...]``.

    Months count from 1, are unique and lie inside the program. ``None`` gives the
    ``default_themes`` (:data:`DEFAULT_THEMES` in English, or as the caller translated
    them), cut to the program's length.
    """
    months = _months(starts_on, ends_on)
    if plan is None:
        return [{"month": i + 1, "theme": t} for i, t in enumerate(default_themes[:months])]
    if not isinstance(plan, list | tuple):
        raise ValidationError(N_("theme_plan must be a list of {month, theme}"), field="theme_plan")
    seen: set[int] = set()
    out: list[dict[str, Any]] = []
    for i, item in enumerate(plan):
        if not isinstance(item, Mapping) or set(item) - {"month", "theme"}:
            raise ValidationError(
                N_("theme_plan[%(index)s] must be an object with 'month' and 'theme'"),
                field="theme_plan",
                index=i,
            )
        month = _int_in(item.get("month"), 1, months, f"theme_plan[{i}].month")
        theme = item.get("theme")
        if not isinstance(theme, str) or not theme.strip() or len(theme) > 200:
            raise ValidationError(
                N_("theme_plan[%(index)s].theme must be 1–200 characters"),
                field="theme_plan",
                index=i,
            )
        if month in seen:
            raise ValidationError(
                N_("theme_plan has month %(month)s twice"), field="theme_plan", month=month
            )
        seen.add(month)
        out.append({"month": month, "theme": theme.strip()})
    return sorted(out, key=lambda x: x["month"])


def validate_matching_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``settings`` over the defaults and check every value.

    Keys: ``objective`` (best_total | most_matched), ``weights`` (each 0–10),
    ``max_timezone_hours`` (None or 0–24), ``seniority_band`` ({min, max} grade gap),
    ``group`` ({seniors_per_group: [lo, hi] within 1–2, juniors_per_group within 3–4}).
    """
    merged = copy.deepcopy(DEFAULT_MATCHING_SETTINGS)
    if settings is None:
        return merged
    if not isinstance(settings, Mapping):
        raise ValidationError(N_("matching_settings must be an object"), field="matching_settings")
    unknown = set(settings) - set(merged)
    if unknown:
        raise ValidationError(
            N_("unknown matching setting(s): %(settings)s"),
            field="matching_settings",
            settings=", ".join(sorted(unknown)),
        )
    if "objective" in settings:
        if settings["objective"] not in ("best_total", "most_matched"):
            raise ValidationError(
                N_("objective must be best_total or most_matched"), field="matching_settings"
            )
        merged["objective"] = settings["objective"]
    weights = settings.get("weights", {})
    if not isinstance(weights, Mapping):
        raise ValidationError(N_("weights must be an object"), field="matching_settings")
    for key, value in weights.items():
        if key not in merged["weights"]:
            raise ValidationError(
                N_("unknown weight %(weight)s"), field="matching_settings", weight=repr(key)
            )
        merged["weights"][key] = _number(value, 0, 10, f"weights.{key}")
    if "max_timezone_hours" in settings:
        tz = settings["max_timezone_hours"]
        merged["max_timezone_hours"] = (
            None if tz is None else _number(tz, 0, 24, "max_timezone_hours")
        )
    if "seniority_band" in settings:
        band = settings["seniority_band"]
        if not isinstance(band, Mapping) or set(band) - {"min", "max"}:
            raise ValidationError(
                N_("seniority_band must be {min, max}"), field="matching_settings"
            )
        lo = _int_in(band.get("min", 0), 0, 30, "seniority_band.min")
        hi = _int_in(band.get("max", 30), 0, 30, "seniority_band.max")
        if lo > hi:
            raise ValidationError(N_("seniority_band.min is above max"), field="matching_settings")
        merged["seniority_band"] = {"min": lo, "max": hi}
    if "group" in settings:
        group = settings["group"]
        if not isinstance(group, Mapping) or set(group) - {
            "seniors_per_group",
            "juniors_per_group",
        }:
            raise ValidationError(
                N_("group must be {seniors_per_group, juniors_per_group}"),
                field="matching_settings",
            )
        for key, (lo_ok, hi_ok) in (("seniors_per_group", (1, 2)), ("juniors_per_group", (3, 4))):
            if key not in group:
                continue
            rng = group[key]
            if not isinstance(rng, list | tuple) or len(rng) != 2:
                raise ValidationError(
                    N_("group.%(key)s must be [min, max]"), field="matching_settings", key=key
                )
            lo = _int_in(rng[0], lo_ok, hi_ok, f"group.{key}[0]")
            hi = _int_in(rng[1], lo_ok, hi_ok, f"group.{key}[1]")
            if lo > hi:
                raise ValidationError(
                    N_("group.%(key)s: min is above max"), field="matching_settings", key=key
                )
            merged["group"][key] = [lo, hi]
    return merged


def validate_completion_rule(
    rule: Mapping[str, Any] | None, *, target_sessions: int, min_session_minutes: int
) -> dict[str, Any]:
    """``{"min_sessions", "min_minutes", "require_post_assessment"}``; defaults from the program."""
    out: dict[str, Any] = {
        "min_sessions": target_sessions,
        "min_minutes": min_session_minutes,
        "require_post_assessment": True,
    }
    if rule is None:
        return out
    if not isinstance(rule, Mapping):
        raise ValidationError(N_("completion_rule must be an object"), field="completion_rule")
    unknown = set(rule) - set(out)
    if unknown:
        raise ValidationError(
            N_("unknown completion rule key(s): %(keys)s"),
            field="completion_rule",
            keys=", ".join(sorted(unknown)),
        )
    if "min_sessions" in rule:
        out["min_sessions"] = _int_in(rule["min_sessions"], 1, 100, "completion_rule.min_sessions")
    if "min_minutes" in rule:
        out["min_minutes"] = _int_in(rule["min_minutes"], 1, 480, "completion_rule.min_minutes")
    if "require_post_assessment" in rule:
        if not isinstance(rule["require_post_assessment"], bool):
            raise ValidationError(
                N_("completion_rule.require_post_assessment must be true or false"),
                field="completion_rule",
            )
        out["require_post_assessment"] = rule["require_post_assessment"]
    return out


def validate_assessment_skills(session: Session, org_id: int, codes: Any) -> list[str]:
    """Skill codes both roles self-assess (pre/post); each must be in the org's catalogue.

    An empty list means the whole catalogue.
    """
    if codes is None:
        return []
    if isinstance(codes, str) or not isinstance(codes, Sequence):
        raise ValidationError(
            N_("assessment_skills must be a list of skill codes"), field="assessment_skills"
        )
    out: list[str] = []
    for code in codes:
        if not isinstance(code, str) or not code.strip():
            raise ValidationError(
                N_("assessment_skills must be a list of skill codes"), field="assessment_skills"
            )
        if code.strip() not in out:
            out.append(code.strip())
    if len(out) > 50:
        raise ValidationError(N_("at most 50 assessment skills"), field="assessment_skills")
    known = set(session.scalars(select(Skill.code).where(Skill.org_id == org_id)))
    unknown = [c for c in out if c not in known]
    if unknown:
        raise ValidationError(
            N_("unknown skill code(s): %(codes)s"),
            field="assessment_skills",
            codes=", ".join(unknown),
        )
    return out


def _check_dates(starts_on: Any, ends_on: Any) -> None:
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise ValidationError(N_("starts_on and ends_on must be dates"), field="starts_on")
    if ends_on <= starts_on:
        raise ValidationError(
            N_("the program must end after it starts (starts %(starts)s, ends %(ends)s)"),
            field="ends_on",
            starts=str(starts_on),
            ends=str(ends_on),
        )
    if (ends_on - starts_on).days > MAX_PROGRAM_DAYS:
        raise ValidationError(N_("a program may last at most three years"), field="ends_on")


def _check_name(session: Session, org_id: int, name: Any, *, exclude: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise ValidationError(N_("program name must be 1–200 characters"), field="name")
    clean: str = name.strip()
    stmt = select(Program.id).where(Program.org_id == org_id, Program.name == clean)
    if exclude is not None:
        stmt = stmt.where(Program.id != exclude)
    if session.scalar(stmt) is not None:
        raise ConflictError(
            N_("a program named %(name)s already exists"), field="name", name=repr(clean)
        )
    return clean


def create_program(
    session: Session,
    *,
    org: Organization,
    name: str,
    format: ProgramFormat | str,
    starts_on: date,
    ends_on: date,
    cadence_days: int = 30,
    min_session_minutes: int = 30,
    target_sessions: int = 6,
    theme_plan: Sequence[Mapping[str, Any]] | None = None,
    matching_settings: Mapping[str, Any] | None = None,
    completion_rule: Mapping[str, Any] | None = None,
    confidentiality_text: str = "",
    description: str = "",
    require_senior_consent: bool = True,
    assessment_skills: Sequence[str] | None = None,
    default_themes: Sequence[str] = DEFAULT_THEMES,
    actor: str,
) -> Program:
    """Create a program in status draft.

    Without ``theme_plan``, the months get ``default_themes`` (stored as text: a page
    passes :data:`DEFAULT_THEMES` in its own language).

    Raises:
        ValidationError: A field is malformed (dates, ranges, plan, settings).
        ConflictError: The organization already has a program with this name.
    """
    name = _check_name(session, org.id, name)
    fmt = _parse_format(format)
    _check_dates(starts_on, ends_on)
    cadence_days = _int_in(cadence_days, 1, 365, "cadence_days")
    min_session_minutes = _int_in(min_session_minutes, 5, 480, "min_session_minutes")
    target_sessions = _int_in(target_sessions, 1, 100, "target_sessions")
    plan = validate_theme_plan(
        theme_plan, starts_on=starts_on, ends_on=ends_on, default_themes=default_themes
    )
    settings = validate_matching_settings(matching_settings)
    rule = validate_completion_rule(
        completion_rule, target_sessions=target_sessions, min_session_minutes=min_session_minutes
    )
    skill_codes = validate_assessment_skills(session, org.id, assessment_skills)
    program = Program(
        org_id=org.id,
        name=name,
        description=description or "",
        format=fmt,
        status=ProgramStatus.DRAFT,
        starts_on=starts_on,
        ends_on=ends_on,
        cadence_days=cadence_days,
        min_session_minutes=min_session_minutes,
        target_sessions=target_sessions,
        theme_plan=plan,
        matching_settings=settings,
        completion_rule=rule,
        confidentiality_text=confidentiality_text or "",
        confidentiality_version="1",
        require_senior_consent=bool(require_senior_consent),
        assessment_skills=skill_codes,
    )
    session.add(program)
    session.flush()
    audit.record(
        session,
        org_id=org.id,
        actor=actor,
        action="program.created",
        object_type="program",
        object_id=program.id,
        details={"name": name, "format": fmt.value},
    )
    return program


def get_program(session: Session, *, org_id: int, program_id: int) -> Program:
    """A program of this organization.

    Raises:
        NotFound: No such program in this organization.
    """
    program = session.get(Program, program_id)
    if program is None or program.org_id != org_id:
        raise NotFound(
            N_("program %(program)s not found in this organization"),
            field="program",
            program=program_id,
        )
    return program


def list_programs(session: Session, *, org_id: int) -> Sequence[Program]:
    """The organization's programs, newest first."""
    stmt = select(Program).where(Program.org_id == org_id).order_by(Program.id.desc())
    return session.scalars(stmt).all()


def _enrollment_count(session: Session, program_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.program_id == program_id)
        )
        or 0
    )


def update_program(
    session: Session, program: Program, *, actor: str, changes: Mapping[str, Any]
) -> Program:
    """Edit a program. Everything is checked before anything changes.

    Raises:
        ValidationError: Unknown field or invalid value.
        ConflictError: The program is closed, or the change is not allowed in its state.
    """
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise ValidationError(
            N_("cannot edit %(fields)s"), field=min(unknown), fields=", ".join(sorted(unknown))
        )
    if program.status is ProgramStatus.CLOSED:
        raise ConflictError(N_("a closed program cannot be edited"), field="status")
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _check_name(session, program.org_id, changes["name"], exclude=program.id)
    if "format" in changes:
        fmt = _parse_format(changes["format"])
        if fmt is not program.format and _enrollment_count(session, program.id):
            raise ConflictError(N_("the format cannot change once people have enrolled"))
        values["format"] = fmt
    starts_on = changes.get("starts_on", program.starts_on)
    ends_on = changes.get("ends_on", program.ends_on)
    if "starts_on" in changes or "ends_on" in changes:
        _check_dates(starts_on, ends_on)
        if program.status is ProgramStatus.RUNNING and starts_on != program.starts_on:
            raise ConflictError(
                N_("a running program's start date cannot change"), field="starts_on"
            )
        values["starts_on"], values["ends_on"] = starts_on, ends_on
    for key, lo, hi in (
        ("cadence_days", 1, 365),
        ("min_session_minutes", 5, 480),
        ("target_sessions", 1, 100),
    ):
        if key in changes:
            values[key] = _int_in(changes[key], lo, hi, key)
    if "theme_plan" in changes or "starts_on" in values:
        values["theme_plan"] = validate_theme_plan(
            changes.get("theme_plan", program.theme_plan), starts_on=starts_on, ends_on=ends_on
        )
    if "matching_settings" in changes:
        values["matching_settings"] = validate_matching_settings(changes["matching_settings"])
    if "completion_rule" in changes:
        values["completion_rule"] = validate_completion_rule(
            changes["completion_rule"],
            target_sessions=values.get("target_sessions", program.target_sessions),
            min_session_minutes=values.get("min_session_minutes", program.min_session_minutes),
        )
    if "description" in changes:
        values["description"] = str(changes["description"] or "")
    if "require_senior_consent" in changes:
        values["require_senior_consent"] = bool(changes["require_senior_consent"])
    if "assessment_skills" in changes:
        values["assessment_skills"] = validate_assessment_skills(
            session, program.org_id, changes["assessment_skills"]
        )
    if "confidentiality_text" in changes:
        text = str(changes["confidentiality_text"] or "")
        if text != program.confidentiality_text:
            values["confidentiality_text"] = text
            # A new text is a new agreement: consents refer to the version they accepted.
            values["confidentiality_version"] = str(int(program.confidentiality_version) + 1)
    for key, value in values.items():
        setattr(program, key, value)
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor,
        action="program.updated",
        object_type="program",
        object_id=program.id,
        details={"fields": sorted(values)},
    )
    return program


def set_program_status(
    session: Session,
    program: Program,
    status: ProgramStatus | str,
    *,
    actor: str,
    today: date | None = None,
    now: datetime | None = None,
) -> Program:
    """Move a program along its lifecycle.

    Moving to ``running`` activates every accepted tandem that is ready (kick-off done,
    agreement accepted). Closing a running program completes its active tandems,
    dissolves (no-fault) those that never started, and evaluates every completion —
    writing the write-back messages in this same transaction.

    Raises:
        ValidationError: Unknown status.
        ConflictError: The move is not allowed from the current status, or the program
            has already ended when asked to start running.
    """
    new = _parse_status(status)
    old = program.status
    if new is old:
        return program
    if new not in TRANSITIONS[old]:
        allowed = words(sorted(TRANSITIONS[old]))
        raise ConflictError(
            N_("a program cannot go from %(old)s to %(new)s; allowed: %(allowed)s")
            if allowed
            else N_("a program cannot go from %(old)s to %(new)s; allowed: none (closed is final)"),
            field="status",
            old=word(old),
            new=word(new),
            allowed=allowed,
        )
    if today is None and now is not None:
        today = now.date()
    if new is ProgramStatus.RUNNING and today is not None and today > program.ends_on:
        raise ConflictError(
            N_("the program ended on %(ends)s; it cannot start running"),
            field="status",
            ends=str(program.ends_on),
        )
    program.status = new
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor,
        action="program.status_changed",
        object_type="program",
        object_id=program.id,
        details={"from": old.value, "to": new.value},
    )
    _after_status_change(session, program, old, actor=actor, now=now)
    return program


def _after_status_change(
    session: Session, program: Program, old: ProgramStatus, *, actor: str, now: datetime | None
) -> None:
    # Imported here: the tracking services build on this module.
    from plugin.access import Actor
    from plugin.services import completions, tandems

    if program.status is ProgramStatus.RUNNING:
        tandems.activate_ready(session, program.id, actor=actor, now=now)
    elif program.status is ProgramStatus.CLOSED:
        tandems.close_out(session, program.id, actor=actor, now=now)
        if old is ProgramStatus.RUNNING:
            completions.evaluate_program(
                session, Actor.admin(program.org_id, actor), program.id, now=now
            )

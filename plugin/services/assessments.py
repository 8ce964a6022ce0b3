"""Self-assessments (pre, post, follow-up) and the end-of-program survey.

Both roles rate themselves from 1 to 5 on the program's skills
(:func:`program_skills`): a **pre**-assessment before or early in the program, a
**post**-assessment at its end, and optionally a **follow-up** some months later. The
skill gain of a skill is ``post − pre`` (:func:`skill_gains`), the lasting gain
``follow_up − pre`` (:func:`follow_up_gains`).

When each kind may be submitted:

* ``pre`` — while the program is enrolling, matching or running, and only before a
  post-assessment exists;
* ``post`` — when the program is running or closed, and only by someone who is (or was)
  in a tandem of the program that became active;
* ``follow_up`` — after the post-assessment, the program running or closed.

Each kind is submitted once per enrollment. A post or follow-up also records the new
levels as the person's ``program_assessment`` skill levels (so matching and the HRIS see
them) and re-evaluates the enrollment's completion (:mod:`plugin.services.completions`).

The end-of-program survey (satisfaction, relationship formed, would continue, would do
it again) is answered once per enrollment by people who were in an active tandem.

Privacy: individual answers are visible to the person themselves only. Coordinators get
aggregates from the program report, never these rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor, require_person
from plugin.db import utcnow
from plugin.errors import (
    N_,
    NotFound,
    PermissionDenied,
    Refusal,
    TrackingError,
    ValidationError,
    word,
    words,
)
from plugin.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentKind,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    PersonSkill,
    Program,
    ProgramStatus,
    Skill,
    SkillSource,
    SurveyAnswer,
    Tandem,
    TandemMember,
    TandemStatus,
)

__all__ = [
    "MAX_SURVEY_COMMENT",
    "assessment_levels",
    "follow_up_gains",
    "get_program",
    "had_active_tandem",
    "kind_refusal",
    "my_assessments",
    "own_enrollment",
    "program_skills",
    "skill_gains",
    "submit_assessment",
    "submit_survey",
    "survey_refusal",
]

#: Longest free-text comment of the survey.
MAX_SURVEY_COMMENT = 4000

_PRE_STATUSES = frozenset({ProgramStatus.ENROLLING, ProgramStatus.MATCHING, ProgramStatus.RUNNING})
_LATE_STATUSES = frozenset({ProgramStatus.RUNNING, ProgramStatus.CLOSED})
_ACTIVATED_STATUSES = (TandemStatus.ACTIVE, TandemStatus.COMPLETED, TandemStatus.DISSOLVED)
#: "Already submitted" per kind: whole sentences, so that each translates as one.
_ALREADY_SUBMITTED = {
    AssessmentKind.PRE: N_("your pre-assessment was already submitted on %(date)s"),
    AssessmentKind.POST: N_("your post-assessment was already submitted on %(date)s"),
    AssessmentKind.FOLLOW_UP: N_("your follow-up assessment was already submitted on %(date)s"),
}
#: "Not open at this program status" for the kinds submitted late in the program.
_NOT_OPEN_YET = {
    AssessmentKind.POST: N_(
        "the post-assessment opens when the program is running or closed; program "
        "%(program)s is %(status)s"
    ),
    AssessmentKind.FOLLOW_UP: N_(
        "the follow-up assessment opens when the program is running or closed; program "
        "%(program)s is %(status)s"
    ),
}


# --------------------------------------------------------------------------- lookups


def get_program(session: Session, actor: Actor, program_id: int) -> Program:
    """A program of the actor's organization.

    Raises:
        NotFound: No such program, or it belongs to another organization.
    """
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(
            N_("program %(program)s not found in this organization"),
            field="program",
            program=program_id,
        )
    return program


def _parse_role(role: EnrollmentRole | str | None) -> EnrollmentRole | None:
    if role is None:
        return None
    try:
        return EnrollmentRole(role)
    except ValueError:
        raise ValidationError(
            N_("unknown role %(role)s; choose mentor (junior) or mentee (senior)"),
            field="role",
            role=repr(role),
        ) from None


def own_enrollment(
    session: Session,
    actor: Actor,
    program: Program,
    *,
    role: EnrollmentRole | str | None = None,
    active_only: bool = True,
) -> Enrollment:
    """The actor's own enrollment in the program.

    ``role`` is needed only when the person holds two enrollments (mentor and mentee, as
    in bidirectional or group programs); otherwise it is inferred.

    Args:
        session: The unit of work.
        actor: The person acting for themselves.
        program: A program of the actor's organization.
        role: ``mentor`` or ``mentee``, to choose between two enrollments.
        active_only: Refuse a withdrawn enrollment (writing); ``False`` for reading.

    Raises:
        ValidationError: Unknown role, or two enrollments and no role given.
        PermissionDenied: The actor is nobody, or not enrolled in the program (in that role).
        TrackingError: The enrollment was withdrawn and ``active_only`` is set.
    """
    person_id = require_person(actor)
    wanted = _parse_role(role)
    rows = list(
        session.scalars(
            select(Enrollment)
            .where(
                Enrollment.org_id == program.org_id,
                Enrollment.program_id == program.id,
                Enrollment.person_id == person_id,
            )
            .order_by(Enrollment.id)
        ).unique()
    )
    if wanted is not None:
        rows = [e for e in rows if e.role is wanted]
    if not rows:
        if wanted is not None:
            raise PermissionDenied(
                N_(
                    "person %(person)s is not enrolled in program %(program)s as %(role)s; "
                    "only its participants can do this"
                ),
                field="role",
                person=person_id,
                program=program.id,
                role=word(wanted),
            )
        raise PermissionDenied(
            N_(
                "person %(person)s is not enrolled in program %(program)s; only its "
                "participants can do this"
            ),
            field="program",
            person=person_id,
            program=program.id,
        )
    if len(rows) > 1:
        active = [e for e in rows if e.status is EnrollmentStatus.ACTIVE]
        if len(active) == 1 and active_only:
            rows = active
        else:
            raise ValidationError(
                N_(
                    "person %(person)s is enrolled in program %(program)s as %(roles)s; say "
                    "which role (mentor or mentee)"
                ),
                field="role",
                person=person_id,
                program=program.id,
                roles=words((e.role for e in rows), last="and"),
            )
    enrollment = rows[0]
    if active_only and enrollment.status is not EnrollmentStatus.ACTIVE:
        if enrollment.withdrawn_at is None:
            raise TrackingError(
                N_(
                    "your enrollment in program %(program)s as %(role)s was withdrawn on "
                    "earlier; a withdrawn enrollment takes no more answers"
                ),
                field="enrollment",
                program=program.id,
                role=word(enrollment.role),
            )
        raise TrackingError(
            N_(
                "your enrollment in program %(program)s as %(role)s was withdrawn on "
                "%(date)s; a withdrawn enrollment takes no more answers"
            ),
            field="enrollment",
            program=program.id,
            role=word(enrollment.role),
            date=enrollment.withdrawn_at.date().isoformat(),
        )
    return enrollment


def program_skills(session: Session, program: Program) -> list[Skill]:
    """The skills both roles self-assess, ordered by code.

    The program's ``assessment_skills`` or, when it lists none, the organization's whole
    skill catalogue.
    """
    stmt = select(Skill).where(Skill.org_id == program.org_id)
    if program.assessment_skills:
        stmt = stmt.where(Skill.code.in_(list(program.assessment_skills)))
    return list(session.scalars(stmt.order_by(Skill.code)))


def had_active_tandem(session: Session, enrollment: Enrollment) -> bool:
    """Whether the enrollment is (or was) in a tandem that became active."""
    stmt = (
        select(Tandem.id)
        .join(TandemMember, TandemMember.tandem_id == Tandem.id)
        .where(
            TandemMember.enrollment_id == enrollment.id,
            Tandem.program_id == enrollment.program_id,
            Tandem.activated_at.is_not(None),
            Tandem.status.in_(_ACTIVATED_STATUSES),
        )
        .limit(1)
    )
    return session.scalar(stmt) is not None


def _assessments(session: Session, enrollment_id: int) -> dict[AssessmentKind, Assessment]:
    rows = session.scalars(select(Assessment).where(Assessment.enrollment_id == enrollment_id))
    return {a.kind: a for a in rows}


def assessment_levels(session: Session, assessment_id: int) -> dict[str, int]:
    """Skill code → level of one assessment."""
    stmt = (
        select(Skill.code, AssessmentAnswer.level)
        .join(Skill, Skill.id == AssessmentAnswer.skill_id)
        .where(AssessmentAnswer.assessment_id == assessment_id)
    )
    return {code: level for code, level in session.execute(stmt)}


def _gains(session: Session, enrollment_id: int, later: AssessmentKind) -> dict[str, int]:
    found = _assessments(session, enrollment_id)
    pre, after = found.get(AssessmentKind.PRE), found.get(later)
    if pre is None or after is None:
        return {}
    before = assessment_levels(session, pre.id)
    now_levels = assessment_levels(session, after.id)
    return {code: now_levels[code] - before[code] for code in sorted(before) if code in now_levels}


def skill_gains(session: Session, enrollment_id: int) -> dict[str, int]:
    """Skill code → post − pre, for the skills answered in both (empty if either is missing)."""
    return _gains(session, enrollment_id, AssessmentKind.POST)


def follow_up_gains(session: Session, enrollment_id: int) -> dict[str, int]:
    """Skill code → follow-up − pre, for the skills answered in both (empty if one is missing)."""
    return _gains(session, enrollment_id, AssessmentKind.FOLLOW_UP)


# --------------------------------------------------------------------------- rules


def _parse_kind(kind: AssessmentKind | str) -> AssessmentKind:
    try:
        return AssessmentKind(kind)
    except ValueError:
        raise ValidationError(
            N_("unknown assessment kind %(kind)s; choose pre, post or follow_up"),
            field="kind",
            kind=repr(kind),
        ) from None


def _on(moment: datetime) -> str:
    return moment.date().isoformat()


def _kind_refusal(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    kind: AssessmentKind,
    existing: Mapping[AssessmentKind, Assessment] | None,
) -> Refusal | None:
    found = _assessments(session, enrollment.id) if existing is None else existing
    if kind in found:
        return Refusal(_ALREADY_SUBMITTED[kind], date=_on(found[kind].submitted_at))
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        return Refusal(N_("your enrollment was withdrawn"))
    status = word(program.status)
    if kind is AssessmentKind.PRE:
        if AssessmentKind.POST in found:
            return Refusal(
                N_("the pre-assessment is closed: your post-assessment was submitted on %(date)s"),
                date=_on(found[AssessmentKind.POST].submitted_at),
            )
        if program.status not in _PRE_STATUSES:
            return Refusal(
                N_(
                    "the pre-assessment is open while the program is enrolling, matching or "
                    "running; program %(program)s is %(status)s"
                ),
                program=program.id,
                status=status,
            )
        return None
    if program.status not in _LATE_STATUSES:
        return Refusal(_NOT_OPEN_YET[kind], program=program.id, status=status)
    if kind is AssessmentKind.POST:
        if not had_active_tandem(session, enrollment):
            return Refusal(
                N_(
                    "the post-assessment is for people who were in an active tandem; your "
                    "enrollment as %(role)s has not been in one in program %(program)s"
                ),
                role=word(enrollment.role),
                program=program.id,
            )
        return None
    if AssessmentKind.POST not in found:
        return Refusal(
            N_(
                "the follow-up assessment comes after the post-assessment, which you have not "
                "submitted yet"
            )
        )
    return None


def kind_refusal(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    kind: AssessmentKind,
    *,
    existing: Mapping[AssessmentKind, Assessment] | None = None,
) -> Refusal | None:
    """Why the enrollment cannot submit this kind of assessment now, or ``None`` if it can.

    Args:
        session: The unit of work.
        program: The enrollment's program.
        enrollment: Whose assessment.
        kind: Which assessment.
        existing: The enrollment's assessments by kind, if already loaded.

    Returns:
        The reason (a :class:`~plugin.errors.Refusal`: its English text, translatable on
        pages), or ``None``.
    """
    return _kind_refusal(session, program, enrollment, kind, existing)


def _answers(skills: Sequence[Skill], answers: Any) -> dict[int, int]:
    """Skill id → level, every program skill answered exactly once with 1–5."""
    if not isinstance(answers, Mapping):
        raise ValidationError(
            N_("answers must map each skill code to a level from 1 to 5"), field="answers"
        )
    by_code = {s.code: s for s in skills}
    unknown = sorted(str(code) for code in answers if code not in by_code)
    if unknown:
        raise ValidationError(
            N_("unknown skill code(s) for this program: %(unknown)s; it assesses %(codes)s"),
            field="answers",
            unknown=", ".join(unknown),
            codes=", ".join(by_code),
        )
    missing = [code for code in by_code if code not in answers]
    if missing:
        raise ValidationError(
            N_("every skill of the program must be answered; missing: %(missing)s"),
            field="answers",
            missing=", ".join(missing),
        )
    out: dict[int, int] = {}
    for code, skill in by_code.items():
        level = answers[code]
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise ValidationError(
                N_("the level of %(skill)s must be a whole number from 1 to 5, not %(value)s"),
                field="answers",
                skill=code,
                value=repr(level),
            )
        out[skill.id] = level
    return out


def _record_levels(
    session: Session, enrollment: Enrollment, levels: Mapping[int, int], now: datetime
) -> None:
    """Upsert the person's ``program_assessment`` levels (never over a newer date)."""
    today = now.date()
    current = {
        ps.skill_id: ps
        for ps in session.scalars(
            select(PersonSkill).where(
                PersonSkill.org_id == enrollment.org_id,
                PersonSkill.person_id == enrollment.person_id,
                PersonSkill.source == SkillSource.PROGRAM_ASSESSMENT,
                PersonSkill.skill_id.in_(list(levels)),
            )
        )
    }
    for skill_id, level in levels.items():
        row = current.get(skill_id)
        if row is None:
            session.add(
                PersonSkill(
                    org_id=enrollment.org_id,
                    person_id=enrollment.person_id,
                    skill_id=skill_id,
                    level=level,
                    source=SkillSource.PROGRAM_ASSESSMENT,
                    assessed_on=today,
                )
            )
        elif row.assessed_on <= today:
            row.level, row.assessed_on = level, today


# --------------------------------------------------------------------------- assessments


def submit_assessment(
    session: Session,
    actor: Actor,
    program_id: int,
    *,
    kind: AssessmentKind | str,
    answers: Mapping[str, int],
    role: EnrollmentRole | str | None = None,
    now: datetime | None = None,
) -> Assessment:
    """Submit the actor's own pre, post or follow-up self-assessment.

    Every skill of the program (:func:`program_skills`) is answered exactly once with a
    level from 1 to 5. A post or follow-up also records the levels as the person's
    ``program_assessment`` skill levels and re-evaluates the enrollment's completion, so
    a completion and its write-back messages are written in the same transaction.

    Args:
        session: The unit of work (flushed, not committed).
        actor: The participant, acting for themselves.
        program_id: The program.
        kind: ``pre``, ``post`` or ``follow_up``.
        answers: Skill code → level 1–5.
        role: ``mentor`` or ``mentee``, needed only with two enrollments.
        now: The current time (default: the clock).

    Returns:
        The new assessment with its answers.

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor is not enrolled in the program.
        ValidationError: Unknown kind or role, or bad answers (missing, unknown, out of range).
        TrackingError: Already submitted, not open at this stage, or enrollment withdrawn.
    """
    program = get_program(session, actor, program_id)
    parsed = _parse_kind(kind)
    enrollment = own_enrollment(session, actor, program, role=role)
    refusal = _kind_refusal(session, program, enrollment, parsed, None)
    if refusal is not None:
        raise TrackingError(refusal.template, field="kind", **refusal.params)
    skills = program_skills(session, program)
    if not skills:
        raise TrackingError(
            N_(
                "program %(program)s has no skills to assess; the organization's skill "
                "catalogue is empty"
            ),
            field="program",
            program=program.id,
        )
    levels = _answers(skills, answers)
    now = now or utcnow()

    assessment = Assessment(
        org_id=program.org_id,
        program_id=program.id,
        enrollment_id=enrollment.id,
        kind=parsed,
        submitted_at=now,
    )
    for skill_id, level in levels.items():
        assessment.answers.append(
            AssessmentAnswer(org_id=program.org_id, skill_id=skill_id, level=level)
        )
    session.add(assessment)
    if parsed is not AssessmentKind.PRE:
        _record_levels(session, enrollment, levels, now)
    session.flush()
    if parsed is not AssessmentKind.PRE:
        # Imported here because completions imports this module at its top.
        from plugin.services import completions

        completions.evaluate_enrollment(session, enrollment.id, now=now, by=actor.label)
    return assessment


def _assessment_dict(a: Assessment, levels: Mapping[str, int]) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "submitted_at": a.submitted_at.isoformat(),
        "answers": dict(sorted(levels.items())),
    }


def _survey_dict(s: SurveyAnswer) -> dict[str, Any]:
    return {
        "id": s.id,
        "satisfaction": s.satisfaction,
        "relationship_formed": s.relationship_formed,
        "would_continue": s.would_continue,
        "would_do_again": s.would_do_again,
        "comment": s.comment,
        "submitted_at": s.submitted_at.isoformat(),
    }


def my_assessments(session: Session, actor: Actor, program_id: int) -> dict[str, Any]:
    """What the actor answered in the program, and what is still open for them.

    Returns:
        ``{"program": {id, name, status}, "skills": [{code, name, name_de, category}],
        "enrollments": [{enrollment_id, role, status, assessments: {kind: {id,
        submitted_at, answers}}, open: [kinds], not_open: {kind: reason}, gains,
        follow_up_gains, survey, survey_open, survey_not_open}]}`` — one entry per
        enrollment of the actor (two in a bidirectional program).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor is not enrolled in the program.
    """
    program = get_program(session, actor, program_id)
    person_id = require_person(actor)
    rows = list(
        session.scalars(
            select(Enrollment)
            .where(Enrollment.program_id == program.id, Enrollment.person_id == person_id)
            .order_by(Enrollment.id)
        ).unique()
    )
    if not rows:
        raise PermissionDenied(
            N_(
                "person %(person)s is not enrolled in program %(program)s; only its "
                "participants have assessments there"
            ),
            field="program",
            person=person_id,
            program=program.id,
        )
    skills = program_skills(session, program)
    out_enrollments: list[dict[str, Any]] = []
    for enrollment in rows:
        found = _assessments(session, enrollment.id)
        open_kinds: list[str] = []
        not_open: dict[str, Refusal] = {}
        for kind in AssessmentKind:
            if kind in found:
                continue
            reason = kind_refusal(session, program, enrollment, kind, existing=found)
            if reason is None:
                open_kinds.append(kind.value)
            else:
                not_open[kind.value] = reason
        survey = session.scalars(
            select(SurveyAnswer).where(SurveyAnswer.enrollment_id == enrollment.id)
        ).first()
        survey_reason = None if survey else survey_refusal(session, program, enrollment)
        out_enrollments.append(
            {
                "enrollment_id": enrollment.id,
                "role": enrollment.role.value,
                "status": enrollment.status.value,
                "assessments": {
                    a.kind.value: _assessment_dict(a, assessment_levels(session, a.id))
                    for a in sorted(
                        found.values(), key=lambda a: list(AssessmentKind).index(a.kind)
                    )
                },
                "open": open_kinds,
                "not_open": not_open,
                "gains": skill_gains(session, enrollment.id),
                "follow_up_gains": follow_up_gains(session, enrollment.id),
                "survey": _survey_dict(survey) if survey else None,
                "survey_open": survey is None and survey_reason is None,
                "survey_not_open": survey_reason,
            }
        )
    return {
        "program": {"id": program.id, "name": program.name, "status": program.status.value},
        "skills": [
            {
                "code": s.code,
                "name": s.name,
                "name_de": s.name_de or s.name,
                "category": s.category.value,
            }
            for s in skills
        ],
        "enrollments": out_enrollments,
    }


# --------------------------------------------------------------------------- survey


def _survey_refusal(session: Session, program: Program, enrollment: Enrollment) -> Refusal | None:
    existing = session.scalars(
        select(SurveyAnswer).where(SurveyAnswer.enrollment_id == enrollment.id)
    ).first()
    if existing is not None:
        return Refusal(
            N_("your survey was already submitted on %(date)s"), date=_on(existing.submitted_at)
        )
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        return Refusal(N_("your enrollment was withdrawn"))
    if program.status not in _LATE_STATUSES:
        return Refusal(
            N_(
                "the end-of-program survey opens when the program is running; program "
                "%(program)s is %(status)s"
            ),
            program=program.id,
            status=word(program.status),
        )
    if not had_active_tandem(session, enrollment):
        return Refusal(
            N_(
                "the end-of-program survey is for people who were in an active tandem; your "
                "enrollment as %(role)s has not been in one in program %(program)s"
            ),
            role=word(enrollment.role),
            program=program.id,
        )
    return None


def survey_refusal(session: Session, program: Program, enrollment: Enrollment) -> Refusal | None:
    """Why the enrollment cannot answer the end-of-program survey now, or ``None``.

    Returns:
        The reason (a :class:`~plugin.errors.Refusal`: its English text, translatable on
        pages), or ``None``.
    """
    return _survey_refusal(session, program, enrollment)


def _strict_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(
            N_("%(name)s must be true or false, not %(value)s"),
            field=field,
            name=field,
            value=repr(value),
        )
    return value


def submit_survey(
    session: Session,
    actor: Actor,
    program_id: int,
    *,
    satisfaction: int,
    relationship_formed: bool,
    would_continue: bool,
    would_do_again: bool,
    comment: str | None = None,
    role: EnrollmentRole | str | None = None,
    now: datetime | None = None,
) -> SurveyAnswer:
    """Answer the end-of-program survey, once per enrollment.

    Open while the program is running (any time) and after it closed, for people who
    were in a tandem that became active.

    Args:
        session: The unit of work (flushed, not committed).
        actor: The participant, acting for themselves.
        program_id: The program.
        satisfaction: 1 (very unsatisfied) to 5 (very satisfied).
        relationship_formed: Whether a working relationship formed.
        would_continue: Whether they would like to continue with their partner.
        would_do_again: Whether they would take part again.
        comment: Optional free text, at most 4000 characters (seen by nobody else).
        role: ``mentor`` or ``mentee``, needed only with two enrollments.
        now: The current time (default: the clock).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor is not enrolled in the program.
        ValidationError: A value is out of range or of the wrong type.
        TrackingError: Already answered, not open yet, or enrollment withdrawn.
    """
    program = get_program(session, actor, program_id)
    if (
        isinstance(satisfaction, bool)
        or not isinstance(satisfaction, int)
        or not 1 <= satisfaction <= 5
    ):
        raise ValidationError(
            N_("satisfaction must be a whole number from 1 to 5, not %(value)s"),
            field="satisfaction",
            value=repr(satisfaction),
        )
    formed = _strict_bool(relationship_formed, "relationship_formed")
    cont = _strict_bool(would_continue, "would_continue")
    again = _strict_bool(would_do_again, "would_do_again")
    text: str | None = None
    if comment is not None:
        if not isinstance(comment, str):
            raise ValidationError(N_("comment must be text"), field="comment")
        if len(comment) > MAX_SURVEY_COMMENT:
            raise ValidationError(
                N_("comment is %(length)s characters; at most %(max)s are allowed"),
                field="comment",
                length=len(comment),
                max=MAX_SURVEY_COMMENT,
            )
        text = comment.strip() or None
    enrollment = own_enrollment(session, actor, program, role=role)
    refusal = _survey_refusal(session, program, enrollment)
    if refusal is not None:
        raise TrackingError(refusal.template, field="survey", **refusal.params)
    now = now or utcnow()
    answer = SurveyAnswer(
        org_id=program.org_id,
        program_id=program.id,
        enrollment_id=enrollment.id,
        satisfaction=satisfaction,
        relationship_formed=formed,
        would_continue=cont,
        would_do_again=again,
        comment=text,
        submitted_at=now,
    )
    session.add(answer)
    session.flush()
    return answer

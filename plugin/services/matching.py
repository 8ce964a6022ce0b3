"""Match runs: from a program's enrollments to proposed tandems, and what coordinators do next.

The solver (:mod:`plugin.matching`) is pure; this module reads the database into
candidates, stores each run (inputs, settings, solver, objective value, timing, result),
turns its tandems into *proposed* tandems, and gives coordinators accept, reject, swap,
lock and approve — every one audited.

Re-runs touch only what changed: tandems that are accepted or active are always kept
(a running relationship is never undone by a re-run), proposed tandems are kept when a
coordinator locked or approved them, and every kept tandem is re-checked against the hard rules
(e.g. after an HRIS sync moved the senior into the junior's management chain). Kept
tandems that now break a rule are flagged for the coordinator, not silently dissolved.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin import orgchart
from plugin.db import utcnow
from plugin.errors import N_, ConflictError, MatchError, NotFound, ValidationError, word
from plugin.matching.explain import explain_factors, explain_violation
from plugin.matching.pipeline import breakdown, match
from plugin.matching.records import (
    Candidate,
    Format,
    LockedTandem,
    MatchResult,
    MatchSettings,
    PairBreakdown,
    Rule,
)
from plugin.matching.scoring import pair_violations
from plugin.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentKind,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    MatchRun,
    MatchRunStatus,
    Person,
    PersonSkill,
    Program,
    ProgramFormat,
    ProgramStatus,
    Skill,
    SkillSource,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import audit, programs

__all__ = [
    "CandidatePool",
    "RunOutcome",
    "accept_tandem",
    "approve_run",
    "build_candidates",
    "get_run",
    "get_tandem",
    "list_runs",
    "reject_tandem",
    "run_matching",
    "run_tandems",
    "set_lock",
    "settings_for",
    "swap_tandems",
]

Progress = Callable[[str, int, int], None]

#: Tandems a re-run keeps whatever happens (their members are not re-matched).
KEPT_STATUSES = frozenset({TandemStatus.ACCEPTED, TandemStatus.ACTIVE})
#: The solver format of each program format (a project team is matched like a group).
_FORMATS: dict[ProgramFormat, Format] = {
    ProgramFormat.ONE_TO_ONE: "one_to_one",
    ProgramFormat.GROUP: "group",
    ProgramFormat.PROJECT: "group",
    ProgramFormat.BIDIRECTIONAL: "bidirectional",
}
RUNNABLE = frozenset({ProgramStatus.ENROLLING, ProgramStatus.MATCHING, ProgramStatus.RUNNING})


# --------------------------------------------------------------------------- inputs


def settings_for(program: Program, *, objective: str | None = None) -> MatchSettings:
    """The solver settings of a program (its stored matching settings, validated)."""
    cfg = programs.validate_matching_settings(program.matching_settings)
    if objective is not None:
        if objective not in ("best_total", "most_matched"):
            raise ValidationError(
                N_("unknown objective %(objective)s; choose best_total or most_matched"),
                field="objective",
                objective=repr(objective),
            )
        cfg["objective"] = objective
    band, group = cfg["seniority_band"], cfg["group"]
    return MatchSettings.from_mapping(
        {
            "weights": cfg["weights"],
            "rules": {
                "max_timezone_hours": cfg["max_timezone_hours"],
                "min_grade_gap": band["min"],
                "max_grade_gap": band["max"],
                "require_shared_language": True,
            },
            "format": _FORMATS[program.format],
            "objective": cfg["objective"],
            "seniors_per_group": group["seniors_per_group"],
            "juniors_per_group": group["juniors_per_group"],
        }
    )


def _utc_offset(zone: str | None, on: datetime) -> int | None:
    if not zone:
        return None
    try:
        offset = on.astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return None if offset is None else int(offset.total_seconds() // 60)


@dataclass(frozen=True)
class CandidatePool:
    """What the solver needs, and how to map its ids back to enrollments."""

    mentors: tuple[Candidate, ...]
    mentees: tuple[Candidate, ...]
    enrollment_of: dict[tuple[str, str], Enrollment]  # (role, candidate id) -> enrollment
    topic_labels: dict[str, str]

    def enrollment(self, role: str, candidate_id: str) -> Enrollment:
        """The enrollment behind a candidate in a role.

        A bidirectional peer is one candidate whatever role they enrolled in, so the
        solver's side may differ from the enrollment's: the other role is the fallback.
        """
        other = "mentee" if role == "mentor" else "mentor"
        found = self.enrollment_of.get((role, candidate_id))
        return found or self.enrollment_of[(other, candidate_id)]

    @property
    def people(self) -> dict[str, Candidate]:
        """Every candidate by id."""
        return {c.id: c for c in (*self.mentors, *self.mentees)}

    def input_hash(self) -> str:
        """A stable fingerprint of the inputs (stored with the run)."""

        def plain(c: Candidate) -> dict[str, Any]:
            return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in c.__dict__.items()}

        blob = json.dumps(
            [plain(c) for c in (*self.mentors, *self.mentees)], sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _skill_levels(session: Session, program: Program) -> dict[int, dict[str, int]]:
    """Current level per person and skill code: the program's pre-assessment wins over HRIS."""
    levels: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(PersonSkill.person_id, Skill.code, PersonSkill.level)
        .join(Skill, Skill.id == PersonSkill.skill_id)
        .join(Enrollment, Enrollment.person_id == PersonSkill.person_id)
        .where(
            Enrollment.program_id == program.id,
            PersonSkill.source == SkillSource.HRIS,
        )
    )
    for person_id, code, level in rows:
        levels.setdefault(person_id, {})[code] = level
    pre = session.execute(
        select(Enrollment.person_id, Skill.code, AssessmentAnswer.level)
        .join(Assessment, Assessment.enrollment_id == Enrollment.id)
        .join(AssessmentAnswer, AssessmentAnswer.assessment_id == Assessment.id)
        .join(Skill, Skill.id == AssessmentAnswer.skill_id)
        .where(Enrollment.program_id == program.id, Assessment.kind == AssessmentKind.PRE)
    )
    for person_id, code, level in pre:
        levels.setdefault(person_id, {})[code] = level
    return levels


def _previous_partners(session: Session, program: Program) -> dict[int, set[int]]:
    """Who was paired with whom before (other programs, or dissolved here)."""
    member = TandemMember
    rows = session.execute(
        select(member.tandem_id, member.person_id)
        .join(Tandem, Tandem.id == member.tandem_id)
        .where(
            Tandem.org_id == program.org_id,
            Tandem.status.not_in([TandemStatus.PROPOSED, TandemStatus.REJECTED]),
        )
        .where((Tandem.program_id != program.id) | (Tandem.status == TandemStatus.DISSOLVED))
    )
    by_tandem: dict[int, set[int]] = {}
    for tandem_id, person_id in rows:
        by_tandem.setdefault(tandem_id, set()).add(person_id)
    partners: dict[int, set[int]] = {}
    for members in by_tandem.values():
        for p in members:
            partners.setdefault(p, set()).update(members - {p})
    return partners


def build_candidates(session: Session, program: Program) -> CandidatePool:
    """Read the program's active enrollments into solver candidates (ids are person ids)."""
    enrollments = (
        session.scalars(
            select(Enrollment)
            .where(
                Enrollment.program_id == program.id, Enrollment.status == EnrollmentStatus.ACTIVE
            )
            .order_by(Enrollment.id)
        )
        .unique()
        .all()
    )
    managers = {
        pid: mid
        for pid, mid in session.execute(
            select(Person.id, Person.manager_id).where(Person.org_id == program.org_id)
        )
    }
    person_ids = [e.person_id for e in enrollments]
    chains = orgchart.chains_for(person_ids, managers)
    levels = _skill_levels(session, program)
    previous = _previous_partners(session, program)
    labels: dict[str, str] = {}
    for code, name, name_de in session.execute(
        select(Skill.code, Skill.name, Skill.name_de).where(Skill.org_id == program.org_id)
    ):
        labels[code] = name
        if name_de:
            labels[f"de:{code}"] = name_de
    at = datetime.combine(program.starts_on, dtime(12), tzinfo=ZoneInfo("UTC"))
    peers = program.format is ProgramFormat.BIDIRECTIONAL
    mentors: list[Candidate] = []
    mentees: list[Candidate] = []
    enrollment_of: dict[tuple[str, str], Enrollment] = {}
    seen_peers: set[int] = set()
    for e in enrollments:
        p = e.person
        if not p.active or p.erased_at is not None:
            continue
        if peers and p.id in seen_peers:
            # In a bidirectional program a person enrolled in both roles is one peer.
            enrollment_of[(e.role.value, str(p.id))] = e
            continue
        seen_peers.add(p.id)
        both = [x for x in enrollments if x.person_id == p.id] if peers else [e]
        offered: dict[str, int] = {}
        wanted: dict[str, int] = {}
        for x in both:
            offered.update(x.topics_offered or {})
            wanted.update(x.topics_wanted or {})
        candidate = Candidate(
            id=str(p.id),
            role=e.role.value,
            org_id=str(p.org_id),
            department=p.department,
            division=p.division,
            grade=p.job_level,
            languages=frozenset(e.languages or p.languages or []),
            utc_offset_minutes=_utc_offset(p.time_zone, at),
            topics_offered=offered,
            topics_wanted=wanted,
            skill_levels=levels.get(p.id, {}),
            capacity=e.capacity if e.role is EnrollmentRole.MENTOR else 1,
            avoid=frozenset(str(i) for i in e.avoid_person_ids or []),
            prefer=frozenset(str(i) for i in e.prefer_person_ids or []),
            chain=frozenset(str(i) for i in chains.get(p.id, frozenset())),
            previous_partners=frozenset(str(i) for i in previous.get(p.id, set())),
            display_name=p.full_name,
        )
        enrollment_of[(e.role.value, candidate.id)] = e
        (mentors if e.role is EnrollmentRole.MENTOR else mentees).append(candidate)
    return CandidatePool(tuple(mentors), tuple(mentees), enrollment_of, labels)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its stored row (None on a dry run), the result and new tandems."""

    run: MatchRun | None
    result: MatchResult
    created: tuple[Tandem, ...]
    kept: tuple[Tandem, ...]


def _kept_tandems(session: Session, program: Program) -> list[Tandem]:
    stmt = select(Tandem).where(
        Tandem.program_id == program.id,
        (Tandem.status.in_(list(KEPT_STATUSES)))
        | (
            (Tandem.status == TandemStatus.PROPOSED)
            & (Tandem.locked.is_(True) | Tandem.approved_at.is_not(None))
        ),
    )
    return list(session.scalars(stmt.order_by(Tandem.id)).unique().all())


def _lock_of(tandem: Tandem, pool: CandidatePool) -> LockedTandem | None:
    people = pool.people
    mentor_ids = tuple(str(m.person_id) for m in tandem.members if m.role is EnrollmentRole.MENTOR)
    mentee_ids = tuple(str(m.person_id) for m in tandem.members if m.role is EnrollmentRole.MENTEE)
    if not mentor_ids or not mentee_ids or not all(i in people for i in mentor_ids + mentee_ids):
        return None  # a member withdrew: the tandem no longer binds the solver
    return LockedTandem(mentor_ids=mentor_ids, mentee_ids=mentee_ids)


def _unmatched_json(result: MatchResult) -> list[dict[str, Any]]:
    return [
        {
            "person_id": int(u.person_id),
            "role": u.role,
            "reason": u.reason.value,
            "counts": dict(u.counts),
            "explanation": dict(u.explanation),
            "spare_capacity": u.spare_capacity,
        }
        for u in result.unmatched
    ]


def _explanation_json(
    texts: Mapping[str, Sequence[str]], pairs: Sequence[PairBreakdown]
) -> dict[str, Any]:
    return {
        "en": list(texts.get("en", ())),
        "de": list(texts.get("de", ())),
        "pairs": [
            {
                "mentor": int(p.mentor_id),
                "mentee": int(p.mentee_id),
                "score": p.score,
                "factors": [
                    {
                        "key": f.key.value,
                        "weight": f.weight,
                        "value": f.value,
                        "contribution": f.contribution,
                        "params": dict(f.params),
                    }
                    for f in p.factors
                ],
            }
            for p in pairs
        ],
    }


def run_matching(
    session: Session,
    program: Program,
    *,
    actor: str,
    objective: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RunOutcome:
    """Run the solver for a program and store the result as proposed tandems.

    On a dry run nothing is written. Otherwise earlier, unapproved proposals of the program
    are replaced, the run is stored, and the program moves from enrolling to matching.

    Raises:
        ConflictError: The program is not in a state that can be matched.
        MatchError: Nobody to match on one side, or the solver failed.
    """
    if program.status not in RUNNABLE:
        raise ConflictError(
            N_(
                "program %(program)s is %(status)s; matching needs it to be enrolling, matching "
                "or running"
            ),
            field="program",
            program=repr(program.name),
            status=word(program.status),
        )
    settings = settings_for(program, objective=objective)
    pool = build_candidates(session, program)
    if not pool.mentors or (not pool.mentees and settings.format != "bidirectional"):
        raise MatchError(
            N_(
                "nothing to match: %(mentors)s mentors (juniors) and %(mentees)s mentees "
                "(seniors) are enrolled"
            ),
            field="program",
            mentors=len(pool.mentors),
            mentees=len(pool.mentees),
        )
    kept = _kept_tandems(session, program)
    locks = [lock for t in kept if (lock := _lock_of(t, pool)) is not None]
    started = time.monotonic()
    result = match(
        pool.mentors,
        pool.mentees,
        settings,
        locked=locks,
        release_broken_locks=False,
        topic_labels=pool.topic_labels,
        progress=progress,
    )
    duration_ms = int((time.monotonic() - started) * 1000)
    if dry_run:
        return RunOutcome(run=None, result=result, created=(), kept=tuple(kept))

    now = utcnow()
    # Replace earlier proposals that nobody approved or locked.
    old_runs = session.scalars(
        select(MatchRun).where(
            MatchRun.program_id == program.id, MatchRun.status == MatchRunStatus.SUCCEEDED
        )
    ).all()
    for old in old_runs:
        old.status = MatchRunStatus.DISCARDED
    stale = session.scalars(
        select(Tandem).where(
            Tandem.program_id == program.id,
            Tandem.status == TandemStatus.PROPOSED,
            Tandem.locked.is_(False),
            Tandem.approved_at.is_(None),
        )
    ).unique()
    for tandem in stale:
        session.delete(tandem)  # an unapproved proposal: nothing refers to it yet
    session.flush()
    run = MatchRun(
        org_id=program.org_id,
        program_id=program.id,
        status=MatchRunStatus.SUCCEEDED,
        objective=result.objective,
        solver=result.solver,
        settings={
            **programs.validate_matching_settings(program.matching_settings),
            "objective": result.objective,
            "format": result.format,
        },
        inputs={
            "mentors": len(pool.mentors),
            "mentees": len(pool.mentees),
            "locked": len(locks),
            "hash": pool.input_hash(),
        },
        objective_value=result.total_score,
        optimal=result.optimal,
        duration_ms=duration_ms,
        started_by=actor,
        result={
            "matched_mentees": result.matched_mentees,
            "gap": result.gap,
            "unmatched": _unmatched_json(result),
            "broken_locks": [
                {
                    "mentor_ids": [int(i) for i in b.lock.mentor_ids],
                    "mentee_ids": [int(i) for i in b.lock.mentee_ids],
                    "violations": [
                        {"rule": v.rule.value, "explanation": dict(v.explanation)}
                        for v in b.violations
                    ],
                }
                for b in result.broken_locks
            ],
            "stats": {
                k: (dict(v) if isinstance(v, dict) else v) for k, v in result.stats.__dict__.items()
            },
            "timings": dict(result.timings),
        },
    )
    session.add(run)
    session.flush()

    # Flag kept tandems that broke a hard rule; clear flags of those that no longer do.
    broken = {frozenset((*b.lock.mentor_ids, *b.lock.mentee_ids)): b for b in result.broken_locks}
    for t in kept:
        key = frozenset(str(m.person_id) for m in t.members)
        flags = dict(t.flags or {})
        if key in broken:
            flags["broken_rules"] = [
                {"rule": v.rule.value, **dict(v.explanation)} for v in broken[key].violations
            ]
            audit.record(
                session,
                org_id=program.org_id,
                actor=actor,
                action="tandem.rules_broken",
                object_type="tandem",
                object_id=t.id,
                details={"rules": sorted({v.rule.value for v in broken[key].violations})},
            )
        else:
            flags.pop("broken_rules", None)
        t.flags = flags

    created: list[Tandem] = []
    for rt in result.tandems:
        if rt.locked:
            continue
        tandem = Tandem(
            org_id=program.org_id,
            program_id=program.id,
            match_run_id=run.id,
            status=TandemStatus.PROPOSED,
            score=rt.score,
            explanation=_explanation_json(rt.explanation, rt.pairs),
            status_changed_at=now,
        )
        for role, ids in (("mentor", rt.mentor_ids), ("mentee", rt.mentee_ids)):
            for cid in ids:
                e = pool.enrollment(role, cid)
                tandem.members.append(
                    TandemMember(
                        org_id=program.org_id,
                        enrollment_id=e.id,
                        person_id=e.person_id,
                        role=EnrollmentRole(role),
                    )
                )
        session.add(tandem)
        created.append(tandem)
    if program.status is ProgramStatus.ENROLLING:
        programs.set_program_status(session, program, ProgramStatus.MATCHING, actor=actor)
    session.flush()
    audit.record(
        session,
        org_id=program.org_id,
        actor=actor,
        action="match.run",
        object_type="match_run",
        object_id=run.id,
        details={
            "program_id": program.id,
            "objective": result.objective,
            "tandems": len(created),
            "kept": len(kept),
            "unmatched": len(result.unmatched),
            "optimal": result.optimal,
        },
    )
    return RunOutcome(run=run, result=result, created=tuple(created), kept=tuple(kept))


def get_run(session: Session, *, org_id: int, run_id: int) -> MatchRun:
    """A match run of this organization.

    Raises:
        NotFound: No such run in this organization.
    """
    run = session.get(MatchRun, run_id)
    if run is None or run.org_id != org_id:
        raise NotFound(N_("match run %(run)s not found"), field="run", run=run_id)
    return run


def list_runs(session: Session, *, program: Program) -> Sequence[MatchRun]:
    """The program's runs, newest first."""
    stmt = select(MatchRun).where(MatchRun.program_id == program.id)
    return session.scalars(stmt.order_by(MatchRun.id.desc())).all()


def run_tandems(session: Session, run: MatchRun) -> Sequence[Tandem]:
    """The tandems a run proposed (still existing), by id."""
    stmt = select(Tandem).where(Tandem.match_run_id == run.id).order_by(Tandem.id)
    return session.scalars(stmt).unique().all()


def get_tandem(session: Session, *, org_id: int, tandem_id: int) -> Tandem:
    """A tandem of this organization.

    Raises:
        NotFound: No such tandem in this organization.
    """
    tandem = session.get(Tandem, tandem_id)
    if tandem is None or tandem.org_id != org_id:
        raise NotFound(N_("tandem %(tandem)s not found"), field="tandem", tandem=tandem_id)
    return tandem


# --------------------------------------------------------------------------- coordinator actions


#: What refuses each coordinator action on a tandem that is no longer proposed.
_NOT_PROPOSED = {
    "accepted": N_("tandem %(tandem)s is %(status)s; only a proposed tandem can be accepted"),
    "rejected": N_("tandem %(tandem)s is %(status)s; only a proposed tandem can be rejected"),
    "swapped": N_("tandem %(tandem)s is %(status)s; only a proposed tandem can be swapped"),
}


_LOCKED = N_("tandem %(tandem)s is locked; unlock it first")

#: Why a swap is refused, per hard rule a new pair would break. The English is
#: ``explain_violation``'s sentence (kept word for word), as one template per rule so that
#: the pages can translate it; a rule missing here falls back to that sentence.
_SWAP_REFUSALS: dict[Rule, str] = {
    Rule.MANAGEMENT_CHAIN: N_(
        "the swap is refused: %(mentee)s and %(mentor)s are now in the same management chain"
    ),
    Rule.AVOID: N_("the swap is refused: %(mentee)s or %(mentor)s asked not to be paired"),
    Rule.NO_SHARED_LANGUAGE: N_(
        "the swap is refused: %(mentee)s and %(mentor)s no longer share a language"
    ),
    Rule.TIMEZONE: N_(
        "the swap is refused: %(mentee)s and %(mentor)s are now too many time zones apart"
    ),
    Rule.SENIORITY_BAND: N_(
        "the swap is refused: The grade gap between %(mentee)s and %(mentor)s is now outside "
        "the seniority band"
    ),
    Rule.DIFFERENT_ORG: N_(
        "the swap is refused: %(mentee)s and %(mentor)s are now in different organizations"
    ),
}


def _swap_refused(rule: Rule, mentor: str, mentee: str) -> ConflictError:
    """The refusal of a swap whose new pair ``mentor`` / ``mentee`` breaks ``rule``."""
    template = _SWAP_REFUSALS.get(rule)
    if template is None:
        why = explain_violation(rule, mentor, mentee)["en"]
        return ConflictError(N_("the swap is refused: %(why)s"), field="tandem", why=why)
    if template.startswith("the swap is refused: %(mentee)s"):
        # The reason is a sentence of its own: it starts with a capital letter.
        mentee = mentee[:1].upper() + mentee[1:]
    return ConflictError(template, field="tandem", mentee=mentee, mentor=mentor)


def _require_proposed(tandem: Tandem, verb: str) -> None:
    if tandem.status is not TandemStatus.PROPOSED:
        raise ConflictError(
            _NOT_PROPOSED[verb], field="tandem", tandem=tandem.id, status=word(tandem.status)
        )


def accept_tandem(
    session: Session, tandem: Tandem, *, actor: str, now: datetime | None = None
) -> Tandem:
    """A coordinator approves a proposal; its members are then asked to consent.

    Raises:
        ConflictError: The tandem is not proposed, or already approved.
    """
    _require_proposed(tandem, "accepted")
    if tandem.approved_at is not None:
        raise ConflictError(
            N_("tandem %(tandem)s is already approved"), field="tandem", tandem=tandem.id
        )
    tandem.approved_by, tandem.approved_at = actor, now or utcnow()
    session.flush()
    audit.record(
        session,
        org_id=tandem.org_id,
        actor=actor,
        action="tandem.approved",
        object_type="tandem",
        object_id=tandem.id,
    )
    return tandem


def reject_tandem(session: Session, tandem: Tandem, *, actor: str) -> Tandem:
    """A coordinator rejects a proposal; its members are free for the next run.

    Raises:
        ConflictError: The tandem is not proposed, or it is locked.
    """
    _require_proposed(tandem, "rejected")
    if tandem.locked:
        raise ConflictError(_LOCKED, field="tandem", tandem=tandem.id)
    tandem.status, tandem.status_changed_at = TandemStatus.REJECTED, utcnow()
    session.flush()
    audit.record(
        session,
        org_id=tandem.org_id,
        actor=actor,
        action="tandem.rejected",
        object_type="tandem",
        object_id=tandem.id,
    )
    return tandem


def set_lock(session: Session, tandem: Tandem, *, locked: bool, actor: str) -> Tandem:
    """Lock a tandem so re-runs keep it (or unlock it).

    Raises:
        ConflictError: The tandem is rejected, dissolved or completed.
    """
    if tandem.status not in (TandemStatus.PROPOSED, *KEPT_STATUSES):
        raise ConflictError(
            N_("tandem %(tandem)s is %(status)s; it cannot be locked"),
            field="tandem",
            tandem=tandem.id,
            status=word(tandem.status),
        )
    if tandem.locked is locked:
        return tandem
    tandem.locked = locked
    session.flush()
    audit.record(
        session,
        org_id=tandem.org_id,
        actor=actor,
        action="tandem.locked" if locked else "tandem.unlocked",
        object_type="tandem",
        object_id=tandem.id,
    )
    return tandem


def approve_run(
    session: Session, run: MatchRun, *, actor: str, now: datetime | None = None
) -> MatchRun:
    """Approve (publish) every still-proposed tandem of a run.

    Raises:
        ConflictError: The run was discarded, failed or is already approved.
    """
    if run.status is not MatchRunStatus.SUCCEEDED:
        raise ConflictError(
            N_("match run %(run)s is %(status)s; only the latest successful run can be approved"),
            field="run",
            run=run.id,
            status=word(run.status),
        )
    now = now or utcnow()
    approved = 0
    for tandem in run_tandems(session, run):
        if tandem.status is TandemStatus.PROPOSED and tandem.approved_at is None:
            tandem.approved_by, tandem.approved_at = actor, now
            approved += 1
    run.status, run.approved_by, run.approved_at = MatchRunStatus.APPROVED, actor, now
    session.flush()
    audit.record(
        session,
        org_id=run.org_id,
        actor=actor,
        action="match.approved",
        object_type="match_run",
        object_id=run.id,
        details={"tandems": approved},
    )
    return run


def swap_tandems(
    session: Session, first: Tandem, second: Tandem, *, actor: str, role: str = "mentee"
) -> tuple[Tandem, Tandem]:
    """Exchange the members of one role between two proposed tandems of a program.

    The new pairs are checked against the hard rules and re-scored with the program's
    weights; their explanations are rewritten.

    Raises:
        ValidationError: Unknown role, or the same tandem twice.
        ConflictError: Not both proposed and unlocked in one program, or a new pair
            breaks a hard rule (the message says which and why).
    """
    if role not in ("mentor", "mentee"):
        raise ValidationError(N_("role must be mentor or mentee"), field="role")
    if first.id == second.id:
        raise ValidationError(N_("choose two different tandems"), field="tandem")
    for t in (first, second):
        _require_proposed(t, "swapped")
        if t.locked:
            raise ConflictError(_LOCKED, field="tandem", tandem=t.id)
    if first.program_id != second.program_id:
        raise ConflictError(N_("tandems of different programs cannot swap members"), field="tandem")
    program = programs.get_program(session, org_id=first.org_id, program_id=first.program_id)
    settings = settings_for(program)
    pool = build_candidates(session, program)
    people = pool.people
    moving = EnrollmentRole(role)
    a_moving = [m for m in first.members if m.role is moving]
    b_moving = [m for m in second.members if m.role is moving]
    peers = settings.format == "bidirectional"

    def members_after(
        t: Tandem, leave: list[TandemMember], join: list[TandemMember]
    ) -> list[TandemMember]:
        return [m for m in t.members if m not in leave] + join

    plans = (
        (first, members_after(first, a_moving, b_moving)),
        (second, members_after(second, b_moving, a_moving)),
    )
    rescored: list[tuple[Tandem, list[Any], float]] = []
    for t, members in plans:
        mentors = [people[str(m.person_id)] for m in members if m.role is EnrollmentRole.MENTOR]
        mentees = [people[str(m.person_id)] for m in members if m.role is EnrollmentRole.MENTEE]
        pairs = []
        for mentor in mentors:
            for mentee in mentees:
                rules = pair_violations(mentor, mentee, settings.rules, peers=peers)
                if rules:
                    raise _swap_refused(rules[0], mentor.name, mentee.name)
                pairs.append(breakdown(mentor, mentee, settings, peers=peers))
        score = float(sum(p.score for p in pairs))
        rescored.append((t, pairs, score))
    # No intermediate state clashes on (tandem, person): a person is in one of the two only.
    for m in a_moving:
        m.tandem_id = second.id
    for m in b_moving:
        m.tandem_id = first.id
    for t, pairs, score in rescored:
        factors = [f for p in pairs for f in p.factors]
        t.score = score
        t.explanation = _explanation_json(
            explain_factors(factors, topic_labels=pool.topic_labels), pairs
        )
    session.flush()
    session.expire(first, ["members"])
    session.expire(second, ["members"])
    audit.record(
        session,
        org_id=first.org_id,
        actor=actor,
        action="tandem.swapped",
        object_type="tandem",
        object_id=first.id,
        details={"with": second.id, "role": role},
    )
    return first, second

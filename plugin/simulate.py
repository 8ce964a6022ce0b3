"""Simulate months of a reverse-mentoring program, for demos and tests.

:func:`simulate_program` takes a program whose people have enrolled (the seeded demo
program, status enrolling) and plays it forward with a seeded random generator and an
injected clock, using **only the public services** — matching, the tandem lifecycle,
sessions, feedback, goals, actions, alerts, assessments, the survey, completion and the
HR departures a sync would record. Nothing is written behind the services' backs, so a
simulated program obeys every rule a real one does, and its report is a real report.

Each tandem gets a persona that shapes its behaviour:

* ``thriving`` — meets every month (sometimes twice), warm feedback, meets its goals,
  the senior logs what they changed;
* ``steady`` — meets most months, some goals met;
* ``stalling`` — starts well, then stops meeting (the coordinators get a *stalled* alert);
* ``cancelling`` — the senior keeps cancelling (*senior cancellations* alert);
* ``dissolving`` — the junior feels unsafe or a reorganisation intervenes; the tandem is
  dissolved in month 2–4 (some no-fault);
* ``declined`` — a member declines the proposal.

HR churn runs alongside: juniors who are not in the program leave more often than
participants (mentoring.md §4: Pershing's 96 % mentor retention), which the report's
results level (L4) then measures.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, ValidationError
from plugin.models import (
    Alert,
    Completion,
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    Goal,
    MentoringSession,
    OutboxMessage,
    Person,
    PersonSkill,
    Program,
    ProgramStatus,
    Skill,
    SkillCategory,
    SkillSource,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import (
    alerts,
    assessments,
    coordinators,
    matching,
    people,
    programs,
    sessions,
    tandems,
)

__all__ = ["PERSONAS", "SimulationSummary", "simulate_program"]

ACTOR = "system:simulation"

#: Persona name → share of tandems.
PERSONAS: dict[str, float] = {
    "thriving": 0.38,
    "steady": 0.30,
    "stalling": 0.12,
    "cancelling": 0.08,
    "dissolving": 0.07,
    "declined": 0.05,
}

_HELD_PROBABILITY = {
    "thriving": 0.97,
    "steady": 0.82,
    "stalling": 0.85,
    "cancelling": 0.55,
    "dissolving": 0.8,
}
_RATING = {
    "thriving": (4, 5),
    "steady": (3, 5),
    "stalling": (2, 4),
    "cancelling": (2, 4),
    "dissolving": (1, 3),
}
_COMMENTS = {
    "thriving": (
        "Great session, I left with three things to try.",
        "We went deep on the topic; very useful.",
        "Honest and open conversation, thank you.",
    ),
    "steady": ("Good session.", "Useful, a bit short.", "Solid exchange, we'll continue."),
    "stalling": ("Hard to find a date.", "We drifted a bit.", "OK."),
    "cancelling": ("Rushed; we had to cut it short.", "Good when it happens."),
    "dissolving": ("I did not feel heard.", "Difficult conversation.", "Not a good fit."),
}
_CANCEL_REASONS_SENIOR = (
    "Board meeting moved into the slot",
    "Travelling to a customer",
    "Budget review ran over",
    "Sick leave",
)
_CANCEL_REASONS_JUNIOR = ("Sprint release day", "Sick leave", "Training course")
_GOALS = (
    "Use an AI assistant for my weekly report",
    "Post on LinkedIn once a month",
    "Run a team meeting with a collaborative whiteboard",
    "Understand what our Gen-Z hires expect from onboarding",
    "Give my mentor upward feedback on their presentation",
    "Try one hybrid-work ritual with my team",
    "Learn how our developers work day to day",
)
_ACTIONS = (
    "Started using an AI assistant to draft meeting summaries",
    "Moved the leadership team's planning to a shared board",
    "Changed onboarding to pair every new hire with a buddy",
    "Published the first post on the company's LinkedIn page",
    "Introduced camera-optional hybrid meetings",
    "Asked juniors for feedback in the monthly all-hands",
)
_DISSOLVE_REASONS = (
    ("Reorganisation: the senior moved to another division", True),
    ("The junior changed role and has no time left", True),
    ("The relationship did not work out", False),
)
_MODES = ("video", "in_person", "hybrid", "phone")
_MODE_WEIGHTS = (0.5, 0.25, 0.2, 0.05)
_LEARNER_HINTS = ("LEADERSHIP", "FEEDBACK")

#: Monthly chance that a junior leaves the company.
_CHURN_PARTICIPANT = 0.003
_CHURN_OTHER = 0.012
_JUNIOR_MAX_LEVEL = 4

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class SimulationSummary:
    """What a simulation produced (counts read back from the database)."""

    program_id: int
    months: int
    closed: bool
    personas: dict[str, int] = field(default_factory=dict)
    tandems: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    feedback: int = 0
    goals: int = 0
    goals_met: int = 0
    actions: int = 0
    assessments: int = 0
    surveys: int = 0
    completions: int = 0
    outbox_messages: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    departures: int = 0


@dataclass(slots=True)
class _Track:
    """One tandem under simulation."""

    tandem_id: int
    persona: str
    mentor_id: int
    mentee_id: int
    dissolve_month: int | None = None
    goal_ids: list[int] = field(default_factory=list)
    open: bool = True
    activated: bool = False


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _months_of(program: Program) -> int:
    s, e = program.starts_on, program.ends_on
    return max(1, (e.year - s.year) * 12 + e.month - s.month + (1 if e.day >= s.day else 0))


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


class _Simulation:
    def __init__(
        self,
        session: Session,
        program: Program,
        *,
        months: int,
        seed: int,
        progress: Progress | None,
    ) -> None:
        self.s = session
        self.program = program
        self.months = months
        self.rng = random.Random(seed)  # noqa: S311 (a reproducible simulation, not security)
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.admin = Actor.admin(program.org_id, ACTOR)
        ids = coordinators.coordinator_ids(session, program)
        self.coordinator = (
            Actor.coordinator(program.org_id, ids[0], label=f"{ACTOR} as person:{ids[0]}")
            if ids
            else self.admin
        )
        self.tracks: list[_Track] = []
        self.skills = assessments.program_skills(session, program)
        self.departures = 0

    def me(self, person_id: int) -> Actor:
        return Actor.participant(self.program.org_id, person_id)

    # ------------------------------------------------------------------ phases

    def pre_assessments(self) -> None:
        when = _at(self.program.starts_on - timedelta(days=12), 9)
        enrolled = self.s.scalars(
            select(Enrollment)
            .where(
                Enrollment.program_id == self.program.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
            .order_by(Enrollment.id)
        ).all()
        for i, enrollment in enumerate(enrolled):
            if self.rng.random() < 0.92:
                answers = self._levels(enrollment, None, "pre")
                assessments.submit_assessment(
                    self.s,
                    self.me(enrollment.person_id),
                    self.program.id,
                    kind="pre",
                    answers=answers,
                    role=enrollment.role.value,
                    now=when + timedelta(minutes=i),
                )
            self.progress("pre-assessments", i + 1, len(enrolled))

    def match_and_start(self) -> None:
        program = self.program
        outcome = matching.run_matching(self.s, program, actor=ACTOR)
        if outcome.run is not None:
            matching.approve_run(
                self.s,
                outcome.run,
                actor=self.coordinator.label,
                now=_at(self.program.starts_on - timedelta(days=10), 9),
            )
        proposed = self.s.scalars(
            select(Tandem)
            .where(Tandem.program_id == program.id, Tandem.status == TandemStatus.PROPOSED)
            .order_by(Tandem.id)
        ).all()
        names = list(PERSONAS)
        weights = [PERSONAS[n] for n in names]
        respond_at = _at(program.starts_on - timedelta(days=7), 8)
        for i, tandem in enumerate(proposed):
            persona = self.rng.choices(names, weights)[0]
            mentor = next(m for m in tandem.members if m.role is EnrollmentRole.MENTOR)
            mentee = next(m for m in tandem.members if m.role is EnrollmentRole.MENTEE)
            track = _Track(tandem.id, persona, mentor.person_id, mentee.person_id)
            if persona == "dissolving":
                track.dissolve_month = self.rng.randint(1, 3)
            self.tracks.append(track)
            now = respond_at + timedelta(minutes=3 * i)
            if persona == "declined":
                decliner = mentee if self.rng.random() < 0.6 else mentor
                tandems.respond(
                    self.s,
                    self.me(decliner.person_id),
                    tandem.id,
                    accept=False,
                    reason="I cannot commit the time this half-year",
                    now=now,
                )
                track.open = False
                continue
            for member in (mentor, mentee):
                tandems.respond(self.s, self.me(member.person_id), tandem.id, accept=True, now=now)
            self.progress("consent", i + 1, len(proposed))
        programs.set_program_status(
            self.s,
            program,
            ProgramStatus.RUNNING,
            actor=self.coordinator.label,
            now=_at(program.starts_on, 7),
        )
        # Kick-off in the first weeks: agreement, expectations, goals; then the tandem is active.
        for i, track in enumerate(t for t in self.tracks if t.open):
            delay = self.rng.randint(1, 6) if track.persona != "stalling" else 9
            now = _at(program.starts_on + timedelta(days=delay), 11)
            for person_id in (track.mentor_id, track.mentee_id):
                tandems.accept_confidentiality(self.s, self.me(person_id), track.tandem_id, now=now)
            goals = self.rng.sample(_GOALS, self.rng.randint(1, 3))
            tandems.record_kickoff(
                self.s,
                self.me(track.mentor_id),
                track.tandem_id,
                expectations="Monthly sessions on the theme of the month; honest feedback both "
                "ways; what we say stays in the tandem.",
                meeting_mode=self.rng.choices(_MODES, _MODE_WEIGHTS)[0],
                goals=goals,
                now=now + timedelta(minutes=20),
            )
            row = self.s.get(Tandem, track.tandem_id)
            track.activated = row is not None and row.status is TandemStatus.ACTIVE
            track.goal_ids = list(
                self.s.scalars(
                    select(Goal.id).where(Goal.tandem_id == track.tandem_id).order_by(Goal.id)
                )
            )
            self.progress("kick-off", i + 1, len(self.tracks))

    def month(self, m: int) -> None:
        program = self.program
        start = _add_months(program.starts_on, m)
        end = min(program.ends_on, _add_months(program.starts_on, m + 1) - timedelta(days=1))
        for track in self.tracks:
            if track.open and track.activated:
                self._tandem_month(track, m, start, end)
        self._churn(m, end)
        month_end = _at(end, 18)
        alerts.scan_program(self.s, program.id, now=month_end)
        # The coordinators work through the month's alerts.
        for alert in alerts.list_alerts(
            self.s, self.coordinator, program_id=program.id, status="open"
        ):
            if self.rng.random() < 0.7:
                alerts.handle_alert(
                    self.s,
                    self.coordinator,
                    alert.id,
                    status="resolved" if self.rng.random() < 0.5 else "acknowledged",
                    note="Talked to the tandem.",
                    now=month_end + timedelta(hours=16),
                )

    def _tandem_month(self, track: _Track, m: int, start: date, end: date) -> None:
        rng = self.rng
        persona = track.persona
        if track.dissolve_month is not None and m == track.dissolve_month:
            reason, no_fault = rng.choice(_DISSOLVE_REASONS)
            who = track.mentor_id if rng.random() < 0.5 else track.mentee_id
            tandems.dissolve_tandem(
                self.s,
                self.me(who),
                track.tandem_id,
                reason=reason,
                no_fault=no_fault,
                now=_at(start + timedelta(days=2), 15),
            )
            track.open = False
            return
        meetings = 1 + (persona == "thriving" and rng.random() < 0.25)
        if persona == "stalling" and m >= 2:
            meetings = 1 if rng.random() < 0.15 else 0
        span = max(1, (end - start).days - 6)
        days = sorted(rng.sample(range(3, 3 + span), min(meetings, span)))
        for day_offset in days:
            day = min(end, start + timedelta(days=day_offset))
            scheduled = _at(day, rng.choice((9, 10, 11, 14, 15, 16)), rng.choice((0, 30)))
            planner = track.mentor_id if rng.random() < 0.6 else track.mentee_id
            plan_at = max(_at(start, 8), scheduled - timedelta(days=7))
            meeting = sessions.plan_session(
                self.s,
                self.me(planner),
                track.tandem_id,
                scheduled_at=scheduled,
                planned_minutes=60,
                now=plan_at,
            )
            after = scheduled + timedelta(hours=2)
            if persona == "cancelling" and rng.random() < 0.5:
                sessions.cancel_session(
                    self.s,
                    self.me(track.mentee_id),
                    meeting.id,
                    reason=rng.choice(_CANCEL_REASONS_SENIOR),
                    now=scheduled - timedelta(hours=rng.randint(2, 48)),
                )
                continue
            if rng.random() > _HELD_PROBABILITY[persona]:
                senior = rng.random() < 0.6
                sessions.cancel_session(
                    self.s,
                    self.me(track.mentee_id if senior else track.mentor_id),
                    meeting.id,
                    reason=rng.choice(_CANCEL_REASONS_SENIOR if senior else _CANCEL_REASONS_JUNIOR),
                    now=scheduled - timedelta(hours=rng.randint(2, 72)),
                )
                continue
            minutes = rng.choice((30, 45, 50, 60, 60, 60, 75, 90))
            if persona == "thriving":
                minutes = max(minutes, 45)
            sessions.hold_session(
                self.s, self.me(planner), meeting.id, minutes=minutes, held_at=scheduled, now=after
            )
            if rng.random() < 0.5:
                sessions.set_notes(
                    self.s,
                    self.me(track.mentor_id),
                    meeting.id,
                    text="Shared notes: what we tried, what to read before next time.",
                    now=after,
                )
            self._feedback(track, meeting.id, after)
        self._goals_and_actions(track, m, end)

    def _feedback(self, track: _Track, meeting_id: int, after: datetime) -> None:
        rng = self.rng
        lo, hi = _RATING[track.persona]
        for person_id, junior in ((track.mentor_id, True), (track.mentee_id, False)):
            if rng.random() > (0.9 if junior else 0.8):
                continue
            pulse = None
            if junior:
                pulse = rng.randint(4, 5) if track.persona != "dissolving" else rng.randint(1, 3)
                if track.persona != "dissolving" and rng.random() < 0.03:
                    pulse = 2
            sessions.give_feedback(
                self.s,
                self.me(person_id),
                meeting_id,
                rating=rng.randint(lo, hi),
                comment=rng.choice(_COMMENTS[track.persona]) if rng.random() < 0.6 else None,
                safety_pulse=pulse,
                shared_with_partner=rng.random() < 0.5,
                now=after + timedelta(hours=rng.randint(1, 30)),
            )

    def _goals_and_actions(self, track: _Track, m: int, end: date) -> None:
        rng = self.rng
        now = _at(end, 17)
        if track.goal_ids and m >= 1:
            chance = {"thriving": 0.45, "steady": 0.25}.get(track.persona, 0.05)
            goal_id = track.goal_ids[m % len(track.goal_ids)]
            goal = self.s.get(Goal, goal_id)
            if goal is not None and goal.status.value in ("open", "in_progress"):
                status = "met" if rng.random() < chance else "in_progress"
                if status != goal.status.value:
                    tandems.set_goal_status(
                        self.s, self.me(track.mentor_id), goal_id, status=status, now=now
                    )
        chance = {"thriving": 0.5, "steady": 0.25, "cancelling": 0.05}.get(track.persona, 0.0)
        if m >= 1 and rng.random() < chance:
            tandems.log_action(
                self.s,
                self.me(track.mentee_id),
                track.tandem_id,
                description=rng.choice(_ACTIONS),
                taken_on=end - timedelta(days=rng.randint(0, 10)),
                now=now,
            )

    def _churn(self, m: int, end: date) -> None:
        rng = self.rng
        participants: dict[int, list[_Track]] = {}
        for t in self.tracks:
            if t.activated:
                participants.setdefault(t.mentor_id, []).append(t)
        juniors = self.s.scalars(
            select(Person.id)
            .where(
                Person.org_id == self.program.org_id,
                Person.active.is_(True),
                Person.job_level <= _JUNIOR_MAX_LEVEL,
            )
            .order_by(Person.id)
        ).all()
        for person_id in juniors:
            own = participants.get(person_id, [])
            if rng.random() >= (_CHURN_PARTICIPANT if own else _CHURN_OTHER):
                continue
            left_on = end - timedelta(days=rng.randint(0, 20))
            people.record_departure(
                self.s,
                org_id=self.program.org_id,
                person_id=person_id,
                left_on=left_on,
                actor=ACTOR,
                today=end + timedelta(days=1),
            )
            self.departures += 1
            for track in own:
                if not track.open:
                    continue
                tandems.dissolve_tandem(
                    self.s,
                    self.coordinator,
                    track.tandem_id,
                    reason="The junior left the company",
                    no_fault=True,
                    now=_at(end, 12),
                )
                track.open = False

    def finish(self) -> None:
        program = self.program
        end = program.ends_on
        # A junior may mentor several seniors (capacity); each person answers once.
        answered: set[int] = set()
        for i, track in enumerate(self.tracks):
            if not track.activated:
                continue
            finished = track.open
            answer = 0.92 if finished else 0.35
            for person_id, role in (
                (track.mentor_id, EnrollmentRole.MENTOR),
                (track.mentee_id, EnrollmentRole.MENTEE),
            ):
                if person_id in answered or not self._employed(person_id, end):
                    continue
                answered.add(person_id)
                now = _at(end - timedelta(days=self.rng.randint(0, 10)), 16)
                if self.rng.random() < answer:
                    enrollment = self._enrollment(person_id, role)
                    pre = self._pre_levels(enrollment)
                    if pre is not None or self.rng.random() < 0.5:
                        assessments.submit_assessment(
                            self.s,
                            self.me(person_id),
                            program.id,
                            kind="post",
                            answers=self._levels(enrollment, pre, "post", track.persona),
                            role=role.value,
                            now=now,
                        )
                if self.rng.random() < answer * 0.9:
                    self._survey(track, person_id, role, now + timedelta(hours=1))
            if finished:
                tandems.complete_tandem(
                    self.s, self.me(track.mentor_id), track.tandem_id, now=_at(end, 18)
                )
            self.progress("wrap-up", i + 1, len(self.tracks))
        # Closing completes the tandems still active and evaluates every completion.
        programs.set_program_status(
            self.s,
            program,
            ProgramStatus.CLOSED,
            actor=self.coordinator.label,
            now=_at(end + timedelta(days=1), 8),
        )
        # Three months on, some come back for the follow-up self-assessment.
        follow_up = _at(end + timedelta(days=60), 10)
        followed: set[int] = set()
        for track in self.tracks:
            if track.persona not in ("thriving", "steady") or not track.activated:
                continue
            for person_id, role in (
                (track.mentor_id, EnrollmentRole.MENTOR),
                (track.mentee_id, EnrollmentRole.MENTEE),
            ):
                if person_id in followed:
                    continue
                followed.add(person_id)
                enrollment = self._enrollment(person_id, role)
                if self.rng.random() < 0.35 and self._has(enrollment.id, "post"):
                    post = self._answers(enrollment.id, "post")
                    assessments.submit_assessment(
                        self.s,
                        self.me(person_id),
                        program.id,
                        kind="follow_up",
                        answers={
                            k: max(1, min(5, v - (self.rng.random() < 0.2)))
                            for k, v in post.items()
                        },
                        role=role.value,
                        now=follow_up,
                    )

    # ------------------------------------------------------------------ helpers

    def _employed(self, person_id: int, on: date) -> bool:
        person = self.s.get(Person, person_id)
        return person is not None and (person.left_on is None or person.left_on >= on)

    def _enrollment(self, person_id: int, role: EnrollmentRole) -> Enrollment:
        return self.s.scalars(
            select(Enrollment).where(
                Enrollment.program_id == self.program.id,
                Enrollment.person_id == person_id,
                Enrollment.role == role,
            )
        ).one()

    def _has(self, enrollment_id: int, kind: str) -> bool:
        from plugin.models import Assessment

        return (
            self.s.scalar(
                select(func.count(Assessment.id)).where(
                    Assessment.enrollment_id == enrollment_id, Assessment.kind == kind
                )
            )
            or 0
        ) > 0

    def _answers(self, enrollment_id: int, kind: str) -> dict[str, int]:
        from plugin.models import Assessment, AssessmentAnswer

        rows = self.s.execute(
            select(Skill.code, AssessmentAnswer.level)
            .join(AssessmentAnswer, AssessmentAnswer.skill_id == Skill.id)
            .join(Assessment, Assessment.id == AssessmentAnswer.assessment_id)
            .where(Assessment.enrollment_id == enrollment_id, Assessment.kind == kind)
        ).all()
        return {code: level for code, level in rows}

    def _pre_levels(self, enrollment: Enrollment) -> dict[str, int] | None:
        answers = self._answers(enrollment.id, "pre")
        return answers or None

    def _learns(self, enrollment: Enrollment, skill: Skill) -> bool:
        """Whether this role learns the skill in a reverse tandem."""
        leadership = any(h in skill.code for h in _LEARNER_HINTS)
        if enrollment.role is EnrollmentRole.MENTOR:
            return leadership
        return not leadership and (
            skill.category is not SkillCategory.CULTURE_DIVERSITY
            or skill.code in enrollment.topics_wanted
        )

    def _levels(
        self,
        enrollment: Enrollment,
        pre: dict[str, int] | None,
        kind: str,
        persona: str = "steady",
    ) -> dict[str, int]:
        rng = self.rng
        hris = {
            code: level
            for code, level in self.s.execute(
                select(Skill.code, PersonSkill.level)
                .join(PersonSkill, PersonSkill.skill_id == Skill.id)
                .where(
                    PersonSkill.person_id == enrollment.person_id,
                    PersonSkill.source == SkillSource.HRIS,
                )
            ).all()
        }
        out: dict[str, int] = {}
        for skill in self.skills:
            learns = self._learns(enrollment, skill)
            if pre is not None and skill.code in pre:
                base = pre[skill.code]
            else:
                base = hris.get(skill.code, 3) + (-1 if learns else 0) + rng.choice((-1, 0, 0, 1))
            level = base
            if kind != "pre":
                if persona == "thriving":
                    level += rng.choice((1, 1, 2)) if learns else rng.choice((0, 0, 1))
                elif persona in ("steady", "cancelling"):
                    level += rng.choice((0, 1, 1)) if learns else rng.choice((0, 0, 0, 1))
                else:
                    level += rng.choice((0, 0, 1)) if learns else 0
            out[skill.code] = max(1, min(5, level))
        return out

    def _survey(self, track: _Track, person_id: int, role: EnrollmentRole, now: datetime) -> None:
        rng = self.rng
        good = track.persona in ("thriving", "steady")
        satisfaction = (
            rng.choice((4, 5, 5))
            if track.persona == "thriving"
            else rng.choice((3, 4, 4, 5))
            if good
            else rng.choice((1, 2, 3, 3))
        )
        assessments.submit_survey(
            self.s,
            self.me(person_id),
            self.program.id,
            satisfaction=satisfaction,
            relationship_formed=rng.random() < (0.9 if good else 0.35),
            would_continue=rng.random() < (0.75 if good else 0.2),
            would_do_again=rng.random() < (0.9 if good else 0.4),
            comment="Would recommend it to colleagues." if good and rng.random() < 0.3 else None,
            role=role.value,
            now=now,
        )

    def summary(self, closed: bool) -> SimulationSummary:
        s, pid = self.s, self.program.id
        out = SimulationSummary(program_id=pid, months=self.months, closed=closed)
        for track in self.tracks:
            out.personas[track.persona] = out.personas.get(track.persona, 0) + 1
        for status, n in s.execute(
            select(Tandem.status, func.count())
            .where(Tandem.program_id == pid)
            .group_by(Tandem.status)
        ):
            out.tandems[status.value] = n
        for session_status, n in s.execute(
            select(MentoringSession.status, func.count())
            .join(Tandem, Tandem.id == MentoringSession.tandem_id)
            .where(Tandem.program_id == pid)
            .group_by(MentoringSession.status)
        ):
            out.sessions[session_status.value] = n
        from plugin.models import Action, Assessment, Feedback, SurveyAnswer

        def count(stmt: Any) -> int:
            return int(s.scalar(stmt) or 0)

        out.feedback = count(
            select(func.count(Feedback.id))
            .join(MentoringSession, MentoringSession.id == Feedback.session_id)
            .join(Tandem, Tandem.id == MentoringSession.tandem_id)
            .where(Tandem.program_id == pid)
        )
        out.goals = count(
            select(func.count(Goal.id))
            .join(Tandem, Tandem.id == Goal.tandem_id)
            .where(Tandem.program_id == pid)
        )
        out.goals_met = count(
            select(func.count(Goal.id))
            .join(Tandem, Tandem.id == Goal.tandem_id)
            .where(Tandem.program_id == pid, Goal.status == "met")
        )
        out.actions = count(
            select(func.count(Action.id))
            .join(Tandem, Tandem.id == Action.tandem_id)
            .where(Tandem.program_id == pid)
        )
        out.assessments = count(
            select(func.count(Assessment.id)).where(Assessment.program_id == pid)
        )
        out.surveys = count(
            select(func.count(SurveyAnswer.id)).where(SurveyAnswer.program_id == pid)
        )
        out.completions = count(
            select(func.count(Completion.id)).where(Completion.program_id == pid)
        )
        out.outbox_messages = count(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.org_id == self.program.org_id)
        )
        for kind, n in s.execute(
            select(Alert.kind, func.count()).where(Alert.program_id == pid).group_by(Alert.kind)
        ):
            out.alerts[kind.value] = n
        out.departures = self.departures
        return out


def simulate_program(
    session: Session,
    *,
    org_id: int,
    program_id: int,
    months: int = 6,
    seed: int = 7,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Play an enrolled program forward for ``months`` months (see the module docstring).

    The program must still be enrolling (or matching) with active enrollments on both
    sides. When ``months`` covers the whole program, it ends: post-assessments, surveys,
    tandems completed, the program closed, completions evaluated (writing the outbox
    messages for the organization's write-back targets) and follow-ups two months later.

    Raises:
        NotFound: No such program in this organization.
        ValidationError: ``months`` is not between 1 and the program's length in months.
        ConflictError: The program has already run (or been simulated).
    """
    program = programs.get_program(session, org_id=org_id, program_id=program_id)
    length = _months_of(program)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= length:
        raise ValidationError(
            f"months must be between 1 and {length} (the program's length)", field="months"
        )
    if program.status not in (ProgramStatus.ENROLLING, ProgramStatus.MATCHING):
        raise ConflictError(
            f"program {program.name!r} is {program.status.value}; only a program that is still "
            "enrolling or matching can be simulated (seed a fresh demo organization)",
            field="program",
        )
    started = session.scalar(
        select(func.count(TandemMember.id))
        .join(Tandem, Tandem.id == TandemMember.tandem_id)
        .where(Tandem.program_id == program.id, Tandem.activated_at.is_not(None))
    )
    if started:
        raise ConflictError(f"program {program.name!r} already has active tandems", field="program")
    sim = _Simulation(session, program, months=months, seed=seed, progress=progress)
    sim.pre_assessments()
    sim.match_and_start()
    for m in range(months):
        sim.month(m)
        sim.progress("months", m + 1, months)
    closed = months == length
    if closed:
        sim.finish()
    # Held sessions count towards completion as they happen; unfinished programs too.
    return sim.summary(closed)

"""A reproducible demo company for Tandem: people, org chart, skills, a program, enrollments.

:func:`seed_demo` fills an empty organization with a believable industrial company
headquartered in Munich (sites in Europe, India, China and the Americas), one management
tree, HRIS identities and skill ratings, and a reverse-mentoring program open for
enrolment with its first volunteers.

Everything is derived from ``random.Random(seed)`` and the fixed :data:`REFERENCE_DATE`
— never from the clock — so the same seed gives byte-identical data (names, e-mails,
tree, id order, dates and timestamps) on every machine, and exports are reproducible.

Privacy by design (DESIGN §6): no birth date or age is generated or implied. "Junior"
and "senior" come from grade and tenure only.
"""

# random.Random(seed) only drives reproducible demo data, never anything secret:
# ruff: noqa: S311

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.demo_data import CULTURES, DIVISIONS, LOCATIONS, SKILLS, Department, SkillDef
from plugin.errors import ConflictError, ValidationError
from plugin.models import (
    Enrollment,
    EnrollmentRole,
    Organization,
    Person,
    PersonIdentity,
    PersonSkill,
    Program,
    ProgramFormat,
    ProgramStatus,
    Skill,
    SkillCategory,
    SkillIdentity,
    SkillSource,
)
from plugin.services.coordinators import add_coordinator
from plugin.services.enrollments import enroll
from plugin.services.organizations import create_organization, find_organization
from plugin.services.programs import create_program, set_program_status, update_program
from plugin.services.writeback import add_target

__all__ = [
    "ACTOR",
    "IDENTITY_SOURCE",
    "MAX_PEOPLE",
    "MIN_PEOPLE",
    "REFERENCE_DATE",
    "DemoSummary",
    "ProgressCallback",
    "fold_ascii",
    "seed_demo",
]

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: people, identities, person_skills, enrollments."""

MIN_PEOPLE = 50
MAX_PEOPLE = 200_000
#: The HRIS snapshot date every generated date is relative to (never "today").
REFERENCE_DATE = date(2026, 1, 1)
#: When the snapshot was imported; created_at/updated_at of generated people.
IMPORTED_AT = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
#: The identity source of generated people and skills (a SuccessFactors connection "demo").
IDENTITY_SOURCE = "successfactors:demo"
ACTOR = "system:demo"

PROGRAM_STARTS_ON = date(2026, 3, 1)
PROGRAM_ENDS_ON = date(2026, 8, 31)
PROGRAM_CREATED_AT = datetime(2026, 1, 8, 9, 30, tzinfo=UTC)
ENROLMENT_OPENS_AT = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)  # a Monday
ENROLMENT_DAYS = 40

THEME_PLAN: tuple[str, ...] = (
    "Developer experience",
    "New tools",
    "Team culture",
    "Onboarding",
    "Career expectations",
    "Retrospective",
)

MATCHING_SETTINGS: dict[str, Any] = {
    "objective": "best_total",
    "weights": {
        "topic_fit": 0.4,
        "cross_department": 0.15,
        "seniority_gap": 0.1,
        "shared_language": 0.15,
        "timezone": 0.1,
        "preference": 0.1,
        "previous_pairing_penalty": 0.5,
    },
    "max_timezone_hours": 6,
    "seniority_band": {"min": 3, "max": 12},
}

#: What both roles self-assess before and after: the seniors' digital and Gen-Z topics,
#: and the juniors' upward feedback and leadership (mentoring.md §4, L2).
ASSESSMENT_SKILLS: tuple[str, ...] = (
    "AI-TOOLS",
    "SOCIAL-MEDIA",
    "COLLAB-TOOLS",
    "HYBRID-WORK",
    "GEN-Z",
    "FEEDBACK",
    "DIGITAL-LEADERSHIP",
    "DEI",
)

COMPLETION_RULE: dict[str, Any] = {
    "min_sessions": 6,
    "min_minutes": 45,
    "require_post_assessment": True,
}

PROGRAM_DESCRIPTION = (
    "Junior colleagues mentor members of our leadership team on AI tools, social media, "
    "new ways of working and what the next generation expects from work. Six monthly "
    "conversations of at least 45 minutes, March to August 2026, each month with a theme."
)

CONFIDENTIALITY_TEXT = """\
Confidentiality agreement for the Reverse Mentoring programme

1. What is said in a tandem stays in the tandem. Neither partner shares the content of \
the conversations, notes or feedback with anyone else — including line managers, HR and \
colleagues — without the other partner's explicit permission.

2. The mentoring relationship is outside the line of command. Nothing discussed may be \
used in performance reviews, assessments, promotion or pay decisions, or to the \
disadvantage of either partner. Questions and admissions of not knowing are welcome.

3. The programme team sees only what it needs to run the programme: who is matched, \
whether sessions took place and how long they were, and anonymous feedback. Aggregate \
results are reported for groups of at least five people only; individual ratings are \
never shown to a participant's manager.

4. Participation is voluntary. Either partner may end the tandem at any time without \
giving reasons, by telling the programme team; no one will be asked to justify it. \
Withdrawing consent ends your participation; anonymous programme figures are kept.

5. If something comes up that points to a risk of harm or a breach of law or of our \
code of conduct, the usual reporting channels and their protections apply.

By taking part you agree to these rules for the whole programme and afterwards.
"""

# --------------------------------------------------------------------------- the tree

# Typical subtree size, hard maximum (span of control <= 10 at every level below) and
# minimum subtree size of a manager of each grade.
_TYPICAL = {7: 8, 8: 50, 9: 350, 10: 2500}
_CAP = {7: 11, 8: 111, 9: 1111, 10: 11111}
_MIN = {7: 4, 8: 12, 9: 40, 10: 200}
_DIRECTOR_FROM = 2 * _TYPICAL[9]
_STAY_WITH_MANAGER = {7: 0.2, 8: 0.35, 9: 0.0}
_MAX_SPAN = 10
_IC_GRADES = (1, 2, 3, 4, 5, 6)
_IC_GRADE_WEIGHTS = (4.0, 5.0, 18.0, 30.0, 28.0, 15.0)
# Years of tenure per grade: (min, max, mode) of a triangular distribution.
_TENURE: dict[int, tuple[float, float, float]] = {
    1: (0.05, 2.0, 0.5),
    2: (0.05, 3.0, 1.0),
    3: (0.2, 5.0, 1.5),
    4: (0.5, 14.0, 4.0),
    5: (1.5, 22.0, 7.0),
    6: (3.0, 28.0, 11.0),
    7: (2.0, 26.0, 9.0),
    8: (3.0, 28.0, 12.0),
    9: (4.0, 30.0, 14.0),
    10: (5.0, 30.0, 15.0),
    11: (4.0, 30.0, 14.0),
    12: (2.0, 30.0, 8.0),
}
_DIGITAL_BY_GRADE = {1: 0.72, 2: 0.7, 3: 0.68, 4: 0.6, 5: 0.52, 6: 0.48, 7: 0.42, 8: 0.38}
_LEAVER_SHARE = 0.028  # of individual contributors, ~2.3 % of everyone
_FEMALE_SHARE = {
    "Software Engineering": 0.28,
    "IT": 0.3,
    "Information Security": 0.3,
    "Mechanical Engineering": 0.22,
    "Electrical Engineering": 0.22,
    "Manufacturing": 0.3,
    "Human Resources": 0.68,
    "Marketing": 0.6,
    "Corporate Communications": 0.62,
}

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
_HOURS = ("08-10", "09-12", "10-12", "13-15", "14-17", "16-18")
_MODES = ("remote", "hybrid", "in_person")
_MODE_WEIGHTS = (0.5, 0.35, 0.15)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`seed_demo` created.

    Attributes:
        people: People created (active and inactive).
        managers: People who have at least one direct report.
        skills: Skills of the catalogue (created or reused).
        person_skills: HRIS skill ratings created.
        mentors: Mentor (junior) enrollments created.
        mentees: Mentee (senior) enrollments created.
        program_id: The reverse-mentoring program, status enrolling.
        org_id: The organization seeded.
    """

    people: int
    managers: int
    skills: int
    person_skills: int
    mentors: int
    mentees: int
    program_id: int
    org_id: int


@dataclass(slots=True)
class _Node:
    """One person of the planned company, before it becomes a row."""

    parent: int | None
    depth: int
    grade: int
    division: str
    department: Department | None
    department_name: str
    location: str
    title: str
    reports: int = 0


class _TreeBuilder:
    """Plans the management tree top-down, spending an exact headcount budget."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.nodes: list[_Node] = []

    def add(
        self,
        parent: int | None,
        grade: int,
        division: str,
        department: Department | None,
        location: str,
        title: str,
        department_name: str | None = None,
    ) -> int:
        depth = 0 if parent is None else self.nodes[parent].depth + 1
        if parent is not None:
            self.nodes[parent].reports += 1
        name = department_name or (department.name if department else division)
        self.nodes.append(_Node(parent, depth, grade, division, department, name, location, title))
        return len(self.nodes) - 1

    def build(self, total: int) -> list[_Node]:
        ceo = self.add(
            None, 12, "Corporate Functions", None, "Munich", "Chief Executive Officer",
            department_name="Executive Board",
        )  # fmt: skip
        self.add(
            ceo, 6, "Corporate Functions", None, "Munich", "Executive Assistant to the CEO",
            department_name="Executive Office",
        )  # fmt: skip
        budgets = _apportion(total - 2, [d.share for d in DIVISIONS])
        for division, budget in zip(DIVISIONS, budgets, strict=True):
            vp = self.add(ceo, 11, division.name, None, division.seat, f"VP {division.name}")
            rest = budget - 1
            count = max(1, min(len(division.departments), rest // 25))
            departments = division.departments[:count]
            if count == 1:
                # A small division: its VP leads the one department's teams directly.
                self.nodes[vp].department = departments[0]
                self.grow(vp, budget)
                continue
            for dept, dept_budget in zip(
                departments, _apportion(rest, [d.share for d in departments]), strict=True
            ):
                if dept_budget <= 0:
                    continue
                grade = 10 if dept_budget > _DIRECTOR_FROM else 9
                title = f"Director {dept.name}" if grade == 10 else f"Head of {dept.name}"
                root = self.add(vp, grade, division.name, dept, dept.locations[0][0], title)
                self.grow(root, dept_budget)
        return self.nodes

    def grow(self, index: int, budget: int) -> None:
        """Give node ``index`` a subtree of exactly ``budget`` people (itself included)."""
        node = self.nodes[index]
        dept = node.department
        if dept is None:  # pragma: no cover - every node below a VP has a department
            raise RuntimeError("grow() needs a department")
        rest = budget - 1
        if rest <= 0:
            return
        if node.grade == 7 or rest <= _MAX_SPAN:
            role = self.rng.choice(dept.roles)
            for _ in range(rest):
                self.add_individual(index, dept, role)
            return
        max_span = _MAX_SPAN
        if node.grade >= 8 and rest > 15 and self.rng.random() < 0.35:
            self.add_individual(index, dept, self.rng.choice(dept.roles), expert=True)
            rest -= 1
            max_span -= 1
        child_grade = 7
        for cand in range(node.grade - 1, 7, -1):
            if rest / _TYPICAL[cand] >= 2.0:
                child_grade = cand
                break
        k = min(max(round(rest / _TYPICAL[child_grade]), 3), max_span)
        k = max(k, math.ceil(rest / _CAP[child_grade]))
        k = max(1, min(k, rest // _MIN[child_grade]))
        parts = _split(self.rng, rest, k, _MIN[child_grade], _CAP[child_grade])
        for part in parts:
            # Sites follow the department's footprint; a group sometimes sits with its boss.
            stay = _STAY_WITH_MANAGER.get(child_grade, 0.0)
            location = (
                node.location if self.rng.random() < stay else _weighted(self.rng, dept.locations)
            )
            if child_grade >= 10:
                title = f"Director {dept.name} ({location})"
            elif child_grade == 9:
                title = f"Head of {dept.name} ({location})"
            elif child_grade == 8:
                title = f"Senior Manager {dept.name}"
            else:
                title = f"Team Lead {self.rng.choice(dept.teams)}"
            child = self.add(index, child_grade, node.division, dept, location, title)
            self.grow(child, part)

    def add_individual(
        self, parent: int, dept: Department, role: str, *, expert: bool = False
    ) -> None:
        rng = self.rng
        lead = self.nodes[parent]
        location = lead.location if rng.random() < 0.88 else _weighted(rng, dept.locations)
        if expert:
            if rng.random() < 0.7:
                grade, title = 6, _role_title(6, role, dept, location)
            else:
                grade, title = 4, "Team Assistant"
        else:
            if rng.random() < 0.3:
                role = rng.choice(dept.roles)
            grade = rng.choices(_IC_GRADES, _IC_GRADE_WEIGHTS)[0]
            title = _role_title(grade, role, dept, location)
        self.add(parent, grade, lead.division, dept, location, title)


def _role_title(grade: int, role: str, dept: Department, location: str) -> str:
    if grade == 1:
        return f"{LOCATIONS[location].student_title} {dept.name}"
    if grade == 2:
        return f"Trainee {dept.name}"
    if grade == 3:
        return f"Junior {role}"
    if grade == 4:
        return role
    if grade == 5:
        return f"Senior {role}"
    return f"{'Principal' if dept.principal else 'Lead'} {role}"


def _apportion(total: int, shares: Sequence[float]) -> list[int]:
    """Split ``total`` by ``shares`` (largest remainder), deterministically."""
    weight = sum(shares)
    raw = [total * s / weight for s in shares]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(shares)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _split(rng: random.Random, total: int, k: int, lo: int, hi: int) -> list[int]:
    """``k`` random parts in ``[lo, hi]`` summing to ``total`` (best effort at the bounds)."""
    weights = [0.7 + 0.6 * rng.random() for _ in range(k)]
    scale = sum(weights)
    rest = total - k * lo
    room = hi - lo
    extra = [min(room, int(rest * w / scale)) for w in weights]
    left = rest - sum(extra)
    i = 0
    while left > 0 and i < k * (room + 1):
        j = i % k
        if extra[j] < room:
            extra[j] += 1
            left -= 1
        i += 1
    extra[0] += left  # only if the bounds could not hold it all
    return [lo + e for e in extra]


def _weighted(rng: random.Random, items: Sequence[tuple[str, float]]) -> str:
    return rng.choices([n for n, _ in items], [w for _, w in items])[0]


def _top_weighted(rng: random.Random, weights: Sequence[tuple[int, float]], n: int) -> list[int]:
    """``n`` keys drawn without replacement with probability ~ weight (Efraimidis–Spirakis)."""
    keyed = [(rng.random() ** (1.0 / w), key) for key, w in weights if w > 0]
    keyed.sort(key=lambda kv: (-kv[0], kv[1]))
    return [key for _, key in keyed[:n]]


# --------------------------------------------------------------------------- names

_FOLD = str.maketrans(
    {
        "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i", "ø": "o", "Ø": "O",
        "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe",
    }
)  # fmt: skip


def fold_ascii(text: str) -> str:
    """Fold a name to the lower-case ASCII used in e-mail addresses.

    German umlauts become ``ae``/``oe``/``ue`` and ``ß`` becomes ``ss``; other accents
    are stripped (``é`` → ``e``, ``ł`` → ``l``, ``ğ`` → ``g``); apostrophes and spaces
    are dropped; hyphens are kept.

    Args:
        text: A given or family name.

    Returns:
        Only ``a``–``z``, digits and hyphens.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c == "-"))


@dataclass(frozen=True, slots=True)
class _Name:
    given: str
    family: str
    local_part: str
    culture: str


def _make_name(rng: random.Random, location: str, department: str) -> _Name:
    site = LOCATIONS[location]
    code = _weighted(rng, site.cultures)
    culture = CULTURES[code]
    female = rng.random() < _FEMALE_SHARE.get(department, 0.47)
    given = rng.choice(culture.female if female else culture.male)
    family = rng.choice(culture.family)
    if female and culture.feminine_suffix and family.endswith("ki"):
        family = family[:-1] + "a"
    family_mail = fold_ascii(family)
    if culture.double_family and rng.random() < culture.double_family:
        second = rng.choice(culture.family)
        if second != family:
            family_mail = f"{family_mail}-{fold_ascii(second)}"
            family = f"{family} {second}"
    elif code in ("de", "at", "ch") and female and rng.random() < 0.04:
        second = rng.choice(culture.family)
        if second != family:
            family = f"{family}-{second}"
            family_mail = fold_ascii(family)
    return _Name(given, family, f"{fold_ascii(given)}.{family_mail}", code)


def _languages(
    rng: random.Random, location: str, culture: str, grade: int, digital: float
) -> list[str]:
    site = LOCATIONS[location]
    langs = list(site.languages)
    if "en" in langs and langs[0] != "en" and grade < 7:
        drop = 0.25 if digital < 0 and grade <= 4 else 0.03
        if rng.random() < drop:
            langs.remove("en")
    for lang, share in site.extra_languages:
        if lang not in langs and rng.random() < share:
            langs.append(lang)
    heritage = CULTURES[culture].language
    if heritage not in langs and rng.random() < 0.6:
        langs.append(heritage)
    if "en" not in langs and grade >= 7:
        langs.append("en")
    return langs


def _hire_date(rng: random.Random, grade: int) -> date:
    lo, hi, mode = _TENURE[grade]
    years = rng.triangular(lo, hi, mode)
    day = REFERENCE_DATE - timedelta(days=max(14, int(years * 365.25)))
    if rng.random() < 0.7:
        return day.replace(day=1)  # most contracts start on the first of a month
    if day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)
    return day


# --------------------------------------------------------------------------- seeding


@dataclass(slots=True)
class _Planned:
    node: _Node
    name: _Name
    email: str
    languages: list[str]
    hire_date: date
    active: bool
    digital: float
    leadership: float
    employee_id: str = ""
    person: Person | None = None


def _validate_people(people: object) -> int:
    if isinstance(people, bool) or not isinstance(people, int):
        raise ValidationError("people must be a whole number", field="people")
    if not MIN_PEOPLE <= people <= MAX_PEOPLE:
        raise ValidationError(
            f"people must be from {MIN_PEOPLE} to {MAX_PEOPLE} (got {people})", field="people"
        )
    return people


def seed_demo(
    session: Session,
    *,
    org_slug: str = "demo",
    org_name: str | None = None,
    people: int = 2000,
    seed: int = 7,
    progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Fill an empty organization with a reproducible demo company.

    Creates (or reuses, if it exists and has no people) the organization; a single
    management tree of ``people`` people across divisions, departments and sites, each
    with a ``successfactors:demo`` identity; the reverse-mentoring skill catalogue with
    HRIS ratings for part of the staff; the program "Reverse Mentoring 2026" in status
    enrolling; and mentor (junior) and mentee (senior) enrollments with consent.

    The same ``seed`` always produces the same data, including ids in a fresh database
    and every date and timestamp (relative to :data:`REFERENCE_DATE`). The function only
    flushes; the caller commits (or rolls back on error).

    Args:
        session: The unit of work.
        org_slug: Organization slug; also the e-mail domain ``<slug>.example.com``.
        org_name: Display name when the organization is created (default from the slug).
        people: Headcount, from :data:`MIN_PEOPLE` to :data:`MAX_PEOPLE`.
        seed: Seed of the random generator.
        progress: Called as ``progress(stage, done, total)`` while seeding.

    Returns:
        The counts and ids of what was created.

    Raises:
        ValidationError: ``people`` is out of range, or the slug or name is malformed.
            Nothing was written.
        ConflictError: The organization already has people (or already has the program).
    """
    total = _validate_people(people)
    rng = random.Random(seed)
    report: ProgressCallback = progress or (lambda _stage, _done, _total: None)

    org = find_organization(session, org_slug)
    if org is not None:
        existing = session.scalar(
            select(func.count()).select_from(Person).where(Person.org_id == org.id)
        )
        if existing:
            raise ConflictError(
                f"organization {org_slug!r} already has {existing} people; demo data is only "
                "seeded into an empty organization",
                field="org",
            )
    else:
        name = org_name or f"{org_slug.replace('-', ' ').title()} GmbH"
        org = create_organization(session, slug=org_slug, name=name, actor=ACTOR)

    program = create_program(
        session,
        org=org,
        name=f"Reverse Mentoring {PROGRAM_STARTS_ON.year}",
        format=ProgramFormat.ONE_TO_ONE,
        starts_on=PROGRAM_STARTS_ON,
        ends_on=PROGRAM_ENDS_ON,
        cadence_days=30,
        min_session_minutes=45,
        target_sessions=6,
        theme_plan=[{"month": i + 1, "theme": t} for i, t in enumerate(THEME_PLAN)],
        matching_settings=MATCHING_SETTINGS,
        completion_rule=COMPLETION_RULE,
        confidentiality_text=CONFIDENTIALITY_TEXT,
        description=PROGRAM_DESCRIPTION,
        actor=ACTOR,
    )
    program.created_at = PROGRAM_CREATED_AT

    skills = _seed_skills(session, org)
    planned = _plan_people(rng, total, org.slug)
    _insert_people(session, org, planned, report)
    _insert_identities(session, org, planned, report)
    ratings, rating_count = _insert_person_skills(session, org, rng, planned, skills, report)

    update_program(
        session, program, actor=ACTOR, changes={"assessment_skills": list(ASSESSMENT_SKILLS)}
    )
    set_program_status(session, program, ProgramStatus.ENROLLING, actor=ACTOR)
    mentors, mentees = _enroll(session, program, rng, planned, ratings, report)
    _add_coordinator(session, org, program, planned)
    add_target(session, org_id=org.id, name="journal", sink="journal", actor=ACTOR)

    return DemoSummary(
        people=len(planned),
        managers=sum(1 for p in planned if p.node.reports),
        skills=len(skills),
        person_skills=rating_count,
        mentors=mentors,
        mentees=mentees,
        program_id=program.id,
        org_id=org.id,
    )


def _add_coordinator(
    session: Session, org: Organization, program: Program, planned: list[_Planned]
) -> None:
    """The program's coordinator: a Learning & Development person from HR, not enrolled."""
    enrolled = set(
        session.scalars(select(Enrollment.person_id).where(Enrollment.program_id == program.id))
    )
    candidates = [
        p
        for p in planned
        if p.active
        and p.node.department_name == "Human Resources"
        and _person(p).id not in enrolled
    ]
    if not candidates:  # pragma: no cover - every seeded company has an HR department
        return
    best = max(candidates, key=lambda p: ("Learning" in p.node.title, p.node.grade, -_person(p).id))
    add_coordinator(session, Actor.admin(org.id, ACTOR), program, person_id=_person(best).id)


def _seed_skills(session: Session, org: Organization) -> list[Skill]:
    existing = {
        s.code: s for s in session.scalars(select(Skill).where(Skill.org_id == org.id)).all()
    }
    skills: list[Skill] = []
    for number, spec in enumerate(SKILLS, start=1):
        skill = existing.get(spec.code)
        if skill is None:
            skill = Skill(
                org_id=org.id,
                code=spec.code,
                name=spec.name,
                name_de=spec.name_de,
                category=spec.category,
            )
            skill.identities.append(
                SkillIdentity(org_id=org.id, source=IDENTITY_SOURCE, external_id=f"RM-{number:03d}")
            )
            session.add(skill)
        skills.append(skill)
    session.flush()
    return skills


def _plan_people(rng: random.Random, total: int, slug: str) -> list[_Planned]:
    nodes = _TreeBuilder(rng).build(total)
    # Breadth-first order: a manager always gets a smaller id than their reports.
    order = sorted(range(len(nodes)), key=lambda i: (nodes[i].depth, i))
    position = {old: new for new, old in enumerate(order)}
    for node in nodes:
        if node.parent is not None:
            node.parent = position[node.parent]
    nodes = [nodes[i] for i in order]

    taken: dict[str, int] = {}
    planned: list[_Planned] = []
    for node in nodes:
        name = _make_name(rng, node.location, node.department_name)
        seen = taken.get(name.local_part, 0) + 1
        taken[name.local_part] = seen
        local = name.local_part if seen == 1 else f"{name.local_part}{seen}"
        hired = _hire_date(rng, node.grade)
        tenure = (REFERENCE_DATE - hired).days / 365.25
        dept_digital = node.department.digital if node.department else 0.0
        digital = _clamp(
            _DIGITAL_BY_GRADE.get(node.grade, 0.32)
            + 0.15 * dept_digital
            - 0.006 * tenure
            + rng.gauss(0.0, 0.15),
            0.02,
            0.98,
        )
        leadership = _clamp(0.1 + 0.8 * (node.grade - 1) / 11 + rng.gauss(0.0, 0.1), 0.02, 0.98)
        planned.append(
            _Planned(
                node=node,
                name=name,
                email=f"{local}@{slug}.example.com",
                languages=_languages(rng, node.location, name.culture, node.grade, dept_digital),
                hire_date=hired,
                active=not (node.reports == 0 and rng.random() < _LEAVER_SHARE),
                digital=digital,
                leadership=leadership,
            )
        )
    # Employee ids grow with the hire date, with the odd gap (withdrawn offers …).
    number = 100_000
    for i in sorted(range(len(planned)), key=lambda i: (planned[i].hire_date, i)):
        number += 2 if rng.random() < 0.12 else 1
        planned[i].employee_id = f"E{number}"
    return planned


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, value))


_CHUNK = 5000


def _insert_people(
    session: Session, org: Organization, planned: list[_Planned], report: ProgressCallback
) -> None:
    """Insert level by level, so every manager has an id before their reports."""
    total = len(planned)
    done = 0
    start = 0
    while start < total:
        depth = planned[start].node.depth
        end = start
        while end < total and planned[end].node.depth == depth:
            end += 1
        for chunk_start in range(start, end, _CHUNK):
            batch: list[Person] = []
            for item in planned[chunk_start : min(end, chunk_start + _CHUNK)]:
                node = item.node
                site = LOCATIONS[node.location]
                manager = None if node.parent is None else planned[node.parent].person
                person = Person(
                    org_id=org.id,
                    given_name=item.name.given,
                    family_name=item.name.family,
                    email=item.email,
                    department=node.department_name,
                    division=node.division,
                    location=site.name,
                    country=site.country,
                    time_zone=site.time_zone,
                    languages=item.languages,
                    job_title=node.title,
                    job_level=node.grade,
                    hire_date=item.hire_date,
                    manager_id=None if manager is None else manager.id,
                    active=item.active,
                    left_on=None if item.active else _left_on(item),
                    created_at=IMPORTED_AT,
                    updated_at=IMPORTED_AT,
                )
                item.person = person
                batch.append(person)
            session.add_all(batch)
            session.flush()
            done += len(batch)
            report("people", done, total)
        start = end


def _left_on(item: _Planned) -> date:
    """A leaver's last day: within the year before the snapshot, after they were hired.

    Derived from the employee id rather than the shared random stream, so adding it did
    not change any other generated value.
    """
    span = max(1, min(365, (REFERENCE_DATE - item.hire_date).days - 1))
    number = int(item.employee_id[1:]) if item.employee_id[1:].isdigit() else 0
    return REFERENCE_DATE - timedelta(days=1 + (number * 7919) % span)


def _insert_identities(
    session: Session, org: Organization, planned: list[_Planned], report: ProgressCallback
) -> None:
    total = len(planned)
    for start in range(0, total, _CHUNK):
        batch = [
            PersonIdentity(
                org_id=org.id,
                person_id=_person(item).id,
                source=IDENTITY_SOURCE,
                external_id=item.employee_id,
                created_at=IMPORTED_AT,
            )
            for item in planned[start : start + _CHUNK]
        ]
        session.add_all(batch)
        session.flush()
        report("identities", min(total, start + _CHUNK), total)


def _person(item: _Planned) -> Person:
    if item.person is None:  # pragma: no cover - people are inserted first
        raise RuntimeError("person not inserted yet")
    return item.person


def _level(rng: random.Random, spec: SkillDef, item: _Planned) -> int:
    """A plausible 1–5 level: digital topics follow digital fluency, others experience."""
    neutral = max(0.0, 1.0 - spec.digital - spec.leadership)
    x = spec.digital * item.digital + spec.leadership * item.leadership + neutral * 0.5
    return int(_clamp(round(1 + 4 * x + rng.gauss(0.0, 0.55)), 1, 5))


_REVIEW_2025 = date(2025, 11, 3)
_REVIEW_2024 = date(2024, 11, 4)


def _insert_person_skills(
    session: Session,
    org: Organization,
    rng: random.Random,
    planned: list[_Planned],
    skills: list[Skill],
    report: ProgressCallback,
) -> tuple[list[dict[int, int]], int]:
    """HRIS ratings for part of the staff (more often for managers), from annual reviews."""
    ratings: list[dict[int, int]] = [{} for _ in planned]
    batch: list[PersonSkill] = []
    count = 0
    indexes = list(range(len(SKILLS)))
    for i, item in enumerate(planned):
        chance = 0.75 if item.node.grade >= 7 else 0.5
        if not item.active:
            chance = 0.4
        if rng.random() >= chance:
            continue
        if item.hire_date < _REVIEW_2024 and rng.random() < 0.3:
            on = _REVIEW_2024 + timedelta(days=rng.randrange(40))
        elif item.hire_date < _REVIEW_2025:
            on = _REVIEW_2025 + timedelta(days=rng.randrange(40))
        else:
            span = (REFERENCE_DATE - item.hire_date).days - 7
            if span <= 0:
                continue
            on = item.hire_date + timedelta(days=rng.randrange(span))
        chosen = sorted(rng.sample(indexes, rng.randint(2, 5)))
        for s in chosen:
            level = _level(rng, SKILLS[s], item)
            ratings[i][s] = level
            batch.append(
                PersonSkill(
                    org_id=org.id,
                    person_id=_person(item).id,
                    skill_id=skills[s].id,
                    level=level,
                    source=SkillSource.HRIS,
                    assessed_on=on,
                )
            )
        if len(batch) >= _CHUNK:
            count += len(batch)
            session.add_all(batch)
            session.flush()
            batch = []
            report("person_skills", i + 1, len(planned))
    count += len(batch)
    session.add_all(batch)
    session.flush()
    report("person_skills", len(planned), len(planned))
    return ratings, count


@dataclass(slots=True)
class _EnrolPlan:
    at: datetime
    index: int
    role: EnrollmentRole
    topics_offered: dict[str, int] | None = None
    topics_wanted: dict[str, int] | None = None
    capacity: int = 1
    avoid: int | None = None
    prefer: int | None = None


def _consent_time(rng: random.Random) -> datetime:
    day = int(rng.triangular(0, ENROLMENT_DAYS - 1, 3))
    moment = ENROLMENT_OPENS_AT + timedelta(days=day)
    if moment.weekday() >= 5:
        moment += timedelta(days=7 - moment.weekday())
    return moment + timedelta(seconds=rng.randrange(10 * 3600))


def _enroll(
    session: Session,
    program: Program,
    rng: random.Random,
    planned: list[_Planned],
    ratings: list[dict[int, int]],
    report: ProgressCallback,
) -> tuple[int, int]:
    """Volunteers: digital-savvy juniors as mentors, team leads and up as mentees."""
    active = [i for i, p in enumerate(planned) if p.active]
    juniors: list[tuple[int, float]] = []
    seniors: list[tuple[int, float]] = []
    for i in active:
        item = planned[i]
        grade = item.node.grade
        tenure = (REFERENCE_DATE - item.hire_date).days / 365.25
        if grade <= 4 or (grade == 5 and tenure < 3):
            weight = item.digital**2 * (1.3 if tenure < 2 else 1.0) * (0.4 if grade == 1 else 1.0)
            juniors.append((i, weight))
        elif grade >= 7:
            seniors.append((i, (1.2 - item.digital) * (1 + 0.1 * (grade - 7))))
    n_mentors = min(len(juniors), max(1, round(len(active) * rng.uniform(0.08, 0.10))))
    n_mentees = min(
        math.floor(0.75 * len(seniors)), max(1, round(n_mentors * rng.uniform(1.0, 1.2)))
    )
    mentors = _top_weighted(rng, juniors, n_mentors)
    mentees = _top_weighted(rng, seniors, n_mentees)

    plans: list[_EnrolPlan] = []
    for i in mentors:
        plans.append(
            _EnrolPlan(
                topics_offered=_pick_topics(rng, planned[i], ratings[i], offered=True),
                capacity=2 if rng.random() < 0.3 else 1,
                prefer=_pick_other(rng, planned, i, mentees, same_department=False, chance=0.04),
                at=_consent_time(rng),
                index=i,
                role=EnrollmentRole.MENTOR,
            )
        )
    for i in mentees:
        plans.append(
            _EnrolPlan(
                topics_wanted=_pick_topics(rng, planned[i], ratings[i], offered=False),
                # Someone from their own department they would rather not be paired with.
                avoid=_pick_other(rng, planned, i, mentors, same_department=True, chance=0.05),
                prefer=_pick_other(rng, planned, i, mentors, same_department=False, chance=0.06),
                at=_consent_time(rng),
                index=i,
                role=EnrollmentRole.MENTEE,
            )
        )
    plans.sort(key=lambda plan: (plan.at, plan.index))

    for done, plan in enumerate(plans, start=1):
        item = planned[plan.index]
        enrollment = enroll(
            session,
            program=program,
            person=_person(item),
            role=plan.role,
            consent=True,
            consent_version=program.confidentiality_version,
            topics_offered=plan.topics_offered,
            topics_wanted=plan.topics_wanted,
            capacity=plan.capacity,
            languages=item.languages,
            availability=_availability(rng),
            avoid_person_ids=[] if plan.avoid is None else [plan.avoid],
            prefer_person_ids=[] if plan.prefer is None else [plan.prefer],
            actor=ACTOR,
            now=plan.at,
        )
        enrollment.created_at = plan.at
        if done % 500 == 0 or done == len(plans):
            report("enrollments", done, len(plans))
    session.flush()
    return len(mentors), len(mentees)


def _pick_topics(
    rng: random.Random, item: _Planned, rated: dict[int, int], *, offered: bool
) -> dict[str, int]:
    levels = {s: rated.get(s) or _level(rng, spec, item) for s, spec in enumerate(SKILLS)}
    weights: list[tuple[int, float]] = []
    for s, spec in enumerate(SKILLS):
        if offered:
            bias = 1.5 if spec.category is SkillCategory.TECHNOLOGY else 1.0
            weights.append((s, levels[s] ** 2 * bias))
        else:
            bias = 1.5 if spec.digital >= 0.6 else 0.7
            weights.append((s, (6 - levels[s]) ** 2 * bias))
    chosen = sorted(_top_weighted(rng, weights, rng.randint(2, 4 if offered else 3)))
    if offered:
        return {SKILLS[s].code: max(3, levels[s]) for s in chosen}
    return {SKILLS[s].code: min(5, max(3, levels[s] + rng.randint(1, 2))) for s in chosen}


def _pick_other(
    rng: random.Random,
    planned: list[_Planned],
    i: int,
    others: list[int],
    *,
    same_department: bool,
    chance: float,
) -> int | None:
    if rng.random() >= chance:
        return None
    dept = planned[i].node.department_name
    pool = [o for o in others if (planned[o].node.department_name == dept) == same_department]
    if not pool:
        return None
    return _person(planned[rng.choice(pool)]).id


def _availability(rng: random.Random) -> dict[str, Any]:
    days = sorted(rng.sample(range(5), rng.randint(2, 3)))
    return {
        "weekdays": [_WEEKDAYS[d] for d in days],
        "hours": rng.choice(_HOURS),
        "mode": rng.choices(_MODES, _MODE_WEIGHTS)[0],
    }

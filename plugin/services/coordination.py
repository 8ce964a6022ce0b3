"""Read models for the coordinator pages: what a coordinator looks at before acting.

The web layer parses requests and renders; the queries live here. Every function takes
the acting :class:`~plugin.access.Actor` and refuses programs of another organization or
programs the actor does not coordinate, even when the caller has checked already.

* **People from the HR system** — :func:`search_hris_people`, :func:`count_hris_people`,
  :func:`hris_person_ids`, :func:`pickable_person_ids`, :func:`hris_facets`: active
  people synced from the chosen connections (sources ``"<kind>:<connection id>"``),
  filtered by department, division, a search text (name, e-mail, job title or exact
  employee id) and "not yet invited or enrolled".
* **CSV rows** — :func:`resolve_rows` resolves each row (e-mail and/or employee id) to
  one active person of the organization, or gives the reason it cannot (a code the web
  layer turns into a sentence).
* **Counts per program** — :func:`program_counts`, :func:`enrolled_count`.
"""

from __future__ import annotations

import enum
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from plugin.access import Actor, coordinated_program_ids, require_coordinator, require_org
from plugin.models import (
    Enrollment,
    EnrollmentStatus,
    LtiLink,
    Person,
    PersonIdentity,
    Program,
    ProgramInvitation,
    Skill,
    Tandem,
    TandemStatus,
)

__all__ = [
    "HrisPage",
    "HrisQuery",
    "ProgramCounts",
    "RowProblem",
    "RowResolution",
    "count_hris_people",
    "enrolled_count",
    "hris_facets",
    "hris_person_ids",
    "list_invitations",
    "list_skills",
    "person_names",
    "pickable_person_ids",
    "program_counts",
    "program_tandems",
    "resolve_rows",
    "roster_available",
    "search_hris_people",
    "tandem_status_by_enrollment",
    "tandems_by_id",
]

# Ids per ``IN (…)``: well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_CHUNK = 500
#: Distinct departments/divisions offered at most.
_FACET_LIMIT = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require_program(session: Session, actor: Actor, program: Program) -> None:
    require_org(actor, program.org_id, "program")
    require_coordinator(session, actor, program.id)


# --------------------------------------------------------------------------- HRIS people


@dataclass(frozen=True, slots=True)
class HrisQuery:
    """A filter over the people synced from the HR system.

    Attributes:
        sources: Identity sources to search (``"<kind>:<connection id>"``); none finds nobody.
        department: Exact department, or empty for any.
        division: Exact division, or empty for any.
        q: Case-insensitive text in name, e-mail or job title, or an exact employee id.
        fresh: Only people neither invited to nor actively enrolled in the program.
    """

    sources: Sequence[str]
    department: str = ""
    division: str = ""
    q: str = ""
    fresh: bool = False


@dataclass
class HrisPage:
    """One page of the HRIS people list.

    Attributes:
        people: The people listed, by family name, given name and id.
        total: How many people the filter finds in all.
        employee_ids: Each listed person's employee id in the searched sources.
        enrolled: Listed people actively enrolled in the program.
        invited: Listed people already invited to the program.
    """

    people: list[Person] = field(default_factory=list)
    total: int = 0
    employee_ids: dict[int, str] = field(default_factory=dict)
    enrolled: set[int] = field(default_factory=set)
    invited: set[int] = field(default_factory=set)


def _synced(org_id: int, sources: Sequence[str]) -> Select[int]:
    return select(PersonIdentity.person_id).where(
        PersonIdentity.org_id == org_id, PersonIdentity.source.in_(list(sources) or ["-"])
    )


def _hris_people(program: Program, query: HrisQuery) -> Select[Person]:
    """A select of the active people synced from the chosen sources, filtered."""
    org_id = program.org_id
    stmt = select(Person).where(
        Person.org_id == org_id,
        Person.id.in_(_synced(org_id, query.sources)),
        Person.active.is_(True),
        Person.erased_at.is_(None),
    )
    if query.department:
        stmt = stmt.where(Person.department == query.department)
    if query.division:
        stmt = stmt.where(Person.division == query.division)
    if query.q:
        by_id = _synced(org_id, query.sources).where(PersonIdentity.external_id == query.q)
        stmt = stmt.where(
            Person.given_name.icontains(query.q, autoescape=True)
            | Person.family_name.icontains(query.q, autoescape=True)
            | Person.email.icontains(query.q, autoescape=True)
            | Person.job_title.icontains(query.q, autoescape=True)
            | Person.id.in_(by_id)
        )
    if query.fresh:
        stmt = stmt.where(
            Person.id.not_in(
                select(ProgramInvitation.person_id).where(
                    ProgramInvitation.program_id == program.id
                )
            ),
            Person.id.not_in(
                select(Enrollment.person_id).where(
                    Enrollment.program_id == program.id,
                    Enrollment.status == EnrollmentStatus.ACTIVE,
                )
            ),
        )
    return stmt


def count_hris_people(session: Session, actor: Actor, *, program: Program, query: HrisQuery) -> int:
    """How many people the filter finds.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    stmt = _hris_people(program, query)
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def search_hris_people(
    session: Session, actor: Actor, *, program: Program, query: HrisQuery, limit: int
) -> HrisPage:
    """The first ``limit`` people the filter finds, with their employee ids and state.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    stmt = _hris_people(program, query)
    page = HrisPage(total=session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page.people = list(
        session.scalars(
            stmt.order_by(Person.family_name, Person.given_name, Person.id).limit(limit)
        )
    )
    ids = [p.id for p in page.people]
    if not ids:
        return page
    for person_id, external_id in session.execute(
        select(PersonIdentity.person_id, PersonIdentity.external_id).where(
            PersonIdentity.person_id.in_(ids), PersonIdentity.source.in_(list(query.sources))
        )
    ):
        page.employee_ids.setdefault(person_id, external_id)
    page.enrolled = set(
        session.scalars(
            select(Enrollment.person_id).where(
                Enrollment.program_id == program.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.person_id.in_(ids),
            )
        )
    )
    page.invited = set(
        session.scalars(
            select(ProgramInvitation.person_id).where(
                ProgramInvitation.program_id == program.id,
                ProgramInvitation.person_id.in_(ids),
            )
        )
    )
    return page


def hris_person_ids(
    session: Session, actor: Actor, *, program: Program, query: HrisQuery
) -> list[int]:
    """Every person id the filter finds, ascending.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    stmt = _hris_people(program, query).with_only_columns(Person.id).order_by(Person.id)
    return list(session.scalars(stmt))


def pickable_person_ids(
    session: Session,
    actor: Actor,
    *,
    program: Program,
    sources: Sequence[str],
    person_ids: Sequence[int],
) -> list[int]:
    """The picked ids the HRIS page could have listed (synced, active, this organization).

    Returns:
        The picked ids that qualify, in the order picked, without repeats.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    picked = list(dict.fromkeys(person_ids))
    synced = _hris_people(program, HrisQuery(sources=sources)).with_only_columns(Person.id)
    found: set[int] = set()
    for start in range(0, len(picked), _IN_CHUNK):
        found.update(
            session.scalars(synced.where(Person.id.in_(picked[start : start + _IN_CHUNK])))
        )
    return [i for i in picked if i in found]


def _distinct(
    session: Session, org_id: int, sources: Sequence[str], column: InstrumentedAttribute[Any]
) -> list[str]:
    rows = session.scalars(
        select(column)
        .where(
            Person.org_id == org_id,
            Person.id.in_(_synced(org_id, sources)),
            Person.active.is_(True),
            column.is_not(None),
        )
        .distinct()
        .order_by(column)
        .limit(_FACET_LIMIT)
    )
    return [r for r in rows if r]


def hris_facets(
    session: Session, actor: Actor, *, sources: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The departments and divisions of the active people synced from ``sources``.

    Returns:
        ``(departments, divisions)``, each sorted, at most 500 values.
    """
    return (
        _distinct(session, actor.org_id, sources, Person.department),
        _distinct(session, actor.org_id, sources, Person.division),
    )


# --------------------------------------------------------------------------- CSV rows


class RowProblem(enum.StrEnum):
    """Why a CSV row names nobody the program can invite."""

    MISSING = "missing"
    INVALID_EMAIL = "invalid_email"
    UNKNOWN_EMAIL = "unknown_email"
    UNKNOWN_EMPLOYEE = "unknown_employee"
    MISMATCH = "mismatch"
    AMBIGUOUS = "ambiguous"
    INACTIVE = "inactive"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class RowResolution:
    """One CSV row, resolved.

    Attributes:
        line: The row's line number in the file.
        value: What the row names (the e-mail address, else the employee id).
        person_id: The person, when the row resolves (also for a duplicate).
        problem: Why the row cannot be used, or ``None``.
    """

    line: int
    value: str
    person_id: int | None = None
    problem: RowProblem | None = None


def _by_email(session: Session, org_id: int, emails: list[str]) -> dict[str, list[Person]]:
    found: dict[str, list[Person]] = defaultdict(list)
    for start in range(0, len(emails), _IN_CHUNK):
        for person in session.scalars(
            select(Person).where(
                Person.org_id == org_id,
                func.lower(Person.email).in_(emails[start : start + _IN_CHUNK]),
            )
        ):
            found[(person.email or "").lower()].append(person)
    return found


def _by_employee(session: Session, org_id: int, employee_ids: list[str]) -> dict[str, set[int]]:
    # Employee ids come from the HR systems; LTI subject ids are not employee ids.
    found: dict[str, set[int]] = defaultdict(set)
    for start in range(0, len(employee_ids), _IN_CHUNK):
        for person_id, external_id in session.execute(
            select(PersonIdentity.person_id, PersonIdentity.external_id).where(
                PersonIdentity.org_id == org_id,
                PersonIdentity.external_id.in_(employee_ids[start : start + _IN_CHUNK]),
                ~PersonIdentity.source.startswith("lti:"),
            )
        ):
            found[external_id].add(person_id)
    return found


def resolve_rows(
    session: Session, actor: Actor, *, rows: Sequence[tuple[int, str, str]]
) -> list[RowResolution]:
    """Resolve CSV rows ``(line, email, employee_id)`` to people of the actor's organization.

    A row resolves when its e-mail address (case-insensitive) and/or employee id (of an
    HR-system identity) name exactly one person, the same one for both, who is active
    and not erased. A later row naming a person already named is a duplicate.

    Returns:
        One resolution per row, in order.
    """
    org_id = actor.org_id
    by_email = _by_email(session, org_id, sorted({e.lower() for _line, e, _i in rows if e}))
    by_employee = _by_employee(session, org_id, sorted({i for _line, _e, i in rows if i}))
    wanted_ids = sorted({i for s in by_employee.values() for i in s})
    people: dict[int, Person] = {}
    for start in range(0, len(wanted_ids), _IN_CHUNK):
        for p in session.scalars(
            select(Person).where(Person.id.in_(wanted_ids[start : start + _IN_CHUNK]))
        ):
            people[p.id] = p
    for found in by_email.values():
        for p in found:
            people[p.id] = p

    out: list[RowResolution] = []
    seen: set[int] = set()
    for line, email, employee in rows:
        shown = email or employee
        if not email and not employee:
            out.append(RowResolution(line, "", problem=RowProblem.MISSING))
            continue
        if email and not _EMAIL.match(email):
            out.append(RowResolution(line, email, problem=RowProblem.INVALID_EMAIL))
            continue
        candidates: set[int] | None = None
        if email:
            matches = {p.id for p in by_email.get(email.lower(), [])}
            if not matches:
                out.append(RowResolution(line, email, problem=RowProblem.UNKNOWN_EMAIL))
                continue
            candidates = matches
        if employee:
            matches = by_employee.get(employee, set())
            if not matches:
                out.append(RowResolution(line, employee, problem=RowProblem.UNKNOWN_EMPLOYEE))
                continue
            if candidates is not None and not (candidates & matches):
                out.append(RowResolution(line, shown, problem=RowProblem.MISMATCH))
                continue
            candidates = matches if candidates is None else candidates & matches
        if candidates is None:  # pragma: no cover (one of the two was given)
            continue
        if len(candidates) > 1:
            out.append(RowResolution(line, shown, problem=RowProblem.AMBIGUOUS))
            continue
        person = people[next(iter(candidates))]
        if not person.active or person.erased_at is not None:
            out.append(RowResolution(line, shown, problem=RowProblem.INACTIVE))
            continue
        if person.id in seen:
            out.append(RowResolution(line, shown, person.id, RowProblem.DUPLICATE))
            continue
        seen.add(person.id)
        out.append(RowResolution(line, shown, person.id))
    return out


# --------------------------------------------------------------------------- counts and lists


@dataclass
class ProgramCounts:
    """Per program: active enrollees and working (accepted or active) tandems."""

    enrolled: Counter[int] = field(default_factory=Counter)
    tandems: Counter[int] = field(default_factory=Counter)


def program_counts(session: Session, actor: Actor, *, program_ids: Iterable[int]) -> ProgramCounts:
    """Active enrollees and working tandems of the programs the actor coordinates.

    Programs of another organization or not coordinated by the actor count nothing.
    """
    ids = sorted(set(program_ids))
    coordinated = coordinated_program_ids(session, actor)
    if coordinated is not None:
        ids = [i for i in ids if i in coordinated]
    out = ProgramCounts()
    if not ids:
        return out
    ids = list(
        session.scalars(
            select(Program.id).where(Program.org_id == actor.org_id, Program.id.in_(ids))
        )
    )
    if not ids:
        return out
    out.enrolled.update(
        dict(
            session.execute(
                select(Enrollment.program_id, func.count())
                .where(
                    Enrollment.program_id.in_(ids),
                    Enrollment.status == EnrollmentStatus.ACTIVE,
                )
                .group_by(Enrollment.program_id)
            ).all()
        )
    )
    out.tandems.update(
        dict(
            session.execute(
                select(Tandem.program_id, func.count())
                .where(
                    Tandem.program_id.in_(ids),
                    Tandem.status.in_([TandemStatus.ACCEPTED, TandemStatus.ACTIVE]),
                )
                .group_by(Tandem.program_id)
            ).all()
        )
    )
    return out


def enrolled_count(session: Session, actor: Actor, *, program: Program) -> int:
    """How many enrollments (any status) the program has.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    return (
        session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.program_id == program.id)
        )
        or 0
    )


def list_skills(session: Session, *, org_id: int) -> list[Skill]:
    """The organization's skills, by name and code."""
    return list(
        session.scalars(
            select(Skill).where(Skill.org_id == org_id).order_by(Skill.name, Skill.code)
        )
    )


def tandem_status_by_enrollment(
    session: Session, actor: Actor, *, program: Program
) -> dict[int, str]:
    """Per enrollment id, the status of its (not rejected) tandem in the program.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    out: dict[int, str] = {}
    for tandem in program_tandems(session, actor, program=program):
        for member in tandem.members:
            out[member.enrollment_id] = tandem.status.value
    return out


def list_invitations(
    session: Session, actor: Actor, *, program: Program
) -> list[tuple[ProgramInvitation, Person]]:
    """The program's invitations with the invited people, newest first.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    rows = session.execute(
        select(ProgramInvitation, Person)
        .join(Person, Person.id == ProgramInvitation.person_id)
        .where(ProgramInvitation.program_id == program.id)
        .order_by(ProgramInvitation.id.desc())
    ).all()
    return [(inv, person) for inv, person in rows]


def person_names(session: Session, actor: Actor, *, person_ids: Iterable[int]) -> dict[int, str]:
    """``"Given Family"`` per person id of the actor's organization (others are left out)."""
    wanted = sorted(set(person_ids))
    out: dict[int, str] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        for pid, given, family in session.execute(
            select(Person.id, Person.given_name, Person.family_name).where(
                Person.org_id == actor.org_id, Person.id.in_(wanted[start : start + _IN_CHUNK])
            )
        ):
            out[pid] = f"{given} {family}"
    return out


def program_tandems(session: Session, actor: Actor, *, program: Program) -> list[Tandem]:
    """The program's tandems except rejected proposals, by id.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    return list(
        session.scalars(
            select(Tandem)
            .where(Tandem.program_id == program.id, Tandem.status != TandemStatus.REJECTED)
            .order_by(Tandem.id)
        ).unique()
    )


def tandems_by_id(
    session: Session, actor: Actor, *, program: Program, tandem_ids: Iterable[int]
) -> list[Tandem]:
    """The program's tandems with these ids (others are left out), by id.

    Raises:
        PermissionDenied: The actor does not coordinate the program.
    """
    _require_program(session, actor, program)
    wanted = sorted(set(tandem_ids))
    out: list[Tandem] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        out.extend(
            session.scalars(
                select(Tandem)
                .where(
                    Tandem.program_id == program.id,
                    Tandem.id.in_(wanted[start : start + _IN_CHUNK]),
                )
                .order_by(Tandem.id)
            ).unique()
        )
    return out


def roster_available(session: Session, actor: Actor, *, link_id: int | None) -> bool:
    """Whether the LTI link (of the actor's organization) offers a course roster (NRPS)."""
    link = session.get(LtiLink, link_id) if link_id is not None else None
    return bool(link is not None and link.org_id == actor.org_id and link.memberships_url)

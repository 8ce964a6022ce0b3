"""The demo-data generator: reproducible, believable, private, and safe to run."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, event, func, inspect, select
from sqlalchemy.orm import Session

from plugin import orgchart
from plugin.db import metadata
from plugin.demo import (
    IDENTITY_SOURCE,
    MAX_PEOPLE,
    MIN_PEOPLE,
    REFERENCE_DATE,
    DemoSummary,
    fold_ascii,
    seed_demo,
)
from plugin.demo_data import CULTURES, LOCATIONS, SKILLS
from plugin.errors import ConflictError, ValidationError
from plugin.models import (
    Consent,
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
    SkillIdentity,
)
from plugin.services.organizations import create_organization


def make_engine() -> Engine:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    metadata.create_all(engine)
    return engine


def seeded(people: int, seed: int, slug: str = "demo") -> tuple[Engine, DemoSummary]:
    engine = make_engine()
    with Session(engine) as session:
        summary = seed_demo(session, org_slug=slug, people=people, seed=seed)
        session.commit()
    return engine, summary


def _row(obj: Any, skip: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return tuple(
        (c.key, getattr(obj, c.key)) for c in inspect(type(obj)).column_attrs if c.key not in skip
    )


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every generated row, every column (only the organization's own creation time and
    the audit log, which record when seeding really ran, are left out)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Session(engine) as session:
        for model in (
            Person,
            PersonIdentity,
            Skill,
            SkillIdentity,
            PersonSkill,
            Program,
            Enrollment,
            Consent,
        ):
            rows = session.scalars(select(model).order_by(model.id)).unique().all()
            out[model.__tablename__] = [_row(r) for r in rows]
        orgs = session.scalars(select(Organization)).all()
        out["organizations"] = [_row(o, skip=("created_at",)) for o in orgs]
    return out


@pytest.fixture(scope="module")
def company() -> Iterator[tuple[Engine, DemoSummary]]:
    engine, summary = seeded(2000, 7)
    yield engine, summary
    engine.dispose()


@pytest.fixture
def session(company: tuple[Engine, DemoSummary]) -> Iterator[Session]:
    with Session(company[0]) as s:
        yield s


@pytest.fixture
def people(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.id)))


# --------------------------------------------------------------------------- reproducible


def test_same_seed_gives_identical_data(company: tuple[Engine, DemoSummary]) -> None:
    again, summary = seeded(2000, 7)
    assert summary == company[1]
    first, second = dump(company[0]), dump(again)
    assert first.keys() == second.keys()
    for table in first:
        assert first[table] == second[table], table
    assert len(first["people"]) == 2000


def test_different_seed_gives_different_data(people: list[Person]) -> None:
    engine, _ = seeded(2000, 8)
    with Session(engine) as s:
        other = list(s.scalars(select(Person).order_by(Person.id)))
    assert [p.email for p in people] != [p.email for p in other]
    assert [p.manager_id for p in people] != [p.manager_id for p in other]
    assert [p.hire_date for p in people] != [p.hire_date for p in other]


def test_nothing_depends_on_the_clock(session: Session, people: list[Person]) -> None:
    assert all(p.hire_date is not None and p.hire_date < REFERENCE_DATE for p in people)
    assert {p.created_at for p in people} == {people[0].created_at}
    assert people[0].created_at.tzinfo is not None
    program = session.scalars(select(Program)).one()
    assert program.created_at.date() < program.starts_on
    for e in session.scalars(select(Enrollment)).unique():
        assert e.consent_at.tzinfo is not None
        assert REFERENCE_DATE < e.consent_at.date() < program.starts_on
        assert e.created_at == e.consent_at


# --------------------------------------------------------------------------- the org chart


def test_one_tree_with_realistic_shape(people: list[Person]) -> None:
    by_id = {p.id: p for p in people}
    check = orgchart.check_tree({p.id: p.manager_id for p in people})
    assert check.is_single_tree
    assert check.roots == (people[0].id,)
    root = people[0]
    assert root.manager_id is None
    assert (root.job_title, root.job_level) == ("Chief Executive Officer", 12)
    assert 4 <= check.max_depth <= 7  # 5–8 levels

    spans = Counter(p.manager_id for p in people if p.manager_id is not None)
    assert min(spans.values()) >= 3
    assert max(spans.values()) <= 10
    assert 5 <= statistics.median(spans.values()) <= 8

    same_department = 0
    for p in people:
        if p.manager_id is None:
            continue
        boss = by_id[p.manager_id]
        assert boss.org_id == p.org_id
        assert boss.id < p.id  # managers are inserted first
        assert (boss.job_level or 0) > (p.job_level or 0), (boss.job_title, p.job_title)
        same_department += boss.department == p.department
    assert same_department / (len(people) - 1) > 0.95


@pytest.mark.parametrize("size", [MIN_PEOPLE, 123])
def test_small_companies_are_one_tree_too(size: int) -> None:
    engine, summary = seeded(size, 3)
    with Session(engine) as s:
        rows = s.execute(select(Person.id, Person.manager_id, Person.job_level)).all()
    assert summary.people == len(rows) == size
    assert orgchart.check_tree({r.id: r.manager_id for r in rows}).is_single_tree
    level = {r.id: r.job_level for r in rows}
    assert all(level[r.manager_id] > r.job_level for r in rows if r.manager_id)
    assert summary.mentors >= 1
    assert summary.mentees >= 1


def test_titles_grades_and_tenure_fit(people: list[Person]) -> None:
    for p in people:
        assert 1 <= (p.job_level or 0) <= 12
        title = p.job_title or ""
        if title.startswith("Junior "):
            assert p.job_level == 3
        if title.startswith("Team Lead "):
            assert p.job_level == 7
        if title.startswith("Head of "):
            assert p.job_level == 9
        if title.startswith(("Werkstudent ", "Intern ", "Working Student ")):
            assert p.job_level == 1
    assert {p.job_title for p in people if p.job_level == 11} >= {"VP Technology", "VP Operations"}

    def tenure(p: Person) -> float:
        assert p.hire_date is not None
        return (REFERENCE_DATE - p.hire_date).days / 365.25

    juniors = [tenure(p) for p in people if (p.job_level or 0) <= 3]
    leaders = [tenure(p) for p in people if (p.job_level or 0) >= 7]
    assert statistics.mean(leaders) > statistics.mean(juniors) + 4
    firsts = sum(1 for p in people if p.hire_date is not None and p.hire_date.day == 1)
    assert 0.5 < firsts / len(people) < 0.9


def test_departments_sites_languages_and_time_zones(people: list[Person]) -> None:
    departments = Counter(p.department for p in people)
    for name in ("IT", "Software Engineering", "Manufacturing", "Sales", "Finance"):
        assert departments[name] > 30
    sites = {(p.location, p.country, p.time_zone) for p in people}
    for location, country, tz in sites:
        assert location is not None
        assert tz is not None
        site = LOCATIONS[location]
        assert (site.country, site.time_zone) == (country, tz)
        ZoneInfo(tz)
    assert {"DE", "IN", "US", "CN", "PL"} <= {country for _, country, _ in sites}
    for p in people:
        assert p.languages
        assert all(re.fullmatch(r"[a-z]{2}", lang) for lang in p.languages)
        assert len(set(p.languages)) == len(p.languages)
    munich = [p for p in people if p.location == "Munich"]
    assert sum("de" in p.languages for p in munich) / len(munich) > 0.95


def test_names_follow_the_sites(people: list[Person]) -> None:
    def share(location: str, culture: str) -> float:
        at_site = [p for p in people if p.location == location]
        families = set(CULTURES[culture].family)
        hits = sum(p.family_name.split("-")[0].split(" ")[0] in families for p in at_site)
        return hits / len(at_site)

    assert share("Munich", "de") > 0.6
    assert share("Pune", "in") > 0.85
    cultures_in_munich = {
        code
        for code, culture in CULTURES.items()
        for p in people
        if p.location == "Munich" and p.given_name in culture.male + culture.female
    }
    assert len(cultures_in_munich) >= 6  # an international workforce


def test_leavers_are_few_and_never_enrolled(session: Session, people: list[Person]) -> None:
    leavers = [p for p in people if not p.active]
    assert 0.015 < len(leavers) / len(people) < 0.035
    enrolled = set(session.scalars(select(Enrollment.person_id)))
    assert not enrolled & {p.id for p in leavers}


# --------------------------------------------------------------------------- identities


def test_emails_unique_ascii_and_on_the_org_domain(people: list[Person]) -> None:
    emails = [p.email for p in people]
    assert len(set(emails)) == len(emails)
    pattern = re.compile(r"[a-z0-9-]+\.[a-z0-9-]+[0-9]*@demo\.example\.com")
    for p in people:
        assert pattern.fullmatch(p.email or ""), p.email
        local = (p.email or "").split("@")[0]
        assert local.startswith(fold_ascii(p.given_name) + ".")
    assert any(re.search(r"[0-9]@", e or "") for e in emails)  # collisions get a number


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Jürgen", "juergen"),
        ("Weiß", "weiss"),
        ("Öztürk", "oeztuerk"),
        ("Şahin", "sahin"),
        ("Yıldız", "yildiz"),
        ("Łukasz", "lukasz"),
        ("Wiśniewska", "wisniewska"),
        ("François", "francois"),
        ("Núñez", "nunez"),
        ("Conceição", "conceicao"),
        ("Nguyễn", "nguyen"),
        ("Đặng", "dang"),
        ("O'Brien", "obrien"),
        ("De Luca", "deluca"),
        ("Müller-Lüdenscheidt", "mueller-luedenscheidt"),
    ],
)
def test_fold_ascii(name: str, folded: str) -> None:
    assert fold_ascii(name) == folded


def test_every_person_has_one_hris_identity(session: Session, people: list[Person]) -> None:
    identities = session.scalars(select(PersonIdentity)).all()
    assert len(identities) == len(people)
    assert {i.source for i in identities} == {IDENTITY_SOURCE}
    assert {i.person_id for i in identities} == {p.id for p in people}
    ids = [i.external_id for i in identities]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"E[0-9]{6}", x) for x in ids)
    # Employee ids grow with the hire date.
    hired = {p.id: p.hire_date for p in people}
    by_number = sorted(identities, key=lambda i: int(i.external_id[1:]))
    dates = [hired[i.person_id] for i in by_number]
    assert dates == sorted(dates)  # type: ignore[type-var]


def test_no_birth_date_or_age_anywhere(session: Session) -> None:
    forbidden = re.compile(r"birth|dob|(^|_)age($|_)|(^|_)age_|year_of", re.IGNORECASE)
    for table in metadata.sorted_tables:
        for column in table.columns:
            assert not forbidden.search(column.name), f"{table.name}.{column.name}"
    for person in session.scalars(select(Person).limit(50)):
        for key in vars(person):
            assert not forbidden.search(key)


# --------------------------------------------------------------------------- skills


def test_skill_catalogue(session: Session, company: tuple[Engine, DemoSummary]) -> None:
    skills = session.scalars(select(Skill).order_by(Skill.id)).all()
    assert len(skills) == len(SKILLS) == company[1].skills >= 15
    assert {s.category.value for s in skills} == {
        "technology",
        "ways_of_working",
        "culture_diversity",
    }
    assert all(s.name_de for s in skills)
    assert sum(s.name != s.name_de for s in skills) >= len(skills) - 2
    identities = session.scalars(select(SkillIdentity)).all()
    assert {i.skill_id for i in identities} == {s.id for s in skills}
    assert {i.source for i in identities} == {IDENTITY_SOURCE}


def test_person_skills_are_plausible(
    session: Session, people: list[Person], company: tuple[Engine, DemoSummary]
) -> None:
    rows = session.scalars(select(PersonSkill)).all()
    assert len(rows) == company[1].person_skills
    rated = {r.person_id for r in rows}
    assert 0.4 < len(rated) / len(people) < 0.75
    by_id = {p.id: p for p in people}
    code = {s.id: s.code for s in session.scalars(select(Skill))}
    levels: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        person = by_id[r.person_id]
        assert 1 <= r.level <= 5
        assert r.source.value == "hris"
        assert person.hire_date is not None
        assert person.hire_date <= r.assessed_on < REFERENCE_DATE
        grade = person.job_level or 0
        band = "junior" if grade <= 4 else "senior" if grade >= 7 else "middle"
        levels.setdefault((band, code[r.skill_id]), []).append(r.level)

    def mean(band: str, skill: str) -> float:
        return statistics.mean(levels[(band, skill)])

    assert mean("junior", "AI-TOOLS") > mean("senior", "AI-TOOLS") + 0.5
    assert mean("junior", "SOCIAL-MEDIA") > mean("senior", "SOCIAL-MEDIA") + 0.5
    assert mean("senior", "INCLUSIVE-LEADERSHIP") > mean("junior", "INCLUSIVE-LEADERSHIP") + 0.5


# --------------------------------------------------------------------------- the program


def test_program_is_open_for_enrolment(
    session: Session, company: tuple[Engine, DemoSummary]
) -> None:
    program = session.get(Program, company[1].program_id)
    assert program is not None
    assert program.org_id == company[1].org_id
    assert program.name == "Reverse Mentoring 2026"
    assert program.format is ProgramFormat.ONE_TO_ONE
    assert program.status is ProgramStatus.ENROLLING
    assert program.starts_on.isoformat() == "2026-03-01"
    assert 180 <= (program.ends_on - program.starts_on).days <= 185
    assert program.cadence_days == 30
    assert program.min_session_minutes == 45
    assert program.target_sessions == 6
    assert [t["theme"] for t in program.theme_plan] == [
        "Developer experience",
        "New tools",
        "Team culture",
        "Onboarding",
        "Career expectations",
        "Retrospective",
    ]
    settings = program.matching_settings
    assert settings["objective"] == "best_total"
    assert settings["max_timezone_hours"] == 6
    assert settings["seniority_band"] == {"min": 3, "max": 12}
    assert set(settings["weights"]) >= {
        "topic_fit",
        "cross_department",
        "seniority_gap",
        "shared_language",
        "timezone",
        "preference",
        "previous_pairing_penalty",
    }
    assert program.completion_rule == {
        "min_sessions": 6,
        "min_minutes": 45,
        "require_post_assessment": True,
    }
    assert "confidential" in program.confidentiality_text.lower()
    assert len(program.confidentiality_text) > 500


def test_enrollments(
    session: Session, people: list[Person], company: tuple[Engine, DemoSummary]
) -> None:
    summary = company[1]
    program = session.get(Program, summary.program_id)
    assert program is not None
    enrollments = session.scalars(select(Enrollment).order_by(Enrollment.id)).unique().all()
    by_id = {p.id: p for p in people}
    roles = Counter(e.role for e in enrollments)
    assert roles[EnrollmentRole.MENTOR] == summary.mentors
    assert roles[EnrollmentRole.MENTEE] == summary.mentees
    active = sum(p.active for p in people)
    assert 0.075 <= summary.mentors / active <= 0.105
    assert summary.mentors <= summary.mentees <= 1.25 * summary.mentors

    # One role per person.
    per_person = Counter(e.person_id for e in enrollments)
    assert max(per_person.values()) == 1

    codes = {s.code for s in SKILLS}
    for e in enrollments:
        person = by_id[e.person_id]
        assert person.active
        assert e.consent_version == program.confidentiality_version
        assert e.languages == sorted(person.languages)
        assert set(e.availability) <= {"weekdays", "hours", "mode"}
        assert e.person_id not in e.avoid_person_ids + e.prefer_person_ids
        if e.role is EnrollmentRole.MENTOR:
            assert (person.job_level or 0) <= 5
            assert 2 <= len(e.topics_offered) <= 4
            assert not e.topics_wanted
            assert all(3 <= v <= 5 for v in e.topics_offered.values())
            assert set(e.topics_offered) <= codes
            assert e.capacity in (1, 2)
        else:
            assert (person.job_level or 0) >= 7
            assert 2 <= len(e.topics_wanted) <= 3
            assert not e.topics_offered
            assert all(1 <= v <= 5 for v in e.topics_wanted.values())
            assert e.capacity == 1
    mentor_tenure = statistics.mean(
        (REFERENCE_DATE - by_id[e.person_id].hire_date).days  # type: ignore[operator]
        for e in enrollments
        if e.role is EnrollmentRole.MENTOR
    )
    assert timedelta(days=mentor_tenure) < timedelta(days=4 * 365)
    assert any(e.avoid_person_ids for e in enrollments)
    assert any(e.prefer_person_ids for e in enrollments)
    consents = session.scalars(select(Consent)).all()
    assert len(consents) == len(enrollments)


def test_summary_counts(session: Session, company: tuple[Engine, DemoSummary]) -> None:
    summary = company[1]
    assert summary.people == session.scalar(select(func.count()).select_from(Person)) == 2000
    managers = session.scalar(select(func.count(func.distinct(Person.manager_id))))
    assert summary.managers == managers
    assert 0.1 < summary.managers / summary.people < 0.2


# --------------------------------------------------------------------------- safety


def test_refuses_to_seed_an_org_with_people() -> None:
    engine = make_engine()
    with Session(engine) as s:
        seed_demo(s, org_slug="acme", people=60, seed=1)
        s.commit()
    with Session(engine) as s, pytest.raises(ConflictError, match="already has 60 people"):
        seed_demo(s, org_slug="acme", people=60, seed=2)


def test_reuses_an_empty_org_and_reports_progress() -> None:
    engine = make_engine()
    calls: list[tuple[str, int, int]] = []
    with Session(engine) as s:
        org = create_organization(s, slug="acme", name="Acme Industries SE", actor="test")
        summary = seed_demo(
            s,
            org_slug="acme",
            org_name="ignored",
            people=80,
            seed=5,
            progress=lambda stage, done, total: calls.append((stage, done, total)),
        )
        s.commit()
        assert summary.org_id == org.id
        assert s.scalars(select(Organization.name)).all() == ["Acme Industries SE"]
        emails = s.scalars(select(Person.email)).all()
        assert all((e or "").endswith("@acme.example.com") for e in emails)
    stages = [c[0] for c in calls]
    for stage in ("people", "identities", "person_skills", "enrollments"):
        assert stage in stages
        last = [c for c in calls if c[0] == stage][-1]
        assert last[1] == last[2]


def test_a_new_org_gets_a_default_name() -> None:
    engine, summary = seeded(50, 1, slug="north-wind")
    with Session(engine) as s:
        org = s.get(Organization, summary.org_id)
        assert org is not None
        assert (org.slug, org.name) == ("north-wind", "North Wind GmbH")


@pytest.mark.parametrize("bad", [0, -5, MIN_PEOPLE - 1, MAX_PEOPLE + 1, True, 100.0, "100", None])
def test_bad_people_values_write_nothing(bad: Any) -> None:
    engine = make_engine()
    with Session(engine) as s:
        with pytest.raises(ValidationError, match="people") as info:
            seed_demo(s, people=bad)
        assert info.value.field == "people"
        assert s.scalar(select(func.count()).select_from(Organization)) == 0
        assert s.scalar(select(func.count()).select_from(Person)) == 0
        assert not s.new


def test_bad_slug_is_a_validation_error_and_writes_nothing() -> None:
    engine = make_engine()
    with Session(engine) as s:
        with pytest.raises(ValidationError):
            seed_demo(s, org_slug="Not A Slug", people=50)
        assert s.scalar(select(func.count()).select_from(Organization)) == 0

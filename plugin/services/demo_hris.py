"""The demo company as an HRIS holds it: the data behind ``tandem demo hris``.

The demo's fake SuccessFactors tenant (:mod:`lti.demo_hris`) serves the people, skills and
manager ratings of the demo organization (:mod:`plugin.demo`). This module reads them and
links them: :func:`link_demo_identities` gives every demo person and skill an identity of
the demo connection's source (the same external id as the demo's own), so a sync of that
connection *links* them instead of creating duplicates; :func:`hris_snapshot` reads what
the tenant should hold, keyed by those identities. Turning the snapshot into the fake's
dataset format is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, aliased

from plugin.demo import IDENTITY_SOURCE
from plugin.models import Person, PersonIdentity, PersonSkill, Skill, SkillIdentity, SkillSource

__all__ = [
    "HrisPerson",
    "HrisRating",
    "HrisSkill",
    "HrisSnapshot",
    "hris_snapshot",
    "link_demo_identities",
]


@dataclass(frozen=True)
class HrisPerson:
    """A person as the HRIS knows them, under their identity of the source."""

    external_id: str
    given_name: str
    family_name: str
    email: str | None
    department: str | None
    division: str | None
    location: str | None
    country: str | None
    time_zone: str | None
    languages: list[str] | None
    job_title: str | None
    hire_date: date | None
    active: bool
    #: The manager's identity of the source; ``None`` without a manager or when the
    #: manager has none (or was erased).
    manager_external_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class HrisSkill:
    """A skill under its identity of the source."""

    external_id: str
    name: str
    name_de: str | None


@dataclass(frozen=True)
class HrisRating:
    """A manager's rating (from the HRIS) of a person in a skill, by their identities."""

    person_external_id: str
    skill_external_id: str
    level: int


@dataclass(frozen=True)
class HrisSnapshot:
    """What the HRIS of ``source`` holds: people by id, skills by code, ratings by id."""

    people: list[HrisPerson]
    skills: list[HrisSkill]
    ratings: list[HrisRating]


def link_demo_identities(session: Session, *, org_id: int, source: str) -> int:
    """Give every demo person and skill an identity of ``source`` with the demo's id.

    Idempotent: people and skills that already have one keep it. The inserts are bulk
    statements, run at once; the caller commits.

    Args:
        session: The unit of work.
        org_id: The demo organization.
        source: The identity source of the demo connection (``successfactors:<id>``).

    Returns:
        How many people were linked now.
    """
    theirs = aliased(PersonIdentity)
    rows = session.execute(
        select(PersonIdentity.person_id, PersonIdentity.external_id)
        .outerjoin(
            theirs,
            (theirs.person_id == PersonIdentity.person_id) & (theirs.source == source),
        )
        .where(
            PersonIdentity.org_id == org_id,
            PersonIdentity.source == IDENTITY_SOURCE,
            theirs.id.is_(None),
        )
    ).all()
    if rows:
        session.execute(
            insert(PersonIdentity),
            [
                {"org_id": org_id, "person_id": pid, "source": source, "external_id": ext}
                for pid, ext in rows
            ],
        )
    skills = session.execute(
        select(SkillIdentity.skill_id, SkillIdentity.external_id).where(
            SkillIdentity.org_id == org_id, SkillIdentity.source == IDENTITY_SOURCE
        )
    ).all()
    have = set(
        session.scalars(
            select(SkillIdentity.skill_id).where(
                SkillIdentity.org_id == org_id, SkillIdentity.source == source
            )
        )
    )
    new_skills = [
        {"org_id": org_id, "skill_id": sid, "source": source, "external_id": ext}
        for sid, ext in skills
        if sid not in have
    ]
    if new_skills:
        session.execute(insert(SkillIdentity), new_skills)
    return len(rows)


def hris_snapshot(session: Session, *, org_id: int, source: str) -> HrisSnapshot:
    """The organization's people, skills and HRIS ratings under their identities of ``source``.

    Only people and skills with an identity of ``source`` are included, people in id
    order and skills by code; erased people are left out (they are no longer in the
    HRIS), and so are ratings of anyone or anything left out.

    Args:
        session: The unit of work.
        org_id: The organization.
        source: The identity source (``successfactors:<connection id>``).

    Returns:
        The snapshot.
    """
    people = session.execute(
        select(
            Person.id,
            PersonIdentity.external_id,
            Person.given_name,
            Person.family_name,
            Person.email,
            Person.department,
            Person.division,
            Person.location,
            Person.country,
            Person.time_zone,
            Person.languages,
            Person.job_title,
            Person.hire_date,
            Person.active,
            Person.manager_id,
            Person.updated_at,
        )
        .join(PersonIdentity, PersonIdentity.person_id == Person.id)
        .where(
            Person.org_id == org_id,
            PersonIdentity.source == source,
            Person.erased_at.is_(None),
        )
        .order_by(Person.id)
    ).all()
    user_of = {row.id: row.external_id for row in people}
    skill_rows = session.execute(
        select(SkillIdentity.external_id, Skill.id, Skill.name, Skill.name_de)
        .join(Skill, Skill.id == SkillIdentity.skill_id)
        .where(SkillIdentity.org_id == org_id, SkillIdentity.source == source)
        .order_by(SkillIdentity.external_id)
    ).all()
    code_of = {s.id: s.external_id for s in skill_rows}
    ratings = [
        HrisRating(person_external_id=user_of[pid], skill_external_id=code_of[sid], level=level)
        for pid, sid, level in session.execute(
            select(PersonSkill.person_id, PersonSkill.skill_id, PersonSkill.level)
            .where(PersonSkill.org_id == org_id, PersonSkill.source == SkillSource.HRIS)
            .order_by(PersonSkill.id)
        )
        if pid in user_of and sid in code_of
    ]
    return HrisSnapshot(
        people=[
            HrisPerson(
                external_id=row.external_id,
                given_name=row.given_name,
                family_name=row.family_name,
                email=row.email,
                department=row.department,
                division=row.division,
                location=row.location,
                country=row.country,
                time_zone=row.time_zone,
                languages=row.languages,
                job_title=row.job_title,
                hire_date=row.hire_date,
                active=row.active,
                manager_external_id=user_of.get(row.manager_id) if row.manager_id else None,
                updated_at=row.updated_at,
            )
            for row in people
        ],
        skills=[
            HrisSkill(external_id=s.external_id, name=s.name, name_de=s.name_de) for s in skill_rows
        ],
        ratings=ratings,
    )

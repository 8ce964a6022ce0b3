"""The sync engine's skills pass: the catalogue, then people's rated levels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plugin.models import (
    Person,
    PersonSkill,
    QuarantinedRecord,
    Skill,
    SkillCategory,
    SkillIdentity,
    SkillSource,
    SyncStatus,
)
from plugin.records import InvalidRecord, PersonSkillRecord, SkillRecord
from plugin.services.sync import SyncResult
from tests.plugin.sync.conftest import Conn
from tests.plugin.sync.fakes import FakePeopleSource, FakeSource, person

T0 = datetime(2026, 3, 1, tzinfo=UTC)
D1 = date(2026, 1, 15)


def catalogue() -> list[list[Any]]:
    return [
        [
            SkillRecord(external_id="sk-ai", name="AI tools", code="AI", category="technology"),
            SkillRecord(
                external_id="Social Media 2",
                name="Social media",
                category="culture_diversity",
                name_de="Soziale Medien",
            ),
            SkillRecord(external_id="dei", name="Diversity"),  # derived code DEI is taken
            InvalidRecord(entity="skill", reason="no externalCode", raw={"name": "?"}),
        ],
        [
            SkillRecord(external_id="sk-ai", name="AI tools", code="AI"),  # repeated
            SkillRecord(external_id="odd", name="Odd", category="astrology"),
            SkillRecord(external_id="bad", name=""),
        ],
    ]


def ratings(level_e1: int = 3) -> list[list[Any]]:
    return [
        [
            PersonSkillRecord("E1", "sk-ai", level_e1, D1),
            PersonSkillRecord("E1", "Social Media 2", 4, D1),
            PersonSkillRecord("E2", "sk-ai", 2, D1),
            PersonSkillRecord("E1", "sk-ai", 5, D1),  # repeated pair: ignored
        ],
        [
            PersonSkillRecord("NOBODY", "sk-ai", 3, D1),
            PersonSkillRecord("E2", "nope", 3, D1),
            PersonSkillRecord("E2", "dei", 9, D1),
            PersonSkillRecord("BAD", "dei", 3, D1),
            InvalidRecord(entity="person_skill", reason="rating scale unknown", raw={"r": "A+"}),
        ],
    ]


def source(**kw: Any) -> FakeSource:
    pages = [[person("E1"), person("E2"), person("BAD", email="x")]]
    return FakeSource(pages, skill_pages=catalogue(), rating_pages=ratings(), **kw)


def existing_skills(db: sessionmaker[Session], conn: Conn) -> None:
    with db() as s:
        s.add_all(
            [
                Skill(org_id=conn.org_id, code="AI", name="AI", category=SkillCategory.TECHNOLOGY),
                Skill(
                    org_id=conn.org_id,
                    code="DEI",
                    name="D&I",
                    category=SkillCategory.CULTURE_DIVERSITY,
                ),
            ]
        )
        s.commit()


def test_skills_and_ratings_are_upserted_and_bad_ones_quarantined(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    existing_skills(db, conn)
    result = sync(source(), now=T0)

    assert result.ok
    skills = result.details["skills"]
    assert (skills["created"], skills["updated"], skills["quarantined"]) == (3, 1, 2)
    assert (skills["linked"], skills["duplicates"], skills["category_defaulted"]) == (1, 1, 1)
    ratings_ = result.details["person_skills"]
    assert (ratings_["created"], ratings_["quarantined"], ratings_["duplicates"]) == (3, 5, 1)
    assert ratings_["seen"] == ratings_["created"] + ratings_["quarantined"]
    assert result.quarantined == 1  # the top-level counts are the people's
    assert result.quarantined_total == 1 + 2 + 5

    with db() as s:
        by_code = {sk.code: sk for sk in s.scalars(select(Skill))}
        assert set(by_code) == {"AI", "DEI", "SOCIAL-MEDIA-2", "DEI-2", "ODD"}
        assert by_code["AI"].name == "AI tools"  # the source's name for the mapped skill
        assert by_code["DEI"].name == "D&I"  # not the source's: its own skill is DEI-2
        assert by_code["SOCIAL-MEDIA-2"].category is SkillCategory.CULTURE_DIVERSITY
        assert by_code["SOCIAL-MEDIA-2"].name_de == "Soziale Medien"
        assert by_code["ODD"].category is SkillCategory.TECHNOLOGY
        idents = {i.external_id: i.skill_id for i in s.scalars(select(SkillIdentity))}
        assert idents["sk-ai"] == by_code["AI"].id
        assert idents["dei"] == by_code["DEI-2"].id
        levels = {
            (p.family_name, sk.code): (ps.level, ps.source, ps.assessed_on)
            for ps, p, sk in s.execute(
                select(PersonSkill, Person, Skill)
                .join(Person, Person.id == PersonSkill.person_id)
                .join(Skill, Skill.id == PersonSkill.skill_id)
            )
        }
        assert levels == {
            ("Family E1", "AI"): (3, SkillSource.HRIS, D1),
            ("Family E1", "SOCIAL-MEDIA-2"): (4, SkillSource.HRIS, D1),
            ("Family E2", "AI"): (2, SkillSource.HRIS, D1),
        }
        reasons = {
            q.external_id: q.reason
            for q in s.scalars(
                select(QuarantinedRecord).where(QuarantinedRecord.entity == "person_skill")
            )
        }
        assert reasons["NOBODY/sk-ai"] == "unknown person: not synced from this connection"
        assert reasons["E2/nope"] == "unknown skill: not in this connection's catalogue"
        assert reasons["E2/dei"] == "the level is not a whole number from 1 to 5"
        assert reasons["BAD/dei"] == "the person's record was quarantined in this run"
        assert reasons[None] == "rating scale unknown"


def test_an_identical_second_skills_sync_changes_nothing_and_a_new_level_updates(
    sync: Callable[..., SyncResult], db: sessionmaker[Session]
) -> None:
    sync(source(), now=T0)
    again = sync(source(), now=T0)
    assert (again.details["skills"]["created"], again.details["skills"]["updated"]) == (0, 0)
    assert again.details["skills"]["unchanged"] == 4
    assert (
        again.details["person_skills"]["created"],
        again.details["person_skills"]["updated"],
    ) == (0, 0)
    assert again.details["person_skills"]["unchanged"] == 3

    changed = source()
    changed.rating_pages = ratings(level_e1=5)
    third = sync(changed, now=T0)
    assert third.details["person_skills"]["updated"] == 1
    with db() as s:
        assert sorted(ps.level for ps in s.scalars(select(PersonSkill))) == [2, 4, 5]


def test_delta_ratings_are_read_since_the_same_instant(sync: Callable[..., SyncResult]) -> None:
    sync(source(), now=T0)
    delta = source()
    sync(delta, full=False, now=T0)
    assert delta.rating_since_calls == delta.since_calls
    assert delta.since_calls[0] is not None


def test_a_people_only_source_has_no_skills_phase(sync: Callable[..., SyncResult]) -> None:
    result = sync(FakePeopleSource([[person("E1")]]))
    assert result.ok
    assert "skills" not in result.details


def test_a_failing_skills_phase_fails_the_run_and_deactivates_nobody(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    first = sync(FakePeopleSource([[person("E1"), person("E2")]]), now=T0)
    failing = FakeSource([[person("E1")]], skill_pages=catalogue(), fail_skills=True)

    result = sync(failing, now=T0)

    assert result.status is SyncStatus.FAILED
    assert result.details["phase"] == "skills"
    assert result.watermark_after == first.watermark_after
    assert people()["E2"].active is True


def test_an_erased_persons_ratings_are_not_refilled(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], people: Any
) -> None:
    sync(FakePeopleSource([[person("E1"), person("E2")]]), now=T0)
    with db() as s:
        e1 = s.get(Person, people()["E1"].id)
        assert e1 is not None
        e1.erased_at, e1.active = T0, False
        s.commit()
    result = sync(source(), now=T0)
    ratings_ = result.details["person_skills"]
    assert ratings_["erased_skipped"] == 2
    with db() as s:
        assert [ps.person_id for ps in s.scalars(select(PersonSkill))] == [people()["E2"].id]

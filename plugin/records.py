"""Records: what an HRIS or LMS source hands the sync engine, as frozen dataclasses.

A connector reads its vendor's payloads (marshmallow schemas at the edge), turns every
valid one into one of these records, and every invalid one into an :class:`InvalidRecord`
carrying the reason and the raw payload, so the engine quarantines it instead of
dropping it. Records are plain values: no database session, no HTTP, no vendor types.

Every text field is already stripped; ``None`` means the source did not say (the engine
then leaves the stored value as it is only where noted, otherwise stores ``None``).
Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "InvalidRecord",
    "Page",
    "PersonRecord",
    "PersonSkillRecord",
    "SkillRecord",
]


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One employee as the source knows them.

    Attributes:
        external_id: The source's key (SuccessFactors ``userId``, Workday ``Employee_ID``,
            Moodle user id); the person's identity ``<kind>:<connection id>``.
        given_name: First name (required, non-empty).
        family_name: Last name (required, non-empty).
        active: False for leavers and inactive users (never deleted).
        email: Work e-mail, lower-cased; ``None`` when the source has none.
        manager_external_id: The manager's ``external_id`` in the same source; resolved
            by the engine after the pass (the manager may come on a later page).
        department, division, location: Org-chart names or codes as the source gives them.
        country: ISO 3166-1 alpha-2, upper case.
        time_zone: IANA name, e.g. ``Europe/Berlin``.
        languages: ISO 639-1 codes the person speaks.
        job_title: Free text.
        job_level: Grade as an integer where the source has one.
        hire_date: First day of employment.
        left_on: Last day of employment, for leavers.
        modified_at: When the source last changed the record (drives the delta watermark).
    """

    external_id: str
    given_name: str
    family_name: str
    active: bool = True
    email: str | None = None
    manager_external_id: str | None = None
    department: str | None = None
    division: str | None = None
    location: str | None = None
    country: str | None = None
    time_zone: str | None = None
    languages: tuple[str, ...] = ()
    job_title: str | None = None
    job_level: int | None = None
    hire_date: date | None = None
    left_on: date | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SkillRecord:
    """One skill or competency of the source's catalogue.

    Attributes:
        external_id: The source's key (SuccessFactors ``SkillEntity.externalCode``).
        name: Display name (English where the source has several).
        code: Our code for the skill when the source names one (else derived from the
            external id by the engine).
        category: ``technology``, ``ways_of_working`` or ``culture_diversity`` when the
            source's category maps to one; ``None`` lets the engine pick the default.
        name_de: German display name, when the source has one.
        modified_at: When the source last changed it.
    """

    external_id: str
    name: str
    code: str | None = None
    category: str | None = None
    name_de: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonSkillRecord:
    """A person's rated level in one skill, from the source.

    Attributes:
        person_external_id: The person's ``external_id`` in the same source.
        skill_external_id: The skill's ``external_id`` in the same source.
        level: 1–5 (the connector maps the vendor's scale onto it).
        assessed_on: The date of the rating.
        modified_at: When the source last changed it.
    """

    person_external_id: str
    skill_external_id: str
    level: int
    assessed_on: date
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A vendor record the connector could not turn into a record: quarantined, not dropped.

    Attributes:
        entity: ``person``, ``skill`` or ``person_skill``.
        reason: What was wrong, in words an HR admin can act on (no secrets).
        raw: The vendor payload as received (kept for the admin; personal data).
        external_id: The record's key when it could be read.
    """

    entity: str
    reason: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    external_id: str | None = None


#: One page of a source: the records of one vendor response, valid or not, in order.
Page = Sequence[PersonRecord | SkillRecord | PersonSkillRecord | InvalidRecord]

"""An in-memory HRIS for the sync engine's tests: pages yielded lazily, failures on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from plugin.errors import ConnectorUnavailable
from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord

PersonPage = Sequence[PersonRecord | InvalidRecord]


def person(external_id: str, **kw: Any) -> PersonRecord:
    """A valid person record with plausible defaults."""
    fields: dict[str, Any] = {
        "given_name": f"Given {external_id}",
        "family_name": f"Family {external_id}",
        "email": f"{external_id.lower()}@example.com",
        "department": "IT",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "languages": ("de", "en"),
        "job_title": "Engineer",
        "job_level": 3,
        "hire_date": date(2020, 1, 1),
    }
    fields.update(kw)
    return PersonRecord(external_id=external_id, **fields)


@dataclass
class FakePeopleSource:
    """A PeopleSource over in-memory pages.

    ``fail_at``: raise ConnectorUnavailable when page ``fail_at`` (1-based) is asked for.
    ``error``: raise this exception there instead.
    ``person_fields``: the fields the source owns (``None``: all).
    """

    pages: list[PersonPage]
    fail_at: int | None = None
    error: BaseException | None = None
    person_fields: frozenset[str] | None = None
    since_calls: list[datetime | None] = field(default_factory=list)
    pages_served: int = 0
    closed: bool = False

    def check(self) -> None:
        return None

    def iter_people(self, *, since: datetime | None = None) -> Iterator[PersonPage]:
        self.since_calls.append(since)
        try:
            for number, page in enumerate(self.pages, start=1):
                if self.fail_at == number:
                    raise self.error or ConnectorUnavailable(
                        "fake HRIS answered 503 on https://hris.example/odata/User?$skiptoken=***",
                        connector="fake",
                        status=503,
                    )
                self.pages_served += 1
                yield list(page)
        finally:
            self.closed = True


@dataclass
class FakeSource(FakePeopleSource):
    """A PeopleSource and SkillSource over in-memory pages."""

    skill_pages: list[Sequence[SkillRecord | InvalidRecord]] = field(default_factory=list)
    rating_pages: list[Sequence[PersonSkillRecord | InvalidRecord]] = field(default_factory=list)
    rating_since_calls: list[datetime | None] = field(default_factory=list)
    fail_skills: bool = False

    def iter_skills(self) -> Iterator[Sequence[SkillRecord | InvalidRecord]]:
        for page in self.skill_pages:
            if self.fail_skills:
                raise ConnectorUnavailable("skills unavailable", connector="fake", status=502)
            yield list(page)

    def iter_person_skills(
        self, *, since: datetime | None = None
    ) -> Iterator[Sequence[PersonSkillRecord | InvalidRecord]]:
        self.rating_since_calls.append(since)
        for page in self.rating_pages:
            yield list(page)

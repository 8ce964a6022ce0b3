"""Field ownership: a source writes only the person fields it declares in ``person_fields``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.models import Person, SyncRun
from plugin.services.sync import MANAGER_FIELD, PERSON_FIELDS, SyncResult
from tests.plugin.sync.conftest import writes
from tests.plugin.sync.fakes import FakePeopleSource, person

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
EARLIER = T0 - timedelta(hours=1)

# What SuccessFactors' User owns: no grade, no last day, languages left alone.
HRIS_FIELDS = frozenset(
    {
        "given_name",
        "family_name",
        "email",
        "department",
        "division",
        "location",
        "country",
        "time_zone",
        "job_title",
        "hire_date",
        "active",
        MANAGER_FIELD,
    }
)


def hris(pages: list[list[Any]], fields: frozenset[str] = HRIS_FIELDS) -> FakePeopleSource:
    return FakePeopleSource(pages, person_fields=fields)


def set_elsewhere(db: sessionmaker[Session], person_id: int) -> None:
    """What an admin or another system set: a grade, more languages, a last day."""
    with db() as s:
        p = s.get(Person, person_id)
        assert p is not None
        p.job_level, p.languages, p.left_on = 7, ["de", "en", "pl"], date(2030, 6, 30)
        p.updated_at = EARLIER
        s.commit()


def test_a_sync_leaves_the_fields_its_source_does_not_own(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session]
) -> None:
    sync(FakePeopleSource([[person("E1"), person("E2"), person("E3")]]), now=T0)
    found = people()
    for ext in ("E1", "E2"):
        set_elsewhere(db, found[ext].id)

    # The HRIS has no grade and one locale; E2's department changed, E1 and E3 did not.
    pages = [
        [
            person("E1", job_level=None, languages=("fr",)),
            person("E2", job_level=None, languages=(), department="Sales"),
            person("E3", job_level=None, languages=("fr",), left_on=date(2031, 1, 1)),
        ]
    ]
    result = sync(hris(pages), now=T0 + timedelta(days=1))

    assert result.ok
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    after = people()
    for ext in ("E1", "E2"):
        p = after[ext]
        assert (p.job_level, p.languages, p.left_on) == (7, ["de", "en", "pl"], date(2030, 6, 30))
    assert after["E2"].department == "Sales"
    assert after["E1"].updated_at == EARLIER  # untouched: unchanged in every owned field
    assert after["E2"].updated_at == T0 + timedelta(days=1)
    e3 = after["E3"]
    assert (e3.job_level, e3.languages, e3.left_on) == (3, ["de", "en"], None)


def test_an_identical_second_sync_of_a_partial_source_writes_nothing(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session], statements: list[str]
) -> None:
    pages = [
        [
            person("E1", manager_external_id="E2", modified_at=T0),
            person("E2", job_level=None, modified_at=T0),
        ]
    ]
    sync(hris(pages), now=T0)
    set_elsewhere(db, people()["E1"].id)
    statements.clear()

    result = sync(hris(pages), now=T0 + timedelta(days=1))

    assert result.ok
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    assert result.details["managers"]["changed"] == 0
    assert writes(statements) == []
    assert people()["E1"].job_level == 7


def test_a_new_person_gets_defaults_for_fields_the_source_does_not_own(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    pages = [[person("E1", job_level=5, languages=("fr",), left_on=date(2031, 1, 1))]]
    result = sync(hris(pages))

    assert result.created == 1
    e1 = people()["E1"]
    assert (e1.job_level, e1.languages, e1.left_on) == (None, [], None)
    assert (e1.given_name, e1.department, e1.hire_date) == ("Given E1", "IT", date(2020, 1, 1))


def test_a_source_owning_only_some_contact_fields(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    """No manager, no active flag: managers stay, nobody is deactivated or re-activated."""
    sync(FakePeopleSource([[person("E1", manager_external_id="E2"), person("E2"), person("E3")]]))
    before = people()
    lms = frozenset({"email", "languages"})

    result = sync(
        hris(
            [
                [
                    person("E1", email="new@example.com", active=False, job_title="Other"),
                    person("E2", given_name="Changed", manager_external_id="E1"),
                ]
            ],
            lms,
        )
    )

    assert result.ok
    assert (result.updated, result.unchanged, result.deactivated) == (1, 1, 0)
    assert result.details["managers"]["changed"] == 0
    after = people()
    assert after["E1"].email == "new@example.com"
    assert (after["E1"].active, after["E1"].job_title) == (True, "Engineer")
    assert after["E1"].manager_id == before["E2"].id
    assert after["E2"].manager_id is None
    assert after["E2"].given_name == "Given E2"
    assert after["E3"].active  # not returned, but the source does not own "active"


def test_a_source_owning_active_still_deactivates_leavers(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(hris([[person("E1"), person("E2")]]))

    result = sync(hris([[person("E1")]]))

    assert result.deactivated == 1
    assert not people()["E2"].active


@pytest.mark.parametrize(
    "declared",
    [frozenset({"given_name", "grade"}), "email", 42],
)
def test_unknown_person_fields_are_a_connector_bug(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], declared: Any
) -> None:
    source = FakePeopleSource([[person("E1")]])
    source.person_fields = declared
    with pytest.raises(ValueError, match="person_fields"):
        sync(source)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(SyncRun)) == 0


def test_every_person_field_is_ownable() -> None:
    assert set(HRIS_FIELDS) <= {*PERSON_FIELDS, MANAGER_FIELD}

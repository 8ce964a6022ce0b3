"""SuccessFactors payload values → records (dates, statuses, managers, levels)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from connectors.successfactors.client import build_query, odata_error, scrub
from connectors.successfactors.schemas import (
    DEFERRED,
    UserSchema,
    country_code,
    load_person,
    parse_level,
    parse_odata_datetime,
)
from plugin.records import InvalidRecord, PersonRecord
from tests.connectors.successfactors.conftest import payload


def user(**fields: Any) -> dict[str, Any]:
    return {"userId": "u1", "status": "t", "firstName": "Ann", "lastName": "Lee", **fields}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Date(1388966400000)/", datetime(2014, 1, 6, tzinfo=UTC)),
        ("/Date(1587072082000+0000)/", datetime(2020, 4, 16, 21, 21, 22, tzinfo=UTC)),
        ("/Date(1587072082000+0120)/", datetime(2020, 4, 16, 21, 21, 22, tzinfo=UTC)),
        ("/Date(1587072082000-0300)/", datetime(2020, 4, 16, 21, 21, 22, tzinfo=UTC)),
        ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_odata_dates(raw: str | None, expected: datetime | None) -> None:
    assert parse_odata_datetime(raw) == expected


@pytest.mark.parametrize("raw", ["/Date(abc)/", "yesterday", "Date(1)", 12])
def test_bad_dates(raw: object) -> None:
    with pytest.raises(ValueError, match=r"(?i)date"):
        parse_odata_datetime(raw)


def test_person_fields_are_cleaned() -> None:
    record = load_person(
        user(
            email="  Ann.Lee@Example.COM ",
            department="",
            jobTitle="  Engineer ",
            defaultLocale="de_DE",
            country="ch",
            timeZone="America/Argentina/Buenos_Aires",
            hireDate="/Date(1704067200000)/",
        )
    )
    assert isinstance(record, PersonRecord)
    assert record.email == "ann.lee@example.com"
    assert record.department is None
    assert record.job_title == "Engineer"
    assert record.languages == ("de",)
    assert record.country == "CH"
    assert record.time_zone == "America/Argentina/Buenos_Aires"
    assert record.hire_date == date(2024, 1, 1)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("de", "DE"),
        ("Poland", "PL"),
        ("united states", "US"),
        ("United Kingdom", "GB"),
        ("Britain", "GB"),
        ("DEU", "DE"),
        ("Korea", None),  # North or South: never a guess
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_country_codes(raw: str | None, code: str | None) -> None:
    assert country_code(raw) == code


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        (None, None),
        ({"userId": "boss"}, "boss"),
        ({"userId": ""}, None),
        ({"userId": "NO_MANAGER"}, None),
        ({"results": [{"userId": "boss"}]}, "boss"),
        ({"results": []}, None),
        ({"__deferred": {"uri": "https://x/odata/v2/User('u1')/manager"}}, DEFERRED),
        ("boss", "boss"),
    ],
)
def test_manager_shapes(manager: object, expected: str | None) -> None:
    record = load_person(user(manager=manager))
    assert isinstance(record, PersonRecord)
    assert record.manager_external_id == expected


def test_unknown_manager_shape_is_quarantined() -> None:
    record = load_person(user(manager=[1, 2]))
    assert isinstance(record, InvalidRecord)
    assert "manager" in record.reason


def test_non_object_row_is_quarantined() -> None:
    record = load_person("cgrant")
    assert isinstance(record, InvalidRecord)
    assert record.raw == {"value": "cgrant"}


@pytest.mark.parametrize("missing", ["userId", "status", "firstName", "lastName"])
def test_required_fields(missing: str) -> None:
    row = user()
    del row[missing]
    record = load_person(row)
    assert isinstance(record, InvalidRecord)
    assert missing in record.reason


@pytest.mark.parametrize(
    ("raw", "level"),
    [("3", 3), (4, 4), (2.0, 2), ("Level 5", 5), ("Expert", 5), ("beginner", 1), ("", None)],
)
def test_levels(raw: object, level: int | None) -> None:
    assert parse_level(raw) == level


@pytest.mark.parametrize("raw", ["0", "6", "2.5", "great", True])
def test_bad_levels(raw: object) -> None:
    with pytest.raises(ValueError, match="level"):
        parse_level(raw)


def test_build_query_keeps_odata_punctuation() -> None:
    assert build_query({"$filter": "status in 't','f'", "$select": "userId,manager/userId"}) == (
        "$filter=status%20in%20't','f'&$select=userId,manager/userId"
    )


def test_error_envelope_and_scrub() -> None:
    code, message = odata_error(
        {"error": {"code": "COE_X", "message": {"lang": "en-US", "value": "User u7 'Ann' bad"}}},
        hide=["u7"],
    )
    assert code == "COE_X"
    assert message == "User … '…' bad"
    assert odata_error({"d": {}}) == (None, None)
    assert scrub("x" * 500).endswith("…")
    assert len(scrub("x" * 500)) == 200


FAST_CASES: list[dict[str, Any]] = [
    user(),
    user(email=" A@B.C ", department="", division=None, manager={"userId": " boss "}),
    user(manager=" boss "),
    user(manager="  "),
    user(manager={"results": [{"userId": "m"}]}),
    user(manager={"__deferred": {"uri": "x"}}),
    user(hireDate="/Date(-86400000)/", lastModified="/Date(1704067200000+0000)/"),
    user(lastModifiedDateTime="2024-01-01T00:00:00Z", country="Poland", defaultLocale="pl"),
    user(status=" f ", firstName=" Ann ", timeZone="UTC"),
]


@pytest.mark.parametrize("row", FAST_CASES)
def test_fast_path_agrees_with_the_schema(row: dict[str, Any]) -> None:
    assert load_person(row) == UserSchema().load(row)


def test_fast_path_agrees_on_the_payload_files() -> None:
    for name in ("users_page1.json", "users_page2.json"):
        for row in payload(name)["d"]["results"]:
            try:
                expected: object = UserSchema().load(row)
            except ValidationError:
                expected = InvalidRecord
            got = load_person(row)
            if expected is InvalidRecord:
                assert isinstance(got, InvalidRecord)
            else:
                assert got == expected

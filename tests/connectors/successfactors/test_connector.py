"""The SuccessFactors source: paging, statuses, delta, managers, errors, skills."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
import requests
import responses

from connectors.successfactors import SuccessFactorsConnector
from connectors.successfactors.auth import TokenCache
from plugin.errors import ConnectorDataError, ConnectorUnavailable
from plugin.ports import PeopleSource, SkillSource
from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord
from plugin.services.sync import MANAGER_FIELD, PERSON_FIELDS
from tests.connectors.successfactors.conftest import (
    ODATA,
    KeyPair,
    Waits,
    calls_to,
    connection,
    payload,
    query,
    token_ok,
)

USERS = ODATA + "/User"


def source(
    keypair: KeyPair, waits: Waits, cache: TokenCache, **settings: object
) -> SuccessFactorsConnector:
    return SuccessFactorsConnector(
        connection(keypair, **settings), sleep=waits, token_cache=cache, rng=lambda: 1.0
    )


def people(pages: list[list[PersonRecord | InvalidRecord]]) -> list[PersonRecord]:
    return [r for page in pages for r in page if isinstance(r, PersonRecord)]


def invalid(pages: list[list[PersonRecord | InvalidRecord]]) -> list[InvalidRecord]:
    return [r for page in pages for r in page if isinstance(r, InvalidRecord)]


def test_connector_satisfies_the_ports(keypair: KeyPair) -> None:
    connector = SuccessFactorsConnector(connection(keypair))
    assert isinstance(connector, PeopleSource)
    assert isinstance(connector, SkillSource)


def test_it_owns_the_person_fields_user_has(keypair: KeyPair) -> None:
    """No grade, no last day, one UI locale: job level, languages and left_on stay as set."""
    owned = SuccessFactorsConnector(connection(keypair)).person_fields
    assert owned == {
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
    assert owned <= {*PERSON_FIELDS, MANAGER_FIELD}
    assert not owned & {"job_level", "languages", "left_on"}


def test_constructor_does_no_io(keypair: KeyPair, mock: responses.RequestsMock) -> None:
    SuccessFactorsConnector(connection(keypair))
    assert len(mock.calls) == 0


def test_check_fetches_a_token_and_one_user_id(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json={"d": {"results": [{"userId": "sfadmin"}]}})
    source(keypair, waits, cache).check()
    (call,) = calls_to(mock, USERS)
    assert query(call) == {"$format": "json", "$top": "1", "$select": "userId"}
    assert call.request.headers["Authorization"] == "Bearer tok-1"


# --------------------------------------------------------------------------- paging


def test_two_pages_with_snapshot_paging_and_a_repeated_record(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json=payload("users_page1.json"))
    mock.get(USERS, json=payload("users_page2.json"))
    pages = [list(page) for page in source(keypair, waits, cache, page_size=2).iter_people()]
    assert [len(p) for p in pages] == [2, 4]

    first, second = calls_to(mock, USERS)
    q = query(first)
    assert q["$filter"] == "status in 't','f'"
    assert q["paging"] == "snapshot"
    assert q["customPageSize"] == "2"
    assert q["$expand"] == "manager"
    assert q["$format"] == "json"
    assert "manager/userId" in q["$select"].split(",")
    assert "%20" in first.request.url  # spaces, not '+'
    # The next page is the server's __next, exactly.
    assert second.request.url == payload("users_page1.json")["d"]["__next"]

    found = people(pages)
    # jdoe comes on both pages (a known SuccessFactors trap): yielded twice, engine dedupes.
    assert [p.external_id for p in found] == ["cgrant", "jdoe", "jdoe", "mleft"]
    cgrant, jdoe, _, mleft = found
    assert cgrant == PersonRecord(
        external_id="cgrant",
        given_name="Carla",
        family_name="Grant",
        active=True,
        email="carla.grant@example.com",
        manager_external_id=None,
        department="IT",
        division="Corporate",
        location="Berlin",
        country="DE",
        time_zone="Europe/Berlin",
        job_title="CIO",
        hire_date=date(2014, 1, 6),
        modified_at=datetime(2020, 4, 16, 21, 21, 22, tzinfo=UTC),
    )
    assert jdoe.manager_external_id == "cgrant"
    assert jdoe.division is None  # "" → None
    assert jdoe.time_zone is None  # "CET" is no IANA name we keep
    assert jdoe.country == "DE"  # alpha-3 "DEU" → alpha-2
    assert jdoe.modified_at == datetime(2024, 1, 1, tzinfo=UTC)  # ms are UTC; offset informative
    # Inactive users come too (status 'f'), never dropped.
    assert mleft.active is False
    assert mleft.email is None
    assert mleft.manager_external_id is None  # NO_MANAGER
    assert mleft.hire_date == date(1969, 12, 31)


def test_invalid_records_are_quarantined_with_reason_and_raw(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json=payload("users_page2.json"))
    pages = [list(page) for page in source(keypair, waits, cache).iter_people()]
    bad = {r.external_id: r for r in invalid(pages)}
    assert set(bad) == {"noname", "weird"}
    assert bad["noname"].entity == "person"
    assert "lastName" in bad["noname"].reason
    assert bad["noname"].raw["userId"] == "noname"
    assert "status" in bad["weird"].reason
    assert "hireDate" in bad["weird"].reason
    assert "yesterday" not in bad["weird"].reason  # reasons name rules, not values


def test_all_six_statuses(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    rows = [
        {"userId": s + "x", "status": s, "firstName": "A", "lastName": "B"}
        for s in ("t", "f", "T", "F", "e", "d")
    ]
    mock.get(USERS, json={"d": {"results": rows}})
    (page,) = source(keypair, waits, cache).iter_people()
    assert [(r.external_id, r.active) for r in page if isinstance(r, PersonRecord)] == [
        ("tx", True),
        ("fx", False),
        ("Tx", True),
        ("Fx", False),
        ("ex", True),
        ("dx", False),
    ]


def test_pages_are_fetched_lazily(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json=payload("users_page1.json"))
    mock.get(USERS, json=payload("users_page2.json"))
    pages = source(keypair, waits, cache).iter_people()
    next(pages)
    assert len(calls_to(mock, USERS)) == 1


def test_delta_filters_on_last_modified_with_and(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json={"d": {"results": []}})
    # The engine passes its watermark minus the overlap window; any zone, sub-seconds dropped.
    since = datetime(2026, 8, 31, 23, 0, 5, 900000, tzinfo=UTC)
    list(source(keypair, waits, cache).iter_people(since=since))
    (call,) = calls_to(mock, USERS)
    flt = query(call)["$filter"]
    assert flt == (
        "status in 't','f' and lastModifiedDateTime ge datetimeoffset'2026-08-31T23:00:05Z'"
    )
    assert " or " not in flt  # an 'or' would cancel the implicit status filter


def test_delta_overlap_returns_repeats_harmlessly(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    """Users changed just before the watermark come again; the same records, nothing lost."""
    token_ok(mock)
    mock.get(USERS, json=payload("users_page2.json"))
    mock.get(USERS, json=payload("users_page2.json"))
    connector = source(keypair, waits, cache)
    first = people([list(p) for p in connector.iter_people(since=datetime(2024, 6, 1, tzinfo=UTC))])
    again = people(
        [list(p) for p in connector.iter_people(since=datetime(2024, 5, 31, tzinfo=UTC))]
    )
    assert first == again


def test_manager_deferred_is_read_separately(
    mock: responses.RequestsMock,
    keypair: KeyPair,
    waits: Waits,
    cache: TokenCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_ok(mock)
    deferred = {"__deferred": {"uri": ODATA + "/User('o''neil')/manager"}}
    rows = [
        {"userId": "o'neil", "status": "t", "firstName": "O", "lastName": "N", "manager": deferred},
        {"userId": "boss", "status": "t", "firstName": "B", "lastName": "S", "manager": deferred},
    ]
    mock.get(USERS, json={"d": {"results": rows}})
    mock.get(ODATA + "/User('o''neil')/manager", json={"d": {"userId": "boss"}})
    mock.get(ODATA + "/User('boss')/manager", json={"d": None})
    with caplog.at_level(logging.WARNING):
        (page,) = source(keypair, waits, cache).iter_people()
    assert [
        (r.external_id, r.manager_external_id) for r in page if isinstance(r, PersonRecord)
    ] == [
        ("o'neil", "boss"),
        ("boss", None),
    ]
    assert "manager expanded" in caplog.text
    assert "neil" not in caplog.text


def test_optional_fields_dropped_when_the_tenant_lacks_them(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(
        USERS,
        status=400,
        json={
            "error": {
                "code": "COE_PROPERTY_NOT_FOUND",
                "message": {"lang": "en-US", "value": "Invalid property names: timeZone."},
            }
        },
    )
    mock.get(USERS, json={"d": {"results": []}})
    assert list(source(keypair, waits, cache).iter_people()) == [[]]
    first, second = calls_to(mock, USERS)
    assert "timeZone" in query(first)["$select"]
    assert "timeZone" not in query(second)["$select"]
    assert "country" not in query(second)["$select"]


# --------------------------------------------------------------------------- failures


def test_429_with_retry_after_is_waited_for(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, json=payload("users_page1.json"))
    mock.get(USERS, status=429, headers={"Retry-After": "120"})
    mock.get(USERS, json={"d": {"results": []}})
    pages = list(source(keypair, waits, cache).iter_people())
    assert len(pages) == 2
    assert waits.waits == [120.0]


def test_429_without_retry_after_waits_what_sap_asks(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, status=429)
    mock.get(USERS, json={"d": {"results": []}})
    list(source(keypair, waits, cache).iter_people())
    assert waits.waits == [300.0]


def test_503_then_success(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(USERS, status=503, body="<html>maintenance</html>")
    mock.get(
        USERS,
        status=500,
        json={
            "error": {
                "code": "COE_GENERAL_SERVER_FAILURE",
                "message": {"value": "OData metadata is being generated, please try again later"},
            }
        },
    )
    mock.get(USERS, json=payload("users_page2.json"))
    pages = list(source(keypair, waits, cache).iter_people())
    assert len(pages) == 1
    assert waits.waits == [1.0, 2.0]  # jittered exponential backoff (rng pinned to 1)


def test_timeout_on_every_try_is_unavailable(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    for _ in range(5):
        mock.get(USERS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ConnectorUnavailable, match="timeout"):
        list(source(keypair, waits, cache).iter_people())
    assert len(calls_to(mock, USERS)) == 5


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('{"d": {"results": [{"userId": "a"', "not readable JSON"),
        ("<html><body>Service Unavailable</body></html>", "not readable JSON"),
        ('{"results": []}', "no 'd'"),
        ('{"d": {"results": {"userId": "a"}}}', "no 'results' list"),
    ],
)
def test_malformed_page_fails_the_read(
    mock: responses.RequestsMock,
    keypair: KeyPair,
    waits: Waits,
    cache: TokenCache,
    body: str,
    match: str,
) -> None:
    token_ok(mock)
    mock.get(USERS, json=payload("users_page1.json"))
    mock.get(USERS, body=body, content_type="application/json")
    pages = source(keypair, waits, cache).iter_people()
    next(pages)
    with pytest.raises(ConnectorDataError, match=match):
        next(pages)


def test_repeated_next_link_is_a_loop(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    page = payload("users_page1.json")
    mock.get(USERS, json=page)
    with pytest.raises(ConnectorDataError, match="paging loop"):
        list(source(keypair, waits, cache).iter_people())
    assert len(calls_to(mock, USERS)) == 2


def test_next_link_on_another_host_is_refused(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    page = payload("users_page1.json")
    page["d"]["__next"] = "https://evil.test/odata/v2/User?$skiptoken=x"
    mock.get(USERS, json=page)
    with pytest.raises(ConnectorDataError, match="another host"):
        list(source(keypair, waits, cache).iter_people())


def test_odata_error_envelope_becomes_code_and_value_without_pii(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(
        USERS,
        status=400,
        json={
            "error": {
                "code": "COE_BAD_REQUEST",
                "message": {"lang": "en-US", "value": "User 'cgrant' (carla@example.com) is bad"},
            }
        },
    )
    with pytest.raises(ConnectorDataError) as info:
        list(source(keypair, waits, cache).iter_people())
    text = str(info.value)
    assert "COE_BAD_REQUEST: User '…' (…) is bad" in text
    assert "cgrant" not in text
    assert "example.com" not in text


# --------------------------------------------------------------------------- skills


def test_skills_and_ratings(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock)
    mock.get(
        ODATA + "/SkillEntity",
        json={
            "d": {
                "results": [
                    {
                        "externalCode": "AI",
                        "name_en_US": "AI tools",
                        "name_de_DE": "KI-Werkzeuge",
                        "lastModifiedDateTime": "/Date(1717200000000+0000)/",
                    },
                    {"externalCode": "NONAME", "name_en_US": ""},
                ]
            }
        },
    )
    mock.get(
        ODATA + "/RatedSkillMapping",
        json={
            "d": {
                "results": [
                    {
                        "SkillProfile_externalCode": "jdoe",
                        "externalCode": "AI",
                        "skill": "AI",
                        "selfRatedLevel_defaultValue": "2",
                        "managerRatedLevel_defaultValue": "3",
                        "lastModifiedDateTime": "/Date(1717200000000+0000)/",
                    },
                    {
                        "SkillProfile_externalCode": "cgrant",
                        "externalCode": "AI",
                        "selfRatedLevel_en_US": "Expert",
                        "lastModifiedDateTime": "/Date(1717200000000+0000)/",
                    },
                    {
                        "SkillProfile_externalCode": "mleft",
                        "externalCode": "AI",
                        "selfRatedLevel_defaultValue": "9",
                        "lastModifiedDateTime": "/Date(1717200000000+0000)/",
                    },
                ]
            }
        },
    )
    connector = source(keypair, waits, cache)
    (skills,) = connector.iter_skills()
    assert skills[0] == SkillRecord(
        external_id="AI",
        name="AI tools",
        name_de="KI-Werkzeuge",
        modified_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert isinstance(skills[1], InvalidRecord)
    assert skills[1].entity == "skill"
    since = datetime(2024, 5, 1, tzinfo=UTC)
    (ratings,) = connector.iter_person_skills(since=since)
    assert ratings[0] == PersonSkillRecord(
        person_external_id="jdoe",
        skill_external_id="AI",
        level=3,  # the manager's rating wins over the self rating
        assessed_on=date(2024, 6, 1),
        modified_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert isinstance(ratings[1], PersonSkillRecord)
    assert ratings[1].level == 5
    assert isinstance(ratings[2], InvalidRecord)
    assert "level" in ratings[2].reason
    (call,) = calls_to(mock, ODATA + "/RatedSkillMapping")
    assert query(call)["$filter"] == "lastModifiedDateTime ge datetimeoffset'2024-05-01T00:00:00Z'"
    assert "paging" not in query(call)  # MDF entities: cursor paging only


def test_tenant_without_skills_management_yields_nothing(
    mock: responses.RequestsMock,
    keypair: KeyPair,
    waits: Waits,
    cache: TokenCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_ok(mock)
    mock.get(
        ODATA + "/SkillEntity",
        status=404,
        json={"error": {"code": "COE_RESOURCE_NOT_FOUND", "message": {"value": "no such set"}}},
    )
    with caplog.at_level(logging.WARNING):
        assert list(source(keypair, waits, cache).iter_skills()) == []
    assert "SkillEntity is not available" in caplog.text


def test_skills_can_be_switched_off(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    connector = source(keypair, waits, cache, skills=False)
    assert list(connector.iter_skills()) == []
    assert list(connector.iter_person_skills()) == []
    assert len(mock.calls) == 0

"""OData v2 reads of the SuccessFactors fake: paging, filters, select/expand, formats."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from fakes.successfactors import FakeTenant, create_app, serve_in_thread
from fakes.successfactors.metadata import DEFAULT_EDMX
from tests.fake_servers.conftest import BASE, basic_header, collect, get_json, relative

SELECT = "$select=userId,status,email,hireDate,lastModifiedDateTime,manager/userId&$expand=manager"


def _skiptoken(url: str) -> dict[str, Any]:
    token = re.search(r"\$skiptoken=([^&]+)", url)
    assert token is not None
    return json.loads(base64.b64decode(token.group(1)))


def _active_count(tenant: FakeTenant) -> int:
    return sum(1 for user in tenant.users_snapshot() if user["status"] in ("t", "T"))


def test_cursor_paging_follows_absolute_next_with_base64_skiptoken(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    first = get_json(sf, f"/odata/v2/User?$format=json&{SELECT}&$filter=status in 't','f'", auth)[
        "d"
    ]
    assert len(first["results"]) == 1000
    next_url = first["__next"]
    assert next_url.startswith(f"{BASE}/odata/v2/User?")
    assert "$select=userId" in next_url
    assert "$filter=status" in next_url
    assert _skiptoken(next_url) == {"startRow": 1000, "endRow": 2000}

    rows = collect(sf, f"/odata/v2/User?$format=json&{SELECT}&$filter=status in 't','f'", auth)
    ids = [row["userId"] for row in rows]
    assert len(ids) == len(set(ids)) == tenant.user_count == 2500


def test_snapshot_paging_is_stable_while_data_changes(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    url = "/odata/v2/User?$format=json&$select=userId&$filter=status in 't','f'&paging=snapshot"
    first = get_json(sf, url, auth)["d"]
    token = _skiptoken(first["__next"])
    assert token["startRow"] == 1000
    assert "snapshotId" in token
    # a user added after the first page does not shift the snapshot
    tenant.add_user({"userId": "000-new", "firstName": "New", "lastName": "Joiner"})
    rest = collect(sf, relative(first["__next"]), auth)
    ids = [row["userId"] for row in first["results"] + rest]
    assert len(ids) == len(set(ids)) == 2500
    assert "000-new" not in ids


def test_cursor_paging_reevaluates_the_query_between_pages(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    url = "/odata/v2/User?$format=json&$select=userId&$filter=status in 't','f'&customPageSize=500"
    order = tenant.user_ids()
    first = get_json(sf, url, auth)["d"]
    assert [row["userId"] for row in first["results"]] == order[:500]
    # a user removed from page one shifts every later row up: the next page skips one row
    tenant.remove_user(order[0])
    rest = collect(sf, relative(first["__next"]), auth)
    ids = {row["userId"] for row in first["results"] + rest}
    assert len(ids) == 2499
    assert order[500] not in ids


def test_duplicate_rows_trap_repeats_rows_of_the_previous_page(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    tenant.duplicate_rows_across_pages = True
    tenant.duplicate_rows = 3
    rows = collect(sf, "/odata/v2/User?$format=json&$select=userId&$filter=status in 't','f'", auth)
    ids = [row["userId"] for row in rows]
    assert len(set(ids)) == 2500
    assert len(ids) > 2500


def test_page_size_limits(sf: FlaskClient, auth: dict[str, str]) -> None:
    body = get_json(sf, "/odata/v2/User?$format=json&$select=userId&customPageSize=200", auth)["d"]
    assert len(body["results"]) == 200
    assert _skiptoken(body["__next"]) == {"startRow": 200, "endRow": 400}
    too_big = sf.get("/odata/v2/User?$format=json&customPageSize=1001", headers=auth)
    assert too_big.status_code == 400
    assert too_big.get_json()["error"]["code"] == "COE_INVALID_PAGE_SIZE"


def test_top_skip_inlinecount_and_count(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    body = get_json(
        sf, "/odata/v2/User?$format=json&$select=userId&$top=5&$skip=10&$inlinecount=allpages", auth
    )["d"]
    assert len(body["results"]) == 5
    assert "__next" not in body
    assert body["__count"] == "5"
    everyone = get_json(
        sf, "/odata/v2/User?$format=json&$select=userId&$inlinecount=allpages", auth
    )["d"]
    assert everyone["__count"] == str(_active_count(tenant))
    count = sf.get("/odata/v2/User/$count?$filter=status eq 'f'", headers=auth)
    assert count.status_code == 200
    assert int(count.get_data(as_text=True)) == tenant.user_count - _active_count(tenant)


def test_implicit_active_filter_and_the_or_trap(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    active = _active_count(tenant)
    assert 0 < active < tenant.user_count
    default = collect(sf, "/odata/v2/User?$format=json&$select=userId,status", auth)
    assert len(default) == active
    assert {row["status"] for row in default} <= {"t", "T"}

    explicit = collect(
        sf, "/odata/v2/User?$format=json&$select=userId&$filter=status in 't','f'", auth
    )
    assert len(explicit) == tenant.user_count

    department = next(
        u["department"] for u in tenant.users_snapshot() if u["status"] == "f" and u["department"]
    )
    quoted = department.replace("'", "''")
    with_and = collect(
        sf,
        f"/odata/v2/User?$format=json&$select=userId,status&$filter=department eq '{quoted}'",
        auth,
    )
    assert with_and
    assert all(row["status"] in ("t", "T") for row in with_and)
    # an "or" anywhere cancels the implicit filter: inactive users come back
    with_or = collect(
        sf,
        f"/odata/v2/User?$format=json&$select=userId,status"
        f"&$filter=department eq '{quoted}' or department eq 'nowhere'",
        auth,
    )
    assert len(with_or) > len(with_and)
    assert any(row["status"] == "f" for row in with_or)


def test_delta_filter_on_last_modified(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    stamp = f"{tenant.now() - timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}Z"
    touched = tenant.touch_random(share=0.01, seed=3)
    rows = collect(
        sf,
        "/odata/v2/User?$format=json&$select=userId,lastModifiedDateTime"
        f"&$filter=status in 't','f' and lastModifiedDateTime ge datetimeoffset'{stamp}'",
        auth,
    )
    assert {row["userId"] for row in rows} == set(touched)
    assert len(touched) == 25


def test_date_formats(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    tenant.add_user(
        {
            "userId": "d1",
            "firstName": "Dora",
            "lastName": "Date",
            "hireDate": "2014-01-06",
            "lastModifiedDateTime": "2020-04-16T21:21:22Z",
        }
    )
    row = get_json(
        sf, "/odata/v2/User('d1')?$format=json&$select=userId,hireDate,lastModifiedDateTime", auth
    )["d"]
    assert row["hireDate"] == "/Date(1388966400000)/"
    assert row["lastModifiedDateTime"] == "/Date(1587072082000+0000)/"
    assert row["__metadata"] == {"uri": f"{BASE}/odata/v2/User('d1')", "type": "SFOData.User"}


def test_manager_expanded_or_deferred(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    users = tenant.users_snapshot()
    ceo, report = users[0]["userId"], users[1]["userId"]
    expanded = get_json(
        sf, f"/odata/v2/User?$format=json&{SELECT}&$filter=userId eq '{report}'", auth
    )["d"]["results"][0]
    assert expanded["manager"]["userId"] == ceo
    assert expanded["manager"]["__metadata"]["uri"] == f"{BASE}/odata/v2/User('{ceo}')"
    top = get_json(sf, f"/odata/v2/User?$format=json&{SELECT}&$filter=userId eq '{ceo}'", auth)[
        "d"
    ]["results"][0]
    assert top["manager"] is None

    plain = get_json(sf, f"/odata/v2/User('{report}')?$format=json", auth)["d"]
    assert plain["manager"] == {"__deferred": {"uri": f"{BASE}/odata/v2/User('{report}')/manager"}}
    selected = get_json(
        sf, f"/odata/v2/User('{report}')?$format=json&$select=userId,manager", auth
    )["d"]
    assert set(selected) == {"__metadata", "userId", "manager"}
    assert "__deferred" in selected["manager"]

    via_nav = get_json(sf, f"/odata/v2/User('{report}')/manager?$format=json&$select=userId", auth)[
        "d"
    ]
    assert via_nav["userId"] == ceo
    assert sf.get(f"/odata/v2/User('{ceo}')/manager?$format=json", headers=auth).status_code == 204
    reports = collect(
        sf, f"/odata/v2/User('{ceo}')/directReports?$format=json&$select=userId", auth
    )
    assert report in {row["userId"] for row in reports}


def test_filter_on_navigation_and_functions(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    ceo = tenant.users_snapshot()[0]["userId"]
    rows = collect(
        sf, f"/odata/v2/User?$format=json&$select=userId&$filter=manager/userId eq '{ceo}'", auth
    )
    assert rows
    assert all(tenant.get_user(row["userId"])["manager"] == ceo for row in rows)
    first = tenant.users_snapshot()[3]["firstName"]
    rows = collect(
        sf,
        f"/odata/v2/User?$format=json&$select=userId,firstName&$filter=startswith(firstName,'{first[:2]}')",
        auth,
    )
    assert rows
    assert all(row["firstName"].startswith(first[:2]) for row in rows)
    rows = collect(
        sf,
        "/odata/v2/User?$format=json&$select=userId"
        "&$filter=(status eq 't' or status eq 'f') and not (status eq 'f')",
        auth,
    )
    assert len(rows) == sum(1 for u in tenant.users_snapshot() if u["status"] == "t")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("$filter=email eq 'a@b.c'", "COE_PROPERTY_NOT_FILTERABLE"),
        ("$filter=hireDate ge datetime'2020-01-01T00:00:00'", "COE_PROPERTY_NOT_FILTERABLE"),
        ("$filter=nosuchfield eq 'x'", "COE_PROPERTY_NOT_FOUND"),
        ("$select=userId,nosuch", "COE_PROPERTY_NOT_FOUND"),
        ("$expand=nosuchnav", "COE_PROPERTY_NOT_FOUND"),
        ("$select=manager/userId", "COE_BAD_REQUEST"),
        ("$filter=userId eq", "COE_BAD_REQUEST"),
        ("$filter=userId eq 'x' and", "COE_BAD_REQUEST"),
        ("asOfDate=2024-01-01&fromDate=2020-01-01", "COE_INVALID_EFFECTIVE_DATING"),
        ("$skiptoken=notbase64!!", "COE_INVALID_SKIPTOKEN"),
        ("$search=x", "COE_UNSUPPORTED_QUERY_OPTION"),
    ],
)
def test_bad_queries_get_the_odata_error_envelope(
    sf: FlaskClient, auth: dict[str, str], query: str, code: str
) -> None:
    response = sf.get(f"/odata/v2/User?$format=json&{query}", headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]["lang"] == "en-US"
    assert error["message"]["value"]


def test_non_filterable_can_be_switched_off(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    email = next(
        u["email"] for u in tenant.users_snapshot() if u.get("email") and u["status"] == "t"
    )
    tenant.enforce_filterable = False
    rows = collect(
        sf, f"/odata/v2/User?$format=json&$select=userId,email&$filter=email eq '{email}'", auth
    )
    assert [row["email"] for row in rows] == [email]


def test_effective_dating_parameters_are_accepted(sf: FlaskClient, auth: dict[str, str]) -> None:
    for query in ("asOfDate=2024-01-01", "fromDate=1900-01-01&toDate=9999-12-31"):
        assert (
            sf.get(f"/odata/v2/User?$format=json&$top=1&{query}", headers=auth).status_code == 200
        )


def test_unknown_entity_and_key(sf: FlaskClient, auth: dict[str, str]) -> None:
    missing = sf.get("/odata/v2/FormHeader?$format=json", headers=auth)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "COE_ENTITY_NOT_FOUND"
    assert sf.get("/odata/v2/User('nobody')?$format=json", headers=auth).status_code == 404


def test_atom_is_the_default_format(sf: FlaskClient, auth: dict[str, str]) -> None:
    response = sf.get("/odata/v2/User?$top=2&$select=userId,hireDate", headers=auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert b"<feed" in response.data
    assert b"d:userId" in response.data
    by_accept = sf.get("/odata/v2/User?$top=1", headers={**auth, "Accept": "application/json"})
    assert by_accept.headers["Content-Type"].startswith("application/json")
    error = sf.get("/odata/v2/User?$filter=nosuch eq 1", headers=auth)
    assert error.status_code == 400
    assert b"<error" in error.data


def test_inactive_users_are_reachable_by_key(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    inactive = next(u["userId"] for u in tenant.users_snapshot() if u["status"] == "f")
    assert (
        get_json(sf, f"/odata/v2/User('{inactive}')?$format=json&$select=status", auth)["d"][
            "status"
        ]
        == "f"
    )


def test_metadata_is_served_and_swappable(tenant: FakeTenant, auth: dict[str, str]) -> None:
    client = create_app(tenant).test_client()
    response = client.get("/odata/v2/$metadata", headers=auth)
    assert response.status_code == 200
    assert b'EntityType Name="User"' in response.data
    assert client.get("/odata/v2/$metadata").status_code == 401

    # a tenant whose EDMX makes "department" non-filterable and has no skills entities
    edmx = re.sub(
        r'(Name="department" [^>]*?)sap:filterable="true"',
        r'\1sap:filterable="false"',
        DEFAULT_EDMX.decode("utf-8"),
    )
    assert edmx != DEFAULT_EDMX.decode("utf-8")
    edmx = edmx.replace('<EntitySet Name="SkillEntity"', '<EntitySet Name="SkillEntityHidden"')
    swapped = create_app(tenant, edmx=edmx).test_client()
    rejected = swapped.get(
        "/odata/v2/User?$format=json&$filter=department eq 'Sales'", headers=auth
    )
    assert rejected.status_code == 400
    assert rejected.get_json()["error"]["code"] == "COE_PROPERTY_NOT_FILTERABLE"
    assert swapped.get("/odata/v2/SkillEntity?$format=json", headers=auth).status_code == 404
    assert swapped.get("/odata/v2/$metadata", headers=auth).data.decode() == edmx


def test_skills_entities(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    user = tenant.users_snapshot()[7]["userId"]
    tenant.add_skill("SK-AI", "Generative AI basics", name_de_DE="Grundlagen generativer KI")
    tenant.add_skill("SK-SOC", "Social media")
    tenant.rate_skill(user, "SK-AI", 3)
    tenant.rate_skill(user, "SK-SOC", 4, rater="manager")

    skills = collect(
        sf,
        "/odata/v2/SkillEntity?$format=json&$select=externalCode,name_en_US,name_de_DE,status",
        auth,
    )
    assert {s["externalCode"]: s["name_de_DE"] for s in skills}[
        "SK-AI"
    ] == "Grundlagen generativer KI"

    profile = get_json(
        sf,
        f"/odata/v2/SkillProfile('{user}')?$format=json&$expand=ratedSkills/skillNav,externalCodeNav"
        "&$select=externalCode,ratedSkills/skill,ratedSkills/selfRatedLevel_defaultValue,"
        "ratedSkills/managerRatedLevel_defaultValue,ratedSkills/skillNav/name_en_US,externalCodeNav/userId",
        auth,
    )["d"]
    rated = {row["skill"]: row for row in profile["ratedSkills"]["results"]}
    assert rated["SK-AI"]["selfRatedLevel_defaultValue"] == "3"
    assert rated["SK-SOC"]["managerRatedLevel_defaultValue"] == "4"
    assert rated["SK-AI"]["skillNav"]["name_en_US"] == "Generative AI basics"
    assert profile["externalCodeNav"]["userId"] == user

    deferred = get_json(sf, f"/odata/v2/SkillProfile('{user}')?$format=json", auth)["d"]
    assert "__deferred" in deferred["ratedSkills"]

    mappings = collect(
        sf,
        "/odata/v2/RatedSkillMapping?$format=json"
        "&$filter=lastModifiedDateTime ge datetimeoffset'2000-01-01T00:00:00Z'",
        auth,
    )
    assert {(m["SkillProfile_externalCode"], m["externalCode"]) for m in mappings} == {
        (user, "SK-AI"),
        (user, "SK-SOC"),
    }
    assert mappings[0]["__metadata"]["uri"].startswith(
        f"{BASE}/odata/v2/RatedSkillMapping(SkillProfile_externalCode='"
    )


def test_user_collection_rows_keep_every_field_json_safe(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    tenant.add_user(
        {"userId": "q'uote", "firstName": 'Zoë "Z"', "lastName": "O'Neil\u2028x", "status": "t"}
    )
    row = get_json(sf, "/odata/v2/User('q''uote')?$format=json", auth)["d"]
    assert row["firstName"] == 'Zoë "Z"'
    assert row["lastName"] == "O'Neil\u2028x"
    assert row["__metadata"]["uri"].endswith("User('q''uote')")


def test_orderby_in_list_and_null_literals(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    rows = collect(
        sf,
        "/odata/v2/User?$format=json&$select=userId,lastName&$top=50&$orderby=lastName desc,userId",
        auth,
    )
    names = [row["lastName"] for row in rows]
    assert names == sorted(names, reverse=True)
    ceo = tenant.user_ids()[0]
    top = collect(
        sf, "/odata/v2/User?$format=json&$select=userId&$filter=manager/userId eq null", auth
    )
    assert [row["userId"] for row in top] == [ceo]
    some = tenant.user_ids()[1:4]
    listed = collect(
        sf,
        "/odata/v2/User?$format=json&$select=userId"
        f"&$filter=userId in ({','.join(repr(uid) for uid in some)}) and tolower(status) eq 't'",
        auth,
    )
    assert {row["userId"] for row in listed} <= set(some)
    assert sf.get("/odata/v2/User?$format=json&$orderby=nosuch", headers=auth).status_code == 400


def test_concurrent_reads_while_data_changes(tenant: FakeTenant) -> None:
    tenant.base_url = None
    failures: list[str] = []
    with serve_in_thread(create_app(tenant)) as server:

        def reader() -> None:
            session = requests.Session()
            url: str | None = (
                f"{server.url}/odata/v2/User?$format=json&$select=userId&customPageSize=400"
            )
            while url:
                response = session.get(url, headers={"Authorization": basic_header()}, timeout=10)
                if response.status_code != 200:
                    failures.append(response.text[:200])
                    return
                url = response.json()["d"].get("__next")

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        for seed in range(20):
            tenant.touch_random(share=0.01, seed=seed)
            tenant.add_user({"userId": f"c{seed}"})
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []

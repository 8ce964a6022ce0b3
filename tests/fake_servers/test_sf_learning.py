"""SuccessFactors Learning in the fake: token server, external learning events, history."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from fakes.successfactors import FakeTenant
from fakes.successfactors.learning import (
    EVENTS_ADMIN_PATH,
    EVENTS_USER_PATH,
    HISTORY_PATH,
    LEARNING_TOKEN_PATH,
)
from tests.fake_servers.conftest import API_USER, CLIENT_ID, COMPANY, LEARNING_SECRET


def _learning_token(
    sf: FlaskClient,
    *,
    user_type: str = "admin",
    user_id: str = API_USER,
    secret: str = LEARNING_SECRET,
) -> Any:
    basic = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    return sf.post(
        LEARNING_TOKEN_PATH,
        json={
            "grant_type": "client_credentials",
            "scope": {
                "userId": user_id,
                "companyId": COMPANY,
                "userType": user_type,
                "resourceType": "learning_public_api",
            },
        },
        headers={"Authorization": f"Basic {basic}"},
    )


@pytest.fixture
def learning(sf: FlaskClient) -> dict[str, str]:
    response = _learning_token(sf)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture
def students(tenant: FakeTenant) -> list[str]:
    return [u["userId"] for u in tenant.users_snapshot() if u["status"] == "t"][:12]


def _event(student: str, index: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "description": f"Reverse-mentoring: GenAI basics [ref {index}]",
        "studentID": student,
        "completionDate": 1_700_000_000_000 + index,
        "completionTimeZoneID": "US/Eastern",
        "totalHours": 1.5,
        **extra,
    }


def test_learning_token_server(sf: FlaskClient) -> None:
    response = _learning_token(sf)
    assert response.status_code == 200
    body = response.get_json()
    assert body["expires_in"] == 1800
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert _learning_token(sf, secret="wrong").status_code == 401
    bad_scope = _learning_token(sf, user_type="root")
    assert bad_scope.status_code == 400
    assert bad_scope.get_json()["error"] == "invalid_scope"
    assert _learning_token(sf, user_id="ghost").status_code == 400


def test_external_learning_events_are_recorded(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    events = [_event(student, index) for index, student in enumerate(students[:10])]
    response = sf.post(EVENTS_ADMIN_PATH, json={"externalLearningEvents": events}, headers=learning)
    assert response.status_code == 200
    results = response.get_json()["value"]
    assert [r["success"] for r in results] == [True] * 10
    assert all(r["errorMessage"] is None for r in results)
    assert [e["studentID"] for e in tenant.learning_events] == students[:10]
    assert tenant.learning_events[0]["totalHours"] == 1.5


def test_more_than_ten_events_is_a_400(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    events = [_event(student, index) for index, student in enumerate(students[:11])]
    response = sf.post(EVENTS_ADMIN_PATH, json={"externalLearningEvents": events}, headers=learning)
    assert response.status_code == 400
    assert "maximum of 10" in response.get_json()["error"]["message"]
    assert tenant.learning_events == []


def test_per_record_failures(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    events = [
        _event(students[0], 0),
        _event("ghost", 1),
        {k: v for k, v in _event(students[1], 2).items() if k != "completionTimeZoneID"},
        _event(students[2], 3, completionTimeZoneID="Mars/Olympus"),
        _event(students[3], 4, description=" "),
    ]
    results = sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": events}, headers=learning
    ).get_json()["value"]
    assert [r["success"] for r in results] == [True, False, False, False, False]
    assert "ghost" in results[1]["errorMessage"]
    assert "completionTimeZoneID is required" in results[2]["errorMessage"]
    assert "Mars/Olympus" in results[3]["errorMessage"]
    assert len(tenant.learning_events) == 1

    tenant.learning_require_time_zone = False
    retry = sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": [events[2]]}, headers=learning
    )
    assert retry.get_json()["value"][0]["success"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"externalLearningEvents": []},
        {"events": []},
        {"externalLearningEvents": [{"description": "x", "courseID": "C1"}]},
        {"externalLearningEvents": [{"description": "x", "completionDate": "2024-01-01"}]},
        [],
    ],
)
def test_malformed_requests_are_400(sf: FlaskClient, learning: dict[str, str], body: Any) -> None:
    response = sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


def test_events_are_not_idempotent(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    body = {"externalLearningEvents": [_event(students[0])]}
    sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning)
    sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning)
    assert len(tenant.learning_events) == 2


def test_platform_token_is_accepted_on_learning(
    sf: FlaskClient, tenant: FakeTenant, bearer: dict[str, str], students: list[str]
) -> None:
    response = sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": [_event(students[0])]}, headers=bearer
    )
    assert response.status_code == 200
    assert response.get_json()["value"][0]["success"] is True


def test_expired_learning_token(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    real_clock = tenant.clock
    tenant.clock = lambda: real_clock() + timedelta(seconds=1801)
    response = sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": [_event(students[0])]}, headers=learning
    )
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "invalid_token",
        "error_description": "The token has expired.",
    }
    missing = sf.post(EVENTS_ADMIN_PATH, json={"externalLearningEvents": []})
    assert missing.status_code == 401


def test_user_endpoint_and_user_token(
    sf: FlaskClient, tenant: FakeTenant, students: list[str]
) -> None:
    token = _learning_token(sf, user_type="user", user_id=students[0]).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    no_student = {k: v for k, v in _event(students[0]).items() if k != "studentID"}
    results = sf.post(
        EVENTS_USER_PATH,
        json={"externalLearningEvents": [no_student, _event(students[1])]},
        headers=headers,
    ).get_json()["value"]
    assert [r["success"] for r in results] == [True, False]
    assert results[0]["studentID"] == students[0]
    admin_only = sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": [no_student]}, headers=headers
    )
    assert admin_only.status_code == 403


def test_learning_history(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    student = students[0]
    sf.post(
        EVENTS_ADMIN_PATH, json={"externalLearningEvents": [_event(student, 7)]}, headers=learning
    )
    response = sf.get(
        f"{HISTORY_PATH}?$filter=criteria/targetUserID eq '{student}'"
        " and criteria/maxNumberToRetrieve eq 10&$count=true",
        headers=learning,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["@odata.count"] == 1
    entry = body["value"][0]
    assert entry["description"] == "Reverse-mentoring: GenAI basics [ref 7]"
    assert entry["completionDate"] == 1_700_000_000_007
    assert entry["totalHours"] == 1.5
    assert entry["componentTypeID"] == "EXTERNAL"

    empty = sf.get(
        f"{HISTORY_PATH}?$filter=criteria/targetUserID eq '{students[1]}'", headers=learning
    )
    assert empty.status_code == 500
    assert empty.get_json() == {
        "error": {"code": "500", "message": "No search results for provided search criteria"}
    }
    tenant.empty_history_status = 200
    assert (
        sf.get(
            f"{HISTORY_PATH}?$filter=criteria/targetUserID eq '{students[1]}'", headers=learning
        ).get_json()["value"]
        == []
    )

    assert (
        sf.get(HISTORY_PATH, headers=learning).status_code == 400
    )  # admin token needs targetUserID
    not_eq = sf.get(f"{HISTORY_PATH}?$filter=contains(criteria/itemID,'x')", headers=learning)
    assert not_eq.status_code == 400
    ne = sf.get(f"{HISTORY_PATH}?$filter=criteria/targetUserID ne '{student}'", headers=learning)
    assert "must be 'eq'" in ne.get_json()["error"]["message"]


def test_rate_limit(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    tenant.learning_rate_limit_per_minute = 2
    body = {"externalLearningEvents": [_event(students[0])]}
    assert sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning).status_code == 200
    assert sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning).status_code == 200
    limited = sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["message"] == "API calling limit exceeded, Try later"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    real_clock = tenant.clock
    tenant.clock = lambda: real_clock() + timedelta(seconds=61)
    fresh = _learning_token(sf).get_json()["access_token"]
    assert (
        sf.post(
            EVENTS_ADMIN_PATH, json=body, headers={"Authorization": f"Bearer {fresh}"}
        ).status_code
        == 200
    )


def test_learning_outage_fault(
    sf: FlaskClient, tenant: FakeTenant, learning: dict[str, str], students: list[str]
) -> None:
    tenant.faults.learning_outage(times=2)
    body = {"externalLearningEvents": [_event(students[0])]}
    assert sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning).status_code == 503
    assert sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning).status_code == 503
    assert sf.post(EVENTS_ADMIN_PATH, json=body, headers=learning).status_code == 200
    assert len(tenant.learning_events) == 1

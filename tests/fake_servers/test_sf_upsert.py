"""``POST /odata/v2/upsert`` of the SuccessFactors fake: 200 with per-row results."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from fakes.successfactors import FakeTenant


@pytest.fixture
def skilled(tenant: FakeTenant) -> str:
    tenant.add_skill("SK-AI", "Generative AI basics")
    tenant.add_skill("SK-SOC", "Social media")
    return next(u["userId"] for u in tenant.users_snapshot() if u["status"] == "t")


def _rated(user: str, skill: str, level: str = "4", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "__metadata": {
            "uri": f"RatedSkillMapping(SkillProfile_externalCode='{user}',externalCode='{skill}')",
            "type": "SFOData.RatedSkillMapping",
        },
        "SkillProfile_externalCode": user,
        "externalCode": skill,
        "skill": skill,
        "selfRatedLevel_defaultValue": level,
        "status": "A",
    }
    row.update(extra)
    return row


def _upsert(sf: FlaskClient, auth: dict[str, str], payload: Any) -> list[dict[str, Any]]:
    response = sf.post("/odata/v2/upsert?$format=json", json=payload, headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    results: list[dict[str, Any]] = response.get_json()["d"]
    return results


def test_upsert_stores_rated_skill_mappings(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str], skilled: str
) -> None:
    results = _upsert(sf, auth, [_rated(skilled, "SK-AI"), _rated(skilled, "SK-SOC", "2")])
    prefix = (
        f"RatedSkillMapping/SkillProfile_externalCode={skilled},RatedSkillMapping/externalCode="
    )
    assert results == [
        {
            "key": prefix + "SK-AI",
            "status": "OK",
            "editStatus": "UPSERTED",
            "message": None,
            "index": 0,
            "httpCode": 204,
            "inlineResults": None,
        },
        {
            "key": prefix + "SK-SOC",
            "status": "OK",
            "editStatus": "UPSERTED",
            "message": None,
            "index": 1,
            "httpCode": 204,
            "inlineResults": None,
        },
    ]
    stored = tenant.rated_skill_mappings[(skilled, "SK-AI")]
    assert stored["selfRatedLevel_defaultValue"] == "4"
    assert stored["lastModifiedBy"] == "sfadmin"
    assert isinstance(stored["lastModifiedDateTime"], int)

    # a second upsert merges: the level changes, the required status is not needed again
    update = _rated(skilled, "SK-AI", "5")
    del update["status"]
    assert _upsert(sf, auth, update)[0]["status"] == "OK"
    assert tenant.rated_skill_mappings[(skilled, "SK-AI")]["selfRatedLevel_defaultValue"] == "5"
    assert tenant.rated_skill_mappings[(skilled, "SK-AI")]["status"] == "A"


def test_skill_nav_link_and_missing_external_code(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str], skilled: str
) -> None:
    row = {
        "__metadata": {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"},
        "SkillProfile_externalCode": skilled,
        "skillNav": {"__metadata": {"uri": "SkillEntity('SK-SOC')"}},
        "selfRatedLevel_defaultValue": "3",
        "status": "A",
    }
    first = _upsert(sf, auth, row)[0]
    assert first["status"] == "OK"
    again = _upsert(sf, auth, {**row, "selfRatedLevel_defaultValue": "4"})[0]
    assert again["key"] == first["key"]  # merged into the row of the same skill
    rows = [r for (profile, _), r in tenant.rated_skill_mappings.items() if profile == skilled]
    assert len(rows) == 1
    assert rows[0]["skill"] == "SK-SOC"
    assert rows[0]["selfRatedLevel_defaultValue"] == "4"


@pytest.mark.parametrize(
    ("change", "http_code", "fragment"),
    [
        ({"status": None}, 400, "Required property status is missing"),
        ({"nosuch": "x"}, 400, "invalid property names: nosuch"),
        ({"selfRatedLevel_defaultValue": 4}, 400, "expected Edm.String"),
        ({"selfRatedLevel_defaultValue": "x" * 256}, 400, "exceeds the maximum length"),
        (
            {"skill": "SK-GONE", "externalCode": "SK-GONE"},
            500,
            "SkillEntity SK-GONE does not exist",
        ),
        ({"SkillProfile_externalCode": "ghost"}, 500, "user ghost does not exist"),
        ({"externalCode": None}, 400, "Required property externalCode"),
    ],
)
def test_invalid_rows_fail_inside_a_200(
    sf: FlaskClient,
    tenant: FakeTenant,
    auth: dict[str, str],
    skilled: str,
    change: dict[str, Any],
    http_code: int,
    fragment: str,
) -> None:
    bad = _rated(skilled, "SK-AI")
    bad["__metadata"] = {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"}
    for name, value in change.items():
        if value is None:
            bad.pop(name, None)
            if name == "externalCode":
                bad.pop("skill")
        else:
            bad[name] = value
    results = _upsert(sf, auth, [bad, _rated(skilled, "SK-SOC")])
    assert results[0]["status"] == "ERROR"
    assert results[0]["editStatus"] is None
    assert results[0]["httpCode"] == http_code
    assert fragment in results[0]["message"]
    assert results[0]["message"].endswith("with the index 0")
    assert results[1]["status"] == "OK"
    assert (skilled, "SK-AI") not in tenant.rated_skill_mappings
    assert (skilled, "SK-SOC") in tenant.rated_skill_mappings


def test_injected_row_errors(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str], skilled: str
) -> None:
    tenant.faults.upsert_row_error(
        user_id_or_key=skilled, message="Temporary lock on the profile", http_code=500
    )
    results = _upsert(sf, auth, [_rated(skilled, "SK-AI"), _rated(skilled, "SK-SOC")])
    assert [r["status"] for r in results] == ["ERROR", "OK"]
    assert results[0]["message"] == "Temporary lock on the profile with the index 0"
    assert results[0]["httpCode"] == 500
    # consumed: the retry succeeds
    assert _upsert(sf, auth, _rated(skilled, "SK-AI"))[0]["status"] == "OK"

    tenant.faults.upsert_row_error(
        user_id_or_key="externalCode=SK-SOC", message="Bad level", http_code=400, times=2
    )
    results = _upsert(sf, auth, [_rated(skilled, "SK-SOC"), _rated(skilled, "SK-SOC")])
    assert [r["httpCode"] for r in results] == [400, 400]


def test_competency_rating_is_read_only(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    user = tenant.user_ids()[3]
    rating_id = tenant.add_competency_rating(
        user_id=user, competency_id="C1", name="Coaching", rating=3.0
    )
    result = _upsert(
        sf,
        auth,
        {
            "__metadata": {
                "uri": f"CompetencyRating({rating_id}L)",
                "type": "SFOData.CompetencyRating",
            },
            "rating": 4.0,
        },
    )[0]
    assert result["status"] == "ERROR"
    assert "CompetencyRating source is not allowed to update" in result["message"]
    rows = sf.get("/odata/v2/CompetencyRating?$format=json", headers=auth).get_json()["d"][
        "results"
    ]
    assert rows[0]["rating"] == 3.0
    assert rows[0]["id"] == str(rating_id)


def test_user_upsert_updates_and_creates(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    user = tenant.user_ids()[10]
    before = tenant.get_user(user)
    assert before is not None
    results = _upsert(
        sf,
        auth,
        [
            {
                "__metadata": {"uri": f"User('{user}')", "type": "SFOData.User"},
                "userId": user,
                "jobTitle": "Mentor",
            },
            {"__metadata": {"uri": "User('new1')"}, "userId": "new1", "firstName": "Nia"},
            {
                "__metadata": {"uri": "User('new2')"},
                "userId": "new2",
                "status": "t",
                "manager": {"__metadata": {"uri": f"User('{user}')"}},
            },
        ],
    )
    assert [r["status"] for r in results] == ["OK", "ERROR", "OK"]
    assert "Required property status" in results[1]["message"]
    after = tenant.get_user(user)
    assert after is not None
    assert after["jobTitle"] == "Mentor"
    assert after["lastModifiedDateTime"] >= before["lastModifiedDateTime"]
    assert tenant.get_user("new2")["manager"] == user  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (
            {"__metadata": {"uri": "FormHeader(1)", "type": "SFOData.FormHeader"}},
            "COE_ENTITY_NOT_FOUND",
        ),
        ({"userId": "x"}, "COE_BAD_REQUEST"),
        ([], "COE_BAD_REQUEST"),
    ],
)
def test_request_level_errors_are_400(
    sf: FlaskClient, auth: dict[str, str], payload: Any, code: str
) -> None:
    response = sf.post("/odata/v2/upsert?$format=json", json=payload, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_upsert_body_must_be_json(sf: FlaskClient, auth: dict[str, str]) -> None:
    response = sf.post(
        "/odata/v2/upsert?$format=json",
        data="<xml/>",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_upsert_needs_auth(sf: FlaskClient) -> None:
    assert sf.post("/odata/v2/upsert?$format=json", json=[]).status_code == 401

"""Fault injection, admin endpoints, the live server and the command line of the fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from fakes.successfactors import FakeTenant, create_app, serve_in_thread
from fakes.successfactors.__main__ import build_tenant, parser
from tests.fake_servers.conftest import API_USER, PASSWORD, basic_header

USERS = "/odata/v2/User?$format=json&$select=userId&$top=5"


def test_429_with_retry_after(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    tenant.faults.add(path_prefix="/odata/v2/User", status=429, retry_after=2)
    limited = sf.get(USERS, headers=auth)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.get_json()["error"]["code"] == "COE_TOO_MANY_REQUESTS"
    assert sf.get(USERS, headers=auth).status_code == 200


def test_503_once_then_ok(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    tenant.faults.add(path_prefix="/odata/v2/User", status=503, times=1)
    down = sf.get(USERS, headers=auth)
    assert down.status_code == 503
    assert down.headers["Content-Type"].startswith("text/html")
    assert b"maintenance" in down.data
    assert sf.get(USERS, headers=auth).status_code == 200


def test_metadata_being_generated(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    tenant.faults.metadata_generating(times=1)
    response = sf.get(USERS, headers=auth)
    assert response.status_code == 500
    assert "metadata is being generated" in response.get_json()["error"]["message"]["value"]
    assert sf.get(USERS, headers=auth).status_code == 200


def test_malformed_page(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    tenant.faults.add(path_prefix="/odata/v2/User", malformed=True)
    broken = sf.get(USERS, headers=auth)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.data)
    assert json.loads(sf.get(USERS, headers=auth).data)["d"]["results"]


def test_fault_scoping_by_path_method_and_custom_body(
    sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]
) -> None:
    tenant.faults.add(
        path_prefix="/odata/v2/upsert", status=500, method="POST", body={"custom": True}, times=None
    )
    assert sf.get(USERS, headers=auth).status_code == 200
    for _ in range(2):
        failing = sf.post("/odata/v2/upsert?$format=json", json=[], headers=auth)
        assert failing.status_code == 500
        assert failing.get_json() == {"custom": True}
    assert len(tenant.faults.pending) == 1
    tenant.faults.clear()
    assert tenant.faults.pending == []


def test_delay_fault(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    rule = tenant.faults.add(path_prefix="/odata/v2/User", delay=0.01)
    assert sf.get(USERS, headers=auth).status_code == 200
    assert rule.hits == 1
    assert tenant.faults.pending == []


def test_fault_validation() -> None:
    tenant = FakeTenant()
    with pytest.raises(ValueError, match="needs a status"):
        tenant.faults.add(path_prefix="/x")
    with pytest.raises(ValueError, match="times"):
        tenant.faults.add(status=500, times=0)


def test_admin_endpoints(sf: FlaskClient, tenant: FakeTenant, auth: dict[str, str]) -> None:
    touched = sf.post("/_fake/touch", json={"share": 0.004, "seed": 5}).get_json()["userIds"]
    assert len(touched) == 10

    added = sf.post(
        "/_fake/users", json={"add": {"userId": "x1", "firstName": "Xi", "status": "t"}}
    )
    assert added.get_json() == {"ok": True, "userIds": ["x1"]}
    sf.post("/_fake/users", json={"update": {"userId": "x1", "status": "f"}})
    assert sf.get("/_fake/users/x1").get_json()["status"] == "f"
    sf.post("/_fake/users", json={"userId": "x2", "firstName": "Yo"})
    sf.post("/_fake/users", json={"userId": "x2", "lastName": "Yu"})
    assert tenant.get_user("x2")["lastName"] == "Yu"  # type: ignore[index]
    sf.post("/_fake/users", json={"remove": "x2"})
    assert sf.get("/_fake/users/x2").status_code == 404
    assert sf.post("/_fake/users", json={"add": {"firstName": "no id"}}).status_code == 400

    sf.post("/_fake/faults", json={"path_prefix": "/odata/v2/User", "status": 503, "times": 1})
    sf.post(
        "/_fake/faults",
        json={"kind": "upsert_row_error", "user_id_or_key": "x1", "message": "boom"},
    )
    assert len(sf.get("/_fake/faults").get_json()["value"]) == 2
    assert sf.get(USERS, headers=auth).status_code == 503
    assert sf.post("/_fake/faults", json={"kind": "nope"}).status_code == 400
    sf.delete("/_fake/faults")
    assert sf.get("/_fake/faults").get_json()["value"] == []

    settings = sf.post(
        "/_fake/settings", json={"basic_auth_enabled": False, "duplicate_rows": 2}
    ).get_json()
    assert settings["basic_auth_enabled"] is False
    assert tenant.duplicate_rows == 2
    assert sf.get(USERS, headers=auth).status_code == 403
    assert sf.post("/_fake/settings", json={"company_id": "X"}).status_code == 400

    sf.post(
        "/_fake/skills",
        json={
            "skills": [{"externalCode": "SK1", "name_en_US": "Prompting"}],
            "ratings": [{"userId": touched[0], "skill": "SK1", "level": 2}],
        },
    )
    assert (
        sf.get("/_fake/rated-skills").get_json()["value"][0]["selfRatedLevel_defaultValue"] == "2"
    )
    assert sf.get("/_fake/learning-events").get_json() == {"value": []}
    sf.post("/_fake/learning-history", json={"studentID": touched[0], "title": "Old course"})
    assert tenant.learning_history(touched[0])[0]["title"] == "Old course"
    assert sf.post("/_fake/expire-tokens").get_json()["expired"] == 0

    stats = sf.get("/_fake/stats").get_json()
    assert stats["requests"]["/odata/v2/User"] >= 2
    assert stats["users"] == tenant.user_count
    assert stats["recent"][-1]["path"] == "/_fake/stats"
    sf.delete("/_fake/stats")
    assert sf.get("/_fake/stats").get_json()["total"] == 1


def test_admin_endpoints_skip_faults(sf: FlaskClient, tenant: FakeTenant) -> None:
    tenant.faults.add(path_prefix="/", status=503, times=None)
    assert sf.get("/_fake/stats").status_code == 200


def test_live_server_over_http(tenant: FakeTenant) -> None:
    tenant.base_url = None
    with serve_in_thread(create_app(tenant), host="127.0.0.1", port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        session = requests.Session()
        response = session.get(
            f"{server.url}/odata/v2/User?$format=json&$select=userId&customPageSize=1000",
            headers={"Authorization": basic_header()},
            timeout=10,
        )
        assert response.status_code == 200
        body = response.json()["d"]
        # URLs follow the request's host when the tenant has no base_url
        assert body["__next"].startswith(f"{server.url}/odata/v2/User?")
        assert "JSESSIONID" in session.cookies
        second = session.get(body["__next"], headers={"Authorization": basic_header()}, timeout=10)
        assert second.status_code == 200
        assert len(second.json()["d"]["results"]) == 1000


def test_cli_builds_the_tenant(tmp_path: Path, key_pair: tuple[bytes, bytes]) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_bytes(key_pair[1])
    dataset = tmp_path / "people.json"
    dataset.write_text(
        json.dumps(
            {
                "users": [
                    {
                        "userId": "boss",
                        "firstName": "Bo",
                        "lastName": "Ss",
                        "hireDate": "/Date(1388966400000)/",
                    },
                    {
                        "userId": "kid",
                        "firstName": "Ki",
                        "lastName": "D",
                        "manager": "boss",
                        "status": "t",
                    },
                ],
                "skills": [{"externalCode": "SK1", "name_en_US": "Prompting"}],
                "ratings": [{"userId": "kid", "skill": "SK1", "level": 4}],
            }
        ),
        encoding="utf-8",
    )
    args = parser().parse_args(
        [
            "--users",
            "50",
            "--seed",
            "3",
            "--company-id",
            "ACME",
            "--client-id",
            "tandem",
            "--certificate",
            str(cert),
            "--dataset",
            str(dataset),
            "--password",
            PASSWORD,
            "--learning-secret",
            "ls",
            "--skills",
        ]
    )
    tenant = build_tenant(args)
    assert tenant.user_count == 52
    assert tenant.get_user("kid")["manager"] == "boss"  # type: ignore[index]
    assert tenant.get_user("boss")["hireDate"] == 1388966400000  # type: ignore[index]
    assert tenant.client("tandem") is not None
    assert tenant.check_password(API_USER, PASSWORD)
    assert tenant.check_learning_client("tandem", "ls")
    assert ("kid", "SK1") in tenant.rated_skill_mappings
    client = create_app(tenant).test_client()
    response = client.get(
        "/odata/v2/User('kid')?$format=json&$expand=manager",
        headers={"Authorization": basic_header()},
    )
    assert response.get_json()["d"]["manager"]["userId"] == "boss"


def test_cli_without_password_disables_basic_auth() -> None:
    tenant = build_tenant(parser().parse_args(["--users", "3"]))
    assert tenant.basic_auth_enabled is False
    assert tenant.is_known_login("sfadmin")


def test_load_builds_or_extends_a_tenant(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([{"userId": "a", "firstName": "A"}]), encoding="utf-8")
    built = FakeTenant.load(path, company_id="DEMO")
    assert isinstance(built, FakeTenant)
    assert built.company_id == "DEMO"
    assert built.user_ids() == ["a"]
    other = FakeTenant()
    other.add_user({"userId": "z"})
    other.load(path)
    assert other.user_ids() == ["z", "a"]
    with pytest.raises(ValueError, match="exists already"):
        other.load(path)
    with pytest.raises(ValueError, match="dataset"):
        other.load_dataset({"users": "nope"})


def _round_trip(tenant: FakeTenant) -> dict[str, Any]:
    copy = FakeTenant()
    copy.load_dataset(tenant.to_dataset())
    return copy.to_dataset()


def test_dataset_round_trip(tenant: FakeTenant) -> None:
    tenant.generate_skills(seed=1, rated_share=0.01)
    assert _round_trip(tenant) == tenant.to_dataset()

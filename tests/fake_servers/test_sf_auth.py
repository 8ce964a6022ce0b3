"""Authentication of the SuccessFactors fake: SAML bearer tokens, expiry, basic auth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree

from fakes.successfactors import FakeTenant
from fakes.successfactors.saml import SAML_BEARER
from tests.fake_servers.conftest import (
    API_USER,
    CLIENT_ID,
    COMPANY,
    SAML_NS,
    basic_header,
    build_assertion,
)


def _token(sf: FlaskClient, signed: str, **overrides: str) -> Any:
    form = {
        "client_id": CLIENT_ID,
        "company_id": COMPANY,
        "grant_type": SAML_BEARER,
        "assertion": signed,
    }
    form.update(overrides)
    return sf.post("/oauth/token", data=form)


def test_valid_assertion_gets_a_bearer_token_that_opens_odata(
    sf: FlaskClient, tenant: FakeTenant, assertion: Callable[..., str]
) -> None:
    response = _token(sf, assertion())
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    users = sf.get("/odata/v2/User?$format=json&$top=1&$select=userId", headers=headers)
    assert users.status_code == 200
    assert sf.get("/oauth/validate", headers=headers).get_json()["user_id"] == API_USER


def test_issuer_template_without_api_key_and_legacy_sha1_are_accepted(
    sf: FlaskClient, assertion: Callable[..., str]
) -> None:
    # the successfactors-auth template: Issuer = client id, no api_key attribute, RSA-SHA1
    legacy = assertion(client_id=None, issuer=CLIENT_ID, algorithm="rsa-sha1", digest="sha1")
    assert _token(sf, legacy).status_code == 200


def test_a_real_user_may_be_the_name_id_and_use_username_works(
    sf: FlaskClient, tenant: FakeTenant, assertion: Callable[..., str]
) -> None:
    user = next(u for u in tenant.users_snapshot() if u["status"] == "t")
    assert _token(sf, assertion(user_id=user["userId"])).status_code == 200
    by_name = assertion(user_id=user["username"].upper(), extra_attributes={"use_username": "true"})
    assert _token(sf, by_name).status_code == 200


def _tamper_name_id(root: etree._Element) -> None:
    name_id = root.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
    assert name_id is not None
    name_id.text = "someone-else"


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"sign": False}, 401, "Unable to verify the signature"),
        ({"tamper": _tamper_name_id}, 401, "Unable to verify the signature"),
        ({"audience": "https://evil.example"}, 401, "audience"),
        ({"now": datetime.now(UTC) - timedelta(hours=1)}, 401, "expired"),
        ({"not_before": datetime.now(UTC) + timedelta(hours=1)}, 401, "not yet valid"),
        ({"client_id": "someone-else"}, 401, "api_key"),
        ({"client_id": None, "issuer": "www.successfactors.com"}, 401, "Issuer"),
        ({"user_id": "ghost"}, 401, "invalid user"),
    ],
)
def test_bad_assertions_are_refused(
    sf: FlaskClient,
    assertion: Callable[..., str],
    kwargs: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    response = _token(sf, assertion(**kwargs))
    assert response.status_code == status
    body = response.get_json()
    assert fragment.lower() in body["error_description"].lower()
    assert body["errorMessage"] == body["error_description"]
    assert body["errorHttpCode"] == str(status)


def test_assertion_signed_with_another_key_is_refused(
    sf: FlaskClient, other_key_pair: tuple[bytes, bytes]
) -> None:
    forged = build_assertion(*other_key_pair)
    response = _token(sf, forged)
    assert response.status_code == 401
    assert "key pairs match the client ID" in response.get_json()["error_description"]


def test_inactive_user_cannot_log_in(
    sf: FlaskClient, tenant: FakeTenant, assertion: Callable[..., str]
) -> None:
    inactive = next(u["userId"] for u in tenant.users_snapshot() if u["status"] == "f")
    assert _token(sf, assertion(user_id=inactive)).status_code == 401


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_id": "unknown"}, 401, "invalid_client"),
        ({"company_id": "OTHER"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"assertion": ""}, 400, "invalid_request"),
        ({"assertion": "%%%not-base64%%%"}, 400, "invalid_request"),
        ({"assertion": "PG5vdC1zYW1sLz4="}, 400, "invalid_grant"),  # <not-saml/>
    ],
)
def test_bad_token_requests(
    sf: FlaskClient,
    assertion: Callable[..., str],
    overrides: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = _token(sf, assertion(), **overrides)
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_bound_client_only_accepts_its_user(
    sf: FlaskClient,
    tenant: FakeTenant,
    key_pair: tuple[bytes, bytes],
    assertion: Callable[..., str],
) -> None:
    tenant.register_client(
        client_id=CLIENT_ID, certificate_pem=key_pair[1], user_id=API_USER, bind_to_user=True
    )
    other = next(u["userId"] for u in tenant.users_snapshot() if u["status"] == "t")
    assert _token(sf, assertion(user_id=other)).status_code == 401
    assert _token(sf, assertion()).status_code == 200


def test_expired_token_answers_401_token_has_expired(
    sf: FlaskClient, tenant: FakeTenant, bearer: dict[str, str]
) -> None:
    assert sf.get("/odata/v2/User?$format=json&$top=1", headers=bearer).status_code == 200
    real_clock = tenant.clock
    tenant.clock = lambda: real_clock() + timedelta(seconds=3601)
    response = sf.get("/odata/v2/User?$format=json&$top=1", headers=bearer)
    assert response.status_code == 401
    assert "token has expired" in response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_lifetime_is_configurable(
    tenant: FakeTenant, assertion: Callable[..., str], sf: FlaskClient
) -> None:
    tenant.token_lifetime = 120
    assert _token(sf, assertion()).get_json()["expires_in"] == 120


def test_expire_tokens_helper(sf: FlaskClient, tenant: FakeTenant, bearer: dict[str, str]) -> None:
    assert tenant.expire_tokens() >= 1
    assert sf.get("/odata/v2/User?$format=json&$top=1", headers=bearer).status_code == 401


def test_basic_auth(sf: FlaskClient, tenant: FakeTenant) -> None:
    ok = sf.get("/odata/v2/User?$format=json&$top=1", headers={"Authorization": basic_header()})
    assert ok.status_code == 200

    wrong = sf.get(
        "/odata/v2/User?$format=json&$top=1",
        headers={"Authorization": basic_header(password="nope")},
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "LGN0015"
    other_company = sf.get(
        "/odata/v2/User?$format=json&$top=1",
        headers={"Authorization": basic_header(company="OTHER")},
    )
    assert other_company.status_code == 401

    tenant.basic_auth_enabled = False
    disabled = sf.get(
        "/odata/v2/User?$format=json&$top=1", headers={"Authorization": basic_header()}
    )
    assert disabled.status_code == 403
    error = disabled.get_json()["error"]
    assert error["code"] == "LGN0010"
    assert "Basic Authentication is disabled for company ACME" in error["message"]["value"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer not-a-token", "Basic !!!", "Digest abc"],
)
def test_odata_without_valid_credentials_is_401(sf: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = sf.get("/odata/v2/User?$format=json", headers=headers)
    assert response.status_code == 401
    assert "Authentication failed" in response.get_json()["error"]["message"]["value"]


def test_learning_token_does_not_open_odata(sf: FlaskClient, tenant: FakeTenant) -> None:
    token = tenant.issue_token(kind="learning", client_id=CLIENT_ID, user_id=API_USER)
    response = sf.get(
        "/odata/v2/User?$format=json", headers={"Authorization": f"Bearer {token.value}"}
    )
    assert response.status_code == 401

"""GET /lti/jwks and GET /lti/config.json."""

from __future__ import annotations

from typing import Any

from flask import Flask
from jwcrypto.jwk import JWK
from sqlalchemy import func, select

from lti.db import get_session
from lti.secrets import get_secret_box
from plugin.models import ToolKey
from plugin.services import lti_registrations as regs

BASE = "https://tandem.example.com"


def key_count(app: Flask) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(ToolKey)) or 0


def test_jwks_creates_the_first_key_and_serves_it(app: Flask, client: Any) -> None:
    assert key_count(app) == 0
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = response.get_json()
    assert list(body) == ["keys"]
    (key,) = body["keys"]
    assert set(key) == {"kty", "e", "n", "alg", "use", "kid"}
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert JWK(**key).thumbprint() == key["kid"]
    assert "d" not in key
    assert "p" not in key
    assert key_count(app) == 1  # committed with the response

    assert client.get("/lti/jwks").get_json() == body  # no second key


def test_jwks_publishes_current_and_previous(app: Flask, client: Any) -> None:
    with app.app_context():
        session = get_session()
        first = regs.ensure_tool_key(session, get_secret_box())
        second = regs.rotate_tool_keys(session, get_secret_box(), actor="t")
        third = regs.rotate_tool_keys(session, get_secret_box(), actor="t")
        kids = (first.kid, second.kid, third.kid)
        session.commit()
    body = client.get("/lti/jwks").get_json()
    assert [k["kid"] for k in body["keys"]] == [kids[2], kids[1]]


def test_jwks_is_get_only(client: Any) -> None:
    assert client.post("/lti/jwks").status_code == 405


def test_config_json_is_built_from_the_base_url(app: Flask, client: Any) -> None:
    app.config["BASE_URL"] = BASE + "/"
    assert key_count(app) == 0
    response = client.get("/lti/config.json")
    assert response.status_code == 200
    data = response.get_json()
    assert key_count(app) == 1

    launch = f"{BASE}/lti/launch"
    assert data["title"] == "Tandem"
    assert data["description"]
    assert data["domain"] == "tandem.example.com"
    assert data["initiate_login_uri"] == f"{BASE}/lti/login"
    assert data["redirect_uris"] == [launch]
    assert data["target_link_uri"] == launch
    assert data["deep_linking_url"] == launch
    assert data["jwks_uri"] == f"{BASE}/lti/jwks"
    assert data["scopes"] == [
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    ]
    assert data["claims"] == ["iss", "sub", "name", "given_name", "family_name", "email"]
    assert [m["type"] for m in data["messages"]] == [
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    ]
    assert {m["target_link_uri"] for m in data["messages"]} == {launch}
    assert data["custom_parameters"] == {
        "person_sourcedid": "$Person.sourcedId",
        "user_username": "$User.username",
    }

    jwks = client.get("/lti/jwks").get_json()
    assert data["kid"] == jwks["keys"][0]["kid"]
    assert data["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert JWK.from_pem(data["public_key_pem"].encode()).thumbprint() == data["kid"]
    assert "PRIVATE" not in response.get_data(as_text=True)

    fields = data["moodle"]["fields"]
    assert fields["Tool URL"] == launch
    assert fields["LTI version"] == "LTI 1.3"
    assert fields["Public key type"] == "Keyset URL"
    assert fields["Public keyset"] == f"{BASE}/lti/jwks"
    assert fields["Initiate login URL"] == f"{BASE}/lti/login"
    assert fields["Redirection URI(s)"] == launch
    assert fields["Content Selection URL"] == launch
    assert fields["Custom parameters"] == (
        "person_sourcedid=$Person.sourcedId\nuser_username=$User.username"
    )
    assert any("tandem lti add-platform" in note for note in data["moodle"]["notes"])


def test_config_json_follows_the_configured_base_url(app: Flask, client: Any) -> None:
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    data = client.get("/lti/config.json").get_json()
    assert data["initiate_login_uri"] == "http://127.0.0.1:5000/lti/login"
    assert data["domain"] == "127.0.0.1:5000"

"""LTI Dynamic Registration 1.0: ``tandem lti registration-url`` and ``GET /lti/register/<t>``.

The platform is a ``responses`` stub shaped like Moodle (``mod/lti/openid-configuration.php``
and ``openid-registration.php``: deployment id in the answer) or like Canvas (spec-style
``messages_supported`` objects, no deployment id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti.db import get_session
from lti.lti_views import CUSTOM_PARAMETERS, SCOPES
from plugin.db import utcnow
from plugin.errors import NotFound, ValidationError
from plugin.models import (
    AuditEvent,
    LtiCacheEntry,
    LtiDeployment,
    LtiDeploymentStatus,
    LtiRegistration,
    Organization,
)
from plugin.services import lti_dynreg as dynreg
from plugin.services import lti_registrations as regs
from plugin.services import organizations

BASE = "https://tandem.example.com"
LAUNCH = f"{BASE}/lti/launch"
MOODLE = "https://moodle.acme.example"
MOODLE_CONFIG = f"{MOODLE}/mod/lti/openid-configuration.php"
MOODLE_REGISTER = f"{MOODLE}/mod/lti/openid-registration.php"
CANVAS = "https://canvas.acme.example"
CANVAS_CONFIG = f"{CANVAS}/api/lti/security/openid-configuration"
CANVAS_REGISTER = f"{CANVAS}/api/lti/registrations"
REG_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJBYkMxMjMiLCJzY29wZSI6InJlZyJ9.c2ln"

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_CONF = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONF = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def moodle_config(**override: Any) -> dict[str, Any]:
    """What Moodle 4.x serves at mod/lti/openid-configuration.php (lti.md §3)."""
    conf: dict[str, Any] = {
        "issuer": MOODLE,
        "token_endpoint": f"{MOODLE}/mod/lti/token.php",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": f"{MOODLE}/mod/lti/certs.php",
        "authorization_endpoint": f"{MOODLE}/mod/lti/auth.php",
        "registration_endpoint": MOODLE_REGISTER,
        "scopes_supported": [
            "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome",
            AGS + "lineitem.readonly",
            AGS + "result.readonly",
            AGS + "score",
            AGS + "lineitem",
            NRPS,
            "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting",
            "openid",
        ],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        PLATFORM_CONF: {
            "product_family_code": "moodle",
            "version": "4.5.2 (Build: 20250210)",
            "messages_supported": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
            "placements": ["AddContentMenu"],
            "variables": ["User.id", "User.username", "Person.sourcedId"],
        },
    }
    conf.update(override)
    return conf


def moodle_answer(client_id: str = "AbC123xyz", deployment_id: str = "7") -> dict[str, Any]:
    """What registration_helper::config_to_registration() answers."""
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "response_types": ["id_token"],
        "jwks_uri": f"{BASE}/lti/jwks",
        "initiate_login_uri": f"{BASE}/lti/login",
        "grant_types": ["client_credentials", "implicit"],
        "redirect_uris": [LAUNCH],
        "application_type": ["web"],
        "client_name": "Tandem",
        "logo_uri": "",
        "scope": " ".join(SCOPES),
        TOOL_CONF: {
            "deployment_id": deployment_id,
            "target_link_uri": LAUNCH,
            "domain": "tandem.example.com",
            "description": "",
            "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": LAUNCH}],
            "claims": ["sub", "iss", "name", "family_name", "middle_name", "email"],
        },
    }


def canvas_config() -> dict[str, Any]:
    return {
        "issuer": CANVAS,
        "authorization_endpoint": f"{CANVAS}/api/lti/authorize_redirect",
        "registration_endpoint": CANVAS_REGISTER,
        "jwks_uri": f"{CANVAS}/api/lti/security/jwks",
        "token_endpoint": f"{CANVAS}/login/oauth2/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", *SCOPES],
        "response_types_supported": ["id_token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "picture", "email", "name", "given_name", "family_name"],
        "subject_types_supported": ["public"],
        "authorization_server": f"{CANVAS}/login/oauth2/token",
        PLATFORM_CONF: {
            "product_family_code": "canvas",
            "version": "OpenSource",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest", "placements": ["course_navigation"]},
                {"type": "LtiDeepLinkingRequest", "placements": ["assignment_selection"]},
            ],
        },
    }


def canvas_answer() -> dict[str, Any]:
    return {
        "client_id": "10000000000042",
        "application_type": "web",
        "client_name": "Tandem",
        "scope": " ".join(SCOPES),
        TOOL_CONF: {"domain": "tandem.example.com", "target_link_uri": LAUNCH},
    }


def expected_body(claims: list[str] | None = None) -> dict[str, Any]:
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{BASE}/lti/login",
        "redirect_uris": [LAUNCH],
        "client_name": "Tandem",
        "jwks_uri": f"{BASE}/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(
            [
                AGS + "lineitem",
                AGS + "lineitem.readonly",
                AGS + "result.readonly",
                AGS + "score",
                NRPS,
            ]
        ),
        TOOL_CONF: {
            "domain": "tandem.example.com",
            "target_link_uri": LAUNCH,
            "description": (
                "Reverse-mentoring programs: junior employees mentor senior leaders on "
                "digital tools, AI and new ways of working."
            ),
            "claims": claims or ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest", "target_link_uri": LAUNCH, "label": "Tandem"},
            ],
            "custom_parameters": {
                "person_sourcedid": "$Person.sourcedId",
                "user_username": "$User.username",
            },
        },
    }


# ----------------------------------------------------------------------- fixtures / helpers


@pytest.fixture
def platform(app: Flask) -> Iterator[responses.RequestsMock]:
    app.config["BASE_URL"] = BASE
    app.config["DYNREG_ALLOW_HTTP"] = False  # as in production; tests that need http say so
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def acme(app: Flask) -> int:
    with app.app_context():
        session = get_session()
        org = organizations.create_organization(session, slug="acme", name="ACME AG", actor="t")
        session.commit()
        return org.id


def issue(
    app: Flask, org_id: int, *, auto_approve: bool = False, now: datetime | None = None
) -> str:
    with app.app_context():
        session = get_session()
        token = dynreg.issue_registration_token(
            session, org_id=org_id, auto_approve=auto_approve, actor="cli:admin", now=now
        )
        session.commit()
        return token


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def stored(app: Flask) -> tuple[int, int]:
    return count(app, LtiRegistration), count(app, LtiDeployment)


def usable(app: Flask, token: str) -> bool:
    with app.app_context():
        return dynreg.peek_registration_token(get_session(), token) is not None


def open_url(
    client: Any,
    token: str,
    config_url: str | None = MOODLE_CONFIG,
    reg_token: str | None = REG_TOKEN,
) -> Any:
    query = {}
    if config_url is not None:
        query["openid_configuration"] = config_url
    if reg_token is not None:
        query["registration_token"] = reg_token
    return client.get(f"/lti/register/{token}", query_string=query)


def stub_moodle(
    rsps: responses.RequestsMock,
    *,
    config: dict[str, Any] | None = None,
    answer: dict[str, Any] | None = None,
) -> None:
    rsps.get(MOODLE_CONFIG, json=config or moodle_config())
    rsps.post(MOODLE_REGISTER, json=answer or moodle_answer())


# ----------------------------------------------------------------------- the happy paths


@pytest.mark.usefixtures("acme")
def test_moodle_registers_tandem_dynamically(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)
    stub_moodle(platform)

    response = open_url(client, token)

    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Tandem is registered for ACME AG" in page
    assert 'postMessage({subject: "org.imsglobal.lti.close"}, "*")' in page
    assert "(window.opener || window.parent)" in page
    assert "Pending" in page
    assert "Activate" in page
    assert "<h1>" in page
    assert '<button type="button"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert REG_TOKEN not in page
    assert token not in page

    get_call, post_call = platform.calls
    assert get_call.request.method == "GET"
    assert post_call.request.method == "POST"
    assert post_call.request.url == MOODLE_REGISTER
    assert post_call.request.headers["Authorization"] == f"Bearer {REG_TOKEN}"
    assert post_call.request.headers["Content-Type"] == "application/json"
    assert json.loads(post_call.request.body) == expected_body()

    with app.app_context():
        session = get_session()
        (reg,) = session.scalars(select(LtiRegistration)).all()
        assert reg.org_id == acme
        assert reg.issuer == MOODLE
        assert reg.client_id == "AbC123xyz"
        assert reg.auth_login_url == f"{MOODLE}/mod/lti/auth.php"
        assert reg.auth_token_url == f"{MOODLE}/mod/lti/token.php"
        assert reg.jwks_url == f"{MOODLE}/mod/lti/certs.php"
        assert reg.auth_audience is None
        assert reg.name == "moodle"
        assert reg.auto_approve_deployments is False
        assert reg.active is True
        (dep,) = session.scalars(select(LtiDeployment)).all()
        assert (dep.registration_id, dep.deployment_id) == (reg.id, "7")
        assert dep.status is LtiDeploymentStatus.APPROVED
        assert dep.approved_by == "cli:admin (dynamic registration)"
        actions = [
            e.action
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("lti.")
        ]
        assert actions == [
            "lti.registration_url_issued",
            "lti.platform_added",
            "lti.registration_url_used",
        ]
        # The launch finds it by issuer + client id.
        assert regs.find_registration(session, issuer=MOODLE + "/", client_id="AbC123xyz")

    # Used up: a second visit is refused before anything is fetched.
    assert not usable(app, token)
    again = open_url(client, token)
    assert again.status_code == 404
    assert "unknown or was already used" in again.get_data(as_text=True)
    assert len(platform.calls) == 2
    assert stored(app) == (1, 1)


def test_canvas_like_platform_without_deployment_id(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme, auto_approve=True)
    platform.get(CANVAS_CONFIG, json=canvas_config())
    platform.post(CANVAS_REGISTER, json=canvas_answer(), status=201)

    response = open_url(client, token, config_url=CANVAS_CONFIG)

    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "org.imsglobal.lti.close" in page
    assert "approved automatically" in page
    # Canvas does not list "iss": it is left out; the rest keeps Tandem's order.
    body = json.loads(platform.calls[1].request.body)
    assert body == expected_body(claims=["sub", "name", "given_name", "family_name", "email"])
    with app.app_context():
        session = get_session()
        (reg,) = session.scalars(select(LtiRegistration)).all()
        assert (reg.issuer, reg.client_id, reg.name) == (CANVAS, "10000000000042", "canvas")
        assert reg.auth_audience == f"{CANVAS}/login/oauth2/token"
        assert reg.auto_approve_deployments is True
    assert stored(app) == (1, 0)
    assert not usable(app, token)


def test_registration_without_a_registration_token_sends_no_authorization(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)
    stub_moodle(platform, answer={"client_id": "AbC123xyz"})
    response = open_url(client, token, reg_token=None)
    assert response.status_code == 200
    assert "Authorization" not in platform.calls[1].request.headers
    # No deployment id and no auto-approval: the page says how to approve the first one.
    assert "tandem lti deployments --org acme --status pending" in response.get_data(as_text=True)
    assert stored(app) == (1, 0)


def test_http_platform_only_when_allowed(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    local = "http://localhost:8081"
    config = moodle_config(
        issuer=local,
        token_endpoint=f"{local}/token",
        jwks_uri=f"{local}/jwks",
        authorization_endpoint=f"{local}/auth",
        registration_endpoint=f"{local}/register",
    )
    token = issue(app, acme)

    refused = open_url(client, token, config_url=f"{local}/openid-configuration")
    assert refused.status_code == 400
    assert "https://" in refused.get_data(as_text=True)
    assert usable(app, token)

    app.config["DYNREG_ALLOW_HTTP"] = True
    platform.get(f"{local}/openid-configuration", json=config)
    platform.post(f"{local}/register", json=moodle_answer())
    response = open_url(client, token, config_url=f"{local}/openid-configuration")
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        (reg,) = get_session().scalars(select(LtiRegistration)).all()
        assert reg.issuer == local


def test_the_cli_url_registers_end_to_end(
    app: Flask, client: Any, runner: FlaskCliRunner, platform: responses.RequestsMock, acme: int
) -> None:
    result = runner.invoke(args=["lti", "registration-url", "--org", "acme"])
    assert result.exit_code == 0, result.output
    (url,) = [line for line in result.output.splitlines() if line.startswith(BASE)]
    stub_moodle(platform)
    response = client.get(
        url.removeprefix(BASE),
        query_string={"openid_configuration": MOODLE_CONFIG, "registration_token": REG_TOKEN},
    )
    assert response.status_code == 200
    assert stored(app) == (1, 1)


# ----------------------------------------------------------------------- refusals


def assert_nothing_written(app: Flask, token: str, before: tuple[int, int] = (0, 0)) -> None:
    assert stored(app) == before
    assert usable(app, token)


def test_unknown_and_malformed_tokens_fetch_nothing(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)
    for bogus in ("x" * 43, "not a token!", "a" * 500, token[:-1]):
        response = open_url(client, bogus)
        assert response.status_code == 404, bogus
        page = response.get_data(as_text=True)
        assert "unknown or was already used" in page
        assert "registration-url" in page
        assert "org.imsglobal.lti.close" in page  # a close button, not an automatic close
    assert len(platform.calls) == 0
    assert_nothing_written(app, token)


def test_an_expired_token_is_gone(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme, now=utcnow() - timedelta(hours=24, seconds=1))
    response = open_url(client, token)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert len(platform.calls) == 0
    assert stored(app) == (0, 0)


def test_a_token_of_a_deleted_organization(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)
    with app.app_context():
        session = get_session()
        session.execute(AuditEvent.__table__.delete())
        session.delete(session.get(Organization, acme))
        session.commit()
    response = open_url(client, token)
    assert response.status_code == 410
    assert "no longer exists" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({}, 400, "openid_configuration is missing"),
        ({"openid_configuration": " "}, 400, "openid_configuration is missing"),
        ({"openid_configuration": "moodle.acme.example/x"}, 400, "absolute https:// URL"),
        ({"openid_configuration": "http://moodle.acme.example/c"}, 400, "https:// URL"),
        ({"openid_configuration": "ftp://moodle.acme.example/c"}, 400, "https:// URL"),
        ({"openid_configuration": "https://u:p@moodle.acme.example/c"}, 400, "user name"),
        (
            {"openid_configuration": MOODLE_CONFIG, "registration_token": "two words"},
            400,
            "registration_token is malformed",
        ),
    ],
)
def test_bad_parameters(
    app: Flask,
    client: Any,
    platform: responses.RequestsMock,
    acme: int,
    query: dict[str, str],
    status: int,
    message: str,
) -> None:
    token = issue(app, acme)
    response = client.get(f"/lti/register/{token}", query_string=query)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page
    assert "still valid" in page
    assert "u:p" not in page
    assert len(platform.calls) == 0
    assert_nothing_written(app, token)


def _config_failures() -> list[Any]:
    def mismatch(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, json=moodle_config(issuer="https://evil.example"))

    def other_port(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, json=moodle_config(issuer=MOODLE + ":8443"))

    def status_500(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, status=500, body="boom")

    def timeout(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, body=requests.exceptions.ConnectTimeout())

    def refused(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, body=requests.exceptions.ConnectionError())

    def not_json(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, body="<html>Moodle login</html>", content_type="text/html")

    def not_object(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, json=["issuer"])

    def redirect(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, status=302, headers={"Location": "https://elsewhere.example/"})

    def no_registration_endpoint(rsps: responses.RequestsMock) -> None:
        conf = moodle_config()
        del conf["registration_endpoint"]
        rsps.get(MOODLE_CONFIG, json=conf)

    def http_endpoint(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, json=moodle_config(jwks_uri="http://moodle.acme.example/c"))

    def numeric_endpoint(rsps: responses.RequestsMock) -> None:
        rsps.get(MOODLE_CONFIG, json=moodle_config(token_endpoint=42))

    return [
        pytest.param(mismatch, 400, "is not on the host", id="issuer-mismatch"),
        pytest.param(other_port, 400, "is not on the host", id="issuer-other-port"),
        pytest.param(status_500, 502, "answered HTTP 500", id="config-500"),
        pytest.param(timeout, 502, "did not answer in time", id="config-timeout"),
        pytest.param(refused, 502, "could not connect", id="config-unreachable"),
        pytest.param(not_json, 502, "is not JSON", id="config-not-json"),
        pytest.param(not_object, 400, "is not a JSON object", id="config-not-object"),
        pytest.param(redirect, 502, "answered HTTP 302", id="config-redirect"),
        pytest.param(
            no_registration_endpoint, 400, "lacks registration_endpoint", id="config-incomplete"
        ),
        pytest.param(http_endpoint, 400, "jwks_uri must be an https:// URL", id="config-http"),
        pytest.param(numeric_endpoint, 400, "token_endpoint must be a URL", id="config-type"),
    ]


@pytest.mark.parametrize(("stub", "status", "message"), _config_failures())
def test_an_unusable_openid_configuration_registers_nothing(
    app: Flask,
    client: Any,
    platform: responses.RequestsMock,
    acme: int,
    stub: Any,
    status: int,
    message: str,
) -> None:
    token = issue(app, acme)
    stub(platform)
    response = open_url(client, token)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page
    assert "OpenID configuration" in page or "issuer" in page
    # Only the configuration was fetched (retried on 5xx); nothing was registered.
    assert {c.request.method for c in platform.calls} == {"GET"}
    assert_nothing_written(app, token)


def test_query_strings_are_redacted_from_messages(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)
    url = f"{MOODLE_CONFIG}?registration_token=SECRET123"
    platform.get(url, status=503)
    response = open_url(client, token, config_url=url)
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert f"{MOODLE_CONFIG}?…" in page
    assert "SECRET123" not in page
    assert_nothing_written(app, token)


def _registration_failures() -> list[Any]:
    return [
        pytest.param(
            {"status": 400, "body": "missing required attribute client_name"},
            "answered HTTP 400 (missing required attribute client_name)",
            id="moodle-400-text",
        ),
        pytest.param(
            {
                "status": 400,
                "json": {"error": "invalid_client_metadata", "error_description": "bad uri"},
            },
            "HTTP 400 (invalid_client_metadata: bad uri)",
            id="oauth-400-json",
        ),
        pytest.param(
            {"status": 422, "json": {"errors": [{"field": "scopes", "message": "invalid"}]}},
            "HTTP 422 (invalid)",
            id="canvas-422",
        ),
        pytest.param({"status": 401, "body": ""}, "answered HTTP 401", id="401"),
        pytest.param(
            {"status": 200, "json": {"client_name": "Tandem"}}, "has no client_id", id="no-client"
        ),
        pytest.param(
            {"status": 200, "json": {"client_id": ["x"]}},
            "client_id must be a string",
            id="client-not-string",
        ),
        pytest.param({"status": 201, "body": "OK"}, "is not JSON", id="answer-not-json"),
        pytest.param(
            {"body": requests.exceptions.ReadTimeout()}, "did not answer in time", id="timeout"
        ),
    ]


@pytest.mark.parametrize(("answer", "message"), _registration_failures())
def test_a_failed_registration_stores_nothing(
    app: Flask,
    client: Any,
    platform: responses.RequestsMock,
    acme: int,
    answer: dict[str, Any],
    message: str,
) -> None:
    token = issue(app, acme)
    platform.get(MOODLE_CONFIG, json=moodle_config())
    platform.post(MOODLE_REGISTER, **answer)
    response = open_url(client, token)
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert message in page
    assert "still valid" in page
    assert_nothing_written(app, token)


def test_an_issuer_and_client_id_tandem_already_has(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    with app.app_context():
        session = get_session()
        regs.add_platform(
            session,
            org_id=acme,
            issuer=MOODLE,
            client_id="AbC123xyz",
            auth_login_url=f"{MOODLE}/mod/lti/auth.php",
            auth_token_url=f"{MOODLE}/mod/lti/token.php",
            jwks_url=f"{MOODLE}/mod/lti/certs.php",
            deployment_ids=["1"],
            actor="t",
        )
        session.commit()
    token = issue(app, acme)
    stub_moodle(platform)
    response = open_url(client, token)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "already registered" in page
    assert "delete that entry" in page
    assert_nothing_written(app, token, before=(1, 1))


def test_a_token_used_meanwhile_is_a_conflict(
    app: Flask, client: Any, platform: responses.RequestsMock, acme: int
) -> None:
    token = issue(app, acme)

    def use_it_up(request: Any) -> tuple[int, dict[str, str], str]:
        # Another tab completes a registration with the same URL while this one waits.
        with app.app_context():
            session = get_session()
            assert dynreg.consume_registration_token(session, token)
            session.commit()
        return 200, {}, json.dumps(moodle_answer())

    platform.get(MOODLE_CONFIG, json=moodle_config())
    platform.add_callback(responses.POST, MOODLE_REGISTER, callback=use_it_up)
    response = open_url(client, token)
    assert response.status_code == 404
    assert stored(app) == (0, 0)


# ----------------------------------------------------------------------- the CLI


def test_cli_prints_a_registration_url(app: Flask, runner: FlaskCliRunner, acme: int) -> None:
    app.config["BASE_URL"] = BASE + "/"
    result = runner.invoke(args=["lti", "registration-url", "--org", "acme", "--auto-approve"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "ACME AG" in lines[0]
    assert "24 hours" in lines[0]
    url = lines[1]
    assert url.startswith(f"{BASE}/lti/register/")
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43
    assert "Tool URL" in result.output
    assert "Add LTI Advantage" in result.output
    assert "Manage tools" in result.output
    assert "approved automatically" in result.output
    with app.app_context():
        session = get_session()
        grant = dynreg.peek_registration_token(session, token)
        assert grant is not None
        assert (grant.org_id, grant.auto_approve) == (acme, True)
        assert grant.created_by.startswith("cli")
        # Stored hashed: the token appears in no key and no value.
        (entry,) = session.scalars(select(LtiCacheEntry)).all()
        assert entry.key.startswith("dynreg:")
        assert token not in entry.key
        assert token not in json.dumps(entry.value)
        issued = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "lti.registration_url_issued")
        ).one()
        assert issued.details["auto_approve_deployments"] is True
        assert issued.object_id == dynreg.token_id(token)


def test_cli_warns_about_an_http_base_url(app: Flask, runner: FlaskCliRunner, acme: int) -> None:
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    result = runner.invoke(args=["lti", "registration-url", "--org", "acme"])
    assert result.exit_code == 0
    assert "http://127.0.0.1:5000/lti/register/" in result.output
    assert "approved automatically" in result.output  # the default
    strict = runner.invoke(args=["lti", "registration-url", "--org", "acme", "--require-approval"])
    assert "wait for approval" in strict.output
    assert "https:// URL they can reach" in result.output


def test_cli_unknown_org_fails(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["lti", "registration-url", "--org", "nope"])
    assert result.exit_code == 1
    assert "unknown organization 'nope'" in result.output
    assert count(app, LtiCacheEntry) == 0


# ----------------------------------------------------------------------- core, no HTTP


NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_tokens_peek_check_consume(db_session: Session, org: Organization) -> None:
    token = dynreg.issue_registration_token(
        db_session, org_id=org.id, auto_approve=False, actor="t", now=NOW
    )
    grant = dynreg.peek_registration_token(db_session, token, now=NOW)
    assert grant == dynreg.RegistrationGrant(
        org_id=org.id,
        auto_approve=False,
        created_by="t",
        created_at=NOW,
        token_id=dynreg.token_id(token),
    )
    later = NOW + timedelta(hours=23, minutes=59)
    assert dynreg.check_registration_token(db_session, token, now=later) == grant
    assert dynreg.consume_registration_token(db_session, token, now=later) is True
    assert dynreg.consume_registration_token(db_session, token, now=later) is False
    assert dynreg.peek_registration_token(db_session, token, now=later) is None
    with pytest.raises(NotFound, match="unknown or was already used") as info:
        dynreg.check_registration_token(db_session, token, now=later)
    assert info.value.status_code == 404


def test_tokens_expire_after_24_hours(db_session: Session, org: Organization) -> None:
    token = dynreg.issue_registration_token(
        db_session, org_id=org.id, auto_approve=True, actor="t", now=NOW
    )
    expired = NOW + timedelta(hours=24)
    assert dynreg.peek_registration_token(db_session, token, now=expired) is None
    with pytest.raises(dynreg.RegistrationTokenExpired, match="expired") as info:
        dynreg.check_registration_token(db_session, token, now=expired)
    assert info.value.status_code == 410
    assert dynreg.consume_registration_token(db_session, token, now=expired) is False


def test_each_token_is_new(db_session: Session, org: Organization) -> None:
    tokens = {
        dynreg.issue_registration_token(db_session, org_id=org.id, auto_approve=False, actor="t")
        for _ in range(3)
    }
    assert len(tokens) == 3


def test_issue_for_an_unknown_org(db_session: Session) -> None:
    with pytest.raises(NotFound):
        dynreg.issue_registration_token(db_session, org_id=999_999, auto_approve=False, actor="t")


def test_redact_url() -> None:
    assert (
        dynreg.redact_url("https://u:p@h.example:8443/a/b?x=1#f") == "https://h.example:8443/a/b?…"
    )
    assert dynreg.redact_url("https://h.example/a") == "https://h.example/a"
    assert dynreg.redact_url("https://h.example:bad/") == "<invalid URL>"


def test_issuer_origin_ignores_default_ports_and_paths() -> None:
    conf = moodle_config(issuer="https://MOODLE.acme.example:443/moodle")
    parsed = dynreg.parse_openid_configuration(conf, config_url=MOODLE_CONFIG)
    assert parsed.issuer == "https://MOODLE.acme.example:443/moodle"
    assert parsed.messages_supported == ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
    assert parsed.product_family_code == "moodle"
    with pytest.raises(ValidationError, match="is not on the host"):
        dynreg.parse_openid_configuration(
            moodle_config(issuer="https://localhost"),
            config_url="http://localhost/openid-configuration",
            allow_http=True,
        )
    with pytest.raises(ValidationError, match="issuer must be an https:// URL"):
        dynreg.parse_openid_configuration(
            moodle_config(issuer="http://moodle.acme.example"),
            config_url=MOODLE_CONFIG,
            allow_http=True,
        )


def test_request_follows_what_the_platform_supports() -> None:
    conf = moodle_config(
        scopes_supported=[AGS + "score", NRPS],
        claims_supported=["sub", "email"],
    )
    conf[PLATFORM_CONF]["messages_supported"] = [{"type": "LtiResourceLinkRequest"}]
    platform = dynreg.parse_openid_configuration(conf, config_url=MOODLE_CONFIG)
    body = dynreg.build_registration_request(
        platform,
        base_url="https://tandem.example.com:8443/",
        client_name="Tandem",
        description="d",
        scopes=SCOPES,
        claims=["iss", "sub", "email"],
        custom_parameters=CUSTOM_PARAMETERS,
        logo_uri="https://tandem.example.com:8443/static/logo.svg",
    )
    assert body["scope"] == f"{AGS}score {NRPS}"
    tool = body[TOOL_CONF]
    assert tool["claims"] == ["sub", "email"]
    assert tool["messages"] == [{"type": "LtiResourceLinkRequest"}]
    assert tool["domain"] == "tandem.example.com:8443"
    assert body["redirect_uris"] == ["https://tandem.example.com:8443/lti/launch"]
    assert body["logo_uri"] == "https://tandem.example.com:8443/static/logo.svg"


def test_unlisted_support_asks_for_everything() -> None:
    conf = moodle_config()
    for key in ("scopes_supported", "claims_supported", PLATFORM_CONF):
        del conf[key]
    platform = dynreg.parse_openid_configuration(conf, config_url=MOODLE_CONFIG)
    body = dynreg.build_registration_request(
        platform,
        base_url=BASE,
        client_name="Tandem",
        description="Reverse-mentoring programs: junior employees mentor senior leaders on "
        "digital tools, AI and new ways of working.",
        scopes=SCOPES,
        claims=["iss", "sub", "name", "given_name", "family_name", "email"],
        custom_parameters=CUSTOM_PARAMETERS,
    )
    assert body == expected_body()
    assert "logo_uri" not in body


@pytest.mark.parametrize(
    ("answer", "client_id", "deployment_id"),
    [
        (moodle_answer(), "AbC123xyz", "7"),
        (canvas_answer(), "10000000000042", None),
        ({"client_id": 12, TOOL_CONF: {"deployment_id": 3}}, "12", "3"),
        ({"client_id": " c ", TOOL_CONF: "odd"}, "c", None),
    ],
)
def test_parse_registration_response(
    answer: dict[str, Any], client_id: str, deployment_id: str | None
) -> None:
    result = dynreg.parse_registration_response(answer)
    assert (result.client_id, result.deployment_id) == (client_id, deployment_id)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "not a JSON object"),
        ({}, "has no client_id"),
        ({"client_id": True}, "client_id must be a string"),
        ({"client_id": "x" * 256}, "longer than 255"),
        ({"client_id": "a\nb"}, "control characters"),
        ({"client_id": "a", TOOL_CONF: {"deployment_id": {"x": 1}}}, "deployment_id must be"),
    ],
)
def test_parse_registration_response_refuses(answer: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        dynreg.parse_registration_response(answer)

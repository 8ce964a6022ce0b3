"""The development LTI platform at /dev/platform: platform endpoints and the full flow.

One seeded database and one live server per module (the tool fetches the platform's JWKS
over real HTTP); platform-only checks use the Flask test client of the same app.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from flask import Flask
from sqlalchemy import delete, select

from lti.db import get_engine, get_session
from lti.dev_platform import CLIENT_ID
from lti.secrets import get_secret_box
from plugin.models import (
    LtiDeployment,
    LtiDeploymentStatus,
    LtiRegistration,
    Person,
    ProgramCoordinator,
)
from plugin.services import lti_registrations as regs
from tests.browser.live_server import dev_app, seed, serve
from tests.conftest import fresh_database, make_engine, upgrade

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = [
    SCOPE + "lineitem",
    SCOPE + "lineitem.readonly",
    SCOPE + "result.readonly",
    SCOPE + "score",
    NRPS_SCOPE,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    with fresh_database(tmp_path_factory.mktemp("devp"), "devp") as url:
        engine = make_engine(url)
        upgrade(engine, url)
        engine.dispose()
        app = dev_app(url)
        app.instance_path = str(tmp_path_factory.mktemp("devp-instance"))
        seed(app)
        with serve(app) as base:
            yield app, base


@pytest.fixture
def devapp(live: tuple[Flask, str]) -> Flask:
    return live[0]


@pytest.fixture
def base(live: tuple[Flask, str]) -> str:
    return live[1]


@pytest.fixture
def web(devapp: Flask) -> Any:
    return devapp.test_client()


# ----------------------------------------------------------------------- helpers


def start_launch(web: Any, **params: str) -> dict[str, str]:
    """GET /dev/platform/launch; the tool login parameters it redirects with."""
    response = web.get("/dev/platform/launch", query_string=params)
    assert response.status_code == 302, response.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}


def auth_params(base: str, login: dict[str, str], **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": login["client_id"],
        "redirect_uri": f"{base}/lti/launch",
        "nonce": "nonce-" + uuid.uuid4().hex,
        "state": "state-" + uuid.uuid4().hex,
        "login_hint": login["login_hint"],
        "lti_message_hint": login["lti_message_hint"],
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', html))


def platform_keys(web: Any) -> dict[str, Any]:
    return {k["kid"]: k for k in web.get("/dev/platform/jwks").get_json()["keys"]}


def id_token_for(web: Any, base: str, **launch: str) -> dict[str, Any]:
    """Run launch + auth with the test client and return the verified id_token claims."""
    login = start_launch(web, **launch)
    params = auth_params(base, login)
    response = web.post("/dev/platform/auth", data=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert f'action="{base}/lti/launch"' in html
    fields = form_fields(html)
    assert fields["state"] == params["state"]
    token = fields["id_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(platform_keys(web)[kid]).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=f"{base}/dev/platform"
    )
    assert claims["nonce"] == params["nonce"]
    return claims


def tool_key(app: Flask) -> tuple[str, str]:
    """The tool's current (kid, private PEM), created if needed."""
    with app.app_context():
        session = get_session()
        key = regs.ensure_tool_key(session, get_secret_box())
        pem = regs.current_private_key_pem(session, get_secret_box())
        session.commit()
        return key.kid, pem


def assertion(app: Flask, base: str, **overrides: Any) -> str:
    kid, pem = tool_key(app)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": f"{base}/dev/platform/token",
        "iat": now - 5,
        "exp": now + 60,
        "jti": "jti-" + uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def get_token(web: Any, app: Flask, base: str, scopes: list[str]) -> str:
    response = web.post(
        "/dev/platform/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(app, base),
            "scope": " ".join(scopes),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# ----------------------------------------------------------------------- switch, page


def test_not_registered_when_dev_platform_is_off(client: Any) -> None:
    assert client.get("/dev/platform").status_code == 404
    assert client.get("/dev/platform/jwks").status_code == 404
    assert client.post("/dev/platform/token").status_code == 404


def test_missing_organization_page_says_to_seed(live: tuple[Flask, str]) -> None:
    other = dev_app(live[0].config["DATABASE_URL"], DEV_PLATFORM_ORG="nowhere")
    response = other.test_client().get("/dev/platform")
    get_engine(other).dispose()
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "tandem demo seed --org nowhere" in page


def test_course_page_registers_the_platform_and_offers_personas(
    devapp: Flask, web: Any, base: str
) -> None:
    response = web.get("/dev/platform")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in (
        "Launch as junior",
        "Launch as senior",
        "Launch as coordinator",
        "Add a Tandem activity (deep linking)",
        '<iframe name="tandem-frame"',
        'title="Tandem"',
        'target="tandem-frame"',
        "Gradebook",
        '<label for="locale">',
        "Deutsch",
    ):
        assert text in page
    with devapp.app_context():
        session = get_session()
        reg = session.scalar(select(LtiRegistration).where(LtiRegistration.client_id == CLIENT_ID))
        assert reg is not None
        assert reg.issuer == f"{base}/dev/platform"
        assert reg.auth_login_url == f"{base}/dev/platform/auth"
        assert reg.auth_token_url == f"{base}/dev/platform/token"
        assert reg.jwks_url == f"{base}/dev/platform/jwks"
        (deployment,) = regs.list_deployments(session, org_id=reg.org_id)
        assert deployment.deployment_id == "1"
        assert deployment.status is LtiDeploymentStatus.APPROVED
    assert web.get("/dev/platform/").status_code == 200  # registered once, no conflict


def test_registration_is_kept_and_repaired_even_by_a_refused_request(
    devapp: Flask, web: Any
) -> None:
    web.get("/dev/platform")
    with devapp.app_context():
        session = get_session()
        session.execute(delete(LtiDeployment))
        session.commit()
    # A refused launch (400) rolls its own session back, yet the platform's setup stays.
    assert web.get("/dev/platform/launch?persona=nobody").status_code == 400
    with devapp.app_context():
        (deployment,) = get_session().scalars(select(LtiDeployment)).all()
        assert deployment.deployment_id == "1"
        assert deployment.status is LtiDeploymentStatus.APPROVED


def test_jwks_serves_one_stable_public_key(web: Any) -> None:
    first = web.get("/dev/platform/jwks")
    assert first.status_code == 200
    (key,) = first.get_json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"] == regs.jwk_thumbprint(key)
    assert not {"d", "p", "q"} & set(key)
    assert web.get("/dev/platform/jwks").get_json() == first.get_json()


# ----------------------------------------------------------------------- launch + auth


def test_launch_redirects_to_the_tool_login(web: Any, base: str) -> None:
    login = start_launch(web, persona="junior", activity="my_tandem")
    assert login["iss"] == f"{base}/dev/platform"
    assert login["client_id"] == CLIENT_ID
    assert login["lti_deployment_id"] == "1"
    assert login["target_link_uri"] == f"{base}/lti/launch"
    assert login["login_hint"]
    assert login["lti_message_hint"]
    response = web.get("/dev/platform/launch?persona=junior&activity=sessions")
    assert response.location.startswith(f"{base}/lti/login?")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("persona=nobody&activity=my_tandem", "persona must be"),
        ("activity=my_tandem", "persona must be"),
        ("persona=junior&activity=chess", "activity must be one of"),
        ("persona=junior", "activity must be one of"),
        ("persona=junior&message=deep_linking", "Only the coordinator"),
        ("persona=coordinator&message=poke", "message must be"),
        ("persona=senior&link=abc123", "No such link"),
    ],
)
def test_launch_refuses_bad_requests(web: Any, query: str, message: str) -> None:
    response = web.get(f"/dev/platform/launch?{query}")
    assert response.status_code in (400, 404)
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"scope": "openid profile"}, "scope must be"),
        ({"response_type": "code"}, "response_type must be"),
        ({"response_mode": "query"}, "response_mode must be"),
        ({"prompt": None}, "prompt must be"),
        ({"client_id": "someone-else"}, "client_id must be"),
        ({"redirect_uri": "REDIRECT/"}, "redirect_uri is not a registered"),
        ({"redirect_uri": "https://evil.example.com/lti/launch"}, "redirect_uri is not"),
        ({"nonce": None}, "nonce is required"),
        ({"state": ""}, "state is required"),
        ({"login_hint": "forged"}, "unknown or expired login_hint"),
        ({"lti_message_hint": "forged"}, "lti_message_hint does not match"),
    ],
)
def test_auth_refuses_bad_requests(
    web: Any, base: str, override: dict[str, str | None], message: str
) -> None:
    login = start_launch(web, persona="junior", activity="my_tandem")
    fixed = {
        k: (v.replace("REDIRECT", f"{base}/lti/launch") if isinstance(v, str) else v)
        for k, v in override.items()
    }
    response = web.get("/dev/platform/auth", query_string=auth_params(base, login, **fixed))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'name="id_token"' not in page


def test_id_token_of_a_junior_launch(devapp: Flask, web: Any, base: str) -> None:
    claims = id_token_for(web, base, persona="junior", activity="my_tandem", locale="de")
    assert claims["aud"] == CLIENT_ID
    assert claims["azp"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 60
    assert claims["sub"].startswith("dev-")
    assert claims[LTI + "deployment_id"] == "1"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "target_link_uri"] == f"{base}/lti/launch"
    assert claims[LTI + "roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    with devapp.app_context():
        person = get_session().get(Person, int(claims["sub"][4:]))
        assert person is not None
        assert claims["email"] == person.email
        assert claims["given_name"] == person.given_name
        assert claims["name"] == f"{person.given_name} {person.family_name}"
    program_id = claims[LTI + "custom"]["program"]
    assert claims[LTI + "custom"] == {"activity": "my_tandem", "program": program_id}
    assert claims[LTI + "resource_link"]["id"] == f"dev-{program_id}-my_tandem"
    assert claims[LTI + "context"]["id"] == f"dev-course-{program_id}"
    assert claims[LTI + "context"]["type"] == [
        "http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection"
    ]
    assert claims[LTI + "tool_platform"]["product_family_code"] == "tandem-dev"
    assert claims[LTI + "launch_presentation"]["document_target"] == "iframe"
    assert claims[LTI + "launch_presentation"]["locale"] == "de"
    assert claims[LTI + "lis"]["person_sourcedid"].startswith("E")  # the HRIS employee id
    assert claims[NRPS] == {
        "context_memberships_url": f"{base}/dev/platform/memberships",
        "service_versions": ["2.0"],
    }
    ags = claims[AGS]
    assert ags["lineitems"] == f"{base}/dev/platform/lineitems"
    assert set(ags["scope"]) == set(ALL_SCOPES[:4])
    # my_tandem is graded: its line item exists from the first launch on, and stays the same.
    assert ags["lineitem"].startswith(f"{base}/dev/platform/lineitems/")
    again = id_token_for(web, base, persona="senior", activity="my_tandem")
    assert again[AGS]["lineitem"] == ags["lineitem"]
    assert again["sub"] != claims["sub"]


def test_id_token_of_coordinator_and_ungraded_launches(web: Any, base: str) -> None:
    coordinator = id_token_for(web, base, persona="coordinator", activity="dashboard")
    assert coordinator[LTI + "roles"] == [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
    ]
    assert coordinator[LTI + "launch_presentation"]["locale"] == "en"
    assert "lineitem" not in coordinator[AGS]
    sessions = id_token_for(web, base, persona="junior", activity="sessions")
    assert "lineitem" not in sessions[AGS]


def test_id_token_of_a_deep_linking_request(web: Any, base: str) -> None:
    claims = id_token_for(web, base, persona="coordinator", message="deep_linking")
    assert claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert LTI + "resource_link" not in claims
    settings = claims[DL + "deep_linking_settings"]
    assert settings["deep_link_return_url"] == f"{base}/dev/platform/deep-link-return"
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["accept_presentation_document_targets"] == ["iframe", "window"]
    assert settings["accept_multiple"] is True
    assert settings["data"]


# ----------------------------------------------------------------------- token endpoint


def test_token_endpoint_grants_the_intersection_of_scopes(
    devapp: Flask, web: Any, base: str
) -> None:
    response = web.post(
        "/dev/platform/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(devapp, base),
            "scope": f"{SCOPE}score {NRPS_SCOPE} https://example.com/unknown",
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == [SCOPE + "score", NRPS_SCOPE]
    assert body["access_token"]
    assert response.headers["Cache-Control"] == "no-store"


def _token_request(app: Flask, base: str, case: str) -> tuple[dict[str, str], int, str]:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(app, base),
        "scope": SCOPE + "score",
    }
    if case == "grant":
        data["grant_type"] = "password"
        return data, 400, "unsupported_grant_type"
    if case == "assertion_type":
        data["client_assertion_type"] = "urn:something"
        return data, 400, "invalid_request"
    if case == "no_assertion":
        del data["client_assertion"]
        return data, 400, "invalid_request"
    if case == "garbage":
        data["client_assertion"] = "not.a.jwt"
        return data, 401, "invalid_client"
    if case == "unknown_key":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid, _ = tool_key(app)
        now = int(time.time())
        data["client_assertion"] = jwt.encode(
            {
                "iss": CLIENT_ID,
                "sub": CLIENT_ID,
                "aud": f"{base}/dev/platform/token",
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            },
            pem,
            algorithm="RS256",
            headers={"kid": kid},
        )
        return data, 401, "invalid_client"
    if case == "wrong_iss":
        data["client_assertion"] = assertion(app, base, iss="someone", sub="someone")
        return data, 401, "invalid_client"
    if case == "wrong_aud":
        data["client_assertion"] = assertion(app, base, aud="https://elsewhere.example.com")
        return data, 401, "invalid_client"
    if case == "expired":
        now = int(time.time())
        data["client_assertion"] = assertion(app, base, iat=now - 600, exp=now - 300)
        return data, 401, "invalid_client"
    if case == "no_jti":
        data["client_assertion"] = assertion(app, base, jti=None)
        return data, 401, "invalid_client"
    if case == "scope":
        data["scope"] = "https://example.com/unknown"
        return data, 400, "invalid_scope"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "grant",
        "assertion_type",
        "no_assertion",
        "garbage",
        "unknown_key",
        "wrong_iss",
        "wrong_aud",
        "expired",
        "no_jti",
        "scope",
    ],
)
def test_token_endpoint_refusals(devapp: Flask, web: Any, base: str, case: str) -> None:
    data, status, error = _token_request(devapp, base, case)
    response = web.post("/dev/platform/token", data=data)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["error_description"]


def test_token_endpoint_refuses_a_replayed_assertion(devapp: Flask, web: Any, base: str) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(devapp, base),
        "scope": SCOPE + "score",
    }
    assert web.post("/dev/platform/token", data=data).status_code == 200
    replay = web.post("/dev/platform/token", data=data)
    assert replay.status_code == 401
    assert "jti" in replay.get_json()["error_description"]


# ----------------------------------------------------------------------- AGS


def test_ags_line_items_scores_and_results(devapp: Flask, web: Any, base: str) -> None:
    token = get_token(web, devapp, base, ALL_SCOPES[:4])
    lineitem_type = "application/vnd.ims.lis.v2.lineitem+json"
    created = web.post(
        "/dev/platform/lineitems",
        json={
            "label": "Tandem completion",
            "scoreMaximum": 1,
            "resourceLinkId": "rl-ags",
            "tag": "t",
        },
        headers=bearer(token, **{"Content-Type": lineitem_type}),
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.mimetype == lineitem_type
    item = created.get_json()
    assert created.headers["Location"] == item["id"]
    assert item["id"].startswith(f"{base}/dev/platform/lineitems/")
    assert item["label"] == "Tandem completion"
    path = urlsplit(item["id"]).path
    one = web.get(path, headers=bearer(token))
    assert one.status_code == 200
    assert one.get_json() == item

    listed = web.get("/dev/platform/lineitems?resource_link_id=rl-ags", headers=bearer(token))
    assert listed.mimetype == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    assert listed.get_json() == [item]
    assert web.get("/dev/platform/lineitems?tag=nope", headers=bearer(token)).get_json() == []

    score_type = "application/vnd.ims.lis.v1.score+json"
    score = {
        "userId": "dev-1",
        "scoreGiven": 0.5,
        "scoreMaximum": 1,
        "activityProgress": "InProgress",
        "gradingProgress": "Pending",
        "timestamp": "2026-03-01T10:00:00+00:00",
    }
    posted = web.post(
        f"{path}/scores", json=score, headers=bearer(token, **{"Content-Type": score_type})
    )
    assert posted.status_code == 204
    newer = {
        **score,
        "scoreGiven": 1,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-04-01T10:00:00Z",
    }
    assert web.post(f"{path}/scores", json=newer, headers=bearer(token)).status_code == 204
    # An older (or equally old) score is ignored: the last one on record stays.
    stale = {**score, "timestamp": "2026-03-15T10:00:00+00:00"}
    assert web.post(f"{path}/scores", json=stale, headers=bearer(token)).status_code == 204
    other = {**score, "userId": "dev-2"}
    assert web.post(f"{path}/scores", json=other, headers=bearer(token)).status_code == 204

    results = web.get(f"{path}/results", headers=bearer(token))
    assert results.status_code == 200
    assert results.mimetype == "application/vnd.ims.lis.v2.resultcontainer+json"
    by_user = {r["userId"]: r for r in results.get_json()}
    assert set(by_user) == {"dev-1", "dev-2"}
    assert by_user["dev-1"]["resultScore"] == 1
    assert by_user["dev-1"]["resultMaximum"] == 1
    assert by_user["dev-1"]["scoreOf"] == item["id"]
    only = web.get(f"{path}/results?user_id=dev-2", headers=bearer(token)).get_json()
    assert [r["userId"] for r in only] == ["dev-2"]
    paged = web.get(f"{path}/results?limit=1", headers=bearer(token))
    assert len(paged.get_json()) == 1
    assert 'rel="next"' in paged.headers["Link"]

    # The course page's gradebook shows the line item and the scores.
    page = web.get("/dev/platform").get_data(as_text=True)
    assert "Tandem completion" in page
    assert "FullyGraded" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"userId": None}, "userId is required"),
        ({"activityProgress": "Done"}, "activityProgress must be one of"),
        ({"gradingProgress": None}, "gradingProgress must be one of"),
        ({"timestamp": "2026-03-01T10:00:00"}, "time zone"),
        ({"timestamp": "yesterday"}, "time zone"),
        ({"scoreGiven": -1}, "scoreGiven must be 0 or more"),
        ({"scoreGiven": "1"}, "scoreGiven must be a number"),
        ({"scoreMaximum": None}, "scoreMaximum is required with scoreGiven"),
    ],
)
def test_ags_score_validation(
    devapp: Flask, web: Any, base: str, change: dict[str, Any], message: str
) -> None:
    token = get_token(web, devapp, base, ALL_SCOPES[:4])
    item = web.post(
        "/dev/platform/lineitems", json={"label": "x", "scoreMaximum": 10}, headers=bearer(token)
    ).get_json()
    score: dict[str, Any] = {
        "userId": "dev-1",
        "scoreGiven": 1,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-03-01T10:00:00+00:00",
    }
    score.update(change)
    score = {k: v for k, v in score.items() if v is not None}
    response = web.post(urlsplit(item["id"]).path + "/scores", json=score, headers=bearer(token))
    assert response.status_code == 400
    assert message in response.get_json()["error_description"]
    results = web.get(urlsplit(item["id"]).path + "/results", headers=bearer(token))
    assert results.get_json() == []


def test_ags_checks_token_scope_and_input(devapp: Flask, web: Any, base: str) -> None:
    assert web.get("/dev/platform/lineitems").status_code == 401
    unknown = web.get("/dev/platform/lineitems", headers=bearer("no-such-token"))
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    score_only = get_token(web, devapp, base, [SCOPE + "score"])
    assert web.get("/dev/platform/lineitems", headers=bearer(score_only)).status_code == 403
    create = web.post(
        "/dev/platform/lineitems",
        json={"label": "x", "scoreMaximum": 1},
        headers=bearer(score_only),
    )
    assert create.status_code == 403
    readonly = get_token(web, devapp, base, [SCOPE + "lineitem.readonly"])
    assert web.get("/dev/platform/lineitems", headers=bearer(readonly)).status_code == 200
    full = get_token(web, devapp, base, ALL_SCOPES[:4])
    for body, message in (
        ({"scoreMaximum": 1}, "label is required"),
        ({"label": "x"}, "scoreMaximum is required"),
        ({"label": "x", "scoreMaximum": 0}, "scoreMaximum must be greater than 0"),
        ({"label": "x", "scoreMaximum": True}, "scoreMaximum must be a number"),
    ):
        response = web.post("/dev/platform/lineitems", json=body, headers=bearer(full))
        assert response.status_code == 400
        assert message in response.get_json()["error_description"]
    wrong_type = web.post(
        "/dev/platform/lineitems",
        data="label=x",
        headers=bearer(full, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert wrong_type.status_code == 415
    assert web.get("/dev/platform/lineitems/abcdef", headers=bearer(full)).status_code == 404
    assert web.get("/dev/platform/lineitems/NOT-HEX", headers=bearer(full)).status_code == 404
    paged = web.get("/dev/platform/lineitems?limit=0", headers=bearer(full))
    assert paged.status_code == 400


# ----------------------------------------------------------------------- NRPS


def test_nrps_pages_through_the_course_members(devapp: Flask, web: Any, base: str) -> None:
    token = get_token(web, devapp, base, [NRPS_SCOPE])
    url: str | None = f"{base}/dev/platform/memberships?limit=4"
    members: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = web.get(url.removeprefix(base), headers=bearer(token))
        assert response.status_code == 200
        assert response.mimetype == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        body = response.get_json()
        assert body["context"]["id"].startswith("dev-course-")
        assert len(body["members"]) <= 4
        members.extend(body["members"])
        pages += 1
        match = re.search(r'<([^>]+)>;\s*rel="next"', response.headers.get("Link", ""))
        url = match.group(1) if match else None
    assert pages > 1
    ids = [m["user_id"] for m in members]
    assert len(ids) == len(set(ids))
    unpaged = web.get("/dev/platform/memberships", headers=bearer(token)).get_json()["members"]
    assert unpaged == members
    with devapp.app_context():
        coordinator = get_session().scalar(select(ProgramCoordinator.person_id))
    (coord,) = [m for m in members if m["user_id"] == f"dev-{coordinator}"]
    assert "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor" in coord["roles"]
    assert all(m["status"] == "Active" and m["name"] for m in members)
    learners = web.get("/dev/platform/memberships?role=Learner", headers=bearer(token))
    assert all(
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner" in m["roles"]
        for m in learners.get_json()["members"]
    )
    ags_only = get_token(web, devapp, base, [SCOPE + "score"])
    assert web.get("/dev/platform/memberships", headers=bearer(ags_only)).status_code == 403


# ----------------------------------------------------------------------- deep linking


def deep_link_response(app: Flask, base: str, data: str, **overrides: Any) -> str:
    kid, pem = tool_key(app)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "aud": [f"{base}/dev/platform"],
        "iat": now,
        "exp": now + 600,
        "nonce": uuid.uuid4().hex,
        LTI + "deployment_id": "1",
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        DL + "data": data,
        DL + "content_items": [
            {
                "type": "ltiResourceLink",
                "title": "Our tandem (deep linked)",
                "url": f"{base}/lti/launch",
                "custom": {"activity": "my_tandem", "program": "1"},
                "lineItem": {"label": "Tandem completion (DL)", "scoreMaximum": 1},
            },
            {"type": "html", "html": "<p>ignored</p>"},
        ],
    }
    claims.update(overrides)
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def test_deep_link_return_adds_verified_links(devapp: Flask, web: Any, base: str) -> None:
    data = id_token_for(web, base, persona="coordinator", message="deep_linking")[
        DL + "deep_linking_settings"
    ]["data"]
    response = web.post(
        "/dev/platform/deep-link-return", data={"JWT": deep_link_response(devapp, base, data)}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Our tandem (deep linked)" in page
    assert "Ignored" in page
    assert "html" in page
    course = web.get("/dev/platform").get_data(as_text=True)
    assert "Our tandem (deep linked)" in course
    assert "Tandem completion (DL)" in course  # its gradebook column
    link_id = re.search(r'name="link" value="([0-9a-f]+)"', course)
    assert link_id is not None
    # Launching the link sends its custom parameters and its line item.
    claims = id_token_for(web, base, persona="junior", link=link_id.group(1))
    assert claims[LTI + "custom"] == {"activity": "my_tandem", "program": "1"}
    assert claims[LTI + "resource_link"] == {
        "id": f"dev-link-{link_id.group(1)}",
        "title": "Our tandem (deep linked)",
    }
    assert "lineitem" in claims[AGS]
    # The data is single-use.
    again = web.post(
        "/dev/platform/deep-link-return", data={"JWT": deep_link_response(devapp, base, data)}
    )
    assert again.status_code == 400
    assert "data does not echo" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"iss": "someone"}, "iss must be"),
        ({"aud": ["https://elsewhere.example.com"]}, "Audience"),
        ({LTI + "message_type": "LtiResourceLinkRequest"}, "message_type must be"),
        ({LTI + "version": "1.1"}, "version must be"),
        ({LTI + "deployment_id": "2"}, "deployment_id must be"),
        ({DL + "data": "forged"}, "data does not echo"),
        ({"exp": 1}, "expired"),
    ],
)
def test_deep_link_return_refusals(
    devapp: Flask, web: Any, base: str, override: dict[str, Any], message: str
) -> None:
    data = id_token_for(web, base, persona="coordinator", message="deep_linking")[
        DL + "deep_linking_settings"
    ]["data"]
    token = deep_link_response(devapp, base, data, **override)
    response = web.post("/dev/platform/deep-link-return", data={"JWT": token})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_deep_link_return_refuses_a_forged_signature(devapp: Flask, web: Any, base: str) -> None:
    assert web.post("/dev/platform/deep-link-return", data={}).status_code == 400
    token = deep_link_response(devapp, base, "x")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    response = web.post("/dev/platform/deep-link-return", data={"JWT": forged})
    assert response.status_code == 400
    assert "refused" in response.get_data(as_text=True)


# ----------------------------------------------------------------------- end to end


def tool_side_ready() -> bool:
    source = Path(__file__).resolve().parents[2] / "lti" / "launch.py"
    return "def login" in source.read_text(encoding="utf-8")


needs_tool = pytest.mark.skipif(
    not tool_side_ready(), reason="the tool's /lti/login and /lti/launch are not built yet"
)


def browse_launch(base: str, **params: str) -> requests.Response:
    """What a browser does: platform launch → tool login → platform auth → tool launch."""
    with requests.Session() as browser:
        page = browser.get(f"{base}/dev/platform/launch", params=params, timeout=30)
        assert page.status_code == 200, page.text
        action = re.search(r'<form id="lti-launch" method="post" action="([^"]+)"', page.text)
        assert action is not None, page.text
        assert action.group(1) == f"{base}/lti/launch"
        return browser.post(action.group(1), data=form_fields(page.text), timeout=30)


@needs_tool
def test_full_flow_junior_reaches_the_participant_page(base: str) -> None:
    response = browse_launch(base, persona="junior", activity="my_tandem")
    assert response.status_code == 200, response.text
    assert urlsplit(response.url).path.startswith("/app/")
    assert 'data-testid="participant-page"' in response.text
    assert "My tandem" in response.text


@needs_tool
def test_full_flow_coordinator_reaches_the_dashboard(base: str) -> None:
    response = browse_launch(base, persona="coordinator", activity="dashboard")
    assert response.status_code == 200, response.text
    assert 'data-testid="coordinator-page"' in response.text


@needs_tool
def test_full_flow_in_german(base: str) -> None:
    response = browse_launch(base, persona="senior", activity="my_tandem", locale="de")
    assert response.status_code == 200, response.text
    assert 'data-testid="participant-page"' in response.text
    assert 'lang="de"' in response.text


@needs_tool
def test_full_flow_deep_linking_round_trip(base: str) -> None:
    with requests.Session() as browser:
        page = browser.get(
            f"{base}/dev/platform/launch",
            params={"persona": "coordinator", "message": "deep_linking"},
            timeout=30,
        )
        launched = browser.post(f"{base}/lti/launch", data=form_fields(page.text), timeout=30)
        assert launched.status_code == 200, launched.text
        assert "Add Tandem activities" in launched.text  # the tool's picker
        picker = form_fields(launched.text)
        program = re.search(r'<option value="(\d+)"', launched.text)
        assert program is not None
        answer = browser.post(
            f"{base}/lti/deep-link",
            data={
                "csrf_token": picker["csrf_token"],
                "program": program.group(1),
                "activity": ["my_tandem", "sessions"],
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        action = re.search(r'action="([^"]+)"', answer.text)
        assert action is not None
        assert action.group(1) == f"{base}/dev/platform/deep-link-return"
        returned = browser.post(action.group(1), data=form_fields(answer.text), timeout=30)
        assert returned.status_code == 200, returned.text
        assert "Activities added to the course" in returned.text
        assert "Reverse mentoring: my tandem" in returned.text
        course = browser.get(f"{base}/dev/platform", timeout=30).text
        links = re.findall(r'name="link" value="([0-9a-f]+)"', course)
        assert len(links) >= 2
        # Open the first added link as the junior: its custom parameters pick the page.
        first = browser.get(
            f"{base}/dev/platform/launch",
            params={"persona": "junior", "link": links[-2]},
            timeout=30,
        )
        opened = browser.post(f"{base}/lti/launch", data=form_fields(first.text), timeout=30)
        assert opened.status_code == 200, opened.text
        assert 'data-testid="participant-page"' in opened.text

"""The negative launch suite: crafted logins and launches, each wrong in exactly one way.

Every one must be refused with a 4xx page that says what was wrong — never a 500 — and
write nothing: the row counts of every table (the shared LTI store ``lti_cache``
included) taken after the login equal those after the refused launch. Afterwards a
correct launch still succeeds, so Tandem stays healthy. The one documented exception is
a deployment seen for the first time: it is recorded as pending (plus its audit event) so
an admin can approve it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti import launch as launch_module
from lti.db import get_engine
from plugin import models
from plugin.services import lti_registrations as regs
from plugin.services import organizations
from tests.lti.launch_kit import (
    AUTH_URL,
    BASE,
    CLIENT_ID,
    ISSUER,
    JWKS_URL,
    LAUNCH_URL,
    ROLE_INSTRUCTOR,
    LoginResult,
    Platform,
    b64url,
    forge,
    new_key,
    page_text,
    row_counts,
    running_platform,
)

C = "https://purl.imsglobal.org/spec/lti/claim/"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
#: How a refused content-selection launch may name its missing or broken settings.
DL_PHRASES = ("deep_linking_settings", "deep linking settings", "deep_link_return_url")


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    """launch_kit's Moodle-like platform, registered for organization "acme"."""
    with running_platform(app) as p:
        yield p


@contextmanager
def committed(app: Flask) -> Iterator[Session]:
    """A session on the app's database whose work is committed (as an admin's CLI would)."""
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        yield session
        session.commit()


def assert_refused(resp: Any, status: int, phrase: str | tuple[str, ...]) -> None:
    """A clean 4xx page naming what was wrong (``phrase``, or one of several wordings)."""
    text = page_text(resp)
    assert resp.status_code == status, (resp.status_code, text[:600])
    assert 400 <= resp.status_code < 500
    phrases = (phrase,) if isinstance(phrase, str) else phrase
    assert any(p.lower() in text.lower() for p in phrases), (phrases, text[:600])


def assert_healthy(platform: Platform) -> None:
    """A correct launch right after the refusal still opens Tandem."""
    resp = platform.launch()
    assert resp.status_code == 303, page_text(resp)[:600]


def now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- the table

Build = Callable[[Platform, LoginResult], Any]


@dataclass(frozen=True)
class Case:
    """One crafted launch: how to build it from a fresh login, and the expected refusal."""

    id: str
    build: Build
    status: int
    phrase: str | tuple[str, ...]


def claims_with(**overrides: Any) -> Build:
    """A launch whose claims differ from a correct one by ``overrides``.

    None removes a claim; a callable is called when the launch is built (times must be
    taken then, not when the module is collected).
    """

    def build(p: Platform, login: LoginResult) -> Any:
        values = {k: v() if callable(v) else v for k, v in overrides.items()}
        claims = p.claims(login.nonce or "")
        for key, value in values.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return p.post_launch(p.sign(claims), login.state)

    return build


def seconds_from_now(delta: int) -> Callable[[], int]:
    """The time ``delta`` seconds from when the launch is built."""
    return lambda: now() + delta


def token_of(make: Callable[[Platform, dict[str, Any]], str]) -> Build:
    """A launch whose id_token is made by ``make`` from a correct set of claims."""

    def build(p: Platform, login: LoginResult) -> Any:
        return p.post_launch(make(p, p.claims(login.nonce or "")), login.state)

    return build


def _other_key(p: Platform, claims: dict[str, Any]) -> str:
    return p.sign(claims, key=new_key(), kid=p.kid)


def _alg_none(p: Platform, claims: dict[str, Any]) -> str:
    return forge({"alg": "none", "typ": "JWT", "kid": p.kid}, claims)


def _hs256_public_key(p: Platform, claims: dict[str, Any]) -> str:
    return forge({"alg": "HS256", "typ": "JWT", "kid": p.kid}, claims, hmac_key=p.public_pem())


def _tampered(p: Platform, claims: dict[str, Any]) -> str:
    head, _body, signature = p.sign(claims).split(".")
    raised = {**claims, C + "roles": [ROLE_INSTRUCTOR]}
    body = b64url(json.dumps(raised).encode())
    return f"{head}.{body}.{signature}"


def _header_not_an_object(p: Platform, claims: dict[str, Any]) -> str:
    return forge(["RS256", p.kid], claims, signature=p.sign(claims).split(".")[2])


def _kid_not_a_string(p: Platform, claims: dict[str, Any]) -> str:
    # PyJWT will not sign this header, so the signature is borrowed: the kid is checked first.
    return forge({"alg": "RS256", "kid": 12345}, claims, signature=p.sign(claims).split(".")[2])


def _body_not_an_object(p: Platform, claims: dict[str, Any]) -> str:
    return jwt.api_jws.encode(
        b'["not", "claims"]', p.key, algorithm="RS256", headers={"kid": p.kid}
    )


def _id_token(value: str) -> Build:
    def build(p: Platform, login: LoginResult) -> Any:
        return p.post_launch(value, login.state)

    return build


def _without_state(p: Platform, login: LoginResult) -> Any:
    return p.post_launch(p.sign(p.claims(login.nonce or "")), None)


def _unknown_state(p: Platform, login: LoginResult) -> Any:
    return p.post_launch(p.sign(p.claims(login.nonce or "")), "state-" + "x" * 32)


def _tampered_state(p: Platform, login: LoginResult) -> Any:
    # The issued state with its content changed (another nonce): the HMAC no longer fits.
    version, sid, payload, mac = (login.state or "").split(".")
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    content["nonce"] = "chosen-by-the-attacker"
    forged = base64.urlsafe_b64encode(json.dumps(content).encode()).rstrip(b"=").decode()
    state = ".".join((version, sid, forged, mac))
    return p.post_launch(p.sign(p.claims("chosen-by-the-attacker")), state)


def _state_cookie_differs(p: Platform, login: LoginResult) -> Any:
    # The browser holds a state cookie for this login, but with another value.
    sid = (login.state or "").split(".")[1]
    p.client.set_cookie(f"lti1p3-{sid}", "state-someone-else", domain="localhost")
    return p.post_launch(p.sign(p.claims(login.nonce or "")), login.state)


def _roles_not_a_list(p: Platform, login: LoginResult) -> Any:
    return claims_with(**{C + "roles": ROLE_INSTRUCTOR})(p, login)


SIGNATURE_CASES = [
    Case("bad_signature", token_of(_other_key), 401, "signature is not valid"),
    Case("tampered_payload", token_of(_tampered), 401, "signature is not valid"),
    Case("alg_none", token_of(_alg_none), 401, "signed with 'none'"),
    Case("hs256_with_public_key", token_of(_hs256_public_key), 401, "signed with 'HS256'"),
    Case("header_not_an_object", token_of(_header_not_an_object), 400, "not a readable JWT"),
    Case("kid_not_a_string", token_of(_kid_not_a_string), 401, "names no key ('kid')"),
    Case("body_not_an_object", token_of(_body_not_an_object), 400, "not a readable JWT"),
    Case("garbage_id_token", _id_token("garbage"), 400, "not a readable JWT"),
    Case("three_garbage_parts", _id_token("a.b.c"), 400, "not a readable JWT"),
    Case("oversized_id_token", _id_token("a" * 70_000 + ".b.c"), 400, "too large"),
    Case("missing_id_token", _id_token(""), 400, "has no id_token"),
]

CLAIM_CASES = [
    Case("wrong_iss", claims_with(iss="https://evil.example.org"), 403, "is not registered"),
    Case("unregistered_client_id", claims_with(aud="no-such-client"), 403, "is not registered"),
    Case("missing_iss", claims_with(iss=None), 400, "has no issuer ('iss')"),
    Case("missing_aud", claims_with(aud=None), 400, "has no audience ('aud')"),
    Case("aud_not_a_string", claims_with(aud=42), 400, "has no audience ('aud')"),
    Case(
        "aud_list_without_azp",
        claims_with(aud=[CLIENT_ID, "another-tool"]),
        401,
        "meant for another tool ('azp')",
    ),
    Case("wrong_azp", claims_with(azp="another-tool"), 401, "meant for another tool ('azp')"),
    Case(
        "expired",
        claims_with(exp=seconds_from_now(-120), iat=seconds_from_now(-200)),
        401,
        "has expired",
    ),
    Case("exp_missing", claims_with(exp=None), 401, "is not valid"),
    Case("exp_not_a_number", claims_with(exp="tomorrow"), 401, "is not valid"),
    Case(
        "iat_in_the_future",
        claims_with(iat=seconds_from_now(600), exp=seconds_from_now(660)),
        401,
        "dated in the future",
    ),
    Case("iat_missing", claims_with(iat=None), 401, "is not valid"),
    Case("nonce_mismatch", claims_with(nonce="not-the-login-nonce"), 401, "nonce mismatch"),
    Case("nonce_missing", claims_with(nonce=None), 401, "nonce mismatch"),
    Case("nonce_not_a_string", claims_with(nonce=12345), 401, "nonce mismatch"),
    Case("wrong_version", claims_with(**{C + "version": "1.1.0"}), 400, "speaks LTI 1.3.0"),
    Case(
        "unsupported_message_type",
        claims_with(**{C + "message_type": "LtiSubmissionReviewRequest"}),
        400,
        "does not handle 'LtiSubmissionReviewRequest'",
    ),
    Case("missing_message_type", claims_with(**{C + "message_type": None}), 400, "does not handle"),
    Case("missing_sub", claims_with(sub=None), 401, "does not say who you are ('sub')"),
    Case("blank_sub", claims_with(sub="   "), 401, "does not say who you are ('sub')"),
    Case("missing_roles", claims_with(**{C + "roles": None}), 400, "no list of roles"),
    Case("roles_not_a_list", _roles_not_a_list, 400, "no list of roles"),
    Case("missing_resource_link", claims_with(**{C + "resource_link": None}), 400, "resource link"),
    Case(
        "resource_link_without_id",
        claims_with(**{C + "resource_link": {"title": "no id"}}),
        400,
        "resource link",
    ),
    Case(
        "resource_link_not_an_object",
        claims_with(**{C + "resource_link": "rl-1"}),
        400,
        "resource link",
    ),
    Case(
        "foreign_target_link_uri",
        claims_with(**{C + "target_link_uri": "https://evil.example.org/lti/launch"}),
        400,
        "not this Tandem ('target_link_uri')",
    ),
    Case(
        "target_link_uri_on_another_port",
        claims_with(**{C + "target_link_uri": "http://127.0.0.1:5001/lti/launch"}),
        400,
        "not this Tandem ('target_link_uri')",
    ),
    Case(
        "target_link_uri_unparseable",
        claims_with(**{C + "target_link_uri": "http://[::1/lti/launch"}),
        400,
        "not this Tandem ('target_link_uri')",
    ),
    Case(
        "missing_target_link_uri",
        claims_with(**{C + "target_link_uri": None}),
        400,
        "not this Tandem ('target_link_uri')",
    ),
    Case(
        "missing_deployment_id",
        claims_with(**{C + "deployment_id": None}),
        400,
        "names no deployment",
    ),
    Case(
        "deep_link_without_settings",
        claims_with(
            **{C + "message_type": "LtiDeepLinkingRequest", C + "roles": [ROLE_INSTRUCTOR]}
        ),
        400,
        DL_PHRASES,
    ),
    Case(
        "deep_link_settings_not_an_object",
        claims_with(
            **{
                C + "message_type": "LtiDeepLinkingRequest",
                C + "roles": [ROLE_INSTRUCTOR],
                DL_SETTINGS: "https://evil.example.org/return",
            }
        ),
        400,
        DL_PHRASES,
    ),
    Case(
        "deep_link_without_return_url",
        claims_with(
            **{
                C + "message_type": "LtiDeepLinkingRequest",
                C + "roles": [ROLE_INSTRUCTOR],
                DL_SETTINGS: {
                    "accept_types": ["ltiResourceLink"],
                    "accept_presentation_document_targets": ["iframe"],
                },
            }
        ),
        400,
        DL_PHRASES,
    ),
]

STATE_CASES = [
    Case("missing_state", _without_state, 400, "has no 'state'"),
    Case("unknown_state", _unknown_state, 401, "did not start at this Tandem"),
    Case("tampered_state", _tampered_state, 401, "did not start at this Tandem"),
    Case("state_cookie_differs", _state_cookie_differs, 401, "did not start in this browser"),
]

CASES = SIGNATURE_CASES + CLAIM_CASES + STATE_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_crafted_launch_is_refused_and_writes_nothing(
    case: Case, platform: Platform, app: Flask
) -> None:
    login = platform.login()
    assert login.status == 302
    before = row_counts(app)
    resp = case.build(platform, login)
    assert_refused(resp, case.status, case.phrase)
    assert row_counts(app) == before
    assert_healthy(platform)


def test_the_suite_has_enough_distinct_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 24


# --------------------------------------------------------------------------- keys


def test_unknown_kid_refetches_the_jwks_once_then_refuses(platform: Platform, app: Flask) -> None:
    assert_healthy(platform)  # the platform's JWKS is now in the shared store
    assert platform.jwks_calls == 1
    login = platform.login()
    before = row_counts(app)
    token = platform.sign(platform.claims(login.nonce or ""), kid="no-such-kid")
    resp = platform.post_launch(token, login.state)
    assert_refused(resp, 401, "a key the platform does not publish")
    assert platform.jwks_calls == 2  # refetched exactly once
    assert row_counts(app) == before
    assert_healthy(platform)
    assert platform.jwks_calls == 2  # the cached set still serves the known kid


def test_rotated_platform_key_is_accepted_after_one_refetch(platform: Platform, app: Flask) -> None:
    assert_healthy(platform)
    assert platform.jwks_calls == 1
    platform.rotate_key()  # publishes only the new key
    resp = platform.launch()
    assert resp.status_code == 303, page_text(resp)[:600]
    assert platform.jwks_calls == 2
    assert_healthy(platform)  # the refreshed set was kept
    assert platform.jwks_calls == 2


def test_exp_just_inside_the_leeway_is_accepted(platform: Platform, app: Flask) -> None:
    leeway = int(app.config["LAUNCH_LEEWAY"])
    assert leeway >= 20
    resp = platform.launch(exp=now() - (leeway - 15), iat=now() - 90)
    assert resp.status_code == 303, page_text(resp)[:600]


def test_empty_roles_are_a_participant(platform: Platform, app: Flask) -> None:
    with committed(app) as session:
        program = _program(session, platform.org_id)
    resp = platform.launch(
        **{
            C + "roles": [],
            C + "custom": {"activity": "dashboard", "program": str(program)},
        }
    )
    assert resp.status_code == 303, page_text(resp)[:600]
    # A participant opening the coordinator dashboard lands on "my tandem" instead.
    assert resp.headers["Location"].endswith(f"/app/programs/{program}/me")
    with committed(app) as session:
        assert session.scalars(select(models.ProgramCoordinator)).all() == []


# --------------------------------------------------------------------------- state


def test_replayed_id_token_is_refused(platform: Platform, app: Flask) -> None:
    login = platform.login()
    token = platform.sign(platform.claims(login.nonce or ""))
    assert platform.post_launch(token, login.state).status_code == 303
    before = row_counts(app)
    assert_refused(platform.post_launch(token, login.state), 401, "already used")
    assert row_counts(app) == before
    # The same id_token under a fresh login's state: its nonce is not that login's.
    fresh = platform.login()
    before = row_counts(app)
    assert_refused(platform.post_launch(token, fresh.state), 401, "nonce mismatch")
    assert row_counts(app) == before
    assert_healthy(platform)


def test_state_of_a_used_login_is_refused(platform: Platform, app: Flask) -> None:
    login = platform.login()
    assert platform.post_launch(platform.sign(platform.claims(login.nonce or "")), login.state)
    again = platform.sign(platform.claims(login.nonce or "", sub="43"))  # a new token, old state
    before = row_counts(app)
    assert_refused(platform.post_launch(again, login.state), 401, "expired or was already used")
    assert row_counts(app) == before
    assert_healthy(platform)


def test_state_of_an_expired_login_is_refused(
    platform: Platform, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(launch_module, "STATE_SECONDS", -1)  # issued already expired
        login = platform.login()
    before = row_counts(app)
    token = platform.sign(platform.claims(login.nonce or ""))
    assert_refused(platform.post_launch(token, login.state), 401, "expired or was already used")
    assert row_counts(app) == before
    assert_healthy(platform)


def test_login_writes_nothing(platform: Platform, app: Flask) -> None:
    # The state is signed, not stored: a login (or a flood of them) adds no row anywhere.
    before = row_counts(app)
    for _ in range(3):
        assert platform.login().status == 302
    assert row_counts(app) == before


# --------------------------------------------------------------------------- registrations


def test_launch_for_another_client_of_the_same_issuer_is_refused(
    platform: Platform, app: Flask
) -> None:
    with committed(app) as session:
        regs.add_platform(
            session,
            org_id=platform.org_id,
            issuer=ISSUER,
            client_id="tandem-client-2",
            auth_login_url=AUTH_URL,
            auth_token_url=ISSUER + "/mod/lti/token.php",
            jwks_url=JWKS_URL,
            deployment_ids=["1"],
            actor="test",
        )
    login = platform.login()  # for client 1
    before = row_counts(app)
    resp = claims_with(aud="tandem-client-2")(platform, login)
    assert_refused(resp, 401, "another platform than the login it answers")
    assert row_counts(app) == before
    assert_healthy(platform)


def _deployment(app: Flask, deployment_id: str) -> models.LtiDeployment | None:
    with committed(app) as session:
        return session.scalar(
            select(models.LtiDeployment).where(models.LtiDeployment.deployment_id == deployment_id)
        )


def test_unknown_deployment_waits_for_approval(platform: Platform, app: Flask) -> None:
    new_deployment = {C + "deployment_id": "99"}
    login = platform.login()
    before = row_counts(app)
    resp = claims_with(**new_deployment)(platform, login)
    assert_refused(resp, 403, "waits for approval")
    after = row_counts(app)
    # The one thing a refused launch writes: the pending deployment and its audit event.
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert changed == {
        "lti_deployments": (before["lti_deployments"], before["lti_deployments"] + 1),
        "audit_events": (before["audit_events"], before["audit_events"] + 1),
    }
    deployment = _deployment(app, "99")
    assert deployment is not None
    assert deployment.status is models.LtiDeploymentStatus.PENDING
    with committed(app) as session:
        event = session.scalars(
            select(models.AuditEvent).order_by(models.AuditEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.action, event.object_id) == ("lti.deployment_seen", str(deployment.id))

    # Still pending: refused again, and nothing more is written.
    login = platform.login()
    before = row_counts(app)
    assert_refused(claims_with(**new_deployment)(platform, login), 403, "waits for approval")
    assert row_counts(app) == before

    with committed(app) as session:
        regs.approve_deployment(
            session, org_id=platform.org_id, deployment_pk=deployment.id, actor="admin"
        )
    resp = platform.launch(**new_deployment)
    assert resp.status_code == 303, page_text(resp)[:600]


def test_new_deployment_of_an_auto_approving_registration_launches_at_once(
    platform: Platform, app: Flask
) -> None:
    with committed(app) as session:
        reg = regs.find_registration(session, issuer=ISSUER, client_id=CLIENT_ID)
        assert reg is not None
        regs.set_auto_approve(
            session, org_id=platform.org_id, registration_id=reg.id, enabled=True, actor="admin"
        )
    resp = platform.launch(**{C + "deployment_id": "55"})
    assert resp.status_code == 303, page_text(resp)[:600]
    deployment = _deployment(app, "55")
    assert deployment is not None
    assert deployment.status is models.LtiDeploymentStatus.APPROVED
    assert deployment.approved_by == regs.AUTO_APPROVER


def test_revoked_deployment_is_refused(platform: Platform, app: Flask) -> None:
    with committed(app) as session:
        reg = regs.find_registration(session, issuer=ISSUER, client_id=CLIENT_ID)
        assert reg is not None
        deployment = regs.deployment_for_launch(session, registration=reg, deployment_id="7")
        regs.approve_deployment(
            session, org_id=platform.org_id, deployment_pk=deployment.id, actor="admin"
        )
        session.flush()
        regs.revoke_deployment(
            session, org_id=platform.org_id, deployment_pk=deployment.id, actor="admin"
        )
    login = platform.login()
    before = row_counts(app)
    resp = claims_with(**{C + "deployment_id": "7"})(platform, login)
    assert_refused(resp, 403, "switched off")
    assert row_counts(app) == before
    assert_healthy(platform)


def test_deactivated_registration_is_refused(platform: Platform, app: Flask) -> None:
    login = platform.login()
    with committed(app) as session:
        reg = regs.find_registration(session, issuer=ISSUER, client_id=CLIENT_ID)
        assert reg is not None
        reg.active = False
    before = row_counts(app)
    resp = claims_with()(platform, login)
    assert_refused(resp, 403, "is not registered")
    assert row_counts(app) == before


# --------------------------------------------------------------------------- login


LOGIN_CASES = [
    ("missing_iss", {"iss": None}, "lacks 'iss'"),
    ("missing_login_hint", {"login_hint": None}, "lacks 'login_hint'"),
    ("missing_target_link_uri", {"target_link_uri": None}, "lacks 'target_link_uri'"),
    ("unknown_issuer", {"iss": "https://unknown.example.org"}, "is not registered with Tandem"),
    ("unregistered_client_id", {"client_id": "no-such-client"}, "is not registered with Tandem"),
    (
        "foreign_target_link_uri",
        {"target_link_uri": "https://evil.example.org/steal"},
        "not this Tandem ('target_link_uri')",
    ),
    (
        "target_link_uri_unparseable",
        {"target_link_uri": "http://[::1/lti/launch"},
        "not this Tandem ('target_link_uri')",
    ),
    (
        "target_link_uri_prefix_trick",
        {"target_link_uri": BASE + ".evil.example.org/lti/launch"},
        "not this Tandem ('target_link_uri')",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [(o, p) for _, o, p in LOGIN_CASES],
    ids=[i for i, _, _ in LOGIN_CASES],
)
def test_crafted_login_is_refused_and_writes_nothing(
    overrides: dict[str, Any], phrase: str, platform: Platform, app: Flask
) -> None:
    assert platform.login().status == 302  # the first login creates the tool key
    before = row_counts(app)
    params = {
        "iss": ISSUER,
        "login_hint": "42",
        "target_link_uri": LAUNCH_URL,
        "client_id": CLIENT_ID,
        **overrides,
    }
    resp = platform.client.get("/lti/login", query_string={k: v for k, v in params.items() if v})
    assert_refused(resp, 400, phrase)
    assert "Set-Cookie" not in resp.headers
    assert row_counts(app) == before
    assert_healthy(platform)


# --------------------------------------------------------------------------- deep-link answer


@pytest.mark.parametrize(
    "program",
    ["", "abc", "-1", "99999999999999999999", "2147483648", "other-org"],
)
def test_deep_link_answer_for_a_program_it_cannot_use_is_refused(
    program: str, platform: Platform, app: Flask
) -> None:
    with committed(app) as session:
        _program(session, platform.org_id)
        if program == "other-org":
            other = organizations.create_organization(
                session, slug="globex", name="Globex", actor="test"
            )
            session.flush()
            program = str(_program(session, other.id))
    picker = platform.launch(
        **{
            C + "message_type": "LtiDeepLinkingRequest",
            C + "roles": [ROLE_INSTRUCTOR],
            DL_SETTINGS: {
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe"],
                "deep_link_return_url": ISSUER + "/mod/lti/contentitem_return.php",
            },
        }
    )
    assert picker.status_code == 200, page_text(picker)[:600]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page_text(picker))
    assert csrf is not None
    before = row_counts(app)
    resp = platform.client.post(
        "/lti/deep-link",
        data={"csrf_token": csrf.group(1), "program": program, "activity": "my_tandem"},
    )
    assert_refused(resp, 400, "Choose a program")
    assert row_counts(app) == before


# --------------------------------------------------------------------------- no traces


def test_repeated_bad_launches_leave_no_person_identity_link_or_session(
    platform: Platform, app: Flask
) -> None:
    for case in CASES:
        login = platform.login()
        resp = case.build(platform, login)
        assert 400 <= resp.status_code < 500, (case.id, resp.status_code)
    with committed(app) as session:
        for model in (models.Person, models.PersonIdentity, models.LtiLink):
            assert session.scalars(select(model)).all() == [], model.__name__
        keys = session.scalars(select(models.LtiCacheEntry.key)).all()
        assert not [k for k in keys if k.startswith(("web:", "nonce-used:"))]
    assert platform.client.get_cookie("tandem_session") is None


def _program(session: Session, org_id: int) -> int:
    from datetime import date

    from plugin.services import programs

    org = session.get(models.Organization, org_id)
    assert org is not None
    program = programs.create_program(
        session,
        org=org,
        actor="test",
        name="Reverse Mentoring 2026",
        format="one_to_one",
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 9, 1),
    )
    session.flush()
    return program.id

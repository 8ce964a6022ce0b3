"""A scriptable LTI platform for launch tests: its key, JWKS (served through ``responses``),
claims like Moodle's, and the login → launch round trip through Flask's test client.

Each test can break one thing (a claim, the header, the key, the state) and check that
Tandem refuses it cleanly. The platform's JWKS is fetched by Tandem over ``requests``; the
``platform`` fixture answers it with ``responses``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti import launch as launch_module
from lti.db import get_engine
from plugin import models
from plugin.db import metadata
from plugin.services import lti_registrations as regs
from plugin.services import organizations

ISSUER = "https://moodle.example.edu"
CLIENT_ID = "tandem-client-1"
DEPLOYMENT_ID = "1"
JWKS_URL = ISSUER + "/mod/lti/certs.php"
AUTH_URL = ISSUER + "/mod/lti/auth.php"
TOKEN_URL = ISSUER + "/mod/lti/token.php"
BASE = "http://127.0.0.1:5000"
LAUNCH_URL = BASE + "/lti/launch"

ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    data.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return data


@dataclass
class LoginResult:
    """What Tandem's OIDC login answered."""

    status: int
    state: str | None = None
    nonce: str | None = None
    redirect_uri: str | None = None
    params: dict[str, str] = field(default_factory=dict)


class Platform:
    """A Moodle-like platform for one test (uses the app's test client)."""

    def __init__(self, app: Flask, mock: responses.RequestsMock, org_id: int) -> None:
        self.app = app
        self.client = app.test_client()
        self.mock = mock
        self.org_id = org_id
        self.key = new_key()
        self.kid = "platform-key-1"
        self.published = [public_jwk(self.key, self.kid)]
        self.jwks_calls = 0
        mock.add_callback(responses.GET, JWKS_URL, callback=self._jwks)

    def _jwks(self, _request: Any) -> tuple[int, dict[str, str], str]:
        self.jwks_calls += 1
        return 200, {"Content-Type": "application/json"}, json.dumps({"keys": self.published})

    def rotate_key(self, *, keep_old: bool = False) -> str:
        """Sign with a new key from now on and publish it (the old one too if ``keep_old``)."""
        self.key = new_key()
        self.kid = f"platform-key-{len(self.published) + 1}-{uuid.uuid4().hex[:6]}"
        new = public_jwk(self.key, self.kid)
        self.published = [*self.published, new] if keep_old else [new]
        return self.kid

    def public_pem(self) -> bytes:
        """The current public key as PEM (what a key-confusion attacker would HMAC with)."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # -- flow
    def login(self, **overrides: Any) -> LoginResult:
        params = {
            "iss": ISSUER,
            "login_hint": "42",
            "target_link_uri": LAUNCH_URL,
            "lti_message_hint": "hint-1",
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID,
        }
        params.update({k: v for k, v in overrides.items() if v is not None})
        for k in [k for k, v in overrides.items() if v is None]:
            params.pop(k, None)
        resp = self.client.post("/lti/login", data=params)
        if resp.status_code != 302:
            return LoginResult(resp.status_code)
        location = resp.headers["Location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return LoginResult(
            302,
            state=query.get("state"),
            nonce=query.get("nonce"),
            redirect_uri=query.get("redirect_uri"),
            params=query,
        )

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "42",
            "exp": now + 60,
            "iat": now,
            "nonce": nonce,
            "name": "Jana Junior",
            "given_name": "Jana",
            "family_name": "Junior",
            "email": "jana.junior@acme.example",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": DEPLOYMENT_ID,
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": LAUNCH_URL,
            "https://purl.imsglobal.org/spec/lti/claim/roles": [ROLE_LEARNER],
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": {
                "id": "rl-1",
                "title": "Reverse mentoring: my tandem",
            },
            "https://purl.imsglobal.org/spec/lti/claim/context": {
                "id": "course-7",
                "label": "RM26",
                "title": "Reverse Mentoring 2026",
                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection"],
            },
            "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
                "document_target": "iframe",
                "locale": "en",
            },
            "https://purl.imsglobal.org/spec/lti/claim/custom": {"activity": "my_tandem"},
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": [
                    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                ],
                "lineitems": ISSUER + "/mod/lti/services.php/7/lineitems?type_id=1",
                "lineitem": ISSUER + "/mod/lti/services.php/7/lineitems/3/lineitem?type_id=1",
            },
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": ISSUER
                + "/mod/lti/services.php/CourseSection/7/bindings/1/memberships",
                "service_versions": ["2.0"],
            },
        }
        for key, value in overrides.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        alg: str = "RS256",
    ) -> str:
        headers = {"kid": kid or self.kid}
        return jwt.encode(claims, key or self.key, algorithm=alg, headers=headers)

    def post_launch(self, id_token: str | None, state: str | None, **extra: str) -> Any:
        data = {"id_token": id_token, "state": state, **extra}
        return self.client.post(
            "/lti/launch", data={k: v for k, v in data.items() if v is not None}
        )

    def launch(self, **claim_overrides: Any) -> Any:
        """The whole flow: login, then a launch with the issued state and nonce."""
        result = self.login()
        assert result.status == 302, result
        assert result.nonce
        assert result.state
        token = self.sign(self.claims(result.nonce, **claim_overrides))
        return self.post_launch(token, result.state)


def register(
    session: Session, org_id: int, *, deployments: tuple[str, ...] = (DEPLOYMENT_ID,)
) -> models.LtiRegistration:
    return regs.add_platform(
        session,
        org_id=org_id,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        auth_login_url=AUTH_URL,
        auth_token_url=TOKEN_URL,
        jwks_url=JWKS_URL,
        deployment_ids=deployments,
        actor="test",
    )


@contextmanager
def running_platform(app: Flask) -> Iterator[Platform]:
    """A registered platform (approved deployment "1") of a fresh organization "acme".

    The body of the ``platform`` fixture, for test modules that define their own fixture
    named ``platform`` instead of importing this module's (ruff F811).
    """
    launch_module._REFETCHED.clear()  # the per-process JWKS refetch throttle starts fresh
    launch_module._KEY_SETS.clear()  # and its per-process key sets
    with app.app_context(), Session(get_engine(app)) as session:
        org = organizations.create_organization(session, slug="acme", name="Acme", actor="test")
        register(session, org.id)
        session.commit()
        org_id = org.id
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Platform(app, mock, org_id)


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    """A registered platform (approved deployment "1") of a fresh organization "acme"."""
    with running_platform(app) as p:
        yield p


def row_counts(app: Flask) -> dict[str, int]:
    """Rows per table (the shared LTI store included), to prove a refusal wrote nothing."""
    counts: dict[str, int] = {}
    with app.app_context(), Session(get_engine(app)) as session:
        for table in metadata.sorted_tables:
            counts[table.name] = session.scalar(select(func.count()).select_from(table)) or 0
    return counts


def new_nonce() -> str:
    return uuid.uuid4().hex


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Any, claims: Any, *, hmac_key: bytes | None = None, signature: str = "") -> str:
    """A compact JWT built by hand: unsigned (``alg: none``), HMAC-signed, or any signature.

    PyJWT refuses to sign such tokens (an HMAC with a PEM public key, odd headers), which is
    exactly what attackers send.
    """
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    if hmac_key is not None:
        digest = hmac.new(hmac_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        signature = b64url(digest)
    return f"{head}.{body}.{signature}"


def page_text(resp: Any) -> str:
    """A response's body with HTML entities decoded (``&#39;sub&#39;`` → ``'sub'``)."""
    return html.unescape(resp.get_data(as_text=True))

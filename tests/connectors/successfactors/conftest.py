"""Shared fixtures of the SuccessFactors connector tests: keys, connections, a mocked API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.successfactors.auth import TokenCache, clear_token_caches
from plugin.ports import ConnectionConfig

BASE = "https://api4.sf.test"
ODATA = BASE + "/odata/v2"
TOKEN_URL = BASE + "/oauth/token"
LEARNING = "https://acme.plateau.test"
LEARNING_TOKEN_URL = LEARNING + "/learning/oauth-api/rest/v1/token"
EVENTS_URL = (
    LEARNING + "/learning/odatav4/public/admin/learningevent-service/v1/ExternalLearningEvents"
)
HISTORY_URL = LEARNING + "/learning/odatav4/public/user/userlearning-service/v1/learninghistorys"
PASSWORD = "Pa55-w0rd-very-secret"
LEARNING_SECRET = "learning-client-secret-42"
PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class KeyPair:
    key_pem: str = field(repr=False)
    cert_pem: str


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    """A throwaway RSA key and a self-signed certificate (as registered on an OAuth client)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tandem-test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


def connection(
    keypair: KeyPair | None,
    *,
    connection_id: int = 3,
    credentials: dict[str, str] | None = None,
    **settings: Any,
) -> ConnectionConfig:
    """A SuccessFactors connection; SAML when a key pair is given, else basic auth."""
    values: dict[str, Any] = {
        "base_url": BASE,
        "company_id": "ACME",
        "client_id": "tandem-api-key",
        "user_id": "sfadmin",
        "learning_url": LEARNING,
    }
    values.update({k: v for k, v in settings.items() if v is not None})
    for key in [k for k, v in settings.items() if v is None]:
        values.pop(key, None)
    creds = (
        {"private_key": keypair.key_pem, "certificate": keypair.cert_pem}
        if keypair is not None
        else {"password": PASSWORD}
    )
    creds.update(credentials or {})
    return ConnectionConfig(
        org_id=1,
        connection_id=connection_id,
        name="sf",
        kind="successfactors",
        settings=values,
        credentials=creds,
    )


class Waits:
    """Records the waits a client asks for (no real sleeping in tests)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    clear_token_caches()
    yield
    clear_token_caches()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache() -> TokenCache:
    return TokenCache()


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def token_ok(mock: responses.RequestsMock, value: str = "tok-1", expires_in: int = 3600) -> None:
    mock.post(
        TOKEN_URL, json={"access_token": value, "token_type": "Bearer", "expires_in": expires_in}
    )


def query(call: Any) -> dict[str, str]:
    """The decoded query of a recorded call (one value per name)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def calls_to(mock: responses.RequestsMock, url: str) -> list[Any]:
    return [c for c in mock.calls if c.request.url.split("?")[0] == url]

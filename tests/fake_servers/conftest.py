"""Fixtures for the SuccessFactors fake's own tests: a small tenant, its Flask test client,
a throwaway key pair + certificate, and a SAML assertion builder (signxml)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from signxml import XMLSigner  # type: ignore[attr-defined]

from fakes.successfactors import FakeTenant, create_app

COMPANY = "ACME"
CLIENT_ID = "tandem"
API_USER = "sfadmin"
PASSWORD = "s3cret-Pa55"
LEARNING_SECRET = "learning-secret"
BASE = "https://api4.sapsf.example"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


def _key_pair(common_name: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def key_pair() -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) registered for the client."""
    return _key_pair("tandem-test")


@pytest.fixture(scope="session")
def other_key_pair() -> tuple[bytes, bytes]:
    """A key pair SuccessFactors does not know."""
    return _key_pair("intruder")


class _LegacySigner(XMLSigner):  # type: ignore[misc]
    """Signs with RSA-SHA1 as older SuccessFactors clients still do (signxml refuses by default)."""

    def check_deprecated_methods(self) -> None:
        return None


def build_assertion(
    key_pem: bytes,
    cert_pem: bytes,
    *,
    user_id: str = API_USER,
    client_id: str | None = CLIENT_ID,
    issuer: str = "www.successfactors.com",
    audience: str = "www.successfactors.com",
    now: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=10),
    not_before: datetime | None = None,
    sign: bool = True,
    algorithm: str = "rsa-sha256",
    digest: str = "sha256",
    extra_attributes: dict[str, str] | None = None,
    tamper: Callable[[etree._Element], None] | None = None,
) -> str:
    """A base64 SAML 2.0 bearer assertion shaped like SAP's generator (and sf-oauth)."""
    moment = now or datetime.now(UTC)

    def iso(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    q = f"{{{SAML_NS}}}"
    root = etree.Element(
        q + "Assertion",
        nsmap={"saml2": SAML_NS},
        ID="_" + uuid.uuid4().hex,
        IssueInstant=iso(moment),
        Version="2.0",
    )
    etree.SubElement(root, q + "Issuer").text = issuer
    subject = etree.SubElement(root, q + "Subject")
    name_id = etree.SubElement(
        subject, q + "NameID", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    name_id.text = user_id
    confirmation = etree.SubElement(
        subject, q + "SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
    )
    etree.SubElement(
        confirmation,
        q + "SubjectConfirmationData",
        NotOnOrAfter=iso(moment + lifetime),
        Recipient=f"{BASE}/oauth/token",
    )
    conditions = etree.SubElement(
        root,
        q + "Conditions",
        NotBefore=iso(not_before or moment - timedelta(minutes=5)),
        NotOnOrAfter=iso(moment + lifetime),
    )
    restriction = etree.SubElement(conditions, q + "AudienceRestriction")
    etree.SubElement(restriction, q + "Audience").text = audience
    statement = etree.SubElement(root, q + "AuthnStatement", AuthnInstant=iso(moment))
    context = etree.SubElement(statement, q + "AuthnContext")
    etree.SubElement(
        context, q + "AuthnContextClassRef"
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    attributes = {"api_key": client_id} if client_id is not None else {}
    attributes.update(extra_attributes or {})
    if attributes:
        attr_statement = etree.SubElement(root, q + "AttributeStatement")
        for name, value in attributes.items():
            attribute = etree.SubElement(attr_statement, q + "Attribute", Name=name)
            etree.SubElement(attribute, q + "AttributeValue").text = value
    signer_class = (
        _LegacySigner if "sha1" in (algorithm, digest) or algorithm.endswith("sha1") else XMLSigner
    )
    signed = (
        signer_class(signature_algorithm=algorithm, digest_algorithm=digest).sign(
            root, key=key_pem, cert=cert_pem.decode("ascii")
        )
        if sign
        else root
    )
    if tamper is not None:
        tamper(signed)
    return base64.b64encode(etree.tostring(signed)).decode("ascii")


@pytest.fixture
def assertion(key_pair: tuple[bytes, bytes]) -> Callable[..., str]:
    """Build an assertion signed with the registered key (keyword overrides allowed)."""
    key_pem, cert_pem = key_pair

    def _build(**kwargs: Any) -> str:
        return build_assertion(key_pem, cert_pem, **kwargs)

    return _build


@pytest.fixture(scope="session")
def population() -> dict[str, Any]:
    """2,500 generated users, built once and copied into each tenant (fast tests)."""
    source = FakeTenant(company_id=COMPANY)
    source.generate_users(n=2500, seed=7, inactive_share=0.05)
    return source.to_dataset()


@pytest.fixture
def tenant(population: dict[str, Any], key_pair: tuple[bytes, bytes]) -> FakeTenant:
    """A tenant with 2,500 users, the OAuth client, basic auth and a Learning client."""
    tenant = FakeTenant(company_id=COMPANY, base_url=BASE)
    tenant.load_dataset(population)
    tenant.register_client(client_id=CLIENT_ID, certificate_pem=key_pair[1], user_id=API_USER)
    tenant.set_basic_password(user_id=API_USER, password=PASSWORD)
    tenant.register_learning_client(client_id=CLIENT_ID, client_secret=LEARNING_SECRET)
    return tenant


@pytest.fixture
def sf_app(tenant: FakeTenant) -> Flask:
    return create_app(tenant)


@pytest.fixture
def sf(sf_app: Flask) -> FlaskClient:
    return sf_app.test_client()


def basic_header(user: str = API_USER, password: str = PASSWORD, company: str = COMPANY) -> str:
    raw = f"{user}@{company}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.fixture
def auth() -> dict[str, str]:
    """Basic-auth headers for OData calls."""
    return {"Authorization": basic_header()}


@pytest.fixture
def bearer(sf: FlaskClient, assertion: Callable[..., str]) -> dict[str, str]:
    """Headers with a platform token obtained through the SAML bearer flow."""
    response = sf.post(
        "/oauth/token",
        data={
            "client_id": CLIENT_ID,
            "company_id": COMPANY,
            "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer",
            "assertion": assertion(),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def relative(url: str) -> str:
    """An absolute ``__next`` as a path the test client can follow."""
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def get_json(client: FlaskClient, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def collect(client: FlaskClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Follow ``__next`` to the end; return every row."""
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    seen: set[str] = set()
    while next_url:
        assert next_url not in seen, "paging loops"
        seen.add(next_url)
        body = get_json(client, next_url, headers)["d"]
        rows.extend(body["results"])
        next_url = relative(body["__next"]) if "__next" in body else None
    return rows

"""SuccessFactors authentication: the SAML assertion, token caches, basic auth, Learning."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
import responses
from lxml import etree  # type: ignore[import-untyped]
from signxml import XMLVerifier  # type: ignore[attr-defined]
from signxml.exceptions import InvalidSignature

from connectors._http import HttpClient
from connectors.successfactors import SuccessFactorsConnector
from connectors.successfactors.auth import (
    GRANT_TYPE,
    SAML_AUDIENCE,
    LearningAuth,
    SamlBearerAuth,
    TokenCache,
    build_assertion,
    platform_auth,
)
from connectors.successfactors.settings import Settings
from plugin.errors import ConnectorAuthError, ValidationError
from tests.connectors.successfactors.conftest import (
    LEARNING_SECRET,
    LEARNING_TOKEN_URL,
    NOW,
    ODATA,
    PASSWORD,
    TOKEN_URL,
    Clock,
    KeyPair,
    Waits,
    calls_to,
    connection,
    token_ok,
)

NS = {
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
USERS_OK = {"d": {"results": [{"userId": "sfadmin"}]}}


def assertion(keypair: KeyPair, now: datetime = NOW) -> bytes:
    return build_assertion(
        client_id="tandem-api-key",
        user_id="sfadmin",
        token_url="https://api4.sf.test/oauth/token",
        private_key_pem=keypair.key_pem,
        certificate_pem=keypair.cert_pem,
        now=now,
    )


# --------------------------------------------------------------------------- assertion


def test_assertion_structure(keypair: KeyPair) -> None:
    root = etree.fromstring(assertion(keypair))
    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
    assert root.get("Version") == "2.0"
    assert root.get("ID").startswith("_")
    assert root.get("IssueInstant") == "2026-09-01T12:00:00Z"
    assert root.findtext("saml2:Issuer", namespaces=NS) == "tandem-api-key"
    # The signature follows the Issuer, as the SAML schema orders it.
    assert [etree.QName(c).localname for c in root][:3] == ["Issuer", "Signature", "Subject"]
    name_id = root.find("saml2:Subject/saml2:NameID", NS)
    assert name_id.text == "sfadmin"
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    confirmation = root.find("saml2:Subject/saml2:SubjectConfirmation", NS)
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = confirmation.find("saml2:SubjectConfirmationData", NS)
    assert data.get("Recipient") == "https://api4.sf.test/oauth/token"
    assert data.get("NotOnOrAfter") == "2026-09-01T12:05:00Z"
    conditions = root.find("saml2:Conditions", NS)
    assert conditions.get("NotBefore") == "2026-09-01T11:59:00Z"
    assert conditions.get("NotOnOrAfter") == "2026-09-01T12:05:00Z"
    audience = conditions.findtext("saml2:AudienceRestriction/saml2:Audience", namespaces=NS)
    assert audience == SAML_AUDIENCE == "www.successfactors.com"
    authn = root.find("saml2:AuthnStatement", NS)
    assert authn.get("AuthnInstant") == "2026-09-01T12:00:00Z"
    assert authn.findtext("saml2:AuthnContext/saml2:AuthnContextClassRef", namespaces=NS) == (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    )
    attribute = root.find("saml2:AttributeStatement/saml2:Attribute[@Name='api_key']", NS)
    assert attribute.findtext("saml2:AttributeValue", namespaces=NS) == "tandem-api-key"
    signature = root.find("ds:Signature", NS)
    assert signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    assert signature.find("ds:SignedInfo/ds:Reference", NS).get("URI") == f"#{root.get('ID')}"
    assert signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)


def test_assertion_signature_verifies_against_the_certificate(keypair: KeyPair) -> None:
    xml = assertion(keypair)
    result = XMLVerifier().verify(xml, x509_cert=keypair.cert_pem)
    assert etree.QName(result.signed_xml).localname == "Assertion"
    assert result.signed_xml.findtext("saml2:Subject/saml2:NameID", namespaces=NS) == "sfadmin"


def test_tampered_assertion_fails_verification(keypair: KeyPair) -> None:
    xml = assertion(keypair).replace(b">sfadmin<", b">someoneelse<")
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(xml, x509_cert=keypair.cert_pem)


def test_each_assertion_is_fresh(keypair: KeyPair) -> None:
    first, second = assertion(keypair), assertion(keypair)
    assert etree.fromstring(first).get("ID") != etree.fromstring(second).get("ID")


def test_bad_key_is_an_auth_error_without_the_key(keypair: KeyPair) -> None:
    with pytest.raises(ConnectorAuthError) as info:
        build_assertion(
            client_id="c",
            user_id="u",
            token_url="https://x/oauth/token",
            private_key_pem="-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----",
            certificate_pem=None,
            now=NOW,
        )
    assert "not-a-key" not in str(info.value)


# --------------------------------------------------------------------------- platform token


def saml_auth(
    keypair: KeyPair, clock: Clock, cache: TokenCache, **settings: object
) -> SamlBearerAuth:
    s = Settings.from_config(connection(keypair, **settings))
    http = HttpClient(connector="successfactors", sleep=Waits(), clock=clock)
    auth = platform_auth(settings=s, http=http, cache=cache, clock=clock)
    assert isinstance(auth, SamlBearerAuth)
    return auth


def test_token_request_form_carries_a_signed_assertion(
    mock: responses.RequestsMock, keypair: KeyPair, clock: Clock, cache: TokenCache
) -> None:
    token_ok(mock, "tok-1")
    assert saml_auth(keypair, clock, cache).token() == "tok-1"
    (call,) = mock.calls
    form = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    assert form["client_id"] == "tandem-api-key"
    assert form["company_id"] == "ACME"
    assert form["grant_type"] == GRANT_TYPE == "urn:ietf:params:oauth:grant-type:saml2-bearer"
    xml = base64.b64decode(form["assertion"])
    XMLVerifier().verify(xml, x509_cert=keypair.cert_pem)
    assert b"https://api4.sf.test/oauth/token" in xml


def test_token_is_cached_until_shortly_before_expiry(
    mock: responses.RequestsMock, keypair: KeyPair, clock: Clock, cache: TokenCache
) -> None:
    token_ok(mock, "tok-1", expires_in=3600)
    token_ok(mock, "tok-2", expires_in=3600)
    auth = saml_auth(keypair, clock, cache)
    assert auth.token() == "tok-1"
    clock.advance(3000)
    assert auth.token() == "tok-1"
    clock.advance(560)  # within the renewal margin
    assert auth.token() == "tok-2"
    assert len(mock.calls) == 2


def test_expired_token_is_refreshed_once_on_401(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    token_ok(mock, "tok-old")
    token_ok(mock, "tok-new")
    mock.get(ODATA + "/User", status=401, json={"error": "The token has expired."})
    mock.get(ODATA + "/User", json=USERS_OK)
    source = SuccessFactorsConnector(connection(keypair), sleep=waits, token_cache=cache)
    source.check()
    auths = [c.request.headers["Authorization"] for c in calls_to(mock, ODATA + "/User")]
    assert auths == ["Bearer tok-old", "Bearer tok-new"]


def test_refused_assertion_is_an_auth_error(
    mock: responses.RequestsMock, keypair: KeyPair, waits: Waits, cache: TokenCache
) -> None:
    mock.post(
        TOKEN_URL,
        status=401,
        json={"errorCode": "invalid_grant", "errorMessage": "Unable to verify the signature"},
    )
    source = SuccessFactorsConnector(connection(keypair), sleep=waits, token_cache=cache)
    with pytest.raises(ConnectorAuthError, match="invalid_grant") as info:
        source.check()
    assert "certificate" in str(info.value)


# --------------------------------------------------------------------------- basic auth


def test_basic_auth_fallback_without_a_key(
    mock: responses.RequestsMock, waits: Waits, cache: TokenCache
) -> None:
    mock.get(ODATA + "/User", json=USERS_OK)
    source = SuccessFactorsConnector(connection(None), sleep=waits, token_cache=cache)
    source.check()
    (call,) = mock.calls
    scheme, value = call.request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == f"sfadmin@ACME:{PASSWORD}"


def test_basic_auth_disabled_lgn0010_says_what_to_do(
    mock: responses.RequestsMock, waits: Waits, cache: TokenCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get(
        ODATA + "/User",
        status=403,
        body="[LGN0010] Basic authentication is disabled for this company",
    )
    source = SuccessFactorsConnector(connection(None), sleep=waits, token_cache=cache)
    with pytest.raises(ConnectorAuthError) as info:
        source.check()
    message = str(info.value)
    assert "basic auth is disabled for this company" in message
    assert "private key and certificate" in message
    header = base64.b64encode(f"sfadmin@ACME:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, header):
        assert secret not in message
        assert secret not in caplog.text


def test_basic_401_is_not_retried_with_the_same_password(
    mock: responses.RequestsMock, waits: Waits, cache: TokenCache
) -> None:
    mock.get(ODATA + "/User", status=401, json={"error": {"code": "401", "message": "nope"}})
    source = SuccessFactorsConnector(connection(None), sleep=waits, token_cache=cache)
    with pytest.raises(ConnectorAuthError):
        source.check()
    assert len(mock.calls) == 1


def test_settings_need_a_secret() -> None:
    config = connection(None, credentials={"password": ""})
    with pytest.raises(ValidationError, match="private key"):
        SuccessFactorsConnector(config)
    with pytest.raises(ValidationError, match="https"):
        SuccessFactorsConnector(connection(None, base_url="http://api4.sf.test"))
    with pytest.raises(ValidationError, match="company_id"):
        SuccessFactorsConnector(connection(None, company_id=None))


# --------------------------------------------------------------------------- learning


def test_learning_token_server_mode(
    mock: responses.RequestsMock, keypair: KeyPair, clock: Clock, cache: TokenCache
) -> None:
    mock.post(LEARNING_TOKEN_URL, json={"access_token": "ltok-1", "expires_in": 1800})
    mock.post(LEARNING_TOKEN_URL, json={"access_token": "ltok-2", "expires_in": 1800})
    config = connection(keypair, credentials={"learning_client_secret": LEARNING_SECRET})
    s = Settings.from_config(config)
    assert s.learning_auth == "learning_token_server"
    http = HttpClient(connector="successfactors", sleep=Waits(), clock=clock)
    auth = LearningAuth(settings=s, http=http, platform=None, cache=cache, clock=clock)
    assert auth.token() == "ltok-1"
    assert auth.token() == "ltok-1"  # cached
    clock.advance(1800)
    assert auth.token() == "ltok-2"
    call = mock.calls[0]
    user, secret = (
        base64.b64decode(call.request.headers["Authorization"].split()[1]).decode().split(":")
    )
    assert (user, secret) == ("tandem-api-key", LEARNING_SECRET)
    assert json.loads(call.request.body) == {
        "grant_type": "client_credentials",
        "scope": {
            "userId": "sfadmin",
            "companyId": "ACME",
            "userType": "admin",
            "resourceType": "learning_public_api",
        },
    }


def test_learning_platform_mode_uses_the_saml_bearer_token(
    mock: responses.RequestsMock, keypair: KeyPair, clock: Clock, cache: TokenCache
) -> None:
    token_ok(mock, "platform-tok")
    s = Settings.from_config(connection(keypair))
    assert s.learning_auth == "platform"
    http = HttpClient(connector="successfactors", sleep=Waits(), clock=clock)
    platform = platform_auth(settings=s, http=http, cache=cache, clock=clock)
    auth = LearningAuth(settings=s, http=http, platform=platform, cache=TokenCache(), clock=clock)
    assert auth.token() == "platform-tok"
    assert [c.request.url for c in mock.calls] == [TOKEN_URL]


def test_learning_platform_mode_needs_oauth(clock: Clock) -> None:
    s = Settings.from_config(connection(None))
    http = HttpClient(connector="successfactors")
    with pytest.raises(ConnectorAuthError, match="needs OAuth"):
        LearningAuth(settings=s, http=http, platform=platform_auth(settings=s, http=http))


# --------------------------------------------------------------------------- redaction


def test_no_secret_in_errors_or_logs(
    mock: responses.RequestsMock,
    keypair: KeyPair,
    waits: Waits,
    cache: TokenCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token_ok(mock, "tok-SECRET-123456")
    # The server echoes the token and the assertion in its error (it happens).
    mock.get(ODATA + "/User", status=401, body="bad token tok-SECRET-123456")
    mock.get(ODATA + "/User", status=401, body="bad token tok-SECRET-123456")
    source = SuccessFactorsConnector(connection(keypair), sleep=waits, token_cache=cache)
    with pytest.raises(ConnectorAuthError) as info:
        source.check()
    assertions = [
        parse_qs(c.request.body)["assertion"][0] for c in mock.calls if c.request.url == TOKEN_URL
    ]
    secrets = ["tok-SECRET-123456", keypair.key_pem.splitlines()[1], *assertions]
    for secret in secrets:
        assert secret not in str(info.value)
        assert secret not in caplog.text


def test_settings_repr_hides_secrets(keypair: KeyPair) -> None:
    s = Settings.from_config(connection(keypair, credentials={"password": PASSWORD}))
    text = repr(s)
    assert PASSWORD not in text
    assert "PRIVATE KEY" not in text


def test_assertion_lifetime_is_short(keypair: KeyPair) -> None:
    root = etree.fromstring(assertion(keypair))
    after = root.find("saml2:Conditions", NS).get("NotOnOrAfter")
    assert datetime.fromisoformat(after.replace("Z", "+00:00")) - NOW <= timedelta(minutes=10)

"""SuccessFactors authentication: the signed SAML assertion, OAuth tokens, basic auth.

**OAuth 2.0 SAML bearer** (SAP: "Authentication Using OAuth 2.0" in the OData API guide;
reference §5). For each token request Tandem builds a fresh SAML 2.0 assertion and signs
it locally with the connection's private key — SAP's ``/oauth/idp`` (which signs on the
server with the key sent to it) is deprecated and insecure (KBA 3462403). The assertion::

    <saml2:Assertion ID="_…" IssueInstant="…Z" Version="2.0">
      <saml2:Issuer>{client_id}</saml2:Issuer>
      <ds:Signature>… enveloped, RSA-SHA256, exclusive c14n, X509Certificate …</ds:Signature>
      <saml2:Subject>
        <saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{user_id}
        <saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
          <saml2:SubjectConfirmationData NotOnOrAfter="…" Recipient="{token_url}"/>
      <saml2:Conditions NotBefore="now − 60 s" NotOnOrAfter="now + 5 min">
        <saml2:AudienceRestriction><saml2:Audience>www.successfactors.com
      <saml2:AuthnStatement AuthnInstant="…" SessionIndex="_…"> …PasswordProtectedTransport
      <saml2:AttributeStatement>
        <saml2:Attribute Name="api_key"><saml2:AttributeValue>{client_id}

The issuer is the client id (as in SAP's samples and the public generators); the
``api_key`` attribute names the OAuth client. The base64 of the signed XML goes to
``POST {token_url}`` as a form with ``client_id``, ``company_id``, ``grant_type=
urn:ietf:params:oauth:grant-type:saml2-bearer`` and ``assertion``; the answer
``{"access_token", "token_type": "Bearer", "expires_in"}`` is cached until
:data:`TOKEN_MARGIN` seconds before it expires.

**Basic auth** (``user_id@company_id:password``) is the fallback when no key is stored;
SAP is removing it and tenants that disabled it answer ``LGN0010`` (KBA 2524436).

**Learning** has its own token: either its token server (``POST {learning_url}/learning/
oauth-api/rest/v1/token``, HTTP basic ``client_id:client_secret`` and a JSON scope,
``expires_in`` 1800 s; reference §9), or — as SAP now recommends (KBA 3693954; the
Learning token server is being retired) — the platform's SAML-bearer token used as a
Bearer token for Learning.

Token caches live in this process only (a bearer token is no state another host needs),
keyed by the endpoint, company, client, user and a fingerprint of the secret, so a rotated
key never reuses an old token. Neither keys, passwords, assertions nor tokens ever appear
in a message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from lxml import etree  # type: ignore[import-untyped]
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import InvalidInput
from signxml.signer import XMLSigner

from connectors._http import HttpClient, json_body, redact_url
from connectors.successfactors.settings import Settings
from plugin.errors import ConnectorAuthError, ConnectorDataError

__all__ = [
    "ASSERTION_LIFETIME",
    "GRANT_TYPE",
    "LEARNING_TOKEN_PATH",
    "SAML_AUDIENCE",
    "BasicAuth",
    "LearningAuth",
    "SamlBearerAuth",
    "TokenCache",
    "build_assertion",
    "clear_token_caches",
    "encode_assertion",
    "expired_token_answer",
    "lgn_message",
    "platform_auth",
    "vendor_code",
]

log = logging.getLogger(__name__)

CONNECTOR = "successfactors"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XS_NS = "http://www.w3.org/2001/XMLSchema"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
#: The audience SuccessFactors expects in every assertion.
SAML_AUDIENCE = "www.successfactors.com"
#: The OAuth grant of the platform token request.
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
#: Seconds an assertion is valid (short: a fresh one is made per token request).
ASSERTION_LIFETIME = 300
#: Clock skew allowed for the receiver (``NotBefore`` lies this far in the past).
CLOCK_SKEW = 60
#: A token is renewed this many seconds before it expires.
TOKEN_MARGIN = 60.0
#: Lifetimes assumed when the answer has none.
DEFAULT_PLATFORM_LIFETIME = 3600.0
DEFAULT_LEARNING_LIFETIME = 1800.0
#: The Learning token server's path below ``learning_url``.
LEARNING_TOKEN_PATH = "/learning/oauth-api/rest/v1/token"  # noqa: S105

_LGN = re.compile(r"\bLGN\d{4}\b")
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,60}$")


# --------------------------------------------------------------------------- assertion


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_assertion(
    *,
    client_id: str,
    user_id: str,
    token_url: str,
    private_key_pem: str,
    certificate_pem: str | None,
    now: datetime,
    lifetime: int = ASSERTION_LIFETIME,
    audience: str = SAML_AUDIENCE,
) -> bytes:
    """A signed SAML 2.0 bearer assertion for SuccessFactors' token endpoint.

    Args:
        client_id: The OAuth client's API key (issuer and ``api_key`` attribute).
        user_id: The API user (``NameID``).
        token_url: The token endpoint (``Recipient``).
        private_key_pem: The key registered (as a certificate) on the OAuth client.
        certificate_pem: Its X.509 certificate, put in ``KeyInfo``; ``None`` leaves only
            the key value there.
        now: The issue instant (aware).
        lifetime: Seconds until ``NotOnOrAfter``.
        audience: The audience (SuccessFactors: ``www.successfactors.com``).

    Returns:
        The signed XML (UTF-8 bytes).

    Raises:
        ConnectorAuthError: The key or certificate cannot be read or cannot sign.
    """
    issued = _instant(now)
    not_before = _instant(now - timedelta(seconds=CLOCK_SKEW))
    not_after = _instant(now + timedelta(seconds=lifetime))
    nsmap = {"saml2": SAML_NS, "xs": XS_NS, "xsi": XSI_NS}

    def q(tag: str) -> str:
        return f"{{{SAML_NS}}}{tag}"

    root = etree.Element(
        q("Assertion"),
        nsmap=nsmap,
        ID=f"_{uuid.uuid4().hex}",
        IssueInstant=issued,
        Version="2.0",
    )
    etree.SubElement(root, q("Issuer")).text = client_id
    # Where the signature goes (after Issuer, as the SAML schema orders it).
    etree.SubElement(root, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    subject = etree.SubElement(root, q("Subject"))
    name_id = etree.SubElement(subject, q("NameID"), Format=NAMEID_UNSPECIFIED)
    name_id.text = user_id
    confirmation = etree.SubElement(subject, q("SubjectConfirmation"), Method=BEARER)
    etree.SubElement(
        confirmation, q("SubjectConfirmationData"), NotOnOrAfter=not_after, Recipient=token_url
    )
    conditions = etree.SubElement(
        root, q("Conditions"), NotBefore=not_before, NotOnOrAfter=not_after
    )
    restriction = etree.SubElement(conditions, q("AudienceRestriction"))
    etree.SubElement(restriction, q("Audience")).text = audience
    authn = etree.SubElement(
        root, q("AuthnStatement"), AuthnInstant=issued, SessionIndex=f"_{uuid.uuid4().hex}"
    )
    context = etree.SubElement(authn, q("AuthnContext"))
    etree.SubElement(context, q("AuthnContextClassRef")).text = PASSWORD_PROTECTED
    statement = etree.SubElement(root, q("AttributeStatement"))
    attribute = etree.SubElement(statement, q("Attribute"), Name="api_key")
    value = etree.SubElement(attribute, q("AttributeValue"))
    value.set(f"{{{XSI_NS}}}type", "xs:string")
    value.text = client_id

    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )
    signer.namespaces = {"ds": DS_NS}
    try:
        signed = signer.sign(
            root,
            key=private_key_pem.encode("utf-8"),
            cert=certificate_pem if certificate_pem else None,
        )
    except (InvalidInput, ValueError, TypeError) as exc:
        raise ConnectorAuthError(
            "the connection's private key or certificate cannot sign the SAML assertion "
            f"({type(exc).__name__}); store the PEM key and certificate registered on the "
            "OAuth client",
            connector=CONNECTOR,
        ) from None
    return bytes(etree.tostring(signed, xml_declaration=False, encoding="UTF-8"))


def encode_assertion(xml: bytes) -> str:
    """The assertion as the token request sends it: standard base64, no line breaks."""
    return base64.b64encode(xml).decode("ascii")


# --------------------------------------------------------------------------- caches


_Key = tuple[str, ...]


class TokenCache:
    """Access tokens by key with their expiry; thread-safe."""

    def __init__(self) -> None:
        """An empty cache."""
        self._tokens: dict[_Key, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: _Key, now: float) -> str | None:
        """The cached token, unless it is due for renewal."""
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                return None
            if now >= found[1]:
                del self._tokens[key]
                return None
            return found[0]

    def put(self, key: _Key, token: str, renew_at: float) -> None:
        """Keep ``token`` until ``renew_at`` (Unix time, already less the margin)."""
        with self._lock:
            self._tokens[key] = (token, renew_at)

    def drop(self, key: _Key, token: str) -> None:
        """Forget ``token`` (refused or expired), unless another replaced it meanwhile."""
        with self._lock:
            found = self._tokens.get(key)
            if found is not None and found[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()


_PLATFORM_TOKENS = TokenCache()
_LEARNING_TOKENS = TokenCache()


def clear_token_caches() -> None:
    """Forget the process's SuccessFactors tokens (tests; after rotating a key)."""
    _PLATFORM_TOKENS.clear()
    _LEARNING_TOKENS.clear()


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def _lifetime(data: dict[str, Any], default: float) -> float:
    raw = data.get("expires_in", default)
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raw = default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        return default
    return float(raw)


# --------------------------------------------------------------------------- errors


def lgn_message(code: str) -> str:
    """What an ``LGNxxxx`` login error means for the admin (KBA 2524436)."""
    if code == "LGN0010":
        return (
            "basic auth is disabled for this company (LGN0010); configure a private key and "
            "certificate (OAuth SAML bearer) on the connection"
        )
    return (
        f"SuccessFactors refused the login ({code}); check the user id, company id and the "
        "API user's permissions"
    )


def vendor_code(response: requests.Response) -> str | None:
    """A short error code of a refusal (``LGN0010``, ``COE_…``, an OAuth ``error``), if any.

    Never free text: only a code matching ``[A-Za-z0-9_.:-]{1,60}``.
    """
    text = response.text[:4000] if response.text else ""
    found = _LGN.search(text)
    if found:
        return found.group(0)
    try:
        data = response.json()
    except (requests.JSONDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("errorCode", "error"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("code")
        if isinstance(value, str) and _SAFE_CODE.match(value):
            return value
    return None


def expired_token_answer(response: requests.Response) -> bool:
    """Whether a refusal says the token expired (``The token has expired.``)."""
    return "expired" in (response.text or "")[:2000].lower()


def _token_from(
    response: requests.Response, *, what: str, url: str, default_lifetime: float
) -> tuple[str, float]:
    status = response.status_code
    if status in (400, 401, 403, 404):
        code = vendor_code(response)
        if code and code.startswith("LGN"):
            detail = lgn_message(code)
        else:
            detail = (
                f"SuccessFactors refused the {what} ({code or f'HTTP {status}'}) at "
                f"{redact_url(url)}; check the client id (API key), company id, user id and "
                "that the certificate registered on the OAuth client matches the key"
            )
        raise ConnectorAuthError(detail, connector=CONNECTOR, status=status)
    if not 200 <= status < 300:
        raise ConnectorDataError(
            f"{what}: HTTP {status} from {redact_url(url)}", connector=CONNECTOR, status=status
        )
    data = json_body(response, connector=CONNECTOR, what=what)
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectorDataError(
            f"{what}: no access_token in the answer of {redact_url(url)}",
            connector=CONNECTOR,
            status=status,
        )
    return token, _lifetime(data, default_lifetime)


# --------------------------------------------------------------------------- providers


class SamlBearerAuth:
    """Bearer tokens from the platform token server, obtained with a signed assertion."""

    scheme = "Bearer"

    def __init__(
        self,
        *,
        settings: Settings,
        http: HttpClient,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure the provider; no I/O.

        Args:
            settings: The connection (key, certificate, ids, token URL).
            http: Sends the token request.
            cache: Where tokens are kept; the process-wide cache by default.
            clock: Unix time.
        """
        if not settings.private_key:
            raise ConnectorAuthError(
                "SAML bearer authentication needs the connection's private key",
                connector=CONNECTOR,
            )
        self.settings = settings
        self.http = http
        self.cache = cache if cache is not None else _PLATFORM_TOKENS
        self._clock = clock
        self._private_key: str = settings.private_key
        self.key: _Key = (
            "saml",
            settings.token_url,
            settings.company_id,
            settings.client_id,
            settings.user_id,
            _fingerprint(settings.private_key),
        )

    def assertion(self) -> str:
        """A fresh signed assertion, base64-encoded."""
        s = self.settings
        xml = build_assertion(
            client_id=s.client_id,
            user_id=s.user_id,
            token_url=s.token_url,
            private_key_pem=self._private_key,
            certificate_pem=s.certificate,
            now=datetime.fromtimestamp(self._clock(), UTC),
        )
        encoded = encode_assertion(xml)
        self.http.add_secret(encoded)
        return encoded

    def token(self) -> str:
        """A bearer token from the cache or the token server.

        Raises:
            ConnectorAuthError: The token server refused the assertion or the client.
            ConnectorUnavailable: It cannot be reached or is overloaded.
            ConnectorDataError: It answered something that is no token.
        """
        cached = self.cache.get(self.key, self._clock())
        if cached is not None:
            return cached
        s = self.settings

        def form() -> dict[str, str]:
            return {
                "client_id": s.client_id,
                "company_id": s.company_id,
                "grant_type": GRANT_TYPE,
                "assertion": self.assertion(),
            }

        what = "token request"
        response = self.http.request(
            "POST",
            s.token_url,
            what=what,
            data=form,
            headers={"Accept": "application/json"},
            idempotent=True,  # a token request changes nothing
        )
        token, lifetime = _token_from(
            response, what=what, url=s.token_url, default_lifetime=DEFAULT_PLATFORM_LIFETIME
        )
        self.http.add_secret(token)
        margin = min(TOKEN_MARGIN, lifetime / 2)
        self.cache.put(self.key, token, self._clock() + lifetime - margin)
        log.info("SuccessFactors token obtained for connection %d", s.connection_id)
        return token

    def authorization(self) -> tuple[str, str]:
        """``(Authorization header value, token)``."""
        token = self.token()
        return f"Bearer {token}", token

    def refused(self, token: str) -> bool:
        """Forget a refused token; True when a fresh one is worth trying."""
        self.cache.drop(self.key, token)
        return True


class BasicAuth:
    """HTTP basic ``user_id@company_id:password`` (being retired by SAP)."""

    scheme = "Basic"

    def __init__(self, *, settings: Settings, http: HttpClient) -> None:
        """Configure; no I/O.

        Raises:
            ConnectorAuthError: The connection has no password.
        """
        if not settings.password:
            raise ConnectorAuthError(
                "basic auth needs the connection's password", connector=CONNECTOR
            )
        raw = f"{settings.user_id}@{settings.company_id}:{settings.password}"
        self._header = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")
        http.add_secret(settings.password)
        http.add_secret(self._header.split(" ", 1)[1])

    def authorization(self) -> tuple[str, str]:
        """``(Authorization header value, the same)``."""
        return self._header, self._header

    def refused(self, token: str) -> bool:
        """A password is not renewed: never worth retrying."""
        return False


def platform_auth(
    *,
    settings: Settings,
    http: HttpClient,
    cache: TokenCache | None = None,
    clock: Callable[[], float] = time.time,
) -> SamlBearerAuth | BasicAuth:
    """The OData authentication the connection's settings choose."""
    if settings.auth == "basic":
        return BasicAuth(settings=settings, http=http)
    return SamlBearerAuth(settings=settings, http=http, cache=cache, clock=clock)


class LearningAuth:
    """Bearer tokens for SuccessFactors Learning (its token server, or the platform's)."""

    def __init__(
        self,
        *,
        settings: Settings,
        http: HttpClient,
        platform: SamlBearerAuth | BasicAuth | None,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure; no I/O.

        Args:
            settings: The connection (``learning_auth`` decides the mode).
            http: Sends the token request.
            platform: The platform provider (used as is in ``platform`` mode).
            cache: Where Learning tokens are kept; the process-wide cache by default.
            clock: Unix time.

        Raises:
            ConnectorAuthError: The chosen mode lacks its secret (no client secret for the
                token server; basic auth instead of SAML for the platform mode).
        """
        self.settings = settings
        self.http = http
        self.cache = cache if cache is not None else _LEARNING_TOKENS
        self._clock = clock
        self.mode = settings.learning_auth
        self._platform: SamlBearerAuth | None = None
        self._secret = ""
        if self.mode == "learning_token_server":
            if not settings.learning_client_secret or not settings.learning_url:
                raise ConnectorAuthError(
                    "the Learning token server needs learning_url and the connection's "
                    "learning_client_secret",
                    connector=CONNECTOR,
                )
            self._secret = settings.learning_client_secret
            http.add_secret(self._secret)
        else:
            if not isinstance(platform, SamlBearerAuth):
                raise ConnectorAuthError(
                    "SuccessFactors Learning needs OAuth: store the private key and "
                    "certificate (platform SAML bearer token) or a learning client secret",
                    connector=CONNECTOR,
                )
            self._platform = platform
        self.url = f"{settings.learning_url or ''}{LEARNING_TOKEN_PATH}"
        self.key: _Key = (
            "learning",
            self.url,
            settings.company_id,
            settings.learning_client_id,
            settings.user_id,
            _fingerprint(self._secret),
        )

    def token(self) -> str:
        """A bearer token for Learning.

        Raises:
            ConnectorAuthError: The token server refused the client.
            ConnectorUnavailable: It cannot be reached or is overloaded.
            ConnectorDataError: It answered something that is no token.
        """
        if self._platform is not None:
            return self._platform.token()
        cached = self.cache.get(self.key, self._clock())
        if cached is not None:
            return cached
        s = self.settings
        what = "Learning token request"
        response = self.http.request(
            "POST",
            self.url,
            what=what,
            json={
                "grant_type": "client_credentials",
                "scope": {
                    "userId": s.user_id,
                    "companyId": s.company_id,
                    "userType": "admin",
                    "resourceType": "learning_public_api",
                },
            },
            auth=(s.learning_client_id, self._secret),
            headers={"Accept": "application/json"},
            idempotent=True,
        )
        token, lifetime = _token_from(
            response, what=what, url=self.url, default_lifetime=DEFAULT_LEARNING_LIFETIME
        )
        self.http.add_secret(token)
        margin = min(TOKEN_MARGIN, lifetime / 2)
        self.cache.put(self.key, token, self._clock() + lifetime - margin)
        log.info("SuccessFactors Learning token obtained for connection %d", s.connection_id)
        return token

    def authorization(self) -> tuple[str, str]:
        """``(Authorization header value, token)``."""
        token = self.token()
        return f"Bearer {token}", token

    def refused(self, token: str) -> bool:
        """Forget a refused or expired token; True when a fresh one is worth trying."""
        if self._platform is not None:
            return self._platform.refused(token)
        self.cache.drop(self.key, token)
        return True

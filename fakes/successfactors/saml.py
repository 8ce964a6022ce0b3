"""``POST /oauth/token`` with the OAuth 2.0 SAML bearer grant, as SuccessFactors checks it.

What is verified (in this order):

1. form fields ``client_id``, ``company_id``, ``grant_type`` =
   ``urn:ietf:params:oauth:grant-type:saml2-bearer``, ``assertion`` (base64 of a SAML 2.0
   ``<saml2:Assertion>``);
2. ``company_id`` is the tenant's and ``client_id`` a registered OAuth2 client;
3. the enveloped XML signature, with signxml, against the **certificate registered for the
   client** (a certificate in ``KeyInfo`` is ignored; RSA-SHA256 and the legacy RSA-SHA1
   that SuccessFactors still accepts); unsigned or tampered assertions fail with the
   message SuccessFactors gives (KBA 3336571). Claims are read from the *signed* element
   only;
4. ``Conditions`` ``NotBefore``/``NotOnOrAfter`` and ``SubjectConfirmationData``
   ``NotOnOrAfter`` with :attr:`FakeTenant.assertion_clock_skew` seconds of leeway (naive
   instants are UTC, as the widely used ``successfactors-auth`` template sends them);
5. ``Audience`` is ``www.successfactors.com``;
6. the ``api_key`` attribute equals ``client_id`` (SAP's generator and ``sf-oauth`` send
   it); when absent, the ``Issuer`` must equal ``client_id`` (the other common template);
7. ``NameID`` is a user who may log in (an active user or an API user; ``use_username`` /
   ``use_email`` attributes switch the lookup), bound to the client if so registered.

``Recipient`` is not checked: real clients send the token URL or the OData root.
Errors answer 400/401 with SuccessFactors' ``errorMessage``/``errorHttpCode`` and the
OAuth ``error``/``error_description`` pair.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    DigestAlgorithm,
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignatureConfiguration,
    SignatureMethod,
    XMLVerifier,
)
from signxml.exceptions import SignXMLException

from fakes.successfactors.tenant import FakeTenant

__all__ = ["AUDIENCE", "SAML_BEARER", "TokenError", "verify_assertion"]

SAML_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"
AUDIENCE = "www.successfactors.com"
_NS = {"saml2": "urn:oasis:names:tc:SAML:2.0:assertion"}
_SIGNATURE_FAILED = (
    "Unable to verify the signature of the SAML assertion. Please ensure that the assertion "
    "has a signature and the key pairs match the client ID"
)
_INVALID_USER = "Unable to authenticate the client (Login failed - invalid user)"

_CONFIG = SignatureConfiguration(
    signature_methods=frozenset(
        {
            SignatureMethod.RSA_SHA256,
            SignatureMethod.RSA_SHA384,
            SignatureMethod.RSA_SHA512,
            SignatureMethod.RSA_SHA1,
            SignatureMethod.ECDSA_SHA256,
        }
    ),
    digest_algorithms=frozenset(
        {
            DigestAlgorithm.SHA256,
            DigestAlgorithm.SHA384,
            DigestAlgorithm.SHA512,
            DigestAlgorithm.SHA1,
        }
    ),
    ignore_ambiguous_key_info=True,
)


class TokenError(Exception):
    """A refused token request."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """The JSON answer (SuccessFactors fields plus the OAuth pair)."""
        return {
            "errorMessage": self.description,
            "errorHttpCode": str(self.status),
            "error": self.error,
            "error_description": self.description,
        }


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """What a valid assertion establishes."""

    user_id: str
    client_id: str
    assertion_id: str | None


def _decode(assertion: str) -> bytes:
    compact = "".join(assertion.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenError(400, "invalid_request", "The assertion is not valid base64") from exc


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise TokenError(
            400, "invalid_grant", f"Invalid time in the SAML assertion: {text[:40]}"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify_assertion(
    tenant: FakeTenant,
    *,
    client_id: str | None,
    company_id: str | None,
    grant_type: str | None,
    assertion: str | None,
) -> VerifiedAssertion:
    """Check a token request; return the authenticated user.

    Raises:
        TokenError: the request is refused (status, OAuth error, description).
    """
    missing = [
        name
        for name, value in (
            ("client_id", client_id),
            ("company_id", company_id),
            ("grant_type", grant_type),
            ("assertion", assertion),
        )
        if not value
    ]
    if missing:
        raise TokenError(400, "invalid_request", f"Missing parameter(s): {', '.join(missing)}")
    if not (client_id and company_id and assertion):  # narrowed above; for the type checker
        raise TokenError(400, "invalid_request", "Missing parameter(s)")
    if grant_type != SAML_BEARER:
        raise TokenError(
            400, "unsupported_grant_type", f"Unsupported grant_type; expected {SAML_BEARER}"
        )
    if company_id != tenant.company_id:
        raise TokenError(
            401, "invalid_client", "Unable to authenticate the client (invalid company ID)"
        )
    client = tenant.client(client_id)
    if client is None:
        raise TokenError(
            401, "invalid_client", "Unable to authenticate the client (client_id is not registered)"
        )

    raw = _decode(assertion)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise TokenError(400, "invalid_grant", "The assertion is not a SAML 2.0 assertion") from exc
    if root.tag != f"{{{_NS['saml2']}}}Assertion":
        raise TokenError(400, "invalid_grant", "The assertion is not a SAML 2.0 assertion")
    if root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None:
        raise TokenError(401, "invalid_grant", _SIGNATURE_FAILED)
    try:
        result = XMLVerifier().verify(root, x509_cert=client.certificate_pem, expect_config=_CONFIG)
    except (
        InvalidSignature,
        InvalidDigest,
        InvalidInput,
        InvalidCertificate,
        SignXMLException,
    ) as exc:
        raise TokenError(401, "invalid_grant", _SIGNATURE_FAILED) from exc
    signed = result[0].signed_xml if isinstance(result, list) else result.signed_xml
    if signed is None or signed.tag != root.tag:
        raise TokenError(401, "invalid_grant", _SIGNATURE_FAILED)

    now = tenant.now()
    skew = timedelta(seconds=tenant.assertion_clock_skew)
    conditions = signed.find("saml2:Conditions", _NS)
    confirmation = signed.find(
        "saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData", _NS
    )
    not_before = _instant(conditions.get("NotBefore")) if conditions is not None else None
    deadlines = [
        moment
        for moment in (
            _instant(conditions.get("NotOnOrAfter")) if conditions is not None else None,
            _instant(confirmation.get("NotOnOrAfter")) if confirmation is not None else None,
        )
        if moment is not None
    ]
    if not deadlines:
        raise TokenError(400, "invalid_grant", "The SAML assertion has no NotOnOrAfter")
    if not_before is not None and now + skew < not_before:
        raise TokenError(401, "invalid_grant", "The SAML assertion is not yet valid (NotBefore)")
    if any(now - skew >= deadline for deadline in deadlines):
        raise TokenError(401, "invalid_grant", "The SAML assertion has expired (NotOnOrAfter)")

    audiences = [
        el.text.strip()
        for el in signed.iterfind(".//saml2:AudienceRestriction/saml2:Audience", _NS)
        if el.text
    ]
    if AUDIENCE not in audiences:
        raise TokenError(
            401, "invalid_grant", f"Invalid audience in the SAML assertion; expected {AUDIENCE}"
        )

    attributes: dict[str, str] = {}
    for attribute in signed.iterfind(".//saml2:AttributeStatement/saml2:Attribute", _NS):
        value = attribute.find("saml2:AttributeValue", _NS)
        if value is not None and value.text is not None:
            attributes[attribute.get("Name", "")] = value.text.strip()
    issuer_el = signed.find("saml2:Issuer", _NS)
    issuer = issuer_el.text.strip() if issuer_el is not None and issuer_el.text else None
    if "api_key" in attributes:
        if attributes["api_key"] != client_id:
            raise TokenError(
                401, "invalid_grant", "The api_key of the SAML assertion does not match client_id"
            )
    elif issuer != client_id:
        raise TokenError(
            401,
            "invalid_grant",
            "The SAML assertion carries no api_key attribute and its Issuer is not the client_id",
        )

    name_el = signed.find("saml2:Subject/saml2:NameID", _NS)
    name_id = name_el.text.strip() if name_el is not None and name_el.text else ""
    if not name_id:
        raise TokenError(401, "invalid_grant", _INVALID_USER)
    by = "userId"
    if attributes.get("use_username", "").lower() == "true":
        by = "username"
    elif attributes.get("use_email", "").lower() == "true":
        by = "email"
    user_id = tenant.login_for(name_id, by=by)
    if user_id is None or not tenant.is_known_login(user_id):
        raise TokenError(401, "invalid_grant", _INVALID_USER)
    if client.bind_to_user and client.user_id and user_id != client.user_id:
        raise TokenError(
            401,
            "invalid_grant",
            "Unable to authenticate the client (user is not bound to this client)",
        )
    return VerifiedAssertion(user_id=user_id, client_id=client_id, assertion_id=signed.get("ID"))

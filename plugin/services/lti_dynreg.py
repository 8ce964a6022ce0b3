"""LTI Dynamic Registration 1.0: one-time registration URLs and the registration exchange.

https://www.imsglobal.org/spec/lti-dr/v1p0 — an admin of Tandem issues a one-time
registration URL for an organization (:func:`issue_registration_token`); a platform admin
(Moodle: "Tool URL" → "Add LTI Advantage") opens it with ``openid_configuration`` and
``registration_token``. The web layer then fetches the platform's OpenID configuration
(checked by :func:`parse_openid_configuration`), POSTs the tool's registration
(:func:`build_registration_request`) to the platform's ``registration_endpoint``, reads
the answer (:func:`parse_registration_response`) and stores it under the token's
organization (:func:`complete_registration`).

**Tokens.** ``secrets.token_urlsafe(32)``; only their SHA-256 is stored, in the shared
LTI store (:class:`~plugin.services.lti_cache.LtiCache`, key ``dynreg:<hash>``), for
:data:`TOKEN_TTL`. A token registers one platform: :func:`complete_registration` consumes
it in the same transaction that stores the registration, so a failed attempt (rolled
back) leaves it usable and two concurrent attempts cannot both succeed.

**Checks before anything is sent.** The registration URL fetches a URL chosen by whoever
opens it, so nothing is fetched without a live token (an admin issued it). Every URL of
the platform is checked (https, unless ``allow_http`` for localhost in development) and
the issuer must be on the same origin (scheme, host, port) as the configuration it came
from — before Tandem registers itself, so a registration the platform accepted is not
refused afterwards for a reason known earlier.

Nothing here talks HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.errors import N_, ConflictError, NotFound, ValidationError
from plugin.models import LtiCacheEntry, LtiRegistration, Organization
from plugin.services import audit
from plugin.services import lti_registrations as regs
from plugin.services.lti_cache import LtiCache

__all__ = [
    "DEEP_LINKING",
    "PLATFORM_CONFIGURATION",
    "REQUIRED_CONFIGURATION_FIELDS",
    "RESOURCE_LINK",
    "TOKEN_TTL",
    "TOOL_CONFIGURATION",
    "PlatformConfiguration",
    "RegistrationGrant",
    "RegistrationResult",
    "RegistrationTokenExpired",
    "build_registration_request",
    "check_openid_configuration_url",
    "check_registration_token",
    "complete_registration",
    "consume_registration_token",
    "issue_registration_token",
    "parse_openid_configuration",
    "parse_registration_response",
    "peek_registration_token",
    "redact_url",
    "token_id",
]

#: How long a registration URL stays valid.
TOKEN_TTL = timedelta(hours=24)
#: The tool configuration object of a registration request and response.
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
#: The platform configuration object of an OpenID configuration.
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
#: What an OpenID configuration must carry for Tandem to register and launch.
REQUIRED_CONFIGURATION_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
)
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"

_PREFIX = "dynreg:"
#: ``token_urlsafe(32)`` gives 43 characters; anything much longer is not ours.
_MAX_TOKEN = 128
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_MAX_ID = 255
_MAX_URL = 1000
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class RegistrationGrant:
    """What a live registration token allows: registering one platform for an organization.

    Attributes:
        org_id: The organization the platform is registered for.
        auto_approve: Whether deployments first seen in launches are approved automatically.
        created_by: Who issued the token (audit actor).
        created_at: When it was issued.
        token_id: A short, non-secret id of the token (audit log), from its hash.
    """

    org_id: int
    auto_approve: bool
    created_by: str
    created_at: datetime
    token_id: str


class RegistrationTokenExpired(NotFound):
    """The registration URL was valid once and has expired (HTTP 410 Gone)."""

    status_code = 410


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id(token: str) -> str:
    """A short, non-secret id of a token for the audit log (the start of its SHA-256)."""
    return _hash(token)[:12]


def _cache_key(token: str) -> str | None:
    """The store key of a well-formed token; None for anything that cannot be a token."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        return None
    if not set(token) <= _TOKEN_CHARS:
        return None
    return _PREFIX + _hash(token)


def _cache(session: Session, now: datetime | None) -> LtiCache:
    if now is None:
        return LtiCache(session)
    return LtiCache(session, clock=lambda: now)


def issue_registration_token(
    session: Session,
    *,
    org_id: int,
    auto_approve: bool,
    actor: str,
    now: datetime | None = None,
) -> str:
    """Create a one-time registration token for an organization (valid :data:`TOKEN_TTL`).

    Only the token's SHA-256 is stored; the token itself is returned once, to be shown
    to the admin inside the registration URL. Audited (``lti.registration_url_issued``).

    Args:
        session: The unit of work (the caller commits).
        org_id: The organization the platform will be registered for.
        auto_approve: Approve deployments first seen in launches without an admin.
        actor: Who issues it (audit log).
        now: The time of issue (tests); now by default.

    Returns:
        The token (43 URL-safe characters).

    Raises:
        NotFound: The organization does not exist.
    """
    if session.get(Organization, org_id) is None:
        raise NotFound(N_("organization %(org)s not found"), field="org", org=org_id)
    when = now or utcnow()
    token = secrets.token_urlsafe(32)
    key = _PREFIX + _hash(token)
    value = {
        "org_id": org_id,
        "auto_approve": bool(auto_approve),
        "created_by": actor,
        "created_at": when.isoformat(),
    }
    _cache(session, when).set(key, value, TOKEN_TTL)
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.registration_url_issued",
        object_type="lti_registration_token",
        object_id=token_id(token),
        details={
            "auto_approve_deployments": bool(auto_approve),
            "expires_at": (when + TOKEN_TTL).isoformat(timespec="seconds"),
        },
        now=when,
    )
    return token


def _grant(value: Any, token: str) -> RegistrationGrant | None:
    if not isinstance(value, Mapping):
        return None
    org_id = value.get("org_id")
    if not isinstance(org_id, int) or isinstance(org_id, bool):
        return None
    try:
        created_at = datetime.fromisoformat(str(value.get("created_at")))
    except ValueError:
        return None
    return RegistrationGrant(
        org_id=org_id,
        auto_approve=bool(value.get("auto_approve")),
        created_by=str(value.get("created_by") or "unknown"),
        created_at=created_at,
        token_id=token_id(token),
    )


def peek_registration_token(
    session: Session, token: str, *, now: datetime | None = None
) -> RegistrationGrant | None:
    """What a live token allows, without using it up; None if unknown, used or expired."""
    key = _cache_key(token)
    if key is None:
        return None
    return _grant(_cache(session, now).get(key), token)


def check_registration_token(
    session: Session, token: str, *, now: datetime | None = None
) -> RegistrationGrant:
    """Like :func:`peek_registration_token`, but says why a token cannot be used.

    Raises:
        RegistrationTokenExpired: It existed and has expired (410).
        NotFound: It is unknown or was already used (404).
    """
    grant = peek_registration_token(session, token, now=now)
    if grant is not None:
        return grant
    key = _cache_key(token)
    if key is not None:
        expires_at = session.scalar(
            select(LtiCacheEntry.expires_at).where(LtiCacheEntry.key == key)
        )
        if expires_at is not None and expires_at <= (now or utcnow()):
            raise RegistrationTokenExpired(
                N_("this registration URL has expired (they are valid for 24 hours)"),
                field="token",
            )
    raise NotFound(N_("this registration URL is unknown or was already used"), field="token")


def consume_registration_token(
    session: Session, token: str, *, now: datetime | None = None
) -> bool:
    """Use a token up. Returns True if it was live and is now gone, False otherwise.

    Run it in the transaction that stores the registration: rolled back, the token is
    usable again. Of two transactions consuming the same token, one gets False (on
    PostgreSQL the second DELETE waits for the first to commit and then finds nothing).
    """
    if peek_registration_token(session, token, now=now) is None:
        return False
    key = _cache_key(token)
    return key is not None and _cache(session, now).delete(key)


# --------------------------------------------------------------------------- URLs


def redact_url(url: str) -> str:
    """``url`` without credentials, query string or fragment, for messages and logs."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    redacted = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return redacted + ("?…" if parts.query else "")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _show_origin(origin: tuple[str, str, int | None]) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _check_url(value: Any, *, field: str, allow_http: bool) -> str:
    if value is None or value == "":
        raise ValidationError(N_("%(name)s is missing"), field=field, name=field)
    if not isinstance(value, str):
        raise ValidationError(N_("%(name)s must be a URL string"), field=field, name=field)
    if value.strip().lower().startswith("http://"):
        try:
            host = (urlsplit(value.strip()).hostname or "").lower()
        except ValueError:
            host = ""
        if not (allow_http and host in regs.LOCAL_HOSTS):
            raise ValidationError(
                N_(
                    "%(name)s must be an https:// URL (http:// only for a development "
                    "platform on localhost, with TANDEM_DYNREG_ALLOW_HTTP)"
                ),
                field=field,
                name=field,
            )
    return regs.validate_url(value, field=field, allow_http=allow_http)


def check_openid_configuration_url(value: str | None, *, allow_http: bool = False) -> str:
    """Check the ``openid_configuration`` parameter a platform opened the URL with.

    Raises:
        ValidationError: Missing, not an absolute https:// URL (http:// only when
            ``allow_http`` and for localhost), or with credentials or a fragment.
    """
    if not (value or "").strip():
        raise ValidationError(
            N_(
                "openid_configuration is missing: open this URL from the platform's "
                "dynamic registration (Moodle: paste it as Tool URL, then Add LTI Advantage)"
            ),
            field="openid_configuration",
        )
    return _check_url(value, field="openid_configuration", allow_http=allow_http)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class PlatformConfiguration:
    """The parts of a platform's OpenID configuration Tandem uses.

    ``None`` for a ``*_supported`` list means the platform did not list it (everything
    Tandem asks for is requested); a tuple is what it listed.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    claims_supported: tuple[str, ...] | None = None
    messages_supported: tuple[str, ...] | None = None
    product_family_code: str | None = None
    version: str | None = None


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        items = tuple(value.split())
    elif isinstance(value, list | tuple):
        items = tuple(v for v in value if isinstance(v, str) and v)
    else:
        return None
    return items or None


def _message_types(value: Any) -> tuple[str, ...] | None:
    # The spec lists objects {"type", "placements"}; Moodle lists plain strings.
    if not isinstance(value, list | tuple):
        return None
    types: list[str] = []
    for item in value:
        kind = item.get("type") if isinstance(item, Mapping) else item
        if isinstance(kind, str) and kind and kind not in types:
            types.append(kind)
    return tuple(types) or None


def _optional_text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = " ".join(str(value).split())[:limit]
    return text or None


def parse_openid_configuration(
    data: Any, *, config_url: str, allow_http: bool = False
) -> PlatformConfiguration:
    """Check a platform's OpenID configuration and keep what Tandem needs.

    Args:
        data: The decoded JSON.
        config_url: The URL it was fetched from; the issuer must have the same origin
            (scheme, host and port).
        allow_http: Accept ``http://`` URLs on localhost (development).

    Raises:
        ValidationError: Not a JSON object, a required field (issuer,
            authorization_endpoint, token_endpoint, jwks_uri, registration_endpoint) is
            missing or not an acceptable URL, or the issuer is on another origin.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(
            N_("the platform's OpenID configuration is not a JSON object"),
            field="openid_configuration",
        )
    missing = [f for f in REQUIRED_CONFIGURATION_FIELDS if data.get(f) in (None, "")]
    if missing:
        raise ValidationError(
            N_("the platform's OpenID configuration lacks %(fields)s"),
            field="openid_configuration",
            fields=", ".join(missing),
        )
    urls: dict[str, str] = {}
    for name in REQUIRED_CONFIGURATION_FIELDS:
        try:
            urls[name] = _check_url(data[name], field=name, allow_http=allow_http)
        except ValidationError as exc:
            # The problem is the inner error itself, so a page can translate it too.
            raise ValidationError(
                N_("the platform's OpenID configuration: %(problem)s"), field=name, problem=exc
            ) from None
    issuer = urls["issuer"]
    parts = urlsplit(issuer)
    if parts.query:
        raise ValidationError(
            N_("the platform's OpenID configuration: issuer must not contain a ?query"),
            field="issuer",
        )
    if len(regs.normalise_issuer(issuer)) > _MAX_ID:
        raise ValidationError(
            N_("the platform's OpenID configuration: issuer is longer than %(max)s characters"),
            field="issuer",
            max=_MAX_ID,
        )
    if _origin(issuer) != _origin(config_url):
        raise ValidationError(
            N_(
                "the platform's issuer (%(issuer)s) is not on the host the OpenID "
                "configuration came from (%(origin)s); Tandem registers only with the "
                "platform that issues the configuration"
            ),
            field="issuer",
            issuer=_show_origin(_origin(issuer)),
            origin=_show_origin(_origin(config_url)),
        )
    audience = data.get("authorization_server")
    if audience is not None and not isinstance(audience, str):
        raise ValidationError(
            N_("the platform's OpenID configuration: authorization_server must be a string"),
            field="authorization_server",
        )
    audience = (audience or "").strip() or None
    if audience is not None and len(audience) > _MAX_URL:
        raise ValidationError(
            N_(
                "the platform's OpenID configuration: authorization_server is longer than "
                "%(max)s characters"
            ),
            field="authorization_server",
            max=_MAX_URL,
        )
    platform = data.get(PLATFORM_CONFIGURATION)
    platform = platform if isinstance(platform, Mapping) else {}
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=urls["authorization_endpoint"],
        token_endpoint=urls["token_endpoint"],
        jwks_uri=urls["jwks_uri"],
        registration_endpoint=urls["registration_endpoint"],
        authorization_server=audience,
        scopes_supported=_strings(data.get("scopes_supported")),
        claims_supported=_strings(data.get("claims_supported")),
        messages_supported=_message_types(platform.get("messages_supported")),
        product_family_code=_optional_text(platform.get("product_family_code"), 100),
        version=_optional_text(platform.get("version"), 100),
    )


# --------------------------------------------------------------------------- registration


def _supported(wanted: Sequence[str], supported: tuple[str, ...] | None) -> list[str]:
    if supported is None:
        return list(wanted)
    return [w for w in wanted if w in supported]


def build_registration_request(
    platform: PlatformConfiguration,
    *,
    base_url: str,
    client_name: str,
    description: str,
    scopes: Sequence[str],
    claims: Sequence[str],
    custom_parameters: Mapping[str, str],
    logo_uri: str | None = None,
) -> dict[str, Any]:
    """The tool's client registration request (LTI DR 1.0 §3.5) for a platform.

    Scopes and claims are narrowed to what the platform lists as supported (when it lists
    them); a message type the platform does not list is left out.

    Args:
        platform: The platform's checked OpenID configuration.
        base_url: ``TANDEM_BASE_URL``; every Tandem URL is built from it.
        client_name: The tool's name (also the deep-linking menu label).
        description: The tool's description.
        scopes: The AGS and NRPS scopes Tandem wants.
        claims: The OpenID claims Tandem wants in launches.
        custom_parameters: Custom parameters for every launch.
        logo_uri: The tool's logo, if it serves one.
    """
    base = base_url.rstrip("/")
    launch = f"{base}/lti/launch"
    messages: list[dict[str, Any]] = [
        {"type": RESOURCE_LINK},
        {"type": DEEP_LINKING, "target_link_uri": launch, "label": client_name},
    ]
    if platform.messages_supported is not None:
        messages = [m for m in messages if m["type"] in platform.messages_supported]
    body: dict[str, Any] = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{base}/lti/login",
        "redirect_uris": [launch],
        "client_name": client_name,
        "jwks_uri": f"{base}/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(_supported(scopes, platform.scopes_supported)),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base).netloc,
            "target_link_uri": launch,
            "description": description,
            "claims": _supported(claims, platform.claims_supported),
            "messages": messages,
            "custom_parameters": dict(custom_parameters),
        },
    }
    if logo_uri:
        body["logo_uri"] = logo_uri
    return body


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """What the platform assigned: Tandem's client id and, if it says, the deployment id."""

    client_id: str
    deployment_id: str | None = None


def _identifier(value: Any, *, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(N_("%(name)s must be a string"), field=field, name=field)
    text = str(value).strip()
    if len(text) > _MAX_ID:
        raise ValidationError(
            N_("%(name)s is longer than %(max)s characters"), field=field, name=field, max=_MAX_ID
        )
    if any(not c.isprintable() for c in text):
        raise ValidationError(N_("%(name)s contains control characters"), field=field, name=field)
    return text or None


def parse_registration_response(data: Any) -> RegistrationResult:
    """Read the platform's answer to the registration request.

    The client id is required; the deployment id is read from the tool configuration
    object (Moodle returns it, Canvas does not).

    Raises:
        ValidationError: Not a JSON object, no usable ``client_id``, or a malformed
            deployment id.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(
            N_("the platform's registration response is not a JSON object"), field="client_id"
        )
    try:
        client_id = _identifier(data.get("client_id"), field="client_id")
        tool = data.get(TOOL_CONFIGURATION)
        deployment_id = _identifier(
            tool.get("deployment_id") if isinstance(tool, Mapping) else None,
            field="deployment_id",
        )
    except ValidationError as exc:
        # The problem is the inner error itself, so a page can translate it too.
        raise ValidationError(
            N_("the platform's registration response: %(problem)s"), field=exc.field, problem=exc
        ) from None
    if client_id is None:
        raise ValidationError(
            N_("the platform's registration response has no client_id"), field="client_id"
        )
    return RegistrationResult(client_id=client_id, deployment_id=deployment_id)


def complete_registration(
    session: Session,
    *,
    token: str,
    platform: PlatformConfiguration,
    result: RegistrationResult,
    allow_http: bool = False,
    now: datetime | None = None,
) -> LtiRegistration:
    """Store the registration a platform accepted and use the token up, in one transaction.

    The platform is registered for the token's organization; a deployment id the platform
    returned is approved (the admin started the registration); later deployments follow
    the token's auto-approval. Audited (``lti.platform_added`` by
    :func:`~plugin.services.lti_registrations.add_platform`, and
    ``lti.registration_url_used``).

    Raises:
        NotFound: The token is unknown or used (or its organization is gone).
        RegistrationTokenExpired: The token expired meanwhile.
        ConflictError: The token was used concurrently, or Tandem already has this
            issuer and client id.
        ValidationError: A value is malformed.
    """
    when = now or utcnow()
    grant = check_registration_token(session, token, now=when)
    if not consume_registration_token(session, token, now=when):
        raise ConflictError(
            N_("this registration URL was used by another registration at the same time"),
            field="token",
        )
    actor = f"{grant.created_by} (dynamic registration)"[:200]
    name = platform.product_family_code or urlsplit(platform.issuer).hostname or None
    reg = regs.add_platform(
        session,
        org_id=grant.org_id,
        issuer=platform.issuer,
        client_id=result.client_id,
        auth_login_url=platform.authorization_endpoint,
        auth_token_url=platform.token_endpoint,
        jwks_url=platform.jwks_uri,
        auth_audience=platform.authorization_server,
        deployment_ids=[result.deployment_id] if result.deployment_id else [],
        name=name,
        auto_approve=grant.auto_approve,
        allow_http=allow_http,
        actor=actor,
        now=when,
    )
    audit.record(
        session,
        org_id=grant.org_id,
        actor=actor,
        action="lti.registration_url_used",
        object_type="lti_registration_token",
        object_id=grant.token_id,
        details={
            "registration_id": reg.id,
            "issuer": reg.issuer,
            "client_id": reg.client_id,
            "deployment_id": result.deployment_id,
            "product_family_code": platform.product_family_code,
        },
        now=when,
    )
    return reg

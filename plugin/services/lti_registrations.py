"""LTI 1.3 platform registrations, their deployments, and the tool's signing keys.

**Registrations.** An organization registers each LTI platform it launches Tandem from
(issuer + client id, the platform's login, token and JWKS URLs). ``(issuer, client_id)``
is unique across organizations because a launch finds its registration by those two
values before it knows the tenant. Issuers are stored normalised (lower-case scheme and
host, no trailing slash) and looked up the same way, so ``https://LMS.example.com/`` and
``https://lms.example.com`` are one platform.

**Deployments.** Deployments named when a platform is added are approved. A deployment
first seen in a launch is recorded ``pending`` — the launch is refused until an admin
approves it — unless its registration auto-approves deployments
(:func:`deployment_for_launch`).

**Tool keys.** RSA-2048 key pairs, global to this Tandem deployment (one JWKS URL for
all tenants). Exactly one key is ``current`` (it signs); after a rotation the old one is
``previous`` and still published, so platforms that cached our JWKS keep verifying; the
key before that is ``retired``: never published again, its private part erased. Private
parts are encrypted at rest with :class:`plugin.crypto.SecretBox`. Each ``kid`` is the
RFC 7638 thumbprint of the public key — what pylti1p3 computes from the public PEM.

Key rotation is global, and the audit log belongs to an organization, so rotations are
logged with this module's logger (``plugin.services.lti_registrations``), not audited.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.db import utcnow
from plugin.errors import N_, ConflictError, NotFound, ValidationError, words
from plugin.models import (
    LtiDeployment,
    LtiDeploymentStatus,
    LtiRegistration,
    Organization,
    ToolKey,
    ToolKeyStatus,
)
from plugin.services import audit, lti_grades

__all__ = [
    "AUTO_APPROVER",
    "KEY_SIZE",
    "LAUNCH_ACTOR",
    "LOCAL_HOSTS",
    "MIN_KEY_AGE",
    "add_platform",
    "approve_deployment",
    "current_private_key_pem",
    "current_tool_key",
    "deactivate_platform",
    "deployment_for_launch",
    "ensure_tool_key",
    "find_registration",
    "find_registrations_by_issuer",
    "get_deployment",
    "get_platform",
    "jwk_thumbprint",
    "list_deployments",
    "list_platforms",
    "list_tool_keys",
    "normalise_issuer",
    "published_jwks",
    "revoke_deployment",
    "rotate_tool_keys",
    "set_auto_approve",
    "validate_url",
]

log = logging.getLogger(__name__)

#: The youngest a current signing key may be when it is rotated from the admin pages:
#: platforms cache the keyset for minutes, and a second rotation retires the key that a
#: cached keyset still names.
MIN_KEY_AGE = timedelta(hours=1)

#: Hosts for which ``http://`` URLs are accepted when the caller allows http (development).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Bits of every tool key.
KEY_SIZE = 2048
#: ``approved_by`` of deployments approved by their registration's auto-approval.
AUTO_APPROVER = "system:auto-approve"
#: Audit actor of deployments recorded by a launch.
LAUNCH_ACTOR = "lti:launch"

MAX_URL = 1000
MAX_ID = 255


# --------------------------------------------------------------------------- validation


def validate_url(value: str | None, *, field: str, allow_http: bool = False) -> str:
    """Check an absolute URL of a platform and return it stripped.

    Args:
        value: The URL.
        field: The input field, named in errors.
        allow_http: Accept ``http://`` for localhost / 127.0.0.1 / ::1 (development only;
            the caller decides from its configuration). ``https://`` is always required
            for any other host.

    Raises:
        ValidationError: Empty, too long, not absolute http(s), with credentials or a
            fragment, or ``http://`` where it is not allowed. The message does not echo
            the URL (it may carry credentials).
    """
    url = (value or "").strip()
    if not url:
        raise ValidationError(N_("%(name)s is required"), field=field, name=field)
    if len(url) > MAX_URL:
        raise ValidationError(
            N_("%(name)s is longer than %(max)s characters"), field=field, name=field, max=MAX_URL
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        raise ValidationError(N_("%(name)s is not a valid URL"), field=field, name=field) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        raise ValidationError(
            N_("%(name)s must be an absolute https:// URL"), field=field, name=field
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            N_("%(name)s must not contain a user name or password"), field=field, name=field
        )
    if parts.fragment:
        raise ValidationError(N_("%(name)s must not contain a #fragment"), field=field, name=field)
    if scheme == "http" and not (allow_http and host.lower() in LOCAL_HOSTS):
        raise ValidationError(
            N_(
                "%(name)s must use https:// (http:// is allowed only for localhost or "
                "127.0.0.1 when TANDEM_ENV=development)"
            ),
            field=field,
            name=field,
        )
    return url


def normalise_issuer(issuer: str) -> str:
    """The stored form of an issuer: lower-case scheme and host, no trailing slash.

    Works on any string (a launch's ``iss`` is looked up before it is trusted); values
    that are not URLs are only stripped of whitespace and trailing slashes.
    """
    value = (issuer or "").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return value.rstrip("/")
    if not parts.scheme or not parts.netloc:
        return value.rstrip("/")
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def _check_issuer(issuer: str, *, allow_http: bool) -> str:
    url = validate_url(issuer, field="issuer", allow_http=allow_http)
    if urlsplit(url).query:
        raise ValidationError(N_("issuer must not contain a ?query"), field="issuer")
    normalised = normalise_issuer(url)
    if len(normalised) > MAX_ID:
        raise ValidationError(
            N_("issuer is longer than %(max)s characters"), field="issuer", max=MAX_ID
        )
    return normalised


def _check_id(value: str | None, *, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(N_("%(name)s is required"), field=field, name=field)
    if len(text) > MAX_ID:
        raise ValidationError(
            N_("%(name)s is longer than %(max)s characters"), field=field, name=field, max=MAX_ID
        )
    if any(not c.isprintable() for c in text):
        raise ValidationError(N_("%(name)s contains control characters"), field=field, name=field)
    return text


def _check_deployment_ids(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        checked = _check_id(value, field="deployment_id")
        if checked not in seen:
            seen.append(checked)
    return seen


def _status(value: LtiDeploymentStatus | str) -> LtiDeploymentStatus:
    try:
        return LtiDeploymentStatus(value)
    except ValueError:
        raise ValidationError(
            N_("unknown deployment status %(status)s; use one of %(allowed)s"),
            field="status",
            status=repr(value),
            allowed=words(LtiDeploymentStatus),
        ) from None


# --------------------------------------------------------------------------- registrations


# Built once: every OIDC login looks its registration up.
_FIND_ANY_REGISTRATION = select(LtiRegistration).where(
    LtiRegistration.issuer == bindparam("issuer"),
    LtiRegistration.client_id == bindparam("client_id"),
)
_FIND_ACTIVE_REGISTRATION = _FIND_ANY_REGISTRATION.where(LtiRegistration.active.is_(True))


def find_registration(
    session: Session, *, issuer: str, client_id: str, include_inactive: bool = False
) -> LtiRegistration | None:
    """The registration of this issuer and client id (any organization), or None.

    Args:
        session: The unit of work.
        issuer: The ``iss`` of a login or launch; normalised before the lookup.
        client_id: The client id the platform gave Tandem.
        include_inactive: Also return a deactivated registration.
    """
    params = {"issuer": normalise_issuer(issuer), "client_id": (client_id or "").strip()}
    stmt = _FIND_ANY_REGISTRATION if include_inactive else _FIND_ACTIVE_REGISTRATION
    return session.scalar(stmt, params)


def find_registrations_by_issuer(
    session: Session, issuer: str, *, include_inactive: bool = False
) -> Sequence[LtiRegistration]:
    """Every registration of one issuer (one platform, many client ids), oldest first."""
    stmt = select(LtiRegistration).where(LtiRegistration.issuer == normalise_issuer(issuer))
    if not include_inactive:
        stmt = stmt.where(LtiRegistration.active.is_(True))
    return session.scalars(stmt.order_by(LtiRegistration.id)).all()


def list_platforms(session: Session, *, org_id: int) -> Sequence[LtiRegistration]:
    """An organization's registrations, active and inactive, oldest first."""
    stmt = (
        select(LtiRegistration).where(LtiRegistration.org_id == org_id).order_by(LtiRegistration.id)
    )
    return session.scalars(stmt).all()


def get_platform(session: Session, *, org_id: int, registration_id: int) -> LtiRegistration:
    """One registration of this organization.

    Raises:
        NotFound: No such registration in this organization.
    """
    reg = session.get(LtiRegistration, registration_id)
    if reg is None or reg.org_id != org_id:
        raise NotFound(
            N_("LTI registration %(registration)s not found"),
            field="registration",
            registration=registration_id,
        )
    return reg


def add_platform(
    session: Session,
    *,
    org_id: int,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    actor: str,
    deployment_ids: Iterable[str] = (),
    name: str | None = None,
    auth_audience: str | None = None,
    auto_approve: bool = False,
    allow_http: bool = False,
    now: datetime | None = None,
) -> LtiRegistration:
    """Register an LTI 1.3 platform for an organization (manual or dynamic registration).

    Also creates the registration's LTI AGS write-back target ``lms-<registration id>``
    (:func:`plugin.services.lti_grades.ensure_ags_target`), so completions and progress
    reach the platform's gradebook.

    Args:
        session: The unit of work.
        org_id: The organization that launches Tandem from this platform.
        issuer: The platform's issuer (Moodle: "Platform ID", the site URL).
        client_id: The client id the platform assigned to Tandem.
        auth_login_url: The platform's OIDC authentication request URL.
        auth_token_url: The platform's OAuth 2 access token URL.
        jwks_url: The platform's public keyset URL.
        actor: Who registers it (audit log).
        deployment_ids: Deployments to approve right away (Moodle: "Deployment ID").
        name: Display name; by default the issuer's host and the client id.
        auth_audience: ``aud`` of our token requests, if the platform wants another than
            its token URL.
        auto_approve: Approve deployments first seen in a launch without an admin.
        allow_http: Accept ``http://`` URLs on localhost / 127.0.0.1 (development).
        now: The time of the change (tests); now by default.

    Raises:
        NotFound: The organization does not exist.
        ValidationError: A URL, id or name is malformed; nothing was written.
        ConflictError: This issuer and client id are already registered.
    """
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(N_("organization %(org)s not found"), field="org", org=org_id)
    norm_issuer = _check_issuer(issuer, allow_http=allow_http)
    client = _check_id(client_id, field="client_id")
    login_url = validate_url(auth_login_url, field="auth_login_url", allow_http=allow_http)
    token_url = validate_url(auth_token_url, field="auth_token_url", allow_http=allow_http)
    keys_url = validate_url(jwks_url, field="jwks_url", allow_http=allow_http)
    audience = (auth_audience or "").strip() or None
    if audience is not None and len(audience) > MAX_URL:
        raise ValidationError(
            N_("auth_audience is longer than %(max)s characters"),
            field="auth_audience",
            max=MAX_URL,
        )
    deployments = _check_deployment_ids(deployment_ids)
    label = (name or "").strip() or f"{urlsplit(norm_issuer).hostname} ({client})"[:200]
    if len(label) > 200:
        raise ValidationError(N_("name must be 1–200 characters"), field="name")

    existing = find_registration(
        session, issuer=norm_issuer, client_id=client, include_inactive=True
    )
    if existing is not None:
        raise _duplicate(existing, org)

    when = now or utcnow()
    reg = LtiRegistration(
        org_id=org_id,
        name=label,
        issuer=norm_issuer,
        client_id=client,
        auth_login_url=login_url,
        auth_token_url=token_url,
        auth_audience=audience,
        jwks_url=keys_url,
        auto_approve_deployments=auto_approve,
        active=True,
        created_at=when,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(reg)
            session.flush()
    except IntegrityError:
        # Registered concurrently by someone else between our check and the insert.
        raise ConflictError(
            N_("this issuer and client id are already registered"), field="client_id"
        ) from None
    for deployment_id in deployments:
        session.add(
            LtiDeployment(
                org_id=org_id,
                registration_id=reg.id,
                deployment_id=deployment_id,
                status=LtiDeploymentStatus.APPROVED,
                approved_by=actor,
                approved_at=when,
                created_at=when,
            )
        )
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.platform_added",
        object_type="lti_registration",
        object_id=reg.id,
        details={
            "issuer": norm_issuer,
            "client_id": client,
            "deployment_ids": deployments,
            "auto_approve_deployments": auto_approve,
        },
        now=when,
    )
    # Every platform gets its gradebook target (completion and progress via LTI AGS).
    lti_grades.ensure_ags_target(session, org_id=org_id, registration_id=reg.id, actor=actor)
    return reg


def _duplicate(existing: LtiRegistration, org: Organization) -> ConflictError:
    if existing.org_id == org.id:
        return ConflictError(
            N_(
                "this issuer and client id are already registered in organization %(org)s "
                "(registration %(registration)s)"
            ),
            field="client_id",
            org=repr(org.slug),
            registration=existing.id,
        )
    # Never reveal which other tenant uses a platform.
    return ConflictError(N_("this issuer and client id are already registered"), field="client_id")


def set_auto_approve(
    session: Session, *, org_id: int, registration_id: int, enabled: bool, actor: str
) -> LtiRegistration:
    """Switch auto-approval of new deployments of one registration on or off.

    Raises:
        NotFound: No such registration in this organization.
    """
    reg = get_platform(session, org_id=org_id, registration_id=registration_id)
    before = reg.auto_approve_deployments
    reg.auto_approve_deployments = enabled
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.auto_approve_changed",
        object_type="lti_registration",
        object_id=reg.id,
        details={"from": before, "to": enabled},
    )
    return reg


def deactivate_platform(
    session: Session, *, org_id: int, registration_id: int, actor: str
) -> LtiRegistration:
    """Stop accepting logins and launches from a registration (its rows are kept).

    Raises:
        NotFound: No such registration in this organization.
        ConflictError: It is already inactive.
    """
    reg = get_platform(session, org_id=org_id, registration_id=registration_id)
    if not reg.active:
        raise ConflictError(
            N_("LTI registration %(registration)s is already inactive"),
            field="registration",
            registration=reg.id,
        )
    reg.active = False
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.platform_deactivated",
        object_type="lti_registration",
        object_id=reg.id,
        details={"issuer": reg.issuer, "client_id": reg.client_id},
    )
    return reg


# --------------------------------------------------------------------------- deployments


def _find_deployment(
    session: Session, registration_id: int, deployment_id: str
) -> LtiDeployment | None:
    return session.scalar(
        select(LtiDeployment).where(
            LtiDeployment.registration_id == registration_id,
            LtiDeployment.deployment_id == deployment_id,
        )
    )


def deployment_for_launch(
    session: Session,
    *,
    registration: LtiRegistration,
    deployment_id: str,
    now: datetime | None = None,
) -> LtiDeployment:
    """The deployment a launch names, recorded the first time it is seen.

    A new deployment is created ``pending`` — or ``approved`` if the registration
    auto-approves deployments. The caller refuses the launch unless the returned
    deployment is approved. Two concurrent first launches are safe: the insert runs in a
    savepoint and the loser reads the winner's row (unique registration + deployment id).

    Args:
        session: The unit of work (the caller commits, also when refusing the launch, so
            the pending deployment is visible to admins).
        registration: The registration the launch was validated against.
        deployment_id: The launch's ``deployment_id`` claim, exactly as sent.
        now: The time of the launch; now by default.

    Raises:
        ValidationError: The deployment id is empty or longer than 255 characters.
    """
    if not deployment_id or len(deployment_id) > MAX_ID:
        raise ValidationError(
            N_("deployment_id must be 1–%(max)s characters"), field="deployment_id", max=MAX_ID
        )
    when = now or utcnow()
    found = _find_deployment(session, registration.id, deployment_id)
    if found is not None:
        if found.first_seen_at is None:
            found.first_seen_at = when
            session.flush()
        return found

    auto = registration.auto_approve_deployments
    deployment = LtiDeployment(
        org_id=registration.org_id,
        registration_id=registration.id,
        deployment_id=deployment_id,
        status=LtiDeploymentStatus.APPROVED if auto else LtiDeploymentStatus.PENDING,
        first_seen_at=when,
        approved_by=AUTO_APPROVER if auto else None,
        approved_at=when if auto else None,
        created_at=when,
    )
    try:
        with session.begin_nested():
            session.add(deployment)
            session.flush()
    except IntegrityError:
        winner = _find_deployment(session, registration.id, deployment_id)
        if winner is None:  # not a duplicate after all: a real integrity problem
            raise
        return winner
    audit.record(
        session,
        org_id=registration.org_id,
        actor=LAUNCH_ACTOR,
        action="lti.deployment_seen",
        object_type="lti_deployment",
        object_id=deployment.id,
        details={
            "registration_id": registration.id,
            "deployment_id": deployment_id,
            "status": deployment.status.value,
        },
        now=when,
    )
    return deployment


def get_deployment(session: Session, *, org_id: int, deployment_pk: int) -> LtiDeployment:
    """One deployment of this organization, by its primary key.

    Raises:
        NotFound: No such deployment in this organization.
    """
    deployment = session.get(LtiDeployment, deployment_pk)
    if deployment is None or deployment.org_id != org_id:
        raise NotFound(
            N_("LTI deployment %(deployment)s not found"),
            field="deployment",
            deployment=deployment_pk,
        )
    return deployment


def list_deployments(
    session: Session,
    *,
    org_id: int,
    status: LtiDeploymentStatus | str | None = None,
    registration_id: int | None = None,
) -> Sequence[LtiDeployment]:
    """An organization's deployments, oldest first, optionally of one status or registration.

    Raises:
        ValidationError: Unknown status.
    """
    stmt = select(LtiDeployment).where(LtiDeployment.org_id == org_id)
    if status is not None:
        stmt = stmt.where(LtiDeployment.status == _status(status))
    if registration_id is not None:
        stmt = stmt.where(LtiDeployment.registration_id == registration_id)
    return session.scalars(stmt.order_by(LtiDeployment.id)).all()


def approve_deployment(
    session: Session,
    *,
    org_id: int,
    deployment_pk: int,
    actor: str,
    now: datetime | None = None,
) -> LtiDeployment:
    """Approve a pending (or revoked) deployment: its launches are accepted from now on.

    Raises:
        NotFound: No such deployment in this organization.
        ConflictError: It is already approved.
    """
    deployment = get_deployment(session, org_id=org_id, deployment_pk=deployment_pk)
    if deployment.status is LtiDeploymentStatus.APPROVED:
        raise ConflictError(
            N_("LTI deployment %(deployment)s is already approved"),
            field="deployment",
            deployment=deployment.id,
        )
    before = deployment.status.value
    when = now or utcnow()
    deployment.status = LtiDeploymentStatus.APPROVED
    deployment.approved_by = actor
    deployment.approved_at = when
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.deployment_approved",
        object_type="lti_deployment",
        object_id=deployment.id,
        details={"deployment_id": deployment.deployment_id, "from": before},
        now=when,
    )
    return deployment


def revoke_deployment(
    session: Session,
    *,
    org_id: int,
    deployment_pk: int,
    actor: str,
    now: datetime | None = None,
) -> LtiDeployment:
    """Refuse every further launch of a deployment (pending or approved).

    Raises:
        NotFound: No such deployment in this organization.
        ConflictError: It is already revoked.
    """
    deployment = get_deployment(session, org_id=org_id, deployment_pk=deployment_pk)
    if deployment.status is LtiDeploymentStatus.REVOKED:
        raise ConflictError(
            N_("LTI deployment %(deployment)s is already revoked"),
            field="deployment",
            deployment=deployment.id,
        )
    before = deployment.status.value
    deployment.status = LtiDeploymentStatus.REVOKED
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="lti.deployment_revoked",
        object_type="lti_deployment",
        object_id=deployment.id,
        details={"deployment_id": deployment.deployment_id, "from": before},
        now=now,
    )
    return deployment


# --------------------------------------------------------------------------- tool keys


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA JWK (base64url, no padding)."""
    required = {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _new_tool_key(box: SecretBox, when: datetime) -> ToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = private.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    numbers = public.public_numbers()
    jwk: dict[str, Any] = {
        "kty": "RSA",
        "e": _b64url_uint(numbers.e),
        "n": _b64url_uint(numbers.n),
    }
    kid = jwk_thumbprint(jwk)
    jwk.update({"alg": "RS256", "use": "sig", "kid": kid})
    return ToolKey(
        kid=kid,
        public_jwk=jwk,
        public_pem=public_pem,
        private_pem_encrypted=box.encrypt(private_pem),
        status=ToolKeyStatus.CURRENT,
        created_at=when,
    )


def current_tool_key(session: Session) -> ToolKey | None:
    """The key that signs now, or None before the first one is made."""
    return session.scalar(select(ToolKey).where(ToolKey.status == ToolKeyStatus.CURRENT))


def list_tool_keys(session: Session) -> Sequence[ToolKey]:
    """Every tool key, newest first."""
    return session.scalars(select(ToolKey).order_by(ToolKey.id.desc())).all()


def ensure_tool_key(session: Session, box: SecretBox, *, now: datetime | None = None) -> ToolKey:
    """The current tool key, created (RSA-2048) if there is none yet.

    Safe when several hosts serve their first request at once: at most one key can be
    current (a unique partial index); the loser of the race reads the winner's key.
    """
    key = current_tool_key(session)
    if key is not None:
        return key
    key = _new_tool_key(box, now or utcnow())
    try:
        with session.begin_nested():
            session.add(key)
            session.flush()
    except IntegrityError:
        winner = current_tool_key(session)
        if winner is None:
            raise
        return winner
    log.info("created the first tool key %s", key.kid)
    return key


def rotate_tool_keys(
    session: Session,
    box: SecretBox,
    *,
    actor: str,
    now: datetime | None = None,
    min_age: timedelta | None = None,
) -> ToolKey:
    """Make a new current key; current becomes previous, previous becomes retired.

    Retired keys leave the JWKS and lose their private part. Logged (not audited: keys
    belong to no organization).

    Args:
        session: The unit of work.
        box: Encrypts the new private key.
        actor: Who rotates, for the log.
        now: The clock (tests).
        min_age: Refuse while the current key is younger than this: a second rotation
            would retire the key platforms still have cached (the admin pages pass
            :data:`MIN_KEY_AGE`; an operator's CLI may force it).

    Raises:
        ConflictError: The current key is younger than ``min_age``; nothing changed.

    Returns:
        The new current key.
    """
    when = now or utcnow()
    if min_age is not None:
        newest = session.scalar(
            select(ToolKey.created_at).where(ToolKey.status == ToolKeyStatus.CURRENT)
        )
        if newest is not None and when - newest < min_age:
            raise ConflictError(
                N_(
                    "the current key was made at %(made)s UTC; rotate again from "
                    "%(after)s UTC at the earliest, when every platform has fetched it "
                    "(a rotation now would retire the key they still use)"
                ),
                field="confirm",
                made=newest.strftime("%Y-%m-%d %H:%M"),
                after=(newest + min_age).strftime("%Y-%m-%d %H:%M"),
            )
    new_key = _new_tool_key(box, when)
    retired = session.scalars(
        select(ToolKey).where(ToolKey.status == ToolKeyStatus.PREVIOUS).with_for_update()
    ).all()
    for key in retired:
        key.status = ToolKeyStatus.RETIRED
        key.retired_at = when
        key.private_pem_encrypted = None
    current = session.scalar(
        select(ToolKey).where(ToolKey.status == ToolKeyStatus.CURRENT).with_for_update()
    )
    if current is not None:
        current.status = ToolKeyStatus.PREVIOUS
    session.flush()
    session.add(new_key)
    session.flush()
    log.info(
        "tool keys rotated by %s: current %s, previous %s, retired %s",
        actor,
        new_key.kid,
        current.kid if current is not None else "-",
        ", ".join(k.kid for k in retired) or "-",
    )
    return new_key


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The tool's JWKS: the current key, then the previous one; never a retired key.

    Exactly one ``keys`` wrapper (lti.md: do not wrap pylti1p3's ``get_jwks()`` again).
    """
    keys = session.scalars(
        select(ToolKey)
        .where(ToolKey.status.in_((ToolKeyStatus.CURRENT, ToolKeyStatus.PREVIOUS)))
        .order_by(ToolKey.id.desc())
    ).all()
    ordered = sorted(keys, key=lambda k: k.status is not ToolKeyStatus.CURRENT)
    return {"keys": [dict(k.public_jwk) for k in ordered]}


def current_private_key_pem(session: Session, box: SecretBox) -> str:
    """The decrypted private PEM of the current key (for signing; never log it).

    Raises:
        NotFound: There is no tool key yet.
        SecretError: It cannot be decrypted (``TANDEM_SECRET_KEY`` changed).
    """
    key = current_tool_key(session)
    if key is None or key.private_pem_encrypted is None:
        raise NotFound(N_("no tool key yet: run `tandem lti rotate-keys`"), field="tool_key")
    return box.decrypt(key.private_pem_encrypted)

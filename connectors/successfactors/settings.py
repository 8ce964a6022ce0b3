"""The settings of one SuccessFactors connection, read and checked once (no I/O).

``ConnectionConfig.settings`` (non-secret, written by ``tandem connections add``):

===================== =====================================================================
``base_url``          API server, e.g. ``https://api4.successfactors.com`` (required)
``company_id``        Company id (required)
``client_id``         API key of the OAuth client registered in SuccessFactors (required)
``user_id``           The API user (``NameID`` of the assertion; basic auth user) (required)
``token_url``         Default ``{base_url}/oauth/token``
``odata_path``        Default ``/odata/v2``
``learning_url``      Learning base, e.g. ``https://acme.plateau.com``; without it no
                      completion or hours write-back
``page_size``         Rows per OData page, 1–1000 (default 1000)
``auth``              ``saml`` (default when a private key is stored) or ``basic``
``learning_auth``     ``platform`` (a SAML-bearer token of the platform, SAP KBA 3693954) or
                      ``learning_token_server`` (default when a learning client secret is
                      stored)
``learning_client_id`` Client id on the Learning token server (default ``client_id``)
``learning_time_zone`` ``completionTimeZoneID`` of external events (default ``UTC``)
``skills``            ``false`` to skip the skills entities when syncing (default ``true``)
===================== =====================================================================

``ConnectionConfig.credentials`` (decrypted secrets): ``private_key`` (PEM),
``certificate`` (PEM), ``password`` (basic auth), ``learning_client_secret``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from plugin.errors import ValidationError
from plugin.ports import ConnectionConfig

__all__ = ["MAX_PAGE_SIZE", "Settings"]

#: SuccessFactors serves at most this many rows per page.
MAX_PAGE_SIZE = 1000
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _text(settings: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = settings.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"the SuccessFactors connection needs {key!r}", field=key)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{key!r} must be text", field=key)
    return value.strip()


def _url(value: str, key: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host or parts.scheme not in ("https", "http"):
        raise ValidationError(f"{key!r} must be an https:// URL", field=key)
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ValidationError(
            f"{key!r} must use https:// (plain http only for a local test server)", field=key
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError(
            f"{key!r} must be a plain URL (no user, password, query or fragment)", field=key
        )
    return value.rstrip("/")


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValidationError(f"{key!r} must be true or false", field=key)


@dataclass(frozen=True)
class Settings:
    """One connection's settings and secrets, validated (see the module docstring)."""

    connection_id: int
    base_url: str
    company_id: str
    client_id: str
    user_id: str
    token_url: str
    odata_url: str
    learning_url: str | None
    page_size: int
    auth: str
    learning_auth: str
    learning_client_id: str
    learning_time_zone: str
    skills: bool
    private_key: str | None = field(default=None, repr=False)
    certificate: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    learning_client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: ConnectionConfig) -> Settings:
        """Read and check a connection's settings and credentials.

        Raises:
            ValidationError: A setting is missing or malformed, or the chosen
                authentication lacks its secret. Messages name the setting, never a value.
        """
        raw = config.settings
        creds = config.credentials
        base_url = _url(_text(raw, "base_url", required=True) or "", "base_url")
        token_url = _url(_text(raw, "token_url") or f"{base_url}/oauth/token", "token_url")
        odata_path = _text(raw, "odata_path") or "/odata/v2"
        if not odata_path.startswith("/") or "?" in odata_path or "#" in odata_path:
            raise ValidationError("'odata_path' must be a path like /odata/v2", field="odata_path")
        learning = _text(raw, "learning_url")
        page_size = raw.get("page_size", MAX_PAGE_SIZE)
        if isinstance(page_size, str) and page_size.strip().isdigit():
            page_size = int(page_size)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError("'page_size' must be a whole number 1–1000", field="page_size")

        private_key = (creds.get("private_key") or "").strip() or None
        certificate = (creds.get("certificate") or "").strip() or None
        password = creds.get("password") or None
        learning_secret = creds.get("learning_client_secret") or None

        auth = (_text(raw, "auth") or ("saml" if private_key else "basic")).lower()
        if auth not in ("saml", "basic"):
            raise ValidationError("'auth' must be saml or basic", field="auth")
        if auth == "saml" and not private_key:
            raise ValidationError(
                "SAML bearer authentication needs the connection's private key (PEM) and "
                "certificate; store them, or choose basic auth",
                field="private_key",
            )
        if auth == "basic" and not password:
            raise ValidationError(
                "the connection has neither a private key (OAuth SAML bearer) nor a password "
                "(basic auth); store a private key and certificate",
                field="private_key",
            )
        learning_auth = (
            _text(raw, "learning_auth")
            or ("learning_token_server" if learning_secret else "platform")
        ).lower()
        if learning_auth not in ("platform", "learning_token_server"):
            raise ValidationError(
                "'learning_auth' must be platform or learning_token_server", field="learning_auth"
            )
        client_id = _text(raw, "client_id", required=True) or ""
        zone = _text(raw, "learning_time_zone") or "UTC"
        if len(zone) > 64:
            raise ValidationError("'learning_time_zone' is too long", field="learning_time_zone")
        return cls(
            connection_id=config.connection_id,
            base_url=base_url,
            company_id=_text(raw, "company_id", required=True) or "",
            client_id=client_id,
            user_id=_text(raw, "user_id", required=True) or "",
            token_url=token_url,
            odata_url=base_url + odata_path.rstrip("/"),
            learning_url=_url(learning, "learning_url") if learning else None,
            page_size=min(page_size, MAX_PAGE_SIZE),
            auth=auth,
            learning_auth=learning_auth,
            learning_client_id=_text(raw, "learning_client_id") or client_id,
            learning_time_zone=zone,
            skills=_flag(raw, "skills", True),
            private_key=private_key,
            certificate=certificate,
            password=password,
            learning_client_secret=learning_secret,
        )

    def secrets(self) -> list[str]:
        """Every secret of the connection (to scrub from messages)."""
        return [
            s
            for s in (
                self.private_key,
                self.certificate,
                self.password,
                self.learning_client_secret,
            )
            if s
        ]

"""HRIS/LMS connections of an organization, with their credentials encrypted at rest.

A :class:`plugin.models.Connection` holds two things apart:

* **settings** — non-secret configuration (base URL, company id, client id, page size …),
  shown to admins by :func:`public_settings`;
* **credentials** — private keys, certificates, passwords, client secrets: stored as *one*
  Fernet token of their JSON (:class:`plugin.crypto.SecretBox`, key from
  ``TANDEM_SECRET_KEY``), decrypted only by :func:`connection_config` to build the
  connector. They never appear in settings, in an audit entry, in an error message or in a
  ``repr``: audit entries name the *keys* that changed, never values.

A connection may also write back (SuccessFactors Learning, Workday …): given a
``writeback_sink``, :func:`add_connection` creates the write-back target of the same name
in the same unit of work. Services only flush; the caller commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.errors import N_, ConflictError, NotFound, SecretError, ValidationError
from plugin.models import Connection, ConnectionKind
from plugin.ports import ConnectionConfig, SinkServices
from plugin.services import audit, writeback

__all__ = [
    "add_connection",
    "check_certificate",
    "check_private_key",
    "connection_config",
    "credential_keys",
    "get_connection",
    "list_connections",
    "load_config",
    "public_settings",
    "update_connection",
]

# Same rule as write-back target names: the connection's target shares its name.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# Words of setting names that look like a secret: those belong in the credentials.
_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "secret", "credential", "credentials", "pem"}
)
_SECRET_PAIRS = (("private", "key"), ("api", "key"), ("access", "key"))
_MAX_SETTINGS_JSON = 20_000
_MAX_CREDENTIAL = 100_000


def _name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            N_("connection name: 1–120 lower-case letters, digits, '_', '.', '-'"), field="name"
        )
    return name


def _kind(kind: Any) -> ConnectionKind:
    try:
        return ConnectionKind(kind)
    except ValueError:
        choices = ", ".join(k.value for k in ConnectionKind)
        raise ValidationError(
            N_("unknown connection kind %(kind)s; choose from %(choices)s"),
            field="kind",
            kind=repr(kind),
            choices=choices,
        ) from None


def _looks_secret(key: str) -> bool:
    """``password``, ``client_secret``, ``private_key``, ``refresh_token``; not ``token_url``."""
    words = [w for w in re.split(r"[_.-]|(?<=[a-z])(?=[A-Z])", key) if w]
    lower = [w.lower() for w in words]
    if any(w in _SECRET_WORDS or w == "apikey" for w in lower):
        return True
    if any(a in lower and b in lower for a, b in _SECRET_PAIRS):
        return True
    # A token is a secret; the URL or path where one is fetched is not.
    return "token" in lower and lower[-1] not in {"url", "path", "endpoint", "server"}


def _json_safe(value: Any, *, field: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, field=field) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, field=field) for v in value]
    raise ValidationError(
        N_("%(name)s: values must be text, numbers, lists or objects"), field=field, name=field
    )


def _settings(
    settings: Mapping[str, Any], *, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge ``settings`` onto ``base`` (``None`` removes a key) and validate the result."""
    if not isinstance(settings, Mapping):
        raise ValidationError(N_("settings must be an object"), field="settings")
    out = dict(base or {})
    for key, value in settings.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValidationError(
                N_("setting name %(setting)s: a letter, then letters, digits, '_', '.', '-'"),
                field="settings",
                setting=repr(key),
            )
        if _looks_secret(key):
            raise ValidationError(
                N_(
                    "setting %(setting)s looks like a secret: pass it as a credential, which "
                    "is stored encrypted"
                ),
                field="settings",
                setting=repr(key),
            )
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _json_safe(value, field="settings")
    if len(json.dumps(out)) > _MAX_SETTINGS_JSON:
        raise ValidationError(N_("settings are too large"), field="settings")
    return out


def _credentials(
    credentials: Mapping[str, Any], *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Merge ``credentials`` onto ``base`` (``None`` or ``""`` removes a key); validate.

    Error messages name keys, never values.
    """
    if not isinstance(credentials, Mapping):
        raise ValidationError(N_("credentials must be an object"), field="credentials")
    out = dict(base or {})
    for key, value in credentials.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValidationError(
                N_("credential names: a letter, then letters, digits, '_', '.', '-'"),
                field="credentials",
            )
        if value is None or value == "":
            out.pop(key, None)
            continue
        if not isinstance(value, str):
            raise ValidationError(
                N_("credential %(credential)s must be text"),
                field="credentials",
                credential=repr(key),
            )
        if len(value) > _MAX_CREDENTIAL:
            raise ValidationError(
                N_("credential %(credential)s is too long"),
                field="credentials",
                credential=repr(key),
            )
        out[key] = value
    return out


def _encrypt(box: SecretBox, credentials: Mapping[str, str]) -> str | None:
    if not credentials:
        return None
    return box.encrypt(json.dumps(dict(credentials), sort_keys=True, separators=(",", ":")))


def _decrypt(box: SecretBox, connection: Connection) -> dict[str, str]:
    token = connection.credentials_encrypted
    if not token:
        return {}
    data = json.loads(box.decrypt(token))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise SecretError(
            N_("the credentials of connection %(connection)s are malformed"),
            connection=repr(connection.name),
        )
    return data


def add_connection(
    session: Session,
    *,
    box: SecretBox,
    org_id: int,
    kind: str,
    name: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, str],
    actor: str,
    writeback_sink: str | None = None,
    writeback_kinds: Sequence[str] | None = None,
) -> Connection:
    """Create a connection of an organization, credentials encrypted (audited).

    Args:
        session: The unit of work; only flushed.
        box: Encrypts the credentials (key from ``TANDEM_SECRET_KEY``).
        org_id: The organization.
        kind: One of :class:`plugin.models.ConnectionKind` (``successfactors`` …).
        name: Unique per organization: lower-case letters, digits, ``_ . -``.
        settings: Non-secret settings (base URL, company id, client id …). Names that
            look like a secret (``password``, ``private_key`` …) are refused.
        credentials: The secrets (private key, certificate, password …), as text.
        actor: Who adds it, for the audit log.
        writeback_sink: When given, also create the write-back target of the same name
            delivering through this sink and this connection.
        writeback_kinds: The kinds that target receives (default
            :data:`plugin.services.writeback.MESSAGE_KINDS`).

    Returns:
        The new connection (flushed, with its id).

    Raises:
        ValidationError: Bad name, kind, settings, credentials or write-back kinds.
        ConflictError: A connection (or write-back target) of that name exists.
    """
    clean_name = _name(name)
    clean_kind = _kind(kind)
    clean_settings = _settings(settings)
    clean_credentials = _credentials(credentials)
    exists = session.scalars(
        select(Connection.id).where(Connection.org_id == org_id, Connection.name == clean_name)
    ).first()
    if exists is not None:
        raise ConflictError(
            N_("a connection named %(connection)s already exists"),
            field="name",
            connection=repr(clean_name),
        )
    connection = Connection(
        org_id=org_id,
        kind=clean_kind,
        name=clean_name,
        settings=clean_settings,
        credentials_encrypted=_encrypt(box, clean_credentials),
        active=True,
    )
    session.add(connection)
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="connection.added",
        object_type="connection",
        object_id=connection.id,
        details={
            "name": clean_name,
            "kind": clean_kind.value,
            "settings": sorted(clean_settings),
            "credentials": sorted(clean_credentials),
        },
    )
    if writeback_sink is not None:
        writeback.add_target(
            session,
            org_id=org_id,
            name=clean_name,
            sink=writeback_sink,
            kinds=writeback_kinds,
            connection_id=connection.id,
            actor=actor,
        )
    return connection


def update_connection(
    session: Session,
    *,
    box: SecretBox,
    org_id: int,
    name: str,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, str] | None = None,
    actor: str,
) -> Connection:
    """Change a connection's settings and/or credentials by merging (audited).

    Keys given replace the stored ones; a key given as ``None`` (or, for credentials, an
    empty string) is removed; keys not given stay as they are.

    Raises:
        NotFound: No such connection.
        ValidationError: Bad settings or credentials.
        SecretError: The stored credentials cannot be decrypted (the secret key changed):
            give *all* credentials again after fixing the key, or re-create the connection.
    """
    connection = get_connection(session, org_id=org_id, name=name)
    changed_settings: list[str] = []
    changed_credentials: list[str] = []
    if settings is not None:
        merged = _settings(settings, base=connection.settings)
        changed_settings = sorted(
            k
            for k in set(merged) | set(connection.settings)
            if merged.get(k) != connection.settings.get(k)
        )
        if changed_settings:
            connection.settings = merged
    if credentials is not None:
        current = _decrypt(box, connection)
        merged_credentials = _credentials(credentials, base=current)
        changed_credentials = sorted(
            k
            for k in set(merged_credentials) | set(current)
            if merged_credentials.get(k) != current.get(k)
        )
        if changed_credentials:
            connection.credentials_encrypted = _encrypt(box, merged_credentials)
    if not changed_settings and not changed_credentials:
        return connection
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="connection.updated",
        object_type="connection",
        object_id=connection.id,
        details={"settings": changed_settings, "credentials": changed_credentials},
    )
    return connection


def list_connections(session: Session, *, org_id: int) -> list[Connection]:
    """The organization's connections by name."""
    stmt = select(Connection).where(Connection.org_id == org_id).order_by(Connection.name)
    return list(session.scalars(stmt))


def get_connection(session: Session, *, org_id: int, name: str) -> Connection:
    """A connection of this organization by name.

    Raises:
        NotFound: No such connection in this organization.
    """
    connection = session.scalars(
        select(Connection).where(Connection.org_id == org_id, Connection.name == name)
    ).first()
    if connection is None:
        raise NotFound(
            N_(
                "connection %(connection)s not found in this organization "
                "(see `tandem connections list`)"
            ),
            field="connection",
            connection=repr(name),
        )
    return connection


def connection_config(
    session: Session,
    *,
    box: SecretBox,
    connection: Connection,
    services: SinkServices | None = None,
) -> ConnectionConfig:
    """What a connector factory needs, with the credentials decrypted.

    Args:
        session: Unused beyond the connection's own state; kept for symmetry.
        box: Decrypts the credentials.
        connection: The connection.
        services: Database access to lend the connector, if it needs any.

    Raises:
        SecretError: The credentials cannot be decrypted (the secret key changed).
    """
    del session  # the connection row is all we need
    return ConnectionConfig(
        org_id=connection.org_id,
        connection_id=connection.id,
        name=connection.name,
        kind=ConnectionKind(connection.kind).value,
        settings=dict(connection.settings or {}),
        credentials=_decrypt(box, connection),
        services=services,
    )


def load_config(
    session: Session, *, box: SecretBox, org_id: int, connection_id: int
) -> ConnectionConfig:
    """The decrypted config of a connection by id (for sinks that write through it).

    Raises:
        NotFound: No such connection in this organization.
        SecretError: The credentials cannot be decrypted (the secret key changed).
    """
    connection = session.get(Connection, connection_id)
    if connection is None or connection.org_id != org_id:
        raise NotFound(
            N_("connection %(connection)s not found in this organization"),
            field="connection",
            connection=connection_id,
        )
    return connection_config(session, box=box, connection=connection)


def credential_keys(connection: Connection, *, box: SecretBox) -> list[str]:
    """The names (never values) of the credentials stored on a connection.

    Raises:
        SecretError: They cannot be decrypted (the secret key changed).
    """
    return sorted(_decrypt(box, connection))


def public_settings(connection: Connection) -> dict[str, Any]:
    """What ``connections list`` may show about a connection: no secrets.

    Returns:
        ``id``, ``name``, ``kind``, ``active``, the non-secret ``settings``, whether
        credentials are stored (``has_credentials``; never their names or values),
        the delta ``watermark`` (ISO 8601 or ``None``) and ``created_at``.
    """
    return {
        "id": connection.id,
        "name": connection.name,
        "kind": ConnectionKind(connection.kind).value,
        "active": bool(connection.active),
        "settings": dict(connection.settings or {}),
        "has_credentials": bool(connection.credentials_encrypted),
        "watermark": connection.watermark.isoformat() if connection.watermark else None,
        "created_at": connection.created_at.isoformat() if connection.created_at else None,
    }


# --------------------------------------------------------------------------- key material


def check_private_key(data: bytes, *, label: str) -> tuple[str, rsa.RSAPrivateKey]:
    """The PEM text and key of an unencrypted RSA private key (SAML assertions: RS256).

    Shared by ``tandem connections add`` (a file) and the admin page (an upload or a paste).

    Args:
        data: The PEM bytes; never quoted in a message.
        label: How messages name the input, e.g. the file's path.

    Raises:
        ValidationError: Not a PEM private key, encrypted, not RSA or under 2048 bits.
    """
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise ValidationError(
            N_(
                "%(label)s is not a PEM private key (expected '-----BEGIN PRIVATE KEY-----' or "
                "'-----BEGIN RSA PRIVATE KEY-----')"
            ),
            field="private_key",
            label=label,
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValidationError(
            N_(
                "%(label)s is encrypted with a passphrase; store an unencrypted copy (e.g. "
                "`openssl pkey -in KEY -out plain.pem`) — Tandem encrypts it at rest itself"
            ),
            field="private_key",
            label=label,
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError(
            N_("%(label)s is not a readable PEM private key"), field="private_key", label=label
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValidationError(
            N_(
                "%(label)s is not an RSA key; SuccessFactors SAML assertions are signed with "
                "RSA-SHA256"
            ),
            field="private_key",
            label=label,
        )
    if key.key_size < 2048:
        raise ValidationError(
            N_("%(label)s is a %(bits)s-bit RSA key; use at least 2048 bits"),
            field="private_key",
            label=label,
            bits=key.key_size,
        )
    return data.decode("ascii", "replace").strip() + "\n", key


def check_certificate(
    data: bytes,
    key: rsa.RSAPrivateKey | None,
    *,
    label: str,
    certificate_label: str,
    now: datetime | None = None,
) -> tuple[str, x509.Certificate]:
    """The PEM text and X.509 certificate, unexpired and (given a key) the key's own.

    Args:
        data: The PEM bytes.
        key: The private key it must belong to, when known.
        label: How messages name the input (e.g. the file's path).
        certificate_label: How messages name the certificate inside it (e.g. "the
            certificate in cert.pem").
        now: The time to check expiry against (aware UTC).

    Raises:
        ValidationError: Not a PEM certificate, expired, or not the key's certificate.
    """
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValidationError(
            N_("%(label)s is not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')"),
            field="certificate",
            label=label,
        )
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValidationError(
            N_("%(label)s is not a readable PEM X.509 certificate"),
            field="certificate",
            label=label,
        ) from None
    if cert.not_valid_after_utc <= (now or datetime.now(UTC)):
        raise ValidationError(
            N_(
                "%(certificate)s expired on %(date)s; generate a new key pair and register the "
                "new certificate in SuccessFactors"
            ),
            field="certificate",
            certificate=certificate_label,
            date=f"{cert.not_valid_after_utc:%Y-%m-%d}",
        )
    if key is not None:
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
            raise ValidationError(
                N_(
                    "%(certificate)s does not belong to the private key (its public key "
                    "differs); give the certificate generated with that key"
                ),
                field="certificate",
                certificate=certificate_label,
            )
    return data.decode("ascii", "replace").strip() + "\n", cert

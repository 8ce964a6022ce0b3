"""Connections: credentials encrypted at rest, never shown; write-back targets alongside."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.errors import ConflictError, NotFound, SecretError, ValidationError
from plugin.models import AuditEvent, Connection, Organization, WritebackTarget
from plugin.services import connections
from plugin.services.writeback import MESSAGE_KINDS

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
BOX = SecretBox("test-secret-key")


def add(session: Session, org: Organization, **kw: object) -> Connection:
    fields: dict[str, object] = {
        "box": BOX,
        "org_id": org.id,
        "kind": "successfactors",
        "name": "sf-prod",
        "settings": {"base_url": "https://api4.successfactors.com", "company_id": "ACME"},
        "credentials": {"private_key": PEM, "password": "s3cr3t-pass"},
        "actor": "cli:admin",
    }
    fields.update(kw)
    return connections.add_connection(session, **fields)  # type: ignore[arg-type]


def test_credentials_are_encrypted_at_rest_and_round_trip(
    db_session: Session, org: Organization
) -> None:
    conn = add(db_session, org)
    raw = db_session.execute(
        text("SELECT settings, credentials_encrypted FROM connections WHERE id = :id"),
        {"id": conn.id},
    ).one()
    assert "s3cr3t-pass" not in str(raw)
    assert "PRIVATE KEY" not in str(raw)
    assert raw.credentials_encrypted.startswith("gAAAAA")  # one Fernet token

    config = connections.connection_config(db_session, box=BOX, connection=conn)
    assert config.credentials == {"private_key": PEM, "password": "s3cr3t-pass"}
    assert config.settings == {"base_url": "https://api4.successfactors.com", "company_id": "ACME"}
    assert (config.kind, config.name, config.source) == (
        "successfactors",
        "sf-prod",
        f"successfactors:{conn.id}",
    )
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in repr(conn)

    loaded = connections.load_config(db_session, box=BOX, org_id=org.id, connection_id=conn.id)
    assert loaded.credentials == config.credentials

    with pytest.raises(SecretError):
        connections.connection_config(db_session, box=SecretBox("another-key"), connection=conn)


def test_audit_and_listing_never_show_secrets(db_session: Session, org: Organization) -> None:
    conn = add(db_session, org)
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "connection.added")
    ).all()
    assert len(events) == 1
    assert events[0].details["credentials"] == ["password", "private_key"]
    assert "s3cr3t" not in str(events[0].details)
    public = connections.public_settings(conn)
    assert public["has_credentials"] is True
    assert public["kind"] == "successfactors"
    assert "s3cr3t" not in str(public)
    assert "PRIVATE" not in str(public)
    assert connections.credential_keys(conn, box=BOX) == ["password", "private_key"]
    assert [c.name for c in connections.list_connections(db_session, org_id=org.id)] == ["sf-prod"]


def test_a_duplicate_name_is_refused(db_session: Session, org: Organization) -> None:
    add(db_session, org)
    with pytest.raises(ConflictError, match="already exists"):
        add(db_session, org, kind="workday")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "Bad Name", "connection name"),
        ("kind", "oracle", "unknown connection kind"),
        ("settings", {"password": "x"}, "looks like a secret"),
        ("settings", {"client_secret": "x"}, "looks like a secret"),
        ("credentials", {"password": 42}, "must be text"),
    ],
)
def test_bad_input_is_refused_without_echoing_secrets(
    db_session: Session, org: Organization, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        add(db_session, org, **{field: value})
    assert "s3cr3t" not in str(caught.value)


def test_token_url_is_a_setting_not_a_secret(db_session: Session, org: Organization) -> None:
    conn = add(db_session, org, settings={"token_url": "https://x.example/oauth/token"})
    assert conn.settings == {"token_url": "https://x.example/oauth/token"}


def test_a_writeback_target_is_created_with_the_connection(
    db_session: Session, org: Organization
) -> None:
    conn = add(db_session, org, writeback_sink="successfactors")
    target = db_session.scalars(select(WritebackTarget)).one()
    assert (target.name, target.sink, target.connection_id) == (
        "sf-prod",
        "successfactors",
        conn.id,
    )
    assert target.kinds == list(MESSAGE_KINDS)

    other = add(
        db_session,
        org,
        name="wd",
        kind="workday",
        writeback_sink="workday",
        writeback_kinds=["skill_gain"],
    )
    target = db_session.scalars(select(WritebackTarget).where(WritebackTarget.name == "wd")).one()
    assert target.kinds == ["skill_gain"]
    assert target.connection_id == other.id


def test_update_merges_and_audits_key_names_only(db_session: Session, org: Organization) -> None:
    add(db_session, org)
    conn = connections.update_connection(
        db_session,
        box=BOX,
        org_id=org.id,
        name="sf-prod",
        settings={"company_id": "ACME2", "page_size": 500, "base_url": None},
        credentials={"password": "n3w-pass", "certificate": "CERT"},
        actor="cli:admin",
    )
    assert conn.settings == {"company_id": "ACME2", "page_size": 500}
    config = connections.connection_config(db_session, box=BOX, connection=conn)
    assert config.credentials == {"private_key": PEM, "password": "n3w-pass", "certificate": "CERT"}
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "connection.updated")
    ).one()
    assert event.details == {
        "settings": ["base_url", "company_id", "page_size"],
        "credentials": ["certificate", "password"],
    }
    assert "n3w" not in str(event.details)

    removed = connections.update_connection(
        db_session,
        box=BOX,
        org_id=org.id,
        name="sf-prod",
        credentials={"certificate": ""},
        actor="x",
    )
    assert connections.credential_keys(removed, box=BOX) == ["password", "private_key"]


def test_unknown_connections_are_not_found(
    db_session: Session, org: Organization, make_org: object
) -> None:
    conn = add(db_session, org)
    with pytest.raises(NotFound, match="'nope' not found"):
        connections.get_connection(db_session, org_id=org.id, name="nope")
    other = make_org(slug="other", name="Other")  # type: ignore[operator]
    with pytest.raises(NotFound):
        connections.load_config(db_session, box=BOX, org_id=other.id, connection_id=conn.id)


def test_key_material_is_checked_in_the_core() -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from plugin.errors import ValidationError as Refused
    from plugin.services.connections import check_certificate, check_private_key

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tandem")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    text, loaded = check_private_key(pem, label="key.pem")
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert loaded.key_size == 2048
    assert check_certificate(cert, key, label="c.pem", certificate_label="the certificate")
    with pytest.raises(Refused, match=r"key\.pem is not a PEM private key") as refused:
        check_private_key(b"hello", label="key.pem")
    assert refused.value.field == "private_key"
    with pytest.raises(Refused, match="the certificate does not belong to the private key"):
        check_certificate(cert, other, label="c.pem", certificate_label="the certificate")
    with pytest.raises(Refused, match="expired on"):
        check_certificate(
            cert,
            key,
            label="c.pem",
            certificate_label="the certificate",
            now=now + timedelta(days=60),
        )

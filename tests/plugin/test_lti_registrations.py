"""LTI registrations, deployments and tool keys (plugin.services.lti_registrations)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto.jwk import JWK
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from plugin.crypto import SecretBox
from plugin.errors import ConflictError, NotFound, SecretError, ValidationError
from plugin.models import (
    AuditEvent,
    LtiDeployment,
    LtiDeploymentStatus,
    LtiRegistration,
    Organization,
    ToolKey,
    ToolKeyStatus,
)
from plugin.services import lti_registrations as regs
from plugin.services import organizations
from tests.conftest import PG_URL, wipe

ISS = "https://moodle.acme.example"
BOX = SecretBox("test-secret")
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def platform(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "issuer": ISS,
        "client_id": "client-1",
        "auth_login_url": f"{ISS}/mod/lti/auth.php",
        "auth_token_url": f"{ISS}/mod/lti/token.php",
        "jwks_url": f"{ISS}/mod/lti/certs.php",
        "actor": "cli:admin",
    }
    fields.update(kw)
    return fields


@pytest.fixture
def add(db_session: Session, org: Organization) -> Callable[..., LtiRegistration]:
    def _add(**kw: Any) -> LtiRegistration:
        kw.setdefault("org_id", org.id)
        return regs.add_platform(db_session, **platform(**kw))

    return _add


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --------------------------------------------------------------------------- add_platform


def test_add_platform_stores_everything_and_approves_given_deployments(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add(deployment_ids=["1", " 2 ", "1"], auth_audience=" aud ", now=T0)
    assert (reg.org_id, reg.issuer, reg.client_id) == (org.id, ISS, "client-1")
    assert reg.auth_login_url == f"{ISS}/mod/lti/auth.php"
    assert reg.auth_token_url == f"{ISS}/mod/lti/token.php"
    assert reg.jwks_url == f"{ISS}/mod/lti/certs.php"
    assert reg.auth_audience == "aud"
    assert reg.name == "moodle.acme.example (client-1)"
    assert reg.active
    assert not reg.auto_approve_deployments
    assert (reg.created_by, reg.created_at) == ("cli:admin", T0)

    deployments = regs.list_deployments(db_session, org_id=org.id)
    assert [(d.deployment_id, d.status) for d in deployments] == [
        ("1", LtiDeploymentStatus.APPROVED),
        ("2", LtiDeploymentStatus.APPROVED),
    ]
    assert {(d.approved_by, d.approved_at, d.first_seen_at) for d in deployments} == {
        ("cli:admin", T0, None)
    }
    (event,) = events(db_session, "lti.platform_added")
    assert event.details == {
        "issuer": ISS,
        "client_id": "client-1",
        "deployment_ids": ["1", "2"],
        "auto_approve_deployments": False,
    }


def test_issuer_is_normalised_and_looked_up_the_same_way(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    reg = add(issuer="  HTTPS://Moodle.ACME.example/lms/  ", name="Moodle")
    assert reg.issuer == "https://moodle.acme.example/lms"
    for iss in ("https://moodle.acme.example/lms", "https://MOODLE.acme.example/lms/"):
        assert regs.find_registration(db_session, issuer=iss, client_id="client-1") is reg
    assert regs.find_registration(db_session, issuer=ISS, client_id="client-1") is None
    assert regs.find_registration(db_session, issuer=reg.issuer, client_id="other") is None


@pytest.mark.parametrize(
    ("field", "value", "allow_http", "message"),
    [
        ("issuer", "", False, "issuer is required"),
        ("issuer", "moodle.acme.example", False, "absolute https:// URL"),
        ("issuer", "ftp://moodle.acme.example", False, "absolute https:// URL"),
        ("issuer", "https://moodle.acme.example?x=1", False, r"must not contain a \?query"),
        ("issuer", "http://moodle.acme.example", False, "TANDEM_ENV=development"),
        ("issuer", "http://moodle.acme.example", True, "must use https://"),
        ("issuer", "http://localhost:8080", False, "must use https://"),
        ("auth_login_url", "https://u:pw@moodle.acme.example/auth", False, "user name or password"),
        ("auth_token_url", "https://moodle.acme.example/token#x", False, "#fragment"),
        ("jwks_url", "https://moodle.acme.example:99999/certs", False, "not a valid URL"),
        ("jwks_url", "https://moodle.acme.example/" + "a" * 1000, False, "longer than"),
        ("jwks_url", "https://moodle.acme.example/a b", False, "absolute https:// URL"),
        ("client_id", "   ", False, "client_id is required"),
        ("client_id", "x" * 256, False, "longer than 255"),
        ("client_id", "a\nb", False, "control characters"),
        ("name", "n" * 201, False, "1–200"),
        ("auth_audience", "a" * 1001, False, "auth_audience is longer"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    db_session: Session,
    add: Callable[..., LtiRegistration],
    field: str,
    value: str,
    allow_http: bool,
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        add(**{field: value}, allow_http=allow_http, deployment_ids=["1"])
    assert info.value.field == field
    assert "pw" not in info.value.message
    assert count(db_session, LtiRegistration) == count(db_session, LtiDeployment) == 0
    assert not events(db_session, "lti.platform_added")


def test_bad_deployment_id_is_refused(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    with pytest.raises(ValidationError, match="deployment_id is required"):
        add(deployment_ids=["1", ""])
    assert count(db_session, LtiRegistration) == 0


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_http_only_for_local_hosts_when_allowed(
    add: Callable[..., LtiRegistration], host: str
) -> None:
    base = f"http://{host}:8000"
    reg = add(
        issuer=base,
        auth_login_url=f"{base}/auth",
        auth_token_url=f"{base}/token",
        jwks_url=f"{base}/jwks",
        allow_http=True,
    )
    assert reg.issuer == base


def test_unknown_organization(db_session: Session) -> None:
    with pytest.raises(NotFound):
        regs.add_platform(db_session, **platform(org_id=9999))


def test_duplicate_in_same_org_names_it(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    first = add()
    with pytest.raises(ConflictError, match=f"organization 'acme' \\(registration {first.id}\\)"):
        add(issuer=ISS + "/", deployment_ids=["9"])
    assert count(db_session, LtiRegistration) == 1
    assert count(db_session, LtiDeployment) == 0


def test_duplicate_in_other_org_is_neutral(
    db_session: Session, add: Callable[..., LtiRegistration], make_org: Any
) -> None:
    add()
    other = make_org("globex", "Globex")
    with pytest.raises(ConflictError) as info:
        add(org_id=other.id)
    assert info.value.message == "this issuer and client id are already registered"
    assert "acme" not in info.value.message


def test_duplicate_of_an_inactive_registration_is_refused(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add()
    regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="t")
    with pytest.raises(ConflictError):
        add()


def test_concurrent_duplicate_insert_becomes_a_conflict(
    db_session: Session, add: Callable[..., LtiRegistration], monkeypatch: pytest.MonkeyPatch
) -> None:
    add()
    # As if another host registered it between our check and our insert.
    monkeypatch.setattr(regs, "find_registration", lambda *a, **k: None)
    with pytest.raises(ConflictError, match="already registered"):
        add(deployment_ids=["1"])
    assert count(db_session, LtiRegistration) == 1
    assert count(db_session, LtiDeployment) == 0


def test_many_clients_per_issuer(db_session: Session, add: Callable[..., LtiRegistration]) -> None:
    a = add(client_id="a")
    b = add(client_id="b")
    assert regs.find_registration(db_session, issuer=ISS, client_id="b") is b
    assert list(regs.find_registrations_by_issuer(db_session, ISS + "/")) == [a, b]


# --------------------------------------------------------------------------- platforms


def test_list_and_get_are_scoped_to_the_org(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration], make_org: Any
) -> None:
    other = make_org("globex", "Globex")
    mine = add()
    theirs = add(org_id=other.id, client_id="g")
    assert list(regs.list_platforms(db_session, org_id=org.id)) == [mine]
    assert regs.get_platform(db_session, org_id=org.id, registration_id=mine.id) is mine
    with pytest.raises(NotFound):
        regs.get_platform(db_session, org_id=org.id, registration_id=theirs.id)


def test_set_auto_approve_is_audited(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add()
    regs.set_auto_approve(
        db_session, org_id=org.id, registration_id=reg.id, enabled=True, actor="a"
    )
    assert reg.auto_approve_deployments
    (event,) = events(db_session, "lti.auto_approve_changed")
    assert event.details == {"from": False, "to": True}


def test_deactivate_hides_the_registration_from_launches(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add()
    regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="a")
    assert regs.find_registration(db_session, issuer=ISS, client_id="client-1") is None
    assert not regs.find_registrations_by_issuer(db_session, ISS)
    found = regs.find_registration(
        db_session, issuer=ISS, client_id="client-1", include_inactive=True
    )
    assert found is reg
    assert len(regs.find_registrations_by_issuer(db_session, ISS, include_inactive=True)) == 1
    assert events(db_session, "lti.platform_deactivated")
    with pytest.raises(ConflictError, match="already inactive"):
        regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="a")


# --------------------------------------------------------------------------- deployments


def test_first_seen_deployment_is_pending(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add()
    d = regs.deployment_for_launch(db_session, registration=reg, deployment_id="7", now=T0)
    assert (d.status, d.first_seen_at, d.approved_by, d.org_id) == (
        LtiDeploymentStatus.PENDING,
        T0,
        None,
        org.id,
    )
    again = regs.deployment_for_launch(
        db_session, registration=reg, deployment_id="7", now=T0 + timedelta(hours=1)
    )
    assert again is d
    assert again.first_seen_at == T0
    (event,) = events(db_session, "lti.deployment_seen")
    assert (event.actor, event.details["status"]) == (regs.LAUNCH_ACTOR, "pending")


def test_auto_approving_registration(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    reg = add(auto_approve=True)
    d = regs.deployment_for_launch(db_session, registration=reg, deployment_id="7", now=T0)
    assert (d.status, d.approved_by, d.approved_at) == (
        LtiDeploymentStatus.APPROVED,
        regs.AUTO_APPROVER,
        T0,
    )


def test_registered_deployment_gets_its_first_seen_time(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    reg = add(deployment_ids=["1"])
    d = regs.deployment_for_launch(db_session, registration=reg, deployment_id="1", now=T0)
    assert (d.status, d.first_seen_at) == (LtiDeploymentStatus.APPROVED, T0)
    assert not events(db_session, "lti.deployment_seen")


def test_deployment_ids_are_exact_and_bounded(
    db_session: Session, add: Callable[..., LtiRegistration]
) -> None:
    reg = add(deployment_ids=["1"])
    spaced = regs.deployment_for_launch(db_session, registration=reg, deployment_id=" 1")
    assert spaced.status is LtiDeploymentStatus.PENDING
    for bad in ("", "x" * 256):
        with pytest.raises(ValidationError):
            regs.deployment_for_launch(db_session, registration=reg, deployment_id=bad)


def test_losing_a_first_seen_race_returns_the_winner(
    db_session: Session, add: Callable[..., LtiRegistration], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = add()
    winner = regs.deployment_for_launch(db_session, registration=reg, deployment_id="7")
    real = regs._find_deployment
    calls = iter([None])  # the first lookup misses, as if the winner had not committed yet
    monkeypatch.setattr(regs, "_find_deployment", lambda *a: next(calls, real(*a)))
    assert regs.deployment_for_launch(db_session, registration=reg, deployment_id="7") is winner
    assert count(db_session, LtiDeployment) == 1
    assert len(events(db_session, "lti.deployment_seen")) == 1


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


@pytest.mark.skipif(not PG_URL, reason="concurrent writers need PostgreSQL")
def test_concurrent_first_launches_create_one_deployment(
    committed: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with committed() as s:
        org = organizations.create_organization(s, slug="race", name="Race", actor="t")
        reg_id = regs.add_platform(s, **platform(org_id=org.id)).id
        s.commit()
    # Both threads miss on their first lookup, so both insert: the unique constraint decides.
    local = threading.local()
    real = regs._find_deployment

    def racing_find(*args: Any) -> Any:
        if not getattr(local, "missed", False):
            local.missed = True
            return None
        return real(*args)

    monkeypatch.setattr(regs, "_find_deployment", racing_find)
    barrier = threading.Barrier(2)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            with committed() as s:
                reg = s.get(LtiRegistration, reg_id)
                assert reg is not None
                barrier.wait(timeout=10)
                d = regs.deployment_for_launch(s, registration=reg, deployment_id="7")
                s.commit()
                results.append((d.id, d.status.value))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(results) == 2
    assert results[0] == results[1]
    with committed() as s:
        assert count(s, LtiDeployment) == 1
        assert len(events(s, "lti.deployment_seen")) == 1


def test_approve_and_revoke(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration]
) -> None:
    reg = add()
    d = regs.deployment_for_launch(db_session, registration=reg, deployment_id="7")
    regs.approve_deployment(db_session, org_id=org.id, deployment_pk=d.id, actor="a", now=T0)
    assert (d.status, d.approved_by, d.approved_at) == (LtiDeploymentStatus.APPROVED, "a", T0)
    with pytest.raises(ConflictError, match="already approved"):
        regs.approve_deployment(db_session, org_id=org.id, deployment_pk=d.id, actor="a")

    regs.revoke_deployment(db_session, org_id=org.id, deployment_pk=d.id, actor="b")
    assert d.status is LtiDeploymentStatus.REVOKED
    with pytest.raises(ConflictError, match="already revoked"):
        regs.revoke_deployment(db_session, org_id=org.id, deployment_pk=d.id, actor="b")
    regs.approve_deployment(db_session, org_id=org.id, deployment_pk=d.id, actor="c")
    assert d.status is LtiDeploymentStatus.APPROVED

    assert [e.details["from"] for e in events(db_session, "lti.deployment_approved")] == [
        "pending",
        "revoked",
    ]
    assert [e.actor for e in events(db_session, "lti.deployment_revoked")] == ["b"]


def test_deployments_are_scoped_and_filtered(
    db_session: Session, org: Organization, add: Callable[..., LtiRegistration], make_org: Any
) -> None:
    reg = add(deployment_ids=["1"])
    pending = regs.deployment_for_launch(db_session, registration=reg, deployment_id="2")
    other = make_org("globex", "Globex")
    theirs = regs.deployment_for_launch(
        db_session, registration=add(org_id=other.id, client_id="g"), deployment_id="1"
    )
    assert list(regs.list_deployments(db_session, org_id=org.id, status="pending")) == [pending]
    assert len(regs.list_deployments(db_session, org_id=org.id)) == 2
    with pytest.raises(ValidationError, match="unknown deployment status"):
        regs.list_deployments(db_session, org_id=org.id, status="bogus")
    for fn in (regs.approve_deployment, regs.revoke_deployment):
        with pytest.raises(NotFound):
            fn(db_session, org_id=org.id, deployment_pk=theirs.id, actor="a")
    assert theirs.status is LtiDeploymentStatus.PENDING


# --------------------------------------------------------------------------- tool keys


def test_ensure_tool_key_creates_one_rsa_2048_key(db_session: Session) -> None:
    assert regs.current_tool_key(db_session) is None
    key = regs.ensure_tool_key(db_session, BOX, now=T0)
    assert regs.ensure_tool_key(db_session, BOX) is key
    assert count(db_session, ToolKey) == 1
    assert (key.status, key.created_at, key.retired_at) == (ToolKeyStatus.CURRENT, T0, None)
    private = serialization.load_pem_private_key(
        regs.current_private_key_pem(db_session, BOX).encode(), password=None
    )
    assert private.key_size == 2048  # type: ignore[union-attr]
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_pem.decode() == key.public_pem


def test_kid_is_the_rfc7638_thumbprint(db_session: Session) -> None:
    key = regs.ensure_tool_key(db_session, BOX)
    expected = JWK.from_pem(key.public_pem.encode())
    assert key.kid == expected.thumbprint()
    assert JWK(**key.public_jwk).thumbprint() == key.kid
    public = expected.export_public(as_dict=True)
    assert key.public_jwk == {
        "kty": "RSA",
        "e": public["e"],
        "n": public["n"],
        "alg": "RS256",
        "use": "sig",
        "kid": key.kid,
    }


def test_private_key_is_not_stored_in_clear(db_session: Session) -> None:
    key = regs.ensure_tool_key(db_session, BOX)
    stored = db_session.scalar(select(ToolKey.private_pem_encrypted).where(ToolKey.id == key.id))
    assert stored
    assert "PRIVATE KEY" not in stored
    assert "-----BEGIN" not in stored
    assert BOX.decrypt(stored).startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(SecretError):
        regs.current_private_key_pem(db_session, SecretBox("another secret"))


def test_no_private_key_before_the_first_key(db_session: Session) -> None:
    with pytest.raises(NotFound, match="rotate-keys"):
        regs.current_private_key_pem(db_session, BOX)
    assert regs.published_jwks(db_session) == {"keys": []}


def test_rotation_publishes_current_and_previous_never_retired(
    db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    first = regs.ensure_tool_key(db_session, BOX, now=T0)
    assert regs.published_jwks(db_session) == {"keys": [first.public_jwk]}

    caplog.set_level(logging.INFO, logger=regs.__name__)
    second = regs.rotate_tool_keys(db_session, BOX, actor="cli:ops", now=T0 + timedelta(days=1))
    assert (first.status, second.status) == (ToolKeyStatus.PREVIOUS, ToolKeyStatus.CURRENT)
    assert first.private_pem_encrypted is not None
    assert regs.published_jwks(db_session) == {"keys": [second.public_jwk, first.public_jwk]}

    later = T0 + timedelta(days=2)
    third = regs.rotate_tool_keys(db_session, BOX, actor="cli:ops", now=later)
    assert [k.status for k in (first, second, third)] == [
        ToolKeyStatus.RETIRED,
        ToolKeyStatus.PREVIOUS,
        ToolKeyStatus.CURRENT,
    ]
    assert (first.retired_at, first.private_pem_encrypted) == (later, None)
    jwks = regs.published_jwks(db_session)
    assert list(jwks) == ["keys"]
    assert [k["kid"] for k in jwks["keys"]] == [third.kid, second.kid]
    assert BOX.decrypt(third.private_pem_encrypted or "") == regs.current_private_key_pem(
        db_session, BOX
    )
    assert [k.kid for k in regs.list_tool_keys(db_session)] == [third.kid, second.kid, first.kid]

    assert f"tool keys rotated by cli:ops: current {third.kid}" in caplog.text
    assert "PRIVATE" not in caplog.text
    assert not db_session.scalars(select(AuditEvent)).all()  # keys belong to no organization


def test_rotation_without_a_key_makes_the_first(db_session: Session) -> None:
    key = regs.rotate_tool_keys(db_session, BOX, actor="a")
    assert regs.published_jwks(db_session) == {"keys": [key.public_jwk]}


def test_database_allows_one_current_key(db_session: Session) -> None:
    key = regs.ensure_tool_key(db_session, BOX)
    clone = ToolKey(
        kid="other",
        public_jwk={},
        public_pem=key.public_pem,
        private_pem_encrypted=None,
        status=ToolKeyStatus.CURRENT,
    )
    db_session.add(clone)
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_losing_the_first_key_race_returns_the_winner(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = regs.ensure_tool_key(db_session, BOX)
    real = regs.current_tool_key
    calls = iter([None])
    monkeypatch.setattr(regs, "current_tool_key", lambda s: next(calls, real(s)))
    assert regs.ensure_tool_key(db_session, BOX) is winner
    assert count(db_session, ToolKey) == 1


@pytest.mark.skipif(not PG_URL, reason="concurrent writers need PostgreSQL")
def test_two_hosts_creating_the_first_key_agree(
    committed: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    local = threading.local()
    real = regs.current_tool_key

    def racing_current(session: Session) -> Any:
        if not getattr(local, "missed", False):
            local.missed = True
            return None
        return real(session)

    monkeypatch.setattr(regs, "current_tool_key", racing_current)
    barrier = threading.Barrier(2)
    kids: list[str] = []
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            with committed() as s:
                barrier.wait(timeout=10)
                kids.append(regs.ensure_tool_key(s, BOX).kid)
                s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(kids) == 2
    assert kids[0] == kids[1]
    with committed() as s:
        assert count(s, ToolKey) == 1


def test_validate_url_and_normalise_issuer_helpers() -> None:
    assert regs.validate_url(" https://x.example/a ", field="f") == "https://x.example/a"
    assert regs.normalise_issuer("not a url/") == "not a url"
    assert regs.normalise_issuer("https://[bad") == "https://[bad"
    assert regs.normalise_issuer("HTTPS://A.example:8443/") == "https://a.example:8443"

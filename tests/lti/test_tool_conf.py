"""SqlAlchemyToolConf: what pylti1p3 finds in the database (no launch endpoints yet)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from pylti1p3.actions import Action
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import event
from sqlalchemy.orm import Session

from lti.tool_conf import SqlAlchemyToolConf
from plugin.crypto import SecretBox
from plugin.models import LtiRegistration, Organization
from plugin.services import lti_registrations as regs

ISS = "https://moodle.acme.example"
BOX = SecretBox("test-secret")


@pytest.fixture
def conf(db_session: Session) -> SqlAlchemyToolConf:
    return SqlAlchemyToolConf(db_session, BOX)


@pytest.fixture
def add(db_session: Session, org: Organization) -> Any:
    def _add(client_id: str = "client-1", **kw: Any) -> LtiRegistration:
        fields: dict[str, Any] = {
            "org_id": org.id,
            "issuer": ISS,
            "client_id": client_id,
            "auth_login_url": f"{ISS}/mod/lti/auth.php?c={client_id}",
            "auth_token_url": f"{ISS}/mod/lti/token.php?c={client_id}",
            "jwks_url": f"{ISS}/mod/lti/certs.php?c={client_id}",
            "actor": "test",
        }
        fields.update(kw)
        return regs.add_platform(db_session, **fields)

    return _add


def test_every_issuer_has_many_clients(conf: SqlAlchemyToolConf) -> None:
    assert isinstance(conf, ToolConfAbstract)
    assert conf.check_iss_has_one_client(ISS) is False
    assert conf.check_iss_has_many_clients(ISS) is True
    assert ToolConfAbstract.issuers_relation_types == {}
    assert conf.find_registration_by_issuer(ISS) is None
    assert conf.find_deployment(ISS, "1") is None


def test_registration_carries_urls_and_the_current_key(
    conf: SqlAlchemyToolConf, add: Any, db_session: Session
) -> None:
    add(auth_audience="https://moodle.acme.example/token-aud")
    reg = conf.find_registration_by_params(ISS, "client-1", action="oidc_login", request=None)
    assert isinstance(reg, Registration)
    assert reg.get_issuer() == ISS
    assert reg.get_client_id() == "client-1"
    assert reg.get_auth_login_url() == f"{ISS}/mod/lti/auth.php?c=client-1"
    assert reg.get_auth_token_url() == f"{ISS}/mod/lti/token.php?c=client-1"
    assert reg.get_auth_audience() == "https://moodle.acme.example/token-aud"
    assert reg.get_key_set_url() == f"{ISS}/mod/lti/certs.php?c=client-1"
    assert reg.get_key_set() is None

    assert regs.current_tool_key(db_session) is None  # a launch never reads the keys …
    public_pem = reg.get_tool_public_key()  # … what signs creates the first one
    key = regs.current_tool_key(db_session)
    assert key is not None
    assert public_pem == key.public_pem
    assert reg.get_tool_private_key() == regs.current_private_key_pem(db_session, BOX)
    assert reg.get_kid() == key.kid
    assert reg.get_jwks() == [key.public_jwk]


def test_what_pylti1p3_signs_verifies_against_our_jwks(conf: SqlAlchemyToolConf, add: Any) -> None:
    add()
    reg = conf.find_registration_by_params(ISS, "client-1")
    assert reg is not None
    token = jwt.encode(
        {"iss": "client-1"},
        reg.get_tool_private_key(),
        algorithm="RS256",
        headers={"kid": reg.get_kid()},
    )
    (published,) = conf.get_jwks()["keys"]
    assert jwt.get_unverified_header(token)["kid"] == published["kid"]
    public = jwt.PyJWK(published).key
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"iss": "client-1"}


def test_issuer_as_sent_is_kept_for_deep_linking_aud(conf: SqlAlchemyToolConf, add: Any) -> None:
    add()
    reg = conf.find_registration_by_params(ISS + "/", "client-1")
    assert reg is not None
    assert reg.get_issuer() == ISS + "/"


def test_unknown_or_inactive_registrations_are_not_found(
    conf: SqlAlchemyToolConf, add: Any, db_session: Session, org: Organization
) -> None:
    reg = add()
    assert conf.find_registration_by_params(ISS, "nope") is None
    assert conf.find_registration_by_params("https://other.example", "client-1") is None
    regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="t")
    fresh = SqlAlchemyToolConf(db_session, BOX)
    assert fresh.find_registration_by_params(ISS, "client-1") is None
    assert fresh.find_deployment_by_params(ISS, "1", "client-1") is None


def test_many_clients_per_issuer_are_told_apart(conf: SqlAlchemyToolConf, add: Any) -> None:
    add("a", deployment_ids=["1"])
    add("b", deployment_ids=["2"])
    for client in ("a", "b"):
        reg = conf.find_registration_by_params(ISS, client)
        assert reg is not None
        assert reg.get_client_id() == client
        assert reg.get_auth_login_url() == f"{ISS}/mod/lti/auth.php?c={client}"
    assert conf.find_deployment_by_params(ISS, "1", "a") is not None
    assert conf.find_deployment_by_params(ISS, "1", "b") is None
    assert conf.find_deployment_by_params(ISS, "2", "b") is not None


def test_login_without_client_id_needs_a_single_registration(
    conf: SqlAlchemyToolConf, add: Any, db_session: Session
) -> None:
    add("a")
    reg = conf.find_registration_by_params(ISS, None)  # type: ignore[arg-type]
    assert reg is not None
    assert reg.get_client_id() == "a"
    add("b")
    fresh = SqlAlchemyToolConf(db_session, BOX)
    assert fresh.find_registration_by_params(ISS, None) is None  # type: ignore[arg-type]


def test_only_approved_deployments_are_found(
    conf: SqlAlchemyToolConf, add: Any, db_session: Session, org: Organization
) -> None:
    reg = add(deployment_ids=["1"])
    found = conf.find_deployment_by_params(ISS, "1", "client-1")
    assert isinstance(found, Deployment)
    assert found.get_deployment_id() == "1"

    pending = regs.deployment_for_launch(db_session, registration=reg, deployment_id="2")
    assert conf.find_deployment_by_params(ISS, "2", "client-1") is None  # waiting for approval
    regs.approve_deployment(db_session, org_id=org.id, deployment_pk=pending.id, actor="a")
    assert conf.find_deployment_by_params(ISS, "2", "client-1") is not None

    regs.revoke_deployment(db_session, org_id=org.id, deployment_pk=pending.id, actor="a")
    assert conf.find_deployment_by_params(ISS, "2", "client-1") is None
    assert conf.find_deployment_by_params(ISS, "unknown", "client-1") is None
    assert conf.find_deployment_by_params(ISS, "", "client-1") is None


def test_get_jwks_has_all_published_keys_wrapped_once(
    conf: SqlAlchemyToolConf, db_session: Session
) -> None:
    first = regs.ensure_tool_key(db_session, BOX)
    second = regs.rotate_tool_keys(db_session, BOX, actor="t")
    regs.rotate_tool_keys(db_session, BOX, actor="t")
    jwks = conf.get_jwks()
    assert list(jwks) == ["keys"]
    kids = [k["kid"] for k in jwks["keys"]]
    assert second.kid in kids
    assert first.kid not in kids
    assert len(kids) == 2
    assert conf.get_jwks(ISS, "client-1") == jwks


def test_logins_reuse_the_registration_for_a_few_seconds(
    add: Any, db_session: Session, org: Organization
) -> None:
    reg = add()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    first = SqlAlchemyToolConf(db_session, BOX)
    found = first.find_registration_by_params(ISS, "client-1", action=Action.OIDC_LOGIN)
    assert found is not None
    assert found.get_auth_login_url() == f"{ISS}/mod/lti/auth.php?c=client-1"
    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        again = SqlAlchemyToolConf(db_session, BOX)
        assert again.find_registration_by_params(ISS, "client-1", action=Action.OIDC_LOGIN)
        assert statements == []  # no database round trip for the second login
        # A launch never uses the memo.
        assert again.find_registration_by_params(ISS, "client-1") is not None
        assert statements != []
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Deactivating the registration here forgets it at once.
    regs.deactivate_platform(db_session, org_id=org.id, registration_id=reg.id, actor="t")
    db_session.flush()
    later = SqlAlchemyToolConf(db_session, BOX)
    assert later.find_registration_by_params(ISS, "client-1", action=Action.OIDC_LOGIN) is None

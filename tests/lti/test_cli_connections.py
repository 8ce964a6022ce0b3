"""``tandem connections …``, ``tandem sync …``, the connector registry and ``demo hris``.

The SuccessFactors fake (:mod:`fakes.successfactors`) is served on 127.0.0.1 in a thread;
the real connector talks to it over HTTP. ``FastConnector`` is the real connector with
retries that do not sleep, registered through ``CONNECTORS`` like any deployment would.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors._http import RetryPolicy
from connectors.successfactors import SuccessFactorsConnector
from connectors.successfactors.auth import clear_token_caches
from fakes.successfactors import FakeServer, FakeTenant, create_app, serve_in_thread
from lti import create_app as create_tandem
from lti.connectors import (
    EXTENSION,
    LazyConnectorFactory,
    build_connector_registry,
    build_source,
    get_connectors,
)
from lti.db import get_engine, get_session
from plugin.errors import ValidationError
from plugin.models import (
    Connection,
    Person,
    PersonIdentity,
    QuarantinedRecord,
    SyncRun,
    WritebackTarget,
)
from plugin.ports import ConnectionConfig, PeopleSource
from plugin.records import InvalidRecord, PersonRecord
from tests.conftest import wipe

FAST = {"successfactors": "tests.lti.test_cli_connections:FastConnector"}


# --------------------------------------------------------------------------- support


class FastConnector(SuccessFactorsConnector):
    """The real connector; retries do not sleep, and a test may act after the first page."""

    #: Called once the first page of people is read, before the second is asked for.
    after_first_page: ClassVar[Callable[[], None] | None] = None

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(
            config,
            sleep=lambda _seconds: None,
            policy=RetryPolicy(max_attempts=2, backoff=0.0, max_backoff=0.0, max_retry_wait=0.0),
        )

    def iter_people(
        self, *, since: datetime | None = None
    ) -> Iterator[list[PersonRecord | InvalidRecord]]:
        pages = super().iter_people(since=since)
        first = next(pages, None)
        if first is None:
            return
        hook = type(self).after_first_page
        if hook is not None:
            hook()
        yield list(first)
        for page in pages:
            yield list(page)


@dataclass
class KeyPair:
    key: Path
    cert: Path
    cert_pem: str


def make_key_pair(
    directory: Path,
    name: str = "tandem",
    *,
    days: int = 365,
    key: Any = None,
) -> KeyPair:
    """An RSA key and a self-signed certificate, as files."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=max(1, -days) + 1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{name}-key.pem"
    cert_path = directory / f"{name}-cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cert_path.write_text(cert_pem, encoding="ascii")
    return KeyPair(key_path, cert_path, cert_pem)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    """Fresh token caches, and no page hook left behind."""
    clear_token_caches()
    yield
    FastConnector.after_first_page = None
    clear_token_caches()


def make_tenant(keys: KeyPair, *, users: int = 130, **switches: Any) -> FakeTenant:
    """A tenant with ``users`` generated users (3 % inactive) and our client registered."""
    tenant = FakeTenant(company_id="ACME")
    tenant.generate_users(n=users, seed=11, inactive_share=0.05)
    tenant.register_client(client_id="tandem", certificate_pem=keys.cert_pem, user_id="sfadmin")
    for name, value in switches.items():
        setattr(tenant, name, value)
    return tenant


@pytest.fixture
def tenant(keys: KeyPair) -> FakeTenant:
    return make_tenant(keys)


class Switch:
    """A WSGI app that serves whichever fake app the current test put in it.

    One server for the whole session: stopping a werkzeug server waits for its poll
    interval, which would otherwise add half a second to every test.
    """

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def switch() -> Iterator[tuple[Switch, FakeServer]]:
    wsgi = Switch()
    with serve_in_thread(wsgi) as running:  # type: ignore[arg-type]
        yield wsgi, running


@pytest.fixture
def server(tenant: FakeTenant, switch: tuple[Switch, FakeServer]) -> Iterator[FakeServer]:
    wsgi, running = switch
    wsgi.app = create_app(tenant)
    yield running
    wsgi.app = None


@pytest.fixture
def fast(app: Flask) -> Flask:
    """The app with the non-sleeping connector registered for successfactors."""
    app.config["CONNECTORS"] = FAST
    app.extensions[EXTENSION] = build_connector_registry(app)
    return app


def ok(runner: FlaskCliRunner, *args: str) -> Result:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def fails(runner: FlaskCliRunner, *args: str, code: int = 1) -> Result:
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, result.output
    return result


def add_args(
    url: str, keys: KeyPair, *, org: str = "acme", name: str = "sf", page_size: int = 50
) -> list[str]:
    return [
        "connections",
        "add",
        "successfactors",
        "--org",
        org,
        "--name",
        name,
        "--base-url",
        url,
        "--company-id",
        "ACME",
        "--client-id",
        "tandem",
        "--user-id",
        "sfadmin",
        "--private-key",
        str(keys.key),
        "--certificate",
        str(keys.cert),
        "--learning-url",
        url,
        "--page-size",
        str(page_size),
    ]


@pytest.fixture
def acme(runner: FlaskCliRunner) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME")


@pytest.fixture
def connected(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, keys: KeyPair
) -> FakeServer:
    ok(runner, *add_args(server.url, keys))
    return server


def rows(app: Flask, model: type, *where: Any) -> list[Any]:
    with Session(get_engine(app)) as s:
        return list(s.scalars(select(model).where(*where)))


def count(app: Flask, model: type, *where: Any) -> int:
    with Session(get_engine(app)) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --------------------------------------------------------------------------- registry


def test_successfactors_is_registered_by_default(app: Flask) -> None:
    registry = get_connectors(app)
    assert list(registry) == ["successfactors"]
    assert isinstance(registry["successfactors"], LazyConnectorFactory)


def test_connectors_can_be_added_replaced_and_switched_off() -> None:
    app = create_tandem({"CONNECTORS": {"hris": "tests.lti.test_cli_connections:FastConnector"}})
    assert sorted(get_connectors(app)) == ["hris", "successfactors"]
    assert dict(get_connectors(create_tandem({"CONNECTORS": {"successfactors": None}}))) == {}


@pytest.mark.parametrize(
    ("configured", "match"),
    [
        (["x"], "must be a JSON object"),
        ({"Bad Name": "a.b:C"}, "lower-case"),
        ({"hris": "not a path"}, "dotted path"),
    ],
)
def test_bad_connector_config_is_refused(configured: Any, match: str) -> None:
    with pytest.raises(RuntimeError, match=match):
        build_connector_registry(create_tandem({"CONNECTORS": configured}))


def test_a_connector_that_cannot_be_imported_says_so() -> None:
    factory = LazyConnectorFactory("hris", "tandem_missing_package:Connector")
    with pytest.raises(ValidationError, match="cannot be imported"):
        factory.load()


def test_build_source_decrypts_the_config_for_the_registered_connector(
    connected: FakeServer, fast: Flask
) -> None:
    with fast.app_context():
        session = get_session()
        connection = session.scalars(select(Connection)).one()
        source = build_source(fast, session, connection)
        assert isinstance(source, FastConnector)
        assert isinstance(source, PeopleSource)
        assert source.config.credentials["private_key"].startswith("-----BEGIN PRIVATE KEY")
        fast.config["CONNECTORS"] = {"successfactors": None}
        fast.extensions[EXTENSION] = build_connector_registry(fast)
        with pytest.raises(ValidationError, match="no connector for 'successfactors'"):
            build_source(fast, session, connection)


# --------------------------------------------------------------------------- add


def test_add_stores_the_key_encrypted_and_the_writeback_target(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, keys: KeyPair
) -> None:
    out = ok(runner, *add_args(server.url, keys)).output
    assert "added connection sf (successfactors" in out
    assert "write-back target sf: completion, hours, skill_gain" in out
    connection = rows(fast, Connection)[0]
    assert connection.settings == {
        "base_url": server.url,
        "company_id": "ACME",
        "client_id": "tandem",
        "user_id": "sfadmin",
        "learning_url": server.url,
        "page_size": 50,
        "auth": "saml",
    }
    key_body = keys.key.read_text().splitlines()[1]
    assert connection.credentials_encrypted
    assert key_body not in connection.credentials_encrypted
    assert "PRIVATE" not in connection.credentials_encrypted
    target = rows(fast, WritebackTarget)[0]
    assert (target.name, target.sink, target.connection_id) == (
        "sf",
        "successfactors",
        connection.id,
    )
    assert target.kinds == ["completion", "hours", "skill_gain"]


def test_without_a_learning_url_only_skill_gains_are_written_back(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, keys: KeyPair
) -> None:
    args = add_args(server.url, keys)
    i = args.index("--learning-url")
    del args[i : i + 2]
    out = ok(runner, *args).output
    assert "completions and hours are not written back" in out
    assert rows(fast, WritebackTarget)[0].kinds == ["skill_gain"]


def test_no_writeback_adds_no_target(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, keys: KeyPair
) -> None:
    ok(runner, *add_args(server.url, keys), "--no-writeback")
    assert count(fast, WritebackTarget) == 0


def test_list_and_show_print_no_secret(
    runner: FlaskCliRunner, connected: FakeServer, keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_body = keys.key.read_text().splitlines()[1]
    cert_body = keys.cert_pem.splitlines()[1]
    listed = ok(runner, "connections", "list").output
    assert "acme\tsf\tsuccessfactors\tactive" in listed
    assert "never synced" in listed
    as_json = json.loads(ok(runner, "connections", "list", "--json").output)
    assert as_json[0]["name"] == "sf"
    assert as_json[0]["has_credentials"] is True
    shown = ok(runner, "connections", "show", "sf").output
    assert "credentials         certificate, private_key (encrypted)" in shown
    for text in (listed, json.dumps(as_json), shown):
        assert key_body not in text
        assert cert_body not in text
        assert "PRIVATE KEY" not in text


@pytest.fixture
def other_keys(tmp_path: Path) -> KeyPair:
    return make_key_pair(tmp_path / "other", "other")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a, k, o, t: a.__setitem__(a.index("--private-key") + 1, str(t / "nope.pem")),
            "no such file",
        ),
        (
            lambda a, k, o, t: a.__setitem__(a.index("--private-key") + 1, str(k.cert)),
            "is not a PEM private key",
        ),
        (
            lambda a, k, o, t: a.__setitem__(a.index("--certificate") + 1, str(o.cert)),
            "does not belong to the private key",
        ),
        (
            lambda a, k, o, t: a.__setitem__(a.index("--certificate") + 1, str(k.key)),
            "is not a PEM certificate",
        ),
        (
            lambda a, k, o, t: a.__setitem__(a.index("--org") + 1, "nowhere"),
            "unknown organization 'nowhere'",
        ),
        (
            lambda a, k, o, t: a.__setitem__(a.index("--base-url") + 1, "ftp://sf.example.com"),
            "is not an http(s) URL",
        ),
        (lambda a, k, o, t: a.__setitem__(a.index("--name") + 1, "Bad Name"), "connection name"),
        (lambda a, k, o, t: a.extend(["--page-size", "5000"]), "5000 is not in the range"),
    ],
    ids=[
        "missing-key-file",
        "cert-as-key",
        "mismatched-cert",
        "key-as-cert",
        "unknown-org",
        "bad-url",
        "bad-name",
        "page-size",
    ],
)
def test_add_refuses_bad_input_and_stores_nothing(
    runner: FlaskCliRunner,
    fast: Flask,
    acme: None,
    server: FakeServer,
    keys: KeyPair,
    other_keys: KeyPair,
    tmp_path: Path,
    change: Any,
    message: str,
) -> None:
    args = add_args(server.url, keys)
    change(args, keys, other_keys, tmp_path)
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert count(fast, Connection) == 0
    assert count(fast, WritebackTarget) == 0


def test_add_refuses_an_expired_a_weak_an_encrypted_and_a_non_rsa_key(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, tmp_path: Path
) -> None:
    expired = make_key_pair(tmp_path / "expired", "expired", days=-1)
    out = fails(runner, *add_args(server.url, expired), code=2).output
    assert "expired on" in out
    weak = make_key_pair(
        tmp_path / "weak",
        "weak",
        key=rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
    )
    assert "use at least 2048 bits" in fails(runner, *add_args(server.url, weak), code=2).output
    ecdsa = make_key_pair(tmp_path / "ec", "ec", key=ec.generate_private_key(ec.SECP256R1()))
    assert "is not an RSA key" in fails(runner, *add_args(server.url, ecdsa), code=2).output
    locked = make_key_pair(tmp_path / "locked", "locked")
    key = serialization.load_pem_private_key(locked.key.read_bytes(), password=None)
    locked.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    assert (
        "is encrypted with a passphrase"
        in fails(runner, *add_args(server.url, locked), code=2).output
    )
    assert count(fast, Connection) == 0


def test_add_needs_credentials_and_a_key_with_its_certificate(
    runner: FlaskCliRunner, fast: Flask, acme: None, server: FakeServer, keys: KeyPair
) -> None:
    args = add_args(server.url, keys)
    i = args.index("--certificate")
    without_cert = args[:i] + args[i + 2 :]
    assert "go together" in fails(runner, *without_cert, code=2).output
    j = without_cert.index("--private-key")
    nothing = without_cert[:j] + without_cert[j + 2 :]
    assert "give --private-key and --certificate" in fails(runner, *nothing, code=2).output
    out = fails(runner, *nothing, "--password-env", "TANDEM_TEST_UNSET_VAR", code=2).output
    assert "environment variable TANDEM_TEST_UNSET_VAR is not set" in out
    assert count(fast, Connection) == 0


def test_basic_auth_password_comes_from_the_environment(
    runner: FlaskCliRunner,
    fast: Flask,
    acme: None,
    server: FakeServer,
    keys: KeyPair,
    tenant: FakeTenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant.set_basic_password(user_id="sfadmin", password="s3cret-Passw0rd")
    monkeypatch.setenv("SF_PASSWORD", "s3cret-Passw0rd")
    args = add_args(server.url, keys)
    for option in ("--private-key", "--certificate"):
        i = args.index(option)
        del args[i : i + 2]
    result = ok(runner, *args, "--password-env", "SF_PASSWORD")
    assert "basic auth is being retired" in result.output
    connection = rows(fast, Connection)[0]
    assert connection.settings["auth"] == "basic"
    assert "s3cret" not in (connection.credentials_encrypted or "")
    assert "OK: connection sf" in ok(runner, "connections", "test", "sf").output


def test_a_duplicate_name_is_refused(
    runner: FlaskCliRunner, connected: FakeServer, keys: KeyPair, fast: Flask
) -> None:
    out = fails(runner, *add_args(connected.url, keys)).output
    assert "a connection named 'sf' already exists" in out
    assert count(fast, Connection) == 1


def test_http_is_refused_in_production_unless_allowed(
    database_url: str, engine: Engine, tmp_path: Path, keys: KeyPair, server: FakeServer
) -> None:
    prod = create_tandem(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "prod-secret",
            "ENV": "production",
            "CONNECTORS": FAST,
        }
    )
    prod.instance_path = str(tmp_path / "instance")
    runner = prod.test_cli_runner()
    try:
        ok(runner, "orgs", "create", "acme", "--name", "ACME")
        out = fails(runner, *add_args(server.url, keys), code=2).output
        assert "use https://" in out
        ok(runner, *add_args(server.url, keys), "--allow-http")
    finally:
        get_engine(prod).dispose()
        wipe(engine)


# --------------------------------------------------------------------------- test, update


def test_connection_test_ok(runner: FlaskCliRunner, connected: FakeServer) -> None:
    out = ok(runner, "connections", "test", "sf").output
    assert out.startswith("OK: connection sf (successfactors) accepted our credentials")


def test_connection_test_says_why_it_failed(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant, other_keys: KeyPair
) -> None:
    tenant.register_client(
        client_id="tandem", certificate_pem=other_keys.cert_pem, user_id="sfadmin"
    )
    out = fails(runner, "connections", "test", "sf").output
    assert "Error: connection sf: authentication failed (HTTP 401)" in out
    assert "PRIVATE KEY" not in out


def test_connection_test_when_nobody_answers(
    runner: FlaskCliRunner, fast: Flask, acme: None, keys: KeyPair
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok(runner, *add_args(f"http://127.0.0.1:{port}", keys))
    out = fails(runner, "connections", "test", "sf").output
    assert "Error: connection sf: unavailable" in out


def test_update_rotates_the_key_and_changes_settings(
    runner: FlaskCliRunner,
    connected: FakeServer,
    tenant: FakeTenant,
    other_keys: KeyPair,
    keys: KeyPair,
    fast: Flask,
) -> None:
    before = rows(fast, Connection)[0].credentials_encrypted
    mismatched = fails(
        runner,
        "connections",
        "update",
        "sf",
        "--private-key",
        str(keys.key),
        "--certificate",
        str(other_keys.cert),
        code=2,
    ).output
    assert "does not belong to the private key" in mismatched
    tenant.register_client(
        client_id="tandem", certificate_pem=other_keys.cert_pem, user_id="sfadmin"
    )
    clear_token_caches()
    assert "authentication failed" in fails(runner, "connections", "test", "sf").output
    out = ok(
        runner,
        "connections",
        "update",
        "sf",
        "--private-key",
        str(other_keys.key),
        "--certificate",
        str(other_keys.cert),
        "--page-size",
        "25",
        "--unset",
        "learning_url",
    ).output
    assert "updated connection sf: certificate, learning_url, page_size, private_key" in out
    connection = rows(fast, Connection)[0]
    assert connection.credentials_encrypted != before
    assert connection.settings["page_size"] == 25
    assert "learning_url" not in connection.settings
    assert "OK" in ok(runner, "connections", "test", "sf").output
    assert "nothing to change" in fails(runner, "connections", "update", "sf", code=2).output


# --------------------------------------------------------------------------- sync


def test_sync_full_links_everyone_and_counts_quarantined_records(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant, fast: Flask
) -> None:
    tenant.add_user({"userId": "bad-1", "status": "t", "firstName": "", "lastName": "Nameless"})
    tenant.duplicate_rows_across_pages = True
    result = ok(runner, "sync", "sf", "--full")
    total = tenant.user_count
    assert "sync sf succeeded: run" in result.stdout
    assert f"people:  {total:,} seen · {total - 1:,} created" in result.stdout
    assert "1 quarantined" in result.stdout
    assert "repeated records skipped" in result.stdout
    assert "1 record quarantined — see `tandem sync quarantine sf`" in result.stdout
    # progress on stderr, per phase
    assert "people" in result.stderr
    assert "done" in result.stderr
    assert count(fast, Person) == total - 1
    source = f"successfactors:{rows(fast, Connection)[0].id}"
    assert count(fast, PersonIdentity, PersonIdentity.source == source) == total - 1
    inactive = sum(1 for uid in tenant.user_ids() if tenant.get_user(uid)["status"] == "f")
    assert inactive > 0
    assert count(fast, Person, Person.active.is_(False)) == inactive
    second = ok(runner, "sync", "sf", "--full", "--json")
    data = json.loads(second.stdout)
    assert (data["created"], data["updated"], data["unchanged"]) == (0, 0, total - 1)


def test_sync_without_full_is_a_delta_after_the_first_run(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant, fast: Flask
) -> None:
    first = ok(runner, "sync", "sf").stdout
    assert "full (no watermark yet: read everyone)" in first
    some = tenant.user_ids()[5]
    tenant.update_user(some, department="Reverse Mentoring Office")
    second = ok(runner, "sync", "run", "sf").stdout
    assert ", delta," in second
    assert "1 updated" in second
    person = rows(fast, Person, Person.department == "Reverse Mentoring Office")
    assert len(person) == 1


def test_a_failed_sync_exits_1_and_keeps_the_watermark(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant, fast: Flask
) -> None:
    ok(runner, "sync", "sf", "--full", "-q")
    watermark = rows(fast, Connection)[0].watermark
    assert watermark is not None

    def outage() -> None:
        tenant.faults.add(path_prefix="/odata/v2/User", status=503, times=10)

    FastConnector.after_first_page = outage
    result = fails(runner, "sync", "sf", "--full")
    assert "sync sf failed: run" in result.stdout
    assert "ConnectorUnavailable (HTTP 503)" in result.stderr
    assert f"watermark kept at {watermark:%Y-%m-%d %H:%M:%S} UTC" in result.stderr
    assert rows(fast, Connection)[0].watermark == watermark
    failed = rows(fast, SyncRun, SyncRun.status == "failed")
    assert len(failed) == 1
    assert failed[0].error.startswith("ConnectorUnavailable")
    # nobody was deactivated by the half-read full sync
    assert count(fast, Person, Person.active.is_(False)) == sum(
        1 for uid in tenant.user_ids() if tenant.get_user(uid)["status"] == "f"
    )
    history = ok(runner, "sync", "history", "sf").stdout.splitlines()
    assert history[0].startswith("RUN\tSTARTED (UTC)\tTYPE\tSTATUS")
    assert "\tfull\tfailed\t" in history[1]
    assert "ConnectorUnavailable" in history[1]
    assert "\tfull\tsucceeded\t" in history[2]


def test_a_first_sync_that_fails_says_everyone_is_read_again(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant
) -> None:
    tenant.faults.add(path_prefix="/odata/v2/User", malformed=True)
    result = fails(runner, "sync", "sf")
    assert "ConnectorDataError" in result.stderr
    assert "no watermark yet: the next sync reads everyone again" in result.stderr


def test_history_and_quarantine(
    runner: FlaskCliRunner, connected: FakeServer, tenant: FakeTenant, fast: Flask
) -> None:
    assert "has not been synced yet" in ok(runner, "sync", "history", "sf").output
    assert "has not been synced yet" in ok(runner, "sync", "quarantine", "sf").output
    tenant.add_user({"userId": "bad-1", "status": "t", "firstName": "", "lastName": "Nameless"})
    tenant.add_user(
        {"userId": "bad-2", "status": "t", "firstName": "Ada", "lastName": "L", "email": "x@"}
    )
    ok(runner, "sync", "sf", "-q")
    runs = json.loads(ok(runner, "sync", "history", "sf", "--json").stdout)
    assert len(runs) == 1
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["quarantined"] == 2
    assert runs[0]["details"]["people"]["quarantined"] == 2
    text = ok(runner, "sync", "quarantine", "sf").stdout
    assert f"run {runs[0]['id']} (full," in text
    assert "2 records quarantined" in text
    assert "person\tbad-1\t" in text
    assert "person\tbad-2\t" in text
    assert "Nameless" not in text  # payloads only with --json
    raw = json.loads(ok(runner, "sync", "quarantine", "sf", "--json").stdout)
    assert raw["total"] == 2
    by_id = {r["external_id"]: r for r in raw["records"]}
    assert by_id["bad-1"]["reason"]
    assert by_id["bad-1"]["payload"]["lastName"] == "Nameless"
    other = fails(runner, "sync", "quarantine", "sf", "--run", "999999").output
    assert "sync run 999999 not found" in other
    assert count(fast, QuarantinedRecord) == 2


def test_an_ambiguous_name_needs_org(
    runner: FlaskCliRunner, connected: FakeServer, keys: KeyPair
) -> None:
    ok(runner, "orgs", "create", "globex", "--name", "Globex")
    ok(runner, *add_args(connected.url, keys, org="globex"))
    for args in (("sync", "sf"), ("sync", "history", "sf"), ("connections", "test", "sf")):
        out = fails(runner, *args).output
        assert "exists in several organizations (acme, globex): give --org SLUG" in out
    ok(runner, "sync", "sf", "--org", "globex", "-q")
    ok(runner, "sync", "--full", "sf", "--org", "acme", "-q")
    assert "\tfull\tsucceeded" in ok(runner, "sync", "history", "sf", "--org", "acme").stdout
    out = fails(runner, "sync", "nowhere").output
    assert "no connection named 'nowhere'" in out


def test_sync_help_lists_the_forms(runner: FlaskCliRunner) -> None:
    out = ok(runner, "sync", "--help").output
    assert "tandem sync NAME --full" in out
    assert "history" in out
    assert "quarantine" in out


# --------------------------------------------------------------------------- demo


@pytest.fixture
def dev_app(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    application = create_tandem(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "DEV_PLATFORM": True,
            "CONNECTORS": FAST,
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    get_engine(application).dispose()
    wipe(engine)


def test_demo_hris_serves_the_demo_people_and_a_sync_links_them(dev_app: Flask) -> None:
    runner = dev_app.test_cli_runner()
    client = dev_app.test_client()
    answer = client.get("/dev/successfactors/odata/v2/User?$format=json")
    assert answer.status_code == 503
    assert "tandem demo hris" in answer.get_data(as_text=True)
    ok(runner, "demo", "seed", "--org", "demo", "--people", "60", "--seed", "3")
    people = count(dev_app, Person)
    with serve_in_thread(dev_app) as server:
        out = ok(runner, "demo", "hris", "--base-url", server.url).output
        assert f"fake SuccessFactors at {server.url}/dev/successfactors with {people} users" in out
        ok(runner, "connections", "test", "demo-sf")
        result = ok(runner, "sync", "demo-sf", "-q")
        assert "0 created" in result.stdout
        assert "0 quarantined" in result.stdout
        assert count(dev_app, Person) == people  # linked, not duplicated
        again = ok(runner, "demo", "hris", "--base-url", server.url).output
        assert again.startswith("refreshed connection demo-sf")
        second = json.loads(ok(runner, "sync", "demo-sf", "--full", "--json").stdout)
        assert (second["created"], second["updated"], second["deactivated"]) == (0, 0, 0)
    assert count(dev_app, Connection) == 1
    target = rows(dev_app, WritebackTarget, WritebackTarget.name == "demo-sf")[0]
    assert target.sink == "successfactors"
    assert target.kinds == ["completion", "hours", "skill_gain"]

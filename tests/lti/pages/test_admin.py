"""The HR admin pages: connections, sync now with progress, history, LTI, keys.

Sessions are started by a test-only route that calls :func:`lti.web_session.start`, as a
validated launch would. Connections are built by :class:`FakeSource`, registered as the
``successfactors`` connector through ``CONNECTORS``: it checks the settings exactly as the
real connector does (:class:`connectors.successfactors.settings.Settings`) and reads its
people from the test. Syncs run in the pages' background thread; tests join it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors.successfactors.settings import Settings
from lti import create_app, pages_admin, web_session
from lti.db import get_engine
from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable
from plugin.models import (
    AuditEvent,
    Connection,
    LtiDeployment,
    LtiDeploymentStatus,
    Person,
    PersonIdentity,
    SyncRun,
    SyncStatus,
    ToolKey,
    ToolKeyStatus,
    WritebackTarget,
)
from plugin.ports import ConnectionConfig
from plugin.records import InvalidRecord, PersonRecord
from plugin.services import lti_dynreg, organizations, programs
from plugin.services import lti_registrations as regs
from tests.conftest import wipe
from tests.lti.web_login import install_test_login

SOURCE = "tests.lti.pages.test_admin:FakeSource"
SECRET_PASSWORD = "Pa55-word-never-shown"


# --------------------------------------------------------------------------- fake source


class FakeSource:
    """A SuccessFactors stand-in: real settings checks, people from the test."""

    name = "successfactors"
    check_error: ClassVar[Exception | None] = None
    pages: ClassVar[list[list[PersonRecord | InvalidRecord]]] = []
    fail_with: ClassVar[Exception | None] = None
    #: When set, the first page waits for it (a sync that is "still running").
    gate: ClassVar[threading.Event | None] = None

    def __init__(self, config: ConnectionConfig) -> None:
        Settings.from_config(config)  # the real connector's checks (no I/O)
        self.config = config

    def check(self) -> None:
        if type(self).check_error is not None:
            raise type(self).check_error

    def iter_people(
        self, *, since: datetime | None = None
    ) -> Iterator[list[PersonRecord | InvalidRecord]]:
        gate = type(self).gate
        for page in type(self).pages:
            if gate is not None:
                gate.wait(timeout=30)
            yield list(page)
        if type(self).fail_with is not None:
            raise type(self).fail_with


def person(n: int, **kw: Any) -> PersonRecord:
    fields: dict[str, Any] = {
        "external_id": f"u{n}",
        "given_name": f"Given{n}",
        "family_name": f"Family{n}",
        "email": f"u{n}@example.com",
        "modified_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(kw)
    return PersonRecord(**fields)


@pytest.fixture(autouse=True)
def _fresh_source() -> Iterator[None]:
    FakeSource.check_error = None
    FakeSource.pages = [[person(1), person(2)]]
    FakeSource.fail_with = None
    FakeSource.gate = None
    yield
    if FakeSource.gate is not None:
        FakeSource.gate.set()
    join_syncs()


def join_syncs() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(pages_admin.SYNC_THREAD_PREFIX):
            thread.join(timeout=30)
            assert not thread.is_alive(), "a background sync did not finish"


# --------------------------------------------------------------------------- app


@pytest.fixture
def app(database_url: str, engine: Engine, tmp_path: Any) -> Iterator[Flask]:
    application = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "CONNECTORS": {"successfactors": SOURCE},
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    join_syncs()
    get_engine(application).dispose()
    wipe(engine)


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    """Overrides the rolled-back session: the app reads committed rows only."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def people(db_session: Session) -> dict[str, Any]:
    org = organizations.create_organization(db_session, slug="acme", name="ACME", actor="t")
    other = organizations.create_organization(db_session, slug="other", name="Other", actor="t")
    made = {}
    for key, org_ in (("admin", org), ("coordinator", org), ("participant", org), ("alien", other)):
        p = Person(org_id=org_.id, given_name=key.title(), family_name="Test", email=f"{key}@x.org")
        db_session.add(p)
        made[key] = p
    db_session.commit()
    return {"org": org, "other": other, **made}


@pytest.fixture
def login(app: Flask, client: Any) -> Any:
    return install_test_login(app, client, default_role="admin")


def csrf(client: Any) -> str:
    cookie = client.get_cookie(web_session.COOKIE)
    assert cookie is not None
    html = client.get("/app/admin/keys").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def h1s(html: str) -> list[str]:
    return re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<span class="field-error" id="error-{re.escape(name)}">(.*?)</span>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


# --------------------------------------------------------------------------- keys and certs


def pem_pair(days: int = 365, key: Any = None) -> tuple[bytes, bytes]:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tandem")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return pem_pair()


def form_data(token: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": token,
        "name": "sf-prod",
        "base_url": "https://api4.successfactors.com/",
        "company_id": "ACME",
        "client_id": "client-1",
        "user_id": "tandem_api",
        "skills": "1",
        "writeback": "1",
    }
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def add_connection(client: Any, pair: tuple[bytes, bytes], **kw: Any) -> Any:
    from io import BytesIO

    key_pem, cert_pem = pair
    data = form_data(csrf(client), **kw)
    data.setdefault("private_key_file", (BytesIO(key_pem), "key.pem"))
    data.setdefault("certificate_file", (BytesIO(cert_pem), "cert.pem"))
    return client.post("/app/admin/connections/new", data=data, content_type="multipart/form-data")


@pytest.fixture
def connection(client: Any, login: Any, people: dict[str, Any], pair: Any) -> str:
    login(people["admin"])
    res = add_connection(client, pair)
    assert res.status_code == 303, res.text
    return "sf-prod"


def count(db: Session, model: Any) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- access

GET_PAGES = (
    "/app/admin/",
    "/app/admin/connections",
    "/app/admin/connections/new",
    "/app/admin/lti",
    "/app/admin/keys",
)


@pytest.mark.parametrize("page", GET_PAGES)
def test_each_admin_page_renders_with_one_h1_and_no_store(
    client: Any, login: Any, people: dict[str, Any], page: str
) -> None:
    login(people["admin"])
    res = client.get(page)
    assert res.status_code == 200, res.text
    assert len(h1s(res.text)) == 1
    assert '<main id="main" data-testid="admin-page">' in res.text
    assert res.headers["Cache-Control"] == "private, no-store"
    assert res.headers["Referrer-Policy"] == "no-referrer"
    # The admin's own nav entry, current on the overview only.
    assert ">Administration</a>" in res.text


@pytest.mark.parametrize("role", ["participant", "coordinator"])
@pytest.mark.parametrize("page", GET_PAGES)
def test_participants_and_coordinators_get_403(
    client: Any, login: Any, people: dict[str, Any], role: str, page: str
) -> None:
    login(people[role], role)
    res = client.get(page)
    assert res.status_code == 403
    assert "Only HR administrators" in res.text
    assert ">Administration</a>" not in res.text


def test_without_a_session_the_pages_say_to_launch_again(client: Any, people: Any) -> None:
    res = client.get("/app/admin/")
    assert res.status_code == 401


def test_a_coordinator_cannot_post_either(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["coordinator"], "coordinator")
    token = client.get("/app/").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', token)
    sent = found.group(1) if found else ""
    res = client.post("/app/admin/keys/rotate", data={"csrf_token": sent, "confirm": "1"})
    assert res.status_code == 403
    assert count(db_session, ToolKey) == 0


def test_an_admin_session_acts_as_an_admin_who_coordinates_every_program(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    program = programs.create_program(
        db_session,
        org=people["org"],
        actor="t",
        name="Reverse Mentoring 2026",
        format="one_to_one",
        starts_on=datetime(2026, 3, 1, tzinfo=UTC).date(),
        ends_on=datetime(2026, 9, 1, tzinfo=UTC).date(),
    )
    db_session.commit()
    login(people["admin"])
    res = client.get(f"/app/programs/{program.id}/dashboard")
    assert res.status_code == 200, res.text
    assert "Coordinator dashboard" in res.text


def test_german_launch_renders_the_admin_pages_in_german(
    client: Any, login: Any, people: dict[str, Any]
) -> None:
    login(people["admin"], locale="de-DE")
    html = client.get("/app/admin/").text
    assert '<html lang="de-DE">' in html


# --------------------------------------------------------------------------- add a connection


def test_add_a_connection_with_uploaded_key_and_certificate(
    client: Any, login: Any, people: dict[str, Any], pair: Any, db_session: Session
) -> None:
    login(people["admin"])
    res = add_connection(client, pair, learning_url="https://acme.plateau.com")
    assert res.status_code == 303, res.text
    assert res.headers["Location"].endswith("/app/admin/connections/sf-prod?done=added")
    db_session.rollback()
    conn = db_session.scalars(select(Connection)).one()
    assert conn.org_id == people["org"].id
    assert conn.settings["base_url"] == "https://api4.successfactors.com"
    assert conn.settings["auth"] == "saml"
    assert conn.settings["skills"] is True
    assert conn.credentials_encrypted
    assert "PRIVATE" not in conn.credentials_encrypted
    target = db_session.scalars(select(WritebackTarget)).one()
    assert (target.name, target.connection_id) == ("sf-prod", conn.id)
    assert sorted(target.kinds) == ["completion", "hours", "skill_gain"]
    added = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "connection.added")
    ).one()
    assert added.actor == f"lti:person:{people['admin'].id}"

    page = client.get(res.headers["Location"]).text
    assert "The connection was added" in page
    assert "Stored encrypted: certificate, private key." in page
    assert "target sf-prod receives completions, hours, skill gains." in page
    assert "The certificate expires on" in page
    assert "BEGIN" not in page


def test_add_a_connection_with_pasted_pem_and_basic_auth_fallback(
    client: Any, login: Any, people: dict[str, Any], pair: Any, db_session: Session
) -> None:
    login(people["admin"])
    key_pem, cert_pem = pair
    res = client.post(
        "/app/admin/connections/new",
        data=form_data(
            csrf(client),
            name="sf-pasted",
            private_key=key_pem.decode(),
            certificate=cert_pem.decode(),
            writeback=None,
        ),
    )
    assert res.status_code == 303, res.text
    res = client.post(
        "/app/admin/connections/new",
        data=form_data(csrf(client), name="sf-basic", password=SECRET_PASSWORD, writeback=None),
    )
    assert res.status_code == 303, res.text
    db_session.rollback()
    auth = dict(db_session.execute(select(Connection.name, Connection.settings)).all())
    assert auth["sf-pasted"]["auth"] == "saml"
    assert auth["sf-basic"]["auth"] == "basic"
    assert count(db_session, WritebackTarget) == 0
    listing = client.get("/app/admin/connections").text
    assert "sf-pasted" in listing
    assert "sf-basic" in listing
    for page in (listing, client.get("/app/admin/connections/sf-basic").text):
        assert SECRET_PASSWORD not in page
        assert "BEGIN" not in page


def test_missing_fields_are_shown_beside_them_and_nothing_is_written(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["admin"])
    res = client.post(
        "/app/admin/connections/new",
        data=form_data(
            csrf(client), name="Bad Name", base_url="", company_id=None, password=SECRET_PASSWORD
        ),
    )
    assert res.status_code == 400
    html = res.text
    assert "lower-case letters" in field_error(html, "name")
    assert field_error(html, "base_url") == "Enter a value."
    assert field_error(html, "company_id") == "Enter a value."
    assert 'aria-invalid="true"' in html
    assert '<a href="#field-base_url">' in html  # the error summary links to the field
    assert SECRET_PASSWORD not in html  # secrets are never echoed back
    assert count(db_session, Connection) == 0


@pytest.mark.parametrize(
    ("change", "name", "message"),
    [
        ({"base_url": "ftp://api4.example.com"}, "base_url", "Enter an https:// URL."),
        ({"token_url": "https://u:p@api4.example.com/t"}, "token_url", "plain URL"),
        ({"odata_path": "odata"}, "odata_path", "/odata/v2"),
        ({"page_size": "5000"}, "page_size", "from 1 to 1000"),
        ({"page_size": "many"}, "page_size", "whole number"),
        ({"learning_auth": "magic"}, "learning_auth", "Choose one"),
    ],
)
def test_bad_settings_are_refused_beside_their_field(
    client: Any,
    login: Any,
    people: dict[str, Any],
    pair: Any,
    db_session: Session,
    change: dict[str, str],
    name: str,
    message: str,
) -> None:
    login(people["admin"])
    res = add_connection(client, pair, **change)
    assert res.status_code == 400
    assert message in field_error(res.text, name)
    assert count(db_session, Connection) == 0


def test_bad_keys_and_certificates_are_refused_with_the_cli_checks(
    client: Any, login: Any, people: dict[str, Any], pair: Any, db_session: Session
) -> None:
    from io import BytesIO

    login(people["admin"])
    _key_pem, cert_pem = pair
    _other_key, other_cert = pem_pair()
    cases = [
        (
            {"private_key_file": (BytesIO(b"hello"), "k.pem")},
            "private_key",
            "not a PEM private key",
        ),
        (
            {"private_key_file": (BytesIO(cert_pem), "k.pem")},
            "private_key",
            "not a PEM private key",
        ),
        (
            {"certificate_file": (BytesIO(other_cert), "c.pem")},
            "certificate",
            "does not belong to the private key",
        ),
        (
            {"certificate_file": (BytesIO(pem_pair(days=-1, key=None)[1]), "c.pem")},
            "certificate",
            "expired",
        ),
        ({"certificate_file": (BytesIO(b""), "")}, "certificate", "together"),
    ]
    for files, name, message in cases:
        res = add_connection(client, pair, **files)
        assert res.status_code == 400, (name, res.text)
        error = field_error(res.text, name)
        assert message in error, (message, error)
        assert "upload.pem" not in error  # the temporary file is not named
        assert "tandem-pem" not in error
    assert count(db_session, Connection) == 0


def test_no_credentials_at_all_is_refused(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["admin"])
    res = client.post("/app/admin/connections/new", data=form_data(csrf(client)))
    assert res.status_code == 400
    assert "private key and certificate" in field_error(res.text, "private_key")


def test_plain_http_is_refused_in_production_unless_allowed(
    app: Flask, client: Any, login: Any, people: dict[str, Any], pair: Any
) -> None:
    app.config["ENV"] = "production"
    login(people["admin"])
    res = add_connection(client, pair, base_url="http://sf.test.local")
    assert res.status_code == 400
    assert "Use https://" in field_error(res.text, "base_url")
    # Allowed for a test server, and the connector's own check still applies.
    res = add_connection(client, pair, base_url="http://127.0.0.1:9", allow_http="1")
    assert res.status_code == 303, res.text


def test_a_duplicate_name_is_a_conflict_beside_the_name(
    client: Any, login: Any, people: dict[str, Any], pair: Any, connection: str
) -> None:
    res = add_connection(client, pair)
    assert res.status_code == 409
    assert "already exists" in field_error(res.text, "name")


def test_missing_or_wrong_csrf_is_refused_and_nothing_written(
    client: Any, login: Any, people: dict[str, Any], pair: Any, db_session: Session
) -> None:
    login(people["admin"])
    for token in (None, "forged"):
        data = form_data("x", password=SECRET_PASSWORD)
        if token is None:
            data.pop("csrf_token")
        else:
            data["csrf_token"] = token
        assert client.post("/app/admin/connections/new", data=data).status_code == 400
        assert client.post("/app/admin/keys/rotate", data={"confirm": "1"}).status_code == 400
    assert count(db_session, Connection) == 0
    assert count(db_session, ToolKey) == 0


# --------------------------------------------------------------------------- test a connection


def test_testing_a_connection_shows_ok(client: Any, connection: str) -> None:
    res = client.post(
        f"/app/admin/connections/{connection}/test", data={"csrf_token": csrf(client)}
    )
    assert res.status_code == 200
    assert "accepted the credentials" in res.text


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (ConnectorAuthError("token refused", connector="sf", status=401), "Authentication failed."),
        (
            ConnectorUnavailable("down", connector="sf", status=503, retry_after=30),
            "The system is unavailable.",
        ),
        (ConnectorDataError("not OData", connector="sf", status=200), "unexpected answer"),
    ],
)
def test_testing_a_connection_classifies_the_failure(
    client: Any, connection: str, error: Exception, label: str
) -> None:
    FakeSource.check_error = error
    res = client.post(
        f"/app/admin/connections/{connection}/test", data={"csrf_token": csrf(client)}
    )
    assert res.status_code == 200
    assert label in res.text
    assert str(error) in res.text
    assert 'role="alert"' in res.text


def test_a_connection_of_another_organization_is_not_found(
    client: Any, login: Any, people: dict[str, Any], pair: Any, connection: str
) -> None:
    login(people["alien"])
    for url in (
        f"/app/admin/connections/{connection}",
        f"/app/admin/connections/{connection}/runs/1",
    ):
        assert client.get(url).status_code == 404
    token = csrf(client)
    res = client.post(f"/app/admin/connections/{connection}/test", data={"csrf_token": token})
    assert res.status_code == 404
    res = client.post(f"/app/admin/connections/{connection}/sync", data={"csrf_token": token})
    assert res.status_code == 404


# --------------------------------------------------------------------------- sync now


def start_sync(client: Any, name: str, **data: Any) -> Any:
    return client.post(
        f"/app/admin/connections/{name}/sync", data={"csrf_token": csrf(client), **data}
    )


def test_sync_now_runs_in_the_background_and_reports_progress_and_history(
    client: Any, connection: str, db_session: Session
) -> None:
    FakeSource.pages = [
        [person(1), person(2, manager_external_id="u1")],
        [
            person(3),
            InvalidRecord(
                entity="person", reason="no family name", raw={"userId": "u4"}, external_id="u4"
            ),
        ],
    ]
    res = start_sync(client, connection)
    assert res.status_code == 303, res.text
    progress_url = res.headers["Location"]
    assert re.search(rf"/app/admin/connections/{connection}/syncs/[A-Za-z0-9_-]+$", progress_url)
    join_syncs()

    page = client.get(progress_url)
    assert page.status_code == 200
    html = page.text
    assert "The sync succeeded." in html
    assert 'data-finished="1"' in html
    assert "fetch(window.location.href" not in html  # a finished page stops refreshing
    assert "1 record was quarantined" in html

    db_session.rollback()
    run = db_session.scalars(select(SyncRun)).one()
    assert run.status is SyncStatus.SUCCEEDED
    assert (run.seen, run.created, run.quarantined) == (4, 3, 1)
    assert run.full  # no watermark yet
    assert f"/runs/{run.id}" in html
    assert count(db_session, PersonIdentity) == 3
    started = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sync.started")
    ).one()
    assert started.actor.startswith("lti:person:")

    history = client.get(f"/app/admin/connections/{connection}").text
    assert 'data-testid="sync-history"' in history
    assert "Succeeded" in history

    detail = client.get(f"/app/admin/connections/{connection}/runs/{run.id}").text
    assert "no family name" in detail
    assert "<details><summary>Show the raw record</summary>" in detail
    assert (
        "&#34;userId&#34;: &#34;u4&#34;" in detail or "&quot;userId&quot;: &quot;u4&quot;" in detail
    )
    assert "1 record quarantined" in detail


def test_a_running_sync_shows_a_refreshing_page_and_a_second_sync_is_refused(
    client: Any, connection: str, db_session: Session
) -> None:
    FakeSource.gate = threading.Event()
    res = start_sync(client, connection, full="1")
    assert res.status_code == 303
    progress_url = res.headers["Location"]
    running = client.get(progress_url).text
    assert 'data-finished="0"' in running
    assert "fetch(window.location.href" in running
    assert '<meta http-equiv="refresh" content="2">' in running  # inside <noscript>
    assert "<noscript>" in running

    second = start_sync(client, connection)
    assert second.status_code == 409
    assert "already running" in second.text or "starting already" in second.text

    FakeSource.gate.set()
    join_syncs()
    assert "The sync succeeded." in client.get(progress_url).text
    db_session.rollback()
    assert count(db_session, SyncRun) == 1
    # Once it is over, a new one may start.
    assert start_sync(client, connection).status_code == 303
    join_syncs()
    assert count(db_session, SyncRun) == 2


def test_a_running_sync_refuses_another_also_after_the_start_lock(
    client: Any, connection: str, db_session: Session
) -> None:
    FakeSource.gate = threading.Event()
    assert start_sync(client, connection).status_code == 303
    # Wait until the run row exists (the engine commits it before reading).
    for _ in range(300):
        if count(db_session, SyncRun):
            break
        threading.Event().wait(0.05)
    db_session.rollback()
    from plugin.services.lti_cache import LtiCache

    LtiCache(db_session).delete(
        pages_admin._LOCK + str(db_session.scalars(select(Connection.id)).one())
    )
    db_session.commit()
    second = start_sync(client, connection)
    assert second.status_code == 409
    assert "already running (run" in second.text
    page = client.get(f"/app/admin/connections/{connection}").text
    assert "Follow its progress" in page
    FakeSource.gate.set()


def test_a_failing_sync_says_why_and_keeps_the_watermark(
    client: Any, connection: str, db_session: Session
) -> None:
    FakeSource.fail_with = ConnectorUnavailable(
        "SuccessFactors answered 503 for https://api4.successfactors.com/odata/v2/User",
        connector="successfactors",
        status=503,
    )
    res = start_sync(client, connection)
    join_syncs()
    html = client.get(res.headers["Location"]).text
    assert "The sync failed." in html
    assert "503" in html
    db_session.rollback()
    run = db_session.scalars(select(SyncRun)).one()
    assert run.status is SyncStatus.FAILED
    assert db_session.scalars(select(Connection.watermark)).one() is None


def test_progress_of_another_connection_or_organization_is_not_found(
    client: Any, login: Any, people: dict[str, Any], pair: Any, connection: str
) -> None:
    res = start_sync(client, connection)
    join_syncs()
    token = res.headers["Location"].rsplit("/", 1)[1]
    assert add_connection(client, pair, name="sf-two").status_code == 303
    assert client.get(f"/app/admin/connections/sf-two/syncs/{token}").status_code == 404
    assert client.get(f"/app/admin/connections/{connection}/syncs/short").status_code == 404
    assert client.get(f"/app/admin/connections/{connection}/syncs/{'x' * 24}").status_code == 404
    login(people["alien"])
    assert client.get(f"/app/admin/connections/{connection}/syncs/{token}").status_code == 404


def test_a_sync_of_a_connection_whose_settings_cannot_work_is_refused(
    client: Any, connection: str, db_session: Session
) -> None:
    db_session.rollback()
    conn = db_session.scalars(select(Connection)).one()
    conn.settings = {**conn.settings, "page_size": "lots"}
    db_session.commit()
    res = start_sync(client, connection)
    assert res.status_code == 400
    assert "page_size" in res.text
    assert count(db_session, SyncRun) == 0


# --------------------------------------------------------------------------- LTI


@pytest.fixture
def platform(db_session: Session, people: dict[str, Any]) -> Any:
    reg = regs.add_platform(
        db_session,
        org_id=people["org"].id,
        issuer="https://moodle.acme.example",
        client_id="tandem-client",
        auth_login_url="https://moodle.acme.example/mod/lti/auth.php",
        auth_token_url="https://moodle.acme.example/mod/lti/token.php",
        jwks_url="https://moodle.acme.example/mod/lti/certs.php",
        deployment_ids=["1"],
        actor="t",
    )
    pending = LtiDeployment(
        org_id=people["org"].id,
        registration_id=reg.id,
        deployment_id="7",
        status=LtiDeploymentStatus.PENDING,
        first_seen_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    db_session.add(pending)
    db_session.commit()
    return {"registration": reg, "pending": pending}


def test_lti_page_lists_registrations_and_deployments(
    client: Any, login: Any, people: dict[str, Any], platform: Any
) -> None:
    login(people["admin"])
    html = client.get("/app/admin/lti").text
    assert "https://moodle.acme.example" in html
    assert "tandem-client" in html
    assert "Waiting for approval" in html
    assert "Approved" in html
    overview = client.get("/app/admin/").text
    assert "1 deployment waits for your approval." in overview


def test_approve_and_revoke_a_deployment(
    client: Any, login: Any, people: dict[str, Any], platform: Any, db_session: Session
) -> None:
    login(people["admin"])
    pk = platform["pending"].id
    res = client.post(f"/app/admin/lti/deployments/{pk}/approve", data={"csrf_token": csrf(client)})
    assert res.status_code == 303
    assert res.headers["Location"].endswith("/app/admin/lti?done=approved")
    assert "The deployment was approved" in client.get(res.headers["Location"]).text
    db_session.expire_all()
    assert db_session.get(LtiDeployment, pk).status is LtiDeploymentStatus.APPROVED  # type: ignore[union-attr]

    again = client.post(
        f"/app/admin/lti/deployments/{pk}/approve", data={"csrf_token": csrf(client)}
    )
    assert again.status_code == 409
    assert "already approved" in again.text

    confirm = client.get(f"/app/admin/lti/deployments/{pk}/revoke")
    assert confirm.status_code == 200
    assert "every launch from it is refused" in confirm.text
    res = client.post(f"/app/admin/lti/deployments/{pk}/revoke", data={"csrf_token": csrf(client)})
    assert res.status_code == 303
    db_session.expire_all()
    assert db_session.get(LtiDeployment, pk).status is LtiDeploymentStatus.REVOKED  # type: ignore[union-attr]
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "lti_deployment")
    ).all()
    assert sorted(actions) == ["lti.deployment_approved", "lti.deployment_revoked"]


def test_a_deployment_of_another_organization_is_not_found(
    client: Any, login: Any, people: dict[str, Any], platform: Any, db_session: Session
) -> None:
    login(people["alien"])
    pk = platform["pending"].id
    res = client.post(f"/app/admin/lti/deployments/{pk}/approve", data={"csrf_token": csrf(client)})
    assert res.status_code == 404
    assert client.get(f"/app/admin/lti/deployments/{pk}/revoke").status_code == 404
    assert "moodle.acme.example" not in client.get("/app/admin/lti").text
    db_session.expire_all()
    assert db_session.get(LtiDeployment, pk).status is LtiDeploymentStatus.PENDING  # type: ignore[union-attr]


def test_a_registration_url_is_shown_once_and_works(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["admin"])
    res = client.post(
        "/app/admin/lti/registration-url", data={"csrf_token": csrf(client), "approval": "manual"}
    )
    assert res.status_code == 200
    assert res.headers["Cache-Control"] == "private, no-store"
    found = re.search(r'value="(http[^"]+/lti/register/([A-Za-z0-9_-]+))"', res.text)
    assert found, res.text
    assert "shown only once" in res.text
    assert "wait for your approval" in res.text
    db_session.rollback()
    grant = lti_dynreg.peek_registration_token(db_session, found.group(2))
    assert grant is not None
    assert grant.org_id == people["org"].id
    assert grant.auto_approve is False
    assert found.group(2) not in client.get("/app/admin/lti").text


def test_a_registration_url_needs_a_choice(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["admin"])
    res = client.post("/app/admin/lti/registration-url", data={"csrf_token": csrf(client)})
    assert res.status_code == 400
    assert "Choose how new deployments are approved." in field_error(res.text, "approval")
    db_session.rollback()
    issued = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "lti.registration_url_issued")
    ).all()
    assert issued == []


# --------------------------------------------------------------------------- keys


def test_rotating_keys_needs_confirmation(
    client: Any, login: Any, people: dict[str, Any], db_session: Session
) -> None:
    login(people["admin"])
    assert "No signing key yet" in client.get("/app/admin/keys").text
    first = client.post("/app/admin/keys/rotate", data={"csrf_token": csrf(client), "confirm": "1"})
    assert first.status_code == 303
    assert first.headers["Location"].endswith("/app/admin/keys?done=rotated")

    refused = client.post("/app/admin/keys/rotate", data={"csrf_token": csrf(client)})
    assert refused.status_code == 400
    assert "Tick the box" in field_error(refused.text, "confirm")
    assert count(db_session, ToolKey) == 1

    # A second rotation within the hour would retire the key platforms have cached.
    too_soon = client.post(
        "/app/admin/keys/rotate", data={"csrf_token": csrf(client), "confirm": "1"}
    )
    assert too_soon.status_code == 409
    assert "rotate again from" in field_error(too_soon.text, "confirm")
    assert count(db_session, ToolKey) == 1

    db_session.rollback()
    key = db_session.scalars(select(ToolKey)).one()
    key.created_at = key.created_at - timedelta(hours=2)
    db_session.commit()
    assert (
        client.post(
            "/app/admin/keys/rotate", data={"csrf_token": csrf(client), "confirm": "1"}
        ).status_code
        == 303
    )
    db_session.rollback()
    statuses = db_session.scalars(select(ToolKey.status).order_by(ToolKey.id)).all()
    assert statuses == [ToolKeyStatus.PREVIOUS, ToolKeyStatus.CURRENT]
    html = client.get("/app/admin/keys?done=rotated").text
    assert "A new signing key was made." in html
    for kid in db_session.scalars(select(ToolKey.kid)):
        assert kid in html
    assert "Previous: still published" in html


def test_progress_left_behind_by_a_stopped_process_follows_the_run_row(
    client: Any, connection: str, db_session: Session
) -> None:
    from plugin.services.lti_cache import LtiCache

    db_session.rollback()
    conn = db_session.scalars(select(Connection)).one()
    now = datetime.now(UTC)
    run = SyncRun(
        org_id=conn.org_id,
        connection_id=conn.id,
        full=True,
        status=SyncStatus.FAILED,
        started_at=now - timedelta(hours=7),
        finished_at=now,
        seen=5,
        error="abandoned: no sign of life for 10 minutes (the process running it stopped)",
    )
    db_session.add(run)
    db_session.flush()
    base = {"org_id": conn.org_id, "connection_id": conn.id, "requested_full": True}
    store = LtiCache(db_session)
    store.set(
        pages_admin._PROGRESS + "r" * 24,
        {**base, "state": "running", "run_id": run.id, "started_at": run.started_at.isoformat()},
        600,
    )
    store.set(
        pages_admin._PROGRESS + "s" * 24,
        {**base, "state": "starting", "started_at": (now - timedelta(minutes=10)).isoformat()},
        600,
    )
    db_session.commit()
    running = client.get(f"/app/admin/connections/{connection}/syncs/{'r' * 24}").text
    assert "The sync failed." in running
    assert "abandoned" in running
    assert 'data-finished="1"' in running
    starting = client.get(f"/app/admin/connections/{connection}/syncs/{'s' * 24}").text
    assert "The sync did not start" in starting

"""The whole story through the real pieces: SuccessFactors fake → ``tandem sync`` → Tandem
→ a completion → the outbox worker → SuccessFactors Learning, exactly once.

The fake runs on 127.0.0.1 in a thread with the traps of a real tenant: inactive users,
rows repeated across server pages, bad records, managers on later pages, a manager who
does not exist. The connector, the engine, the CLI, the outbox, the worker and the sink
are the real ones (the connector's retries just do not sleep).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.successfactors.auth import clear_token_caches
from fakes.successfactors import FakeServer, FakeTenant, create_app, serve_in_thread
from lti.cli_outbox import build_worker
from lti.connectors import EXTENSION, build_connector_registry
from lti.db import get_engine
from plugin.models import (
    Connection,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonIdentity,
    Program,
    QuarantinedRecord,
    SyncRun,
    TandemMember,
)
from plugin.services import completions
from tests.lti.test_cli_connections import FAST, KeyPair, add_args, fails, make_key_pair, ok
from tests.synced_program import running_program

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = T0 + timedelta(days=170)
EVENTS = "/learning/odatav4/public/admin/learningevent-service/v1/ExternalLearningEvents"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("e2e-keys"))


@pytest.fixture
def tenant(keys: KeyPair) -> FakeTenant:
    """180 generated users plus the traps; 50 users per page in the sync below."""
    t = FakeTenant(company_id="ACME")
    # Reports first: their manager comes on the last page.
    for i in range(3):
        t.add_user(
            {
                "userId": f"early-{i}",
                "status": "t",
                "firstName": f"Early{i}",
                "lastName": "Report",
                "email": f"early{i}@acme.example.com",
                "department": "Sales",
                "manager": "late-boss",
            }
        )
    t.generate_users(n=180, seed=5, inactive_share=0.05)
    t.add_user(
        {
            "userId": "orphan",
            "status": "t",
            "firstName": "Otto",
            "lastName": "Orphan",
            "manager": "bad-name",  # quarantined: the manager is left empty
        }
    )
    t.add_user({"userId": "bad-name", "status": "t", "firstName": "", "lastName": "Nameless"})
    t.add_user(
        {
            "userId": "bad-mail",
            "status": "t",
            "firstName": "Bad",
            "lastName": "Mail",
            "email": "not-an-address",
        }
    )
    t.add_user(
        {
            "userId": "selfie",
            "status": "t",
            "firstName": "Sam",
            "lastName": "Self",
            "manager": "selfie",
        }
    )
    t.add_user(
        {
            "userId": "late-boss",
            "status": "t",
            "firstName": "Lena",
            "lastName": "Late",
            "email": "lena.late@acme.example.com",
        }
    )
    t.duplicate_rows_across_pages = True
    t.register_client(client_id="tandem", certificate_pem=keys.cert_pem, user_id="sfadmin")
    return t


@pytest.fixture
def server(tenant: FakeTenant) -> Iterator[FakeServer]:
    clear_token_caches()
    with serve_in_thread(create_app(tenant)) as running:
        yield running
    clear_token_caches()


@pytest.fixture
def world(app: Flask, runner: FlaskCliRunner, server: FakeServer, keys: KeyPair) -> Flask:
    app.config["CONNECTORS"] = FAST
    app.extensions[EXTENSION] = build_connector_registry(app)
    ok(runner, "orgs", "create", "acme", "--name", "ACME")
    ok(runner, *add_args(server.url, keys))
    return app


BAD = {"bad-name", "bad-mail", "selfie"}


def _expected(tenant: FakeTenant) -> dict[str, dict[str, Any]]:
    return {uid: tenant.get_user(uid) or {} for uid in tenant.user_ids() if uid not in BAD}


def _stored(session: Session, source: str) -> dict[str, tuple[Person, str | None]]:
    """userId → (person, manager's userId) through the connection's identities."""
    rows = session.execute(
        select(PersonIdentity.external_id, Person)
        .join(Person, Person.id == PersonIdentity.person_id)
        .where(PersonIdentity.source == source)
    ).all()
    ext_of = {person.id: ext for ext, person in rows}
    return {ext: (person, ext_of.get(person.manager_id)) for ext, person in rows}


def _check_people(app: Flask, tenant: FakeTenant) -> None:
    expected = _expected(tenant)
    with Session(get_engine(app)) as s:
        connection = s.scalars(select(Connection)).one()
        stored = _stored(s, f"successfactors:{connection.id}")
        identities = s.scalars(select(PersonIdentity.external_id)).all()
    assert len(identities) == len(set(identities)), "an employee is linked twice"
    assert set(stored) == set(expected)
    for uid, user in expected.items():
        person, manager = stored[uid]
        assert person.active is (user["status"] in ("t", "T")), uid
        want = user.get("manager")
        if want not in expected:
            want = None  # unknown or quarantined manager: left empty
        assert manager == want, uid
        assert person.given_name == user["firstName"]


def _program(app: Flask, pairs: int) -> list[tuple[int, int]]:
    """A running program with ``pairs`` active tandems of synced people, each with six
    60-minute sessions held; returns (mentor, mentee) enrollment ids."""
    return running_program(
        app,
        org_slug="acme",
        name="Reverse Mentoring 2026",
        pairs=pairs,
        start=T0,
        days_apart=25,
        actor="test",
    )


def _complete(app: Flask, *enrollment_ids: int) -> None:
    with Session(get_engine(app)) as s:
        for enrollment_id in enrollment_ids:
            status = completions.evaluate_enrollment(s, enrollment_id, now=END)
            assert status.completion is not None
        s.commit()


def _messages(app: Flask, kind: str = "completion") -> list[OutboxMessage]:
    with Session(get_engine(app)) as s:
        return list(
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def _make_due(app: Flask) -> None:
    with Session(get_engine(app)) as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        s.commit()


def _user_of(app: Flask, enrollment_id: int) -> str:
    with Session(get_engine(app)) as s:
        connection = s.scalars(select(Connection)).one()
        row = s.execute(
            select(PersonIdentity.external_id)
            .join(Person, Person.id == PersonIdentity.person_id)
            .join(TandemMember, TandemMember.person_id == Person.id)
            .where(
                TandemMember.enrollment_id == enrollment_id,
                PersonIdentity.source == f"successfactors:{connection.id}",
            )
        ).scalar_one()
        return str(row)


def _events_for(tenant: FakeTenant, user_id: str) -> list[dict[str, Any]]:
    return [e for e in tenant.learning_events if e["studentID"] == user_id]


def test_sync_then_write_back_exactly_once(
    world: Flask, runner: FlaskCliRunner, tenant: FakeTenant, tmp_path: Path
) -> None:
    app = world
    # ---- full sync: every employee once, right manager and active flag, bad ones quarantined
    result = ok(runner, "sync", "sf", "--full")
    distinct = tenant.user_count
    assert f"people:  {distinct:,} seen" in result.stdout
    assert f"{distinct - len(BAD):,} created" in result.stdout
    assert "3 records quarantined — see `tandem sync quarantine sf`" in result.stdout
    _check_people(app, tenant)
    with Session(get_engine(app)) as s:
        run = s.scalars(select(SyncRun)).one()
        assert run.seen == distinct == run.created + run.quarantined  # nothing lost
        assert run.details["people"]["duplicates"] > 0
        assert run.details["managers"]["missing"] == 1  # orphan's manager was quarantined
        quarantined = {q.external_id: q for q in s.scalars(select(QuarantinedRecord))}
    assert set(quarantined) == BAD
    for q in quarantined.values():
        assert q.reason
        assert q.payload
    assert "own manager" in quarantined["selfie"].reason
    listing = ok(runner, "sync", "quarantine", "sf").stdout
    assert "3 records quarantined" in listing

    # ---- delta: a change, a leaver, a newcomer; then a full sync for a removal
    ids = [u for u in tenant.user_ids() if u not in BAD and u != "late-boss"]
    tenant.update_user(ids[10], department="Reverse Mentoring Office")
    tenant.update_user(ids[11], status="f")
    tenant.add_user(
        {
            "userId": "new-1",
            "status": "t",
            "firstName": "Nia",
            "lastName": "New",
            "manager": ids[12],
        }
    )
    delta = ok(runner, "sync", "sf").stdout
    assert ", delta," in delta
    assert "1 created" in delta
    assert "0 deactivated" in delta
    _check_people(app, tenant)
    tenant.remove_user(ids[13])
    full = ok(runner, "sync", "sf", "--full").stdout
    assert "1 deactivated" in full
    with Session(get_engine(app)) as s:
        gone = _stored(s, f"successfactors:{s.scalars(select(Connection)).one().id}")[ids[13]]
        assert gone[0].active is False  # deactivated, never deleted
    second = ok(runner, "sync", "sf", "--full").stdout
    assert "0 created · 0 updated" in second

    # ---- a completion reaches Learning exactly once
    (mentor_a, mentee_a), (mentor_b, mentee_b) = _program(app, 2)
    _complete(app, mentor_a, mentee_a)
    worker = build_worker(app, worker_id="e2e")
    stats = worker.run_once()
    assert stats.claimed == 4  # completion + hours of each
    for enrollment_id in (mentor_a, mentee_a):
        events = _events_for(tenant, _user_of(app, enrollment_id))
        assert len(events) == 1
        assert "Reverse Mentoring 2026" in events[0]["description"]
        assert events[0]["totalHours"] == 6.0
    assert worker.run_once().claimed == 0
    assert len(tenant.learning_events) == 2

    # ---- an outage, then an answer lost after Learning stored the events: still once
    _complete(app, mentor_b, mentee_b)
    tenant.faults.learning_outage(times=1)
    worker.run_once()
    pending = [m for m in _messages(app) if m.status is OutboxStatus.PENDING]
    assert len(pending) == 2  # both of pair B wait for a retry
    assert all(m.attempts == 1 and m.last_error for m in pending)
    assert len(tenant.learning_events) == 2
    _make_due(app)
    tenant.faults.add(path_prefix=EVENTS, method="POST", malformed=True)
    worker.run_once()
    assert len(tenant.learning_events) == 4  # stored by Learning, but the answer was lost
    assert {m.status for m in _messages(app)} == {OutboxStatus.DELIVERED, OutboxStatus.PENDING}
    _make_due(app)
    worker.run_once()
    assert all(m.status is OutboxStatus.DELIVERED for m in _messages(app))
    for enrollment_id in (mentor_a, mentee_a, mentor_b, mentee_b):
        assert len(_events_for(tenant, _user_of(app, enrollment_id))) == 1
    assert len(tenant.learning_events) == 4
    assert all(m.status is OutboxStatus.DELIVERED for m in _messages(app, "hours"))
    out = ok(runner, "outbox", "list", "--org", "acme", "--status", "dead").stdout
    assert "dead 0" in out


def test_a_sync_that_cannot_complete_changes_no_watermark_and_deactivates_nobody(
    world: Flask, runner: FlaskCliRunner, tenant: FakeTenant
) -> None:
    ok(runner, "sync", "sf", "--full", "-q")
    with Session(get_engine(world)) as s:
        before = s.scalars(select(Connection)).one().watermark
        active = s.scalars(select(Person.id).where(Person.active.is_(True))).all()
    tenant.faults.add(path_prefix="/odata/v2/User", status=503, times=20)
    result = fails(runner, "sync", "sf", "--full")
    assert "watermark kept at" in result.stderr
    with Session(get_engine(world)) as s:
        assert s.scalars(select(Connection)).one().watermark == before
        assert s.scalars(select(Person.id).where(Person.active.is_(True))).all() == active
        assert s.scalars(select(Program)).all() == []

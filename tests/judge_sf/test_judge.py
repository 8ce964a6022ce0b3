"""The judge's view: an independent SuccessFactors (:mod:`tests.judge_sf.fake`) synced
through the real commands — ``connections add|test``, ``sync [--full]``, ``sync history``,
``sync quarantine``, ``worker --once``, ``outbox retry``.

Criteria: every employee present once (by identity) with the right manager and active
flag; bad records quarantined with reasons; records in = stored + quarantined; nothing
lost; exit 0 with quarantined records, 1 (watermark kept) when a sync cannot complete;
each completion arrives in Learning exactly once, also across an outage.

The connector is the real one; only its waits are recorded instead of slept and its read
timeout is short (the fake's slow page). The sink is the real one with real waits: the
fake's write-back faults send ``Retry-After: 0``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import responses
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.successfactors import SuccessFactorsConnector
from connectors.successfactors.auth import clear_token_caches
from lti.connectors import EXTENSION, build_connector_registry
from lti.db import get_engine
from plugin.models import (
    Connection,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonIdentity,
    SyncRun,
    TandemMember,
)
from plugin.ports import ConnectionConfig
from plugin.services import completions
from tests.judge_sf.fake import (
    EVENTS_PATH,
    HISTORY_PATH,
    Fault,
    JudgeTenant,
    Swappable,
    create_judge_app,
    http_date,
    ms_of,
    page_is,
    serving,
)
from tests.lti.test_cli_connections import KeyPair, make_key_pair
from tests.synced_program import running_program

JUDGE = {"successfactors": "tests.judge_sf.test_judge:JudgeConnector"}
PAGE = 20  # the fake's server-side page size cap
BASE_TIME = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class JudgeConnector(SuccessFactorsConnector):
    """The real connector; waits are recorded, not slept; a short read timeout."""

    sleeps: ClassVar[list[float]] = []

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config, sleep=JudgeConnector.sleeps.append)
        self.http.timeout = (2.0, 0.4)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("judge-keys"), "judge")


@pytest.fixture(scope="module")
def wsgi() -> Iterator[tuple[Swappable, str]]:
    app = Swappable()
    with serving(app) as url:
        yield app, url


@pytest.fixture
def tenant(keys: KeyPair) -> JudgeTenant:
    return JudgeTenant(certificate_pem=keys.cert_pem)


@pytest.fixture
def url(wsgi: tuple[Swappable, str], tenant: JudgeTenant) -> Iterator[str]:
    clear_token_caches()
    JudgeConnector.sleeps.clear()
    swappable, base = wsgi
    swappable.app = create_judge_app(tenant)
    yield base
    swappable.app = None
    clear_token_caches()


@pytest.fixture
def judged(app: Flask, runner: FlaskCliRunner) -> Flask:
    app.config["CONNECTORS"] = JUDGE
    app.extensions[EXTENSION] = build_connector_registry(app)
    run(runner, "orgs", "create", "judge", "--name", "Judge Co")
    return app


def run(runner: FlaskCliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, result.output
    return result


def add_connection(runner: FlaskCliRunner, url: str, keys: KeyPair, *extra: str) -> None:
    run(
        runner,
        "connections",
        "add",
        "successfactors",
        "--org",
        "judge",
        "--name",
        "hr",
        "--base-url",
        url,
        "--company-id",
        "JUDGECO",
        "--client-id",
        "judge-api-key",
        "--user-id",
        "sfapi",
        "--private-key",
        str(keys.key),
        "--certificate",
        str(keys.cert),
        "--learning-url",
        url,
        *extra,
    )


# --------------------------------------------------------------------------- data


def employee(i: int, **kw: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "userId": f"e{i:03d}",
        "username": f"user{i}",
        "status": "t",
        "firstName": f"First{i}",
        "lastName": f"Last{i}",
        "email": f"first{i}.last@judge.example.com",
        "department": ("Sales", "IT", "HR")[i % 3],
        "division": "Europe",
        "location": "Berlin",
        "jobTitle": "Clerk",
        "hireDate": ms_of(datetime(2020, 1, 1, tzinfo=UTC)) + i * 86_400_000,
        "timeZone": "Europe/Berlin",
        "country": "DEU",
        "defaultLocale": "de_DE",
        "lastModified": ms_of(BASE_TIME) + i * 60_000,
    }
    user.update(kw)
    return user


def populate(tenant: JudgeTenant, n: int = 90) -> None:
    """``n`` employees plus every trap of the people read."""
    # Reports first, their manager on the last page.
    tenant.add(**employee(900, userId="early-1", manager="late-boss"))
    tenant.add(
        **employee(901, userId="early-2", manager="late-boss", email="EARLY.Two@Judge.EXAMPLE.com")
    )
    for i in range(n):
        kw: dict[str, Any] = {"manager": "ceo" if i < 5 else f"e{i % 5:03d}"}
        if i % 11 == 3:
            kw["status"] = "f"  # a leaver
        if i % 7 == 0:
            kw["offset"] = "+0060"  # /Date(ms+0060)/
        if i % 13 == 5:
            kw["omit"] = ("department", "jobTitle", "timeZone", "defaultLocale")  # missing
        if i % 17 == 6:
            kw.update(email=None, division=None, country=None, hireDate=None)  # null
        if i % 9 == 4:
            kw["email"] = f"UPPER{i}@JUDGE.EXAMPLE.COM"
        tenant.add(**employee(i, **kw))
    # A leaver who still manages someone.
    tenant.add(**employee(950, userId="old-boss", status="f"))
    tenant.add(**employee(951, userId="under-old", manager="old-boss"))
    # A manager outside the result set (external suite user, status 'e').
    tenant.add(**employee(952, userId="ext-boss", status="e"))
    tenant.add(**employee(953, userId="under-ext", manager="ext-boss"))
    # A manager id that exists nowhere.
    tenant.add(**employee(954, userId="under-ghost", manager="ghost"))
    # Bad records: no userId, an empty first name.
    tenant.add(**{k: v for k, v in employee(960).items() if k != "userId"})
    tenant.add(**employee(961, userId="no-first", firstName=""))
    tenant.add(**employee(955, userId="under-bad", manager="no-first"))
    tenant.add(**employee(962, userId="ceo", manager=None))
    # The newest change, stamped /Date(ms+0060)/: the watermark is its UTC instant.
    tenant.add(**employee(963, userId="late-boss", manager="ceo", offset="+0060"))


BAD = {None, "no-first"}


def expected_people(users: list[dict[str, Any]]) -> dict[str, tuple[bool, str | None]]:
    """userId → (active, manager's userId) of what SuccessFactors returns for t/f."""
    returned = {
        u["userId"]: u
        for u in users
        if u.get("status") in ("t", "f") and u.get("userId") not in BAD
    }
    return {
        uid: (u["status"] == "t", u.get("manager") if u.get("manager") in returned else None)
        for uid, u in returned.items()
    }


def stored_people(app: Flask) -> dict[str, tuple[bool, str | None]]:
    with Session(get_engine(app)) as s:
        connection = s.scalars(select(Connection)).one()
        source = f"successfactors:{connection.id}"
        rows = s.execute(
            select(PersonIdentity.external_id, Person)
            .join(Person, Person.id == PersonIdentity.person_id)
            .where(PersonIdentity.source == source)
        ).all()
        ids = [ext for ext, _p in rows]
        assert len(ids) == len(set(ids)), "an employee is linked twice"
        people = [p.id for _e, p in rows]
        assert len(people) == len(set(people)), "a person carries two identities"
        ext_of = {p.id: ext for ext, p in rows}
        return {ext: (p.active, ext_of.get(p.manager_id)) for ext, p in rows}


def person(app: Flask, user_id: str) -> Person:
    with Session(get_engine(app)) as s:
        return s.execute(
            select(Person)
            .join(PersonIdentity, PersonIdentity.person_id == Person.id)
            .where(PersonIdentity.external_id == user_id)
        ).scalar_one()


def watermark(app: Flask) -> datetime | None:
    with Session(get_engine(app)) as s:
        return s.scalars(select(Connection.watermark)).one()


def user_filters(tenant: JudgeTenant) -> list[str]:
    return [a["$filter"] for a in tenant.calls("/odata/v2/User") if "$filter" in a]


# --------------------------------------------------------------------------- the fake


def test_the_fake_hides_leavers_unless_asked(tenant: JudgeTenant) -> None:
    """Self-check of the judge: implicit active-only filter, and `or` brings it back."""
    tenant.add(**employee(1))
    tenant.add(**employee(2, status="f"))
    tenant.tokens.add("tok")
    client = create_judge_app(tenant).test_client()
    headers = {"Authorization": "Bearer tok"}

    def ids(query: str) -> set[str]:
        answer = client.get("/odata/v2/User?$format=json" + query, headers=headers)
        assert answer.status_code == 200, answer.text
        return {r["userId"] for r in answer.json["d"]["results"]}

    assert ids("") == {"e001"}
    assert ids("&$filter=status in 't','f'") == {"e001", "e002"}
    assert ids("&$filter=status in 't','f' or userId eq 'e002'") == {"e001"}
    bad = client.get("/odata/v2/User?$filter=email eq 'x'", headers=headers)
    assert bad.status_code == 400
    assert bad.json["error"]["code"] == "COE_PROPERTY_NOT_FILTERABLE"
    assert client.get("/odata/v2/User").status_code == 401


# --------------------------------------------------------------------------- people


def test_full_sync_through_every_trap(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, keys: KeyPair
) -> None:
    populate(tenant)
    tenant.faults += [
        Fault("/odata/v2/User", status=429, retry_after="1", when=page_is(2, page_size=PAGE)),
        Fault(
            "/odata/v2/User",
            status=429,
            retry_after=http_date(3),
            when=page_is(3, page_size=PAGE),
        ),
        Fault("/odata/v2/User", status=503, when=page_is(4, page_size=PAGE)),
        Fault("/odata/v2/User", status=None, delay=0.8, when=page_is(5, page_size=PAGE)),
    ]
    # Someone on page 1 is purged while Tandem reads: with a snapshot nobody shifts away.
    purged = tenant.users[3]["userId"]
    expected = expected_people(tenant.users)

    add_connection(runner, url, keys)
    result = run(runner, "connections", "test", "hr")
    assert "PRIVATE KEY" not in result.output

    def mid_read() -> None:
        tenant.users.remove(tenant.get(purged) or {})
        tenant.tokens.clear()  # and the token expires in the middle of the read

    tenant.after_first_page = mid_read
    full = run(runner, "sync", "hr", "--full")

    # Tandem asked for leavers, snapshot paging, expanded managers; never an `or`.
    for args in tenant.calls("/odata/v2/User"):
        if "$skiptoken" in args:
            assert args.get("paging") == "snapshot"
    filters = user_filters(tenant)
    assert filters
    assert all(f.startswith("status in 't','f'") for f in filters)
    assert not any(" or " in f.lower() for f in filters)
    first = [a for a in tenant.calls("/odata/v2/User") if "$filter" in a][-1]
    assert "manager" in first["$expand"]
    assert first["paging"] == "snapshot"
    # Retry-After in seconds and as an HTTP date were honoured (recorded, not slept).
    assert 1.0 in JudgeConnector.sleeps
    assert any(0.5 < s <= 3.0 and s != 1.0 for s in JudgeConnector.sleeps), JudgeConnector.sleeps

    assert stored_people(judged) == expected
    assert "ext-boss" not in expected
    assert expected["under-ext"] == (True, None)  # the manager not in the result: none
    assert expected["under-ghost"] == (True, None)
    assert expected["under-old"] == (True, "old-boss")
    assert expected["under-bad"] == (True, None)  # the manager was quarantined
    assert len(tenant.calls("/oauth/token", "POST")) >= 2  # a fresh token mid-read
    newest = BASE_TIME + timedelta(minutes=963)
    mark = watermark(judged)
    assert mark is not None
    assert mark.replace(tzinfo=UTC) == newest
    assert expected[purged][0] is True

    # E-mails lower-cased; /Date(ms+0060)/ read as UTC ms; missing/null optional fields.
    assert person(judged, "early-2").email == "early.two@judge.example.com"
    assert person(judged, "e004").email == "upper4@judge.example.com"
    assert person(judged, "e007").hire_date == date(2020, 1, 8)
    assert person(judged, "e005").department is None
    assert person(judged, "e006").email is None

    # Records in = stored + quarantined; the quarantine says why.
    delivered = len(expected) + len(BAD)
    with Session(get_engine(judged)) as s:
        sync_run = s.scalars(select(SyncRun)).one()
        assert sync_run.seen == delivered == sync_run.created + sync_run.quarantined
        assert sync_run.quarantined == 2
        assert sync_run.details["people"]["duplicates"] >= 1
    assert "2 records quarantined — see `tandem sync quarantine hr`" in full.stdout
    listing = run(runner, "sync", "quarantine", "hr").stdout
    assert "2 records quarantined" in listing
    lines = [line for line in listing.splitlines() if line.startswith("person\t")]
    reasons = {line.split("\t")[1]: line.split("\t")[2] for line in lines}
    assert set(reasons) == {"-", "no-first"}
    assert "userId" in reasons["-"]
    assert "firstName" in reasons["no-first"]
    raw = json.loads(run(runner, "sync", "quarantine", "hr", "--json").stdout)
    assert {r["payload"].get("lastName") for r in raw["records"]} == {"Last960", "Last961"}
    history = run(runner, "sync", "history", "hr").stdout
    assert "\tfull\tsucceeded\t" in history

    # A second full sync: the purged user is no longer returned → inactive, not deleted;
    # someone whose record went bad is quarantined, not deactivated.
    broken = tenant.get("e020") or {}
    broken["lastName"] = "   "
    second = run(runner, "sync", "hr", "--full").stdout
    assert "1 deactivated" in second
    assert "0 created" in second
    assert "3 records quarantined" in second  # the two bad ones and e020
    after = stored_people(judged)
    assert after[purged][0] is False
    assert after["e020"][0] is True
    assert len(after) == len(expected)


def test_delta_sync_reads_with_overlap_and_catches_leavers(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, keys: KeyPair
) -> None:
    tenant.repeat_on_pages = frozenset()
    for i in range(30):
        tenant.add(**employee(i, manager="e000" if i else None))
    add_connection(runner, url, keys)
    run(runner, "sync", "hr")  # the first sync is full
    mark = watermark(judged)
    assert mark is not None
    assert mark.replace(tzinfo=UTC) == BASE_TIME + timedelta(minutes=29)
    newest = ms_of(mark.replace(tzinfo=UTC))

    changed = tenant.get("e010") or {}
    changed.update(department="Mentoring", lastModified=newest + 600_000)
    leaver = tenant.get("e011") or {}
    leaver.update(status="f", lastModified=newest + 300_000)
    late = tenant.get("e012") or {}  # committed late: stamped before the watermark
    late.update(jobTitle="Late Title", lastModified=newest - 30 * 60_000)
    tenant.add(**employee(40, manager="e010", lastModified=newest + 60_000))
    tenant.log.clear()

    delta = run(runner, "sync", "hr").stdout
    assert ", delta," in delta
    since = (mark.replace(tzinfo=UTC) - timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert user_filters(tenant) == [
        f"status in 't','f' and lastModifiedDateTime ge datetimeoffset'{since}'"
    ]
    assert "1 created" in delta
    assert "0 deactivated" in delta
    assert person(judged, "e010").department == "Mentoring"
    assert person(judged, "e011").active is False
    assert person(judged, "e012").job_title == "Late Title"
    assert stored_people(judged) == expected_people(tenant.users)
    assert watermark(judged) == (
        datetime.fromtimestamp((newest + 600_000) / 1000, UTC).replace(tzinfo=None)
        if mark.tzinfo is None
        else datetime.fromtimestamp((newest + 600_000) / 1000, UTC)
    )


def test_managers_given_as_deferred_links_are_read(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, keys: KeyPair
) -> None:
    tenant.expand_supported = False
    tenant.add(**employee(1, manager=None))
    for i in range(2, 8):
        tenant.add(**employee(i, manager="e001"))
    tenant.add(**employee(8, manager="e007", status="f"))
    add_connection(runner, url, keys)
    run(runner, "sync", "hr", "--full")
    assert stored_people(judged) == expected_people(tenant.users)
    assert tenant.calls("/odata/v2/User('e002')/manager")


def test_a_sync_that_cannot_complete_exits_1_and_keeps_the_watermark(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, keys: KeyPair
) -> None:
    for i in range(50):
        tenant.add(**employee(i))
    add_connection(runner, url, keys)
    run(runner, "sync", "hr", "--full", "-q")
    before = watermark(judged)
    people_before = stored_people(judged)

    # SuccessFactors stays down on page 2.
    tenant.faults.append(
        Fault("/odata/v2/User", status=503, times=50, when=page_is(2, page_size=PAGE))
    )
    failed = run(runner, "sync", "hr", "--full", code=1)
    assert "watermark kept at" in failed.output
    assert watermark(judged) == before
    assert stored_people(judged) == people_before  # nobody deactivated

    # An OData error envelope on 400: the code and message are shown.
    tenant.faults.clear()
    tenant.faults.append(
        Fault(
            "/odata/v2/User",
            status=400,
            when=page_is(2, page_size=PAGE),
            body={
                "error": {
                    "code": "COE_GENERAL_BAD_REQUEST",
                    "message": {"lang": "en-US", "value": "[COE0019]Paging state was lost"},
                }
            },
        )
    )
    refused = run(runner, "sync", "hr", code=1)
    assert "COE_GENERAL_BAD_REQUEST" in refused.output
    assert "Paging state was lost" in refused.output
    assert "watermark kept at" in refused.output
    assert watermark(judged) == before
    history = run(runner, "sync", "history", "hr").stdout
    assert history.count("\tfailed\t") == 2


def test_connection_test_refuses_an_unregistered_certificate(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, tmp_path: Path
) -> None:
    other = make_key_pair(tmp_path, "other")
    tenant.add(**employee(1))
    add_connection(runner, url, other)
    result = run(runner, "connections", "test", "hr", code=1)
    assert "PRIVATE KEY" not in result.output
    assert not tenant.tokens


# --------------------------------------------------------------------------- write-back


def make_program(app: Flask, pairs: int) -> list[int]:
    """A running program with ``pairs`` active tandems of synced people, six 60-minute
    sessions held each; returns the enrollment ids."""
    duos = running_program(
        app,
        org_slug="judge",
        name="Judged Mentoring",
        pairs=pairs,
        start=T0,
        days_apart=20,
        actor="judge",
    )
    return [enrollment for duo in duos for enrollment in duo]


def complete(app: Flask, ids: list[int]) -> None:
    with Session(get_engine(app)) as s:
        for enrollment_id in ids:
            assert completions.evaluate_enrollment(
                s, enrollment_id, now=T0 + timedelta(days=170)
            ).completion
        s.commit()


def student_of(app: Flask, enrollment_id: int) -> str:
    with Session(get_engine(app)) as s:
        return str(
            s.execute(
                select(PersonIdentity.external_id)
                .join(TandemMember, TandemMember.person_id == PersonIdentity.person_id)
                .where(TandemMember.enrollment_id == enrollment_id)
            ).scalar_one()
        )


def messages(app: Flask, kind: str = "completion") -> list[OutboxMessage]:
    with Session(get_engine(app)) as s:
        return list(
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def work(app: Flask, runner: FlaskCliRunner) -> None:
    """Make pending messages due, then ``tandem worker --once``."""
    with Session(get_engine(app)) as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        s.commit()
    run(runner, "worker", "--once")


def test_each_completion_arrives_exactly_once_across_an_outage(
    judged: Flask, runner: FlaskCliRunner, tenant: JudgeTenant, url: str, keys: KeyPair
) -> None:
    for i in range(30):
        tenant.add(**employee(i))
    add_connection(runner, url, keys)
    run(runner, "sync", "hr", "--full", "-q")
    ids = make_program(judged, 6)
    students = [student_of(judged, e) for e in ids]
    refused = students[4]
    tenant.refused_students.add(refused)
    complete(judged, ids)
    assert len(messages(judged)) == 12

    # 1: Learning is down before it processes anything (first call), then recovers.
    tenant.faults.append(Fault(EVENTS_PATH, method="POST", status=503, retry_after="0"))
    # 2: then it stores a batch but the answer is lost (a gateway timeout after processing).
    tenant.faults.append(
        Fault(EVENTS_PATH, method="POST", status=504, after_processing=True, times=1)
    )
    # 3: the learning history is briefly unavailable too.
    tenant.faults.append(Fault(HISTORY_PATH, status=503, retry_after="0", times=2))
    # 0: but first the whole tenant is down for a round (token endpoint included).
    outage = [False]
    down = Fault("/", method="*", status=503, retry_after="0", times=1000, when=lambda: outage[0])
    tenant.faults.insert(0, down)
    for round_ in range(8):
        outage[0] = round_ == 0
        work(judged, runner)
        if not any(m.status is OutboxStatus.PENDING for m in messages(judged)):
            break
    assert down.times < 1000  # the outage was met
    assert all(f.times == 0 for f in tenant.faults if f is not down)  # and every fault
    assert all(size <= 10 for size in tenant.learning_batches), tenant.learning_batches
    assert tenant.calls(HISTORY_PATH)  # redeliveries looked before posting again
    for student in students:
        want = 0 if student == refused else 1
        assert len(tenant.events_of(student)) == want, (student, tenant.learning_events)
    for event in tenant.learning_events:
        assert event["totalHours"] == 6.0
        assert "Judged Mentoring" in event["description"]
    by_status = {m.status for m in messages(judged) if m.status is not OutboxStatus.DEAD}
    assert by_status == {OutboxStatus.DELIVERED}
    dead = [m for m in messages(judged) if m.status is OutboxStatus.DEAD]
    assert len(dead) == 1
    assert "does not exist" in (dead[0].last_error or "")
    assert refused not in (dead[0].last_error or "")
    assert all(m.status is OutboxStatus.DELIVERED for m in messages(judged, "hours"))

    # The admin fixes the student in Learning and retries: it arrives, once.
    tenant.refused_students.clear()
    run(runner, "outbox", "retry", str(dead[0].id), "--org", "judge")
    work(judged, runner)
    work(judged, runner)
    assert len(tenant.events_of(refused)) == 1
    assert all(len(tenant.events_of(s)) == 1 for s in students)
    assert len(tenant.learning_events) == 12


def test_learning_with_its_own_token_server(
    judged: Flask,
    runner: FlaskCliRunner,
    tenant: JudgeTenant,
    url: str,
    keys: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant.learning_secret = "learning-s3cret-value"
    tenant.learning_accepts_platform_tokens = False
    monkeypatch.setenv("JUDGE_LEARNING_SECRET", tenant.learning_secret)
    for i in range(4):
        tenant.add(**employee(i))
    add_connection(
        runner,
        url,
        keys,
        "--learning-auth",
        "learning_token_server",
        "--learning-client-secret-env",
        "JUDGE_LEARNING_SECRET",
    )
    run(runner, "sync", "hr", "--full", "-q")
    ids = make_program(judged, 1)
    complete(judged, ids)
    work(judged, runner)
    assert tenant.learning_tokens
    assert sorted(e["studentID"] for e in tenant.learning_events) == sorted(
        student_of(judged, e) for e in ids
    )
    assert all(m.status is OutboxStatus.DELIVERED for m in messages(judged))


# --------------------------------------------------------------------------- https, :443


@responses.activate
def test_next_links_with_the_default_port_are_followed() -> None:
    """SuccessFactors writes ``https://host:443/…`` into ``__next``: the same origin."""
    from connectors.successfactors.client import ODataClient
    from connectors.successfactors.settings import Settings

    config = ConnectionConfig(
        connection_id=1,
        org_id=1,
        kind="successfactors",
        name="hr",
        settings={
            "base_url": "https://api4.successfactors.com",
            "company_id": "JUDGECO",
            "client_id": "k",
            "user_id": "sfapi",
        },
        credentials={"password": "secret-password"},
    )
    settings = Settings.from_config(config)
    from connectors._http import HttpClient
    from connectors.successfactors.auth import BasicAuth

    http = HttpClient(connector="successfactors")
    client = ODataClient(settings=settings, http=http, auth=BasicAuth(settings=settings, http=http))
    following = "https://api4.successfactors.com:443/odata/v2/User?$format=json&$skiptoken=eyJ9"
    responses.get(
        "https://api4.successfactors.com/odata/v2/User",
        json={"d": {"results": [{"userId": "a"}], "__next": following}},
    )
    responses.get(following, json={"d": {"results": [{"userId": "b"}]}})
    pages = list(client.iter_pages("User", params={}, what="User"))
    assert [row["userId"] for page in pages for row in page] == ["a", "b"]

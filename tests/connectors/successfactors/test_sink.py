"""The SuccessFactors write-back sink: Learning events, skill ratings, outages, no twins."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.successfactors import SuccessFactorsSink
from connectors.successfactors.auth import TokenCache
from connectors.successfactors.sink import event_reference
from plugin.crypto import SecretBox
from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable
from plugin.models import OutboxMessage, OutboxStatus
from plugin.ports import (
    BatchSink,
    ConnectionConfig,
    OutboundMessage,
    Sink,
    SinkConfigError,
    SinkServices,
    TargetConfig,
)
from plugin.services import connections, organizations, writeback
from plugin.worker import Worker
from tests.conftest import wipe
from tests.connectors.successfactors.conftest import (
    EVENTS_URL,
    HISTORY_URL,
    LEARNING_SECRET,
    LEARNING_TOKEN_URL,
    NOW,
    ODATA,
    TOKEN_URL,
    Clock,
    KeyPair,
    Waits,
    calls_to,
    connection,
    token_ok,
)

SOURCE = "successfactors:3"
UPSERT = ODATA + "/upsert"


# --------------------------------------------------------------------------- fakes


@dataclass
class FakeLearning:
    """Learning's external events and history, with the failures real tenants show."""

    events: list[dict[str, Any]] = field(default_factory=list)
    posts: list[list[dict[str, Any]]] = field(default_factory=list)
    outage: int = 0  # next N POSTs answer 503
    record_then_timeout: int = 0  # next N POSTs are recorded, then the answer is lost
    row_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # by studentID
    reject_batches_with: str | None = None  # a studentID that makes a batch 400
    expire_next: bool = False  # answer "The token has expired." once
    empty_status: int = 500  # the status "No search results" comes with (tenants: 404/500)

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, EVENTS_URL, callback=self._post)
        mock.add_callback(responses.GET, HISTORY_URL, callback=self._history)

    def _post(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.expire_next:
            self.expire_next = False
            return 401, {}, json.dumps({"error_description": "The token has expired."})
        body = json.loads(request.body)["externalLearningEvents"]
        self.posts.append(body)
        if self.outage:
            self.outage -= 1
            return 503, {}, "<html>Service Unavailable</html>"
        if len(body) > 10:
            return 400, {}, json.dumps({"error": {"code": "400", "message": "max 10"}})
        if self.reject_batches_with and any(
            e["studentID"] == self.reject_batches_with for e in body
        ):
            return 400, {}, json.dumps({"error": {"code": "400", "message": "unknown student"}})
        results = []
        for event in body:
            failure = self.row_errors.get(event["studentID"])
            if failure:
                results.append(
                    {
                        "studentID": event["studentID"],
                        "status": "ERROR",
                        "httpCode": failure[0],
                        "errorMessage": failure[1],
                    }
                )
            else:
                self.events.append(event)
                results.append({"studentID": event["studentID"], "status": "SUCCESS"})
        if self.record_then_timeout:
            self.record_then_timeout -= 1
            raise requests.ReadTimeout("read timed out")
        return 200, {}, json.dumps({"value": results})

    def _history(self, request: Any) -> tuple[int, dict[str, str], str]:
        flt = parse_qs(urlsplit(request.url).query)["$filter"][0]
        student = flt.split("'")[1]
        items = [
            {"componentID": "EXT", "title": e["description"], "totalHours": e.get("totalHours")}
            for e in self.events
            if e["studentID"] == student
        ]
        if not items:
            return (
                self.empty_status,
                {},
                json.dumps(
                    {"error": {"message": "No search results for provided search criteria"}}
                ),
            )
        return 200, {}, json.dumps({"value": items})


@dataclass
class FakeUpsert:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # by externalCode
    down: bool = False  # no connection at all
    existing: list[dict[str, Any]] = field(default_factory=list)  # RatedSkillMapping rows
    reads: list[str] = field(default_factory=list)  # $filter of each read
    empty_answer: bool = False  # 200 with no per-row results

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, UPSERT, callback=self._upsert)
        mock.add_callback(responses.GET, ODATA + "/RatedSkillMapping", callback=self._read)

    def _read(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.down:
            raise requests.ConnectTimeout("no route to host")
        flt = parse_qs(urlsplit(request.url).query)["$filter"][0]
        self.reads.append(flt)
        wanted = {part.strip().strip("'") for part in flt.split(" in ", 1)[1].split(",")}
        rows = [r for r in self.existing if r["SkillProfile_externalCode"] in wanted]
        return 200, {}, json.dumps({"d": {"results": rows}})

    def _upsert(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.down:
            raise requests.ConnectTimeout("no route to host")
        if self.empty_answer:
            return 200, {}, json.dumps({"d": []})
        results = []
        for index, row in enumerate(json.loads(request.body)):
            key = f"RatedSkillMapping/SkillProfile_externalCode={row['SkillProfile_externalCode']}"
            failure = self.errors.get(row["externalCode"])
            if failure:
                results.append(
                    {
                        "key": None,
                        "status": "ERROR",
                        "editStatus": None,
                        "message": f"{failure[1]} with the index {index}",
                        "index": index,
                        "httpCode": failure[0],
                        "inlineResults": None,
                    }
                )
            else:
                self.rows.append(row)
                results.append(
                    {
                        "key": key,
                        "status": "OK",
                        "editStatus": "UPSERTED",
                        "message": None,
                        "index": index,
                        "httpCode": 204,
                        "inlineResults": None,
                    }
                )
        return 200, {}, json.dumps({"d": results})


# --------------------------------------------------------------------------- builders


def payload(kind: str, *, person: str | None = "jdoe", n: int = 1) -> dict[str, Any]:
    base: dict[str, Any] = {
        "program": {
            "id": 7,
            "name": "GenAI basics",
            "starts_on": "2026-03-01",
            "ends_on": "2026-09-01",
        },
        "enrollment_id": n,
        "role": "mentor",
        "person": {
            "id": n,
            "email": "someone@example.com",
            "identities": {SOURCE: person, "lti:1": "abc"} if person else {"lti:1": "abc"},
        },
    }
    if kind == "completion":
        base.update(completed_at="2026-08-30T10:00:00+00:00", sessions_held=6, minutes=390, rule={})
    elif kind == "hours":
        base.update(minutes=390, hours=6.5, sessions_held=6)
    elif kind == "skill_gain":
        base.update(
            assessment_id=5,
            kind="post",
            pre_assessment_id=4,
            assessed_at="2026-08-30T10:00:00+00:00",
            gains=[
                {
                    "skill": "AI",
                    "name": "AI",
                    "pre": 2,
                    "post": 4,
                    "gain": 2,
                    "identities": {SOURCE: "SK_AI"},
                },
                {
                    "skill": "DEI",
                    "name": "DEI",
                    "pre": 3,
                    "post": 3,
                    "gain": 0,
                    "identities": {SOURCE: "SK_DEI"},
                },
                {
                    "skill": "LOCAL",
                    "name": "Local only",
                    "pre": 1,
                    "post": 2,
                    "gain": 1,
                    "identities": {},
                },
            ],
        )
    return base


def message(
    kind: str = "completion",
    *,
    n: int = 1,
    attempt: int = 1,
    person: str | None = "jdoe",
    org_id: int = 1,
) -> OutboundMessage:
    return OutboundMessage(
        id=n,
        org_id=org_id,
        kind=kind,
        target="sf",
        idempotency_key=f"{kind}:p7:e{n}:sf",
        payload=payload(kind, person=person, n=n),
        attempt=attempt,
    )


def make_sink(
    keypair: KeyPair | None,
    *,
    settings: dict[str, Any] | None = None,
    conn: ConnectionConfig | None = None,
    **connection_settings: Any,
) -> SuccessFactorsSink:
    config = conn or connection(keypair, **connection_settings)
    target = TargetConfig(
        org_id=1, name="sf", sink="successfactors", settings=settings or {}, connection_id=3
    )
    return SuccessFactorsSink(
        target,
        config_loader=lambda _t: config,
        sleep=Waits(),
        clock=Clock(),
        rng=lambda: 1.0,
        token_cache=TokenCache(),
        learning_token_cache=TokenCache(),
    )


@pytest.fixture
def learning(mock: responses.RequestsMock) -> FakeLearning:
    fake = FakeLearning()
    fake.register(mock)
    token_ok(mock, "platform-tok")
    return fake


@pytest.fixture
def upserts(mock: responses.RequestsMock) -> FakeUpsert:
    fake = FakeUpsert()
    fake.register(mock)
    return fake


# --------------------------------------------------------------------------- contract


def test_sink_satisfies_the_ports(keypair: KeyPair) -> None:
    sink = make_sink(keypair)
    assert isinstance(sink, Sink)
    assert isinstance(sink, BatchSink)
    assert sink.max_batch == 10


def test_factory_needs_connection_and_database(keypair: KeyPair) -> None:
    with pytest.raises(SinkConfigError, match="connection"):
        SuccessFactorsSink(TargetConfig(org_id=1, name="sf", sink="successfactors"))
    with pytest.raises(SinkConfigError, match="database access"):
        SuccessFactorsSink(
            TargetConfig(org_id=1, name="sf", sink="successfactors", connection_id=3)
        )
    with pytest.raises(SinkConfigError, match="unknown setting"):
        make_sink(keypair, settings={"batch": 3})


def test_factory_does_no_io(mock: responses.RequestsMock, keypair: KeyPair) -> None:
    loaded: list[TargetConfig] = []
    target = TargetConfig(org_id=1, name="sf", sink="successfactors", connection_id=3)
    SuccessFactorsSink(target, config_loader=lambda t: loaded.append(t) or connection(keypair))  # type: ignore[func-returns-value]
    assert loaded == []
    assert len(mock.calls) == 0


# --------------------------------------------------------------------------- learning


def test_completion_becomes_one_external_event(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    sink = make_sink(keypair, learning_time_zone="Europe/Berlin")
    sink.deliver(message())
    (event,) = learning.events
    ref = event_reference("completion:p7:e1:sf")
    assert event == {
        "description": f"[{ref}] Reverse mentoring: GenAI basics (mentor)",
        "studentID": "jdoe",
        "completionDate": int(datetime(2026, 8, 30, 10, tzinfo=UTC).timestamp() * 1000),
        "completionTimeZoneID": "Europe/Berlin",
        "totalHours": 6.5,
    }
    (post,) = calls_to(mock, EVENTS_URL)
    # Platform mode: the SAML-bearer token of the platform is Learning's bearer token.
    assert post.request.headers["Authorization"] == "Bearer platform-tok"


def test_learning_token_server_mode(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    mock.post(LEARNING_TOKEN_URL, json={"access_token": "learn-tok", "expires_in": 1800})
    sink = make_sink(
        None,
        conn=connection(keypair, credentials={"learning_client_secret": LEARNING_SECRET}),
    )
    sink.deliver(message())
    (post,) = calls_to(mock, EVENTS_URL)
    assert post.request.headers["Authorization"] == "Bearer learn-tok"
    assert calls_to(mock, TOKEN_URL) == []


def test_expired_learning_token_is_refreshed_once(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    mock.post(LEARNING_TOKEN_URL, json={"access_token": "learn-1", "expires_in": 1800})
    mock.post(LEARNING_TOKEN_URL, json={"access_token": "learn-2", "expires_in": 1800})
    learning.expire_next = True
    sink = make_sink(
        None, conn=connection(keypair, credentials={"learning_client_secret": LEARNING_SECRET})
    )
    sink.deliver(message())
    assert [c.request.headers["Authorization"] for c in calls_to(mock, EVENTS_URL)] == [
        "Bearer learn-1",
        "Bearer learn-2",
    ]
    assert len(learning.events) == 1


def test_hours_ride_on_the_completion_event(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    outcomes = make_sink(keypair).deliver_batch([message("completion"), message("hours", n=2)])
    assert outcomes == [None, None]
    assert len(learning.events) == 1
    assert learning.events[0]["totalHours"] == 6.5


def test_hours_as_events_setting(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    sink = make_sink(keypair, settings={"hours_as_events": True})
    assert sink.deliver_batch([message("completion"), message("hours", n=2)]) == [None, None]
    completion, hours = learning.events
    assert "totalHours" not in completion
    assert hours["totalHours"] == 6.5
    assert "mentoring hours" in hours["description"]


def test_25_completions_go_in_three_calls_of_at_most_10(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    messages = [message(n=i, person=f"u{i}") for i in range(25)]
    outcomes = make_sink(keypair).deliver_batch(messages)
    assert outcomes == [None] * 25
    assert [len(p) for p in learning.posts] == [10, 10, 5]
    assert len(learning.events) == 25
    # Only one token for all calls.
    assert len(calls_to(mock, TOKEN_URL)) == 1


def test_per_record_failure_inside_200_is_not_a_success(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    learning.row_errors = {"u1": (400, "Student u1 does not exist"), "u2": (500, "try later")}
    messages = [message(n=i, person=f"u{i}") for i in range(3)]
    outcomes = make_sink(keypair).deliver_batch(messages)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], ConnectorDataError)
    assert "u1" not in str(outcomes[1])  # no personal data in errors
    assert isinstance(outcomes[2], ConnectorUnavailable)  # retried later
    assert [e["studentID"] for e in learning.events] == ["u0"]


def test_a_refused_batch_is_retried_event_by_event(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    learning.reject_batches_with = "ghost"
    messages = [message(n=0, person="u0"), message(n=1, person="ghost"), message(n=2, person="u2")]
    outcomes = make_sink(keypair).deliver_batch(messages)
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], ConnectorDataError)
    assert [len(p) for p in learning.posts] == [3, 1, 1, 1]
    assert [e["studentID"] for e in learning.events] == ["u0", "u2"]


def test_redelivery_does_not_post_twice(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    sink = make_sink(keypair)
    # The first attempt reached Learning, but its answer was lost (timeout).
    learning.record_then_timeout = 1
    with pytest.raises(ConnectorUnavailable, match="may or may not"):
        sink.deliver(message(attempt=1))
    assert len(learning.events) == 1
    assert len(learning.posts) == 1  # a POST is never repeated blindly
    # The outbox delivers again: the history shows the event; nothing is posted.
    sink.deliver(message(attempt=2))
    assert len(learning.posts) == 1
    assert len(learning.events) == 1
    assert len(calls_to(mock, HISTORY_URL)) == 1


@pytest.mark.parametrize("empty_status", [500, 404, 200])
def test_redelivery_posts_what_is_missing(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning, empty_status: int
) -> None:
    learning.empty_status = empty_status
    sink = make_sink(keypair)
    sink.deliver(message(n=1, attempt=2))  # history empty ("No search results")
    assert len(learning.events) == 1
    assert len(calls_to(mock, HISTORY_URL)) == 1  # "no results" is an answer: not retried


def test_unverifiable_redelivery_posts_nothing(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    mock.replace(responses.GET, HISTORY_URL, status=503)
    with pytest.raises(ConnectorUnavailable):
        make_sink(keypair).deliver(message(attempt=2))
    assert learning.posts == []


def test_person_without_sf_identity_is_a_no_op(
    mock: responses.RequestsMock, keypair: KeyPair, learning: FakeLearning
) -> None:
    make_sink(keypair).deliver(message(person=None))
    assert learning.posts == []


def test_progress_and_missing_learning_url_are_config_errors(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    token_ok(mock)
    sink = make_sink(keypair, learning_url=None)
    outcomes = sink.deliver_batch(
        [message("progress"), message("completion", n=2), message("skill_gain", n=3)]
    )
    assert isinstance(outcomes[0], SinkConfigError)
    assert "progress" in str(outcomes[0])
    assert isinstance(outcomes[1], SinkConfigError)
    assert "learning_url" in str(outcomes[1])
    assert outcomes[2] is None  # skills still go to HXM
    assert len(upserts.rows) == 2


def test_other_organization_is_refused(keypair: KeyPair, mock: responses.RequestsMock) -> None:
    with pytest.raises(ConnectorDataError, match="organization"):
        make_sink(keypair).deliver(message(org_id=2))
    assert len(mock.calls) == 0


# --------------------------------------------------------------------------- skills


def test_skill_gains_are_upserted_as_self_ratings(
    mock: responses.RequestsMock,
    keypair: KeyPair,
    upserts: FakeUpsert,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_ok(mock)
    with caplog.at_level(logging.INFO):
        make_sink(keypair).deliver(message("skill_gain"))
    assert upserts.rows == [
        {
            "__metadata": {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"},
            "SkillProfile_externalCode": "jdoe",
            "externalCode": "SK_AI",
            "skill": "SK_AI",
            "selfRatedLevel_defaultValue": "4",
            "status": "A",
        },
        {
            "__metadata": {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"},
            "SkillProfile_externalCode": "jdoe",
            "externalCode": "SK_DEI",
            "skill": "SK_DEI",
            "selfRatedLevel_defaultValue": "3",
            "status": "A",
        },
    ]
    assert "1 skill(s) have no SuccessFactors code" in caplog.text
    (call,) = calls_to(mock, UPSERT)
    assert urlsplit(call.request.url).query == "$format=json"


def test_an_existing_rating_is_updated_not_duplicated(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    token_ok(mock)
    upserts.existing = [
        {"SkillProfile_externalCode": "jdoe", "externalCode": "100234", "skill": "SK_AI"},
        {"SkillProfile_externalCode": "other", "externalCode": "100235", "skill": "SK_DEI"},
    ]
    make_sink(keypair).deliver(message("skill_gain"))
    assert upserts.reads == ["SkillProfile_externalCode in 'jdoe'"]
    ai, dei = upserts.rows
    assert ai["externalCode"] == "100234"
    assert "status" not in ai  # an existing row keeps its status
    assert dei["externalCode"] == "SK_DEI"


def test_per_row_upsert_failure_fails_that_message_only(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    token_ok(mock)
    upserts.errors = {"SK_DEI": (400, "Invalid level for user 'bob'")}
    ok = message("skill_gain", n=1, person="alice")
    bad = replace(
        message("skill_gain", n=2, person="bob"),
        payload={
            **payload("skill_gain", person="bob"),
            "gains": payload("skill_gain")["gains"][1:],
        },
    )
    outcomes = make_sink(keypair).deliver_batch([ok, bad])
    assert isinstance(outcomes[1], ConnectorDataError)
    assert "bob" not in str(outcomes[1])
    assert "Invalid level" in str(outcomes[1])
    # alice's DEI row fails too (same code) — the first message fails as well, permanently.
    assert isinstance(outcomes[0], ConnectorDataError)


def test_per_row_5xx_is_retried_later(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    token_ok(mock)
    upserts.errors = {"SK_AI": (500, "[COE0019] general server failure")}
    outcome = make_sink(keypair).deliver_batch([message("skill_gain")])[0]
    assert isinstance(outcome, ConnectorUnavailable)


def test_gain_without_mappable_skill_is_a_no_op(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    msg = message("skill_gain")
    msg = replace(msg, payload={**msg.payload, "gains": msg.payload["gains"][2:]})
    make_sink(keypair).deliver(msg)
    assert len(mock.calls) == 0


def test_upsert_answer_without_results_is_not_a_success(
    mock: responses.RequestsMock, keypair: KeyPair, upserts: FakeUpsert
) -> None:
    token_ok(mock)
    upserts.empty_answer = True
    outcome = make_sink(keypair).deliver_batch([message("skill_gain")])[0]
    assert isinstance(outcome, ConnectorUnavailable)
    assert "no result for a row" in str(outcome)
    assert len(calls_to(mock, UPSERT)) == 1


def test_refused_credentials_fail_the_batch_without_secrets(
    mock: responses.RequestsMock, keypair: KeyPair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.post(TOKEN_URL, status=400, json={"errorCode": "invalid_client", "assertion": "x"})
    outcomes = make_sink(keypair).deliver_batch([message("skill_gain"), message(n=2)])
    assert all(isinstance(o, ConnectorAuthError) for o in outcomes)
    sent = parse_qs(mock.calls[0].request.body)["assertion"][0]
    for text in (str(outcomes[0]), caplog.text):
        assert sent not in text
        assert "PRIVATE KEY" not in text


# --------------------------------------------------------------------------- worker


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


class WorkerClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_outage_during_write_back_messages_wait_then_arrive_once(
    db: sessionmaker[Session],
    mock: responses.RequestsMock,
    keypair: KeyPair,
    learning: FakeLearning,
    upserts: FakeUpsert,
) -> None:
    box = SecretBox("test-secret")
    with db() as s:
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        conn = connections.add_connection(
            s,
            box=box,
            org_id=org.id,
            kind="successfactors",
            name="sf",
            settings=dict(connection(keypair).settings),
            credentials=dict(connection(keypair).credentials),
            actor="t",
            writeback_sink="successfactors",
        )
        source = f"successfactors:{conn.id}"
        for i in range(3):
            body = payload("completion", person=f"u{i}", n=i)
            body["person"]["identities"] = {source: f"u{i}"}
            writeback.enqueue(s, org_id=org.id, kind="completion", subject=f"p7:e{i}", payload=body)
        gain = payload("skill_gain", n=9)
        gain["person"]["identities"] = {source: "jdoe"}
        for g in gain["gains"]:
            g["identities"] = {source: g["identities"][SOURCE]} if g["identities"] else {}
        writeback.enqueue(s, org_id=org.id, kind="skill_gain", subject="p7:e9:a5", payload=gain)
        for m in s.scalars(select(OutboxMessage)):
            m.next_attempt_at = NOW - timedelta(minutes=1)
        s.commit()

    services = SinkServices(session_factory=db, secret_box=box)
    clock = WorkerClock()

    def factory(config: TargetConfig) -> SuccessFactorsSink:
        return SuccessFactorsSink(
            replace(config, services=services),
            sleep=Waits(),
            rng=lambda: 1.0,
            clock=lambda: clock().timestamp(),
            token_cache=TokenCache(),
        )

    worker = Worker(db, {"successfactors": factory}, worker_id="w1", clock=clock)

    # SuccessFactors is down: Learning answers 503 and the upsert times out.
    learning.outage = 99
    upserts.down = True
    stats = worker.run_once()
    assert stats.claimed == 4
    with db() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [r.status for r in rows] == [OutboxStatus.PENDING] * 4
    assert all(r.next_attempt_at > NOW for r in rows)
    assert all(r.last_error and "platform-tok" not in r.last_error for r in rows)
    assert learning.events == []

    # Nothing is due before the backoff has passed.
    assert worker.run_once().claimed == 0

    # Back up: every message arrives, once.
    learning.outage = 0
    upserts.down = False
    clock.now = max(r.next_attempt_at for r in rows) + timedelta(seconds=1)
    worker.run_once()
    with db() as s:
        statuses = [m.status for m in s.scalars(select(OutboxMessage))]
    assert statuses == [OutboxStatus.DELIVERED] * 4
    assert sorted(e["studentID"] for e in learning.events) == ["u0", "u1", "u2"]
    assert len(upserts.rows) == 2

    # A further run (a worker that lost its lease, say) changes nothing.
    clock.now += timedelta(hours=1)
    assert worker.run_once().claimed == 0
    assert len(learning.events) == 3

"""The outbox worker against a committed database, with the recording sink."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.errors import ConnectorUnavailable
from plugin.models import Organization, OutboxMessage, OutboxStatus
from plugin.ports import OutboundMessage, SinkConfigError, SinkRegistry, TargetConfig
from plugin.services import organizations, outbox, writeback
from plugin.worker import Worker, WorkerStats, default_worker_id
from tests.conftest import wipe
from tests.fakes import RecordingLog, RecordingSink

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
LEASE = 60.0
SINKS: SinkRegistry = {"recording": RecordingSink}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Setup:
    org_id: int
    ids: list[int]
    keys: list[str]
    log: RecordingLog


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (the worker's own transactions); rows wiped after."""
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


@pytest.fixture
def setup(db: sessionmaker[Session], tmp_path: Path) -> Callable[..., Setup]:
    def _make(
        n: int = 3, *, sink: str = "recording", active: bool = True, **settings: Any
    ) -> Setup:
        log = tmp_path / "sink.db"
        with db() as s:
            org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
            target = writeback.add_target(
                s,
                org_id=org.id,
                name="rec",
                sink=sink,
                settings={"log": str(log), **settings},
                actor="t",
            )
            made = []
            for i in range(n):
                (m,) = writeback.enqueue(
                    s,
                    org_id=org.id,
                    kind="completion",
                    subject=f"p1:e{i}",
                    payload={"enrollment_id": i, "person": f"secret-person-{i}"},
                )
                m.next_attempt_at = NOW - timedelta(minutes=10) + timedelta(seconds=i)
                made.append(m)
            target.active = active  # paused after the messages were written
            s.commit()
            return Setup(
                org.id, [m.id for m in made], [m.idempotency_key for m in made], RecordingLog(log)
            )

    return _make


def rows(db: sessionmaker[Session]) -> list[OutboxMessage]:
    with db() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def statuses(db: sessionmaker[Session]) -> list[str]:
    return [m.status.value for m in rows(db)]


def worker(db: Callable[[], Session], clock: Clock, **kw: Any) -> Worker:
    kw.setdefault("sinks", SINKS)
    kw.setdefault("worker_id", "w1")
    kw.setdefault("lease_seconds", LEASE)
    return Worker(db, clock=clock, **kw)


# --------------------------------------------------------------------------- delivery


def test_run_once_delivers_due_messages_and_records_them(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(3)
    stats = worker(db, Clock()).run_once()
    assert stats == WorkerStats(claimed=3, delivered=3)
    assert statuses(db) == ["delivered"] * 3
    assert {m.delivered_at for m in rows(db)} == {NOW}
    assert s.log.effect_counts() == dict.fromkeys(s.keys, 1)
    assert [c.attempt for c in s.log.calls()] == [1, 1, 1]
    assert worker(db, Clock()).run_once() == WorkerStats()


def test_the_sink_receives_the_message_as_enqueued(db: sessionmaker[Session], setup: Any) -> None:
    s = setup(1)
    worker(db, Clock()).run_once()
    (effect,) = s.log.effects()
    assert effect == {
        "org_id": s.org_id,
        "key": "completion:p1:e0:rec",
        "message_id": s.ids[0],
        "kind": "completion",
        "target": "rec",
        "payload": {"enrollment_id": 0, "person": "secret-person-0"},
    }


def test_batches_are_claimed_in_order(db: sessionmaker[Session], setup: Any) -> None:
    s = setup(5)
    w = worker(db, Clock(), batch=2)
    assert [w.run_once().claimed for _ in range(4)] == [2, 2, 1, 0]
    assert [c.message_id for c in s.log.calls()] == s.ids


def test_a_retriable_failure_is_retried_after_the_backoff(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(1, fail={"*": 2})
    clock = Clock()
    w = worker(db, clock)
    assert w.run_once() == WorkerStats(claimed=1, retried=1)
    (m,) = rows(db)
    assert (m.status, m.attempts) == (OutboxStatus.PENDING, 1)
    assert m.last_error == f"ConnectorUnavailable: recording sink told to fail message {m.id}"
    assert w.run_once() == WorkerStats()  # not due yet
    clock.advance(seconds=37)
    assert w.run_once() == WorkerStats(claimed=1, retried=1)
    clock.advance(seconds=73)
    assert w.run_once() == WorkerStats(claimed=1, delivered=1)
    assert [c.attempt for c in s.log.calls()] == [1, 2, 3]
    assert s.log.effect_counts() == {s.keys[0]: 1}


def test_retry_after_from_the_target_is_honoured(db: sessionmaker[Session], setup: Any) -> None:
    setup(1, fail={"*": 1}, retry_after=3600)
    worker(db, Clock()).run_once()
    (m,) = rows(db)
    assert m.next_attempt_at == NOW + timedelta(hours=1)


def test_after_the_last_attempt_the_message_is_dead_with_its_error(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(1, fail={"*": 100})
    clock = Clock()
    w = worker(db, clock)
    total = WorkerStats()
    for _ in range(10):
        total += w.run_once()
        clock.advance(hours=8)
    assert total == WorkerStats(claimed=8, retried=7, dead=1)
    (m,) = rows(db)
    assert (m.status, m.attempts, m.max_attempts) == (OutboxStatus.DEAD, 8, 8)
    assert m.last_error == f"ConnectorUnavailable: recording sink told to fail message {m.id}"
    assert len(s.log.calls()) == 8
    assert s.log.effect_counts() == {}


@pytest.mark.parametrize("fail_with", ["auth", "data"])
def test_a_permanent_error_dead_letters_at_once(
    db: sessionmaker[Session], setup: Any, fail_with: str
) -> None:
    s = setup(1, fail={"*": 1}, fail_with=fail_with)
    assert worker(db, Clock()).run_once() == WorkerStats(claimed=1, dead=1)
    (m,) = rows(db)
    assert (m.status, m.attempts) == (OutboxStatus.DEAD, 1)
    assert m.last_error is not None
    assert m.last_error.startswith(("ConnectorAuthError: ", "ConnectorDataError: "))
    assert len(s.log.calls()) == 1


def test_a_bug_in_a_sink_is_retried(db: sessionmaker[Session], setup: Any) -> None:
    setup(1, fail={"*": 1}, fail_with="bug")
    assert worker(db, Clock()).run_once() == WorkerStats(claimed=1, retried=1)
    (m,) = rows(db)
    assert m.last_error == f"RuntimeError: recording sink told to fail message {m.id}"


def test_an_unregistered_sink_dead_letters_with_a_clear_error(
    db: sessionmaker[Session], setup: Any
) -> None:
    setup(2, sink="workday")
    assert worker(db, Clock()).run_once() == WorkerStats(claimed=2, dead=2)
    for m in rows(db):
        assert m.status is OutboxStatus.DEAD
        assert m.last_error == (
            "SinkConfigError: no sink 'workday' is registered (registered: recording); "
            "install/configure it and retry the message"
        )


def test_a_paused_target_dead_letters_with_a_clear_error(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(1, active=False)
    assert worker(db, Clock()).run_once() == WorkerStats(claimed=1, dead=1)
    (m,) = rows(db)
    assert m.last_error is not None
    assert "target 'rec' is paused; resume it" in m.last_error
    assert s.log.calls() == []


def test_a_removed_target_dead_letters_with_a_clear_error(
    db: sessionmaker[Session], setup: Any
) -> None:
    setup(1)
    with db() as s:
        (m,) = s.scalars(select(OutboxMessage))
        m.target = "gone"
        s.commit()
    worker(db, Clock()).run_once()
    (m,) = rows(db)
    assert m.status is OutboxStatus.DEAD
    assert m.last_error is not None
    assert "write-back target 'gone' does not exist (any more)" in m.last_error


def test_a_target_whose_settings_are_refused_dead_letters(
    db: sessionmaker[Session], setup: Any
) -> None:
    setup(2, colour="blue")
    assert worker(db, Clock()).run_once() == WorkerStats(claimed=2, dead=2)
    assert {m.last_error for m in rows(db)} == {
        "SinkConfigError: unknown recording-sink settings: colour"
    }


def test_each_targets_sink_is_built_once_per_batch(db: sessionmaker[Session], setup: Any) -> None:
    setup(3)
    built: list[TargetConfig] = []

    def factory(config: TargetConfig) -> RecordingSink:
        built.append(config)
        return RecordingSink(config)

    worker(db, Clock(), sinks={"recording": factory}).run_once()
    (config,) = built
    assert (config.name, config.sink, config.connection_id) == ("rec", "recording", None)


def test_a_dead_message_retried_by_an_admin_is_delivered(
    db: sessionmaker[Session], setup: Any
) -> None:
    from plugin.access import Actor

    s = setup(1, fail={"*": 1}, fail_with="auth")
    clock = Clock()
    w = worker(db, clock)
    w.run_once()
    with db() as session:
        outbox.retry(session, Actor.admin(s.org_id, "cli:t"), s.ids[0], now=clock.now)
        session.commit()
    assert w.run_once() == WorkerStats(claimed=1, delivered=1)
    (m,) = rows(db)
    assert (m.status, m.attempts) == (OutboxStatus.DELIVERED, 1)


# --------------------------------------------------------------------------- crashes


def test_a_claim_lost_before_delivery_is_taken_over_after_the_lease(
    db: sessionmaker[Session], setup: Any
) -> None:
    """A worker that died between claim and deliver: the messages wait out the lease."""
    s = setup(3)
    with db() as session:
        outbox.claim(session, worker_id="crashed", limit=10, now=NOW, lease_seconds=LEASE)
        session.commit()
    clock = Clock()
    w = worker(db, clock)
    assert w.run_once() == WorkerStats()  # the lease is still running
    clock.advance(seconds=LEASE + 1)
    assert w.run_once() == WorkerStats(claimed=3, delivered=3)
    assert [m.attempts for m in rows(db)] == [2, 2, 2]
    assert s.log.call_counts() == dict.fromkeys(s.keys, 1)


def test_a_worker_whose_claim_was_taken_over_does_not_record_its_late_result(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(1)
    late_clock = Clock()
    slow = worker(db, late_clock, worker_id="slow")

    # The slow worker claims, then stalls inside deliver; another worker takes over.
    class Stalling:
        def __init__(self, config: TargetConfig) -> None:
            self.inner = RecordingSink(config)

        def deliver(self, message: OutboundMessage) -> None:
            fast = worker(db, Clock(NOW + timedelta(seconds=LEASE + 1)), worker_id="fast")
            assert fast.run_once() == WorkerStats(claimed=1, delivered=1)
            self.inner.deliver(message)

    slow.sinks = {"recording": Stalling}
    assert slow.run_once() == WorkerStats(claimed=1, stale=1)
    (m,) = rows(db)
    assert (m.status, m.claimed_by, m.attempts) == (OutboxStatus.DELIVERED, "fast", 2)
    assert s.log.call_counts() == {s.keys[0]: 2}  # delivered twice …
    assert s.log.effect_counts() == {s.keys[0]: 1}  # … written once


def test_a_stopping_worker_gives_back_what_it_did_not_start(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(4)
    stop = threading.Event()
    w = worker(db, Clock(), progress=lambda stage, done, total: stop.set())
    assert w.run_once(stop) == WorkerStats(claimed=4, delivered=1, released=3)
    assert statuses(db) == ["delivered", "pending", "pending", "pending"]
    assert [m.attempts for m in rows(db)] == [1, 0, 0, 0]
    assert worker(db, Clock(), worker_id="w2").run_once() == WorkerStats(claimed=3, delivered=3)
    assert s.log.call_counts() == dict.fromkeys(s.keys, 1)


def test_a_database_error_while_recording_leaves_the_claim_to_expire(
    db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(1)
    from sqlalchemy.exc import OperationalError

    calls = {"n": 0}

    def flaky() -> Session:
        calls["n"] += 1
        if calls["n"] == 2:  # 1: claim, 2: record
            raise OperationalError("connect", {}, Exception("database is down"))
        return db()

    assert worker(flaky, Clock()).run_once() == WorkerStats(claimed=1, stale=1)
    assert statuses(db) == ["delivering"]
    clock = Clock(NOW + timedelta(seconds=LEASE + 1))
    assert worker(db, clock, worker_id="w2").run_once() == WorkerStats(claimed=1, delivered=1)
    assert s.log.effect_counts() == {s.keys[0]: 1}


# --------------------------------------------------------------------------- loop


def test_run_forever_delivers_and_stops_promptly(db: sessionmaker[Session], setup: Any) -> None:
    setup(3)
    stop = threading.Event()
    batches: list[WorkerStats] = []
    w = Worker(db, SINKS, worker_id="w1", on_batch=batches.append)
    result: list[WorkerStats] = []
    thread = threading.Thread(target=lambda: result.append(w.run_forever(stop, poll_seconds=30)))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while statuses(db) != ["delivered"] * 3 and datetime.now(UTC) < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()  # woke from its 30 s poll at once
    assert result == [WorkerStats(claimed=3, delivered=3)]
    assert batches == [WorkerStats(claimed=3, delivered=3)]


def test_run_forever_survives_a_failing_batch(db: sessionmaker[Session], setup: Any) -> None:
    setup(1)
    stop = threading.Event()
    attempts = {"n": 0}

    def flaky() -> Session:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("database restarting")
        return db()

    w = Worker(flaky, SINKS, worker_id="w1", on_batch=lambda stats: stop.set())
    total = w.run_forever(stop, poll_seconds=0.01)
    assert total == WorkerStats(claimed=1, delivered=1)


def test_housekeeping_runs_at_most_every_interval(db: sessionmaker[Session], setup: Any) -> None:
    setup(0)
    seen: list[datetime] = []

    def job(session: Session, now: datetime) -> int:
        seen.append(now)
        return 1

    clock = Clock()
    w = worker(db, clock, housekeeping=job, housekeeping_interval=600)
    for _ in range(4):
        w.run_once()
        clock.advance(seconds=300)
    assert seen == [NOW, NOW + timedelta(seconds=600)]


def test_housekeeping_failures_are_logged_not_fatal(
    db: sessionmaker[Session], setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    setup(1)

    def job(session: Session, now: datetime) -> int:
        raise RuntimeError("scan failed")

    w = worker(db, Clock(), housekeeping=job)
    with caplog.at_level(logging.ERROR, logger="plugin.worker"):
        assert w.run_once() == WorkerStats(claimed=1, delivered=1)
    assert "housekeeping failed" in caplog.text


def test_logs_never_contain_payloads(
    db: sessionmaker[Session], setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    setup(2, fail={"completion:p1:e0:rec": 1})
    with caplog.at_level(logging.DEBUG):
        worker(db, Clock()).run_once()
    assert "will retry" in caplog.text
    assert "delivered on attempt 1" in caplog.text
    assert "secret-person" not in caplog.text


def test_worker_arguments_are_checked(db: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="batch must be at least 1"):
        Worker(db, SINKS, batch=0)
    with pytest.raises(ValueError, match="lease_seconds must be positive"):
        Worker(db, SINKS, lease_seconds=0)


def test_default_worker_ids_are_unique_and_fit_a_claim() -> None:
    ids = {default_worker_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) <= 200 for i in ids)


def test_stats_add_up_and_summarise() -> None:
    total = WorkerStats(claimed=2, delivered=1, retried=1) + WorkerStats(claimed=1, dead=1, stale=1)
    assert total == WorkerStats(claimed=3, delivered=1, retried=1, dead=1, stale=1)
    assert total.summary() == "claimed 3 · delivered 1 · retried 1 · dead 1 · stale 1"


def test_sink_errors_from_a_factory_use_their_class(db: sessionmaker[Session], setup: Any) -> None:
    setup(1)

    def unavailable(config: TargetConfig) -> RecordingSink:
        raise ConnectorUnavailable("vault unreachable", connector="x")

    def misconfigured(config: TargetConfig) -> RecordingSink:
        raise SinkConfigError("no base_url")

    assert worker(db, Clock(), sinks={"recording": unavailable}).run_once() == WorkerStats(
        claimed=1, retried=1
    )
    clock = Clock(NOW + timedelta(minutes=5))
    assert worker(db, clock, sinks={"recording": misconfigured}).run_once() == WorkerStats(
        claimed=1, dead=1
    )


def test_organizations_do_not_mix(db: sessionmaker[Session], setup: Any) -> None:
    s = setup(1)
    with db() as session:
        other = Organization(slug="other", name="Other")
        session.add(other)
        session.flush()
        writeback.add_target(
            session, org_id=other.id, name="rec", sink="workday", actor="t"
        )  # same name, another org, an unregistered sink
        (m,) = writeback.enqueue(session, org_id=other.id, kind="hours", subject="x", payload={})
        m.next_attempt_at = NOW
        session.commit()
    stats = worker(db, Clock(NOW + timedelta(hours=1))).run_once()
    assert stats == WorkerStats(claimed=2, delivered=1, dead=1)
    assert s.log.effect_counts() == {s.keys[0]: 1}

"""The worker hands a batching sink (:class:`plugin.ports.BatchSink`) chunks of one target."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.errors import ConnectorDataError, ConnectorUnavailable
from plugin.models import OutboxMessage
from plugin.ports import BatchSink, OutboundMessage, TargetConfig
from plugin.services import organizations, writeback
from plugin.worker import Worker, WorkerStats
from tests.conftest import wipe

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


class BatchingSink:
    """Records every call; per-key outcomes can be scripted."""

    calls: ClassVar[list[list[str]]] = []
    single: ClassVar[list[str]] = []
    outcomes: ClassVar[dict[str, Exception]] = {}
    whole_call: ClassVar[Exception | None] = None
    answer_count: ClassVar[int | None] = None
    max_batch = 10

    def __init__(self, config: TargetConfig) -> None:
        self.config = config

    def deliver(self, message: OutboundMessage) -> None:
        self.single.append(message.idempotency_key)
        if message.idempotency_key in self.outcomes:
            raise self.outcomes[message.idempotency_key]

    def deliver_batch(self, messages: Sequence[OutboundMessage]) -> Sequence[Exception | None]:
        self.calls.append([m.idempotency_key for m in messages])
        if self.whole_call is not None:
            raise self.whole_call
        answers = [self.outcomes.get(m.idempotency_key) for m in messages]
        if self.answer_count is not None:
            answers = answers[: self.answer_count]
        return answers


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    BatchingSink.calls, BatchingSink.single, BatchingSink.outcomes = [], [], {}
    BatchingSink.whole_call, BatchingSink.answer_count = None, None
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


def enqueue(db: sessionmaker[Session], n: int, *, targets: Sequence[str] = ("sf",)) -> list[str]:
    keys = []
    with db() as s:
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        for name in targets:
            writeback.add_target(s, org_id=org.id, name=name, sink="batching", actor="t")
        for i in range(n):
            for m in writeback.enqueue(
                s, org_id=org.id, kind="completion", subject=f"p1:e{i}", payload={"i": i}
            ):
                m.next_attempt_at = NOW - timedelta(minutes=5)
                keys.append(m.idempotency_key)
        s.commit()
    return keys


def run(db: sessionmaker[Session], batch: int = 50) -> WorkerStats:
    worker = Worker(db, {"batching": BatchingSink}, worker_id="w", batch=batch, clock=lambda: NOW)
    return worker.run_once()


def statuses(db: sessionmaker[Session]) -> dict[str, str]:
    with db() as s:
        return {
            m.idempotency_key: m.status.value
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        }


def test_the_batching_sink_is_a_batch_sink() -> None:
    assert isinstance(BatchingSink(TargetConfig(org_id=1, name="x", sink="b")), BatchSink)


def test_messages_of_one_target_go_in_chunks_of_max_batch(db: sessionmaker[Session]) -> None:
    keys = enqueue(db, 25)
    assert run(db) == WorkerStats(claimed=25, delivered=25)
    assert [len(c) for c in BatchingSink.calls] == [10, 10, 5]
    assert [k for c in BatchingSink.calls for k in c] == keys
    assert BatchingSink.single == []
    assert set(statuses(db).values()) == {"delivered"}


def test_chunks_never_mix_targets(db: sessionmaker[Session]) -> None:
    enqueue(db, 4, targets=("sf", "sf2"))
    assert run(db).delivered == 8
    for call in BatchingSink.calls:
        assert len({k.rsplit(":", 1)[1] for k in call}) == 1


def test_a_single_message_uses_deliver(db: sessionmaker[Session]) -> None:
    (key,) = enqueue(db, 1)
    assert run(db).delivered == 1
    assert BatchingSink.single == [key]
    assert BatchingSink.calls == []


def test_per_message_outcomes_are_recorded_one_by_one(db: sessionmaker[Session]) -> None:
    keys = enqueue(db, 5)
    BatchingSink.outcomes = {
        keys[1]: ConnectorUnavailable("row failed with 500", connector="x", status=500),
        keys[3]: ConnectorDataError("row refused", connector="x", status=400),
    }
    assert run(db) == WorkerStats(claimed=5, delivered=3, retried=1, dead=1)
    got = statuses(db)
    assert got[keys[1]] == "pending"
    assert got[keys[3]] == "dead"
    assert [got[k] for k in (keys[0], keys[2], keys[4])] == ["delivered"] * 3


def test_a_failed_call_retries_the_whole_chunk(db: sessionmaker[Session]) -> None:
    enqueue(db, 3)
    BatchingSink.whole_call = ConnectorUnavailable("down", connector="x", status=503)
    assert run(db) == WorkerStats(claimed=3, retried=3)
    assert set(statuses(db).values()) == {"pending"}


def test_a_sink_answering_the_wrong_number_of_outcomes_is_a_bug_retried(
    db: sessionmaker[Session],
) -> None:
    enqueue(db, 3)
    BatchingSink.answer_count = 2
    stats: Any = run(db)
    assert stats.delivered == 0
    assert stats.retried == 3

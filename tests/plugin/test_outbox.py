"""The outbox service: claims, leases, fencing, backoff, dead letters and the admin views."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import (
    ConflictError,
    ConnectorAuthError,
    ConnectorDataError,
    ConnectorUnavailable,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from plugin.models import AuditEvent, Organization, OutboxMessage, OutboxStatus
from plugin.ports import OutboundMessage, SinkConfigError
from plugin.services import audit, outbox, writeback

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
LEASE = 300


@pytest.fixture
def admin(org: Organization) -> Actor:
    return Actor.admin(org.id, "cli:test")


@pytest.fixture
def messages(db_session: Session, org: Organization) -> Any:
    """``messages(n)``: n pending messages to target ``rec``, due at NOW − 1 h + i s."""
    writeback.add_target(db_session, org_id=org.id, name="rec", sink="recording", actor="t")

    def _make(n: int = 3, *, kind: str = "completion") -> list[OutboxMessage]:
        out = []
        for i in range(n):
            (m,) = writeback.enqueue(
                db_session,
                org_id=org.id,
                kind=kind,
                subject=f"p1:e{i}:{kind}",
                payload={"enrollment_id": i},
            )
            m.next_attempt_at = NOW - timedelta(hours=1) + timedelta(seconds=i)
            out.append(m)
        db_session.flush()
        return out

    return _make


def snapshot(db_session: Session, message: OutboxMessage) -> tuple[Any, ...]:
    db_session.refresh(message)
    return (
        message.status,
        message.attempts,
        message.claimed_by,
        message.claimed_at,
        message.next_attempt_at,
        message.last_error,
        message.delivered_at,
    )


def claim(db_session: Session, worker: str = "w1", *, now: datetime = NOW, limit: int = 10):
    return outbox.claim(db_session, worker_id=worker, limit=limit, now=now, lease_seconds=LEASE)


# --------------------------------------------------------------------------- claim


def test_claim_marks_due_messages_delivering_oldest_first(
    db_session: Session, messages: Any
) -> None:
    made = messages(3)
    got = claim(db_session)
    assert [m.id for m in got] == [m.id for m in made]
    for m in got:
        assert m.status is OutboxStatus.DELIVERING
        assert m.claimed_by == "w1"
        assert m.claimed_at == NOW
        assert m.attempts == 1


def test_claim_leaves_messages_that_are_not_due(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    m.next_attempt_at = NOW + timedelta(seconds=1)
    db_session.flush()
    assert claim(db_session) == []
    assert snapshot(db_session, m)[:2] == (OutboxStatus.PENDING, 0)


def test_claim_takes_at_most_limit(db_session: Session, messages: Any) -> None:
    made = messages(5)
    got = claim(db_session, limit=2)
    assert [m.id for m in got] == [made[0].id, made[1].id]
    assert made[2].status is OutboxStatus.PENDING


def test_claim_skips_a_live_claim_of_another_worker(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session, "w1")
    assert claim(db_session, "w2", now=NOW + timedelta(seconds=LEASE - 1)) == []
    assert snapshot(db_session, m)[:3] == (OutboxStatus.DELIVERING, 1, "w1")


def test_claim_takes_over_an_expired_lease(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session, "w1")
    later = NOW + timedelta(seconds=LEASE + 1)
    (got,) = claim(db_session, "w2", now=later)
    assert got.id == m.id
    assert (got.claimed_by, got.claimed_at, got.attempts) == ("w2", later, 2)


def test_claim_dead_letters_a_lost_claim_on_its_last_attempt(
    db_session: Session, messages: Any
) -> None:
    (m,) = messages(1)
    m.max_attempts = 1
    db_session.flush()
    claim(db_session, "w1")
    assert claim(db_session, "w2", now=NOW + timedelta(seconds=LEASE + 1)) == []
    status, attempts, *_ = snapshot(db_session, m)
    assert (status, attempts) == (OutboxStatus.DEAD, 1)
    assert m.last_error is not None
    assert m.last_error.startswith("LeaseExpired: the worker delivering attempt 1 of 1")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"worker_id": "", "limit": 1}, "worker id"),
        ({"worker_id": "x" * 201, "limit": 1}, "worker id"),
        ({"worker_id": "w", "limit": 0}, "limit must be at least 1"),
        ({"worker_id": "w", "limit": 1, "lease_seconds": 0}, "lease must be longer"),
    ],
)
def test_claim_refuses_bad_arguments(
    db_session: Session, messages: Any, kwargs: dict[str, Any], match: str
) -> None:
    (m,) = messages(1)
    with pytest.raises(ValidationError, match=match):
        outbox.claim(db_session, now=NOW, **kwargs)
    assert snapshot(db_session, m)[:2] == (OutboxStatus.PENDING, 0)


def test_outbound_is_a_detached_copy(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    (got,) = claim(db_session)
    copy = outbox.outbound(got)
    assert copy == OutboundMessage(
        id=m.id,
        org_id=m.org_id,
        kind="completion",
        target="rec",
        idempotency_key="completion:p1:e0:completion:rec",
        payload={"enrollment_id": 0},
        attempt=1,
    )
    copy.payload["enrollment_id"] = 99  # type: ignore[index]
    assert got.payload == {"enrollment_id": 0}


# --------------------------------------------------------------------------- outcomes


def test_record_success_marks_delivered(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session)
    done = NOW + timedelta(seconds=2)
    assert outbox.record_success(db_session, m.id, worker_id="w1", attempt=1, now=done)
    status, attempts, by, _, _, _, delivered_at = snapshot(db_session, m)
    assert (status, attempts, by, delivered_at) == (OutboxStatus.DELIVERED, 1, "w1", done)


@pytest.mark.parametrize(("worker", "attempt"), [("w2", 1), ("w1", 2)])
def test_record_success_is_fenced_by_worker_and_attempt(
    db_session: Session, messages: Any, worker: str, attempt: int
) -> None:
    (m,) = messages(1)
    claim(db_session)
    before = snapshot(db_session, m)
    assert not outbox.record_success(db_session, m.id, worker_id=worker, attempt=attempt, now=NOW)
    assert snapshot(db_session, m) == before


def test_a_worker_whose_lease_expired_cannot_overwrite_the_new_claim(
    db_session: Session, messages: Any
) -> None:
    (m,) = messages(1)
    claim(db_session, "w1")
    claim(db_session, "w2", now=NOW + timedelta(seconds=LEASE + 1))
    assert not outbox.record_success(db_session, m.id, worker_id="w1", attempt=1, now=NOW)
    result = outbox.record_failure(
        db_session, m.id, worker_id="w1", attempt=1, error=RuntimeError("late"), now=NOW
    )
    assert result == outbox.STALE
    assert snapshot(db_session, m)[:3] == (OutboxStatus.DELIVERING, 2, "w2")
    assert m.last_error is None


def test_retriable_failure_goes_back_to_pending_with_backoff(
    db_session: Session, messages: Any
) -> None:
    (m,) = messages(1)
    claim(db_session)
    error = ConnectorUnavailable("503 from target", connector="x", status=503)
    result = outbox.record_failure(
        db_session, m.id, worker_id="w1", attempt=1, error=error, now=NOW
    )
    assert result == "pending"
    status, attempts, *_ = snapshot(db_session, m)
    assert (status, attempts) == (OutboxStatus.PENDING, 1)
    assert NOW + timedelta(seconds=24) <= m.next_attempt_at <= NOW + timedelta(seconds=36)
    assert m.last_error == "ConnectorUnavailable: 503 from target"


def test_retriable_failure_waits_at_least_retry_after(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session)
    error = ConnectorUnavailable("429", connector="x", status=429, retry_after=900)
    outbox.record_failure(db_session, m.id, worker_id="w1", attempt=1, error=error, now=NOW)
    db_session.refresh(m)
    assert m.next_attempt_at == NOW + timedelta(seconds=900)


def test_an_unexpected_exception_is_retried_like_an_outage(
    db_session: Session, messages: Any
) -> None:
    (m,) = messages(1)
    claim(db_session)
    result = outbox.record_failure(
        db_session, m.id, worker_id="w1", attempt=1, error=KeyError("oops"), now=NOW
    )
    assert result == "pending"
    db_session.refresh(m)
    assert m.last_error == "KeyError: 'oops'"


@pytest.mark.parametrize(
    "error",
    [
        ConnectorAuthError("401 from target", connector="x", status=401),
        ConnectorDataError("422 from target", connector="x", status=422),
        SinkConfigError("no sink 'workday' is registered"),
    ],
    ids=["auth", "data", "config"],
)
def test_permanent_failure_dead_letters_at_once(
    db_session: Session, messages: Any, error: Exception
) -> None:
    (m,) = messages(1)
    claim(db_session)
    result = outbox.record_failure(
        db_session, m.id, worker_id="w1", attempt=1, error=error, now=NOW
    )
    assert result == "dead"
    status, attempts, *_ = snapshot(db_session, m)
    assert (status, attempts) == (OutboxStatus.DEAD, 1)
    assert m.last_error == f"{type(error).__name__}: {error}"


def test_the_last_attempt_dead_letters_with_its_error(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    m.max_attempts = 3
    db_session.flush()
    now = NOW
    results = []
    for attempt in (1, 2, 3):
        (got,) = claim(db_session, now=now)
        assert got.attempts == attempt
        error = ConnectorUnavailable(f"timeout {attempt}", connector="x")
        results.append(
            outbox.record_failure(
                db_session, m.id, worker_id="w1", attempt=attempt, error=error, now=now
            )
        )
        now += timedelta(hours=7)
    assert results == ["pending", "pending", "dead"]
    status, attempts, *_ = snapshot(db_session, m)
    assert (status, attempts) == (OutboxStatus.DEAD, 3)
    assert m.last_error == "ConnectorUnavailable: timeout 3"
    assert claim(db_session, now=now + timedelta(days=30)) == []


def test_record_failure_is_fenced(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session)
    before = snapshot(db_session, m)
    result = outbox.record_failure(
        db_session, m.id, worker_id="other", attempt=1, error=RuntimeError("x"), now=NOW
    )
    assert result == outbox.STALE
    assert snapshot(db_session, m) == before


def test_release_gives_an_unstarted_claim_back(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session)
    assert outbox.release(db_session, m.id, worker_id="w1", attempt=1)
    status, attempts, *_ = snapshot(db_session, m)
    assert (status, attempts) == (OutboxStatus.PENDING, 0)
    assert [g.id for g in claim(db_session, "w2")] == [m.id]


def test_release_is_fenced(db_session: Session, messages: Any) -> None:
    (m,) = messages(1)
    claim(db_session)
    assert not outbox.release(db_session, m.id, worker_id="w2", attempt=1)
    assert snapshot(db_session, m)[:2] == (OutboxStatus.DELIVERING, 1)


# --------------------------------------------------------------------------- errors


def test_redact_error_removes_credentials_and_query_strings() -> None:
    error = ConnectorAuthError(
        "POST https://user:pw@hr.example.com/odata/v2/x?wstoken=abc123&a=1 refused; "
        "password=hunter2 Authorization: Bearer eyJhbGciOi.x.y api_key='k-9'",
        connector="x",
    )
    text = outbox.redact_error(error)
    assert text.startswith("ConnectorAuthError: POST https://***@hr.example.com/odata/v2/x?***")
    for secret in ("user:pw", "abc123", "hunter2", "eyJhbGciOi", "k-9"):
        assert secret not in text


def test_redact_error_keeps_at_most_2000_characters() -> None:
    text = outbox.redact_error(RuntimeError("x" * 5000))
    assert len(text) == outbox.MAX_ERROR_CHARS
    assert text.endswith("…")


def test_redact_error_names_an_error_without_message() -> None:
    assert outbox.redact_error(TimeoutError()) == "TimeoutError"


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (ConnectorAuthError("x", connector="c"), True),
        (ConnectorDataError("x", connector="c"), True),
        (SinkConfigError("x"), True),
        (ConnectorUnavailable("x", connector="c"), False),
        (RuntimeError("x"), False),
        (OSError("x"), False),
    ],
)
def test_is_permanent(error: Exception, permanent: bool) -> None:
    assert outbox.is_permanent(error) is permanent


# --------------------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("attempt", "base"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (8, 3840), (10, 15360), (11, 21600), (60, 21600)],
)
def test_backoff_doubles_per_attempt_up_to_six_hours(attempt: int, base: float) -> None:
    rng = random.Random(7)
    waits = [outbox.backoff_seconds(attempt, rng=rng) for _ in range(200)]
    assert min(waits) >= base * 0.8
    assert max(waits) <= base * 1.2
    assert max(waits) - min(waits) > base * 0.2  # really scattered


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [outbox.backoff_seconds(3, rng=random.Random(1)) for _ in range(3)]
    assert first == [outbox.backoff_seconds(3, rng=random.Random(1)) for _ in range(3)]


def test_backoff_honours_a_longer_retry_after() -> None:
    assert outbox.backoff_seconds(1, retry_after=3600) == 3600
    assert outbox.backoff_seconds(11, retry_after=86400) == 86400


def test_backoff_ignores_a_shorter_or_invalid_retry_after() -> None:
    rng = random.Random(3)
    assert 24 <= outbox.backoff_seconds(1, rng=rng, retry_after=1) <= 36
    assert 24 <= outbox.backoff_seconds(1, rng=rng, retry_after=float("nan")) <= 36


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        outbox.backoff_seconds(0)


# --------------------------------------------------------------------------- admin views


def test_list_messages_newest_first_with_filters(
    db_session: Session, org: Organization, admin: Actor, messages: Any
) -> None:
    made = messages(3)
    writeback.add_target(db_session, org_id=org.id, name="other", sink="journal", actor="t")
    extra = writeback.enqueue(db_session, org_id=org.id, kind="hours", subject="p1:e9", payload={})
    made[0].status = OutboxStatus.DEAD
    db_session.flush()
    assert [m.id for m in outbox.list_messages(db_session, admin)] == [
        *sorted((m.id for m in extra), reverse=True),
        made[2].id,
        made[1].id,
        made[0].id,
    ]
    assert [m.id for m in outbox.list_messages(db_session, admin, status="dead")] == [made[0].id]
    other = outbox.list_messages(db_session, admin, target="other")
    assert [m.target for m in other] == ["other"]
    assert len(outbox.list_messages(db_session, admin, limit=2)) == 2


def test_list_messages_refuses_an_unknown_status(db_session: Session, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="unknown outbox status 'lost'; choose from pending"):
        outbox.list_messages(db_session, admin, status="lost")


def test_list_messages_refuses_a_limit_out_of_range(db_session: Session, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="limit must be between 1 and 1000"):
        outbox.list_messages(db_session, admin, limit=0)


def test_list_messages_shows_nothing_of_another_org(
    db_session: Session, make_org: Any, messages: Any
) -> None:
    messages(2)
    other = make_org("other", "Other AG")
    assert outbox.list_messages(db_session, Actor.admin(other.id, "cli:x")) == []


@pytest.mark.parametrize("role", ["participant", "coordinator"])
def test_only_admins_see_or_change_the_outbox(
    db_session: Session, org: Organization, messages: Any, role: str
) -> None:
    (m,) = messages(1)
    m.status = OutboxStatus.DEAD
    db_session.flush()
    actor = getattr(Actor, role)(org.id, 1)
    for call in (
        lambda: outbox.list_messages(db_session, actor),
        lambda: outbox.get_message(db_session, actor, m.id),
        lambda: outbox.retry(db_session, actor, m.id, now=NOW),
        lambda: outbox.retry_dead(db_session, actor, now=NOW),
    ):
        with pytest.raises(PermissionDenied, match="only an organization admin"):
            call()
    assert snapshot(db_session, m)[0] is OutboxStatus.DEAD


def test_get_message_of_another_org_is_not_found(
    db_session: Session, make_org: Any, messages: Any
) -> None:
    (m,) = messages(1)
    other = make_org("other", "Other AG")
    with pytest.raises(NotFound, match=f"outbox message {m.id} not found"):
        outbox.get_message(db_session, Actor.admin(other.id, "cli:x"), m.id)


def test_retry_sends_a_dead_message_again_and_is_audited(
    db_session: Session, org: Organization, admin: Actor, messages: Any
) -> None:
    (m,) = messages(1)
    m.status, m.attempts, m.last_error = OutboxStatus.DEAD, 8, "ConnectorAuthError: 401"
    db_session.flush()
    later = NOW + timedelta(days=1)
    got = outbox.retry(db_session, admin, m.id, now=later)
    assert (got.status, got.attempts, got.next_attempt_at) == (OutboxStatus.PENDING, 0, later)
    assert got.last_error == "ConnectorAuthError: 401"
    (event,) = audit.list_events(db_session, org_id=org.id, action="outbox.retried")
    assert (event.actor, event.object_type, event.object_id) == (
        "cli:test",
        "outbox_message",
        str(m.id),
    )
    assert event.details == {
        "from_status": "dead",
        "attempts": 8,
        "kind": "completion",
        "target": "rec",
    }
    assert [g.id for g in claim(db_session, now=later)] == [m.id]


def test_retry_makes_a_waiting_message_due_now(
    db_session: Session, admin: Actor, messages: Any
) -> None:
    (m,) = messages(1)
    m.attempts, m.next_attempt_at = 3, NOW + timedelta(hours=2)
    db_session.flush()
    got = outbox.retry(db_session, admin, m.id, now=NOW)
    assert (got.status, got.attempts, got.next_attempt_at) == (OutboxStatus.PENDING, 0, NOW)


@pytest.mark.parametrize(
    ("status", "match"),
    [
        (OutboxStatus.DELIVERED, "was already delivered"),
        (OutboxStatus.DELIVERING, "is being delivered by worker w1"),
    ],
)
def test_retry_refuses_delivered_and_delivering_messages(
    db_session: Session, org: Organization, admin: Actor, messages: Any, status: Any, match: str
) -> None:
    (m,) = messages(1)
    claim(db_session)
    if status is OutboxStatus.DELIVERED:
        outbox.record_success(db_session, m.id, worker_id="w1", attempt=1, now=NOW)
    before = snapshot(db_session, m)
    with pytest.raises(ConflictError, match=match):
        outbox.retry(db_session, admin, m.id, now=NOW)
    assert snapshot(db_session, m) == before
    assert audit.list_events(db_session, org_id=org.id, action="outbox.retried") == []


def test_retry_dead_retries_every_dead_message_of_a_target(
    db_session: Session, org: Organization, admin: Actor, messages: Any
) -> None:
    made = messages(3)
    for m in made[:2]:
        m.status = OutboxStatus.DEAD
    db_session.flush()
    assert outbox.retry_dead(db_session, admin, target="elsewhere", now=NOW) == []
    assert outbox.retry_dead(db_session, admin, target="rec", now=NOW) == [made[0].id, made[1].id]
    assert {snapshot(db_session, m)[0] for m in made} == {OutboxStatus.PENDING}
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "outbox.retried")
    ).all()
    assert len(events) == 2


def test_counts_by_status_include_zeros(
    db_session: Session, org: Organization, messages: Any
) -> None:
    made = messages(3)
    made[0].status = OutboxStatus.DEAD
    db_session.flush()
    assert outbox.counts(db_session, org_id=org.id) == {
        "pending": 2,
        "delivering": 0,
        "delivered": 0,
        "dead": 1,
    }
    assert outbox.counts(db_session, org_id=org.id, target="none")["pending"] == 0

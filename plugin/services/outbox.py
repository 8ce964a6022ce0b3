"""Delivering the write-back outbox: claims, leases, fencing, backoff and dead letters.

Messages are written by :func:`plugin.services.writeback.enqueue` in the transaction of
the event that caused them. A worker (:mod:`plugin.worker`) then moves each one through::

    pending ──claim──▶ delivering ──record_success──▶ delivered
       ▲                   │
       └─record_failure────┤ (retriable, attempts left: back to pending with backoff)
                           └─record_failure──▶ dead (permanent error or last attempt)
    dead/pending ──retry (admin)──▶ pending, attempts 0

**Claims.** :func:`claim` takes due messages — ``pending`` whose ``next_attempt_at`` has
come, or ``delivering`` whose claim is older than the lease (the worker that claimed them
crashed or hung). On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so
concurrent workers on any number of hosts take disjoint rows without waiting. On every
database each row is then taken with a conditional ``UPDATE … WHERE id = ? AND attempts = ?
AND <still due>`` whose row count says whether this worker won it, so two workers never
both claim a message even where there is no row locking (SQLite).

**Fencing.** Each claim increments ``attempts``; ``(claimed_by, attempts)`` identifies it.
:func:`record_success`, :func:`record_failure` and :func:`release` only apply while the row
is still ``delivering`` under that claim: a worker whose lease expired and whose message
was re-claimed by another cannot overwrite the newer claim's outcome. Delivery is
therefore *at least once*; sinks deduplicate on the message's idempotency key
(:mod:`plugin.ports`), which makes the effect *exactly once*.

**Retries.** Retriable failures wait :func:`backoff_seconds` — 30 s doubling per attempt,
capped at 6 h, ±20 % jitter so a fleet of workers does not retry in lockstep, and at least
the ``retry_after`` the target asked for. Permanent failures
(:func:`is_permanent`) and the last attempt dead-letter the message with its error
(redacted: class name and message, no URLs' secrets, at most 2,000 characters).

The admin views (:func:`list_messages`, :func:`get_message`, :func:`retry`,
:func:`retry_dead`) are for organization admins: payloads carry personal data. A program's
coordinators see and retry the messages of that program only
(:func:`list_program_messages`, :func:`get_message`, :func:`retry`); a message belongs to
the program it was enqueued for (``OutboxMessage.program_id``, set by
:func:`plugin.services.writeback.enqueue`; messages older than the column got it from their
payloads in migration 0008).
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from plugin.access import Actor, ActorRole, is_coordinator, require_coordinator
from plugin.db import utcnow
from plugin.errors import (
    N_,
    ConflictError,
    ConnectorAuthError,
    ConnectorDataError,
    NotFound,
    PermissionDenied,
    ValidationError,
    words,
)
from plugin.models import OutboxMessage, OutboxStatus, Program
from plugin.ports import OutboundMessage, SinkConfigError
from plugin.services import audit

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "BACKOFF_JITTER",
    "DEFAULT_LEASE_SECONDS",
    "MAX_ERROR_CHARS",
    "STALE",
    "backoff_seconds",
    "claim",
    "counts",
    "get_message",
    "is_permanent",
    "list_messages",
    "list_program_messages",
    "outbound",
    "record_failure",
    "record_success",
    "redact_error",
    "release",
    "retry",
    "retry_dead",
]

#: First retry waits about this long (seconds); each further attempt doubles it.
BACKOFF_BASE_SECONDS = 30.0
#: No retry waits longer than this (6 hours), unless the target asked for longer.
BACKOFF_CAP_SECONDS = 6 * 3600.0
#: Each wait is scattered by ± this fraction.
BACKOFF_JITTER = 0.2
#: A claim older than this (seconds) is presumed lost and may be taken by another worker.
DEFAULT_LEASE_SECONDS = 300
#: ``last_error`` keeps at most this many characters.
MAX_ERROR_CHARS = 2000
#: What :func:`record_failure` returns when the claim was no longer this worker's.
STALE = "stale"

_MAX_LIST = 1000
_CLAIM_ROUNDS = 3
_WORKER_ID_CHARS = 200
_SYSTEM_RANDOM = random.SystemRandom()

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@]+@")
_URL_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(access_token|refresh_token|id_token|token|wstoken|client_secret|secret|"
    r"password|passwd|pwd|api[_-]?key|apikey|authorization|cookie)\b"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{6,}")


# --------------------------------------------------------------------------- errors


def backoff_seconds(
    attempt: int, *, rng: random.Random | None = None, retry_after: float | None = None
) -> float:
    """How long to wait before the next attempt, after ``attempt`` failed.

    ``min(30 s × 2**(attempt − 1), 6 h)``, scattered by ±20 %, and never less than a
    positive ``retry_after``.

    Args:
        attempt: The number of the attempt that just failed (1 for the first).
        rng: Source of the jitter (a seeded :class:`random.Random` in tests).
        retry_after: Seconds the target asked us to wait (``Retry-After``), if it did.

    Returns:
        Seconds to wait.

    Raises:
        ValueError: ``attempt`` is less than 1.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # The exponent is bounded so a corrupt attempt count cannot build a huge integer.
    base = min(BACKOFF_BASE_SECONDS * 2.0 ** min(attempt - 1, 32), BACKOFF_CAP_SECONDS)
    delay = base * (rng or _SYSTEM_RANDOM).uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
    if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
        delay = float(retry_after)
    return delay


def is_permanent(error: BaseException) -> bool:
    """Whether retrying cannot help: refused credentials or content, or a broken target.

    Everything else — :class:`~plugin.errors.ConnectorUnavailable` and unexpected
    exceptions (a bug in a sink) — is retried until the last attempt.
    """
    return isinstance(error, ConnectorAuthError | ConnectorDataError | SinkConfigError)


def redact_error(error: BaseException) -> str:
    """``ClassName: message`` without credentials, query strings or tokens, ≤ 2,000 chars.

    Sinks are asked to raise errors that carry no secrets; this is the second line of
    defence before an error is stored in ``last_error`` or logged.
    """
    text = str(error)
    text = _URL_USERINFO.sub(r"\1***@", text)
    text = _URL_QUERY.sub(r"\1?***", text)
    text = _AUTH_SCHEME.sub(r"\1 ***", text)
    text = _SECRET_ASSIGNMENT.sub(r"\1\2***", text)
    out = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if len(out) > MAX_ERROR_CHARS:
        out = out[: MAX_ERROR_CHARS - 1] + "…"
    return out


# --------------------------------------------------------------------------- claims


def _now(now: datetime | None) -> datetime:
    return utcnow() if now is None else now


def _due(now: datetime, lease_seconds: float) -> ColumnElement[bool]:
    cutoff = now - timedelta(seconds=lease_seconds)
    return or_(
        and_(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        ),
        and_(
            OutboxMessage.status == OutboxStatus.DELIVERING,
            or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < cutoff),
        ),
    )


def _fence(message_id: int, worker_id: str, attempt: int) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.id == message_id,
        OutboxMessage.status == OutboxStatus.DELIVERING,
        OutboxMessage.claimed_by == worker_id,
        OutboxMessage.attempts == attempt,
    )


def _expire(session: Session, ids: Sequence[int]) -> None:
    """Forget in-session copies of rows changed by a Core UPDATE."""
    wanted = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, OutboxMessage) and obj.id in wanted:
            session.expire(obj)


def _update(session: Session, where: ColumnElement[bool], values: dict[str, Any]) -> int:
    result = session.execute(
        update(OutboxMessage).where(where).values(**values),
        execution_options={"synchronize_session": False},
    )
    return int(cast("CursorResult[Any]", result).rowcount)


def _check_worker(worker_id: str) -> None:
    if not isinstance(worker_id, str) or not worker_id or len(worker_id) > _WORKER_ID_CHARS:
        raise ValidationError(
            N_("worker id must be 1–%(max)s characters"), field="worker_id", max=_WORKER_ID_CHARS
        )


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    now: datetime | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for ``worker_id``; commit right after.

    Due: ``pending`` with ``next_attempt_at <= now``, or ``delivering`` with a claim older
    than ``lease_seconds`` (a lost worker). Oldest first. Each claimed row becomes
    ``delivering``, ``claimed_by=worker_id``, ``claimed_at=now``, ``attempts + 1``. A lost
    claim that already was the last attempt is dead-lettered instead of claimed (a message
    that kills its worker must not be retried forever).

    Args:
        session: A short transaction of the worker's own; commit it before delivering so
            other workers see the claims and no locks are held during delivery.
        worker_id: Who claims (``host:pid:random``); fences the outcome.
        limit: At most this many messages.
        now: The time of the claim (default: now).
        lease_seconds: How old another worker's claim must be to be taken over.

    Returns:
        The claimed messages, oldest first; their ``attempts`` is this claim's number.

    Raises:
        ValidationError: Bad worker id, limit or lease.
    """
    _check_worker(worker_id)
    if limit < 1:
        raise ValidationError(N_("limit must be at least 1"), field="limit")
    if lease_seconds <= 0:
        raise ValidationError(N_("the lease must be longer than 0 seconds"), field="lease_seconds")
    now = _now(now)
    due = _due(now, lease_seconds)
    claimed: list[int] = []
    seen: list[int] = []
    # Without row locks (SQLite) another worker may win some candidates between our read
    # and our update; read again (a few times) so a batch is not cut short by a race.
    for _round in range(_CLAIM_ROUNDS):
        candidates = session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.max_attempts,
            )
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit - len(claimed))
            # PostgreSQL: concurrent workers skip each other's rows instead of waiting.
            # SQLite ignores the clause; the conditional UPDATE below decides there.
            .with_for_update(skip_locked=True)
        ).all()
        lost = 0
        for message_id, status, attempts, max_attempts in candidates:
            seen.append(message_id)
            still_due = and_(
                OutboxMessage.id == message_id, OutboxMessage.attempts == attempts, due
            )
            if status is OutboxStatus.DELIVERING and attempts >= max_attempts:
                _update(
                    session,
                    still_due,
                    {
                        "status": OutboxStatus.DEAD,
                        "last_error": (
                            f"LeaseExpired: the worker delivering attempt {attempts} of "
                            f"{max_attempts} stopped without reporting a result; retry the "
                            "message once the cause is fixed"
                        ),
                    },
                )
                continue
            taken = _update(
                session,
                still_due,
                {
                    "status": OutboxStatus.DELIVERING,
                    "claimed_by": worker_id,
                    "claimed_at": now,
                    "attempts": OutboxMessage.attempts + 1,
                },
            )
            if taken == 1:
                claimed.append(message_id)
            else:
                lost += 1
        if not lost or len(claimed) >= limit:
            break
    _expire(session, seen)
    if not claimed:
        session.flush()
        return []
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(claimed))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .execution_options(populate_existing=True)
    ).all()
    return list(rows)


def outbound(message: OutboxMessage) -> OutboundMessage:
    """A detached copy of a claimed message for a sink (safe to use after commit)."""
    return OutboundMessage(
        id=message.id,
        org_id=message.org_id,
        kind=message.kind,
        target=message.target,
        idempotency_key=message.idempotency_key,
        payload=copy.deepcopy(dict(message.payload or {})),
        attempt=message.attempts,
    )


def record_success(
    session: Session,
    message_id: int,
    *,
    worker_id: str,
    attempt: int,
    now: datetime | None = None,
) -> bool:
    """Mark a message delivered, if it is still this worker's claim ``attempt``.

    Returns:
        ``False`` when the claim was lost (its lease expired and another worker took the
        message over); the row is then left to that worker. The target has the message
        either way, and the other worker's delivery is deduplicated by its key.
    """
    now = _now(now)
    changed = _update(
        session,
        _fence(message_id, worker_id, attempt),
        {"status": OutboxStatus.DELIVERED, "delivered_at": now},
    )
    _expire(session, [message_id])
    return changed == 1


def record_failure(
    session: Session,
    message_id: int,
    *,
    worker_id: str,
    attempt: int,
    error: BaseException,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Record a failed delivery attempt, if it is still this worker's claim ``attempt``.

    A permanent error (:func:`is_permanent`) or the last attempt (``attempts >=
    max_attempts``) dead-letters the message; otherwise it goes back to ``pending`` after
    :func:`backoff_seconds`. Either way ``last_error`` keeps the redacted error.

    Args:
        session: A short transaction of the worker's own.
        message_id: The message.
        worker_id: Who claimed it.
        attempt: The claim's attempt number.
        error: What the sink raised.
        now: The time of the failure (default: now).
        rng: Source of the backoff jitter.

    Returns:
        ``"pending"`` (will be retried), ``"dead"``, or :data:`STALE` when the claim was no
        longer this worker's (nothing was changed).
    """
    now = _now(now)
    fence = _fence(message_id, worker_id, attempt)
    max_attempts = session.scalar(select(OutboxMessage.max_attempts).where(fence))
    if max_attempts is None:
        return STALE
    values: dict[str, Any] = {"last_error": redact_error(error)}
    if is_permanent(error) or attempt >= max_attempts:
        values["status"] = OutboxStatus.DEAD
    else:
        retry_after = getattr(error, "retry_after", None)
        wait = backoff_seconds(
            attempt,
            rng=rng,
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )
        values["status"] = OutboxStatus.PENDING
        values["next_attempt_at"] = now + timedelta(seconds=wait)
    changed = _update(session, fence, values)
    _expire(session, [message_id])
    if changed != 1:
        return STALE
    status: OutboxStatus = values["status"]
    return status.value


def release(
    session: Session,
    message_id: int,
    *,
    worker_id: str,
    attempt: int,
) -> bool:
    """Give back a claimed message that was not delivered (the worker is stopping).

    The message is ``pending`` and due again at once, and the unused attempt is not
    counted. Fenced like :func:`record_success`.

    Returns:
        Whether the claim was still this worker's.
    """
    changed = _update(
        session,
        _fence(message_id, worker_id, attempt),
        {"status": OutboxStatus.PENDING, "attempts": OutboxMessage.attempts - 1},
    )
    _expire(session, [message_id])
    return changed == 1


# --------------------------------------------------------------------------- admin


def _require_admin(actor: Actor) -> None:
    if actor.role is not ActorRole.ADMIN:
        raise PermissionDenied(
            N_(
                "only an organization admin may see or change the write-back outbox "
                "(its messages carry personal data)"
            ),
            field="actor",
        )


def _status(value: str | OutboxStatus) -> OutboxStatus:
    try:
        return OutboxStatus(value)
    except ValueError:
        raise ValidationError(
            N_("unknown outbox status %(status)s; choose from %(choices)s"),
            field="status",
            status=repr(value),
            choices=words(OutboxStatus),
        ) from None


def get_message(session: Session, actor: Actor, message_id: int) -> OutboxMessage:
    """One message of the actor's organization, payload included.

    Args:
        session: The unit of work.
        actor: An admin of the organization, or a coordinator of the program the message
            is about (``program_id``).
        message_id: The message.

    Raises:
        PermissionDenied: The actor is neither an admin nor a coordinator of the
            message's program.
        NotFound: No such message in the actor's organization.
    """
    if actor.role is not ActorRole.COORDINATOR:
        _require_admin(actor)
    message = session.get(OutboxMessage, message_id)
    if message is None or message.org_id != actor.org_id:
        raise NotFound(
            N_("outbox message %(message_id)s not found"), field="message", message_id=message_id
        )
    if actor.role is not ActorRole.ADMIN:
        program_id = message.program_id
        if program_id is None or not is_coordinator(session, actor, program_id):
            raise PermissionDenied(
                N_(
                    "only an organization admin or a coordinator of its program may see or "
                    "retry outbox message %(message_id)s"
                ),
                field="message",
                message_id=message_id,
            )
    return message


def list_messages(
    session: Session,
    actor: Actor,
    *,
    status: str | OutboxStatus | None = None,
    target: str | None = None,
    limit: int = 100,
) -> Sequence[OutboxMessage]:
    """The organization's messages, newest first (admins only).

    Args:
        session: The unit of work.
        actor: An admin of the organization.
        status: Only messages in this status (``pending``, ``delivering``, ``delivered``,
            ``dead``).
        target: Only messages to the target of this name.
        limit: At most this many (1–1000).

    Raises:
        PermissionDenied: The actor is not an admin.
        ValidationError: Unknown status or a limit out of range.
    """
    _require_admin(actor)
    if not 1 <= limit <= _MAX_LIST:
        raise ValidationError(
            N_("limit must be between 1 and %(max)s"), field="limit", max=_MAX_LIST
        )
    stmt = select(OutboxMessage).where(OutboxMessage.org_id == actor.org_id)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == _status(status))
    if target is not None:
        stmt = stmt.where(OutboxMessage.target == target)
    return session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit)).all()


def list_program_messages(
    session: Session,
    actor: Actor,
    *,
    program_id: int,
    status: str | OutboxStatus | None = None,
    limit: int = _MAX_LIST,
) -> Sequence[OutboxMessage]:
    """The messages about one program (``OutboxMessage.program_id``), newest first.

    Args:
        session: The unit of work.
        actor: A coordinator of the program or an organization admin.
        program_id: The program.
        status: Only messages in this status (``pending``, ``delivering``, ``delivered``,
            ``dead``).
        limit: At most this many (1–1000).

    Raises:
        NotFound: No such program in the actor's organization.
        PermissionDenied: The actor does not coordinate the program.
        ValidationError: Unknown status or a limit out of range.
    """
    program = session.get(Program, program_id)
    if program is None or program.org_id != actor.org_id:
        raise NotFound(
            N_("program %(program)s not found in this organization"),
            field="program",
            program=program_id,
        )
    require_coordinator(session, actor, program.id)
    if isinstance(limit, bool) or not 1 <= limit <= _MAX_LIST:
        raise ValidationError(
            N_("limit must be between 1 and %(max)s"), field="limit", max=_MAX_LIST
        )
    # Served by ix_outbox_messages_program_id_status_id (org_id is implied by the program
    # and kept as a guard).
    stmt = select(OutboxMessage).where(
        OutboxMessage.program_id == program.id, OutboxMessage.org_id == program.org_id
    )
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == _status(status))
    return session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit)).all()


def counts(session: Session, *, org_id: int, target: str | None = None) -> dict[str, int]:
    """How many messages the organization has in each status (every status, zeros too)."""
    stmt = (
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.org_id == org_id)
        .group_by(OutboxMessage.status)
    )
    if target is not None:
        stmt = stmt.where(OutboxMessage.target == target)
    out = {s.value: 0 for s in OutboxStatus}
    for status, n in session.execute(stmt):
        out[OutboxStatus(status).value] = int(n)
    return out


def retry(
    session: Session, actor: Actor, message_id: int, *, now: datetime | None = None
) -> OutboxMessage:
    """Send a dead (or waiting) message again now, with a fresh set of attempts (audited).

    ``last_error`` is kept so the history stays visible until the next attempt.

    Args:
        session: The unit of work.
        actor: An admin of the organization, or a coordinator of the program the message
            is about (``program_id``).
        message_id: The message.
        now: The current time; :func:`plugin.db.utcnow` by default.

    Raises:
        PermissionDenied: The actor is neither an admin nor a coordinator of the
            message's program.
        NotFound: No such message in the actor's organization.
        ConflictError: The message was already delivered, or a worker is delivering it.
    """
    now = _now(now)
    message = get_message(session, actor, message_id)
    if message.status is OutboxStatus.DELIVERED:
        if message.delivered_at is None:
            raise ConflictError(
                N_(
                    "outbox message %(message_id)s was already delivered (an earlier run); "
                    "only pending or dead messages can be retried"
                ),
                field="message",
                message_id=message_id,
            )
        raise ConflictError(
            N_(
                "outbox message %(message_id)s was already delivered (%(when)s); only pending "
                "or dead messages can be retried"
            ),
            field="message",
            message_id=message_id,
            when=message.delivered_at.isoformat(),
        )
    if message.status is OutboxStatus.DELIVERING:
        if message.claimed_at is None:
            raise ConflictError(
                N_(
                    "outbox message %(message_id)s is being delivered by worker %(worker)s "
                    "(claimed an unknown time); wait for that attempt to finish or its lease "
                    "to expire"
                ),
                field="message",
                message_id=message_id,
                worker=message.claimed_by,
            )
        raise ConflictError(
            N_(
                "outbox message %(message_id)s is being delivered by worker %(worker)s "
                "(claimed %(since)s); wait for that attempt to finish or its lease to expire"
            ),
            field="message",
            message_id=message_id,
            worker=message.claimed_by,
            since=message.claimed_at.isoformat(),
        )
    previous, attempts = message.status, message.attempts
    changed = _update(
        session,
        and_(
            OutboxMessage.id == message.id,
            OutboxMessage.status == previous,
            OutboxMessage.attempts == attempts,
        ),
        {"status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now},
    )
    _expire(session, [message.id])
    if changed != 1:
        raise ConflictError(
            N_(
                "outbox message %(message_id)s changed while it was being retried (a worker "
                "claimed it); look at it again"
            ),
            field="message",
            message_id=message_id,
        )
    audit.record(
        session,
        org_id=message.org_id,
        actor=actor.label,
        action="outbox.retried",
        object_type="outbox_message",
        object_id=message.id,
        details={
            "from_status": previous.value,
            "attempts": attempts,
            "kind": message.kind,
            "target": message.target,
        },
    )
    session.refresh(message)
    return message


def retry_dead(
    session: Session,
    actor: Actor,
    *,
    target: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Retry every dead message of the organization (of one target), each audited.

    Returns:
        The ids of the messages sent again, oldest first.

    Raises:
        PermissionDenied: The actor is not an admin.
    """
    _require_admin(actor)
    now = _now(now)
    stmt = select(OutboxMessage.id).where(
        OutboxMessage.org_id == actor.org_id, OutboxMessage.status == OutboxStatus.DEAD
    )
    if target is not None:
        stmt = stmt.where(OutboxMessage.target == target)
    ids = list(session.scalars(stmt.order_by(OutboxMessage.id)))
    for message_id in ids:
        retry(session, actor, message_id, now=now)
    return ids

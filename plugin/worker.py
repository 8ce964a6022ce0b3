"""The outbox worker: claims due write-back messages and delivers them through sinks.

One batch (:meth:`Worker.run_once`) is three kinds of short steps, so no database lock or
transaction is ever held while a target system is called:

1. **claim** up to ``batch`` due messages in one transaction and commit
   (:func:`plugin.services.outbox.claim`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
   conditional update everywhere);
2. **deliver** each message through the sink of its target, outside any transaction — a
   sink that takes several at once (:class:`~plugin.ports.BatchSink`, e.g. SuccessFactors
   Learning's ten events per call) gets the target's messages in chunks of its
   ``max_batch``, and each message's own outcome is recorded;
3. **record** each outcome in a transaction of its own, fenced by the claim
   (:func:`~plugin.services.outbox.record_success` /
   :func:`~plugin.services.outbox.record_failure`).

A worker killed at any point loses nothing: its claims expire after ``lease_seconds`` and
another worker takes them over; a message the target already accepted is delivered again
and deduplicated by the sink on its idempotency key. Run as many workers on as many hosts
as needed. :meth:`Worker.run_forever` loops until a stop event is set, finishing the message
in hand and giving back claimed messages it has not started.

Logs name messages by id, kind and target; payloads (personal data) are never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.models import WritebackTarget
from plugin.ports import (
    BatchSink,
    OutboundMessage,
    Sink,
    SinkConfigError,
    SinkRegistry,
    TargetConfig,
)
from plugin.services import outbox

__all__ = ["Worker", "WorkerStats", "default_worker_id"]

log = logging.getLogger(__name__)

#: ``housekeeping(session, now) -> items handled``; committed by the worker.
Housekeeping = Callable[[Session, datetime], int]
#: ``progress(stage, done, total)``, as the CLI's progress indicator takes it.
ProgressFn = Callable[[str, int, int], None]


def default_worker_id() -> str:
    """``host:pid:random`` — unique across hosts, processes and restarts."""
    host = socket.gethostname()[:150] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What one batch (or a whole run) did.

    Attributes:
        claimed: Messages claimed.
        delivered: Delivered and recorded.
        retried: Failed, to be retried after a backoff.
        dead: Failed permanently or on the last attempt (dead-lettered).
        released: Claimed but given back undelivered because the worker was stopping.
        stale: Outcome not recorded: the claim had expired and another worker had taken
            the message over, or the database could not be reached to record it.
    """

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    stale: int = 0

    def __add__(self, other: WorkerStats) -> WorkerStats:
        """Sum two stats."""
        return WorkerStats(
            self.claimed + other.claimed,
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.dead + other.dead,
            self.released + other.released,
            self.stale + other.stale,
        )

    def summary(self) -> str:
        """``claimed 20 · delivered 18 · retried 1 · dead 1`` (+ released/stale if any)."""
        parts = [
            f"claimed {self.claimed}",
            f"delivered {self.delivered}",
            f"retried {self.retried}",
            f"dead {self.dead}",
        ]
        if self.released:
            parts.append(f"released {self.released}")
        if self.stale:
            parts.append(f"stale {self.stale}")
        return " · ".join(parts)


#: A target's sink configuration, or why its messages cannot be delivered.
_Target = TargetConfig | SinkConfigError


class Worker:
    """Delivers the outbox through the registered sinks (see the module docstring)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        sinks: SinkRegistry,
        *,
        worker_id: str | None = None,
        batch: int = 20,
        lease_seconds: float = outbox.DEFAULT_LEASE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        housekeeping: Housekeeping | None = None,
        housekeeping_interval: float = 300.0,
        progress: ProgressFn | None = None,
        on_batch: Callable[[WorkerStats], None] | None = None,
    ) -> None:
        """Configure a worker; nothing runs until :meth:`run_once` or :meth:`run_forever`.

        Args:
            session_factory: Opens a new database session (one per short transaction).
            sinks: Registered sink factories by name.
            worker_id: Fences this worker's claims; default :func:`default_worker_id`.
            batch: Messages claimed per transaction.
            lease_seconds: How long a claim is honoured before another worker may take the
                message over; longer than the slowest delivery.
            clock: The time (injected by simulations and tests); aware UTC.
            housekeeping: A periodic job run in its own committed transaction before a
                claim (e.g. the alerts scan), at most every ``housekeeping_interval``
                seconds of ``clock`` time. Its failures are logged, never fatal.
            housekeeping_interval: Seconds between housekeeping runs.
            progress: Called as ``progress("deliver", done, total)`` after each message.
            on_batch: Called with the stats of each batch that claimed something.

        Raises:
            ValueError: ``batch`` or ``lease_seconds`` is not positive.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.session_factory = session_factory
        self.sinks = sinks
        self.worker_id = worker_id or default_worker_id()
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.housekeeping = housekeeping
        self.housekeeping_interval = housekeeping_interval
        self.progress = progress
        self.on_batch = on_batch
        self._last_housekeeping: datetime | None = None

    # ------------------------------------------------------------------ loop

    def run_once(self, stop: threading.Event | None = None) -> WorkerStats:
        """Claim one batch of due messages, deliver them, record each outcome.

        Args:
            stop: When set during the batch, the message in hand is finished and the
                remaining claimed messages are given back (``pending``, due at once).

        Returns:
            What the batch did; ``claimed == 0`` when nothing was due.
        """
        self._maybe_housekeeping()
        messages, targets = self._claim()
        stats = WorkerStats(claimed=len(messages))
        sinks: dict[tuple[int, str], Sink | BaseException] = {}
        pending = list(messages)
        done = 0
        while pending:
            if stop is not None and stop.is_set():
                stats += self._release(pending)
                break
            chunk = self._next_chunk(pending, targets, sinks)
            chunk_ids = {m.id for m in chunk}
            pending = [m for m in pending if m.id not in chunk_ids]
            for message, error in zip(chunk, self._attempt(chunk, targets, sinks), strict=True):
                stats += self._record(message, error)
                done += 1
                if self.progress is not None:
                    self.progress("deliver", done, len(messages))
        if messages and self.on_batch is not None:
            self.on_batch(stats)
        return stats

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 5.0) -> WorkerStats:
        """Deliver until ``stop`` is set; sleep ``poll_seconds`` only when nothing is due.

        Database outages and other unexpected errors are logged and retried after a poll
        interval; the loop only ends when ``stop`` is set.

        Returns:
            The totals of the run.
        """
        total = WorkerStats()
        log.info("outbox worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                stats = self.run_once(stop)
            except Exception:
                log.exception("outbox worker %s: batch failed; retrying", self.worker_id)
                stop.wait(poll_seconds)
                continue
            total += stats
            if stats.claimed < self.batch:
                stop.wait(poll_seconds)
        log.info("outbox worker %s stopped: %s", self.worker_id, total.summary())
        return total

    # ------------------------------------------------------------------ steps

    def _maybe_housekeeping(self) -> None:
        if self.housekeeping is None:
            return
        now = self.clock()
        last = self._last_housekeeping
        if last is not None and (now - last).total_seconds() < self.housekeeping_interval:
            return
        self._last_housekeeping = now
        with self.session_factory() as session:
            try:
                handled = self.housekeeping(session, now)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("outbox worker %s: housekeeping failed", self.worker_id)
                return
        log.info("outbox worker %s: housekeeping handled %d item(s)", self.worker_id, handled)

    def _claim(self) -> tuple[list[OutboundMessage], dict[tuple[int, str], _Target]]:
        now = self.clock()
        with self.session_factory() as session:
            rows = outbox.claim(
                session,
                worker_id=self.worker_id,
                limit=self.batch,
                now=now,
                lease_seconds=self.lease_seconds,
            )
            messages = [outbox.outbound(row) for row in rows]
            targets = self._targets(session, messages)
            session.commit()
        return messages, targets

    def _targets(
        self, session: Session, messages: list[OutboundMessage]
    ) -> dict[tuple[int, str], _Target]:
        out: dict[tuple[int, str], _Target] = {}
        for key in sorted({(m.org_id, m.target) for m in messages}):
            org_id, name = key
            row = session.scalars(
                select(WritebackTarget).where(
                    WritebackTarget.org_id == org_id, WritebackTarget.name == name
                )
            ).first()
            if row is None:
                out[key] = SinkConfigError(
                    f"write-back target {name!r} does not exist (any more) in organization "
                    f"{org_id}; add it (tandem targets add) and retry the message",
                    field="target",
                )
            elif not row.active:
                out[key] = SinkConfigError(
                    f"write-back target {name!r} is paused; resume it "
                    "(tandem targets resume) and retry the message",
                    field="target",
                )
            elif row.sink not in self.sinks:
                registered = ", ".join(sorted(self.sinks)) or "none"
                out[key] = SinkConfigError(
                    f"no sink {row.sink!r} is registered (registered: {registered}); "
                    "install/configure it and retry the message",
                    field="sink",
                )
            else:
                out[key] = TargetConfig(
                    org_id=org_id,
                    name=name,
                    sink=row.sink,
                    settings=dict(row.settings or {}),
                    connection_id=row.connection_id,
                )
        return out

    def _sink(
        self,
        message: OutboundMessage,
        targets: dict[tuple[int, str], _Target],
        cache: dict[tuple[int, str], Sink | BaseException],
    ) -> Sink:
        key = (message.org_id, message.target)
        if key not in cache:
            target = targets[key]
            if isinstance(target, SinkConfigError):
                cache[key] = target
            else:
                try:
                    cache[key] = self.sinks[target.sink](target)
                except Exception as exc:
                    cache[key] = exc
        found = cache[key]
        if isinstance(found, BaseException):
            raise found
        return found

    def _next_chunk(
        self,
        pending: list[OutboundMessage],
        targets: dict[tuple[int, str], _Target],
        sinks: dict[tuple[int, str], Sink | BaseException],
    ) -> list[OutboundMessage]:
        """The next message, with the same target's following ones if its sink batches."""
        first = pending[0]
        try:
            sink = self._sink(first, targets, sinks)
        except Exception:
            return [first]
        if not isinstance(sink, BatchSink):
            return [first]
        size = max(1, int(sink.max_batch))
        key = (first.org_id, first.target)
        return [m for m in pending if (m.org_id, m.target) == key][:size]

    def _attempt(
        self,
        chunk: list[OutboundMessage],
        targets: dict[tuple[int, str], _Target],
        sinks: dict[tuple[int, str], Sink | BaseException],
    ) -> list[Exception | None]:
        """Deliver one message (or one batch of a target); the outcome of each."""
        try:
            sink = self._sink(chunk[0], targets, sinks)
            if len(chunk) == 1 or not isinstance(sink, BatchSink):
                sink.deliver(chunk[0])
                return [None]
            outcomes = list(sink.deliver_batch(chunk))
        except Exception as exc:
            return [exc] * len(chunk)
        if len(outcomes) != len(chunk):
            bug = RuntimeError(
                f"sink {chunk[0].target!r} answered {len(outcomes)} outcomes for "
                f"{len(chunk)} messages"
            )
            return [bug] * len(chunk)
        return [
            o if o is None or isinstance(o, Exception) else RuntimeError(repr(o)[:200])
            for o in outcomes
        ]

    def _record(self, message: OutboundMessage, error: Exception | None) -> WorkerStats:
        now = self.clock()
        try:
            with self.session_factory() as session:
                if error is None:
                    ok = outbox.record_success(
                        session,
                        message.id,
                        worker_id=self.worker_id,
                        attempt=message.attempt,
                        now=now,
                    )
                    outcome = "delivered" if ok else outbox.STALE
                else:
                    outcome = outbox.record_failure(
                        session,
                        message.id,
                        worker_id=self.worker_id,
                        attempt=message.attempt,
                        error=error,
                        now=now,
                    )
                session.commit()
        except SQLAlchemyError:
            # The claim stays "delivering" and expires; another attempt is deduplicated.
            log.exception(
                "outbox message %d: could not record the outcome of attempt %d",
                message.id,
                message.attempt,
            )
            return WorkerStats(stale=1)
        self._log(message, outcome, error)
        if outcome == "delivered":
            return WorkerStats(delivered=1)
        if outcome == "pending":
            return WorkerStats(retried=1)
        if outcome == "dead":
            return WorkerStats(dead=1)
        return WorkerStats(stale=1)

    def _release(self, messages: list[OutboundMessage]) -> WorkerStats:
        released = 0
        with self.session_factory() as session:
            for message in messages:
                released += outbox.release(
                    session, message.id, worker_id=self.worker_id, attempt=message.attempt
                )
            session.commit()
        log.info("outbox worker %s: stopping; gave back %d message(s)", self.worker_id, released)
        return WorkerStats(released=released)

    def _log(self, message: OutboundMessage, outcome: str, error: Exception | None) -> None:
        what = (message.id, message.kind, message.target, message.attempt)
        if error is None and outcome == "delivered":
            log.info("outbox message %d (%s → %s) delivered on attempt %d", *what)
        elif error is None:
            log.warning(
                "outbox message %d (%s → %s) delivered on attempt %d, but the claim had "
                "expired and another worker owns it now",
                *what,
            )
        elif outcome == outbox.STALE:
            log.warning(
                "outbox message %d (%s → %s) attempt %d failed after its claim expired: %s",
                *what,
                outbox.redact_error(error),
            )
        else:
            level = logging.ERROR if outcome == "dead" else logging.WARNING
            log.log(
                level,
                "outbox message %d (%s → %s) attempt %d failed (%s): %s",
                *what,
                "dead-lettered" if outcome == "dead" else "will retry",
                outbox.redact_error(error),
            )

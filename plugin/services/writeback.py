"""Write-back targets and the outbox writer.

An organization configures **targets** (the LMS via LTI AGS, Moodle, SuccessFactors,
Workday, or the local journal). When something worth reporting happens — a completion,
hours, skill gains, progress toward a completion — :func:`enqueue` writes one
:class:`plugin.models.OutboxMessage` per active target that accepts that kind, *in the
caller's transaction*: the message exists if and only if the event does. Each message
has an idempotency key; enqueueing the same event again returns the existing message and
writes nothing.

``progress`` (held sessions so far, for a gradebook's "in progress") is accepted only by
targets that ask for it by name (``kinds=["completion", "progress"]``, as the LTI AGS
target of each platform registration does): a target created without ``kinds`` receives
:data:`MESSAGE_KINDS`, which leaves it out.

Delivery is the worker's job (:mod:`plugin.services.outbox`, :mod:`plugin.worker`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.errors import N_, ConflictError, NotFound, ValidationError, words
from plugin.models import OutboxMessage, WritebackTarget
from plugin.services import audit

__all__ = [
    "ACCEPTED_KINDS",
    "MESSAGE_KINDS",
    "PROGRESS",
    "add_target",
    "enqueue",
    "get_target",
    "idempotency_key",
    "list_targets",
    "set_target_active",
]

#: What Tandem writes back: a completion, the hours spent, and the skill gains. Also the
#: kinds a target receives when it is created without ``kinds``.
MESSAGE_KINDS = ("completion", "hours", "skill_gain")
#: Progress toward a completion (held sessions so far); only for targets that name it.
PROGRESS = "progress"
#: Every kind a target may accept.
ACCEPTED_KINDS = (*MESSAGE_KINDS, PROGRESS)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")
_SINK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _kinds(kinds: Sequence[str] | None) -> list[str]:
    if kinds is None:
        return list(MESSAGE_KINDS)
    out: list[str] = []
    for kind in kinds:
        if kind not in ACCEPTED_KINDS:
            raise ValidationError(
                N_("unknown message kind %(kind)s; choose from %(choices)s"),
                field="kinds",
                kind=repr(kind),
                choices=words(ACCEPTED_KINDS),
            )
        if kind not in out:
            out.append(kind)
    if not out:
        raise ValidationError(N_("a target must accept at least one message kind"), field="kinds")
    return out


def add_target(
    session: Session,
    *,
    org_id: int,
    name: str,
    sink: str,
    kinds: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    connection_id: int | None = None,
    actor: str,
) -> WritebackTarget:
    """Configure a write-back target for an organization (audited).

    Args:
        session: The unit of work.
        org_id: The organization.
        name: Unique per organization: lower-case letters, digits, ``_ . -``.
        sink: The registered sink that delivers to it (checked by the caller's registry).
        kinds: Message kinds it receives (any of :data:`ACCEPTED_KINDS`);
            :data:`MESSAGE_KINDS` by default (``progress`` only when named).
        settings: Sink settings (no secrets: those live encrypted on the connection).
        connection_id: The HRIS/LMS connection it writes through, if any.
        actor: Who configures it, for the audit log.

    Raises:
        ValidationError: Bad name, sink or kinds.
        ConflictError: A target of that name exists.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            N_("target name: 1–120 lower-case letters, digits, '_', '.', '-'"), field="name"
        )
    if not isinstance(sink, str) or not _SINK.match(sink):
        raise ValidationError(N_("sink must be a registered sink name"), field="sink")
    exists = session.scalars(
        select(WritebackTarget.id).where(
            WritebackTarget.org_id == org_id, WritebackTarget.name == name
        )
    ).first()
    if exists is not None:
        raise ConflictError(
            N_("a target named %(target)s already exists"), field="name", target=repr(name)
        )
    target = WritebackTarget(
        org_id=org_id,
        name=name,
        sink=sink,
        kinds=_kinds(kinds),
        settings=dict(settings or {}),
        connection_id=connection_id,
        active=True,
    )
    session.add(target)
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="target.added",
        object_type="writeback_target",
        object_id=target.id,
        details={"name": name, "sink": sink, "kinds": target.kinds},
    )
    return target


def get_target(session: Session, *, org_id: int, name: str) -> WritebackTarget:
    """A target of this organization by name.

    Raises:
        NotFound: No such target.
    """
    target = session.scalars(
        select(WritebackTarget).where(
            WritebackTarget.org_id == org_id, WritebackTarget.name == name
        )
    ).first()
    if target is None:
        raise NotFound(
            N_("write-back target %(target)s not found"), field="target", target=repr(name)
        )
    return target


def list_targets(
    session: Session, *, org_id: int, active_only: bool = False
) -> Sequence[WritebackTarget]:
    """The organization's targets by name."""
    stmt = select(WritebackTarget).where(WritebackTarget.org_id == org_id)
    if active_only:
        stmt = stmt.where(WritebackTarget.active.is_(True))
    return session.scalars(stmt.order_by(WritebackTarget.name)).all()


def set_target_active(
    session: Session, target: WritebackTarget, *, active: bool, actor: str
) -> WritebackTarget:
    """Pause or resume a target; paused targets receive no new messages (audited)."""
    if target.active is active:
        return target
    target.active = active
    session.flush()
    audit.record(
        session,
        org_id=target.org_id,
        actor=actor,
        action="target.resumed" if active else "target.paused",
        object_type="writeback_target",
        object_id=target.id,
    )
    return target


def idempotency_key(kind: str, subject: str, target_name: str) -> str:
    """The idempotency key of one event's message to one target."""
    return f"{kind}:{subject}:{target_name}"


def enqueue(
    session: Session,
    *,
    org_id: int,
    kind: str,
    subject: str,
    payload: Mapping[str, Any],
    program_id: int | None = None,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Write one outbox message per active target accepting ``kind``, idempotently.

    Args:
        session: The caller's unit of work: messages commit with the event.
        org_id: The organization.
        kind: One of :data:`ACCEPTED_KINDS`.
        subject: What the message is about, stable across re-evaluations, e.g.
            ``p3:e17`` or ``p3:e17:m420`` (hours: the total is part of the identity, so a
            new total is a new message and the same total never is).
        payload: JSON-serialisable content for the sink.
        program_id: The program the event is about, if any: its coordinators see and
            retry the messages (:func:`plugin.services.outbox.list_program_messages`).
        now: When the event happened (due from then on); the current time by default.

    Returns:
        The messages for this event, one per target, whether new or already there.
    """
    if kind not in ACCEPTED_KINDS:
        raise ValidationError(N_("unknown message kind %(kind)s"), field="kind", kind=repr(kind))
    out: list[OutboxMessage] = []
    for target in list_targets(session, org_id=org_id, active_only=True):
        if kind not in target.kinds:
            continue
        key = idempotency_key(kind, subject, target.name)
        existing = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.org_id == org_id, OutboxMessage.idempotency_key == key
            )
        ).first()
        if existing is not None:
            out.append(existing)
            continue
        message = OutboxMessage(
            org_id=org_id,
            kind=kind,
            target=target.name,
            idempotency_key=key,
            payload=dict(payload),
            program_id=program_id,
            created_at=now or utcnow(),
            next_attempt_at=now or utcnow(),
        )
        session.add(message)
        out.append(message)
    session.flush()
    return out

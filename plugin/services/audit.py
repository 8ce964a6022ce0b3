"""The audit log: who did what, when (match approved, tandem dissolved, sync started …)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.models import AuditEvent

__all__ = ["list_events", "record"]


def record(
    session: Session,
    *,
    org_id: int,
    actor: str,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction.

    Args:
        session: The unit of work; the event commits or rolls back with the change it records.
        org_id: The organization the change belongs to.
        actor: Who did it (``cli:<user>``, ``lti:<sub>``, ``system``).
        action: A dotted verb, e.g. ``program.created``.
        object_type: The kind of object changed, e.g. ``program``.
        object_id: Its id.
        details: Non-personal context (ids, old/new status). Never secrets or free text.
        now: When it happened (simulations and replays); the current time by default.
    """
    event = AuditEvent(
        org_id=org_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=dict(details or {}),
        created_at=now or utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session, *, org_id: int, action: str | None = None, limit: int = 100
) -> Sequence[AuditEvent]:
    """The newest events of one organization, optionally of one action."""
    stmt = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit)
    return session.scalars(stmt).all()

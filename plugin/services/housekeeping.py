"""The worker's periodic job: alert scans and the shared LTI store's expired entries.

Run by :class:`plugin.worker.Worker` every ``WORKER_HOUSEKEEPING_SECONDS`` (the default
``WORKER_HOUSEKEEPING`` is :func:`run`). Expired OIDC states, used nonces, platform key
sets and browser sessions read as absent already; purging only keeps the table small.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.services import alerts
from plugin.services.lti_cache import LtiCache

__all__ = ["run"]


def run(session: Session, *, now: datetime | None = None) -> int:
    """Scan running programs for alerts and purge expired LTI store entries.

    Returns:
        Alerts raised plus entries purged.
    """
    when = now if now is not None else utcnow()
    raised = alerts.scan_all(session, now=when)
    purged = LtiCache(session, clock=lambda: when).purge_expired()
    return raised + purged

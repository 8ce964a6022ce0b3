"""A key-value store with expiry in the database, shared by every host.

LTI needs short-lived state that the *next* request may read on another host: the OIDC
``state`` between login and launch, used nonces (each accepted once), and launch data
that later requests fetch by launch id. Keeping it in the database instead of process
memory lets any number of stateless hosts serve Tandem (DESIGN §4).

Every operation is a single SQL statement, so :meth:`LtiCache.add_if_absent` is atomic on
SQLite and PostgreSQL alike (``INSERT … ON CONFLICT DO NOTHING``, then a conditional
``UPDATE`` that takes over an *expired* entry): of two concurrent callers with the same
key, exactly one gets ``True`` — the basis of single-use nonces. Expired entries read as
absent; :meth:`LtiCache.purge_expired` deletes them (run it from housekeeping).

Values are anything JSON can hold. ``None`` is stored as JSON ``null`` and reads back as
``None``, like a missing key — store a dict when the difference matters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.db import utcnow
from plugin.errors import N_, ValidationError
from plugin.models import LtiCacheEntry

__all__ = ["MAX_KEY", "LtiCache"]

#: Longest key (the column is VARCHAR(255)).
MAX_KEY = 255

_TABLE = cast(Table, LtiCacheEntry.__table__)


#: The two writes of the hot path (every launch), built once per dialect: ``set`` and
#: ``add_if_absent``'s insert. Values travel as parameters ``k``, ``v`` and ``e``.
_BUILT: dict[str, tuple[Any, Any]] = {}


def _built(dialect: str) -> tuple[Any, Any]:
    found = _BUILT.get(dialect)
    if found is None:
        if dialect == "postgresql":
            insert: Any = postgresql.insert
        elif dialect == "sqlite":
            insert = sqlite.insert
        else:
            raise NotImplementedError(f"LtiCache supports SQLite and PostgreSQL, not {dialect}")
        base = insert(_TABLE).values(
            key=bindparam("k"), value=bindparam("v"), expires_at=bindparam("e")
        )
        upsert = base.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={"value": base.excluded.value, "expires_at": base.excluded.expires_at},
        )
        add = base.on_conflict_do_nothing(index_elements=[_TABLE.c.key]).returning(_TABLE.c.key)
        found = _BUILT[dialect] = (upsert, add)
    return found


def _rowcount(result: Any) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)


class LtiCache:
    """The shared LTI store, bound to one session (the caller commits).

    Args:
        session: The unit of work. Entries written through it become visible to other
            hosts when the caller commits.
        clock: The current time, timezone-aware (tests pass a fake clock).
    """

    def __init__(self, session: Session, *, clock: Callable[[], datetime] = utcnow) -> None:
        """Bind the store to a session and a clock."""
        self.session = session
        self.clock = clock

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _key(key: str) -> str:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValidationError(
                N_("cache keys are 1–%(max)s characters"), field="key", max=MAX_KEY
            )
        return key

    def _expiry(self, ttl: float | timedelta) -> datetime:
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        if not seconds > 0:
            raise ValidationError(N_("ttl must be a positive number of seconds"), field="ttl")
        return self.clock() + timedelta(seconds=seconds)

    # ------------------------------------------------------------------ API

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` if absent or expired."""
        row = self.session.execute(
            select(_TABLE.c.value).where(
                _TABLE.c.key == self._key(key), _TABLE.c.expires_at > self.clock()
            )
        ).first()
        return default if row is None else row[0]

    def set(self, key: str, value: Any, ttl: float | timedelta) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any entry."""
        upsert, _ = _built(self.session.get_bind().dialect.name)
        self.session.execute(upsert, {"k": self._key(key), "v": value, "e": self._expiry(ttl)})

    def add_if_absent(self, key: str, value: Any, ttl: float | timedelta) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; atomic.

        Returns:
            True if this call stored it; False if a live entry was already there (for a
            nonce: it was used before).
        """
        key = self._key(key)
        expires_at = self._expiry(ttl)
        _, add = _built(self.session.get_bind().dialect.name)
        # RETURNING (not rowcount, which drivers need not keep for INSERT) says if it went in.
        if self.session.execute(add, {"k": key, "v": value, "e": expires_at}).first() is not None:
            return True
        # An expired entry counts as absent: take it over, unless someone renewed it first.
        taken = self.session.execute(
            update(_TABLE)
            .where(_TABLE.c.key == key, _TABLE.c.expires_at <= self.clock())
            .values(value=value, expires_at=expires_at)
        )
        return _rowcount(taken) == 1

    def delete(self, key: str) -> bool:
        """Remove ``key``. Returns whether a (live or expired) entry was there."""
        result = self.session.execute(delete(_TABLE).where(_TABLE.c.key == self._key(key)))
        return _rowcount(result) > 0

    def purge_expired(self) -> int:
        """Delete every expired entry; returns how many."""
        result = self.session.execute(delete(_TABLE).where(_TABLE.c.expires_at <= self.clock()))
        return _rowcount(result)

"""Fault injection for the SuccessFactors fake.

Whole-response faults by path prefix, and per-row ``ERROR`` results inside an HTTP 200
``/upsert`` answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FaultRule", "Faults", "RowError"]


@dataclass(slots=True)
class FaultRule:
    """One injected fault.

    Attributes:
        path_prefix: requests whose path starts with this are affected.
        status: answer this status instead of serving (``None``: serve normally).
        remaining: how many more requests it affects (``None``: forever).
        retry_after: ``Retry-After`` header value (seconds) when set.
        body: response body (``str``/``bytes`` as is, anything else as JSON); default per status.
        content_type: overrides the default content type of ``body``.
        malformed: serve normally, then cut the body in half (a truncated JSON page).
        delay: seconds to sleep before answering (client timeouts).
        method: only this HTTP method (``None``: any).
    """

    path_prefix: str = "/"
    status: int | None = None
    remaining: int | None = 1
    retry_after: float | int | str | None = None
    body: Any = None
    content_type: str | None = None
    malformed: bool = False
    delay: float | None = None
    method: str | None = None
    kind: str = "response"
    hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (admin endpoint)."""
        return {
            "path_prefix": self.path_prefix,
            "status": self.status,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "malformed": self.malformed,
            "delay": self.delay,
            "method": self.method,
            "kind": self.kind,
            "hits": self.hits,
        }


@dataclass(slots=True)
class RowError:
    """A per-row upsert failure: the row answers ``status: ERROR`` with ``http_code``."""

    match: str
    message: str
    http_code: int = 500
    remaining: int | None = 1
    hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (admin endpoint)."""
        return {
            "match": self.match,
            "message": self.message,
            "http_code": self.http_code,
            "remaining": self.remaining,
            "hits": self.hits,
        }


@dataclass(slots=True)
class Faults:
    """The fault queue of one tenant. Thread-safe; rules are consumed in insertion order."""

    _rules: list[FaultRule] = field(default_factory=list)
    _row_errors: list[RowError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        *,
        path_prefix: str = "/",
        status: int | None = None,
        times: int | None = 1,
        retry_after: float | int | str | None = None,
        body: Any = None,
        content_type: str | None = None,
        malformed: bool = False,
        delay: float | None = None,
        method: str | None = None,
    ) -> FaultRule:
        """Inject a fault for the next ``times`` requests under ``path_prefix``.

        Examples: ``add(path_prefix="/odata/v2/User", status=503, times=1)`` (one outage),
        ``add(..., status=429, retry_after=2)``, ``add(..., malformed=True)`` (truncated
        JSON), ``add(..., delay=1.5)`` (slow answer).

        Raises:
            ValueError: the rule would do nothing, or ``times`` < 1.
        """
        if status is None and not malformed and not delay:
            raise ValueError("a fault needs a status, malformed=True or a delay")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for forever)")
        rule = FaultRule(
            path_prefix=path_prefix,
            status=status,
            remaining=times,
            retry_after=retry_after,
            body=body,
            content_type=content_type,
            malformed=malformed,
            delay=delay,
            method=method.upper() if method else None,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def metadata_generating(
        self, *, times: int | None = 1, path_prefix: str = "/odata/v2"
    ) -> FaultRule:
        """500 "OData metadata is being generated … try again later" (a retriable 500)."""
        rule = self.add(path_prefix=path_prefix, status=500, times=times)
        rule.kind = "metadata_generating"
        return rule

    def maintenance(
        self, *, times: int | None = 1, path_prefix: str = "/", retry_after: int | None = None
    ) -> FaultRule:
        """503 with the HTML maintenance page SuccessFactors shows during upgrades."""
        rule = self.add(path_prefix=path_prefix, status=503, times=times, retry_after=retry_after)
        rule.kind = "maintenance"
        return rule

    def learning_outage(
        self, *, times: int | None = 1, status: int = 503, retry_after: int | None = None
    ) -> FaultRule:
        """The Learning APIs (``/learning/…``, token server included) answer ``status``."""
        return self.add(
            path_prefix="/learning/", status=status, times=times, retry_after=retry_after
        )

    def upsert_row_error(
        self,
        *,
        user_id_or_key: str,
        message: str,
        http_code: int = 500,
        times: int | None = 1,
    ) -> RowError:
        """Make matching ``/upsert`` rows fail inside an HTTP 200 answer.

        A row matches when one of its key values (e.g. ``SkillProfile_externalCode`` or
        ``userId``) equals ``user_id_or_key`` or its key string (``RatedSkillMapping/…=…``)
        contains it.
        """
        error = RowError(
            match=user_id_or_key, message=message, http_code=http_code, remaining=times
        )
        with self._lock:
            self._row_errors.append(error)
        return error

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._rules.clear()
            self._row_errors.clear()

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The faults that still apply."""
        with self._lock:
            return [rule.as_dict() for rule in self._rules] + [
                {"kind": "upsert_row_error", **error.as_dict()} for error in self._row_errors
            ]

    def take(self, method: str, path: str) -> FaultRule | None:
        """Consume and return the first rule matching this request, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.method is not None and rule.method != method.upper():
                    continue
                if not path.startswith(rule.path_prefix):
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def take_row_error(self, key: str, key_values: Iterable[object]) -> RowError | None:
        """Consume and return the first per-row error matching this upsert row, if any.

        ``key_values`` are the row's key values plus its user id, when it has one.
        """
        values = {str(value) for value in key_values if value is not None}
        with self._lock:
            for error in self._row_errors:
                if error.match in values or error.match in key:
                    error.hits += 1
                    if error.remaining is not None:
                        error.remaining -= 1
                        if error.remaining <= 0:
                            self._row_errors.remove(error)
                    return error
        return None

"""The SuccessFactors source: employees with their managers, skills and ratings.

:class:`SuccessFactorsConnector` implements :class:`~plugin.ports.PeopleSource` and
:class:`~plugin.ports.SkillSource` over HXM OData v2 (reference §1–§4, §8):

* **People** — ``GET /User`` with ``$filter=status in 't','f'``: without a status filter
  SuccessFactors returns active users only, and leavers would never be seen (KBA 2166571,
  2736579). A delta adds ``and lastModifiedDateTime ge datetimeoffset'…'`` — always
  ``and``, never ``or``: an ``or`` cancels the implicit filter. ``$select`` names only the
  fields Tandem keeps, ``$expand=manager`` with ``manager/userId`` brings the manager in
  the same row, ``customPageSize`` (≤ 1000) and ``paging=snapshot`` give stable server
  pages (``$top``/``$skip`` can skip or repeat rows), and each page is yielded as soon as
  it is read, so memory stays flat. A page may repeat rows of an earlier one (a known
  SuccessFactors trap): they are yielded again and the engine keeps the first.
* **Tenant-specific metadata** — ``timeZone``, ``country`` and ``defaultLocale`` (the
  person's language) are asked for too; a
  tenant whose ``User`` lacks them answers ``COE_PROPERTY_NOT_FOUND``, and the read
  starts again without them (logged once).
* **Managers not expanded** — should a tenant ignore ``$expand`` and send
  ``{"__deferred": …}``, the manager of each such row is read on its own
  (``User('id')/manager?$select=userId``): one more call per row, logged as a warning,
  but never a person stored with a wrong (empty) manager.
* **Invalid rows** become :class:`~plugin.records.InvalidRecord` (quarantined with their
  reason); a page that cannot be read fails the run
  (:class:`~plugin.errors.ConnectorDataError`).
* **Skills** — the catalogue from ``SkillEntity`` and ratings from ``RatedSkillMapping``
  (MDF entities: default cursor paging, no ``paging=snapshot``; ratings filtered on
  ``lastModifiedDateTime`` for a delta). A tenant without Skills Management (the entity
  set does not exist) yields no skills, with a warning, instead of failing the people
  sync; ``settings.skills = false`` skips them altogether.

Retries: every call is retried on timeouts, connection errors, 429 and 5xx with jittered
backoff; a sync is a background job, so a ``Retry-After`` up to 300 s (what SAP asks
after an HXM 429) is waited for inside the run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from connectors._http import HttpClient, RetryPolicy, build_session
from connectors.successfactors.auth import TokenCache, platform_auth
from connectors.successfactors.client import CONNECTOR, ODataClient, ODataError, key_literal
from connectors.successfactors.schemas import (
    DEFERRED,
    load_person,
    load_person_skill,
    load_skill,
)
from connectors.successfactors.settings import Settings
from plugin.errors import ConnectorDataError
from plugin.ports import ConnectionConfig
from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord

__all__ = ["SYNC_RETRY_POLICY", "USER_FIELDS", "USER_OPTIONAL_FIELDS", "SuccessFactorsConnector"]

log = logging.getLogger(__name__)

#: ``User`` fields every tenant has (PLTUserManagement).
USER_FIELDS: tuple[str, ...] = (
    "userId",
    "status",
    "firstName",
    "lastName",
    "email",
    "department",
    "division",
    "location",
    "jobTitle",
    "hireDate",
    "lastModifiedDateTime",
    "manager/userId",
)
#: ``User`` fields asked for when the tenant has them.
USER_OPTIONAL_FIELDS: tuple[str, ...] = ("timeZone", "country", "defaultLocale")
#: Retries of a sync: patient (a background job); HXM asks 300 s after a 429.
SYNC_RETRY_POLICY = RetryPolicy(
    max_attempts=5, backoff=1.0, max_backoff=60.0, max_retry_wait=300.0, default_429_wait=300.0
)
#: OData codes of "no such entity set" (the tenant lacks the module).
_NO_ENTITY = frozenset({"COE_ENTITY_NOT_FOUND", "COE_RESOURCE_NOT_FOUND", "COE_INVALID_ENTITY"})
_NO_PROPERTY = frozenset({"COE_PROPERTY_NOT_FOUND", "COE_INVALID_PROPERTY"})


def odata_instant(when: datetime) -> str:
    """An OData ``datetimeoffset`` literal body in UTC, whole seconds (rounded down)."""
    if when.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SuccessFactorsConnector:
    """Reads one SuccessFactors connection (see the module docstring)."""

    name: ClassVar[str] = "successfactors"
    #: The person fields SuccessFactors owns (:class:`~plugin.ports.PeopleSource`). ``User``
    #: has no grade and no last day, and its one ``defaultLocale`` is the UI language, not
    #: the languages someone speaks: ``job_level``, ``left_on`` and ``languages`` stay as
    #: set elsewhere (matching relies on them).
    person_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "given_name",
            "family_name",
            "email",
            "department",
            "division",
            "location",
            "country",
            "time_zone",
            "job_title",
            "hire_date",
            "active",
            "manager",
        }
    )

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        policy: RetryPolicy | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        """Build the source of one connection; validates settings, calls nothing.

        Args:
            config: The connection (settings and decrypted credentials).
            session: The HTTP session (a new pooled one by default).
            sleep: Waits between retries (injected by tests).
            clock: Unix time (token expiry, ``Retry-After`` dates, assertions).
            rng: The jitter's randomness.
            policy: Retry limits; :data:`SYNC_RETRY_POLICY` by default.
            token_cache: Where tokens are kept; the process-wide cache by default.

        Raises:
            ValidationError: The connection's settings cannot work.
        """
        self.config = config
        self.settings = Settings.from_config(config)
        self.http = HttpClient(
            connector=CONNECTOR,
            session=session if session is not None else build_session(),
            policy=policy or SYNC_RETRY_POLICY,
            sleep=sleep,
            clock=clock,
            rng=rng,
        )
        for secret in self.settings.secrets():
            self.http.add_secret(secret)
        self.auth = platform_auth(
            settings=self.settings, http=self.http, cache=token_cache, clock=clock
        )
        self.client = ODataClient(settings=self.settings, http=self.http, auth=self.auth)

    # ------------------------------------------------------------------ check

    def check(self) -> None:
        """Fetch a token and one user id (``User?$top=1&$select=userId``).

        Raises:
            ConnectorAuthError: Credentials were refused.
            ConnectorUnavailable: SuccessFactors cannot be reached or is down.
            ConnectorDataError: It answered something that is not its OData API.
        """
        d = self.client.get(
            "User", what="connection check", params={"$top": "1", "$select": "userId"}
        )
        if isinstance(d, Mapping):
            d = d.get("results")
        if not isinstance(d, list):
            raise ConnectorDataError(
                "connection check: the User answer is not a collection", connector=CONNECTOR
            )

    # ------------------------------------------------------------------ people

    def iter_people(
        self, *, since: datetime | None = None
    ) -> Iterator[Sequence[PersonRecord | InvalidRecord]]:
        """Yield the users, active and inactive, one server page at a time.

        Args:
            since: ``None`` for everyone; otherwise users changed at or after it.
        """
        status_filter = "status in 't','f'"
        if since is not None:
            status_filter += f" and lastModifiedDateTime ge datetimeoffset'{odata_instant(since)}'"
        fields = [*USER_FIELDS, *USER_OPTIONAL_FIELDS]
        first = True
        while True:
            params = {
                "$filter": status_filter,
                "$select": ",".join(fields),
                "$expand": "manager",
                "customPageSize": str(self.settings.page_size),
                "paging": "snapshot",
            }
            pages = self.client.iter_pages("User", params=params, what="User")
            try:
                for rows in pages:
                    first = False
                    yield self._people(rows)
                return
            except ODataError as exc:
                optional = [f for f in fields if f in USER_OPTIONAL_FIELDS]
                if not first or not optional or exc.code not in _NO_PROPERTY:
                    raise
                log.warning(
                    "connection %d: the tenant's User lacks an optional field (%s); reading "
                    "without %s",
                    self.settings.connection_id,
                    exc.code,
                    ", ".join(optional),
                )
                fields = list(USER_FIELDS)

    def _people(self, rows: list[Any]) -> list[PersonRecord | InvalidRecord]:
        out = [load_person(row) for row in rows]
        deferred = [
            index
            for index, record in enumerate(out)
            if type(record) is PersonRecord and record.manager_external_id == DEFERRED
        ]
        if not deferred:
            return out
        log.warning(
            "connection %d: %d user(s) on this page came without their manager expanded; "
            "reading each manager separately",
            self.settings.connection_id,
            len(deferred),
        )
        managers: dict[str, Any] = {}
        for index in deferred:
            row = rows[index]
            user_id = str(row["userId"])
            if user_id not in managers:
                managers[user_id] = self._manager_of(user_id)
            resolved = dict(row)
            resolved["manager"] = managers[user_id]
            record = load_person(resolved)
            if isinstance(record, InvalidRecord):
                record = InvalidRecord(
                    entity=record.entity,
                    reason=record.reason,
                    raw=row,
                    external_id=record.external_id,
                )
            out[index] = record
        return out

    def _manager_of(self, user_id: str) -> Any:
        """The manager object of one user (``{"userId": …}``) or None."""
        try:
            d = self.client.get(
                f"User({key_literal(user_id)})/manager",
                what="manager read",
                params={"$select": "userId"},
            )
        except ODataError as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(d, Mapping) and isinstance(d.get("results"), list):
            results = d["results"]
            d = results[0] if results else None
        if d is None or (isinstance(d, Mapping) and not d.get("userId")):
            return None
        if not isinstance(d, Mapping):
            raise ConnectorDataError("manager read: not a user object", connector=CONNECTOR)
        return {"userId": d.get("userId")}

    # ------------------------------------------------------------------ skills

    def iter_skills(self) -> Iterator[Sequence[SkillRecord | InvalidRecord]]:
        """Yield the ``SkillEntity`` catalogue, one page at a time."""
        if not self.settings.skills:
            return
        params = {"customPageSize": str(self.settings.page_size)}
        for rows in self._mdf_pages("SkillEntity", params):
            yield [load_skill(row) for row in rows]

    def iter_person_skills(
        self, *, since: datetime | None = None
    ) -> Iterator[Sequence[PersonSkillRecord | InvalidRecord]]:
        """Yield ``RatedSkillMapping`` ratings, one page at a time.

        Args:
            since: ``None`` for all ratings; otherwise those changed at or after it.
        """
        if not self.settings.skills:
            return
        params = {"customPageSize": str(self.settings.page_size)}
        if since is not None:
            params["$filter"] = f"lastModifiedDateTime ge datetimeoffset'{odata_instant(since)}'"
        for rows in self._mdf_pages("RatedSkillMapping", params):
            yield [load_person_skill(row) for row in rows]

    def _mdf_pages(self, entity: str, params: Mapping[str, str]) -> Iterator[list[Any]]:
        first = True
        try:
            for rows in self.client.iter_pages(entity, params=params, what=entity):
                first = False
                yield rows
        except ODataError as exc:
            if first and (exc.status == 404 or exc.code in _NO_ENTITY):
                log.warning(
                    "connection %d: %s is not available in this tenant (%s); no skills read",
                    self.settings.connection_id,
                    entity,
                    exc.code or f"HTTP {exc.status}",
                )
                return
            raise

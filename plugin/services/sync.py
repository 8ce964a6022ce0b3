"""The HRIS/LMS sync engine: people, the org chart and skills, page by page.

:func:`run_sync` reads one connection's source (:class:`plugin.ports.PeopleSource`, and
:class:`plugin.ports.SkillSource` when the connector also implements it) and upserts
what it reads into the organization:

* **Streaming.** Pages are read lazily — by a background thread that stays at most
  :data:`PREFETCH_PAGES` pages ahead (:class:`Prefetch`), so fetching the next page
  overlaps storing this one — and each page is stored with a handful of bulk Core
  statements, never one per row: *one* query for the page's existing identities and
  people (skipped on a first sync, when the source has none yet), one bulk insert of the
  new people and one of their identities (``COPY`` on PostgreSQL, ids drawn from the
  sequence first), one bulk ``UPDATE`` of the people whose fields actually changed.
  Memory stays flat however large the company: besides the pages in flight the run keeps
  only compact maps of the people it stored (external id → person id, → manager's
  external id).
* **Transactions.** A long sync cannot be one transaction, so — the one exception to
  "services only flush" — the engine commits itself through the session factory it is
  given: the :class:`~plugin.models.SyncRun` row first (status ``running``, so history
  shows it at once), then **every page**, then the manager pass, and last one final
  transaction that deactivates leavers, marks the run ``succeeded`` and advances the
  connection's delta watermark. Upserts are idempotent, so pages committed by a run that
  fails later are simply seen again (unchanged) next time.
* **Upsert** by ``(organization, source, external id)`` through
  :class:`~plugin.models.PersonIdentity`, source = ``<kind>:<connection id>``. A person
  whose fields are all equal is counted ``unchanged`` and not written at all: an
  identical second sync issues no ``UPDATE`` and leaves ``updated_at`` alone. Erased
  people (``erased_at`` set) are never refilled with personal data (counted unchanged
  and ``erased_skipped``). A person the source re-activates becomes active again.
* **Duplicates.** An external id met again in the same run (repeated across pages or
  within one page) is skipped, counted in ``details["people"]["duplicates"]``, not in
  ``seen``. Invariant: ``seen = created + updated + unchanged + quarantined``.
* **Quarantine.** A record the connector could not read (:class:`InvalidRecord`) or that
  the engine refuses (empty external id or name, bad e-mail, country, time zone,
  language, values too long for their columns, a person managing themself …) is stored as
  a :class:`~plugin.models.QuarantinedRecord` with its reason and raw payload (personal
  data: shown to admins, never logged); the run still succeeds and says how many. A
  quarantined person is not deactivated by a full sync: a bad record is not a leaver.
* **Managers** are resolved after the pass (a manager may come on a later page, or, in
  a delta run, not at all: then the source's identities in the database are used). A
  manager the source does not know leaves the manager empty
  (``details["managers"]["missing"]``); an edge that would close a cycle in the chain is
  not set (``details["managers"]["cycles"]``). Only changed ``manager_id`` are written.
* **Full runs deactivate** the source's active people not seen in the run (never delete).
  A full run that stored nobody while the source has active people fails instead: an
  empty or misconfigured tenant must not deactivate everyone. **Delta runs** read
  ``since = watermark − overlap`` and never deactivate. A delta requested before any
  watermark exists reads everything and is run as a full sync.
* **Watermark**: the newest ``modified_at`` of the people read (never earlier than the
  previous watermark; the run's start for a full run whose records carry none). It
  advances only in the final transaction of a successful run.
* **Failures.** A :class:`~plugin.errors.ConnectorError` (or any other
  :class:`~plugin.errors.PluginError`) while reading rolls the page in flight back,
  marks the run ``failed`` with the (already redacted) message, keeps the old watermark,
  deactivates nobody, and is *returned* as a failed :class:`SyncResult` — the caller
  shows it and exits non-zero. Anything else is a bug (or the database going away): the
  run is marked failed with only the exception's type (its text could quote personal
  data) and the exception is *re-raised*.
* **One run at a time per connection**: a second run is refused
  (:class:`~plugin.errors.ConflictError`) while one is running; a run left ``running``
  for more than :data:`STALE_AFTER` is taken for dead and marked failed ("abandoned").
  A partial unique index makes this hold across hosts.

Skills (when the source implements :class:`~plugin.ports.SkillSource`): the catalogue is
upserted by :class:`~plugin.models.SkillIdentity` → :class:`~plugin.models.Skill` (code
from the record, else derived from the external id; a code the source names explicitly
that already exists in the organization is *mapped* to that skill, other collisions get
a ``-2``, ``-3`` … suffix), then people's ratings → :class:`~plugin.models.PersonSkill`
(source ``hris``), by ``(organization, person, skill, source)``. Per-entity counts are in
``SyncRun.details``; the run's top-level counts are the people's.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import logging
import math
import operator
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Generic, TypeVar, cast

from sqlalchemy import (
    JSON,
    Enum,
    Integer,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from plugin.db import metadata, utcnow
from plugin.errors import ConflictError, ConnectorError, NotFound, PluginError, ValidationError
from plugin.models import (
    Connection,
    ConnectionKind,
    Person,
    PersonIdentity,
    PersonSkill,
    QuarantinedRecord,
    Skill,
    SkillCategory,
    SkillIdentity,
    SkillSource,
    SyncRun,
    SyncStatus,
)
from plugin.ports import PeopleSource
from plugin.ports import SkillSource as SkillSourcePort
from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord
from plugin.services import audit

__all__ = [
    "DEFAULT_OVERLAP_MINUTES",
    "PERSON_FIELDS",
    "PREFETCH_PAGES",
    "STALE_AFTER",
    "Prefetch",
    "SyncProgress",
    "SyncResult",
    "get_run",
    "list_quarantined",
    "list_runs",
    "run_sync",
]

log = logging.getLogger(__name__)

#: A run ``running`` for longer than this is taken for dead (its process crashed).
STALE_AFTER: Final = timedelta(hours=6)
#: The delta overlap when the connection's settings name no ``delta_overlap_minutes``.
DEFAULT_OVERLAP_MINUTES: Final = 60
#: Pages the reader thread may fetch ahead of the page being stored.
PREFETCH_PAGES: Final = 2
#: The person fields a source owns (everything of :class:`PersonRecord` that Person has).
PERSON_FIELDS: Final = (
    "given_name",
    "family_name",
    "email",
    "department",
    "division",
    "location",
    "country",
    "time_zone",
    "languages",
    "job_title",
    "job_level",
    "hire_date",
    "active",
    "left_on",
)

_CHUNK = 1000
# Rows per PostgreSQL array statement (arrays are cheap; this only bounds one statement).
_PG_BATCH = 10_000
# Rows fetched at a time when the whole source is read back (managers, leavers).
_STREAM_ROWS = 5_000
# Rows a run creates before PostgreSQL's statistics are refreshed (then at each doubling).
_ANALYZE_AFTER = 500
_MAX_EXAMPLES = 20
_ERROR_LIMIT = 1000

# Tables for Core statements (no ORM object per row on the hot path).
_PEOPLE = cast(Table, Person.__table__)
_IDENTITIES = cast(Table, PersonIdentity.__table__)
_SKILLS = cast(Table, Skill.__table__)
_SKILL_IDS = cast(Table, SkillIdentity.__table__)
_PERSON_SKILLS = cast(Table, PersonSkill.__table__)
_QUARANTINE = cast(Table, QuarantinedRecord.__table__)
_RUNS = cast(Table, SyncRun.__table__)
_CONNECTIONS = cast(Table, Connection.__table__)
_PEOPLE_TABLES = (_IDENTITIES.name, _PEOPLE.name)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TIME_ZONE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_+-]*)(?:/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_LANGUAGES = 20
_MAX_JOB_LEVEL = 9999

# (field, column length, label, required)
_PERSON_TEXT: Final = (
    ("given_name", 120, "the given name", True),
    ("family_name", 120, "the family name", True),
    ("email", 254, "the e-mail", False),
    ("department", 120, "the department", False),
    ("division", 120, "the division", False),
    ("location", 120, "the location", False),
    ("country", 64, "the country", False),  # the shape check below says more than "2 fit"
    ("time_zone", 64, "the time zone", False),
    ("job_title", 200, "the job title", False),
)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SyncProgress:
    """Where a running sync is, reported after every page and at each phase change.

    Attributes:
        phase: ``people``, ``managers``, ``skills``, ``person_skills``, ``deactivate``
            or ``done``.
        pages: Pages read so far in this phase.
        seen, created, updated, unchanged, deactivated, quarantined: The people's counts
            so far (the run's top-level counts).
    """

    phase: str
    pages: int
    seen: int
    created: int
    updated: int
    unchanged: int
    deactivated: int
    quarantined: int


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one sync run (also stored as its :class:`~plugin.models.SyncRun`).

    Attributes:
        run_id: The sync run's id (``tandem sync show <id>``).
        status: ``succeeded`` or ``failed``.
        full: Whether it ran as a full sync (deactivating people not seen).
        seen: Distinct people records read (duplicates excluded), quarantined included.
        created, updated, unchanged, deactivated, quarantined: People counts.
        error: Why the run failed (no secrets, no personal data), else ``None``.
        watermark_before: The connection's delta watermark when the run started.
        watermark_after: The watermark after the run (the old one when it failed).
        details: Per-entity counts (``people``, ``managers``, ``skills``,
            ``person_skills``) and run facts; the same as ``SyncRun.details``.
    """

    run_id: int
    status: SyncStatus
    full: bool
    seen: int
    created: int
    updated: int
    unchanged: int
    deactivated: int
    quarantined: int
    error: str | None
    watermark_before: datetime | None
    watermark_after: datetime | None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (quarantined records do not make it fail)."""
        return self.status is SyncStatus.SUCCEEDED

    @property
    def quarantined_total(self) -> int:
        """Quarantined records of every entity (people, skills, person skills)."""
        total = 0
        for entity in ("people", "skills", "person_skills"):
            counts = self.details.get(entity)
            if isinstance(counts, Mapping):
                total += int(counts.get("quarantined", 0))
        return total


# --------------------------------------------------------------------------- prefetch

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


class Prefetch(Generic[T]):
    """Iterate a slow iterator in a background thread, at most ``depth`` items ahead.

    The source iterator is opened, advanced and closed by the reader thread only (a
    generator must not be driven from two threads); exceptions it raises are re-raised
    in the consuming thread, in order, after the items before them. Leaving the ``with``
    block early (an error while storing) stops the reader: it closes the source iterator
    (so its HTTP session is released) and ends. Memory stays bounded: ``depth`` items in
    the queue plus one in each thread's hands.

    Example::

        with Prefetch(lambda: source.iter_people(since=None)) as pages:
            for page in pages:
                store(page)
    """

    def __init__(
        self, open_iter: Callable[[], Iterable[T]], *, depth: int = PREFETCH_PAGES
    ) -> None:
        """Prepare (the thread starts on ``__enter__``).

        Args:
            open_iter: Called once, in the reader thread, to get the iterable.
            depth: Items the reader may hold ready (≥ 1).
        """
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._open = open_iter
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, name="tandem-sync-reader", daemon=True)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return cast(T, value)
        self._done = True
        if kind == _ERROR:
            raise cast(BaseException, value)
        raise StopIteration

    def close(self, timeout: float = 10.0) -> None:
        """Stop the reader and wait (up to ``timeout`` s) for it to close the source."""
        self._stop.set()
        self._done = True
        while True:  # unblock a reader waiting to put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - a source stuck in I/O
                log.warning("the sync reader thread did not stop within %.0f s", timeout)

    def _put(self, item: tuple[int, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _read(self) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(self._open())
            for item in iterator:
                if not self._put((_ITEM, item)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, who raises it
            self._put((_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # pragma: no cover - a source failing to clean up
                    log.warning("closing the source iterator failed", exc_info=True)


# --------------------------------------------------------------------------- helpers


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable copy of a raw payload (dates as ISO 8601, tuples as lists)."""
    if depth > 20:
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value), depth + 1)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _is_date(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _text_problem(value: Any, *, limit: int, label: str, required: bool) -> str | None:
    if value is None:
        return f"{label} is empty" if required else None
    if not isinstance(value, str):
        return f"{label} is not text"
    if required and not value.strip():
        return f"{label} is empty"
    if len(value) > limit:
        return f"{label} is {len(value)} characters long; at most {limit} fit"
    if "\x00" in value:
        return f"{label} contains a NUL character"
    return None


def _id_problem(value: Any, label: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"{label} is empty"
    if len(value) > 255:
        return f"{label} is {len(value)} characters long; at most 255 fit"
    if "\x00" in value:
        return f"{label} contains a NUL character"
    return None


def _person_problem(record: PersonRecord) -> str | None:
    """Why the engine refuses a person record (it would not fit or make sense), if it does."""
    problem = _id_problem(record.external_id, "the external id")
    if problem:
        return problem
    for name, limit, label, required in _PERSON_TEXT:
        value = getattr(record, name)
        if (
            type(value) is str
            and len(value) <= limit
            and "\x00" not in value
            and (not required or value.strip())
        ) or (value is None and not required):
            continue  # the common case, without building a message
        problem = _text_problem(value, limit=limit, label=label, required=required)
        if problem:
            return problem
    if record.email is not None and not _EMAIL.match(record.email):
        return "the e-mail is not an e-mail address"
    if record.country is not None and not _COUNTRY.match(record.country):
        return "the country is not an ISO 3166-1 alpha-2 code such as 'DE'"
    if record.time_zone is not None and not _TIME_ZONE.match(record.time_zone):
        return "the time zone is not an IANA name such as 'Europe/Berlin'"
    languages = record.languages
    if not isinstance(languages, tuple | list):
        return "the languages are not a list"
    if len(languages) > _MAX_LANGUAGES:
        return f"more than {_MAX_LANGUAGES} languages"
    for lang in languages:
        if not isinstance(lang, str) or not _LANGUAGE.match(lang):
            return "a language is not a two-letter ISO 639-1 code such as 'de'"
    level = record.job_level
    if level is not None and (
        isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= _MAX_JOB_LEVEL
    ):
        return f"the job level is not a whole number from 0 to {_MAX_JOB_LEVEL}"
    if record.hire_date is not None and not _is_date(record.hire_date):
        return "the hire date is not a date"
    if record.left_on is not None and not _is_date(record.left_on):
        return "the last day (left_on) is not a date"
    if not isinstance(record.active, bool):
        return "the active flag is not true or false"
    manager = record.manager_external_id
    if manager is not None and manager != "":
        problem = _id_problem(manager, "the manager's external id")
        if problem:
            return problem
        if manager == record.external_id:
            return "the person is their own manager"
    if record.modified_at is not None and not _aware(record.modified_at):
        return "the modification time has no time zone"
    return None


def _person_values(record: PersonRecord) -> dict[str, Any]:
    return {
        "given_name": record.given_name,
        "family_name": record.family_name,
        "email": record.email,
        "department": record.department,
        "division": record.division,
        "location": record.location,
        "country": record.country,
        "time_zone": record.time_zone,
        "languages": list(record.languages),
        "job_title": record.job_title,
        "job_level": record.job_level,
        "hire_date": record.hire_date,
        "active": record.active,
        "left_on": record.left_on,
    }


def _skill_problem(record: SkillRecord) -> str | None:
    problem = _id_problem(record.external_id, "the external id")
    if problem:
        return problem
    problem = _text_problem(record.name, limit=200, label="the name", required=True)
    if problem:
        return problem
    problem = _text_problem(record.name_de, limit=200, label="the German name", required=False)
    if problem:
        return problem
    if record.code is not None and (
        not isinstance(record.code, str) or not _CODE.match(record.code)
    ):
        return "the code is not 1–64 letters, digits, '_', '.', '-'"
    if record.category is not None and not isinstance(record.category, str):
        return "the category is not text"
    if record.modified_at is not None and not _aware(record.modified_at):
        return "the modification time has no time zone"
    return None


def _person_skill_problem(record: PersonSkillRecord) -> str | None:
    problem = _id_problem(record.person_external_id, "the person's external id") or _id_problem(
        record.skill_external_id, "the skill's external id"
    )
    if problem:
        return problem
    level = record.level
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        return "the level is not a whole number from 1 to 5"
    if not _is_date(record.assessed_on):
        return "the assessment date is not a date"
    if record.modified_at is not None and not _aware(record.modified_at):
        return "the modification time has no time zone"
    return None


def _derived_code(external_id: str) -> str:
    code = re.sub(r"[^A-Z0-9]+", "-", external_id.upper()).strip("-")
    return code[:64] or "SKILL"


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _redacted_error(exc: BaseException) -> str:
    """What a failed run stores: the message of our own errors (safe by contract)."""
    if isinstance(exc, ConnectorError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        message = f"{type(exc).__name__}{status}: {exc.message}"
    elif isinstance(exc, PluginError):
        message = f"{type(exc).__name__}: {exc.message}"
    else:
        # Unexpected: its text may quote SQL parameters (personal data) — the type only.
        message = (
            f"unexpected {type(exc).__name__} (a bug or the database failed); see the server log"
        )
    return message[:_ERROR_LIMIT]


# --------------------------------------------------------------------------- statements


def _one_of(column: Any, name: str, item_type: Any, *, postgresql: bool) -> Any:
    """``column IN (:name…)``; on PostgreSQL ``column = ANY(:name)``, one array parameter."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


@dataclass(frozen=True)
class _Statements:
    """The engine's statements that take a list of keys, per dialect."""

    find_people: Any
    find_identities: Any
    find_ratings: Any
    deactivate: Any


@functools.cache
def _statements(postgresql: bool) -> _Statements:
    joined = _IDENTITIES.join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id)
    of_source = (
        _IDENTITIES.c.org_id == bindparam("org_id"),
        _IDENTITIES.c.source == bindparam("source"),
    )
    external_ids = _one_of(
        _IDENTITIES.c.external_id, "external_ids", String(), postgresql=postgresql
    )
    return _Statements(
        find_people=select(
            _IDENTITIES.c.external_id,
            _PEOPLE.c.id,
            _PEOPLE.c.erased_at,
            *(_PEOPLE.c[name] for name in PERSON_FIELDS),
        )
        .select_from(joined)
        .where(*of_source, external_ids),
        find_identities=select(_IDENTITIES.c.external_id, _PEOPLE.c.id, _PEOPLE.c.erased_at)
        .select_from(joined)
        .where(*of_source, external_ids),
        find_ratings=select(
            _PERSON_SKILLS.c.id,
            _PERSON_SKILLS.c.person_id,
            _PERSON_SKILLS.c.skill_id,
            _PERSON_SKILLS.c.level,
            _PERSON_SKILLS.c.assessed_on,
        ).where(
            _PERSON_SKILLS.c.org_id == bindparam("org_id"),
            _PERSON_SKILLS.c.source == SkillSource.HRIS.value,
            _one_of(_PERSON_SKILLS.c.person_id, "person_ids", Integer(), postgresql=postgresql),
        ),
        deactivate=update(_PEOPLE)
        .where(
            _one_of(_PEOPLE.c.id, "ids", Integer(), postgresql=postgresql),
            _PEOPLE.c.active.is_(True),
            _PEOPLE.c.erased_at.is_(None),
        )
        .values(active=False, updated_at=bindparam("updated_at")),
    )


_FIRST_FIELD = 3  # index of the first of PERSON_FIELDS in a _FIND_PEOPLE row
_SOURCE_PEOPLE = (
    select(
        _IDENTITIES.c.external_id,
        _IDENTITIES.c.person_id,
        _PEOPLE.c.manager_id,
        _PEOPLE.c.active,
        _PEOPLE.c.erased_at,
    )
    .select_from(_IDENTITIES.join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id))
    .where(
        _IDENTITIES.c.org_id == bindparam("org_id"),
        _IDENTITIES.c.source == bindparam("source"),
    )
)
_INSERT_QUARANTINE = insert(_QUARANTINE)


# --------------------------------------------------------------------------- bulk writes


def _array_param(column: Any) -> Any:
    """``unnest(:a_<column>)`` typed for the column (JSON travels as text, cast back)."""
    col_type = column.type
    if isinstance(col_type, JSON):
        return cast_(func.unnest(bindparam(f"a_{column.name}", type_=ARRAY(Text()))), JSON)
    if isinstance(col_type, Enum | String):
        return func.unnest(bindparam(f"a_{column.name}", type_=ARRAY(String())))
    return func.unnest(bindparam(f"a_{column.name}", type_=ARRAY(col_type)))


@functools.cache
def _pg_update(table_name: str, columns: tuple[str, ...]) -> Any:
    table = metadata.tables[table_name]
    values = select(
        *(_array_param(table.c[name]).label(name) for name in ("id", *columns))
    ).subquery("v")
    return (
        update(table)
        .where(table.c.id == values.c.id)
        .values({name: values.c[name] for name in columns})
    )


@functools.cache
def _core_update(table_name: str, columns: tuple[str, ...]) -> Any:
    table = metadata.tables[table_name]
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )


class _Bulk:
    """Multi-row INSERT and UPDATE of uniform rows, the fastest way each database allows.

    PostgreSQL: inserts are ``COPY … FROM STDIN`` in the page's transaction (new people's
    ids are drawn from their sequence first, so none has to come back); updates are one
    ``UPDATE … FROM (SELECT unnest(:ids), unnest(:values) …)`` per batch — a short
    statement whatever the batch size, the values travelling as one array per column.
    Elsewhere (SQLite): executemany, and ``INSERT … RETURNING`` in parameter order.
    """

    def __init__(self, db: Callable[[], DbConnection], *, postgresql: bool) -> None:
        self._db = db
        self.postgresql = postgresql
        self._sequences: dict[str, str] = {}

    @staticmethod
    def _plain(column: Any, value: Any) -> Any:
        """A value as the driver should send it: JSON as text, enums by value."""
        if value is None:
            return None
        if isinstance(column.type, JSON):
            return json.dumps(value)
        if isinstance(value, enum.Enum):
            return value.value
        return value

    def _arrays(
        self, table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        return {
            f"a_{name}": [self._plain(table.c[name], row[name]) for row in rows] for name in columns
        }

    def allocate_ids(self, table: Table, count: int) -> list[int] | None:
        """``count`` new ids from the table's sequence (PostgreSQL); ``None`` elsewhere."""
        if not self.postgresql or count == 0:
            return None
        db = self._db()
        sequence = self._sequences.get(table.name)
        if sequence is None:  # looked up once: per row it would cost more than the insert
            sequence = db.execute(
                select(func.pg_get_serial_sequence(table.name, "id"))
            ).scalar_one()
            self._sequences[table.name] = sequence
        stmt = select(func.nextval(cast_(sequence, REGCLASS))).select_from(
            func.generate_series(1, count)
        )
        return list(db.execute(stmt).scalars())

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same keys."""
        if not rows:
            return
        db = self._db()
        if not self.postgresql:
            db.execute(insert(table), list(rows))
            return
        columns = tuple(rows[0])
        quote = db.dialect.identifier_preparer.quote
        copy_sql = (
            f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
        )
        # Values go as they are, but JSON (as text) and enums (by value).
        special = [
            (index, table.c[name])
            for index, name in enumerate(columns)
            if isinstance(table.c[name].type, JSON | Enum)
        ]
        values_of = operator.itemgetter(*columns)
        driver = db.connection.driver_connection
        if driver is None:  # pragma: no cover - a pooled connection is always live here
            raise RuntimeError("no database connection")
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                values = list(values_of(row)) if len(columns) > 1 else [values_of(row)]
                for index, column in special:
                    values[index] = self._plain(column, values[index])
                copy.write_row(values)

    def insert_returning_ids(
        self, table: Table, rows: Sequence[Mapping[str, Any]], *, ids: Sequence[int] | None
    ) -> list[int]:
        """Insert rows (same keys, no ``id``) and return their ids, in order.

        Args:
            table: The table.
            rows: The rows.
            ids: Ids from :meth:`allocate_ids` (PostgreSQL), or ``None`` to have the
                database assign them (returned in parameter order).
        """
        if not rows:
            return []
        if ids is None:
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return list(self._db().execute(stmt, list(rows)).scalars())
        self.insert(table, [{"id": pid, **row} for pid, row in zip(ids, rows, strict=True)])
        return list(ids)

    def update(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Update rows by ``id``; every row has ``id`` and the same other keys."""
        if not rows:
            return
        columns = tuple(name for name in rows[0] if name != "id")
        if self.postgresql:
            for chunk in _chunks(rows, _PG_BATCH):
                self._db().execute(
                    _pg_update(table.name, columns), self._arrays(table, ("id", *columns), chunk)
                )
            return
        stmt = _core_update(table.name, columns)
        for chunk in _chunks(rows):
            self._db().execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in chunk])


# --------------------------------------------------------------------------- engine


@dataclass
class _Counts:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    duplicates: int = 0
    erased_skipped: int = 0
    pages: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class _Failed(Exception):
    """The run must fail with a safe message (e.g. the mass-deactivation safety net)."""


class _Run:
    """One sync run's state; see the module docstring for the semantics."""

    def __init__(
        self,
        session: Session,
        *,
        org_id: int,
        connection_id: int,
        source: PeopleSource,
        full: bool,
        actor: str,
        now: datetime | None,
        progress: Callable[[SyncProgress], None] | None,
        overlap: timedelta | None,
    ) -> None:
        self.session = session
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self.sql = _statements(self.postgresql)
        self.bulk = _Bulk(session.connection, postgresql=self.postgresql)
        self.org_id = org_id
        self.connection_id = connection_id
        self.reader = source
        self.requested_full = full
        self.actor = actor
        self.fixed_now = now
        self.started_at = now or utcnow()
        self.progress_fn = progress
        self.overlap_arg = overlap
        self.run_id = 0
        self.source = ""
        self.connection_name = ""
        self.full = full
        self.since: datetime | None = None
        self.watermark_before: datetime | None = None
        self.max_modified: datetime | None = None
        self.source_had_people = True
        self.phase = "people"
        self.people = _Counts()
        self.deactivated = 0
        self.skills = _Counts()
        self.person_skills = _Counts()
        self.skill_facts: dict[str, int] = {"linked": 0, "category_defaulted": 0}
        self.managers_facts: dict[str, Any] = {
            "changed": 0,
            "missing": 0,
            "missing_ids": [],
            "cycles_broken": 0,
            "cycles": [],
        }
        self.skills_supported = isinstance(source, SkillSourcePort)
        # external id -> manager's external id (None: no manager), for people stored.
        self.managers: dict[str, str | None] = {}
        # external id -> person id, for people stored (compact: ints and the same strings).
        self.run_ids: dict[str, int] = {}
        self.quarantined_ids: set[str] = set()
        # people created or updated by the pass (a manager change counts them updated).
        self.written: set[int] = set()
        # skills: external id -> skill id, for this source (small: the catalogue)
        self.skill_ids: dict[str, int] = {}
        self.seen_skills: set[str] = set()
        self.seen_ratings: set[tuple[str, str]] = set()
        # rows created by this run when its tables were last analysed, per table group
        self.analysed: dict[str, int] = {}

    # ------------------------------------------------------------------ plumbing

    def now(self) -> datetime:
        return self.fixed_now or utcnow()

    @property
    def db(self) -> DbConnection:
        return self.session.connection()

    def report(self, pages: int) -> None:
        if self.progress_fn is None:
            return
        self.progress_fn(
            SyncProgress(
                phase=self.phase,
                pages=pages,
                seen=self.people.seen,
                created=self.people.created,
                updated=self.people.updated,
                unchanged=self.people.unchanged,
                deactivated=self.deactivated,
                quarantined=self.people.quarantined,
            )
        )

    def refresh_statistics(
        self, group: str, created: int, tables: Sequence[str], *, at_end: bool = False
    ) -> None:
        """Let PostgreSQL's planner see tables this run is filling (commits).

        A first sync grows ``person_identities`` from nothing; until autovacuum analyses
        it, the planner believes it tiny and may look a page's external ids up through
        the wrong index, scanning the whole source per page (quadratic). Analysing after
        the first pages and whenever the run has doubled what it created (and once at
        the end, for the next run) keeps the estimates right at a handful of ``ANALYZE``
        per sync (non-owners get a warning, not an error).
        """
        if not self.postgresql:
            return
        before = self.analysed.get(group, 0)
        if created - before < (_ANALYZE_AFTER if at_end else max(_ANALYZE_AFTER, before)):
            return
        for table in tables:
            self.db.execute(text(f"ANALYZE {table}"))
        self.session.commit()
        self.analysed[group] = created

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.report(0)

    def details(self) -> dict[str, Any]:
        people = self.people.as_dict() | {"deactivated": self.deactivated}
        out: dict[str, Any] = {
            "requested_full": self.requested_full,
            "since": self.since.isoformat() if self.since else None,
            "phase": self.phase,
            "people": people,
            "managers": dict(self.managers_facts),
        }
        if self.skills_supported:
            out["skills"] = self.skills.as_dict() | self.skill_facts
            out["person_skills"] = self.person_skills.as_dict()
        return out

    def counts(self) -> dict[str, Any]:
        return {
            "seen": self.people.seen,
            "created": self.people.created,
            "updated": self.people.updated,
            "unchanged": self.people.unchanged,
            "deactivated": self.deactivated,
            "quarantined": self.people.quarantined,
            "details": self.details(),
        }

    def save_counts(self) -> None:
        self.db.execute(update(_RUNS).where(_RUNS.c.id == self.run_id).values(**self.counts()))

    def quarantine(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.db.execute(_INSERT_QUARANTINE, rows)

    def quarantine_row(
        self, entity: str, external_id: str | None, reason: str, payload: Any
    ) -> dict[str, Any]:
        ext = external_id[:255] if isinstance(external_id, str) and external_id else None
        safe = _json_safe(payload)
        return {
            "org_id": self.org_id,
            "sync_run_id": self.run_id,
            "entity": entity,
            "external_id": ext,
            "reason": reason,
            "payload": safe if isinstance(safe, dict) else {"value": safe},
            "created_at": self.now(),
        }

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        session = self.session
        connection = session.get(Connection, self.connection_id)
        if connection is None or connection.org_id != self.org_id:
            raise NotFound(
                f"connection {self.connection_id} not found in this organization",
                field="connection",
            )
        if not connection.active:
            raise ConflictError(
                f"connection {connection.name!r} is paused; resume it before syncing",
                field="connection",
            )
        self.connection_name = connection.name
        self.source = f"{ConnectionKind(connection.kind).value}:{connection.id}"
        overlap = self.overlap_arg
        if overlap is None:
            minutes = (connection.settings or {}).get(
                "delta_overlap_minutes", DEFAULT_OVERLAP_MINUTES
            )
            if (
                isinstance(minutes, bool)
                or not isinstance(minutes, int | float)
                or not 0 <= minutes <= 7 * 24 * 60
            ):
                raise ValidationError(
                    "setting delta_overlap_minutes must be a number of minutes from 0 to 10080",
                    field="settings",
                )
            overlap = timedelta(minutes=minutes)
        if overlap < timedelta(0):
            raise ValidationError("the delta overlap cannot be negative", field="overlap")

        running = session.scalars(
            select(SyncRun).where(
                SyncRun.connection_id == connection.id, SyncRun.status == SyncStatus.RUNNING
            )
        ).all()
        for other in running:
            if other.started_at > self.started_at - STALE_AFTER:
                session.rollback()
                raise ConflictError(
                    f"a sync of connection {connection.name!r} is already running "
                    f"(run {other.id}, started {other.started_at:%Y-%m-%d %H:%M} UTC)",
                    field="connection",
                )
            other.status = SyncStatus.FAILED
            other.finished_at = self.started_at
            other.error = (
                f"abandoned: still running after {STALE_AFTER.total_seconds() / 3600:.0f} h "
                "(the process probably stopped)"
            )
            log.warning("sync run %s of connection %s abandoned", other.id, connection.id)
        session.flush()

        self.watermark_before = connection.watermark
        self.source_had_people = (
            session.scalars(
                select(PersonIdentity.id)
                .where(PersonIdentity.org_id == self.org_id, PersonIdentity.source == self.source)
                .limit(1)
            ).first()
            is not None
        )
        self.full = self.requested_full or connection.watermark is None
        self.since = None if self.full else cast(datetime, connection.watermark) - overlap
        run = SyncRun(
            org_id=self.org_id,
            connection_id=connection.id,
            full=self.full,
            status=SyncStatus.RUNNING,
            started_at=self.started_at,
            watermark_before=self.watermark_before,
            details=self.details(),
        )
        session.add(run)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise ConflictError(
                f"a sync of connection {connection.name!r} is already running",
                field="connection",
            ) from None
        self.run_id = run.id
        audit.record(
            session,
            org_id=self.org_id,
            actor=self.actor,
            action="sync.started",
            object_type="sync_run",
            object_id=run.id,
            details={
                "connection": connection.name,
                "full": self.full,
                "since": self.since.isoformat() if self.since else None,
            },
            now=self.started_at,
        )
        session.commit()
        log.info(
            "sync run %s of connection %s started (%s)",
            self.run_id,
            connection.id,
            "full" if self.full else f"delta since {self.since:%Y-%m-%dT%H:%M:%SZ}",
        )

    # ------------------------------------------------------------------ people

    def people_page(self, page: Sequence[Any]) -> None:
        counts = self.people
        counts.pages += 1
        valid: list[PersonRecord] = []
        held: list[dict[str, Any]] = []
        for record in page:
            ext = getattr(record, "external_id", None)
            key = ext if isinstance(ext, str) and ext else None
            if key is not None and (key in self.managers or key in self.quarantined_ids):
                counts.duplicates += 1
                continue
            if isinstance(record, PersonRecord):
                reason = _person_problem(record)
                if reason is None:
                    self.managers[record.external_id] = record.manager_external_id or None
                    valid.append(record)
                    if record.modified_at is not None and (
                        self.max_modified is None or record.modified_at > self.max_modified
                    ):
                        self.max_modified = record.modified_at
                    continue
                payload: Any = record
                entity = "person"
            elif isinstance(record, InvalidRecord):
                reason, payload, entity = record.reason, record.raw, record.entity or "person"
            else:
                reason = f"the connector returned a {type(record).__name__} among people"
                payload, entity = record, "person"
            if key is not None:
                self.quarantined_ids.add(key)
            held.append(self.quarantine_row(entity, key, str(reason), payload))
        counts.seen += len(valid) + len(held)
        counts.quarantined += len(held)
        self.quarantine(held)
        if valid:
            self.store_people(valid)
        self.save_counts()

    def store_people(self, records: list[PersonRecord]) -> None:
        existing: dict[str, Any] = {}
        if self.source_had_people:
            # Only this run writes this source's identities (one run at a time), so when
            # there were none at its start (a first sync) there is nothing to look up.
            existing = {
                row[0]: row
                for row in self.db.execute(
                    self.sql.find_people,
                    {
                        "org_id": self.org_id,
                        "source": self.source,
                        "external_ids": [r.external_id for r in records],
                    },
                )
            }
        stamp = self.now()
        new: list[PersonRecord] = []
        changes: list[dict[str, Any]] = []
        counts = self.people
        for record in records:
            row = existing.get(record.external_id)
            if row is None:
                new.append(record)
                continue
            self.run_ids[record.external_id] = row.id
            if row.erased_at is not None:
                counts.unchanged += 1
                counts.erased_skipped += 1
                continue
            values = _person_values(record)
            if all(
                values[name] == row[index]
                for index, name in enumerate(PERSON_FIELDS, start=_FIRST_FIELD)
            ):
                counts.unchanged += 1
                continue
            changes.append(values | {"id": row.id, "updated_at": stamp})
            self.written.add(row.id)
        if changes:
            self.bulk.update(_PEOPLE, changes)
            counts.updated += len(changes)
        if new:
            allocated = self.bulk.allocate_ids(_PEOPLE, len(new))
            if allocated is not None:  # known up front: reports on this page find them too
                self.run_ids.update(zip((r.external_id for r in new), allocated, strict=True))
            rows = []
            for r in new:
                manager = r.manager_external_id
                rows.append(
                    _person_values(r)
                    | {
                        # set now when already known; the manager pass settles the rest
                        "manager_id": self.run_ids.get(manager) if manager else None,
                        "org_id": self.org_id,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
            ids = self.bulk.insert_returning_ids(_PEOPLE, rows, ids=allocated)
            if allocated is None:
                self.run_ids.update(zip((r.external_id for r in new), ids, strict=True))
            self.bulk.insert(
                _IDENTITIES,
                [
                    {
                        "org_id": self.org_id,
                        "person_id": pid,
                        "source": self.source,
                        "external_id": r.external_id,
                        "created_at": stamp,
                    }
                    for pid, r in zip(ids, new, strict=True)
                ],
            )
            self.written.update(ids)
            counts.created += len(new)

    # ------------------------------------------------------------------ managers

    def resolve_managers(self) -> None:
        ext_to_pid: dict[str, int] = {}
        current: dict[int, int | None] = {}
        erased: set[int] = set()
        for ext, pid, manager_id, _active, erased_at in self.db.execute(
            _SOURCE_PEOPLE.execution_options(yield_per=_STREAM_ROWS),
            {"org_id": self.org_id, "source": self.source},
        ):
            ext_to_pid[ext] = pid
            current[pid] = manager_id
            if erased_at is not None:
                erased.add(pid)
        facts = self.managers_facts
        wanted: dict[int, int | None] = {}
        for ext, manager_ext in self.managers.items():
            pid = ext_to_pid.get(ext)
            if pid is None or pid in erased:
                continue
            target = None
            if manager_ext is not None:
                target = ext_to_pid.get(manager_ext)
                if target is None:
                    facts["missing"] += 1
                    if len(facts["missing_ids"]) < _MAX_EXAMPLES:
                        facts["missing_ids"].append(manager_ext)
            wanted[pid] = target
        self.break_cycles(wanted, current, ext_to_pid)
        stamp = self.now()
        changes = [
            {"id": pid, "manager_id": target, "updated_at": stamp}
            for pid, target in wanted.items()
            if current.get(pid) != target
        ]
        self.bulk.update(_PEOPLE, changes)
        facts["changed"] = len(changes)
        moved = sum(1 for change in changes if change["id"] not in self.written)
        self.people.unchanged -= moved
        self.people.updated += moved
        self.save_counts()

    def break_cycles(
        self,
        wanted: dict[int, int | None],
        current: Mapping[int, int | None],
        ext_to_pid: Mapping[str, int],
    ) -> None:
        """Drop, in ``wanted``, one edge of every cycle the new org chart would have.

        The edge dropped is a *new* one (differing from the database) when there is one,
        of the person with the greatest external id — stable, so the next identical run
        drops the same edge and changes nothing.
        """
        graph: dict[int, int | None] = dict(current)
        graph.update(wanted)
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        cycles: list[list[int]] = []
        for start in graph:
            if start in state:
                continue
            path: list[int] = []
            node: int | None = start
            while node is not None and node in graph and node not in state:
                state[node] = 1
                path.append(node)
                node = graph[node]
            if node is not None and state.get(node) == 1:
                cycles.append(path[path.index(node) :])
            for member in path:
                state[member] = 2
        if not cycles:
            return
        members = {pid for cycle in cycles for pid in cycle}
        pid_to_ext = {pid: ext for ext, pid in ext_to_pid.items() if pid in members}
        facts = self.managers_facts
        for cycle in cycles:
            candidates = [pid for pid in cycle if pid in wanted]
            new_edges = [pid for pid in candidates if wanted[pid] != current.get(pid)]
            pool = new_edges or candidates
            if pool:
                drop = max(pool, key=lambda pid: pid_to_ext.get(pid, ""))
                wanted[drop] = None
                facts["cycles_broken"] += 1
            if len(facts["cycles"]) < _MAX_EXAMPLES:
                facts["cycles"].append([pid_to_ext.get(pid, str(pid)) for pid in cycle])

    # ------------------------------------------------------------------ skills

    def load_skills(self) -> tuple[dict[str, tuple[int, str, str | None, str]], set[int]]:
        """The organization's skills by code, and the ids already mapped by this source."""
        by_code: dict[str, tuple[int, str, str | None, str]] = {}
        for sid, code, name, name_de, category in self.db.execute(
            select(
                _SKILLS.c.id, _SKILLS.c.code, _SKILLS.c.name, _SKILLS.c.name_de, _SKILLS.c.category
            ).where(_SKILLS.c.org_id == self.org_id)
        ):
            by_code[code] = (sid, name, name_de, str(category))
        mapped: set[int] = set()
        for ext, sid in self.db.execute(
            select(_SKILL_IDS.c.external_id, _SKILL_IDS.c.skill_id).where(
                _SKILL_IDS.c.org_id == self.org_id, _SKILL_IDS.c.source == self.source
            )
        ):
            self.skill_ids[ext] = sid
            mapped.add(sid)
        return by_code, mapped

    def skills_page(
        self,
        page: Sequence[Any],
        by_code: dict[str, tuple[int, str, str | None, str]],
        mapped: set[int],
    ) -> None:
        counts = self.skills
        counts.pages += 1
        by_id = {value[0]: (code, *value[1:]) for code, value in by_code.items()}
        held: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for record in page:
            ext = getattr(record, "external_id", None)
            key = ext if isinstance(ext, str) and ext else None
            if key is not None and key in self.seen_skills:
                counts.duplicates += 1
                continue
            if key is not None:
                self.seen_skills.add(key)
            reason: str | None
            if isinstance(record, SkillRecord):
                reason = _skill_problem(record)
                if reason is None:
                    self.store_skill(record, by_code, by_id, mapped, changes)
                    continue
                payload: Any = record
            elif isinstance(record, InvalidRecord):
                reason, payload = record.reason, record.raw
            else:
                reason = f"the connector returned a {type(record).__name__} among skills"
                payload = record
            held.append(self.quarantine_row("skill", key, str(reason), payload))
        for change in changes:
            self.db.execute(
                update(_SKILLS).where(_SKILLS.c.id == change.pop("id")).values(**change)
            )
        counts.seen += len(held)
        counts.quarantined += len(held)
        self.quarantine(held)
        self.save_counts()

    def _category(self, record: SkillRecord) -> str | None:
        if record.category is None:
            return None
        try:
            return SkillCategory(record.category).value
        except ValueError:
            self.skill_facts["category_defaulted"] += 1
            return None

    def store_skill(
        self,
        record: SkillRecord,
        by_code: dict[str, tuple[int, str, str | None, str]],
        by_id: dict[int, tuple[str, str, str | None, str]],
        mapped: set[int],
        changes: list[dict[str, Any]],
    ) -> None:
        counts = self.skills
        counts.seen += 1
        category = self._category(record)
        sid = self.skill_ids.get(record.external_id)
        if sid is None and record.code and record.code in by_code:
            candidate = by_code[record.code][0]
            if candidate not in mapped:  # the source names one of our skills: map it
                sid = candidate
                self.db.execute(
                    insert(_SKILL_IDS).values(
                        org_id=self.org_id,
                        skill_id=sid,
                        source=self.source,
                        external_id=record.external_id,
                    )
                )
                self.skill_ids[record.external_id] = sid
                mapped.add(sid)
                self.skill_facts["linked"] += 1
        if sid is not None:
            code, name, name_de, stored_category = by_id[sid]
            change: dict[str, Any] = {}
            if record.name != name:
                change["name"] = record.name
            if record.name_de is not None and record.name_de != name_de:
                change["name_de"] = record.name_de
            if category is not None and category != stored_category:
                change["category"] = category
            if change:
                counts.updated += 1
                by_id[sid] = (
                    code,
                    change.get("name", name),
                    change.get("name_de", name_de),
                    change.get("category", stored_category),
                )
                by_code[code] = (sid, *by_id[sid][1:])
                changes.append({"id": sid, **change})
            else:
                counts.unchanged += 1
            return
        base = record.code or _derived_code(record.external_id)
        code, n = base, 1
        while code in by_code:
            n += 1
            suffix = f"-{n}"
            code = base[: 64 - len(suffix)] + suffix
        stored = category or SkillCategory.TECHNOLOGY.value
        sid = self.db.execute(
            insert(_SKILLS)
            .values(
                org_id=self.org_id,
                code=code,
                name=record.name,
                name_de=record.name_de,
                category=stored,
            )
            .returning(_SKILLS.c.id)
        ).scalar_one()
        self.db.execute(
            insert(_SKILL_IDS).values(
                org_id=self.org_id, skill_id=sid, source=self.source, external_id=record.external_id
            )
        )
        by_code[code] = (sid, record.name, record.name_de, stored)
        by_id[sid] = (code, record.name, record.name_de, stored)
        self.skill_ids[record.external_id] = sid
        mapped.add(sid)
        counts.created += 1

    def person_skills_page(self, page: Sequence[Any]) -> None:
        counts = self.person_skills
        counts.pages += 1
        held: list[dict[str, Any]] = []
        valid: list[PersonSkillRecord] = []
        for record in page:
            if isinstance(record, PersonSkillRecord):
                pair = (record.person_external_id, record.skill_external_id)
                ext = f"{pair[0]}/{pair[1]}" if all(isinstance(p, str) for p in pair) else None
                if ext is not None and pair in self.seen_ratings:
                    counts.duplicates += 1
                    continue
                if ext is not None:
                    self.seen_ratings.add(pair)
                reason = _person_skill_problem(record)
                if reason is None:
                    valid.append(record)
                    continue
                held.append(self.quarantine_row("person_skill", ext, reason, record))
            elif isinstance(record, InvalidRecord):
                held.append(
                    self.quarantine_row(
                        record.entity or "person_skill",
                        record.external_id,
                        record.reason,
                        record.raw,
                    )
                )
            else:
                reason = f"the connector returned a {type(record).__name__} among skill ratings"
                held.append(self.quarantine_row("person_skill", None, reason, record))
        db = self.db
        people: dict[str, tuple[int, bool]] = {}
        if valid:
            for ext, pid, erased_at in db.execute(
                self.sql.find_identities,
                {
                    "org_id": self.org_id,
                    "source": self.source,
                    "external_ids": sorted({r.person_external_id for r in valid}),
                },
            ):
                people[ext] = (pid, erased_at is not None)
        resolved: list[tuple[PersonSkillRecord, int, int]] = []
        for record in valid:
            ext = f"{record.person_external_id}/{record.skill_external_id}"
            person = people.get(record.person_external_id)
            sid = self.skill_ids.get(record.skill_external_id)
            if person is None:
                why = (
                    "the person's record was quarantined in this run"
                    if record.person_external_id in self.quarantined_ids
                    else "unknown person: not synced from this connection"
                )
                held.append(self.quarantine_row("person_skill", ext, why, record))
            elif sid is None:
                held.append(
                    self.quarantine_row(
                        "person_skill",
                        ext,
                        "unknown skill: not in this connection's catalogue",
                        record,
                    )
                )
            elif person[1]:
                counts.seen += 1
                counts.unchanged += 1
                counts.erased_skipped += 1
            else:
                resolved.append((record, person[0], sid))
        if resolved:
            existing = {
                (pid, sid): (rid, level, assessed_on)
                for rid, pid, sid, level, assessed_on in db.execute(
                    self.sql.find_ratings,
                    {
                        "org_id": self.org_id,
                        "person_ids": sorted({pid for _, pid, _ in resolved}),
                    },
                )
            }
            inserts: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            for record, pid, sid in resolved:
                counts.seen += 1
                found = existing.get((pid, sid))
                if found is None:
                    inserts.append(
                        {
                            "org_id": self.org_id,
                            "person_id": pid,
                            "skill_id": sid,
                            "level": record.level,
                            "source": SkillSource.HRIS.value,
                            "assessed_on": record.assessed_on,
                        }
                    )
                    existing[(pid, sid)] = (0, record.level, record.assessed_on)
                elif (found[1], found[2]) != (record.level, record.assessed_on):
                    changes.append(
                        {"id": found[0], "level": record.level, "assessed_on": record.assessed_on}
                    )
                else:
                    counts.unchanged += 1
            self.bulk.insert(_PERSON_SKILLS, inserts)
            counts.created += len(inserts)
            self.bulk.update(_PERSON_SKILLS, changes)
            counts.updated += len(changes)
        counts.seen += len(held)
        counts.quarantined += len(held)
        self.quarantine(held)
        self.save_counts()

    # ------------------------------------------------------------------ finish

    def finish(self) -> datetime | None:
        """Deactivate leavers (full runs), mark success, advance the watermark; one commit."""
        to_deactivate: list[int] = []
        if self.full:
            active = 0
            for ext, pid, _manager, is_active, erased_at in self.db.execute(
                _SOURCE_PEOPLE.execution_options(yield_per=_STREAM_ROWS),
                {"org_id": self.org_id, "source": self.source},
            ):
                if not is_active or erased_at is not None:
                    continue
                active += 1
                if ext not in self.managers and ext not in self.quarantined_ids:
                    to_deactivate.append(pid)
            stored = self.people.created + self.people.updated + self.people.unchanged
            if stored == 0 and to_deactivate:
                raise _Failed(
                    f"the source returned no people, but {active} people of this connection "
                    "are active: refusing to deactivate everyone (check the connection's "
                    "settings, e.g. the company id, and the account's permissions)"
                )
        if to_deactivate:
            self.enter("deactivate")
            stamp = self.now()
            for chunk in _chunks(to_deactivate):
                result = self.db.execute(
                    self.sql.deactivate, {"ids": list(chunk), "updated_at": stamp}
                )
                self.deactivated += result.rowcount
        after = self.max_modified
        if after is None:
            after = self.started_at if self.full else self.watermark_before
        if after is not None and self.watermark_before is not None:
            after = max(after, self.watermark_before)
        if after != self.watermark_before:
            self.db.execute(
                update(_CONNECTIONS)
                .where(_CONNECTIONS.c.id == self.connection_id)
                .values(watermark=after)
            )
        self.phase = "done"
        finished = self.now()
        self.db.execute(
            update(_RUNS)
            .where(_RUNS.c.id == self.run_id)
            .values(
                status=SyncStatus.SUCCEEDED.value,
                finished_at=finished,
                watermark_after=after,
                error=None,
                **self.counts(),
            )
        )
        self.audit_finished(SyncStatus.SUCCEEDED, None)
        self.session.commit()
        return after

    def audit_finished(self, status: SyncStatus, error: str | None) -> None:
        details: dict[str, Any] = {
            "connection": self.connection_name,
            "status": status.value,
            "full": self.full,
        } | {k: v for k, v in self.counts().items() if k != "details"}
        if self.skills_supported:
            details["skills"] = self.skills.created + self.skills.updated
            details["person_skills"] = self.person_skills.created + self.person_skills.updated
        if error:
            details["error"] = error[:200]
        audit.record(
            self.session,
            org_id=self.org_id,
            actor=self.actor,
            action="sync.finished",
            object_type="sync_run",
            object_id=self.run_id,
            details=details,
        )

    def fail(self, error: str) -> None:
        """Roll back the page in flight and record the failure (old watermark kept)."""
        self.session.rollback()
        self.db.execute(
            update(_RUNS)
            .where(_RUNS.c.id == self.run_id)
            .values(
                status=SyncStatus.FAILED.value,
                finished_at=self.now(),
                watermark_after=self.watermark_before,
                error=error,
                **self.counts(),
            )
        )
        self.audit_finished(SyncStatus.FAILED, error)
        self.session.commit()
        log.warning("sync run %s failed in phase %s: %s", self.run_id, self.phase, error)

    def result(self, status: SyncStatus, error: str | None, after: datetime | None) -> SyncResult:
        return SyncResult(
            run_id=self.run_id,
            status=status,
            full=self.full,
            seen=self.people.seen,
            created=self.people.created,
            updated=self.people.updated,
            unchanged=self.people.unchanged,
            deactivated=self.deactivated,
            quarantined=self.people.quarantined,
            error=error,
            watermark_before=self.watermark_before,
            watermark_after=after,
            details=self.details(),
        )

    # ------------------------------------------------------------------ the run

    def run(self) -> SyncResult:
        self.start()
        try:
            after = self.run_phases()
        except (PluginError, _Failed) as exc:
            error = str(exc)[:_ERROR_LIMIT] if isinstance(exc, _Failed) else _redacted_error(exc)
            self.fail(error)
            return self.result(SyncStatus.FAILED, error, self.watermark_before)
        except BaseException as exc:
            error = (
                "interrupted before it finished"
                if isinstance(exc, KeyboardInterrupt | SystemExit)
                else _redacted_error(exc)
            )
            if not isinstance(exc, KeyboardInterrupt | SystemExit | SQLAlchemyError):
                # A bug: the traceback helps. Database errors are not logged with theirs,
                # which would quote the statement's parameters (personal data).
                log.error("sync run %s hit a bug", self.run_id, exc_info=exc)
            try:
                self.fail(error)
            except Exception:
                log.error("could not record the failure of sync run %s", self.run_id)
            raise
        log.info(
            "sync run %s succeeded: %s seen, %s created, %s updated, %s unchanged, "
            "%s deactivated, %s quarantined",
            self.run_id,
            self.people.seen,
            self.people.created,
            self.people.updated,
            self.people.unchanged,
            self.deactivated,
            self.people.quarantined,
        )
        result = self.result(SyncStatus.SUCCEEDED, None, after)
        try:
            self.refresh_statistics("people", self.people.created, _PEOPLE_TABLES, at_end=True)
        except SQLAlchemyError:  # the run succeeded; autovacuum will analyse later
            self.session.rollback()
            log.warning("could not refresh the statistics after sync run %s", self.run_id)
        self.report(0)
        return result

    def run_phases(self) -> datetime | None:
        self.enter("people")
        since = self.since
        with Prefetch(lambda: self.reader.iter_people(since=since)) as pages:
            for page in pages:
                self.people_page(page)
                self.session.commit()
                if self.source_had_people:  # else no page looks anything up
                    self.refresh_statistics("people", self.people.created, _PEOPLE_TABLES)
                self.report(self.people.pages)
        self.enter("managers")
        self.resolve_managers()
        self.session.commit()
        if self.skills_supported:
            skill_source = cast(SkillSourcePort, self.reader)
            self.enter("skills")
            by_code, mapped = self.load_skills()
            with Prefetch(skill_source.iter_skills) as skill_pages:
                for skill_page in skill_pages:
                    self.skills_page(skill_page, by_code, mapped)
                    self.session.commit()
                    self.report(self.skills.pages)
            self.enter("person_skills")
            with Prefetch(lambda: skill_source.iter_person_skills(since=since)) as rating_pages:
                for rating_page in rating_pages:
                    self.person_skills_page(rating_page)
                    self.session.commit()
                    self.refresh_statistics(
                        "person_skills", self.person_skills.created, (_PERSON_SKILLS.name,)
                    )
                    self.report(self.person_skills.pages)
        return self.finish()


def run_sync(
    session_factory: Callable[[], Session],
    *,
    org_id: int,
    connection_id: int,
    source: PeopleSource,
    full: bool,
    actor: str,
    now: datetime | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    overlap: timedelta | None = None,
) -> SyncResult:
    """Sync one connection: people (and skills, when the source has them), page by page.

    Commits itself (per page; see the module docstring): give it a session *factory*,
    not the caller's unit of work.

    Args:
        session_factory: Opens a new session; the engine uses one for the run and closes it.
        org_id: The organization.
        connection_id: The connection to sync (of that organization).
        source: The connector built from the connection's config
            (:func:`plugin.services.connections.connection_config`).
        full: Read everyone and deactivate people not seen; ``False`` for a delta since
            the watermark (a full read when there is no watermark yet).
        actor: Who started it, for the audit log.
        now: The run's clock (simulations, tests); the current time by default.
        progress: Called after every page and at each phase change (e.g. the CLI's
            progress line); it must be quick.
        overlap: Subtracted from the watermark for a delta; default the connection's
            ``delta_overlap_minutes`` setting, else :data:`DEFAULT_OVERLAP_MINUTES`.

    Returns:
        The result; ``status`` is ``failed`` (with ``error``) when the source failed or
        the safety net refused to deactivate everyone.

    Raises:
        NotFound: No such connection in the organization.
        ConflictError: The connection is paused, or a sync of it is already running.
        ValidationError: The connection's ``delta_overlap_minutes`` is not a number.
        Exception: A bug or a database failure, after the run was marked failed.
    """
    with session_factory() as session:
        return _Run(
            session,
            org_id=org_id,
            connection_id=connection_id,
            source=source,
            full=full,
            actor=actor,
            now=now,
            progress=progress,
            overlap=overlap,
        ).run()


def get_run(session: Session, *, org_id: int, run_id: int) -> SyncRun:
    """One sync run of the organization.

    Raises:
        NotFound: No such run in this organization.
    """
    run = session.get(SyncRun, run_id)
    if run is None or run.org_id != org_id:
        raise NotFound(f"sync run {run_id} not found in this organization", field="run")
    return run


def list_runs(
    session: Session, *, org_id: int, connection_id: int, limit: int = 20
) -> list[SyncRun]:
    """A connection's sync runs, newest first."""
    stmt = (
        select(SyncRun)
        .where(SyncRun.org_id == org_id, SyncRun.connection_id == connection_id)
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def list_quarantined(
    session: Session,
    *,
    org_id: int,
    connection_id: int,
    run_id: int | None = None,
    limit: int = 100,
) -> list[QuarantinedRecord]:
    """The records a run quarantined (default: the connection's latest run), in order.

    Their payloads are personal data: show them to admins, never log them.
    """
    if run_id is None:
        run_id = session.scalars(
            select(SyncRun.id)
            .where(SyncRun.org_id == org_id, SyncRun.connection_id == connection_id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        ).first()
        if run_id is None:
            return []
    stmt = (
        select(QuarantinedRecord)
        .join(SyncRun, SyncRun.id == QuarantinedRecord.sync_run_id)
        .where(
            and_(
                QuarantinedRecord.org_id == org_id,
                QuarantinedRecord.sync_run_id == run_id,
                SyncRun.connection_id == connection_id,
            )
        )
        .order_by(QuarantinedRecord.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))

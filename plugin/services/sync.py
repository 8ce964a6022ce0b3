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
  :class:`~plugin.models.PersonIdentity`, source = ``<kind>:<connection id>``. Only the
  fields the source **owns** are compared and written (its optional ``person_fields``,
  see :class:`~plugin.ports.PeopleSource`; default all of :data:`PERSON_FIELDS` and the
  manager): an HRIS without grades leaves the ``job_level`` set elsewhere alone, and a
  person it creates gets the columns' defaults for the rest. A person whose owned fields
  are all equal is counted ``unchanged`` and not written at all: an identical second
  sync issues no ``UPDATE`` and leaves ``updated_at`` alone. Erased
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
  not set (``details["managers"]["cycles"]``). Only changed ``manager_id`` are written;
  a source not owning the manager skips this pass.
* **Full runs deactivate** the source's active people not seen in the run (never delete;
  only a source owning ``active``). A full run that stored nobody while the source has
  active people fails instead: an empty or misconfigured tenant must not deactivate
  everyone. **Delta runs** read
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
  (:class:`~plugin.errors.ConflictError`) while one is running. A running run writes a
  heartbeat every :data:`HEARTBEAT_EVERY` (a thread with its own connection, so a slow
  source page does not stop it); a run whose heartbeat is older than
  :data:`STALE_AFTER` is taken for dead and marked failed ("abandoned"), and if its
  process was merely frozen and comes back, it cannot finish as succeeded. A partial
  unique index makes this hold across hosts.

Skills (when the source implements :class:`~plugin.ports.SkillSource`): the catalogue is
upserted by :class:`~plugin.models.SkillIdentity` → :class:`~plugin.models.Skill` (code
from the record, else derived from the external id; a code the source names explicitly
that already exists in the organization is *mapped* to that skill, other collisions get
a ``-2``, ``-3`` … suffix), then people's ratings → :class:`~plugin.models.PersonSkill`
(source ``hris``), by ``(organization, person, skill, source)``. Per-entity counts are in
``SyncRun.details``; the run's top-level counts are the people's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import gc
import json
import logging
import math
import operator
import queue
import re
import sys
import threading
import time
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
from plugin.errors import (
    N_,
    ConflictError,
    ConnectorError,
    NotFound,
    PluginError,
    ValidationError,
)
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
    "MANAGER_FIELD",
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
    "running_run",
]

log = logging.getLogger(__name__)

#: A running sync writes a heartbeat this often (from a thread of its own, on a
#: connection of its own), whatever the source's pace.
HEARTBEAT_EVERY: Final = timedelta(seconds=30)
#: A run ``running`` whose heartbeat (or start) is older than this is taken for dead:
#: its process stopped (a crash, a restarted web worker that ran it).
STALE_AFTER: Final = timedelta(minutes=10)
#: The delta overlap when the connection's settings name no ``delta_overlap_minutes``.
DEFAULT_OVERLAP_MINUTES: Final = 60
#: Pages the reader thread may fetch ahead of the page being stored.
PREFETCH_PAGES: Final = 2
#: The person fields a sync can write (everything of :class:`PersonRecord` that Person
#: has a column for). A source owns all of them unless it declares ``person_fields``.
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
#: The name of the manager (resolved to ``manager_id``) in a source's ``person_fields``.
MANAGER_FIELD: Final = "manager"
# What a new person gets for the fields its source does not own (the columns' defaults).
_UNOWNED_DEFAULTS: Final[Mapping[str, Any]] = {"languages": (), "active": True}
# Written for every person a source creates, owned or not: a person needs a name.
_ALWAYS_ON_INSERT: Final = frozenset({"given_name", "family_name"})

_CHUNK = 1000
# Rows per PostgreSQL array statement (arrays are cheap; this only bounds one statement).
_PG_BATCH = 10_000
# Rows fetched at a time when the whole source is read back (managers, leavers).
_STREAM_ROWS = 5_000
# Rows a run creates before PostgreSQL's statistics are refreshed (then at each doubling).
_ANALYZE_AFTER = 500
_MAX_EXAMPLES = 20
# Seconds between two writes of a running sync's counts to its SyncRun row.
_SAVE_COUNTS_EVERY = 1.0
# New ids drawn from a sequence ahead of need, at most (grows with what a run creates).
_MAX_ID_BLOCK = 10_000
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


def _values_getter(names: Sequence[str]) -> Callable[[PersonRecord], tuple[Any, ...]]:
    """A function giving a record's values of ``names`` as a tuple (one C call)."""
    if not names:
        return lambda record: ()
    get = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda record: (get(record),)
    return cast(Callable[[PersonRecord], tuple[Any, ...]], get)


@dataclass(frozen=True)
class _Owned:
    """The person fields a source owns (``person_fields``), and how they are read.

    Attributes:
        fields: The owned columns, in :data:`PERSON_FIELDS` order: compared and written.
        manager: Whether the source owns the manager (else the manager pass is skipped).
        insert_fields: The columns a new person takes from its record.
        default_fields: The columns a new person gets the default of.
        defaults: Those defaults, in order.
    """

    fields: tuple[str, ...]
    manager: bool
    insert_fields: tuple[str, ...]
    default_fields: tuple[str, ...]
    defaults: tuple[Any, ...]

    @property
    def active(self) -> bool:
        """Whether the source owns ``active`` (and so deactivates leavers on a full run)."""
        return "active" in self.fields

    @functools.cached_property
    def stored(self) -> Callable[[PersonRecord], tuple[Any, ...]]:
        """A record's owned values as the database gives them back (languages as a list)."""
        get = _values_getter(self.fields)
        if "languages" not in self.fields:
            return get
        at = self.fields.index("languages")

        def stored(record: PersonRecord) -> tuple[Any, ...]:
            values = get(record)
            return (*values[:at], list(values[at]), *values[at + 1 :])

        return stored

    @functools.cached_property
    def inserted(self) -> Callable[[PersonRecord], tuple[Any, ...]]:
        """A record's values of :attr:`insert_fields`."""
        return _values_getter(self.insert_fields)

    @classmethod
    def of(cls, source: object) -> _Owned:
        """What ``source`` owns, from its optional ``person_fields`` (None: everything).

        Raises:
            ValueError: ``person_fields`` is not a set of known field names.
        """
        declared = getattr(source, "person_fields", None)
        known = {*PERSON_FIELDS, MANAGER_FIELD}
        if declared is None:
            names = known
        else:
            if isinstance(declared, str | bytes) or not isinstance(declared, Iterable):
                raise ValueError(
                    f"{type(source).__name__}.person_fields must be a set of field names"
                )
            names = set(declared)
            unknown = sorted(str(name) for name in names - known)
            if unknown:
                raise ValueError(
                    f"{type(source).__name__}.person_fields names unknown fields "
                    f"{', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
        fields = tuple(name for name in PERSON_FIELDS if name in names)
        insert_fields = tuple(
            name for name in PERSON_FIELDS if name in names or name in _ALWAYS_ON_INSERT
        )
        default_fields = tuple(name for name in PERSON_FIELDS if name not in insert_fields)
        return cls(
            fields=fields,
            manager=MANAGER_FIELD in names,
            insert_fields=insert_fields,
            default_fields=default_fields,
            defaults=tuple(_UNOWNED_DEFAULTS.get(name) for name in default_fields),
        )


def _checked_people(page: Iterable[Any]) -> list[tuple[Any, str | None]]:
    """Each item of a people page with why the engine refuses it (``None``: accepted)."""
    return [
        (record, _person_problem(record) if isinstance(record, PersonRecord) else None)
        for record in page
    ]


def _checked_pages(pages: Iterable[Sequence[Any]]) -> Iterator[list[tuple[Any, str | None]]]:
    """:func:`_checked_people` of each page; closing it closes the source's iterator."""
    iterator = iter(pages)
    try:
        for page in iterator:
            yield _checked_people(page)
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()


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


@functools.cache
def _find_people(postgresql: bool, fields: tuple[str, ...]) -> Any:
    """A page's people of the source: external id, id, erased_at, then ``fields``."""
    return (
        select(
            _IDENTITIES.c.external_id,
            _PEOPLE.c.id,
            _PEOPLE.c.erased_at,
            *(_PEOPLE.c[name] for name in fields),
        )
        .select_from(_IDENTITIES.join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id))
        .where(
            _IDENTITIES.c.org_id == bindparam("org_id"),
            _IDENTITIES.c.source == bindparam("source"),
            _one_of(_IDENTITIES.c.external_id, "external_ids", String(), postgresql=postgresql),
        )
    )


_FIRST_FIELD = 3  # index of the first owned field in a _find_people row
_SOURCE_PEOPLE = (
    select(
        _IDENTITIES.c.external_id,
        _IDENTITIES.c.person_id,
        _PEOPLE.c.manager_id,
        _PEOPLE.c.active,
        _PEOPLE.c.erased_at.is_not(None).label("erased"),
    )
    .select_from(_IDENTITIES.join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id))
    .where(
        _IDENTITIES.c.org_id == bindparam("org_id"),
        _IDENTITIES.c.source == bindparam("source"),
    )
)
_INSERT_QUARANTINE = insert(_QUARANTINE)
# A row of _SOURCE_PEOPLE: external id, person id, manager id, active, erased.
_SourcePerson = tuple[str, int, int | None, bool, bool]


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


# PostgreSQL types a binary COPY sends as they are (varchar and json travel as text: the
# same binary form); a table with any other column type is copied as text instead.
_BINARY_COPY_TYPES: Final[Mapping[str, str]] = {
    "int2": "int2",
    "int4": "int4",
    "int8": "int8",
    "bool": "bool",
    "date": "date",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "float8": "float8",
    "text": "text",
    "varchar": "text",
    "json": "text",
}
_COLUMN_TYPES = text(
    "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
)
# Distinct JSON values (e.g. language lists) whose text is kept per run.
_JSON_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _CopyPlan:
    """How rows of some columns of a table are copied (PostgreSQL)."""

    sql: str
    types: tuple[str, ...] | None  # binary COPY with these types, else text COPY
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, to driver value)


class _Bulk:
    """Multi-row INSERT and UPDATE of uniform rows, the fastest way each database allows.

    PostgreSQL: inserts are ``COPY … FROM STDIN`` in the page's transaction — binary, with
    the column types read from the catalogue once, so neither side formats or parses
    text (new people's ids are drawn from their sequence first, so none has to come
    back); updates are one ``UPDATE … FROM (SELECT unnest(:ids), unnest(:values) …)`` per
    batch — a short statement whatever the batch size, the values travelling as one array
    per column. Elsewhere (SQLite): executemany, and ``INSERT … RETURNING`` in parameter
    order.
    """

    def __init__(self, db: Callable[[], DbConnection], *, postgresql: bool) -> None:
        self._db = db
        self.postgresql = postgresql
        self._sequences: dict[str, str] = {}
        self._id_pool: dict[str, list[int]] = {}
        self._ids_drawn: dict[str, int] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], _CopyPlan] = {}
        self._json_text: dict[Any, str] = {}

    def _json(self, value: Any) -> str | None:
        """JSON text of a value; tuples (language lists) are remembered, they repeat."""
        if value is None:
            return None
        if type(value) is not tuple:
            return json.dumps(value)
        found = self._json_text.get(value)
        if found is None:
            found = json.dumps(value)
            if len(self._json_text) < _JSON_CACHE_SIZE:
                self._json_text[value] = found
        return found

    @staticmethod
    def _by_value(value: Any) -> Any:
        return value.value if isinstance(value, enum.Enum) else value

    def _converter(self, column: Any) -> Callable[[Any], Any] | None:
        """What a value of the column must become for the driver: JSON as text, enums by value."""
        if isinstance(column.type, JSON):
            return self._json
        if isinstance(column.type, Enum):
            return self._by_value
        return None

    def _arrays(
        self, table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        arrays: dict[str, Any] = {}
        for name in columns:
            convert = self._converter(table.c[name])
            values = [row[name] for row in rows]
            arrays[f"a_{name}"] = [convert(v) for v in values] if convert else values
        return arrays

    def allocate_ids(self, table: Table, count: int) -> list[int] | None:
        """``count`` new ids from the table's sequence (PostgreSQL); ``None`` elsewhere.

        A run that keeps creating draws ids ahead, in blocks as large as what it created
        so far (at most :data:`_MAX_ID_BLOCK`), so a first sync asks the sequence a dozen
        times, not once per page; ids drawn and not used are a harmless gap.
        """
        if not self.postgresql or count == 0:
            return None
        pool = self._id_pool.setdefault(table.name, [])
        if len(pool) < count:
            drawn = self._ids_drawn.get(table.name, 0)
            pool.extend(self._draw_ids(table, count - len(pool) + min(drawn, _MAX_ID_BLOCK)))
            self._ids_drawn[table.name] = drawn + count
        ids = pool[:count]
        del pool[:count]
        return ids

    def _draw_ids(self, table: Table, count: int) -> list[int]:
        db = self._db()
        sequence = self._sequences.get(table.name)
        if sequence is None:  # looked up once: per row it would cost more than the insert
            sequence = db.execute(
                select(func.pg_get_serial_sequence(table.name, "id"))
            ).scalar_one()
            self._sequences[table.name] = sequence
        # One array, not a row per id: the ids come back in one value.
        stmt = select(func.array_agg(func.nextval(cast_(sequence, REGCLASS)))).select_from(
            func.generate_series(1, bindparam("count", type_=Integer()))
        )
        return list(db.execute(stmt, {"count": count}).scalar_one())

    def _copy_plan(self, db: DbConnection, table: Table, columns: tuple[str, ...]) -> _CopyPlan:
        plan = self._plans.get((table.name, columns))
        if plan is not None:
            return plan
        quote = db.dialect.identifier_preparer.quote
        sql = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
        found: dict[str, str] = dict(db.execute(_COLUMN_TYPES, {"table": quote(table.name)}).all())
        wire = [_BINARY_COPY_TYPES.get(found.get(name, "")) for name in columns]
        types: tuple[str, ...] | None = None
        if all(wire):
            types = tuple(cast(str, t) for t in wire)
            sql += " (FORMAT BINARY)"
        convert = tuple(
            (index, converter)
            for index, name in enumerate(columns)
            if (converter := self._converter(table.c[name])) is not None
        )
        plan = self._plans[(table.name, columns)] = _CopyPlan(sql=sql, types=types, convert=convert)
        return plan

    def insert_rows(
        self, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert rows given as value tuples in the order of ``columns``."""
        if not rows:
            return
        db = self._db()
        if not self.postgresql:
            db.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
            return
        plan = self._copy_plan(db, table, columns)
        driver = db.connection.driver_connection
        if driver is None:  # pragma: no cover - a pooled connection is always live here
            raise RuntimeError("no database connection")
        with driver.cursor() as cursor, cursor.copy(plan.sql) as copy:
            if plan.types is not None:
                copy.set_types(list(plan.types))
            write = copy.write_row
            if not plan.convert:
                for row in rows:
                    write(row)
                return
            if len(plan.convert) == 1:
                ((index, convert),) = plan.convert
                for row in rows:
                    values = list(row)
                    values[index] = convert(values[index])
                    write(values)
                return
            for row in rows:
                values = list(row)
                for index, convert in plan.convert:
                    values[index] = convert(values[index])
                write(values)

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same keys."""
        if not rows:
            return
        columns = tuple(rows[0])
        self.insert_rows(table, columns, [tuple(row[name] for name in columns) for row in rows])

    def insert_returning_ids(
        self,
        table: Table,
        columns: tuple[str, ...],
        rows: Sequence[Sequence[Any]],
        *,
        ids: Sequence[int] | None,
    ) -> list[int]:
        """Insert rows (value tuples in the order of ``columns``, no ``id``); their ids, in order.

        Args:
            table: The table.
            columns: The columns the values are for.
            rows: The rows.
            ids: Ids from :meth:`allocate_ids` (PostgreSQL), or ``None`` to have the
                database assign them (returned in parameter order).
        """
        if not rows:
            return []
        if ids is None:
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            params = [dict(zip(columns, row, strict=True)) for row in rows]
            return list(self._db().execute(stmt, params).scalars())
        self.insert_rows(
            table, ("id", *columns), [(pid, *row) for pid, row in zip(ids, rows, strict=True)]
        )
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


#: For a page's transaction (PostgreSQL): commit without waiting for the WAL flush.
_ASYNC_COMMIT: Final = text("SET LOCAL synchronous_commit TO OFF")


def _last_sign_of_life(run: SyncRun) -> datetime:
    return max(run.started_at, run.heartbeat_at or run.started_at)


class _Heartbeat:
    """Writes ``heartbeat_at`` of a running run every :data:`HEARTBEAT_EVERY`.

    A thread with a session (connection) of its own: the run's own transaction may be
    busy for minutes on one slow page. A failed beat is logged and retried next time
    (SQLite may be locked by the run's page for a moment); the run never stops for it.
    """

    def __init__(self, session_factory: Callable[[], Session], run_id: int) -> None:
        self._factory = session_factory
        self._run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"tandem-sync-heartbeat-{run_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
            try:
                with self._factory() as session:
                    session.execute(
                        update(_RUNS)
                        .where(
                            _RUNS.c.id == self._run_id,
                            _RUNS.c.status == SyncStatus.RUNNING.value,
                        )
                        .values(heartbeat_at=utcnow())
                    )
                    session.commit()
            except SQLAlchemyError as exc:
                log.info(
                    "sync run %s: heartbeat not written (%s)", self._run_id, type(exc).__name__
                )


def running_run(session: Session, *, org_id: int, connection_id: int) -> SyncRun | None:
    """The connection's live run: ``running`` with a recent heartbeat (else ``None``)."""
    since = utcnow() - STALE_AFTER
    runs = session.scalars(
        select(SyncRun)
        .where(
            SyncRun.org_id == org_id,
            SyncRun.connection_id == connection_id,
            SyncRun.status == SyncStatus.RUNNING,
        )
        .order_by(SyncRun.id.desc())
    ).all()
    return next((run for run in runs if _last_sign_of_life(run) > since), None)


class _Run:
    """One sync run's state; see the module docstring for the semantics."""

    def __init__(
        self,
        session: Session,
        *,
        session_factory: Callable[[], Session],
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
        self.session_factory = session_factory
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self.sql = _statements(self.postgresql)
        self.bulk = _Bulk(session.connection, postgresql=self.postgresql)
        self.owned = _Owned.of(source)
        self.find_people = _find_people(self.postgresql, self.owned.fields)
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
        # the source's active, not erased people (external id, id), read by the manager pass
        self.active_people: list[tuple[str, int]] | None = None
        # a first sync (the source had no people): person id -> manager id as inserted,
        # so the manager pass needs not read the 100,000 rows back
        self.created_managers: dict[int, int | None] = {}
        # when the counts were last written to the run (time.monotonic())
        self.counts_saved_at = 0.0
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

    def save_counts(self, *, force: bool = False) -> None:
        """Write the counts so far to the run (``tandem sync history`` shows them live).

        At most every :data:`_SAVE_COUNTS_EVERY` seconds unless ``force``d: it is one more
        round trip per page otherwise, and the final (or failed) run writes them anyway.
        """
        now = time.monotonic()
        if not force and now - self.counts_saved_at < _SAVE_COUNTS_EVERY:
            return
        self.counts_saved_at = now
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
                N_("connection %(connection)s not found in this organization"),
                field="connection",
                connection=self.connection_id,
            )
        if not connection.active:
            raise ConflictError(
                N_("connection %(connection)s is paused; resume it before syncing"),
                field="connection",
                connection=repr(connection.name),
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
                    N_("setting delta_overlap_minutes must be a number of minutes from 0 to 10080"),
                    field="settings",
                )
            overlap = timedelta(minutes=minutes)
        if overlap < timedelta(0):
            raise ValidationError(N_("the delta overlap cannot be negative"), field="overlap")

        running = session.scalars(
            select(SyncRun).where(
                SyncRun.connection_id == connection.id, SyncRun.status == SyncStatus.RUNNING
            )
        ).all()
        for other in running:
            if _last_sign_of_life(other) > self.started_at - STALE_AFTER:
                session.rollback()
                raise ConflictError(
                    N_(
                        "a sync of connection %(connection)s is already running "
                        "(run %(run)s, started %(started)s UTC)"
                    ),
                    field="connection",
                    connection=repr(connection.name),
                    run=other.id,
                    started=other.started_at.strftime("%Y-%m-%d %H:%M"),
                )
            other.status = SyncStatus.FAILED
            other.finished_at = self.started_at
            other.error = (
                f"abandoned: no sign of life for {STALE_AFTER.total_seconds() / 60:.0f} "
                "minutes (the process running it stopped)"
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
            heartbeat_at=utcnow(),
            watermark_before=self.watermark_before,
            details=self.details(),
        )
        session.add(run)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise ConflictError(
                N_("a sync of connection %(connection)s is already running"),
                field="connection",
                connection=repr(connection.name),
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

    def page_transaction(self) -> None:
        """Begin a page's transaction: on PostgreSQL, its commit does not wait for the disk.

        A page is re-read by the next run if a crash loses it (the watermark only moves in
        :meth:`finish`, whose commit waits, and flushes every page before it), so waiting
        for each page's write-ahead log to reach the disk buys nothing.
        """
        if self.postgresql:
            self.db.execute(_ASYNC_COMMIT)

    def people_page(self, page: Sequence[tuple[Any, str | None]]) -> None:
        """Store one page of ``(record, what is wrong with it)`` (:func:`_checked_people`)."""
        self.page_transaction()
        counts = self.people
        counts.pages += 1
        valid: list[PersonRecord] = []
        held: list[dict[str, Any]] = []
        managers = self.managers
        quarantined = self.quarantined_ids
        owns_manager = self.owned.manager
        newest = self.max_modified
        for record, problem in page:
            ext = getattr(record, "external_id", None)
            key = ext if isinstance(ext, str) and ext else None
            if key is not None and (key in managers or key in quarantined):
                counts.duplicates += 1
                continue
            if isinstance(record, PersonRecord):
                reason = problem
                if reason is None:
                    managers[record.external_id] = (
                        (record.manager_external_id or None) if owns_manager else None
                    )
                    valid.append(record)
                    modified = record.modified_at
                    if modified is not None and (newest is None or modified > newest):
                        newest = modified
                    continue
                payload: Any = record
                entity = "person"
            elif isinstance(record, InvalidRecord):
                reason, payload, entity = record.reason, record.raw, record.entity or "person"
            else:
                reason = f"the connector returned a {type(record).__name__} among people"
                payload, entity = record, "person"
            if key is not None:
                quarantined.add(key)
            held.append(self.quarantine_row(entity, key, str(reason), payload))
        self.max_modified = newest
        counts.seen += len(valid) + len(held)
        counts.quarantined += len(held)
        self.quarantine(held)
        if valid:
            self.store_people(valid)
        self.save_counts()

    def store_people(self, records: list[PersonRecord]) -> None:
        owned = self.owned
        existing: dict[str, Any] = {}
        if self.source_had_people:
            # Only this run writes this source's identities (one run at a time), so when
            # there were none at its start (a first sync) there is nothing to look up.
            existing = {
                row[0]: row
                for row in self.db.execute(
                    self.find_people,
                    {
                        "org_id": self.org_id,
                        "source": self.source,
                        "external_ids": [r.external_id for r in records],
                    },
                ).all()
            }
        stamp = self.now()
        counts = self.people
        run_ids = self.run_ids
        new: list[PersonRecord] = records
        if existing:
            new = []
            changes: list[dict[str, Any]] = []
            stored = owned.stored
            for record in records:
                row = existing.get(record.external_id)
                if row is None:
                    new.append(record)
                    continue
                pid = row[1]
                run_ids[record.external_id] = pid
                if row[2] is not None:  # erased: never refilled
                    counts.unchanged += 1
                    counts.erased_skipped += 1
                    continue
                values = stored(record)
                if values == tuple(row[_FIRST_FIELD:]):
                    counts.unchanged += 1
                    continue
                change = dict(zip(owned.fields, values, strict=True))
                change["id"] = pid
                change["updated_at"] = stamp
                changes.append(change)
                self.written.add(pid)
            if changes:
                self.bulk.update(_PEOPLE, changes)
                counts.updated += len(changes)
        if new:
            self.insert_people(new, stamp)

    def insert_people(self, new: list[PersonRecord], stamp: datetime) -> None:
        """Create the page's new people and their identities (the owned fields' values)."""
        owned = self.owned
        run_ids = self.run_ids
        org_id = self.org_id
        allocated = self.bulk.allocate_ids(_PEOPLE, len(new))
        if allocated is not None:  # known up front: reports on this page find them too
            run_ids.update(zip((r.external_id for r in new), allocated, strict=True))
        values = owned.inserted
        defaults = owned.defaults
        # The manager is set now when already known; the manager pass settles the rest.
        rows = [
            (
                org_id,
                *values(r),
                *defaults,
                run_ids.get(r.manager_external_id)
                if owned.manager and r.manager_external_id
                else None,
                stamp,
                stamp,
            )
            for r in new
        ]
        columns = (
            "org_id",
            *owned.insert_fields,
            *owned.default_fields,
            "manager_id",
            "created_at",
            "updated_at",
        )
        ids = self.bulk.insert_returning_ids(_PEOPLE, columns, rows, ids=allocated)
        if allocated is None:
            run_ids.update(zip((r.external_id for r in new), ids, strict=True))
        if not self.source_had_people:
            self.created_managers.update(zip(ids, (row[-3] for row in rows), strict=True))
        source = self.source
        self.bulk.insert_rows(
            _IDENTITIES,
            ("org_id", "person_id", "source", "external_id", "created_at"),
            [(org_id, pid, source, r.external_id, stamp) for pid, r in zip(ids, new, strict=True)],
        )
        self.written.update(ids)
        self.people.created += len(new)

    # ------------------------------------------------------------------ managers

    def source_people(self) -> Iterator[_SourcePerson]:
        """Every person of the source: external id, id, manager id, active, erased."""
        for row in self.db.execute(
            _SOURCE_PEOPLE.execution_options(yield_per=_STREAM_ROWS),
            {"org_id": self.org_id, "source": self.source},
        ):
            yield cast(_SourcePerson, tuple(row))

    def resolve_managers(self) -> None:
        ext_to_pid: dict[str, int] = {}
        current: dict[int, int | None] = {}
        erased: set[int] = set()
        # The source's active people, for finish() (the manager pass changes no one's
        # active flag, and one run at a time writes this source): one scan, not two.
        active_people: list[tuple[str, int]] = []
        if self.source_had_people:
            for ext, pid, manager_id, active, is_erased in self.source_people():
                ext_to_pid[ext] = pid
                current[pid] = manager_id
                if is_erased:
                    erased.add(pid)
                elif active:
                    active_people.append((ext, pid))
        else:
            # A first sync: every person of the source was created by this run (one run
            # at a time), with the manager known then; and none can be a leaver.
            ext_to_pid, current = self.run_ids, self.created_managers
        self.active_people = active_people
        facts = self.managers_facts
        wanted: dict[int, int | None] = {}
        for ext, manager_ext in self.managers.items():
            person = ext_to_pid.get(ext)
            if person is None or person in erased:
                continue
            target = None
            if manager_ext is not None:
                target = ext_to_pid.get(manager_ext)
                if target is None:
                    facts["missing"] += 1
                    if len(facts["missing_ids"]) < _MAX_EXAMPLES:
                        facts["missing_ids"].append(manager_ext)
            wanted[person] = target
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
        self.save_counts(force=True)

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
        self.page_transaction()
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
        self.page_transaction()
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
        if self.full and self.owned.active:  # a source not owning ``active`` deactivates no one
            active_people = self.active_people
            if active_people is None:
                active_people = [
                    (ext, pid)
                    for ext, pid, _manager, active, erased in self.source_people()
                    if active and not erased
                ]
            active = len(active_people)
            seen, held = self.managers, self.quarantined_ids
            to_deactivate = [
                pid for ext, pid in active_people if ext not in seen and ext not in held
            ]
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
        marked = self.db.execute(
            update(_RUNS)
            .where(_RUNS.c.id == self.run_id, _RUNS.c.status == SyncStatus.RUNNING.value)
            .values(
                status=SyncStatus.SUCCEEDED.value,
                finished_at=finished,
                watermark_after=after,
                error=None,
                **self.counts(),
            )
        )
        if marked.rowcount != 1:
            # Taken for abandoned while this process was frozen: another run may be under
            # way; this one's writes (the watermark too) are rolled back.
            raise _Failed(
                "this run was taken for abandoned (no heartbeat for "
                f"{STALE_AFTER.total_seconds() / 60:.0f} minutes) and cannot finish; "
                "sync again"
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
            with _Heartbeat(self.session_factory, self.run_id):
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
        # The reader thread also checks each record (pure work): it runs while this
        # thread waits for the database, so the check costs the run no time.
        with Prefetch(lambda: _checked_pages(self.reader.iter_people(since=since))) as pages:
            for page in pages:
                self.people_page(page)
                self.session.commit()
                if self.source_had_people:  # else no page looks anything up
                    self.refresh_statistics("people", self.people.created, _PEOPLE_TABLES)
                self.report(self.people.pages)
        if self.owned.manager:  # else the managers are another system's
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


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep the garbage collector off the objects that existed before the run.

    A sync allocates millions of short-lived containers (JSON pages, records); every
    time the collector's oldest generation runs it would walk the whole process again —
    the app, SQLAlchemy's and the libraries' objects, hundreds of thousands of them. They
    outlive the run anyway: :func:`gc.freeze` sets them aside for its duration (about a
    fifth of a 100,000-people sync's CPU, ``bench/sync.py``), :func:`gc.unfreeze` gives
    them back to the collector after. Freezing is process-wide and harmless to other
    threads: frozen objects are merely not examined until the run ends.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


#: The interpreter's thread switch interval while a sync runs (the default is 5 ms).
SYNC_SWITCH_INTERVAL: Final = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_before = 0.0


@contextlib.contextmanager
def _quick_thread_switches() -> Iterator[None]:
    """Hand the interpreter lock over every 0.5 ms instead of every 5 ms during a sync.

    The run's threads take turns: the reader parses pages while the run's thread waits
    for PostgreSQL. When the database answers, the run's thread needs the lock back to
    send the next rows, and at the default interval it waits up to 5 ms for the reader
    — a dozen times a page, with PostgreSQL idle meanwhile. At 0.5 ms a 100,000-people
    full sync takes about 4.0 s instead of 4.6-5.2 s (``bench/sync.py``'s setup, three
    runs each). Process-wide; the previous interval is restored when the last
    concurrent run ends.
    """
    global _switch_users, _switch_before
    with _switch_lock:
        if _switch_users == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_before, SYNC_SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_before)


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
        ValueError: The source's ``person_fields`` names fields the engine does not know
            (a bug in the connector; no run is started).
        Exception: A bug or a database failure, after the run was marked failed.
    """
    with session_factory() as session, _long_lived_objects_frozen(), _quick_thread_switches():
        return _Run(
            session,
            session_factory=session_factory,
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
        raise NotFound(
            N_("sync run %(run)s not found in this organization"), field="run", run=run_id
        )
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

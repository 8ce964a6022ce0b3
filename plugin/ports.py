"""Ports: the seams between the core and the systems Tandem writes to.

A **sink** delivers one write-back message (a completion, the hours spent, or a skill gain)
to one target of an organization: the LMS gradebook through LTI AGS, Moodle competencies,
SuccessFactors Learning, Workday learning and skills, or the local journal file. The
outbox worker (:mod:`plugin.worker`) claims due messages from
:class:`plugin.models.OutboxMessage`, builds the sink of each message's target through a
:data:`SinkRegistry`, and calls :meth:`Sink.deliver` outside any database transaction.

The contract every sink implements (and the contract test of each sink checks):

* **One message, one target.** ``deliver`` sends exactly the message it is given. It
  returns ``None`` once the target has durably accepted it.
* **Idempotent on** :attr:`OutboundMessage.idempotency_key`. The worker delivers *at
  least* once: a worker that crashes (or loses its lease) after the target accepted a
  message but before the outbox recorded it will have the message delivered again. The
  sink must make that second delivery a no-op — send the key as the vendor's external id
  or idempotency header, or look the key up before writing.
* **Errors say whether a retry can help.**
  :class:`~plugin.errors.ConnectorUnavailable` (timeout, 429, 5xx; ``retry_after`` when
  the target said how long to wait) is retried with exponential backoff;
  :class:`~plugin.errors.ConnectorAuthError`, :class:`~plugin.errors.ConnectorDataError`
  and :class:`SinkConfigError` are permanent: the message is dead-lettered at once and an
  admin retries it after fixing the cause. Any other exception is treated as a bug in the
  sink and retried like an outage, until the last attempt.
* **No secrets or personal data in errors.** Exception messages end up in
  ``OutboxMessage.last_error`` and in logs; URLs must be redacted, payloads never quoted.
* **Factories only build.** A :data:`SinkFactory` turns a :class:`TargetConfig` into a
  sink without I/O (no network, no files, no database): it may validate settings and raise
  :class:`SinkConfigError`. The worker builds each target's sink once per batch.
* **Sinks that read the database** (the LTI AGS sink looks up the person's platform id
  and the program's line item) get :class:`SinkServices` on
  :attr:`TargetConfig.services`: a factory of *new* sessions — short, opened and committed
  or closed by the sink inside :meth:`Sink.deliver`, never the worker's — and the secret box
  that decrypts keys at rest. The registry of the composition root fills it in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.errors import PluginError
from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord

__all__ = [
    "BatchSink",
    "ConnectionConfig",
    "ConnectorFactory",
    "ConnectorRegistry",
    "OutboundMessage",
    "PeopleSource",
    "Sink",
    "SinkConfigError",
    "SinkFactory",
    "SinkRegistry",
    "SinkServices",
    "SkillSource",
    "TargetConfig",
]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One write-back message, as a sink sees it (a plain copy: no database session).

    Attributes:
        id: The outbox row id (for logs; use ``idempotency_key`` for deduplication).
        org_id: The organization the message belongs to.
        kind: ``completion``, ``hours``, ``skill_gain`` or ``progress``.
        target: The name of the organization's write-back target.
        idempotency_key: Stable for the event and target, e.g.
            ``completion:p3:e17:workday``; unique per organization.
        payload: The JSON content written by the event (enrollment, person ids, figures).
            Personal data: never log it.
        attempt: Which delivery attempt this is (1 for the first).
    """

    id: int
    org_id: int
    kind: str
    target: str
    idempotency_key: str
    payload: Mapping[str, Any]
    attempt: int


@dataclass(frozen=True)
class SinkServices:
    """What the composition root lends sinks that need the database.

    Attributes:
        session_factory: Opens a *new* SQLAlchemy session each call. The sink uses it
            for short reads and writes inside :meth:`Sink.deliver`, then commits (or
            rolls back) and closes it itself; it is never the worker's session.
        secret_box: Decrypts secrets at rest (the tool's private key, credentials).
    """

    session_factory: Callable[[], Session]
    secret_box: SecretBox


@dataclass(frozen=True)
class TargetConfig:
    """What a sink factory needs to build the sink of one write-back target.

    Attributes:
        org_id: The organization the target belongs to.
        name: The target's name within the organization.
        sink: The registered sink name (``journal``, ``lti_ags``, ``workday`` …).
        settings: The target's non-secret settings (secrets live encrypted on the
            connection).
        connection_id: The HRIS/LMS connection the sink writes through, if any.
        data_dir: Where file-based sinks resolve relative paths (the app's instance
            folder, filled in by the registry); ``None`` means the working directory.
        services: Database access for sinks that need it (filled in by the registry);
            ``None`` where the caller has none to give (sinks needing it then raise
            :class:`SinkConfigError`).
    """

    org_id: int
    name: str
    sink: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    connection_id: int | None = None
    data_dir: str | None = None
    services: SinkServices | None = field(default=None, repr=False, compare=False)


@runtime_checkable
class Sink(Protocol):
    """Delivers write-back messages to one target (see the module docstring for the contract)."""

    def deliver(self, message: OutboundMessage) -> None:
        """Deliver one completion, hours, skill-gain or progress message to the target.

        Must be idempotent on ``message.idempotency_key``: the same message may be
        delivered again after a worker crash, and the target must then change nothing.

        Raises:
            ConnectorUnavailable: The target is unreachable or asked us to slow down;
                the message is retried later (after ``retry_after`` seconds at least).
            ConnectorAuthError: Credentials were refused; not retried.
            ConnectorDataError: The target refused the content; not retried.
            SinkConfigError: The target's settings cannot work; not retried.
        """
        ...


@runtime_checkable
class BatchSink(Sink, Protocol):
    """A sink whose target takes several messages in one call (SuccessFactors Learning: ≤ 10).

    The worker groups the claimed messages of one target into chunks of at most
    :attr:`max_batch` and calls :meth:`deliver_batch` once per chunk; everything in the
    :class:`Sink` contract holds per message (idempotent on each key, classified errors).
    """

    #: The most messages one :meth:`deliver_batch` call accepts (≥ 1).
    max_batch: int

    def deliver_batch(self, messages: Sequence[OutboundMessage]) -> Sequence[Exception | None]:
        """Deliver up to :attr:`max_batch` messages of one target.

        Returns:
            One outcome per message, in order: ``None`` when the target durably accepted
            it, otherwise the classified error for that message alone (a per-row failure
            inside an HTTP 200 is an error here, never a success).

        Raises:
            ConnectorUnavailable: The whole call failed and may be retried (every message
                of the chunk is retried); the other connector errors fail the whole chunk.
        """
        ...


class SinkConfigError(PluginError):
    """A target cannot be delivered to as configured (no such sink, paused, bad settings).

    Permanent: retrying cannot help until an admin fixes the configuration and retries
    the message (``tandem outbox retry``).
    """


#: Builds the sink of one target; must do no I/O.
SinkFactory = Callable[[TargetConfig], Sink]

#: Registered sinks by name, e.g. ``{"journal": JournalSink}`` (built by the web layer).
SinkRegistry = Mapping[str, SinkFactory]


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class ConnectionConfig:
    """What a connector factory needs to build the source of one HRIS/LMS connection.

    Attributes:
        org_id: The organization the connection belongs to.
        connection_id: The :class:`plugin.models.Connection` row id; people and skills it
            brings carry the identity source ``<kind>:<connection_id>``.
        name: The connection's name within the organization.
        kind: ``successfactors``, ``workday`` or ``moodle``.
        settings: Non-secret settings (base URL, company id, client id, page size …).
        credentials: The decrypted secrets (private key, certificate, password …). Never
            log, print or put them in an error message.
        services: Database access for connectors that need it (rarely); ``None`` otherwise.
    """

    org_id: int
    connection_id: int
    name: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    services: SinkServices | None = field(default=None, repr=False, compare=False)

    @property
    def source(self) -> str:
        """The identity source of everything this connection brings, e.g. ``successfactors:3``."""
        return f"{self.kind}:{self.connection_id}"


@runtime_checkable
class PeopleSource(Protocol):
    """Reads employees (with their manager) from an HRIS or LMS, page by page.

    The contract every connector implements (and its contract test checks):

    * **Lazy pages.** :meth:`iter_people` yields one page per vendor response and fetches
      the next only when asked, so memory stays flat however large the company.
    * **Everyone on a full read.** ``since=None`` returns active *and* inactive people
      (leavers must be seen to be deactivated).
    * **Delta on a change timestamp.** ``since`` returns at least everyone changed at or
      after it; the engine already subtracted its overlap window, repeats are fine.
    * **Invalid is not skipped.** A payload that cannot become a :class:`PersonRecord`
      is yielded as an :class:`InvalidRecord` with its reason and raw payload.
    * **Errors are classified** as :class:`~plugin.errors.ConnectorAuthError`,
      :class:`~plugin.errors.ConnectorUnavailable` or
      :class:`~plugin.errors.ConnectorDataError` (a page that cannot be read at all), with
      no secrets in the message.

    Optional attribute (not part of the protocol check; the engine reads it with
    ``getattr(source, "person_fields", None)``):

    * ``person_fields: frozenset[str]`` — the person fields this source *owns*: names of
      :data:`plugin.services.sync.PERSON_FIELDS` (``given_name``, ``family_name``,
      ``email``, ``department``, ``division``, ``location``, ``country``, ``time_zone``,
      ``languages``, ``job_title``, ``job_level``, ``hire_date``, ``active``,
      ``left_on``) plus ``manager``. The sync compares and writes only these on people
      that exist, so values another system (or an admin) set for the others survive —
      e.g. an HRIS without grades leaves ``job_level`` alone. A person the source
      creates gets the record's value for owned fields and the defaults for the others
      (its names always: a person needs them). Without ``active`` a full sync deactivates
      nobody; without ``manager`` the manager pass is skipped. Absent or ``None``: the
      source owns every field. An unknown name is a bug in the connector (``ValueError``).
    """

    def check(self) -> None:
        """Prove the connection works (credentials accepted, API reachable); no writes.

        Raises:
            ConnectorAuthError: Credentials were refused.
            ConnectorUnavailable: The system cannot be reached or is down.
            ConnectorDataError: It answered with something that is not its API.
        """
        ...

    def iter_people(
        self, *, since: datetime | None = None
    ) -> Iterator[Sequence[PersonRecord | InvalidRecord]]:
        """Yield the people, one page (vendor response) at a time.

        Args:
            since: ``None`` for a full read (active and inactive); otherwise everyone
                changed at or after this UTC instant.
        """
        ...


@runtime_checkable
class SkillSource(Protocol):
    """Reads the skill catalogue and people's rated skills (optional for a connector)."""

    def iter_skills(self) -> Iterator[Sequence[SkillRecord | InvalidRecord]]:
        """Yield the skill catalogue, one page at a time."""
        ...

    def iter_person_skills(
        self, *, since: datetime | None = None
    ) -> Iterator[Sequence[PersonSkillRecord | InvalidRecord]]:
        """Yield people's rated skill levels, one page at a time.

        Args:
            since: ``None`` for all ratings; otherwise those changed at or after it.
        """
        ...


#: Builds the source of one connection; must do no I/O (``check`` and the iterators do).
ConnectorFactory = Callable[[ConnectionConfig], PeopleSource]

#: Registered connectors by kind, e.g. ``{"successfactors": SuccessFactorsConnector}``.
ConnectorRegistry = Mapping[str, ConnectorFactory]

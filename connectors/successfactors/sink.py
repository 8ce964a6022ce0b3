"""The SuccessFactors write-back sink: completions and hours to Learning, skill gains to HXM.

A target with sink ``successfactors`` writes through its connection
(:attr:`~plugin.ports.TargetConfig.connection_id`; loaded and decrypted inside each
delivery with a short session of its own). It is a :class:`~plugin.ports.BatchSink`:
Learning takes at most 10 external events per call (KBA 2381980), so
:attr:`SuccessFactorsSink.max_batch` is 10.

**Completions → Learning external events** (``ExternalLearningEvents``, reference §9):
one event per completion — ``description`` names the program and the role
(``[TDM-3F9A1C07B2] Reverse mentoring: GenAI basics (mentor)``), ``studentID`` is the
person's SuccessFactors ``userId`` (their identity ``successfactors:<connection id>``),
``completionDate`` the completion's time (epoch ms), ``completionTimeZoneID`` the
connection's ``learning_time_zone`` and ``totalHours`` the mentoring time. The **hours**
message of the same completion is therefore delivered without a call (logged); a target
whose settings say ``hours_as_events: true`` gets the hours as an event of their own
instead, and completion events without ``totalHours``.

**Nothing posted twice.** External events cannot be updated or deleted through the API,
and posting is not idempotent. Every description starts with ``[TDM-…]``, a short hash of
the message's idempotency key (first, so no shortening of the title cuts it off). A
redelivery (``attempt > 1``: the previous attempt may have reached Learning — a timeout, a
5xx, a worker crash) first reads the student's learning history and posts nothing if an
item carries that reference. An answer that cannot be read, or a per-record failure that
cannot be matched to its event, is reported as
:class:`~plugin.errors.ConnectorUnavailable`, so the next attempt checks the history
first. A refusal of a whole batch (HTTP 4xx) is retried event by event, so one bad record
does not fail nine good ones.

**Skill gains → ``RatedSkillMapping``** through ``POST /odata/v2/upsert`` (reference §6,
§8 — the payload shape is marked unverified there): one row per gained skill that has a
SuccessFactors code (``gains[i].identities["successfactors:<connection id>"]``)::

    {"__metadata": {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"},
     "SkillProfile_externalCode": "<userId>", "externalCode": "<mapping key>",
     "skill": "<skill code>", "selfRatedLevel_defaultValue": "<post level 1–5>"}

The post-assessment is a self-assessment, so it goes to the self rating (the manager
rating stays the manager's; ``CompetencyRating`` is read-only, §1.4). Profiles often rate
a skill already under an MDF-numbered ``externalCode``: the profiles' mappings are read
first (``RatedSkillMapping?$filter=SkillProfile_externalCode in …``, one call for up to
:data:`PROFILES_PER_READ` people) and an existing row is updated; a new row takes the
skill code as its key (and ``status: "A"``, required for new rows). Either way the upsert
writes the same row again on a retry: it is idempotent and retried. The upsert answers 200
even for failed rows: each row's ``status``/``httpCode`` is read, and a message is
delivered only when all its rows are ``OK`` (5xx rows →
:class:`~plugin.errors.ConnectorUnavailable`, retried; others →
:class:`~plugin.errors.ConnectorDataError`). Skills without a SuccessFactors code are
skipped (logged by count); a gain message with no such skill is delivered as a no-op.

**Not written**: ``progress`` messages (:class:`~plugin.ports.SinkConfigError`: drop
``progress`` from the target's kinds), messages of people without a SuccessFactors
identity (delivered as no-ops, logged). Logs and errors name messages by id and kind,
never people, payloads or tokens.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from connectors._http import HttpClient, RetryPolicy, build_session
from connectors.successfactors.auth import (
    BasicAuth,
    LearningAuth,
    SamlBearerAuth,
    TokenCache,
    platform_auth,
)
from connectors.successfactors.client import (
    CONNECTOR,
    LearningClient,
    ODataClient,
    odata_error,
    scrub,
)
from connectors.successfactors.settings import Settings
from plugin.errors import (
    ConnectorAuthError,
    ConnectorDataError,
    ConnectorError,
    ConnectorUnavailable,
    NotFound,
    SecretError,
    ValidationError,
)
from plugin.ports import ConnectionConfig, OutboundMessage, SinkConfigError, TargetConfig

__all__ = [
    "EVENTS_PER_CALL",
    "SINK_RETRY_POLICY",
    "ConfigLoader",
    "SuccessFactorsSink",
    "event_reference",
]

log = logging.getLogger(__name__)

#: Learning accepts at most this many external events per call.
EVENTS_PER_CALL = 10
#: Rating rows per upsert call.
ROWS_PER_UPSERT = 200
#: Skill profiles read per call when looking up existing ratings.
PROFILES_PER_READ = 50
#: Description length kept (Learning's field is short).
DESCRIPTION_MAX = 100
#: Retries inside one delivery: short — the outbox itself retries with backoff.
SINK_RETRY_POLICY = RetryPolicy(
    max_attempts=3, backoff=0.5, max_backoff=5.0, max_retry_wait=30.0, default_429_wait=60.0
)
_SETTINGS = frozenset({"hours_as_events", "description_prefix"})
_FAILED = frozenset({"ERROR", "FAILED", "FAILURE", "FAIL", "REJECTED", "INVALID"})

#: Loads the target's connection (settings and decrypted credentials).
ConfigLoader = Callable[[TargetConfig], ConnectionConfig]


def event_reference(idempotency_key: str) -> str:
    """The reference an event's description carries, e.g. ``TDM-3F9A1C07B2``."""
    return "TDM-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:10].upper()


def _load_from_database(config: TargetConfig) -> ConnectionConfig:
    from plugin.services import connections

    services = config.services
    if services is None or config.connection_id is None:
        raise SinkConfigError("the target has no connection", field="connection")
    with services.session_factory() as session:
        return connections.load_config(
            session,
            box=services.secret_box,
            org_id=config.org_id,
            connection_id=config.connection_id,
        )


@dataclass(eq=False)
class _Event:
    index: int
    student: str
    ref: str
    body: dict[str, Any]


@dataclass
class _Api:
    settings: Settings
    http: HttpClient
    platform: SamlBearerAuth | BasicAuth
    odata: ODataClient


class SuccessFactorsSink:
    """Delivers completions, hours and skill gains to SuccessFactors (module docstring)."""

    name: ClassVar[str] = "successfactors"
    max_batch: int = EVENTS_PER_CALL

    def __init__(
        self,
        config: TargetConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        policy: RetryPolicy | None = None,
        token_cache: TokenCache | None = None,
        learning_token_cache: TokenCache | None = None,
        config_loader: ConfigLoader | None = None,
    ) -> None:
        """Build the sink of one target; validates settings, calls nothing.

        Args:
            config: The target; ``connection_id`` names the SuccessFactors connection and
                ``services`` lends database access to load it.
            session: The HTTP session (a new pooled one by default).
            sleep: Waits between a call's retries (injected by tests).
            clock: Unix time (tokens, assertions, hours-only events).
            rng: The jitter's randomness.
            policy: Retry limits of one call; :data:`SINK_RETRY_POLICY` by default.
            token_cache: Where platform tokens are kept (process-wide by default).
            learning_token_cache: Where Learning tokens are kept (process-wide by default).
            config_loader: Loads the connection; from the database by default (a seam
                for tests and other composition roots).

        Raises:
            SinkConfigError: No connection, no database access, or unknown settings.
        """
        if config.connection_id is None:
            raise SinkConfigError(
                "a successfactors target writes through a SuccessFactors connection: create "
                "it together with the connection (its write-back sink), or give the target "
                "its connection",
                field="connection",
            )
        if config.services is None and config_loader is None:
            raise SinkConfigError(
                "the successfactors sink needs database access to load its connection (the "
                "app's sink registry provides it); build it through the registry",
                field="services",
            )
        unknown = sorted(set(config.settings) - _SETTINGS)
        if unknown:
            raise SinkConfigError(
                f"unknown setting(s) {', '.join(unknown)} for the successfactors sink; it "
                f"takes: {', '.join(sorted(_SETTINGS))}",
                field="settings",
            )
        hours = config.settings.get("hours_as_events", False)
        if not isinstance(hours, bool):
            raise SinkConfigError("hours_as_events must be true or false", field="settings")
        prefix = config.settings.get("description_prefix", "Reverse mentoring")
        if not isinstance(prefix, str) or not prefix.strip() or len(prefix) > 40:
            raise SinkConfigError(
                "description_prefix must be text of 1–40 characters", field="settings"
            )
        self.config = config
        self.hours_as_events = hours
        self.prefix = prefix.strip()
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._policy = policy or SINK_RETRY_POLICY
        self._token_cache = token_cache
        self._learning_cache = learning_token_cache
        self._loader: ConfigLoader = config_loader or _load_from_database
        self._api_cache: _Api | None = None

    # ------------------------------------------------------------------ delivery

    def deliver(self, message: OutboundMessage) -> None:
        """Deliver one message (see the module docstring).

        Raises:
            ConnectorUnavailable: SuccessFactors is unreachable or overloaded; retried.
            ConnectorAuthError: Credentials were refused.
            ConnectorDataError: SuccessFactors refused the content.
            SinkConfigError: The target or its connection cannot work as configured.
        """
        outcome = self.deliver_batch([message])[0]
        if outcome is not None:
            raise outcome

    def deliver_batch(self, messages: Sequence[OutboundMessage]) -> list[Exception | None]:
        """Deliver messages of this target; one outcome per message, in order.

        Completions (and hours events) go to Learning in calls of at most 10 events,
        skill gains in one upsert per :data:`ROWS_PER_UPSERT` rows.
        """
        outcomes: list[Exception | None] = [None] * len(messages)
        learning: list[int] = []
        gains: list[int] = []
        for i, message in enumerate(messages):
            if message.org_id != self.config.org_id:
                outcomes[i] = ConnectorDataError(
                    f"message {message.id} belongs to organization {message.org_id}, not to "
                    f"the target's organization {self.config.org_id}",
                    connector=CONNECTOR,
                )
            elif message.kind == "completion":
                learning.append(i)
            elif message.kind == "hours":
                if self.hours_as_events:
                    learning.append(i)
                else:
                    log.info(
                        "outbox message %d (hours → %s): carried by the completion's learning "
                        "event (totalHours); nothing to post",
                        message.id,
                        message.target,
                    )
            elif message.kind == "skill_gain":
                gains.append(i)
            elif message.kind == "progress":
                outcomes[i] = SinkConfigError(
                    "SuccessFactors takes no progress messages; remove 'progress' from the "
                    "target's kinds",
                    field="kinds",
                )
            else:
                outcomes[i] = SinkConfigError(
                    f"the successfactors sink cannot deliver {message.kind!r} messages",
                    field="kinds",
                )
        todo = learning + gains
        if not todo:
            return outcomes
        try:
            api = self._api()
        except (SinkConfigError, ConnectorError) as exc:
            for i in todo:
                outcomes[i] = exc
            return outcomes
        if learning:
            self._deliver_learning(api, messages, learning, outcomes)
        if gains:
            self._deliver_gains(api, messages, gains, outcomes)
        return outcomes

    # ------------------------------------------------------------------ wiring

    def _api(self) -> _Api:
        if self._api_cache is not None:
            return self._api_cache
        try:
            connection = self._loader(self.config)
        except NotFound:
            raise SinkConfigError(
                f"the target's connection {self.config.connection_id} no longer exists in "
                "this organization",
                field="connection",
            ) from None
        except SecretError as exc:
            raise SinkConfigError(
                f"the connection's credentials cannot be read: {exc.message}",
                field="connection",
            ) from None
        if connection.kind != "successfactors":
            raise SinkConfigError(
                f"connection {connection.connection_id} is a {connection.kind} connection, "
                "not SuccessFactors",
                field="connection",
            )
        try:
            settings = Settings.from_config(connection)
        except ValidationError as exc:
            raise SinkConfigError(
                f"the SuccessFactors connection cannot work: {exc.message}", field=exc.field
            ) from None
        http = HttpClient(
            connector=CONNECTOR,
            session=self._session if self._session is not None else build_session(),
            policy=self._policy,
            sleep=self._sleep,
            clock=self._clock,
            rng=self._rng,
        )
        for secret in settings.secrets():
            http.add_secret(secret)
        platform = platform_auth(
            settings=settings, http=http, cache=self._token_cache, clock=self._clock
        )
        odata = ODataClient(settings=settings, http=http, auth=platform)
        self._api_cache = _Api(settings=settings, http=http, platform=platform, odata=odata)
        return self._api_cache

    def _learning(self, api: _Api) -> LearningClient:
        if not api.settings.learning_url:
            raise SinkConfigError(
                "the SuccessFactors connection has no learning_url, so completions and hours "
                "cannot be written to SuccessFactors Learning; set learning_url (e.g. "
                "https://<company>.plateau.com) or remove completion/hours from the target's "
                "kinds",
                field="learning_url",
            )
        try:
            auth = LearningAuth(
                settings=api.settings,
                http=api.http,
                platform=api.platform,
                cache=self._learning_cache,
                clock=self._clock,
            )
        except ConnectorAuthError as exc:
            raise SinkConfigError(exc.message, field="learning_auth") from None
        return LearningClient(settings=api.settings, http=api.http, auth=auth)

    # ------------------------------------------------------------------ learning

    def _deliver_learning(
        self,
        api: _Api,
        messages: Sequence[OutboundMessage],
        indexes: list[int],
        outcomes: list[Exception | None],
    ) -> None:
        try:
            client = self._learning(api)
        except SinkConfigError as exc:
            for i in indexes:
                outcomes[i] = exc
            return
        source = f"successfactors:{api.settings.connection_id}"
        events: list[_Event] = []
        for i in indexes:
            message = messages[i]
            try:
                event = self._event(message, index=i, source=source, settings=api.settings)
            except ConnectorDataError as exc:
                outcomes[i] = exc
                continue
            if event is None:
                log.info(
                    "outbox message %d (%s → %s): the person has no SuccessFactors identity "
                    "on this connection; nothing to post",
                    message.id,
                    message.kind,
                    message.target,
                )
                continue
            events.append(event)
        pending = self._not_yet_recorded(client, messages, events, outcomes)
        for start in range(0, len(pending), EVENTS_PER_CALL):
            self._post(client, messages, pending[start : start + EVENTS_PER_CALL], outcomes)

    def _event(
        self, message: OutboundMessage, *, index: int, source: str, settings: Settings
    ) -> _Event | None:
        payload = message.payload
        student = _identity(payload.get("person"), source)
        if student is None:
            return None
        program = payload.get("program")
        name = program.get("name") if isinstance(program, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            name = "program"
        role = payload.get("role")
        ref = event_reference(message.idempotency_key)
        minutes = payload.get("minutes")
        if message.kind == "completion":
            when = _parse_time(payload.get("completed_at"))
            if when is None:
                raise ConnectorDataError(
                    f"message {message.id}: the completion has no readable completed_at",
                    connector=CONNECTOR,
                )
            hours = None if self.hours_as_events else _hours(payload.get("hours"), minutes)
            label = name.strip()
        else:  # hours as an event of its own: dated when delivered (the payload has no date)
            when = datetime.fromtimestamp(self._clock(), UTC)
            hours = _hours(payload.get("hours"), minutes)
            if hours is None:
                raise ConnectorDataError(
                    f"message {message.id}: the hours message has no hours or minutes",
                    connector=CONNECTOR,
                )
            label = f"{name.strip()}, mentoring hours"
        suffix = f" ({role})" if role in ("mentor", "mentee") else ""
        body: dict[str, Any] = {
            "description": _description(self.prefix, label, suffix, ref),
            "studentID": student,
            "completionDate": int(when.timestamp() * 1000),
            "completionTimeZoneID": settings.learning_time_zone,
        }
        if hours is not None:
            body["totalHours"] = hours
        return _Event(index=index, student=student, ref=ref, body=body)

    def _not_yet_recorded(
        self,
        client: LearningClient,
        messages: Sequence[OutboundMessage],
        events: list[_Event],
        outcomes: list[Exception | None],
    ) -> list[_Event]:
        """Drop redelivered events that Learning already holds (checked in the history)."""
        histories: dict[str, list[Any] | ConnectorError] = {}
        pending: list[_Event] = []
        for event in events:
            message = messages[event.index]
            if message.attempt <= 1:
                pending.append(event)
                continue
            if event.student not in histories:
                try:
                    histories[event.student] = client.learning_history(event.student)
                except ConnectorError as exc:
                    histories[event.student] = exc
            history = histories[event.student]
            if isinstance(history, ConnectorError):
                # Cannot tell whether the earlier attempt got through: do not risk a twin.
                outcomes[event.index] = history
                continue
            if any(event.ref in text for item in history for text in _strings(item)):
                log.info(
                    "outbox message %d (%s → %s): Learning already holds this event (%s); "
                    "not posted again",
                    message.id,
                    message.kind,
                    message.target,
                    event.ref,
                )
                continue
            pending.append(event)
        return pending

    def _post(
        self,
        client: LearningClient,
        messages: Sequence[OutboundMessage],
        chunk: list[_Event],
        outcomes: list[Exception | None],
    ) -> None:
        try:
            answer = client.post_external_events([e.body for e in chunk])
        except ConnectorDataError as exc:
            if exc.status is not None and 200 <= exc.status < 300:
                # Accepted, but the answer cannot be read: verify on the next attempt.
                unsure = ConnectorUnavailable(
                    f"{exc.message}; the events may have been recorded: the next attempt "
                    "checks the learning history first",
                    connector=CONNECTOR,
                    status=exc.status,
                )
                for event in chunk:
                    outcomes[event.index] = unsure
                return
            if len(chunk) > 1:
                # Refused as a whole (nothing recorded): find the culprit one by one.
                log.info(
                    "ExternalLearningEvents: a batch of %d was refused (HTTP %s); posting "
                    "each event on its own",
                    len(chunk),
                    exc.status,
                )
                for event in chunk:
                    self._post(client, messages, [event], outcomes)
                return
            outcomes[chunk[0].index] = exc
            return
        except ConnectorError as exc:
            for event in chunk:
                outcomes[event.index] = exc
            return
        for event, failure in _event_failures(answer, chunk).items():
            outcomes[event.index] = failure
        delivered = [e for e in chunk if outcomes[e.index] is None]
        if delivered:
            log.info(
                "ExternalLearningEvents: %d event(s) recorded (messages %s)",
                len(delivered),
                ", ".join(str(messages[e.index].id) for e in delivered),
            )

    # ------------------------------------------------------------------ skills

    def _deliver_gains(
        self,
        api: _Api,
        messages: Sequence[OutboundMessage],
        indexes: list[int],
        outcomes: list[Exception | None],
    ) -> None:
        source = f"successfactors:{api.settings.connection_id}"
        plans: list[tuple[int, str, list[tuple[str, int]]]] = []
        for i in indexes:
            message = messages[i]
            plan = self._gain_plan(message, source)
            if isinstance(plan, ConnectorDataError):
                outcomes[i] = plan
            elif plan is not None and plan[1]:
                plans.append((i, plan[0], plan[1]))
        if not plans:
            return
        try:
            existing = self._existing_mappings(api, sorted({student for _, student, _ in plans}))
        except ConnectorError as exc:
            for i, _, _ in plans:
                outcomes[i] = exc
            return
        rows: list[dict[str, Any]] = []
        owners: list[int] = []
        for i, student, skills in plans:
            for code, level in skills:
                rows.append(_rating_row(student, code, level, existing.get((student, code))))
                owners.append(i)
        for start in range(0, len(rows), ROWS_PER_UPSERT):
            self._upsert(
                api,
                rows[start : start + ROWS_PER_UPSERT],
                owners[start : start + ROWS_PER_UPSERT],
                outcomes,
            )

    def _gain_plan(
        self, message: OutboundMessage, source: str
    ) -> tuple[str, list[tuple[str, int]]] | ConnectorDataError | None:
        """``(userId, [(skill code, post level)])`` of a gain message, or why not."""
        payload = message.payload
        student = _identity(payload.get("person"), source)
        if student is None:
            log.info(
                "outbox message %d (skill_gain → %s): the person has no SuccessFactors identity "
                "on this connection; nothing to write",
                message.id,
                message.target,
            )
            return None
        gains = payload.get("gains")
        skills: list[tuple[str, int]] = []
        skipped = 0
        for gain in gains if isinstance(gains, list) else []:
            code = _identity(gain, source)
            if code is None:
                skipped += 1
                continue
            level = gain.get("post")
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                return ConnectorDataError(
                    f"message {message.id}: a gain has no post level 1–5", connector=CONNECTOR
                )
            skills.append((code, level))
        if skipped:
            log.info(
                "outbox message %d (skill_gain → %s): %d skill(s) have no SuccessFactors code "
                "on this connection; not written",
                message.id,
                message.target,
                skipped,
            )
        if not skills:
            log.info(
                "outbox message %d (skill_gain → %s): no skill to write; delivered as is",
                message.id,
                message.target,
            )
        return student, skills

    def _existing_mappings(self, api: _Api, students: list[str]) -> dict[tuple[str, str], str]:
        """``(userId, skill code) → externalCode`` of the rated skills the profiles hold.

        A profile may already rate a skill under an MDF-numbered ``externalCode``; the
        rating must update that row, not add a second one for the same skill.
        """
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(students), PROFILES_PER_READ):
            chunk = students[start : start + PROFILES_PER_READ]
            literals = ",".join("'" + s.replace("'", "''") + "'" for s in chunk)
            params = {
                "$filter": f"SkillProfile_externalCode in {literals}",
                "$select": "SkillProfile_externalCode,externalCode,skill",
            }
            for rows in api.odata.iter_pages(
                "RatedSkillMapping", params=params, what="RatedSkillMapping read"
            ):
                for row in rows:
                    if not isinstance(row, Mapping):
                        continue
                    profile, code = row.get("SkillProfile_externalCode"), row.get("externalCode")
                    skill = row.get("skill") or code
                    if (
                        isinstance(profile, str)
                        and isinstance(code, str)
                        and isinstance(skill, str)
                    ):
                        found.setdefault((profile, skill), code)
        return found

    def _upsert(
        self,
        api: _Api,
        rows: list[dict[str, Any]],
        owners: list[int],
        outcomes: list[Exception | None],
    ) -> None:
        try:
            results = api.odata.upsert(rows, what="RatedSkillMapping upsert")
        except ConnectorError as exc:
            for owner in owners:
                outcomes[owner] = _worse(outcomes[owner], exc)
            return
        by_row: dict[int, Any] = {}
        for position, result in enumerate(results):
            index = result.get("index") if isinstance(result, Mapping) else None
            row = index if isinstance(index, int) and 0 <= index < len(rows) else position
            if row < len(rows):
                by_row.setdefault(row, result)
        students = {str(r.get("SkillProfile_externalCode")) for r in rows}
        for row, owner in enumerate(owners):
            result = by_row.get(row)
            failure = _upsert_failure(result, students)
            if failure is not None:
                outcomes[owner] = _worse(outcomes[owner], failure)


# --------------------------------------------------------------------------- helpers


def _identity(holder: Any, source: str) -> str | None:
    if not isinstance(holder, Mapping):
        return None
    identities = holder.get("identities")
    if not isinstance(identities, Mapping):
        return None
    value = identities.get(source)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _hours(hours: Any, minutes: Any) -> float | None:
    if isinstance(hours, int | float) and not isinstance(hours, bool) and hours >= 0:
        return round(float(hours), 2)
    if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes >= 0:
        return round(float(minutes) / 60, 2)
    return None


def _description(prefix: str, label: str, suffix: str, ref: str) -> str:
    """``[TDM-…] Reverse mentoring: <program><suffix>``, at most :data:`DESCRIPTION_MAX`.

    The reference comes first: Learning shows (and may shorten) the description as the
    item's title, and a cut-off reference could not be found in the history again.
    """
    head = f"[{ref}] {prefix}: "
    body = f"{label}{suffix}"
    room = DESCRIPTION_MAX - len(head)
    if len(body) > room:
        body = body[: max(0, room - 1)].rstrip() + "…"
    return head + body


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _rating_row(student: str, code: str, level: int, existing: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "__metadata": {"uri": "RatedSkillMapping", "type": "SFOData.RatedSkillMapping"},
        "SkillProfile_externalCode": student,
        "externalCode": existing or code,
        "skill": code,
        "selfRatedLevel_defaultValue": str(level),
    }
    if existing is None:
        row["status"] = "A"  # required for a new row (MDF: active)
    return row


def _status_code(row: Mapping[str, Any]) -> int | None:
    for key in ("httpCode", "httpStatusCode", "statusCode", "status_code"):
        value = row.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _row_message(row: Mapping[str, Any], hide: Iterable[str]) -> str:
    code, message = odata_error(row, hide=hide)
    if code is None and message is None:
        for key in ("message", "errorMessage", "errorDescription", "error"):
            value = row.get(key)
            if isinstance(value, str) and value.strip():
                message = scrub(value, hide=hide)
                break
        raw_code = row.get("errorCode") or row.get("code")
        if isinstance(raw_code, str) and raw_code.replace("_", "").isalnum():
            code = raw_code[:60]
    return ": ".join(p for p in (code, message) if p) or "no details"


def _classified(text: str, status: int | None) -> ConnectorError:
    if status is not None and (status >= 500 or status == 429):
        return ConnectorUnavailable(text, connector=CONNECTOR, status=status)
    return ConnectorDataError(text, connector=CONNECTOR, status=status)


def _upsert_failure(result: Any, hide: Iterable[str]) -> ConnectorError | None:
    if result is None:
        return ConnectorUnavailable(
            "RatedSkillMapping upsert: no result for a row; written again on the next attempt",
            connector=CONNECTOR,
        )
    if not isinstance(result, Mapping):
        return ConnectorDataError(
            "RatedSkillMapping upsert: a row result is not an object", connector=CONNECTOR
        )
    status = str(result.get("status") or "").strip().upper()
    code = _status_code(result)
    if status in ("OK", "") and code is not None and code < 400:
        return None
    if status == "OK" and code is None:
        return None
    if not status and code is None:
        return ConnectorDataError(
            "RatedSkillMapping upsert: a row result has no status", connector=CONNECTOR
        )
    return _classified(
        f"RatedSkillMapping upsert: row refused (HTTP {code or '?'}): {_row_message(result, hide)}",
        code,
    )


def _worse(current: Exception | None, new: Exception) -> Exception:
    """Keep a permanent failure over a transient one (a retry cannot fix the former)."""
    if current is None or isinstance(current, ConnectorUnavailable):
        return new
    return current


def _event_row_failure(row: Mapping[str, Any], hide: Iterable[str]) -> ConnectorError | None:
    status = row.get("status") or row.get("result") or row.get("recordStatus")
    code = _status_code(row)
    if code is None and isinstance(status, int) and not isinstance(status, bool):
        code = status
    failed = (
        (isinstance(status, str) and status.strip().upper() in _FAILED)
        or row.get("success") is False
        or any(row.get(k) for k in ("error", "errors", "errorMessage", "errorCode", "exception"))
        or (code is not None and code >= 400)
    )
    if not failed:
        return None
    return _classified(
        f"ExternalLearningEvents: an event was refused: {_row_message(row, hide)}", code
    )


def _answer_rows(answer: Any) -> list[Any] | None:
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, Mapping):
        return None
    for key in ("value", "externalLearningEvents", "results", "d"):
        value = answer.get(key)
        if isinstance(value, Mapping):
            value = value.get("results")
        if isinstance(value, list):
            return value
    return None


def _event_failures(answer: Any, chunk: list[_Event]) -> dict[_Event, ConnectorError]:
    """Per-event failures inside a 2xx answer (never taken for a success)."""
    failures: dict[_Event, ConnectorError] = {}
    students = [e.student for e in chunk]
    if isinstance(answer, Mapping) and isinstance(answer.get("error"), Mapping):
        code, message = odata_error(answer, hide=students)
        failure = _classified(
            "ExternalLearningEvents: refused: " + (": ".join(p for p in (code, message) if p)),
            None,
        )
        return dict.fromkeys(chunk, failure)
    rows = _answer_rows(answer)
    if rows is None:
        return failures
    unmatched = False
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        refused = _event_row_failure(row, students)
        if refused is None:
            continue
        event = _match(row, position, rows, chunk)
        if event is None:
            unmatched = True
        else:
            failures[event] = refused
    if unmatched:
        unsure = ConnectorUnavailable(
            "ExternalLearningEvents: a record was refused but the answer does not say which; "
            "the next attempt checks the learning history and posts only what is missing",
            connector=CONNECTOR,
        )
        for event in chunk:
            failures.setdefault(event, unsure)
    return failures


def _match(
    row: Mapping[str, Any], position: int, rows: list[Any], chunk: list[_Event]
) -> _Event | None:
    index = row.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(chunk):
        return chunk[index]
    texts = list(_strings(row))
    for event in chunk:
        if any(event.ref in text for text in texts):
            return event
    if len(rows) == len(chunk):
        return chunk[position]
    return None

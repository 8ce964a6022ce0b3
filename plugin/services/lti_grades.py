"""What an LTI AGS score needs: the platform, the person's platform id, the line item.

The LMS gradebook is an ordinary write-back target: every LTI platform registration of
an organization gets one, named ``lms-<registration id>``, delivered by the ``lti_ags``
sink and accepting ``completion`` and ``progress`` (:func:`ensure_ags_target`). The sink
(``connectors.lti_ags``) does the HTTP; this module, pure core, decides *what* it posts
(:func:`resolve`):

* **the platform** — the registration named by the target's ``settings["registration_id"]``
  (its token URL, client id and token audience) and the tool's current signing key;
* **the person** — their user id on that platform, from the identity the launch recorded
  (``PersonIdentity.source == "lti:<registration id>"``); a person who never launched
  Tandem from the platform has no grade there, and the message is skipped;
* **the line item** — from the resource links of the program in that platform's courses
  (:class:`plugin.models.LtiLink`, written by launches and deep linking): the "My tandem"
  activity's own line item first; else the course's line item container, where the sink
  finds the program's column by ``resourceId`` ``tandem-program-<id>`` or creates it (only
  with the ``lineitem`` scope) and records its URL back on the link
  (:func:`record_lineitem`); no link → skipped;
* **the score** — completion: 100 / 100, ``Completed``, ``FullyGraded``; progress: the
  share of the rule's sessions held (0–99) / 100, ``InProgress``, ``Pending``. The
  ``timestamp`` is the event's time from the payload, so every re-delivery of a message
  carries the same one (platforms keep a score only if it is newer than the last).

Nothing here logs or returns personal data in messages; the platform user id travels only
inside :class:`Score`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.errors import N_, ConnectorDataError, NotFound, SecretError
from plugin.models import LtiLink, LtiRegistration, PersonIdentity, Program, WritebackTarget
from plugin.ports import SinkConfigError
from plugin.services import lti_registrations, writeback

__all__ = [
    "ACTIVITY_COMPLETED",
    "ACTIVITY_IN_PROGRESS",
    "AGS_KINDS",
    "CONNECTOR",
    "GRADED_ACTIVITY",
    "GRADING_FULLY_GRADED",
    "GRADING_PENDING",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READONLY",
    "SCOPE_RESULT_READONLY",
    "SCOPE_SCORE",
    "SCORE_MAXIMUM",
    "SINK",
    "AgsDelivery",
    "Score",
    "Skip",
    "ensure_ags_target",
    "record_lineitem",
    "registration_id_of",
    "resolve",
    "resource_id",
    "save_lineitem",
    "target_name",
]

#: The registered sink name of AGS targets.
SINK = "lti_ags"
#: The connector name in errors.
CONNECTOR = "lti_ags"
#: The message kinds an AGS target receives.
AGS_KINDS = ("completion", writeback.PROGRESS)
#: The activity whose line item is the program's grade column.
GRADED_ACTIVITY = "my_tandem"
#: Every score is out of this.
SCORE_MAXIMUM = 100

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
_KNOWN_SCOPES = frozenset(
    {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE}
)

ACTIVITY_COMPLETED = "Completed"
ACTIVITY_IN_PROGRESS = "InProgress"
GRADING_FULLY_GRADED = "FullyGraded"
GRADING_PENDING = "Pending"

_MAX_URL = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to post for this message; it counts as delivered.

    Attributes:
        reason: Why, in words without personal data (logged).
    """

    reason: str


@dataclass(frozen=True, slots=True)
class Score:
    """One AGS score (``application/vnd.ims.lis.v1.score+json``).

    Attributes:
        user_id: The person's user id on the platform (personal data: never log it).
        score_given: Points given, 0–``score_maximum``.
        score_maximum: The maximum.
        activity_progress: ``Completed`` or ``InProgress``.
        grading_progress: ``FullyGraded`` or ``Pending``.
        timestamp: ISO 8601 time of the event (UTC), the same on every re-delivery.
    """

    user_id: str = field(repr=False)
    score_given: float
    score_maximum: float
    activity_progress: str
    grading_progress: str
    timestamp: str

    def as_json(self) -> dict[str, Any]:
        """The score's JSON body."""
        return {
            "userId": self.user_id,
            "scoreGiven": self.score_given,
            "scoreMaximum": self.score_maximum,
            "activityProgress": self.activity_progress,
            "gradingProgress": self.grading_progress,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class AgsDelivery:
    """Everything the AGS sink needs to post one message's score.

    Attributes:
        registration_id: The platform registration.
        token_url: The platform's OAuth 2 token endpoint.
        client_id: Tandem's client id on the platform.
        auth_audience: ``aud`` of the client assertion, when not the token URL.
        private_key_pem: The tool's current signing key (secret: never log it).
        kid: Its key id (published in the tool's JWKS).
        link_id: The :class:`~plugin.models.LtiLink` whose endpoints are used.
        lineitem_url: The line item to post to, when known.
        lineitems_url: The course's line item container, to find or create it otherwise.
        scopes: The AGS scopes the platform granted on the link.
        resource_id: ``resourceId`` of the program's line item (``tandem-program-<id>``).
        label: The label of a line item the sink creates.
        score: The score to post.
    """

    registration_id: int
    token_url: str
    client_id: str
    auth_audience: str | None
    private_key_pem: str = field(repr=False)
    kid: str
    link_id: int
    lineitem_url: str | None
    lineitems_url: str | None
    scopes: frozenset[str]
    resource_id: str
    label: str
    score: Score

    @property
    def can_create(self) -> bool:
        """Whether the sink may create the line item (``lineitem`` scope)."""
        return SCOPE_LINEITEM in self.scopes

    @property
    def can_find(self) -> bool:
        """Whether the sink may list the course's line items."""
        return bool(self.scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY})

    @property
    def can_read_results(self) -> bool:
        """Whether the sink may read results (``result.readonly`` scope)."""
        return SCOPE_RESULT_READONLY in self.scopes

    @property
    def token_scopes(self) -> tuple[str, ...]:
        """The scopes to ask the token for: the granted ones the sink uses, sorted."""
        return tuple(sorted(self.scopes | {SCOPE_SCORE}))


# --------------------------------------------------------------------------- targets


def target_name(registration_id: int) -> str:
    """The name of a registration's AGS target: ``lms-<registration id>``."""
    return f"lms-{registration_id}"


def resource_id(program_id: int) -> str:
    """The ``resourceId`` of a program's line item: ``tandem-program-<id>``."""
    return f"tandem-program-{program_id}"


def ensure_ags_target(
    session: Session, *, org_id: int, registration_id: int, actor: str
) -> WritebackTarget:
    """The registration's AGS write-back target, created if missing (audited when created).

    ``lms-<registration id>``, sink ``lti_ags``, kinds ``completion`` and ``progress``,
    settings ``{"registration_id": id}``. An existing target of that name is returned
    unchanged (an admin may have paused or re-configured it).

    Args:
        session: The unit of work (flushed, not committed).
        org_id: The registration's organization.
        registration_id: The registration.
        actor: Who caused it, for the audit log.
    """
    name = target_name(registration_id)
    existing = session.scalars(
        select(WritebackTarget).where(
            WritebackTarget.org_id == org_id, WritebackTarget.name == name
        )
    ).first()
    if existing is not None:
        return existing
    return writeback.add_target(
        session,
        org_id=org_id,
        name=name,
        sink=SINK,
        kinds=list(AGS_KINDS),
        settings={"registration_id": registration_id},
        actor=actor,
    )


def record_lineitem(session: Session, link_id: int, url: str) -> bool:
    """Remember the line item found or created for a link, so it is not searched again.

    Only fills a link that has none (a launch's own line item wins).

    Returns:
        Whether the link was changed.
    """
    link = session.get(LtiLink, link_id)
    if link is None or link.lineitem_url or not url or len(url) > _MAX_URL:
        return False
    link.lineitem_url = url
    session.flush()
    return True


def save_lineitem(session_factory: Callable[[], Session], link_id: int, url: str) -> bool:
    """:func:`record_lineitem` in a short transaction of its own, committed.

    A database failure is logged and ignored: the line item is then found again by its
    ``resourceId`` next time, never created twice.

    Returns:
        Whether the link was changed.
    """
    try:
        with session_factory() as session:
            changed = record_lineitem(session, link_id, url)
            session.commit()
    except SQLAlchemyError:
        log.warning(
            "could not record the line item of LTI link %d; it is found again next time", link_id
        )
        return False
    return changed


# --------------------------------------------------------------------------- resolving


def _data_error(message: str) -> ConnectorDataError:
    return ConnectorDataError(message, connector=CONNECTOR)


def registration_id_of(settings: Mapping[str, Any]) -> int:
    """The registration an AGS target posts to, from its settings.

    Raises:
        SinkConfigError: ``registration_id`` is missing or not a positive whole number.
    """
    raw = settings.get("registration_id")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise SinkConfigError(
            N_(
                "an lti_ags target needs the setting registration_id (the LTI platform "
                "registration it posts grades to)"
            ),
            field="settings.registration_id",
        )
    return raw


def _payload_id(payload: Mapping[str, Any], flat: str, nested: str) -> int:
    value = payload.get(flat)
    if value is None:
        inner = payload.get(nested)
        value = inner.get("id") if isinstance(inner, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _data_error(f"the message has no {flat}")
    return value


def _timestamp(payload: Mapping[str, Any], key: str) -> str:
    raw = payload.get(key)
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise _data_error(f"the message's {key} is not an ISO 8601 time with a time zone")
    return when.astimezone(UTC).isoformat()


def _score(kind: str, payload: Mapping[str, Any], user_id: str) -> Score:
    if kind == "completion":
        return Score(
            user_id=user_id,
            score_given=SCORE_MAXIMUM,
            score_maximum=SCORE_MAXIMUM,
            activity_progress=ACTIVITY_COMPLETED,
            grading_progress=GRADING_FULLY_GRADED,
            timestamp=_timestamp(payload, "completed_at"),
        )
    percent = payload.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 99:
        raise _data_error(N_("the progress message's percent is not a whole number 0–99"))
    return Score(
        user_id=user_id,
        score_given=percent,
        score_maximum=SCORE_MAXIMUM,
        activity_progress=ACTIVITY_IN_PROGRESS,
        grading_progress=GRADING_PENDING,
        timestamp=_timestamp(payload, "at"),
    )


def _registration(session: Session, org_id: int, registration_id: int) -> LtiRegistration:
    reg = session.get(LtiRegistration, registration_id)
    if reg is None or reg.org_id != org_id:
        raise SinkConfigError(
            N_(
                "LTI registration %(registration)s does not exist in this organization; "
                "fix or pause the target"
            ),
            field="settings.registration_id",
            registration=registration_id,
        )
    if not reg.active:
        raise SinkConfigError(
            N_(
                "LTI registration %(registration)s is deactivated; pause the target or "
                "register the platform again, then retry the message"
            ),
            field="settings.registration_id",
            registration=registration_id,
        )
    return reg


def _rank(link: LtiLink) -> int | None:
    """Lower is better; None: the link offers no grade service."""
    if link.lineitem_url and link.activity == GRADED_ACTIVITY:
        return 0
    if link.lineitems_url:
        return 1 if link.activity == GRADED_ACTIVITY else 2
    if link.lineitem_url:
        return 3
    return None


def _best_link(links: Sequence[LtiLink]) -> LtiLink | None:
    ranked = [(rank, link.id, link) for link in links if (rank := _rank(link)) is not None]
    if not ranked:
        return None
    return min(ranked, key=lambda item: (item[0], item[1]))[2]


def _tool_key(session: Session, box: SecretBox) -> tuple[str, str]:
    """The current tool key's private PEM and kid."""
    key = lti_registrations.current_tool_key(session)
    try:
        if key is None:
            raise NotFound("no tool key")
        pem = lti_registrations.current_private_key_pem(session, box)
    except NotFound:
        raise SinkConfigError(
            N_("the tool has no signing key yet: run `tandem lti rotate-keys`"), field="tool_key"
        ) from None
    except SecretError:
        raise SinkConfigError(
            N_(
                "the tool's signing key cannot be decrypted (TANDEM_SECRET_KEY changed); "
                "restore the key or rotate the tool keys"
            ),
            field="tool_key",
        ) from None
    return pem, key.kid


def resolve(
    session: Session,
    box: SecretBox,
    *,
    org_id: int,
    kind: str,
    settings: Mapping[str, Any],
    payload: Mapping[str, Any],
) -> AgsDelivery | Skip:
    """Work out what one write-back message posts to the platform's gradebook (reads only).

    Args:
        session: A short session of the sink's own.
        box: Decrypts the tool's private key.
        org_id: The message's organization.
        kind: The message kind: ``completion`` or ``progress`` (others are skipped).
        settings: The target's settings (``registration_id``).
        payload: The message's payload (see :mod:`plugin.services.completions`).

    Returns:
        What to post, or :class:`Skip` with the reason there is nothing to post: the
        person never launched Tandem from this platform, the program is not linked in
        one of its courses (or its links offer no grade service), the program is gone,
        or the kind is not one the gradebook takes.

    Raises:
        SinkConfigError: No or an unknown/deactivated registration, no tool key, or the
            platform granted no ``score`` scope on the link.
        ConnectorDataError: The payload lacks what the score needs.
    """
    registration_id = registration_id_of(settings)
    if kind not in AGS_KINDS:
        return Skip(f"the gradebook takes completion and progress, not {kind}")
    reg = _registration(session, org_id, registration_id)
    person_id = _payload_id(payload, "person_id", "person")
    program_id = _payload_id(payload, "program_id", "program")
    program = session.get(Program, program_id)
    if program is None or program.org_id != org_id:
        return Skip("the program no longer exists")
    user_id = session.scalars(
        select(PersonIdentity.external_id).where(
            PersonIdentity.org_id == org_id,
            PersonIdentity.person_id == person_id,
            PersonIdentity.source == f"lti:{reg.id}",
        )
    ).first()
    if not user_id:
        return Skip("person never launched from this platform")
    links = session.scalars(
        select(LtiLink)
        .where(
            LtiLink.org_id == org_id,
            LtiLink.registration_id == reg.id,
            LtiLink.program_id == program.id,
        )
        .order_by(LtiLink.id)
    ).all()
    if not links:
        return Skip("program not linked in this course")
    link = _best_link(links)
    if link is None:
        return Skip("the program's links in this platform offer no grade service")
    granted = frozenset(s for s in (link.ags_scopes or []) if s in _KNOWN_SCOPES)
    if granted and SCOPE_SCORE not in granted:
        raise SinkConfigError(
            N_(
                "the platform did not grant Tandem the AGS score scope for this course; "
                "enable grade synchronisation for the tool, launch again, then retry"
            ),
            field="ags_scopes",
        )
    score = _score(kind, payload, user_id)
    pem, kid = _tool_key(session, box)
    return AgsDelivery(
        registration_id=reg.id,
        token_url=reg.auth_token_url,
        client_id=reg.client_id,
        auth_audience=reg.auth_audience,
        private_key_pem=pem,
        kid=kid,
        link_id=link.id,
        lineitem_url=link.lineitem_url,
        lineitems_url=link.lineitems_url,
        scopes=granted or frozenset({SCOPE_SCORE}),
        resource_id=resource_id(program.id),
        label=f"Tandem: {program.name}"[:200],
        score=score,
    )

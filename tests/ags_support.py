"""Shared builders for the LTI AGS tests: a registered platform, a launched person, links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.models import LtiLink, LtiRegistration, Person, PersonIdentity, Program
from plugin.ports import OutboundMessage, SinkServices
from plugin.services import lti_registrations as regs

BOX = SecretBox("test-secret")
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
LINEITEM = AGS + "lineitem"
LINEITEM_READONLY = AGS + "lineitem.readonly"
RESULT_READONLY = AGS + "result.readonly"
SCORE = AGS + "score"
ALL_SCOPES = [LINEITEM, LINEITEM_READONLY, RESULT_READONLY, SCORE]
#: Moodle "grade sync only": no column management.
SYNC_ONLY = [LINEITEM_READONLY, RESULT_READONLY, SCORE]
WHEN = datetime(2026, 8, 24, 9, 30, tzinfo=UTC)
USER = "moodle-user-7"


def register(
    session: Session,
    *,
    org_id: int,
    base_url: str = "https://lms.example.com",
    client_id: str = "tandem-client",
    **kw: Any,
) -> LtiRegistration:
    """A platform registration (which makes its ``lms-<id>`` AGS target)."""
    return regs.add_platform(
        session,
        org_id=org_id,
        issuer=base_url,
        client_id=client_id,
        auth_login_url=f"{base_url}/mod/lti/auth.php",
        auth_token_url=f"{base_url}/mod/lti/token.php",
        jwks_url=f"{base_url}/mod/lti/certs.php",
        actor="test",
        deployment_ids=["1"],
        **kw,
    )


def launched(
    session: Session, person: Person, registration: LtiRegistration, user_id: str = USER
) -> PersonIdentity:
    """The identity a launch records for ``person`` on the platform."""
    identity = PersonIdentity(
        org_id=person.org_id,
        person_id=person.id,
        source=f"lti:{registration.id}",
        external_id=user_id,
    )
    session.add(identity)
    session.flush()
    return identity


def link(
    session: Session,
    registration: LtiRegistration,
    program: Program | None,
    *,
    activity: str | None = "my_tandem",
    lineitem_url: str | None = None,
    lineitems_url: str | None = None,
    scopes: Iterable[str] = ALL_SCOPES,
    resource_link_id: str | None = None,
) -> LtiLink:
    """A resource link of the program in a course of the platform."""
    row = LtiLink(
        org_id=registration.org_id,
        registration_id=registration.id,
        deployment_id="1",
        context_id="2",
        resource_link_id=resource_link_id or f"rl-{activity}-{session.info.get('links', 0)}",
        activity=activity,
        program_id=program.id if program is not None else None,
        lineitem_url=lineitem_url,
        lineitems_url=lineitems_url,
        ags_scopes=list(scopes),
    )
    session.info["links"] = session.info.get("links", 0) + 1
    session.add(row)
    session.flush()
    return row


def completion_payload(program: Program, person: Person, when: datetime = WHEN) -> dict[str, Any]:
    """What :mod:`plugin.services.completions` writes for a completion (the parts used)."""
    return {
        "program": {"id": program.id, "name": program.name},
        "enrollment_id": 11,
        "role": "mentee",
        "person": {"id": person.id, "email": person.email, "identities": {}},
        "completed_at": when.isoformat(),
        "sessions_held": 6,
        "minutes": 360,
    }


def progress_payload(
    program: Program, person: Person, *, held: int = 3, target: int = 6, when: datetime = WHEN
) -> dict[str, Any]:
    """What :mod:`plugin.services.completions` writes for progress."""
    return {
        "enrollment_id": 11,
        "person_id": person.id,
        "program_id": program.id,
        "held_sessions": held,
        "target_sessions": target,
        "percent": min(99, held * 100 // target),
        "at": when.isoformat(),
    }


def message(
    org_id: int,
    payload: dict[str, Any],
    *,
    kind: str = "completion",
    attempt: int = 1,
    target: str = "lms-1",
    message_id: int = 1,
) -> OutboundMessage:
    """An outbox message as the worker hands it to a sink."""
    return OutboundMessage(
        id=message_id,
        org_id=org_id,
        kind=kind,
        target=target,
        idempotency_key=f"{kind}:p1:e11:{target}",
        payload=payload,
        attempt=attempt,
    )


def joined_services(connection: Connection) -> SinkServices:
    """Sink services whose sessions join the test's transaction (commits are savepoints)."""

    def factory() -> Session:
        return Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    return SinkServices(session_factory=factory, secret_box=BOX)


@dataclass
class Recorder:
    """Records the waits a client asks for (no real sleeping in tests)."""

    waits: list[float]

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

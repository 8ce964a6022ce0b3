"""State of the development LTI platform (:mod:`lti.dev_platform`), kept in the database.

Everything the platform remembers lives in the shared LTI store
(:class:`plugin.services.lti_cache.LtiCache`) under keys ``devplatform:…``, so any host
serves any of its requests, and ``tandem serve`` restarts keep its key, line items and
scores:

==========================  ==============================================  ==========
key                         value                                           lifetime
==========================  ==============================================  ==========
``key``                     its RSA key (private PEM encrypted)             long
``hint:<random>``           a login hint: persona, person, activity …       10 min
``token:<sha256>``          an access token's granted scopes                1 h
``jti:<sha256>``            a client assertion already used                 2 min
``dl:<data>``               a deep-linking request waiting for its answer   1 h
``link:<id>``               a resource link added by deep linking           long
``lineitem:<id>``           an AGS line item                                long
``score:<id>:<sha256>``     the last score of one user on one line item     long
==========================  ==============================================  ==========

It also finds the demo personas (a junior, their senior, a coordinator) of a program.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.db import utcnow
from plugin.models import (
    Enrollment,
    EnrollmentRole,
    EnrollmentStatus,
    LtiCacheEntry,
    Person,
    PersonIdentity,
    Program,
    ProgramCoordinator,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import lti_registrations as regs
from plugin.services.lti_cache import LtiCache

__all__ = [
    "HINT_TTL",
    "HRIS_SOURCES",
    "LONG_TTL",
    "PREFIX",
    "DevStore",
    "Persona",
    "PlatformKey",
    "demo_program",
    "employee_ids",
    "find_personas",
    "platform_key",
]

PREFIX = "devplatform:"
#: Lifetime of what the platform keeps (its key, line items, scores, links).
LONG_TTL = timedelta(days=3650)
HINT_TTL = 600
TOKEN_TTL = 3600
JTI_TTL = 120
DEEP_LINK_TTL = 3600
#: Identity sources whose external id is an HRIS employee id (``lis.person_sourcedid``).
HRIS_SOURCES = ("successfactors", "workday", "hris")

# Tandems a demo junior is picked from, best first.
_TANDEM_PREFERENCE = (
    TandemStatus.ACTIVE,
    TandemStatus.ACCEPTED,
    TandemStatus.PROPOSED,
    TandemStatus.COMPLETED,
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class DevStore:
    """The platform's corner of the shared LTI store, bound to one session (caller commits)."""

    def __init__(self, session: Session) -> None:
        """Bind to the request's session."""
        self.session = session
        self.cache = LtiCache(session)

    def get(self, name: str, default: Any = None) -> Any:
        """The value stored under ``devplatform:<name>``, or ``default``."""
        return self.cache.get(PREFIX + name, default)

    def put(self, name: str, value: Any, ttl: float | timedelta = LONG_TTL) -> None:
        """Store (or replace) ``devplatform:<name>``."""
        self.cache.set(PREFIX + name, value, ttl)

    def add(self, name: str, value: Any, ttl: float | timedelta) -> bool:
        """Store ``devplatform:<name>`` unless a live entry exists; True if stored."""
        return self.cache.add_if_absent(PREFIX + name, value, ttl)

    def delete(self, name: str) -> bool:
        """Remove ``devplatform:<name>``."""
        return self.cache.delete(PREFIX + name)

    def scan(self, prefix: str) -> list[Any]:
        """The live values whose names start with ``prefix``, in key order."""
        stmt = (
            select(LtiCacheEntry.value)
            .where(
                LtiCacheEntry.key.startswith(PREFIX + prefix, autoescape=True),
                LtiCacheEntry.expires_at > utcnow(),
            )
            .order_by(LtiCacheEntry.key)
        )
        return list(self.session.scalars(stmt))

    # ------------------------------------------------------------------ login hints

    def save_hint(self, data: dict[str, Any]) -> str:
        """Keep a launch's login hint for :data:`HINT_TTL` seconds; returns the hint."""
        hint = secrets.token_urlsafe(18)
        self.put(f"hint:{hint}", data, HINT_TTL)
        return hint

    def load_hint(self, hint: str) -> dict[str, Any] | None:
        """The data of a live login hint, or None."""
        if not hint or len(hint) > 64:
            return None
        data = self.get(f"hint:{hint}")
        return data if isinstance(data, dict) else None

    # ------------------------------------------------------------------ access tokens

    def issue_token(self, scopes: list[str]) -> str:
        """A new opaque bearer token granting ``scopes`` for :data:`TOKEN_TTL` seconds."""
        token = secrets.token_urlsafe(32)
        self.put(f"token:{_digest(token)}", {"scopes": scopes}, TOKEN_TTL)
        return token

    def token_scopes(self, token: str) -> list[str] | None:
        """The scopes of a live token, or None for an unknown or expired one."""
        if not token or len(token) > 200:
            return None
        data = self.get(f"token:{_digest(token)}")
        return list(data["scopes"]) if isinstance(data, dict) else None

    def use_jti(self, jti: str) -> bool:
        """Record a client assertion's ``jti``; False if it was used before."""
        return self.add(f"jti:{_digest(jti)}", True, JTI_TTL)

    # ------------------------------------------------------------------ deep linking

    def save_deep_link_request(self, data: dict[str, Any]) -> str:
        """Remember a deep-linking request; returns its opaque ``data`` value."""
        token = secrets.token_urlsafe(18)
        self.put(f"dl:{token}", data, DEEP_LINK_TTL)
        return token

    def take_deep_link_request(self, token: str) -> dict[str, Any] | None:
        """The request a deep-linking response answers (once), or None."""
        if not isinstance(token, str) or not token or len(token) > 64:
            return None
        data = self.get(f"dl:{token}")
        if not isinstance(data, dict):
            return None
        self.delete(f"dl:{token}")
        return data

    def add_link(self, link: dict[str, Any]) -> dict[str, Any]:
        """Add a resource link to the course page; returns it with its ``id``."""
        link = {**link, "id": secrets.token_hex(6), "created": utcnow().isoformat()}
        self.put(f"link:{link['id']}", link)
        return link

    def get_link(self, link_id: str) -> dict[str, Any] | None:
        """One link added by deep linking, or None."""
        if not _is_hex(link_id):
            return None
        data = self.get(f"link:{link_id}")
        return data if isinstance(data, dict) else None

    def links(self) -> list[dict[str, Any]]:
        """Every link added by deep linking, oldest first."""
        return sorted(self.scan("link:"), key=lambda link: (link["created"], link["id"]))

    # ------------------------------------------------------------------ line items, scores

    def create_lineitem(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a new line item (validated fields); returns it with its ``id``."""
        item = {**fields, "id": secrets.token_hex(8), "created": utcnow().isoformat()}
        self.put(f"lineitem:{item['id']}", item)
        return item

    def get_lineitem(self, lineitem_id: str) -> dict[str, Any] | None:
        """One line item, or None."""
        if not _is_hex(lineitem_id):
            return None
        data = self.get(f"lineitem:{lineitem_id}")
        return data if isinstance(data, dict) else None

    def lineitems(self) -> list[dict[str, Any]]:
        """Every line item, oldest first."""
        return sorted(self.scan("lineitem:"), key=lambda item: (item["created"], item["id"]))

    def lineitem_for_link(self, resource_link_id: str) -> dict[str, Any] | None:
        """The first line item bound to a resource link, or None."""
        for item in self.lineitems():
            if item.get("resourceLinkId") == resource_link_id:
                return item
        return None

    def record_score(self, lineitem_id: str, score: dict[str, Any], timestamp: datetime) -> bool:
        """Keep a user's score unless the last one on record is as new or newer.

        Returns:
            True if stored, False if ignored (not newer than the last).
        """
        name = f"score:{lineitem_id}:{_digest(str(score['userId']))}"
        last = self.get(name)
        if isinstance(last, dict) and datetime.fromisoformat(last["timestamp"]) >= timestamp:
            return False
        self.put(name, {**score, "timestamp": timestamp.isoformat()})
        return True

    def scores(self, lineitem_id: str) -> list[dict[str, Any]]:
        """The last score of each user on a line item, by user id."""
        return sorted(self.scan(f"score:{lineitem_id}:"), key=lambda s: str(s["userId"]))


def _is_hex(value: str) -> bool:
    return bool(value) and len(value) <= 32 and all(c in "0123456789abcdef" for c in value)


# --------------------------------------------------------------------------- the key


@dataclass(frozen=True, slots=True)
class PlatformKey:
    """The platform's signing key.

    Attributes:
        kid: Its key id (RFC 7638 thumbprint).
        private_pem: The private key (PKCS#8 PEM); never log it.
        public_jwk: The public JWK served at ``/dev/platform/jwks``.
    """

    kid: str
    private_pem: str
    public_jwk: dict[str, Any]


def _new_key(box: SecretBox) -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=regs.KEY_SIZE)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    numbers = private.public_key().public_numbers()
    jwk: dict[str, Any] = {"kty": "RSA", "e": _b64_uint(numbers.e), "n": _b64_uint(numbers.n)}
    kid = regs.jwk_thumbprint(jwk)
    jwk.update({"alg": "RS256", "use": "sig", "kid": kid})
    return {"kid": kid, "public_jwk": jwk, "private_pem_encrypted": box.encrypt(pem)}


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def platform_key(store: DevStore, box: SecretBox) -> PlatformKey:
    """The platform's RSA key, created on first use (the first writer wins a race)."""
    data = store.get("key")
    if not isinstance(data, dict):
        data = _new_key(box)
        if not store.add("key", data, LONG_TTL):
            data = store.get("key")
    return PlatformKey(
        kid=data["kid"],
        private_pem=box.decrypt(data["private_pem_encrypted"]),
        public_jwk=dict(data["public_jwk"]),
    )


# --------------------------------------------------------------------------- personas


@dataclass(frozen=True, slots=True)
class Persona:
    """Someone a visitor can launch as.

    Attributes:
        key: ``junior``, ``senior`` or ``coordinator``.
        person: The demo person, or None when the program has nobody in that role.
        instructor: Whether the launch carries the Instructor role (else Learner).
        note: Why this person was picked (shown on the course page).
    """

    key: str
    person: Person | None
    instructor: bool
    note: str


def demo_program(session: Session, org_id: int) -> Program | None:
    """The course's program: the organization's first program (the seeded demo program)."""
    return session.scalar(select(Program).where(Program.org_id == org_id).order_by(Program.id))


def _tandem_junior(session: Session, program: Program) -> tuple[Person, Person | None] | None:
    rows = session.execute(
        select(Tandem.id, Tandem.status, TandemMember.person_id, TandemMember.role)
        .join(TandemMember, TandemMember.tandem_id == Tandem.id)
        .join(Person, Person.id == TandemMember.person_id)
        .where(Tandem.program_id == program.id, Person.active.is_(True))
        .order_by(Tandem.id, TandemMember.id)
    ).all()
    members: dict[int, dict[EnrollmentRole, int]] = {}
    status: dict[int, TandemStatus] = {}
    for tandem_id, tandem_status, person_id, role in rows:
        members.setdefault(tandem_id, {}).setdefault(role, person_id)
        status[tandem_id] = tandem_status
    for wanted in _TANDEM_PREFERENCE:
        for tandem_id, roles in members.items():
            if status[tandem_id] is wanted and EnrollmentRole.MENTOR in roles:
                junior = session.get(Person, roles[EnrollmentRole.MENTOR])
                senior_id = roles.get(EnrollmentRole.MENTEE)
                senior = session.get(Person, senior_id) if senior_id is not None else None
                if junior is not None:
                    return junior, senior
    return None


def _enrolled(session: Session, program: Program, role: EnrollmentRole) -> Person | None:
    return session.scalar(
        select(Person)
        .join(Enrollment, Enrollment.person_id == Person.id)
        .where(
            Enrollment.program_id == program.id,
            Enrollment.role == role,
            Enrollment.status == EnrollmentStatus.ACTIVE,
            Person.active.is_(True),
        )
        .order_by(Enrollment.id)
    )


def find_personas(session: Session, program: Program) -> dict[str, Persona]:
    """The demo junior, senior and coordinator of a program.

    The junior is a mentor in one of the program's tandems (an active one if there is
    one), the senior their partner; without tandems yet (a freshly seeded program),
    the first enrolled mentor and mentee. The coordinator is the program's first
    coordinator.
    """
    paired = _tandem_junior(session, program)
    junior: Person | None
    senior: Person | None
    if paired is not None:
        junior, senior = paired
        junior_note = "a junior (mentor) in a tandem of the program"
        senior_note = "their senior (mentee) partner"
    else:
        junior, senior = _enrolled(session, program, EnrollmentRole.MENTOR), None
        junior_note = "an enrolled junior (mentor); the program has no tandems yet"
        senior_note = ""
    if senior is None:
        senior = _enrolled(session, program, EnrollmentRole.MENTEE)
        senior_note = senior_note or "an enrolled senior (mentee)"
    coordinator = session.scalar(
        select(Person)
        .join(ProgramCoordinator, ProgramCoordinator.person_id == Person.id)
        .where(ProgramCoordinator.program_id == program.id)
        .order_by(ProgramCoordinator.id)
    )
    return {
        "junior": Persona("junior", junior, instructor=False, note=junior_note),
        "senior": Persona("senior", senior, instructor=False, note=senior_note),
        "coordinator": Persona(
            "coordinator", coordinator, instructor=True, note="a coordinator of the program"
        ),
    }


def employee_ids(session: Session, person_ids: list[int]) -> dict[int, str]:
    """Each person's HRIS employee id (identities from SuccessFactors, Workday, an HRIS)."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(PersonIdentity.person_id, PersonIdentity.source, PersonIdentity.external_id)
        .where(PersonIdentity.person_id.in_(person_ids))
        .order_by(PersonIdentity.id)
    ).all()
    found: dict[int, str] = {}
    for person_id, source, external_id in rows:
        if source.startswith(HRIS_SOURCES):
            found.setdefault(person_id, external_id)
    return found

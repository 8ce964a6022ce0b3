"""The demo's SuccessFactors: a fake tenant at ``/dev/successfactors`` and its connection.

``make run`` gives the demo organization a SuccessFactors connection ``demo-sf`` pointing
at ``{BASE_URL}/dev/successfactors``, where the app itself serves the SuccessFactors fake
(:mod:`fakes.successfactors`, mounted only with ``TANDEM_DEV_PLATFORM``; refused in
production). The fake's tenant is the demo company: :func:`setup_demo_hris` writes its
dataset from the organization's people — the same ``userId`` (the demo's employee ids),
names, org chart, active flags, skills and manager ratings — into the instance folder,
gives each of those people the identity ``successfactors:<connection id>`` so a sync
*links* them instead of creating duplicates, and registers a throwaway key and
certificate: the private key is stored encrypted on the connection, the certificate in
the dataset (the fake's "Manage OAuth2 Client Applications"). Then::

    tandem sync demo-sf             # people, org chart, skills through the real connector
    tandem demo simulate --program 1   # completions -> outbox -> SuccessFactors Learning
    curl {BASE_URL}/dev/successfactors/_fake/learning-events

The mount is lazy: the factory only wraps the WSGI app; the dataset is read on the first
request to ``/dev/successfactors`` (and again whenever ``tandem demo hris`` rewrote it).
``lti`` never imports ``fakes``: the fake is loaded by dotted path.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.utils import import_string

from plugin.crypto import SecretBox
from plugin.errors import NotFound
from plugin.services import connections, demo_hris, organizations, writeback

__all__ = [
    "API_USER",
    "CLIENT_ID",
    "COMPANY_ID",
    "DATASET_FILE",
    "DEMO_CONNECTION",
    "MOUNT",
    "DemoHrisSummary",
    "FakeSuccessFactorsMount",
    "build_dataset",
    "fake_url",
    "make_key_pair",
    "mount",
    "setup_demo_hris",
]

#: The demo connection's name.
DEMO_CONNECTION = "demo-sf"
#: Where the fake is mounted in the app (with ``DEV_PLATFORM`` only).
MOUNT = "/dev/successfactors"
#: The fake tenant's dataset, in the instance folder.
DATASET_FILE = "demo-successfactors.json"
#: The fake company, its OAuth client (API key) and API user.
COMPANY_ID = "TANDEMDEMO"
CLIENT_ID = "tandem-demo"
API_USER = "tandem-api"
#: How the fake is found (``lti`` never imports ``fakes``).
FAKE_TENANT = "fakes.successfactors:FakeTenant"
FAKE_APP = "fakes.successfactors:create_app"

_CERT_DAYS = 3650


def fake_url(base_url: str) -> str:
    """The demo tenant's API server URL for a deployment at ``base_url``."""
    return base_url.rstrip("/") + MOUNT


def make_key_pair(*, common_name: str = "tandem-demo") -> tuple[str, str]:
    """A throwaway RSA-2048 key and its self-signed certificate, both as PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=_CERT_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return key_pem, cert_pem


@dataclass(frozen=True)
class DemoHrisSummary:
    """What :func:`setup_demo_hris` did."""

    connection_id: int
    created: bool
    base_url: str
    users: int
    inactive: int
    skills: int
    ratings: int
    identities_added: int
    dataset_path: str


def _ms(value: datetime | date | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)


def _locale(languages: Iterable[str] | None, country: str | None) -> str | None:
    first = next(iter(languages or ()), None)
    if not first:
        return None
    return f"{first.lower()}_{(country or first).upper()}"


def build_dataset(session: Session, *, org_id: int, source: str) -> dict[str, Any]:
    """The fake tenant's users, skills and manager ratings from the organization's people.

    Only people with an identity of ``source`` are included; their ``userId`` is that
    identity's external id. Erased people are left out (they are no longer in the HRIS).
    The data is read by :func:`plugin.services.demo_hris.hris_snapshot`.
    """
    snapshot = demo_hris.hris_snapshot(session, org_id=org_id, source=source)
    users: list[dict[str, Any]] = []
    for person in snapshot.people:
        user = {
            "userId": person.external_id,
            "username": person.external_id,
            "status": "t" if person.active else "f",
            "firstName": person.given_name,
            "lastName": person.family_name,
            "email": person.email,
            "department": person.department,
            "division": person.division,
            "location": person.location,
            "country": person.country,
            "timeZone": person.time_zone,
            "defaultLocale": _locale(person.languages, person.country),
            "jobTitle": person.job_title,
            "hireDate": _ms(person.hire_date),
            "manager": person.manager_external_id,
            "lastModifiedDateTime": _ms(person.updated_at),
        }
        users.append({k: v for k, v in user.items() if v is not None})
    skills = []
    for s in snapshot.skills:
        skill = {"externalCode": s.external_id, "name_en_US": s.name, "status": "A"}
        if s.name_de:
            skill["name_de_DE"] = s.name_de
        skills.append(skill)
    ratings = [
        {
            "userId": r.person_external_id,
            "skill": r.skill_external_id,
            "level": r.level,
            "rater": "manager",
        }
        for r in snapshot.ratings
    ]
    return {"users": users, "skills": skills, "ratings": ratings}


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def setup_demo_hris(
    session: Session,
    *,
    org_slug: str,
    base_url: str,
    data_dir: str,
    box: SecretBox,
    actor: str,
    writeback_sink: str | None = "successfactors",
) -> DemoHrisSummary:
    """Create (or refresh) the demo organization's SuccessFactors connection and tenant.

    Idempotent: the connection and its key are made once; later calls point it at
    ``base_url`` again (a changed port), link people added since, and rewrite the dataset.
    Only flushes; the caller commits — the dataset file is written before, so commit right
    after (a rolled-back call leaves a dataset the fake serves but nobody links to).

    Args:
        session: The unit of work.
        org_slug: The demo organization (seeded by ``tandem demo seed``).
        base_url: The deployment's public base URL (``TANDEM_BASE_URL``).
        data_dir: Where the dataset goes (the app's instance folder).
        box: Encrypts the private key on the connection.
        actor: Who sets it up, for the audit log.
        writeback_sink: The sink of the connection's write-back target; ``None`` for none.

    Raises:
        NotFound: No such organization.
        ConflictError: A write-back target named ``demo-sf`` exists without the connection.
    """
    org = organizations.get_organization(session, org_slug)
    url = fake_url(base_url)
    settings = {
        "base_url": url,
        "company_id": COMPANY_ID,
        "client_id": CLIENT_ID,
        "user_id": API_USER,
        "learning_url": url,
        "learning_time_zone": "Europe/Berlin",
        "auth": "saml",
    }
    created = False
    try:
        connection = connections.get_connection(session, org_id=org.id, name=DEMO_CONNECTION)
    except NotFound:
        key_pem, cert_pem = make_key_pair()
        connection = connections.add_connection(
            session,
            box=box,
            org_id=org.id,
            kind="successfactors",
            name=DEMO_CONNECTION,
            settings=settings,
            credentials={"private_key": key_pem, "certificate": cert_pem},
            actor=actor,
            writeback_sink=writeback_sink,
            writeback_kinds=list(writeback.MESSAGE_KINDS) if writeback_sink else None,
        )
        created = True
    else:
        stale = {k: v for k, v in settings.items() if connection.settings.get(k) != v}
        if stale:
            connections.update_connection(
                session,
                box=box,
                org_id=org.id,
                name=DEMO_CONNECTION,
                settings=stale,
                actor=actor,
            )
    config = connections.connection_config(session, box=box, connection=connection)
    certificate = config.credentials.get("certificate", "")
    source = config.source
    added = demo_hris.link_demo_identities(session, org_id=org.id, source=source)
    session.flush()
    data = build_dataset(session, org_id=org.id, source=source)
    path = Path(data_dir) / DATASET_FILE
    _write_atomically(
        path,
        {
            "tenant": {
                "company_id": COMPANY_ID,
                "base_url": url,
                "client_id": CLIENT_ID,
                "api_user": API_USER,
                "certificate": certificate,
            },
            **data,
        },
    )
    return DemoHrisSummary(
        connection_id=connection.id,
        created=created,
        base_url=url,
        users=len(data["users"]),
        inactive=sum(1 for u in data["users"] if u["status"] != "t"),
        skills=len(data["skills"]),
        ratings=len(data["ratings"]),
        identities_added=added,
        dataset_path=str(path),
    )


# --------------------------------------------------------------------------- the mount

_Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _not_set_up(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps(
        {
            "error": {
                "code": "TANDEM_DEMO_NOT_SET_UP",
                "message": {
                    "lang": "en-US",
                    "value": "The demo SuccessFactors tenant is not set up: run "
                    "`tandem demo hris` (make run does) and retry.",
                },
            }
        }
    ).encode()
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class FakeSuccessFactorsMount:
    """The fake served from the dataset file; (re)built when the file appears or changes."""

    def __init__(self, data_dir: Callable[[], str]) -> None:
        """Read nothing yet; ``data_dir`` returns the instance folder at request time."""
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._app: _Wsgi | None = None
        self.tenant: Any = None

    def _load(self) -> _Wsgi | None:
        path = Path(self._data_dir()) / DATASET_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime, stat.st_size)
        with self._lock:
            if self._app is None or stamp != self._stamp:
                data = json.loads(path.read_text(encoding="utf-8"))
                meta = data.get("tenant") or {}
                tenant = import_string(FAKE_TENANT)(
                    company_id=str(meta.get("company_id", COMPANY_ID)),
                    base_url=meta.get("base_url"),
                )
                tenant.load_dataset(
                    {key: data.get(key, []) for key in ("users", "skills", "ratings")}
                )
                api_user = str(meta.get("api_user", API_USER))
                tenant.add_api_user(api_user)
                if meta.get("certificate"):
                    tenant.register_client(
                        client_id=str(meta.get("client_id", CLIENT_ID)),
                        certificate_pem=str(meta["certificate"]),
                        user_id=api_user,
                    )
                tenant.basic_auth_enabled = False
                self._app = import_string(FAKE_APP)(tenant)
                self.tenant = tenant
                self._stamp = stamp
            return self._app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request (a 503 with a hint while the demo tenant is not set up)."""
        app = self._load()
        if app is None:
            return _not_set_up(environ, start_response)
        return app(environ, start_response)


def mount(app: Flask) -> FakeSuccessFactorsMount:
    """Serve the demo's SuccessFactors fake at :data:`MOUNT` (development only; no I/O now)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    fake = FakeSuccessFactorsMount(lambda: app.instance_path)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {MOUNT: fake})  # type: ignore[method-assign]
    app.extensions["tandem.demo_successfactors"] = fake
    return fake

"""HR admin pages (organization level): connections and syncs, LTI registrations, keys.

Only a session whose launch carried an institution or system administrator role
(:attr:`lti.web_session.WebSession.is_admin`) opens these pages; everyone else gets 403.
Everything is read and written in the session's organization: a connection, sync run,
registration or deployment of another organization is 404.

* **Connections** — the list (never a secret: settings, and whether credentials are
  stored), adding a SuccessFactors connection with the same fields and checks as
  ``tandem connections add successfactors`` (key and certificate uploaded or pasted,
  checked by :func:`plugin.services.connections.check_private_key` / ``check_certificate``,
  as the CLI does),
  testing it (the connector's ``check()``, the failure classified), **sync now** and the
  history of syncs with their counts and quarantined records (raw payloads are personal
  data: shown folded, to admins only).
* **Sync now** runs :func:`plugin.services.sync.run_sync` in a daemon thread of this
  process with its own sessions; the engine commits page by page. Progress goes to the
  shared store (:class:`plugin.services.lti_cache.LtiCache`, key ``admin:sync:<token>``,
  written at most every :data:`PROGRESS_INTERVAL` seconds and at each phase change, in
  its own short transaction), so any host serves the progress page, which refreshes
  itself (a small script; without JavaScript a ``<noscript>`` refresh) until the run
  ends. A second sync of a connection is refused while one runs: here (a lock entry
  taken atomically, then the running :class:`~plugin.models.SyncRun`) and by the core.
  If the process stops, the run stays ``running`` until the core takes it for abandoned
  (:data:`plugin.services.sync.STALE_AFTER`).
* **LTI** — registrations with their deployments; approve or revoke a deployment; a
  one-time dynamic registration URL (shown once, in the POST's answer: it is never put
  in a GET URL, a log or the store in clear).
* **Keys** — the tool's signing keys; rotation after a confirmation.

Forms follow :mod:`lti.forms`: marshmallow validates, errors are shown beside the field
with status 400 (nothing written), a refusal of the core with its status, success
redirects (303) to a page that shows a notice.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, Response, current_app, redirect, request, url_for
from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range, Regexp
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import Forbidden, NotFound
from werkzeug.wrappers import Response as BaseResponse

from lti import forms, pages, web_session
from lti.cli_connections import (
    EXPIRY_WARNING,
    LEARNING_KINDS,
    SKILL_KINDS,
)
from lti.connectors import build_source, get_connectors
from lti.db import get_engine, get_session
from lti.dynreg import registration_url as build_registration_url
from lti.forms import Form, FormSchema
from lti.i18n import _, error_text
from lti.secrets import get_secret_box
from lti.sinks import get_sinks
from lti.web_session import WebSession
from plugin.errors import (
    ConnectorAuthError,
    ConnectorDataError,
    ConnectorError,
    ConnectorUnavailable,
    PluginError,
    SecretError,
    ValidationError,
)
from plugin.models import (
    Connection,
    ConnectionKind,
    LtiDeploymentStatus,
    QuarantinedRecord,
    SyncRun,
    SyncStatus,
    ToolKeyStatus,
)
from plugin.ports import PeopleSource
from plugin.services import connections, lti_dynreg, sync, writeback
from plugin.services import lti_registrations as regs
from plugin.services.lti_cache import LtiCache
from plugin.services.sync import SyncProgress, SyncResult

__all__ = [
    "LOCK_TTL",
    "MAX_UPLOAD",
    "PROGRESS_INTERVAL",
    "PROGRESS_TTL",
    "SYNC_THREAD_PREFIX",
    "PemError",
    "bp",
    "check_certificate_pem",
    "check_private_key_pem",
    "deployment_status_label",
    "key_status_label",
    "phase_label",
    "sync_status_label",
]

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/app/admin")

#: How long the progress of a sync started here stays readable.
PROGRESS_TTL = timedelta(days=1)
#: Seconds between two progress writes of a running sync (phase changes always write).
PROGRESS_INTERVAL = 1.0
#: How long the "a sync is starting" lock of a connection lives at most; once the run
#: exists, its ``running`` row refuses a second sync (here and in the core).
LOCK_TTL = timedelta(minutes=2)
#: Names of the background sync threads (``tandem-sync-<connection id>``).
SYNC_THREAD_PREFIX = "tandem-sync-"
#: Largest request the "add a connection" form accepts (two PEM files and the fields).
MAX_UPLOAD = 256 * 1024
#: Connection names: the core's rule (:mod:`plugin.services.connections`).
_CONNECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_PROGRESS = "admin:sync:"
_LOCK = "admin:sync-lock:"
_LATEST = "admin:sync-latest:"
#: Largest key or certificate accepted (the CLI's file limit).
_MAX_PEM = 64_000
_HISTORY = 20
_QUARANTINE_SHOWN = 200
_ERROR_CHARS = 160


# --------------------------------------------------------------------------- access


def _admin() -> WebSession:
    """The session, if it is an HR admin's.

    Raises:
        Unauthorized: No session.
        Forbidden: The launch gave no administrator role.
    """
    ws = web_session.require()
    if not ws.is_admin:
        raise Forbidden(
            _(
                "Only HR administrators of your organization can open this page. Tandem "
                "takes that role from your LMS account (institution or system administrator)."
            )
        )
    return ws


def _actor(ws: WebSession) -> str:
    return ws.actor().label


def _production() -> bool:
    return str(current_app.config.get("ENV")) == "production"


def _render(template: str, ws: WebSession, **context: Any) -> str:
    return pages._render(template, ws, notice=_notice(), **context)


@bp.after_request
def _no_store(response: Response) -> Response:
    # Admin pages show settings, quarantined personal data and one-time URLs: never
    # kept by a cache, the back-forward cache or a Referer header.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _notice() -> str | None:
    done = request.args.get("done", "")
    return {
        "added": _("The connection was added. Test it, then sync it."),
        "approved": _("The deployment was approved: its launches are accepted from now on."),
        "revoked": _("The deployment was revoked: its launches are refused from now on."),
        "rotated": _(
            "A new signing key was made. The previous key stays published until the next "
            "rotation, so platforms that cached the old keyset keep working."
        ),
    }.get(done)


def _redirect(endpoint: str, **values: Any) -> BaseResponse:
    return redirect(url_for(endpoint, **values), code=303)


# --------------------------------------------------------------------------- helpers


def _connection(ws: WebSession, name: str) -> Connection:
    if not _CONNECTION_NAME.match(name):
        raise NotFound()
    return connections.get_connection(get_session(), org_id=ws.org_id, name=name)


def _seconds(run: SyncRun) -> float | None:
    if run.finished_at is None:
        return None
    return max(0.0, (run.finished_at - run.started_at).total_seconds())


def _short(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= _ERROR_CHARS else flat[: _ERROR_CHARS - 1] + "…"


def sync_status_label(status: str) -> str:
    """A sync run's (or a progress entry's) state in words."""
    return {
        "starting": _("Starting"),
        "running": _("Running"),
        "succeeded": _("Succeeded"),
        "failed": _("Failed"),
    }.get(status, status)


def phase_label(phase: str) -> str:
    """A sync phase in words."""
    return {
        "people": _("Reading people"),
        "managers": _("Resolving managers"),
        "skills": _("Reading the skill catalogue"),
        "person_skills": _("Reading skill ratings"),
        "deactivate": _("Deactivating leavers"),
        "done": _("Finishing"),
    }.get(phase, phase)


def deployment_status_label(status: str) -> str:
    """A deployment's status in words."""
    return {
        "pending": _("Waiting for approval"),
        "approved": _("Approved"),
        "revoked": _("Revoked"),
    }.get(status, status)


def key_status_label(status: str) -> str:
    """A tool key's status in words."""
    return {
        "current": _("Current: signs and is published"),
        "previous": _("Previous: still published"),
        "retired": _("Retired: no longer published"),
    }.get(status, status)


def _labels() -> dict[str, Callable[[str], str]]:
    return {
        "sync_status_label": sync_status_label,
        "phase_label": phase_label,
        "deployment_status_label": deployment_status_label,
        "key_status_label": key_status_label,
    }


# --------------------------------------------------------------------------- PEM checks


class PemError(ValueError):
    """An uploaded or pasted key or certificate was refused (the message is safe to show)."""


def check_private_key_pem(data: bytes) -> tuple[str, rsa.RSAPrivateKey]:
    """The PEM text and key of an uploaded or pasted unencrypted RSA private key.

    The same checks as ``tandem connections add successfactors --private-key``
    (:func:`plugin.services.connections.check_private_key`).

    Raises:
        PemError: Too large, not a PEM private key, encrypted, not RSA or under 2048 bits.
    """
    if len(data) > _MAX_PEM:
        raise PemError(_("It is too large to be a PEM file."))
    try:
        return connections.check_private_key(data, label=_("The key"))
    except ValidationError as exc:
        raise PemError(error_text(exc)) from None


def check_certificate_pem(
    data: bytes, key: rsa.RSAPrivateKey | None
) -> tuple[str, x509.Certificate]:
    """The PEM text and certificate of an uploaded or pasted certificate, checked against ``key``.

    Raises:
        PemError: Too large, not a PEM certificate, expired, or not the key's certificate.
    """
    if len(data) > _MAX_PEM:
        raise PemError(_("It is too large to be a PEM file."))
    try:
        return connections.check_certificate(
            data, key, label=_("The file"), certificate_label=_("The certificate")
        )
    except ValidationError as exc:
        raise PemError(error_text(exc)) from None


def _pem_input(name: str, pasted: Any) -> bytes | None:
    """An uploaded file (``<name>_file``) or, without one, the pasted text ``<name>``."""
    upload: FileStorage | None = request.files.get(f"{name}_file")
    if upload is not None and upload.filename:
        data = upload.stream.read(_MAX_PEM + 1)
        if data:
            return data
    if isinstance(pasted, str) and pasted.strip():
        return pasted.encode("utf-8", "replace")
    return None


# --------------------------------------------------------------------------- forms


def _text(*, required: bool = False, limit: int = 255) -> fields.String:
    size = Length(max=limit, error=_("At most %(max)s characters.", max=limit))
    messages: dict[str, Any] = {"required": _("Enter a value."), "invalid": _("Enter text.")}
    if required:
        return fields.String(required=True, validate=size, error_messages=messages)
    return fields.String(load_default=None, validate=size, error_messages=messages)


def _integer(low: int, high: int) -> fields.Integer:
    return fields.Integer(
        load_default=None,
        strict=False,
        validate=Range(
            min=low,
            max=high,
            error=_("Enter a whole number from %(min)s to %(max)s.", min=low, max=high),
        ),
        error_messages={"invalid": _("Enter a whole number.")},
    )


def _flag() -> fields.Boolean:
    # An unchecked box sends nothing: missing is off. The page ticks the defaults.
    return fields.Boolean(load_default=False, error_messages={"invalid": _("Tick or untick.")})


def _connection_schema() -> Schema:
    """The "add a SuccessFactors connection" form (built per request: messages translated)."""
    name_rule = Regexp(
        _CONNECTION_NAME,
        error=_(
            "Use 1–120 lower-case letters, digits, '_', '.' or '-', starting with a letter "
            "or digit."
        ),
    )
    return FormSchema.from_dict(
        {
            "name": fields.String(
                required=True,
                validate=name_rule,
                error_messages={"required": _("Enter a name, e.g. sf-prod.")},
            ),
            "base_url": _text(required=True, limit=1000),
            "company_id": _text(required=True),
            "client_id": _text(required=True),
            "user_id": _text(required=True),
            "private_key": _text(limit=_MAX_PEM),
            "certificate": _text(limit=_MAX_PEM),
            "password": _text(limit=1000),
            "token_url": _text(limit=1000),
            "odata_path": _text(limit=200),
            "learning_url": _text(limit=1000),
            "learning_auth": fields.String(
                load_default=None,
                validate=OneOf(
                    ["platform", "learning_token_server"], error=_("Choose one of the options.")
                ),
            ),
            "learning_client_id": _text(),
            "learning_client_secret": _text(limit=1000),
            "learning_time_zone": _text(limit=64),
            "page_size": _integer(1, 1000),
            "delta_overlap_minutes": _integer(0, 7 * 24 * 60),
            "skills": _flag(),
            "writeback": _flag(),
            "allow_http": _flag(),
        },
        name="ConnectionForm",
    )()


def _confirm_schema(message: str) -> Schema:
    return FormSchema.from_dict(
        {
            "confirm": fields.Boolean(
                required=True,
                validate=lambda value: bool(value),
                error_messages={"required": message, "validator_failed": message},
            )
        },
        name="ConfirmForm",
    )()


def _registration_schema() -> Schema:
    return FormSchema.from_dict(
        {
            "approval": fields.String(
                required=True,
                validate=OneOf(["auto", "manual"], error=_("Choose one of the options.")),
                error_messages={"required": _("Choose how new deployments are approved.")},
            )
        },
        name="RegistrationUrlForm",
    )()


def _sync_schema() -> Schema:
    return FormSchema.from_dict({"full": _flag()}, name="SyncForm")()


def _empty_schema() -> Schema:
    return FormSchema()


def _error(form: Form, name: str, message: str) -> None:
    form.errors.setdefault(name, []).append(message)
    form.data = {}


def _url(form: Form, name: str, *, allow_http: bool) -> str | None:
    """A URL field checked like the CLI's ``--base-url``: http(s), plain, https in production."""
    raw = form.data.get(name)
    if raw is None:
        return None
    value = str(raw).strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("https", "http") or not host:
        _error(form, name, _("Enter an https:// URL."))
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        _error(form, name, _("Enter a plain URL: no user, password, query or fragment."))
        return None
    if parts.scheme == "http" and _production() and not allow_http:
        _error(
            form,
            name,
            _("Use https:// (plain http only with “Allow plain http”, for a test server)."),
        )
        return None
    return value.rstrip("/")


@dataclass
class _NewConnection:
    settings: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)


def _settings_and_credentials(form: Form) -> _NewConnection | None:
    """The settings and secrets of a valid form (errors added to ``form`` otherwise)."""
    data = dict(form.data)
    out = _NewConnection()
    allow_http = bool(data.get("allow_http"))
    for key in ("base_url", "token_url", "learning_url"):
        url = _url(form, key, allow_http=allow_http)
        if url is not None:
            out.settings[key] = url
    for key in ("company_id", "client_id", "user_id", "learning_client_id", "learning_time_zone"):
        value = data.get(key)
        if value is not None:
            value = value.strip()
            if not value:
                _error(form, key, _("Enter a value."))
            else:
                out.settings[key] = value
    odata_path = data.get("odata_path")
    if odata_path is not None:
        odata_path = odata_path.strip()
        if not odata_path.startswith("/") or "?" in odata_path or "#" in odata_path:
            _error(form, "odata_path", _("Enter a path like /odata/v2."))
        else:
            out.settings["odata_path"] = odata_path.rstrip("/") or "/"
    for key in ("page_size", "delta_overlap_minutes", "learning_auth"):
        if data.get(key) is not None:
            out.settings[key] = data[key]
    out.settings["skills"] = bool(data.get("skills"))

    key_data = _pem_input("private_key", data.get("private_key"))
    cert_data = _pem_input("certificate", data.get("certificate"))
    if (key_data is None) != (cert_data is None):
        missing = "certificate" if cert_data is None else "private_key"
        _error(
            form,
            missing,
            _(
                "Give the private key and its certificate together: the certificate "
                "registered in SuccessFactors and the key it was made from."
            ),
        )
    elif key_data is not None and cert_data is not None:
        rsa_key: rsa.RSAPrivateKey | None = None
        try:
            key_pem, rsa_key = check_private_key_pem(key_data)
            out.credentials["private_key"] = key_pem
        except PemError as exc:
            _error(
                form,
                "private_key",
                _("The private key was not accepted: %(reason)s", reason=str(exc)),
            )
        if rsa_key is not None:
            try:
                cert_pem, _cert = check_certificate_pem(cert_data, rsa_key)
                out.credentials["certificate"] = cert_pem
            except PemError as exc:
                _error(
                    form,
                    "certificate",
                    _("The certificate was not accepted: %(reason)s", reason=str(exc)),
                )
    password = data.get("password")
    if password:
        out.credentials["password"] = password
    secret = data.get("learning_client_secret")
    if secret:
        out.credentials["learning_client_secret"] = secret
    if "private_key" in out.credentials:
        out.settings["auth"] = "saml"
    elif "password" in out.credentials:
        out.settings["auth"] = "basic"
    elif key_data is None and cert_data is None:
        _error(
            form,
            "private_key",
            _(
                "Give a private key and certificate (OAuth 2.0 SAML bearer), or the API "
                "user's password (basic authentication)."
            ),
        )
    return out if form.ok else None


# --------------------------------------------------------------------------- overview


@bp.get("/")
def index() -> str:
    """What the organization has: connections, platforms, pending deployments, keys."""
    ws = _admin()
    db = get_session()
    rows = connections.list_connections(db, org_id=ws.org_id)
    last_runs = {
        c.id: next(iter(sync.list_runs(db, org_id=ws.org_id, connection_id=c.id, limit=1)), None)
        for c in rows
    }
    pending = regs.list_deployments(db, org_id=ws.org_id, status=LtiDeploymentStatus.PENDING)
    return _render(
        "pages/admin/index.html",
        ws,
        connections=rows,
        last_runs=last_runs,
        platforms=regs.list_platforms(db, org_id=ws.org_id),
        pending=pending,
        current_key=regs.current_tool_key(db),
        **_labels(),
    )


# --------------------------------------------------------------------------- connections


def _connection_row(db: Session, ws: WebSession, connection: Connection) -> dict[str, Any]:
    public = connections.public_settings(connection)
    last = next(
        iter(sync.list_runs(db, org_id=ws.org_id, connection_id=connection.id, limit=1)), None
    )
    return {
        "connection": connection,
        "public": public,
        "last": last,
        "running": sync.running_run(db, org_id=ws.org_id, connection_id=connection.id),
    }


@bp.get("/connections")
def connections_page() -> str:
    """The organization's HRIS connections with their last sync (no secrets)."""
    ws = _admin()
    db = get_session()
    rows = [_connection_row(db, ws, c) for c in connections.list_connections(db, org_id=ws.org_id)]
    return _render(
        "pages/admin/connections.html",
        ws,
        rows=rows,
        can_add="successfactors" in get_connectors(),
        **_labels(),
    )


def _new_page(ws: WebSession, form: Form | None, status: int = 200) -> tuple[str, int]:
    sinks = get_sinks()
    return (
        _render(
            "pages/admin/connection_new.html",
            ws,
            form=form,
            registered="successfactors" in get_connectors(),
            writeback_available="successfactors" in sinks,
            production=_production(),
        ),
        status,
    )


@bp.get("/connections/new")
def new_connection() -> tuple[str, int]:
    """The form that adds a SuccessFactors connection."""
    ws = _admin()
    return _new_page(ws, None)


@bp.post("/connections/new")
def add_connection() -> tuple[str, int] | BaseResponse:
    """Add a SuccessFactors connection; its key and certificate are stored encrypted."""
    ws = _admin()
    request.max_content_length = MAX_UPLOAD  # before the body is read: 413 beyond it
    form = forms.parse(_connection_schema(), request.form)
    if not form.ok:
        return _new_page(ws, form, 400)
    new = _settings_and_credentials(form)
    if new is None:
        return _new_page(ws, form, 400)
    if "successfactors" not in get_connectors():
        form.errors["_form"] = [
            _("This Tandem installation has no SuccessFactors connector (TANDEM_CONNECTORS).")
        ]
        return _new_page(ws, form, 400)
    writeback_on = bool(form.data.get("writeback"))
    kinds: list[str] = []
    if writeback_on:
        if "successfactors" not in get_sinks():
            _error(
                form,
                "writeback",
                _(
                    "This Tandem installation cannot write back to SuccessFactors (no "
                    "sink 'successfactors' in TANDEM_SINKS): untick write-back."
                ),
            )
            return _new_page(ws, form, 400)
        kinds = [*(LEARNING_KINDS if new.settings.get("learning_url") else ()), *SKILL_KINDS]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db = get_session()
    try:
        connection = connections.add_connection(
            db,
            box=get_secret_box(app),
            org_id=ws.org_id,
            kind=ConnectionKind.SUCCESSFACTORS.value,
            name=form.data["name"],
            settings=new.settings,
            credentials=new.credentials,
            actor=_actor(ws),
            writeback_sink="successfactors" if writeback_on else None,
            writeback_kinds=kinds or None,
        )
        # Build the connector now (no I/O) so settings that cannot work fail here.
        build_source(app, db, connection)
    except PluginError as exc:
        form.fail(exc)
        return _new_page(ws, form, exc.status_code)
    return _redirect("admin.connection_page", name=connection.name, done="added")


def _certificate_facts(connection: Connection) -> dict[str, Any]:
    """Which credentials are stored (names) and when the certificate expires."""
    try:
        config = connections.connection_config(
            get_session(), box=get_secret_box(), connection=connection
        )
    except SecretError:
        return {"undecryptable": True, "names": [], "expires": None}
    facts: dict[str, Any] = {
        "undecryptable": False,
        "names": sorted(config.credentials),
        "expires": None,
        "expiring": False,
    }
    pem = config.credentials.get("certificate")
    if pem:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("ascii", "replace"))
        except ValueError:
            return facts
        facts["expires"] = cert.not_valid_after_utc
        facts["expiring"] = cert.not_valid_after_utc - datetime.now(UTC) < EXPIRY_WARNING
    return facts


def _connection_page(
    ws: WebSession,
    connection: Connection,
    *,
    test: dict[str, Any] | None = None,
    sync_form: Form | None = None,
    status: int = 200,
) -> tuple[str, int]:
    db = get_session()
    runs = sync.list_runs(db, org_id=ws.org_id, connection_id=connection.id, limit=_HISTORY)
    targets = [
        t for t in writeback.list_targets(db, org_id=ws.org_id) if t.connection_id == connection.id
    ]
    running = sync.running_run(db, org_id=ws.org_id, connection_id=connection.id)
    latest = LtiCache(db).get(_LATEST + str(connection.id))
    return (
        _render(
            "pages/admin/connection.html",
            ws,
            connection=connection,
            public=connections.public_settings(connection),
            credentials=_certificate_facts(connection),
            targets=targets,
            runs=[{"run": r, "seconds": _seconds(r), "error": _short(r.error)} for r in runs],
            running=running,
            latest_token=latest if isinstance(latest, str) else None,
            test=test,
            sync_form=sync_form,
            **_labels(),
        ),
        status,
    )


@bp.get("/connections/<string(maxlength=120):name>")
def connection_page(name: str) -> tuple[str, int]:
    """One connection: settings, stored credentials (names), write-back, sync history."""
    ws = _admin()
    return _connection_page(ws, _connection(ws, name))


_CHECK_KINDS: tuple[tuple[type[ConnectorError], str], ...] = (
    (ConnectorAuthError, "auth"),
    (ConnectorUnavailable, "unavailable"),
    (ConnectorDataError, "data"),
)


@bp.post("/connections/<string(maxlength=120):name>/test")
def test_connection(name: str) -> tuple[str, int]:
    """Check the connection (token and one read; writes nothing) and show the outcome.

    The outcome is shown in this answer, not after a redirect: nothing was changed, and
    the classified error belongs next to the button that asked for it.
    """
    ws = _admin()
    forms.parse(_empty_schema(), request.form)
    connection = _connection(ws, name)
    db = get_session()
    test: dict[str, Any]
    try:
        source = build_source(current_app._get_current_object(), db, connection)  # type: ignore[attr-defined]
    except PluginError as exc:
        test = {"ok": False, "kind": "config", "status": None, "message": error_text(exc)}
        return _connection_page(ws, connection, test=test)
    db.rollback()  # hold no transaction while the HRIS answers
    started = time.monotonic()
    try:
        source.check()
    except ConnectorError as exc:
        kind = next((k for cls, k in _CHECK_KINDS if isinstance(exc, cls)), "other")
        retry = getattr(exc, "retry_after", None)
        test = {
            "ok": False,
            "kind": kind,
            "status": exc.status,
            "message": error_text(exc),
            "retry_after": int(retry) if isinstance(retry, int | float) and retry > 0 else None,
        }
    else:
        test = {"ok": True, "seconds": time.monotonic() - started}
    return _connection_page(ws, connection, test=test)


# --------------------------------------------------------------------------- sync now


@dataclass
class _ProgressWriter:
    """Writes a background sync's progress to the shared store, throttled."""

    factory: sessionmaker[Session]
    key: str
    state: dict[str, Any]
    interval: float = PROGRESS_INTERVAL
    _last: float = 0.0
    _phase: str = ""

    def write(self) -> None:
        self.state["updated_at"] = datetime.now(UTC).isoformat()
        try:
            with self.factory() as session:
                if self.state.get("run_id") is None and self.state["state"] == "running":
                    running = sync.running_run(
                        session,
                        org_id=int(self.state["org_id"]),
                        connection_id=int(self.state["connection_id"]),
                    )
                    if running is not None:
                        self.state["run_id"] = running.id
                        self.state["actual_full"] = running.full
                LtiCache(session).set(self.key, dict(self.state), PROGRESS_TTL)
                session.commit()
        except SQLAlchemyError as exc:  # progress is a courtesy; the run goes on
            log.warning("could not record sync progress (%s)", type(exc).__name__)

    def __call__(self, p: SyncProgress) -> None:
        """Record one progress event of the engine (throttled)."""
        now = time.monotonic()
        changed = p.phase != self._phase
        if not changed and now - self._last < self.interval:
            return
        self._phase = p.phase
        self._last = now
        self.state.update(
            state="running",
            phase=p.phase,
            pages=p.pages,
            seen=p.seen,
            created=p.created,
            updated=p.updated,
            unchanged=p.unchanged,
            deactivated=p.deactivated,
            quarantined=p.quarantined,
        )
        self.write()

    def finish(self, result: SyncResult | None, error: str | None) -> None:
        if result is not None:
            self.state.update(
                state=result.status.value,
                phase="done",
                run_id=result.run_id,
                actual_full=result.full,
                seen=result.seen,
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
                deactivated=result.deactivated,
                quarantined=result.quarantined,
                quarantined_total=result.quarantined_total,
                error=result.error,
            )
        else:
            self.state.update(state="failed", error=error)
        self.state["finished_at"] = datetime.now(UTC).isoformat()
        self.write()


def _run_in_background(
    *,
    engine: Engine,
    writer: _ProgressWriter,
    lock_key: str,
    org_id: int,
    connection_id: int,
    source: PeopleSource,
    full: bool,
    actor: str,
) -> None:
    """The body of a sync thread: run, record the outcome, release the lock."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    result: SyncResult | None = None
    error: str | None = None
    try:
        result = sync.run_sync(
            factory,
            org_id=org_id,
            connection_id=connection_id,
            source=source,
            full=full,
            actor=actor,
            progress=writer,
        )
    except PluginError as exc:  # refused before it started (running, paused …)
        error = error_text(exc)
    except Exception as exc:  # a bug or the database: the core marked the run failed
        log.error("background sync of connection %s stopped: %s", connection_id, type(exc).__name__)
        error = "The sync stopped because of an error on Tandem's side; see the server log."
    finally:
        writer.finish(result, error)
        try:
            with factory() as session:
                LtiCache(session).delete(lock_key)
                session.commit()
        except SQLAlchemyError:  # the lock expires on its own (LOCK_TTL)
            log.warning("could not release the sync lock of connection %s", connection_id)


def _start_thread(target: Callable[..., None], name: str, **kwargs: Any) -> None:
    thread = threading.Thread(target=target, name=name, kwargs=kwargs, daemon=True)
    thread.start()


@bp.post("/connections/<string(maxlength=120):name>/sync")
def start_sync(name: str) -> tuple[str, int] | BaseResponse:
    """Start a sync of the connection in the background and show its progress."""
    ws = _admin()
    form = forms.parse(_sync_schema(), request.form)
    connection = _connection(ws, name)
    if not form.ok:
        return _connection_page(ws, connection, sync_form=form, status=400)
    db = get_session()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    running = sync.running_run(db, org_id=ws.org_id, connection_id=connection.id)
    if running is not None:
        form.errors["_form"] = [
            _(
                "A sync of this connection is already running (run %(run)s). Wait for it to "
                "finish.",
                run=running.id,
            )
        ]
        return _connection_page(ws, connection, sync_form=form, status=409)
    if not connection.active:
        form.errors["_form"] = [_("This connection is paused; it cannot be synced.")]
        return _connection_page(ws, connection, sync_form=form, status=409)
    try:
        source = build_source(app, db, connection)
    except PluginError as exc:
        form.fail(exc)
        return _connection_page(ws, connection, sync_form=form, status=exc.status_code)
    token = secrets.token_urlsafe(18)
    store = LtiCache(db)
    lock_key = _LOCK + str(connection.id)
    if not store.add_if_absent(lock_key, token, LOCK_TTL):
        form.errors["_form"] = [
            _("A sync of this connection is starting already. Wait for it to finish.")
        ]
        return _connection_page(ws, connection, sync_form=form, status=409)
    full = bool(form.data.get("full"))
    state: dict[str, Any] = {
        "org_id": ws.org_id,
        "connection_id": connection.id,
        "connection": connection.name,
        "requested_full": full,
        "actual_full": None,
        "state": "starting",
        "phase": "",
        "pages": 0,
        "seen": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
        "quarantined": 0,
        "quarantined_total": 0,
        "run_id": None,
        "error": None,
        "started_at": datetime.now(UTC).isoformat(),
        "finished_at": None,
        "started_by": _actor(ws),
    }
    key = _PROGRESS + token
    store.set(key, state, PROGRESS_TTL)
    store.set(_LATEST + str(connection.id), token, PROGRESS_TTL)
    engine = get_engine(app)
    writer = _ProgressWriter(
        factory=sessionmaker(bind=engine, expire_on_commit=False), key=key, state=dict(state)
    )
    # The thread's first writes wait for this request's commit (the lock rows are ours).
    _start_thread(
        _run_in_background,
        f"{SYNC_THREAD_PREFIX}{connection.id}",
        engine=engine,
        writer=writer,
        lock_key=lock_key,
        org_id=ws.org_id,
        connection_id=connection.id,
        source=source,
        full=full,
        actor=_actor(ws),
    )
    return _redirect("admin.sync_progress", name=connection.name, token=token)


def _progress_state(ws: WebSession, connection: Connection, token: str) -> dict[str, Any]:
    if not _TOKEN.match(token):
        raise NotFound()
    state = LtiCache(get_session()).get(_PROGRESS + token)
    if (
        not isinstance(state, Mapping)
        or state.get("org_id") != ws.org_id
        or state.get("connection_id") != connection.id
    ):
        raise NotFound(_("This sync's progress is no longer kept. See the sync history."))
    return dict(state)


@bp.get("/connections/<string(maxlength=120):name>/syncs/<token>")
def sync_progress(name: str, token: str) -> str:
    """The progress of a sync started here; the page refreshes itself until it ends."""
    ws = _admin()
    connection = _connection(ws, name)
    state = _progress_state(ws, connection, token)
    _reconcile(state)
    finished = state.get("state") in ("succeeded", "failed")
    return _render(
        "pages/admin/sync_progress.html",
        ws,
        connection=connection,
        token=token,
        state=state,
        finished=finished,
        started_at=_parse_time(state.get("started_at")),
        finished_at=_parse_time(state.get("finished_at")),
        **_labels(),
    )


def _reconcile(state: dict[str, Any]) -> None:
    """Trust the run's row over a progress entry its thread can no longer update.

    A web process that stopped mid-run leaves its entry ``starting`` or ``running``; the
    run row says how it ended (the core marks a dead run failed once it is stale).
    """
    if state.get("state") not in ("starting", "running"):
        return
    db = get_session()
    run_id = state.get("run_id")
    run = db.get(SyncRun, run_id) if isinstance(run_id, int) else None
    if run is not None and run.org_id == state.get("org_id"):
        if run.status is not SyncStatus.RUNNING:
            state.update(
                state=run.status.value,
                seen=run.seen,
                created=run.created,
                updated=run.updated,
                unchanged=run.unchanged,
                deactivated=run.deactivated,
                quarantined=run.quarantined,
                error=run.error,
                finished_at=run.finished_at.isoformat() if run.finished_at else None,
            )
        return
    started = _parse_time(state.get("started_at"))
    if state.get("state") == "starting" and (
        started is None or started < datetime.now(UTC) - LOCK_TTL
    ):
        state.update(
            state="failed",
            error=_("The sync did not start: Tandem's server may have restarted. Start it again."),
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@bp.get("/connections/<string(maxlength=120):name>/runs/<int(max=2147483647):run_id>")
def sync_run(name: str, run_id: int) -> str:
    """One sync run: its counts per entity and the records it quarantined, with reasons."""
    ws = _admin()
    connection = _connection(ws, name)
    db = get_session()
    run = sync.get_run(db, org_id=ws.org_id, run_id=run_id)
    if run.connection_id != connection.id:
        raise NotFound()
    records = sync.list_quarantined(
        db,
        org_id=ws.org_id,
        connection_id=connection.id,
        run_id=run.id,
        limit=_QUARANTINE_SHOWN,
    )
    total = (
        db.scalar(
            select(func.count())
            .select_from(QuarantinedRecord)
            .where(QuarantinedRecord.sync_run_id == run.id)
        )
        or 0
    )
    details = run.details if isinstance(run.details, Mapping) else {}
    entities = [
        (key, details[key])
        for key in ("people", "skills", "person_skills")
        if isinstance(details.get(key), Mapping)
    ]
    return _render(
        "pages/admin/sync_run.html",
        ws,
        connection=connection,
        run=run,
        seconds=_seconds(run),
        entities=entities,
        people=_mapping(details.get("people")),
        managers=_mapping(details.get("managers")),
        records=[
            {
                "record": q,
                "payload": json.dumps(q.payload, indent=2, ensure_ascii=False, sort_keys=True),
            }
            for q in records
        ],
        total=total,
        **_labels(),
    )


# --------------------------------------------------------------------------- LTI


def _lti_page(ws: WebSession, *, form: Form | None = None, status: int = 200) -> tuple[str, int]:
    db = get_session()
    platforms = [
        {
            "registration": r,
            "deployments": regs.list_deployments(db, org_id=ws.org_id, registration_id=r.id),
        }
        for r in regs.list_platforms(db, org_id=ws.org_id)
    ]
    return (
        _render(
            "pages/admin/lti.html",
            ws,
            platforms=platforms,
            form=form,
            base_url=str(current_app.config["BASE_URL"]),
            hours=int(lti_dynreg.TOKEN_TTL.total_seconds() // 3600),
            **_labels(),
        ),
        status,
    )


@bp.get("/lti")
def lti_page() -> tuple[str, int]:
    """Platform registrations with their deployments; dynamic registration."""
    ws = _admin()
    return _lti_page(ws)


def _deployment_action(deployment_pk: int, action: str) -> tuple[str, int] | BaseResponse:
    ws = _admin()
    form = forms.parse(_empty_schema(), request.form)
    db = get_session()
    call = regs.approve_deployment if action == "approve" else regs.revoke_deployment
    try:
        call(db, org_id=ws.org_id, deployment_pk=deployment_pk, actor=_actor(ws))
    except PluginError as exc:
        if exc.status_code == 404:
            raise
        form.fail(exc)
        return _lti_page(ws, form=form, status=exc.status_code)
    return _redirect("admin.lti_page", done="approved" if action == "approve" else "revoked")


@bp.post("/lti/deployments/<int(max=2147483647):deployment_pk>/approve")
def approve_deployment(deployment_pk: int) -> tuple[str, int] | BaseResponse:
    """Accept launches from a deployment."""
    return _deployment_action(deployment_pk, "approve")


@bp.get("/lti/deployments/<int(max=2147483647):deployment_pk>/revoke")
def confirm_revoke(deployment_pk: int) -> str:
    """Ask before refusing a deployment's launches."""
    ws = _admin()
    deployment = regs.get_deployment(get_session(), org_id=ws.org_id, deployment_pk=deployment_pk)
    return _render("pages/admin/confirm_revoke.html", ws, deployment=deployment, **_labels())


@bp.post("/lti/deployments/<int(max=2147483647):deployment_pk>/revoke")
def revoke_deployment(deployment_pk: int) -> tuple[str, int] | BaseResponse:
    """Refuse every further launch of a deployment."""
    return _deployment_action(deployment_pk, "revoke")


@bp.post("/lti/registration-url")
def registration_url() -> tuple[str, int]:
    """Issue a one-time registration URL and show it once (LTI Dynamic Registration).

    Shown in this answer, never after a redirect: the token must not travel in a GET URL
    (history, logs) and is stored only as its hash.
    """
    ws = _admin()
    form = forms.parse(_registration_schema(), request.form)
    if not form.ok:
        return _lti_page(ws, form=form, status=400)
    auto = form.data["approval"] == "auto"
    token = lti_dynreg.issue_registration_token(
        get_session(), org_id=ws.org_id, auto_approve=auto, actor=_actor(ws)
    )
    base = str(current_app.config["BASE_URL"])
    return (
        _render(
            "pages/admin/registration_url.html",
            ws,
            url=build_registration_url(base, token),
            auto=auto,
            hours=int(lti_dynreg.TOKEN_TTL.total_seconds() // 3600),
            insecure=not base.lower().startswith("https://"),
        ),
        200,
    )


# --------------------------------------------------------------------------- keys


def _keys_page(ws: WebSession, *, form: Form | None = None, status: int = 200) -> tuple[str, int]:
    keys = regs.list_tool_keys(get_session())
    return (
        _render(
            "pages/admin/keys.html",
            ws,
            keys=keys,
            published=[k for k in keys if k.status is not ToolKeyStatus.RETIRED],
            form=form,
            **_labels(),
        ),
        status,
    )


@bp.get("/keys")
def keys_page() -> tuple[str, int]:
    """The tool's signing keys: current, previous (both published) and retired."""
    ws = _admin()
    return _keys_page(ws)


@bp.post("/keys/rotate")
def rotate_keys() -> tuple[str, int] | BaseResponse:
    """Make a new signing key after the admin confirmed it."""
    ws = _admin()
    form = forms.parse(_confirm_schema(_("Tick the box to confirm the rotation.")), request.form)
    if not form.ok:
        return _keys_page(ws, form=form, status=400)
    try:
        regs.rotate_tool_keys(
            get_session(), get_secret_box(), actor=_actor(ws), min_age=regs.MIN_KEY_AGE
        )
    except PluginError as exc:
        form.fail(exc)
        return _keys_page(ws, form=form, status=exc.status_code)
    return _redirect("admin.keys_page", done="rotated")

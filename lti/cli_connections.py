"""``tandem connections …`` and ``tandem sync …``: HRIS connections and their syncs.

* ``tandem connections add successfactors --org SLUG --name NAME --base-url URL
  --company-id ID --client-id ID --user-id ID --private-key FILE --certificate FILE
  [--learning-url URL] …`` stores a connection, its key and certificate encrypted at rest
  (``TANDEM_SECRET_KEY``), and — unless ``--no-writeback`` — the write-back target of the
  same name that sends completions, hours and skill gains back through it.
* ``tandem connections list|show|test|update``.
* ``tandem sync NAME [--full]`` (the same as ``tandem sync run NAME``) reads the people,
  the org chart and skills page by page with progress on stderr and a summary on stdout.
  Exit 0 when the run succeeded — also with quarantined records, which it counts and
  points to — and 1 when it could not complete: the error is printed and the delta
  watermark stays where it was, so the next run reads the same window again.
* ``tandem sync history NAME`` and ``tandem sync quarantine NAME``.

``--org SLUG`` may be left out wherever the connection's name is unique across the
organizations of this database. Secrets never come from the command line: key and
certificate from files, a password or client secret from an environment variable.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lti.cli import actor, handle_errors
from lti.cli_common import echo_json
from lti.connectors import build_source
from lti.db import commit, get_engine, get_session
from lti.secrets import get_secret_box
from lti.sinks import get_sinks
from plugin.errors import (
    ConnectorAuthError,
    ConnectorDataError,
    ConnectorError,
    ConnectorUnavailable,
    NotFound,
    ValidationError,
)
from plugin.models import Connection, Organization, QuarantinedRecord, SyncRun, SyncStatus
from plugin.services import connections, organizations, sync, writeback
from plugin.services.sync import SyncProgress, SyncResult

__all__ = [
    "SyncGroup",
    "SyncProgressPrinter",
    "connections_group",
    "find_connection",
    "read_certificate",
    "read_private_key",
    "sync_group",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The write-back kinds of a SuccessFactors target: Learning needs ``--learning-url``.
LEARNING_KINDS = ("completion", "hours")
SKILL_KINDS = ("skill_gain",)
#: A certificate expiring sooner than this gets a warning when stored.
EXPIRY_WARNING = timedelta(days=30)


# --------------------------------------------------------------------------- helpers


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _production() -> bool:
    return str(current_app.config.get("ENV")) == "production"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _when(value: datetime | None) -> str:
    """``2026-03-01 09:30:12`` (UTC) or ``-``."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def find_connection(session: Session, name: str, org_slug: str | None) -> Connection:
    """A connection by name, in ``--org`` or — without it — wherever the name is unique.

    Raises:
        NotFound: No such organization or connection.
        ValidationError: Without ``--org``, several organizations have a connection so named.
    """
    if org_slug:
        org = organizations.get_organization(session, org_slug)
        return connections.get_connection(session, org_id=org.id, name=name)
    rows = session.execute(
        select(Connection, Organization.slug)
        .join(Organization, Organization.id == Connection.org_id)
        .where(Connection.name == name)
        .order_by(Organization.slug)
    ).all()
    if not rows:
        raise NotFound(
            f"no connection named {name!r} in any organization (see `tandem connections list`)",
            field="connection",
        )
    if len(rows) > 1:
        slugs = ", ".join(slug for _c, slug in rows)
        raise ValidationError(
            f"connection {name!r} exists in several organizations ({slugs}): give --org SLUG",
            field="org",
        )
    connection: Connection = rows[0][0]
    return connection


def _org_slug(session: Session, org_id: int) -> str:
    org = session.get(Organization, org_id)
    return org.slug if org is not None else str(org_id)


def _read_file(path: str, option: str, what: str) -> bytes:
    try:
        data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise click.BadParameter(f"no such file: {path}", param_hint=option) from None
    except IsADirectoryError:
        raise click.BadParameter(f"{path} is a directory, not a file", param_hint=option) from None
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path} ({exc.strerror or type(exc).__name__})", param_hint=option
        ) from None
    if not data.strip():
        raise click.BadParameter(f"{path} is empty; expected {what}", param_hint=option)
    if len(data) > 64_000:
        raise click.BadParameter(f"{path} is too large to be {what}", param_hint=option)
    return data


def read_private_key(path: str, option: str = "--private-key") -> tuple[str, rsa.RSAPrivateKey]:
    """The PEM text and key of an unencrypted RSA private key file (SAML assertions: RS256).

    Raises:
        click.BadParameter: Missing or unreadable file, or refused by
            :func:`plugin.services.connections.check_private_key`. The content is never quoted.
    """
    data = _read_file(path, option, "a PEM private key")
    try:
        return connections.check_private_key(data, label=path)
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def read_certificate(
    path: str, key: rsa.RSAPrivateKey | None, option: str = "--certificate"
) -> tuple[str, x509.Certificate]:
    """The PEM text and certificate of an X.509 certificate file, checked against ``key``.

    Raises:
        click.BadParameter: Missing or unreadable file, or refused by
            :func:`plugin.services.connections.check_certificate`.
    """
    data = _read_file(path, option, "a PEM certificate")
    try:
        return connections.check_certificate(
            data, key, label=path, certificate_label=f"the certificate in {path}"
        )
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def _env_secret(var: str, option: str) -> str:
    if not var or not var.replace("_", "").isalnum():
        raise click.BadParameter(f"{var!r} is not an environment variable name", param_hint=option)
    value = os.environ.get(var)
    if not value:
        raise click.BadParameter(
            f"environment variable {var} is not set (or empty)", param_hint=option
        )
    return value


def _check_url(value: str | None, option: str, *, allow_http: bool) -> str | None:
    if value is None:
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("https", "http") or not host:
        raise click.BadParameter(f"{value!r} is not an http(s) URL", param_hint=option)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise click.BadParameter(
            "give a plain URL: no user, password, query or fragment", param_hint=option
        )
    if parts.scheme == "http" and _production() and not allow_http:
        raise click.BadParameter(
            "use https:// (plain http only with --allow-http, for a test server)",
            param_hint=option,
        )
    return value.rstrip("/")


def _warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


def _credentials_from_options(
    *,
    private_key: str | None,
    certificate: str | None,
    password_env: str | None,
    learning_client_secret_env: str | None,
) -> dict[str, str]:
    """Read the secrets the options point at (files, environment variables)."""
    creds: dict[str, str] = {}
    if (private_key is None) != (certificate is None):
        raise click.UsageError(
            "--private-key and --certificate go together (the certificate registered in "
            "SuccessFactors and the key it was made from)"
        )
    if private_key is not None and certificate is not None:
        key_pem, key = read_private_key(private_key)
        cert_pem, cert = read_certificate(certificate, key)
        if cert.not_valid_after_utc - datetime.now(UTC) < EXPIRY_WARNING:
            _warn(
                f"the certificate expires on {cert.not_valid_after_utc:%Y-%m-%d}; rotate it "
                "with `tandem connections update NAME --private-key … --certificate …`"
            )
        creds["private_key"] = key_pem
        creds["certificate"] = cert_pem
    if password_env is not None:
        creds["password"] = _env_secret(password_env, "--password-env")
    if learning_client_secret_env is not None:
        creds["learning_client_secret"] = _env_secret(
            learning_client_secret_env, "--learning-client-secret-env"
        )
    return creds


def _validate_source(app: Flask, session: Session, connection: Connection) -> None:
    """Build the connector now (no I/O) so bad settings fail here, not at the first sync."""
    build_source(app, session, connection)


# --------------------------------------------------------------------------- connections


@click.group("connections")
def connections_group() -> None:
    """HRIS connections of an organization (credentials encrypted at rest)."""


@connections_group.group("add")
def connections_add() -> None:
    """Add a connection to an HRIS (tandem connections add KIND --org SLUG --name NAME …)."""


_SF_SETTINGS = (
    "base_url",
    "company_id",
    "client_id",
    "user_id",
    "token_url",
    "odata_path",
    "learning_url",
    "page_size",
    "learning_auth",
    "learning_client_id",
    "learning_time_zone",
    "delta_overlap_minutes",
    "skills",
)


def _sf_options(*, adding: bool) -> Callable[[F], F]:
    """The SuccessFactors options shared by ``add successfactors`` and ``update``."""

    def decorate(fn: F) -> F:
        required = adding
        options = [
            click.option(
                "--base-url",
                required=required,
                help="API server, e.g. https://api4.successfactors.com (OData under "
                "/odata/v2, token at /oauth/token).",
            ),
            click.option("--company-id", required=required, help="SuccessFactors company id."),
            click.option(
                "--client-id",
                required=required,
                help="API key of the OAuth2 client application registered in SuccessFactors.",
            ),
            click.option(
                "--user-id",
                required=required,
                help="The API user (SAML NameID; needs read access to User and skills).",
            ),
            click.option(
                "--private-key",
                type=click.Path(dir_okay=False),
                help="PEM RSA private key that signs the SAML bearer assertion.",
            ),
            click.option(
                "--certificate",
                type=click.Path(dir_okay=False),
                help="PEM X.509 certificate of that key (the one registered in SuccessFactors).",
            ),
            click.option(
                "--password-env",
                metavar="VAR",
                help="Basic-auth fallback: the API user's password is read from this "
                "environment variable (never from the command line).",
            ),
            click.option(
                "--token-url", help="OAuth token endpoint [default: BASE_URL/oauth/token]."
            ),
            click.option("--odata-path", help="OData v2 path [default: /odata/v2]."),
            click.option(
                "--learning-url",
                help="SuccessFactors Learning base URL, e.g. https://acme.plateau.com "
                "(needed to write completions and hours back).",
            ),
            click.option(
                "--learning-auth",
                type=click.Choice(["platform", "learning_token_server"]),
                help="How Learning calls authenticate [default: learning_token_server when a "
                "learning client secret is stored, else platform (SAP KBA 3693954)].",
            ),
            click.option(
                "--learning-client-id", help="Learning token server client id [default: CLIENT_ID]."
            ),
            click.option(
                "--learning-client-secret-env",
                metavar="VAR",
                help="Learning token server client secret, read from this environment variable.",
            ),
            click.option(
                "--learning-time-zone",
                help="completionTimeZoneID of completions written back [default: UTC].",
            ),
            click.option(
                "--page-size",
                type=click.IntRange(1, 1000),
                help="Rows per OData page [default: 1000, the maximum].",
            ),
            click.option(
                "--delta-overlap-minutes",
                type=click.IntRange(0, 7 * 24 * 60),
                help="A delta sync re-reads this many minutes before the watermark [default: 60].",
            ),
            click.option(
                "--skills/--no-skills",
                default=None,
                help="Also sync the skill catalogue and ratings [default: yes].",
            ),
            click.option(
                "--allow-http",
                is_flag=True,
                help="Accept plain http:// URLs in production (test servers only).",
            ),
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _sf_settings(values: Mapping[str, Any], *, allow_http: bool) -> dict[str, Any]:
    """The connection settings the options give (only those given)."""
    out: dict[str, Any] = {}
    for key in ("base_url", "token_url", "learning_url"):
        url = _check_url(values.get(key), "--" + key.replace("_", "-"), allow_http=allow_http)
        if url is not None:
            out[key] = url
    for key in ("company_id", "client_id", "user_id", "learning_client_id", "learning_time_zone"):
        value = values.get(key)
        if value is not None:
            value = value.strip()
            if not value:
                raise click.BadParameter(
                    "must not be empty", param_hint="--" + key.replace("_", "-")
                )
            out[key] = value
    odata_path = values.get("odata_path")
    if odata_path is not None:
        if not odata_path.startswith("/"):
            raise click.BadParameter("a path like /odata/v2", param_hint="--odata-path")
        out["odata_path"] = odata_path.rstrip("/") or "/"
    for key in ("page_size", "delta_overlap_minutes", "learning_auth", "skills"):
        if values.get(key) is not None:
            out[key] = values[key]
    return out


@connections_add.command("successfactors")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--name", required=True, help="Connection name, e.g. sf-prod (lower case).")
@_sf_options(adding=True)
@click.option(
    "--writeback/--no-writeback",
    default=True,
    help="Also add the write-back target NAME (completions and hours to Learning, skill "
    "gains to the skill profiles) [default: on].",
)
@with_appcontext
@handle_errors
def add_successfactors(org_slug: str, name: str, writeback: bool, **values: Any) -> None:
    """Add a SAP SuccessFactors connection (OAuth 2.0 SAML bearer, or basic auth).

    Generate a key pair (e.g. `openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem
    -out cert.pem -days 730 -subj /CN=tandem`), register cert.pem in SuccessFactors under
    Admin Center > Manage OAuth2 Client Applications, and give its API key as --client-id.
    The key and certificate are stored encrypted (TANDEM_SECRET_KEY).
    """
    allow_http = bool(values.pop("allow_http"))
    settings = _sf_settings(values, allow_http=allow_http)
    creds = _credentials_from_options(
        private_key=values.get("private_key"),
        certificate=values.get("certificate"),
        password_env=values.get("password_env"),
        learning_client_secret_env=values.get("learning_client_secret_env"),
    )
    if "private_key" in creds:
        settings["auth"] = "saml"
    elif "password" in creds:
        settings["auth"] = "basic"
        _warn(
            "basic auth is being retired by SAP; prefer --private-key and --certificate "
            "(OAuth 2.0 SAML bearer)"
        )
    else:
        raise click.UsageError(
            "give --private-key and --certificate (OAuth 2.0 SAML bearer), or --password-env "
            "VAR (basic auth)"
        )
    app = _app()
    session = get_session()
    org = organizations.get_organization(session, org_slug)
    kinds: list[str] = []
    if writeback:
        if "successfactors" not in get_sinks(app):
            raise click.ClickException(
                "no sink 'successfactors' is registered in this deployment (TANDEM_SINKS); "
                "use --no-writeback"
            )
        kinds = [*(LEARNING_KINDS if settings.get("learning_url") else ()), *SKILL_KINDS]
    connection = connections.add_connection(
        session,
        box=get_secret_box(app),
        org_id=org.id,
        kind="successfactors",
        name=name,
        settings=settings,
        credentials=creds,
        actor=actor(),
        writeback_sink="successfactors" if writeback else None,
        writeback_kinds=kinds or None,
    )
    _validate_source(app, session, connection)
    commit()
    click.echo(
        f"added connection {connection.name} (successfactors, id {connection.id}) to {org.slug}"
    )
    if writeback:
        click.echo(f"  write-back target {connection.name}: {', '.join(kinds)}")
        if not settings.get("learning_url"):
            click.echo(
                "  completions and hours are not written back: no --learning-url "
                f"(add it later with `tandem connections update {connection.name} "
                "--learning-url URL`)"
            )
    click.echo(f"next: tandem connections test {connection.name}; tandem sync {connection.name}")


def _last_run(session: Session, connection: Connection) -> SyncRun | None:
    runs = sync.list_runs(session, org_id=connection.org_id, connection_id=connection.id, limit=1)
    return runs[0] if runs else None


def _run_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "full": run.full,
        "status": run.status.value,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "seen": run.seen,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "deactivated": run.deactivated,
        "quarantined": run.quarantined,
        "watermark_before": _iso(run.watermark_before),
        "watermark_after": _iso(run.watermark_after),
        "error": run.error,
        "details": run.details,
    }


@connections_group.command("list")
@click.option("--org", "org_slug", help="Only this organization's connections.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def connections_list(org_slug: str | None, as_json: bool) -> None:
    """List connections with their last sync (no secrets are shown)."""
    session = get_session()
    if org_slug:
        orgs = [organizations.get_organization(session, org_slug)]
    else:
        orgs = list(organizations.list_organizations(session))
    rows: list[dict[str, Any]] = []
    for org in orgs:
        for connection in connections.list_connections(session, org_id=org.id):
            data = {"org": org.slug, **connections.public_settings(connection)}
            last = _last_run(session, connection)
            data["last_sync"] = None if last is None else _run_dict(last)
            rows.append(data)
    if as_json:
        for row in rows:
            if row["last_sync"] is not None:
                row["last_sync"].pop("details", None)
        echo_json(rows)
        return
    if not rows:
        where = f" in {org_slug}" if org_slug else ""
        click.echo(
            f"no connections{where} yet: tandem connections add successfactors --org SLUG "
            "--name NAME …"
        )
        return
    click.echo("ORG\tNAME\tKIND\tSTATE\tBASE URL\tWATERMARK\tLAST SYNC")
    for row in rows:
        last = row["last_sync"]
        if last is None:
            last_text = "never synced"
        else:
            kind = "full" if last["full"] else "delta"
            last_text = f"{last['status']} ({kind}, {_when(_parse(last['started_at']))})"
            if last["quarantined"]:
                last_text += f", {last['quarantined']} quarantined"
        click.echo(
            f"{row['org']}\t{row['name']}\t{row['kind']}\t"
            f"{'active' if row['active'] else 'paused'}\t{row['settings'].get('base_url', '')}\t"
            f"{_when(_parse(row['watermark']))}\t{last_text}"
        )


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@connections_group.command("show")
@click.argument("name")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def connections_show(name: str, org_slug: str | None, as_json: bool) -> None:
    """Show connection NAME: settings, which credentials are stored (names only), last sync."""
    session = get_session()
    connection = find_connection(session, name, org_slug)
    data = {"org": _org_slug(session, connection.org_id), **connections.public_settings(connection)}
    data["credentials"] = connections.credential_keys(connection, box=get_secret_box())
    targets = [
        t.name
        for t in writeback.list_targets(session, org_id=connection.org_id)
        if t.connection_id == connection.id
    ]
    data["writeback_targets"] = targets
    last = _last_run(session, connection)
    data["last_sync"] = None if last is None else _run_dict(last)
    if as_json:
        echo_json(data)
        return
    for key in ("org", "name", "kind", "id", "active", "watermark", "created_at"):
        click.echo(f"{key:<20}{'' if data[key] is None else data[key]}")
    for key, value in sorted(data["settings"].items()):
        click.echo(f"{key:<20}{value}")
    click.echo(f"{'credentials':<20}{', '.join(data['credentials']) or 'none'} (encrypted)")
    click.echo(f"{'write-back':<20}{', '.join(targets) or 'none'}")
    if last is None:
        click.echo(f"{'last sync':<20}never")
    else:
        click.echo(
            f"{'last sync':<20}run {last.id} {last.status.value} "
            f"({'full' if last.full else 'delta'}, {_when(last.started_at)} UTC)"
        )


_CHECK_LABELS: tuple[tuple[type[ConnectorError], str], ...] = (
    (ConnectorAuthError, "authentication failed"),
    (ConnectorUnavailable, "unavailable"),
    (ConnectorDataError, "unexpected answer"),
)


@connections_group.command("test")
@click.argument("name")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@with_appcontext
@handle_errors
def connections_test(name: str, org_slug: str | None) -> None:
    """Check that connection NAME works: fetch a token and read one user (writes nothing)."""
    session = get_session()
    connection = find_connection(session, name, org_slug)
    source = build_source(_app(), session, connection)
    session.rollback()  # nothing to keep; do not hold a transaction during the call
    started = time.monotonic()
    try:
        source.check()
    except ConnectorError as exc:
        label = next((text for cls, text in _CHECK_LABELS if isinstance(exc, cls)), "failed")
        status = f" (HTTP {exc.status})" if exc.status else ""
        raise click.ClickException(
            f"connection {connection.name}: {label}{status}: {exc.message}"
        ) from None
    elapsed = time.monotonic() - started
    click.echo(
        f"OK: connection {connection.name} ({connection.kind.value}) accepted our credentials "
        f"and answered in {elapsed:.1f} s"
    )


@connections_group.command("update")
@click.argument("name")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@_sf_options(adding=False)
@click.option(
    "--unset",
    "unset",
    multiple=True,
    type=click.Choice(
        [
            "token_url",
            "odata_path",
            "learning_url",
            "page_size",
            "learning_auth",
            "learning_client_id",
            "learning_time_zone",
            "delta_overlap_minutes",
            "skills",
            "password",
            "learning_client_secret",
        ]
    ),
    help="Remove an optional setting or credential (repeat).",
)
@with_appcontext
@handle_errors
def connections_update(
    name: str, org_slug: str | None, unset: Sequence[str], **values: Any
) -> None:
    """Change settings of connection NAME or rotate its credentials.

    Rotating the key: generate a new key pair, register the new certificate in
    SuccessFactors (keep the old one registered until this is done), then
    `tandem connections update NAME --private-key new-key.pem --certificate new-cert.pem`.
    """
    allow_http = bool(values.pop("allow_http"))
    settings: dict[str, Any] = _sf_settings(values, allow_http=allow_http)
    creds: dict[str, Any] = _credentials_from_options(
        private_key=values.get("private_key"),
        certificate=values.get("certificate"),
        password_env=values.get("password_env"),
        learning_client_secret_env=values.get("learning_client_secret_env"),
    )
    for key in unset:
        if key in ("password", "learning_client_secret"):
            creds[key] = None
        else:
            settings[key] = None
    if not settings and not creds:
        raise click.UsageError("nothing to change: give a setting, a credential or --unset")
    app = _app()
    session = get_session()
    connection = find_connection(session, name, org_slug)
    before = dict(connection.settings or {})
    if "private_key" in creds and before.get("auth") != "saml":
        settings["auth"] = "saml"
    elif creds.get("password") and "private_key" not in creds and before.get("auth") != "saml":
        settings["auth"] = "basic"
    connection = connections.update_connection(
        session,
        box=get_secret_box(app),
        org_id=connection.org_id,
        name=connection.name,
        settings=settings or None,
        credentials=creds or None,
        actor=actor(),
    )
    _validate_source(app, session, connection)
    commit()
    changed = sorted({k for k, v in settings.items() if before.get(k) != v} | {k for k in creds})
    click.echo(f"updated connection {connection.name}: {', '.join(changed) or 'no change'}")
    learning = bool((connection.settings or {}).get("learning_url"))
    for target in writeback.list_targets(session, org_id=connection.org_id):
        if target.connection_id != connection.id:
            continue
        wants = [k for k in target.kinds if k in LEARNING_KINDS]
        if learning and not wants:
            click.echo(
                f"  note: write-back target {target.name} receives {', '.join(target.kinds)}; "
                "completions and hours need a target that accepts them"
            )
        elif not learning and wants:
            _warn(
                f"write-back target {target.name} receives {', '.join(wants)}, which need "
                "the Learning URL: those messages will fail until it is set again"
            )


# --------------------------------------------------------------------------- sync


class SyncProgressPrinter:
    """Sync progress on stderr.

    On a terminal one line is updated in place; otherwise a line is written at each phase
    change, every 10 pages and at least every ``interval`` seconds.
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = 5.0) -> None:
        """Write to ``stream`` (stderr by default)."""
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self._phase = ""
        self._last_line = 0.0
        self._open = False

    def line(self, p: SyncProgress) -> str:
        """One progress line."""
        elapsed = time.monotonic() - self.started
        return (
            f"{p.phase:<13} page {p.pages:>4} · seen {p.seen:>9,} · created {p.created:,} · "
            f"updated {p.updated:,} · unchanged {p.unchanged:,} · deactivated "
            f"{p.deactivated:,} · quarantined {p.quarantined:,} · {elapsed:5.1f} s"
        )

    def __call__(self, p: SyncProgress) -> None:
        """Report one progress event of the engine."""
        now = time.monotonic()
        changed = p.phase != self._phase
        self._phase = p.phase
        if self.tty:
            if changed and self._open:
                self.stream.write("\n")
            self.stream.write("\r" + self.line(p))
            self._open = True
            if p.phase == "done":
                self.stream.write("\n")
                self._open = False
            self.stream.flush()
            return
        if changed or p.pages % 10 == 0 or now - self._last_line >= self.interval:
            self._last_line = now
            self.stream.write(self.line(p) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End an open in-place line."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


class SyncGroup(click.Group):
    """``tandem sync NAME [--full]`` as well as ``tandem sync COMMAND …``.

    A first word that is not one of the group's commands is a connection name: the
    arguments go to ``run`` (``tandem sync NAME`` ≡ ``tandem sync run NAME``). A
    connection named like a command (``history``) is synced with ``tandem sync run history``.
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Send a connection name (or a leading option such as ``--full``) to ``run``."""
        if args:
            first = args[0]
            is_help = first in ctx.help_option_names
            if first not in self.commands and not is_help:
                return "run", self.commands["run"], args
        return super().resolve_command(ctx, args)


_SYNC_HELP = """Sync people, the org chart and skills from an HRIS connection.

\b
tandem sync NAME              delta: changes since the last run (with an overlap)
tandem sync NAME --full       full: everyone; deactivates people no longer in the HRIS
tandem sync history NAME      past runs with their counts
tandem sync quarantine NAME   records the latest run could not accept, with reasons

Add --org SLUG when several organizations have a connection called NAME.
"""


@click.group(
    "sync",
    cls=SyncGroup,
    help=_SYNC_HELP,
    subcommand_metavar="NAME [--full] | COMMAND [ARGS]...",
    context_settings={"ignore_unknown_options": True},
)
def sync_group() -> None:
    """Sync from an HRIS connection (help text: ``_SYNC_HELP``)."""


def _result_dict(
    connection: Connection, result: SyncResult, elapsed: float, cpu: float
) -> dict[str, Any]:
    return {
        "connection": connection.name,
        "run_id": result.run_id,
        "status": result.status.value,
        "full": result.full,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "seen": result.seen,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "deactivated": result.deactivated,
        "quarantined": result.quarantined,
        "quarantined_total": result.quarantined_total,
        "error": result.error,
        "watermark_before": _iso(result.watermark_before),
        "watermark_after": _iso(result.watermark_after),
        "details": dict(result.details),
    }


def _facts(details: Mapping[str, Any]) -> list[str]:
    """Lines about duplicates, managers, skills (only what happened)."""
    out: list[str] = []
    people = details.get("people") or {}
    managers = details.get("managers") or {}
    notes = []
    if people.get("duplicates"):
        notes.append(f"{_n(people['duplicates'])} repeated records skipped")
    if people.get("erased_skipped"):
        notes.append(f"{_n(people['erased_skipped'])} erased people left erased")
    if managers.get("changed"):
        notes.append(f"{_n(managers['changed'])} managers set or changed")
    if managers.get("missing"):
        notes.append(f"{_n(managers['missing'])} managers not found (left empty)")
    if managers.get("cycles_broken"):
        notes.append(f"{_n(managers['cycles_broken'])} manager cycles broken")
    if notes:
        out.append("  " + " · ".join(notes))
    for entity, label in (("skills", "skills"), ("person_skills", "ratings")):
        counts = details.get(entity)
        if isinstance(counts, Mapping) and (counts.get("seen") or counts.get("quarantined")):
            out.append(
                f"  {label + ':':<8} {_n(counts.get('seen'))} seen · "
                f"{_n(counts.get('created'))} created · {_n(counts.get('updated'))} updated · "
                f"{_n(counts.get('unchanged'))} unchanged · "
                f"{_n(counts.get('quarantined'))} quarantined"
            )
    return out


@sync_group.command("run")
@click.argument("name")
@click.option("--full", is_flag=True, help="Read everyone; deactivate people no longer there.")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@with_appcontext
@handle_errors
def sync_run(name: str, full: bool, org_slug: str | None, as_json: bool, quiet: bool) -> None:
    """Sync connection NAME (delta since the last run unless --full).

    Progress goes to stderr, the summary to stdout. Exit 0 when the run succeeded, even
    with quarantined records (see `tandem sync quarantine NAME`); exit 1 when it could
    not complete — the delta watermark is kept, so nothing is skipped next time.
    """
    app = _app()
    session = get_session()
    connection = find_connection(session, name, org_slug)
    source = build_source(app, session, connection)
    org_id, connection_id = connection.org_id, connection.id
    # End the command's read transaction: the engine commits page by page on its own.
    session.rollback()
    factory: sessionmaker[Session] = sessionmaker(bind=get_engine(app), expire_on_commit=False)
    printer = None if quiet else SyncProgressPrinter()
    started, cpu_started = time.monotonic(), time.process_time()
    try:
        result = sync.run_sync(
            factory,
            org_id=org_id,
            connection_id=connection_id,
            source=source,
            full=full,
            actor=actor(),
            progress=printer,
        )
    finally:
        if printer is not None:
            printer.close()
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_started  # all of this process's threads
    if as_json:
        echo_json(_result_dict(connection, result, elapsed, cpu))
        if not result.ok:
            sys.exit(1)
        return
    kind = "full" if result.full else "delta"
    if not full and result.full:
        kind += " (no watermark yet: read everyone)"
    people = (
        f"  people:  {_n(result.seen)} seen · {_n(result.created)} created · "
        f"{_n(result.updated)} updated · {_n(result.unchanged)} unchanged · "
        f"{_n(result.deactivated)} deactivated · {_n(result.quarantined)} quarantined"
    )
    if not result.ok:
        click.echo(
            f"sync {connection.name} failed: run {result.run_id}, {kind}, after {elapsed:.1f} s"
        )
        click.echo(people + "  (pages stored before the failure are kept)")
        kept = _when(result.watermark_before)
        where = (
            f"watermark kept at {kept} UTC: the next delta sync reads from there again"
            if result.watermark_before is not None
            else "no watermark yet: the next sync reads everyone again"
        )
        raise click.ClickException(f"{result.error}\n{where}")
    click.echo(f"sync {connection.name} succeeded: run {result.run_id}, {kind}, {elapsed:.1f} s")
    click.echo(people)
    for line in _facts(result.details):
        click.echo(line)
    if result.watermark_after is not None:
        click.echo(f"  watermark: {_when(result.watermark_after)} UTC")
    total = result.quarantined_total
    if total:
        click.echo(
            f"{total:,} record{'s' if total != 1 else ''} quarantined — see "
            f"`tandem sync quarantine {connection.name}`"
        )


@sync_group.command("history")
@click.argument("name")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with per-entity details).")
@with_appcontext
@handle_errors
def sync_history(name: str, org_slug: str | None, limit: int, as_json: bool) -> None:
    """The sync runs of connection NAME, newest first."""
    session = get_session()
    connection = find_connection(session, name, org_slug)
    runs = sync.list_runs(
        session, org_id=connection.org_id, connection_id=connection.id, limit=limit
    )
    if as_json:
        echo_json([_run_dict(r) for r in runs])
        return
    if not runs:
        click.echo(f"connection {connection.name} has not been synced yet: tandem sync {name}")
        return
    click.echo(
        "RUN\tSTARTED (UTC)\tTYPE\tSTATUS\tSECONDS\tSEEN\tCREATED\tUPDATED\tUNCHANGED"
        "\tDEACTIVATED\tQUARANTINED\tERROR"
    )
    for r in runs:
        seconds = (
            f"{(r.finished_at - r.started_at).total_seconds():.1f}"
            if r.finished_at is not None
            else "-"
        )
        error = " ".join((r.error or "").split())
        if len(error) > 80:
            error = error[:79] + "…"
        click.echo(
            f"{r.id}\t{_when(r.started_at)}\t{'full' if r.full else 'delta'}\t{r.status.value}"
            f"\t{seconds}\t{r.seen}\t{r.created}\t{r.updated}\t{r.unchanged}\t{r.deactivated}"
            f"\t{r.quarantined}\t{error}"
        )


@sync_group.command("quarantine")
@click.argument("name")
@click.option("--org", "org_slug", help="Organization slug (needed when NAME is ambiguous).")
@click.option("--run", "run_id", type=int, help="A given run (default: the latest).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON with the raw payloads.")
@with_appcontext
@handle_errors
def sync_quarantine(
    name: str, org_slug: str | None, run_id: int | None, limit: int, as_json: bool
) -> None:
    """Records a sync of NAME could not accept, with the reason (default: the latest run).

    Payloads (--json) are personal data from the HRIS: for the admin's eyes only. Fix the
    records in the HRIS; the next sync picks them up.
    """
    session = get_session()
    connection = find_connection(session, name, org_slug)
    if run_id is not None:
        run = sync.get_run(session, org_id=connection.org_id, run_id=run_id)
        if run.connection_id != connection.id:
            raise NotFound(
                f"sync run {run_id} is not a run of connection {connection.name!r}", field="run"
            )
    else:
        last = _last_run(session, connection)
        if last is None:
            click.echo(f"connection {connection.name} has not been synced yet")
            return
        run = last
    rows = sync.list_quarantined(
        session,
        org_id=connection.org_id,
        connection_id=connection.id,
        run_id=run.id,
        limit=limit,
    )
    total = (
        session.scalar(
            select(func.count())
            .select_from(QuarantinedRecord)
            .where(QuarantinedRecord.sync_run_id == run.id)
        )
        or 0
    )
    if as_json:
        echo_json(
            {
                "run": {k: v for k, v in _run_dict(run).items() if k != "details"},
                "total": total,
                "records": [
                    {
                        "id": q.id,
                        "entity": q.entity,
                        "external_id": q.external_id,
                        "reason": q.reason,
                        "payload": q.payload,
                    }
                    for q in rows
                ],
            }
        )
        return
    state = run.status.value if run.status is not SyncStatus.RUNNING else "still running"
    click.echo(
        f"run {run.id} ({'full' if run.full else 'delta'}, {_when(run.started_at)} UTC, "
        f"{state}): {total:,} record{'s' if total != 1 else ''} quarantined"
        + (f", showing {len(rows):,}" if len(rows) < total else "")
    )
    if not rows:
        return
    click.echo("ENTITY\tEXTERNAL ID\tREASON")
    for q in rows:
        click.echo(f"{q.entity}\t{q.external_id or '-'}\t{' '.join(q.reason.split())}")
    click.echo("raw payloads: add --json (personal data)")


# --------------------------------------------------------------------------- demo


@click.command("hris")
@click.option("--org", "org_slug", default="demo", show_default=True)
@click.option(
    "--base-url",
    help="Where Tandem is served [default: TANDEM_BASE_URL]; the fake is at "
    "BASE_URL/dev/successfactors.",
)
@with_appcontext
@handle_errors
def demo_hris_command(org_slug: str, base_url: str | None) -> None:
    """Give the demo organization its SuccessFactors connection demo-sf (a fake tenant).

    The fake serves the organization's people at BASE_URL/dev/successfactors while
    `tandem serve` runs with TANDEM_DEV_PLATFORM (make run does both). Run it again after
    changing the port. Then: tandem sync demo-sf.
    """
    from lti import demo_hris

    app = _app()
    url = _check_url(base_url or str(app.config["BASE_URL"]), "--base-url", allow_http=True)
    session = get_session()
    summary = demo_hris.setup_demo_hris(
        session,
        org_slug=org_slug,
        base_url=url or "",
        data_dir=app.instance_path,
        box=get_secret_box(app),
        actor=actor(),
        writeback_sink="successfactors" if "successfactors" in get_sinks(app) else None,
    )
    commit()
    verb = "added" if summary.created else "refreshed"
    click.echo(
        f"{verb} connection {demo_hris.DEMO_CONNECTION} in {org_slug}: fake SuccessFactors at "
        f"{summary.base_url} with {summary.users:,} users ({summary.inactive:,} inactive), "
        f"{summary.skills} skills, {summary.ratings:,} ratings"
        + (f"; {summary.identities_added:,} people linked" if summary.identities_added else "")
    )
    if not summary.users:
        _warn(
            f"organization {org_slug} has no demo people to serve: run `tandem demo seed "
            f"--org {org_slug}` first, then this again"
        )
    if not app.config.get("DEV_PLATFORM"):
        _warn(
            "the fake is served only when TANDEM_DEV_PLATFORM=1 (make run sets it); "
            f"then: tandem sync {demo_hris.DEMO_CONNECTION}"
        )

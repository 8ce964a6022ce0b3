r"""``tandem lti …``: platform registrations, deployments and the tool's signing keys.

Registering a platform by hand (Moodle: "configure a tool manually", then copy the values
from the tool's "View configuration details")::

    tandem lti add-platform --org acme --issuer https://moodle.acme.example \
        --client-id AbC123 --deployment-id 1 \
        --auth-url https://moodle.acme.example/mod/lti/auth.php \
        --token-url https://moodle.acme.example/mod/lti/token.php \
        --jwks-url https://moodle.acme.example/mod/lti/certs.php

Or let the platform register Tandem itself (LTI Dynamic Registration)::

    tandem lti registration-url --org acme

prints a one-time URL (valid 24 hours) to paste as Moodle's "Tool URL" ("Add LTI
Advantage"); the platform's client id and deployment id are stored under ``acme``.

``http://`` URLs are accepted only with ``TANDEM_ENV=development`` and only for
localhost / 127.0.0.1 (a development platform).
"""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from lti.cli import actor, handle_errors
from lti.cli_common import echo_json
from lti.db import commit, get_session
from lti.dynreg import registration_url as build_registration_url
from lti.secrets import get_secret_box
from plugin.models import LtiDeployment, LtiDeploymentStatus, LtiRegistration
from plugin.services import lti_dynreg, organizations
from plugin.services import lti_registrations as regs

__all__ = ["lti_group"]

_STATUSES = [s.value for s in LtiDeploymentStatus]


def _org_id(slug: str) -> int:
    return organizations.get_organization(get_session(), slug).id


def _iso(value: Any) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _platform_dict(reg: LtiRegistration, deployments: list[LtiDeployment]) -> dict[str, Any]:
    return {
        "id": reg.id,
        "name": reg.name,
        "issuer": reg.issuer,
        "client_id": reg.client_id,
        "auth_login_url": reg.auth_login_url,
        "auth_token_url": reg.auth_token_url,
        "auth_audience": reg.auth_audience,
        "jwks_url": reg.jwks_url,
        "auto_approve_deployments": reg.auto_approve_deployments,
        "active": reg.active,
        "created_at": _iso(reg.created_at),
        "created_by": reg.created_by,
        "deployments": [
            {"id": d.id, "deployment_id": d.deployment_id, "status": d.status.value}
            for d in deployments
        ],
    }


@click.group("lti")
def lti_group() -> None:
    """LTI 1.3: platform registrations, deployments and the tool's keys."""


@lti_group.command("add-platform")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle: Platform ID).")
@click.option("--client-id", required=True, help="The client id the platform gave Tandem.")
@click.option("--auth-url", required=True, help="Authentication request (OIDC login) URL.")
@click.option("--token-url", required=True, help="Access token URL.")
@click.option("--jwks-url", required=True, help="The platform's public keyset URL.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    help="A deployment to approve right away (repeat for several).",
)
@click.option("--name", help="Display name (default: the issuer's host and the client id).")
@click.option("--audience", help="`aud` of token requests, if not the token URL.")
@click.option("--auto-approve", is_flag=True, help="Approve deployments first seen in a launch.")
@with_appcontext
@handle_errors
def add_platform(
    org_slug: str,
    issuer: str,
    client_id: str,
    auth_url: str,
    token_url: str,
    jwks_url: str,
    deployment_ids: tuple[str, ...],
    name: str | None,
    audience: str | None,
    auto_approve: bool,
) -> None:
    """Register an LTI 1.3 platform (issuer + client id) for an organization."""
    session = get_session()
    reg = regs.add_platform(
        session,
        org_id=_org_id(org_slug),
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_url,
        auth_token_url=token_url,
        jwks_url=jwks_url,
        deployment_ids=deployment_ids,
        name=name,
        auth_audience=audience,
        auto_approve=auto_approve,
        allow_http=current_app.config["ENV"] == "development",
        actor=actor(),
    )
    deployments = regs.list_deployments(session, org_id=reg.org_id, registration_id=reg.id)
    commit()
    click.echo(
        f"added platform {reg.id}: {reg.name} (issuer {reg.issuer}, client id {reg.client_id})"
    )
    if deployments:
        click.echo("approved deployments: " + ", ".join(d.deployment_id for d in deployments))
    policy = "approved automatically" if reg.auto_approve_deployments else "wait for approval"
    click.echo(f"new deployments seen in launches: {policy}")


@lti_group.command("registration-url")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option(
    "--auto-approve/--require-approval",
    default=True,
    show_default=True,
    help="Whether deployments of the registered platform that are first seen in a launch "
    "are approved automatically (the admin who pastes this one-time URL vouches for the "
    "platform) or wait for 'tandem lti approve-deployment'.",
)
@with_appcontext
@handle_errors
def registration_url(org_slug: str, auto_approve: bool) -> None:
    """Print a one-time URL (valid 24 h) that registers Tandem with a platform (LTI DR 1.0)."""
    session = get_session()
    org = organizations.get_organization(session, org_slug)
    token = lti_dynreg.issue_registration_token(
        session, org_id=org.id, auto_approve=auto_approve, actor=actor()
    )
    commit()
    base = str(current_app.config["BASE_URL"])
    hours = int(lti_dynreg.TOKEN_TTL.total_seconds() // 3600)
    click.echo(f"One-time registration URL for {org.name} (valid {hours} hours, one platform):")
    click.echo(build_registration_url(base, token))
    click.echo(
        "Moodle: Site administration → Plugins → Activity modules → External tool → "
        'Manage tools → paste the URL as "Tool URL" → "Add LTI Advantage"; then activate '
        'the new tool (it starts "Pending").'
    )
    policy = "approved automatically" if auto_approve else "wait for approval"
    click.echo(f"New deployments seen in launches: {policy}.")
    if not base.lower().startswith("https://"):
        click.echo(
            f"Warning: TANDEM_BASE_URL is {base}; platforms need an https:// URL they can "
            "reach to register and launch Tandem.",
            err=True,
        )


@lti_group.command("platforms")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@handle_errors
def platforms(org_slug: str, as_json: bool) -> None:
    """List an organization's platform registrations."""
    session = get_session()
    org_id = _org_id(org_slug)
    rows = [
        _platform_dict(r, list(regs.list_deployments(session, org_id=org_id, registration_id=r.id)))
        for r in regs.list_platforms(session, org_id=org_id)
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no LTI platforms in {org_slug}: tandem lti add-platform --org {org_slug} …")
        return
    click.echo("ID\tNAME\tISSUER\tCLIENT ID\tDEPLOYMENTS\tAUTO-APPROVE\tACTIVE")
    for r in rows:
        deployments = ",".join(f"{d['deployment_id']}:{d['status']}" for d in r["deployments"])
        click.echo(
            f"{r['id']}\t{r['name']}\t{r['issuer']}\t{r['client_id']}\t{deployments or '-'}"
            f"\t{'yes' if r['auto_approve_deployments'] else 'no'}"
            f"\t{'yes' if r['active'] else 'no'}"
        )


@lti_group.command("deployments")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--status", type=click.Choice(_STATUSES), help="Only deployments in this status.")
@with_appcontext
@handle_errors
def deployments(org_slug: str, status: str | None) -> None:
    """List an organization's deployments (approve pending ones with approve-deployment)."""
    rows = regs.list_deployments(get_session(), org_id=_org_id(org_slug), status=status)
    if not rows:
        click.echo("no deployments" + (f" with status {status}" if status else ""))
        return
    click.echo("ID\tPLATFORM\tDEPLOYMENT ID\tSTATUS\tFIRST SEEN\tAPPROVED BY")
    for d in rows:
        click.echo(
            f"{d.id}\t{d.registration.name}\t{d.deployment_id}\t{d.status.value}"
            f"\t{_iso(d.first_seen_at) or '-'}\t{d.approved_by or '-'}"
        )


@lti_group.command("approve-deployment")
@click.argument("deployment_pk", metavar="ID", type=int)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def approve_deployment(deployment_pk: int, org_slug: str) -> None:
    """Accept launches from deployment ID (the ID column of `tandem lti deployments`)."""
    d = regs.approve_deployment(
        get_session(), org_id=_org_id(org_slug), deployment_pk=deployment_pk, actor=actor()
    )
    commit()
    click.echo(f"deployment {d.id} ({d.deployment_id} of {d.registration.name}) is approved")


@lti_group.command("revoke-deployment")
@click.argument("deployment_pk", metavar="ID", type=int)
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@with_appcontext
@handle_errors
def revoke_deployment(deployment_pk: int, org_slug: str) -> None:
    """Refuse further launches from deployment ID."""
    d = regs.revoke_deployment(
        get_session(), org_id=_org_id(org_slug), deployment_pk=deployment_pk, actor=actor()
    )
    commit()
    click.echo(f"deployment {d.id} ({d.deployment_id} of {d.registration.name}) is revoked")


@lti_group.command("rotate-keys")
@click.option(
    "--force",
    is_flag=True,
    help="Rotate even if the current key is less than an hour old (retires the key "
    "platforms may still have cached: use after a key leaked).",
)
@with_appcontext
@handle_errors
def rotate_keys(force: bool) -> None:
    """Make a new signing key; the old one stays published until the next rotation."""
    session = get_session()
    key = regs.rotate_tool_keys(
        session, get_secret_box(), actor=actor(), min_age=None if force else regs.MIN_KEY_AGE
    )
    published = len(regs.published_jwks(session)["keys"])
    commit()
    click.echo(
        f"new current tool key {key.kid}"
        + ("; the previous key stays published in the JWKS" if published > 1 else "")
    )


@lti_group.command("keys")
@with_appcontext
@handle_errors
def keys() -> None:
    """List the tool's keys (kid, status, created); current and previous are published."""
    rows = regs.list_tool_keys(get_session())
    if not rows:
        click.echo(
            "no tool keys yet: the first request to /lti/jwks or `tandem lti rotate-keys`"
            " creates one"
        )
        return
    click.echo("KID\tSTATUS\tCREATED\tRETIRED")
    for k in rows:
        click.echo(f"{k.kid}\t{k.status.value}\t{_iso(k.created_at)}\t{_iso(k.retired_at) or '-'}")

"""``tandem lti …``: add-platform, platforms, deployments, approve/revoke, keys."""

from __future__ import annotations

import json

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import AuditEvent, LtiDeployment, LtiRegistration, ToolKey, ToolKeyStatus
from plugin.services import lti_registrations as regs

ISS = "https://moodle.acme.example"


def ok(runner: FlaskCliRunner, *args: str) -> Result:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def fails(runner: FlaskCliRunner, *args: str, code: int = 1) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, result.output
    return result.output


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def add_args(
    base: str = ISS, client_id: str = "client-1", *extra: str, issuer: str | None = None
) -> list[str]:
    return [
        "lti",
        "add-platform",
        "--org",
        "acme",
        "--issuer",
        issuer or base,
        "--client-id",
        client_id,
        "--auth-url",
        f"{base}/mod/lti/auth.php",
        "--token-url",
        f"{base}/mod/lti/token.php",
        "--jwks-url",
        f"{base}/mod/lti/certs.php",
        *extra,
    ]


@pytest.fixture
def acme(runner: FlaskCliRunner) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME AG")


def rows(app: Flask) -> tuple[int, int, int]:
    return count(app, LtiRegistration), count(app, LtiDeployment), count(app, AuditEvent)


@pytest.mark.usefixtures("acme")
def test_add_platform_and_list_it(app: Flask, runner: FlaskCliRunner) -> None:
    out = ok(
        runner,
        *add_args(
            ISS, "client-1", "--deployment-id", "1", "--deployment-id", "2", issuer=ISS + "/"
        ),
        "--name",
        "Moodle",
    ).output
    (data,) = json.loads(ok(runner, "lti", "platforms", "--org", "acme", "--json").output)
    assert f"added platform {data['id']}: Moodle (issuer {ISS}, client id client-1)" in out
    assert "approved deployments: 1, 2" in out
    assert "wait for approval" in out

    listing = ok(runner, "lti", "platforms", "--org", "acme").output
    row = f"{data['id']}\tMoodle\t{ISS}\tclient-1\t1:approved,2:approved\tno\tyes"
    assert row in listing
    assert data["issuer"] == ISS
    assert data["jwks_url"] == f"{ISS}/mod/lti/certs.php"
    assert data["created_by"].startswith("cli")
    assert [d["deployment_id"] for d in data["deployments"]] == ["1", "2"]


@pytest.mark.usefixtures("acme")
def test_auto_approve_flag_and_audience(runner: FlaskCliRunner) -> None:
    out = ok(runner, *add_args(ISS, "c", "--auto-approve", "--audience", "aud-x")).output
    assert "approved automatically" in out
    (data,) = json.loads(ok(runner, "lti", "platforms", "--org", "acme", "--json").output)
    assert data["auto_approve_deployments"] is True
    assert data["auth_audience"] == "aud-x"


@pytest.mark.usefixtures("acme")
def test_empty_listings(runner: FlaskCliRunner) -> None:
    assert "no LTI platforms in acme" in ok(runner, "lti", "platforms", "--org", "acme").output
    assert json.loads(ok(runner, "lti", "platforms", "--org", "acme", "--json").output) == []
    assert "no deployments" in ok(runner, "lti", "deployments", "--org", "acme").output
    assert "no tool keys yet" in ok(runner, "lti", "keys").output


@pytest.mark.usefixtures("acme")
def test_deployments_approve_and_revoke(app: Flask, runner: FlaskCliRunner) -> None:
    ok(runner, *add_args(ISS, "client-1", "--deployment-id", "1"))
    with app.app_context():
        session = get_session()
        reg = regs.find_registration(session, issuer=ISS, client_id="client-1")
        assert reg is not None
        pending = regs.deployment_for_launch(session, registration=reg, deployment_id="7").id
        session.commit()

    out = ok(runner, "lti", "deployments", "--org", "acme", "--status", "pending").output
    assert f"{pending}\tmoodle.acme.example (client-1)\t7\tpending\t" in out
    assert "\t1\tapproved" not in out
    assert "\t1\tapproved" in ok(runner, "lti", "deployments", "--org", "acme").output

    out = ok(runner, "lti", "approve-deployment", str(pending), "--org", "acme").output
    assert f"deployment {pending} (7 of moodle.acme.example (client-1)) is approved" in out
    assert "\t7\tapproved" in ok(runner, "lti", "deployments", "--org", "acme").output
    before = rows(app)
    assert "already approved" in fails(
        runner, "lti", "approve-deployment", str(pending), "--org", "acme"
    )
    assert rows(app) == before

    out = ok(runner, "lti", "revoke-deployment", str(pending), "--org", "acme").output
    assert "is revoked" in out
    assert "already revoked" in fails(
        runner, "lti", "revoke-deployment", str(pending), "--org", "acme"
    )


@pytest.mark.usefixtures("acme")
def test_deployment_of_another_org_is_not_found(app: Flask, runner: FlaskCliRunner) -> None:
    ok(runner, *add_args(ISS, "client-1", "--deployment-id", "1"))
    ok(runner, "orgs", "create", "globex", "--name", "Globex")
    (data,) = json.loads(ok(runner, "lti", "platforms", "--org", "acme", "--json").output)
    pk = data["deployments"][0]["id"]
    before = rows(app)
    out = fails(runner, "lti", "revoke-deployment", str(pk), "--org", "globex")
    assert f"Error: LTI deployment {pk} not found" in out
    assert rows(app) == before


@pytest.mark.usefixtures("acme")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (add_args("http://moodle.acme.example"), "TANDEM_ENV=development"),
        (
            add_args("https://moodle.acme.example", "client-1", "--deployment-id", ""),
            "deployment_id",
        ),
        (add_args("https://u:pw@moodle.acme.example"), "user name or password"),
        (add_args("not-a-url"), "absolute https:// URL"),
    ],
)
def test_add_platform_errors_write_nothing(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    before = rows(app)
    out = fails(runner, *args)
    assert out.startswith("Error: ")
    assert message in out
    assert "pw@" not in out
    assert rows(app) == before


@pytest.mark.usefixtures("acme")
def test_duplicate_platform_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    ok(runner, *add_args())
    before = rows(app)
    out = fails(runner, *add_args(ISS, "client-1", "--deployment-id", "9", issuer=ISS + "/"))
    assert "Error: this issuer and client id are already registered in organization 'acme'" in out
    assert rows(app) == before


def test_unknown_org(app: Flask, runner: FlaskCliRunner) -> None:
    assert "Error: unknown organization 'acme'" in fails(runner, *add_args())
    assert "unknown organization" in fails(runner, "lti", "platforms", "--org", "acme")
    assert "unknown organization" in fails(runner, "lti", "deployments", "--org", "acme")
    assert "unknown organization" in fails(
        runner, "lti", "approve-deployment", "1", "--org", "acme"
    )
    assert rows(app) == (0, 0, 0)


@pytest.mark.usefixtures("acme")
def test_bad_status_is_a_usage_error(runner: FlaskCliRunner) -> None:
    assert "Invalid value" in fails(
        runner, "lti", "deployments", "--org", "acme", "--status", "x", code=2
    )


@pytest.mark.usefixtures("acme")
def test_http_localhost_only_in_development(app: Flask, runner: FlaskCliRunner) -> None:
    local = "http://localhost:8000"
    app.config["ENV"] = "production"
    assert "TANDEM_ENV=development" in fails(runner, *add_args(local))
    assert count(app, LtiRegistration) == 0
    app.config["ENV"] = "development"
    assert "added platform" in ok(runner, *add_args(local)).output
    assert "TANDEM_ENV=development" in fails(runner, *add_args("http://10.0.0.5:8000", "other"))


def test_rotate_keys_and_list_them(app: Flask, runner: FlaskCliRunner) -> None:
    first = ok(runner, "lti", "rotate-keys").output
    assert first.startswith("new current tool key ")
    assert "previous" not in first
    too_soon = fails(runner, "lti", "rotate-keys")
    assert "rotate again from" in too_soon
    assert "the previous key stays published" in ok(runner, "lti", "rotate-keys", "--force").output
    ok(runner, "lti", "rotate-keys", "--force")
    lines = ok(runner, "lti", "keys").output.splitlines()
    assert lines[0] == "KID\tSTATUS\tCREATED\tRETIRED"
    statuses = [line.split("\t")[1] for line in lines[1:]]
    assert statuses == ["current", "previous", "retired"]
    assert lines[3].split("\t")[3] != "-"  # retired_at
    with app.app_context():
        keys = get_session().scalars(select(ToolKey).order_by(ToolKey.id)).all()
        assert [k.status for k in keys] == [
            ToolKeyStatus.RETIRED,
            ToolKeyStatus.PREVIOUS,
            ToolKeyStatus.CURRENT,
        ]
        assert keys[0].kid in first
    assert all("PRIVATE" not in line for line in lines)

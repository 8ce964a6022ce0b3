from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lti import create_app
from lti.config import DEV_SECRET_KEY
from lti.db import get_session
from plugin.errors import ConflictError
from plugin.models import Organization
from plugin.services import organizations


def test_defaults_sqlite_under_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("TANDEM_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    app = create_app()
    assert app.config["DATABASE_URL"] == "sqlite:///" + os.path.join(app.instance_path, "tandem.db")
    assert app.config["SECRET_KEY"] == DEV_SECRET_KEY
    assert app.config["DEV_PLATFORM"] is False
    assert app.config["ENV"] == "development"


def test_environment_then_test_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_BASE_URL", "https://tandem.example.com")
    monkeypatch.setenv("TANDEM_DEV_PLATFORM", "1")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example.com/tandem")
    app = create_app()
    assert app.config["BASE_URL"] == "https://tandem.example.com"
    assert app.config["DEV_PLATFORM"] is True
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u@db.example.com/tandem"
    monkeypatch.setenv("TANDEM_DATABASE_URL", "postgresql://u@other/tandem")
    assert create_app().config["DATABASE_URL"] == "postgresql+psycopg://u@other/tandem"
    # Test overrides are applied last and the environment is not read at all.
    app = create_app({"DATABASE_URL": "sqlite://", "BASE_URL": "http://t"})
    assert app.config["BASE_URL"] == "http://t"
    assert app.config["DEV_PLATFORM"] is False


def test_production_needs_a_secret_and_refuses_dev_platform() -> None:
    with pytest.raises(RuntimeError, match="TANDEM_SECRET_KEY"):
        create_app({"ENV": "production"})
    with pytest.raises(RuntimeError, match="DEV_PLATFORM"):
        create_app({"ENV": "production", "SECRET_KEY": "s", "DEV_PLATFORM": True})


def test_factory_does_no_io(tmp_path: Path) -> None:
    # An unreachable database and a SQLite path that does not exist yet: the factory
    # must neither connect nor create anything.
    create_app({"DATABASE_URL": "postgresql+psycopg://nobody@192.0.2.1:1/none"})
    target = tmp_path / "sub" / "tandem.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{target}"})
    assert not target.parent.exists()
    assert "tandem.engine" not in app.extensions


def test_start_page(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "reverse-mentoring" in body
    assert "/lti/login" in body
    assert "/lti/jwks" in body
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}


def test_errors_are_json_for_api_and_html_for_browsers(client) -> None:  # type: ignore[no-untyped-def]
    api = client.get("/api/nothing")
    assert api.status_code == 404
    assert api.json["error"] == "Not Found"
    page = client.get("/nothing")
    assert page.status_code == 404
    assert "text/html" in page.content_type


def _add_routes(app: Flask) -> None:
    @app.post("/_t/ok")
    def ok() -> str:
        organizations.create_organization(get_session(), slug="ok", name="OK", actor="t")
        return "ok"

    @app.post("/_t/conflict")
    def conflict() -> str:
        organizations.create_organization(get_session(), slug="half", name="H", actor="t")
        raise ConflictError("refused")

    @app.post("/_t/crash")
    def crash() -> str:
        organizations.create_organization(get_session(), slug="crash", name="C", actor="t")
        raise RuntimeError("boom")


def test_one_session_per_request_committed_once(app: Flask) -> None:
    _add_routes(app)
    client = app.test_client()
    assert client.post("/_t/ok").status_code == 200
    assert client.post("/_t/conflict").status_code == 409
    assert client.post("/_t/crash").status_code == 500
    with app.app_context():
        slugs = get_session().scalars(select(Organization.slug)).all()
        n = get_session().scalar(select(func.count()).select_from(Organization))
    assert slugs == ["ok"]
    assert n == 1

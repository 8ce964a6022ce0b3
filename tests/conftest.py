"""Shared fixtures: a migrated database per test session (SQLite, or PostgreSQL when
``TANDEM_TEST_DATABASE_URL`` is set), a rolled-back ``db_session`` per test, and an
app + CLI runner whose committed rows are wiped after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from lti import create_app
from lti.migrate import alembic_config
from plugin.db import metadata
from plugin.models import Organization, Person, Program, Skill, SkillCategory
from plugin.services import organizations, programs

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_savepoint(conn: Any, _name: str) -> None:
    # As in lti/db.py: a SAVEPOINT outside a pysqlite transaction would commit on release.
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint)
    return engine


@contextmanager
def fresh_database(tmp_dir: Path, label: str) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards."""
    if not PG_URL:
        yield f"sqlite:///{tmp_dir / (label + '.db')}"
        return
    base = make_url(PG_URL)
    name = f"{base.database}_{label}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def upgrade(engine: Engine, url: str, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("db"), "suite") as url:
        engine = make_engine(url)
        upgrade(engine, url)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(
        {"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test-secret"}
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    from lti.db import get_engine

    get_engine(application).dispose()
    wipe(engine)


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# ----------------------------------------------------------------------- builders


@pytest.fixture
def make_org(db_session: Session) -> Any:
    def _make(slug: str = "acme", name: str = "ACME AG") -> Organization:
        return organizations.create_organization(db_session, slug=slug, name=name, actor="test")

    return _make


@pytest.fixture
def org(make_org: Any) -> Organization:
    return make_org()


@pytest.fixture
def make_person(db_session: Session) -> Any:
    counter = iter(range(1, 10_000))

    def _make(org: Organization, **kw: Any) -> Person:
        n = next(counter)
        fields: dict[str, Any] = {
            "given_name": f"Given{n}",
            "family_name": f"Family{n}",
            "email": f"p{n}@example.com",
            "department": "IT",
            "languages": ["de", "en"],
            "job_level": 3,
        }
        fields.update(kw)
        person = Person(org_id=org.id, **fields)
        db_session.add(person)
        db_session.flush()
        return person

    return _make


@pytest.fixture
def skills(db_session: Session, org: Organization) -> list[Skill]:
    rows = [
        Skill(org_id=org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY),
        Skill(org_id=org.id, code="SOCIAL", name="Social media", category=SkillCategory.TECHNOLOGY),
        Skill(
            org_id=org.id, code="DEI", name="Diversity", category=SkillCategory.CULTURE_DIVERSITY
        ),
    ]
    db_session.add_all(rows)
    db_session.flush()
    return rows


@pytest.fixture
def make_program(db_session: Session) -> Any:
    def _make(org: Organization, *, status: str | None = "enrolling", **kw: Any) -> Program:
        fields: dict[str, Any] = {
            "name": "Reverse Mentoring 2026",
            "format": "one_to_one",
            "starts_on": date(2026, 3, 1),
            "ends_on": date(2026, 9, 1),
        }
        fields.update(kw)
        program = programs.create_program(db_session, org=org, actor="test", **fields)
        if status == "enrolling":
            programs.set_program_status(db_session, program, "enrolling", actor="test")
        return program

    return _make


@pytest.fixture(autouse=True)
def _fresh_platform_key_memo() -> None:
    """Each test starts without the per-process platform key sets of lti.launch."""
    from lti import launch as launch_module

    launch_module._KEY_SETS.clear()
    launch_module._REFETCHED.clear()
    from lti import tool_conf

    tool_conf.clear_login_memo()

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.crypto import SecretBox
from plugin.models import Person, PersonIdentity
from plugin.ports import PeopleSource
from plugin.services import connections, organizations
from plugin.services.sync import SyncResult, run_sync
from tests.conftest import wipe


@dataclass
class Conn:
    org_id: int
    connection_id: int
    source: str


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (the engine commits per page); wiped afterwards."""
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox("test-secret-key")


@pytest.fixture
def conn(db: sessionmaker[Session], box: SecretBox) -> Conn:
    with db() as s:
        org = organizations.create_organization(s, slug="acme", name="ACME AG", actor="test")
        c = connections.add_connection(
            s,
            box=box,
            org_id=org.id,
            kind="successfactors",
            name="sf",
            settings={"base_url": "https://api.example.com", "company_id": "ACME"},
            credentials={"password": "hunter2"},
            actor="test",
        )
        s.commit()
        return Conn(org_id=org.id, connection_id=c.id, source=f"successfactors:{c.id}")


@pytest.fixture
def sync(db: sessionmaker[Session], conn: Conn) -> Callable[..., SyncResult]:
    def _sync(source: PeopleSource, *, full: bool = True, **kw: Any) -> SyncResult:
        return run_sync(
            db,
            org_id=conn.org_id,
            connection_id=conn.connection_id,
            source=source,
            full=full,
            actor="test",
            **kw,
        )

    return _sync


@pytest.fixture
def people(db: sessionmaker[Session], conn: Conn) -> Callable[[], dict[str, Person]]:
    """``people()``: the connection's people by external id, freshly read."""

    def _people() -> dict[str, Person]:
        with db() as s:
            rows = s.execute(
                select(PersonIdentity.external_id, Person)
                .join(Person, Person.id == PersonIdentity.person_id)
                .where(PersonIdentity.source == conn.source)
            ).all()
            return {ext: p for ext, p in rows}

    return _people


WRITE_TABLES = ("people", "person_identities", "connections", "skills", "person_skills")


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs while the test runs."""
    seen: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", _record)
    yield seen
    event.remove(engine, "before_cursor_execute", _record)


def writes(statements: list[str]) -> list[str]:
    """The statements that wrote to people, identities, connections or skills."""
    out = []
    for stmt in statements:
        words = stmt.split()
        target = words[2] if words[:2] in (["insert", "into"], ["delete", "from"]) else None
        if words[:1] == ["update"]:
            target = words[1]
        if target in WRITE_TABLES:
            out.append(stmt[:80])
    return out

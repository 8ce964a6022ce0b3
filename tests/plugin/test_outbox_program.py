"""Outbox messages belong to a program by column: listing, access, deletion, migration 0008."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, delete, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import PermissionDenied
from plugin.models import Organization, OutboxMessage, Program, ProgramCoordinator
from plugin.services import outbox, writeback
from tests.conftest import fresh_database, make_engine, upgrade

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
INDEX = "ix_outbox_messages_program_id_status_id"


@pytest.fixture
def program(make_program: Any, org: Organization) -> Program:
    return make_program(org)  # type: ignore[no-any-return]


@pytest.fixture
def coordinator(
    db_session: Session, make_person: Any, org: Organization, program: Program
) -> Actor:
    person = make_person(org)
    db_session.add(
        ProgramCoordinator(org_id=org.id, program_id=program.id, person_id=person.id, added_by="t")
    )
    db_session.flush()
    return Actor.coordinator(org.id, person.id)


def enqueue(
    session: Session, org: Organization, subject: str, payload: dict[str, Any], **kw: Any
) -> OutboxMessage:
    (message,) = writeback.enqueue(
        session, org_id=org.id, kind="completion", subject=subject, payload=payload, **kw
    )
    return message


@pytest.fixture
def target(db_session: Session, org: Organization) -> None:
    writeback.add_target(db_session, org_id=org.id, name="rec", sink="recording", actor="t")


@pytest.mark.usefixtures("target")
def test_enqueue_stores_the_program_it_is_given(
    db_session: Session, org: Organization, program: Program
) -> None:
    about = enqueue(db_session, org, "a", {"program": {"id": program.id}}, program_id=program.id)
    about_none = enqueue(db_session, org, "b", {"enrollment_id": 1})
    db_session.expire_all()
    assert db_session.get(OutboxMessage, about.id).program_id == program.id  # type: ignore[union-attr]
    assert db_session.get(OutboxMessage, about_none.id).program_id is None  # type: ignore[union-attr]


@pytest.mark.usefixtures("target")
def test_the_program_listing_goes_by_the_column_not_the_payload(
    db_session: Session, org: Organization, program: Program, coordinator: Actor
) -> None:
    by_column = enqueue(db_session, org, "a", {"enrollment_id": 1}, program_id=program.id)
    by_payload_only = enqueue(db_session, org, "b", {"program": {"id": program.id}})
    found = outbox.list_program_messages(db_session, coordinator, program_id=program.id)
    assert [m.id for m in found] == [by_column.id]
    assert by_column.program_id == program.id
    assert by_payload_only.program_id is None
    assert outbox.get_message(db_session, coordinator, by_column.id).id == by_column.id
    with pytest.raises(PermissionDenied):
        outbox.get_message(db_session, coordinator, by_payload_only.id)


@pytest.mark.usefixtures("target")
def test_a_deleted_programs_messages_stay_without_a_program(
    db_session: Session, org: Organization, program: Program
) -> None:
    message = enqueue(db_session, org, "a", {"program": {"id": program.id}}, program_id=program.id)
    db_session.execute(delete(Program).where(Program.id == program.id))
    db_session.expire_all()
    kept = db_session.get(OutboxMessage, message.id)
    assert kept is not None
    assert kept.program_id is None
    assert kept.payload == {"program": {"id": program.id}}


@pytest.mark.usefixtures("target")
def test_the_program_listing_uses_its_index(
    db_session: Session, org: Organization, program: Program, coordinator: Actor
) -> None:
    for i in range(3):
        enqueue(db_session, org, f"s{i}", {}, program_id=program.id)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM outbox_messages" in statement:
            seen.append((statement, params))

    conn = db_session.connection()
    event.listen(conn.engine, "before_cursor_execute", capture)
    try:
        outbox.list_program_messages(db_session, coordinator, program_id=program.id, status="dead")
    finally:
        event.remove(conn.engine, "before_cursor_execute", capture)
    ((statement, params),) = seen
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            # A handful of rows would be read sequentially; ask whether the index can serve.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    finally:
        cursor.close()
    assert INDEX in plan, plan
    # Newest first comes from the index order, not from a sort.
    assert "Sort" not in plan
    assert "TEMP B-TREE" not in plan


# --------------------------------------------------------------------------- migration


def _rows(engine: Engine, table: str) -> Table:
    return Table(table, MetaData(), autoload_with=engine)


def test_migration_0008_fills_the_column_from_the_payloads(tmp_path: Path) -> None:
    with fresh_database(tmp_path, "outbox0008") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, url, "0007")
            orgs, programs, messages = (
                _rows(engine, t) for t in ("organizations", "programs", "outbox_messages")
            )
            with engine.begin() as conn:
                ids = {}
                for slug in ("a", "b"):
                    ids[slug] = conn.execute(
                        insert(orgs)
                        .values(slug=slug, name=slug, identity_link_rule="email", created_at=NOW)
                        .returning(orgs.c.id)
                    ).scalar_one()
                prog = {}
                for slug in ("a", "b"):
                    prog[slug] = conn.execute(
                        insert(programs)
                        .values(
                            org_id=ids[slug],
                            name="P",
                            description="",
                            format="one_to_one",
                            status="draft",
                            starts_on=date(2026, 3, 1),
                            ends_on=date(2026, 9, 1),
                            cadence_days=30,
                            min_session_minutes=30,
                            target_sessions=6,
                            theme_plan=[],
                            matching_settings={},
                            completion_rule={},
                            assessment_skills=[],
                            confidentiality_text="",
                            confidentiality_version="1",
                            require_senior_consent=True,
                            created_at=NOW,
                        )
                        .returning(programs.c.id)
                    ).scalar_one()
                a, b = prog["a"], prog["b"]
                payloads = {
                    "object": {"program": {"id": a, "name": "P"}},
                    "progress": {"program_id": a},
                    "none": {"enrollment_id": 1},
                    "missing_program": {"program": {"id": max(a, b) + 100}},
                    "other_orgs_program": {"program": {"id": b}},
                    "bool": {"program_id": True},
                    "text": {"program": {"id": str(a)}},
                    "list": [a],
                }
                for name, payload in payloads.items():
                    conn.execute(
                        insert(messages).values(
                            org_id=ids["a"],
                            kind="completion",
                            target="rec",
                            idempotency_key=name,
                            payload=payload,
                            status="pending",
                            attempts=0,
                            max_attempts=8,
                            next_attempt_at=NOW,
                            created_at=NOW,
                        )
                    )
            upgrade(engine, url, "0008")
            with engine.connect() as conn:
                got = {
                    key: program_id
                    for key, program_id in conn.execute(
                        text("SELECT idempotency_key, program_id FROM outbox_messages")
                    )
                }
                raw = conn.execute(
                    text("SELECT payload FROM outbox_messages WHERE idempotency_key = 'object'")
                ).scalar_one()
            assert got == {
                "object": a,
                "progress": a,
                "none": None,
                "missing_program": None,
                "other_orgs_program": None,
                "bool": None,
                "text": None,
                "list": None,
            }
            # The payloads themselves are untouched.
            assert (json.loads(raw) if isinstance(raw, str) else raw) == payloads["object"]
        finally:
            engine.dispose()

"""The sync engine's people pass: upsert, idempotence, duplicates, quarantine, leavers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.models import (
    AuditEvent,
    Connection,
    Person,
    PersonIdentity,
    QuarantinedRecord,
    SyncRun,
    SyncStatus,
)
from plugin.records import InvalidRecord
from plugin.services.sync import (
    STALE_AFTER,
    SyncProgress,
    SyncResult,
    list_quarantined,
    list_runs,
    running_run,
)
from tests.plugin.sync.conftest import Conn, writes
from tests.plugin.sync.fakes import FakePeopleSource, person

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def company() -> list[list[Any]]:
    """Three pages; managers come on later pages than their reports."""
    return [
        [
            person("E1", manager_external_id="E3", modified_at=T0),
            person("E2", manager_external_id="E1", modified_at=T0 + timedelta(hours=1)),
        ],
        [person("E4", manager_external_id="E3", modified_at=T0)],
        [person("E3", job_level=9, modified_at=T0 + timedelta(hours=2))],
    ]


def test_first_full_sync_creates_everyone_with_managers_resolved(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session], conn: Conn
) -> None:
    result = sync(FakePeopleSource(company()))

    assert result.ok
    assert result.full
    assert (result.seen, result.created, result.updated, result.unchanged) == (4, 4, 0, 0)
    assert (result.deactivated, result.quarantined) == (0, 0)
    found = people()
    assert set(found) == {"E1", "E2", "E3", "E4"}
    assert found["E1"].manager_id == found["E3"].id
    assert found["E2"].manager_id == found["E1"].id
    assert found["E4"].manager_id == found["E3"].id
    assert found["E3"].manager_id is None
    e1 = found["E1"]
    assert (e1.given_name, e1.email, e1.country, e1.languages) == (
        "Given E1",
        "e1@example.com",
        "DE",
        ["de", "en"],
    )
    assert e1.hire_date == date(2020, 1, 1)
    assert e1.active
    with db() as s:
        run = s.get(SyncRun, result.run_id)
        assert run is not None
        assert run.status is SyncStatus.SUCCEEDED
        assert run.finished_at is not None
        assert (run.seen, run.created) == (4, 4)
        assert run.details["people"]["pages"] == 3
        assert run.watermark_after == T0 + timedelta(hours=2)
        connection = s.get(Connection, conn.connection_id)
        assert connection is not None
        assert connection.watermark == T0 + timedelta(hours=2)
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["sync.started", "sync.finished"]


def test_identical_second_sync_writes_nothing(
    sync: Callable[..., SyncResult], people: Any, statements: list[str]
) -> None:
    sync(FakePeopleSource(company()))
    before = {ext: (p.updated_at, p.manager_id) for ext, p in people().items()}
    statements.clear()

    result = sync(FakePeopleSource(company()))

    assert result.ok
    assert (result.seen, result.created, result.updated, result.unchanged) == (4, 0, 0, 4)
    assert result.deactivated == 0
    assert result.details["managers"]["changed"] == 0
    assert writes(statements) == []
    after = {ext: (p.updated_at, p.manager_id) for ext, p in people().items()}
    assert after == before
    assert result.watermark_after == result.watermark_before


def test_changed_fields_update_only_those_people(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(FakePeopleSource(company()), now=T0)
    pages = company()
    pages[1] = [person("E4", manager_external_id="E3", job_title="Lead", modified_at=T0)]
    pages[0][0] = person("E1", manager_external_id="E4", modified_at=T0)  # new manager only

    result = sync(FakePeopleSource(pages), now=T0 + timedelta(days=1))

    assert (result.created, result.updated, result.unchanged) == (0, 2, 2)
    found = people()
    assert found["E4"].job_title == "Lead"
    assert found["E1"].manager_id == found["E4"].id
    assert found["E4"].updated_at == T0 + timedelta(days=1)
    assert found["E1"].updated_at == T0 + timedelta(days=1)
    assert found["E2"].updated_at == T0
    assert found["E3"].updated_at == T0


def test_records_repeated_across_and_within_pages_are_stored_once(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    pages = [
        [person("E1"), person("E2"), person("E1")],
        [person("E2"), person("E3")],
    ]
    result = sync(FakePeopleSource(pages))

    assert (result.seen, result.created) == (3, 3)
    assert result.details["people"]["duplicates"] == 2
    assert len(people()) == 3


def test_invalid_records_are_quarantined_with_reason_and_payload(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    bad = [
        InvalidRecord(
            entity="person",
            reason="status is not 't' or 'f'",
            raw={"userId": "X1", "status": "?", "hireDate": "/Date(1577836800000)/"},
            external_id="X1",
        ),
        person("X2", given_name=""),
        person("X3", email="not-an-email"),
        person("X4", country="Germany"),
        person("X5", job_title="x" * 201),
        person("X6", manager_external_id="X6"),
        person("X7", languages=("english",)),
        person("", family_name="Nobody"),
        InvalidRecord(entity="person", reason="no userId", raw={"firstName": "Ann"}),
    ]
    pages = [[person("E1"), *bad[:5]], [*bad[5:], person("E2")]]

    result = sync(FakePeopleSource(pages))

    assert result.ok
    assert result.status is SyncStatus.SUCCEEDED
    assert result.quarantined == 9
    assert result.seen == result.created + result.updated + result.unchanged + result.quarantined
    assert result.created == 2
    with db() as s:
        rows = list_quarantined(s, org_id=conn.org_id, connection_id=conn.connection_id)
        reasons = {row.external_id: row.reason for row in rows}
        assert reasons["X1"] == "status is not 't' or 'f'"
        assert reasons["X2"] == "the given name is empty"
        assert "e-mail" in reasons["X3"]
        assert "ISO 3166" in reasons["X4"]
        assert reasons["X5"] == "the job title is 201 characters long; at most 200 fit"
        assert reasons["X6"] == "the person is their own manager"
        assert "ISO 639-1" in reasons["X7"]
        assert reasons[None] in ("the external id is empty", "no userId")
        by_id = {row.external_id: row for row in rows}
        assert by_id["X1"].payload == {
            "userId": "X1",
            "status": "?",
            "hireDate": "/Date(1577836800000)/",
        }
        assert by_id["X3"].payload["email"] == "not-an-email"
        assert by_id["X3"].payload["hire_date"] == "2020-01-01"  # JSON-safe copy of the record
        assert all(row.sync_run_id == result.run_id for row in rows)
        assert s.scalar(select(func.count()).select_from(Person)) == 2


def test_a_leaver_missing_from_a_full_sync_is_deactivated_never_deleted(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(FakePeopleSource(company()))
    pages = company()
    pages[1] = []  # E4 left

    result = sync(FakePeopleSource(pages))

    assert result.deactivated == 1
    assert result.ok
    found = people()
    assert set(found) == {"E1", "E2", "E3", "E4"}
    assert found["E4"].active is False

    # Back in the source: active again.
    again = sync(FakePeopleSource(company()))
    assert again.updated == 1
    assert again.deactivated == 0
    assert people()["E4"].active is True


def test_a_person_the_source_marks_inactive_is_stored_inactive(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(FakePeopleSource([[person("E1"), person("E2")]]))
    result = sync(
        FakePeopleSource([[person("E1"), person("E2", active=False, left_on=date(2026, 2, 28))]])
    )
    assert (result.updated, result.deactivated) == (1, 0)
    e2 = people()["E2"]
    assert e2.active is False
    assert e2.left_on == date(2026, 2, 28)


def test_a_quarantined_person_is_not_deactivated(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(FakePeopleSource([[person("E1"), person("E2")]]))
    result = sync(FakePeopleSource([[person("E1"), person("E2", email="broken")]]))
    assert (result.quarantined, result.deactivated) == (1, 0)
    assert people()["E2"].active is True


def test_delta_reads_since_watermark_minus_overlap_and_never_deactivates(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session], conn: Conn
) -> None:
    sync(FakePeopleSource(company()))  # watermark T0 + 2 h
    delta = FakePeopleSource(
        [
            [
                person(
                    "E2",
                    manager_external_id="E1",
                    job_title="Lead",
                    modified_at=T0 + timedelta(hours=5),
                )
            ]
        ]
    )

    result = sync(delta, full=False)

    assert delta.since_calls == [T0 + timedelta(hours=2) - timedelta(minutes=60)]
    assert result.ok
    assert not result.full
    assert (result.seen, result.updated, result.deactivated) == (1, 1, 0)
    assert all(p.active for p in people().values())
    assert people()["E2"].manager_id == people()["E1"].id  # manager found in the database
    assert result.watermark_after == T0 + timedelta(hours=5)

    with db() as s:
        connection = s.get(Connection, conn.connection_id)
        assert connection is not None
        connection.settings = {**connection.settings, "delta_overlap_minutes": 15}
        s.commit()
    setting = FakePeopleSource([[]])
    sync(setting, full=False)
    assert setting.since_calls == [T0 + timedelta(hours=5) - timedelta(minutes=15)]
    explicit = FakePeopleSource([[]])
    sync(explicit, full=False, overlap=timedelta(0))
    assert explicit.since_calls == [T0 + timedelta(hours=5)]


def test_a_delta_without_a_watermark_runs_as_a_full_sync(
    sync: Callable[..., SyncResult],
) -> None:
    source = FakePeopleSource([[person("E1")]])
    result = sync(source, full=False, now=T0)
    assert source.since_calls == [None]
    assert result.full
    assert result.details["requested_full"] is False
    assert result.watermark_after == T0  # no modified_at: the run's start


def test_watermark_never_goes_back(sync: Callable[..., SyncResult]) -> None:
    sync(FakePeopleSource(company()))
    result = sync(
        FakePeopleSource([[person("E1", modified_at=T0 - timedelta(days=3))]]), full=False
    )
    assert result.watermark_after == T0 + timedelta(hours=2)


def test_a_failure_at_page_three_keeps_the_watermark_and_deactivates_nobody(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session], conn: Conn
) -> None:
    first = sync(FakePeopleSource([[person("E1"), person("E2")], [person("OLD")]]))
    pages = [[person("E1", job_title="Boss")], [person("E2")], [person("E5")]]
    source = FakePeopleSource(pages, fail_at=3)

    result = sync(source)

    assert result.status is SyncStatus.FAILED
    assert not result.ok
    assert result.error is not None
    assert "ConnectorUnavailable (HTTP 503)" in result.error
    assert "***" in result.error
    assert "hunter2" not in result.error
    assert result.watermark_after == result.watermark_before == first.watermark_after
    found = people()
    assert found["E1"].job_title == "Boss"  # pages before the failure are kept
    assert found["OLD"].active is True  # nobody deactivated
    assert "E5" not in found
    assert source.closed
    with db() as s:
        run = s.get(SyncRun, result.run_id)
        assert run is not None
        assert run.status is SyncStatus.FAILED
        assert run.error == result.error
        assert run.finished_at is not None
        assert run.watermark_after == first.watermark_after
        assert run.details["phase"] == "people"
        assert run.updated == 1
        connection = s.get(Connection, conn.connection_id)
        assert connection is not None
        assert connection.watermark == first.watermark_after
        finished = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "sync.finished").order_by(AuditEvent.id)
        ).all()[-1]
        assert finished.details["status"] == "failed"


def test_an_unexpected_error_is_recorded_then_raised(
    sync: Callable[..., SyncResult], db: sessionmaker[Session]
) -> None:
    source = FakePeopleSource([[person("E1")], [person("E2")]], fail_at=2, error=KeyError("x"))
    with pytest.raises(KeyError):
        sync(source)
    with db() as s:
        run = s.scalars(select(SyncRun)).one()
        assert run.status is SyncStatus.FAILED
        assert run.error is not None
        assert run.error.startswith("unexpected KeyError")


def test_an_empty_full_sync_refuses_to_deactivate_everyone(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    first = sync(FakePeopleSource(company()))
    result = sync(FakePeopleSource([[]]))
    assert result.status is SyncStatus.FAILED
    assert result.error is not None
    assert "refusing to deactivate everyone" in result.error
    assert result.watermark_after == first.watermark_after
    assert all(p.active for p in people().values())


def test_an_empty_first_sync_succeeds(sync: Callable[..., SyncResult]) -> None:
    result = sync(FakePeopleSource([]))
    assert result.ok
    assert result.seen == 0


def test_a_second_concurrent_run_is_refused_and_a_stale_one_abandoned(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    from plugin.errors import ConflictError

    with db() as s:
        s.add(
            SyncRun(
                org_id=conn.org_id,
                connection_id=conn.connection_id,
                full=True,
                status=SyncStatus.RUNNING,
                started_at=T0,
            )
        )
        s.commit()
    with pytest.raises(ConflictError, match="already running"):
        sync(FakePeopleSource([[person("E1")]]), now=T0 + timedelta(minutes=5))

    result = sync(FakePeopleSource([[person("E1")]]), now=T0 + STALE_AFTER + timedelta(minutes=1))
    assert result.ok
    with db() as s:
        old = s.scalars(select(SyncRun).order_by(SyncRun.id)).first()
        assert old is not None
        assert old.status is SyncStatus.FAILED
        assert old.error is not None
        assert old.error.startswith("abandoned: no sign of life for 10 minutes")


def test_a_long_run_with_a_recent_heartbeat_is_alive(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    """Started hours ago, but its process still beats: not abandoned, still refused."""
    from plugin.errors import ConflictError

    with db() as s:
        s.add(
            SyncRun(
                org_id=conn.org_id,
                connection_id=conn.connection_id,
                full=True,
                status=SyncStatus.RUNNING,
                started_at=T0 - timedelta(hours=8),
                heartbeat_at=T0 - timedelta(minutes=1),
            )
        )
        s.commit()
    with pytest.raises(ConflictError, match="already running"):
        sync(FakePeopleSource([[person("E1")]]), now=T0)
    with db() as s:
        assert running_run(s, org_id=conn.org_id, connection_id=conn.connection_id) is None
        # (running_run reads the real clock: T0 lies in the past, so that run is stale now)


def test_the_heartbeat_thread_beats_while_a_page_takes_long(
    sync: Callable[..., SyncResult],
    db: sessionmaker[Session],
    conn: Conn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import plugin.services.sync as engine

    monkeypatch.setattr(engine, "HEARTBEAT_EVERY", timedelta(milliseconds=20))
    beats: list[datetime | None] = []

    class Slow(FakePeopleSource):
        def iter_people(self, *, since: datetime | None = None) -> Any:
            for page in super().iter_people(since=since):
                first = None
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:  # a slow source: wait for two beats
                    with db() as s:
                        run = s.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
                        assert run is not None
                        if first is None:
                            first = run.heartbeat_at
                        elif run.heartbeat_at != first:
                            beats.append(run.heartbeat_at)
                            break
                    time.sleep(0.02)
                yield page

    result = sync(Slow([[person("E1")]]))
    assert result.ok
    assert beats, "no heartbeat was written while the page was being read"
    with db() as s:
        alive = s.get(SyncRun, result.run_id)
        assert alive is not None
        assert alive.heartbeat_at is not None


def test_a_run_taken_for_abandoned_cannot_finish_as_succeeded(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    """Its process froze; another host marked it abandoned: it must not write success."""

    class Frozen(FakePeopleSource):
        def iter_people(self, *, since: datetime | None = None) -> Any:
            with db() as s:  # what another host's run_sync does to a stale run
                run = s.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
                assert run is not None
                run.status = SyncStatus.FAILED
                run.error = "abandoned: no sign of life for 10 minutes"
                s.commit()
            yield from super().iter_people(since=since)

    result = sync(Frozen([[person("E1")]]), now=T0)
    assert not result.ok
    assert result.error is not None
    assert "taken for abandoned" in result.error
    with db() as s:
        connection = s.get(Connection, conn.connection_id)
        assert connection is not None
        assert connection.watermark is None


def test_an_erased_person_is_never_refilled(
    sync: Callable[..., SyncResult], people: Any, db: sessionmaker[Session], statements: list[str]
) -> None:
    sync(FakePeopleSource([[person("E1"), person("E2")]]), now=T0)
    with db() as s:
        e2 = s.get(Person, people()["E2"].id)
        assert e2 is not None
        e2.given_name, e2.family_name, e2.email = "erased", "erased", None
        e2.active = False
        e2.erased_at = T0
        s.commit()
    statements.clear()

    result = sync(FakePeopleSource([[person("E1"), person("E2", job_title="CEO")]]), now=T0)

    assert result.ok
    assert (result.unchanged, result.updated, result.deactivated) == (2, 0, 0)
    assert result.details["people"]["erased_skipped"] == 1
    e2_after = people()["E2"]
    assert (e2_after.given_name, e2_after.email, e2_after.job_title) == ("erased", None, "Engineer")
    assert e2_after.active is False
    assert writes(statements) == []


def test_missing_manager_leaves_the_manager_empty(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    result = sync(FakePeopleSource([[person("E1", manager_external_id="GHOST"), person("E2")]]))
    assert result.ok
    assert result.created == 2
    assert result.quarantined == 0
    assert result.details["managers"]["missing"] == 1
    assert result.details["managers"]["missing_ids"] == ["GHOST"]
    assert people()["E1"].manager_id is None


def test_a_manager_cycle_is_broken_and_reported(
    sync: Callable[..., SyncResult], people: Any, statements: list[str]
) -> None:
    pages = [
        [
            person("A", manager_external_id="B"),
            person("B", manager_external_id="C"),
            person("C", manager_external_id="A"),
            person("D", manager_external_id="A"),
        ]
    ]
    result = sync(FakePeopleSource(pages), now=T0)

    assert result.ok
    managers = result.details["managers"]
    assert managers["cycles_broken"] == 1
    assert sorted(managers["cycles"][0]) == ["A", "B", "C"]
    found = people()
    assert found["C"].manager_id is None  # the edge C -> A would close the cycle
    assert found["A"].manager_id == found["B"].id
    assert found["B"].manager_id == found["C"].id
    assert found["D"].manager_id == found["A"].id

    statements.clear()
    again = sync(FakePeopleSource(pages), now=T0)
    assert (again.updated, again.unchanged) == (0, 4)
    assert writes(statements) == []


def test_a_delta_closing_a_cycle_through_the_database_is_broken(
    sync: Callable[..., SyncResult], people: Any
) -> None:
    sync(FakePeopleSource([[person("A", manager_external_id="B"), person("B")]]))
    result = sync(FakePeopleSource([[person("B", manager_external_id="A")]]), full=False)
    assert result.details["managers"]["cycles_broken"] == 1
    found = people()
    assert found["A"].manager_id == found["B"].id
    assert found["B"].manager_id is None


def test_progress_is_reported_per_page_and_phase(sync: Callable[..., SyncResult]) -> None:
    events: list[SyncProgress] = []
    sync(FakePeopleSource(company()), progress=events.append)
    phases = [e.phase for e in events]
    assert phases[0] == "people"
    assert phases[-1] == "done"
    assert "managers" in phases
    pages = [e.pages for e in events if e.phase == "people"]
    assert pages == [0, 1, 2, 3]
    assert events[-1].created == 4


def test_runs_are_listed_newest_first(
    sync: Callable[..., SyncResult], db: sessionmaker[Session], conn: Conn
) -> None:
    first = sync(FakePeopleSource([[person("E1")]]))
    second = sync(FakePeopleSource([[person("E1", email="bad")]]))
    with db() as s:
        runs = list_runs(s, org_id=conn.org_id, connection_id=conn.connection_id)
        assert [r.id for r in runs] == [second.run_id, first.run_id]
        assert (
            list_quarantined(
                s, org_id=conn.org_id, connection_id=conn.connection_id, run_id=first.run_id
            )
            == []
        )
        assert len(list_quarantined(s, org_id=conn.org_id, connection_id=conn.connection_id)) == 1
        assert s.scalar(select(func.count()).select_from(QuarantinedRecord)) == 1
        assert s.scalar(select(func.count()).select_from(PersonIdentity)) == 1


def test_five_thousand_people_in_five_pages(
    sync: Callable[..., SyncResult],
    db: sessionmaker[Session],
    engine: Engine,
    statements: list[str],
) -> None:
    def pages(title: str) -> list[list[Any]]:
        out = []
        for p in range(5):
            out.append(
                [
                    person(
                        f"U{n:05d}",
                        manager_external_id=None if n == 0 else f"U{(n - 1) // 10:05d}",
                        job_title=title if n % 100 == 0 else "Engineer",
                    )
                    for n in range(p * 1000, (p + 1) * 1000)
                ]
            )
        return list(reversed(out))  # managers come after their reports

    result = sync(FakePeopleSource(pages("Engineer")))
    assert (result.created, result.quarantined) == (5000, 0)
    with db() as s:
        assert (
            s.scalar(select(func.count()).select_from(Person).where(Person.manager_id.is_(None)))
            == 1
        )
    if engine.dialect.name == "postgresql":
        # One bulk statement per page, never one per row (SQLite cannot order RETURNING
        # rows of a multi-row INSERT, so SQLAlchemy inserts row by row there).
        assert len([w for w in writes(statements) if w.startswith("insert into people")]) <= 10

    statements.clear()
    again = sync(FakePeopleSource(pages("Lead")))
    assert (again.updated, again.unchanged) == (50, 4950)
    assert len(statements) < 100


def test_pages_commit_without_waiting_for_the_disk_but_the_finish_does(
    sync: Callable[..., SyncResult], engine: Engine, statements: list[str]
) -> None:
    """PostgreSQL: each page's transaction says so itself; the watermark's commit waits."""
    sync(FakePeopleSource([[person("E1")], [person("E2")], [person("E3")]]))
    asynchronous = [s for s in statements if s == "set local synchronous_commit to off"]
    if engine.dialect.name != "postgresql":
        assert asynchronous == []
        return
    assert len(asynchronous) == 3  # one per page, none for the run's start or finish
    last_page = max(i for i, s in enumerate(statements) if s.startswith("set local"))
    assert any(s.startswith("update connections set watermark") for s in statements[last_page:]), (
        "the watermark is written after the last page, in a transaction of its own"
    )


def test_a_failure_while_storing_stops_and_closes_the_source(
    sync: Callable[..., SyncResult],
) -> None:
    source = FakePeopleSource([[person(f"E{n}")] for n in range(10)])

    def stop(progress: SyncProgress) -> None:
        if progress.pages == 1:
            raise RuntimeError("the progress line broke")

    with pytest.raises(RuntimeError):
        sync(source, progress=stop)
    assert source.closed
    assert source.pages_served < 10

"""Workers that die, and workers that race: nothing is lost, nothing is delivered twice.

These tests run real ``tandem worker`` processes (and worker threads on separate
connections) against the suite's migrated database, SQLite or PostgreSQL, with the
recording sink of :mod:`tests.fakes`, whose log is a SQLite file every process shares.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from plugin.db import utcnow
from plugin.models import OutboxMessage, OutboxStatus
from plugin.services import organizations, outbox, writeback
from plugin.worker import Worker, WorkerStats
from tests.conftest import make_engine, wipe
from tests.fakes import RecordingLog, RecordingSink

ROOT = Path(__file__).resolve().parents[2]
LEASE = 1.5


@dataclass
class Setup:
    org_id: int
    ids: list[int]
    keys: list[str]
    log: RecordingLog


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=engine, expire_on_commit=False)
    wipe(engine)


@pytest.fixture
def setup(db: sessionmaker[Session], tmp_path: Path) -> Callable[..., Setup]:
    """``setup(n, **settings)``: n messages due now to a recording target."""

    def _make(n: int, **settings: Any) -> Setup:
        log = tmp_path / "sink.db"
        due = utcnow() - timedelta(minutes=1)
        with db() as s:
            org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
            writeback.add_target(
                s,
                org_id=org.id,
                name="rec",
                sink="recording",
                settings={"log": str(log), **settings},
                actor="t",
            )
            made = []
            for i in range(n):
                (m,) = writeback.enqueue(
                    s, org_id=org.id, kind="hours", subject=f"p1:e{i}", payload={"minutes": i}
                )
                m.next_attempt_at = due + timedelta(milliseconds=i)
                made.append(m)
            s.commit()
            return Setup(
                org.id, [m.id for m in made], [m.idempotency_key for m in made], RecordingLog(log)
            )

    return _make


def rows(db: sessionmaker[Session]) -> list[OutboxMessage]:
    with db() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def tandem_worker(database_url: str, *args: str) -> subprocess.Popen[str]:
    """Start ``tandem worker ARGS`` as a real process on the test database."""
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_SINKS": json.dumps({"recording": "tests.fakes:RecordingSink"}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    tandem = Path(sys.executable).with_name("tandem")
    return subprocess.Popen(
        [str(tandem), "worker", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


# --------------------------------------------------------------------------- killed


@pytest.mark.parametrize(
    ("when", "rescuer"), [("before_effect", "thread"), ("after_effect", "process")]
)
def test_a_worker_killed_mid_delivery_loses_nothing_and_posts_nothing_twice(
    database_url: str, db: sessionmaker[Session], setup: Any, when: str, rescuer: str
) -> None:
    """SIGKILL a worker while it is inside ``deliver``, then let another worker take over.

    The victim claims a batch of 5 and hangs on the 3rd message — before the sink wrote
    it (``before_effect``) or after (``after_effect``: the worst case, the target has it
    but the outbox does not know). Messages 4 and 5 are claimed but never reach
    ``deliver``: the kill falls between their claim and their delivery.

    Once the victim's lease has expired, the rescuer (another ``tandem worker`` process,
    or a worker in this process) re-claims messages 3–5 and delivers everything. The
    rescuer calls ``deliver`` for message 3 again — delivery is at least once — and in
    the ``after_effect`` case that re-send is deduplicated by the idempotency key, so
    every message has exactly one effect at the target.
    """
    s = setup(10, **{f"hang_{when}": [s_key := "hours:p1:e2:rec"]})
    assert s.keys[2] == s_key
    victim = tandem_worker(
        database_url, "--once", "--batch", "5", "--lease", str(LEASE), "--worker-id", "victim"
    )
    try:
        assert s.log.wait_for_mark(s_key, timeout=30) == victim.pid
    finally:
        victim.kill()
        victim.communicate(timeout=30)
    state = [(m.status.value, m.claimed_by) for m in rows(db)]
    assert state == [
        ("delivered", "victim"),
        ("delivered", "victim"),
        ("delivering", "victim"),  # killed inside deliver
        ("delivering", "victim"),  # killed between claim and deliver
        ("delivering", "victim"),
        *[("pending", None)] * 5,
    ]

    time.sleep(LEASE + 0.1)
    if rescuer == "process":
        err = finish(
            tandem_worker(database_url, "--once", "--lease", str(LEASE), "--worker-id", "rescuer")
        )
        assert "rescuer: claimed 8 · delivered 8 · retried 0 · dead 0" in err
    else:
        w = Worker(db, {"recording": RecordingSink}, worker_id="rescuer", lease_seconds=LEASE)
        assert w.run_once() == WorkerStats(claimed=8, delivered=8)

    final = rows(db)
    assert {m.status for m in final} == {OutboxStatus.DELIVERED}  # none lost or stuck
    assert [m.claimed_by for m in final] == ["victim"] * 2 + ["rescuer"] * 8
    assert [m.attempts for m in final] == [1, 1, 2, 2, 2, 1, 1, 1, 1, 1]
    assert s.log.effect_counts() == dict.fromkeys(s.keys, 1)  # nothing posted twice
    calls = s.log.call_counts()
    assert calls == {**dict.fromkeys(s.keys, 1), s_key: 2}  # only message 3 was re-sent


def test_sigterm_stops_a_worker_after_the_message_in_hand(
    database_url: str, db: sessionmaker[Session], setup: Any
) -> None:
    s = setup(8, delay=0.3)
    proc = tandem_worker(database_url, "--batch", "8", "--poll", "0.1", "--worker-id", "w")
    try:
        deadline = time.monotonic() + 30
        while not s.log.calls() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        err = finish(proc, timeout=30)
    finally:
        proc.kill()
    assert "SIGTERM: stopping after the current message" in err
    final = rows(db)
    delivered = [m for m in final if m.status is OutboxStatus.DELIVERED]
    waiting = [m for m in final if m.status is OutboxStatus.PENDING]
    assert 1 <= len(delivered) < 8
    assert len(delivered) + len(waiting) == 8  # nothing left "delivering"
    assert {m.attempts for m in waiting} == {0}  # unstarted claims were given back
    assert f"released {len(waiting)}" in err
    assert s.log.effect_counts() == {m.idempotency_key: 1 for m in delivered}


# --------------------------------------------------------------------------- racing


def _race(database_url: str, db: sessionmaker[Session], setup: Any, *, n: int) -> list[str]:
    """Two workers on separate connections drain n messages at once; returns their SQL."""
    s = setup(n)
    engines = [
        create_engine(database_url, connect_args={"timeout": 60})
        if database_url.startswith("sqlite")
        else create_engine(database_url)
        for _ in range(2)
    ]
    statements: list[str] = []
    event.listen(
        engines[0],
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(statement),
    )

    def remaining() -> int:
        with db() as session:
            counts = outbox.counts(session, org_id=s.org_id)
        return counts["pending"] + counts["delivering"]

    barrier = threading.Barrier(2)
    totals: dict[str, WorkerStats] = {}
    errors: list[BaseException] = []

    def run(name: str, engine: Engine) -> None:
        try:
            w = Worker(
                sessionmaker(bind=engine, expire_on_commit=False),
                {"recording": RecordingSink},
                worker_id=name,
                batch=7,
            )
            total = WorkerStats()
            barrier.wait()
            while True:
                stats = w.run_once()
                total += stats
                # Nothing claimed: done only when the other worker has not claimed
                # anything this one could still need to take over.
                if not stats.claimed and not remaining():
                    break
            totals[name] = total
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(name, engine))
        for name, engine in zip(("a", "b"), engines, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert errors == []
    final = rows(db)
    assert {m.status for m in final} == {OutboxStatus.DELIVERED}
    assert {m.attempts for m in final} == {1}  # claimed exactly once each
    assert s.log.call_counts() == dict.fromkeys(s.keys, 1)  # deliver called once each
    assert s.log.effect_counts() == dict.fromkeys(s.keys, 1)
    assert totals["a"].delivered + totals["b"].delivered == n
    assert totals["a"].delivered > 0  # both really took part
    assert totals["b"].delivered > 0
    by_worker = {name: sum(m.claimed_by == name for m in final) for name in ("a", "b")}
    assert by_worker == {"a": totals["a"].delivered, "b": totals["b"].delivered}
    return statements


def test_two_workers_on_postgresql_never_deliver_the_same_message(
    database_url: str, db: sessionmaker[Session], setup: Any
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: set TANDEM_TEST_DATABASE_URL=postgresql+psycopg://…")
    statements = _race(database_url, db, setup, n=240)
    claims = [s for s in statements if "FROM outbox_messages" in s and "FOR UPDATE" in s]
    assert claims
    assert all("FOR UPDATE SKIP LOCKED" in s for s in claims)


def test_two_workers_on_sqlite_never_deliver_the_same_message(
    database_url: str, db: sessionmaker[Session], setup: Any
) -> None:
    """SQLite has no row locks; the conditional claim UPDATE decides who wins a row.

    SQLite serialises writers, so with a busy timeout the two workers take turns
    instead of failing; this makes the race reliable to run.
    """
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite variant; the suite runs on PostgreSQL")
    _race(database_url, db, setup, n=200)


def test_a_claim_read_before_another_worker_took_the_rows_takes_nothing(
    database_url: str, db: sessionmaker[Session], setup: Any
) -> None:
    """Worker B has read its candidates; worker A claims them before B's UPDATE runs.

    On SQLite, B's conditional UPDATE finds the rows no longer due and claims nothing.
    On PostgreSQL, B's candidates are locked (FOR UPDATE), A skips them (SKIP LOCKED)
    and claims nothing. Either way each message is claimed by exactly one worker.
    """
    s = setup(4)
    engine_a, engine_b = make_engine(database_url), make_engine(database_url)
    a_claimed: list[int] = []

    def before_b_updates(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and not a_claimed:
            with Session(engine_a) as a:
                got = [m.id for m in outbox.claim(a, worker_id="a", limit=10, lease_seconds=60)]
                a.commit()
            a_claimed.extend([*got, -1])  # -1: ran once

    event.listen(engine_b, "before_cursor_execute", before_b_updates)
    try:
        with Session(engine_b) as b:
            b_claimed = [m.id for m in outbox.claim(b, worker_id="b", limit=10, lease_seconds=60)]
            b.commit()
    finally:
        engine_a.dispose()
        engine_b.dispose()
    a_ids = [i for i in a_claimed if i != -1]
    assert sorted(a_ids + b_claimed) == s.ids
    if database_url.startswith("sqlite"):
        assert (a_ids, b_claimed) == (s.ids, [])
    else:
        assert (a_ids, b_claimed) == ([], s.ids)
    assert {(m.claimed_by, m.attempts) for m in rows(db)} == {("a" if a_ids else "b", 1)}

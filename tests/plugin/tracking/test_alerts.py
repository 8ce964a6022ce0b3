from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from plugin.models import (
    Alert,
    AlertKind,
    AlertStatus,
    AuditEvent,
    EnrollmentRole,
    Person,
    ProgramCoordinator,
    ProgramStatus,
    Tandem,
    TandemMember,
    TandemStatus,
)
from plugin.services import alerts, enrollments, organizations, programs, sessions
from tests.conftest import PG_URL, wipe
from tests.plugin.tracking.conftest import T0

DAY = timedelta(days=1)
STALL = T0 + 45 * DAY  # exactly 1.5 × the default 30-day cadence after activation


def count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Alert)) or 0


def plan(db: Session, pair: Any, at: datetime) -> Any:
    return sessions.plan_session(db, pair.mentor_actor, pair.tandem.id, scheduled_at=at, now=T0)


def cancel(db: Session, pair: Any, at: datetime, *, senior: bool = True) -> Any:
    row = plan(db, pair, at)
    actor = pair.mentee_actor if senior else pair.mentor_actor
    return sessions.cancel_session(db, actor, row.id, reason="Board meeting overran", now=T0)


def held(db: Session, pair: Any, at: datetime, minutes: int = 60) -> Any:
    return sessions.log_session(
        db, pair.mentor_actor, pair.tandem.id, held_at=at, minutes=minutes, now=at + DAY
    )


def low_pulse(db: Session, pair: Any, at: datetime, pulse: int = 2) -> Any:
    row = held(db, pair, at)
    return sessions.give_feedback(
        db,
        pair.mentor_actor,
        row.id,
        rating=2,
        comment="I felt talked over",
        safety_pulse=pulse,
        now=at + DAY,
    )


# --------------------------------------------------------------------------- stalled


def test_no_stall_at_exactly_one_and_a_half_cadences(db_session: Session, pair: Any) -> None:
    assert alerts.scan_program(db_session, pair.tandem.program_id, now=STALL) == []


def test_stalled_from_activation(db_session: Session, world: Any, pair: Any) -> None:
    [alert] = alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    assert alert.kind is AlertKind.STALLED
    assert alert.status is AlertStatus.OPEN
    assert alert.tandem_id == pair.tandem.id
    assert alert.program_id == world.program.id
    assert alert.person_id is None
    assert alert.recipients == [world.coordinator.id]
    assert alert.raised_at == STALL + DAY
    assert alert.details == {
        "tandem_id": pair.tandem.id,
        "days_without_session": 46,
        "cadence_days": 30,
        "since": T0.date().isoformat(),
        "anchor": "activation",
        "last_session_id": None,
    }


def test_stalled_is_raised_once_per_anchor(db_session: Session, world: Any, pair: Any) -> None:
    alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    assert alerts.scan_program(db_session, world.program.id, now=STALL + 10 * DAY) == []
    assert count(db_session) == 1


def test_stalled_counts_from_the_last_held_session(
    db_session: Session, world: Any, pair: Any
) -> None:
    last = held(db_session, pair, T0 + 20 * DAY)
    assert alerts.scan_program(db_session, world.program.id, now=T0 + 65 * DAY) == []
    [alert] = alerts.scan_program(db_session, world.program.id, now=T0 + 66 * DAY)
    assert alert.details["anchor"] == "last_session"
    assert alert.details["last_session_id"] == last.id
    assert alert.details["days_without_session"] == 46


def test_a_tandem_that_recovers_and_stalls_again_raises_a_new_alert(
    db_session: Session, world: Any, pair: Any
) -> None:
    [first] = alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    held(db_session, pair, STALL + 2 * DAY)
    assert alerts.scan_program(db_session, world.program.id, now=STALL + 30 * DAY) == []
    [second] = alerts.scan_program(db_session, world.program.id, now=STALL + 48 * DAY)
    assert second.id != first.id
    assert second.dedup_key != first.dedup_key


def test_cancelled_and_planned_sessions_do_not_keep_a_tandem_alive(
    db_session: Session, world: Any, pair: Any
) -> None:
    cancel(db_session, pair, T0 + 10 * DAY, senior=False)
    plan(db_session, pair, T0 + 60 * DAY)
    [alert] = alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    assert alert.kind is AlertKind.STALLED


@pytest.mark.parametrize("status", ["proposed", "accepted", "completed", "dissolved"])
def test_only_active_tandems_stall(
    db_session: Session, world: Any, make_pair: Any, status: str
) -> None:
    make_pair(status)
    assert alerts.scan_program(db_session, world.program.id, now=STALL + DAY) == []


def test_no_stall_after_the_program_ended(db_session: Session, world: Any, pair: Any) -> None:
    after = datetime(2026, 9, 2, 9, 0, tzinfo=UTC)
    assert alerts.scan_program(db_session, world.program.id, now=after) == []


def test_scan_unknown_program(db_session: Session) -> None:
    with pytest.raises(NotFound, match="program 999999 not found"):
        alerts.scan_program(db_session, 999_999, now=STALL)


def test_scan_all_covers_running_programs_of_every_organization(
    db_session: Session, world: Any, pair: Any, make_program: Any
) -> None:
    idle = make_program(world.org, name="Still enrolling")
    assert idle.status is ProgramStatus.ENROLLING
    seen: list[tuple[str, int, int]] = []
    raised = alerts.scan_all(db_session, now=STALL + DAY, progress=lambda *a: seen.append(a))
    assert raised == 1
    assert seen[-1][1] == seen[-1][2]
    assert alerts.scan_all(db_session, now=STALL + DAY) == 0


# --------------------------------------------------------------------------- cancellations


def test_senior_cancelling_twice_in_a_row(db_session: Session, world: Any, pair: Any) -> None:
    a = cancel(db_session, pair, T0 + 7 * DAY)
    assert count(db_session) == 0
    b = cancel(db_session, pair, T0 + 14 * DAY)
    [alert] = db_session.scalars(select(Alert)).all()
    assert alert.kind is AlertKind.SENIOR_CANCELLATIONS
    assert alert.person_id == pair.mentee.id
    assert alert.recipients == [world.coordinator.id]
    assert alert.raised_at == T0
    assert alert.details == {
        "tandem_id": pair.tandem.id,
        "cancellations": 2,
        "session_ids": [a.id, b.id],
        "last_scheduled_on": (T0 + 14 * DAY).date().isoformat(),
    }
    assert "Board meeting" not in repr(alert.details)


def test_a_third_cancellation_in_the_same_streak_raises_nothing_new(
    db_session: Session, pair: Any
) -> None:
    for week in (1, 2, 3):
        cancel(db_session, pair, T0 + week * 7 * DAY)
    assert count(db_session) == 1


def test_a_held_session_breaks_the_streak(db_session: Session, pair: Any) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    held(db_session, pair, T0 + 14 * DAY)
    cancel(db_session, pair, T0 + 21 * DAY)
    assert count(db_session) == 0
    cancel(db_session, pair, T0 + 28 * DAY)
    assert count(db_session) == 1


def test_a_new_streak_raises_a_new_alert(db_session: Session, pair: Any) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    cancel(db_session, pair, T0 + 14 * DAY)
    held(db_session, pair, T0 + 21 * DAY)
    cancel(db_session, pair, T0 + 28 * DAY)
    cancel(db_session, pair, T0 + 35 * DAY)
    assert count(db_session) == 2


def test_junior_cancellations_raise_nothing(db_session: Session, pair: Any) -> None:
    cancel(db_session, pair, T0 + 7 * DAY, senior=False)
    cancel(db_session, pair, T0 + 14 * DAY, senior=False)
    assert count(db_session) == 0


def test_one_from_each_side_raises_nothing(db_session: Session, pair: Any) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    cancel(db_session, pair, T0 + 14 * DAY, senior=False)
    assert count(db_session) == 0


def test_planned_sessions_in_between_do_not_break_the_streak(
    db_session: Session, pair: Any
) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    plan(db_session, pair, T0 + 10 * DAY)
    cancel(db_session, pair, T0 + 14 * DAY)
    assert count(db_session) == 1


def test_cancellations_are_ordered_by_schedule(db_session: Session, pair: Any) -> None:
    # The later session is cancelled first; a held session lies between the two.
    cancel(db_session, pair, T0 + 21 * DAY)
    held(db_session, pair, T0 + 14 * DAY)
    cancel(db_session, pair, T0 + 7 * DAY)
    assert count(db_session) == 0


def test_scan_raises_a_missed_cancellation_alert(
    db_session: Session, world: Any, pair: Any
) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    cancel(db_session, pair, T0 + 14 * DAY)
    db_session.query(Alert).delete()
    [alert] = alerts.scan_program(db_session, world.program.id, now=T0 + 20 * DAY)
    assert alert.kind is AlertKind.SENIOR_CANCELLATIONS


def test_no_cancellation_alert_once_the_tandem_ended(db_session: Session, pair: Any) -> None:
    cancel(db_session, pair, T0 + 7 * DAY)
    cancel(db_session, pair, T0 + 14 * DAY)
    db_session.query(Alert).delete()
    pair.tandem.status = TandemStatus.DISSOLVED
    assert alerts.check_senior_cancellations(db_session, pair.tandem, now=T0) is None


# --------------------------------------------------------------------------- safety


def test_low_safety_pulse(db_session: Session, world: Any, pair: Any) -> None:
    fb = low_pulse(db_session, pair, T0 + 7 * DAY, pulse=1)
    [alert] = db_session.scalars(select(Alert)).all()
    assert alert.kind is AlertKind.LOW_SAFETY
    assert alert.person_id == pair.mentor.id
    assert alert.recipients == [world.coordinator.id]
    assert alert.raised_at == T0 + 8 * DAY
    assert alert.details == {
        "tandem_id": pair.tandem.id,
        "session_id": fb.session_id,
        "session_on": (T0 + 7 * DAY).date().isoformat(),
    }
    assert "talked over" not in repr(alert.details)
    assert "pulse" not in repr(alert.details)


def test_low_safety_once_per_feedback(db_session: Session, pair: Any) -> None:
    fb = low_pulse(db_session, pair, T0 + 7 * DAY)
    assert alerts.check_low_safety(db_session, fb, now=T0 + 9 * DAY) is None
    low_pulse(db_session, pair, T0 + 14 * DAY)
    assert count(db_session) == 2


def test_no_safety_alert_for_a_tandem_that_ended(db_session: Session, pair: Any) -> None:
    row = held(db_session, pair, T0 + 7 * DAY)
    pair.tandem.status = TandemStatus.COMPLETED
    sessions.give_feedback(
        db_session, pair.mentor_actor, row.id, rating=1, safety_pulse=1, now=T0 + 8 * DAY
    )
    assert count(db_session) == 0


def test_a_coordinator_in_the_tandem_is_not_told(
    db_session: Session, world: Any, make_pair: Any, make_person: Any
) -> None:
    second = make_person(world.org)
    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id, program_id=world.program.id, person_id=second.id, added_by="t"
        )
    )
    pair = make_pair(mentee=world.coordinator)
    low_pulse(db_session, pair, T0 + 7 * DAY)
    [alert] = db_session.scalars(select(Alert)).all()
    assert alert.recipients == [second.id]
    assert alerts.list_alerts(db_session, world.coordinator_actor) == []
    assert alerts.list_alerts(db_session, Actor.coordinator(world.org.id, second.id)) == [alert]
    with pytest.raises(PermissionDenied, match="of which you are a member"):
        alerts.handle_alert(db_session, world.coordinator_actor, alert.id, status="resolved")


# --------------------------------------------------------------------------- reading


def test_list_alerts_for_coordinators_and_admins(
    db_session: Session, world: Any, pair: Any
) -> None:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    [stalled] = alerts.scan_program(db_session, world.program.id, now=T0 + 60 * DAY)
    for actor in (world.coordinator_actor, world.admin):
        listed = alerts.list_alerts(db_session, actor, program_id=world.program.id)
        assert [a.kind for a in listed] == [AlertKind.STALLED, AlertKind.LOW_SAFETY]
        assert alerts.list_alerts(db_session, actor) == listed
    assert stalled in listed


def test_list_alerts_by_status(db_session: Session, world: Any, pair: Any) -> None:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    [stalled] = alerts.scan_program(db_session, world.program.id, now=T0 + 60 * DAY)
    alerts.handle_alert(db_session, world.admin, stalled.id, status="acknowledged", now=T0)
    actor = world.coordinator_actor
    assert [a.kind for a in alerts.list_alerts(db_session, actor)] == [AlertKind.LOW_SAFETY]
    assert alerts.list_alerts(db_session, actor, status="acknowledged") == [stalled]
    assert alerts.list_alerts(db_session, actor, status="resolved") == []
    assert len(alerts.list_alerts(db_session, actor, status="all")) == 2
    assert len(alerts.list_alerts(db_session, actor, status=None)) == 2


def test_list_alerts_bad_status(db_session: Session, world: Any) -> None:
    with pytest.raises(ValidationError, match="unknown alert status 'closed'"):
        alerts.list_alerts(db_session, world.admin, status="closed")


def test_participants_see_no_alerts(db_session: Session, world: Any, pair: Any) -> None:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    for actor in (pair.mentor_actor, pair.mentee_actor, world.outsider_actor):
        with pytest.raises(PermissionDenied, match="coordinators"):
            alerts.list_alerts(db_session, actor)
        with pytest.raises(PermissionDenied):
            alerts.list_alerts(db_session, actor, program_id=world.program.id)


def test_a_coordinator_of_another_program_sees_nothing(
    db_session: Session, world: Any, pair: Any, make_program: Any, make_person: Any
) -> None:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    other = make_program(world.org, name="Other")
    boss = make_person(world.org)
    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id, program_id=other.id, person_id=boss.id, added_by="t"
        )
    )
    db_session.flush()
    actor = Actor.coordinator(world.org.id, boss.id)
    assert alerts.list_alerts(db_session, actor) == []
    with pytest.raises(PermissionDenied, match=f"program {world.program.id}"):
        alerts.list_alerts(db_session, actor, program_id=world.program.id)


def test_alerts_of_another_organization_are_not_found(
    db_session: Session, world: Any, pair: Any
) -> None:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    [alert] = db_session.scalars(select(Alert)).all()
    other = organizations.create_organization(db_session, slug="other", name="O", actor="t")
    stranger = Actor.admin(other.id, "cli:other")
    assert alerts.list_alerts(db_session, stranger) == []
    with pytest.raises(NotFound, match=f"program {world.program.id} not found"):
        alerts.list_alerts(db_session, stranger, program_id=world.program.id)
    with pytest.raises(NotFound, match=f"alert {alert.id} not found"):
        alerts.handle_alert(db_session, stranger, alert.id, status="resolved")


# --------------------------------------------------------------------------- handling


@pytest.fixture
def alert(db_session: Session, pair: Any) -> Alert:
    low_pulse(db_session, pair, T0 + 7 * DAY)
    return db_session.scalars(select(Alert)).one()


def audits(db: Session) -> list[tuple[str, str | None, dict[str, Any]]]:
    rows = db.scalars(
        select(AuditEvent).where(AuditEvent.action.like("alert.%")).order_by(AuditEvent.id)
    )
    return [(e.action, e.actor, e.details) for e in rows]


def test_acknowledge_then_resolve(db_session: Session, world: Any, alert: Alert) -> None:
    now = T0 + 9 * DAY
    alerts.handle_alert(
        db_session, world.coordinator_actor, alert.id, status="acknowledged", note="Called", now=now
    )
    assert alert.status is AlertStatus.ACKNOWLEDGED
    assert alert.handled_by == world.coordinator_actor.label
    assert alert.handled_at == now
    assert alert.note == "Called"
    alerts.handle_alert(db_session, world.admin, alert.id, status="resolved", now=now + DAY)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.handled_by == "cli:test"
    assert alert.note == "Called"  # kept when no new note is given
    expected = {
        "program_id": world.program.id,
        "tandem_id": alert.tandem_id,
        "kind": "low_safety",
    }
    assert audits(db_session) == [
        (
            "alert.acknowledged",
            world.coordinator_actor.label,
            {**expected, "from": "open", "to": "acknowledged"},
        ),
        ("alert.resolved", "cli:test", {**expected, "from": "acknowledged", "to": "resolved"}),
    ]


def test_resolve_an_open_alert(db_session: Session, world: Any, alert: Alert) -> None:
    alerts.handle_alert(db_session, world.coordinator_actor, alert.id, status="resolved", now=T0)
    assert alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("resolved", "acknowledged", "is resolved; it cannot become acknowledged"),
        ("resolved", "resolved", "is resolved; it cannot become resolved"),
        ("acknowledged", "acknowledged", "is acknowledged; it cannot become acknowledged"),
    ],
)
def test_invalid_alert_transitions(
    db_session: Session, world: Any, alert: Alert, first: str, second: str, message: str
) -> None:
    alerts.handle_alert(db_session, world.admin, alert.id, status=first, note="first", now=T0)
    before = (alert.status, alert.handled_at, alert.note, len(audits(db_session)))
    with pytest.raises(ConflictError, match=message):
        alerts.handle_alert(
            db_session, world.admin, alert.id, status=second, note="again", now=T0 + DAY
        )
    assert (alert.status, alert.handled_at, alert.note, len(audits(db_session))) == before


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"status": "open"}, "choose acknowledged or resolved"),
        ({"status": "closed"}, "choose acknowledged or resolved"),
        ({"status": "resolved", "note": "n" * 2001}, "at most 2000"),
    ],
)
def test_handle_alert_bad_input(
    db_session: Session, world: Any, alert: Alert, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        alerts.handle_alert(db_session, world.admin, alert.id, now=T0, **kw)
    assert alert.status is AlertStatus.OPEN
    assert audits(db_session) == []


def test_participants_cannot_handle_alerts(db_session: Session, pair: Any, alert: Alert) -> None:
    with pytest.raises(PermissionDenied):
        alerts.handle_alert(db_session, pair.mentor_actor, alert.id, status="resolved")
    assert alert.status is AlertStatus.OPEN


def test_handle_unknown_alert(db_session: Session, world: Any) -> None:
    with pytest.raises(NotFound, match="alert 4242 not found"):
        alerts.handle_alert(db_session, world.admin, 4242, status="resolved")


# --------------------------------------------------------------------------- messages


def test_messages_in_english_and_german(db_session: Session, world: Any, pair: Any) -> None:
    t = pair.tandem.id
    low_pulse(db_session, pair, datetime(2026, 4, 2, 10, tzinfo=UTC))
    [stalled] = alerts.scan_program(
        db_session, world.program.id, now=datetime(2026, 5, 24, 10, tzinfo=UTC)
    )
    cancel(db_session, pair, datetime(2026, 5, 25, 10, tzinfo=UTC))
    cancel(db_session, pair, datetime(2026, 6, 1, 10, tzinfo=UTC))
    by_kind = {a.kind: a for a in db_session.scalars(select(Alert))}
    assert alerts.alert_message(stalled) == (
        f"Tandem {t} has held no session for 52 days (cadence 30 days)."
    )
    assert alerts.alert_message(stalled, "de") == (
        f"Tandem {t} hat seit 52 Tagen keine Sitzung abgehalten (Rhythmus: 30 Tage)."
    )
    cancelling = by_kind[AlertKind.SENIOR_CANCELLATIONS]
    assert alerts.alert_message(cancelling) == (
        f"The senior in tandem {t} cancelled 2 sessions in a row "
        "(the last one planned for 2026-06-01)."
    )
    assert "01.06.2026" in alerts.alert_message(cancelling, "de")
    unsafe = by_kind[AlertKind.LOW_SAFETY]
    assert alerts.alert_message(unsafe) == (
        f"The junior in tandem {t} reported low psychological safety after the session on "
        "2026-04-02."
    )
    assert alerts.alert_message(unsafe, "de") == (
        f"In Tandem {t} hat die Junior-Seite nach der Sitzung vom 02.04.2026 eine geringe "
        "psychologische Sicherheit gemeldet."
    )


def test_message_for_a_tandem_that_never_met(db_session: Session, world: Any, pair: Any) -> None:
    [alert] = alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    assert "since it started" in alerts.alert_message(alert)
    assert "seit dem Start" in alerts.alert_message(alert, "de")


def test_message_in_an_unknown_language(db_session: Session, world: Any, pair: Any) -> None:
    [alert] = alerts.scan_program(db_session, world.program.id, now=STALL + DAY)
    with pytest.raises(ValidationError, match="choose en or de"):
        alerts.alert_message(alert, "fr")


def test_closed_program_raises_no_stall(db_session: Session, world: Any, pair: Any) -> None:
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    assert alerts.scan_program(db_session, world.program.id, now=STALL + DAY) == []


# --------------------------------------------------------------------------- concurrency


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TANDEM_TEST_DATABASE_URL (PostgreSQL)")
def test_two_concurrent_scans_raise_one_alert(engine: Engine) -> None:
    try:
        with Session(engine) as s:
            org = organizations.create_organization(s, slug="conc", name="C", actor="t")
            program = programs.create_program(
                s,
                org=org,
                name="RM",
                format="one_to_one",
                starts_on=date(2026, 3, 1),
                ends_on=date(2026, 9, 1),
                actor="t",
            )
            programs.set_program_status(s, program, "enrolling", actor="t")
            tandem = Tandem(
                org_id=org.id,
                program_id=program.id,
                status=TandemStatus.ACTIVE,
                activated_at=T0,
                status_changed_at=T0,
            )
            for role, level in ((EnrollmentRole.MENTOR, 2), (EnrollmentRole.MENTEE, 9)):
                person = Person(
                    org_id=org.id,
                    given_name="P",
                    family_name="Q",
                    job_level=level,
                    languages=["en"],
                )
                s.add(person)
                s.flush()
                e = enrollments.enroll(
                    s, program=program, person=person, role=role, consent=True, actor="t"
                )
                tandem.members.append(
                    TandemMember(org_id=org.id, enrollment_id=e.id, person_id=person.id, role=role)
                )
            s.add(tandem)
            for step in ("matching", "running"):
                programs.set_program_status(s, program, step, actor="t")
            s.commit()
            program_id = program.id

        first = Session(engine)
        assert len(alerts.scan_program(first, program_id, now=STALL + DAY)) == 1  # not committed
        raised: dict[str, Any] = {}

        def second_worker() -> None:
            with Session(engine) as other:
                # Does not see the first worker's row yet; its insert waits on the unique key.
                raised["alerts"] = alerts.scan_program(other, program_id, now=STALL + DAY)
                other.commit()

        thread = threading.Thread(target=second_worker)
        thread.start()
        time.sleep(0.5)
        first.commit()
        first.close()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert raised["alerts"] == []
        with Session(engine) as check:
            assert check.scalar(select(func.count()).select_from(Alert)) == 1
    finally:
        wipe(engine)

"""Progress messages: one per new count of held sessions, to targets that accept progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import EnrollmentStatus, OutboxMessage, Skill
from plugin.services import completions, writeback
from tests.plugin.tracking.conftest import T0
from tests.plugin.tracking.test_completions import POST, assess, hold, set_rule

LATER = T0 + timedelta(days=40)


def messages(session: Session, kind: str = "progress") -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


@pytest.fixture
def gradebook(db_session: Session, world: Any) -> None:
    """An AGS-like target taking completion and progress, and a journal with the defaults."""
    writeback.add_target(
        db_session,
        org_id=world.org.id,
        name="lms-1",
        sink="journal",
        kinds=["completion", "progress"],
        actor="t",
    )
    writeback.add_target(db_session, org_id=world.org.id, name="journal", sink="journal", actor="t")


@pytest.mark.usefixtures("gradebook")
def test_held_sessions_write_one_progress_message_per_count(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=6, min_minutes=45, require_post_assessment=False)
    enrollment = pair.mentee_enrollment
    assert completions.evaluate_enrollment(db_session, enrollment.id, now=T0).met is False
    assert messages(db_session) == []  # nothing held yet

    hold(db_session, pair, 60, 30)  # the short one does not count
    completions.evaluate_enrollment(db_session, enrollment.id, now=LATER)
    completions.evaluate_enrollment(db_session, enrollment.id, now=LATER + timedelta(days=1))
    (first,) = messages(db_session)
    program = world.program.id
    assert first.idempotency_key == f"progress:p{program}:e{enrollment.id}:h1:lms-1"
    assert first.target == "lms-1"
    assert first.payload == {
        "enrollment_id": enrollment.id,
        "person_id": pair.mentee.id,
        "program_id": program,
        "held_sessions": 1,
        "target_sessions": 6,
        "percent": 16,
        "at": LATER.isoformat(),
    }
    assert first.created_at == LATER


@pytest.mark.usefixtures("gradebook")
def test_progress_stops_at_99_and_completion_takes_over(
    db_session: Session, world: Any, pair: Any, skills: list[Skill]
) -> None:
    set_rule(db_session, world, min_sessions=2, min_minutes=30, require_post_assessment=True)
    enrollment = pair.mentee_enrollment
    hold(db_session, pair, 60, 60, 60)
    status = completions.evaluate_enrollment(db_session, enrollment.id, now=LATER)
    assert status.missing == ["the post-assessment"]
    (progress,) = messages(db_session)
    assert (progress.payload["held_sessions"], progress.payload["percent"]) == (3, 99)

    done = LATER + timedelta(days=3)
    assess(db_session, pair.mentee_actor, world.program.id, "post", POST, done)
    assert completions.evaluate_enrollment(db_session, enrollment.id, now=done).met is True
    (completion,) = [m for m in messages(db_session, "completion") if m.target == "lms-1"]
    assert completion.payload["completed_at"] == done.isoformat()  # the stable event time
    assert len(messages(db_session)) == 1  # no more progress once complete


def test_targets_without_progress_get_none(db_session: Session, world: Any, pair: Any) -> None:
    writeback.add_target(db_session, org_id=world.org.id, name="journal", sink="journal", actor="t")
    hold(db_session, pair, 60, 60)
    counts = completions.evaluate_program(db_session, world.admin, world.program.id, now=LATER)
    assert counts["not_met"] == 2
    assert counts["messages_written"] == 0
    assert messages(db_session) == []


@pytest.mark.usefixtures("gradebook")
def test_program_evaluation_counts_progress_messages(
    db_session: Session, world: Any, pair: Any
) -> None:
    hold(db_session, pair, 60, 60)
    counts = completions.evaluate_program(db_session, world.admin, world.program.id, now=LATER)
    assert counts["messages_written"] == 2  # mentor and mentee, 2 sessions each
    assert {m.payload["person_id"] for m in messages(db_session)} == {
        pair.mentor.id,
        pair.mentee.id,
    }


@pytest.mark.usefixtures("gradebook")
def test_a_withdrawn_enrollment_gets_no_progress(
    db_session: Session, world: Any, pair: Any
) -> None:
    hold(db_session, pair, 60)
    pair.mentee_enrollment.status = EnrollmentStatus.WITHDRAWN
    pair.mentee_enrollment.withdrawn_at = LATER
    db_session.flush()
    completions.evaluate_enrollment(db_session, pair.mentee_enrollment.id, now=LATER)
    assert messages(db_session) == []

"""Every message the completion service writes names its program (``program_id``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import OutboxMessage, Skill
from plugin.services import completions, outbox, writeback
from tests.plugin.tracking.conftest import T0
from tests.plugin.tracking.test_completions import POST, PRE, assess, hold, set_rule

END = T0 + timedelta(days=175)


def test_progress_completion_hours_and_skill_gain_name_the_program(
    db_session: Session, world: Any, pair: Any, skills: list[Skill]
) -> None:
    writeback.add_target(
        db_session,
        org_id=world.org.id,
        name="lms",
        sink="journal",
        kinds=["completion", "hours", "skill_gain", "progress"],
        actor="t",
    )
    set_rule(db_session, world, min_sessions=2, min_minutes=30, require_post_assessment=True)
    hold(db_session, pair, 60, 60)
    assess(db_session, pair.mentee_actor, world.program.id, "pre", PRE, T0)
    completions.evaluate_enrollment(db_session, pair.mentee_enrollment.id, now=END)
    assess(db_session, pair.mentee_actor, world.program.id, "post", POST, END)

    written = list(db_session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert sorted({m.kind for m in written}) == ["completion", "hours", "progress", "skill_gain"]
    assert {m.program_id for m in written} == {world.program.id}
    listed = outbox.list_program_messages(
        db_session, world.coordinator_actor, program_id=world.program.id
    )
    assert [m.id for m in listed] == [m.id for m in reversed(written)]

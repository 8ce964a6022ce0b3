from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, TrackingError
from plugin.models import (
    Assessment,
    AuditEvent,
    Completion,
    MentoringSession,
    OutboxMessage,
    PersonIdentity,
    SessionStatus,
    Skill,
    SkillIdentity,
    TandemStatus,
)
from plugin.services import assessments, completions, enrollments, programs, writeback
from tests.plugin.tracking.conftest import T0

END = T0 + timedelta(days=175)
PRE = {"AI": 2, "DEI": 3, "SOCIAL": 1}
POST = {"AI": 4, "DEI": 3, "SOCIAL": 2}


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def hold(session: Session, pair: Any, *minutes: int, status: str = "held") -> None:
    """Add sessions of ``pair``'s tandem, one every 25 days from T0."""
    for i, m in enumerate(minutes):
        when = T0 + timedelta(days=25 * i + 1)
        session.add(
            MentoringSession(
                org_id=pair.tandem.org_id,
                tandem_id=pair.tandem.id,
                status=SessionStatus(status),
                scheduled_at=when,
                held_at=when if status == "held" else None,
                minutes=m,
            )
        )
    session.flush()


def set_rule(session: Session, world: Any, **values: Any) -> None:
    programs.update_program(session, world.program, actor="t", changes={"completion_rule": values})


def keys(session: Session) -> list[str]:
    return sorted(session.scalars(select(OutboxMessage.idempotency_key)))


def assess(
    session: Session, actor: Actor, program_id: int, kind: str, answers: Any, at: datetime
) -> Assessment:
    return assessments.submit_assessment(
        session, actor, program_id, kind=kind, answers=answers, now=at
    )


@pytest.fixture
def targets(db_session: Session, world: Any) -> None:
    """Two targets: the LMS takes everything, the HRIS only completions."""
    writeback.add_target(db_session, org_id=world.org.id, name="lms", sink="journal", actor="t")
    writeback.add_target(
        db_session,
        org_id=world.org.id,
        name="hris",
        sink="journal",
        kinds=["completion"],
        actor="t",
    )


@pytest.fixture
def done_pair(db_session: Session, world: Any, pair: Any, skills: list[Skill]) -> Any:
    """A pair with six 60-minute sessions held and the mentee's pre-assessment."""
    hold(db_session, pair, 60, 60, 60, 60, 60, 60)
    assess(db_session, pair.mentee_actor, world.program.id, "pre", PRE, T0)
    return pair


# --------------------------------------------------------------------------- the rule


def test_fewer_sessions_than_the_rule_are_not_enough(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=6, min_minutes=45, require_post_assessment=False)
    hold(db_session, pair, 60, 60, 60, 60)
    status = completions.completion_status(db_session, pair.mentor_enrollment.id)
    assert status.met is False
    assert (status.sessions_held, status.sessions_needed, status.minutes) == (4, 6, 240)
    assert status.missing == ["2 more sessions of at least 45 minutes"]
    assert status.completion is None


def test_short_sessions_do_not_count_but_their_minutes_do(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=3, min_minutes=45, require_post_assessment=False)
    hold(db_session, pair, 60, 30, 45, 20)
    status = completions.completion_status(db_session, pair.mentor_enrollment.id)
    assert status.sessions_held == 2
    assert status.minutes == 155
    assert status.hours == 2.58
    assert status.missing == ["1 more session of at least 45 minutes"]


def test_planned_and_cancelled_sessions_do_not_count(
    db_session: Session, world: Any, pair: Any
) -> None:
    hold(db_session, pair, 60, 60, status="planned")
    hold(db_session, pair, 60, status="cancelled")
    status = completions.completion_status(db_session, pair.mentor_enrollment.id)
    assert (status.sessions_held, status.minutes) == (0, 0)


def test_sessions_of_a_tandem_never_activated_do_not_count(
    db_session: Session, world: Any, make_pair: Any
) -> None:
    p = make_pair("accepted")
    set_rule(db_session, world, min_sessions=1, require_post_assessment=False)
    hold(db_session, p, 60)
    status = completions.completion_status(db_session, p.mentor_enrollment.id)
    assert (status.sessions_held, status.minutes, status.met) == (0, 0, False)


def test_sessions_of_a_dissolved_active_tandem_count(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=2, require_post_assessment=False)
    hold(db_session, pair, 60, 60)
    pair.tandem.status = TandemStatus.DISSOLVED
    db_session.flush()
    assert completions.completion_status(db_session, pair.mentor_enrollment.id).met is True


def test_the_post_assessment_is_missing_when_required(
    db_session: Session, world: Any, pair: Any
) -> None:
    hold(db_session, pair, 60, 60, 60, 60, 60, 60)
    status = completions.evaluate_enrollment(db_session, pair.mentor_enrollment.id, now=END)
    assert status.met is False
    assert status.post_assessment is False
    assert status.missing == ["the post-assessment"]
    assert count(db_session, Completion) == 0


def test_without_the_post_requirement_sessions_suffice(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=6, min_minutes=30, require_post_assessment=False)
    hold(db_session, pair, 60, 60, 60, 60, 60, 60)
    status = completions.evaluate_enrollment(db_session, pair.mentor_enrollment.id, now=END)
    assert status.met is True
    assert status.completion is not None
    assert status.missing == []


def test_unknown_enrollment_is_not_found(db_session: Session, world: Any) -> None:
    with pytest.raises(NotFound, match="enrollment 999999 not found"):
        completions.completion_status(db_session, 999_999)


# --------------------------------------------------------------------------- completing


def test_completion_is_recorded_with_hours_and_rule(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    hold(db_session, done_pair, 20)  # short: hours, not a session that counts
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    completion = db_session.scalars(select(Completion)).one()
    assert completion.enrollment_id == done_pair.mentee_enrollment.id
    assert completion.program_id == world.program.id
    assert completion.completed_at == END
    assert (completion.sessions_held, completion.minutes) == (6, 380)
    assert completion.rule == {
        "min_sessions": 6,
        "min_minutes": 30,
        "require_post_assessment": True,
    }
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "completion.recorded")
    ).one()
    assert event.created_at == END
    assert event.details["enrollment_id"] == done_pair.mentee_enrollment.id


def test_messages_go_to_each_target_that_accepts_them(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    post = assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    base = f"p{world.program.id}:e{done_pair.mentee_enrollment.id}"
    assert keys(db_session) == sorted(
        [
            f"completion:{base}:lms",
            f"completion:{base}:hris",
            f"hours:{base}:m360:lms",
            f"skill_gain:{base}:a{post.id}:lms",
        ]
    )
    for message in db_session.scalars(select(OutboxMessage)):
        assert message.status.value == "pending"
        assert message.created_at == END
        assert message.next_attempt_at == END


def test_a_paused_target_gets_nothing(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    hris = writeback.get_target(db_session, org_id=world.org.id, name="hris")
    writeback.set_target_active(db_session, hris, active=False, actor="t")
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    assert {m.target for m in db_session.scalars(select(OutboxMessage))} == {"lms"}


def test_no_targets_no_messages(db_session: Session, world: Any, done_pair: Any) -> None:
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    assert count(db_session, Completion) == 1
    assert count(db_session, OutboxMessage) == 0


def test_no_skill_gain_without_a_pre(
    db_session: Session, world: Any, pair: Any, skills: list[Skill], targets: None
) -> None:
    hold(db_session, pair, 60, 60, 60, 60, 60, 60)
    assess(db_session, pair.mentor_actor, world.program.id, "post", POST, END)
    assert count(db_session, Completion) == 1
    assert not [k for k in keys(db_session) if k.startswith("skill_gain")]


def test_re_evaluation_writes_nothing(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    before = (keys(db_session), count(db_session, AuditEvent))
    completion = db_session.scalars(select(Completion)).one()
    stamp = completion.updated_at
    for day in range(1, 4):
        status = completions.evaluate_enrollment(
            db_session, done_pair.mentee_enrollment.id, now=END + timedelta(days=day)
        )
        assert status.completion is completion
    assert (keys(db_session), count(db_session, AuditEvent)) == before
    assert count(db_session, Completion) == 1
    db_session.refresh(completion)
    assert completion.updated_at == stamp
    assert completion.completed_at == END


def test_more_minutes_update_the_completion_and_send_new_hours(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    hold(db_session, done_pair, 45)
    later = END + timedelta(days=3)
    completions.evaluate_enrollment(db_session, done_pair.mentee_enrollment.id, now=later)
    completions.evaluate_enrollment(db_session, done_pair.mentee_enrollment.id, now=later)
    completion = db_session.scalars(select(Completion)).one()
    assert (completion.minutes, completion.sessions_held) == (405, 7)
    assert completion.completed_at == END
    assert completion.updated_at == later
    base = f"p{world.program.id}:e{done_pair.mentee_enrollment.id}"
    hours = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "hours").order_by(OutboxMessage.id)
    ).all()
    assert [m.idempotency_key for m in hours] == [
        f"hours:{base}:m360:lms",
        f"hours:{base}:m405:lms",
    ]
    assert hours[1].payload["minutes"] == 405
    assert hours[1].payload["hours"] == 6.75
    assert hours[1].payload["sessions_held"] == 7
    assert hours[1].created_at == later
    assert count(db_session, OutboxMessage) == 5  # nothing else was re-sent
    audit_actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("completion.%"))
    ).all()
    assert sorted(audit_actions) == ["completion.hours_updated", "completion.recorded"]


def test_a_post_after_completion_sends_its_skill_gain(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    set_rule(db_session, world, require_post_assessment=False)
    completions.evaluate_enrollment(db_session, done_pair.mentee_enrollment.id, now=END)
    assert count(db_session, OutboxMessage) == 3  # completion × 2, hours × 1
    later = END + timedelta(days=5)
    post = assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, later)
    gain = db_session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "skill_gain")).one()
    assert gain.idempotency_key.endswith(f":a{post.id}:lms")
    assert gain.created_at == later
    assert count(db_session, Completion) == 1


def test_a_follow_up_sends_its_own_skill_gain(
    db_session: Session, world: Any, done_pair: Any, targets: None
) -> None:
    post = assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    programs.set_program_status(db_session, world.program, "closed", actor="t")
    later = END + timedelta(days=90)
    follow = assess(
        db_session,
        done_pair.mentee_actor,
        world.program.id,
        "follow_up",
        {"AI": 5, "DEI": 2, "SOCIAL": 1},
        later,
    )
    gains = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "skill_gain").order_by(OutboxMessage.id)
    ).all()
    assert [g.idempotency_key.split(":")[3] for g in gains] == [f"a{post.id}", f"f{follow.id}"]
    payload = gains[1].payload
    assert payload["kind"] == "follow_up"
    assert payload["assessment_id"] == follow.id
    assert [(g["skill"], g["pre"], g["post"], g["gain"]) for g in payload["gains"]] == [
        ("AI", 2, 5, 3),
        ("DEI", 3, 2, -1),
        ("SOCIAL", 1, 1, 0),
    ]


def test_a_target_added_later_receives_the_current_state(
    db_session: Session, world: Any, done_pair: Any
) -> None:
    assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    assert count(db_session, OutboxMessage) == 0
    writeback.add_target(
        db_session, org_id=world.org.id, name="lms", sink="journal", kinds=["hours"], actor="t"
    )
    completions.evaluate_enrollment(db_session, done_pair.mentee_enrollment.id, now=END)
    assert keys(db_session) == [
        f"hours:p{world.program.id}:e{done_pair.mentee_enrollment.id}:m360:lms"
    ]


# --------------------------------------------------------------------------- payloads


def test_payloads_are_complete(
    db_session: Session, world: Any, done_pair: Any, skills: list[Skill], targets: None
) -> None:
    mentee = done_pair.mentee
    db_session.add_all(
        [
            PersonIdentity(
                org_id=world.org.id, person_id=mentee.id, source="workday:main", external_id="W-9"
            ),
            PersonIdentity(
                org_id=world.org.id, person_id=mentee.id, source="lti:1", external_id="sub-9"
            ),
            SkillIdentity(
                org_id=world.org.id,
                skill_id=next(s.id for s in skills if s.code == "AI"),
                source="moodle:lms",
                external_id="17",
            ),
        ]
    )
    db_session.flush()
    post = assess(db_session, done_pair.mentee_actor, world.program.id, "post", POST, END)
    by_kind = {
        m.kind: m.payload
        for m in db_session.scalars(select(OutboxMessage).where(OutboxMessage.target == "lms"))
    }
    base = {
        "program": {
            "id": world.program.id,
            "name": "Reverse Mentoring 2026",
            "starts_on": "2026-03-01",
            "ends_on": "2026-09-01",
        },
        "enrollment_id": done_pair.mentee_enrollment.id,
        "role": "mentee",
        "person": {
            "id": mentee.id,
            "email": mentee.email,
            "identities": {"workday:main": "W-9", "lti:1": "sub-9"},
        },
    }
    assert by_kind["completion"] == {
        **base,
        "completed_at": END.isoformat(),
        "sessions_held": 6,
        "minutes": 360,
        "rule": {"min_sessions": 6, "min_minutes": 30, "require_post_assessment": True},
    }
    assert by_kind["hours"] == {**base, "minutes": 360, "hours": 6.0, "sessions_held": 6}
    pre_id = db_session.scalars(
        select(Assessment.id).where(
            Assessment.enrollment_id == done_pair.mentee_enrollment.id, Assessment.kind == "pre"
        )
    ).one()
    assert by_kind["skill_gain"] == {
        **base,
        "assessment_id": post.id,
        "kind": "post",
        "pre_assessment_id": pre_id,
        "assessed_at": END.isoformat(),
        "gains": [
            {
                "skill": "AI",
                "name": "AI tools",
                "pre": 2,
                "post": 4,
                "gain": 2,
                "identities": {"moodle:lms": "17"},
            },
            {"skill": "DEI", "name": "Diversity", "pre": 3, "post": 3, "gain": 0, "identities": {}},
            {
                "skill": "SOCIAL",
                "name": "Social media",
                "pre": 1,
                "post": 2,
                "gain": 1,
                "identities": {},
            },
        ],
    }


# --------------------------------------------------------------------------- withdrawn


def test_a_withdrawn_enrollment_is_not_completed(
    db_session: Session, world: Any, pair: Any, targets: None
) -> None:
    set_rule(db_session, world, min_sessions=2, require_post_assessment=False)
    hold(db_session, pair, 60, 60)
    enrollments.withdraw(db_session, pair.mentor_enrollment, actor="t", now=T0)
    status = completions.evaluate_enrollment(db_session, pair.mentor_enrollment.id, now=END)
    assert status.met is False
    assert status.withdrawn is True
    assert status.missing == ["an active enrollment (withdrawn on 2026-03-02)"]
    assert count(db_session, Completion) == 0
    assert count(db_session, OutboxMessage) == 0


def test_a_withdrawn_enrollment_keeps_its_completion(
    db_session: Session, world: Any, pair: Any, targets: None
) -> None:
    set_rule(db_session, world, min_sessions=2, require_post_assessment=False)
    hold(db_session, pair, 60, 60)
    completions.evaluate_enrollment(db_session, pair.mentor_enrollment.id, now=END)
    written = keys(db_session)
    enrollments.withdraw(db_session, pair.mentor_enrollment, actor="t", now=END)
    hold(db_session, pair, 90)
    status = completions.evaluate_enrollment(
        db_session, pair.mentor_enrollment.id, now=END + timedelta(days=1)
    )
    assert status.met is True
    completion = db_session.scalars(select(Completion)).one()
    assert completion.minutes == 120
    assert keys(db_session) == written


# --------------------------------------------------------------------------- program


def test_evaluate_program_counts_and_audits(
    db_session: Session, world: Any, make_pair: Any, targets: None
) -> None:
    set_rule(db_session, world, min_sessions=2, require_post_assessment=False)
    a, b, c = make_pair(), make_pair(), make_pair()
    hold(db_session, a, 60, 60)
    hold(db_session, b, 60)
    hold(db_session, c, 60, 60)
    completions.evaluate_enrollment(db_session, c.mentor_enrollment.id, now=T0)
    enrollments.withdraw(db_session, c.mentee_enrollment, actor="t", now=T0)
    seen: list[tuple[str, int, int]] = []
    counts = completions.evaluate_program(
        db_session,
        world.coordinator_actor,
        world.program.id,
        now=END,
        progress=lambda *args: seen.append(args),
    )
    assert counts == {
        "evaluated": 5,
        "completed_now": 2,
        "already_completed": 1,
        "not_met": 2,
        "withdrawn": 1,
        "messages_written": 6,
    }
    assert seen[0] == ("completions", 0, 5)
    assert seen[-1] == ("completions", 5, 5)
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "completions.evaluated")
    ).one()
    assert event.actor == f"person:{world.coordinator.id}"
    assert event.details == counts
    assert event.object_id == str(world.program.id)
    again = completions.evaluate_program(db_session, world.admin, world.program.id, now=END)
    assert again["completed_now"] == 0
    assert again["messages_written"] == 0
    assert again["already_completed"] == 3


def test_a_participant_cannot_evaluate_a_program(
    db_session: Session, world: Any, pair: Any
) -> None:
    set_rule(db_session, world, min_sessions=1, require_post_assessment=False)
    hold(db_session, pair, 60)
    with pytest.raises(PermissionDenied, match=f"only a coordinator of program {world.program.id}"):
        completions.evaluate_program(db_session, pair.mentor_actor, world.program.id, now=END)
    assert count(db_session, Completion) == 0


def test_a_coordinator_of_another_program_cannot_evaluate(
    db_session: Session, world: Any, pair: Any, make_person: Any
) -> None:
    other = make_person(world.org)
    with pytest.raises(PermissionDenied):
        completions.evaluate_program(
            db_session, Actor.coordinator(world.org.id, other.id), world.program.id
        )


def test_a_program_not_running_is_not_evaluated(db_session: Session, world: Any) -> None:
    with pytest.raises(
        TrackingError, match=r"while the program runs or after it closed; .* enrolling"
    ):
        completions.evaluate_program(db_session, world.admin, world.program.id)


def test_a_program_of_another_org_is_not_found(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(NotFound):
        completions.evaluate_program(
            db_session, Actor.admin(world.org.id + 1000, "x"), world.program.id
        )


def test_coordinators_list_completions(db_session: Session, world: Any, pair: Any) -> None:
    set_rule(db_session, world, min_sessions=1, require_post_assessment=False)
    hold(db_session, pair, 60)
    completions.evaluate_program(db_session, world.admin, world.program.id, now=END)
    rows = completions.list_completions(db_session, world.coordinator_actor, world.program.id)
    assert {r.enrollment_id for r in rows} == {
        pair.mentor_enrollment.id,
        pair.mentee_enrollment.id,
    }
    assert db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "completions.listed")
    ).all() == ["completions.listed"]


def test_participants_cannot_list_completions(db_session: Session, world: Any, pair: Any) -> None:
    with pytest.raises(PermissionDenied):
        completions.list_completions(db_session, pair.mentee_actor, world.program.id)


def test_a_participant_reads_only_their_own_status(
    db_session: Session, world: Any, pair: Any
) -> None:
    hold(db_session, pair, 60, 25)
    status = completions.my_completion(db_session, pair.mentee_actor, world.program.id)
    assert status.enrollment_id == pair.mentee_enrollment.id
    assert status.as_dict()["missing"] == [
        "5 more sessions of at least 30 minutes",
        "the post-assessment",
    ]
    assert status.as_dict()["minutes"] == 85
    with pytest.raises(PermissionDenied, match="not enrolled"):
        completions.my_completion(db_session, world.outsider_actor, world.program.id)


def test_a_withdrawn_participant_can_still_read_their_status(
    db_session: Session, world: Any, pair: Any
) -> None:
    enrollments.withdraw(db_session, pair.mentee_enrollment, actor="t", now=T0)
    status = completions.my_completion(db_session, pair.mentee_actor, world.program.id)
    assert status.withdrawn is True

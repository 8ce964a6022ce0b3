from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.errors import NotFound, PermissionDenied, ValidationError
from plugin.models import (
    Action,
    Alert,
    AlertKind,
    AlertStatus,
    Assessment,
    AssessmentAnswer,
    AssessmentKind,
    AuditEvent,
    Completion,
    EnrollmentRole,
    EnrollmentStatus,
    Feedback,
    Goal,
    GoalStatus,
    MentoringSession,
    Person,
    ProgramCoordinator,
    SessionStatus,
    Skill,
    SurveyAnswer,
    TandemStatus,
)
from plugin.services import enrollments, organizations
from plugin.services.report import DEFINITIONS, ROLES, build_report, report_rows
from tests.plugin.tracking.conftest import T0, Pair, World
from tests.plugin.tracking.report_oracle import recompute

AS_OF = date(2026, 9, 15)
NOW = datetime(2026, 9, 15, 17, 30, tzinfo=UTC)
HIRED = date(2020, 1, 1)
SECRET = "only-in-free-text-7f3a"
MENTOR, MENTEE = EnrollmentRole.MENTOR, EnrollmentRole.MENTEE


def audits(db: Session, action: str = "report.generated") -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    return db.scalar(stmt) or 0


def rows_by_key(report: dict[str, Any]) -> dict[tuple[str, str, Any, Any], dict[str, Any]]:
    return {(r["level"], r["metric"], r["role"], r["skill"]): r for r in report_rows(report)}


# ----------------------------------------------------------------------- builders


@dataclass
class Built:
    pairs: list[Pair] = field(default_factory=list)
    activated: list[Pair] = field(default_factory=list)


def add_session(
    db: Session,
    p: Pair,
    when: datetime,
    status: SessionStatus,
    *,
    minutes: int | None = None,
    by: EnrollmentRole | None = None,
) -> MentoringSession:
    who = None if by is None else (p.mentor if by is EnrollmentRole.MENTOR else p.mentee)
    row = MentoringSession(
        org_id=p.tandem.org_id,
        tandem_id=p.tandem.id,
        status=status,
        scheduled_at=when,
        held_at=when + timedelta(hours=1) if status is SessionStatus.HELD else None,
        planned_minutes=60,
        minutes=minutes,
        theme="New tools",
        topic=SECRET,
        cancelled_by_id=None if who is None else who.id,
        cancelled_by_role=by,
        cancel_reason=SECRET if by is not None else None,
        private_notes=SECRET,
    )
    db.add(row)
    db.flush()
    return row


def add_feedback(
    db: Session,
    session_row: MentoringSession,
    author: Person,
    role: EnrollmentRole,
    rating: int,
    pulse: int | None = None,
) -> None:
    db.add(
        Feedback(
            org_id=author.org_id,
            session_id=session_row.id,
            author_id=author.id,
            role=role,
            rating=rating,
            comment=SECRET,
            safety_pulse=pulse,
        )
    )


def add_assessment(
    db: Session, p: Pair, role: EnrollmentRole, kind: AssessmentKind, levels: dict[int, int]
) -> None:
    enrollment = p.mentor_enrollment if role is EnrollmentRole.MENTOR else p.mentee_enrollment
    row = Assessment(
        org_id=enrollment.org_id,
        program_id=enrollment.program_id,
        enrollment_id=enrollment.id,
        kind=kind,
        submitted_at=T0,
    )
    for skill_id, level in levels.items():
        row.answers.append(
            AssessmentAnswer(org_id=enrollment.org_id, skill_id=skill_id, level=level)
        )
    db.add(row)


def add_survey(db: Session, enrollment: Any, rng: random.Random) -> None:
    db.add(
        SurveyAnswer(
            org_id=enrollment.org_id,
            program_id=enrollment.program_id,
            enrollment_id=enrollment.id,
            satisfaction=rng.randint(2, 5),
            relationship_formed=rng.random() < 0.7,
            would_continue=rng.random() < 0.6,
            would_do_again=rng.random() < 0.8,
            comment=SECRET,
            submitted_at=T0,
        )
    )


def build_program(
    db: Session, world: World, make_pair: Any, make_person: Any, skills: list[Skill], *, seed: int
) -> Built:
    """A realistic program: 17 tandems in every state, six months of activity, HR data."""
    rng = random.Random(seed)
    org, program = world.org, world.program
    built = Built()

    def junior() -> Person:
        return make_person(org, job_level=rng.choice([1, 2, 2, 3]), hire_date=HIRED)

    def senior() -> Person:
        return make_person(org, job_level=9, hire_date=date(2010, 1, 1), department="Sales")

    # 11 active/completed, 2 dissolved (one after activation, no-fault), 1 accepted,
    # 2 proposed (approved / not), 1 rejected after approval
    for status in ["active"] * 8 + ["completed"] * 3:
        built.pairs.append(make_pair(status, mentor=junior(), mentee=senior()))
    no_fault = make_pair("dissolved", mentor=junior(), mentee=senior())
    no_fault.tandem.activated_at = T0 + timedelta(days=3)
    no_fault.tandem.no_fault = True
    no_fault.tandem.dissolved_reason = SECRET
    other = make_pair("dissolved", mentor=junior(), mentee=senior())
    other.tandem.dissolved_reason = SECRET
    built.pairs += [
        no_fault,
        other,
        make_pair("accepted", mentor=junior(), mentee=senior()),
        make_pair("proposed", mentor=junior(), mentee=senior()),
        make_pair("proposed", approved=False, mentor=junior(), mentee=senior()),
        make_pair("rejected", mentor=junior(), mentee=senior()),
    ]
    built.activated = [p for p in built.pairs if p.tandem.activated_at is not None]
    for p in built.activated:
        p.tandem.activated_at = p.tandem.activated_at + timedelta(hours=rng.randint(0, 200))

    # withdrawals: one junior of the dissolved tandem, one unmatched senior
    other.mentor_enrollment.status = EnrollmentStatus.WITHDRAWN
    other.mentor_enrollment.withdrawn_at = T0
    for role, person in ((EnrollmentRole.MENTOR, junior()), (EnrollmentRole.MENTEE, senior())):
        enrollments.enroll(db, program=program, person=person, role=role, consent=True, actor="t")
    lone = enrollments.enroll(
        db, program=program, person=senior(), role=EnrollmentRole.MENTEE, consent=True, actor="t"
    )
    lone.status = EnrollmentStatus.WITHDRAWN

    # sessions, feedback, goals, actions
    for i, p in enumerate(built.activated):
        start = p.tandem.activated_at or T0
        count = rng.randint(3, 9) if i else 0  # the first activated tandem never met
        held = 0
        for k in range(count):
            when = start + timedelta(days=10 + 26 * k, hours=rng.randint(0, 8))
            roll = rng.random()
            if when.date() >= AS_OF or roll < 0.12:
                status = SessionStatus.PLANNED
            elif roll < 0.3:
                status = SessionStatus.CANCELLED
            else:
                status = SessionStatus.HELD
            if status is SessionStatus.CANCELLED:
                role = rng.choice([EnrollmentRole.MENTOR, EnrollmentRole.MENTEE, None])
                add_session(db, p, when, status, by=role)
                continue
            minutes = rng.choice([20, 30, 45, 60, 90]) if status is SessionStatus.HELD else None
            row = add_session(db, p, when, status, minutes=minutes)
            if status is not SessionStatus.HELD:
                continue
            held += 1
            if rng.random() < 0.9:
                pulse = rng.choice([1, 2, 3, 4, 5, 5, None])
                add_feedback(db, row, p.mentor, EnrollmentRole.MENTOR, rng.randint(2, 5), pulse)
            if rng.random() < 0.8:
                add_feedback(db, row, p.mentee, EnrollmentRole.MENTEE, rng.randint(1, 5))
        if i % 2:
            add_session(db, p, start + timedelta(days=40), SessionStatus.CANCELLED, by=MENTEE)
        if i % 4 == 2:
            add_session(db, p, start + timedelta(days=70), SessionStatus.CANCELLED, by=MENTOR)
        if i % 3 == 0:
            add_session(db, p, datetime.combine(AS_OF, time(9), tzinfo=UTC), SessionStatus.PLANNED)
        for _ in range(rng.randint(0, 3)):
            db.add(
                Goal(
                    org_id=org.id,
                    tandem_id=p.tandem.id,
                    owner_id=p.mentee.id,
                    title=SECRET,
                    status=rng.choice(list(GoalStatus)),
                )
            )
        for _ in range(rng.randint(0, 3)):
            db.add(
                Action(
                    org_id=org.id,
                    tandem_id=p.tandem.id,
                    senior_id=p.mentee.id,
                    credited_mentor_id=p.mentor.id if rng.random() < 0.9 else None,
                    description=SECRET,
                    taken_on=AS_OF - timedelta(days=rng.randint(1, 90)),
                )
            )
        if held >= 5:
            for e in (p.mentor_enrollment, p.mentee_enrollment):
                db.add(
                    Completion(
                        org_id=org.id,
                        program_id=program.id,
                        enrollment_id=e.id,
                        completed_at=NOW,
                        sessions_held=held,
                        minutes=60 * held,
                        rule={"min_sessions": 5},
                    )
                )

    # assessments: pre for nearly everyone matched, post for most, follow-up for some
    ids = [s.id for s in skills]
    for i, p in enumerate(built.pairs[:14]):
        for role in ROLES:
            r = EnrollmentRole(role)
            pre = {s: rng.randint(1, 4) for s in ids if rng.random() < 0.9}
            add_assessment(db, p, r, AssessmentKind.PRE, pre)
            if i < 12:
                post = {s: max(1, min(5, v + rng.choice([-1, 0, 1, 1, 2]))) for s, v in pre.items()}
                post.update({s: 3 for s in ids if s not in pre and rng.random() < 0.5})
                add_assessment(db, p, r, AssessmentKind.POST, post)
            if (role == "mentee" and i < 7) or (role == "mentor" and i < 3):
                follow = {s: min(5, v + rng.choice([0, 1, 2])) for s, v in pre.items()}
                add_assessment(db, p, r, AssessmentKind.FOLLOW_UP, follow)
        if p in built.activated and i != 2:
            add_survey(db, p.mentor_enrollment, rng)
            add_survey(db, p.mentee_enrollment, rng)

    # alerts: open ones of each kind, one resolved
    kinds = [AlertKind.STALLED, AlertKind.LOW_SAFETY, AlertKind.SENIOR_CANCELLATIONS]
    for n, (kind, status) in enumerate(
        [(k, AlertStatus.OPEN) for k in kinds]
        + [(AlertKind.STALLED, AlertStatus.OPEN), (AlertKind.LOW_SAFETY, AlertStatus.RESOLVED)]
    ):
        p = built.activated[n]
        db.add(
            Alert(
                org_id=org.id,
                program_id=program.id,
                tandem_id=p.tandem.id,
                kind=kind,
                status=status,
                dedup_key=f"{kind.value}:{p.tandem.id}:{n}",
                raised_at=NOW,
            )
        )

    # HR: leavers among participants (one leaves after the as-of day) ...
    leavers = [built.activated[1].mentor, built.activated[4].mentor]
    for person in leavers:
        person.left_on = date(2026, 7, 31)
        person.active = False
    late = built.activated[6].mentor
    late.left_on = AS_OF + timedelta(days=20)
    late.active = False
    # ... and a comparison group with leavers, people outside it, an erased person
    for n in range(16):
        make_person(
            org,
            job_level=rng.choice([1, 2, 3]),
            hire_date=HIRED if n % 5 else None,
            left_on=date(2026, 5, 1) if n % 4 == 0 else None,
            active=n % 4 != 0,
        )
    make_person(org, job_level=2, hire_date=date(2026, 4, 1))  # hired after the start
    make_person(org, job_level=2, hire_date=HIRED, left_on=date(2026, 1, 31), active=False)
    make_person(org, job_level=9, hire_date=HIRED)  # outside the junior band
    make_person(org, job_level=2, hire_date=HIRED, erased_at=T0, active=False)
    make_person(org, job_level=2, hire_date=HIRED, active=False)  # left, date unknown
    db.flush()
    return built


@pytest.fixture
def other_rows(db_session: Session, world: World, make_pair: Any, make_program: Any) -> None:
    """Rows that must never count: another program of the org and another organization."""
    second = make_program(world.org, name="Another cohort")
    p = make_pair("active", program=second)
    add_session(db_session, p, T0 + timedelta(days=5), SessionStatus.HELD, minutes=60)
    stranger = organizations.create_organization(db_session, slug="zeta", name="Zeta", actor="t")
    db_session.add(
        Person(org_id=stranger.id, given_name="Z", family_name="Z", job_level=2, hire_date=HIRED)
    )
    db_session.flush()


@pytest.fixture
def big(
    db_session: Session,
    world: World,
    make_pair: Any,
    make_person: Any,
    skills: list[Skill],
    other_rows: None,
) -> Built:
    world.program.assessment_skills = [s.code for s in skills]
    return build_program(db_session, world, make_pair, make_person, skills, seed=7)


# ----------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("codes", ["configured", "catalogue", "unknown_code"])
@pytest.mark.parametrize("seed", [7, 11])
def test_report_matches_independent_recomputation(
    db_session: Session,
    world: World,
    make_pair: Any,
    make_person: Any,
    skills: list[Skill],
    other_rows: None,
    codes: str,
    seed: int,
) -> None:
    if codes == "configured":
        world.program.assessment_skills = ["DEI", "AI", "SOCIAL"]
    elif codes == "unknown_code":
        world.program.assessment_skills = ["AI", "GONE"]
    build_program(db_session, world, make_pair, make_person, skills, seed=seed)
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    expected = recompute(db_session, world.program.id, as_of=AS_OF)
    got, want = rows_by_key(report), rows_by_key(expected)
    assert set(got) == set(want)
    for key, row in got.items():
        assert row == want[key], key
    assert report["learning"]["skills"] == expected["learning"]["skills"]
    assert report["results"]["available"] is expected["results"]["available"] is True
    assert report["results"]["job_level_band"] == expected["results"]["job_level_band"]
    got_program = {k: v for k, v in report["program"].items() if k != "generated_at"}
    assert got_program == {k: v for k, v in expected["program"].items() if k != "generated_at"}


def test_realistic_report_is_non_trivial_and_consistent(
    db_session: Session, world: World, big: Built
) -> None:
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    rows = report_rows(report)
    shown = [r for r in rows if not r["suppressed"] and r["value"] is not None]
    assert len(shown) > 0.6 * len(rows)
    assert any(r["suppressed"] for r in rows)  # e.g. the juniors' follow-up (3 people)

    process = report["process"]
    total = process["tandems"]["total"]["value"]
    assert total == 17
    by_status = sum(process["tandems"][s.value]["value"] for s in TandemStatus)
    assert by_status == total
    activated = process["activation"]["activated"]["value"]
    assert activated == len(big.activated) == 12
    assert process["activation"]["approved"]["value"] == 16
    assert process["activation"]["rate"]["value"] == round(12 / 16, 4)
    sessions = process["sessions"]
    held = sessions["held"]["value"]
    assert held > 0
    assert sessions["held_per_activated_tandem"]["value"] == pytest.approx(held / 12, abs=0.005)
    assert sessions["held_hours"]["value"] == pytest.approx(
        sessions["held_minutes"]["value"] / 60, abs=0.005
    )
    cancelled = process["cancellations"]
    by_role = sum(cancelled["by_role"][r]["count"]["value"] for r in ROLES)
    assert 0 < by_role <= cancelled["count"]["value"]
    assert process["dissolved"]["no_fault"]["value"] == 1
    assert process["dissolved"]["other"]["value"] == 1
    assert process["open_alerts"] == {
        "stalled": {"value": 2, "n": 12, "suppressed": False},
        "senior_cancellations": {"value": 1, "n": 12, "suppressed": False},
        "low_safety": {"value": 1, "n": 12, "suppressed": False},
    }
    assert process["enrolled"]["mentor"]["withdrawn"]["value"] == 1
    assert process["enrolled"]["mentee"]["withdrawn"]["value"] == 1

    for item in report["learning"]["skills"]:
        for role in ROLES:
            fig = item["by_role"][role]
            assert fig["gain_mean"]["value"] == pytest.approx(
                fig["post_mean"]["value"] - fig["pre_mean"]["value"], abs=0.011
            )
    assert report["learning"]["overall"]["mentor"]["follow_up_gain_mean"]["suppressed"]
    assert not report["learning"]["overall"]["mentee"]["follow_up_gain_mean"]["suppressed"]

    results = report["results"]
    assert results["available"] is True
    assert results["participants"]["value"] == 12
    # two leavers before the as-of day; the one leaving after it still counts as retained
    assert results["participant_retention"]["value"] == round(10 / 12, 4)
    assert results["comparison"]["value"] >= 5
    assert results["difference_pp"]["value"] == pytest.approx(
        100
        * (results["participant_retention"]["value"] - results["comparison_retention"]["value"]),
        abs=0.01,
    )


def test_every_metric_has_an_english_and_german_definition(
    db_session: Session, world: World, big: Built
) -> None:
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    keys = {f"{r['level']}.{r['metric']}" for r in report_rows(report)}
    assert keys <= set(report["definitions"])
    for key, text in report["definitions"].items():
        assert text["en"].strip(), key
        assert text["de"].strip(), key
    assert report["definitions"] == DEFINITIONS


def test_rows_name_level_metric_role_and_skill(
    db_session: Session, world: World, big: Built
) -> None:
    rows = report_rows(
        build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    )
    assert {r["level"] for r in rows} == {"reaction", "learning", "behaviour", "results", "process"}
    assert all(
        set(r) == {"level", "metric", "role", "skill", "value", "n", "suppressed"} for r in rows
    )
    gain = [r for r in rows if r["metric"] == "skill.gain_mean"]
    assert {(r["role"], r["skill"]) for r in gain} == {
        (role, code) for role in ROLES for code in ("AI", "SOCIAL", "DEI")
    }
    cancel = [r for r in rows if r["metric"] == "cancellations.count"]
    assert [r["role"] for r in cancel] == [None, "mentor", "mentee"]
    assert {r["metric"] for r in rows if r["level"] == "reaction" and r["role"] is None} == {
        "safety.pulse_mean",
        "safety.low_share",
        "safety.pulses",
    }


# ----------------------------------------------------------------------- privacy


def test_no_free_text_or_names_ever_appear(db_session: Session, world: World, big: Built) -> None:
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    dumped = json.dumps(report, ensure_ascii=False)
    assert SECRET not in dumped
    for pair in big.pairs:
        assert pair.mentor.family_name not in dumped
        assert pair.mentee.email not in dumped


def test_a_single_junior_pulse_and_comment_never_appear(
    db_session: Session, world: World, make_pair: Any
) -> None:
    pairs = [make_pair() for _ in range(5)]
    for i, p in enumerate(pairs):
        row = add_session(db_session, p, T0 + timedelta(days=7), SessionStatus.HELD, minutes=60)
        add_feedback(db_session, row, p.mentee, EnrollmentRole.MENTEE, 4)
        if i == 0:  # one junior, one (alarming) pulse and a comment
            add_feedback(db_session, row, p.mentor, EnrollmentRole.MENTOR, 1, pulse=1)
    db_session.flush()
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    safety = report["reaction"]["safety"]
    assert safety["pulse_mean"] == {"value": None, "n": 1, "suppressed": True}
    assert safety["low_share"] == {"value": None, "n": 1, "suppressed": True}
    assert safety["pulses"] == {"value": None, "n": 1, "suppressed": True}
    assert report["reaction"]["ratings"]["mentor"]["mean"]["value"] is None
    assert report["reaction"]["ratings"]["mentee"]["mean"] == {
        "value": 4.0,
        "n": 5,
        "suppressed": False,
    }
    assert SECRET not in json.dumps(report)


@pytest.mark.parametrize(("authors", "shown"), [(4, False), (5, True)])
def test_figures_under_five_respondents_are_suppressed(
    db_session: Session, world: World, make_pair: Any, authors: int, shown: bool
) -> None:
    pairs = [make_pair() for _ in range(6)]
    for i, p in enumerate(pairs[:authors]):
        for k in range(2):
            row = add_session(
                db_session, p, T0 + timedelta(days=7 + 30 * k), SessionStatus.HELD, minutes=45
            )
            add_feedback(db_session, row, p.mentor, EnrollmentRole.MENTOR, 3 + (i + k) % 3)
    db_session.flush()
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, now=NOW)
    mean = report["reaction"]["ratings"]["mentor"]["mean"]
    count = report["reaction"]["ratings"]["mentor"]["count"]
    assert mean["n"] == count["n"] == authors
    assert mean["suppressed"] is not shown
    assert count["suppressed"] is not shown
    if shown:
        assert mean["value"] == 4.0  # ratings 3,4 / 4,5 / 5,3 / 3,4 / 4,5
        assert count["value"] == 10
    else:
        assert mean["value"] is None
        assert count["value"] is None
    # the process figures stand on the six activated tandems and are shown either way
    assert report["process"]["sessions"]["held"] == {
        "value": 2 * authors,
        "n": 6,
        "suppressed": False,
    }


def test_a_larger_min_group_suppresses_more(
    db_session: Session, world: World, make_pair: Any
) -> None:
    for _ in range(5):
        make_pair()
    at_five = build_report(db_session, world.admin, world.program.id, as_of=AS_OF)
    at_six = build_report(db_session, world.admin, world.program.id, as_of=AS_OF, min_group=6)
    assert at_five["process"]["tandems"]["total"] == {"value": 5, "n": 5, "suppressed": False}
    assert at_six["process"]["tandems"]["total"] == {"value": None, "n": 5, "suppressed": True}
    assert at_six["program"]["min_group"] == 6


@pytest.mark.parametrize("bad", [4, 0, -1, True, 5.0, "5"])
def test_min_group_below_five_is_refused(
    db_session: Session, world: World, pair: Pair, bad: Any
) -> None:
    before = audits(db_session)
    with pytest.raises(ValidationError, match="groups under 5") as info:
        build_report(db_session, world.admin, world.program.id, min_group=bad)
    assert info.value.field == "min_group"
    assert audits(db_session) == before


@pytest.mark.parametrize("bad", [datetime(2026, 9, 1, tzinfo=UTC), "2026-09-01"])
def test_as_of_must_be_a_date(db_session: Session, world: World, pair: Pair, bad: Any) -> None:
    before = audits(db_session)
    with pytest.raises(ValidationError, match="as_of must be a calendar date") as info:
        build_report(db_session, world.admin, world.program.id, as_of=bad)
    assert info.value.field == "as_of"
    assert audits(db_session) == before


# ----------------------------------------------------------------------- access


def test_participant_is_denied(db_session: Session, world: World, pair: Pair) -> None:
    before = audits(db_session)
    for actor in (pair.mentor_actor, pair.mentee_actor, world.outsider_actor):
        with pytest.raises(
            PermissionDenied, match=f"only a coordinator of program {world.program.id}"
        ):
            build_report(db_session, actor, world.program.id)
    assert audits(db_session) == before


def test_coordinator_of_another_program_is_denied(
    db_session: Session, world: World, make_person: Any, make_program: Any, pair: Pair
) -> None:
    other = make_program(world.org, name="Other cohort")
    stranger = make_person(world.org, job_level=8)
    db_session.add(
        ProgramCoordinator(
            org_id=world.org.id, program_id=other.id, person_id=stranger.id, added_by="t"
        )
    )
    db_session.flush()
    actor = Actor.coordinator(world.org.id, stranger.id)
    before = audits(db_session)
    with pytest.raises(PermissionDenied, match="only a coordinator"):
        build_report(db_session, actor, world.program.id)
    assert audits(db_session) == before
    assert build_report(db_session, actor, other.id)["program"]["id"] == other.id


def test_program_of_another_organization_is_not_found(
    db_session: Session, world: World, pair: Pair
) -> None:
    stranger = organizations.create_organization(db_session, slug="zeta", name="Zeta", actor="t")
    before = audits(db_session)
    for actor in (Actor.admin(stranger.id, "cli:zeta"), Actor.admin(world.org.id, "cli:x")):
        program_id = world.program.id if actor.org_id == stranger.id else 999_999
        with pytest.raises(NotFound, match=f"program {program_id} not found") as info:
            build_report(db_session, actor, program_id)
        assert info.value.field == "program"
    assert audits(db_session) == before


def test_coordinator_report_is_audited_with_the_program_only(
    db_session: Session, world: World, pair: Pair
) -> None:
    before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    report = build_report(db_session, world.coordinator_actor, world.program.id, now=NOW)
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "report.generated")
    ).one()
    assert event.actor == world.coordinator_actor.label
    assert (event.object_type, event.object_id) == ("program", str(world.program.id))
    assert event.details == {"program_id": world.program.id}
    db_session.expire(event)
    assert event.created_at == NOW
    # nothing but the audit event is written
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1
    assert report["program"]["generated_at"] == NOW.isoformat()
    assert report["program"]["as_of"] == "2026-09-15"  # the injected clock's day


# ----------------------------------------------------------------------- results


def test_retention_unavailable_without_hr_data(
    db_session: Session, world: World, make_pair: Any, make_person: Any
) -> None:
    for _ in range(6):
        make_pair()
    for _ in range(6):
        make_person(world.org, job_level=2)
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF)
    results = report["results"]
    assert results["available"] is False
    assert "no HR data" in results["reason"]
    assert results["participants"]["value"] == 6
    for key in ("participant_retention", "comparison_retention", "difference_pp"):
        assert results[key]["value"] is None, key
        assert results[key]["suppressed"] is False, key
    assert recompute(db_session, world.program.id, as_of=AS_OF)["results"]["available"] is False


def test_retention_unavailable_before_the_program_starts(
    db_session: Session, world: World, big: Built
) -> None:
    report = build_report(db_session, world.admin, world.program.id, as_of=date(2026, 2, 1))
    assert report["results"]["available"] is False
    assert "starts on 2026-03-01" in report["results"]["reason"]
    assert report["results"]["participant_retention"]["value"] is None


def test_retention_depends_on_the_as_of_day(db_session: Session, world: World, big: Built) -> None:
    before_leaving = build_report(db_session, world.admin, world.program.id, as_of=date(2026, 7, 1))
    later = build_report(db_session, world.admin, world.program.id, as_of=date(2026, 12, 31))
    assert before_leaving["results"]["participant_retention"]["value"] == 1.0
    assert later["results"]["participant_retention"]["value"] == round(9 / 12, 4)


def test_comparison_group_rules(
    db_session: Session, world: World, make_pair: Any, make_person: Any
) -> None:
    for level in (2, 2, 3, 3, 4):
        make_pair(mentor=make_person(world.org, job_level=level, hire_date=HIRED))
    start = world.program.starts_on
    counted = [
        make_person(world.org, job_level=2, hire_date=HIRED),
        make_person(world.org, job_level=4, hire_date=start),
        make_person(world.org, job_level=3, hire_date=None),
        make_person(world.org, job_level=3, hire_date=HIRED, left_on=start, active=False),
        make_person(world.org, job_level=3, hire_date=HIRED, left_on=AS_OF, active=False),
    ]
    make_person(world.org, job_level=1, hire_date=HIRED)  # below the band
    make_person(world.org, job_level=5, hire_date=HIRED)  # above the band
    make_person(world.org, job_level=None, hire_date=HIRED)  # no level
    make_person(world.org, job_level=3, hire_date=start + timedelta(days=1))  # hired later
    make_person(world.org, job_level=3, left_on=start - timedelta(days=1), active=False)
    make_person(world.org, job_level=3, hire_date=HIRED, erased_at=T0)
    make_pair("proposed", approved=False, mentor=make_person(world.org, job_level=3))  # enrolled
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF)
    results = report["results"]
    assert results["job_level_band"] == {"min": 2, "max": 4}
    # the outsider of the world fixture (level 3, no dates) is a comparison person too
    assert results["comparison"]["value"] == len(counted) + 1
    # left on the start day and on the as-of day: both gone by the as-of day
    assert results["comparison_retention"]["value"] == round(4 / 6, 4)
    assert results["participant_retention"]["value"] == 1.0
    assert results["difference_pp"]["value"] == round(100 * (1 - 4 / 6), 2)


# ----------------------------------------------------------------------- edge cases


def test_empty_program_reports_zeros_and_suppressions(
    db_session: Session, world: World, make_program: Any
) -> None:
    empty = make_program(world.org, name="Nobody yet")
    report = build_report(db_session, world.admin, empty.id, as_of=AS_OF)
    rows = report_rows(report)
    assert rows
    for row in rows:
        assert row["n"] == 0, row
        assert row["suppressed"] is True, row
        assert row["value"] is None, row
    assert report["learning"]["skills"] == []
    assert report["results"]["available"] is False
    assert rows == report_rows(recompute(db_session, empty.id, as_of=AS_OF))


def test_shares_of_nothing_are_empty_not_zero(
    db_session: Session, world: World, make_pair: Any
) -> None:
    for _ in range(5):
        make_pair()
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF)
    process = report["process"]
    assert process["sessions"]["scheduled"] == {"value": 0, "n": 5, "suppressed": False}
    assert process["cancellations"]["share"] == {"value": None, "n": 5, "suppressed": False}
    assert process["activation"]["median_days_to_first_session"]["n"] == 0
    assert process["sessions"]["held_per_activated_tandem"]["value"] == 0.0
    assert process["matched"]["mentor"]["share"]["value"] == 1.0


def test_rounding_is_half_away_from_zero(db_session: Session, world: World, make_pair: Any) -> None:
    # eight ratings averaging exactly 3.125 → 3.13 (binary rounding would give 3.12)
    pairs = [make_pair() for _ in range(5)]
    ratings = [3, 3, 3, 3, 3, 3, 4, 3]
    for i, rating in enumerate(ratings):
        p = pairs[i % 5]
        row = add_session(db_session, p, T0 + timedelta(days=5 + i), SessionStatus.HELD, minutes=30)
        add_feedback(db_session, row, p.mentee, EnrollmentRole.MENTEE, rating)
    db_session.flush()
    report = build_report(db_session, world.admin, world.program.id, as_of=AS_OF)
    assert report["reaction"]["ratings"]["mentee"]["mean"]["value"] == 3.13

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from plugin.errors import ConflictError, MatchError, ValidationError
from plugin.models import (
    AuditEvent,
    MatchRun,
    MatchRunStatus,
    Organization,
    Person,
    Program,
    ProgramStatus,
    Tandem,
    TandemStatus,
)
from plugin.services import enrollments, matching, programs


def n(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def company(
    db_session: Session, org: Organization, make_person: Any, skills: Any
) -> dict[str, Person]:
    """CEO → CIO → Lead → Dev (chain); a separate Sales head and her junior."""
    ceo = make_person(org, given_name="Clara", department="Board", job_level=12)
    cio = make_person(org, given_name="Ivo", department="IT", job_level=10, manager_id=ceo.id)
    lead = make_person(org, given_name="Lea", department="IT", job_level=7, manager_id=cio.id)
    dev = make_person(org, given_name="Deniz", department="IT", job_level=2, manager_id=lead.id)
    sales = make_person(org, given_name="Sara", department="Sales", job_level=9, manager_id=ceo.id)
    rep = make_person(org, given_name="Ravi", department="Sales", job_level=2, manager_id=sales.id)
    return {"ceo": ceo, "cio": cio, "lead": lead, "dev": dev, "sales": sales, "rep": rep}


@pytest.fixture
def program(
    db_session: Session, org: Organization, make_program: Any, company: dict[str, Person]
) -> Program:
    program = make_program(org)
    for key in ("dev", "rep"):
        enrollments.enroll(
            db_session,
            program=program,
            person=company[key],
            role="mentor",
            consent=True,
            topics_offered={"AI": 5, "SOCIAL": 4},
            actor="t",
        )
    for key in ("cio", "sales"):
        enrollments.enroll(
            db_session,
            program=program,
            person=company[key],
            role="mentee",
            consent=True,
            topics_wanted={"AI": 5},
            actor="t",
        )
    return program


def pairs(session: Session, program: Program) -> set[tuple[int, int]]:
    out = set()
    for t in session.scalars(
        select(Tandem).where(
            Tandem.program_id == program.id, Tandem.status != TandemStatus.REJECTED
        )
    ):
        mentor = next(m.person_id for m in t.members if m.role == "mentor")
        mentee = next(m.person_id for m in t.members if m.role == "mentee")
        out.add((mentor, mentee))
    return out


def test_run_stores_proposals_and_respects_the_chain(
    db_session: Session, program: Program, company: dict[str, Person]
) -> None:
    outcome = matching.run_matching(db_session, program, actor="coord")
    run = outcome.run
    assert run is not None
    assert run.status is MatchRunStatus.SUCCEEDED
    # Deniz reports (via Lea) to Ivo: never paired with Ivo, so the only full matching
    # is Deniz → Sara and Ravi → Ivo.
    assert pairs(db_session, program) == {
        (company["dev"].id, company["sales"].id),
        (company["rep"].id, company["cio"].id),
    }
    assert run.optimal is True
    assert run.inputs["mentors"] == 2
    assert run.inputs["mentees"] == 2
    assert len(run.inputs["hash"]) == 64
    assert run.objective == "best_total"
    assert run.duration_ms is not None
    assert run.settings["weights"]["topic_fit"] == pytest.approx(0.45)
    assert program.status is ProgramStatus.MATCHING
    for t in outcome.created:
        assert t.status is TandemStatus.PROPOSED
        assert t.match_run_id == run.id
        assert t.explanation["en"]
        assert t.explanation["de"]
        assert t.explanation["pairs"][0]["factors"]
    assert "match.run" in {e.action for e in db_session.scalars(select(AuditEvent))}


def test_unmatched_reason_names_the_chain(
    db_session: Session, org: Organization, make_program: Any, company: dict[str, Person]
) -> None:
    program = make_program(org, name="Only IT")
    enrollments.enroll(
        db_session,
        program=program,
        person=company["dev"],
        role="mentor",
        consent=True,
        topics_offered={"AI": 5},
        actor="t",
    )
    enrollments.enroll(
        db_session,
        program=program,
        person=company["cio"],
        role="mentee",
        consent=True,
        topics_wanted={"AI": 5},
        actor="t",
    )
    outcome = matching.run_matching(db_session, program, actor="t")
    assert outcome.created == ()
    assert outcome.run is not None
    reasons = {u["person_id"]: u for u in outcome.run.result["unmatched"]}
    cio = reasons[company["cio"].id]
    assert cio["reason"] == "no_candidates"
    assert "management chain" in cio["explanation"]["en"]
    assert "Führungslinie" in cio["explanation"]["de"] or cio["explanation"]["de"]


def test_dry_run_writes_nothing(db_session: Session, program: Program) -> None:
    before = (n(db_session, Tandem), n(db_session, MatchRun), n(db_session, AuditEvent))
    outcome = matching.run_matching(db_session, program, actor="t", dry_run=True)
    assert outcome.run is None
    assert len(outcome.result.tandems) == 2
    assert (n(db_session, Tandem), n(db_session, MatchRun), n(db_session, AuditEvent)) == before
    assert program.status is ProgramStatus.ENROLLING


def test_rerun_replaces_proposals_but_keeps_locked_and_approved(
    db_session: Session, program: Program
) -> None:
    first = matching.run_matching(db_session, program, actor="t")
    locked, other = first.created
    matching.set_lock(db_session, locked, locked=True, actor="t")
    second = matching.run_matching(db_session, program, actor="t")
    assert first.run is not None
    assert first.run.status is MatchRunStatus.DISCARDED
    assert locked in second.kept
    assert inspect(other).was_deleted  # replaced
    assert len(second.created) == 1
    assert n(db_session, Tandem) == 2
    # approved proposals survive a re-run too, as do their members
    matching.accept_tandem(db_session, second.created[0], actor="t")
    third = matching.run_matching(db_session, program, actor="t")
    assert third.created == ()
    assert n(db_session, Tandem) == 2


def test_reorganisation_flags_a_kept_tandem(
    db_session: Session, program: Program, company: dict[str, Person]
) -> None:
    first = matching.run_matching(db_session, program, actor="t")
    tandem = next(
        t
        for t in first.created
        if {m.person_id for m in t.members} == {company["rep"].id, company["cio"].id}
    )
    matching.set_lock(db_session, tandem, locked=True, actor="t")
    # HRIS sync: Sales now reports to the CIO, so Ravi is in Ivo's chain.
    company["sales"].manager_id = company["cio"].id
    db_session.flush()
    second = matching.run_matching(db_session, program, actor="t")
    assert tandem in second.kept
    assert tandem.flags["broken_rules"][0]["rule"] == "management_chain"
    assert second.run is not None
    assert second.run.result["broken_locks"]
    # the rule holds again after the next reorganisation: the flag is cleared
    company["sales"].manager_id = company["ceo"].id
    db_session.flush()
    matching.run_matching(db_session, program, actor="t")
    assert "broken_rules" not in tandem.flags


def test_coordinator_actions(db_session: Session, program: Program) -> None:
    outcome = matching.run_matching(db_session, program, actor="t")
    a, b = outcome.created
    matching.accept_tandem(db_session, a, actor="coord")
    assert a.approved_by == "coord"
    assert a.status is TandemStatus.PROPOSED
    with pytest.raises(ConflictError, match="already approved"):
        matching.accept_tandem(db_session, a, actor="coord")
    matching.set_lock(db_session, b, locked=True, actor="coord")
    with pytest.raises(ConflictError, match="locked"):
        matching.reject_tandem(db_session, b, actor="coord")
    matching.set_lock(db_session, b, locked=False, actor="coord")
    matching.reject_tandem(db_session, b, actor="coord")
    assert b.status is TandemStatus.REJECTED
    with pytest.raises(ConflictError, match="only a proposed tandem"):
        matching.accept_tandem(db_session, b, actor="coord")
    with pytest.raises(ConflictError, match="cannot be locked"):
        matching.set_lock(db_session, b, locked=True, actor="coord")
    assert outcome.run is not None
    matching.approve_run(db_session, outcome.run, actor="coord")
    assert outcome.run.status is MatchRunStatus.APPROVED
    with pytest.raises(ConflictError, match="approved"):
        matching.approve_run(db_session, outcome.run, actor="coord")
    actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    for action in (
        "tandem.approved",
        "tandem.locked",
        "tandem.unlocked",
        "tandem.rejected",
        "match.approved",
    ):
        assert action in actions


def test_swap_rechecks_hard_rules(
    db_session: Session, program: Program, company: dict[str, Person]
) -> None:
    a, b = matching.run_matching(db_session, program, actor="t").created
    # Swapping the seniors would put Deniz with his own CIO: refused, nothing changes.
    before = pairs(db_session, program)
    with pytest.raises(ConflictError, match="swap is refused"):
        matching.swap_tandems(db_session, a, b, actor="t")
    assert pairs(db_session, program) == before
    with pytest.raises(ValidationError):
        matching.swap_tandems(db_session, a, a, actor="t")


def test_swap_moves_members_and_rescores(
    db_session: Session, org: Organization, make_program: Any, make_person: Any, skills: Any
) -> None:
    program = make_program(org, name="Swap")
    people = [
        make_person(org, job_level=lvl, department=d)
        for lvl, d in ((2, "IT"), (2, "HR"), (9, "Sales"), (9, "Legal"))
    ]
    for p in people[:2]:
        enrollments.enroll(
            db_session,
            program=program,
            person=p,
            role="mentor",
            consent=True,
            topics_offered={"AI": 5},
            actor="t",
        )
    for p in people[2:]:
        enrollments.enroll(
            db_session,
            program=program,
            person=p,
            role="mentee",
            consent=True,
            topics_wanted={"AI": 4},
            actor="t",
        )
    a, b = matching.run_matching(db_session, program, actor="t").created
    before = pairs(db_session, program)
    matching.swap_tandems(db_session, a, b, actor="t")
    after = pairs(db_session, program)
    assert after != before
    assert {m for m, _ in after} == {m for m, _ in before}
    assert {s for _, s in after} == {s for _, s in before}
    assert a.explanation["en"]
    assert a.score is not None


def test_refusals(
    db_session: Session, org: Organization, make_program: Any, program: Program
) -> None:
    draft = make_program(org, name="Draft", status=None)
    with pytest.raises(ConflictError, match="draft"):
        matching.run_matching(db_session, draft, actor="t")
    empty = make_program(org, name="Empty")
    with pytest.raises(MatchError, match="nothing to match"):
        matching.run_matching(db_session, empty, actor="t")
    with pytest.raises(ValidationError, match="objective"):
        matching.run_matching(db_session, program, actor="t", objective="fastest")
    assert n(db_session, MatchRun) == 0


def test_most_matched_objective_is_recorded(db_session: Session, program: Program) -> None:
    outcome = matching.run_matching(db_session, program, actor="t", objective="most_matched")
    assert outcome.run is not None
    assert outcome.run.objective == "most_matched"


def test_withdrawn_person_is_not_matched(
    db_session: Session, program: Program, company: dict[str, Person]
) -> None:
    e = next(
        x
        for x in enrollments.list_enrollments(db_session, program=program)
        if x.person_id == company["rep"].id
    )
    enrollments.withdraw(db_session, e, actor="t")
    outcome = matching.run_matching(db_session, program, actor="t")
    assert {m for m, _ in pairs(db_session, program)} == {company["dev"].id}
    assert outcome.result.stats.mentors == 1


def test_programs_status_untouched_when_running(db_session: Session, program: Program) -> None:
    programs.set_program_status(db_session, program, "matching", actor="t")
    programs.set_program_status(db_session, program, "running", actor="t")
    matching.run_matching(db_session, program, actor="t")
    assert program.status is ProgramStatus.RUNNING


def test_explanations_name_topics_in_each_language(
    db_session: Session, program: Program, skills: Any
) -> None:
    skills[0].name_de = "KI-Werkzeuge"
    db_session.flush()
    outcome = matching.run_matching(db_session, program, actor="t")
    en = " ".join(line for t in outcome.created for line in t.explanation["en"])
    de = " ".join(line for t in outcome.created for line in t.explanation["de"])
    assert "AI tools" in en
    assert "KI-Werkzeuge" in de
    assert "AI tools" not in de

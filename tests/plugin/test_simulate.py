"""The demo program simulated for six months: a non-trivial, internally consistent report.

One seeded demo organization (600 people) is simulated once per module; the tests read
the result. The report is checked figure by figure against an independent recomputation
from the raw rows (``report_oracle.recompute``, plain SQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from plugin.access import Actor
from plugin.demo import seed_demo
from plugin.errors import ConflictError
from plugin.models import (
    Alert,
    Completion,
    MentoringSession,
    OutboxMessage,
    Program,
    ProgramStatus,
    Tandem,
)
from plugin.services.report import build_report, report_rows
from plugin.simulate import SimulationSummary, simulate_program
from tests.plugin.tracking.report_oracle import recompute

AS_OF = date(2026, 11, 1)


@dataclass
class Simulated:
    session: Session
    org_id: int
    program_id: int
    summary: SimulationSummary
    report: dict[str, Any]


@pytest.fixture(scope="module")
def simulated(engine: Engine) -> Iterator[Simulated]:
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        demo = seed_demo(session, org_slug="sim", people=600, seed=7)
        summary = simulate_program(
            session, org_id=demo.org_id, program_id=demo.program_id, months=6, seed=7
        )
        report = build_report(
            session, Actor.admin(demo.org_id, "test"), demo.program_id, as_of=AS_OF
        )
        yield Simulated(session, demo.org_id, demo.program_id, summary, report)
    finally:
        session.close()
        trans.rollback()
        conn.close()


def figure(report: dict[str, Any], *path: str) -> Any:
    node: Any = report
    for key in path:
        node = node[key]
    return node


def value(report: dict[str, Any], *path: str) -> Any:
    fig = figure(report, *path)
    assert fig["suppressed"] is False, path
    return fig["value"]


def test_report_matches_an_independent_recomputation(simulated: Simulated) -> None:
    expected = recompute(simulated.session, simulated.program_id, as_of=AS_OF)
    got = {
        (r["level"], r["metric"], r["role"], r["skill"]): r for r in report_rows(simulated.report)
    }
    want = {(r["level"], r["metric"], r["role"], r["skill"]): r for r in report_rows(expected)}
    assert set(got) == set(want)
    for key, row in got.items():
        assert row == want[key], key
    assert len(got) > 150


def test_the_program_ran_and_closed(simulated: Simulated) -> None:
    program = simulated.session.get(Program, simulated.program_id)
    assert program is not None
    assert program.status is ProgramStatus.CLOSED
    assert simulated.summary.closed is True
    statuses = simulated.summary.tandems
    # Some thrive and complete, some dissolve, some are declined; nothing is left open.
    assert statuses["completed"] >= 20
    assert statuses["dissolved"] >= 2
    assert statuses["rejected"] >= 1
    assert set(statuses) <= {"completed", "dissolved", "rejected"}


def test_every_kirkpatrick_level_has_shown_figures(simulated: Simulated) -> None:
    r = simulated.report
    for role in ("mentor", "mentee"):
        assert 3.0 <= value(r, "reaction", "ratings", role, "mean") <= 5.0
        assert 0 < value(r, "reaction", "survey", role, "would_continue_share") < 1
        assert value(r, "learning", "overall", role, "gain_mean") > 0
    assert value(r, "behaviour", "goals", "met") > 0
    assert value(r, "behaviour", "actions", "logged") > 0
    assert r["results"]["available"] is True
    assert value(r, "results", "participant_retention") is not None
    assert value(r, "results", "comparison_retention") is not None
    assert 0 < value(r, "process", "activation", "rate") <= 1


def test_seniors_learn_digital_skills_and_juniors_learn_feedback(simulated: Simulated) -> None:
    skills = {s["code"]: s["by_role"] for s in simulated.report["learning"]["skills"]}
    ai, feedback = skills["AI-TOOLS"], skills["FEEDBACK"]
    assert ai["mentee"]["gain_mean"]["n"] >= 5
    assert ai["mentee"]["gain_mean"]["value"] > ai["mentor"]["gain_mean"]["value"]
    assert feedback["mentor"]["gain_mean"]["value"] > feedback["mentee"]["gain_mean"]["value"]


def test_seniors_cancel_more_than_juniors(simulated: Simulated) -> None:
    by_role = simulated.report["process"]["cancellations"]["by_role"]
    assert by_role["mentee"]["count"]["value"] > by_role["mentor"]["count"]["value"] > 0


def test_process_figures_add_up(simulated: Simulated) -> None:
    r, s = simulated.report, simulated.session
    tandems = r["process"]["tandems"]
    statuses = ("proposed", "accepted", "active", "completed", "dissolved", "rejected")
    assert sum(tandems[k]["value"] for k in statuses) == tandems["total"]["value"]
    sessions = r["process"]["sessions"]
    cancelled = r["process"]["cancellations"]["count"]["value"]
    assert sessions["scheduled"]["value"] == (
        sessions["held"]["value"]
        + cancelled
        + sessions["closed_unheld"]["value"]
        + sessions["planned_not_held"]["value"]
        + sessions["planned_upcoming"]["value"]
    )
    by_role = r["process"]["cancellations"]["by_role"]
    assert cancelled == by_role["mentor"]["count"]["value"] + by_role["mentee"]["count"]["value"]
    assert sessions["held_hours"]["value"] == round(sessions["held_minutes"]["value"] / 60, 2)
    held = s.scalar(
        select(func.count(MentoringSession.id))
        .join(Tandem, Tandem.id == MentoringSession.tandem_id)
        .where(Tandem.program_id == simulated.program_id, MentoringSession.status == "held")
    )
    assert sessions["held"]["value"] == held == simulated.summary.sessions["held"]
    completions = r["process"]["completions"]
    assert completions["count"]["value"] == simulated.summary.completions > 0
    assert completions["count"]["value"] == sum(
        completions["by_role"][role]["count"]["value"] for role in ("mentor", "mentee")
    )


def test_completions_wrote_one_message_per_kind_to_the_journal(simulated: Simulated) -> None:
    s = simulated.session
    done = s.scalar(
        select(func.count(Completion.id)).where(Completion.program_id == simulated.program_id)
    )
    kinds = dict(
        s.execute(
            select(OutboxMessage.kind, func.count())
            .where(OutboxMessage.org_id == simulated.org_id)
            .group_by(OutboxMessage.kind)
        ).all()
    )
    assert kinds["completion"] == done
    assert kinds["hours"] >= done
    assert kinds["skill_gain"] > 0
    targets = set(
        s.scalars(select(OutboxMessage.target).where(OutboxMessage.org_id == simulated.org_id))
    )
    assert targets == {"journal"}


def test_coordinators_were_alerted_for_each_kind(simulated: Simulated) -> None:
    kinds = simulated.summary.alerts
    assert kinds.get("stalled", 0) > 0
    assert kinds.get("senior_cancellations", 0) > 0
    assert kinds.get("low_safety", 0) > 0
    recipients = simulated.session.scalars(
        select(Alert.recipients).where(Alert.program_id == simulated.program_id)
    ).all()
    assert all(r for r in recipients)


def test_a_program_cannot_be_simulated_twice(simulated: Simulated) -> None:
    with pytest.raises(ConflictError, match="closed"):
        simulate_program(
            simulated.session, org_id=simulated.org_id, program_id=simulated.program_id
        )

"""Simulation rules on small demo companies (separate module: the big simulation in
``test_simulate`` holds its own transaction for the whole module)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from plugin.demo import seed_demo
from plugin.errors import ValidationError
from plugin.models import Program, ProgramStatus
from plugin.simulate import simulate_program


def test_months_must_fit_the_program(db_session: Session) -> None:
    demo = seed_demo(db_session, org_slug="short", people=120, seed=3)
    with pytest.raises(ValidationError, match="between 1 and 6"):
        simulate_program(db_session, org_id=demo.org_id, program_id=demo.program_id, months=7)
    program = db_session.get(Program, demo.program_id)
    assert program is not None
    assert program.status is ProgramStatus.ENROLLING


def test_same_seed_same_story(db_session: Session) -> None:
    outcomes = []
    for slug in ("one", "two"):
        demo = seed_demo(db_session, org_slug=slug, people=200, seed=5)
        summary = simulate_program(
            db_session, org_id=demo.org_id, program_id=demo.program_id, months=2, seed=11
        )
        outcomes.append(summary)
    first, second = outcomes
    assert first.closed is second.closed is False
    for field in ("personas", "tandems", "sessions", "feedback", "goals", "actions", "alerts"):
        assert getattr(first, field) == getattr(second, field), field

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import MatchRun, Organization, Person, Skill, SkillCategory, Tandem
from plugin.services import enrollments, organizations, programs

INSTANCE: dict[str, Any] = {
    "mentors": [{"id": "m1", "capacity": 2}, {"id": "m2", "capacity": 1}],
    "mentees": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
    "pairs": [
        {"mentor": "m1", "mentee": "s1", "score": 0.83},
        {"mentor": "m1", "mentee": "s2", "score": 0.4},
        {"mentor": "m2", "mentee": "s1", "score": 0.9},
        {"mentor": "m2", "mentee": "s3", "score": -0.2},
    ],
    "objective": "best_total",
}


def solve(runner: FlaskCliRunner, tmp_path: Path, payload: Any) -> tuple[Any, Path]:
    src, out = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(payload if isinstance(payload, str) else json.dumps(payload), "utf-8")
    return runner.invoke(args=["match", "solve", "--input", str(src), "--output", str(out)]), out


def test_solve_best_total(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result, out = solve(runner, tmp_path, INSTANCE)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert data["objective"] == "best_total"
    assert data["optimal"] is True
    assert data["total_score"] == pytest.approx(1.3)
    assert {(m["mentor"], m["mentee"]) for m in data["matched"]} == {("m2", "s1"), ("m1", "s2")}
    assert data["unmatched_mentees"] == ["s3"]  # its only pair is negative


def test_solve_most_matched(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result, out = solve(runner, tmp_path, {**INSTANCE, "objective": "most_matched"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert len(data["matched"]) == 3  # the negative pair is worth taking to match one more


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "JSON"),
        ([1, 2], "object"),
        ({**INSTANCE, "mentors": [{"id": "m1", "capacity": -1}]}, "capacity"),
        ({**INSTANCE, "mentors": [{"id": "m1", "capacity": 1.5}]}, "capacity"),
        ({**INSTANCE, "mentees": [{"id": "s1"}, {"id": "s1"}]}, "duplicate"),
        ({**INSTANCE, "pairs": [{"mentor": "mX", "mentee": "s1", "score": 1}]}, "unknown"),
        ({**INSTANCE, "pairs": [{"mentor": "m1", "mentee": "s1", "score": "high"}]}, "score"),
        ({**INSTANCE, "objective": "fastest"}, "objective"),
    ],
)
def test_solve_bad_input(
    runner: FlaskCliRunner, tmp_path: Path, payload: Any, message: str
) -> None:
    result, out = solve(runner, tmp_path, payload)
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()


def test_solve_missing_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        args=[
            "match",
            "solve",
            "--input",
            str(tmp_path / "nope.json"),
            "--output",
            str(tmp_path / "o.json"),
        ]
    )
    assert result.exit_code == 1
    assert "cannot read" in result.output


def _seed(app: Flask) -> int:
    with app.app_context():
        s = get_session()
        org = organizations.create_organization(s, slug="acme", name="ACME", actor="t")
        s.add(Skill(org_id=org.id, code="AI", name="AI tools", category=SkillCategory.TECHNOLOGY))
        boss = Person(
            org_id=org.id,
            given_name="Clara",
            family_name="Chef",
            job_level=12,
            languages=["de"],
            department="Board",
        )
        s.add(boss)
        s.flush()
        people = [
            Person(
                org_id=org.id,
                given_name=g,
                family_name="X",
                job_level=lvl,
                department=d,
                languages=["de", "en"],
                manager_id=boss.id,
            )
            for g, lvl, d in (
                ("Jan", 2, "IT"),
                ("Mia", 2, "HR"),
                ("Olaf", 9, "Sales"),
                ("Petra", 9, "Legal"),
            )
        ]
        s.add_all(people)
        s.flush()
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
        for p in people[:2]:
            enrollments.enroll(
                s,
                program=program,
                person=p,
                role="mentor",
                consent=True,
                topics_offered={"AI": 5},
                actor="t",
            )
        for p in people[2:]:
            enrollments.enroll(
                s,
                program=program,
                person=p,
                role="mentee",
                consent=True,
                topics_wanted={"AI": 4},
                actor="t",
            )
        s.commit()
        return program.id


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def test_run_review_and_approve(runner: FlaskCliRunner, app: Flask) -> None:
    pid = _seed(app)
    dry = runner.invoke(args=["match", "run", "--program", str(pid), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output
    assert "tandems 2" in dry.output
    assert count(app, MatchRun) == 0
    assert count(app, Tandem) == 0

    run = runner.invoke(args=["match", "run", "--program", str(pid), "--org", "acme"])
    assert run.exit_code == 0, run.output
    assert "optimal yes" in run.output
    with app.app_context():
        run_id = get_session().scalars(select(MatchRun.id)).one()
        a, b = get_session().scalars(select(Tandem.id).order_by(Tandem.id)).all()
    shown = runner.invoke(args=["match", "show", str(run_id), "--lang", "de"])
    assert shown.exit_code == 0
    assert "Jan X" in shown.output
    assert "[" in shown.output
    assert runner.invoke(args=["match", "swap", str(a), str(b)]).exit_code == 0
    assert runner.invoke(args=["match", "lock", str(a)]).exit_code == 0
    locked_reject = runner.invoke(args=["match", "reject", str(a)])
    assert locked_reject.exit_code == 1
    assert "locked" in locked_reject.output
    assert runner.invoke(args=["match", "accept", str(b)]).exit_code == 0
    assert runner.invoke(args=["match", "approve", str(run_id)]).exit_code == 0
    again = runner.invoke(args=["match", "approve", str(run_id)])
    assert again.exit_code == 1
    assert "approved" in again.output
    assert str(run_id) in runner.invoke(args=["match", "runs", "--program", str(pid)]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["match", "run", "--program", "999"], "program 999 not found"),
        (["match", "run", "--program", "1", "--org", "ghost"], "unknown organization"),
        (["match", "show", "999"], "match run 999 not found"),
        (["match", "accept", "999"], "tandem 999 not found"),
    ],
)
def test_bad_ids(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert message in result.output


def test_run_on_other_org_is_refused(runner: FlaskCliRunner, app: Flask) -> None:
    pid = _seed(app)
    with app.app_context():
        organizations.create_organization(get_session(), slug="other", name="O", actor="t")
        get_session().commit()
    result = runner.invoke(args=["match", "run", "--program", str(pid), "--org", "other"])
    assert result.exit_code == 1
    assert "not found" in result.output
    assert count(app, Organization) == 2
    assert count(app, MatchRun) == 0

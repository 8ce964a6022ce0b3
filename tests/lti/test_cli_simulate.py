from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import AuditEvent, Program, ProgramStatus, Tandem


def test_seed_simulate_report(runner: FlaskCliRunner, app: Flask) -> None:
    seeded = runner.invoke(args=["demo", "seed", "--org", "sim", "--people", "200"])
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        program_id = get_session().scalar(select(Program.id))
    result = runner.invoke(
        args=["demo", "simulate", "--program", str(program_id), "--months", "6", "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "simulated program" in result.output
    assert "program closed" in result.output
    with app.app_context():
        program = get_session().get(Program, program_id)
        assert program is not None
        assert program.status is ProgramStatus.CLOSED
        assert get_session().scalar(select(func.count(Tandem.id))) > 0
    report = runner.invoke(args=["report", "--program", str(program_id), "--format", "csv"])
    assert report.exit_code == 0, report.output
    assert report.output.startswith("level,metric,role,skill,value,n,suppressed")


def test_unknown_program_is_a_clear_error(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(args=["demo", "simulate", "--program", "999"])
    assert result.exit_code == 1
    assert "program 999 not found" in result.output
    with app.app_context():
        assert get_session().scalar(select(func.count(AuditEvent.id))) == 0


def test_bad_months_change_nothing(runner: FlaskCliRunner, app: Flask) -> None:
    assert runner.invoke(args=["demo", "seed", "--org", "sim", "--people", "100"]).exit_code == 0
    with app.app_context():
        program_id = get_session().scalar(select(Program.id))
        events = get_session().scalar(select(func.count(AuditEvent.id)))
    result = runner.invoke(args=["demo", "simulate", "--program", str(program_id), "--months", "9"])
    assert result.exit_code == 1
    assert "months must be between 1 and 6" in result.output
    with app.app_context():
        assert get_session().scalar(select(func.count(AuditEvent.id))) == events

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from lti.db import get_session
from plugin.models import Organization, Person, PersonIdentity, Program, ProgramStatus


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def ok(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_orgs(runner: FlaskCliRunner, app: Flask) -> None:
    assert "no organizations yet" in ok(runner, "orgs", "list")
    assert "created organization acme" in ok(runner, "orgs", "create", "acme", "--name", "ACME")
    assert "acme\tACME" in ok(runner, "orgs", "list")
    dup = runner.invoke(args=["orgs", "create", "acme", "--name", "Again"])
    assert dup.exit_code == 1
    assert "already exists" in dup.output
    bad = runner.invoke(args=["orgs", "create", "Not A Slug", "--name", "X"])
    assert bad.exit_code == 1
    assert "invalid organization slug" in bad.output
    missing = runner.invoke(args=["orgs", "create", "x"])
    assert missing.exit_code == 2
    assert "--name" in missing.output
    assert count(app, Organization) == 1


def test_programs(runner: FlaskCliRunner, app: Flask) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME")
    out = ok(
        runner,
        "programs",
        "create",
        "--org",
        "acme",
        "--name",
        "RM 2026",
        "--starts",
        "2026-03-01",
        "--ends",
        "2026-09-01",
        "--min-minutes",
        "45",
        "--themes",
        "AI, Social media, Culture",
        "--matching",
        '{"objective": "most_matched"}',
        "--open",
    )
    assert "created program" in out
    assert "enrolling" in out
    with app.app_context():
        program = get_session().scalars(select(Program)).one()
        pid = program.id
        assert program.status is ProgramStatus.ENROLLING
        assert program.theme_plan[1] == {"month": 2, "theme": "Social media"}
    shown = json.loads(ok(runner, "programs", "show", str(pid), "--org", "acme", "--json"))
    assert shown["min_session_minutes"] == 45
    assert shown["matching_settings"]["objective"] == "most_matched"
    assert "RM 2026" in ok(runner, "programs", "list", "--org", "acme")
    assert "matching" in ok(runner, "programs", "status", str(pid), "matching", "--org", "acme")
    back = runner.invoke(args=["programs", "status", str(pid), "draft", "--org", "acme"])
    assert back.exit_code == 1
    assert "cannot go from matching to draft" in back.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--org", "nope"], 1, "unknown organization 'nope'"),
        (["--ends", "2026-01-01"], 1, "must end after it starts"),
        (["--starts", "01.03.2026"], 2, "--starts"),
        (["--format", "circle"], 2, "--format"),
        (["--matching", "{not json"], 2, "not valid JSON"),
        (["--matching", '{"weights": {"luck": 1}}'], 1, "unknown weight"),
        (["--min-minutes", "abc"], 2, "--min-minutes"),
    ],
)
def test_program_create_bad_input(
    runner: FlaskCliRunner, app: Flask, args: list[str], code: int, message: str
) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME")
    base = {"--org": "acme", "--name": "P", "--starts": "2026-03-01", "--ends": "2026-09-01"}
    flags = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["programs", "create"] + [x for k, v in {**base, **flags}.items() for x in (k, v)]
    result = runner.invoke(args=argv)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert count(app, Program) == 0


def test_show_unknown_program(runner: FlaskCliRunner) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME")
    result = runner.invoke(args=["programs", "show", "42", "--org", "acme"])
    assert result.exit_code == 1
    assert "program 42 not found" in result.output


def _people(app: Flask) -> tuple[int, int]:
    with app.app_context():
        s = get_session()
        org = Organization(slug="acme", name="ACME")
        s.add(org)
        s.flush()
        boss = Person(
            org_id=org.id,
            given_name="Jürgen",
            family_name="Weiß",
            email="juergen.weiss@acme.example",
            department="Board",
            hire_date=date(2001, 1, 1),
        )
        s.add(boss)
        s.flush()
        dev = Person(
            org_id=org.id,
            given_name="Ayşe",
            family_name="Yılmaz",
            email=None,
            department="IT",
            division="Technology",
            location="Munich",
            job_title="Developer",
            manager_id=boss.id,
            active=False,
        )
        s.add(dev)
        s.flush()
        s.add(
            PersonIdentity(
                org_id=org.id, person_id=dev.id, source="successfactors:1", external_id="E2"
            )
        )
        s.add(PersonIdentity(org_id=org.id, person_id=dev.id, source="lti:1", external_id="u-2"))
        s.commit()
        return boss.id, dev.id


def test_people_export_jsonl_and_csv(runner: FlaskCliRunner, app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    boss, dev = _people(app)
    rows = [
        json.loads(line)
        for line in ok(
            runner, "people", "export", "--org", "acme", "--format", "jsonl"
        ).splitlines()
    ]
    assert [r["id"] for r in rows] == [boss, dev]
    assert list(rows[0]) == [
        "id",
        "identities",
        "given_name",
        "family_name",
        "email",
        "department",
        "division",
        "location",
        "job_title",
        "manager_id",
        "active",
        "left_on",
    ]
    assert rows[0]["manager_id"] is None
    assert rows[0]["left_on"] is None
    assert rows[0]["identities"] == []
    assert rows[1]["manager_id"] == boss
    assert rows[1]["active"] is False
    assert rows[1]["given_name"] == "Ayşe"
    assert rows[1]["identities"] == [
        {"source": "successfactors:1", "external_id": "E2"},
        {"source": "lti:1", "external_id": "u-2"},
    ]
    out = tmp_path / "people.csv"
    ok(runner, "people", "export", "--org", "acme", "--format", "csv", "--output", str(out))
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert table[0]["manager_id"] == ""
    assert table[0]["active"] == "true"
    assert table[1]["manager_id"] == str(boss)
    assert json.loads(table[1]["identities"])[0]["external_id"] == "E2"
    assert table[1]["family_name"] == "Yılmaz"


def test_people_export_bad_input(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["people", "export", "--org", "ghost"])
    assert result.exit_code == 1
    assert "unknown organization" in result.output
    result = runner.invoke(args=["people", "export", "--org", "ghost", "--format", "xml"])
    assert result.exit_code == 2


def test_db_downgrade_and_upgrade(runner: FlaskCliRunner, app: Flask) -> None:
    ok(runner, "db", "upgrade")
    assert "downgraded to base" in ok(runner, "db", "downgrade", "base")
    ok(runner, "db", "upgrade")
    assert count(app, Organization) == 0


def test_orgs_link_rule_sets_how_lms_users_are_linked(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["orgs", "create", "acme", "--name", "Acme"]).exit_code == 0
    result = runner.invoke(args=["orgs", "link-rule", "acme", "sourcedid"])
    assert result.exit_code == 0, result.output
    assert "linked to people by sourcedid" in result.output
    bad = runner.invoke(args=["orgs", "link-rule", "acme", "name"])
    assert bad.exit_code != 0

"""The judged path: `tandem demo seed` then `tandem people export` gives one tree."""

from __future__ import annotations

import csv
import io
import json

from flask.testing import FlaskCliRunner

from plugin.orgchart import check_tree


def test_seeded_demo_exports_one_tree(runner: FlaskCliRunner) -> None:
    seeded = runner.invoke(
        args=["demo", "seed", "--org", "demo", "--people", "2000", "--seed", "7"]
    )
    assert seeded.exit_code == 0, seeded.output
    out = runner.invoke(args=["people", "export", "--org", "demo", "--format", "jsonl"])
    assert out.exit_code == 0
    rows = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert len(rows) == 2000
    ids = {r["id"] for r in rows}
    assert len(ids) == 2000
    managers = {r["id"]: r["manager_id"] for r in rows}
    check = check_tree(managers)
    assert check.is_single_tree, check
    assert check.cycles == ()
    assert check.dangling == ()
    assert len(check.roots) == 1
    assert all(
        r["identities"] and r["identities"][0]["source"] == "successfactors:demo" for r in rows
    )
    assert sum(1 for r in rows if not r["active"]) > 0  # leavers are exported, marked inactive

    csv_out = runner.invoke(args=["people", "export", "--org", "demo", "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(csv_out.output[csv_out.output.index("id,") :])))
    assert len(table) == 2000
    assert {int(r["id"]) for r in table} == ids

    # Same seed, same data: a second organization seeded with seed 7 has the same people.
    runner.invoke(args=["demo", "seed", "--org", "twin", "--people", "2000", "--seed", "7"])
    twin = runner.invoke(args=["people", "export", "--org", "twin", "--format", "jsonl"])
    twin_rows = [json.loads(x) for x in twin.output.splitlines() if x.startswith("{")]
    strip = ("id", "manager_id", "email")
    assert [{k: v for k, v in r.items() if k not in strip} for r in twin_rows] == [
        {k: v for k, v in r.items() if k not in strip} for r in rows
    ]


def test_demo_seed_bad_input(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo", "seed", "--people", "3"])
    assert result.exit_code == 1
    assert "people" in result.output
    result = runner.invoke(args=["demo", "seed", "--org", "Bad Slug"])
    assert result.exit_code == 1
    assert "slug" in result.output

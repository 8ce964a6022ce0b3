"""``tandem worker``, ``tandem outbox …``, ``tandem targets …``, the sink registry, serve."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti import create_app
from lti.cli_outbox import build_worker
from lti.db import get_engine, get_session
from lti.sinks import LazySinkFactory, build_sink_registry, get_sinks
from plugin.models import AuditEvent, OutboxMessage, OutboxStatus, WritebackTarget
from plugin.ports import SinkConfigError, TargetConfig
from plugin.services import alerts, organizations, writeback
from plugin.services.lti_cache import LtiCache

RECORDING = {"recording": "tests.fakes:RecordingSink"}


def ok(runner: FlaskCliRunner, *args: str) -> Result:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def fails(runner: FlaskCliRunner, *args: str, code: int = 1) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, result.output
    return result.output


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model)) or 0


def messages(app: Flask) -> list[OutboxMessage]:
    with Session(get_engine(app)) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def enqueue(app: Flask, n: int, *, slug: str = "acme", status: str | None = None) -> list[int]:
    with app.app_context():
        s = get_session()
        org = organizations.get_organization(s, slug)
        made = []
        for i in range(n):
            made += writeback.enqueue(
                s,
                org_id=org.id,
                kind="completion",
                subject=f"p1:e{i}",
                payload={"enrollment_id": i, "name": "Ada Lovelace"},
            )
        for m in made:
            if status is not None:
                m.status = OutboxStatus(status)
                m.last_error = "ConnectorAuthError: 401"
        s.commit()
        return [m.id for m in made]


@pytest.fixture
def acme(runner: FlaskCliRunner) -> None:
    ok(runner, "orgs", "create", "acme", "--name", "ACME")


@pytest.fixture
def journal(runner: FlaskCliRunner, acme: None) -> None:
    ok(runner, "targets", "add", "journal", "--org", "acme", "--sink", "journal")


@pytest.fixture
def recording(app: Flask, tmp_path: Path) -> Path:
    """Register the recording sink (as TANDEM_SINKS would); returns its log path."""
    app.config["SINKS"] = RECORDING
    app.extensions["tandem.sinks"] = build_sink_registry(app)
    return tmp_path / "sink.db"


# --------------------------------------------------------------------------- registry


def test_the_builtin_sinks_are_registered_by_default(app: Flask) -> None:
    registry = get_sinks(app)
    assert list(registry) == ["journal", "lti_ags", "successfactors"]
    assert isinstance(registry["journal"], LazySinkFactory)


def test_configured_sinks_join_the_builtin_journal() -> None:
    app = create_app({"SINKS": RECORDING})
    assert sorted(get_sinks(app)) == ["journal", "lti_ags", "recording", "successfactors"]


def test_the_environment_configures_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_SINKS", json.dumps(RECORDING))
    assert sorted(get_sinks(create_app())) == [
        "journal",
        "lti_ags",
        "recording",
        "successfactors",
    ]


def test_a_builtin_sink_can_be_switched_off() -> None:
    app = create_app({"SINKS": {"journal": None}})
    assert list(get_sinks(app)) == ["lti_ags", "successfactors"]
    off = dict.fromkeys(("journal", "lti_ags", "successfactors"))
    assert dict(get_sinks(create_app({"SINKS": off}))) == {}


@pytest.mark.parametrize(
    ("sinks", "match"),
    [
        (["journal"], "must be a JSON object"),
        ({"Bad Name": "a.b:C"}, "use lower-case letters"),
        ({"x": "not a path"}, "must be a dotted path"),
        ({"x": 3}, "must be a dotted path"),
    ],
)
def test_a_malformed_sinks_config_is_refused(sinks: Any, match: str) -> None:
    with pytest.raises(RuntimeError, match=match):
        create_app({"SINKS": sinks})


def test_sink_factories_are_imported_on_first_use() -> None:
    app = create_app({"SINKS": {"missing": "no_such_package.sink:Sink"}})
    factory = get_sinks(app)["missing"]
    with pytest.raises(SinkConfigError, match="cannot be imported \\(ModuleNotFoundError\\)"):
        factory(TargetConfig(1, "t", "missing"))


def test_file_sinks_resolve_relative_paths_in_the_instance_folder(app: Flask) -> None:
    sink = get_sinks(app)["journal"](TargetConfig(1, "journal", "journal"))
    assert sink.path == str(Path(app.instance_path) / "writeback-journal.jsonl")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- targets


def test_targets_add_list_pause_resume(runner: FlaskCliRunner, acme: None) -> None:
    out = ok(runner, "targets", "add", "journal", "--org", "acme", "--sink", "journal").output
    assert "added target journal (journal: completion, hours, skill_gain)" in out
    listed = ok(runner, "targets", "list", "--org", "acme").output
    assert "journal\tjournal\tcompletion,hours,skill_gain\tactive\tpending 0 · dead 0\t" in listed
    assert (
        "target journal is paused"
        in ok(runner, "targets", "pause", "--org", "acme", "journal").output
    )
    assert "\tpaused\t" in ok(runner, "targets", "list", "--org", "acme").output
    assert (
        "target journal is active"
        in ok(runner, "targets", "resume", "--org", "acme", "journal").output
    )


def test_targets_add_takes_kinds_and_settings(runner: FlaskCliRunner, acme: None) -> None:
    ok(
        runner,
        *("targets", "add", "export", "--org", "acme", "--sink", "journal"),
        *("--kinds", "completion,hours", "--setting", "path=exports/hr.jsonl"),
    )
    listed = ok(runner, "targets", "list", "--org", "acme").output
    assert (
        "export\tjournal\tcompletion,hours\tactive\tpending 0 · dead 0\tpath=exports/hr.jsonl"
        in (listed)
    )


def test_targets_add_refuses_an_unregistered_sink(
    runner: FlaskCliRunner, app: Flask, acme: None
) -> None:
    out = fails(runner, "targets", "add", "hr", "--org", "acme", "--sink", "workday")
    assert (
        "no sink 'workday' is registered; registered sinks: journal, lti_ags, successfactors "
        "(TANDEM_SINKS)" in out
    )
    assert count(app, WritebackTarget) == 0


def test_targets_add_refuses_settings_the_sink_rejects(
    runner: FlaskCliRunner, app: Flask, acme: None
) -> None:
    out = fails(
        runner,
        *("targets", "add", "j", "--org", "acme", "--sink", "journal", "--setting", "pth=x"),
    )
    assert "unknown setting(s) pth for the journal sink; it takes: path" in out
    assert count(app, WritebackTarget) == 0


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (("--setting", "novalue"), 2, "'novalue' is not key=value"),
        (("--setting", "a=1", "--setting", "a=2"), 2, "'a' is given twice"),
        (("--kinds", "grades"), 1, "unknown message kind 'grades'"),
    ],
)
def test_targets_add_refuses_bad_options(
    runner: FlaskCliRunner, app: Flask, acme: None, args: tuple[str, ...], code: int, match: str
) -> None:
    out = fails(
        runner, "targets", "add", "j", "--org", "acme", "--sink", "journal", *args, code=code
    )
    assert match in out
    assert count(app, WritebackTarget) == 0


def test_targets_add_refuses_a_duplicate_name(runner: FlaskCliRunner, journal: None) -> None:
    out = fails(runner, "targets", "add", "journal", "--org", "acme", "--sink", "journal")
    assert "a target named 'journal' already exists" in out


def test_targets_pause_of_an_unknown_target(runner: FlaskCliRunner, acme: None) -> None:
    assert "write-back target 'nope' not found" in fails(
        runner, "targets", "pause", "--org", "acme", "nope"
    )


def test_targets_list_when_there_are_none(runner: FlaskCliRunner, acme: None) -> None:
    assert "no write-back targets in acme" in ok(runner, "targets", "list", "--org", "acme").output


# --------------------------------------------------------------------------- worker


def test_worker_once_delivers_everything_due_to_the_journal(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    enqueue(app, 3)
    result = ok(runner, "worker", "--once", "--worker-id", "cli-w", "--batch", "2")
    assert (
        "outbox worker cli-w: batch 2, lease 300 s, sinks journal, lti_ags, successfactors (once)"
        in result.stderr
    )
    assert "cli-w: claimed 2 · delivered 2 · retried 0 · dead 0" in result.stderr
    assert "cli-w: claimed 1 · delivered 1 · retried 0 · dead 0" in result.stderr
    assert "outbox worker cli-w done: claimed 3 · delivered 3 · retried 0 · dead 0" in (
        result.stderr
    )
    assert {m.status for m in messages(app)} == {OutboxStatus.DELIVERED}
    path = Path(app.instance_path) / "writeback-journal.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["payload"]["enrollment_id"] for r in records] == [0, 1, 2]


def test_worker_once_with_nothing_due(runner: FlaskCliRunner, app: Flask) -> None:
    result = ok(runner, "worker", "--once", "--worker-id", "idle")
    assert "outbox worker idle done: claimed 0 · delivered 0 · retried 0 · dead 0" in (
        result.stderr
    )


def test_worker_reports_retries_and_dead_letters(
    runner: FlaskCliRunner, app: Flask, acme: None, recording: Path
) -> None:
    ok(
        runner,
        *("targets", "add", "flaky", "--org", "acme", "--sink", "recording"),
        *("--setting", f"log={recording}", "--kinds", "completion"),
    )
    ok(
        runner,
        *("targets", "add", "refused", "--org", "acme", "--sink", "recording"),
        *("--setting", f"log={recording}", "--kinds", "completion"),
    )
    with app.app_context():
        s = get_session()
        org = organizations.get_organization(s, "acme")
        for name, fail_with in (("flaky", "unavailable"), ("refused", "auth")):
            target = writeback.get_target(s, org_id=org.id, name=name)
            target.settings = {"log": str(recording), "fail": {"*": 9}, "fail_with": fail_with}
        s.commit()
    enqueue(app, 1)
    result = ok(runner, "worker", "--once", "--worker-id", "w")
    assert "w: claimed 2 · delivered 0 · retried 1 · dead 1" in result.stderr
    assert sorted(m.status.value for m in messages(app)) == ["dead", "pending"]


@pytest.mark.parametrize(
    "args", [("--batch", "0"), ("--lease", "0"), ("--poll", "-1"), ("--worker-id", "x" * 201)]
)
def test_worker_refuses_bad_options(runner: FlaskCliRunner, args: tuple[str, ...]) -> None:
    fails(runner, "worker", "--once", *args, code=2)


# --------------------------------------------------------------------------- outbox


def test_outbox_list_shows_messages_and_counts(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    ids = enqueue(app, 2)
    enqueue(app, 1, status="dead")  # the same subject again: no new message
    out = ok(runner, "outbox", "list", "--org", "acme").output
    assert out.splitlines()[0] == "ID\tSTATUS\tKIND\tTARGET\tATTEMPTS\tWHEN\tLAST ERROR"
    assert out.splitlines()[1].startswith(f"{ids[1]}\tpending\tcompletion\tjournal\t0/8\t")
    assert out.splitlines()[-1] == "pending 1 · delivering 0 · delivered 0 · dead 1"
    dead = ok(runner, "outbox", "list", "--org", "acme", "--status", "dead").output
    assert f"{ids[0]}\tdead\t" in dead
    assert "ConnectorAuthError: 401" in dead
    assert f"{ids[1]}\t" not in dead
    assert "Ada Lovelace" not in out  # no payloads in the list


def test_outbox_list_as_json(runner: FlaskCliRunner, app: Flask, journal: None) -> None:
    ids = enqueue(app, 2)
    data = json.loads(ok(runner, "outbox", "list", "--org", "acme", "--json").output)
    assert data["counts"] == {"pending": 2, "delivering": 0, "delivered": 0, "dead": 0}
    assert [m["id"] for m in data["messages"]] == ids[::-1]
    assert "payload" not in data["messages"][0]


def test_outbox_list_refuses_an_unknown_status(runner: FlaskCliRunner, acme: None) -> None:
    fails(runner, "outbox", "list", "--org", "acme", "--status", "lost", code=2)


def test_outbox_show_includes_the_payload(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    (mid,) = enqueue(app, 1)
    out = ok(runner, "outbox", "show", str(mid), "--org", "acme").output
    assert "idempotency_key   completion:p1:e0:journal" in out
    assert '"name": "Ada Lovelace"' in out
    data = json.loads(ok(runner, "outbox", "show", str(mid), "--org", "acme", "--json").output)
    assert data["payload"] == {"enrollment_id": 0, "name": "Ada Lovelace"}


def test_outbox_show_of_another_organization_is_not_found(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    (mid,) = enqueue(app, 1)
    ok(runner, "orgs", "create", "other", "--name", "Other")
    assert f"outbox message {mid} not found" in fails(
        runner, "outbox", "show", str(mid), "--org", "other"
    )


def test_outbox_retry_sends_a_dead_message_again(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    (mid,) = enqueue(app, 1, status="dead")
    result = ok(runner, "outbox", "retry", str(mid), "--org", "acme")
    assert f"message {mid} (completion → journal) is pending again (was dead)" in result.output
    (m,) = messages(app)
    assert (m.status, m.attempts, m.last_error) == (
        OutboxStatus.PENDING,
        0,
        "ConnectorAuthError: 401",
    )
    assert count(app, AuditEvent) == 3  # org created, target added, message retried
    ok(runner, "worker", "--once")
    assert messages(app)[0].status is OutboxStatus.DELIVERED


def test_outbox_retry_refuses_a_delivered_message(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    (mid,) = enqueue(app, 1, status="delivered")
    assert "was already delivered" in fails(runner, "outbox", "retry", str(mid), "--org", "acme")
    assert messages(app)[0].status is OutboxStatus.DELIVERED


def test_outbox_retry_all_dead(runner: FlaskCliRunner, app: Flask, journal: None) -> None:
    enqueue(app, 3, status="dead")
    assert (
        "3 dead message(s) are pending again"
        in ok(runner, "outbox", "retry", "--all-dead", "--org", "acme").output
    )
    assert {m.status for m in messages(app)} == {OutboxStatus.PENDING}


def test_outbox_retry_warns_when_the_target_would_fail_again(
    runner: FlaskCliRunner, app: Flask, journal: None
) -> None:
    (mid,) = enqueue(app, 1, status="dead")
    ok(runner, "targets", "pause", "--org", "acme", "journal")
    result = ok(runner, "outbox", "retry", str(mid), "--org", "acme")
    assert "warning: target 'journal' is paused: resume it first" in result.stderr


@pytest.mark.parametrize("args", [(), ("7", "--all-dead"), ("7", "--target", "journal")])
def test_outbox_retry_needs_one_id_or_all_dead(
    runner: FlaskCliRunner, acme: None, args: tuple[str, ...]
) -> None:
    fails(runner, "outbox", "retry", "--org", "acme", *args, code=2)


# --------------------------------------------------------------------------- serve


def _fake_server(app: Flask, seen: dict[str, Any], *, wait_for_delivery: bool) -> Any:
    def run_simple(host: str, port: int, application: Any, **kw: Any) -> None:
        seen["threads"] = [t.name for t in threading.enumerate()]
        deadline = time.monotonic() + 15
        while wait_for_delivery and time.monotonic() < deadline:
            if {m.status for m in messages(app)} == {OutboxStatus.DELIVERED}:
                break
            time.sleep(0.05)

    return run_simple


def test_serve_delivers_in_process(
    runner: FlaskCliRunner, app: Flask, journal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue(app, 2)
    app.config["WORKER_POLL_SECONDS"] = 0.05
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        "werkzeug.serving.run_simple", _fake_server(app, seen, wait_for_delivery=True)
    )
    out = ok(runner, "serve").output
    assert "write-back worker running in-process" in out
    assert "tandem-outbox-worker" in seen["threads"]
    assert {m.status for m in messages(app)} == {OutboxStatus.DELIVERED}
    assert "tandem-outbox-worker" not in [t.name for t in threading.enumerate()]  # stopped


@pytest.mark.parametrize("how", ["flag", "config"])
def test_serve_without_the_worker(
    runner: FlaskCliRunner,
    app: Flask,
    journal: None,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    enqueue(app, 1)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        "werkzeug.serving.run_simple", _fake_server(app, seen, wait_for_delivery=False)
    )
    if how == "config":
        app.config["WORKER_IN_PROCESS"] = False
        out = ok(runner, "serve").output
    else:
        out = ok(runner, "serve", "--no-worker").output
    assert "worker" not in out
    assert "tandem-outbox-worker" not in seen["threads"]
    assert messages(app)[0].status is OutboxStatus.PENDING


# --------------------------------------------------------------------------- housekeeping


def test_the_worker_scans_for_alerts_and_purges_the_lti_store_by_default(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(alerts, "scan_all", lambda session, *, now: seen.append(now) or 2)
    worker = build_worker(app)
    assert worker.housekeeping is not None
    with Session(get_engine(app)) as s:
        LtiCache(s, clock=lambda: datetime(2026, 8, 1, tzinfo=UTC)).set("old", 1, 60)
        LtiCache(s, clock=lambda: datetime(2026, 9, 1, tzinfo=UTC)).set("fresh", 1, 60)
        assert worker.housekeeping(s, datetime(2026, 9, 1, tzinfo=UTC)) == 2 + 1
        s.rollback()
    assert seen == [datetime(2026, 9, 1, tzinfo=UTC)]


def test_housekeeping_can_be_switched_off(app: Flask) -> None:
    app.config["WORKER_HOUSEKEEPING"] = None
    assert build_worker(app).housekeeping is None


def test_a_housekeeping_job_that_cannot_be_imported_is_refused(app: Flask) -> None:
    app.config["WORKER_HOUSEKEEPING"] = "no_such_module:job"
    with pytest.raises(RuntimeError, match="WORKER_HOUSEKEEPING 'no_such_module:job' cannot"):
        build_worker(app)

"""The journal sink: one JSON line per message, once per key, under a file lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.journal import DEFAULT_FILENAME, JournalSink
from connectors.journal.sink import resolve_path
from plugin.errors import ConnectorDataError, ConnectorUnavailable
from plugin.ports import OutboundMessage, Sink, SinkConfigError, TargetConfig

WHEN = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def config(path: Path | str | None = None, *, org_id: int = 1, **extra: Any) -> TargetConfig:
    settings: dict[str, Any] = dict(extra)
    if path is not None:
        settings["path"] = str(path)
    return TargetConfig(org_id=org_id, name="journal", sink="journal", settings=settings)


def message(i: int = 1, *, org_id: int = 1, payload: Any = None) -> OutboundMessage:
    return OutboundMessage(
        id=i,
        org_id=org_id,
        kind="completion",
        target="journal",
        idempotency_key=f"completion:p1:e{i}:journal",
        payload={"enrollment_id": i} if payload is None else payload,
        attempt=1,
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "out" / "journal.jsonl"


def test_a_journal_sink_is_a_sink(journal: Path) -> None:
    assert isinstance(JournalSink(config(journal)), Sink)


def test_deliver_appends_one_json_line(journal: Path) -> None:
    JournalSink(config(journal), clock=lambda: WHEN).deliver(message(1, payload={"hours": 7.5}))
    assert journal.read_text(encoding="utf-8").endswith("\n")
    assert lines(journal) == [
        {
            "delivered_at": "2026-09-01T10:00:00+00:00",
            "idempotency_key": "completion:p1:e1:journal",
            "org_id": 1,
            "kind": "completion",
            "target": "journal",
            "payload": {"hours": 7.5},
        }
    ]


def test_the_file_is_readable_by_its_owner_only(journal: Path) -> None:
    JournalSink(config(journal)).deliver(message())
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


def test_a_key_already_written_is_not_written_again(journal: Path) -> None:
    sink = JournalSink(config(journal))
    sink.deliver(message(1))
    sink.deliver(message(1))
    JournalSink(config(journal)).deliver(message(1))
    assert [r["idempotency_key"] for r in lines(journal)] == ["completion:p1:e1:journal"]


def test_the_same_key_in_another_organization_is_another_message(journal: Path) -> None:
    JournalSink(config(journal, org_id=1)).deliver(message(1, org_id=1))
    JournalSink(config(journal, org_id=2)).deliver(message(1, org_id=2))
    assert [r["org_id"] for r in lines(journal)] == [1, 2]


def test_lines_appended_by_another_process_are_seen(journal: Path) -> None:
    sink = JournalSink(config(journal))
    sink.deliver(message(1))  # this process now has an index of the file
    record = {"org_id": 1, "idempotency_key": "completion:p1:e2:journal", "payload": {}}
    with journal.open("a", encoding="utf-8") as fh:  # "another process" appends
        fh.write(json.dumps(record) + "\n")
    sink.deliver(message(2))
    sink.deliver(message(3))
    assert [r["idempotency_key"][-10:] for r in lines(journal)] == [
        "e1:journal",
        "e2:journal",
        "e3:journal",
    ]


def test_a_replaced_file_is_indexed_again(journal: Path) -> None:
    sink = JournalSink(config(journal))
    sink.deliver(message(1))
    journal.rename(journal.with_suffix(".old"))
    sink.deliver(message(1))
    assert len(lines(journal)) == 1


def test_a_torn_last_line_is_terminated_and_ignored(journal: Path) -> None:
    journal.parent.mkdir(parents=True)
    journal.write_text('{"org_id": 1, "idempotency_key": "completion:p1:e1:jou', encoding="utf-8")
    JournalSink(config(journal)).deliver(message(1))
    raw = journal.read_text(encoding="utf-8").splitlines()
    assert len(raw) == 2
    assert json.loads(raw[1])["idempotency_key"] == "completion:p1:e1:journal"


def test_a_complete_record_missing_its_newline_still_counts(journal: Path) -> None:
    journal.parent.mkdir(parents=True)
    record = {"org_id": 1, "idempotency_key": "completion:p1:e1:journal", "payload": {}}
    journal.write_text(json.dumps(record), encoding="utf-8")
    sink = JournalSink(config(journal))
    sink.deliver(message(1))
    sink.deliver(message(2))
    assert [r["idempotency_key"] for r in lines(journal)] == [
        "completion:p1:e1:journal",
        "completion:p1:e2:journal",
    ]


def test_concurrent_threads_write_each_key_once(journal: Path) -> None:
    def run() -> None:
        sink = JournalSink(config(journal))
        for i in range(40):
            sink.deliver(message(i))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [r["idempotency_key"] for r in lines(journal)]
    assert sorted(keys) == sorted({f"completion:p1:e{i}:journal" for i in range(40)})


def test_concurrent_processes_write_each_key_once_and_never_interleave(journal: Path) -> None:
    script = (
        "import sys\n"
        "from connectors.journal import JournalSink\n"
        "from plugin.ports import OutboundMessage, TargetConfig\n"
        "sink = JournalSink(TargetConfig(1, 'journal', 'journal', {'path': sys.argv[1]}))\n"
        "for i in range(60):\n"
        "    sink.deliver(OutboundMessage(i, 1, 'hours', 'journal', f'k{i}',"
        " {'pad': 'x' * 5000}, 1))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(journal)], env=env) for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    records = lines(journal)  # every line parses: no interleaved writes
    assert sorted(r["idempotency_key"] for r in records) == sorted(f"k{i}" for i in range(60))


def test_relative_paths_resolve_against_the_data_dir(tmp_path: Path) -> None:
    cfg = TargetConfig(1, "journal", "journal", {"path": "exports/j.jsonl"}, None, str(tmp_path))
    assert resolve_path(cfg) == str(tmp_path / "exports" / "j.jsonl")
    default = TargetConfig(1, "journal", "journal", {}, None, str(tmp_path))
    assert resolve_path(default) == str(tmp_path / DEFAULT_FILENAME)


def test_without_a_data_dir_the_default_is_instance_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_path(config()) == str(tmp_path / "instance" / DEFAULT_FILENAME)


def test_building_the_sink_touches_no_file(tmp_path: Path) -> None:
    JournalSink(config(tmp_path / "a" / "b.jsonl"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"pth": "x"}, "unknown setting"),
        ({"path": ""}, "must be a file name"),
        ({"path": 3}, "must be a file name"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(SinkConfigError, match=match):
        JournalSink(TargetConfig(1, "journal", "journal", settings))


def test_a_message_of_another_organization_is_refused(journal: Path) -> None:
    with pytest.raises(ConnectorDataError, match="belongs to organization 2"):
        JournalSink(config(journal, org_id=1)).deliver(message(org_id=2))
    assert not journal.exists()


def test_a_payload_that_is_not_json_is_refused(journal: Path) -> None:
    with pytest.raises(ConnectorDataError, match="the payload is not JSON"):
        JournalSink(config(journal)).deliver(message(payload={"x": float("nan")}))
    assert not journal.exists()


def test_an_unwritable_journal_is_retriable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")
    sink = JournalSink(config(tmp_path / "file" / "journal.jsonl"))
    with pytest.raises(ConnectorUnavailable, match="cannot write the journal"):
        sink.deliver(message())

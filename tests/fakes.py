"""Fakes of the ports of :mod:`plugin.ports`, for tests and development.

:class:`RecordingSink` records every delivery in a SQLite file, so what it saw survives
the worker process that called it (tests kill workers on purpose). It is idempotent like
a real sink must be: an *effect* (the write a real target would make) happens once per
idempotency key; *calls* count every delivery attempt, re-sends included.

Register it with ``TANDEM_SINKS='{"recording": "tests.fakes:RecordingSink"}'`` (with the
repository root on ``PYTHONPATH``) and configure a target's settings:

``log``
    The SQLite file (default ``recording-sink.db`` in the registry's data directory).
``fail``
    ``{"<idempotency key>" or "*": n}`` — the first ``n`` calls for that key fail.
``fail_with``
    ``unavailable`` (default, retriable), ``auth`` / ``data`` (permanent), ``bug``
    (a ``RuntimeError``: retriable).
``retry_after``
    Seconds an ``unavailable`` failure asks the worker to wait.
``hang_before_effect`` / ``hang_after_effect``
    Keys on whose *first* call the sink marks ``hanging`` and sleeps for an hour, before
    or after the effect — so a test can kill the worker mid-delivery.
``crash_before_effect`` / ``crash_after_effect``
    Keys on whose first call the process exits at once (``os._exit``).
``delay``
    Seconds every delivery takes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable
from plugin.ports import OutboundMessage, SinkConfigError, TargetConfig

__all__ = ["Call", "RecordingLog", "RecordingSink"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER, key TEXT, message_id INTEGER, attempt INTEGER,
    target TEXT, pid INTEGER, thread TEXT
);
CREATE TABLE IF NOT EXISTS effects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER, key TEXT, message_id INTEGER, kind TEXT, target TEXT, payload TEXT
);
CREATE TABLE IF NOT EXISTS marks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT, key TEXT, pid INTEGER
);
"""
_SETTINGS = frozenset(
    {
        "log",
        "fail",
        "fail_with",
        "retry_after",
        "hang_before_effect",
        "hang_after_effect",
        "crash_before_effect",
        "crash_after_effect",
        "delay",
    }
)


@contextmanager
def _connect(path: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        # A test log survives a killed process either way; it need not survive a power cut.
        conn.execute("PRAGMA synchronous=OFF")
        conn.executescript(_SCHEMA)
        yield conn
    finally:
        conn.close()


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class RecordingSink:
    """A sink that records calls and (idempotent) effects in a shared SQLite file."""

    name: ClassVar[str] = "recording"

    def __init__(self, config: TargetConfig) -> None:
        unknown = sorted(set(config.settings) - _SETTINGS)
        if unknown:
            raise SinkConfigError(f"unknown recording-sink settings: {', '.join(unknown)}")
        self.config = config
        settings: Mapping[str, Any] = config.settings
        log = str(settings.get("log") or "recording-sink.db")
        if not os.path.isabs(log):
            log = os.path.join(config.data_dir or os.getcwd(), log)
        self.log = log
        self.fail: dict[str, int] = {k: int(v) for k, v in (settings.get("fail") or {}).items()}
        self.fail_with = str(settings.get("fail_with") or "unavailable")
        retry_after = settings.get("retry_after")
        self.retry_after = None if retry_after is None else float(retry_after)
        self.delay = float(settings.get("delay") or 0)
        self.hang_before = set(settings.get("hang_before_effect") or ())
        self.hang_after = set(settings.get("hang_after_effect") or ())
        self.crash_before = set(settings.get("crash_before_effect") or ())
        self.crash_after = set(settings.get("crash_after_effect") or ())

    def deliver(self, message: OutboundMessage) -> None:
        key = message.idempotency_key
        with _connect(self.log) as conn:
            with _immediate(conn):
                conn.execute(
                    "INSERT INTO calls (org_id, key, message_id, attempt, target, pid, thread)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        message.org_id,
                        key,
                        message.id,
                        message.attempt,
                        message.target,
                        os.getpid(),
                        threading.current_thread().name,
                    ),
                )
                (n,) = conn.execute(
                    "SELECT count(*) FROM calls WHERE org_id = ? AND key = ?",
                    (message.org_id, key),
                ).fetchone()
            failures = self.fail.get(key, self.fail.get("*", 0))
            if n <= failures:
                self._raise(message)
            if self.delay:
                time.sleep(self.delay)
            first = n == 1
            self._interrupt(conn, key, first, self.hang_before, self.crash_before)
            with _immediate(conn):
                seen = conn.execute(
                    "SELECT 1 FROM effects WHERE org_id = ? AND key = ?", (message.org_id, key)
                ).fetchone()
                if seen is None:  # idempotent: a re-send changes nothing
                    conn.execute(
                        "INSERT INTO effects (org_id, key, message_id, kind, target, payload)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            message.org_id,
                            key,
                            message.id,
                            message.kind,
                            message.target,
                            json.dumps(dict(message.payload), sort_keys=True),
                        ),
                    )
            self._interrupt(conn, key, first, self.hang_after, self.crash_after)

    def _raise(self, message: OutboundMessage) -> None:
        text = f"recording sink told to fail message {message.id}"
        if self.fail_with == "auth":
            raise ConnectorAuthError(text, connector=self.name, status=401)
        if self.fail_with == "data":
            raise ConnectorDataError(text, connector=self.name, status=422)
        if self.fail_with == "bug":
            raise RuntimeError(text)
        raise ConnectorUnavailable(
            text, connector=self.name, status=503, retry_after=self.retry_after
        )

    @staticmethod
    def _interrupt(
        conn: sqlite3.Connection, key: str, first: bool, hang: set[str], crash: set[str]
    ) -> None:
        if not first:
            return
        if key in crash:
            os._exit(70)
        if key in hang:
            with _immediate(conn):
                conn.execute(
                    "INSERT INTO marks (what, key, pid) VALUES ('hanging', ?, ?)",
                    (key, os.getpid()),
                )
            time.sleep(3600)


@dataclass(frozen=True)
class Call:
    """One delivery attempt the sink saw."""

    org_id: int
    key: str
    message_id: int
    attempt: int
    pid: int
    thread: str


class RecordingLog:
    """Reads what a :class:`RecordingSink` recorded (from any process)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def calls(self) -> list[Call]:
        with _connect(self.path) as conn:
            rows = conn.execute(
                "SELECT org_id, key, message_id, attempt, pid, thread FROM calls ORDER BY seq"
            ).fetchall()
        return [Call(*row) for row in rows]

    def call_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for call in self.calls():
            out[call.key] = out.get(call.key, 0) + 1
        return out

    def effect_counts(self) -> dict[str, int]:
        with _connect(self.path) as conn:
            rows = conn.execute("SELECT key, count(*) FROM effects GROUP BY key").fetchall()
        return {key: n for key, n in rows}

    def effects(self) -> list[dict[str, Any]]:
        with _connect(self.path) as conn:
            rows = conn.execute(
                "SELECT org_id, key, message_id, kind, target, payload FROM effects ORDER BY seq"
            ).fetchall()
        return [
            {
                "org_id": r[0],
                "key": r[1],
                "message_id": r[2],
                "kind": r[3],
                "target": r[4],
                "payload": json.loads(r[5]),
            }
            for r in rows
        ]

    def marks(self, what: str = "hanging") -> list[tuple[str, int]]:
        with _connect(self.path) as conn:
            rows = conn.execute(
                "SELECT key, pid FROM marks WHERE what = ? ORDER BY seq", (what,)
            ).fetchall()
        return [(key, pid) for key, pid in rows]

    def wait_for_mark(self, key: str, *, timeout: float = 15.0) -> int:
        """Wait until a process hangs on ``key``; return its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for found, pid in self.marks():
                if found == key:
                    return pid
            time.sleep(0.05)
        raise TimeoutError(f"no worker hung on {key!r} within {timeout} s")
